//! What recording a metric costs with `prometheus-client` (a database timing
//! through `stats::record`; a request's histogram and counter as
//! `src/metrics.rs` records them), beside the lock-free histogram Sunday
//! wrote by hand before it, to compare with a command's or a read's whole
//! cost (docs/PERFORMANCE.md). `cargo bench -p sunday-runtime --bench metrics`

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    endpoint: String,
    status: u16,
}

/// The hand-written histogram this replaced: atomics, no lock.
struct HandWritten {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl HandWritten {
    fn observe(&self, d: Duration) {
        let seconds = d.as_secs_f64();
        for (bucket, le) in self.buckets.iter().zip(BUCKETS) {
            if seconds <= le {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

fn metrics(c: &mut Criterion) {
    let took = Duration::from_micros(850);
    c.bench_function("record a database timing (stats::record)", |b| {
        b.iter(|| sunday_runtime::stats::record("select", "events", black_box(took)))
    });
    let durations: Family<RequestLabels, Histogram> = Family::new_with_constructor(histogram as fn() -> Histogram);
    let requests: Family<RequestLabels, Counter> = Family::default();
    c.bench_function("record a request (prometheus-client histogram and counter)", |b| {
        b.iter(|| {
            let labels = RequestLabels { method: "PUT", endpoint: black_box("/v1/items/{id}").to_owned(), status: 200 };
            durations.get_or_create(&labels).observe(took.as_secs_f64());
            requests.get_or_create(&labels).inc();
        })
    });
    let hand =
        HandWritten { buckets: [const { AtomicU64::new(0) }; BUCKETS.len()], count: AtomicU64::new(0), sum_micros: AtomicU64::new(0) };
    c.bench_function("record a timing (the hand-written histogram it replaced)", |b| b.iter(|| hand.observe(black_box(took))));
}

criterion_group!(benches, metrics);
criterion_main!(benches);
