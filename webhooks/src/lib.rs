//! Sunday's webhooks: what the command API (which makes subscriptions and
//! shows their secret once) and the dispatcher (which signs and sends)
//! share: secrets derived from a server key, Standard Webhooks signatures,
//! the address policy that keeps deliveries off private networks; and the
//! dispatcher itself (`dispatch`), which follows the log into per-board
//! lanes (`scan`) and sends each lane in order (`lanes`, `send`).

pub mod address;
mod attempt;
mod dispatch;
mod lanes;
mod metrics;
pub mod payload;
mod recent;
mod replay;
pub mod retry;
mod scan;
pub mod secret;
pub mod send;
mod shared;
mod store;

use std::time::Duration;

pub use address::{AddressPolicy, Refused};
pub use dispatch::{run, spawn};
pub use metrics::Metrics;
pub use retry::RetrySchedule;
pub use secret::WebhookKey;
pub use store::request_replay;

/// How the dispatcher sends.
#[derive(Clone, Debug)]
pub struct DispatchConfig {
    pub key: WebhookKey,
    pub addresses: AddressPolicy,
    pub retry: RetrySchedule,
    /// How long an endpoint has to answer (api.md: 10 s).
    pub timeout: Duration,
    /// Lanes sent at once, in all and per webhook.
    pub in_flight: usize,
    pub per_webhook: usize,
    /// How long attempts stay in the deliveries log.
    pub keep_attempts: Duration,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            key: WebhookKey::new("dev-webhook-key"),
            addresses: AddressPolicy::default(),
            retry: RetrySchedule::default(),
            timeout: Duration::from_secs(10),
            in_flight: 512,
            per_webhook: 16,
            keep_attempts: Duration::from_secs(7 * 86_400),
        }
    }
}

/// Why a dispatcher run ended (the supervisor starts it again).
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Store(#[from] sunday_domain::store::StoreError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Another dispatcher moved a position this one was about to move.
    #[error("another webhook dispatcher moved on: this one is not the leader any more")]
    Fenced,
    #[error("lost the webhook dispatcher's leadership: {0}")]
    LeadershipLost(String),
    #[error("a lane's task panicked: {0}")]
    Panicked(String),
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}
