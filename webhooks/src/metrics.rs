//! What the dispatcher counts, for `/metrics`: attempts by result and their
//! latency (the oldest undelivered event's age is read from the lanes at
//! each scrape, `oldest_undelivered`).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use sqlx::PgPool;

use crate::send::Outcome;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabel {
    webhook: String,
}

/// The dispatcher's counters. One per process, shared by its runs.
#[derive(Debug)]
pub struct Metrics {
    attempts: Family<ResultLabel, Counter>,
    latency: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
        Self { attempts: Family::default(), latency: Histogram::new(buckets) }
    }
}

impl Metrics {
    pub(crate) fn observe(&self, outcome: &Outcome, took: Duration) {
        let result = match outcome {
            Outcome::Delivered(_) => "delivered",
            Outcome::Gone => "gone",
            Outcome::Failed { status: Some(_), .. } => "refused",
            Outcome::Failed { status: None, .. } => "unreachable",
        };
        self.attempts.get_or_create(&ResultLabel { result }).inc();
        self.latency.observe(took.as_secs_f64());
    }

    /// Registers the counters, and the age of each active webhook's oldest
    /// undelivered event as of now.
    pub async fn register(&self, registry: &mut Registry, pool: &PgPool) {
        registry.register("sunday_webhook_attempts", "Webhook delivery attempts by result", self.attempts.clone());
        registry.register("sunday_webhook_attempt_seconds", "How long webhook delivery attempts took", self.latency.clone());
        let ages: Family<WebhookLabel, Gauge<f64, std::sync::atomic::AtomicU64>> = Family::default();
        for (webhook, age) in oldest_undelivered(pool).await.unwrap_or_default() {
            ages.get_or_create(&WebhookLabel { webhook: webhook.to_string() }).set(age);
        }
        registry.register(
            "sunday_webhook_oldest_undelivered_seconds",
            "Age of each active webhook's oldest matching event not yet delivered (0: none waits)",
            ages,
        );
    }
}

/// Per active webhook, the age in seconds of the first event after each
/// waiting lane's `delivered` (one index probe per waiting lane).
async fn oldest_undelivered(pool: &PgPool) -> Result<Vec<(uuid::Uuid, f64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.webhook_id, coalesce(extract(epoch FROM now() - min(( \
             SELECT e.occurred_at FROM events e \
             WHERE l.board_id <> '00000000-0000-0000-0000-000000000000' AND e.board_id = l.board_id AND e.position > l.delivered \
               OR l.board_id = '00000000-0000-0000-0000-000000000000' AND e.workspace_id = s.workspace_id AND e.board_id IS NULL \
                  AND e.position > l.delivered \
             ORDER BY e.position LIMIT 1)))::float8, 0) \
         FROM webhook_subscriptions s LEFT JOIN webhook_lanes l ON l.webhook_id = s.webhook_id AND l.delivered < l.head \
         WHERE s.active GROUP BY s.webhook_id",
    )
    .fetch_all(pool)
    .await
}
