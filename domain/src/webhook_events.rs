//! The events of a webhook subscription's stream (`webhook-<uuid>`). None
//! carries the secret: it is derived from a server key and the stream
//! version that set it (see `sunday-webhooks`), so the log never holds it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A subscription was made: what it sends and where.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookCreated {
    pub webhook_id: Uuid,
    pub workspace_id: Uuid,
    pub url: String,
    /// Empty: every type.
    pub event_types: Vec<String>,
    /// Absent: every board of the workspace and the workspace's own events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board_ids: Option<Vec<Uuid>>,
}

/// The subscription as it is after a change (the whole of it, not the change).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookUpdated {
    pub webhook_id: Uuid,
    pub url: String,
    pub event_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board_ids: Option<Vec<Uuid>>,
    pub active: bool,
}

/// A new secret signs from this event's stream version on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSecretRotated {
    pub webhook_id: Uuid,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDeleted {
    pub webhook_id: Uuid,
}

/// The dispatcher stopped sending: an event's retries ran out, or the
/// endpoint answered `410 Gone`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDisabled {
    pub webhook_id: Uuid,
    pub reason: String,
}
