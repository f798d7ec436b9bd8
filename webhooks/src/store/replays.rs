//! The replays' table (`webhook_replays`): asked by the command API, sent
//! by the dispatcher's senders.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use sunday_domain::store::Position;
use uuid::Uuid;

/// A replay with events to send.
#[derive(Clone, Debug)]
pub(crate) struct Replay {
    pub(crate) id: i64,
    pub(crate) webhook: Uuid,
    /// The last position sent (or passed).
    pub(crate) next: Position,
    pub(crate) to: Position,
    pub(crate) failures: u32,
    pub(crate) failing_since: Option<DateTime<Utc>>,
}

/// Replays of active webhooks due now, not in `busy`.
pub(crate) async fn ready_replays(pool: &PgPool, busy: &[i64], limit: usize) -> Result<Vec<Replay>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT r.id, r.webhook_id, r.next_position, r.to_position, r.failures, r.failing_since \
         FROM webhook_replays r JOIN webhook_subscriptions s USING (webhook_id) \
         WHERE s.active AND (r.next_attempt_at IS NULL OR r.next_attempt_at <= now()) AND NOT (r.id = ANY($1)) \
         ORDER BY r.id LIMIT $2",
    )
    .bind(busy)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Replay {
            id: r.get("id"),
            webhook: r.get("webhook_id"),
            next: r.get("next_position"),
            to: r.get("to_position"),
            failures: u32::try_from(r.get::<i32, _>("failures")).unwrap_or(0),
            failing_since: r.get("failing_since"),
        })
        .collect())
}

/// A replay is done: every event of its range was sent (or passed).
pub(crate) async fn finish_replay(pool: &PgPool, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM webhook_replays WHERE id = $1").bind(id).execute(pool).await?;
    Ok(())
}

/// A replay of `webhook`'s matching events from `from` to `to` (absent:
/// the newest event now), for the dispatcher to send. `request` names the
/// request under its idempotency key: asked again by a retry, the replay is
/// written if it was not (the first run died before it could) and not twice.
pub async fn request_replay(
    pool: &PgPool,
    webhook: Uuid,
    (from, to): (Position, Option<Position>),
    request: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_replays (webhook_id, next_position, to_position, request) \
         VALUES ($1, $2 - 1, coalesce($3, (SELECT max(position) FROM events), 0), $4) \
         ON CONFLICT (request) DO NOTHING",
    )
    .bind(webhook)
    .bind(from)
    .bind(to)
    .bind(request)
    .execute(pool)
    .await?;
    Ok(())
}
