//! `optimistic-update`: an item update sent over the socket runs through the
//! command path like `PUT /v1/items/{id}` (with `baseVersion` as `If-Match`,
//! whose mismatch is a 409 here), and is answered with `update-ack` or with
//! `update-rejected` carrying the item as it now is, to roll back to.

use tokio_tungstenite::tungstenite::Utf8Bytes;
use axum::http::{Method, StatusCode};
use serde_json::Value;
use sunday_command_api::auth::Caller;
use sunday_command_api::execute::{Command, run_command};
use sunday_command_api::extract::{CommandHeaders, JsonBody, parse_json};
use sunday_command_api::problem::ApiError;
use sunday_command_api::routes::items::{UpdateBody, update_command};
use sunday_domain::store::StreamId;
use uuid::Uuid;

use crate::Gateway;
use crate::frame::{self, OptimisticUpdate};
use crate::socket::{Close, Conn, Out};

/// How often the wait for the read models to show the current item looks again.
const CURRENT_RETRY: std::time::Duration = std::time::Duration::from_millis(10);

/// Runs the update beside the socket's task, which keeps delivering meanwhile.
pub(crate) fn spawn(conn: &Conn, data: Value) {
    let gateway = conn.gateway.clone();
    let caller = Caller { user_id: conn.user(), claims: conn.claims.clone() };
    let outbox = conn.outbox.clone();
    tokio::spawn(async move {
        let answer = answer(&gateway, &caller, data).await;
        if outbox.try_send(Out::Direct(Box::new(answer))).is_err() {
            outbox.close(Close::SlowConsumer);
        }
    });
}

async fn answer(gateway: &Gateway, caller: &Caller, data: Value) -> Utf8Bytes {
    let update_id = data.get("updateId").and_then(Value::as_str).map(str::to_owned);
    let req: OptimisticUpdate = match serde_json::from_value(data) {
        Ok(r) => r,
        Err(e) => {
            let reason = format!("invalid optimistic-update: {e}");
            return match update_id {
                Some(id) => rejected(&id, StatusCode::BAD_REQUEST, &reason, Value::Null),
                None => frame::error("bad-request", reason),
            };
        }
    };
    if req.kind != "item_update" {
        return rejected(&req.update_id, StatusCode::BAD_REQUEST, "type must be \"item_update\"", Value::Null);
    }
    let item = req.data.item_id;
    match run(gateway, caller, &req).await {
        Ok((version, position)) => {
            frame::server("update-ack", &frame::UpdateAck { update_id: req.update_id, version, position })
        }
        Err(e) => {
            let status = match e.status() {
                StatusCode::PRECONDITION_FAILED => StatusCode::CONFLICT,
                s => s,
            };
            let current = if status == StatusCode::NOT_FOUND { Value::Null } else { current(gateway, item).await };
            rejected(&req.update_id, status, &reason(&e), current)
        }
    }
}

async fn run(gateway: &Gateway, caller: &Caller, req: &OptimisticUpdate) -> Result<(u64, i64), ApiError> {
    let bytes = serde_json::to_vec(&req.data.changes).unwrap_or_default();
    let body: JsonBody<UpdateBody> = parse_json(&bytes)?;
    let item = req.data.item_id;
    let headers = CommandHeaders {
        if_match: req.data.base_version,
        method: Method::PUT,
        path: format!("/v1/items/{item}"),
        ..CommandHeaders::default()
    };
    let command = Command::Item { id: Some(item), board_id: None, cmd: update_command(body.value) };
    let answer = run_command(&gateway.commands, caller, &headers, &body.canonical, command).await?;
    Ok((answer.version, answer.position))
}

fn reason(e: &ApiError) -> String {
    match e {
        ApiError::Unprocessable(errors) => {
            let parts: Vec<String> = errors.iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
            parts.join("; ")
        }
        other => other.to_string(),
    }
}

fn rejected(update_id: &str, status: StatusCode, reason: &str, current: Value) -> Utf8Bytes {
    let data = frame::UpdateRejected { update_id: update_id.to_owned(), status: status.as_u16(), reason: reason.to_owned(), current };
    frame::server("update-rejected", &data)
}

/// The item as the log now has it, read from the read models once they have
/// caught up with its last event (`null` when deleted or unknown).
async fn current(gateway: &Gateway, item: Uuid) -> Value {
    let Ok(Some((_, position))) = gateway.store.stream_head(&StreamId::item(item)).await else { return Value::Null };
    let deadline = tokio::time::Instant::now() + gateway.config.snapshot_wait;
    loop {
        match sunday_query_api::snapshot::item(&gateway.reads, item).await {
            Ok(Some((data, at))) if at >= position || tokio::time::Instant::now() >= deadline => return data,
            Ok(_) if tokio::time::Instant::now() < deadline => tokio::time::sleep(CURRENT_RETRY).await,
            _ => return Value::Null,
        }
    }
}
