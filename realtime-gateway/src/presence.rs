//! Presence and cursors of one board room: who is there (a user with several
//! sockets counts once) and their status, who joined and left this window,
//! and each user's latest cursor position in it. Ephemeral: never an event.

use std::collections::{BTreeMap, HashMap};

use tokio_tungstenite::tungstenite::Utf8Bytes;
use uuid::Uuid;

use crate::frame::{self, Status};

struct UserPresence {
    status: Status,
    sockets: u32,
}

/// Presence and cursors of one room.
#[derive(Default)]
pub(crate) struct Presence {
    users: BTreeMap<Uuid, UserPresence>,
    joined: Vec<Uuid>,
    left: Vec<Uuid>,
    changed: bool,
    pub(crate) cursors: HashMap<Uuid, frame::CursorPosition>,
}

impl Presence {
    pub(crate) fn enter(&mut self, user: Uuid) {
        let entry = self.users.entry(user).or_insert(UserPresence { status: Status::Active, sockets: 0 });
        entry.sockets += 1;
        if entry.sockets == 1 {
            self.joined.push(user);
            self.changed = true;
        }
    }

    pub(crate) fn exit(&mut self, user: Uuid) {
        let Some(entry) = self.users.get_mut(&user) else { return };
        entry.sockets = entry.sockets.saturating_sub(1);
        if entry.sockets == 0 {
            self.users.remove(&user);
            self.cursors.remove(&user);
            self.left.push(user);
            self.changed = true;
        }
    }

    pub(crate) fn set(&mut self, user: Uuid, status: Status) {
        if let Some(entry) = self.users.get_mut(&user)
            && entry.status != status
        {
            entry.status = status;
            self.changed = true;
        }
    }

    /// The `presence` frame of this window, if anything changed.
    pub(crate) fn take_frame(&mut self, board: Uuid) -> Option<Utf8Bytes> {
        if !std::mem::take(&mut self.changed) {
            return None;
        }
        let users = self.users.iter().map(|(u, p)| frame::PresenceUser { user_id: *u, status: p.status }).collect();
        let data =
            frame::PresenceData { board_id: board, users, joined: std::mem::take(&mut self.joined), left: std::mem::take(&mut self.left) };
        Some(frame::server("presence", &data))
    }

    /// The `cursors` frame of this window: the latest position per user.
    pub(crate) fn take_cursors(&mut self, board: Uuid) -> Option<Utf8Bytes> {
        if self.cursors.is_empty() {
            return None;
        }
        let cursors = self.cursors.drain().map(|(user_id, position)| frame::CursorEntry { user_id, position }).collect();
        Some(frame::server("cursors", &frame::CursorsData { board_id: board, cursors }))
    }
}
