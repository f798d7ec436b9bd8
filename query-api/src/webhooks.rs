//! `GET /v1/workspaces/{id}/webhooks` and `GET /v1/webhooks/{id}/deliveries`:
//! for the workspace's owners and admins (`403` for other members, `404`
//! for anyone else, as for the commands). Subscriptions come from the read
//! model; how far each is delivered, and its attempts, from the
//! dispatcher's tables. No secret is anywhere in them to be read.

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::QueryState;
use crate::boards::PageQuery;
use crate::problem::QueryError;
use crate::respond::{Params, Reader, Segment, decode_cursor, encode_cursor, id, limit};

/// `deliveredPosition`: the scan's position, or the lowest `delivered` of
/// the webhook's lanes that still wait, whichever is lower.
const LIST: &str = "SELECT coalesce(jsonb_agg(jsonb_build_object('id', w.webhook_id, 'workspaceId', w.workspace_id, \
      'url', w.url, 'eventTypes', to_jsonb(w.event_types), 'boardIds', to_jsonb(w.board_ids), 'active', w.active, \
      'disabledReason', w.disabled_reason, 'createdAt', rm_ts(w.created_at), 'deliveredPosition', \
      (SELECT least(sc.position, (SELECT min(l.delivered) FROM webhook_lanes l WHERE l.webhook_id = w.webhook_id AND l.delivered < l.head)) \
       FROM webhook_scan sc)) ORDER BY w.created_at, w.webhook_id), '[]') \
    FROM rm_webhooks w WHERE w.workspace_id = $1";

const ATTEMPTS: &str = "SELECT id, jsonb_build_object('id', id, 'eventId', event_id, 'position', position, 'type', event_type, \
      'attempt', attempt, 'status', status, 'error', error, 'durationMs', duration_ms, 'at', rm_ts(at), \
      'nextAttemptAt', rm_ts(next_attempt_at)) \
    FROM webhook_attempts WHERE webhook_id = $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3";

#[derive(Serialize, Deserialize)]
struct AttemptCursor {
    a: i64,
}

/// `404` unless `user` is a member of the workspace, `403` unless an owner or admin.
async fn managed(s: &QueryState, workspace: Uuid, user: Uuid, what: &'static str) -> Result<(), QueryError> {
    let role: Option<String> = sqlx::query_scalar("SELECT role FROM rm_workspace_members WHERE workspace_id = $1 AND user_id = $2")
        .bind(workspace)
        .bind(user)
        .fetch_optional(&s.pool)
        .await?;
    match role.as_deref() {
        None => Err(QueryError::NotFound(what)),
        Some("owner" | "admin") => Ok(()),
        Some(_) => Err(QueryError::Forbidden("only workspace owners and admins may see webhooks".into())),
    }
}

/// `GET /v1/workspaces/{id}/webhooks`
#[tracing::instrument(skip_all, fields(workspace_id = %raw))]
pub(crate) async fn list(State(s): State<QueryState>, reader: Reader, Segment(raw): Segment<String>) -> Result<Response, QueryError> {
    let workspace = id(&raw, "workspace")?;
    managed(&s, workspace, reader.user_id, "workspace").await?;
    let data: Value = sqlx::query_scalar(LIST).bind(workspace).fetch_one(&s.pool).await?;
    Ok(reader.answer(data, Some(None)))
}

/// `GET /v1/webhooks/{id}/deliveries?limit=&cursor=`: attempts, newest first.
#[tracing::instrument(skip_all, fields(webhook_id = %raw))]
pub(crate) async fn deliveries(
    State(s): State<QueryState>,
    reader: Reader,
    Segment(raw): Segment<String>,
    Params(q): Params<PageQuery>,
) -> Result<Response, QueryError> {
    let webhook = id(&raw, "webhook")?;
    let workspace: Option<Uuid> =
        sqlx::query_scalar("SELECT workspace_id FROM rm_webhooks WHERE webhook_id = $1").bind(webhook).fetch_optional(&s.pool).await?;
    managed(&s, workspace.ok_or(QueryError::NotFound("webhook"))?, reader.user_id, "webhook").await?;
    let limit = limit(q.limit.as_deref())?;
    let before: Option<AttemptCursor> = decode_cursor(q.cursor.as_deref())?;
    let rows: Vec<(i64, Value)> =
        sqlx::query_as(ATTEMPTS).bind(webhook).bind(before.map(|c| c.a)).bind(limit + 1).fetch_all(&s.pool).await?;
    let (page, next) = crate::page(rows, limit, |(a, _)| encode_cursor(&AttemptCursor { a: *a }));
    Ok(reader.answer(Value::Array(page.into_iter().map(|(_, v)| v).collect()), Some(next)))
}
