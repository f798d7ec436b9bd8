//! Running one command: idempotency, load, decide, append, and re-deciding on
//! fresh state when a concurrent writer won the race.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};
use sunday_domain::board_commands::{self, BoardCommand};
use sunday_domain::events::DomainEvent;
use sunday_domain::item_commands::{self, ItemCommand};
use sunday_domain::profile::{self, UpdateProfile};
use sunday_domain::store::*;
use sunday_domain::workspace::{self, WorkspaceCommand};
use sunday_domain::{Ctx, Decision, DomainError};
use uuid::Uuid;

use crate::AppState;
use crate::auth::Caller;
use crate::extract::CommandHeaders;
use crate::problem::ApiError;

/// How many times a command is re-decided after losing a race before giving up.
const MAX_ATTEMPTS: usize = 16;

/// A command and the aggregate it targets, as parsed from a request.
#[derive(Debug)]
pub enum Command {
    /// `id`: the target workspace; for a create, the client's id if it parsed.
    Workspace {
        id: Option<Uuid>,
        cmd: WorkspaceCommand,
    },
    /// `id`: the board (for a create, the client's id if it parsed); `workspace_id`
    /// only for a create.
    Board {
        id: Option<Uuid>,
        workspace_id: Option<Uuid>,
        cmd: BoardCommand,
    },
    /// `id`: the item (for a create, the client's id if it parsed); `board_id`
    /// only for a create.
    Item {
        id: Option<Uuid>,
        board_id: Option<Uuid>,
        cmd: ItemCommand,
    },
    Profile(UpdateProfile),
}

/// The outcome of loading and deciding, before appending.
struct Plan {
    decision: Decision,
    /// The aggregate the command targets (or creates).
    aggregate_id: Uuid,
    stream: StreamId,
    expected: ExpectedVersion,
    /// The aggregate's version and position now (for `Unchanged`).
    current: AppendResult,
    workspace_id: Option<Uuid>,
    board_id: Option<Uuid>,
    /// The other streams the decision read, at the versions it saw.
    guards: Vec<(StreamId, u64)>,
}

/// What a successful command answers.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    pub status: StatusCode,
    pub id: Uuid,
    pub entity_id: Option<Uuid>,
    pub version: u64,
    pub position: Position,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut data = json!({ "id": self.id, "version": self.version, "position": self.position });
        if let Some(e) = self.entity_id {
            data["entityId"] = json!(e);
        }
        let mut response = (self.status, axum::Json(json!({ "data": data }))).into_response();
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", self.version)) {
            headers.insert("etag", v);
        }
        headers.insert("x-sunday-position", HeaderValue::from(self.position));
        response
    }
}

impl Command {
    fn is_create(&self) -> bool {
        matches!(
            self,
            Self::Workspace { cmd: WorkspaceCommand::Create { .. }, .. }
                | Self::Board { cmd: BoardCommand::Create { .. }, .. }
                | Self::Item { cmd: ItemCommand::Create { .. }, .. }
        )
    }

    /// The stream the command writes, when known before deciding.
    fn target_stream(&self, actor: Uuid) -> Option<StreamId> {
        match self {
            Self::Workspace { id, .. } => id.map(StreamId::workspace),
            Self::Board { id, .. } => id.map(StreamId::board),
            Self::Item { id, .. } => id.map(StreamId::item),
            Self::Profile(_) => Some(StreamId::user(actor)),
        }
    }

    /// The id of the sub-entity a command names (re-sent comment, file, column, group).
    fn given_entity_id(&self) -> Option<Uuid> {
        let raw = match self {
            Self::Board { cmd: BoardCommand::AddColumn { column, .. }, .. } => column.id.as_deref(),
            Self::Board { cmd: BoardCommand::AddGroup { group, .. }, .. } => group.id.as_deref(),
            Self::Item { cmd: ItemCommand::AddComment { id, .. } | ItemCommand::AttachFile { id, .. }, .. } => Some(id.as_str()),
            _ => None,
        };
        raw.and_then(|s| Uuid::parse_str(s).ok())
    }
}

