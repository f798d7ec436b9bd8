//! The sending side of a socket, which rooms and answers hold: its bounded
//! queue of frames to write and its close signal. A socket's task owns the
//! receiving side; nothing here knows the connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use uuid::Uuid;

use crate::live::Batch;

/// A socket's identity within this process.
pub(crate) type SocketId = u64;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// What a socket is handed to write. Kept to two words: every socket's queue
/// allocates room for 32 of them up front.
#[derive(Clone, Debug)]
pub(crate) enum Out {
    /// A room's events.
    Events(Arc<Batch>),
    /// A room's presence or cursors frame.
    Board(Arc<(Uuid, Utf8Bytes)>),
    /// The user may no longer read this board.
    Evicted(Box<Uuid>),
    /// An answer meant for this socket only.
    Direct(Box<Utf8Bytes>),
}

/// Why a socket ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Close {
    SlowConsumer,
    GoingAway,
    /// No frame from the client for two heartbeats.
    Dead,
    /// The token the socket was opened with expired.
    Expired,
    /// The client closed or the connection broke.
    Gone,
}

/// What rooms share with a socket's task.
struct Shared {
    id: SocketId,
    closing: Mutex<Option<Close>>,
    wake: Notify,
}

/// The sending side of a socket: its bounded queue and its close signal.
#[derive(Clone)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<Out>,
    shared: Arc<Shared>,
}

impl Outbox {
    /// A new socket's outbox, holding at most `frames` queued, and its receiving end.
    pub(crate) fn new(frames: usize) -> (Self, mpsc::Receiver<Out>) {
        let (tx, rx) = mpsc::channel(frames.max(1));
        let shared = Arc::new(Shared { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), closing: Mutex::new(None), wake: Notify::new() });
        (Self { tx, shared }, rx)
    }

    /// Waits until the socket is told to close, and says why.
    pub(crate) async fn closed(&self) -> Close {
        self.shared.wake.notified().await;
        self.closing().unwrap_or(Close::Gone)
    }

    pub(crate) fn id(&self) -> SocketId {
        self.shared.id
    }

    pub(crate) fn try_send(&self, out: Out) -> Result<(), TrySendError<Out>> {
        self.tx.try_send(out)
    }

    /// Tells the socket to close; the first reason wins.
    pub(crate) fn close(&self, why: Close) {
        let mut closing = self.shared.closing.lock().unwrap_or_else(|p| p.into_inner());
        if closing.is_none() {
            *closing = Some(why);
            self.shared.wake.notify_one();
        }
    }

    pub(crate) fn evicted(&self, board: Uuid) {
        if self.try_send(Out::Evicted(Box::new(board))).is_err() {
            self.close(Close::SlowConsumer);
        }
    }

    pub(crate) fn closing(&self) -> Option<Close> {
        *self.shared.closing.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_frames_are_two_words() {
        assert_eq!(std::mem::size_of::<Out>(), 16);
    }
}
