//! Process-wide timings of database work, for `/metrics`:
//! `sunday_database_query_duration_seconds{query_type,table}` for every timed
//! query, `sunday_eventstore_append_duration_seconds` for appends (one group
//! commit, from the caller's point of view), and a warning in the log for each
//! query slower than the threshold (`SUNDAY_SLOW_QUERY_MS`).

use std::fmt::Write;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The blueprint's database buckets, in seconds.
const BUCKETS: [f64; 11] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0];

/// A histogram updated without locks.
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    const fn new() -> Self {
        Self { buckets: [const { AtomicU64::new(0) }; BUCKETS.len()], count: AtomicU64::new(0), sum_micros: AtomicU64::new(0) }
    }

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

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bucket, le) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {}", bucket.load(Ordering::Relaxed));
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// Query histograms by (query type, table); a handful of entries.
static QUERIES: Mutex<Vec<((&str, &str), &'static Histogram)>> = Mutex::new(Vec::new());
static APPENDS: Histogram = Histogram::new();
static SLOW_MILLIS: AtomicU64 = AtomicU64::new(100);

/// Queries slower than this are logged (default 100 ms).
pub fn set_slow_query_threshold(threshold: Duration) {
    SLOW_MILLIS.store(u64::try_from(threshold.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

fn histogram(query_type: &'static str, table: &'static str) -> &'static Histogram {
    let mut all = QUERIES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, h)) = all.iter().find(|(k, _)| *k == (query_type, table)) {
        return h;
    }
    let h: &'static Histogram = Box::leak(Box::new(Histogram::new()));
    all.push(((query_type, table), h));
    h
}

/// Records one query's duration; logs it when slow (and says so).
pub fn record(query_type: &'static str, table: &'static str, took: Duration) -> bool {
    histogram(query_type, table).observe(took);
    let slow = took.as_millis() >= u128::from(SLOW_MILLIS.load(Ordering::Relaxed));
    if slow {
        tracing::warn!(query_type, table, millis = took.as_millis() as u64, "slow query");
    }
    slow
}

/// Runs a query future and records how long it took.
pub async fn timed<T>(query_type: &'static str, table: &'static str, query: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let out = query.await;
    record(query_type, table, started.elapsed());
    out
}

/// How many queries of this type and table this process has timed.
pub fn count(query_type: &'static str, table: &'static str) -> u64 {
    histogram(query_type, table).count.load(Ordering::Relaxed)
}

/// Records one append as its caller waited for it.
pub fn record_append(took: Duration) {
    APPENDS.observe(took);
}

/// The Prometheus text of every database timing of this process.
pub fn render(out: &mut String) {
    let name = "sunday_database_query_duration_seconds";
    let _ = writeln!(out, "# HELP {name} Database query duration in seconds\n# TYPE {name} histogram");
    let mut all = QUERIES.lock().unwrap_or_else(|p| p.into_inner()).clone();
    all.sort_by_key(|(k, _)| *k);
    for ((query_type, table), h) in all {
        h.render(out, name, &format!("query_type=\"{query_type}\",table=\"{table}\""));
    }
    let name = "sunday_eventstore_append_duration_seconds";
    let _ = writeln!(out, "# HELP {name} Event-store appends as their callers waited for them\n# TYPE {name} histogram");
    APPENDS.render(out, name, "");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn timed_queries_are_rendered_by_type_and_table() {
        timed("select", "unit_test_table", async { tokio::time::sleep(Duration::from_millis(2)).await }).await;
        record_append(Duration::from_micros(300));
        let mut out = String::new();
        render(&mut out);
        let line = r#"sunday_database_query_duration_seconds_count{query_type="select",table="unit_test_table"} 1"#;
        assert!(out.contains(line), "{out}");
        assert!(out.contains(r#"sunday_database_query_duration_seconds_bucket{query_type="select",table="unit_test_table",le="0.001"} 0"#));
        assert!(out.contains(r#"sunday_eventstore_append_duration_seconds_bucket{le="0.001"}"#), "{out}");
    }

    #[test]
    fn queries_over_the_threshold_are_logged() {
        set_slow_query_threshold(Duration::from_millis(50));
        assert!(!record("select", "threshold_test", Duration::from_millis(49)));
        assert!(record("select", "threshold_test", Duration::from_millis(50)));
        set_slow_query_threshold(Duration::from_millis(100));
    }
}
