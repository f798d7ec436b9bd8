//! The chaos suite: the real binary as two processes of each role on a
//! three-node NATS cluster and a durable PostgreSQL, under steady writes and
//! joined sockets, takes one fault at a time (then mixed ones with
//! `SUNDAY_CHAOS=full`, as `ops/chaos` runs it). For each fault it measures
//! the time until a command is acknowledged again, read back through both
//! query APIs with read-your-writes and seen by the sockets of both
//! gateways, and counts the 5xx meanwhile; then it holds the log, the
//! sockets and the read models to what was acknowledged. The table goes to
//! stderr and to `SUNDAY_CHAOS_REPORT` when set (docs/RELIABILITY.md).

#[path = "../common/mod.rs"]
mod common;

mod checks;
mod client;
mod faults;
mod probe;
mod sockets;
mod topology;
mod writers;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::json;
use tokio::sync::watch;
use uuid::Uuid;

use faults::Fault;
use topology::Topology;
use writers::Ledger;

/// One row of the report.
struct Row {
    fault: Fault,
    down: Option<Duration>,
    after_heal: Option<Duration>,
    five_xx: usize,
    no_answer: usize,
    /// Reads of a replica past its allowed lag answered with old data.
    stale: usize,
    verdict: checks::Verdict,
}

/// How much load, and which faults.
struct Scale {
    boards: usize,
    writers: usize,
    watchers_per_board: usize,
    faults: Vec<Fault>,
}

fn scale() -> Scale {
    let mut scale = sized();
    // `SUNDAY_CHAOS_ONLY=<key>`: only that fault (`Fault::key`), once.
    if let Ok(only) = std::env::var("SUNDAY_CHAOS_ONLY") {
        scale.faults.retain(|f| f.key() == only);
        scale.faults.dedup_by_key(|f| f.key());
    }
    scale
}

