//! Watchers: WebSocket clients joined to a board through one gateway that,
//! when their socket dies, reconnect to the next gateway with
//! `sincePosition` = the last event they saw, as api.md tells clients to.
//! Each keeps every position it was sent, to hold against the log.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

/// What one watcher has seen.
#[derive(Default)]
pub(crate) struct Seen {
    /// The position of the first join's `board-state`.
    pub(crate) from: Option<i64>,
    /// Every event position received, in order of arrival.
    pub(crate) positions: Vec<i64>,
    pub(crate) reconnects: u32,
}

pub(crate) struct Watcher {
    pub(crate) board: Uuid,
    pub(crate) seen: Arc<Mutex<Seen>>,
}

fn locked(m: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Watcher {
    /// The last position seen (or joined at).
    pub(crate) fn last(&self) -> Option<i64> {
        let seen = locked(&self.seen);
        seen.positions.last().copied().or(seen.from)
    }

    pub(crate) fn snapshot(&self) -> (Option<i64>, Vec<i64>, u32) {
        let seen = locked(&self.seen);
        (seen.from, seen.positions.clone(), seen.reconnects)
    }
}

/// Starts a watcher of `board` on gateway `first` of `gateways`.
pub(crate) fn watch_board(gateways: Vec<SocketAddr>, first: usize, token: String, board: Uuid, stop: watch::Receiver<bool>) -> Watcher {
    let seen = Arc::new(Mutex::new(Seen::default()));
    tokio::spawn(follow(gateways, first, token, board, seen.clone(), stop));
    Watcher { board, seen }
}

async fn follow(gateways: Vec<SocketAddr>, first: usize, token: String, board: Uuid, seen: Arc<Mutex<Seen>>, stop: watch::Receiver<bool>) {
    let mut i = first;
    while !*stop.borrow() {
        let since = {
            let s = locked(&seen);
            s.positions.last().copied().or(s.from)
        };
        session(gateways[i % gateways.len()], &token, board, since, &seen, stop.clone()).await;
        if *stop.borrow() {
            return;
        }
        locked(&seen).reconnects += 1;
        i += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One socket's life: join, then record events until it ends.
async fn session(gateway: SocketAddr, token: &str, board: Uuid, since: Option<i64>, seen: &Mutex<Seen>, mut stop: watch::Receiver<bool>) {
    let url = format!("ws://{gateway}/v1/ws?token={token}");
    let Ok(Ok((mut ws, _))) = tokio::time::timeout(Duration::from_secs(3), tokio_tungstenite::connect_async(url)).await else { return };
    let mut data = json!({"boardId": board});
    if let Some(p) = since {
        data["sincePosition"] = json!(p);
    }
    if ws.send(Message::text(json!({"event": "join-board", "data": data}).to_string())).await.is_err() {
        return;
    }
    loop {
        let frame = tokio::select! {
            f = tokio::time::timeout(Duration::from_secs(60), ws.next()) => f,
            _ = stop.changed() => return,
        };
        let Ok(Some(Ok(Message::Text(text)))) = frame else {
            if matches!(frame, Ok(Some(Ok(_)))) {
                continue;
            }
            return;
        };
        let frame: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
        match frame["event"].as_str() {
            Some("board-state") => locked(seen).from = frame["data"]["position"].as_i64(),
            Some("events") => {
                let positions = frame["data"]["events"].as_array().into_iter().flatten().filter_map(|e| e["position"].as_i64());
                locked(seen).positions.extend(positions);
            }
            // `unavailable` (the gateway lost its bus) or anything else: try again elsewhere.
            Some("error") => return,
            _ => {}
        }
    }
}
