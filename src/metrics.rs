//! Prometheus metrics on `/metrics`: request counts and latency histograms
//! per method, route template and status (the blueprint's names), and the
//! projection's lag behind the log.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sqlx::PgPool;

/// The blueprint's request-duration buckets, in seconds.
const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Clone, Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bucket, le) in self.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= le {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// Method, route template and status of a request.
type RequestKey = (String, String, u16);

/// Histograms by route template, then by method and status (looked up
/// without allocating: a request only allocates the first time its key shows).
type Requests = HashMap<String, Vec<(Method, u16, Histogram)>>;

/// The process's metrics. Cheap to clone (one `Arc`).
#[derive(Clone, Default)]
pub(crate) struct Metrics(Arc<Inner>);

#[derive(Default)]
struct Inner {
    requests: Mutex<Requests>,
    /// Where the projection can be read (absent in processes without it).
    read_models: Option<PgPool>,
    /// The realtime gateway, in processes that run it.
    gateway: Option<sunday_realtime_gateway::Gateway>,
    /// The query API, in processes that run it (board-cache counts).
    queries: Option<sunday_query_api::QueryState>,
    /// This process's connection pools, by name.
    pools: Vec<(&'static str, PgPool)>,
    /// The command API's rate limits, in processes that run it.
    command_limits: Option<Arc<sunday_edge::RateLimits>>,
    tasks: sunday_runtime::Tasks,
}

/// What a process's metrics report on besides requests.
#[derive(Default)]
pub(crate) struct Sources {
    pub(crate) read_models: Option<PgPool>,
    pub(crate) gateway: Option<sunday_realtime_gateway::Gateway>,
    pub(crate) queries: Option<sunday_query_api::QueryState>,
    pub(crate) pools: Vec<(&'static str, PgPool)>,
    pub(crate) command_limits: Option<Arc<sunday_edge::RateLimits>>,
    pub(crate) tasks: sunday_runtime::Tasks,
}

impl Metrics {
    pub(crate) fn new(s: Sources) -> Self {
        let inner = Inner {
            requests: Mutex::default(),
            read_models: s.read_models,
            gateway: s.gateway,
            queries: s.queries,
            pools: s.pools,
            command_limits: s.command_limits,
            tasks: s.tasks,
        };
        Self(Arc::new(inner))
    }

    fn observe(&self, method: &Method, endpoint: &str, status: u16, seconds: f64) {
        let mut requests = self.0.requests.lock().unwrap_or_else(|p| p.into_inner());
        if !requests.contains_key(endpoint) {
            requests.insert(endpoint.to_owned(), Vec::new());
        }
        let Some(by_status) = requests.get_mut(endpoint) else { return };
        match by_status.iter_mut().find(|(m, s, _)| m == method && *s == status) {
            Some((_, _, h)) => h.observe(seconds),
            None => {
                let mut h = Histogram::default();
                h.observe(seconds);
                by_status.push((method.clone(), status, h));
            }
        }
    }

    /// Every request series, keyed and sorted for the exposition.
    fn snapshot(&self) -> Vec<(RequestKey, Histogram)> {
        let requests = self.0.requests.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<(RequestKey, Histogram)> = requests
            .iter()
            .flat_map(|(endpoint, v)| v.iter().map(move |(m, s, h)| ((m.as_str().to_owned(), endpoint.clone(), *s), h.clone())))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The Prometheus text exposition of every metric.
    async fn render(&self) -> String {
        let mut out = String::new();
        self.render_requests(&mut out);
        if let Some(pool) = &self.0.read_models {
            render_lag(&mut out, pool).await;
        }
        if let Some(g) = &self.0.gateway {
            g.metrics().render(&mut out);
        }
        if let Some(q) = &self.0.queries {
            let (hits, misses) = q.cache_counts();
            let _ = writeln!(
                out,
                "# HELP sunday_cache_requests_total Board-cache lookups of the query API\n# TYPE sunday_cache_requests_total counter"
            );
            let _ = writeln!(out, "sunday_cache_requests_total{{cache=\"boards\",result=\"hit\"}} {hits}");
            let _ = writeln!(out, "sunday_cache_requests_total{{cache=\"boards\",result=\"miss\"}} {misses}");
            if let Some(lag) = q.replica_lag() {
                let _ = writeln!(
                    out,
                    "# HELP sunday_replica_lag_seconds How long ago the oldest batch heard of and not yet replayed by the read replica was heard\n# TYPE sunday_replica_lag_seconds gauge"
                );
                let _ = writeln!(out, "sunday_replica_lag_seconds {:.3}", lag.as_secs_f64());
            }
        }
        render_pools(&mut out, &self.0.pools);
        self.render_rate_limits(&mut out);
        render_tasks(&mut out, &self.0.tasks);
        sunday_runtime::stats::render(&mut out);
        out
    }

    /// `sunday_rate_limited_total{kind}`: requests, frames and sockets refused
    /// because a user was over its limit.
    fn render_rate_limits(&self, out: &mut String) {
        use sunday_edge::Kind;
        let mut refused = Vec::new();
        if let Some(l) = &self.0.command_limits {
            refused.push((Kind::Commands, l.refused(Kind::Commands)));
        }
        if let Some(q) = &self.0.queries {
            refused.push((Kind::Reads, q.limits.refused(Kind::Reads)));
        }
        if let Some(g) = &self.0.gateway {
            let (frames, sockets) = g.refused();
            refused.extend([(Kind::Frames, frames), (Kind::Sockets, sockets)]);
        }
        let _ = writeln!(out, "# HELP sunday_rate_limited_total Requests, frames and sockets refused because a user was over its limit");
        let _ = writeln!(out, "# TYPE sunday_rate_limited_total counter");
        for (kind, n) in refused {
            let _ = writeln!(out, "sunday_rate_limited_total{{kind=\"{}\"}} {n}", kind.as_str());
        }
    }

    fn render_requests(&self, out: &mut String) {
        let series = self.snapshot();
        let _ = writeln!(out, "# HELP sunday_api_request_duration_seconds Duration of API requests in seconds");
        let _ = writeln!(out, "# TYPE sunday_api_request_duration_seconds histogram");
        for ((method, endpoint, status), h) in &series {
            let labels = format!("method=\"{method}\",endpoint=\"{endpoint}\",status=\"{status}\"");
            for (count, le) in h.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(out, "sunday_api_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {count}");
            }
            let _ = writeln!(out, "sunday_api_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "sunday_api_request_duration_seconds_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "sunday_api_request_duration_seconds_count{{{labels}}} {}", h.count);
        }
        let _ = writeln!(out, "# HELP sunday_api_requests_total Total number of API requests");
        let _ = writeln!(out, "# TYPE sunday_api_requests_total counter");
        for ((method, endpoint, status), h) in &series {
            let _ =
                writeln!(out, "sunday_api_requests_total{{method=\"{method}\",endpoint=\"{endpoint}\",status=\"{status}\"}} {}", h.count);
        }
    }
}

/// `sunday_task_restarts_total{task}`, `sunday_task_up{task}` (1 while the
/// task is well) and `sunday_leader{role}` (1 while this process leads it).
fn render_tasks(out: &mut String, tasks: &sunday_runtime::Tasks) {
    let report = tasks.report();
    let _ = writeln!(
        out,
        "# HELP sunday_task_restarts_total Times a supervised task failed and was started again\n# TYPE sunday_task_restarts_total counter"
    );
    for t in &report {
        let _ = writeln!(out, "sunday_task_restarts_total{{task=\"{}\"}} {}", t.name, t.restarts);
    }
    let _ = writeln!(out, "# HELP sunday_task_up Whether a supervised task is running (or a ready standby)\n# TYPE sunday_task_up gauge");
    for t in &report {
        let _ = writeln!(out, "sunday_task_up{{task=\"{}\"}} {}", t.name, u8::from(t.state.is_healthy()));
    }
    let _ = writeln!(out, "# HELP sunday_leader Whether this process leads an elected role\n# TYPE sunday_leader gauge");
    for t in report.iter().filter(|t| t.leading.is_some()) {
        let _ = writeln!(out, "sunday_leader{{role=\"{}\"}} {}", t.name, u8::from(t.leading == Some(true)));
    }
}

/// `sunday_database_connections_active` (checked out) and `_max`, per pool.
fn render_pools(out: &mut String, pools: &[(&'static str, PgPool)]) {
    let _ = writeln!(out, "# HELP sunday_database_connections_active Connections in use\n# TYPE sunday_database_connections_active gauge");
    for (name, pool) in pools {
        let in_use = pool.size().saturating_sub(u32::try_from(pool.num_idle()).unwrap_or(u32::MAX));
        let _ = writeln!(out, "sunday_database_connections_active{{pool=\"{name}\"}} {in_use}");
    }
    let _ = writeln!(
        out,
        "# HELP sunday_database_connections_max Most connections the pool opens\n# TYPE sunday_database_connections_max gauge"
    );
    for (name, pool) in pools {
        let _ = writeln!(out, "sunday_database_connections_max{{pool=\"{name}\"}} {}", pool.options().get_max_connections());
    }
}

/// `sunday_projection_lag_events` and `_seconds`: events of the log not yet in
/// the read models, and the age of the oldest of them.
async fn render_lag(out: &mut String, pool: &PgPool) {
    let Ok(sunday_projector::Lag { events, seconds }) = sunday_projector::lag(pool).await else { return };
    let _ = writeln!(out, "# HELP sunday_projection_lag_events Events of the log not yet projected");
    let _ = writeln!(out, "# TYPE sunday_projection_lag_events gauge");
    let _ = writeln!(out, "sunday_projection_lag_events{{projection=\"read_models\"}} {events}");
    let _ = writeln!(out, "# HELP sunday_projection_lag_seconds Age of the oldest event not yet projected");
    let _ = writeln!(out, "# TYPE sunday_projection_lag_seconds gauge");
    let _ = writeln!(out, "sunday_projection_lag_seconds{{projection=\"read_models\"}} {seconds}");
    let _ =
        writeln!(out, "# HELP sunday_projection_unapplied_events_total Batches refused because an event changed nothing it was meant to");
    let _ = writeln!(out, "# TYPE sunday_projection_unapplied_events_total counter");
    let _ =
        writeln!(out, "sunday_projection_unapplied_events_total{{projection=\"read_models\"}} {}", sunday_projector::unapplied_events());
}

/// Records every request under its route template (`/v1/items/{id}`, never
/// the raw path), and serves `/metrics`.
pub(crate) fn instrument(app: Router, metrics: Metrics) -> Router {
    let metrics_route = Router::new().route("/metrics", get(serve)).with_state(metrics.clone());
    app.merge(metrics_route).layer(middleware::from_fn_with_state(metrics, record))
}

async fn record(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let endpoint = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let started = Instant::now();
    let response = next.run(req).await;
    let endpoint = endpoint.as_ref().map_or("unmatched", MatchedPath::as_str);
    if endpoint != "/metrics" {
        metrics.observe(&method, endpoint, response.status().as_u16(), started.elapsed().as_secs_f64());
    }
    response
}

async fn serve(State(metrics): State<Metrics>) -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], metrics.render().await)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn scrape(app: &Router) -> String {
        let resp = app.clone().oneshot(Request::get("/metrics").body(Body::empty()).unwrap_or_default()).await;
        let body = resp.unwrap_or_else(|e| match e {}).into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        String::from_utf8_lossy(&body).into_owned()
    }

    #[tokio::test]
    async fn requests_are_counted_under_their_route_template() {
        let app = Router::new().route("/v1/items/{id}", get(|| async { StatusCode::NOT_FOUND }));
        let app = instrument(app, Metrics::new(Sources::default()));
        for id in ["a", "b"] {
            let req = Request::get(format!("/v1/items/{id}")).body(Body::empty()).unwrap_or_default();
            let _ = app.clone().oneshot(req).await;
        }
        let text = scrape(&app).await;
        assert!(text.contains(r#"sunday_api_requests_total{method="GET",endpoint="/v1/items/{id}",status="404"} 2"#), "{text}");
        assert!(
            text.contains(r#"sunday_api_request_duration_seconds_bucket{method="GET",endpoint="/v1/items/{id}",status="404",le="+Inf"} 2"#)
        );
        assert!(!text.contains("/v1/items/a"), "raw paths never become labels");
    }

    #[tokio::test]
    async fn pools_cache_and_database_timings_are_reported() {
        let options: sqlx::postgres::PgConnectOptions = "postgres://nobody@127.0.0.1:1/none".parse().unwrap_or_else(|e| panic!("{e}"));
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(7).connect_lazy_with(options);
        let config = sunday_query_api::Config {
            jwt_secret: sunday_edge::token::Secret::new("x"),
            min_position_wait: std::time::Duration::ZERO,
            ..Default::default()
        };
        let queries = sunday_query_api::QueryState::new(config, pool.clone());
        let sources = Sources { queries: Some(queries), pools: vec![("events", pool)], ..Sources::default() };
        let app = instrument(Router::new(), Metrics::new(sources));
        let text = scrape(&app).await;
        assert!(text.contains(r#"sunday_database_connections_max{pool="events"} 7"#), "{text}");
        assert!(text.contains(r#"sunday_database_connections_active{pool="events"} 0"#));
        assert!(text.contains(r#"sunday_cache_requests_total{cache="boards",result="hit"} 0"#));
        assert!(text.contains(r#"sunday_cache_requests_total{cache="boards",result="miss"} 0"#));
        assert!(text.contains("# TYPE sunday_database_query_duration_seconds histogram"));
        assert!(text.contains("# TYPE sunday_eventstore_append_duration_seconds histogram"));
    }
}
