//! The boards' statistics (`rm_board_stats`) and live item counts: what an
//! item counts, the change an event makes, summed per board over a batch and
//! written once at its end (or before an event that reads them), and the
//! recount from the items when a column goes.

use std::collections::HashMap;

use serde_json::Value;
use sunday_domain::store::RecordedEvent;
use uuid::Uuid;

use crate::outcome::{ApplyError, R, Tx, expect_rows};

/// The parts of an item the statistics count.
pub(crate) struct Counted {
    pub(crate) status: Option<String>,
    pub(crate) hours: f64,
    pub(crate) assignees: Vec<Uuid>,
}

pub(crate) fn counted(data: &Value) -> (Option<String>, f64) {
    let status = data.get("status").and_then(Value::as_str).map(str::to_owned);
    let hours = data.get("estimatedHours").and_then(Value::as_f64).unwrap_or(0.0);
    (status, hours)
}

/// A change to a board's statistics.
#[derive(Default)]
pub(crate) struct StatsDelta {
    pub(crate) items: i32,
    pub(crate) hours: f64,
    pub(crate) statuses: Vec<(String, i32)>,
    pub(crate) assignees: Vec<(String, i32)>,
}

impl StatsDelta {
    /// The difference between what an item counted before and after.
    pub(crate) fn between(before: Option<&Counted>, after: Option<&Counted>) -> Self {
        let mut d = Self::default();
        for (c, sign) in [(before, -1), (after, 1)] {
            let Some(c) = c else { continue };
            d.items += sign;
            d.hours += f64::from(sign) * c.hours;
            d.statuses.extend(c.status.iter().map(|s| (s.clone(), sign)));
            d.assignees.extend(c.assignees.iter().map(|a| (a.to_string(), sign)));
        }
        d
    }
}

/// One board's statistics changes, summed over a run of events.
#[derive(Default)]
struct BoardStats {
    items: i32,
    /// Each event's change of estimated hours, summed exactly (as numeric) by
    /// the database, so live and rebuilt totals agree whatever the batching.
    hours: Vec<f64>,
    statuses: HashMap<String, i32>,
    assignees: HashMap<String, i32>,
    at: Option<chrono::DateTime<chrono::Utc>>,
    /// The type and position of the last event summed here (for errors).
    last: Option<(&'static str, i64)>,
}

impl BoardStats {
    fn expect_rows(&self, done: u64, table: &'static str) -> R {
        if done == 1 {
            return Ok(());
        }
        let (event_type, position) = self.last.unwrap_or(("statistics", 0));
        Err(ApplyError::Unapplied { event_type, position, table })
    }
}

/// The statistics changes of a batch so far, by board.
#[derive(Default)]
pub(crate) struct Pending(HashMap<Uuid, BoardStats>);

impl Pending {
    /// Adds `delta`, made by `e`, to `board`'s pending change.
    pub(crate) fn add(&mut self, board: Uuid, delta: StatsDelta, e: &RecordedEvent) {
        let acc = self.0.entry(board).or_default();
        acc.items += delta.items;
        acc.hours.push(delta.hours);
        for (label, d) in delta.statuses {
            *acc.statuses.entry(label).or_default() += d;
        }
        for (user, d) in delta.assignees {
            *acc.assignees.entry(user).or_default() += d;
        }
        acc.at = Some(e.occurred_at);
        acc.last = Some((e.event.event_type(), e.position));
    }

