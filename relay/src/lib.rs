//! The JetStream relay (the publisher, run with the projector role):
//! follows the log gap-safely and publishes every event to the
//! JetStream stream `<PREFIX>_EVENTS` on `<prefix>.events.<workspace>.<board>.<type>`
//! (`_` where an event has no workspace or board), in log order.
//!
//! Each message carries `Nats-Msg-Id` = the event id, so JetStream drops a
//! re-publish after a crash between publishing and checkpointing (within the
//! stream's duplicate window), and `Sunday-Position` = its log position. One
//! publisher is active at a time (advisory lock on a connection of its own);
//! its checkpoint is compared before it moves, like the projector's.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, Context};
use serde_json::json;
use sqlx::PgPool;
use sunday_domain::store::{Position, RecordedEvent, StoreError};
use sunday_eventstore::PgEventStore;
use tokio::sync::watch;

/// The advisory lock that elects the one active publisher.
const LEADER_LOCK: i64 = sunday_runtime::leader::locks::PUBLISHER;
/// The checkpoint name.
const NAME: &str = "jetstream";

/// Why publishing stopped.
#[derive(Debug, thiserror::Error)]
pub enum PublisherError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("checkpoint failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error("JetStream: {0}")]
    Nats(String),
    /// Another publisher moved the checkpoint.
    #[error("the publisher checkpoint moved under us")]
    Fenced,
    /// The leader lock's connection failed: another process may lead now.
    #[error("lost the publisher's leadership: {0}")]
    LeadershipLost(String),
}

fn nats(e: impl std::fmt::Display) -> PublisherError {
    PublisherError::Nats(e.to_string())
}

/// The JetStream stream of a deployment's events.
pub fn stream_name(prefix: &str) -> String {
    format!("{}_EVENTS", prefix.to_uppercase().replace(['.', '-', '*', '>', ' '], "_"))
}

/// The subject an event is published on.
pub fn subject(prefix: &str, e: &RecordedEvent) -> String {
    let part = |id: Option<uuid::Uuid>| id.map_or_else(|| "_".to_owned(), |u| u.to_string());
    format!("{prefix}.events.{}.{}.{}", part(e.workspace_id), part(e.board_id), e.event.event_type())
}

/// The stream, created if it does not exist; with `replicas`, an existing
/// stream is also made to keep that many copies (the publisher's setting,
/// `SUNDAY_NATS_REPLICAS`: 3 on a three-node cluster survives losing a node).
/// Its cached info is as fresh as this call.
pub async fn ensure_stream(js: &Context, prefix: &str, replicas: Option<usize>) -> Result<jetstream::stream::Stream, PublisherError> {
    let config = jetstream::stream::Config {
        name: stream_name(prefix),
        subjects: vec![format!("{prefix}.events.>")],
        num_replicas: replicas.unwrap_or(1).max(1),
        ..Default::default()
    };
    let stream = js.get_or_create_stream(config.clone()).await.map_err(nats)?;
    let now = stream.cached_info().config.num_replicas;
    if replicas.is_some_and(|r| r.max(1) != now) {
        tracing::info!(from = now, to = config.num_replicas, "changing the event stream's replicas");
        js.update_stream(config).await.map_err(nats)?;
    }
    Ok(stream)
}

/// The envelope as published.
fn payload(e: &RecordedEvent) -> Vec<u8> {
    let body = json!({
        "eventId": e.event_id, "streamId": e.stream_id, "streamVersion": e.stream_version,
        "globalPosition": e.position, "type": e.event.event_type(), "schemaVersion": e.event.schema_version(),
        "occurredAt": e.occurred_at, "workspaceId": e.workspace_id, "boardId": e.board_id,
        "data": e.event.payload(), "metadata": e.metadata,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Publishes events in order and waits until JetStream has stored each one.
pub async fn publish_events(js: &Context, prefix: &str, events: &[RecordedEvent]) -> Result<(), PublisherError> {
    let mut acks = Vec::with_capacity(events.len());
    for e in events {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", e.event_id.to_string().as_str());
        headers.insert("Sunday-Position", e.position.to_string().as_str());
        // The publish continues the command's trace; consumers continue from it.
        let span = tracing::debug_span!("publish", event_type = e.event.event_type(), position = e.position);
        sunday_runtime::telemetry::follow(&span, e.metadata.traceparent.as_deref());
        if let Some(tp) = sunday_runtime::telemetry::traceparent(&span).or_else(|| e.metadata.traceparent.clone()) {
            headers.insert("traceparent", tp.as_str());
        }
        acks.push(js.publish_with_headers(subject(prefix, e), headers, payload(e).into()).await.map_err(nats)?);
    }
    for ack in acks {
        ack.await.map_err(nats)?;
    }
    Ok(())
}

async fn checkpoint(pool: &PgPool) -> Result<Position, sqlx::Error> {
    sqlx::query("INSERT INTO publisher_checkpoints (name, position) VALUES ($1, 0) ON CONFLICT DO NOTHING")
        .bind(NAME)
        .execute(pool)
        .await?;
    sqlx::query_scalar("SELECT position FROM publisher_checkpoints WHERE name = $1").bind(NAME).fetch_one(pool).await
}

async fn advance(pool: &PgPool, from: Position, to: Position) -> Result<(), PublisherError> {
    let moved = sqlx::query("UPDATE publisher_checkpoints SET position = $3, updated_at = now() WHERE name = $1 AND position = $2")
        .bind(NAME)
        .bind(from)
        .bind(to)
        .execute(pool)
        .await?;
    if moved.rows_affected() == 1 { Ok(()) } else { Err(PublisherError::Fenced) }
}

/// Runs the publisher under `tasks` (task `publisher`): whatever ends a run,
/// it starts again after a backoff, re-elected and from its checkpoint.
pub fn spawn(
    tasks: &sunday_runtime::Tasks,
    store: PgEventStore,
    js: Context,
    prefix: String,
    replicas: usize,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let watch = stop.clone();
    tasks.supervise("publisher", true, watch, move |task| {
        let (store, js, prefix, mut stop) = (store.clone(), js.clone(), prefix.clone(), stop.clone());
        async move { run(&store, &js, (&prefix, replicas), &mut stop, &task).await }
    })
}

/// Publishes the log until `stop` turns true or something fails (run it
/// under `sunday_runtime::Tasks::supervise`, which starts it again from its
/// checkpoint), once elected; a lost leader lock connection ends the run.
/// `stream` is the subject prefix and the stream's replicas.
pub async fn run(
    store: &PgEventStore,
    js: &Context,
    stream: (&str, usize),
    stop: &mut watch::Receiver<bool>,
    task: &sunday_runtime::Task,
) -> Result<(), PublisherError> {
    let pool = store.pool().clone();
    task.standby();
    let Some(mut leadership) = sunday_runtime::leader::elect(&pool.connect_options(), LEADER_LOCK, stop).await? else {
        return Ok(());
    };
    let (prefix, replicas) = stream;
    ensure_stream(js, prefix, Some(replicas)).await?;
    let mut at = checkpoint(&pool).await?;
    let mut tail = store.tail(at, 1000);
    tracing::info!(checkpoint = at, stream = %stream_name(prefix), "publisher elected");
    task.leading();
    loop {
        let batch = tokio::select! {
            batch = tail.next_batch() => batch?,
            _ = stop.changed() => return Ok(()),
            why = leadership.lost() => return Err(PublisherError::LeadershipLost(why)),
        };
        publish_events(js, prefix, &batch).await?;
        let to = batch.last().map_or(at, |e| e.position);
        advance(&pool, at, to).await?;
        at = to;
    }
}
