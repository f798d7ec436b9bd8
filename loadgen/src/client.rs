//! The load generators' HTTP client: one keep-alive HTTP/1.1 connection
//! with a bearer token, and the percentiles their reports print.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use sunday_edge::token::{Claims, Secret, mint};
use uuid::Uuid;

/// A token for `user`, valid for a day.
pub(crate) fn token(secret: &str, user: Uuid, name: Option<&str>) -> String {
    let claims = Claims { sub: user, exp: chrono::Utc::now().timestamp() + 86_400, name: name.map(str::to_owned), email: None };
    mint(&Secret::new(secret), &claims)
}

/// One keep-alive HTTP/1.1 connection with a bearer token.
pub(crate) struct Client {
    sender: SendRequest<Full<Bytes>>,
    token: String,
}

impl Client {
    pub(crate) async fn connect(target: SocketAddr, token: &str) -> anyhow::Result<Self> {
        let stream = tokio::net::TcpStream::connect(target).await.with_context(|| format!("connecting to {target}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { sender, token: token.to_owned() })
    }

    pub(crate) async fn send(&mut self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<(StatusCode, Value)> {
        let mut req =
            Request::builder().method(method).uri(path).header("host", "sunday").header("authorization", format!("Bearer {}", self.token));
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(body.map(|b| Bytes::from(b.to_string())).unwrap_or_default()))?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    pub(crate) async fn create(&mut self, path: &str, body: Value) -> anyhow::Result<Uuid> {
        let (status, reply) = self.send(Method::POST, path, Some(&body)).await?;
        if status != StatusCode::CREATED {
            bail!("{path} answered {status}: {reply}");
        }
        let id = reply["data"]["id"].as_str().and_then(|s| Uuid::parse_str(s).ok());
        id.context("no id in the answer")
    }

    /// A POST that must succeed.
    pub(crate) async fn expect_ok(&mut self, path: &str, body: Value) -> anyhow::Result<()> {
        let (status, reply) = self.send(Method::POST, path, Some(&body)).await?;
        if !status.is_success() {
            bail!("{path} answered {status}: {reply}");
        }
        Ok(())
    }

    /// A GET that waits for `position`; `true` when it answered 200.
    pub(crate) async fn wait_read(&mut self, path: &str, position: i64) -> anyhow::Result<bool> {
        let req = Request::builder()
            .uri(path)
            .header("host", "sunday")
            .header("authorization", format!("Bearer {}", self.token))
            .header("x-sunday-min-position", position.to_string())
            .body(Full::new(Bytes::new()))?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let ok = resp.status() == StatusCode::OK;
        let _ = resp.into_body().collect().await?;
        Ok(ok)
    }
}

pub(crate) fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    f64::from(sorted[rank.min(sorted.len() - 1)]) / 1000.0
}
