//! The gateway's Prometheus metrics (the blueprint's names): open sockets,
//! frames sent, disconnections, slow-consumer closes, and the latency from an
//! event's commit to its frame being written. `prometheus-client` metrics;
//! `register` adds them to a scrape's registry.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The blueprint's WebSocket latency buckets, in seconds.
const BUCKETS: [f64; 9] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// The gateway's metrics; each is shared with the registries it is added to.
#[derive(Debug)]
pub struct Metrics {
    connections: Gauge,
    messages: Counter,
    disconnections: Counter,
    slow_consumer_closes: Counter,
    sockets_refused: Counter,
    latency: Histogram,
    /// Change feeds open as Server-Sent Events, and events sent on them.
    sse_streams: Gauge,
    sse_events: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            connections: Gauge::default(),
            messages: Counter::default(),
            disconnections: Counter::default(),
            slow_consumer_closes: Counter::default(),
            sockets_refused: Counter::default(),
            latency: Histogram::new(BUCKETS),
            sse_streams: Gauge::default(),
            sse_events: Counter::default(),
        }
    }
}

impl Metrics {
    pub(crate) fn connected(&self) {
        self.connections.inc();
    }

    pub(crate) fn disconnected(&self) {
        self.connections.dec();
        self.disconnections.inc();
    }

    pub(crate) fn sent(&self) {
        self.messages.inc();
    }

    pub(crate) fn slow_consumer(&self) {
        self.slow_consumer_closes.inc();
    }

    /// A handshake refused: the user holds the most sockets already.
    pub(crate) fn socket_refused(&self) {
        self.sockets_refused.inc();
    }

    pub(crate) fn sockets_refused(&self) -> u64 {
        self.sockets_refused.get()
    }

    /// An events frame written whose oldest event occurred at `occurred_ms`.
    pub(crate) fn delivered(&self, occurred_ms: i64) {
        let millis = (crate::frame::now_ms() - occurred_ms).max(0);
        self.latency.observe(millis as f64 / 1e3);
    }

    pub(crate) fn sse_opened(&self) {
        self.sse_streams.inc();
    }

    pub(crate) fn sse_closed(&self) {
        self.sse_streams.dec();
    }

    pub(crate) fn sse_sent(&self, events: u64) {
        self.sse_events.inc_by(events);
    }

    /// Open sockets.
    pub fn connections(&self) -> i64 {
        self.connections.get()
    }

    /// Sockets closed because their queue overflowed.
    pub fn slow_consumer_closes(&self) -> u64 {
        self.slow_consumer_closes.get()
    }

    /// Adds the gateway's metrics to `registry` (counters gain `_total` there).
    pub fn register(&self, registry: &mut Registry) {
        registry.register("sunday_websocket_connections_active", "Open WebSocket connections", self.connections.clone());
        registry.register("sunday_websocket_messages", "Frames sent to WebSocket clients", self.messages.clone());
        registry.register("sunday_websocket_disconnections", "WebSocket connections that ended", self.disconnections.clone());
        let help = "Sockets closed because they could not keep up";
        registry.register("sunday_websocket_slow_consumer_closes", help, self.slow_consumer_closes.clone());
        let help = "From an event's commit to its frame being written";
        registry.register("sunday_websocket_message_latency_seconds", help, self.latency.clone());
        registry.register("sunday_change_feed_streams_active", "Change feeds open as Server-Sent Events", self.sse_streams.clone());
        registry.register("sunday_change_feed_events", "Events sent on Server-Sent Events change feeds", self.sse_events.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_blueprint_names() {
        let m = Metrics::default();
        m.connected();
        m.sent();
        m.delivered(crate::frame::now_ms() - 3);
        let mut registry = Registry::default();
        m.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap_or_default();
        assert!(out.contains("sunday_websocket_connections_active 1"), "{out}");
        assert!(out.contains("sunday_websocket_messages_total 1"));
        assert!(out.contains("sunday_websocket_message_latency_seconds_bucket{le=\"0.01\"} 1"), "{out}");
        assert!(out.contains("sunday_websocket_message_latency_seconds_count 1"));
    }
}
