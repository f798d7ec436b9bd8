//! The contract between the projector, which writes the read models, and
//! their readers (the query API, the gateway's snapshots): where the
//! checkpoint is kept, what each committed batch changed (`Invalidation`,
//! announced in-process on a `Feed`), and how that is announced to other
//! processes (`announce`). Readers depend on this crate, never on the
//! projector.

pub mod announce;
pub mod feed;

use sunday_domain::store::Position;

pub use feed::{Feed, Hook, Invalidation};

/// The checkpoint row of the read models (`projection_checkpoints.name`).
pub const PROJECTION: &str = "read_models";

/// The checkpoint of the read models (0 before the first event).
pub async fn checkpoint<'c, E: sqlx::PgExecutor<'c>>(db: E) -> Result<Position, sqlx::Error> {
    let p: Option<i64> =
        sqlx::query_scalar("SELECT position FROM projection_checkpoints WHERE name = $1").bind(PROJECTION).fetch_optional(db).await?;
    Ok(p.unwrap_or(0))
}
