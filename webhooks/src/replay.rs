//! Replays: a range of the log sent again to one webhook, in log order (so
//! in each board's order), each event with its own `webhook-id`, beside the
//! webhook's live lanes. A failure waits for its retry like a lane's.

use sunday_domain::store::Position;

use crate::DispatchError;
use crate::attempt::{At, attempt};
use crate::shared::Shared;
use crate::store::{self, Progress, Replay};

/// Events a replay reads from the log at a time.
const PAGE: usize = 100;

/// Sends the replay's events from where it got to, until it is done or one fails.
pub(crate) async fn send(shared: &Shared, mut replay: Replay) -> Result<(), DispatchError> {
    loop {
        let Some(hook) = shared.webhook(replay.webhook).filter(|h| h.active) else { return Ok(()) };
        let range = (replay.next, replay.to.saturating_add(1));
        let events = shared.store.workspace_page(hook.workspace_id, range, false, PAGE).await?;
        let mut passed: Position = replay.next;
        for e in &events {
            if !hook.matches(e.event.event_type(), e.workspace_id, e.board_id) {
                passed = e.position;
                continue;
            }
            let at = At {
                progress: Progress::Replay(replay.id),
                failing_since: replay.failing_since,
                delivered: replay.next,
                passed,
                failures: replay.failures,
            };
            match attempt(shared, &hook, at, e).await? {
                Some(to) => {
                    (replay.next, passed, replay.failures, replay.failing_since) = (to, to, 0, None);
                }
                None => return Ok(()),
            }
        }
        if events.len() < PAGE {
            store::finish_replay(&shared.pool, replay.id).await?;
            return Ok(());
        }
        if passed > replay.next {
            store::skip_replay(&shared.pool, replay.id, replay.next, passed).await?;
            replay.next = passed;
        }
    }
}