fn sized() -> Scale {
    if std::env::var("SUNDAY_CHAOS").is_ok_and(|s| s == "full") {
        let mut faults = Fault::SINGLE.to_vec();
        faults.extend([Fault::Mixed, Fault::CrashPostgres, Fault::KillLeadingProjector, Fault::Mixed]);
        Scale { boards: 6, writers: 8, watchers_per_board: 4, faults }
    } else {
        Scale { boards: 2, writers: 3, watchers_per_board: 2, faults: Fault::SINGLE.to_vec() }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_role_rides_out_every_fault_and_nothing_acknowledged_is_lost() {
    let scale = scale();
    let mut t = Topology::start().await;
    let owner = Uuid::now_v7();
    let token = common::token(owner);
    let ledger = Arc::new(Ledger::default());
    let boards = setup(&t, &token, &ledger, scale.boards).await;
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(4).connect(&t.database_url).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(checks::projected(&pool).await, "the projection caught up with the setup");

    let (stop_tx, stop) = watch::channel(false);
    let (pause_tx, paused) = watch::channel(false);
    let gateways = t.addrs("gateway-");
    let watchers: Vec<sockets::Watcher> = boards
        .iter()
        .flat_map(|b| (0..scale.watchers_per_board).map(move |i| (*b, i)))
        .map(|(b, i)| sockets::watch_board(gateways.clone(), i, token.clone(), b, stop.clone()))
        .collect();
    let apis = t.addrs("command-");
    for n in 0..scale.writers {
        tokio::spawn(writers::write(n, apis.clone(), token.clone(), boards.clone(), ledger.clone(), paused.clone(), stop.clone()));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut rows = Vec::new();
    for fault in scale.faults {
        eprintln!("chaos: {}", fault.name());
        let injected = Instant::now();
        let heal_after = fault.inject(&mut t).await;
        let probe_watchers: Vec<&sockets::Watcher> = watchers.iter().filter(|w| w.board == boards[0]).collect();
        let recovery = probe::recover(&mut t, fault, heal_after, &token, boards[0], &probe_watchers, &ledger).await;
        let (five_xx, no_answer) = ledger.failures_between(injected, injected + recovery.down.unwrap_or(Duration::from_secs(120)));
        t.heal().await;

        let _ = pause_tx.send(true);
        while ledger.in_flight.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut verdict = checks::Verdict::default();
        checks::log_against(&pool, &ledger, &mut verdict).await;
        checks::sockets_against(&pool, &watchers, &mut verdict).await;
        checks::read_models_against_rebuild(&pool, &t.database_url, &mut verdict).await;
        eprintln!("chaos: {} down {:?} ({five_xx} 5xx, {no_answer} without answer): {verdict:?}", fault.name(), recovery.down);
        let _ = pause_tx.send(false);
        if fault.refuses_stale_after().is_some() {
            assert!(recovery.refused > 0, "no read was refused while the replica was too far behind, with /readyz and /metrics saying so");
        }
        rows.push(Row { fault, down: recovery.down, after_heal: recovery.after_heal, five_xx, no_answer, stale: recovery.stale, verdict });
    }
    let _ = stop_tx.send(true);
    report(&rows, &ledger, &watchers);
    for row in &rows {
        assert!(row.down.is_some(), "never recovered from {}", row.fault.name());
        assert!(row.verdict.clean(), "after {}: {:?}", row.fault.name(), row.verdict);
        assert_eq!(row.stale, 0, "after {}: old data served as current", row.fault.name());
    }
    assert_eq!(ledger.abandoned.load(Ordering::SeqCst), 0, "a command was never acknowledged in a minute of retries");
}

/// A workspace and its boards, created by the owner through the command API.
async fn setup(t: &Topology, token: &str, ledger: &Ledger, boards: usize) -> Vec<Uuid> {
    let apis = t.addrs("command-");
    let ws = writers::until_acknowledged(&apis, 0, token, Method::POST, "/v1/workspaces", &json!({"name": "Chaos"}), ledger).await;
    let ws = ws.unwrap_or_else(|| panic!("no workspace")).body["data"]["id"].clone();
    let mut ids = Vec::new();
    for n in 0..boards {
        let board = writers::until_acknowledged(
            &apis,
            n,
            token,
            Method::POST,
            "/v1/boards",
            &json!({"workspaceId": ws, "name": format!("B{n}")}),
            ledger,
        )
        .await;
        let id = board.and_then(|b| b.body["data"]["id"].as_str().and_then(|s| s.parse().ok()));
        ids.push(id.unwrap_or_else(|| panic!("no board")));
    }
    ids
}

fn seconds(d: Option<Duration>) -> String {
    d.map_or_else(|| "never".to_owned(), |d| format!("{:.1}", d.as_secs_f64()))
}

/// The table of docs/RELIABILITY.md, to stderr and `SUNDAY_CHAOS_REPORT`.
fn report(rows: &[Row], ledger: &Ledger, watchers: &[sockets::Watcher]) {
    let mut out = String::from(
        "| fault | recovered in s | after the fault ended s | 5xx | no answer | events lost | events duplicated | socket gaps | socket duplicates | stale reads | read models = rebuild | alone |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
    );
    for r in rows {
        let v = &r.verdict;
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | `ops/chaos {}` |\n",
            r.fault.name(),
            seconds(r.down),
            seconds(r.after_heal),
            r.five_xx,
            r.no_answer,
            v.lost,
            v.duplicated,
            v.socket_gaps,
            v.socket_duplicates,
            r.stale,
            if v.read_models_differ { "no" } else { "yes" },
            r.fault.key()
        ));
    }
    let reconnects: u32 = watchers.iter().map(|w| w.snapshot().2).sum();
    let renames: u64 = ledger.renamed().values().sum();
    out.push_str(&format!(
        "\n{} items created and {renames} renames acknowledged; {} sockets, {reconnects} reconnections.\n",
        ledger.created().len(),
        watchers.len()
    ));
    eprintln!("{out}");
    if let Ok(path) = std::env::var("SUNDAY_CHAOS_REPORT") {
        let _ = std::fs::write(path, out);
    }
}
