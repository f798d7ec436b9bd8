//! Group commit for appends: concurrent appends without an idempotency key are
//! collected and written by one statement in one transaction, so many commands
//! share a round trip, a commit and its WAL flush.
//!
//! A batch never holds two appends to the same stream, nor an append whose
//! guards read a stream another append of the batch writes: each append is
//! checked (expected version, guards, the sub-entity id it claims) exactly as
//! if it ran alone, and one that fails its checks fails alone. If the batch
//! statement fails as a whole (a race with another process on a stream, a
//! duplicate event id), every append in it is retried on its own. Appends that
//! claim more than one sub-entity id (a board created with its columns) are
//! written alone: a claim taken by someone else must not leave the others
//! claimed. Appends to streams that guard others (workspaces, boards) are
//! written alone too: a batch's transaction id comes from the first head it
//! locks, possibly before it waits for a guarded stream's head, while an
//! append to a guarded stream must take its id only once it holds that head
//! (see `APPEND`), or a guarded append it waited for could be logged after it.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{PgPool, Row};
use sunday_domain::store::{AppendRequest, AppendResult, ExpectedVersion, MAX_EVENTS_PER_APPEND, NewEvent, StreamId};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::append::{Attempt, PgQuery, bind_events, to_i64, to_u64};

/// Statements writing batches at the same time.
const WRITERS: usize = 4;
/// Appends waiting for a writer before submitters fall back to writing alone.
const QUEUE: usize = 4096;

const APPEND_BATCH: &str = r#"
WITH own AS MATERIALIZED (
    SELECT stream_id, version FROM stream_heads WHERE stream_id = ANY($2::text[])
    ORDER BY stream_id FOR UPDATE
), held AS MATERIALIZED (
    SELECT h.stream_id, h.version FROM stream_heads h
    WHERE h.stream_id = ANY($5::text[]) AND (SELECT count(*) FROM own) >= 0
    ORDER BY h.stream_id FOR SHARE
), req AS (
    SELECT r.req, r.stream_id, r.expected,
           coalesce((SELECT own.version FROM own WHERE own.stream_id = r.stream_id), 0) AS current
    FROM unnest($1::int[], $2::text[], $3::bigint[]) AS r(req, stream_id, expected)
), stale AS (
    SELECT DISTINCT g.req FROM unnest($4::int[], $5::text[], $6::bigint[]) AS g(req, stream_id, version)
    WHERE coalesce((SELECT h.version FROM held h WHERE h.stream_id = g.stream_id), 0) <> g.version
), fits AS (
    SELECT req.* FROM req
    WHERE req.req NOT IN (SELECT stale.req FROM stale) AND (req.expected < 0 OR req.current = req.expected)
), wanted AS (
    SELECT c.req, c.entity_id, fits.stream_id FROM unnest($17::int[], $18::uuid[]) AS c(req, entity_id)
    JOIN fits ON fits.req = c.req
), claimed AS (
    INSERT INTO entity_ids (entity_id, stream_id) SELECT entity_id, stream_id FROM wanted
    ON CONFLICT DO NOTHING
    RETURNING entity_id, stream_id
), taken AS (
    SELECT wanted.req FROM wanted
    WHERE NOT EXISTS (SELECT 1 FROM claimed c WHERE c.entity_id = wanted.entity_id AND c.stream_id = wanted.stream_id)
), ok AS (
    SELECT fits.* FROM fits WHERE fits.req NOT IN (SELECT taken.req FROM taken)
), ins AS (
    INSERT INTO events (position, event_id, stream_id, stream_version, event_type, schema_version,
                        occurred_at, workspace_id, board_id, data, metadata)
    SELECT ((SELECT sunday_xact_id()) << 10) + e.ord - 1, e.event_id, ok.stream_id, ok.current + e.seq,
           e.event_type, e.schema_version, e.occurred_at, e.workspace_id, e.board_id, e.data, e.metadata
    FROM unnest($7::int[], $8::int[], $9::uuid[], $10::text[], $11::smallint[], $12::timestamptz[], $13::uuid[],
                $14::uuid[], $15::jsonb[], $16::jsonb[])
         WITH ORDINALITY AS e(req, seq, event_id, event_type, schema_version, occurred_at, workspace_id,
                              board_id, data, metadata, ord)
    JOIN ok ON ok.req = e.req
    RETURNING stream_id, stream_version, position
), head AS (
    INSERT INTO stream_heads (stream_id, version)
    SELECT stream_id, max(stream_version) FROM ins GROUP BY stream_id
    ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version
)
SELECT req.req, req.current, req.req IN (SELECT stale.req FROM stale) AS stale,
       req.req IN (SELECT taken.req FROM taken) AS taken,
       (SELECT max(i.position) FROM ins i WHERE i.stream_id = req.stream_id) AS position,
       (SELECT max(i.stream_version) FROM ins i WHERE i.stream_id = req.stream_id) AS version