/// The fingerprint of a request: who sent which method to which path with which
/// body. It recognises re-sent creates and idempotency-key replays.
fn fingerprint(actor: Uuid, headers: &CommandHeaders, canonical_body: &str) -> String {
    let mut h = Sha256::new();
    for part in [actor.to_string().as_str(), headers.method.as_str(), headers.path.as_str(), canonical_body] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs a command end to end and answers it.
pub async fn execute(
    state: &AppState,
    caller: &Caller,
    headers: &CommandHeaders,
    canonical_body: &str,
    command: Command,
) -> Result<Response, ApiError> {
    Ok(run_command(state, caller, headers, canonical_body, command).await?.into_response())
}

/// Runs a command end to end (for callers other than HTTP handlers, such as
/// the realtime gateway's optimistic updates).
pub async fn run_command(
    state: &AppState,
    caller: &Caller,
    headers: &CommandHeaders,
    canonical_body: &str,
    command: Command,
) -> Result<Answer, ApiError> {
    let hash = fingerprint(caller.user_id, headers, canonical_body);
    let key = headers.idempotency_key.as_deref();
    if let Some(key) = key
        && let Some(stored) = state.store.find_idempotency(caller.user_id, key).await.map_err(store_error)?
    {
        return replay_stored(&stored, &hash);
    }
    let ctx = Ctx { actor: caller.user_id, if_match: headers.if_match, command_hash: &hash };
    let _queue = match command.target_stream(caller.user_id) {
        Some(stream) => Some(state.locks.lock(&stream).await),
        None => None,
    };
    run(state, &ctx, headers, &command).await
}

async fn run(state: &AppState, ctx: &Ctx<'_>, headers: &CommandHeaders, command: &Command) -> Result<Answer, ApiError> {
    let created = if command.is_create() { StatusCode::CREATED } else { StatusCode::OK };
    let idempotency = |aggregate_id, entity_id| {
        headers.idempotency_key.as_ref().map(|key| IdempotencyRecord {
            user_id: ctx.actor,
            key: key.clone(),
            request_hash: ctx.command_hash.to_owned(),
            status: created.as_u16(),
            aggregate_id,
            entity_id,
        })
    };
    let mut create_conflicts = 0;
    let mut reread = false;
    for _ in 0..MAX_ATTEMPTS {
        // Only appends are guarded. A refusal, a no-op or a replay decided on
        // cached state is confirmed on state read afresh: the cache may not know
        // yet what another process just appended.
        let plan = match plan(state, ctx, command, reread).await {
            Err(e) if !reread && e.status().is_client_error() => {
                reread = true;
                continue;
            }
            other => other?,
        };
        if !reread && !matches!(plan.decision, Decision::Append(_)) {
            reread = true;
            continue;
        }
        let (answer, appended) = match &plan.decision {
            Decision::Append(event) => {
                let entity_id = event.added_entity();
                let record = idempotency(plan.aggregate_id, entity_id);
                let new_event = new_event(&plan, event.clone(), ctx, headers);
                let request = AppendRequest {
                    guards: plan.guards.clone(),
                    idempotency: record.as_ref(),
                    ..AppendRequest::new(&plan.stream, plan.expected, vec![new_event.clone()])
                };
                match state.store.append(request).await {
                    Ok(r) => {
                        state.aggregates.applied(&recorded(&plan, new_event, r)).await;
                        (Answer { status: created, id: plan.aggregate_id, entity_id, version: r.version, position: r.position }, true)
                    }
                    Err(StoreError::WrongExpectedVersion { actual, .. }) => {
                        state.aggregates.invalidate(plan.workspace_id, plan.board_id).await;
                        if let Some(expected) = headers.if_match {
                            return Err(DomainError::PreconditionFailed { expected, actual }.into());
                        }
                        if plan.expected == ExpectedVersion::NoStream {
                            create_conflicts += 1;
                            if create_conflicts > 1 {
                                return Err(ApiError::Conflict("this id is already used by another resource".into()));
                            }
                        }
                        continue;
                    }
                    Err(StoreError::StaleGuard) => {
                        state.aggregates.invalidate(plan.workspace_id, plan.board_id).await;
                        continue;
                    }
                    Err(StoreError::IdempotencyKeyTaken) => return replay_key(state, ctx, headers).await,
                    Err(StoreError::EntityIdTaken) if !reread => {
                        // Perhaps this very aggregate has it and the cache did not know.
                        state.aggregates.invalidate(plan.workspace_id, plan.board_id).await;
                        reread = true;
                        continue;
                    }
                    Err(e) => return Err(store_error(e)),
                }
            }
            Decision::Unchanged => {
                let c = plan.current;
                (Answer { status: StatusCode::OK, id: plan.aggregate_id, entity_id: None, version: c.version, position: c.position }, false)
            }
            Decision::Replay(origin) => {
                let entity_id = command.given_entity_id();
                (Answer { status: created, id: plan.aggregate_id, entity_id, version: origin.version, position: origin.position }, false)
            }
        };
        if !appended && let Some(record) = idempotency(answer.id, answer.entity_id) {
            let result = AppendResult { version: answer.version, position: answer.position };
            if let Some(existing) = state.store.record_idempotency(&record, result).await.map_err(store_error)? {
                return replay_stored(&existing, ctx.command_hash);
            }
        }
        return Ok(answer);
    }
    Err(ApiError::Conflict("the resource is changing too fast; retry the command".into()))
}

/// Another request recorded our idempotency key first: answer as it did.
async fn replay_key(state: &AppState, ctx: &Ctx<'_>, headers: &CommandHeaders) -> Result<Answer, ApiError> {
    let key = headers.idempotency_key.as_deref().unwrap_or_default();
    match state.store.find_idempotency(ctx.actor, key).await.map_err(store_error)? {
        Some(stored) => replay_stored(&stored, ctx.command_hash),
        None => Err(ApiError::Conflict("a concurrent request with the same Idempotency-Key is in progress".into())),
    }
}

fn replay_stored(stored: &StoredIdempotency, hash: &str) -> Result<Answer, ApiError> {
    if stored.request_hash != hash {
        return Err(ApiError::Unprocessable(vec![sunday_domain::FieldError::new(
            "Idempotency-Key",
            "this key was already used with another request",
        )]));
    }
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    Ok(Answer { status, id: stored.aggregate_id, entity_id: stored.entity_id, version: stored.version, position: stored.position })
}

/// The event as the store now holds it, for the caches.
fn recorded(plan: &Plan, e: NewEvent, r: AppendResult) -> RecordedEvent {
    RecordedEvent {
        event_id: e.event_id,
        stream_id: plan.stream.clone(),
        stream_version: r.version,
        position: r.position,
        occurred_at: e.occurred_at,
        workspace_id: e.workspace_id,
        board_id: e.board_id,
        stored_schema_version: e.event.schema_version(),
        event: e.event,
        metadata: e.metadata,
    }
}

fn new_event(plan: &Plan, event: DomainEvent, ctx: &Ctx<'_>, headers: &CommandHeaders) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event,
        occurred_at: chrono::Utc::now(),
        workspace_id: plan.workspace_id,
        board_id: plan.board_id,
        metadata: Metadata {
            actor_id: ctx.actor,
            correlation_id: headers.correlation_id.unwrap_or_else(Uuid::now_v7),
            causation_id: None,
            traceparent: sunday_eventstore::telemetry::current().or_else(|| headers.traceparent.clone()),
            idempotency_key: headers.idempotency_key.clone(),
            command_hash: Some(ctx.command_hash.to_owned()),
        },
    }
}

