//! An HTTP endpoint on loopback that records every delivery (headers and
//! body as received), answers as the test says (`503` for the boards it
//! is told to fail, `410` when told, slowly when told), and checks
//! signatures with its own few lines of HMAC (not the server's code).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use uuid::Uuid;

/// One request as the endpoint got it.
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    /// Which subscription it was for (the last path segment).
    pub(crate) hook: String,
    pub(crate) id: String,
    pub(crate) timestamp: String,
    pub(crate) signature: String,
    pub(crate) body: Bytes,
    pub(crate) answered: u16,
}

impl Delivery {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub(crate) fn board(&self) -> Option<Uuid> {
        self.json()["data"]["boardId"].as_str().and_then(|s| Uuid::parse_str(s).ok())
    }
    pub(crate) fn position(&self) -> i64 {
        self.json()["data"]["position"].as_i64().unwrap_or(-1)
    }
    pub(crate) fn event_type(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_owned()
    }

    /// Whether `secret` (`whsec_…`) signed it, by the Standard Webhooks rule.
    pub(crate) fn signed_by(&self, secret: &str) -> bool {
        let Ok(key) = STANDARD.decode(secret.trim_start_matches("whsec_")) else { return false };
        let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(&key) else { return false };
        mac.update(format!("{}.{}.", self.id, self.timestamp).as_bytes());
        mac.update(&self.body);
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        self.signature.split(' ').any(|s| s == expected)
    }
}

#[derive(Default)]
pub(crate) struct Script {
    pub(crate) deliveries: Vec<Delivery>,
    /// Boards whose events are answered `503`.
    pub(crate) failing: HashSet<Uuid>,
    /// Boards whose events are held past any deadline before an answer.
    pub(crate) hanging: HashSet<Uuid>,
    /// Subscriptions answered `410 Gone`.
    pub(crate) gone: HashSet<String>,
    /// Held this long before answering.
    pub(crate) slow: Duration,
}

impl Script {
    /// The deliveries answered `2xx`, for one subscription.
    pub(crate) fn delivered(&self, hook: &str) -> Vec<Delivery> {
        self.deliveries.iter().filter(|d| d.hook == hook && d.answered < 300).cloned().collect()
    }

    /// The ids delivered to one subscription.
    pub(crate) fn ids(&self, hook: &str) -> HashSet<String> {
        self.delivered(hook).into_iter().map(|d| d.id).collect()
    }
}

#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) addr: SocketAddr,
    script: Arc<Mutex<Script>>,
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}"))).await
    }

    /// A receiver on `addr` (a port nothing listened on until now).
    pub(crate) async fn start_on(addr: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let script = Arc::new(Mutex::new(Script::default()));
        let app = axum::Router::new().route("/hooks/{hook}", axum::routing::post(receive)).with_state(script.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, script }
    }

    pub(crate) fn url(&self, hook: &str) -> String {
        format!("http://{}/hooks/{hook}", self.addr)
    }

    pub(crate) fn script(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The deliveries answered `2xx`, for one subscription.
    pub(crate) fn delivered(&self, hook: &str) -> Vec<Delivery> {
        self.script().delivered(hook)
    }

    /// Waits until `done` holds for what was delivered, or panics after
    /// `limit` (`done` is called with the script locked: use its argument).
    pub(crate) async fn wait_for(&self, limit: Duration, what: &str, done: impl Fn(&Script) -> bool) {
        let started = std::time::Instant::now();
        while started.elapsed() < limit {
            if done(&self.script()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let n = self.script().deliveries.len();
        panic!("{what}: not within {limit:?} ({n} requests received)");
    }
}

async fn receive(State(script): State<Arc<Mutex<Script>>>, Path(hook): Path<String>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let mut d = Delivery {
        hook,
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
        answered: 200,
    };
    let slow = {
        let s = script.lock().unwrap_or_else(|p| p.into_inner());
        if s.gone.contains(&d.hook) {
            d.answered = 410;
        } else if d.board().is_some_and(|b| s.failing.contains(&b)) {
            d.answered = 503;
        }
        if d.board().is_some_and(|b| s.hanging.contains(&b)) {
            // Held past the server's deadline: it gave up on this answer.
            d.answered = 504;
            Duration::from_secs(3)
        } else {
            s.slow
        }
    };
    if !slow.is_zero() {
        tokio::time::sleep(slow).await;
    }
    let answered = d.answered;
    script.lock().unwrap_or_else(|p| p.into_inner()).deliveries.push(d);
    StatusCode::from_u16(answered).unwrap_or(StatusCode::OK)
}
