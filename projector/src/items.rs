//! The items a batch touches, folded in memory: each is read at most once per
//! batch and written back once, with one statement for all new items and one
//! for all changed ones.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

/// An item row of `rm_items`.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct ItemRow {
    pub(crate) workspace_id: Uuid,
    pub(crate) item_id: Uuid,
    pub(crate) board_id: Uuid,
    pub(crate) group_id: Uuid,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) item_data: Value,
    pub(crate) rank: String,
    pub(crate) assignees: Vec<Uuid>,
    pub(crate) created_by: Uuid,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) version: i64,
    pub(crate) deleted_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Clean,
    Changed,
    New,
}

/// The batch's items by (workspace, item).
#[derive(Default)]
pub(crate) struct Items {
    rows: HashMap<(Uuid, Uuid), (ItemRow, State)>,
}

const COLUMNS: &str = "workspace_id, item_id, board_id, group_id, name, description, item_data, rank, assignees, \
    created_by, created_at, updated_at, version, deleted_at";

impl Items {
    /// The item, read from the database on first use in this batch.
    pub(crate) async fn get(&mut self, tx: &mut PgConnection, workspace: Uuid, item: Uuid) -> Result<Option<&mut ItemRow>, sqlx::Error> {
        let (row, state) = match self.rows.entry((workspace, item)) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let sql = format!("SELECT {COLUMNS} FROM rm_items WHERE workspace_id = $1 AND item_id = $2");
                let row: Option<ItemRow> = sqlx::query_as(&sql).bind(workspace).bind(item).fetch_optional(&mut *tx).await?;
                let Some(row) = row else { return Ok(None) };
                v.insert((row, State::Clean))
            }
        };
        if *state == State::Clean {
            *state = State::Changed;
        }
        Ok(Some(row))
    }

    /// A live item (not deleted), as `get`.
    pub(crate) async fn live(&mut self, tx: &mut PgConnection, workspace: Uuid, item: Uuid) -> Result<Option<&mut ItemRow>, sqlx::Error> {
        Ok(self.get(tx, workspace, item).await?.filter(|r| r.deleted_at.is_none()))
    }

    /// Adds a created item; false when the batch has it already. An item is
    /// created once in the log and the checkpoint guarantees each event is
    /// applied once; the insert fails the batch if the row exists anyway.
    pub(crate) fn create(&mut self, row: ItemRow) -> bool {
        match self.rows.entry((row.workspace_id, row.item_id)) {
            Entry::Occupied(_) => false,
            Entry::Vacant(v) => {
                v.insert((row, State::New));
                true
            }
        }
    }

    /// Writes every new and changed item, and forgets them all. Fails if a
    /// changed item's row is gone (`Unapplied`).
    pub(crate) async fn flush(&mut self, tx: &mut PgConnection) -> Result<(), crate::outcome::ApplyError> {
        let rows = std::mem::take(&mut self.rows);
        let (new, changed): (Vec<_>, Vec<_>) = rows.into_values().filter(|(_, s)| *s != State::Clean).partition(|(_, s)| *s == State::New);
        let new: Vec<ItemRow> = new.into_iter().map(|(r, _)| r).collect();
        let changed: Vec<ItemRow> = changed.into_iter().map(|(r, _)| r).collect();
        if !new.is_empty() {
            let sql = format!("INSERT INTO rm_items ({COLUMNS}) SELECT {UNNEST}");
            bind_rows(sqlx::query(&sql), &new).execute(&mut *tx).await?;
        }
        if !changed.is_empty() {
            let sql = format!(
                "UPDATE rm_items i SET group_id = u.group_id, name = u.name, description = u.description, item_data = u.item_data, \
                   rank = u.rank, assignees = u.assignees, updated_at = u.updated_at, version = u.version, deleted_at = u.deleted_at \
                 FROM (SELECT {UNNEST}) u WHERE i.workspace_id = u.workspace_id AND i.item_id = u.item_id"
            );
            let done = bind_rows(sqlx::query(&sql), &changed).execute(&mut *tx).await?;
            if done.rows_affected() != changed.len() as u64 {
                return Err(crate::outcome::ApplyError::Unapplied { event_type: "item events", position: 0, table: "rm_items" });
            }
        }
        Ok(())
    }
}

/// Rows from fourteen parallel arrays (assignees travel as JSON arrays, since
/// SQL arrays of arrays must be rectangular).
const UNNEST: &str = "u.workspace_id, u.item_id, u.board_id, u.group_id, u.name, u.description, u.item_data, u.rank, \
    ARRAY(SELECT jsonb_array_elements_text(u.assignees)::uuid) AS assignees, u.created_by, u.created_at, u.updated_at, u.version, u.deleted_at \
    FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::jsonb[], $8::text[], $9::jsonb[], \
                $10::uuid[], $11::timestamptz[], $12::timestamptz[], $13::bigint[], $14::timestamptz[]) \
      AS u(workspace_id, item_id, board_id, group_id, name, description, item_data, rank, assignees, created_by, \
           created_at, updated_at, version, deleted_at)";

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

fn bind_rows<'q>(q: Query<'q>, rows: &[ItemRow]) -> Query<'q> {
    q.bind(rows.iter().map(|r| r.workspace_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.item_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.board_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.group_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.description.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.item_data.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.rank.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| json!(r.assignees)).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.created_by).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.updated_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.deleted_at).collect::<Vec<_>>())
}
