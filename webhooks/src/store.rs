//! The dispatcher's tables (`migrations/20261204000001_webhook_dispatch.sql`):
//! the scan's position and fold, the lanes, the attempts. Every move of a
//! position is compared first, so a dispatcher that lost its leadership
//! without knowing it is fenced instead of overwriting the new leader.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Row, Transaction};
use sunday_domain::Origin;
use sunday_domain::store::{Position, RecordedEvent, StoreError};
use sunday_domain::webhook::Webhook;
use uuid::Uuid;

use crate::DispatchError;

mod replays;
#[cfg(test)]
mod tests;

pub use replays::request_replay;
pub(crate) use replays::{Replay, finish_replay, ready_replays};

/// A webhook's lane for one board (`Uuid::nil()`: the workspace's own events).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct LaneKey {
    pub(crate) webhook: Uuid,
    pub(crate) board: Uuid,
}

/// A lane with events to send.
#[derive(Clone, Debug)]
pub(crate) struct Lane {
    pub(crate) key: LaneKey,
    pub(crate) delivered: Position,
    pub(crate) head: Position,
    pub(crate) failures: u32,
    pub(crate) failing_since: Option<DateTime<Utc>>,
}

/// What one scanned batch changes, written in one transaction.
#[derive(Default)]
pub(crate) struct ScanBatch {
    /// Webhooks whose fold changed, as they are now (`None`: deleted).
    pub(crate) webhooks: HashMap<Uuid, Option<Webhook>>,
    /// Webhooks made active again: their lanes start their retries afresh.
    pub(crate) resumed: Vec<Uuid>,
    /// Per lane, the first and last matching position in the batch.
    pub(crate) lanes: HashMap<LaneKey, (Position, Position)>,
}

/// The scan's position and the webhooks folded so far.
pub(crate) async fn load(pool: &PgPool) -> Result<(Position, HashMap<Uuid, Webhook>), sqlx::Error> {
    let at: Position = sqlx::query_scalar("SELECT position FROM webhook_scan").fetch_one(pool).await?;
    let rows = sqlx::query(
        "SELECT webhook_id, workspace_id, url, event_types, board_ids, active, secret_version, version FROM webhook_subscriptions",
    )
    .fetch_all(pool)
    .await?;
    let mut hooks = HashMap::new();
    for r in rows {
        let version = u64::try_from(r.get::<i64, _>("version")).unwrap_or(0);
        let hook = Webhook {
            id: r.get("webhook_id"),
            workspace_id: r.get("workspace_id"),
            url: r.get("url"),
            event_types: r.get("event_types"),
            board_ids: r.get("board_ids"),
            active: r.get("active"),
            disabled_reason: None,
            secret_version: u64::try_from(r.get::<i64, _>("secret_version")).unwrap_or(0),
            deleted: false,
            version,
            position: 0,
            origin: Origin { command_hash: None, version: 1, position: 0 },
        };
        hooks.insert(hook.id, hook);
    }
    Ok((at, hooks))
}

/// Writes a scanned batch and moves the scan from `from` to `to`.
pub(crate) async fn commit_scan(pool: &PgPool, from: Position, to: Position, batch: &ScanBatch) -> Result<(), DispatchError> {
    let mut tx = pool.begin().await?;
    relaxed(&mut tx).await?;
    for (id, hook) in &batch.webhooks {
        match hook {
            Some(h) => save_webhook(&mut tx, h).await?,
            None => {
                sqlx::query("DELETE FROM webhook_subscriptions WHERE webhook_id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM webhook_replays WHERE webhook_id = $1").bind(id).execute(&mut *tx).await?;
            }
        }
    }
    if !batch.resumed.is_empty() {
        sqlx::query("UPDATE webhook_lanes SET failures = 0, failing_since = NULL, next_attempt_at = NULL WHERE webhook_id = ANY($1)")
            .bind(&batch.resumed)
            .execute(&mut *tx)
            .await?;
    }
    let live = batch.lanes.iter().filter(|(k, _)| !matches!(batch.webhooks.get(&k.webhook), Some(None)));
    let (mut hooks, mut boards, mut firsts, mut lasts) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (key, (first, last)) in live {
        hooks.push(key.webhook);
        boards.push(key.board);
        firsts.push(*first - 1);
        lasts.push(*last);
    }
    if !hooks.is_empty() {
        // A new lane starts just before its first event; an existing one only grows.
        sqlx::query(
            "INSERT INTO webhook_lanes (webhook_id, board_id, delivered, head) \
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[]) \
             ON CONFLICT (webhook_id, board_id) DO UPDATE SET head = greatest(webhook_lanes.head, excluded.head)",
        )
        .bind(&hooks)
        .bind(&boards)
        .bind(&firsts)
        .bind(&lasts)
        .execute(&mut *tx)
        .await?;
    }
    let moved = sqlx::query("UPDATE webhook_scan SET position = $2 WHERE position = $1").bind(from).bind(to).execute(&mut *tx).await?;
    if moved.rows_affected() != 1 {
        return Err(DispatchError::Fenced);
    }
    tx.commit().await?;
    Ok(())
}

