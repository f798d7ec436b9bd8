//! Appending to a stream: one statement that checks the expected version and
//! inserts the events, plus the idempotency row in the same transaction.

use async_trait::async_trait;
use sqlx::{PgConnection, Row};
use sunday_domain::store::*;
use uuid::Uuid;

use crate::{PgEventStore, backend, violated_constraint};

/// Inserts the events when the stream is at the expected version and every
/// guard stream is still at the version the decision saw, and claims the ids
/// of the sub-entities they create (a taken one fails the whole statement on
/// `entity_ids_pkey`). Positions are the transaction id shifted left by 10
/// bits plus the event's index (`sunday_xact_id` adds the position base,
/// see `keep_positions_growing`); the id is read once per statement (a
/// sub-select, evaluated when the first row is made, after the head is
/// locked), not once per event.
///
/// Guards take turns with the guarded streams' appends through the streams'
/// head rows: the stream's own head is locked first (which gives the
/// transaction its id, hence its position), then the guards' heads are locked
/// shared. An append to a guarded stream waits for the guarded appends holding
/// its head, and takes its transaction id once it has the lock, above theirs:
/// it is logged after them. A guarded append that waited for it reads the new
/// head and fails as stale.
const APPEND: &str = r#"
WITH own AS MATERIALIZED (
    SELECT version FROM stream_heads WHERE stream_id = $1 FOR UPDATE
), cur AS (
    SELECT coalesce((SELECT version FROM own), 0) AS v
), held AS MATERIALIZED (
    SELECT h.stream_id, h.version FROM stream_heads h
    WHERE h.stream_id = ANY($11::text[]) AND (SELECT count(*) FROM own) >= 0
    ORDER BY h.stream_id FOR SHARE
), guards AS (
    SELECT NOT EXISTS (
        SELECT 1 FROM unnest($11::text[], $12::bigint[]) AS g(stream_id, version)
        WHERE coalesce((SELECT h.version FROM held h WHERE h.stream_id = g.stream_id), 0) <> g.version
    ) AS ok
), ins AS (
    INSERT INTO events (position, event_id, stream_id, stream_version, event_type, schema_version,
                        occurred_at, workspace_id, board_id, data, metadata)
    SELECT ((SELECT sunday_xact_id()) << 10) + e.ord - 1, e.event_id, $1, cur.v + e.ord,
           e.event_type, e.schema_version, e.occurred_at, e.workspace_id, e.board_id, e.data, e.metadata
    FROM cur, guards, unnest($2::uuid[], $3::text[], $4::smallint[], $5::timestamptz[], $6::uuid[], $7::uuid[],
                             $8::jsonb[], $9::jsonb[])
         WITH ORDINALITY AS e(event_id, event_type, schema_version, occurred_at, workspace_id, board_id,
                              data, metadata, ord)
    WHERE guards.ok AND ($10::bigint IS NULL OR cur.v = $10)
    RETURNING position, stream_version
), head AS (
    INSERT INTO stream_heads (stream_id, version)
    SELECT $1, max(stream_version) FROM ins HAVING count(*) > 0
    ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version
), claims AS (
    INSERT INTO entity_ids (entity_id, stream_id)
    SELECT c.entity_id, $1 FROM cur, guards, unnest($13::uuid[]) AS c(entity_id)
    WHERE guards.ok AND ($10::bigint IS NULL OR cur.v = $10)
)
SELECT (SELECT v FROM cur) AS current, (SELECT ok FROM guards) AS guards_ok,
       max(position) AS position, max(stream_version) AS version
FROM ins
"#;

const RECORD_KEY: &str = "INSERT INTO idempotency_keys \
    (user_id, key, request_hash, status, aggregate_id, entity_id, version, position) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING";

const FIND_KEY: &str = "SELECT request_hash, status, aggregate_id, entity_id, version, position \
    FROM idempotency_keys WHERE user_id = $1 AND key = $2";

/// How often an `Any` append retries after losing a race for the next version.
const ANY_RETRIES: usize = 16;

pub(crate) enum Attempt {
    Done(AppendResult),
    /// The stream was at `actual`, not the expected version.
    Mismatch(u64),
    /// A guard stream had moved on.
    Stale,
    /// A sub-entity id the events create is used by another stream already.
    EntityTaken,
}

