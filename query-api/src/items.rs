//! Item reads: a board's items (filtered, in rank order, keyset-paged), one
//! item, its comments and activity, and file metadata. Listings are served
//! from the listings cache while their board is unchanged.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::QueryState;
use crate::access;
use crate::access::ReadableBoard;
use crate::boards::{PageQuery, activity_page};
use crate::item_json::{ITEM_COLUMNS, ItemRow, render_all};
use crate::listings::{CachedList, ListKey};
use crate::problem::QueryError;
use crate::respond::{Params, Reader, Rendered, Segment, decode_cursor, encode_cursor, id, limit};
use sunday_runtime::stats::timed;

/// The filters of an item listing; all must hold.
#[derive(Default)]
struct Filters {
    status: Option<String>,
    assignee: Option<Uuid>,
    tags: Vec<String>,
    q: Option<String>,
    group: Option<Uuid>,
    limit: Option<String>,
    cursor: Option<String>,
    board: Option<String>,
}

impl Filters {
    /// The filters and page in one canonical form, the listing's cache key
    /// (tags sorted and deduplicated: they are one containment test).
    fn key(&self) -> String {
        let mut tags: Vec<&str> = self.tags.iter().map(String::as_str).collect();
        tags.sort_unstable();
        tags.dedup();
        json!(["items", self.status, self.assignee, tags, self.q, self.group, self.limit, self.cursor]).to_string()
    }
}

/// Parses the query string by hand: `tag` may repeat.
fn filters(raw: Option<&str>) -> Result<Filters, QueryError> {
    let mut f = Filters::default();
    let pairs: Vec<(String, String)> = serde_urlencoded_pairs(raw.unwrap_or(""))?;
    for (k, v) in pairs {
        match k.as_str() {
            "status" => f.status = Some(v),
            "assignee" => f.assignee = Some(filter_id(&v, "assignee")?),
            "tag" => f.tags.push(v),
            "q" => f.q = Some(v),
            "groupId" => f.group = Some(filter_id(&v, "groupId")?),
            "limit" => f.limit = Some(v),
            "cursor" => f.cursor = Some(v),
            "boardId" => f.board = Some(v),
            _ => {}
        }
    }
    Ok(f)
}

fn filter_id(raw: &str, field: &'static str) -> Result<Uuid, QueryError> {
    Uuid::parse_str(raw).map_err(|_| QueryError::Unprocessable { field, message: "must be a UUID".into() })
}

/// `a=1&b=x%20y` into pairs, percent-decoded.
fn serde_urlencoded_pairs(raw: &str) -> Result<Vec<(String, String)>, QueryError> {
    let parsed: Vec<(String, String)> = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{raw}").parse().map_err(|_| QueryError::BadRequest("malformed query string".into()))?,
    )
    .map_err(|_| QueryError::BadRequest("malformed query string".into()))?
    .0;
    Ok(parsed)
}

#[derive(Serialize, Deserialize)]
struct RankCursor {
    r: String,
}

/// The listing's SQL for the filters given: only present filters appear, so
/// each combination is its own prepared statement with a plan that uses the
/// board's rank index (or its status-and-rank index).
fn list_sql(f: &Filters, after: bool) -> String {
    let mut sql = format!("SELECT {ITEM_COLUMNS} FROM rm_items i WHERE i.workspace_id = $1 AND i.board_id = $2 AND i.deleted_at IS NULL",);
    let mut n = 2;
    let mut clause = |sql: &mut String, template: &str| {
        n += 1;
        sql.push_str(&template.replace('?', &format!("${n}")));
    };
    if f.status.is_some() {
        clause(&mut sql, " AND i.item_data ->> 'status' = ?");
    }
    if f.assignee.is_some() {
        clause(&mut sql, " AND ? = ANY (i.assignees)");
    }
    if !f.tags.is_empty() {
        clause(&mut sql, " AND i.item_data -> 'tags' @> ?");
    }
    if f.q.is_some() {
        clause(&mut sql, " AND i.name ILIKE '%' || ? || '%'");
    }
    if f.group.is_some() {
        clause(&mut sql, " AND i.group_id = ?");
    }
    if after {
        clause(&mut sql, " AND i.rank > ?");
    }
    clause(&mut sql, " ORDER BY i.rank LIMIT ?");
    sql
}

