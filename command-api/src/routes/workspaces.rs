//! `POST /v1/workspaces`, `PATCH /v1/workspaces/{id}` and workspace membership.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use sunday_domain::workspace::WorkspaceCommand;

use super::id_or_new;
use crate::AppState;
use crate::auth::Caller;
use crate::command::Command;
use crate::extract::{CommandHeaders, Segment, non_null, path_id};
use crate::problem::ApiError;
use crate::respond::execute;
use sunday_edge::json::JsonBody;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "uuid::Uuid")]
    id: Option<String>,
    #[schemars(length(min = 1, max = 200), regex(pattern = crate::routes::schema::NON_BLANK))]
    name: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameBody {
    #[schemars(length(min = 1, max = 200), regex(pattern = crate::routes::schema::NON_BLANK))]
    name: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
pub struct MemberBody {
    #[schemars(with = "uuid::Uuid")]
    user_id: String,
    #[schemars(with = "sunday_domain::roles::WorkspaceRole")]
    role: String,
}

#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    body: JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    let id = id_or_new(body.value.id);
    let cmd = Command::Workspace { id: id.uuid(), cmd: WorkspaceCommand::Create { id, name: body.value.name } };
    execute(&s, &caller, &h, &body.canonical, cmd).await
}

#[tracing::instrument(skip_all, fields(workspace_id = %id))]
pub async fn rename(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment(id): Segment<String>,
    body: JsonBody<RenameBody>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "workspace")?;
    let cmd = Command::Workspace { id: Some(id), cmd: WorkspaceCommand::Rename { name: body.value.name } };
    execute(&s, &caller, &h, &body.canonical, cmd).await
}

#[tracing::instrument(skip_all, fields(workspace_id = %id))]
pub async fn add_member(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment(id): Segment<String>,
    body: JsonBody<MemberBody>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "workspace")?;
    let MemberBody { user_id, role } = body.value;
    let cmd = Command::Workspace { id: Some(id), cmd: WorkspaceCommand::AddMember { user_id, role } };
    execute(&s, &caller, &h, &body.canonical, cmd).await
}

#[tracing::instrument(skip_all, fields(workspace_id = %id))]
pub async fn remove_member(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    Segment((id, user)): Segment<(String, String)>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "workspace")?;
    let user_id = path_id(&user, "member")?;
    let cmd = Command::Workspace { id: Some(id), cmd: WorkspaceCommand::RemoveMember { user_id } };
    execute(&s, &caller, &h, "", cmd).await
}
