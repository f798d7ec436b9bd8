//! What `/metrics` reads at each scrape rather than counting as it goes:
//! the projection's lag, connection pools, the board cache, rate-limit
//! refusals, supervised tasks and leadership, the gateway's metrics and the
//! database timings, each added to the scrape's registry.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sqlx::PgPool;

/// What a process's metrics report on besides requests (read at each scrape).
#[derive(Default)]
pub(crate) struct Sources {
    /// Where the projection can be read (absent in processes without it).
    pub(crate) read_models: Option<PgPool>,
    /// The realtime gateway, in processes that run it.
    pub(crate) gateway: Option<sunday_realtime_gateway::Gateway>,
    /// The query API, in processes that run it (board-cache counts).
    pub(crate) queries: Option<sunday_query_api::QueryState>,
    /// This process's connection pools, by name.
    pub(crate) pools: Vec<(&'static str, PgPool)>,
    /// The command API's rate limits, in processes that run it.
    pub(crate) command_limits: Option<Arc<sunday_edge::RateLimits>>,
    pub(crate) tasks: sunday_runtime::Tasks,
    /// The webhook dispatcher's counters and the pool its lanes are read from.
    pub(crate) webhooks: Option<(Arc<sunday_webhooks::Metrics>, PgPool)>,
}

/// One label, by name: every scrape-time family here but the cache's has one.
type Kv = [(&'static str, String); 1];

/// A family of gauges (or counters) whose one label `key` takes each value.
fn family<M: Default>(key: &'static str, values: &[(String, i64)], set: fn(&M, i64)) -> Family<Kv, M> {
    let f = Family::<Kv, M>::default();
    for (value, n) in values {
        set(&f.get_or_create(&[(key, value.clone())]), *n);
    }
    f
}

fn gauges(key: &'static str, values: &[(String, i64)]) -> Family<Kv, Gauge> {
    family(key, values, |g: &Gauge, n| {
        g.set(n);
    })
}

fn counters(key: &'static str, values: &[(String, i64)]) -> Family<Kv, Counter> {
    family(key, values, |c: &Counter, n| {
        c.inc_by(u64::try_from(n).unwrap_or(0));
    })
}

/// Adds every scrape-time metric of `s` to `registry`.
pub(crate) async fn register(registry: &mut Registry, s: &Sources) {
    if let Some(pool) = &s.read_models {
        lag(registry, pool).await;
    }
    if let Some((metrics, pool)) = &s.webhooks {
        metrics.register(registry, pool).await;
    }
    if let Some(g) = &s.gateway {
        g.metrics().register(registry);
    }
    if let Some(q) = &s.queries {
        let family = Family::<CacheLabels, Counter>::default();
        for (cache, (hits, misses)) in [("boards", q.cache_counts()), ("listings", q.list_cache_counts())] {
            family.get_or_create(&CacheLabels { cache, result: "hit" }).inc_by(hits);
            family.get_or_create(&CacheLabels { cache, result: "miss" }).inc_by(misses);
        }
        registry.register("sunday_cache_requests", "Board and listing cache lookups of the query API", family);
        let (held, bytes) = q.list_cache_size();
        for (name, help, n) in [
            ("sunday_cache_listings", "Listings the query API's listings cache holds", held),
            ("sunday_cache_listing_bytes", "Bytes of the listings the query API's listings cache holds", bytes),
        ] {
            let gauge = Gauge::<i64>::default();
            gauge.set(i64::try_from(n).unwrap_or(i64::MAX));
            registry.register(name, help, gauge);
        }
        if let Some(lag) = q.replica_lag() {
            let gauge = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
            gauge.set(lag.as_secs_f64());
            let help = "How long ago the oldest batch heard of and not yet replayed by the read replica was heard";
            registry.register("sunday_replica_lag_seconds", help, gauge);
        }
    }
    pools(registry, &s.pools);
    rate_limits(registry, s);
    tasks(registry, &s.tasks);
    sunday_runtime::stats::register(registry);
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
    result: &'static str,
}

/// `sunday_rate_limited_total{kind}`: requests, frames and sockets refused
/// because a user was over its limit.
fn rate_limits(registry: &mut Registry, s: &Sources) {
    use sunday_edge::Kind;
    let mut refused = Vec::new();
    if let Some(l) = &s.command_limits {
        refused.push((Kind::Commands, l.refused(Kind::Commands)));
    }
    if let Some(q) = &s.queries {
        refused.push((Kind::Reads, q.limits.refused(Kind::Reads)));
    }
    if let Some(g) = &s.gateway {
        let (frames, sockets) = g.refused();
        refused.extend([(Kind::Frames, frames), (Kind::Sockets, sockets)]);
    }
    let values: Vec<(String, i64)> =
        refused.into_iter().map(|(k, n)| (k.as_str().to_owned(), i64::try_from(n).unwrap_or(i64::MAX))).collect();
    let help = "Requests, frames and sockets refused because a user was over its limit";
    registry.register("sunday_rate_limited", help, counters("kind", &values));
}

/// `sunday_task_restarts_total{task}`, `sunday_task_up{task}` (1 while the
/// task is well) and `sunday_leader{role}` (1 while this process leads it).
fn tasks(registry: &mut Registry, tasks: &sunday_runtime::Tasks) {
    let report = tasks.report();
    let restarts: Vec<(String, i64)> = report.iter().map(|t| (t.name.to_string(), i64::try_from(t.restarts).unwrap_or(i64::MAX))).collect();
    registry.register("sunday_task_restarts", "Times a supervised task failed and was started again", counters("task", &restarts));
    let up: Vec<(String, i64)> = report.iter().map(|t| (t.name.to_string(), i64::from(t.state.is_healthy()))).collect();
    registry.register("sunday_task_up", "Whether a supervised task is running (or a ready standby)", gauges("task", &up));
    let leading: Vec<(String, i64)> = report.iter().filter_map(|t| t.leading.map(|l| (t.name.to_string(), i64::from(l)))).collect();
    registry.register("sunday_leader", "Whether this process leads an elected role", gauges("role", &leading));
}

/// `sunday_database_connections_active` (checked out) and `_max`, per pool.
fn pools(registry: &mut Registry, pools: &[(&'static str, PgPool)]) {
    let active: Vec<(String, i64)> =
        pools.iter().map(|(name, p)| ((*name).to_owned(), i64::from(p.size()) - i64::try_from(p.num_idle()).unwrap_or(0))).collect();
    registry.register("sunday_database_connections_active", "Connections in use", gauges("pool", &active));
    let max: Vec<(String, i64)> =
        pools.iter().map(|(name, p)| ((*name).to_owned(), i64::from(p.options().get_max_connections()))).collect();
    registry.register("sunday_database_connections_max", "Most connections the pool opens", gauges("pool", &max));
}

/// `sunday_projection_lag_events` and `_seconds`: events of the log not yet in
/// the read models, and the age of the oldest of them.
async fn lag(registry: &mut Registry, pool: &PgPool) {
    let Ok(sunday_projector::Lag { events, seconds }) = sunday_projector::lag(pool).await else { return };
    let projection = |n: i64| gauges("projection", &[("read_models".to_owned(), n)]);
    registry.register("sunday_projection_lag_events", "Events of the log not yet projected", projection(events));
    let age = Family::<Kv, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    age.get_or_create(&[("projection", "read_models".to_owned())]).set(seconds);
    registry.register("sunday_projection_lag_seconds", "Age of the oldest event not yet projected", age);
    let unapplied = i64::try_from(sunday_projector::unapplied_events()).unwrap_or(i64::MAX);
    let help = "Batches refused because an event changed nothing it was meant to";
    registry.register("sunday_projection_unapplied_events", help, counters("projection", &[("read_models".to_owned(), unapplied)]));
}