async fn save_webhook(tx: &mut Transaction<'_, Postgres>, h: &Webhook) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_subscriptions (webhook_id, workspace_id, url, event_types, board_ids, active, secret_version, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (webhook_id) DO UPDATE SET \
         url = excluded.url, event_types = excluded.event_types, board_ids = excluded.board_ids, active = excluded.active, \
         secret_version = excluded.secret_version, version = excluded.version",
    )
    .bind(h.id)
    .bind(h.workspace_id)
    .bind(&h.url)
    .bind(&h.event_types)
    .bind(&h.board_ids)
    .bind(h.active)
    .bind(i64::try_from(h.secret_version).unwrap_or(i64::MAX))
    .bind(i64::try_from(h.version).unwrap_or(i64::MAX))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The dispatcher's own progress need not wait for the disk: a commit lost
/// in a crash of PostgreSQL only re-sends what it had recorded as sent
/// (receivers de-duplicate by `webhook-id`), and the scan is redone. (Its
/// pool's sessions are set so too: `relaxed_pool`.)
async fn relaxed(tx: &mut Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
    sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut **tx).await?;
    Ok(())
}

/// A pool of the dispatcher's own whose sessions commit without waiting
/// for the WAL flush (see `relaxed`).
pub(crate) async fn relaxed_pool(store: &sunday_eventstore::PgEventStore, size: u32) -> Result<PgPool, sqlx::Error> {
    let options = store.pool().connect_options().as_ref().clone().options([("synchronous_commit", "off")]);
    sqlx::postgres::PgPoolOptions::new().max_connections(size).connect_with(options).await
}

/// Lanes of active webhooks with events to send now, not in `busy`.
pub(crate) async fn ready_lanes(pool: &PgPool, busy: &[LaneKey], limit: usize) -> Result<Vec<Lane>, sqlx::Error> {
    let busy_hooks: Vec<Uuid> = busy.iter().map(|k| k.webhook).collect();
    let busy_boards: Vec<Uuid> = busy.iter().map(|k| k.board).collect();
    let rows = sqlx::query(
        "SELECT l.webhook_id, l.board_id, l.delivered, l.head, l.failures, l.failing_since \
         FROM webhook_lanes l JOIN webhook_subscriptions s USING (webhook_id) \
         WHERE l.delivered < l.head AND s.active AND (l.next_attempt_at IS NULL OR l.next_attempt_at <= now()) \
           AND (l.webhook_id, l.board_id) NOT IN (SELECT * FROM unnest($1::uuid[], $2::uuid[])) \
         ORDER BY l.next_attempt_at NULLS FIRST LIMIT $3",
    )
    .bind(&busy_hooks)
    .bind(&busy_boards)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(lane).collect())
}

fn lane(r: &sqlx::postgres::PgRow) -> Lane {
    Lane {
        key: LaneKey { webhook: r.get("webhook_id"), board: r.get("board_id") },
        delivered: r.get("delivered"),
        head: r.get("head"),
        failures: u32::try_from(r.get::<i32, _>("failures")).unwrap_or(0),
        failing_since: r.get("failing_since"),
    }
}

/// The soonest retry due among active webhooks' lanes, if any.
pub(crate) async fn next_retry(pool: &PgPool) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT min(l.next_attempt_at) FROM webhook_lanes l JOIN webhook_subscriptions s USING (webhook_id) \
         WHERE l.delivered < l.head AND s.active",
    )
    .fetch_one(pool)
    .await
}

/// Up to `limit` of the lane's events after `after`, up to its head.
pub(crate) async fn lane_events(
    store: &sunday_eventstore::PgEventStore,
    workspace: Uuid,
    lane: &Lane,
    after: Position,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    if lane.key.board.is_nil() {
        store.workspace_page(workspace, (after, lane.head + 1), true, limit).await
    } else {
        store.board_page(lane.key.board, after, lane.head + 1, limit).await
    }
}

/// What an attempt moves on: a lane, or a replay.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Progress {
    Lane(LaneKey),
    Replay(i64),
}

/// A delivery made but not recorded yet.
pub(crate) struct Sent {
    pub(crate) event_id: Uuid,
    pub(crate) position: Position,
    pub(crate) event_type: &'static str,
    pub(crate) attempt: i32,
    pub(crate) status: i16,
    pub(crate) duration_ms: i32,
}

