//! Sunday's webhooks: what is shared by the command API (which makes
//! subscriptions and shows their secret once) and the dispatcher (which signs
//! and sends): secrets derived from a server key, Standard Webhooks
//! signatures, and the address policy that keeps deliveries off private
//! networks.

pub mod address;
pub mod secret;

pub use address::{AddressPolicy, Refused};
pub use secret::WebhookKey;
