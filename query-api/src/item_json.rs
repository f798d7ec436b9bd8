//! Items as the API answers them, rendered in Rust from plain columns: much
//! cheaper than building JSON row by row in SQL.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sqlx::PgExecutor;
use uuid::Uuid;

/// The columns every item query selects, in this order.
pub(crate) const ITEM_COLUMNS: &str = "i.item_id, i.board_id, i.workspace_id, i.group_id, i.name, i.description, \
    i.item_data, i.rank, i.assignees, i.created_by, i.created_at, i.updated_at, i.version";

/// One item row.
#[derive(sqlx::FromRow)]
pub(crate) struct ItemRow {
    item_id: Uuid,
    pub(crate) board_id: Uuid,
    workspace_id: Uuid,
    group_id: Uuid,
    name: String,
    description: Option<String>,
    item_data: Value,
    pub(crate) rank: String,
    assignees: Vec<Uuid>,
    created_by: Uuid,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

/// RFC 3339 in UTC with microseconds, as every timestamp of the API.
pub(crate) fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// First name, last name and avatar (each null until the user sets it).
type Profile = (Option<String>, Option<String>, Option<String>);
type Profiles = HashMap<Uuid, Profile>;

/// The profiles of everyone assigned to these items, in one query.
pub(crate) async fn profiles<'c, E: PgExecutor<'c>>(db: E, rows: &[ItemRow]) -> Result<Profiles, sqlx::Error> {
    let ids: Vec<Uuid> = rows.iter().flat_map(|r| r.assignees.iter().copied()).collect();
    if ids.is_empty() {
        return Ok(Profiles::new());
    }
    #[allow(clippy::type_complexity)]
    let found: Vec<(Uuid, Option<String>, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT user_id, first_name, last_name, avatar FROM rm_user_profiles WHERE user_id = ANY($1)")
            .bind(ids)
            .fetch_all(db)
            .await?;
    Ok(found.into_iter().map(|(id, first, last, avatar)| (id, (first, last, avatar))).collect())
}

/// The item's JSON.
pub(crate) fn render(row: &ItemRow, profiles: &Profiles) -> Value {
    let assignees: Vec<Value> = row
        .assignees
        .iter()
        .map(|u| {
            let (first, last, avatar) = profiles.get(u).cloned().unwrap_or_default();
            json!({"userId": u, "firstName": first, "lastName": last, "avatar": avatar})
        })
        .collect();
    json!({
        "id": row.item_id, "boardId": row.board_id, "workspaceId": row.workspace_id, "groupId": row.group_id,
        "name": row.name, "description": row.description, "itemData": row.item_data, "rank": row.rank,
        "assignees": assignees, "createdAt": timestamp(row.created_at), "updatedAt": timestamp(row.updated_at),
        "createdBy": row.created_by, "version": row.version,
    })
}

/// Renders rows with their assignees' profiles.
pub(crate) async fn render_all<'c, E: PgExecutor<'c>>(db: E, rows: &[ItemRow]) -> Result<Vec<Value>, sqlx::Error> {
    let profiles = profiles(db, rows).await?;
    Ok(rows.iter().map(|r| render(r, &profiles)).collect())
}
