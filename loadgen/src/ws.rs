//! `sunday bench ws`: the realtime load generator. Opens N sockets over B
//! boards (one user per socket, each a member of its board), drives item
//! creates at R per second through the HTTP API, and reports sockets held,
//! end-to-end latency from sending a command to a socket receiving its event
//! (p50/p95/p99/max), deliveries lost or doubled, and the gateway's resident
//! memory per idle socket (given the server's pid).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use uuid::Uuid;

use crate::client::{Client, percentile_ms, token};
use crate::delivery::{Board, Shared, count_deliveries};

#[derive(clap::Args, Clone, Debug)]
pub struct WsBench {
    /// The server (command API, projector, query API and gateway).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) target: SocketAddr,
    /// Sockets to open.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) sockets: usize,
    /// Boards the sockets are spread over.
    #[arg(long, default_value_t = 100)]
    pub(crate) boards: usize,
    /// Commands per second, each run at a given rate for `seconds`.
    #[arg(long, value_delimiter = ',', default_value = "100,200")]
    pub(crate) rates: Vec<u64>,
    /// Seconds per rate.
    #[arg(long, default_value_t = 20)]
    pub(crate) seconds: u64,
    /// The gateway's process id, to report its resident memory per socket.
    #[arg(long)]
    pub(crate) server_pid: Option<u32>,
    /// Follow the boards on Server-Sent Events change feeds instead of WebSockets.
    #[arg(long)]
    pub(crate) sse: bool,
    /// With `--sse`: start each stream at its board's current position (as a
    /// client resuming does) rather than replaying the board's history.
    #[arg(long)]
    pub(crate) from_now: bool,
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub(crate) async fn run(bench: &WsBench, secret: &str) -> anyhow::Result<()> {
    let boards = setup(bench, secret).await?;
    let total: u64 = bench.rates.iter().map(|r| r * bench.seconds).sum::<u64>() + 16;
    let shared = Arc::new(Shared {
        sent_us: (0..total).map(|_| AtomicU64::new(0)).collect(),
        delivered: (0..total).map(|_| AtomicU32::new(0)).collect(),
        latencies: Mutex::new(Vec::new()),
        start: Instant::now(),
    });
    let rss_before = bench.server_pid.and_then(rss_kib);
    let opened = Instant::now();
    let sockets = if bench.sse {
        crate::sse::open_streams(bench.target, secret, &boards, bench.sockets, bench.from_now, &shared).await?
    } else {
        open_sockets(bench, secret, &boards, &shared).await?
    };
    let kind = if bench.sse { "streams opened" } else { "sockets joined" };
    eprintln!("{} {kind} in {:.1} s", sockets.len(), opened.elapsed().as_secs_f64());
    tokio::time::sleep(Duration::from_secs(3)).await;
    if let (Some(before), Some(after)) = (rss_before, bench.server_pid.and_then(rss_kib)) {
        let per = (after.saturating_sub(before)) as f64 / sockets.len().max(1) as f64;
        println!("gateway resident memory: {before} KiB before, {after} KiB with {} idle sockets = {per:.1} KiB per socket", sockets.len());
    }
    println!("| commands/s | deliveries/s | sockets | p50 ms | p95 ms | p99 ms | max ms | lost | doubled |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut seq = 0u64;
    for &rate in &bench.rates {
        let first = seq;
        seq = drive(bench, secret, &boards, rate, first, &shared).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        report(rate, bench, first..seq, &sockets, &shared);
    }
    Ok(())
}

/// The user that sends every command (an editor of every board).
fn driver() -> Uuid {
    Uuid::from_u128(0x5355_4e44_4159_0000_0000_0000_0000_0001)
}

async fn setup(bench: &WsBench, secret: &str) -> anyhow::Result<Vec<Board>> {
    let per_board = bench.sockets.div_ceil(bench.boards.max(1));
    let sem = Arc::new(Semaphore::new(8));
    let mut tasks = Vec::new();
    for b in 0..bench.boards.max(1) {
        let (target, secret, sem) = (bench.target, secret.to_owned(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await?;
            let owner = Uuid::now_v7();
            let mut c = Client::connect(target, &token(&secret, owner, None)).await?;
            let ws = c.create("/v1/workspaces", json!({"name": format!("ws bench {b}")})).await?;
            let id = c.create("/v1/boards", json!({"workspaceId": ws, "name": format!("ws bench {b}")})).await?;
            c.expect_ok(&format!("/v1/workspaces/{ws}/members"), json!({"userId": driver(), "role": "member"})).await?;
            c.expect_ok(&format!("/v1/boards/{id}/members"), json!({"userId": driver(), "role": "editor"})).await?;
            let mut members = Vec::with_capacity(per_board);
            for _ in 0..per_board {
                let user = Uuid::now_v7();
                c.expect_ok(&format!("/v1/workspaces/{ws}/members"), json!({"userId": user, "role": "member"})).await?;
                c.expect_ok(&format!("/v1/boards/{id}/members"), json!({"userId": user, "role": "viewer"})).await?;
                members.push(user);
            }
            anyhow::Ok(Board { id, members })
        }));
    }
    let mut boards = Vec::new();
    for t in tasks {
        boards.push(t.await??);
    }
    Ok(boards)
}

/// Opens and joins every socket (at most 200 handshakes at a time); each then
/// counts and times what it receives.
async fn open_sockets(bench: &WsBench, secret: &str, boards: &[Board], shared: &Arc<Shared>) -> anyhow::Result<Vec<usize>> {
    let sem = Arc::new(Semaphore::new(200));
    let mut joins = Vec::new();
    for (i, board) in boards.iter().enumerate() {
        for user in board.members.iter().take(bench.sockets.saturating_sub(i * board.members.len())) {
            let url = format!("ws://{}/v1/ws?token={}", bench.target, token(secret, *user, None));
            let (board_id, shared, sem) = (board.id, shared.clone(), sem.clone());
            joins.push(tokio::spawn(async move {
                let permit = sem.acquire_owned().await?;
                let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
                let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
                let join = json!({"event": "join-board", "data": {"boardId": board_id}}).to_string();
                ws.send(Message::text(join)).await?;
                while let Some(m) = ws.next().await {
                    if let Message::Text(t) = m?
                        && serde_json::from_str::<serde_json::Value>(t.as_str()).is_ok_and(|f| f["event"] == "board-state")
                    {
                        break;
                    }
                }
                drop(permit);
                tokio::spawn(listen(ws, shared));
                anyhow::Ok(i)
            }));
        }
    }
    let mut held = Vec::new();
    for j in joins {
        held.push(j.await?.context("a socket failed to open or join")?);
    }
    Ok(held)
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Counts each command's deliveries by the sequence number in its item's name.
async fn listen(mut ws: Socket, shared: Arc<Shared>) {
    while let Some(Ok(m)) = ws.next().await {
        let Message::Text(t) = m else { continue };
        let text = t.as_str();
        if text.starts_with(r#"{"event":"events""#) {
            count_deliveries(text, &shared);
        }
    }
}

/// Creates items at `rate` per second over the boards in turn, for the bench's
/// duration; returns the next sequence number.
async fn drive(bench: &WsBench, secret: &str, boards: &[Board], rate: u64, first: u64, shared: &Arc<Shared>) -> anyhow::Result<u64> {
    shared.latencies().clear();
    let (tx, rx) = async_channel(256);
    let mut writers = Vec::new();
    for _ in 0..16 {
        let rx = rx.clone();
        let mut client = Client::connect(bench.target, &token(secret, driver(), None)).await?;
        let shared = shared.clone();
        writers.push(tokio::spawn(async move {
            let mut errors = 0usize;
            while let Ok((seq, board)) = rx.recv().await {
                let body = json!({"boardId": board, "name": format!("bench-{seq}")});
                if let Some(s) = shared.sent_us.get(usize::try_from(seq).unwrap_or(usize::MAX)) {
                    s.store(shared.now_us(), Ordering::Relaxed);
                }
                if client.create("/v1/items", body).await.is_err() {
                    errors += 1;
                }
            }
            errors
        }));
    }
    drop(rx);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1) as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut seq = first;
    for _ in 0..rate * bench.seconds {
        tick.tick().await;
        let index = usize::try_from(seq).unwrap_or(0) % boards.len();
        tx.send((seq, boards[index].id)).await?;
        seq += 1;
    }
    drop(tx);
    for w in writers {
        let errors = w.await?;
        if errors > 0 {
            eprintln!("{errors} commands failed");
        }
    }
    Ok(seq)
}

/// A multi-consumer queue of commands to send.
fn async_channel(capacity: usize) -> (CommandTx, CommandRx) {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity);
    (CommandTx(tx), CommandRx(Arc::new(tokio::sync::Mutex::new(rx))))
}

