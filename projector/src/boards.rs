//! The boards, their columns and groups (`rm_boards`, `rm_columns`,
//! `rm_groups`), and the board-stream changes to a board row the other read
//! models make (`Change`).

use serde_json::Value;
use sunday_domain::DomainEvent as E;
use sunday_domain::events::*;
use sunday_domain::store::RecordedEvent;
use uuid::Uuid;

use crate::outcome::{R, Tx, expect_rows, missing, version};
use crate::stats;

/// Applies an event of a board's own stream that is not about its members;
/// other events change nothing here.
pub(crate) async fn apply(tx: &mut Tx, e: &RecordedEvent) -> R {
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
        E::BoardArchived(a) => touch(tx, e, a.board_id, Change::Archived).await,
        E::ColumnAdded(a) => column_added(tx, e, a).await,
        E::ColumnUpdated(u) => column_updated(tx, e, u).await,
        E::ColumnRemoved(r) => column_removed(tx, e, r).await,
        E::GroupAdded(g) => {
            insert_group(tx, g.board_id, &g.group, None).await?;
            touch(tx, e, g.board_id, Change::Version).await
        }
        _ => Ok(()),
    }
}

/// What an event of a board's stream changes in its row, besides its
/// version and update time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// Nothing else.
    Version,
    Archived,
    /// The member count moves by this much.
    Members(i32),
}

/// Moves a board's version and update time after an event of its own stream,
/// with the event's `change` (one statement for every kind of change).
pub(crate) async fn touch(tx: &mut Tx, e: &RecordedEvent, board: Uuid, change: Change) -> R {
    let (archived, members) = match change {
        Change::Version => (false, 0),
        Change::Archived => (true, 0),
        Change::Members(d) => (false, d),
    };
    let done = sqlx::query(
        "UPDATE rm_boards SET updated_at = $2, version = $3, archived = archived OR $4, member_count = member_count + $5 \
         WHERE board_id = $1",
    )
    .bind(board)
    .bind(e.occurred_at)
    .bind(version(e))
    .bind(archived)
    .bind(members)
    .execute(&mut *tx)
    .await?;
    expect_rows(done.rows_affected(), 1, e, "rm_boards")
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
    touch(tx, e, a.board_id, Change::Version).await
}

async fn column_updated(tx: &mut Tx, e: &RecordedEvent, u: &ColumnUpdated) -> R {
    let done = sqlx::query(
        "UPDATE rm_columns SET title = coalesce($3, title), settings = coalesce($4, settings) WHERE board_id = $1 AND column_id = $2",
    )
    .bind(u.board_id)
    .bind(u.column_id)
    .bind(&u.title)
    .bind(u.settings.clone().map(Value::Object))
    .execute(&mut *tx)
    .await?;
    expect_rows(done.rows_affected(), 1, e, "rm_columns")?;
    touch(tx, e, u.board_id, Change::Version).await
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
    stats::recompute(tx, r.board_id, e).await?;
    touch(tx, e, r.board_id, Change::Version).await
}
