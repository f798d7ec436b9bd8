//! The boards' members (`rm_board_members`) and their count on the board.

use sqlx::Row;
use sunday_domain::DomainEvent as E;
use sunday_domain::events::*;
use sunday_domain::store::RecordedEvent;

use crate::boards::{Change, touch};
use crate::outcome::{R, Tx, expect_rows};

/// Applies a board membership event; other events change nothing here.
pub(crate) async fn apply(tx: &mut Tx, e: &RecordedEvent) -> R {
    match &e.event {
        E::BoardMemberAdded(m) => member(tx, e, m, 1).await,
        E::BoardMemberRoleChanged(m) => member(tx, e, m, 0).await,
        E::BoardMemberRemoved(m) => {
            let gone = sqlx::query("DELETE FROM rm_board_members WHERE board_id = $1 AND user_id = $2")
                .bind(m.scope_id)
                .bind(m.user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            expect_rows(gone, 1, e, "rm_board_members")?;
            touch(tx, e, m.scope_id, Change::Members(-1)).await
        }
        _ => Ok(()),
    }
}

async fn member(tx: &mut Tx, e: &RecordedEvent, m: &BoardMemberAdded, count_delta: i32) -> R {
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
    touch(tx, e, m.board_id, Change::Members(delta)).await
}
