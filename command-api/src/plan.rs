//! Loading what a command needs and deciding it: one `Plan` for every kind
//! of aggregate, made from what was loaded (`Target`) and what the decider
//! said.

use sunday_domain::events::DomainEvent;
use sunday_domain::item_commands::ItemCommand;
use sunday_domain::store::*;
use sunday_domain::webhook::WebhookCommand;
use sunday_domain::{Ctx, Decision, DomainError, Origin, board_commands, item_commands, profile, webhook, workspace};
use uuid::Uuid;

use crate::aggregates::Aggregates;
use crate::command::{Answer, Command, CommandError, Preconditions};

/// The outcome of loading and deciding, before appending.
pub(crate) struct Plan {
    pub(crate) decision: Decision,
    /// The aggregate the command targets (or creates).
    pub(crate) aggregate_id: Uuid,
    pub(crate) stream: StreamId,
    pub(crate) expected: ExpectedVersion,
    /// The aggregate's version and position now (for `Unchanged`).
    current: AppendResult,
    pub(crate) workspace_id: Option<Uuid>,
    pub(crate) board_id: Option<Uuid>,
    /// The other streams the decision read, at the versions it saw.
    pub(crate) guards: Vec<(StreamId, u64)>,
}

/// What was loaded for a command: its target as it stands and its scope.
struct Target {
    /// The target's id (`None` for a create, whose event names it).
    id: Option<Uuid>,
    kind: Kind,
    /// The target's version and position (zero when it does not exist).
    current: AppendResult,
    workspace_id: Option<Uuid>,
    board_id: Option<Uuid>,
    guards: Vec<(StreamId, u64)>,
}

/// Which kind of aggregate a command targets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Workspace,
    Board,
    Item,
    Profile,
    Webhook,
}

impl Kind {
    fn stream(self, id: Uuid) -> StreamId {
        match self {
            Self::Workspace => StreamId::workspace(id),
            Self::Board => StreamId::board(id),
            Self::Item => StreamId::item(id),
            Self::Profile => StreamId::user(id),
            Self::Webhook => StreamId::webhook(id),
        }
    }
}

/// Loads what the command needs (from the log when `reread`) and decides it.
pub(crate) async fn plan(aggregates: &Aggregates, ctx: &Ctx<'_>, command: &Command, reread: bool) -> Result<Plan, CommandError> {
    let (decision, target) = match command {
        Command::Workspace { id, cmd } => {
            let ws = match id {
                Some(id) => aggregates.workspace(*id, reread).await?,
                None => None,
            };
            let current = ws.as_ref().map_or(AppendResult::default(), |w| AppendResult { version: w.version, position: w.position });
            let target = Target { id: *id, kind: Kind::Workspace, current, workspace_id: *id, board_id: None, guards: Vec::new() };
            (workspace::decide(ws.as_ref(), ctx, cmd)?, target)
        }
        Command::Board { id, workspace_id, cmd } => decide_board(aggregates, ctx, (*id, *workspace_id), cmd, reread).await?,
        Command::Item { id, board_id, cmd } => decide_item(aggregates, ctx, (*id, *board_id), cmd, reread).await?,
        Command::Profile(cmd) => {
            let current = aggregates.profile(ctx.actor).await?;
            let at = current.as_ref().map_or(AppendResult::default(), |p| AppendResult { version: p.version, position: p.position });
            let target =
                Target { id: Some(ctx.actor), kind: Kind::Profile, current: at, workspace_id: None, board_id: None, guards: vec![] };
            (profile::decide(current.as_ref(), ctx, cmd)?, target)
        }
        Command::Webhook { id, workspace_id, cmd } => decide_webhook(aggregates, ctx, (*id, *workspace_id), cmd, reread).await?,
    };
    Ok(Plan::new(decision, target, command.is_create()))
}

/// `ids`: the board (for a create, the client's id if it parsed) and, for a
/// create, the workspace named in the body.
async fn decide_board(
    aggregates: &Aggregates,
    ctx: &Ctx<'_>,
    (id, workspace_id): (Option<Uuid>, Option<Uuid>),
    cmd: &board_commands::BoardCommand,
    reread: bool,
) -> Result<(Decision, Target), CommandError> {
    let view = match id {
        Some(id) => Some(aggregates.board(id, reread).await?),
        None => None,
    };
    let board = view.as_ref().and_then(|v| v.board.as_ref());
    let workspace_id = workspace_id.or(board.map(|b| b.workspace_id)).ok_or(DomainError::NotFound("board"))?;
    let ws = aggregates.workspace(workspace_id, reread).await?;
    let decision = board_commands::decide(ws.as_ref(), board, ctx, cmd)?;
    let current = board.map_or(AppendResult::default(), |b| AppendResult { version: b.version, position: b.position });
    let guards = ws.iter().map(|w| (StreamId::workspace(w.id), w.version)).collect();
    Ok((decision, Target { id, kind: Kind::Board, current, workspace_id: Some(workspace_id), board_id: id, guards }))
}

