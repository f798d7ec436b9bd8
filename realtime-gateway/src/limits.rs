//! Per-user bounds of the gateway: how many sockets a user may hold open at
//! once (`Config::max_sockets_per_user`), and how many frames per second it
//! may send (`Config::rate_limits.frames`, shared by all its sockets).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

/// Sockets open per user in this process.
#[derive(Default)]
pub(crate) struct Sockets {
    open: Mutex<HashMap<Uuid, usize>>,
    /// 0: no cap.
    max: usize,
}

/// One socket's place in its user's count; dropping it frees the place.
pub(crate) struct SocketSlot {
    sockets: Arc<Sockets>,
    user: Uuid,
}

impl Sockets {
    pub(crate) fn new(max: usize) -> Self {
        Self { open: Mutex::default(), max }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, usize>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for one more socket of `user`, unless it holds the most already.
    pub(crate) fn open(self: &Arc<Self>, user: Uuid) -> Option<SocketSlot> {
        let mut open = self.lock();
        let count = open.entry(user).or_insert(0);
        if self.max > 0 && *count >= self.max {
            return None;
        }
        *count += 1;
        Some(SocketSlot { sockets: self.clone(), user })
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self.sockets.lock();
        if let Some(count) = open.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

/// How often a socket over its frame rate is told so (the frames beyond
/// are dropped either way): at most once a second, so a flood is not echoed.
const NOTICE_EVERY: Duration = Duration::from_secs(1);

/// When a socket may next be told it is rate limited.
#[derive(Clone, Copy)]
pub(crate) struct Notices {
    next: Instant,
}

impl Notices {
    pub(crate) fn new() -> Self {
        Self { next: Instant::now() }
    }

    /// Whether to send a `rate-limited` error frame now.
    pub(crate) fn due(&mut self) -> bool {
        let now = Instant::now();
        if now < self.next {
            return false;
        }
        self.next = now + NOTICE_EVERY;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_holds_at_most_the_cap_and_a_closed_socket_frees_its_place() {
        let sockets = Arc::new(Sockets::new(2));
        let user = Uuid::from_u128(1);
        let a = sockets.open(user);
        let b = sockets.open(user);
        assert!(a.is_some() && b.is_some());
        assert!(sockets.open(user).is_none(), "a third socket is refused");
        assert!(sockets.open(Uuid::from_u128(2)).is_some(), "caps are per user");
        drop(a);
        assert!(sockets.open(user).is_some());
    }
}
