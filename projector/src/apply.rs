//! How each event changes the read models. Every function runs inside the
//! batch's transaction; statements are keyed by workspace or board.
//!
//! An event is never dropped silently: a write that changes nothing it was
//! meant to (an update of a row that is not there, an insert of one that is)
//! fails the batch with `ApplyError::Unapplied` instead of moving on, since
//! the read models then disagree with the log.

use std::collections::HashMap;

use serde_json::{Value, json};
use sqlx::{PgConnection, Row};
use sunday_domain::DomainEvent as E;
use sunday_domain::events::*;
use sunday_domain::store::RecordedEvent;
use uuid::Uuid;

use crate::items::{ItemRow, Items};

type Tx = PgConnection;
type R = Result<(), ApplyError>;

/// Why an event could not be applied.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApplyError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A write of the event changed nothing it was meant to.
    #[error("{event_type} at position {position} changed nothing in {table}: the read models disagree with the log")]
    Unapplied { event_type: &'static str, position: i64, table: &'static str },
}

/// Fails unless a write of `e` to `table` changed exactly `wanted` rows.
fn expect_rows(done: u64, wanted: u64, e: &RecordedEvent, table: &'static str) -> R {
    if done == wanted {
        return Ok(());
    }
    Err(ApplyError::Unapplied { event_type: e.event.event_type(), position: e.position, table })
}

/// An insert that met an existing row (a unique key) did not apply the event.
fn duplicate_as_unapplied(err: ApplyError, e: &RecordedEvent) -> ApplyError {
    match &err {
        ApplyError::Database(db) if db.as_database_error().and_then(|d| d.code()).as_deref() == Some("23505") => {
            missing(e, "a read model that already holds the row it creates")
        }
        _ => err,
    }
}

/// The error for an event whose row is missing.
fn missing(e: &RecordedEvent, table: &'static str) -> ApplyError {
    ApplyError::Unapplied { event_type: e.event.event_type(), position: e.position, table }
}

/// Applies one event to the read models, and defers its activity entry.
/// Item events defer their statistics too; any other event first writes what
/// was deferred, since it may read or recompute it.
pub(crate) async fn apply(tx: &mut Tx, deferred: &mut Deferred, e: &RecordedEvent) -> R {
    let applied = if e.event.item_id().is_some() {
        apply_item_event(tx, deferred, e).await
    } else {
        match deferred.flush_stats(tx).await {
            Ok(()) => apply_other(tx, e).await,
            Err(err) => Err(err),
        }
    };
    applied.map_err(|err| duplicate_as_unapplied(err, e))?;
    if e.board_id.is_some() {
        deferred.activity.push(e.clone());
    }
    Ok(())
}

async fn apply_other(tx: &mut Tx, e: &RecordedEvent) -> R {
    match &e.event {
        E::WorkspaceCreated(c) => workspace_created(tx, e, c).await?,
        E::WorkspaceRenamed(r) => {
            let done = sqlx::query("UPDATE rm_workspaces SET name = $2, updated_at = $3, version = $4 WHERE workspace_id = $1")
                .bind(r.workspace_id)
                .bind(&r.name)
                .bind(e.occurred_at)
                .bind(version(e))
                .execute(&mut *tx)
                .await?;
            expect_rows(done.rows_affected(), 1, e, "rm_workspaces")?;
        }
        E::WorkspaceMemberAdded(m) => {
            sqlx::query(
                "INSERT INTO rm_workspace_members (workspace_id, user_id, role) VALUES ($1, $2, $3) \
                 ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = EXCLUDED.role",
            )
            .bind(m.workspace_id)
            .bind(m.user_id)
            .bind(m.role.as_str())
            .execute(&mut *tx)
            .await?;
        }
        E::WorkspaceMemberRemoved(m) => {
            let done = sqlx::query("DELETE FROM rm_workspace_members WHERE workspace_id = $1 AND user_id = $2")
                .bind(m.scope_id)
                .bind(m.user_id)
                .execute(&mut *tx)
                .await?;
            expect_rows(done.rows_affected(), 1, e, "rm_workspace_members")?;
        }
        E::UserProfileUpdated(u) => profile_updated(tx, e, u).await?,
        _ => apply_board_event(tx, e).await?,
    }
    Ok(())
}

