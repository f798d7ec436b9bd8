//! Webhooks end to end, on the real binary and a real HTTP receiver on
//! loopback: every matching event arrives signed (checked by the receiver's
//! own HMAC) and, per board, in log order; a failing board holds back only
//! its own events; exhausted retries and `410` disable a webhook, and
//! re-enabling it delivers the rest; a dispatcher killed with `kill -9`
//! loses nothing; a rotated secret signs from the rotation on; no secret is
//! ever in a log line.

#[path = "../common/mod.rs"]
mod common;
mod receiver;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::process::{Child, Command};
use std::time::Duration;

use hyper::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use common::*;
use receiver::{Delivery, Receiver};

const PATIENCE: Duration = Duration::from_secs(60);

/// `sunday all` for webhooks on loopback, quick retries, its log in `log`.
fn server(pool: &PgPool, addr: SocketAddr, env: &[(&str, &str)], log: &std::path::Path) -> Running {
    spawn(pool, "all", addr, env, log, "debug,sqlx=warn,hyper=info,h2=info")
}

/// `sunday <role>` with the webhook settings of `server`, logging at `level`
/// to the end of `log` (processes of one test may share one).
fn spawn(pool: &PgPool, role: &str, addr: SocketAddr, env: &[(&str, &str)], log: &std::path::Path, level: &str) -> Running {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap_or_else(|e| panic!("{e}"));
    let child: Child = Command::new(env!("CARGO_BIN_EXE_sunday"))
        .arg(role)
        .env_remove("SUNDAY_NATS_URL")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env("DATABASE_URL", database_url(pool))
        .env("SUNDAY_LISTEN", addr.to_string())
        .env("SUNDAY_JWT_SECRET", SECRET)
        .env("SUNDAY_DB_MAX_CONNECTIONS", "8")
        .env("SUNDAY_LOG", level)
        .env("SUNDAY_WEBHOOK_ALLOW_PRIVATE", "true")
        .env("SUNDAY_WEBHOOK_RETRY", "100ms,200ms")
        .env("SUNDAY_RATE_COMMANDS", "0")
        .envs(env.iter().copied())
        .stdout(file.try_clone().unwrap_or_else(|e| panic!("{e}")))
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("starting sunday {role}: {e}"));
    Running(child)
}

fn log_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("sunday-webhooks-{name}-{}.log", Uuid::now_v7()))
}

struct Owner {
    user: Uuid,
    http: Http,
    ws: Value,
    boards: Vec<Value>,
}

async fn owner(addr: SocketAddr, boards: usize) -> Owner {
    let user = Uuid::now_v7();
    let mut http = Http::connect(addr, user).await.unwrap_or_else(|| panic!("connect"));
    let ws = ok(&mut http, Method::POST, "/v1/workspaces", json!({"name": "W"})).await["data"]["id"].clone();
    let mut made = Vec::new();
    for n in 0..boards {
        let board = ok(&mut http, Method::POST, "/v1/boards", json!({"workspaceId": ws, "name": format!("B{n}")})).await;
        made.push(board["data"]["id"].clone());
    }
    Owner { user, http, ws, boards: made }
}

async fn ok(http: &mut Http, method: Method, path: &str, body: Value) -> Value {
    let (status, answer) = http.send(method.clone(), path, Some(body)).await.unwrap_or_else(|| panic!("{method} {path}: no answer"));
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
    answer
}

/// Subscribes `url`; the webhook's id and secret.
async fn subscribe(o: &mut Owner, body: Value) -> (Uuid, String) {
    let path = format!("/v1/workspaces/{}/webhooks", o.ws.as_str().unwrap_or_default());
    let answer = ok(&mut o.http, Method::POST, &path, body).await;
    let id = answer["data"]["id"].as_str().and_then(|s| Uuid::parse_str(s).ok()).unwrap_or_else(|| panic!("{answer}"));
    (id, answer["data"]["secret"].as_str().unwrap_or_default().to_owned())
}

async fn item(http: &mut Http, board: &Value, name: &str) -> Uuid {
    let answer = ok(http, Method::POST, "/v1/items", json!({"boardId": board, "name": name})).await;
    answer["data"]["id"].as_str().and_then(|s| Uuid::parse_str(s).ok()).unwrap_or_default()
}

