//! What a change feed answers when it cannot follow a board (a refusal
//! that tells nothing, a log that cannot be read), and the per-user place a
//! stream or a waiting request holds, shared by the JSON and SSE forms.

use std::time::Duration;

use sunday_edge::{ErrorKind, Limited, Problem};
use uuid::Uuid;

use crate::Gateway;
use crate::join::CatchUpError;
use crate::limits::SocketSlot;

pub(crate) fn not_found() -> Problem {
    Problem::new(ErrorKind::NotFound, "board not found")
}

/// What a catch-up failure tells the caller: a refusal is a 404 (nothing
/// about the board shows), anything else a 503 to retry.
pub(crate) fn refusal(e: CatchUpError) -> Problem {
    match e {
        CatchUpError::Forbidden | CatchUpError::Socket(_) => not_found(),
        CatchUpError::Failed(why) => {
            tracing::warn!(error = %why, "change feed could not read the log");
            Problem::new(ErrorKind::Unavailable, "the log cannot be read right now; retry shortly")
        }
    }
}

/// One of `user`'s places for sockets, streams and waiting requests, or a
/// 429 when it holds the most already.
pub(crate) fn socket_place(gateway: &Gateway, user: Uuid) -> Result<SocketSlot, Problem> {
    gateway.sockets.open(user).ok_or_else(|| {
        gateway.metrics.socket_refused();
        let max = u32::try_from(gateway.sockets.max()).unwrap_or(u32::MAX);
        let limited = Limited { kind: sunday_edge::Kind::Sockets, limit: max, retry_after: Duration::from_secs(1) };
        Problem::rate_limited(limited, "too many sockets, streams and waiting requests open; retry in 1 s")
    })
}
