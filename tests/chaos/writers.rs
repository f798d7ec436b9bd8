//! Writers: clients that create and rename items through both command APIs
//! and retry every command (same `Idempotency-Key`) on the other API until
//! it is acknowledged, as a careful client does. The ledger keeps what was
//! acknowledged, to hold the log to, and every attempt's outcome and time,
//! to count the 5xx of an outage.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{Value, json};
use tokio::sync::watch;
use uuid::Uuid;

use crate::client;

/// How one attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Acknowledged,
    /// An answer with this status, not a success.
    Status(u16),
    /// No answer: refused, reset or timed out.
    NoAnswer,
}

#[derive(Default)]
pub(crate) struct Ledger {
    /// Items whose creation was acknowledged.
    pub(crate) created: Mutex<Vec<Uuid>>,
    /// Acknowledged renames per item.
    pub(crate) renamed: Mutex<HashMap<Uuid, u64>>,
    /// Every attempt, by writers and probes.
    pub(crate) attempts: Mutex<Vec<(Instant, Outcome)>>,
    /// Commands sent and not yet acknowledged or given up.
    pub(crate) in_flight: AtomicUsize,
    /// Commands given up on after retrying for a minute.
    pub(crate) abandoned: AtomicUsize,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Ledger {
    pub(crate) fn record(&self, outcome: Outcome) {
        locked(&self.attempts).push((Instant::now(), outcome));
    }

    /// 5xx answers and attempts without an answer between `from` and `to`.
    pub(crate) fn failures_between(&self, from: Instant, to: Instant) -> (usize, usize) {
        let attempts = locked(&self.attempts);
        let during = attempts.iter().filter(|(at, _)| *at >= from && *at <= to);
        during.fold((0, 0), |(five, none), (_, o)| match o {
            Outcome::Status(s) if *s >= 500 => (five + 1, none),
            Outcome::NoAnswer => (five, none + 1),
            _ => (five, none),
        })
    }

    pub(crate) fn created(&self) -> Vec<Uuid> {
        locked(&self.created).clone()
    }

    pub(crate) fn renamed(&self) -> HashMap<Uuid, u64> {
        locked(&self.renamed).clone()
    }
}

/// Sends a command until it is acknowledged, starting with API `first` and
/// moving to the next after each failure; the answer, or `None` after a minute.
pub(crate) async fn until_acknowledged(
    apis: &[SocketAddr],
    first: usize,
    token: &str,
    method: Method,
    path: &str,
    body: &Value,
    ledger: &Ledger,
) -> Option<client::Answer> {
    let key = Uuid::now_v7().to_string();
    let started = Instant::now();
    let mut i = first;
    while started.elapsed() < Duration::from_secs(60) {
        let answer = client::send(
            apis[i % apis.len()],
            token,
            method.clone(),
            path,
            Some(body),
            &[("idempotency-key", key.clone())],
            Duration::from_secs(5),
        )
        .await;
        match answer {
            Some(a) if a.status.is_success() => {
                ledger.record(Outcome::Acknowledged);
                return Some(a);
            }
            Some(a) if a.status.is_server_error() || a.status.as_u16() == 429 => ledger.record(Outcome::Status(a.status.as_u16())),
            Some(a) => panic!("{method} {path} {body} answered {} {}: a writer's command is valid", a.status, a.body),
            None => ledger.record(Outcome::NoAnswer),
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// One writer: creates items on its boards and renames those it created,
/// until `stop`; holds off while `paused` (so the log can be checked).
pub(crate) async fn write(
    n: usize,
    apis: Vec<SocketAddr>,
    token: String,
    boards: Vec<Uuid>,
    ledger: Arc<Ledger>,
    paused: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
) {
    let mut mine: Vec<Uuid> = Vec::new();
    let mut step = n;
    while !*stop.borrow() {
        // Counted in flight before looking at `paused`, so a pause that sees
        // nothing in flight sees every command that will ever be sent before it.
        ledger.in_flight.fetch_add(1, Ordering::SeqCst);
        if *paused.borrow() {
            ledger.in_flight.fetch_sub(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        step += 1;
        let rename = !mine.is_empty() && step.is_multiple_of(3);
        let done = if rename {
            let item = mine[step % mine.len()];
            let answer = until_acknowledged(
                &apis,
                step,
                &token,
                Method::PUT,
                &format!("/v1/items/{item}"),
                &json!({"name": format!("renamed {step}")}),
                &ledger,
            )
            .await;
            answer.map(|_| *locked(&ledger.renamed).entry(item).or_default() += 1)
        } else {
            let (item, board) = (Uuid::now_v7(), boards[step % boards.len()]);
            let answer = until_acknowledged(
                &apis,
                step,
                &token,
                Method::POST,
                "/v1/items",
                &json!({"id": item, "boardId": board, "name": "created"}),
                &ledger,
            )
            .await;
            answer.map(|_| {
                mine.push(item);
                locked(&ledger.created).push(item);
            })
        };
        if done.is_none() {
            ledger.abandoned.fetch_add(1, Ordering::SeqCst);
        }
        ledger.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}
