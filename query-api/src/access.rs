//! Who may read what: a board is readable by workspace owners and admins, and
//! by members of both the workspace and the board. Anything else is a 404.

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
    let board_id: Option<Uuid> = sqlx::query_scalar("SELECT board_id FROM rm_items WHERE item_id = $1 AND deleted_at IS NULL")
        .bind(item_id)
        .fetch_optional(pool)
        .await?;
    let board_id = board_id.ok_or(QueryError::NotFound("item"))?;
    let board = board(pool, board_id, user).await.map_err(|e| match e {
        QueryError::NotFound(_) => QueryError::NotFound("item"),
        other => other,
    })?;
    Ok(ReadableItem { item_id, board })
}
