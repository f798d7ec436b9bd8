//! The change feed over real HTTP: JSON pages followed by `X-Sunday-Position`
//! and Server-Sent Events read by an SSE parser (`eventsource-stream`), each
//! delivering every event of a board once and in order while writes race,
//! resuming from `Last-Event-ID`, ending with `forbidden` for a removed
//! member, and telling a non-member nothing.

use std::collections::HashSet;
use std::time::Duration;

use axum::http::Method;
use eventsource_stream::{Event, Eventsource};
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{PATIENCE, System, id, token, user};

fn url(sys: &System, board: Uuid, query: &str) -> String {
    format!("http://{}/v1/boards/{board}/changes{query}", sys.addr)
}

/// One JSON page: status, body and `X-Sunday-Position`.
async fn page(sys: &System, who: Uuid, board: Uuid, query: &str) -> (u16, Value, Option<i64>) {
    let resp = reqwest::Client::new().get(url(sys, board, query)).bearer_auth(token(who)).send().await;
    let resp = resp.unwrap_or_else(|e| panic!("GET changes: {e}"));
    let status = resp.status().as_u16();
    let position = resp.headers().get("x-sunday-position").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body, position)
}

/// Writers creating `n` items each on `board`, racing whatever the test reads.
fn writers(sys: &std::sync::Arc<System>, owner: Uuid, board: Uuid, writers: usize, n: usize) -> tokio::task::JoinHandle<HashSet<Uuid>> {
    let sys = sys.clone();
    tokio::spawn(async move {
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let sys = sys.clone();
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    for i in 0..n {
                        ids.push(id(&sys.item(owner, board, &format!("w{w} i{i}")).await));
                    }
                    ids
                })
            })
            .collect();
        let mut all = HashSet::new();
        for t in tasks {
            all.extend(t.await.unwrap_or_default());
        }
        all
    })
}

