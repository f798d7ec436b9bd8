//! Item and file listings are cached, and never stale once the projector has
//! announced a change: in its own process and in an instance that hears of
//! it through NATS; a reader who lost access learns nothing from the cache.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::cache::nats;
use crate::helpers::{System, query_instance, send_to, user};

fn names(listing: &Value) -> Vec<String> {
    listing["data"].as_array().into_iter().flatten().filter_map(|i| i["name"].as_str().map(str::to_owned)).collect()
}

fn wait(p: i64) -> Vec<(&'static str, String)> {
    vec![("x-sunday-min-position", p.to_string())]
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_cached_listing_is_fresh_after_each_change_in_both_instances(pool: PgPool) {
    let client = nats().await;
    let prefix = format!("test-{}", Uuid::now_v7().simple());
    let sys = System::with_nats(pool.clone(), client.clone(), &prefix).await;
    let other = query_instance(&pool, &client, &prefix).await;
    let owner = user();
    let (_, board, _) = sys.board(owner).await;
    let first =
        sys.command(Method::POST, "/v1/items", owner, Some(json!({"boardId": board, "name": "a", "itemData": {"tags": ["x"]}}))).await;
    let listing = format!("/v1/boards/{board}/items?tag=x&limit=10");
    for _ in 0..2 {
        assert_eq!(names(&sys.read(&listing, owner, first.position()).await.body), ["a"]);
        assert_eq!(names(&send_to(&other, Method::GET, &listing, owner, None, &wait(first.position())).await.body), ["a"]);
    }
    let hits = sunday_runtime::stats::count("list_items", "rm_items");
    assert_eq!(names(&sys.read(&listing, owner, first.position()).await.body), ["a"]);
    assert_eq!(sunday_runtime::stats::count("list_items", "rm_items"), hits, "answered from the cache");
    let mut expected = vec!["a".to_owned()];
    for round in 0..4 {
        let name = format!("item {round}");
        let r =
            sys.command(Method::POST, "/v1/items", owner, Some(json!({"boardId": board, "name": name, "itemData": {"tags": ["x"]}}))).await;
        expected.push(name);
        assert_eq!(names(&sys.read(&listing, owner, r.position()).await.body), expected, "same process");
        let there = send_to(&other, Method::GET, &listing, owner, None, &wait(r.position())).await;
        assert_eq!(names(&there.body), expected, "other instance");
    }
    let renamed = sys.command(Method::PUT, &format!("/v1/items/{}", first.id()), owner, Some(json!({"name": "A"}))).await;
    expected[0] = "A".into();
    let there = send_to(&other, Method::GET, &listing, owner, None, &wait(renamed.position())).await;
    assert_eq!(names(&there.body), expected, "an update to a listed item");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_cached_listing_follows_profiles_and_membership(pool: PgPool) {
    let sys = System::start(pool).await;
    let (owner, mate) = (user(), user());
    let (ws, board, _) = sys.board(owner).await;
    let m =
        sys.command(Method::POST, &format!("/v1/workspaces/{ws}/members"), owner, Some(json!({"userId": mate, "role": "member"}))).await;
    let listing = format!("/v1/boards/{board}/items");
    // Cached for the owner; the mate is not a board member yet and learns nothing.
    let item = sys.command(Method::POST, "/v1/items", owner, Some(json!({"boardId": board, "name": "a"}))).await;
    let assigned = sys.command(Method::POST, &format!("/v1/items/{}/assignees", item.id()), owner, Some(json!({"userId": owner}))).await;
    assert_eq!(sys.read(&listing, owner, assigned.position().max(m.position())).await.status, StatusCode::OK);
    let refused = sys.read(&listing, mate, assigned.position()).await;
    let unknown = sys.read(&format!("/v1/boards/{}/items", Uuid::now_v7()), mate, assigned.position()).await;
    assert_eq!((refused.status, &refused.body), (unknown.status, &unknown.body), "the same 404 as a board that does not exist");
    // A new name shows in the cached listing's assignees.
    let me = sys.command(Method::PUT, "/v1/me", owner, Some(json!({"firstName": "Ada"}))).await;
    let read = sys.read(&listing, owner, me.position()).await;
    assert_eq!(read.data()[0]["assignees"][0]["firstName"], "Ada");
    // Added to the board: reads the cached listing; removed from the workspace: 404 at once.
    let added =
        sys.command(Method::POST, &format!("/v1/boards/{board}/members"), owner, Some(json!({"userId": mate, "role": "viewer"}))).await;
    assert_eq!(names(&sys.read(&listing, mate, added.position()).await.body), ["a"]);
    assert_eq!(names(&sys.read(&listing, owner, added.position()).await.body), ["a"]);
    let removed = sys.command(Method::DELETE, &format!("/v1/workspaces/{ws}/members/{mate}"), owner, None).await;
    assert_eq!(sys.read(&listing, mate, removed.position()).await.status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn cached_file_listings_follow_uploads_and_deletes(pool: PgPool) {
    let sys = System::start(pool).await;
    let (owner, stranger) = (user(), user());
    let (_, board, _) = sys.board(owner).await;
    let item = sys.command(Method::POST, "/v1/items", owner, Some(json!({"boardId": board, "name": "x"}))).await.id();
    let (of_item, of_board) = (format!("/v1/files?itemId={item}"), format!("/v1/files?boardId={board}"));
    let mut last = 0;
    for n in 0..3 {
        let file = json!({"name": format!("f{n}.png"), "contentType": "image/png", "size": 42});
        last = sys.command(Method::POST, &format!("/v1/items/{item}/files"), owner, Some(file)).await.position();
        for path in [&of_item, &of_board] {
            let files = sys.read(path, owner, last).await;
            assert_eq!(files.data().as_array().map(Vec::len), Some(n + 1), "{path}: {}", files.body);
            assert_eq!(files.data()[0]["name"], json!(format!("f{n}.png")), "newest first");
        }
    }
    assert_eq!(sys.read(&of_item, stranger, last).await.status, StatusCode::NOT_FOUND);
    assert_eq!(sys.read(&of_board, stranger, last).await.status, StatusCode::NOT_FOUND);
    let deleted = sys.command(Method::DELETE, &format!("/v1/items/{item}"), owner, None).await;
    assert_eq!(sys.read(&of_item, owner, deleted.position()).await.status, StatusCode::NOT_FOUND);
    assert_eq!(sys.read(&of_board, owner, deleted.position()).await.data(), &json!([]));
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn readers_missing_one_listing_together_wait_for_one_load(pool: PgPool) {
    let sys = std::sync::Arc::new(System::start(pool).await);
    let owner = user();
    let (_, board, _) = sys.board(owner).await;
    let p = sys.command(Method::POST, "/v1/items", owner, Some(json!({"boardId": board, "name": "a"}))).await.position();
    let _ = sys.read(&format!("/v1/boards/{board}/statistics"), owner, p).await;
    let before = sunday_runtime::stats::count("list_items", "rm_items");
    let readers: Vec<_> = (0..32)
        .map(|_| {
            let sys = sys.clone();
            tokio::spawn(async move { names(&sys.read(&format!("/v1/boards/{board}/items"), owner, p).await.body) })
        })
        .collect();
    for r in readers {
        assert_eq!(r.await.unwrap_or_default(), ["a"]);
    }
    assert_eq!(sunday_runtime::stats::count("list_items", "rm_items") - before, 1, "32 readers of a missing listing, one load");
}
