//! What a hostile or careless client could get out of the gateway before
//! these were fixed: items through a malformed optimistic update, events
//! after its removal through a rejoin the room admitted on a stale view, and
//! a room held up by someone else's refused joins.

use std::time::Duration;

use axum::http::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::*;

fn update(item: uuid::Uuid, update_id: &str, changes: Value) -> Value {
    json!({"updateId": update_id, "type": "item_update", "data": {"itemId": item, "changes": changes}})
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn an_optimistic_update_tells_an_outsider_nothing_about_the_item(pool: PgPool) {
    let sys = System::start(&pool).await;
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let item = id(&sys.item(owner, board, "secret plans").await);
    let mut stranger = Client::connect(sys.addr, user()).await;
    let frames = [
        update(item, "null-changes", Value::Null),
        update(item, "nul", json!({"name": "x\u{0}"})),
        json!({"updateId": "bad-type", "type": "nonsense", "data": {"itemId": item, "changes": {}}}),
        json!({"updateId": "no-changes", "type": "item_update", "data": {"itemId": item}}),
        update(item, "valid", json!({"name": "hijack"})),
    ];
    for frame in frames {
        let update_id = frame["updateId"].clone();
        stranger.send("optimistic-update", frame).await;
        let rejected = stranger.expect("update-rejected").await;
        assert_eq!(rejected["data"]["updateId"], update_id);
        assert_eq!(rejected["data"]["status"], 404, "{rejected}");
        assert!(rejected["data"]["current"].is_null(), "nothing about an item one may not read: {rejected}");
        assert!(!rejected.to_string().contains("secret plans"));
    }
    // A member with the same malformed frames is told what is wrong, with the item to roll back to.
    let mut member = Client::connect(sys.addr, owner).await;
    member.send("optimistic-update", update(item, "m1", Value::Null)).await;
    let rejected = member.expect("update-rejected").await;
    assert_eq!(rejected["data"]["status"], 400, "{rejected}");
    assert_eq!(rejected["data"]["current"]["name"], "secret plans");
    member.send("optimistic-update", update(item, "m2", json!({"name": "x\u{0}"}))).await;
    let rejected = member.expect("update-rejected").await;
    assert_eq!(rejected["data"]["status"], 422, "{rejected}");
    assert_eq!(rejected["data"]["current"]["version"], 1);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_removed_member_cannot_rejoin_on_a_room_that_has_not_heard_the_removal(pool: PgPool) {
    // Nothing publishes the log to this gateway's JetStream, so its rooms
    // hear nothing: their view of membership is only what they loaded.
    let (client, prefix) = nats().await;
    let sys = System::with_silent_nats(&pool, client, &prefix).await;
    let owner = user();
    let (ws, board) = sys.board(owner).await;
    let member = user();
    sys.add_member(owner, ws, board, member).await;
    let mut keeper = Client::connect(sys.addr, owner).await;
    keeper.join(board).await;
    let mut socket = Client::connect(sys.addr, member).await;
    let state = socket.join(board).await;
    let since = state["data"]["position"].as_i64().unwrap_or_default();

    sys.command(Method::DELETE, &format!("/v1/boards/{board}/members/{member}"), owner, json!(null)).await;
    sys.item(owner, board, "after the removal").await;
    for join in [json!({"boardId": board, "sincePosition": since}), json!({"boardId": board})] {
        socket.send("join-board", join).await;
        let refused = socket.expect("error").await;
        assert_eq!(refused["data"]["code"], "forbidden", "{refused}");
    }
    let leaked: Vec<Value> = socket.collect("events", Duration::from_millis(300)).await;
    assert!(leaked.is_empty(), "nothing from after the removal: {leaked:?}");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_long_history_is_replayed_in_pages(pool: PgPool) {
    let sys = System::start(&pool).await;
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let written = sys.items(owner, board, "old", 1_100).await;
    let pages_before = sunday_runtime::stats::count("read_board_page", "events");
    let mut c = Client::connect(sys.addr, owner).await;
    c.send("join-board", json!({"boardId": board, "sincePosition": 0})).await;
    let got = c.events(written.len() + 1).await;
    let got = positions(&got);
    assert!(got.windows(2).all(|w| w[0] < w[1]), "in log order, none twice");
    assert!(written.iter().all(|p| got.contains(p)), "every event");
    assert!(sunday_runtime::stats::count("read_board_page", "events") >= pages_before + 3, "read in pages of at most 500");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn optimistic_updates_in_flight_are_bounded_per_socket(pool: PgPool) {
    let sys = System::start(&pool).await;
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let item = id(&sys.item(owner, board, "hot").await);
    let mut c = Client::connect(sys.addr, owner).await;
    const BURST: usize = 60;
    for i in 0..BURST {
        c.send("optimistic-update", update(item, &format!("u{i}"), json!({"name": format!("n{i}")}))).await;
    }
    let (mut acked, mut limited) = (0i64, 0);
    let mut answered = std::collections::HashSet::new();
    while answered.len() < BURST {
        let frame = c.next_within(PATIENCE).await.unwrap_or_else(|| panic!("only {} answers", answered.len()));
        match frame["event"].as_str() {
            Some("update-ack") => acked += 1,
            Some("update-rejected") if frame["data"]["status"] == 429 => limited += 1,
            Some("update-rejected") => panic!("unexpected {frame}"),
            _ => continue,
        }
        assert!(answered.insert(frame["data"]["updateId"].to_string()), "one answer per update");
    }
    assert!(limited > 0, "a burst beyond the bound is refused with 429");
    let versions: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_id = $1")
        .bind(format!("item-{item}"))
        .fetch_one(&pool)
        .await
        .unwrap_or(0);
    assert_eq!(versions, 1 + acked, "exactly the acknowledged updates were appended");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn refused_joins_do_not_hold_up_the_room(pool: PgPool) {
    let sys = System::start(&pool).await;
    let owner = user();
    let (ws, board) = sys.board(owner).await;
    let mate = user();
    sys.add_member(owner, ws, board, mate).await;
    let mut watcher = Client::connect(sys.addr, owner).await;
    watcher.join(board).await;
    let mut mover = Client::connect(sys.addr, mate).await;
    mover.join(board).await;
    for socket in [&mut watcher, &mut mover] {
        // Frames are handled in order: a pong means the join has caught up.
        socket.send("ping", json!({})).await;
        socket.expect("pong").await;
    }
    // While the log cannot be read, a stranger's joins (which the room cannot
    // admit, and which need the log to be refused) pile up...
    let mut lock = pool.begin().await.unwrap_or_else(|e| panic!("{e}"));
    sqlx::query("LOCK TABLE events IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.unwrap_or_else(|e| panic!("{e}"));
    let mut stranger = Client::connect(sys.addr, user()).await;
    for _ in 0..20 {
        stranger.send("join-board", json!({"boardId": board})).await;
    }
    // ...and the room still sends its members' frames.
    mover.send("cursor-move", json!({"boardId": board, "position": {"x": 1, "y": 2}})).await;
    let cursors = watcher.expect("cursors").await;
    assert_eq!(cursors["data"]["cursors"][0]["userId"], json!(mate));
    lock.rollback().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stranger.expect("error").await["data"]["code"], "forbidden");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn frames_holding_nul_are_refused(pool: PgPool) {
    let sys = System::start(&pool).await;
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let mut c = Client::connect(sys.addr, owner).await;
    c.join(board).await;
    c.send("cursor-move", json!({"boardId": board, "position": {"x": 1, "y": 2, "elementId": "a\u{0}"}})).await;
    let error = c.expect("error").await;
    assert_eq!(error["data"]["code"], "bad-request", "{error}");
    assert!(c.collect("cursors", Duration::from_millis(200)).await.is_empty(), "nothing was broadcast");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_workspace_removal_published_while_a_gateway_was_cut_off_still_evicts(pool: PgPool) {
    let (client, prefix) = nats().await;
    let sys = System::with_nats(&pool, client, &prefix).await;
    let url = std::env::var("SUNDAY_TEST_NATS_URL").unwrap_or_default();
    let target: std::net::SocketAddr = url.trim_start_matches("nats://").parse().unwrap_or_else(|e| panic!("{url}: {e}"));
    let proxy = sunday_testkit::proxy::Proxy::start(target).await;
    let through = async_nats::connect(format!("nats://{}", proxy.addr)).await.unwrap_or_else(|e| panic!("{e}"));
    let (_gateway, addr) = sys.second_gateway(through, &prefix).await;
    let owner = user();
    let (ws, board) = sys.board(owner).await;
    let member = user();
    sys.add_member(owner, ws, board, member).await;
    let mut socket = Client::connect(addr, member).await;
    socket.join(board).await;
    sys.item(owner, board, "before").await;
    // (The catch-up may carry the member's own addition first.)
    while !socket.events(1).await.iter().any(|e| e["data"]["name"] == "before") {}

    proxy.cut();
    let removed = sys.command(Method::DELETE, &format!("/v1/workspaces/{ws}/members/{member}"), owner, json!(null)).await;
    sys.published(removed["position"].as_i64().unwrap_or_default()).await;
    proxy.restore();
    sys.item(owner, board, "after").await;
    loop {
        let frame = socket.next_within(PATIENCE * 3).await.unwrap_or_else(|| panic!("never told of the removal"));
        assert!(!frame.to_string().contains("\"after\""), "an event after the removal reached the removed member: {frame}");
        if frame["event"] == "error" {
            assert_eq!(frame["data"]["code"], "forbidden", "{frame}");
            break;
        }
    }
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_user_is_bounded_in_frames_per_second_and_sockets_held(pool: PgPool) {
    let config = sunday_realtime_gateway::Config {
        rate_limits: sunday_edge::Limits { frames: std::num::NonZeroU32::new(5), ..Default::default() },
        max_sockets_per_user: 2,
        ..Default::default()
    };
    let sys = System::with_config(&pool, config).await;
    let owner = user();
    let mut first = Client::connect(sys.addr, owner).await;
    let _second = Client::connect(sys.addr, owner).await;
    let url = format!("ws://{}/v1/ws?token={}", sys.addr, token(owner));
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            assert!(response.headers().get("retry-after").is_some());
        }
        other => panic!("a third socket of one user was not refused: {:?}", other.map(|_| ())),
    }
    let _elsewhere = Client::connect(sys.addr, user()).await;

    for _ in 0..40 {
        first.send("ping", json!({})).await;
    }
    let mut frames: Vec<Value> = Vec::new();
    while let Some(f) = first.next_within(Duration::from_millis(500)).await {
        frames.push(f);
    }
    let pongs = frames.iter().filter(|f| f["event"] == "pong").count();
    let limited = frames.iter().filter(|f| f["event"] == "error" && f["data"]["code"] == "rate-limited").count();
    assert!((10..40).contains(&pongs), "a burst of 10 frames passes, most of the rest are dropped: {pongs} pongs");
    assert_eq!(limited, 1, "the client is told once, not once per dropped frame");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn what_a_socket_shares_or_follows_is_bounded(pool: PgPool) {
    let sys = System::start(&pool).await;
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let mut c = Client::connect(sys.addr, owner).await;
    c.join(board).await;
    // An elementId is shared with every socket of the room each window: kept short.
    c.send("cursor-move", json!({"boardId": board, "position": {"x": 1, "y": 1, "elementId": "e".repeat(300)}})).await;
    assert_eq!(c.expect("error").await["data"]["code"], "bad-request");
    c.send("optimistic-update", json!({"updateId": "u".repeat(300), "type": "item_update", "data": {}})).await;
    assert_eq!(c.expect("error").await["data"]["code"], "bad-request", "a long updateId is not echoed back");
    // A socket follows at most 100 boards at once.
    for _ in 0..99 {
        let (_, other) = sys.board(owner).await;
        c.join(other).await;
    }
    let (_, one_too_many) = sys.board(owner).await;
    c.send("join-board", json!({"boardId": one_too_many})).await;
    assert_eq!(c.expect("error").await["data"]["code"], "limit-reached");
    c.send("leave-board", json!({"boardId": board})).await;
    c.join(one_too_many).await;
}
