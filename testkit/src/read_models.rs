//! The canonical checksum of the read models: one md5 per table, over every
//! row in key order, so live read models can be held against a rebuild.

use sqlx::PgPool;

/// Every read-model table of schema `rm` with its key.
const TABLES: [(&str, &str); 12] = [
    ("rm_workspaces", "workspace_id"),
    ("rm_workspace_members", "workspace_id, user_id"),
    ("rm_boards", "board_id"),
    ("rm_columns", "board_id, column_id"),
    ("rm_groups", "board_id, group_id"),
    ("rm_board_members", "board_id, user_id"),
    ("rm_items", "workspace_id, item_id"),
    ("rm_comments", "comment_id"),
    ("rm_files", "file_id"),
    ("rm_board_stats", "board_id"),
    ("rm_activity_log", "id"),
    ("rm_user_profiles", "user_id"),
];

/// `(table, checksum)` for every read-model table.
pub async fn checksums(pool: &PgPool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (table, key) in TABLES {
        let sql = format!("SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY {key})), 'empty') FROM rm.{table} t");
        let sum: String = sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap_or_else(|e| panic!("{table}: {e}"));
        out.push((table.to_owned(), sum));
    }
    out
}