FROM req
"#;

/// One append waiting for a batch.
struct Job {
    stream: StreamId,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    guards: Vec<(StreamId, u64)>,
    /// The sub-entity id the events create, if any (at most one in a batch).
    claim: Option<uuid::Uuid>,
    /// `None`: write it alone.
    reply: oneshot::Sender<Option<Attempt>>,
}

/// How group commit went: batches written, and batches that failed as a
/// whole (their appends were then written one by one).
#[derive(Debug, Default)]
pub struct BatchCounts {
    pub batches: AtomicU64,
    pub fallbacks: AtomicU64,
}

/// Hands appends to the batch writers.
pub(crate) struct Batcher {
    queue: mpsc::Sender<Job>,
    pub(crate) counts: Arc<BatchCounts>,
}

impl Batcher {
    pub(crate) fn start(pool: PgPool) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let counts = Arc::new(BatchCounts::default());
        for _ in 0..WRITERS {
            tokio::spawn(write_batches(pool.clone(), rx.clone(), counts.clone()));
        }
        Self { queue, counts }
    }

    /// Appends through a batch. `None`: the caller must append on its own.
    pub(crate) async fn submit(&self, req: &AppendRequest<'_>) -> Option<Attempt> {
        let claims = crate::append::claims(&req.events);
        if claims.len() > 1 || req.stream.guards_others() {
            return None;
        }
        let (reply, answer) = oneshot::channel();
        let job = Job {
            stream: req.stream.clone(),
            expected: req.expected,
            events: req.events.clone(),
            guards: req.guards.clone(),
            claim: claims.first().copied(),
            reply,
        };
        self.queue.try_send(job).ok()?;
        answer.await.ok().flatten()
    }
}

/// Takes every waiting append (up to what a batch holds) and writes them.
/// Appends deferred from one batch go first into the next; a writer holding
/// some never waits for the queue (another writer may be asleep on it).
async fn write_batches(pool: PgPool, rx: Arc<Mutex<mpsc::Receiver<Job>>>, counts: Arc<BatchCounts>) {
    let mut carried: Vec<Job> = Vec::new();
    loop {
        let mut jobs = std::mem::take(&mut carried);
        if jobs.is_empty() {
            let mut rx = rx.lock().await;
            match rx.recv().await {
                Some(job) => jobs.push(job),
                None => return,
            }
            drain(&mut rx, &mut jobs);
        } else if let Ok(mut rx) = rx.try_lock() {
            drain(&mut rx, &mut jobs);
        }
        let (batch, rest) = split_batch(jobs);
        carried = rest;
        write(&pool, batch, &counts).await;
    }
}