/// `ids`: the item (for a create, the client's id if it parsed) and, for a
/// create, the board named in the body.
async fn decide_item(
    aggregates: &Aggregates,
    ctx: &Ctx<'_>,
    (id, board_id): (Option<Uuid>, Option<Uuid>),
    cmd: &ItemCommand,
    reread: bool,
) -> Result<(Decision, Target), CommandError> {
    let board_id = match (board_id, id) {
        (Some(b), _) => b,
        (None, Some(item)) => aggregates.board_of_item(item).await?.ok_or(DomainError::NotFound("item"))?,
        (None, None) => return Err(DomainError::NotFound("item").into()),
    };
    let view = aggregates.board(board_id, reread).await?;
    let not_found = if matches!(cmd, ItemCommand::Create { .. }) { "board" } else { "item" };
    let board = view.board.as_ref().ok_or(DomainError::NotFound(not_found))?;
    let ws = aggregates.workspace(board.workspace_id, reread).await?.ok_or(DomainError::NotFound("board"))?;
    let item = id.and_then(|i| board.items.get(&i));
    let decision = item_commands::decide(&ws, board, item, ctx, cmd)?;
    let current = item.map_or(AppendResult::default(), |i| AppendResult { version: i.version, position: i.position });
    let guards = vec![(StreamId::board(board.id), board.version), (StreamId::workspace(ws.id), ws.version)];
    Ok((decision, Target { id, kind: Kind::Item, current, workspace_id: Some(board.workspace_id), board_id: Some(board.id), guards }))
}

/// `ids`: the webhook (for a create, the client's id if it parsed) and, for
/// a create, the workspace in the path. Guarded by the workspace's version:
/// a caller demoted meanwhile is decided again.
async fn decide_webhook(
    aggregates: &Aggregates,
    ctx: &Ctx<'_>,
    (id, workspace_id): (Option<Uuid>, Option<Uuid>),
    cmd: &WebhookCommand,
    reread: bool,
) -> Result<(Decision, Target), CommandError> {
    let hook = match id {
        Some(id) => aggregates.webhook(id).await?,
        None => None,
    };
    let not_found = if matches!(cmd, WebhookCommand::Create { .. }) { "workspace" } else { "webhook" };
    let workspace_id = workspace_id.or(hook.as_ref().map(|h| h.workspace_id)).ok_or(DomainError::NotFound(not_found))?;
    let ws = aggregates.workspace(workspace_id, reread).await?;
    let decision = webhook::decide(ws.as_ref(), hook.as_ref(), ctx, cmd)?;
    let current = hook.as_ref().map_or(AppendResult::default(), |h| AppendResult { version: h.version, position: h.position });
    let guards = ws.iter().map(|w| (StreamId::workspace(w.id), w.version)).collect();
    Ok((decision, Target { id, kind: Kind::Webhook, current, workspace_id: Some(workspace_id), board_id: None, guards }))
}

impl Plan {
    fn new(decision: Decision, target: Target, create: bool) -> Self {
        let aggregate_id = match &decision {
            Decision::Append(event) if create => event.subject().1,
            _ => target.id.unwrap_or_default(),
        };
        // A workspace's or board's own events are scoped to the one they create or change.
        let workspace_id = if target.kind == Kind::Workspace { Some(aggregate_id) } else { target.workspace_id };
        let board_id = if target.kind == Kind::Board { Some(aggregate_id) } else { target.board_id };
        let expected = if target.current.version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(target.current.version) };
        Self {
            decision,
            aggregate_id,
            stream: target.kind.stream(aggregate_id),
            expected,
            current: target.current,
            workspace_id,
            board_id,
            guards: target.guards,
        }
    }

    /// The answer to a command that changes nothing.
    pub(crate) fn unchanged(&self) -> Answer {
        let c = self.current;
        Answer { created: false, replayed: false, id: self.aggregate_id, entity_id: None, version: c.version, position: c.position }
    }

    /// The answer to a create (or an added sub-entity) re-sent: as it was then.
    pub(crate) fn replayed(&self, origin: &Origin, created: bool, entity_id: Option<Uuid>) -> Answer {
        Answer { created, replayed: false, id: self.aggregate_id, entity_id, version: origin.version, position: origin.position }
    }

    pub(crate) fn new_event(&self, event: DomainEvent, ctx: &Ctx<'_>, pre: &Preconditions) -> NewEvent {
        NewEvent {
            event_id: Uuid::now_v7(),
            event,
            occurred_at: chrono::Utc::now(),
            workspace_id: self.workspace_id,
            board_id: self.board_id,
            metadata: Metadata {
                actor_id: ctx.actor,
                correlation_id: pre.correlation_id.unwrap_or_else(Uuid::now_v7),
                causation_id: None,
                traceparent: sunday_runtime::telemetry::current().or_else(|| pre.traceparent.clone()),
                idempotency_key: pre.idempotency_key.clone(),
                command_hash: Some(ctx.command_hash.to_owned()),
            },
        }
    }

    /// The event as the store now holds it, for the caches.
    pub(crate) fn recorded(&self, e: NewEvent, r: AppendResult) -> RecordedEvent {
        RecordedEvent {
            event_id: e.event_id,
            stream_id: self.stream.clone(),
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
}