/// Escapes `%`, `_` and `\` so `q` matches literally.
fn like_literal(q: &str) -> String {
    q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

async fn list_items(s: &QueryState, reader: &Reader, board_raw: &str, f: Filters) -> Result<Response, QueryError> {
    let board_id = id(board_raw, "board")?;
    let key: ListKey = (board_id, f.key().into());
    let _turn = match lookup(s, reader, &key).await {
        Lookup::Hit(answer) => return Ok(answer),
        Lookup::Load(turn) => turn,
    };
    let loaded_at = *s.position.borrow();
    let (board, readers) = access::board_with_readers(&s.pool, board_id, reader.user_id).await?;
    let limit = limit(f.limit.as_deref())?;
    let after: Option<RankCursor> = decode_cursor(f.cursor.as_deref())?;
    let sql = list_sql(&f, after.is_some());
    let mut q = sqlx::query_as::<_, ItemRow>(&sql).bind(board.workspace_id).bind(board.board_id);
    if let Some(status) = f.status {
        q = q.bind(status);
    }
    if let Some(assignee) = f.assignee {
        q = q.bind(assignee);
    }
    if !f.tags.is_empty() {
        q = q.bind(json!(f.tags));
    }
    if let Some(text) = f.q.as_deref() {
        q = q.bind(like_literal(text));
    }
    if let Some(group) = f.group {
        q = q.bind(group);
    }
    if let Some(cursor) = after {
        q = q.bind(cursor.r);
    }
    let rows = timed("list_items", "rm_items", q.bind(limit + 1).fetch_all(&s.pool)).await?;
    let (page, next) = crate::page(rows, limit, |r| encode_cursor(&RankCursor { r: r.rank.clone() }));
    let answer = Rendered::new(Value::Array(render_all(&s.pool, &page).await?), Some(next));
    Ok(cache_list(s, reader, key, (board, readers), answer, loaded_at))
}

/// What the listings cache has for a reader: the answer, or the turn to load
/// it (hold it until the load is cached).
enum Lookup<'s> {
    Hit(Response),
    Load(tokio::sync::MutexGuard<'s, ()>),
}

async fn lookup<'s>(s: &'s QueryState, reader: &Reader, key: &ListKey) -> Lookup<'s> {
    // Non-readers take the uncached way to their 404 (see `boards::get`).
    let readable = |hit: &Arc<CachedList>| hit.readers.contains(&reader.user_id);
    if let Some(hit) = s.cache.list(key, reader.position).filter(readable) {
        return Lookup::Hit(reader.respond(&hit.answer));
    }
    let turn = s.cache.list_turn(key).await;
    match s.cache.relist(key, reader.position).filter(readable) {
        Some(hit) => Lookup::Hit(reader.respond(&hit.answer)),
        None => Lookup::Load(turn),
    }
}

/// Answers a listing just loaded and keeps it for the board's other readers.
fn cache_list(
    s: &QueryState,
    reader: &Reader,
    key: ListKey,
    (board, readers): (ReadableBoard, HashSet<Uuid>),
    answer: Rendered,
    loaded_at: i64,
) -> Response {
    let response = reader.respond(&answer);
    let (board_id, workspace_id, readers) = (board.board_id, board.workspace_id, Arc::new(readers));
    s.cache.put_list(key, CachedList { board_id, workspace_id, readers, answer, loaded_at });
    response
}