impl PgEventStore {
    async fn try_append(&self, conn: &mut PgConnection, req: &AppendRequest<'_>) -> Result<Attempt, sqlx::Error> {
        let expected_v: Option<i64> = match req.expected {
            ExpectedVersion::Any => None,
            ExpectedVersion::NoStream => Some(0),
            ExpectedVersion::Exact(v) => Some(to_i64(v)),
        };
        let guard_streams: Vec<&str> = req.guards.iter().map(|(s, _)| s.as_str()).collect();
        let guard_versions: Vec<i64> = req.guards.iter().map(|(_, v)| to_i64(*v)).collect();
        let events: Vec<&NewEvent> = req.events.iter().collect();
        let row = bind_events(sqlx::query(APPEND).bind(req.stream.as_str()), &events)
            .bind(expected_v)
            .bind(guard_streams)
            .bind(guard_versions)
            .bind(claims(&req.events))
            .fetch_one(conn)
            .await?;
        let current: i64 = row.try_get("current")?;
        let guards_ok: bool = row.try_get("guards_ok")?;
        let position: Option<i64> = row.try_get("position")?;
        let version: Option<i64> = row.try_get("version")?;
        Ok(match (position, version) {
            (Some(position), Some(version)) => Attempt::Done(AppendResult { version: to_u64(version), position }),
            _ if !guards_ok => Attempt::Stale,
            _ => Attempt::Mismatch(to_u64(current)),
        })
    }

    /// One attempt: a single autocommitted statement, or a transaction that
    /// also records the idempotency key.
    async fn append_once(&self, req: &AppendRequest<'_>) -> Result<Attempt, StoreError> {
        if req.idempotency.is_none()
            && let Some(attempt) = self.batcher.submit(req).await
        {
            return Ok(attempt);
        }
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        let Some(key) = req.idempotency else {
            let attempt = self.try_append(&mut conn, req).await;
            drop(conn);
            return self.classify(req, attempt).await;
        };
        let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(backend)?;
        let attempt = self.try_append(&mut tx, req).await;
        let result = match attempt {
            Ok(Attempt::Done(result)) => result,
            other => {
                drop(tx);
                drop(conn);
                return self.classify(req, other).await;
            }
        };
        let inserted = bind_key(sqlx::query(RECORD_KEY), key, result).execute(&mut *tx).await.map_err(backend)?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::IdempotencyKeyTaken);
        }
        tx.commit().await.map_err(backend)?;
        Ok(Attempt::Done(result))
    }

    /// Turns unique violations into the conflicts they stand for. The
    /// connection has been given back before this asks the pool for another.
    async fn classify(&self, req: &AppendRequest<'_>, attempt: Result<Attempt, sqlx::Error>) -> Result<Attempt, StoreError> {
        match attempt {
            Ok(a) => Ok(a),
            Err(e) => match violated_constraint(&e).as_deref() {
                Some("events_stream_version_key") => Ok(Attempt::Mismatch(self.stream_version(req.stream).await?)),
                Some("events_event_id_key") => Err(StoreError::DuplicateEventIds),
                Some("entity_ids_pkey") => Ok(Attempt::EntityTaken),
                _ => Err(backend(e)),
            },
        }
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<u64, StoreError> {
        let v: Option<i64> = sqlx::query_scalar("SELECT max(stream_version) FROM events WHERE stream_id = $1")
            .bind(stream.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        Ok(v.map_or(0, to_u64))
    }

    /// Where the given events already are, when every one of them was appended
    /// to `stream` before: an idempotent re-append.
    async fn already_appended(&self, stream: &StreamId, events: &[NewEvent]) -> Result<Option<AppendResult>, StoreError> {
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        let rows = sqlx::query("SELECT stream_id, stream_version, position FROM events WHERE event_id = ANY($1)")
            .bind(&ids)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        if rows.is_empty() {
            return Ok(None);
        }
        let same_stream = rows.iter().all(|r| r.get::<String, _>("stream_id") == stream.as_str());
        if rows.len() != ids.len() || !same_stream {
            return Err(StoreError::DuplicateEventIds);
        }
        let last = rows.iter().max_by_key(|r| r.get::<i64, _>("position"));
        Ok(last.map(|r| AppendResult { version: to_u64(r.get("stream_version")), position: r.get("position") }))
    }

    async fn append_events(&self, req: AppendRequest<'_>) -> Result<AppendResult, StoreError> {
        if req.events.is_empty() || req.events.len() > MAX_EVENTS_PER_APPEND {
            return Err(StoreError::BadBatch(req.events.len()));
        }
        check_storable(&req.events)?;
        for _ in 0..ANY_RETRIES {
            let outcome = match self.append_once(&req).await {
                Err(StoreError::DuplicateEventIds) => Attempt::Mismatch(self.stream_version(req.stream).await?),
                other => other?,
            };
            match outcome {
                Attempt::Done(result) => {
                    self.notifier.appended(result.position);
                    return Ok(result);
                }
                Attempt::Stale => {
                    if let Some(done) = self.already_appended(req.stream, &req.events).await? {
                        return Ok(done);
                    }
                    return Err(StoreError::StaleGuard);
                }
                Attempt::EntityTaken => {
                    if let Some(done) = self.already_appended(req.stream, &req.events).await? {
                        return Ok(done);
                    }
                    return Err(StoreError::EntityIdTaken);
                }
                Attempt::Mismatch(actual) => {
                    if let Some(done) = self.already_appended(req.stream, &req.events).await? {
                        return Ok(done);
                    }
                    if req.expected != ExpectedVersion::Any {
                        return Err(StoreError::WrongExpectedVersion { stream: req.stream.clone(), expected: req.expected, actual });
                    }
                }
            }
        }
        let actual = self.stream_version(req.stream).await?;
        Err(StoreError::WrongExpectedVersion { stream: req.stream.clone(), expected: req.expected, actual })
    }
}

/// The sub-entity ids a list of events creates, to be claimed with them.
pub(crate) fn claims(events: &[NewEvent]) -> Vec<Uuid> {
    events.iter().flat_map(|e| e.event.created_entities()).collect()
}

/// Refuses, before anything is sent, events PostgreSQL could not store: text
/// and jsonb cannot hold U+0000. Checked per append, so one such append never
/// fails a batch it would have shared with others.
fn check_storable(events: &[NewEvent]) -> Result<(), StoreError> {
    for e in events {
        if let Some(field) = sunday_domain::text::nul_path(&e.event.payload(), "") {
            return Err(StoreError::Unstorable { field });
        }
        let metadata = serde_json::to_value(&e.metadata).unwrap_or_default();
        if let Some(field) = sunday_domain::text::nul_path(&metadata, "metadata") {
            return Err(StoreError::Unstorable { field });
        }
    }
    Ok(())
}

pub(crate) type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds the eight per-event arrays of an insert, in order.
pub(crate) fn bind_events<'q>(q: PgQuery<'q>, events: &[&NewEvent]) -> PgQuery<'q> {
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    let types: Vec<&'static str> = events.iter().map(|e| e.event.event_type()).collect();
    let versions: Vec<i16> = events.iter().map(|e| i16::try_from(e.event.schema_version()).unwrap_or(i16::MAX)).collect();
    let times: Vec<_> = events.iter().map(|e| e.occurred_at).collect();
    let workspaces: Vec<Option<Uuid>> = events.iter().map(|e| e.workspace_id).collect();
    let boards: Vec<Option<Uuid>> = events.iter().map(|e| e.board_id).collect();
    let data: Vec<serde_json::Value> = events.iter().map(|e| e.event.payload()).collect();
    let meta: Vec<serde_json::Value> = events.iter().map(|e| serde_json::to_value(&e.metadata).unwrap_or_default()).collect();
    q.bind(ids).bind(types).bind(versions).bind(times).bind(workspaces).bind(boards).bind(data).bind(meta)
}

