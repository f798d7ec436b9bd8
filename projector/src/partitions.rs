//! Monthly partitions of `rm_activity_log`: created ahead of need (and for any
//! month a batch is about to write), dropped past the retention.

use chrono::{Datelike, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};
use sunday_domain::store::RecordedEvent;

/// Months created ahead of the current one.
const AHEAD: u32 = 3;

fn month_start(year: i32, month: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, 1)
}

fn next_month(d: NaiveDate) -> Option<NaiveDate> {
    if d.month() == 12 { month_start(d.year() + 1, 1) } else { month_start(d.year(), d.month() + 1) }
}

fn partition_name(d: NaiveDate) -> String {
    format!("rm_activity_log_{:04}_{:02}", d.year(), d.month())
}

/// Creates the partition of the month starting at `start`, if missing.
async fn ensure_month(conn: &mut PgConnection, start: NaiveDate) -> Result<(), sqlx::Error> {
    let Some(end) = next_month(start) else { return Ok(()) };
    let name = partition_name(start);
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(&name).fetch_one(&mut *conn).await?;
    if exists {
        return Ok(());
    }
    // Names and bounds come from dates, never from user input. Bounds are
    // UTC midnights, written so whatever the session's time zone.
    let ddl = format!(
        "CREATE TABLE IF NOT EXISTS {name} PARTITION OF rm_activity_log \
         FOR VALUES FROM ('{start} 00:00:00+00') TO ('{end} 00:00:00+00')"
    );
    sqlx::query(&ddl).execute(&mut *conn).await?;
    tracing::info!(partition = %name, "created activity partition");
    Ok(())
}

/// Makes sure every month a batch writes activity into has its partition.
pub(crate) async fn ensure_for(conn: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), sqlx::Error> {
    let mut months: Vec<NaiveDate> =
        events.iter().filter(|e| e.board_id.is_some()).filter_map(|e| month_start(e.occurred_at.year(), e.occurred_at.month())).collect();
    months.sort_unstable();
    months.dedup();
    for m in months {
        ensure_month(conn, m).await?;
    }
    Ok(())
}

/// Creates this month's and the next months' partitions and drops those older
/// than `retention_months`.
pub(crate) async fn maintain(pool: &PgPool, retention_months: u32) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let today = Utc::now().date_naive();
    let mut month = month_start(today.year(), today.month());
    for _ in 0..=AHEAD {
        let Some(m) = month else { break };
        ensure_month(&mut conn, m).await?;
        month = next_month(m);
    }
    drop_expired(&mut conn, today, retention_months).await
}

async fn drop_expired(conn: &mut PgConnection, today: NaiveDate, retention_months: u32) -> Result<(), sqlx::Error> {
    let total = today.year() * 12 + i32::try_from(today.month0()).unwrap_or(0) - i32::try_from(retention_months).unwrap_or(i32::MAX / 2);
    let Some(cutoff) = month_start(total.div_euclid(12), u32::try_from(total.rem_euclid(12)).unwrap_or(0) + 1) else { return Ok(()) };
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'rm_activity_log' \
           AND p.relnamespace = current_schema()::regnamespace AND c.relname ~ '^rm_activity_log_[0-9]{4}_[0-9]{2}$'",
    )
    .fetch_all(&mut *conn)
    .await?;
    for name in names {
        if name < partition_name(cutoff) {
            sqlx::query(&format!("DROP TABLE IF EXISTS {name}")).execute(&mut *conn).await?;
            tracing::info!(partition = %name, "dropped activity partition past retention");
        }
    }
    Ok(())
}
