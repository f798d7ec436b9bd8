//! `POST /v1/workspaces/{id}/webhooks`, `PATCH` and `DELETE /v1/webhooks/{id}`
//! and `POST /v1/webhooks/{id}/rotate-secret`. The URL's host is resolved
//! here (the domain does no I/O) and where it leads is judged by the decider,
//! after the caller is known to manage the workspace. The secret, derived
//! from the server key, is in the answers of the create and the rotation.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use sunday_domain::webhook::{WebhookCommand, WebhookSettings};
use sunday_edge::json::JsonBody;

use super::id_or_new;
use crate::AppState;
use crate::auth::Caller;
use crate::command::{Answer, Command};
use crate::extract::{CommandHeaders, Segment, non_null, nullable, path_id};
use crate::problem::ApiError;
use crate::respond::{execute, response, run};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateBody {
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "uuid::Uuid")]
    id: Option<String>,
    #[schemars(length(min = 1, max = 2048), regex(pattern = crate::routes::schema::WEBHOOK_URL))]
    url: String,
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(schema_with = "crate::routes::schema::webhook_event_types")]
    event_types: Option<Vec<String>>,
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "Vec<uuid::Uuid>", length(min = 1, max = 100))]
    board_ids: Option<Vec<String>>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateBody {
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "String", length(min = 1, max = 2048), regex(pattern = crate::routes::schema::WEBHOOK_URL))]
    url: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(schema_with = "crate::routes::schema::webhook_event_types")]
    event_types: Option<Vec<String>>,
    /// `null`: every board of the workspace again.
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(with = "Option<Vec<uuid::Uuid>>", length(min = 1, max = 100))]
    board_ids: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "bool")]
    active: Option<bool>,
}

#[tracing::instrument(skip_all, fields(workspace_id = %workspace))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment(workspace): Segment<String>,
    body: JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    let workspace_id = path_id(&workspace, "workspace")?;
    let CreateBody { id, url, event_types, board_ids } = body.value;
    let url_refused = refusal(&s, &url).await;
    let settings = WebhookSettings { url: Some(url), event_types, board_ids: board_ids.map(Some), active: None, url_refused };
    let id = id_or_new(id);
    let cmd =
        Command::Webhook { id: id.uuid(), workspace_id: Some(workspace_id), cmd: WebhookCommand::Create { id, workspace_id, settings } };
    let answer = run(&s, &caller, &h, &body.canonical, cmd).await?;
    Ok(with_secret(&s, answer))
}

#[tracing::instrument(skip_all, fields(webhook_id = %id))]
pub async fn update(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment(id): Segment<String>,
    body: JsonBody<UpdateBody>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "webhook")?;
    let UpdateBody { url, event_types, board_ids, active } = body.value;
    let url_refused = match &url {
        Some(u) => refusal(&s, u).await,
        None => None,
    };
    let settings = WebhookSettings { url, event_types, board_ids, active, url_refused };
    let cmd = Command::Webhook { id: Some(id), workspace_id: None, cmd: WebhookCommand::Update(settings) };
    execute(&s, &caller, &h, &body.canonical, cmd).await
}

#[tracing::instrument(skip_all, fields(webhook_id = %id))]
pub async fn rotate_secret(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment(id): Segment<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "webhook")?;
    let cmd = Command::Webhook { id: Some(id), workspace_id: None, cmd: WebhookCommand::RotateSecret };
    let answer = run(&s, &caller, &h, "", cmd).await?;
    Ok(with_secret(&s, answer))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplayBody {
    #[serde(deserialize_with = "crate::extract::whole_number")]
    #[schemars(range(min = 0))]
    from_position: i64,
    #[serde(default, deserialize_with = "crate::extract::some_whole_number")]
    #[schemars(with = "i64", range(min = 0))]
    to_position: Option<i64>,
}

/// Sends the matching events of a range again: decided like the other
/// commands (404, 403, 422), appends nothing, answers the webhook's current
/// version and position; the dispatcher does the sending. The replay is
/// asked for after the answer is decided (and stored under its key), also
/// when the answer is a replayed one: a first run that died in between is
/// made good by its retry, and the same key never asks twice.
#[tracing::instrument(skip_all, fields(webhook_id = %id))]
pub async fn replay(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment(id): Segment<String>,
    body: JsonBody<ReplayBody>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "webhook")?;
    let ReplayBody { from_position: from, to_position: to } = body.value;
    let cmd = Command::Webhook { id: Some(id), workspace_id: None, cmd: WebhookCommand::Replay { from, to } };
    let answer = run(&s, &caller, &h, &body.canonical, cmd).await?;
    let request = h.idempotency_key.as_ref().map(|key| format!("{}:{key}", caller.user_id));
    let asked = sunday_webhooks::request_replay(s.event_pool(), id, (from, to), request.as_deref()).await;
    asked.map_err(|e| crate::command::CommandError::from(sunday_domain::store::StoreError::Backend(Box::new(e))))?;
    Ok(response(answer, None))
}

#[tracing::instrument(skip_all, fields(webhook_id = %id))]
pub async fn delete(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment(id): Segment<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "webhook")?;
    let cmd = Command::Webhook { id: Some(id), workspace_id: None, cmd: WebhookCommand::Delete };
    execute(&s, &caller, &h, "", cmd).await
}

/// Why the URL may not be called (its host resolved, every address judged).
async fn refusal(s: &AppState, url: &str) -> Option<String> {
    s.config.webhook_addresses.check_url(url).await.err().map(|r| r.to_string())
}

/// The answer with `data.secret`: the secret set by the event the answer
/// names (a create's or a rotation's, also when replayed).
fn with_secret(s: &AppState, answer: Answer) -> Response {
    let secret = s.config.webhook_key.secret(answer.id, answer.version);
    response(answer, Some(("secret", serde_json::Value::String(secret))))
}
