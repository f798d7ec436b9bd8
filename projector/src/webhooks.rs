//! Webhook subscriptions as owners and admins list them (`rm_webhooks`).

use sunday_domain::DomainEvent as E;
use sunday_domain::store::RecordedEvent;

use crate::outcome::{R, Tx, expect_rows, version};

/// Applies a webhook event.
pub(crate) async fn apply(tx: &mut Tx, e: &RecordedEvent) -> R {
    let done = match &e.event {
        E::WebhookCreated(c) => {
            sqlx::query(
                "INSERT INTO rm_webhooks (webhook_id, workspace_id, url, event_types, board_ids, active, created_at, version) \
             VALUES ($1, $2, $3, $4, $5, true, $6, $7)",
            )
            .bind(c.webhook_id)
            .bind(c.workspace_id)
            .bind(&c.url)
            .bind(&c.event_types)
            .bind(&c.board_ids)
            .bind(e.occurred_at)
            .bind(version(e))
            .execute(&mut *tx)
            .await?
        }
        E::WebhookUpdated(u) => {
            sqlx::query(
                "UPDATE rm_webhooks SET url = $2, event_types = $3, board_ids = $4, active = $5, \
             disabled_reason = CASE WHEN $5 THEN NULL ELSE disabled_reason END, version = $6 WHERE webhook_id = $1",
            )
            .bind(u.webhook_id)
            .bind(&u.url)
            .bind(&u.event_types)
            .bind(&u.board_ids)
            .bind(u.active)
            .bind(version(e))
            .execute(&mut *tx)
            .await?
        }
        E::WebhookSecretRotated(r) => {
            sqlx::query("UPDATE rm_webhooks SET version = $2 WHERE webhook_id = $1")
                .bind(r.webhook_id)
                .bind(version(e))
                .execute(&mut *tx)
                .await?
        }
        E::WebhookDisabled(d) => {
            sqlx::query("UPDATE rm_webhooks SET active = false, disabled_reason = $2, version = $3 WHERE webhook_id = $1")
                .bind(d.webhook_id)
                .bind(&d.reason)
                .bind(version(e))
                .execute(&mut *tx)
                .await?
        }
        E::WebhookDeleted(d) => sqlx::query("DELETE FROM rm_webhooks WHERE webhook_id = $1").bind(d.webhook_id).execute(&mut *tx).await?,
        _ => return Ok(()),
    };
    expect_rows(done.rows_affected(), 1, e, "rm_webhooks")
}
