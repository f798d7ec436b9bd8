//! `PUT /v1/me`: the caller's profile.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use sunday_domain::profile::UpdateProfile;

use crate::AppState;
use crate::auth::Caller;
use crate::command::Command;
use crate::extract::{CommandHeaders, non_null};
use crate::problem::ApiError;
use crate::respond::execute;
use sunday_edge::json::JsonBody;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileBody {
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "String", length(max = 100), regex(pattern = crate::routes::schema::TEXT))]
    first_name: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "String", length(max = 100), regex(pattern = crate::routes::schema::TEXT))]
    last_name: Option<String>,
    /// An http(s) URL, or empty to clear it.
    #[serde(default, deserialize_with = "non_null")]
    #[schemars(with = "String", length(max = 2048), regex(pattern = crate::routes::schema::AVATAR))]
    avatar: Option<String>,
}

#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn update(
    State(s): State<AppState>,
    caller: Caller,
    h: CommandHeaders,
    body: JsonBody<ProfileBody>,
) -> Result<Response, ApiError> {
    let ProfileBody { first_name, last_name, avatar } = body.value;
    let cmd = Command::Profile(UpdateProfile { first_name, last_name, avatar });
    execute(&s, &caller, &h, &body.canonical, cmd).await
}
