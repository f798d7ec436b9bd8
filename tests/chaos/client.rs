//! The chaos suite's HTTP client: one request per call on a fresh
//! connection, with a deadline, so that a killed or stopped server is an
//! answer (`None`) rather than a hang.

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// What a request got back.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
}

impl Answer {
    /// `data.position` of a command's answer.
    pub(crate) fn position(&self) -> Option<i64> {
        self.body["data"]["position"].as_i64()
    }
}

/// Sends one request with `headers`; `None` when there was no answer within
/// `limit` (refused, reset, or too slow).
pub(crate) async fn send(
    addr: SocketAddr,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, String)],
    limit: Duration,
) -> Option<Answer> {
    let (status, bytes) = tokio::time::timeout(limit, exchange(addr, token, method, path, body, headers)).await.ok().flatten()?;
    Some(Answer { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) })
}

/// A GET answered with text (`/metrics`); `None` without an answer.
pub(crate) async fn get_text(addr: SocketAddr, path: &str) -> Option<String> {
    let (_, bytes) = tokio::time::timeout(Duration::from_secs(2), exchange(addr, "", Method::GET, path, None, &[])).await.ok().flatten()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

async fn exchange(
    addr: SocketAddr,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, String)],
) -> Option<(StatusCode, Bytes)> {
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(conn);
    let mut req = Request::builder().method(method).uri(path).header("host", "sunday").header("authorization", format!("Bearer {token}"));
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let req = req.body(Full::new(body.map(|b| Bytes::from(b.to_string())).unwrap_or_default())).ok()?;
    let resp = sender.send_request(req).await.ok()?;
    let status = resp.status();
    Some((status, resp.into_body().collect().await.ok()?.to_bytes()))
}

/// `/readyz` of a process: 200 or not, and its body.
pub(crate) async fn readyz(addr: SocketAddr) -> Option<Answer> {
    send(addr, "", Method::GET, "/readyz", None, &[], Duration::from_secs(2)).await
}

/// Waits until `/readyz` answers 200; false after `limit`.
pub(crate) async fn ready_within(addr: SocketAddr, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if readyz(addr).await.is_some_and(|a| a.status == StatusCode::OK) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
