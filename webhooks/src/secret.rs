//! Webhook secrets and Standard Webhooks signatures.
//!
//! A secret is never stored: it is HMAC-SHA256 of the webhook's id and the
//! stream version of the event that set it (its creation or its last
//! rotation), keyed with the server's webhook key. The log holds neither, so
//! the secret is in no event and no read; the answer to the create (or the
//! rotation), replayed from an idempotency key, shows the same secret again.
//! Changing the server key changes every secret at once.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// What a secret is shown with (Standard Webhooks' prefix).
pub const PREFIX: &str = "whsec_";

/// The server's webhook key (`SUNDAY_WEBHOOK_KEY`). Its `Debug` shows nothing.
#[derive(Clone)]
pub struct WebhookKey(Vec<u8>);

impl WebhookKey {
    pub fn new(key: impl AsRef<[u8]>) -> Self {
        Self(key.as_ref().to_vec())
    }

    /// The 32 bytes that sign for webhook `id` from stream version `version` on.
    pub fn secret_bytes(&self, id: Uuid, version: u64) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(b"sunday webhook secret/1\0");
        mac.update(id.as_bytes());
        mac.update(&version.to_be_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The secret as its owner sees it: `whsec_` + base64 of the bytes.
    pub fn secret(&self, id: Uuid, version: u64) -> String {
        format!("{PREFIX}{}", STANDARD.encode(self.secret_bytes(id, version)))
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes a key of any length.
        HmacSha256::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!("HMAC accepts every key length"))
    }
}

impl std::fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookKey(…)")
    }
}

/// The `webhook-signature` header: `v1,` + base64 of HMAC-SHA256 over
/// `<id>.<timestamp>.<body>`, keyed with the secret's bytes.
pub fn signature(secret: &[u8], message_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_differ_by_webhook_version_and_key_and_hide_in_debug() {
        let key = WebhookKey::new("k");
        let id = Uuid::from_u128(7);
        assert_eq!(key.secret(id, 1), key.secret(id, 1));
        assert_ne!(key.secret(id, 1), key.secret(id, 2));
        assert_ne!(key.secret(id, 1), key.secret(Uuid::from_u128(8), 1));
        assert_ne!(key.secret(id, 1), WebhookKey::new("other").secret(id, 1));
        let shown = key.secret(id, 1);
        assert!(shown.starts_with(PREFIX));
        assert_eq!(STANDARD.decode(&shown[PREFIX.len()..]).map(|b| b.len()).ok(), Some(32));
        assert_eq!(format!("{key:?}"), "WebhookKey(…)");
    }

    /// The example of the Standard Webhooks specification.
    #[test]
    fn the_signature_is_the_standard_webhooks_one() {
        let secret = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_or_default();
        let sig = signature(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