fn version(e: &RecordedEvent) -> i64 {
    i64::try_from(e.stream_version).unwrap_or(i64::MAX)
}

async fn apply_board_event(tx: &mut Tx, e: &RecordedEvent) -> R {
    match &e.event {
        E::BoardCreated(c) => board_created(tx, e, c).await,
        E::BoardUpdated(u) => {
            let done = sqlx::query(
                "UPDATE rm_boards SET name = coalesce($2, name), description = coalesce($3, description), \
                 updated_at = $4, version = $5 WHERE board_id = $1",
            )
            .bind(u.board_id)
            .bind(&u.name)
            .bind(&u.description)
            .bind(e.occurred_at)
            .bind(version(e))
            .execute(&mut *tx)
            .await?;
            expect_rows(done.rows_affected(), 1, e, "rm_boards")
        }
        E::BoardArchived(a) => touch_board(tx, e, a.board_id, ", archived = true").await,
        E::ColumnAdded(a) => column_added(tx, e, a).await,
        E::ColumnUpdated(u) => column_updated(tx, e, u).await,
        E::ColumnRemoved(r) => column_removed(tx, e, r).await,
        E::GroupAdded(g) => {
            insert_group(tx, g.board_id, &g.group, None).await?;
            touch_board(tx, e, g.board_id, "").await
        }
        E::BoardMemberAdded(m) => board_member(tx, e, m, 1).await,
        E::BoardMemberRoleChanged(m) => board_member(tx, e, m, 0).await,
        E::BoardMemberRemoved(m) => {
            let gone = sqlx::query("DELETE FROM rm_board_members WHERE board_id = $1 AND user_id = $2")
                .bind(m.scope_id)
                .bind(m.user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            expect_rows(gone, 1, e, "rm_board_members")?;
            touch_board(tx, e, m.scope_id, ", member_count = member_count - 1").await
        }
        _ => Ok(()),
    }
}

async fn apply_item_event(tx: &mut Tx, deferred: &mut Deferred, e: &RecordedEvent) -> R {
    match &e.event {
        E::ItemCreated(c) => item_created(deferred, e, c).await,
        E::ItemUpdated(u) => item_updated(tx, deferred, e, u).await,
        E::ItemMoved(m) => item_moved(tx, deferred, e, m).await,
        E::ItemAssigned(a) => assignment(tx, deferred, e, a, 1).await,
        E::ItemUnassigned(a) => assignment(tx, deferred, e, a, -1).await,
        E::ItemDeleted(d) => item_deleted(tx, deferred, e, d).await,
        E::CommentAdded(c) => comment_added(tx, deferred, e, c).await,
        E::FileAttached(f) => file_attached(tx, deferred, e, f).await,
        _ => Ok(()),
    }
}

async fn workspace_created(tx: &mut Tx, e: &RecordedEvent, c: &WorkspaceCreated) -> R {
    sqlx::query(
        "INSERT INTO rm_workspaces (workspace_id, name, created_by, created_at, updated_at, version) \
         VALUES ($1, $2, $3, $4, $4, $5)",
    )
    .bind(c.workspace_id)
    .bind(&c.name)
    .bind(c.owner_id)
    .bind(e.occurred_at)
    .bind(version(e))
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO rm_workspace_members (workspace_id, user_id, role) VALUES ($1, $2, 'owner')")
        .bind(c.workspace_id)
        .bind(c.owner_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

async fn profile_updated(tx: &mut Tx, e: &RecordedEvent, u: &UserProfileUpdated) -> R {
    sqlx::query(
        "INSERT INTO rm_user_profiles (user_id, first_name, last_name, avatar, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (user_id) DO UPDATE SET first_name = coalesce($2, rm_user_profiles.first_name), \
         last_name = coalesce($3, rm_user_profiles.last_name), avatar = coalesce($4, rm_user_profiles.avatar), updated_at = $5",
    )
    .bind(u.user_id)
    .bind(&u.first_name)
    .bind(&u.last_name)
    .bind(&u.avatar)
    .bind(e.occurred_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn board_created(tx: &mut Tx, e: &RecordedEvent, c: &BoardCreated) -> R {
    sqlx::query(
        "INSERT INTO rm_boards (board_id, workspace_id, name, description, created_by, created_at, updated_at, version, member_count) \
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, 1)",
    )
    .bind(c.board_id)
    .bind(c.workspace_id)
    .bind(&c.name)
    .bind(&c.description)
    .bind(c.owner_id)
    .bind(e.occurred_at)
    .bind(version(e))
    .execute(&mut *tx)
    .await?;
    for (i, column) in c.columns.iter().enumerate() {
        insert_column(tx, c.board_id, column, Some(i)).await?;
    }
    for (i, group) in c.groups.iter().enumerate() {
        insert_group(tx, c.board_id, group, Some(i)).await?;
    }
    sqlx::query("INSERT INTO rm_board_members (board_id, user_id, role) VALUES ($1, $2, 'owner')")
        .bind(c.board_id)
        .bind(c.owner_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO rm_board_stats (board_id, workspace_id, updated_at) VALUES ($1, $2, $3)")
        .bind(c.board_id)
        .bind(c.workspace_id)
        .bind(e.occurred_at)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Moves a board's version and update time after an event of its own stream,
/// with `extra` changes (`, archived = true`).
async fn touch_board(tx: &mut Tx, e: &RecordedEvent, board: Uuid, extra: &str) -> R {
    let sql = format!("UPDATE rm_boards SET updated_at = $2, version = $3{extra} WHERE board_id = $1");
    let done = sqlx::query(&sql).bind(board).bind(e.occurred_at).bind(version(e)).execute(&mut *tx).await?;
    expect_rows(done.rows_affected(), 1, e, "rm_boards")
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

async fn insert_column(tx: &mut Tx, board: Uuid, c: &sunday_domain::columns::Column, ordinal: Option<usize>) -> R {
    sqlx::query(
        "INSERT INTO rm_columns (board_id, column_id, ordinal, key, title, type, settings) \
         VALUES ($1, $2, coalesce($3, (SELECT coalesce(max(ordinal) + 1, 0) FROM rm_columns WHERE board_id = $1)), $4, $5, $6, $7)",
    )
    .bind(board)
    .bind(c.id)
    .bind(ordinal.and_then(|o| i32::try_from(o).ok()))
    .bind(&c.key)
    .bind(&c.title)
    .bind(serde_json::to_value(c.column_type).ok().and_then(|v| v.as_str().map(str::to_owned)))
    .bind(Value::Object(c.settings.clone()))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn insert_group(tx: &mut Tx, board: Uuid, g: &Group, ordinal: Option<usize>) -> R {
    sqlx::query(
        "INSERT INTO rm_groups (board_id, group_id, ordinal, title, color) \
         VALUES ($1, $2, coalesce($3, (SELECT coalesce(max(ordinal) + 1, 0) FROM rm_groups WHERE board_id = $1)), $4, $5)",
    )
    .bind(board)
    .bind(g.id)
    .bind(ordinal.and_then(|o| i32::try_from(o).ok()))
    .bind(&g.title)
    .bind(&g.color)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn column_added(tx: &mut Tx, e: &RecordedEvent, a: &ColumnAdded) -> R {
    insert_column(tx, a.board_id, &a.column, None).await?;
    touch_board(tx, e, a.board_id, "").await
}

async fn column_updated(tx: &mut Tx, e: &RecordedEvent, u: &ColumnUpdated) -> R {
    let done = sqlx::query("UPDATE rm_columns SET title = coalesce($3, title), settings = coalesce($4, settings) WHERE board_id = $1 AND column_id = $2")
        .bind(u.board_id)
        .bind(u.column_id)
        .bind(&u.title)
        .bind(u.settings.clone().map(Value::Object))
        .execute(&mut *tx)
        .await?;
    expect_rows(done.rows_affected(), 1, e, "rm_columns")?;
    touch_board(tx, e, u.board_id, "").await
}

/// Removes a column, its values from the board's items, and recomputes the
/// board's statistics (a removed `status` or `estimatedHours` changes them).
async fn column_removed(tx: &mut Tx, e: &RecordedEvent, r: &ColumnRemoved) -> R {
    let key: Option<String> = sqlx::query_scalar("DELETE FROM rm_columns WHERE board_id = $1 AND column_id = $2 RETURNING key")
        .bind(r.board_id)
        .bind(r.column_id)
        .fetch_optional(&mut *tx)
        .await?;
    let key = key.ok_or_else(|| missing(e, "rm_columns"))?;
    sqlx::query(
        "UPDATE rm_items SET item_data = item_data - $3 \
         WHERE workspace_id = $2 AND board_id = $1 AND item_data ? $3",
    )
    .bind(r.board_id)
    .bind(e.workspace_id.unwrap_or_default())
    .bind(&key)
    .execute(&mut *tx)
    .await?;
    recompute_stats(tx, r.board_id, e).await?;
    touch_board(tx, e, r.board_id, "").await
}

async fn board_member(tx: &mut Tx, e: &RecordedEvent, m: &BoardMemberAdded, count_delta: i32) -> R {
    let inserted = sqlx::query(
        "INSERT INTO rm_board_members (board_id, user_id, role) VALUES ($1, $2, $3) \
         ON CONFLICT (board_id, user_id) DO UPDATE SET role = EXCLUDED.role RETURNING (xmax = 0) AS inserted",
    )
    .bind(m.board_id)
    .bind(m.user_id)
    .bind(m.role.as_str())
    .fetch_one(&mut *tx)
    .await?
    .get::<bool, _>("inserted");
    let delta = if inserted { count_delta.max(1) } else { 0 };
    touch_board(tx, e, m.board_id, &format!(", member_count = member_count + {delta}")).await
}

/// The parts of an item the statistics count.
struct Counted {
    status: Option<String>,
    hours: f64,
    assignees: Vec<Uuid>,
}

fn counted(data: &Value) -> (Option<String>, f64) {
    let status = data.get("status").and_then(Value::as_str).map(str::to_owned);
    let hours = data.get("estimatedHours").and_then(Value::as_f64).unwrap_or(0.0);
    (status, hours)
}

/// A change to a board's statistics.
#[derive(Default)]
struct StatsDelta {
    items: i32,
    hours: f64,
    statuses: Vec<(String, i32)>,
    assignees: Vec<(String, i32)>,
}

impl StatsDelta {
    /// The difference between what an item counted before and after.
    fn between(before: Option<&Counted>, after: Option<&Counted>) -> Self {
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

    /// Defers this change to the end of the batch.
    fn defer(self, deferred: &mut Deferred, board: Uuid, e: &RecordedEvent) {
        let acc = deferred.stats.entry(board).or_default();
        acc.items += self.items;
        acc.hours.push(self.hours);
        for (label, d) in self.statuses {
            *acc.statuses.entry(label).or_default() += d;
        }
        for (user, d) in self.assignees {
            *acc.assignees.entry(user).or_default() += d;
        }
        acc.at = Some(e.occurred_at);
        acc.last = Some((e.event.event_type(), e.position));
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

/// Writes that wait for the end of a batch (or for an event that reads
/// them): statistics, live item counts and activity entries. Item events are
/// the bulk of the log; this saves them a round trip or two each.
#[derive(Default)]
pub(crate) struct Deferred {
    items: Items,
    stats: HashMap<Uuid, BoardStats>,
    activity: Vec<RecordedEvent>,
}

impl Deferred {
    /// Writes the batch's items so far, the summed statistics and item counts.
    pub(crate) async fn flush_stats(&mut self, tx: &mut Tx) -> R {
        self.items.flush(tx).await?;
        for (board, acc) in std::mem::take(&mut self.stats) {
            write_stats(tx, board, acc).await?;
        }
        Ok(())
    }

    /// Writes everything deferred.
    pub(crate) async fn flush(&mut self, tx: &mut Tx) -> R {
        self.flush_stats(tx).await?;
        let events = std::mem::take(&mut self.activity);
        insert_activity(tx, &events).await
    }
}

async fn write_stats(tx: &mut Tx, board: Uuid, mut acc: BoardStats) -> R {
    let mut by_status = "by_status".to_owned();
    let mut by_assignee = "by_assignee".to_owned();
    let mut labels: Vec<String> = Vec::new();
    let mut sorted_statuses: Vec<_> = std::mem::take(&mut acc.statuses).into_iter().filter(|(_, d)| *d != 0).collect();
    sorted_statuses.sort();
    let mut sorted_assignees: Vec<_> = std::mem::take(&mut acc.assignees).into_iter().filter(|(_, d)| *d != 0).collect();
    sorted_assignees.sort();
    for (label, d) in sorted_statuses {
        labels.push(label);
        by_status = format!("rm_bump({by_status}, ${}, {d})", labels.len() + 4);
    }
    for (user, d) in sorted_assignees {
        labels.push(user);
        by_assignee = format!("rm_bump({by_assignee}, ${}, {d})", labels.len() + 4);
    }
    let sql = format!(
        "UPDATE rm_board_stats SET item_count = item_count + $2, \
         estimated_hours_total = estimated_hours_total + (SELECT coalesce(sum(h::numeric), 0) FROM unnest($3::float8[]) h), \
         updated_at = coalesce($4, updated_at), by_status = {by_status}, by_assignee = {by_assignee} WHERE board_id = $1"
    );
    let mut q = sqlx::query(&sql).bind(board).bind(acc.items).bind(&acc.hours).bind(acc.at);
    for label in &labels {
        q = q.bind(label);
    }
    acc.expect_rows(q.execute(&mut *tx).await?.rows_affected(), "rm_board_stats")?;
    if acc.items != 0 {
        acc.expect_rows(count_items(tx, board, acc.items).await?, "rm_boards")?;
    }
    Ok(())
}

/// Rebuilds one board's statistics from its live items.
async fn recompute_stats(tx: &mut Tx, board: Uuid, e: &RecordedEvent) -> R {
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

async fn item_created(deferred: &mut Deferred, e: &RecordedEvent, c: &ItemCreated) -> R {
    let data = json!(c.item_data);
    let row = ItemRow {
        workspace_id: e.workspace_id.unwrap_or_default(),
        item_id: c.item_id,
        board_id: c.board_id,
        group_id: c.group_id,
        name: c.name.clone(),
        description: c.description.clone(),
        item_data: data.clone(),
        rank: c.rank.clone(),
        assignees: Vec::new(),
        created_by: e.metadata.actor_id,
        created_at: e.occurred_at,
        updated_at: e.occurred_at,
        version: version(e),
        deleted_at: None,
    };
    if !deferred.items.create(row) {
        return Err(missing(e, "rm_items"));
    }
    let (status, hours) = counted(&data);
    StatsDelta::between(None, Some(&Counted { status, hours, assignees: Vec::new() })).defer(deferred, c.board_id, e);
    Ok(())
}

/// What an item row counts in its board's statistics.
fn counted_row(row: &ItemRow) -> Counted {
    let (status, hours) = counted(&row.item_data);
    Counted { status, hours, assignees: row.assignees.clone() }
}

/// Moves an item's version and update time to the event's.
fn touch(row: &mut ItemRow, e: &RecordedEvent) {
    row.updated_at = e.occurred_at;
    row.version = version(e);
}

async fn item_updated(tx: &mut Tx, deferred: &mut Deferred, e: &RecordedEvent, u: &ItemUpdated) -> R {
    let workspace = e.workspace_id.unwrap_or_default();
    let row = deferred.items.live(tx, workspace, u.item_id).await?.ok_or_else(|| missing(e, "rm_items"))?;
    let before = counted_row(row);
    if let Value::Object(map) = &mut row.item_data {
        for (k, v) in &u.item_data {
            if v.is_null() {
                map.remove(k);
            } else {
                map.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(n) = &u.name {
        row.name.clone_from(n);
    }
    if let Some(d) = &u.description {
        row.description = Some(d.clone());
    }
    touch(row, e);
    let after = counted_row(row);
    if after.status != before.status || after.hours != before.hours {
        let strip = |c: &Counted| Counted { status: c.status.clone(), hours: c.hours, assignees: Vec::new() };
        StatsDelta::between(Some(&strip(&before)), Some(&strip(&after))).defer(deferred, e.board_id.unwrap_or_default(), e);
    }
    Ok(())
}

async fn item_moved(tx: &mut Tx, deferred: &mut Deferred, e: &RecordedEvent, m: &ItemMoved) -> R {
    let row = deferred.items.get(tx, e.workspace_id.unwrap_or_default(), m.item_id).await?.ok_or_else(|| missing(e, "rm_items"))?;
    row.group_id = m.group_id;
    row.rank.clone_from(&m.rank);
    touch(row, e);
    Ok(())
}

async fn assignment(tx: &mut Tx, deferred: &mut Deferred, e: &RecordedEvent, a: &ItemAssignment, sign: i32) -> R {
    let workspace = e.workspace_id.unwrap_or_default();
    let row = deferred.items.live(tx, workspace, a.item_id).await?.ok_or_else(|| missing(e, "rm_items"))?;
    let has = row.assignees.contains(&a.user_id);
    if (sign > 0) == has {
        // The log only assigns someone absent and unassigns someone present.
        return Err(missing(e, "rm_items.assignees"));
    }
    if sign > 0 {
        row.assignees.push(a.user_id);
    } else {
        row.assignees.retain(|u| *u != a.user_id);
    }
    touch(row, e);
    let delta = StatsDelta { assignees: vec![(a.user_id.to_string(), sign)], ..StatsDelta::default() };
    delta.defer(deferred, e.board_id.unwrap_or_default(), e);
    Ok(())
}

async fn item_deleted(tx: &mut Tx, deferred: &mut Deferred, e: &RecordedEvent, d: &ItemDeleted) -> R {
    let workspace = e.workspace_id.unwrap_or_default();
    let row = deferred.items.live(tx, workspace, d.item_id).await?.ok_or_else(|| missing(e, "rm_items"))?;
    let before = counted_row(row);
    row.deleted_at = Some(e.occurred_at);
    touch(row, e);
    StatsDelta::between(Some(&before), None).defer(deferred, e.board_id.unwrap_or_default(), e);
    Ok(())
}

/// Moves the version and update time of the item a comment or file joined.
async fn touch_item(tx: &mut Tx, deferred: &mut Deferred, e: &RecordedEvent, item: Uuid) -> R {
    let row = deferred.items.get(tx, e.workspace_id.unwrap_or_default(), item).await?.ok_or_else(|| missing(e, "rm_items"))?;
    touch(row, e);
    Ok(())
}

async fn comment_added(tx: &mut Tx, deferred: &mut Deferred, e: &RecordedEvent, c: &CommentAdded) -> R {
    sqlx::query(
        "INSERT INTO rm_comments (comment_id, workspace_id, board_id, item_id, body, author_id, created_at, position) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(c.comment_id)
    .bind(e.workspace_id.unwrap_or_default())
    .bind(e.board_id.unwrap_or_default())
    .bind(c.item_id)
    .bind(&c.body)
    .bind(e.metadata.actor_id)
    .bind(e.occurred_at)
    .bind(e.position)
    .execute(&mut *tx)
    .await?;
    touch_item(tx, deferred, e, c.item_id).await
}

async fn file_attached(tx: &mut Tx, deferred: &mut Deferred, e: &RecordedEvent, f: &FileAttached) -> R {
    sqlx::query(
        "INSERT INTO rm_files (file_id, workspace_id, board_id, item_id, name, content_type, size, uploaded_by, created_at, position) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(f.file_id)
    .bind(e.workspace_id.unwrap_or_default())
    .bind(e.board_id.unwrap_or_default())
    .bind(f.item_id)
    .bind(&f.name)
    .bind(&f.content_type)
    .bind(i64::try_from(f.size).unwrap_or(i64::MAX))
    .bind(e.metadata.actor_id)
    .bind(e.occurred_at)
    .bind(e.position)
    .execute(&mut *tx)
    .await?;
    touch_item(tx, deferred, e, f.item_id).await
}

/// `ItemCreated` becomes `item_created`.
fn action(event_type: &str) -> String {
    let mut out = String::with_capacity(event_type.len() + 4);
    for (i, ch) in event_type.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

/// Inserts the activity entries of a batch's board events, in one statement.
async fn insert_activity(tx: &mut Tx, events: &[RecordedEvent]) -> R {
    if events.is_empty() {
        return Ok(());
    }
    let subjects: Vec<(&str, Uuid)> = events.iter().map(|e| e.event.subject()).map(|(kind, id)| (kind.as_str(), id)).collect();
    sqlx::query(
        "INSERT INTO rm_activity_log (id, workspace_id, board_id, item_id, action, entity_type, entity_id, user_id, created_at, position, details) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::uuid[], $8::uuid[], \
                              $9::timestamptz[], $10::bigint[], $11::jsonb[])",
    )
    .bind(events.iter().map(|e| e.event_id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.workspace_id.unwrap_or_default()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.board_id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.event.item_id()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| action(e.event.event_type())).collect::<Vec<_>>())
    .bind(subjects.iter().map(|(kind, _)| *kind).collect::<Vec<_>>())
    .bind(subjects.iter().map(|(_, id)| *id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.metadata.actor_id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.position).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.event.payload()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}
