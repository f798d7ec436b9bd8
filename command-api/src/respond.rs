//! The HTTP adapter over `commands`: a request's headers become the
//! command's preconditions, and its answer becomes `{data: {id, version,
//! position}}` with `ETag`, `X-Sunday-Position` and, for an answer replayed
//! from an `Idempotency-Key`, `Idempotency-Replayed: true`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;
use crate::auth::Caller;
use crate::command::{Answer, Command, Preconditions, legacy_fingerprint};
use crate::extract::CommandHeaders;
use crate::problem::ApiError;

/// Runs a command parsed from a request and answers it.
pub async fn execute(
    state: &AppState,
    caller: &Caller,
    headers: &CommandHeaders,
    canonical_body: &str,
    command: Command,
) -> Result<Response, ApiError> {
    Ok(response(run(state, caller, headers, canonical_body, command).await?, None))
}

/// Runs a command parsed from a request, for a handler that adds to the answer.
pub async fn run(
    state: &AppState,
    caller: &Caller,
    headers: &CommandHeaders,
    canonical_body: &str,
    command: Command,
) -> Result<Answer, ApiError> {
    let pre = Preconditions {
        if_match: headers.if_match,
        idempotency_key: headers.idempotency_key.clone(),
        legacy_fingerprint: Some(legacy_fingerprint(caller.user_id, headers.method.as_str(), &headers.path, canonical_body)),
        correlation_id: headers.correlation_id,
        traceparent: headers.traceparent.clone(),
    };
    Ok(state.commands.run(caller.user_id, command, pre).await?)
}

/// `201 Created` for a create (also when replayed), else `200 OK`; `extra`
/// goes into `data` beside the id, version and position.
pub fn response(answer: Answer, extra: Option<(&str, serde_json::Value)>) -> Response {
    let mut data = json!({ "id": answer.id, "version": answer.version, "position": answer.position });
    if let Some(e) = answer.entity_id {
        data["entityId"] = json!(e);
    }
    if let Some((name, value)) = extra {
        data[name] = value;
    }
    let status = if answer.created { StatusCode::CREATED } else { StatusCode::OK };
    let mut response = (status, axum::Json(json!({ "data": data }))).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", answer.version)) {
        headers.insert("etag", v);
    }
    headers.insert("x-sunday-position", HeaderValue::from(answer.position));
    if answer.replayed {
        headers.insert("idempotency-replayed", HeaderValue::from_static("true"));
    }
    response
}
