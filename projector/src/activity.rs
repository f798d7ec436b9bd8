//! The activity log (`rm_activity_log`, monthly partitions): one entry per
//! board event, written for a whole batch in one statement.

use sunday_domain::store::RecordedEvent;
use uuid::Uuid;

use crate::outcome::{R, Tx};

/// `ItemCreated` becomes `item_created`.
fn action(event_type: &str) -> String {
    let mut out = String::with_capacity(event_type.len() + 4);
    for (i, ch) in event_type.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

/// Inserts the activity entries of a batch's board events, in one statement.
pub(crate) async fn insert(tx: &mut Tx, events: &[RecordedEvent]) -> R {
    if events.is_empty() {
        return Ok(());
    }
    let subjects: Vec<(&str, Uuid)> = events.iter().map(|e| e.event.subject()).map(|(kind, id)| (kind.as_str(), id)).collect();
    sqlx::query(
        "INSERT INTO rm_activity_log (id, workspace_id, board_id, item_id, action, entity_type, entity_id, user_id, created_at, position, details) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::uuid[], $8::uuid[], \
                              $9::timestamptz[], $10::bigint[], $11::jsonb[])",
    )
    .bind(events.iter().map(|e| e.event_id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.workspace_id.unwrap_or_default()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.board_id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.event.item_id()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| action(e.event.event_type())).collect::<Vec<_>>())
    .bind(subjects.iter().map(|(kind, _)| *kind).collect::<Vec<_>>())
    .bind(subjects.iter().map(|(_, id)| *id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.metadata.actor_id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.position).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.event.payload()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}
