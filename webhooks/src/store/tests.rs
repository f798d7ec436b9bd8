//! The dispatcher's tables on a real database.

use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn attempts_older_than_the_retention_are_deleted(pool: PgPool) {
    let hook = Uuid::now_v7();
    for age in ["8 days", "9 days", "1 hour"] {
        sqlx::query(
            "INSERT INTO webhook_attempts (webhook_id, event_id, position, event_type, attempt, duration_ms, at) \
             VALUES ($1, $2, 1, 'ItemCreated', 1, 3, now() - $3::interval)",
        )
        .bind(hook)
        .bind(Uuid::now_v7())
        .bind(age)
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let before = chrono::Utc::now() - chrono::Duration::days(7);
    let mut deleted = Vec::new();
    for _ in 0..3 {
        deleted.push(super::prune_attempts(&pool, before, 1).await.unwrap_or_else(|e| panic!("{e}")));
    }
    assert_eq!(deleted, [1, 1, 0], "a batch at a time, the oldest first, until none is old");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_attempts").fetch_one(&pool).await.unwrap_or_default();
    assert_eq!(left, 1, "the recent attempt stays");
}
