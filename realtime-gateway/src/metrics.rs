//! The gateway's Prometheus metrics (the blueprint's names): open sockets,
//! frames sent, disconnections, slow-consumer closes, and the latency from an
//! event's commit to its frame being written.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// The blueprint's WebSocket latency buckets, in seconds.
const BUCKETS: [f64; 9] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// Counters, updated without locks.
#[derive(Default)]
pub struct Metrics {
    connections: AtomicI64,
    messages: AtomicU64,
    disconnections: AtomicU64,
    slow_consumer_closes: AtomicU64,
    sockets_refused: AtomicU64,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
}

impl Metrics {
    pub(crate) fn connected(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn disconnected(&self) {
        self.connections.fetch_sub(1, Ordering::Relaxed);
        self.disconnections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn sent(&self) {
        self.messages.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn slow_consumer(&self) {
        self.slow_consumer_closes.fetch_add(1, Ordering::Relaxed);
    }

    /// A handshake refused: the user holds the most sockets already.
    pub(crate) fn socket_refused(&self) {
        self.sockets_refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn sockets_refused(&self) -> u64 {
        self.sockets_refused.load(Ordering::Relaxed)
    }

    /// An events frame written whose oldest event occurred at `occurred_ms`.
    pub(crate) fn delivered(&self, occurred_ms: i64) {
        let micros = (crate::frame::now_ms() - occurred_ms).max(0) * 1000;
        let seconds = micros as f64 / 1e6;
        for (bucket, le) in self.latency_buckets.iter().zip(BUCKETS) {
            if seconds <= le {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros.fetch_add(u64::try_from(micros).unwrap_or(0), Ordering::Relaxed);
    }

    /// Open sockets.
    pub fn connections(&self) -> i64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Sockets closed because their queue overflowed.
    pub fn slow_consumer_closes(&self) -> u64 {
        self.slow_consumer_closes.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition.
    pub fn render(&self, out: &mut String) {
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        };
        metric("sunday_websocket_connections_active", "gauge", "Open WebSocket connections", self.connections().to_string());
        metric(
            "sunday_websocket_messages_total",
            "counter",
            "Frames sent to WebSocket clients",
            self.messages.load(Ordering::Relaxed).to_string(),
        );
        let gone = self.disconnections.load(Ordering::Relaxed).to_string();
        metric("sunday_websocket_disconnections_total", "counter", "WebSocket connections that ended", gone);
        let slow = self.slow_consumer_closes().to_string();
        metric("sunday_websocket_slow_consumer_closes_total", "counter", "Sockets closed because they could not keep up", slow);
        let name = "sunday_websocket_message_latency_seconds";
        let _ = writeln!(out, "# HELP {name} From an event's commit to its frame being written\n# TYPE {name} histogram");
        for (bucket, le) in self.latency_buckets.iter().zip(BUCKETS) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {}", bucket.load(Ordering::Relaxed));
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
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
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains("sunday_websocket_connections_active 1"), "{out}");
        assert!(out.contains("sunday_websocket_messages_total 1"));
        assert!(out.contains("sunday_websocket_message_latency_seconds_bucket{le=\"0.01\"} 1"), "{out}");
        assert!(out.contains("sunday_websocket_message_latency_seconds_count 1"));
    }
}
