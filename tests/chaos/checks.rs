//! What must hold after every fault: every acknowledged command is in the
//! log exactly once, every watcher saw every event of its board exactly once
//! and in order, and the read models equal a rebuild from the log
//! (`sunday_testkit::read_models::checksums`).

use std::collections::HashMap;
use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use crate::sockets::Watcher;
use crate::writers::Ledger;

/// Differences from what must hold; all zero when it held.
#[derive(Debug, Default)]
pub(crate) struct Verdict {
    pub(crate) lost: usize,
    pub(crate) duplicated: usize,
    /// Events a watcher never got, or got twice or out of order.
    pub(crate) socket_gaps: usize,
    pub(crate) socket_duplicates: usize,
    pub(crate) read_models_differ: bool,
}

impl Verdict {
    pub(crate) fn clean(&self) -> bool {
        self.lost + self.duplicated + self.socket_gaps + self.socket_duplicates == 0 && !self.read_models_differ
    }
}

/// Acknowledged creates and renames against the log.
pub(crate) async fn log_against(pool: &PgPool, ledger: &Ledger, verdict: &mut Verdict) {
    let created = ledger.created().into_iter().map(|id| (id, 1));
    tally(created, &per_item(pool, "ItemCreated").await, verdict);
    tally(ledger.renamed().into_iter(), &per_item(pool, "ItemUpdated").await, verdict);
}

/// How many events of `event_type` the log holds per item.
async fn per_item(pool: &PgPool, event_type: &str) -> HashMap<Uuid, u64> {
    let rows: Vec<(Uuid, i64)> = sqlx::query_as("SELECT (data->>'itemId')::uuid, count(*) FROM events WHERE event_type = $1 GROUP BY 1")
        .bind(event_type)
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    rows.into_iter().map(|(id, n)| (id, u64::try_from(n).unwrap_or(0))).collect()
}

/// Counts what was acknowledged and is missing, and what is logged more
/// often than acknowledged.
fn tally(acknowledged: impl Iterator<Item = (Uuid, u64)>, logged: &HashMap<Uuid, u64>, verdict: &mut Verdict) {
    for (id, acked) in acknowledged {
        let logged = logged.get(&id).copied().unwrap_or(0);
        verdict.lost += usize::try_from(acked.saturating_sub(logged)).unwrap_or(0);
        verdict.duplicated += usize::try_from(logged.saturating_sub(acked)).unwrap_or(0);
    }
}

/// The positions of a board's events after `from`, in log order.
async fn board_events(pool: &PgPool, board: Uuid, from: i64) -> Vec<i64> {
    sqlx::query_scalar("SELECT position FROM events WHERE board_id = $1 AND position > $2 ORDER BY position")
        .bind(board)
        .bind(from)
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Waits (up to 30 s) for every watcher to reach its board's last event,
/// then holds what each saw against the log.
pub(crate) async fn sockets_against(pool: &PgPool, watchers: &[Watcher], verdict: &mut Verdict) {
    for w in watchers {
        let head: i64 = sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events WHERE board_id = $1")
            .bind(w.board)
            .fetch_one(pool)
            .await
            .unwrap_or(0);
        for _ in 0..300 {
            if w.last().is_some_and(|l| l >= head) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (from, seen, _) = w.snapshot();
        let Some(from) = from else {
            verdict.socket_gaps += board_events(pool, w.board, 0).await.len();
            continue;
        };
        let expected = board_events(pool, w.board, from).await;
        let mut distinct = seen.clone();
        distinct.dedup();
        verdict.socket_duplicates += seen.len() - distinct.len();
        if distinct != expected {
            let got: std::collections::BTreeSet<i64> = distinct.iter().copied().collect();
            let missing = expected.iter().filter(|p| !got.contains(p)).count();
            let out_of_order = usize::from(distinct.windows(2).any(|p| p[0] >= p[1]));
            verdict.socket_gaps += missing.max(out_of_order);
        }
    }
}

/// Waits until the projection's checkpoint is the log's last position.
pub(crate) async fn projected(pool: &PgPool) -> bool {
    for _ in 0..600 {
        let head: i64 = sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events").fetch_one(pool).await.unwrap_or(-1);
        let at: Option<i64> =
            sqlx::query_scalar("SELECT position FROM rm.projection_checkpoints").fetch_optional(pool).await.ok().flatten();
        if at == Some(head) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The live read models against a rebuild (`sunday projector rebuild`,
/// which swaps the rebuilt tables in once caught up).
pub(crate) async fn read_models_against_rebuild(pool: &PgPool, database_url: &str, verdict: &mut Verdict) {
    if !projected(pool).await {
        verdict.read_models_differ = true;
        return;
    }
    let live = sunday_testkit::read_models::checksums(pool).await;
    let rebuild = std::process::Command::new(env!("CARGO_BIN_EXE_sunday"))
        .args(["projector", "rebuild"])
        .env("DATABASE_URL", database_url)
        .env("SUNDAY_LOG", "warn")
        .stderr(std::process::Stdio::null())
        .status();
    assert!(rebuild.is_ok_and(|s| s.success()), "sunday projector rebuild");
    let rebuilt = sunday_testkit::read_models::checksums(pool).await;
    if live != rebuilt {
        let differ: Vec<_> = live.iter().zip(&rebuilt).filter(|(a, b)| a != b).map(|(a, _)| a.0.clone()).collect();
        eprintln!("read models differ from a rebuild in {differ:?}");
        verdict.read_models_differ = true;
    }
}