/// Maps store failures that reach the edge.
pub fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::WrongExpectedVersion { .. } | StoreError::DuplicateEventIds => ApiError::Conflict(e.to_string()),
        StoreError::EntityIdTaken => ApiError::Conflict("this id is already used by another resource".into()),
        StoreError::Unstorable { field } => {
            ApiError::Unprocessable(vec![sunday_domain::FieldError::new(field, "must not contain the NUL character (U+0000)")])
        }
        StoreError::Backend(e) if e.downcast_ref::<sqlx::Error>().is_some_and(sunday_eventstore::is_unreachable) => {
            tracing::warn!(error = %e, "the database cannot be reached");
            ApiError::Unavailable
        }
        other => ApiError::internal(other),
    }
}

fn expected(version: u64) -> ExpectedVersion {
    if version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(version) }
}

/// Loads what the command needs (from the log when `reread`) and decides it.
async fn plan(state: &AppState, ctx: &Ctx<'_>, command: &Command, reread: bool) -> Result<Plan, ApiError> {
    match command {
        Command::Workspace { id, cmd } => plan_workspace(state, ctx, *id, cmd, reread).await,
        Command::Board { id, workspace_id, cmd } => plan_board(state, ctx, (*id, *workspace_id), cmd, reread).await,
        Command::Item { id, board_id, cmd } => plan_item(state, ctx, (*id, *board_id), cmd, reread).await,
        Command::Profile(cmd) => plan_profile(state, ctx, cmd).await,
    }
}

async fn plan_workspace(state: &AppState, ctx: &Ctx<'_>, id: Option<Uuid>, cmd: &WorkspaceCommand, reread: bool) -> Result<Plan, ApiError> {
    let ws = match id {
        Some(id) => state.aggregates.workspace(id, reread).await.map_err(store_error)?,
        None => None,
    };
    let decision = workspace::decide(ws.as_ref(), ctx, cmd)?;
    let aggregate_id = match &decision {
        Decision::Append(DomainEvent::WorkspaceCreated(c)) => c.workspace_id,
        _ => id.unwrap_or_default(),
    };
    let version = ws.as_ref().map_or(0, |w| w.version);
    Ok(Plan {
        decision,
        aggregate_id,
        stream: StreamId::workspace(aggregate_id),
        expected: expected(version),
        current: AppendResult { version, position: ws.as_ref().map_or(0, |w| w.position) },
        workspace_id: Some(aggregate_id),
        board_id: None,
        guards: Vec::new(),
    })
}

