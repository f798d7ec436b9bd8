//! The one way a command runs, whatever brought it (an HTTP request, a
//! WebSocket frame): idempotency, load, decide, append, and re-deciding on
//! fresh state when a concurrent writer won the race. Nothing here knows a
//! transport; `respond` and the gateway's optimistic update are adapters.

use std::sync::Arc;

use sunday_domain::store::*;
use sunday_domain::{Ctx, Decision, DomainError, FieldError};
use uuid::Uuid;

use crate::aggregates::{Aggregates, StreamLocks};
use crate::command::{Answer, Command, CommandError, Preconditions, fingerprint};
use crate::plan::Plan;

/// How many times a command is re-decided after losing a race before giving up.
const MAX_ATTEMPTS: usize = 16;

/// Runs commands: the event store, the aggregate cache and the per-stream queues.
#[derive(Clone)]
pub struct Commands {
    pub store: Arc<dyn EventStore>,
    pub aggregates: Arc<Aggregates>,
    pub locks: Arc<StreamLocks>,
}

/// Where the attempts of one command stand.
#[derive(Default)]
struct Attempts {
    /// Decide on state read from the log rather than the cache.
    reread: bool,
    /// How often a create's id turned out taken.
    create_conflicts: u32,
}

/// What one attempt came to.
enum Step {
    Done(Answer),
    Again,
}

impl Commands {
    /// Runs `command` for `actor` end to end.
    pub async fn run(&self, actor: Uuid, command: Command, pre: Preconditions) -> Result<Answer, CommandError> {
        let hash = fingerprint(actor, &command);
        let ctx = Ctx { actor, if_match: pre.if_match, command_hash: &hash, legacy_hash: pre.legacy_fingerprint.as_deref() };
        if let Some(key) = pre.idempotency_key.as_deref()
            && let Some(stored) = self.store.find_idempotency(actor, key).await?
        {
            return replay_stored(&stored, &ctx);
        }
        let _queue = match command.target_stream(actor) {
            Some(stream) => Some(self.locks.lock(&stream).await),
            None => None,
        };
        let mut attempts = Attempts::default();
        for _ in 0..MAX_ATTEMPTS {
            if let Step::Done(answer) = self.attempt(&ctx, &pre, &command, &mut attempts).await? {
                return Ok(answer);
            }
        }
        Err(DomainError::Conflict("the resource is changing too fast; retry the command".into()).into())
    }

    /// Decides once and appends what was decided. Only appends are guarded: a
    /// refusal, a no-op or a replay decided on cached state is confirmed on
    /// state read afresh, since the cache may not know yet what another
    /// process just appended.
    async fn attempt(&self, ctx: &Ctx<'_>, pre: &Preconditions, command: &Command, at: &mut Attempts) -> Result<Step, CommandError> {
        let plan = match crate::plan::plan(&self.aggregates, ctx, command, at.reread).await {
            Err(CommandError::Refused(_)) if !at.reread => return Ok(self.reread(at)),
            other => other?,
        };
        let answer = match &plan.decision {
            Decision::Append(_) => return self.append(ctx, pre, command, plan, at).await,
            _ if !at.reread => return Ok(self.reread(at)),
            Decision::Unchanged => plan.unchanged(),
            Decision::Replay(origin) => plan.replayed(origin, command.is_create(), command.given_entity_id()),
        };
        let Some(record) = record(ctx, pre, command, answer.id, answer.entity_id) else { return Ok(Step::Done(answer)) };
        let result = AppendResult { version: answer.version, position: answer.position };
        match self.store.record_idempotency(&record, result).await? {
            Some(existing) => replay_stored(&existing, ctx).map(Step::Done),
            None => Ok(Step::Done(answer)),
        }
    }

    fn reread(&self, at: &mut Attempts) -> Step {
        at.reread = true;
        Step::Again
    }

    /// Appends the decided event with the versions it was decided on.
    async fn append(
        &self,
        ctx: &Ctx<'_>,
        pre: &Preconditions,
        command: &Command,
        plan: Plan,
        at: &mut Attempts,
    ) -> Result<Step, CommandError> {
        let Decision::Append(event) = &plan.decision else { return Ok(Step::Again) };
        let entity_id = event.added_entity();
        let record = record(ctx, pre, command, plan.aggregate_id, entity_id);
        let new_event = plan.new_event(event.clone(), ctx, pre);
        let request = AppendRequest {
            guards: plan.guards.clone(),
            idempotency: record.as_ref(),
            ..AppendRequest::new(&plan.stream, plan.expected, vec![new_event.clone()])
        };
        let created = command.is_create();
        match self.store.append(request).await {
            Ok(r) => {
                self.aggregates.applied(&plan.recorded(new_event, r)).await;
                let answer =
                    Answer { created, replayed: false, id: plan.aggregate_id, entity_id, version: r.version, position: r.position };
                Ok(Step::Done(answer))
            }
            Err(StoreError::WrongExpectedVersion { actual, .. }) => {
                self.aggregates.invalidate(plan.workspace_id, plan.board_id).await;
                if let Some(expected) = pre.if_match {
                    return Err(DomainError::PreconditionFailed { expected, actual }.into());
                }
                if plan.expected == ExpectedVersion::NoStream {
                    at.create_conflicts += 1;
                    if at.create_conflicts > 1 {
                        return Err(DomainError::Conflict("this id is already used by another resource".into()).into());
                    }
                }
                Ok(Step::Again)
            }
            Err(StoreError::StaleGuard) => {
                self.aggregates.invalidate(plan.workspace_id, plan.board_id).await;
                Ok(Step::Again)
            }
            Err(StoreError::IdempotencyKeyTaken) => self.replay_key(ctx, pre).await.map(Step::Done),
            Err(StoreError::EntityIdTaken) if !at.reread => {
                // Perhaps this very aggregate has it and the cache did not know.
                self.aggregates.invalidate(plan.workspace_id, plan.board_id).await;
                Ok(self.reread(at))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Another run recorded our idempotency key first: answer as it did.
    async fn replay_key(&self, ctx: &Ctx<'_>, pre: &Preconditions) -> Result<Answer, CommandError> {
        let key = pre.idempotency_key.as_deref().unwrap_or_default();
        match self.store.find_idempotency(ctx.actor, key).await? {
            Some(stored) => replay_stored(&stored, ctx),
            None => Err(DomainError::Conflict("a concurrent request with the same Idempotency-Key is in progress".into()).into()),
        }
    }
}

/// The idempotency record a run under a key leaves (status as HTTP spelled
/// it when the table was made: 201 for a create, else 200).
fn record(ctx: &Ctx<'_>, pre: &Preconditions, command: &Command, aggregate_id: Uuid, entity_id: Option<Uuid>) -> Option<IdempotencyRecord> {
    pre.idempotency_key.as_ref().map(|key| IdempotencyRecord {
        user_id: ctx.actor,
        key: key.clone(),
        request_hash: ctx.command_hash.to_owned(),
        status: if command.is_create() { 201 } else { 200 },
        aggregate_id,
        entity_id,
    })
}

fn replay_stored(stored: &StoredIdempotency, ctx: &Ctx<'_>) -> Result<Answer, CommandError> {
    if !ctx.is_this_command(Some(&stored.request_hash)) {
        return Err(DomainError::Invalid(vec![FieldError::new("Idempotency-Key", "this key was already used with another request")]).into());
    }
    Ok(Answer {
        created: stored.status == 201,
        replayed: true,
        id: stored.aggregate_id,
        entity_id: stored.entity_id,
        version: stored.version,
        position: stored.position,
    })
}