/// The logged events a webhook made after `after` should get: `(event id, position, board)`.
async fn logged(pool: &PgPool, ws: &Value, after: i64, types: &[&str], board: Option<&Value>) -> Vec<(String, i64, Option<Uuid>)> {
    let ws = ws.as_str().and_then(|s| Uuid::parse_str(s).ok());
    let board = board.and_then(|b| b.as_str()).and_then(|s| Uuid::parse_str(s).ok());
    let types: Vec<String> = types.iter().map(|t| (*t).to_owned()).collect();
    let rows: Vec<(Uuid, i64, Option<Uuid>)> = sqlx::query_as(
        "SELECT event_id, position, board_id FROM events WHERE workspace_id = $1 AND position > $2 \
         AND event_type NOT LIKE 'Webhook%' AND (cardinality($3::text[]) = 0 OR event_type = ANY($3)) \
         AND ($4::uuid IS NULL OR board_id = $4) ORDER BY position",
    )
    .bind(ws)
    .bind(after)
    .bind(&types)
    .bind(board)
    .fetch_all(pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    rows.into_iter().map(|(id, p, b)| (id.to_string(), p, b)).collect()
}

async fn position_of(pool: &PgPool, webhook: Uuid) -> i64 {
    sqlx::query_scalar("SELECT max(position) FROM events WHERE stream_id = $1")
        .bind(format!("webhook-{webhook}"))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Per board, the first delivery of each event comes in log order.
fn in_board_order(got: &[Delivery]) {
    let mut last: HashMap<Option<Uuid>, i64> = HashMap::new();
    let mut seen = HashSet::new();
    for d in got {
        if !seen.insert(d.id.clone()) {
            continue;
        }
        let p = d.position();
        let before = last.insert(d.board(), p).unwrap_or(0);
        assert!(p > before, "board {:?}: {p} delivered after {before}", d.board());
    }
}

fn ids(got: &[Delivery]) -> HashSet<String> {
    got.iter().map(|d| d.id.clone()).collect()
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn every_matching_event_arrives_signed_and_in_board_order(pool: PgPool) {
    let rx = Receiver::start().await;
    let addr = free_addr();
    let log = log_path("order");
    let _server = server(&pool, addr, &[], &log);
    wait_ready(addr).await;
    let mut o = owner(addr, 3).await;
    let (all, secret) = subscribe(&mut o, json!({"url": rx.url("all")})).await;
    let some_body = json!({"url": rx.url("some"), "eventTypes": ["ItemCreated"], "boardIds": [o.boards[0]]});
    let (some, some_secret) = subscribe(&mut o, some_body).await;
    let from = position_of(&pool, some).await.max(position_of(&pool, all).await);
    // 1,000 commands over three boards from four connections at once.
    let mut writers = Vec::new();
    for w in 0..4 {
        let boards = o.boards.clone();
        let mut http = Http::connect(addr, o.user).await.unwrap_or_else(|| panic!("connect"));
        writers.push(tokio::spawn(async move {
            for n in 0..250 {
                let board = &boards[(w + n) % boards.len()];
                let id = item(&mut http, board, "x").await;
                if n % 5 == 0 {
                    ok(&mut http, Method::POST, &format!("/v1/items/{id}/comments"), json!({"body": "c"})).await;
                }
            }
        }));
    }
    for w in writers {
        w.await.unwrap_or_else(|e| panic!("{e}"));
    }
    let want: HashSet<String> = logged(&pool, &o.ws, from, &[], None).await.into_iter().map(|e| e.0).collect();
    assert!(want.len() >= 1000, "{} events", want.len());
    rx.wait_for(PATIENCE, "every event at the catch-all webhook", |s| s.ids("all").is_superset(&want)).await;
    let want_some: HashSet<String> =
        logged(&pool, &o.ws, from, &["ItemCreated"], Some(&o.boards[0])).await.into_iter().map(|e| e.0).collect();
    rx.wait_for(PATIENCE, "the filtered webhook's events", |s| s.ids("some").is_superset(&want_some)).await;
    let got = rx.delivered("all");
    in_board_order(&got);
    assert!(got.iter().all(|d| d.signed_by(&secret)), "every delivery verifies with the webhook's secret");
    let got_some = rx.delivered("some");
    assert_eq!(ids(&got_some), want_some, "the filtered webhook gets exactly its type on its board");
    assert!(got_some.iter().all(|d| d.signed_by(&some_secret) && !d.signed_by(&secret)));
    assert!(got.iter().all(|d| d.event_type().starts_with("Item") || d.event_type() == "CommentAdded"));

    // A rotated secret signs what is sent from then on.
    let rotated = ok(&mut o.http, Method::POST, &format!("/v1/webhooks/{all}/rotate-secret"), json!({})).await;
    let new_secret = rotated["data"]["secret"].as_str().unwrap_or_default().to_owned();
    let after = item(&mut o.http, &o.boards[1], "after the rotation").await;
    rx.wait_for(PATIENCE, "the event after the rotation", |s| {
        s.deliveries.iter().any(|d| d.json()["data"]["data"]["itemId"] == json!(after))
    })
    .await;
    let late = rx.delivered("all").into_iter().find(|d| d.json()["data"]["data"]["itemId"] == json!(after));
    assert!(late.is_some_and(|d| d.signed_by(&new_secret) && !d.signed_by(&secret)));

    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("webhook dispatcher elected"), "the log was captured");
    for s in [&secret, &some_secret, &new_secret] {
        assert!(!text.contains(s.trim_start_matches("whsec_")), "a secret is in the server's log");
    }
    let _ = std::fs::remove_file(&log);
}

fn uuid(v: &Value) -> Uuid {
    v.as_str().and_then(|s| Uuid::parse_str(s).ok()).unwrap_or_default()
}

/// The webhook's last event type in the log.
async fn last_type(pool: &PgPool, webhook: Uuid) -> String {
    sqlx::query_scalar("SELECT event_type FROM events WHERE stream_id = $1 ORDER BY stream_version DESC LIMIT 1")
        .bind(format!("webhook-{webhook}"))
        .fetch_one(pool)
        .await
        .unwrap_or_default()
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_failing_board_holds_back_only_its_own_events_and_exhaustion_disables(pool: PgPool) {
    let rx = Receiver::start().await;
    let addr = free_addr();
    let log = log_path("failing");
    let _server = server(&pool, addr, &[("SUNDAY_WEBHOOK_GIVE_UP", "2s")], &log);
    wait_ready(addr).await;
    let mut o = owner(addr, 2).await;
    let (sick, well) = (o.boards[0].clone(), o.boards[1].clone());
    let (hook, _) = subscribe(&mut o, json!({"url": rx.url("h"), "eventTypes": ["ItemCreated"]})).await;
    rx.script().failing.insert(uuid(&sick));
    let mut sick_items = Vec::new();
    for n in 0..5 {
        sick_items.push(item(&mut o.http, &sick, &format!("sick {n}")).await);
        item(&mut o.http, &well, &format!("well {n}")).await;
    }
    // The well board's events are not held back by the sick one's retries.
    rx.wait_for(Duration::from_secs(10), "the well board's events", |s| {
        s.delivered("h").iter().filter(|d| d.board() == Some(uuid(&well))).count() == 5
    })
    .await;
    assert!(rx.delivered("h").iter().all(|d| d.board() == Some(uuid(&well))), "nothing of the failing board was delivered");
    // Recovered within the give-up time: the board's events arrive, in order.
    rx.script().failing.clear();
    rx.wait_for(PATIENCE, "the recovered board's events", |s| s.delivered("h").len() == 10).await;
    let sick_order: Vec<Uuid> =
        rx.delivered("h").iter().filter(|d| d.board() == Some(uuid(&sick))).map(|d| uuid(&d.json()["data"]["data"]["itemId"])).collect();
    assert_eq!(sick_order, sick_items, "in log order, after the failures");
    in_board_order(&rx.delivered("h"));

    // Failing past the give-up time disables the webhook...
    rx.script().failing.insert(uuid(&sick));
    let stuck = item(&mut o.http, &sick, "stuck").await;
    let started = std::time::Instant::now();
    while last_type(&pool, hook).await != "WebhookDisabled" {
        assert!(started.elapsed() < PATIENCE, "the webhook was never disabled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ...which then sends nothing, even for healthy boards.
    let waiting = item(&mut o.http, &well, "while disabled").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let arrived = |id: Uuid| move |d: &Delivery| d.json()["data"]["data"]["itemId"] == json!(id);
    assert!(!rx.delivered("h").iter().any(arrived(waiting)), "a disabled webhook sends nothing");
    // Re-enabled, it delivers what it had not, skipping nothing.
    rx.script().failing.clear();
    ok(&mut o.http, Method::PATCH, &format!("/v1/webhooks/{hook}"), json!({"active": true})).await;
    rx.wait_for(PATIENCE, "the rest after re-enabling", |s| {
        let got = s.delivered("h");
        got.iter().any(arrived(stuck)) && got.iter().any(arrived(waiting))
    })
    .await;
    in_board_order(&rx.delivered("h"));

    // `410 Gone` disables at once.
    rx.script().gone.insert("h".into());
    item(&mut o.http, &well, "gone").await;
    let started = std::time::Instant::now();
    while last_type(&pool, hook).await != "WebhookDisabled" {
        assert!(started.elapsed() < Duration::from_secs(10), "410 did not disable the webhook");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gone_attempts = rx.script().deliveries.iter().filter(|d| d.answered == 410).count();
    assert_eq!(gone_attempts, 1, "no retry after 410");
    let _ = std::fs::remove_file(&log);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_dispatcher_killed_mid_delivery_loses_nothing(pool: PgPool) {
    let rx = Receiver::start().await;
    rx.script().slow = Duration::from_millis(20);
    let addr = free_addr();
    let log = log_path("killed");
    let mut first = server(&pool, addr, &[], &log);
    wait_ready(addr).await;
    let mut o = owner(addr, 3).await;
    let (hook, _) = subscribe(&mut o, json!({"url": rx.url("k")})).await;
    let from = position_of(&pool, hook).await;
    for n in 0..150 {
        let board = o.boards[n % 3].clone();
        item(&mut o.http, &board, "k").await;
    }
    rx.wait_for(PATIENCE, "some deliveries before the kill", |s| s.deliveries.len() >= 30).await;
    // SIGKILL: no shutdown, whatever was in flight is cut.
    let _ = first.0.kill();
    let _ = first.0.wait();
    let before = rx.script().deliveries.len();
    let addr = free_addr();
    let _second = server(&pool, addr, &[], &log);
    wait_ready(addr).await;
    let want: HashMap<String, i64> = logged(&pool, &o.ws, from, &[], None).await.into_iter().map(|(id, p, _)| (id, p)).collect();
    let expected: HashSet<String> = want.keys().cloned().collect();
    rx.wait_for(PATIENCE, "every event after the restart", |s| s.ids("k").is_superset(&expected)).await;
    let got = rx.delivered("k");
    assert!(before < want.len(), "the kill came before the end ({before} of {})", want.len());
    for d in &got {
        assert_eq!(want.get(&d.id), Some(&d.position()), "a delivery is of a logged event, under its own webhook-id");
    }
    let mut bodies: HashMap<&str, &[u8]> = HashMap::new();
    for d in &got {
        let first_body = *bodies.entry(&d.id).or_insert(&d.body);
        assert_eq!(first_body, &d.body[..], "a duplicate is the same delivery again");
    }
    in_board_order(&got);
    let _ = std::fs::remove_file(&log);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn the_list_the_deliveries_log_and_replay(pool: PgPool) {
    let rx = Receiver::start().await;
    let addr = free_addr();
    let log = log_path("replay");
    let _server = server(&pool, addr, &[], &log);
    wait_ready(addr).await;
    let mut o = owner(addr, 1).await;
    let board = o.boards[0].clone();
    let (hook, secret) = subscribe(&mut o, json!({"url": rx.url("r"), "eventTypes": ["ItemCreated"]})).await;
    for n in 0..5 {
        item(&mut o.http, &board, &format!("r{n}")).await;
    }
    rx.wait_for(PATIENCE, "the five items", |s| s.delivered("r").len() == 5).await;
    let first = rx.delivered("r").iter().map(Delivery::position).min().unwrap_or_default();
    let last = rx.delivered("r").iter().map(Delivery::position).max().unwrap_or_default();

    let ws = o.ws.as_str().unwrap_or_default().to_owned();
    let started = std::time::Instant::now();
    let listed = loop {
        let (_, body) = o.http.send(Method::GET, &format!("/v1/workspaces/{ws}/webhooks"), None).await.unwrap_or_else(|| panic!("list"));
        if body["data"][0]["deliveredPosition"].as_i64().unwrap_or(0) >= last {
            break body;
        }
        assert!(started.elapsed() < PATIENCE, "deliveredPosition never reached the last delivery: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let entry = &listed["data"][0];
    assert_eq!(
        (entry["id"].clone(), entry["active"].clone(), entry["eventTypes"].clone()),
        (json!(hook), json!(true), json!(["ItemCreated"]))
    );
    assert!(entry.get("secret").is_none() && !listed.to_string().contains(secret.trim_start_matches("whsec_")));
    let (_, attempts) =
        o.http.send(Method::GET, &format!("/v1/webhooks/{hook}/deliveries?limit=3"), None).await.unwrap_or_else(|| panic!("log"));
    let page = attempts["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(page.len(), 3, "{attempts}");
    assert!(page.windows(2).all(|w| w[0]["position"].as_i64() > w[1]["position"].as_i64()), "newest first: {attempts}");
    assert!(page.iter().all(|a| a["status"] == json!(200) && a["attempt"] == json!(1) && a["type"] == json!("ItemCreated")));
    assert!(attempts["nextCursor"].is_string(), "{attempts}");

    // Members who do not manage the workspace are refused; strangers learn nothing.
    let (plain, stranger) = (Uuid::now_v7(), Uuid::now_v7());
    let added = ok(&mut o.http, Method::POST, &format!("/v1/workspaces/{ws}/members"), json!({"userId": plain, "role": "member"})).await;
    let at = added["data"]["position"].as_i64().unwrap_or_default().to_string();
    for (who, want) in [(plain, 403), (stranger, 404)] {
        let mut http = Http::connect(addr, who).await.unwrap_or_else(|| panic!("connect"));
        for (method, path, body) in [
            (Method::GET, format!("/v1/workspaces/{ws}/webhooks"), None),
            (Method::GET, format!("/v1/webhooks/{hook}/deliveries"), None),
            (Method::POST, format!("/v1/webhooks/{hook}/replay"), Some(json!({"fromPosition": 0}))),
        ] {
            // Reads as of the membership (read your writes).
            let req = hyper::Request::builder()
                .method(method.clone())
                .uri(&path)
                .header("host", "sunday")
                .header("authorization", format!("Bearer {}", http.token()))
                .header("content-type", "application/json")
                .header("x-sunday-min-position", &at)
                .body(http_body_util::Full::new(hyper::body::Bytes::from(body.map(|b| b.to_string()).unwrap_or_default())));
            let (status, text) = http.raw(req.unwrap_or_else(|e| panic!("{e}"))).await.unwrap_or_else(|| panic!("{path}"));
            assert_eq!(status.as_u16(), want, "{method} {path}: {text}");
        }
    }

    // A replay sends the range again, in order, under the same webhook-ids.
    let bad = o.http.send(Method::POST, &format!("/v1/webhooks/{hook}/replay"), Some(json!({"fromPosition": 10, "toPosition": 5}))).await;
    assert_eq!(bad.map(|(s, _)| s.as_u16()), Some(422));
    let replayed = ok(&mut o.http, Method::POST, &format!("/v1/webhooks/{hook}/replay"), json!({"fromPosition": first})).await;
    assert_eq!(replayed["data"]["id"], json!(hook));
    rx.wait_for(PATIENCE, "the replayed items", |s| s.delivered("r").len() == 10).await;
    let got = rx.delivered("r");
    let (originals, again) = got.split_at(5);
    let ids_of = |ds: &[Delivery]| ds.iter().map(|d| d.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids_of(originals), ids_of(again), "the same events again, in the same order");
    assert!(again.iter().all(|d| d.signed_by(&secret)));
    let _ = std::fs::remove_file(&log);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn endpoints_that_time_out_or_refuse_connections_get_their_events_once_they_answer(pool: PgPool) {
    let rx = Receiver::start().await;
    let closed = free_addr();
    let addr = free_addr();
    let log = log_path("timeouts");
    let _server = server(&pool, addr, &[("SUNDAY_WEBHOOK_TIMEOUT", "500ms")], &log);
    wait_ready(addr).await;
    let mut o = owner(addr, 2).await;
    let (slow, quick) = (o.boards[0].clone(), o.boards[1].clone());
    subscribe(&mut o, json!({"url": rx.url("t"), "eventTypes": ["ItemCreated"]})).await;
    let later = format!("http://{closed}/hooks/c");
    subscribe(&mut o, json!({"url": later, "eventTypes": ["ItemCreated"]})).await;
    rx.script().hanging.insert(uuid(&slow));
    let mut slow_items = Vec::new();
    for n in 0..3 {
        slow_items.push(item(&mut o.http, &slow, &format!("slow {n}")).await);
        item(&mut o.http, &quick, &format!("quick {n}")).await;
    }
    // The board whose endpoint does not answer in time waits; the other goes on.
    rx.wait_for(Duration::from_secs(10), "the quick board's events", |s| {
        s.delivered("t").iter().filter(|d| d.board() == Some(uuid(&quick))).count() == 3
    })
    .await;
    rx.script().hanging.clear();
    rx.wait_for(PATIENCE, "the slow board's events once it answers", |s| s.delivered("t").len() == 6).await;
    let order: Vec<Uuid> =
        rx.delivered("t").iter().filter(|d| d.board() == Some(uuid(&slow))).map(|d| uuid(&d.json()["data"]["data"]["itemId"])).collect();
    assert_eq!(order, slow_items, "in log order after the timeouts");
    // Nothing listened on the other endpoint's port; once something does,
    // it gets everything, in order.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let opened = Receiver::start_on(closed).await;
    opened.wait_for(PATIENCE, "the events of the endpoint that was closed", |s| s.delivered("c").len() == 6).await;
    in_board_order(&opened.delivered("c"));
    let _ = std::fs::remove_file(&log);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn two_dispatchers_share_the_work_by_leadership_and_the_standby_takes_over(pool: PgPool) {
    let rx = Receiver::start().await;
    rx.script().slow = Duration::from_millis(10);
    let log = log_path("standby");
    let (api, first, second) = (free_addr(), free_addr(), free_addr());
    let _api = spawn(&pool, "command-api", api, &[], &log, "info");
    let mut one = spawn(&pool, "webhooks", first, &[], &log, "info");
    wait_ready(first).await;
    let _two = spawn(&pool, "webhooks", second, &[], &log, "info");
    wait_ready(api).await;
    wait_ready(second).await;
    let mut o = owner(api, 2).await;
    let (hook, _) = subscribe(&mut o, json!({"url": rx.url("s")})).await;
    let from = position_of(&pool, hook).await;
    for n in 0..100 {
        let board = o.boards[n % 2].clone();
        item(&mut o.http, &board, "s").await;
    }
    rx.wait_for(PATIENCE, "deliveries from the first dispatcher", |s| s.deliveries.len() >= 20).await;
    // The one that leads (the first started) dies; the standby takes over.
    let _ = one.0.kill();
    let _ = one.0.wait();
    let want: HashSet<String> = logged(&pool, &o.ws, from, &[], None).await.into_iter().map(|e| e.0).collect();
    rx.wait_for(PATIENCE, "every event after the takeover", |s| s.ids("s").is_superset(&want)).await;
    in_board_order(&rx.delivered("s"));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(text.matches("webhook dispatcher elected").count(), 2, "one leader at a time: the first, then the standby");
    let _ = std::fs::remove_file(&log);
}
