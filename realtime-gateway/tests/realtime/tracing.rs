//! One trace from the HTTP request to the WebSocket frame: the spans of one
//! command (the request span, named by method and route; append; publish to
//! JetStream; projection; the frame to the board room) share the trace id of
//! the caller's `traceparent`.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::http::Method;
use opentelemetry::trace::TracerProvider;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde_json::json;
use sqlx::PgPool;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::helpers::*;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn one_command_is_one_trace_from_http_request_to_websocket_frame(pool: PgPool) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    let targets = Targets::new().with_target("sunday", tracing::Level::DEBUG);
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test")).with_filter(targets);
    tracing_subscriber::registry().with(layer).try_init().unwrap_or_else(|e| panic!("subscriber: {e}"));

    let (client, prefix) = nats().await;
    let sys = System::with_nats(&pool, client, &prefix).await;
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let mut socket = Client::connect(sys.addr, owner).await;
    socket.join(board).await;
    let traceparent = format!("00-{TRACE}-00f067aa0ba902b7-01");
    let body = json!({"boardId": board, "name": "traced"});
    let (status, _) = sys.send_with(Method::POST, "/v1/items", owner, Some(body), &[("traceparent", &traceparent)]).await;
    assert!(status.is_success());
    assert_eq!(socket.events(1).await[0]["data"]["name"], "traced");

    let wanted: BTreeSet<&str> = ["POST /v1/items", "append", "publish", "project", "ws_frame"].into();
    let mut seen = BTreeSet::new();
    for _ in 0..200 {
        let spans = exporter.get_finished_spans().unwrap_or_default();
        seen = spans.iter().filter(|s| s.span_context.trace_id().to_string() == TRACE).map(|s| s.name.to_string()).collect();
        if wanted.iter().all(|w| seen.contains(*w)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen: BTreeSet<&str> = seen.iter().map(String::as_str).collect();
    assert!(wanted.is_subset(&seen), "spans of the trace: {seen:?}");
    let other: Vec<String> = exporter
        .get_finished_spans()
        .unwrap_or_default()
        .iter()
        .filter(|s| s.name == "POST /v1/workspaces" && s.span_context.trace_id().to_string() != TRACE)
        .map(|s| s.name.to_string())
        .collect();
    assert!(!other.is_empty(), "requests without a traceparent start traces of their own");
}
