//! What the JSON and SSE change feeds share: what they answer when they
//! cannot follow a board (a refusal that tells nothing, a log that cannot be
//! read), and their place in the board's room.

use sunday_edge::{ErrorKind, Problem};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::join::CatchUpError;
use crate::limits::SocketSlot;
use crate::outbox::{Out, Outbox};
use crate::rooms::RoomHandle;
use crate::{Gateway, Refused};

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

/// A change feed's place in a board's room (a stream, or a request waiting
/// for the board's next event): one of the user's socket places, the bounded
/// queue the room hands it frames in, and its leaving the room when dropped.
pub(crate) struct Follower {
    pub(crate) outbox: Outbox,
    pub(crate) rx: mpsc::Receiver<Out>,
    room: RoomHandle,
    _slot: SocketSlot,
}

impl Follower {
    /// Enters the board's room with a queue of `queue` frames; a user the
    /// room does not admit (after checking the log) gets the 404 of a board
    /// that does not exist.
    pub(crate) async fn enter(gateway: &Gateway, board: Uuid, user: Uuid, queue: usize) -> Result<Self, Problem> {
        let slot = gateway.socket_place(user)?;
        let (outbox, rx) = Outbox::new(queue);
        let room = gateway.enter_room(board, user, outbox.clone()).await.map_err(|r| match r {
            Refused::Forbidden | Refused::Unverified => not_found(),
            Refused::Unavailable(why) => refusal(CatchUpError::Failed(why)),
        })?;
        Ok(Self { outbox, rx, room, _slot: slot })
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.room.leave(self.outbox.id());
    }
}
