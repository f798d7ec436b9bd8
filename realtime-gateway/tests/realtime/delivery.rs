//! Delivery on the in-process bus: rooms, order, authorization, resume,
//! slow consumers, presence and cursors.

use std::time::Duration;

use axum::http::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn two_sockets_on_a_board_get_its_events_in_order_and_another_board_gets_nothing(pool: PgPool) {
    let sys = System::start(&pool).await;
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let (_, other) = sys.board(owner).await;
    let mut a = Client::connect(sys.addr, owner).await;
    let mut b = Client::connect(sys.addr, owner).await;
    let mut elsewhere = Client::connect(sys.addr, owner).await;
    let state = a.join(board).await;
    assert_eq!(state["data"]["id"], board.to_string());
    assert!(state["data"]["position"].as_i64().is_some(), "board-state carries its position: {state}");
    assert!(state["data"]["items"].is_array());
    b.join(board).await;
    elsewhere.join(other).await;
    let mut sent = Vec::new();
    for n in 0..5 {
        sent.push(sys.item(owner, board, &format!("item {n}")).await["position"].as_i64().unwrap_or_default());
    }
    for client in [&mut a, &mut b] {
        let got = client.events(5).await;
        assert_eq!(positions(&got), sent, "every event once, in log order");
        assert_eq!(got[0]["type"], "ItemCreated");
        assert_eq!(got[0]["data"]["name"], "item 0");
        assert!(got[0]["streamId"].as_str().is_some_and(|s| s.starts_with("item-")));
        assert_eq!(got[0]["version"], 1);
        assert_eq!(got[0]["actorId"], owner.to_string());
        assert!(got[0]["occurredAt"].as_str().is_some());
    }
    assert!(elsewhere.collect("events", Duration::from_millis(300)).await.is_empty(), "another board's socket gets nothing");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn joins_are_checked_against_the_log_and_a_removed_member_stops_at_once(pool: PgPool) {
    let sys = System::start(&pool).await;
    let owner = user();
    let (ws, board) = sys.board(owner).await;
    let stranger = user();
    let mut outsider = Client::connect(sys.addr, stranger).await;
    outsider.send("join-board", json!({"boardId": board})).await;
    let refused = outsider.expect("error").await;
    assert_eq!(refused["data"]["code"], "forbidden");
    outsider.send("join-board", json!({"boardId": uuid::Uuid::now_v7()})).await;
    assert_eq!(outsider.expect("error").await["data"]["code"], "forbidden", "an unknown board is forbidden too");

    // A member added a moment ago joins at once (membership as of the log).
    let member = user();
    sys.add_member(owner, ws, board, member).await;
    let mut joined = Client::connect(sys.addr, member).await;
    joined.join(board).await;
    sys.item(owner, board, "seen").await;
    // (The catch-up may carry the member's own addition first.)
    while !joined.events(1).await.iter().any(|e| e["data"]["name"] == "seen") {}

    sys.command(Method::DELETE, &format!("/v1/boards/{board}/members/{member}"), owner, json!(null)).await;
    let removed = joined.expect("error").await;
    assert_eq!(removed["data"]["code"], "forbidden");
    sys.item(owner, board, "unseen").await;
    let mut owner_socket = Client::connect(sys.addr, owner).await;
    owner_socket.join(board).await;
    sys.item(owner, board, "after").await;
    owner_socket.events(1).await;
    assert!(joined.collect("events", Duration::from_millis(300)).await.is_empty(), "nothing after the removal");
    assert!(outsider.collect("events", Duration::from_millis(10)).await.is_empty());
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_resumed_socket_gets_exactly_the_missed_events_then_live_ones(pool: PgPool) {
    let sys = System::start(&pool).await;
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let mut first = Client::connect(sys.addr, owner).await;
    first.join(board).await;
    sys.item(owner, board, "before").await;
    let seen = first.events(1).await;
    let last_seen = positions(&seen)[0];
    drop(first);

    sys.resume_without_gap(owner, board, last_seen, 100, 20).await;
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_socket_that_never_reads_is_closed_and_the_room_goes_on(pool: PgPool) {
    let config = sunday_realtime_gateway::Config {
        queue_frames: 4,
        batch_window: Duration::from_millis(5),
        close_timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let sys = System::with_config(&pool, config).await;
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let mut reader = Client::connect(sys.addr, owner).await;
    let mut sleeper = Client::connect_small(sys.addr, owner).await;
    reader.join(board).await;
    sleeper.join(board).await;
    // The reader reads all along, until it sees the last item.
    let reading = tokio::spawn(async move {
        let mut names = Vec::new();
        while !names.contains(&json!("after the close")) {
            let frame = reader.expect("events").await;
            names.extend(frame["data"]["events"].as_array().into_iter().flatten().map(|e| e["data"]["name"].clone()));
        }
        names.len()
    });
    // Large events fill the sleeper's socket buffers, then its queue.
    let description = "x".repeat(9_000);
    let mut n = 0;
    while sys.gateway.metrics().slow_consumer_closes() == 0 {
        assert!(n < 5_000, "the sleeper was never closed");
        sys.command(Method::POST, "/v1/items", owner, json!({"boardId": board, "name": format!("big {n}"), "description": description}))
            .await;
        n += 1;
    }
    sys.item(owner, board, "after the close").await;
    let heard = tokio::time::timeout(PATIENCE * 3, reading).await.unwrap_or_else(|_| panic!("the reader stalled")).unwrap_or_default();
    assert_eq!(heard, n + 1, "the reader got every event, the last one after the close");
    assert_eq!(sleeper.close_code().await, Some(sunday_realtime_gateway::CLOSE_SLOW_CONSUMER));
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn presence_and_cursors_are_batched_per_window(pool: PgPool) {
    let sys = System::start(&pool).await;
    let owner = user();
    let (ws, board) = sys.board(owner).await;
    let member = user();
    sys.add_member(owner, ws, board, member).await;
    let mut a = Client::connect(sys.addr, owner).await;
    a.join(board).await;
    let mut b = Client::connect(sys.addr, member).await;
    b.join(board).await;
    let presence = loop {
        let p = a.expect("presence").await;
        if p["data"]["users"].as_array().is_some_and(|u| u.len() == 2) {
            break p;
        }
    };
    assert!(presence["data"]["joined"].as_array().is_some_and(|j| j.contains(&json!(member))), "{presence}");
    for x in 0..20 {
        b.send("cursor-move", json!({"boardId": board, "position": {"x": x, "y": 1}})).await;
    }
    b.send("presence-update", json!({"boardId": board, "status": "idle"})).await;
    let frames = a.collect("cursors", Duration::from_millis(400)).await;
    assert!(!frames.is_empty() && frames.len() < 20, "cursor moves are coalesced: {} frames", frames.len());
    let last = &frames[frames.len() - 1]["data"]["cursors"];
    assert_eq!(last.as_array().map(Vec::len), Some(1), "latest per user: {last}");
    assert_eq!(last[0]["position"]["x"], 19.0);
    drop(b);
    let left = loop {
        let p = a.expect("presence").await;
        if p["data"]["left"].as_array().is_some_and(|l| !l.is_empty()) {
            break p;
        }
    };
    assert_eq!(left["data"]["left"], json!([member]));
    assert_eq!(left["data"]["users"], json!([{"userId": owner, "status": "active"}]));
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn bad_frames_get_errors_and_ping_gets_pong(pool: PgPool) {
    let sys = System::start(&pool).await;
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let mut c = Client::connect(sys.addr, owner).await;
    c.send("ping", json!({})).await;
    assert_eq!(c.next_within(PATIENCE).await.unwrap_or_default()["event"], "pong");
    c.send("join-board", json!({"boardId": "nope"})).await;
    assert_eq!(c.expect("error").await["data"]["code"], "bad-request");
    c.send("dance", json!({})).await;
    assert_eq!(c.expect("error").await["data"]["code"], "unknown-event");
    c.send("cursor-move", json!({"boardId": board, "position": {"x": 1, "y": 2}})).await;
    assert_eq!(c.expect("error").await["data"]["code"], "not-joined");
    let url = format!("ws://{}/v1/ws", sys.addr);
    let refused = tokio_tungstenite::connect_async(url).await;
    assert!(matches!(refused, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401), "no token, no socket");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn shutdown_closes_sockets_with_going_away(pool: PgPool) {
    let sys = System::start(&pool).await;
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let mut c = Client::connect(sys.addr, owner).await;
    c.join(board).await;
    sys.gateway.shutdown(Duration::from_secs(5)).await;
    assert_eq!(c.close_code().await, Some(sunday_realtime_gateway::CLOSE_GOING_AWAY));
    assert_eq!(sys.gateway.metrics().connections(), 0);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_silent_socket_is_dropped_after_two_heartbeats(pool: PgPool) {
    let config = sunday_realtime_gateway::Config { heartbeat: Duration::from_millis(100), ..Default::default() };
    let sys = System::with_config(&pool, config).await;
    let owner = user();
    // Neither reads (so never answers pings) nor writes.
    let silent = Client::connect(sys.addr, owner).await;
    for _ in 0..100 {
        if sys.gateway.metrics().connections() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sys.gateway.metrics().connections(), 0, "the dead socket was dropped");
    drop(silent);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_token_in_the_authorization_header_works_too(pool: PgPool) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let sys = System::start(&pool).await;
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let mut request = format!("ws://{}/v1/ws", sys.addr).into_client_request().unwrap_or_else(|e| panic!("{e}"));
    let value = format!("Bearer {}", token(owner)).parse().unwrap_or_else(|e| panic!("{e}"));
    request.headers_mut().insert("authorization", value);
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap_or_else(|e| panic!("connect: {e}"));
    let mut c = Client::from_stream(ws);
    assert_eq!(c.join(board).await["data"]["id"], board.to_string());
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_socket_is_closed_when_its_token_expires(pool: PgPool) {
    let config = sunday_realtime_gateway::Config { heartbeat: Duration::from_millis(250), ..Default::default() };
    let sys = System::with_config(&pool, config).await;
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let claims = sunday_edge::token::Claims { sub: owner, exp: chrono::Utc::now().timestamp() + 2, name: None, email: None };
    let token = sunday_edge::token::mint(&sunday_edge::token::Secret::new("test-secret"), &claims);
    let url = format!("ws://{}/v1/ws?token={token}", sys.addr);
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap_or_else(|e| panic!("connect: {e}"));
    let mut c = Client::from_stream(ws);
    c.join(board).await;
    assert_eq!(c.close_code().await, Some(sunday_realtime_gateway::CLOSE_TOKEN_EXPIRED));
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_member_joins_at_once_while_an_old_transaction_holds_the_horizon_back(pool: PgPool) {
    let sys = System::start(&pool).await;
    let owner = user();
    let (ws, board) = sys.board(owner).await;
    // The board itself is projected first (on a loaded machine another
    // test's open transaction may hold the projector back for a while):
    // what is tested is a membership above the horizon, not a board.
    sys.board_projected(board).await;
    // A transaction with an id, left open (anywhere in the cluster): the
    // horizon stays below everything committed after it.
    let mut old = pool.begin().await.unwrap_or_else(|e| panic!("{e}"));
    sqlx::query("SELECT pg_current_xact_id()").execute(&mut *old).await.unwrap_or_else(|e| panic!("{e}"));
    let member = user();
    sys.add_member(owner, ws, board, member).await;
    let mut joined = Client::connect(sys.addr, member).await;
    joined.send("join-board", json!({"boardId": board})).await;
    let releaser = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        old.rollback().await.unwrap_or_else(|e| panic!("{e}"));
    });
    let first = joined.next_within(PATIENCE).await.unwrap_or_else(|| panic!("no answer to the join"));
    assert_eq!(first["event"], "board-state", "the acknowledged member is let in, not refused: {first}");
    releaser.await.unwrap_or_else(|e| panic!("{e}"));
    let stranger = user();
    let mut outsider = Client::connect(sys.addr, stranger).await;
    outsider.send("join-board", json!({"boardId": board})).await;
    assert_eq!(outsider.expect("error").await["data"]["code"], "forbidden", "a stranger is still refused");
}
