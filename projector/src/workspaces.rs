//! The workspaces, their members and the users' profiles
//! (`rm_workspaces`, `rm_workspace_members`, `rm_user_profiles`).

use sunday_domain::DomainEvent as E;
use sunday_domain::events::*;
use sunday_domain::store::RecordedEvent;

use crate::outcome::{R, Tx, expect_rows, version};

/// Applies a workspace or profile event; other events change nothing here.
pub(crate) async fn apply(tx: &mut Tx, e: &RecordedEvent) -> R {
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
        _ => {}
    }
    Ok(())
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
