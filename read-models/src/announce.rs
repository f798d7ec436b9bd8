//! Announcing committed batches to other processes over NATS: every
//! invalidation is published as JSON on `<prefix>.invalidations`, in commit
//! order, for query-API instances to evict their caches and advance their
//! view of the checkpoint.

use crate::feed::{Feed, Invalidation};

/// The subject invalidations are published on, under a deployment's prefix.
pub fn subject(prefix: &str) -> String {
    format!("{prefix}.invalidations")
}

/// Publishes every batch the feed announces. Publishing is fire-and-forget
/// (core NATS): a reader that misses one notices the gap with the next one
/// (its `previous` is past what the reader heard) or through its checkpoint
/// poll, and drops its whole cache.
pub fn publish(feed: &Feed, client: async_nats::Client, prefix: &str) {
    let subject = subject(prefix);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Invalidation>();
    feed.on_advance(std::sync::Arc::new(move |inv: &Invalidation| {
        let _ = tx.send(inv.clone());
    }));
    tokio::spawn(async move {
        while let Some(inv) = rx.recv().await {
            let Ok(payload) = serde_json::to_vec(&inv) else { continue };
            if let Err(e) = client.publish(subject.clone(), payload.into()).await {
                tracing::warn!(error = %e, "could not publish an invalidation");
            }
        }
    });
}
