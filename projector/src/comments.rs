//! The items' comments and files (`rm_comments`, `rm_files`); each also moves
//! its item's version and update time.

use sunday_domain::DomainEvent as E;
use sunday_domain::events::*;
use sunday_domain::store::RecordedEvent;
use uuid::Uuid;

use crate::item_events::touch;
use crate::items::Items;
use crate::outcome::{R, Tx, missing};

/// Applies a comment or a file; other events change nothing here.
pub(crate) async fn apply(tx: &mut Tx, items: &mut Items, e: &RecordedEvent) -> R {
    match &e.event {
        E::CommentAdded(c) => comment_added(tx, items, e, c).await,
        E::FileAttached(f) => file_attached(tx, items, e, f).await,
        _ => Ok(()),
    }
}

/// Moves the version and update time of the item a comment or file joined.
async fn touch_item(tx: &mut Tx, items: &mut Items, e: &RecordedEvent, item: Uuid) -> R {
    let row = items.get(tx, e.workspace_id.unwrap_or_default(), item).await?.ok_or_else(|| missing(e, "rm_items"))?;
    touch(row, e);
    Ok(())
}

async fn comment_added(tx: &mut Tx, items: &mut Items, e: &RecordedEvent, c: &CommentAdded) -> R {
    sqlx::query(
        "INSERT INTO rm_comments (comment_id, workspace_id, board_id, item_id, body, author_id, created_at, position) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(c.comment_id)
    .bind(e.workspace_id.unwrap_or_default())
    .bind(e.board_id.unwrap_or_default())
    .bind(c.item_id)
    .bind(&c.body)
    .bind(e.metadata.actor_id)
    .bind(e.occurred_at)
    .bind(e.position)
    .execute(&mut *tx)
    .await?;
    touch_item(tx, items, e, c.item_id).await
}

async fn file_attached(tx: &mut Tx, items: &mut Items, e: &RecordedEvent, f: &FileAttached) -> R {
    sqlx::query(
        "INSERT INTO rm_files (file_id, workspace_id, board_id, item_id, name, content_type, size, uploaded_by, created_at, position) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(f.file_id)
    .bind(e.workspace_id.unwrap_or_default())
    .bind(e.board_id.unwrap_or_default())
    .bind(f.item_id)
    .bind(&f.name)
    .bind(&f.content_type)
    .bind(i64::try_from(f.size).unwrap_or(i64::MAX))
    .bind(e.metadata.actor_id)
    .bind(e.occurred_at)
    .bind(e.position)
    .execute(&mut *tx)
    .await?;
    touch_item(tx, items, e, f.item_id).await
}
