//! Board reads: the caller's boards, one board (with its items), its
//! statistics and its activity.

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::QueryState;
use crate::access;
use crate::cache::CachedBoard;
use crate::item_json::{ITEM_COLUMNS, ItemRow, render_all};
use crate::problem::QueryError;
use crate::respond::{Params, Reader, Rendered, Segment, decode_cursor, encode_cursor, id, limit};
use sunday_runtime::stats::timed;

pub(crate) const BOARD_JSON: &str = "SELECT jsonb_build_object(\
    'id', b.board_id, 'workspaceId', b.workspace_id, 'name', b.name, 'description', b.description, \
    'archived', b.archived, 'createdBy', b.created_by, 'createdAt', rm_ts(b.created_at), \
    'updatedAt', rm_ts(b.updated_at), 'version', b.version, 'itemCount', b.item_count, 'memberCount', b.member_count, \
    'columns', coalesce((SELECT jsonb_agg(jsonb_build_object('id', c.column_id, 'key', c.key, 'title', c.title, \
        'type', c.type, 'settings', c.settings) ORDER BY c.ordinal) FROM rm_columns c WHERE c.board_id = b.board_id), '[]'), \
    'groups', coalesce((SELECT jsonb_agg(jsonb_build_object('id', g.group_id, 'title', g.title, 'color', g.color) \
        ORDER BY g.ordinal) FROM rm_groups g WHERE g.board_id = b.board_id), '[]'), \
    'members', coalesce((SELECT jsonb_agg(jsonb_build_object('role', m.role) || rm_person_json(m.user_id) ORDER BY m.user_id) \
        FROM rm_board_members m WHERE m.board_id = b.board_id), '[]')) \
    FROM rm_boards b WHERE b.board_id = $1";

#[derive(Deserialize)]
pub(crate) struct BoardQuery {
    include: Option<String>,
}

