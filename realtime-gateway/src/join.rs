//! Catching a joining socket up before it goes live.
//!
//! The socket is in its room before anything here runs, so every event the
//! room hears from now on reaches its queue. What came before is read here:
//! the `board-state` snapshot (read models, at the exact checkpoint they
//! reflect) or the client's `sincePosition`, then every event of the board
//! from the log after that and below the horizon, in pages of bounded size.
//! The socket's watermark ends at the horizon, so live events already sent are
//! dropped and none is missed: an event at or above the horizon commits after
//! this read, so the room hears it after the socket joined.
//!
//! Nothing is sent before the join is authorized against membership as of
//! that horizon, folded from the log: the room's view may lag behind it, and
//! a member removed below the horizon must get nothing the catch-up would
//! carry past the removal.

use std::time::Duration;

use serde_json::Value;
use sunday_domain::store::StoreError;
use sunday_eventstore::{Horizon, PgEventStore};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use uuid::Uuid;

use crate::Gateway;
use crate::access::BoardAccess;
use crate::frame;
use crate::live::LiveEvent;
use crate::outbox::Close;

/// The most events one replayed `events` frame carries (and one page of
/// history read from the log holds).
const REPLAY_FRAME_EVENTS: usize = 500;
/// How often a join waiting for the read models to have the board (or for
/// the horizon to pass the user's membership) looks again.
const SNAPSHOT_RETRY: Duration = Duration::from_millis(10);
/// How long a join waits for the horizon to pass a committed membership.
const HORIZON_WAIT: Duration = Duration::from_secs(5);

pub(crate) enum CatchUpError {
    /// The socket itself ended.
    Socket(Close),
    /// The user may not read the board as of the log being replayed.
    Forbidden,
    /// The snapshot or the log could not be read.
    Failed(String),
}

impl From<Close> for CatchUpError {
    fn from(c: Close) -> Self {
        Self::Socket(c)
    }
}

/// Where the catch-up's frames go: the joining socket, frame by frame (a
/// long history is never held whole).
pub(crate) trait Frames {
    async fn send_text(&mut self, text: Utf8Bytes) -> Result<(), Close>;
}

/// Sends `user`'s socket the snapshot (or nothing, when resuming) and the
/// events after it; returns the watermark the socket goes live from.
pub(crate) async fn catch_up(
    gateway: &Gateway,
    user: Uuid,
    board: Uuid,
    since: Option<i64>,
    conn: &mut impl Frames,
) -> Result<i64, CatchUpError> {
    let failed = |e: StoreError| CatchUpError::Failed(e.to_string());
    let snapshot = match since {
        Some(_) => None,
        None => Some(snapshot(gateway, board).await?),
    };
    let from = snapshot.as_ref().map_or(since.unwrap_or(0), |(_, position)| *position);
    let horizon = authorized_horizon(&gateway.store, board, user, Duration::ZERO).await?;
    if let Some((data, position)) = snapshot {
        let board_json = match data {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        conn.send_text(frame::server("board-state", &frame::BoardState { board: board_json, position })).await?;
    }
    let mut after = from;
    loop {
        let page = gateway.store.board_page(board, after, horizon, REPLAY_FRAME_EVENTS).await.map_err(failed)?;
        let Some(last) = page.last() else { break };
        after = last.position;
        let events: Vec<LiveEvent> = page.iter().map(LiveEvent::from_recorded).collect();
        conn.send_text(frame::events(board, events.iter().map(|e| &*e.json))).await?;
        if page.len() < REPLAY_FRAME_EVENTS {
            break;
        }
    }
    Ok(from.max(horizon - 1))
}

/// The horizon the catch-up reads to, once `user` may read the board as of
/// it. A membership whose event is committed but still above the horizon (an
/// older transaction holds the horizon back) is waited for, up to
/// `HORIZON_WAIT` (since `waited` ago), and after `Horizon::PATIENCE` for
/// this database's horizon (another database's transaction cannot hold it):
/// a member whose addition was acknowledged
/// joins at once, as api.md says, and is still authorized as of the log the
/// catch-up replays.
pub(crate) async fn authorized_horizon(store: &PgEventStore, board: Uuid, user: Uuid, waited: Duration) -> Result<i64, CatchUpError> {
    let failed = |e: StoreError| CatchUpError::Failed(e.to_string());
    let started = tokio::time::Instant::now().checked_sub(waited).unwrap_or_else(tokio::time::Instant::now);
    let deadline = started + HORIZON_WAIT;
    loop {
        let which = Horizon::after_waiting(started.elapsed());
        let horizon = store.horizon_of(which).await.map_err(failed)?;
        let (as_of, committed) = BoardAccess::as_of_and_committed(store, board, horizon).await.map_err(failed)?;
        if as_of.can_read(user) {
            return Ok(horizon);
        }
        if !committed.can_read(user) || tokio::time::Instant::now() >= deadline {
            return Err(CatchUpError::Forbidden);
        }
        tokio::time::sleep(SNAPSHOT_RETRY).await;
    }
}

/// The board from the read models, waiting for the projector when the board is
/// younger than its checkpoint.
async fn snapshot(gateway: &Gateway, board: Uuid) -> Result<(Value, i64), CatchUpError> {
    let deadline = tokio::time::Instant::now() + gateway.config.snapshot_wait;
    loop {
        match sunday_query_api::snapshot::board_state(&gateway.reads, board).await {
            Ok(Some(found)) => return Ok(found),
            Ok(None) if tokio::time::Instant::now() < deadline => tokio::time::sleep(SNAPSHOT_RETRY).await,
            Ok(None) => return Err(CatchUpError::Failed("the board is not in the read models yet; retry".into())),
            Err(e) => return Err(CatchUpError::Failed(e.to_string())),
        }
    }
}