/// The items an event list creates, checking positions only ever grow.
fn created(events: &[Value]) -> Vec<Uuid> {
    let positions: Vec<i64> = events.iter().filter_map(|e| e["position"].as_i64()).collect();
    assert_eq!(positions.len(), events.len(), "every event has a position");
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "out of order or repeated: {positions:?}");
    events
        .iter()
        .filter(|e| e["type"] == "ItemCreated")
        .filter_map(|e| e["data"]["itemId"].as_str())
        .filter_map(|s| s.parse().ok())
        .collect()
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn json_pages_deliver_every_event_once_in_order_while_writes_race(pool: PgPool) {
    let sys = std::sync::Arc::new(System::start(&pool).await);
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let (_, elsewhere) = sys.board(owner).await;
    let mut writing = Some(writers(&sys, owner, board, 4, 15));
    let noise = writers(&sys, owner, elsewhere, 1, 10);
    let (mut seen, mut since) = (Vec::new(), 0);
    let mut expected: Option<HashSet<Uuid>> = None;
    let deadline = tokio::time::Instant::now() + PATIENCE * 3;
    loop {
        let (status, body, position) = page(&sys, owner, board, &format!("?since={since}&limit=7")).await;
        assert_eq!(status, 200, "{body}");
        let events = body["data"].as_array().cloned().unwrap_or_default();
        assert!(events.len() <= 7 && body["nextCursor"].is_null());
        since = position.unwrap_or_else(|| panic!("no X-Sunday-Position"));
        seen.extend(events);
        if let Some(w) = writing.take_if(|w| w.is_finished()) {
            expected = Some(w.await.unwrap_or_default());
            continue;
        }
        if let Some(want) = &expected
            && created(&seen).len() >= want.len()
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the feed stalled at {} events", seen.len());
    }
    let _ = noise.await;
    let got = created(&seen);
    assert_eq!(got.len(), got.iter().collect::<HashSet<_>>().len(), "an event came twice");
    assert_eq!(got.into_iter().collect::<HashSet<_>>(), expected.unwrap_or_default(), "the feed missed or invented items");
    assert_eq!(seen[0]["type"], "BoardCreated");
    assert!(seen.iter().all(|e| e["streamId"] != format!("board-{elsewhere}")), "another board's events leaked");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_wait_holds_the_request_until_the_next_event(pool: PgPool) {
    let sys = std::sync::Arc::new(System::start(&pool).await);
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let (_, _, at) = page(&sys, owner, board, "?limit=1000").await;
    let at = at.unwrap_or_default();
    let (status, body, quiet) = page(&sys, owner, board, &format!("?since={at}&wait=1")).await;
    assert_eq!((status, body["data"].as_array().map(Vec::len)), (200, Some(0)), "{body}");
    assert!(quiet.is_some_and(|p| p >= at));
    let waiting = {
        let sys = sys.clone();
        tokio::spawn(async move { page(&sys, owner, board, &format!("?since={at}&wait=20")).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "nothing happened yet, so the request waits");
    let item = id(&sys.item(owner, board, "wakes the waiter").await);
    let answered = tokio::time::timeout(PATIENCE, waiting).await;
    let (status, body, _) = answered.unwrap_or_else(|_| panic!("the wait was not ended by the event")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 200);
    assert_eq!(created(body["data"].as_array().map_or(&[][..], Vec::as_slice)), [item]);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_non_member_learns_nothing_and_bad_parameters_are_refused(pool: PgPool) {
    let sys = System::start(&pool).await;
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let stranger = user();
    let (status, unknown, _) = page(&sys, stranger, Uuid::now_v7(), "").await;
    let (status_hidden, hidden, position) = page(&sys, stranger, board, "?wait=1").await;
    assert_eq!((status, status_hidden), (404, 404));
    assert_eq!(unknown, hidden, "a board one may not read looks like one that does not exist");
    assert!(position.is_none());
    let (status, out_of_range, _) = page(&sys, stranger, board, "?limit=0").await;
    assert_eq!((status, &out_of_range), (404, &hidden), "a 404 wins over a 422: nothing about the board shows");
    let sse = reqwest::Client::new().get(url(&sys, board, "")).bearer_auth(token(stranger)).header("accept", "text/event-stream");
    assert_eq!(sse.send().await.map(|r| r.status().as_u16()).ok(), Some(404));
    for (query, want) in [
        ("?limit=0", 422),
        ("?limit=1001", 422),
        ("?limit=x", 400),
        ("?since=-1", 422),
        ("?wait=31", 422),
        ("?since=1&since=2", 400),
        ("?since=", 400),
    ] {
        let (status, body, _) = page(&sys, owner, board, query).await;
        assert_eq!(status, want, "{query}: {body}");
    }
    let anonymous = reqwest::Client::new().get(url(&sys, board, "")).send().await.map(|r| r.status().as_u16());
    assert_eq!(anonymous.ok(), Some(401));
    let resp =
        reqwest::Client::new().get(format!("http://{}/v1/boards/not-a-uuid/changes", sys.addr)).bearer_auth(token(owner)).send().await;
    assert_eq!(resp.map(|r| r.status().as_u16()).ok(), Some(404));
}

/// An SSE stream of `board` for `who`, from `Last-Event-ID` when given.
async fn open(sys: &System, who: Uuid, board: Uuid, last: Option<&str>) -> impl Stream<Item = Event> + Unpin + use<> {
    let mut req = reqwest::Client::new().get(url(sys, board, "")).bearer_auth(token(who)).header("accept", "text/event-stream");
    if let Some(last) = last {
        req = req.header("last-event-id", last);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("open SSE: {e}"));
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/event-stream"));
    Box::pin(resp.bytes_stream().eventsource().map(|e| e.unwrap_or_else(|e| panic!("SSE: {e}"))))
}

/// Reads events until `done` says so.
async fn read_until(stream: &mut (impl Stream<Item = Event> + Unpin), seen: &mut Vec<Event>, done: impl Fn(&[Event]) -> bool) {
    while !done(seen) {
        let next = tokio::time::timeout(PATIENCE, stream.next()).await;
        seen.push(next.unwrap_or_else(|_| panic!("SSE stalled after {} events", seen.len())).unwrap_or_else(|| panic!("SSE ended")));
    }
}

fn as_json(events: &[Event]) -> Vec<Value> {
    events
        .iter()
        .map(|e| {
            let v: Value = serde_json::from_str(&e.data).unwrap_or_else(|err| panic!("{err}: {}", e.data));
            assert_eq!(e.id, v["position"].to_string(), "the id is the position");
            assert_eq!(e.event, v["type"].as_str().unwrap_or_default(), "the event name is the type");
            v
        })
        .collect()
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn sse_delivers_every_event_once_in_order_and_resumes_from_the_last_event_id(pool: PgPool) {
    let sys = std::sync::Arc::new(System::start(&pool).await);
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let mut stream = open(&sys, owner, board, None).await;
    let writing = writers(&sys, owner, board, 4, 10);
    let mut first = Vec::new();
    read_until(&mut stream, &mut first, |seen| created(&as_json(seen)).len() >= 12).await;
    drop(stream);
    let last = first.last().map(|e| e.id.clone()).unwrap_or_default();
    let expected = writing.await.unwrap_or_default();
    let mut stream = open(&sys, owner, board, Some(&last)).await;
    let mut rest = Vec::new();
    read_until(&mut stream, &mut rest, |seen| created(&as_json(&first)).len() + created(&as_json(seen)).len() >= expected.len()).await;
    let all: Vec<Event> = first.into_iter().chain(rest).collect();
    let got = created(&as_json(&all));
    assert_eq!(got.len(), expected.len(), "an event came twice");
    assert_eq!(got.into_iter().collect::<HashSet<_>>(), expected);
    // Live ones keep coming on the resumed stream.
    let live = id(&sys.item(owner, board, "live").await);
    let mut more = Vec::new();
    read_until(&mut stream, &mut more, |seen| !created(&as_json(seen)).is_empty()).await;
    assert_eq!(created(&as_json(&more)), [live]);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn sse_ends_with_forbidden_for_a_removed_member(pool: PgPool) {
    let sys = System::start(&pool).await;
    let owner = user();
    let (ws, board) = sys.board(owner).await;
    let member = user();
    sys.add_member(owner, ws, board, member).await;
    let mut stream = open(&sys, member, board, None).await;
    let seen_item = id(&sys.item(owner, board, "seen").await);
    let mut seen = Vec::new();
    read_until(&mut stream, &mut seen, |s| created(&as_json(s)).contains(&seen_item)).await;
    sys.command(Method::DELETE, &format!("/v1/boards/{board}/members/{member}"), owner, json!(null)).await;
    sys.item(owner, board, "unseen").await;
    let mut tail = Vec::new();
    read_until(&mut stream, &mut tail, |s| s.last().is_some_and(|e| e.event == "error")).await;
    assert_eq!(tail.last().map(|e| e.data.as_str()), Some(r#"{"code":"forbidden"}"#));
    assert!(tail.iter().all(|e| e.event != "ItemCreated" && e.event != "BoardMemberRemoved"), "nothing from the removal on");
    let end = tokio::time::timeout(PATIENCE, stream.next()).await;
    assert!(matches!(end, Ok(None)), "the stream ends");
    let (status, _, _) = page(&sys, member, board, "").await;
    assert_eq!(status, 404, "and the JSON feed refuses too");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn streams_and_waiting_requests_count_against_the_users_socket_places(pool: PgPool) {
    let config = sunday_realtime_gateway::Config { max_sockets_per_user: 1, ..Default::default() };
    let sys = System::with_config(&pool, config).await;
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let _held = open(&sys, owner, board, None).await;
    let (_, _, at) = page(&sys, owner, board, "?limit=1000").await;
    let resp = reqwest::Client::new()
        .get(url(&sys, board, &format!("?since={}&wait=5", at.unwrap_or_default())))
        .bearer_auth(token(owner))
        .send()
        .await;
    let resp = resp.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 429, "a request that would wait needs a place");
    assert!(resp.headers().contains_key("retry-after"));
    let second =
        reqwest::Client::new().get(url(&sys, board, "")).bearer_auth(token(owner)).header("accept", "text/event-stream").send().await;
    assert_eq!(second.map(|r| r.status().as_u16()).ok(), Some(429));
    let (status, _, _) = page(&sys, owner, board, "").await;
    assert_eq!(status, 200, "a page that does not wait needs none");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_stream_ends_when_its_token_expires(pool: PgPool) {
    let sys = System::start(&pool).await;
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let claims = sunday_edge::token::Claims { sub: owner, exp: chrono::Utc::now().timestamp() + 2, name: None, email: None };
    let short = sunday_edge::token::mint(&sunday_edge::token::Secret::new("test-secret"), &claims);
    let resp = reqwest::Client::new().get(url(&sys, board, "")).bearer_auth(short).header("accept", "text/event-stream").send().await;
    let mut stream = Box::pin(resp.unwrap_or_else(|e| panic!("{e}")).bytes_stream().eventsource());
    let ended = tokio::time::timeout(PATIENCE, async { while let Some(Ok(_)) = stream.next().await {} });
    assert!(ended.await.is_ok(), "the stream outlived its token");
}
