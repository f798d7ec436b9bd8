//! Fuzzing the client frames: arbitrary JSON under every event name (and
//! arbitrary text and bytes) sent to a socket that has joined a board. The
//! socket stays served (a ping still gets its pong), the gateway does not
//! panic, and nothing is appended except by an acknowledged update.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

/// (Not `ping`: the test's own ping marks the end of each batch.)
const EVENTS: &[&str] = &["join-board", "leave-board", "presence-update", "cursor-move", "optimistic-update", "nonsense", "", "PING"];
const KEYS: &[&str] = &[
    "boardId",
    "sincePosition",
    "status",
    "position",
    "x",
    "y",
    "elementId",
    "updateId",
    "type",
    "data",
    "itemId",
    "baseVersion",
    "changes",
    "name",
    "itemData",
];

fn json(ids: Vec<String>) -> impl Strategy<Value = Value> {
    let strings = prop_oneof![
        proptest::sample::select(ids),
        any::<String>(),
        Just("\u{0}".to_owned()),
        Just("item_update".to_owned()),
        Just("idle".to_owned())
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        strings.prop_map(Value::from)
    ];
    let keys = prop_oneof![proptest::sample::select(KEYS).prop_map(str::to_owned), any::<String>()];
    leaf.prop_recursive(3, 24, 5, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(keys.clone(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn frame(ids: Vec<String>) -> impl Strategy<Value = Message> {
    prop_oneof![
        6 => (proptest::sample::select(EVENTS), json(ids)).prop_map(|(event, data)| Message::text(json!({"event": event, "data": data}).to_string())),
        1 => any::<String>().prop_map(Message::text),
        1 => proptest::collection::vec(any::<u8>(), 0..32).prop_map(Message::binary),
    ]
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn arbitrary_frames_never_break_the_socket(pool: PgPool) {
    let sys = System::start(&pool).await;
    let owner = user();
    let (_, board) = sys.board(owner).await;
    let item = id(&sys.item(owner, board, "target").await);
    let mut socket = Client::connect(sys.addr, owner).await;
    socket.join(board).await;
    let ids = vec![board.to_string(), item.to_string(), uuid::Uuid::now_v7().to_string(), "not-a-uuid".to_owned()];
    let strategy = proptest::collection::vec(frame(ids), 1..20);
    let mut runner = TestRunner::default();
    let count = || async { sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap_or(-1) };
    let before = count().await;
    let mut acked = 0;
    for _ in 0..40 {
        let frames = strategy.new_tree(&mut runner).unwrap_or_else(|e| panic!("{e}")).current();
        for f in &frames {
            socket.send_message(f.clone()).await;
        }
        socket.send("ping", json!({})).await;
        loop {
            let answer = socket.next_within(PATIENCE).await.unwrap_or_else(|| panic!("no pong after {frames:?}"));
            match answer["event"].as_str() {
                Some("pong") => break,
                Some("update-ack") => acked += 1,
                _ => {}
            }
        }
    }
    // Updates run beside the socket: let the last answers arrive.
    while let Some(answer) = socket.next_within(std::time::Duration::from_millis(500)).await {
        acked += i64::from(answer["event"] == "update-ack");
    }
    let appended = count().await - before;
    assert!(appended <= acked, "{appended} events appended with {acked} acknowledged updates");
}
