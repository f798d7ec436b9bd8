//! Who may read what: a board is readable by workspace owners and admins, and
//! by members of both the workspace and the board. Anything else is a 404.

use std::collections::HashSet;

use sqlx::PgPool;
use uuid::Uuid;

use crate::problem::QueryError;

/// A board the reader may read.
pub(crate) struct ReadableBoard {
    pub(crate) board_id: Uuid,
    pub(crate) workspace_id: Uuid,
}

pub(crate) const BOARD: &str = "SELECT b.workspace_id FROM rm_boards b \
    JOIN rm_workspace_members wm ON wm.workspace_id = b.workspace_id AND wm.user_id = $2 \
    WHERE b.board_id = $1 AND (wm.role IN ('owner', 'admin') \
      OR EXISTS (SELECT 1 FROM rm_board_members bm WHERE bm.board_id = b.board_id AND bm.user_id = $2))";

/// The board, if it exists and `user` may read it; else 404.
pub(crate) async fn board(pool: &PgPool, board_id: Uuid, user: Uuid) -> Result<ReadableBoard, QueryError> {
    let query = sqlx::query_scalar(BOARD).bind(board_id).bind(user).fetch_optional(pool);
    let workspace_id: Option<Uuid> = sunday_runtime::stats::timed("authorize", "rm_board_members", query).await?;
    let workspace_id = workspace_id.ok_or(QueryError::NotFound("board"))?;
    Ok(ReadableBoard { board_id, workspace_id })
}

/// A live item the reader may read, with its board.
pub(crate) struct ReadableItem {
    pub(crate) item_id: Uuid,
    pub(crate) board: ReadableBoard,
}

/// The item, if it exists, is not deleted and `user` may read its board; else 404.
pub(crate) async fn item(pool: &PgPool, item_id: Uuid, user: Uuid) -> Result<ReadableItem, QueryError> {
    let board_id = live_item_board(pool, item_id).await?;
    let board = board(pool, board_id, user).await.map_err(as_item)?;
    Ok(ReadableItem { item_id, board })
}

/// The board's workspace and everyone who may read it (owners and admins of
/// the workspace, members of both), in one query.
const READERS: &str = "SELECT b.workspace_id, ARRAY(\
      SELECT wm.user_id FROM rm_workspace_members wm WHERE wm.workspace_id = b.workspace_id AND wm.role IN ('owner', 'admin') \
      UNION SELECT bm.user_id FROM rm_board_members bm \
      JOIN rm_workspace_members wm ON wm.workspace_id = b.workspace_id AND wm.user_id = bm.user_id WHERE bm.board_id = b.board_id) \
    FROM rm_boards b WHERE b.board_id = $1";

/// The board with everyone who may read it, if `user` is among them; else 404.
/// For answers that are cached and later served to other readers.
pub(crate) async fn board_with_readers(pool: &PgPool, board_id: Uuid, user: Uuid) -> Result<(ReadableBoard, HashSet<Uuid>), QueryError> {
    let query = sqlx::query_as(READERS).bind(board_id).fetch_optional(pool);
    let found: Option<(Uuid, Vec<Uuid>)> = sunday_runtime::stats::timed("authorize", "rm_board_members", query).await?;
    let (workspace_id, readers) = found.ok_or(QueryError::NotFound("board"))?;
    let readers: HashSet<Uuid> = readers.into_iter().collect();
    match readers.contains(&user) {
        true => Ok((ReadableBoard { board_id, workspace_id }, readers)),
        false => Err(QueryError::NotFound("board")),
    }
}

/// The item's board with its readers, if `user` is among them; else 404.
pub(crate) async fn item_with_readers(pool: &PgPool, item_id: Uuid, user: Uuid) -> Result<(ReadableItem, HashSet<Uuid>), QueryError> {
    let board_id = live_item_board(pool, item_id).await?;
    let (board, readers) = board_with_readers(pool, board_id, user).await.map_err(as_item)?;
    Ok((ReadableItem { item_id, board }, readers))
}

async fn live_item_board(pool: &PgPool, item_id: Uuid) -> Result<Uuid, QueryError> {
    let board_id: Option<Uuid> = sqlx::query_scalar("SELECT board_id FROM rm_items WHERE item_id = $1 AND deleted_at IS NULL")
        .bind(item_id)
        .fetch_optional(pool)
        .await?;
    board_id.ok_or(QueryError::NotFound("item"))
}

/// A board's 404 told as the item's.
fn as_item(e: QueryError) -> QueryError {
    match e {
        QueryError::NotFound(_) => QueryError::NotFound("item"),
        other => other,
    }
}
