//! Recovery: from the fault's injection until a probe command is
//! acknowledged, read back through every query API with
//! `X-Sunday-Min-Position` (read-your-writes within its wait) and seen by
//! the probe board's sockets. Ends the fault (`Fault::heal`) when it is due.

use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::client;
use crate::faults::Fault;
use crate::sockets::Watcher;
use crate::topology::Topology;
use crate::writers::{Ledger, Outcome};

pub(crate) struct Recovery {
    /// From the injection until everything answered again.
    pub(crate) down: Option<Duration>,
    /// From the fault's end (`heal`) until then; `down` when it ends by itself.
    pub(crate) after_heal: Option<Duration>,
    /// Reads from a replica too far behind: answered with data, and refused.
    pub(crate) stale: usize,
    pub(crate) refused: usize,
}

/// Probes every 100 ms, for at most two minutes.
pub(crate) async fn recover(
    t: &mut Topology,
    fault: Fault,
    heal_after: Option<Duration>,
    token: &str,
    board: Uuid,
    watchers: &[&Watcher],
    ledger: &Ledger,
) -> Recovery {
    let injected = Instant::now();
    let mut healed = heal_after.is_none().then_some(injected);
    let (mut n, mut last_why, mut stale, mut refused) = (0, String::new(), 0, 0);
    while injected.elapsed() < Duration::from_secs(120) {
        if healed.is_none() && heal_after.is_some_and(|d| injected.elapsed() >= d) {
            fault.heal(t);
            healed = Some(Instant::now());
        }
        if healed.is_none() && fault.refuses_stale_after().is_some_and(|d| injected.elapsed() >= d) {
            match current_read(t, token, board).await {
                Some(StatusCode::OK) => stale += 1,
                Some(StatusCode::SERVICE_UNAVAILABLE) if says_replica_behind(t).await => refused += 1,
                _ => {}
            }
        }
        n += 1;
        // Probed during the fault too (its failures are counted), but
        // recovered only once the fault has ended.
        match (probe(t, n, token, board, watchers, ledger).await, healed) {
            (Ok(()), Some(healed)) => {
                return Recovery { down: Some(injected.elapsed()), after_heal: Some(healed.elapsed()), stale, refused };
            }
            (Ok(()), None) => {}
            (Err(why), _) => {
                let what = why.split(" [").next().unwrap_or_default().to_owned();
                if what != last_why {
                    eprintln!("chaos: {:.1} s after the fault: {why}", injected.elapsed().as_secs_f64());
                    last_why = what;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if healed.is_none() {
        fault.heal(t);
    }
    Recovery { down: None, after_heal: None, stale, refused }
}

/// Whether the query API on the replica says it is behind: not ready, with
/// the lag in `/readyz` and in `sunday_replica_lag_seconds`, past the lag allowed.
async fn says_replica_behind(t: &Topology) -> bool {
    let Some(addr) = t.procs.iter().find(|p| p.name == "query-b").map(|p| p.addr) else { return false };
    let allowed = crate::topology::REPLICA_MAX_LAG_MS as f64 / 1000.0;
    let ready = client::readyz(addr).await;
    let ready_says = ready.is_some_and(|a| {
        a.status == StatusCode::SERVICE_UNAVAILABLE && a.body["checks"]["replicaLagSeconds"].as_f64().is_some_and(|l| l > allowed)
    });
    let metrics = client::get_text(addr, "/metrics").await.unwrap_or_default();
    let metric = metrics.lines().find_map(|l| l.strip_prefix("sunday_replica_lag_seconds ")).and_then(|v| v.trim().parse::<f64>().ok());
    ready_says && metric.is_some_and(|l| l > allowed)
}

/// A read of the board without `X-Sunday-Min-Position` from the query API
/// on the replica: its status.
async fn current_read(t: &Topology, token: &str, board: Uuid) -> Option<StatusCode> {
    let addr = t.procs.iter().find(|p| p.name == "query-b")?.addr;
    client::send(addr, token, Method::GET, &format!("/v1/boards/{board}"), None, &[], Duration::from_secs(2)).await.map(|a| a.status)
}

/// One probe: a command through one command API, then the checks; what
/// did not answer yet.
async fn probe(t: &Topology, n: usize, token: &str, board: Uuid, watchers: &[&Watcher], ledger: &Ledger) -> Result<(), String> {
    let apis = t.addrs("command-");
    let body = json!({"boardId": board, "name": "probe"});
    let key = [("idempotency-key", Uuid::now_v7().to_string())];
    let answer = client::send(apis[n % apis.len()], token, Method::POST, "/v1/items", Some(&body), &key, Duration::from_secs(5)).await;
    let (position, item) = match answer {
        Some(a) if a.status == StatusCode::CREATED => (a.position(), a.body["data"]["id"].as_str().unwrap_or_default().to_owned()),
        Some(a) => {
            ledger.record(Outcome::Status(a.status.as_u16()));
            return Err(format!("the command got {}", a.status));
        }
        None => {
            ledger.record(Outcome::NoAnswer);
            return Err("the command got no answer".into());
        }
    };
    let Some(position) = position else { return Err("no position".into()) };
    // The board (a cached read) and the probe's item, as of the probe.
    let reads = t.addrs("query-").into_iter().flat_map(|api| [(api, format!("/v1/boards/{board}")), (api, format!("/v1/items/{item}"))]);
    for (api, path) in reads {
        let wait = [("x-sunday-min-position", position.to_string())];
        match client::send(api, token, Method::GET, &path, None, &wait, Duration::from_secs(5)).await {
            Some(a) if a.status == StatusCode::OK && (path.starts_with("/v1/boards") || a.body["data"]["name"] == "probe") => {}
            Some(a) if a.status == StatusCode::OK => panic!("{path} from {api} as of {position} is not the probe's item: {}", a.body),
            Some(a) => {
                ledger.record(Outcome::Status(a.status.as_u16()));
                return Err(format!("a read from {api} got {}", a.status));
            }
            None => {
                ledger.record(Outcome::NoAnswer);
                return Err(format!("a read from {api} got no answer"));
            }
        }
    }
    for _ in 0..30 {
        if watchers.iter().all(|w| w.last().is_some_and(|l| l >= position)) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let behind: Vec<_> = watchers.iter().map(|w| (w.last(), w.snapshot().2)).collect();
    Err(format!("sockets (last seen, reconnects) {behind:?} did not reach {position}"))
}
