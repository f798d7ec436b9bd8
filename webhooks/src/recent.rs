//! The events the scan read last, kept in memory so that the senders of a
//! board's lanes (one per webhook: a hundred webhooks are a hundred lanes
//! on each board) take them from here rather than each from the log.
//! Bounded: the oldest go first, and a lane behind them reads the log.

use std::collections::BTreeMap;
use std::sync::Arc;

use sunday_domain::store::{Position, RecordedEvent};
use uuid::Uuid;

/// How many events are kept.
const CAPACITY: usize = 20_000;

pub(crate) struct Recent {
    events: BTreeMap<Position, Arc<RecordedEvent>>,
    /// Every scanned event above it is here.
    floor: Position,
}

impl Recent {
    /// Empty, with everything at or below `scanned` left to the log.
    pub(crate) fn new(scanned: Position) -> Self {
        Self { events: BTreeMap::new(), floor: scanned }
    }

    /// Keeps a scanned batch (in log order), dropping the oldest beyond the bound.
    pub(crate) fn push(&mut self, batch: Vec<RecordedEvent>) {
        for e in batch {
            self.events.insert(e.position, Arc::new(e));
        }
        while self.events.len() > CAPACITY {
            if let Some((p, _)) = self.events.pop_first() {
                self.floor = p;
            }
        }
    }

    /// Up to `limit` events of a lane with `after < position <= head`, when
    /// they are all here: those of `board`, or with `board` nil the
    /// workspace's own.
    pub(crate) fn lane(
        &self,
        workspace: Uuid,
        board: Uuid,
        (after, head): (Position, Position),
        limit: usize,
    ) -> Option<Vec<RecordedEvent>> {
        if after < self.floor || after >= head {
            return (after >= head).then(Vec::new);
        }
        let wanted = |e: &&Arc<RecordedEvent>| match board.is_nil() {
            true => e.board_id.is_none() && e.workspace_id == Some(workspace),
            false => e.board_id == Some(board),
        };
        Some(self.events.range(after + 1..=head).map(|(_, e)| e).filter(wanted).take(limit).map(|e| (**e).clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lane_behind_the_kept_events_reads_the_log() {
        let r = Recent::new(100);
        assert!(r.lane(Uuid::nil(), Uuid::from_u128(1), (50, 150), 10).is_none(), "below the floor");
        assert_eq!(r.lane(Uuid::nil(), Uuid::from_u128(1), (100, 150), 10).map(|v| v.len()), Some(0), "nothing scanned there");
    }
}
