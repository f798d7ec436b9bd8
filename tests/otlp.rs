//! The real binary exports traces over OTLP/HTTP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set: a command sent with a `traceparent`
//! reaches a collector (here a recording HTTP server) as protobuf spans that
//! carry the caller's trace id, at the latest when the process stops.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use hyper::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use common::*;

/// (content type, body) of every POST to /v1/traces.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

async fn collector() -> (std::net::SocketAddr, Received) {
    let received = Received::default();
    let record = |State(r): State<Received>, headers: HeaderMap, body: Bytes| async move {
        let kind = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        r.lock().unwrap_or_else(|p| p.into_inner()).push((kind, body.to_vec()));
        StatusCode::OK
    };
    let app = axum::Router::new().route("/v1/traces", axum::routing::post(record)).with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, received)
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).filter_map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_commands_trace_reaches_the_collector(pool: PgPool) {
    let (sink, received) = collector().await;
    let endpoint = format!("http://{sink}");
    let addr = free_addr();
    let server = Running(start_with(&pool, addr, &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]));
    wait_ready(addr).await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut http = Http::connect(addr, Uuid::now_v7()).await.unwrap_or_else(|| panic!("connect"));
    let req = hyper::Request::post("/v1/workspaces")
        .header("host", "sunday")
        .header("authorization", format!("Bearer {}", http.token()))
        .header("content-type", "application/json")
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .body(http_body_util::Full::new(Bytes::from(json!({"name": "traced"}).to_string())));
    let answer = http.raw(req.unwrap_or_else(|e| panic!("{e}"))).await;
    assert_eq!(answer.map(|a| a.0), Some(StatusCode::CREATED));
    // Stopping flushes the exporter.
    signal(&server.0, "TERM");
    let id = hex(trace);
    let mut found = false;
    for _ in 0..100 {
        let got = received.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if got.iter().any(|(kind, body)| kind == "application/x-protobuf" && body.windows(id.len()).any(|w| w == id.as_slice())) {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(found, "no OTLP export carried trace {trace}");
}
