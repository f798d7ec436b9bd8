//! What applying an event to the read models answers, shared by every read
//! model's writer: the transaction it runs in, the error for a write that
//! changed nothing it was meant to, and the checks that raise it.
//!
//! An event is never dropped silently: a write that changes nothing it was
//! meant to (an update of a row that is not there, an insert of one that is)
//! fails the batch with `ApplyError::Unapplied` instead of moving on, since
//! the read models then disagree with the log.

use sqlx::PgConnection;
use sunday_domain::store::RecordedEvent;

pub(crate) type Tx = PgConnection;
pub(crate) type R = Result<(), ApplyError>;

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
pub(crate) fn expect_rows(done: u64, wanted: u64, e: &RecordedEvent, table: &'static str) -> R {
    if done == wanted {
        return Ok(());
    }
    Err(ApplyError::Unapplied { event_type: e.event.event_type(), position: e.position, table })
}

/// An insert that met an existing row (a unique key) did not apply the event.
pub(crate) fn duplicate_as_unapplied(err: ApplyError, e: &RecordedEvent) -> ApplyError {
    match &err {
        ApplyError::Database(db) if db.as_database_error().and_then(|d| d.code()).as_deref() == Some("23505") => {
            missing(e, "a read model that already holds the row it creates")
        }
        _ => err,
    }
}

/// The error for an event whose row is missing.
pub(crate) fn missing(e: &RecordedEvent, table: &'static str) -> ApplyError {
    ApplyError::Unapplied { event_type: e.event.event_type(), position: e.position, table }
}

/// The stream version of `e` as the read models store it.
pub(crate) fn version(e: &RecordedEvent) -> i64 {
    i64::try_from(e.stream_version).unwrap_or(i64::MAX)
}