fn drain(rx: &mut mpsc::Receiver<Job>, jobs: &mut Vec<Job>) {
    while jobs.len() < MAX_EVENTS_PER_APPEND {
        match rx.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
}

/// The largest prefix-wise conflict-free batch; the rest waits for the next one.
fn split_batch(jobs: Vec<Job>) -> (Vec<Job>, Vec<Job>) {
    let mut written: HashSet<StreamId> = HashSet::new();
    let mut read: HashSet<StreamId> = HashSet::new();
    let (mut batch, mut rest) = (Vec::new(), Vec::new());
    let mut events = 0;
    for job in jobs {
        let clashes = written.contains(&job.stream)
            || read.contains(&job.stream)
            || job.guards.iter().any(|(s, _)| written.contains(s))
            || events + job.events.len() > MAX_EVENTS_PER_APPEND;
        if clashes {
            rest.push(job);
            continue;
        }
        events += job.events.len();
        written.insert(job.stream.clone());
        read.extend(job.guards.iter().map(|(s, _)| s.clone()));
        batch.push(job);
    }
    (batch, rest)
}

async fn write(pool: &PgPool, jobs: Vec<Job>, counts: &BatchCounts) {
    if jobs.is_empty() {
        return;
    }
    counts.batches.fetch_add(1, Ordering::Relaxed);
    match run_batch(pool, &jobs).await {
        Ok(mut attempts) => {
            for (i, job) in jobs.into_iter().enumerate() {
                let _ = job.reply.send(attempts.get_mut(i).and_then(Option::take));
            }
        }
        Err(e) => {
            counts.fallbacks.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(error = %e, size = jobs.len(), "batch append failed; appending one by one");
            for job in jobs {
                let _ = job.reply.send(None);
            }
        }
    }
}

async fn run_batch(pool: &PgPool, jobs: &[Job]) -> Result<Vec<Option<Attempt>>, sqlx::Error> {
    let index = |i: usize| i32::try_from(i).unwrap_or(i32::MAX);
    let expected: Vec<i64> = jobs
        .iter()
        .map(|j| match j.expected {
            ExpectedVersion::Any => -1,
            ExpectedVersion::NoStream => 0,
            ExpectedVersion::Exact(v) => to_i64(v),
        })
        .collect();
    let (mut g_req, mut g_stream, mut g_version) = (Vec::new(), Vec::new(), Vec::new());
    let (mut e_req, mut e_seq, mut events) = (Vec::new(), Vec::new(), Vec::new());
    let (mut c_req, mut c_id) = (Vec::new(), Vec::new());
    for (i, job) in jobs.iter().enumerate() {
        if let Some(id) = job.claim {
            c_req.push(index(i));
            c_id.push(id);
        }
        for (s, v) in &job.guards {
            g_req.push(index(i));
            g_stream.push(s.as_str());
            g_version.push(to_i64(*v));
        }
        for (n, e) in job.events.iter().enumerate() {
            e_req.push(index(i));
            e_seq.push(index(n + 1));
            events.push(e);
        }
    }
    let query: PgQuery<'_> = sqlx::query(APPEND_BATCH)
        .bind((0..jobs.len()).map(index).collect::<Vec<i32>>())
        .bind(jobs.iter().map(|j| j.stream.as_str()).collect::<Vec<&str>>())
        .bind(expected)
        .bind(g_req)
        .bind(g_stream)
        .bind(g_version)
        .bind(e_req)
        .bind(e_seq);
    let query = bind_events(query, &events).bind(c_req).bind(c_id);
    let rows = sunday_runtime::stats::timed("append_batch", "events", query.fetch_all(pool)).await?;
    let mut attempts: Vec<Option<Attempt>> = (0..jobs.len()).map(|_| None).collect();
    for row in rows {
        let i = usize::try_from(row.try_get::<i32, _>("req")?).unwrap_or(usize::MAX);
        let position: Option<i64> = row.try_get("position")?;
        let version: Option<i64> = row.try_get("version")?;
        let attempt = match (position, version) {
            (Some(position), Some(version)) => Attempt::Done(AppendResult { version: to_u64(version), position }),
            _ if row.try_get::<bool, _>("stale")? => Attempt::Stale,
            _ if row.try_get::<bool, _>("taken")? => Attempt::EntityTaken,
            _ => Attempt::Mismatch(to_u64(row.try_get("current")?)),
        };
        if let Some(slot) = attempts.get_mut(i) {
            *slot = Some(attempt);
        }
    }
    Ok(attempts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(stream: &str, guards: &[&str], events: usize) -> Job {
        let event = NewEvent {
            event_id: uuid::Uuid::nil(),
            event: sunday_domain::DomainEvent::ItemDeleted(sunday_domain::events::ItemDeleted { item_id: uuid::Uuid::nil() }),
            occurred_at: chrono::Utc::now(),
            workspace_id: None,
            board_id: None,
            metadata: Default::default(),
        };
        Job {
            stream: StreamId::from_stored(stream.into()),
            expected: ExpectedVersion::Any,
            events: vec![event; events],
            guards: guards.iter().map(|g| (StreamId::from_stored((*g).into()), 1)).collect(),
            claim: None,
            reply: oneshot::channel().0,
        }
    }

    fn streams(jobs: &[Job]) -> Vec<&str> {
        jobs.iter().map(|j| j.stream.as_str()).collect()
    }

    #[test]
    fn a_batch_writes_each_stream_once() {
        let (batch, rest) = split_batch(vec![job("a", &[], 1), job("b", &[], 1), job("a", &[], 1)]);
        assert_eq!((streams(&batch), streams(&rest)), (vec!["a", "b"], vec!["a"]));
    }

    #[test]
    fn a_batch_never_reads_what_it_writes() {
        let (batch, rest) = split_batch(vec![job("item-1", &["board-1"], 1), job("board-1", &[], 1), job("item-2", &["board-1"], 1)]);
        assert_eq!((streams(&batch), streams(&rest)), (vec!["item-1", "item-2"], vec!["board-1"]));
        let (batch, rest) = split_batch(vec![job("board-1", &[], 1), job("item-1", &["board-1"], 1)]);
        assert_eq!((streams(&batch), streams(&rest)), (vec!["board-1"], vec!["item-1"]));
    }

    #[test]
    fn a_batch_holds_at_most_the_events_one_append_may() {
        let (batch, rest) = split_batch(vec![job("a", &[], 1000), job("b", &[], 30), job("c", &[], 24)]);
        assert_eq!((streams(&batch), streams(&rest)), (vec!["a", "c"], vec!["b"]));
    }
}
