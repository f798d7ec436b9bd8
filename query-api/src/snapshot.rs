//! Reads for other roles, shaped exactly as the HTTP answers: a board with its
//! items together with the checkpoint it reflects (the realtime gateway's
//! `board-state`), and one item as `GET /v1/items/{id}` shows it to a reader.

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::access::BOARD;
use crate::boards::BOARD_JSON;
use crate::item_json::{ITEM_COLUMNS, ItemRow, render_all};
use crate::items::ITEM_EXTRAS;

/// The board as `GET /v1/boards/{id}?include=items` answers it and the
/// checkpoint it reflects exactly: both are read in one repeatable-read
/// snapshot, so every event after that position is missing from it and every
/// event up to it is in it. `None` when the read models do not have the board.
pub async fn board_state(pool: &PgPool, board_id: Uuid) -> Result<Option<(Value, i64)>, sqlx::Error> {
    let mut tx = pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
    let position = sunday_read_models::checkpoint(&mut *tx).await?;
    let Some(mut data): Option<Value> = sqlx::query_scalar(BOARD_JSON).bind(board_id).fetch_optional(&mut *tx).await? else {
        return Ok(None);
    };
    let sql = format!(
        "SELECT {ITEM_COLUMNS} FROM rm_items i WHERE i.workspace_id = $1 AND i.board_id = $2 AND i.deleted_at IS NULL ORDER BY i.rank"
    );
    let workspace_id = data.get("workspaceId").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()).unwrap_or_default();
    let rows: Vec<ItemRow> = sqlx::query_as(&sql).bind(workspace_id).bind(board_id).fetch_all(&mut *tx).await?;
    data["items"] = Value::Array(render_all(&mut *tx, &rows).await?);
    tx.commit().await?;
    Ok(Some((data, position)))
}

/// A live item as `GET /v1/items/{id}` answers it to `reader`, with the
/// checkpoint it reflects; `None` when the read models do not have it, it is
/// deleted, or `reader` may not read its board (as of the same snapshot).
pub async fn item(pool: &PgPool, item_id: Uuid, reader: Uuid) -> Result<Option<(Value, i64)>, sqlx::Error> {
    let mut tx = pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
    let position = sunday_read_models::checkpoint(&mut *tx).await?;
    let sql = format!("SELECT {ITEM_COLUMNS} FROM rm_items i WHERE i.item_id = $1 AND i.deleted_at IS NULL");
    let Some(row): Option<ItemRow> = sqlx::query_as(&sql).bind(item_id).fetch_optional(&mut *tx).await? else {
        return Ok(None);
    };
    let readable: Option<Uuid> = sqlx::query_scalar(BOARD).bind(row.board_id).bind(reader).fetch_optional(&mut *tx).await?;
    if readable.is_none() {
        return Ok(None);
    }
    let (comments, files): (i64, Value) = sqlx::query_as(ITEM_EXTRAS).bind(item_id).fetch_one(&mut *tx).await?;
    let mut data = render_all(&mut *tx, std::slice::from_ref(&row)).await?.pop().unwrap_or_default();
    data["commentCount"] = json!(comments);
    data["files"] = files;
    tx.commit().await?;
    Ok(Some((data, position)))
}