type Work = (u64, Uuid);

struct CommandTx(tokio::sync::mpsc::Sender<Work>);
#[derive(Clone)]
struct CommandRx(Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Work>>>);

impl CommandTx {
    async fn send(&self, w: Work) -> anyhow::Result<()> {
        self.0.send(w).await.map_err(|_| anyhow::anyhow!("the writers stopped"))
    }
}

impl CommandRx {
    async fn recv(&self) -> Result<Work, ()> {
        self.0.lock().await.recv().await.ok_or(())
    }
}

fn report(rate: u64, bench: &WsBench, seqs: std::ops::Range<u64>, sockets: &[usize], shared: &Shared) {
    let mut per_board = vec![0u32; bench.boards.max(1)];
    for &b in sockets {
        per_board[b] += 1;
    }
    let (mut lost, mut doubled, mut expected) = (0u64, 0u64, 0u64);
    for seq in seqs {
        let index = usize::try_from(seq).unwrap_or(0);
        let want = u64::from(per_board[index % per_board.len()]);
        let got = u64::from(shared.delivered[index].load(Ordering::Relaxed));
        expected += want;
        lost += want.saturating_sub(got);
        doubled += got.saturating_sub(want);
    }
    let mut latencies = std::mem::take(&mut *shared.latencies());
    latencies.sort_unstable();
    println!(
        "| {rate} | {:.0} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {lost} | {doubled} |",
        expected as f64 / bench.seconds.max(1) as f64,
        sockets.len(),
        percentile_ms(&latencies, 50.0),
        percentile_ms(&latencies, 95.0),
        percentile_ms(&latencies, 99.0),
        f64::from(latencies.last().copied().unwrap_or(0)) / 1000.0
    );
}