/// `GET /v1/boards/{id}/items?status=&assignee=&tag=&q=&groupId=&limit=&cursor=`
#[tracing::instrument(skip_all, fields(board_id = %board))]
pub(crate) async fn board_items(
    State(s): State<QueryState>,
    reader: Reader,
    Segment(board): Segment<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, QueryError> {
    list_items(&s, &reader, &board, filters(raw.as_deref())?).await
}

/// `GET /v1/items?boardId=...` (the same listing).
#[tracing::instrument(skip_all)]
pub(crate) async fn items(State(s): State<QueryState>, reader: Reader, RawQuery(raw): RawQuery) -> Result<Response, QueryError> {
    let mut f = filters(raw.as_deref())?;
    let board = f.board.take().ok_or_else(|| QueryError::BadRequest("boardId is required".into()))?;
    list_items(&s, &reader, &board, f).await
}

pub(crate) const ITEM_EXTRAS: &str = "SELECT (SELECT count(*) FROM rm_comments c WHERE c.item_id = $1), \
      coalesce((SELECT jsonb_agg(rm_file_json(f) ORDER BY f.position DESC) FROM rm_files f WHERE f.item_id = $1), '[]')";

/// `GET /v1/items/{id}`: the item with `commentCount` and `files`.
#[tracing::instrument(skip_all, fields(item_id = %raw))]
pub(crate) async fn get(State(s): State<QueryState>, reader: Reader, Segment(raw): Segment<String>) -> Result<Response, QueryError> {
    let item = access::item(&s.pool, id(&raw, "item")?, reader.user_id).await?;
    let sql = format!("SELECT {ITEM_COLUMNS} FROM rm_items i WHERE i.workspace_id = $1 AND i.item_id = $2");
    let row: ItemRow = sqlx::query_as(&sql).bind(item.board.workspace_id).bind(item.item_id).fetch_one(&s.pool).await?;
    let (comments, files): (i64, Value) = sqlx::query_as(ITEM_EXTRAS).bind(item.item_id).fetch_one(&s.pool).await?;
    let mut data = render_all(&s.pool, std::slice::from_ref(&row)).await?.pop().unwrap_or_default();
    data["commentCount"] = json!(comments);
    data["files"] = files;
    Ok(reader.answer(data, None))
}

#[derive(Serialize, Deserialize)]
struct PositionCursor {
    p: i64,
}

/// `GET /v1/items/{id}/comments`: oldest first.
#[tracing::instrument(skip_all, fields(item_id = %raw))]
pub(crate) async fn comments(
    State(s): State<QueryState>,
    reader: Reader,
    Segment(raw): Segment<String>,
    Params(q): Params<PageQuery>,
) -> Result<Response, QueryError> {
    let item = access::item(&s.pool, id(&raw, "item")?, reader.user_id).await?;
    let limit = limit(q.limit.as_deref())?;
    let after: Option<PositionCursor> = decode_cursor(q.cursor.as_deref())?;
    let rows: Vec<(i64, Value)> = sqlx::query_as(
        "SELECT position, jsonb_build_object('id', comment_id, 'itemId', item_id, 'body', body, 'authorId', author_id, \
           'createdAt', rm_ts(created_at)) FROM rm_comments \
         WHERE item_id = $1 AND ($2::bigint IS NULL OR position > $2) ORDER BY position LIMIT $3",
    )
    .bind(item.item_id)
    .bind(after.map(|c| c.p))
    .bind(limit + 1)
    .fetch_all(&s.pool)
    .await?;
    let (page, next) = crate::page(rows, limit, |(p, _)| encode_cursor(&PositionCursor { p: *p }));
    Ok(reader.answer(Value::Array(page.into_iter().map(|(_, v)| v).collect()), Some(next)))
}

/// `GET /v1/items/{id}/activity`
#[tracing::instrument(skip_all, fields(item_id = %raw))]
pub(crate) async fn activity(
    State(s): State<QueryState>,
    reader: Reader,
    Segment(raw): Segment<String>,
    Params(q): Params<PageQuery>,
) -> Result<Response, QueryError> {
    let item = access::item(&s.pool, id(&raw, "item")?, reader.user_id).await?;
    activity_page(&s, &reader, item.board.board_id, Some(item.item_id), &q).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FilesQuery {
    item_id: Option<String>,
    board_id: Option<String>,
}

/// `GET /v1/files?itemId=` or `?boardId=`: file metadata, newest first.
#[tracing::instrument(skip_all)]
pub(crate) async fn files(State(s): State<QueryState>, reader: Reader, Params(q): Params<FilesQuery>) -> Result<Response, QueryError> {
    let (scope, of_item) = match (q.item_id.as_deref(), q.board_id.as_deref()) {
        (Some(raw), _) => (id(raw, "item")?, true),
        (None, Some(raw)) => (id(raw, "board")?, false),
        (None, None) => return Err(QueryError::BadRequest("itemId or boardId is required".into())),
    };
    let key: ListKey = (scope, if of_item { "files of item" } else { "files of board" }.into());
    let _turn = match lookup(&s, &reader, &key).await {
        Lookup::Hit(answer) => return Ok(answer),
        Lookup::Load(turn) => turn,
    };
    let loaded_at = *s.position.borrow();
    let (board, item, readers) = if of_item {
        let (item, readers) = access::item_with_readers(&s.pool, scope, reader.user_id).await?;
        (item.board, Some(item.item_id), readers)
    } else {
        let (board, readers) = access::board_with_readers(&s.pool, scope, reader.user_id).await?;
        (board, None, readers)
    };
    let data: Value = sqlx::query_scalar(
        "SELECT coalesce(jsonb_agg(rm_file_json(f) ORDER BY f.position DESC), '[]') FROM rm_files f \
         WHERE f.board_id = $1 AND ($2::uuid IS NULL OR f.item_id = $2) \
           AND EXISTS (SELECT 1 FROM rm_items i WHERE i.item_id = f.item_id AND i.deleted_at IS NULL)",
    )
    .bind(board.board_id)
    .bind(item)
    .fetch_one(&s.pool)
    .await?;
    Ok(cache_list(&s, &reader, key, (board, readers), Rendered::new(data, Some(None)), loaded_at))
}
