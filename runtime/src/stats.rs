//! Process-wide timings of database work, for `/metrics`:
//! `sunday_database_query_duration_seconds{query_type,table}` for every timed
//! query, `sunday_eventstore_append_duration_seconds` for appends (one group
//! commit, from the caller's point of view), and a warning in the log for each
//! query slower than the threshold (`SUNDAY_SLOW_QUERY_MS`). The histograms
//! are `prometheus-client`'s; `register` adds them to a scrape's registry.

use std::future::Future;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The blueprint's database buckets, in seconds.
const BUCKETS: [f64; 11] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0];

/// Which query a timing is of.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Query {
    query_type: &'static str,
    table: &'static str,
}

fn database_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

static QUERIES: LazyLock<Family<Query, Histogram>> = LazyLock::new(|| Family::new_with_constructor(database_histogram));
static APPENDS: LazyLock<Histogram> = LazyLock::new(database_histogram);
static SLOW_MILLIS: AtomicU64 = AtomicU64::new(100);

/// Queries slower than this are logged (default 100 ms).
pub fn set_slow_query_threshold(threshold: Duration) {
    SLOW_MILLIS.store(u64::try_from(threshold.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// Records one query's duration; logs it when slow (and says so).
pub fn record(query_type: &'static str, table: &'static str, took: Duration) -> bool {
    QUERIES.get_or_create(&Query { query_type, table }).observe(took.as_secs_f64());
    let slow = took.as_millis() >= u128::from(SLOW_MILLIS.load(Ordering::Relaxed));
    if slow {
        tracing::warn!(query_type, table, millis = took.as_millis() as u64, "slow query");
    }
    slow
}

/// Runs a query future and records how long it took.
pub async fn timed<T>(query_type: &'static str, table: &'static str, query: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let out = query.await;
    record(query_type, table, started.elapsed());
    out
}

/// How many queries of this type and table this process has timed.
pub fn count(query_type: &'static str, table: &'static str) -> u64 {
    QUERIES.get(&Query { query_type, table }).map_or(0, |h| h.count())
}

/// Records one append as its caller waited for it.
pub fn record_append(took: Duration) {
    APPENDS.observe(took.as_secs_f64());
}

/// Adds every database timing of this process to `registry`.
pub fn register(registry: &mut Registry) {
    registry.register("sunday_database_query_duration_seconds", "Database query duration in seconds", QUERIES.clone());
    let help = "Event-store appends as their callers waited for them";
    registry.register("sunday_eventstore_append_duration_seconds", help, APPENDS.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered() -> String {
        let mut registry = Registry::default();
        register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap_or_default();
        out
    }

    #[tokio::test]
    async fn timed_queries_are_rendered_by_type_and_table() {
        timed("select", "unit_test_table", async { tokio::time::sleep(Duration::from_millis(2)).await }).await;
        record_append(Duration::from_micros(300));
        let out = rendered();
        let line = r#"sunday_database_query_duration_seconds_count{query_type="select",table="unit_test_table"} 1"#;
        assert!(out.contains(line), "{out}");
        assert!(out.contains(r#"sunday_database_query_duration_seconds_bucket{le="0.001",query_type="select",table="unit_test_table"} 0"#));
        assert!(out.contains(r#"sunday_eventstore_append_duration_seconds_bucket{le="0.001"} 1"#), "{out}");
        assert_eq!(count("select", "unit_test_table"), 1);
    }

    #[test]
    fn queries_over_the_threshold_are_logged() {
        set_slow_query_threshold(Duration::from_millis(50));
        assert!(!record("select", "threshold_test", Duration::from_millis(49)));
        assert!(record("select", "threshold_test", Duration::from_millis(50)));
        set_slow_query_threshold(Duration::from_millis(100));
    }
}