/// Records deliveries and moves the lane or replay from `from` to `to`
/// past them (and past what matched nothing), in one statement, compared
/// first: `Fenced`, and no record, if someone else moved it.
pub(crate) async fn advance(
    pool: &PgPool,
    progress: Progress,
    webhook: Uuid,
    (from, to): (Position, Position),
    sent: &[Sent],
) -> Result<(), DispatchError> {
    let (table, column, key) = match progress {
        Progress::Lane(_) => ("webhook_lanes", "delivered", "webhook_id = $3 AND board_id = $4"),
        Progress::Replay(_) => ("webhook_replays", "next_position", "id = $3 AND $4::uuid IS NULL"),
    };
    let sql = format!(
        "WITH moved AS (UPDATE {table} SET {column} = $1, failures = 0, failing_since = NULL, next_attempt_at = NULL \
             WHERE {column} = $2 AND {key} RETURNING 1), \
         logged AS (INSERT INTO webhook_attempts (webhook_id, event_id, position, event_type, attempt, status, duration_ms) \
             SELECT $5, * FROM unnest($6::uuid[], $7::bigint[], $8::text[], $9::int[], $10::smallint[], $11::int[]) \
             WHERE EXISTS (SELECT 1 FROM moved)) \
         SELECT count(*) FROM moved"
    );
    let q = sqlx::query_scalar::<_, i64>(&sql).bind(to).bind(from);
    let q = match progress {
        Progress::Lane(k) => q.bind(k.webhook).bind(k.board),
        Progress::Replay(id) => q.bind(id).bind(None::<Uuid>),
    };
    let moved = q
        .bind(webhook)
        .bind(sent.iter().map(|s| s.event_id).collect::<Vec<_>>())
        .bind(sent.iter().map(|s| s.position).collect::<Vec<_>>())
        .bind(sent.iter().map(|s| s.event_type).collect::<Vec<_>>())
        .bind(sent.iter().map(|s| s.attempt).collect::<Vec<_>>())
        .bind(sent.iter().map(|s| s.status).collect::<Vec<_>>())
        .bind(sent.iter().map(|s| s.duration_ms).collect::<Vec<_>>())
        .fetch_one(pool)
        .await?;
    if moved == 1 { Ok(()) } else { Err(DispatchError::Fenced) }
}

/// A failed attempt, and the sender's position it leaves as it was.
pub(crate) struct Failure<'a> {
    pub(crate) progress: Progress,
    /// The lane's `delivered` (or the replay's position), as recorded.
    pub(crate) at: Position,
    pub(crate) webhook: Uuid,
    pub(crate) event: &'a RecordedEvent,
    pub(crate) attempt: u32,
    /// The endpoint's status, when it answered.
    pub(crate) status: Option<u16>,
    pub(crate) error: &'a str,
    pub(crate) duration_ms: i32,
    /// When to try again (`None`: given up).
    pub(crate) next_attempt_at: Option<DateTime<Utc>>,
}

/// Records a failed attempt and counts it on the lane or replay, in one
/// statement, compared first: `Fenced`, and no record, if someone else
/// moved it.
pub(crate) async fn record_failure(pool: &PgPool, f: &Failure<'_>) -> Result<(), DispatchError> {
    // `$1` the position, `$2` the next attempt, `$3` and `$4` the key; then the attempt's columns.
    let (table, column, key) = match f.progress {
        Progress::Lane(_) => ("webhook_lanes", "delivered", "webhook_id = $3 AND board_id = $4"),
        Progress::Replay(_) => ("webhook_replays", "next_position", "id = $3 AND $4::uuid IS NULL"),
    };
    let sql = format!(
        "WITH moved AS (UPDATE {table} SET failures = failures + 1, failing_since = coalesce(failing_since, now()), \
             next_attempt_at = coalesce($2, now() + interval '10 years') WHERE {column} = $1 AND {key} RETURNING 1), \
         logged AS (INSERT INTO webhook_attempts \
             (webhook_id, event_id, position, event_type, attempt, status, error, duration_ms, next_attempt_at) \
             SELECT $5, $6, $7, $8, $9, $10, $11, $12, $2 FROM moved RETURNING 1) \
         SELECT count(*) FROM logged"
    );
    let q = sqlx::query_scalar::<_, i64>(&sql).bind(f.at).bind(f.next_attempt_at);
    let q = match f.progress {
        Progress::Lane(k) => q.bind(k.webhook).bind(k.board),
        Progress::Replay(id) => q.bind(id).bind(None::<Uuid>),
    };
    let logged = q
        .bind(f.webhook)
        .bind(f.event.event_id)
        .bind(f.event.position)
        .bind(f.event.event.event_type())
        .bind(i32::try_from(f.attempt).unwrap_or(i32::MAX))
        .bind(f.status.map(|s| i16::try_from(s).unwrap_or(0)))
        .bind(f.error)
        .bind(f.duration_ms)
        .fetch_one(pool)
        .await?;
    if logged == 1 { Ok(()) } else { Err(DispatchError::Fenced) }
}

/// Deletes up to `limit` attempts made before `before`; how many it deleted.
pub(crate) async fn prune_attempts(pool: &PgPool, before: DateTime<Utc>, limit: i64) -> Result<i64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM webhook_attempts WHERE id IN (SELECT id FROM webhook_attempts WHERE at < $1 ORDER BY at LIMIT $2)")
        .bind(before)
        .bind(limit)
        .execute(pool)
        .await?;
    Ok(i64::try_from(done.rows_affected()).unwrap_or(0))
}