fn bind_key<'q>(q: PgQuery<'q>, key: &'q IdempotencyRecord, result: AppendResult) -> PgQuery<'q> {
    q.bind(key.user_id)
        .bind(&key.key)
        .bind(&key.request_hash)
        .bind(i16::try_from(key.status).unwrap_or(i16::MAX))
        .bind(key.aggregate_id)
        .bind(key.entity_id)
        .bind(to_i64(result.version))
        .bind(result.position)
}

pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or_default()
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn stored_key(row: &sqlx::postgres::PgRow) -> Result<StoredIdempotency, sqlx::Error> {
    Ok(StoredIdempotency {
        request_hash: row.try_get("request_hash")?,
        status: u16::try_from(row.try_get::<i16, _>("status")?).unwrap_or_default(),
        aggregate_id: row.try_get("aggregate_id")?,
        entity_id: row.try_get("entity_id")?,
        version: to_u64(row.try_get("version")?),
        position: row.try_get("position")?,
    })
}

#[async_trait]
impl EventStore for PgEventStore {
    async fn append(&self, request: AppendRequest<'_>) -> Result<AppendResult, StoreError> {
        use tracing::Instrument;
        let started = std::time::Instant::now();
        let span = tracing::debug_span!("append", stream = %request.stream, events = request.events.len());
        let result = self.append_events(request).instrument(span).await;
        sunday_runtime::stats::record_append(started.elapsed());
        result
    }

    async fn read_stream(&self, stream: &StreamId, after_version: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        sunday_runtime::stats::timed("read_stream", "events", self.stream_events(stream, after_version)).await
    }

    async fn read_all(&self, after: Position, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        sunday_runtime::stats::timed("read_all", "events", self.log_events(after, limit, crate::Horizon::Cluster)).await
    }

    async fn read_board(&self, board_id: Uuid, after: Position) -> Result<BoardEvents, StoreError> {
        sunday_runtime::stats::timed("read_board", "events", self.board_events(board_id, after)).await
    }

    async fn find_idempotency(&self, user_id: Uuid, key: &str) -> Result<Option<StoredIdempotency>, StoreError> {
        let row = sqlx::query(FIND_KEY).bind(user_id).bind(key).fetch_optional(&self.pool).await.map_err(backend)?;
        row.as_ref().map(stored_key).transpose().map_err(backend)
    }

    async fn record_idempotency(&self, record: &IdempotencyRecord, result: AppendResult) -> Result<Option<StoredIdempotency>, StoreError> {
        let done = bind_key(sqlx::query(RECORD_KEY), record, result).execute(&self.pool).await.map_err(backend)?;
        if done.rows_affected() == 1 {
            return Ok(None);
        }
        self.find_idempotency(record.user_id, &record.key).await
    }
}
