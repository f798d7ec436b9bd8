//! Item commands: create, update, move, assignees, delete, comments and files.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use sunday_domain::item_commands::ItemCommand;
use uuid::Uuid;

use super::id_or_new;
use crate::AppState;
use crate::auth::Caller;
use crate::command::Command;
use crate::extract::{CommandHeaders, Segment, non_null, nullable, path_id};
use crate::problem::ApiError;
use crate::respond::execute;
use sunday_edge::json::{BodyError, JsonBody};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateBody {
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "uuid::Uuid")]
    id: Option<String>,
    #[schemars(with = "uuid::Uuid")]
    board_id: String,
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "uuid::Uuid")]
    group_id: Option<String>,
    #[schemars(length(min = 1, max = 500), regex(pattern = crate::routes::schema::NON_BLANK))]
    name: String,
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "String", length(max = 10_000), regex(pattern = crate::routes::schema::TEXT))]
    description: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(schema_with = "crate::routes::schema::item_data")]
    item_data: Option<BTreeMap<String, Value>>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateBody {
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "String", length(min = 1, max = 500), regex(pattern = crate::routes::schema::NON_BLANK))]
    name: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "String", length(max = 10_000), regex(pattern = crate::routes::schema::TEXT))]
    description: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(schema_with = "crate::routes::schema::item_data")]
    item_data: Option<BTreeMap<String, Value>>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MoveBody {
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "uuid::Uuid")]
    group_id: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(with = "Option<uuid::Uuid>")]
    after_item_id: Option<Option<String>>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignBody {
    #[schemars(with = "uuid::Uuid")]
    user_id: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "uuid::Uuid")]
    id: Option<String>,
    #[schemars(length(min = 1, max = 10_000), regex(pattern = crate::routes::schema::NON_BLANK))]
    body: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileBody {
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "uuid::Uuid")]
    id: Option<String>,
    #[schemars(length(min = 1, max = 255), regex(pattern = crate::routes::schema::NON_BLANK))]
    name: String,
    #[schemars(length(max = 255), regex(pattern = crate::routes::schema::CONTENT_TYPE))]
    content_type: String,
    #[serde(deserialize_with = "crate::extract::whole_number")]
    #[schemars(range(min = 0, max = 9_007_199_254_740_991_i64))]
    size: i64,
}

#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    body: JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let board_id = Uuid::parse_str(&b.board_id)
        .map_err(|_| ApiError::Unprocessable(vec![sunday_domain::FieldError::new("boardId", "must be a UUID")]))?;
    let id = id_or_new(b.id);
    let cmd = ItemCommand::Create {
        id: id.clone(),
        group_id: b.group_id,
        name: b.name,
        description: b.description,
        item_data: b.item_data.unwrap_or_default(),
    };
    execute(&s, &caller, &h, &body.canonical, Command::Item { id: id.uuid(), board_id: Some(board_id), cmd }).await
}

async fn on_item(
    s: &AppState,
    caller: &Caller,
    h: &CommandHeaders,
    id: &str,
    canonical: &str,
    cmd: ItemCommand,
) -> Result<Response, ApiError> {
    let id = path_id(id, "item")?;
    execute(s, caller, h, canonical, Command::Item { id: Some(id), board_id: None, cmd }).await
}

#[tracing::instrument(skip_all, fields(item_id = %id))]
pub async fn update(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment(id): Segment<String>,
    body: JsonBody<UpdateBody>,
) -> Result<Response, ApiError> {
    let cmd = update_command(body.value);
    on_item(&s, &caller, &h, &id, &body.canonical, cmd).await
}

/// The command a `PUT /v1/items/{id}` body asks for.
fn update_command(b: UpdateBody) -> ItemCommand {
    ItemCommand::Update { name: b.name, description: b.description, item_data: b.item_data.unwrap_or_default() }
}

/// The command an item's changes ask for, given as JSON already parsed (an
/// optimistic update's `changes`, which are a `PUT /v1/items/{id}` body).
pub fn item_changes(changes: Value) -> Result<ItemCommand, BodyError> {
    UpdateBody::deserialize(changes).map(update_command).map_err(|e| BodyError::Shape(e.to_string()))
}

#[tracing::instrument(skip_all, fields(item_id = %id))]
pub async fn move_item(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment(id): Segment<String>,
    body: JsonBody<MoveBody>,
) -> Result<Response, ApiError> {
    let cmd = ItemCommand::Move { group_id: body.value.group_id, after: body.value.after_item_id };
    on_item(&s, &caller, &h, &id, &body.canonical, cmd).await
}

#[tracing::instrument(skip_all, fields(item_id = %id))]
pub async fn assign(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment(id): Segment<String>,
    body: JsonBody<AssignBody>,
) -> Result<Response, ApiError> {
    on_item(&s, &caller, &h, &id, &body.canonical, ItemCommand::Assign { user_id: body.value.user_id }).await
}

#[tracing::instrument(skip_all, fields(item_id = %id))]
pub async fn unassign(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment((id, user)): Segment<(String, String)>,
) -> Result<Response, ApiError> {
    let user_id = path_id(&user, "assignee")?;
    on_item(&s, &caller, &h, &id, "", ItemCommand::Unassign { user_id }).await
}

#[tracing::instrument(skip_all, fields(item_id = %id))]
pub async fn delete(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment(id): Segment<String>,
) -> Result<Response, ApiError> {
    on_item(&s, &caller, &h, &id, "", ItemCommand::Delete).await
}

#[tracing::instrument(skip_all, fields(item_id = %id))]
pub async fn add_comment(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment(id): Segment<String>,
    body: JsonBody<CommentBody>,
) -> Result<Response, ApiError> {
    let cmd = ItemCommand::AddComment { id: id_or_new(body.value.id), body: body.value.body };
    on_item(&s, &caller, &h, &id, &body.canonical, cmd).await
}

#[tracing::instrument(skip_all, fields(item_id = %id))]
pub async fn attach_file(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment(id): Segment<String>,
    body: JsonBody<FileBody>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let cmd = ItemCommand::AttachFile { id: id_or_new(b.id), name: b.name, content_type: b.content_type, size: b.size };
    on_item(&s, &caller, &h, &id, &body.canonical, cmd).await
}