    /// Writes every board's pending change.
    pub(crate) async fn flush(&mut self, tx: &mut Tx) -> R {
        for (board, acc) in std::mem::take(&mut self.0) {
            write(tx, board, acc).await?;
        }
        Ok(())
    }
}

/// Counters a change moves, as arrays bound to one constant statement
/// (labels with a zero change left out).
fn changed(counters: HashMap<String, i32>) -> (Vec<String>, Vec<i32>) {
    let mut moved: Vec<_> = counters.into_iter().filter(|(_, d)| *d != 0).collect();
    moved.sort();
    moved.into_iter().unzip()
}

/// `counters` (a JSON object of labels to counts) moved by the bound
/// labels and deltas; a count that reaches zero leaves the object, and
/// without labels to move the object stays as it is (not rebuilt).
macro_rules! bumped {
    ($counters:literal, $labels:literal, $deltas:literal) => {
        concat!(
            "CASE WHEN cardinality(",
            $labels,
            "::text[]) = 0 THEN ",
            $counters,
            " ELSE (SELECT coalesce(jsonb_object_agg(k, n), '{}'::jsonb) FROM (SELECT k, sum(n)::int AS n FROM (",
            "SELECT key AS k, value::int AS n FROM jsonb_each_text(",
            $counters,
            ") ",
            "UNION ALL SELECT * FROM unnest(",
            $labels,
            "::text[], ",
            $deltas,
            "::int[])) u GROUP BY k HAVING sum(n) > 0) x) END"
        )
    };
}

const WRITE: &str = concat!(
    "UPDATE rm_board_stats SET item_count = item_count + $2, ",
    "estimated_hours_total = estimated_hours_total + (SELECT coalesce(sum(h::numeric), 0) FROM unnest($3::float8[]) h), ",
    "updated_at = coalesce($4, updated_at), ",
    "by_status = ",
    bumped!("by_status", "$5", "$6"),
    ", ",
    "by_assignee = ",
    bumped!("by_assignee", "$7", "$8"),
    " ",
    "WHERE board_id = $1"
);

async fn write(tx: &mut Tx, board: Uuid, mut acc: BoardStats) -> R {
    let (statuses, status_deltas) = changed(std::mem::take(&mut acc.statuses));
    let (assignees, assignee_deltas) = changed(std::mem::take(&mut acc.assignees));
    let done = sqlx::query(WRITE)
        .bind(board)
        .bind(acc.items)
        .bind(&acc.hours)
        .bind(acc.at)
        .bind(&statuses)
        .bind(&status_deltas)
        .bind(&assignees)
        .bind(&assignee_deltas)
        .execute(&mut *tx)
        .await?;
    acc.expect_rows(done.rows_affected(), "rm_board_stats")?;
    if acc.items != 0 {
        acc.expect_rows(count_items(tx, board, acc.items).await?, "rm_boards")?;
    }
    Ok(())
}

/// Moves a board's live item count (item events do not change the board's version).
async fn count_items(tx: &mut Tx, board: Uuid, delta: i32) -> Result<u64, ApplyError> {
    let done = sqlx::query("UPDATE rm_boards SET item_count = item_count + $2 WHERE board_id = $1")
        .bind(board)
        .bind(delta)
        .execute(&mut *tx)
        .await?;
    Ok(done.rows_affected())
}

/// Rebuilds one board's statistics from its live items.
pub(crate) async fn recompute(tx: &mut Tx, board: Uuid, e: &RecordedEvent) -> R {
    let done = sqlx::query(
        "UPDATE rm_board_stats s SET item_count = agg.n, estimated_hours_total = agg.hours, \
           by_status = agg.by_status, by_assignee = agg.by_assignee, updated_at = $2 \
         FROM (SELECT count(*)::int AS n, coalesce(sum((item_data->>'estimatedHours')::float8::numeric), 0) AS hours, \
                 coalesce((SELECT jsonb_object_agg(st, c) FROM (SELECT item_data->>'status' st, count(*) c FROM rm_items \
                    WHERE board_id = $1 AND deleted_at IS NULL AND item_data ? 'status' GROUP BY 1) x), '{}') AS by_status, \
                 coalesce((SELECT jsonb_object_agg(a::text, c) FROM (SELECT unnest(assignees) a, count(*) c FROM rm_items \
                    WHERE board_id = $1 AND deleted_at IS NULL GROUP BY 1) y), '{}') AS by_assignee \
               FROM rm_items WHERE board_id = $1 AND deleted_at IS NULL) agg \
         WHERE s.board_id = $1",
    )
    .bind(board)
    .bind(e.occurred_at)
    .execute(&mut *tx)
    .await?;
    expect_rows(done.rows_affected(), 1, e, "rm_board_stats")
}
