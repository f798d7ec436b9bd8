//! Prometheus metrics on `/metrics`, through `prometheus-client`: request
//! counts and latency histograms per method, route template and status (the
//! blueprint's names), and, read at each scrape (`scrape.rs`), the
//! projection's lag, pools, caches, rate limits, tasks, the gateway's and the
//! database timings.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::scrape::Sources;

/// The blueprint's request-duration buckets, in seconds.
const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Method, route template and status of a request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    endpoint: String,
    status: u16,
}

fn request_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The process's metrics. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub(crate) struct Metrics(Arc<Inner>);

struct Inner {
    durations: Family<RequestLabels, Histogram>,
    requests: Family<RequestLabels, Counter>,
    sources: Sources,
}

impl Metrics {
    pub(crate) fn new(sources: Sources) -> Self {
        let durations = Family::new_with_constructor(request_histogram as fn() -> Histogram);
        Self(Arc::new(Inner { durations, requests: Family::default(), sources }))
    }

    fn observe(&self, method: &Method, endpoint: &str, status: u16, seconds: f64) {
        let labels = RequestLabels { method: method_label(method), endpoint: endpoint.to_owned(), status };
        self.0.durations.get_or_create(&labels).observe(seconds);
        self.0.requests.get_or_create(&labels).inc();
    }

    /// The text exposition of every metric.
    async fn render(&self) -> String {
        let mut registry = Registry::default();
        registry.register("sunday_api_request_duration_seconds", "Duration of API requests in seconds", self.0.durations.clone());
        registry.register("sunday_api_requests", "Total number of API requests", self.0.requests.clone());
        crate::scrape::register(&mut registry, &self.0.sources).await;
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
            tracing::warn!(error = %e, "metrics could not be encoded");
        }
        out
    }
}

/// A method as a label without allocating (the rare other methods are `OTHER`).
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 7] = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::HEAD, Method::OPTIONS];
    KNOWN.iter().find(|m| *m == method).map_or("OTHER", |m| match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        _ => "OPTIONS",
    })
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
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(axum::http::header::CONTENT_TYPE, content_type)], metrics.render().await)
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
            text.contains(r#"sunday_api_request_duration_seconds_bucket{le="+Inf",method="GET",endpoint="/v1/items/{id}",status="404"} 2"#)
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
        // A family shows once it has a series: time one query.
        sunday_runtime::stats::record("select", "metrics_test", std::time::Duration::from_millis(1));
        let text = scrape(&app).await;
        assert!(text.contains(r#"sunday_database_connections_max{pool="events"} 7"#), "{text}");
        assert!(text.contains(r#"sunday_database_connections_active{pool="events"} 0"#));
        assert!(text.contains(r#"sunday_cache_requests_total{cache="boards",result="hit"} 0"#));
        assert!(text.contains(r#"sunday_cache_requests_total{cache="boards",result="miss"} 0"#));
        assert!(text.contains(r#"sunday_cache_requests_total{cache="listings",result="miss"} 0"#));
        assert!(text.contains("# TYPE sunday_database_query_duration_seconds histogram"), "{text}");
        assert!(text.contains("# TYPE sunday_eventstore_append_duration_seconds histogram"));
    }
}
