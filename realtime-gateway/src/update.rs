//! `optimistic-update`: the socket's adapter over the command path, beside
//! the HTTP one. Its `changes` are a `PUT /v1/items/{id}` body, `baseVersion`
//! is the command's expected version (a mismatch is a 409 here), and it is
//! answered with `update-ack` or with `update-rejected` carrying the item as
//! the caller may now read it, to roll back to.
//!
//! Who may read the item is settled first, as of the log: a caller who may
//! not gets status 404 and `current: null` whatever else is wrong with the
//! frame, and `current` is only ever filled for a caller who may read the
//! item at the moment it is read. A socket has at most
//! `socket::UPDATES_IN_FLIGHT` updates running; more are refused with 429.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::Value;
use sunday_command_api::command::{Answer, Command, CommandError, Preconditions};
use sunday_domain::store::StreamId;
use sunday_edge::ErrorKind;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use uuid::Uuid;

use crate::Gateway;
use crate::frame::{self, OptimisticUpdate};
use crate::outbox::{Close, Out, Outbox};

/// How often the wait for the read models to show the current item looks again.
const CURRENT_RETRY: std::time::Duration = std::time::Duration::from_millis(10);

/// Runs `user`'s update beside the socket's task, which keeps delivering
/// meanwhile, if one of the socket's `updates` permits is free.
pub(crate) fn spawn(gateway: &Gateway, user: Uuid, updates: &Arc<Semaphore>, outbox: &Outbox, data: Value) {
    let Ok(permit) = updates.clone().try_acquire_owned() else {
        let too_many = match data.get("updateId").and_then(Value::as_str) {
            Some(id) => rejected(id, StatusCode::TOO_MANY_REQUESTS, "too many optimistic updates in flight on this socket", Value::Null),
            None => frame::error(ErrorKind::RateLimited, "too many optimistic updates in flight on this socket"),
        };
        send(outbox, too_many);
        return;
    };
    let (gateway, outbox) = (gateway.clone(), outbox.clone());
    tokio::spawn(async move {
        let answer = answer(&gateway, user, data).await;
        drop(permit);
        send(&outbox, answer);
    });
}

fn send(outbox: &Outbox, answer: Utf8Bytes) {
    if outbox.try_send(Out::Direct(Box::new(answer))).is_err() {
        outbox.close(Close::SlowConsumer);
    }
}

async fn answer(gateway: &Gateway, user: Uuid, data: Value) -> Utf8Bytes {
    let update_id = data.get("updateId").and_then(Value::as_str).filter(|id| id.chars().count() <= frame::MAX_ID_TEXT);
    let Some(update_id) = update_id.map(str::to_owned) else {
        return frame::error(
            ErrorKind::BadRequest,
            format!("an optimistic-update needs a string updateId of at most {} characters", frame::MAX_ID_TEXT),
        );
    };
    let item = data.pointer("/data/itemId").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok());
    let Some(item) = item else {
        return rejected(&update_id, StatusCode::BAD_REQUEST, "data.itemId must be an item id (a UUID)", Value::Null);
    };
    match may_read(gateway, user, item).await {
        Ok(true) => {}
        Ok(false) => return rejected(&update_id, StatusCode::NOT_FOUND, "item not found", Value::Null),
        Err(why) => return rejected(&update_id, StatusCode::SERVICE_UNAVAILABLE, &why, Value::Null),
    }
    let req = match serde_json::from_value::<OptimisticUpdate>(data) {
        Ok(r) if r.kind == "item_update" => r,
        Ok(_) => return reject_readable(gateway, user, &update_id, item, StatusCode::BAD_REQUEST, "type must be \"item_update\"").await,
        Err(e) => {
            let reason = format!("invalid optimistic-update: {e}");
            return reject_readable(gateway, user, &update_id, item, StatusCode::BAD_REQUEST, &reason).await;
        }
    };
    let update_id = req.update_id.clone();
    match run(gateway, user, req).await {
        Ok(a) => frame::server("update-ack", &frame::UpdateAck { update_id, version: a.version, position: a.position }),
        Err((kind, reason)) => {
            let status = match kind {
                ErrorKind::PreconditionFailed => StatusCode::CONFLICT,
                k => k.status(),
            };
            reject_readable(gateway, user, &update_id, item, status, &reason).await
        }
    }
}

/// Whether `user` may read `item` now, as of the log (a cached view first;
/// a refusal is confirmed on state read afresh, since the user may have been
/// added a moment ago).
async fn may_read(gateway: &Gateway, user: Uuid, item: Uuid) -> Result<bool, String> {
    let aggregates = &gateway.commands.aggregates;
    for fresh in [false, true] {
        if aggregates.may_read_item(user, item, fresh).await.map_err(|e| e.to_string())? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `update-rejected` with the item as it now is, if the caller may still read
/// it once it has been read (else `current: null`, and a 404 says no more).
async fn reject_readable(gateway: &Gateway, user: Uuid, update_id: &str, item: Uuid, status: StatusCode, why: &str) -> Utf8Bytes {
    let current = if status == StatusCode::NOT_FOUND { Value::Null } else { current(gateway, user, item).await };
    let still = gateway.commands.aggregates.may_read_item(user, item, true).await.unwrap_or(false);
    if !still {
        return rejected(update_id, StatusCode::NOT_FOUND, "item not found", Value::Null);
    }
    rejected(update_id, status, why, current)
}

/// Runs the update as the item command its changes ask for; an error says
/// which kind it is and why.
async fn run(gateway: &Gateway, user: Uuid, req: OptimisticUpdate) -> Result<Answer, (ErrorKind, String)> {
    let cmd = sunday_command_api::routes::items::item_changes(req.data.changes).map_err(|e| (ErrorKind::BadRequest, e.to_string()))?;
    let command = Command::Item { id: Some(req.data.item_id), board_id: None, cmd };
    let pre = Preconditions { if_match: req.data.base_version, ..Preconditions::default() };
    gateway.commands.run(user, command, pre).await.map_err(|e| (e.kind(), reason(&e)))
}

fn reason(e: &CommandError) -> String {
    match e {
        CommandError::Refused(sunday_domain::DomainError::Invalid(errors)) => {
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

/// The item as `user` may read it in the read models, once they have caught
/// up with its last event (`null` when deleted, unknown or not readable).
async fn current(gateway: &Gateway, user: Uuid, item: Uuid) -> Value {
    let Ok(Some((_, position))) = gateway.store.stream_head(&StreamId::item(item)).await else { return Value::Null };
    let deadline = tokio::time::Instant::now() + gateway.config.snapshot_wait;
    loop {
        match sunday_query_api::snapshot::item(&gateway.reads, item, user).await {
            Ok(Some((data, at))) if at >= position || tokio::time::Instant::now() >= deadline => return data,
            Ok(_) if tokio::time::Instant::now() < deadline => tokio::time::sleep(CURRENT_RETRY).await,
            _ => return Value::Null,
        }
    }
}
