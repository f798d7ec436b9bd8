//! What the event store's test binaries share: an event to append.

use sunday_domain::DomainEvent;
use sunday_domain::events::WorkspaceRenamed;
use sunday_domain::store::{Metadata, NewEvent};
use uuid::Uuid;

/// A rename of workspace `n`, by user 1.
pub(crate) fn event(n: u128) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event: DomainEvent::WorkspaceRenamed(WorkspaceRenamed { workspace_id: Uuid::from_u128(n), name: format!("n{n}") }),
        occurred_at: chrono::Utc::now(),
        workspace_id: Some(Uuid::from_u128(n)),
        board_id: None,
        metadata: Metadata { actor_id: Uuid::from_u128(1), correlation_id: Uuid::now_v7(), ..Metadata::default() },
    }
}
