//! `sunday bench ws --sse`: the same realtime benchmark with every follower
//! on a Server-Sent Events change feed (`GET /v1/boards/{id}/changes`,
//! `Accept: text/event-stream`) instead of a WebSocket: one HTTP/1.1
//! connection per follower, counting and timing each `ItemCreated` it reads.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use uuid::Uuid;

use crate::client::token;
use crate::delivery::{Board, Shared, count_deliveries};

/// Opens one stream per member of each board (at most 200 handshakes at a
/// time); each then counts what it receives. Returns each stream's board.
pub(crate) async fn open_streams(
    target: SocketAddr,
    secret: &str,
    boards: &[Board],
    limit: usize,
    from_now: bool,
    shared: &Arc<Shared>,
) -> anyhow::Result<Vec<usize>> {
    let sem = Arc::new(tokio::sync::Semaphore::new(200));
    let mut opens = Vec::new();
    for (i, board) in boards.iter().enumerate() {
        let since = if from_now { Some(position(target, &token(secret, board.members[0], None), board.id).await?) } else { None };
        for user in board.members.iter().take(limit.saturating_sub(i * board.members.len())) {
            let (token, board_id, shared, sem) = (token(secret, *user, None), board.id, shared.clone(), sem.clone());
            opens.push(tokio::spawn(async move {
                let permit = sem.acquire_owned().await?;
                let body = open(target, &token, board_id, since).await?;
                drop(permit);
                tokio::spawn(listen(body, shared));
                anyhow::Ok(i)
            }));
        }
    }
    let mut held = Vec::new();
    for o in opens {
        held.push(o.await?.context("a stream failed to open")?);
    }
    Ok(held)
}

/// Where a board's feed is now: the `X-Sunday-Position` of one JSON page.
async fn position(target: SocketAddr, token: &str, board: Uuid) -> anyhow::Result<i64> {
    let mut sender = connect(target).await?;
    let req = Request::builder()
        .uri(format!("/v1/boards/{board}/changes?since=0&limit=1000"))
        .header("host", "sunday")
        .header("authorization", format!("Bearer {token}"))
        .body(Empty::<Bytes>::new())?;
    let resp = sender.send_request(req).await?;
    let header = resp.headers().get("x-sunday-position").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let _ = resp.into_body().collect().await?;
    header.context("the change feed answered no X-Sunday-Position")
}

async fn connect(target: SocketAddr) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Empty<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(target).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn open(target: SocketAddr, token: &str, board: Uuid, since: Option<i64>) -> anyhow::Result<hyper::body::Incoming> {
    let mut sender = connect(target).await?;
    let query = since.map(|p| format!("?since={p}")).unwrap_or_default();
    let req = Request::builder()
        .uri(format!("/v1/boards/{board}/changes{query}"))
        .header("host", "sunday")
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "text/event-stream")
        .body(Empty::<Bytes>::new())?;
    let resp = sender.send_request(req).await?;
    if resp.status() != StatusCode::OK {
        bail!("the change feed answered {}", resp.status());
    }
    Ok(resp.into_body())
}

/// Reads whole events (up to each blank line) and counts the commands they carry.
async fn listen(mut body: hyper::body::Incoming, shared: Arc<Shared>) {
    let mut pending = String::new();
    while let Some(Ok(frame)) = body.frame().await {
        let Ok(data) = frame.into_data() else { continue };
        pending.push_str(&String::from_utf8_lossy(&data));
        if let Some(end) = pending.rfind("\n\n") {
            count_deliveries(&pending[..end], &shared);
            pending.drain(..end + 2);
        }
    }
}
