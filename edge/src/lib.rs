//! What Sunday's HTTP and WebSocket services share at their edge, before a
//! request reaches a handler: per-user rate limits (`rate`).

pub mod rate;

pub use rate::{Allowed, Kind, Limited, Limits, RateLimits};
