//! What Sunday's HTTP and WebSocket services share at their edge, before a
//! request reaches a handler and after it fails: the one table of error
//! kinds and its renderings (`problem`), bearer tokens (`token`), JSON
//! bodies (`json`) and per-user rate limits (`rate`).

pub mod json;
pub mod problem;
pub mod rate;
pub mod token;

pub use problem::{ErrorKind, Problem};
pub use rate::{Allowed, Kind, Limited, Limits, RateLimits};
pub use token::{Claims, Secret, TokenError, Unauthenticated};