/// `GET /v1/boards/{id}?include=items`, served from the board cache when it can.
#[tracing::instrument(skip_all, fields(board_id = %raw))]
pub(crate) async fn get(
    State(s): State<QueryState>,
    reader: Reader,
    Segment(raw): Segment<String>,
    Params(q): Params<BoardQuery>,
) -> Result<Response, QueryError> {
    let board_id = id(&raw, "board")?;
    let with_items = q.include.as_deref().is_some_and(|i| i.split(',').any(|p| p.trim() == "items"));
    // A caller who may not read the board takes the uncached way to its 404,
    // so that how fast it comes tells nothing about who else reads the board.
    if let Some(hit) = s.cache.get(board_id, with_items).filter(|hit| hit.readers.contains(&reader.user_id)) {
        return Ok(reader.respond(&hit.answer));
    }
    let _turn = s.cache.load_turn(board_id).await;
    if let Some(hit) = s.cache.recheck(board_id, with_items).filter(|hit| hit.readers.contains(&reader.user_id)) {
        return Ok(reader.respond(&hit.answer));
    }
    let loaded_at = *s.position.borrow();
    let (board, readers) = access::board_with_readers(&s.pool, board_id, reader.user_id).await?;
    let mut data: Value = timed("board", "rm_boards", sqlx::query_scalar(BOARD_JSON).bind(board.board_id).fetch_one(&s.pool)).await?;
    if with_items {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM rm_items i WHERE i.workspace_id = $1 AND i.board_id = $2 AND i.deleted_at IS NULL ORDER BY i.rank"
        );
        let rows: Vec<ItemRow> =
            timed("board_items", "rm_items", sqlx::query_as(&sql).bind(board.workspace_id).bind(board.board_id).fetch_all(&s.pool)).await?;
        data["items"] = Value::Array(render_all(&s.pool, &rows).await?);
    }
    let answer = Rendered::new(data, None);
    let response = reader.respond(&answer);
    let entry = CachedBoard { workspace_id: board.workspace_id, readers, answer };
    s.cache.put(board_id, with_items, entry, loaded_at);
    Ok(response)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListQuery {
    workspace_id: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct BoardCursor {
    b: Uuid,
}

const LIST: &str = "SELECT b.board_id, jsonb_build_object('id', b.board_id, 'workspaceId', b.workspace_id, 'name', b.name, \
      'description', b.description, 'archived', b.archived, 'createdAt', rm_ts(b.created_at), 'updatedAt', rm_ts(b.updated_at), \
      'version', b.version, 'itemCount', b.item_count, 'memberCount', b.member_count) AS board \
    FROM rm_boards b JOIN rm_workspace_members wm ON wm.workspace_id = b.workspace_id AND wm.user_id = $1 \
    WHERE ($2::uuid IS NULL OR b.workspace_id = $2) AND ($3::uuid IS NULL OR b.board_id > $3) \
      AND (wm.role IN ('owner', 'admin') OR EXISTS (SELECT 1 FROM rm_board_members bm WHERE bm.board_id = b.board_id AND bm.user_id = $1)) \
    ORDER BY b.board_id LIMIT $4";

/// `GET /v1/boards?workspaceId=&limit=&cursor=`
#[tracing::instrument(skip_all)]
pub(crate) async fn list(State(s): State<QueryState>, reader: Reader, Params(q): Params<ListQuery>) -> Result<Response, QueryError> {
    let limit = limit(q.limit.as_deref())?;
    let after: Option<BoardCursor> = decode_cursor(q.cursor.as_deref())?;
    let workspace = match q.workspace_id.as_deref() {
        Some(raw) => Some(visible_workspace(&s, raw, reader.user_id).await?),
        None => None,
    };
    let rows: Vec<(Uuid, Value)> =
        sqlx::query_as(LIST).bind(reader.user_id).bind(workspace).bind(after.map(|c| c.b)).bind(limit + 1).fetch_all(&s.pool).await?;
    let (page, next) = crate::page(rows, limit, |(b, _)| encode_cursor(&BoardCursor { b: *b }));
    Ok(reader.answer(Value::Array(page.into_iter().map(|(_, v)| v).collect()), Some(next)))
}

/// A workspace the reader belongs to; else 404.
async fn visible_workspace(s: &QueryState, raw: &str, user: Uuid) -> Result<Uuid, QueryError> {
    let ws = id(raw, "workspace")?;
    let member: Option<i32> = sqlx::query_scalar("SELECT 1 FROM rm_workspace_members WHERE workspace_id = $1 AND user_id = $2")
        .bind(ws)
        .bind(user)
        .fetch_optional(&s.pool)
        .await?;
    member.map(|_| ws).ok_or(QueryError::NotFound("workspace"))
}

/// `GET /v1/boards/{id}/statistics`
#[tracing::instrument(skip_all, fields(board_id = %raw))]
pub(crate) async fn statistics(State(s): State<QueryState>, reader: Reader, Segment(raw): Segment<String>) -> Result<Response, QueryError> {
    let board = access::board(&s.pool, id(&raw, "board")?, reader.user_id).await?;
    let row: Option<(i32, Value, Value, f64, String)> = sqlx::query_as(
        "SELECT item_count, by_status, by_assignee, estimated_hours_total::float8, rm_ts(updated_at) FROM rm_board_stats WHERE board_id = $1",
    )
    .bind(board.board_id)
    .fetch_optional(&s.pool)
    .await?;
    let (count, by_status, by_assignee, hours, updated) = row.ok_or(QueryError::NotFound("board"))?;
    let data = serde_json::json!({
        "itemCount": count, "byStatus": by_status, "byAssignee": by_assignee,
        "estimatedHoursTotal": hours, "updatedAt": updated,
    });
    Ok(reader.answer(data, None))
}

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    pub(crate) limit: Option<String>,
    pub(crate) cursor: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct PositionCursor {
    p: i64,
}

const ACTIVITY: &str = "SELECT position, jsonb_build_object('id', id, 'action', action, 'entityType', entity_type, \
      'entityId', entity_id, 'userId', user_id, 'createdAt', rm_ts(created_at), 'position', position, 'details', details) \
    FROM rm_activity_log WHERE board_id = $1 AND ($2::uuid IS NULL OR item_id = $2) AND ($3::bigint IS NULL OR position < $3) \
    ORDER BY position DESC LIMIT $4";

/// One page of activity, newest first, of a board or (with `item`) one item.
pub(crate) async fn activity_page(
    s: &QueryState,
    reader: &Reader,
    board: Uuid,
    item: Option<Uuid>,
    q: &PageQuery,
) -> Result<Response, QueryError> {
    let limit = limit(q.limit.as_deref())?;
    let before: Option<PositionCursor> = decode_cursor(q.cursor.as_deref())?;
    let rows: Vec<(i64, Value)> =
        sqlx::query_as(ACTIVITY).bind(board).bind(item).bind(before.map(|c| c.p)).bind(limit + 1).fetch_all(&s.pool).await?;
    let (page, next) = crate::page(rows, limit, |(p, _)| encode_cursor(&PositionCursor { p: *p }));
    Ok(reader.answer(Value::Array(page.into_iter().map(|(_, v)| v).collect()), Some(next)))
}

/// `GET /v1/boards/{id}/activity`
#[tracing::instrument(skip_all, fields(board_id = %raw))]
pub(crate) async fn activity(
    State(s): State<QueryState>,
    reader: Reader,
    Segment(raw): Segment<String>,
    Params(q): Params<PageQuery>,
) -> Result<Response, QueryError> {
    let board = access::board(&s.pool, id(&raw, "board")?, reader.user_id).await?;
    activity_page(&s, &reader, board.board_id, None, &q).await
}

/// `GET /v1/workspaces`: the workspaces the caller belongs to, with their role.
#[tracing::instrument(skip_all)]
pub(crate) async fn workspaces(State(s): State<QueryState>, reader: Reader) -> Result<Response, QueryError> {
    let data: Value = sqlx::query_scalar(
        "SELECT coalesce(jsonb_agg(jsonb_build_object('id', w.workspace_id, 'name', w.name, 'role', m.role, \
           'createdBy', w.created_by, 'createdAt', rm_ts(w.created_at), 'updatedAt', rm_ts(w.updated_at), 'version', w.version) \
           ORDER BY w.workspace_id), '[]') \
         FROM rm_workspace_members m JOIN rm_workspaces w ON w.workspace_id = m.workspace_id WHERE m.user_id = $1",
    )
    .bind(reader.user_id)
    .fetch_one(&s.pool)
    .await?;
    Ok(reader.answer(data, Some(None)))
}
