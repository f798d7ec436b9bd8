//! The change feed as Server-Sent Events: the board's events after the
//! client's position from the log, then live ones from the board's room,
//! each as `id: <position>`, `event: <type>`, `data: <event JSON>`.
//!
//! The stream joins the room exactly as a socket does (registered first,
//! then caught up from the log below the horizon, then live above its
//! watermark), so a browser's `EventSource` that resumes with
//! `Last-Event-ID` gets no gap and no duplicate. It holds one of the user's
//! socket places, and its queue is bounded like a socket's: a client that
//! does not read is dropped (and resumes where it stopped). It ends with an
//! `error` event (`forbidden`) when the user may no longer read the board,
//! and when its token expires.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use sunday_domain::store::Position;
use sunday_edge::Problem;
use sunday_edge::token::Claims;
use tokio::sync::mpsc;
use tokio::time::Instant;
use uuid::Uuid;

use crate::feed::{Follower, refusal};
use crate::live::LiveEvent;
use crate::outbox::Out;
use crate::{Gateway, join};

/// A comment line every so often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Chunks written ahead of the client.
const BODY_QUEUE: usize = 16;
/// Events per page of history read from the log, and the most bytes written
/// at once: a stream catching up holds little (thousands may at once).
const PAGE: usize = 100;
const CHUNK: usize = 16 * 1024;

const FORBIDDEN: &str = "event: error\ndata: {\"code\":\"forbidden\"}\n\n";

/// Opens the stream, or answers a problem before any byte is sent.
pub(crate) async fn open(gateway: Gateway, claims: Claims, board: Uuid, since: Position) -> Result<Response, Problem> {
    let follower = Follower::enter(&gateway, board, claims.sub, gateway.config.queue_frames).await?;
    let horizon = join::authorized_horizon(&gateway.store, board, claims.sub, Duration::ZERO).await.map_err(refusal)?;
    let (tx, body) = mpsc::channel::<Bytes>(BODY_QUEUE);
    let stream = Stream { gateway, board, follower, tx };
    tokio::spawn(stream.run(since, horizon, claims.exp));
    let body = futures_util::stream::unfold(body, |mut body| async move { body.recv().await.map(|b| (Ok::<_, Infallible>(b), body)) });
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

struct Stream {
    gateway: Gateway,
    board: Uuid,
    follower: Follower,
    tx: mpsc::Sender<Bytes>,
}

impl Stream {
    async fn run(mut self, since: Position, horizon: Position, expires: i64) {
        self.gateway.metrics.sse_opened();
        if let Some(watermark) = self.catch_up(since, horizon).await {
            self.follow(watermark, expires).await;
        }
        self.gateway.metrics.sse_closed();
    }

    /// The board's events after `since` and below `horizon`, page by page;
    /// the watermark live events start above. `None` once the client is gone.
    async fn catch_up(&mut self, since: Position, horizon: Position) -> Option<Position> {
        let mut after = since;
        loop {
            let page = match self.gateway.store.board_page(self.board, after, horizon, PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    // The stream has started: end it, and the client resumes.
                    tracing::warn!(board = %self.board, error = %e, "change feed could not read the log");
                    return None;
                }
            };
            let Some(last) = page.last() else { break };
            after = last.position;
            let (mut chunk, mut events) = (String::new(), 0);
            for e in &page {
                push_event(&mut chunk, &LiveEvent::from_recorded(e));
                events += 1;
                if chunk.len() >= CHUNK {
                    self.send(std::mem::take(&mut chunk), std::mem::take(&mut events)).await?;
                }
            }
            self.send(chunk, events).await?;
            if page.len() < PAGE {
                break;
            }
        }
        Some(since.max(horizon - 1))
    }

    /// Live events above `watermark` until the client goes, is refused, is
    /// too slow, its token expires or the server stops.
    async fn follow(&mut self, mut watermark: Position, expires: i64) {
        let mut stop = self.gateway.stopping.subscribe();
        let mut keep_alive = tokio::time::interval_at(Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
        let left = u64::try_from(expires - chrono::Utc::now().timestamp()).unwrap_or(0);
        let expiry = Instant::now() + Duration::from_secs(left);
        let closer = self.follower.outbox.clone();
        loop {
            let sent = tokio::select! {
                biased;
                _ = closer.closed() => None,
                _ = stop.changed() => None,
                () = tokio::time::sleep_until(expiry) => None,
                out = self.follower.rx.recv() => match out {
                    Some(Out::Events(batch)) => {
                        let mut chunk = String::new();
                        let fresh: Vec<_> = batch.events.iter().filter(|e| e.position > watermark).collect();
                        for e in &fresh {
                            push_event(&mut chunk, e);
                        }
                        watermark = watermark.max(batch.last());
                        self.send(chunk, u64::try_from(fresh.len()).unwrap_or(0)).await
                    }
                    Some(Out::Evicted(_)) => {
                        let _ = self.send(FORBIDDEN.to_owned(), 0).await;
                        None
                    }
                    Some(Out::Board(_) | Out::Direct(_)) => Some(()),
                    None => None,
                },
                _ = keep_alive.tick() => self.send(": keep-alive\n\n".to_owned(), 0).await,
                () = self.tx.closed() => None,
            };
            if sent.is_none() {
                return;
            }
        }
    }

    /// Writes a chunk unless the room drops the stream meanwhile; `None`
    /// when the client is gone.
    async fn send(&mut self, chunk: String, events: u64) -> Option<()> {
        if chunk.is_empty() {
            return Some(());
        }
        let closer = self.follower.outbox.clone();
        tokio::select! {
            biased;
            _ = closer.closed() => None,
            sent = self.tx.send(Bytes::from(chunk)) => {
                self.gateway.metrics.sse_sent(events);
                sent.ok()
            }
        }
    }
}

/// One event in SSE form; its JSON holds no newline (serde's compact form).
fn push_event(chunk: &mut String, e: &LiveEvent) {
    use std::fmt::Write;
    let _ = write!(chunk, "id: {}\nevent: {}\ndata: {}\n\n", e.position, e.event_type, e.json);
}
