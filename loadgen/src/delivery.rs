//! What the realtime benchmark's followers (sockets or SSE streams) share:
//! the boards they follow, when each command was sent, how often it was
//! delivered, and how long that took.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use uuid::Uuid;

/// What every socket task shares.
pub(crate) struct Shared {
    /// Send time of each command (µs since `start`), by sequence number.
    pub(crate) sent_us: Vec<AtomicU64>,
    /// Deliveries of each command.
    pub(crate) delivered: Vec<AtomicU32>,
    /// Send-to-receive latencies (µs) of the current rate's deliveries.
    pub(crate) latencies: Mutex<Vec<u32>>,
    pub(crate) start: Instant,
}

impl Shared {
    pub(crate) fn latencies(&self) -> std::sync::MutexGuard<'_, Vec<u32>> {
        self.latencies.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// The boards, each with its own workspace and `sockets / boards` members.
pub(crate) struct Board {
    pub(crate) id: Uuid,
    pub(crate) members: Vec<Uuid>,
}

/// Counts (and times) each command whose item `text` carries, by the
/// sequence number in the item's name.
pub(crate) fn count_deliveries(text: &str, shared: &Shared) {
    for part in text.split(r#""name":"bench-"#).skip(1) {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(seq) = digits.parse::<usize>()
            && let Some(count) = shared.delivered.get(seq)
        {
            count.fetch_add(1, Ordering::Relaxed);
            record_latency(shared, seq);
        }
    }
}

fn record_latency(shared: &Shared, seq: usize) {
    let sent = shared.sent_us.get(seq).map_or(0, |s| s.load(Ordering::Relaxed));
    let micros = shared.now_us().saturating_sub(sent);
    shared.latencies().push(u32::try_from(micros).unwrap_or(u32::MAX));
}
