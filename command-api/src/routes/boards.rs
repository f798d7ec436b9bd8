//! Board commands: create, update, archive, columns, groups and members.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value};
use sunday_domain::board_commands::{BoardCommand, GroupDraft};
use sunday_domain::columns::{ColumnDraft, DEFAULT_COLUMNS};
use uuid::Uuid;

use super::id_or_new;
use crate::AppState;
use crate::auth::Caller;
use crate::command::Command;
use crate::extract::{CommandHeaders, Segment, non_null, path_id};
use crate::problem::ApiError;
use crate::respond::execute;
use sunday_edge::json::JsonBody;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = crate::routes::schema::status_needs_labels)]
pub struct ColumnBody {
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "uuid::Uuid")]
    id: Option<String>,
    #[schemars(regex(pattern = crate::routes::schema::KEY))]
    key: String,
    #[schemars(length(min = 1, max = 200), regex(pattern = crate::routes::schema::NON_BLANK))]
    title: String,
    #[serde(rename = "type")]
    #[schemars(with = "sunday_domain::columns::ColumnType")]
    column_type: String,
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(schema_with = "crate::routes::schema::settings")]
    settings: Option<Map<String, Value>>,
}

impl From<ColumnBody> for ColumnDraft {
    fn from(c: ColumnBody) -> Self {
        ColumnDraft { id: c.id, key: c.key, title: c.title, column_type: c.column_type, settings: c.settings }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "uuid::Uuid")]
    id: Option<String>,
    #[schemars(length(min = 1, max = 200), regex(pattern = crate::routes::schema::NON_BLANK))]
    title: String,
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "String", regex(pattern = r"^#[0-9a-fA-F]{6}$"))]
    color: Option<String>,
}

impl From<GroupBody> for GroupDraft {
    fn from(g: GroupBody) -> Self {
        GroupDraft { id: g.id, title: g.title, color: g.color }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateBody {
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "uuid::Uuid")]
    id: Option<String>,
    #[schemars(with = "uuid::Uuid")]
    workspace_id: String,
    #[schemars(length(min = 1, max = 200), regex(pattern = crate::routes::schema::NON_BLANK))]
    name: String,
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "String", length(max = 10_000), regex(pattern = crate::routes::schema::TEXT))]
    description: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "Vec<ColumnBody>", length(max = 200))]
    columns: Option<Vec<ColumnBody>>,
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "Vec<GroupBody>", length(min = 1, max = 200))]
    groups: Option<Vec<GroupBody>>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "String", length(min = 1, max = 200), regex(pattern = crate::routes::schema::NON_BLANK))]
    name: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "String", length(max = 10_000), regex(pattern = crate::routes::schema::TEXT))]
    description: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateColumnBody {
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "String", length(min = 1, max = 200), regex(pattern = crate::routes::schema::NON_BLANK))]
    title: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(schema_with = "crate::routes::schema::settings")]
    settings: Option<Map<String, Value>>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberBody {
    #[schemars(with = "uuid::Uuid")]
    user_id: String,
    #[schemars(with = "sunday_domain::roles::BoardRole")]
    role: String,
}

/// A 422 for an id in a body that is not a UUID.
fn body_id(raw: &str, field: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::Unprocessable(vec![sunday_domain::FieldError::new(field, "must be a UUID")]))
}

#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    body: JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let workspace_id = body_id(&b.workspace_id, "workspaceId")?;
    let id = id_or_new(b.id);
    let wanted = b.columns.as_ref().map_or(DEFAULT_COLUMNS, Vec::len) + b.groups.as_ref().map_or(1, Vec::len);
    let cmd = BoardCommand::Create {
        id: id.clone(),
        name: b.name,
        description: b.description,
        columns: b.columns.map(|c| c.into_iter().map(Into::into).collect()),
        groups: b.groups.map(|g| g.into_iter().map(Into::into).collect()),
        fallback_ids: (0..wanted).map(|_| Uuid::now_v7()).collect(),
    };
    let cmd = Command::Board { id: id.uuid(), workspace_id: Some(workspace_id), cmd };
    execute(&s, &caller, &h, &body.canonical, cmd).await
}

async fn on_board(
    s: &AppState,
    caller: &Caller,
    h: &CommandHeaders,
    id: &str,
    canonical: &str,
    cmd: BoardCommand,
) -> Result<Response, ApiError> {
    let id = path_id(id, "board")?;
    execute(s, caller, h, canonical, Command::Board { id: Some(id), workspace_id: None, cmd }).await
}

#[tracing::instrument(skip_all, fields(board_id = %id))]
pub async fn update(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment(id): Segment<String>,
    body: JsonBody<UpdateBody>,
) -> Result<Response, ApiError> {
    let cmd = BoardCommand::Update { name: body.value.name, description: body.value.description };
    on_board(&s, &caller, &h, &id, &body.canonical, cmd).await
}

#[tracing::instrument(skip_all, fields(board_id = %id))]
pub async fn archive(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment(id): Segment<String>,
) -> Result<Response, ApiError> {
    on_board(&s, &caller, &h, &id, "", BoardCommand::Archive).await
}

#[tracing::instrument(skip_all, fields(board_id = %id))]
pub async fn add_column(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment(id): Segment<String>,
    body: JsonBody<ColumnBody>,
) -> Result<Response, ApiError> {
    let cmd = BoardCommand::AddColumn { column: body.value.into(), fallback_id: Uuid::now_v7() };
    on_board(&s, &caller, &h, &id, &body.canonical, cmd).await
}

#[tracing::instrument(skip_all, fields(board_id = %id))]
pub async fn update_column(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment((id, column)): Segment<(String, String)>,
    body: JsonBody<UpdateColumnBody>,
) -> Result<Response, ApiError> {
    let column_id = path_id(&column, "column")?;
    let cmd = BoardCommand::UpdateColumn { column_id, title: body.value.title, settings: body.value.settings };
    on_board(&s, &caller, &h, &id, &body.canonical, cmd).await
}

#[tracing::instrument(skip_all, fields(board_id = %id))]
pub async fn remove_column(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment((id, column)): Segment<(String, String)>,
) -> Result<Response, ApiError> {
    let column_id = path_id(&column, "column")?;
    on_board(&s, &caller, &h, &id, "", BoardCommand::RemoveColumn { column_id }).await
}

#[tracing::instrument(skip_all, fields(board_id = %id))]
pub async fn add_group(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment(id): Segment<String>,
    body: JsonBody<GroupBody>,
) -> Result<Response, ApiError> {
    let cmd = BoardCommand::AddGroup { group: body.value.into(), fallback_id: Uuid::now_v7() };
    on_board(&s, &caller, &h, &id, &body.canonical, cmd).await
}

#[tracing::instrument(skip_all, fields(board_id = %id))]
pub async fn add_member(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment(id): Segment<String>,
    body: JsonBody<MemberBody>,
) -> Result<Response, ApiError> {
    let MemberBody { user_id, role } = body.value;
    on_board(&s, &caller, &h, &id, &body.canonical, BoardCommand::AddMember { user_id, role }).await
}

#[tracing::instrument(skip_all, fields(board_id = %id))]
pub async fn remove_member(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment((id, user)): Segment<(String, String)>,
) -> Result<Response, ApiError> {
    let user_id = path_id(&user, "member")?;
    on_board(&s, &caller, &h, &id, "", BoardCommand::RemoveMember { user_id }).await
}
