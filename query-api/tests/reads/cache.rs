//! The board cache is never stale once the projector has announced a change:
//! in the projector's own process, and in another query-API instance that
//! hears of it only through NATS.

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{System, query_instance, send_to, user};

pub(crate) async fn nats() -> async_nats::Client {
    let url = std::env::var("SUNDAY_TEST_NATS_URL").unwrap_or_else(|_| panic!("ops/test sets SUNDAY_TEST_NATS_URL"));
    async_nats::connect(url).await.unwrap_or_else(|e| panic!("NATS: {e}"))
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_cached_board_is_fresh_after_each_change_in_both_instances(pool: PgPool) {
    let client = nats().await;
    let prefix = format!("test-{}", Uuid::now_v7().simple());
    let sys = System::with_nats(pool.clone(), client.clone(), &prefix).await;
    let other = query_instance(&pool, &client, &prefix).await;
    let (owner, mate) = (user(), user());
    let (ws, board, p) = sys.board(owner).await;
    let path = format!("/v1/boards/{board}");
    let wait = |p: i64| vec![("x-sunday-min-position", p.to_string())];
    // Both instances cache the board.
    for _ in 0..2 {
        assert_eq!(sys.read(&path, owner, p).await.data()["name"], "Roadmap");
        assert_eq!(send_to(&other, Method::GET, &path, owner, None, &wait(p)).await.body["data"]["name"], "Roadmap");
    }
    for round in 0..5 {
        let name = format!("Roadmap {round}");
        let r = sys.command(Method::PATCH, &path, owner, Some(json!({"name": name}))).await;
        assert_eq!(sys.read(&path, owner, r.position()).await.data()["name"], json!(name), "same process");
        let there = send_to(&other, Method::GET, &path, owner, None, &wait(r.position())).await;
        assert_eq!(there.body["data"]["name"], json!(name), "other instance: {}", there.body);
    }
    // Membership is cached too: a new member reads at once, a removed one is refused at once.
    let m =
        sys.command(Method::POST, &format!("/v1/workspaces/{ws}/members"), owner, Some(json!({"userId": mate, "role": "member"}))).await;
    assert_eq!(send_to(&other, Method::GET, &path, mate, None, &wait(m.position())).await.status, StatusCode::NOT_FOUND);
    let added =
        sys.command(Method::POST, &format!("/v1/boards/{board}/members"), owner, Some(json!({"userId": mate, "role": "viewer"}))).await;
    assert_eq!(send_to(&other, Method::GET, &path, mate, None, &wait(added.position())).await.status, StatusCode::OK);
    let removed = sys.command(Method::DELETE, &format!("/v1/workspaces/{ws}/members/{mate}"), owner, None).await;
    assert_eq!(send_to(&other, Method::GET, &path, mate, None, &wait(removed.position())).await.status, StatusCode::NOT_FOUND);
    assert_eq!(sys.read(&path, mate, removed.position()).await.status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn an_instance_that_hears_nothing_catches_up_by_polling_the_checkpoint(pool: PgPool) {
    let sys = System::start(pool.clone()).await;
    let deaf = crate::helpers::polling_instance(&pool).await;
    let owner = user();
    let (_, board, p) = sys.board(owner).await;
    let path = format!("/v1/boards/{board}");
    let wait = |p: i64| vec![("x-sunday-min-position", p.to_string())];
    assert_eq!(send_to(&deaf, Method::GET, &path, owner, None, &wait(p)).await.body["data"]["name"], "Roadmap");
    let r = sys.command(Method::PATCH, &path, owner, Some(json!({"name": "Polled"}))).await;
    let there = send_to(&deaf, Method::GET, &path, owner, None, &wait(r.position())).await;
    assert_eq!(there.body["data"]["name"], "Polled", "the poll dropped the stale cache: {}", there.body);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn readers_missing_the_same_board_together_wait_for_one_load(pool: PgPool) {
    let sys = std::sync::Arc::new(System::start(pool).await);
    let owner = user();
    let (_, board, p) = sys.board(owner).await;
    // The read models have the board; nobody has read it yet.
    let _ = sys.read(&format!("/v1/boards/{board}/statistics"), owner, p).await;
    let before = sunday_runtime::stats::count("board", "rm_boards");
    let readers: Vec<_> = (0..32)
        .map(|_| {
            let sys = sys.clone();
            tokio::spawn(async move { sys.read(&format!("/v1/boards/{board}"), owner, p).await.status })
        })
        .collect();
    for r in readers {
        assert_eq!(r.await.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), StatusCode::OK);
    }
    let loads = sunday_runtime::stats::count("board", "rm_boards") - before;
    assert_eq!(loads, 1, "32 readers of a missing board, one load");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_lost_invalidation_is_noticed_with_the_next_one(pool: PgPool) {
    // The projector's announcements reach the other instance over NATS, but
    // one of them is lost on the way; its poll is too slow to matter here.
    let client = nats().await;
    let prefix = format!("test-{}", Uuid::now_v7().simple());
    let (sys, feed) = System::with_feed(pool.clone()).await;
    let drop_next = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (relay, lose) = (client.clone(), drop_next.clone());
    let subject = sunday_projector::announce::subject(&prefix);
    feed.on_advance(std::sync::Arc::new(move |inv: &sunday_projector::Invalidation| {
        if !lose.swap(false, std::sync::atomic::Ordering::SeqCst) {
            let (relay, subject, payload) = (relay.clone(), subject.clone(), serde_json::to_vec(inv).unwrap_or_default());
            tokio::spawn(async move { relay.publish(subject, payload.into()).await });
        }
    }));
    let other = query_instance(&pool, &client, &prefix).await;
    let (owner, mate) = (user(), user());
    let (ws, board, _) = sys.board(owner).await;
    let (_, elsewhere, _) = sys.board(owner).await;
    sys.command(Method::POST, &format!("/v1/workspaces/{ws}/members"), owner, Some(json!({"userId": mate, "role": "member"}))).await;
    let added =
        sys.command(Method::POST, &format!("/v1/boards/{board}/members"), owner, Some(json!({"userId": mate, "role": "viewer"}))).await;
    let path = format!("/v1/boards/{board}");
    let wait = |p: i64| vec![("x-sunday-min-position", p.to_string())];
    assert_eq!(
        send_to(&other, Method::GET, &path, mate, None, &wait(added.position())).await.status,
        StatusCode::OK,
        "cached with mate as a reader"
    );

    drop_next.store(true, std::sync::atomic::Ordering::SeqCst);
    let removed = sys.command(Method::DELETE, &format!("/v1/boards/{board}/members/{mate}"), owner, None).await;
    sys.read(&path, owner, removed.position()).await;
    // The next invalidation is about another board; it shows the gap.
    let later = sys.command(Method::PATCH, &format!("/v1/boards/{elsewhere}"), owner, Some(json!({"name": "Other"}))).await;
    let r = send_to(&other, Method::GET, &path, mate, None, &wait(later.position())).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a removed reader is refused: {}", r.body);
}
