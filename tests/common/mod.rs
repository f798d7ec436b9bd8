//! Helpers for tests that run the real `sunday` binary: a free port, the
//! process itself on a test database, tokens, and a keep-alive HTTP client.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use sqlx::PgPool;
use sunday_edge::token::{Claims, Secret, mint};
use uuid::Uuid;

pub(crate) const SECRET: &str = "binary-test-secret";

/// An address on loopback nothing listens on, outside the ephemeral range
/// (see `sunday_testkit::free_port`).
pub(crate) fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], sunday_testkit::free_port()))
}

pub(crate) fn database_url(pool: &PgPool) -> String {
    let o = pool.connect_options();
    format!("postgres://{}@{}:{}/{}", o.get_username(), o.get_host(), o.get_port(), o.get_database().unwrap_or("postgres"))
}

pub(crate) fn start(pool: &PgPool, addr: SocketAddr) -> Child {
    start_with(pool, addr, &[])
}

/// `sunday all` with extra environment.
pub(crate) fn start_with(pool: &PgPool, addr: SocketAddr, env: &[(&str, &str)]) -> Child {
    start_on(&database_url(pool), "all", addr, env)
}

/// `sunday <role>` on the database at `url`, with extra environment.
pub(crate) fn start_on(url: &str, role: &str, addr: SocketAddr, env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_sunday"))
        .arg(role)
        .env_remove("SUNDAY_NATS_URL")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env("DATABASE_URL", url)
        .env("SUNDAY_LISTEN", addr.to_string())
        .env("SUNDAY_JWT_SECRET", SECRET)
        .env("SUNDAY_DB_MAX_CONNECTIONS", "8")
        .env("SUNDAY_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting sunday: {e}"))
}

pub(crate) fn token(user: Uuid) -> String {
    mint(&Secret::new(SECRET), &Claims { sub: user, exp: chrono::Utc::now().timestamp() + 3600, name: None, email: None })
}

/// One keep-alive HTTP/1.1 connection.
pub(crate) struct Http {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    token: String,
}

impl Http {
    pub(crate) async fn connect(addr: SocketAddr, user: Uuid) -> Option<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.ok()?;
        tokio::spawn(conn);
        Some(Self { sender, token: token(user) })
    }

    /// The bearer token this connection sends.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// Sends a prepared request; the status and the body as text.
    pub(crate) async fn raw(&mut self, req: Request<Full<Bytes>>) -> Option<(StatusCode, String)> {
        self.sender.ready().await.ok()?;
        let resp = self.sender.send_request(req).await.ok()?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await.ok()?.to_bytes();
        Some((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// `None` when the connection failed (the server went away).
    pub(crate) async fn send(&mut self, method: Method, path: &str, body: Option<Value>) -> Option<(StatusCode, Value)> {
        let mut req =
            Request::builder().method(method).uri(path).header("host", "sunday").header("authorization", format!("Bearer {}", self.token));
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(body.map(|b| Bytes::from(b.to_string())).unwrap_or_default())).ok()?;
        self.sender.ready().await.ok()?;
        let resp = self.sender.send_request(req).await.ok()?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await.ok()?.to_bytes();
        Some((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }
}

pub(crate) async fn wait_ready(addr: SocketAddr) {
    if ready_within(addr, Duration::from_secs(30)).await.is_none() {
        panic!("sunday never became ready");
    }
}

/// Waits for `/readyz` to answer 200; how long it took, `None` if it did not.
pub(crate) async fn ready_within(addr: SocketAddr, limit: Duration) -> Option<Duration> {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if let Some((StatusCode::OK, _)) = readyz(addr).await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// `/readyz`: its status and body, `None` when the server does not answer.
pub(crate) async fn readyz(addr: SocketAddr) -> Option<(StatusCode, Value)> {
    let mut c = Http::connect(addr, Uuid::nil()).await?;
    c.send(Method::GET, "/readyz", None).await
}

/// Kills the process when dropped, so a failing test leaves no server behind.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends a signal (`TERM`, `INT`, ...) to the process.
pub(crate) fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status();
    assert!(status.is_ok_and(|s| s.success()), "kill -{name}");
}