/// `ids`: the board (for a create, the client's id if it parsed) and, for a
/// create, the workspace named in the body.
async fn plan_board(
    state: &AppState,
    ctx: &Ctx<'_>,
    ids: (Option<Uuid>, Option<Uuid>),
    cmd: &BoardCommand,
    reread: bool,
) -> Result<Plan, ApiError> {
    let (id, workspace_id) = ids;
    let view = match id {
        Some(id) => Some(state.aggregates.board(id, reread).await.map_err(store_error)?),
        None => None,
    };
    let board = view.as_ref().and_then(|v| v.board.as_ref());
    let workspace_id = match (workspace_id, board) {
        (Some(ws), _) => ws,
        (None, Some(b)) => b.workspace_id,
        (None, None) => return Err(ApiError::NotFound("board")),
    };
    let ws = state.aggregates.workspace(workspace_id, reread).await.map_err(store_error)?;
    let decision = board_commands::decide(ws.as_ref(), board, ctx, cmd)?;
    let guards = ws.iter().map(|w| (StreamId::workspace(w.id), w.version)).collect();
    let aggregate_id = match &decision {
        Decision::Append(DomainEvent::BoardCreated(c)) => c.board_id,
        _ => id.unwrap_or_default(),
    };
    let version = board.map_or(0, |b| b.version);
    Ok(Plan {
        decision,
        aggregate_id,
        stream: StreamId::board(aggregate_id),
        expected: expected(version),
        current: AppendResult { version, position: board.map_or(0, |b| b.position) },
        workspace_id: Some(workspace_id),
        board_id: Some(aggregate_id),
        guards,
    })
}

/// `ids`: the item (for a create, the client's id if it parsed) and, for a
/// create, the board named in the body.
async fn plan_item(
    state: &AppState,
    ctx: &Ctx<'_>,
    ids: (Option<Uuid>, Option<Uuid>),
    cmd: &ItemCommand,
    reread: bool,
) -> Result<Plan, ApiError> {
    let (id, board_id) = ids;
    let board_id = match (board_id, id) {
        (Some(b), _) => b,
        (None, Some(item)) => state.aggregates.board_of_item(item).await.map_err(store_error)?.ok_or(ApiError::NotFound("item"))?,
        (None, None) => return Err(ApiError::NotFound("item")),
    };
    let view = state.aggregates.board(board_id, reread).await.map_err(store_error)?;
    let not_found = if matches!(cmd, ItemCommand::Create { .. }) { "board" } else { "item" };
    let board = view.board.as_ref().ok_or(ApiError::NotFound(not_found))?;
    let ws = state.aggregates.workspace(board.workspace_id, reread).await.map_err(store_error)?;
    let ws = ws.ok_or(ApiError::NotFound("board"))?;
    let current_item = id.and_then(|i| board.items.get(&i));
    let decision = item_commands::decide(&ws, board, current_item, ctx, cmd)?;
    let aggregate_id = match &decision {
        Decision::Append(DomainEvent::ItemCreated(c)) => c.item_id,
        _ => id.unwrap_or_default(),
    };
    let version = current_item.map_or(0, |i| i.version);
    Ok(Plan {
        decision,
        aggregate_id,
        stream: StreamId::item(aggregate_id),
        expected: expected(version),
        current: AppendResult { version, position: current_item.map_or(0, |i| i.position) },
        workspace_id: Some(board.workspace_id),
        board_id: Some(board.id),
        guards: vec![(StreamId::board(board.id), board.version), (StreamId::workspace(ws.id), ws.version)],
    })
}

async fn plan_profile(state: &AppState, ctx: &Ctx<'_>, cmd: &UpdateProfile) -> Result<Plan, ApiError> {
    let current = state.aggregates.profile(ctx.actor).await.map_err(store_error)?;
    let decision = profile::decide(current.as_ref(), ctx, cmd)?;
    let version = current.as_ref().map_or(0, |p| p.version);
    Ok(Plan {
        decision,
        aggregate_id: ctx.actor,
        stream: StreamId::user(ctx.actor),
        expected: expected(version),
        current: AppendResult { version, position: current.as_ref().map_or(0, |p| p.position) },
        workspace_id: None,
        board_id: None,
        guards: Vec::new(),
    })
}
