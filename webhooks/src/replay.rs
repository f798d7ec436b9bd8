//! Replays: a range of the log sent again to one webhook, in log order (so
//! in each board's order), each event with its own `webhook-id`, beside the
//! webhook's live lanes. A failure waits for its retry like a lane's.

use crate::DispatchError;
use crate::attempt::Run;
use crate::shared::Shared;
use crate::store::{self, Progress, Replay};

/// Events a replay reads from the log at a time.
const PAGE: usize = 100;

/// Sends the replay's events from where it got to, until it is done or one fails.
pub(crate) async fn send(shared: &Shared, replay: Replay) -> Result<(), DispatchError> {
    let Some(hook) = shared.webhook(replay.webhook).filter(|h| h.active) else { return Ok(()) };
    let mut run = Run::new(Progress::Replay(replay.id), hook, replay.next, replay.failures, replay.failing_since);
    loop {
        let range = (run.position(), replay.to.saturating_add(1));
        let events = shared.store.workspace_page(run.webhook.workspace_id, range, false, PAGE).await?;
        for e in &events {
            if !run.webhook.matches(e.event.event_type(), e.workspace_id, e.board_id) {
                run.pass(e.position);
            } else if !run.send(shared, e).await? {
                return Ok(());
            }
        }
        run.flush(shared).await?;
        if events.len() < PAGE {
            store::finish_replay(&shared.pool, replay.id).await?;
            return Ok(());
        }
    }
}
