//! Reading events back: one stream by version, the whole log by position (gap
//! safe), and one board's events with the horizon they are final below.

use sqlx::Row;
use sqlx::postgres::PgRow;
use sunday_domain::DomainEvent;
use sunday_domain::store::*;
use uuid::Uuid;

use crate::append::to_u64;
use crate::{PgEventStore, backend};

const COLUMNS: &str = "position, event_id, stream_id, stream_version, event_type, schema_version, \
    occurred_at, workspace_id, board_id, data, metadata";

/// The position below which every event is final: every transaction with a lower
/// id that can append has ended, so nothing can commit there any more
/// (`sunday_log_horizon`: transactions announced by
/// [`announce_never_appends`](crate::announce_never_appends) do not count).
pub(crate) const HORIZON: &str = "(sunday_log_horizon() << 10)";
/// The horizon also skipping the transactions of the cluster's other
/// databases: dearer (a scan of every backend's status), so only for a reader
/// already waiting on the horizon.
pub(crate) const HORIZON_HERE: &str = "(sunday_log_horizon(true) << 10)";

/// Which horizon a read stops at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Horizon {
    /// Counts every running transaction of the cluster that did not announce.
    Cluster,
    /// Counts only this database's: for a reader that found events waiting
    /// above the cluster's horizon.
    ThisDatabase,
}

impl Horizon {
    /// How long a reader waits on the cluster's horizon before it asks for
    /// this database's: an append in flight ends within milliseconds, and
    /// only a transaction that holds the horizon longer is worth the scan.
    pub const PATIENCE: std::time::Duration = std::time::Duration::from_millis(50);

    /// The horizon for a reader that has waited `waited` on it so far.
    pub fn after_waiting(waited: std::time::Duration) -> Self {
        if waited >= Self::PATIENCE { Horizon::ThisDatabase } else { Horizon::Cluster }
    }

    pub(crate) fn sql(self) -> &'static str {
        match self {
            Horizon::Cluster => HORIZON,
            Horizon::ThisDatabase => HORIZON_HERE,
        }
    }
}

impl PgEventStore {
    pub(crate) async fn stream_events(&self, stream: &StreamId, after_version: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM events WHERE stream_id = $1 AND stream_version > $2 ORDER BY stream_version");
        let after = i64::try_from(after_version).unwrap_or(i64::MAX);
        let rows = sqlx::query(&sql).bind(stream.as_str()).bind(after).fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter().map(decode).collect()
    }

    pub(crate) async fn log_events(&self, after: Position, limit: usize, below: Horizon) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM events WHERE position > $1 AND position < {} ORDER BY position LIMIT $2", below.sql());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = sqlx::query(&sql).bind(after).bind(limit).fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter().map(decode).collect()
    }

    /// The highest committed position (possibly above the horizon), 0 if none.
    pub(crate) async fn head(&self) -> Result<Position, StoreError> {
        let head: Option<i64> = sqlx::query_scalar("SELECT max(position) FROM events").fetch_one(&self.pool).await.map_err(backend)?;
        Ok(head.unwrap_or(0))
    }

    pub(crate) async fn board_events(&self, board_id: Uuid, after: Position) -> Result<BoardEvents, StoreError> {
        let sql = format!(
            "WITH h AS (SELECT {HORIZON} AS horizon) \
             SELECT h.horizon, e.* FROM h LEFT JOIN LATERAL \
             (SELECT {COLUMNS} FROM events WHERE board_id = $1 AND position > $2 ORDER BY position) e ON true"
        );
        let rows = sqlx::query(&sql).bind(board_id).bind(after).fetch_all(&self.pool).await.map_err(backend)?;
        let horizon = rows.first().map(|r| r.get::<i64, _>("horizon")).unwrap_or(0);
        let events = rows.iter().filter(|r| r.get::<Option<i64>, _>("position").is_some()).map(decode).collect::<Result<_, _>>()?;
        Ok(BoardEvents { events, horizon })
    }
}

impl PgEventStore {
    /// Up to `limit` of a board's events with `after < position < below`, in
    /// order: a long history read in pages of bounded size (take `below` from
    /// `horizon()` once, so every page is final).
    pub async fn board_page(
        &self,
        board_id: Uuid,
        after: Position,
        below: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM events WHERE board_id = $1 AND position > $2 AND position < $3 ORDER BY position LIMIT $4");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let query = sqlx::query(&sql).bind(board_id).bind(after).bind(below).bind(limit).fetch_all(&self.pool);
        let rows = sunday_runtime::stats::timed("read_board_page", "events", query).await.map_err(backend)?;
        rows.iter().map(decode).collect()
    }
}

impl PgEventStore {
    /// Up to `limit` of a workspace's events with `after < position <
    /// below`, in order: only its own (those of no board) with `own_only`,
    /// else its boards' too (read along the position range: for bounded
    /// ranges, such as a webhook replay's).
    pub async fn workspace_page(
        &self,
        workspace_id: Uuid,
        (after, below): (Position, Position),
        own_only: bool,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let own = if own_only { "AND board_id IS NULL" } else { "" };
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE workspace_id = $1 {own} AND position > $2 AND position < $3 \
             ORDER BY position LIMIT $4"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let query = sqlx::query(&sql).bind(workspace_id).bind(after).bind(below).bind(limit).fetch_all(&self.pool);
        let rows = sunday_runtime::stats::timed("read_workspace_page", "events", query).await.map_err(backend)?;
        rows.iter().map(decode).collect()
    }
}

/// Turns a row into a recorded event, upcasting its payload.
pub(crate) fn decode(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    let event_type: String = row.try_get("event_type").map_err(backend)?;
    let schema: i16 = row.try_get("schema_version").map_err(backend)?;
    let stored_schema_version = u16::try_from(schema).unwrap_or_default();
    let data: serde_json::Value = row.try_get("data").map_err(backend)?;
    let metadata: serde_json::Value = row.try_get("metadata").map_err(backend)?;
    let event = DomainEvent::decode(&event_type, stored_schema_version, data)?;
    Ok(RecordedEvent {
        event_id: row.try_get("event_id").map_err(backend)?,
        stream_id: StreamId::from_stored(row.try_get("stream_id").map_err(backend)?),
        stream_version: to_u64(row.try_get("stream_version").map_err(backend)?),
        position: row.try_get("position").map_err(backend)?,
        occurred_at: row.try_get("occurred_at").map_err(backend)?,
        workspace_id: row.try_get("workspace_id").map_err(backend)?,
        board_id: row.try_get("board_id").map_err(backend)?,
        stored_schema_version,
        event,
        metadata: serde_json::from_value(metadata).unwrap_or_default(),
    })
}
