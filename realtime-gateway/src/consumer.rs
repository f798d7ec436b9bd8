//! The gateway's JetStream consumer of one workspace's events: an ephemeral
//! push consumer in memory, from the next message on, with flow control and
//! a one-second idle heartbeat. It is what async-nats's ordered consumer is,
//! except that its loss is noticed within two seconds (the ordered one's
//! heartbeat is fixed at 5 s, so a consumer lost with its NATS node went
//! unnoticed for 10 s) and that it does not mend itself: any gap in its
//! consumer sequence, missed heartbeat or error ends it, and `feeds` makes a
//! new one from the stream sequence after the last one it delivered.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::AckPolicy, consumer::DeliverPolicy, consumer::push};
use futures_util::StreamExt;

/// How often the server says it is still there when it has nothing to send.
const HEARTBEAT: Duration = Duration::from_secs(1);

pub(crate) struct Consumer {
    messages: push::Messages,
    /// The consumer sequence the next message must have.
    next: u64,
    /// The stream sequence to start a successor at.
    resume: u64,
}

fn sub_err(e: impl std::fmt::Display) -> SubscribeError {
    SubscribeError(e.to_string())
}

impl Consumer {
    /// A consumer of `filter` on the deployment's event stream, from stream
    /// sequence `from` (after the stream's last message when `None`: that
    /// start is kept, so a successor of a consumer that delivered nothing
    /// still skips nothing).
    pub(crate) async fn start(
        client: &async_nats::Client,
        prefix: &str,
        filter: String,
        from: Option<u64>,
    ) -> Result<Self, SubscribeError> {
        let js = jetstream::new(client.clone());
        let stream = sunday_relay::ensure_stream(&js, prefix, None).await.map_err(sub_err)?;
        let start_sequence = from.unwrap_or(stream.cached_info().state.last_sequence + 1);
        let config = push::Config {
            deliver_subject: client.new_inbox(),
            filter_subject: filter,
            deliver_policy: DeliverPolicy::ByStartSequence { start_sequence },
            ack_policy: AckPolicy::None,
            max_deliver: 1,
            flow_control: true,
            idle_heartbeat: HEARTBEAT,
            inactive_threshold: Duration::from_secs(30),
            num_replicas: 1,
            memory_storage: true,
            ..Default::default()
        };
        let consumer = stream.create_consumer(config).await.map_err(sub_err)?;
        Ok(Self { messages: consumer.messages().await.map_err(sub_err)?, next: 1, resume: start_sequence })
    }

    /// Where a successor must start so that nothing is skipped: after the
    /// last message delivered (or where this one started).
    pub(crate) fn resume(&self) -> u64 {
        self.resume
    }

    /// The next message; an error (the consumer is then done) when one was
    /// missed, the server went quiet, or the subscription failed.
    pub(crate) async fn next(&mut self) -> Option<Result<jetstream::Message, SubscribeError>> {
        let message = match self.messages.next().await? {
            Ok(m) => m,
            Err(e) => return Some(Err(sub_err(e))),
        };
        let sequences = message.info().map(|i| (i.consumer_sequence, i.stream_sequence)).map_err(sub_err);
        match sequences {
            Ok((s, stream)) if s == self.next => {
                self.next += 1;
                self.resume = stream + 1;
                Some(Ok(message))
            }
            Ok((s, _)) => Some(Err(SubscribeError(format!("consumer sequence {s} where {} was due", self.next)))),
            Err(e) => Some(Err(e)),
        }
    }
}

/// Why a room could not subscribe.
#[derive(Debug, thiserror::Error)]
#[error("subscribing to the board's events failed: {0}")]
pub(crate) struct SubscribeError(pub(crate) String);
