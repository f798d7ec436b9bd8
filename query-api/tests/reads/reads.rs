//! Reads of every kind: read-your-writes, authorization, filters, pagination,
//! ETags and the read-your-writes timeout.

use std::collections::HashSet;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{System, user};

fn ids(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|i| i["id"].as_str().map(str::to_owned)).collect()
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_read_after_a_command_sees_it(pool: PgPool) {
    let sys = System::start(pool).await;
    let owner = user();
    let (_, board, _) = sys.board(owner).await;
    let body = json!({"boardId": board, "name": "Plan", "itemData": {"status": "To Do", "estimatedHours": 4}});
    let item = sys.command(Method::POST, "/v1/items", owner, Some(body)).await;
    let r = sys.read(&format!("/v1/items/{}", item.id()), owner, item.position()).await;
    assert_eq!((r.status, &r.data()["name"]), (StatusCode::OK, &json!("Plan")));
    assert!(r.header("x-sunday-position").parse::<i64>().unwrap_or(0) >= item.position());
    let upd = sys.command(Method::PUT, &format!("/v1/items/{}", item.id()), owner, Some(json!({"itemData": {"status": "Done"}}))).await;
    let stats = sys.read(&format!("/v1/boards/{board}/statistics"), owner, upd.position()).await;
    assert_eq!(stats.data()["byStatus"], json!({"Done": 1}));
    assert_eq!((stats.data()["itemCount"].clone(), stats.data()["estimatedHoursTotal"].clone()), (json!(1), json!(4.0)));
    let b = sys.read(&format!("/v1/boards/{board}?include=items"), owner, upd.position()).await;
    assert_eq!(b.data()["items"][0]["itemData"]["status"], "Done");
    assert_eq!(b.data()["itemCount"], 1);
    let activity = sys.read(&format!("/v1/boards/{board}/activity"), owner, upd.position()).await;
    assert_eq!(activity.data()[0]["action"], "item_updated");
    assert_eq!(activity.data()[0]["position"], upd.position());
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn statistics_follow_assignments_and_deletes(pool: PgPool) {
    let sys = System::start(pool).await;
    let (owner, mate) = (user(), user());
    let (ws, board, _) = sys.board(owner).await;
    sys.command(Method::POST, &format!("/v1/workspaces/{ws}/members"), owner, Some(json!({"userId": mate, "role": "member"}))).await;
    sys.command(Method::POST, &format!("/v1/boards/{board}/members"), owner, Some(json!({"userId": mate, "role": "editor"}))).await;
    let a = sys
        .command(
            Method::POST,
            "/v1/items",
            owner,
            Some(json!({"boardId": board, "name": "a", "itemData": {"status": "Done", "estimatedHours": 2}})),
        )
        .await
        .id();
    let b = sys
        .command(
            Method::POST,
            "/v1/items",
            owner,
            Some(json!({"boardId": board, "name": "b", "itemData": {"status": "Done", "estimatedHours": 3}})),
        )
        .await
        .id();
    sys.command(Method::POST, &format!("/v1/items/{a}/assignees"), owner, Some(json!({"userId": mate}))).await;
    sys.command(Method::POST, &format!("/v1/items/{b}/assignees"), owner, Some(json!({"userId": mate}))).await;
    let del = sys.command(Method::DELETE, &format!("/v1/items/{a}"), owner, None).await;
    let stats = sys.read(&format!("/v1/boards/{board}/statistics"), owner, del.position()).await;
    let expected = json!({"itemCount": 1, "byStatus": {"Done": 1}, "byAssignee": {mate.to_string(): 1}, "estimatedHoursTotal": 3.0});
    for key in ["itemCount", "byStatus", "byAssignee", "estimatedHoursTotal"] {
        assert_eq!(stats.data()[key], expected[key], "{key}: {}", stats.body);
    }
    let gone = sys.read(&format!("/v1/items/{a}"), owner, del.position()).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    for tail in ["comments", "activity"] {
        assert_eq!(sys.read(&format!("/v1/items/{a}/{tail}"), owner, del.position()).await.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(sys.read(&format!("/v1/files?itemId={a}"), owner, del.position()).await.status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn non_members_get_404_never_an_empty_list(pool: PgPool) {
    let sys = System::start(pool).await;
    let (owner, stranger) = (user(), user());
    let (ws, board, _) = sys.board(owner).await;
    let item = sys.command(Method::POST, "/v1/items", owner, Some(json!({"boardId": board, "name": "x"}))).await;
    let p = item.position();
    let item = item.id();
    for path in [
        format!("/v1/boards/{board}"),
        format!("/v1/boards/{board}/items"),
        format!("/v1/items?boardId={board}"),
        format!("/v1/boards/{board}/statistics"),
        format!("/v1/boards/{board}/activity"),
        format!("/v1/items/{item}"),
        format!("/v1/items/{item}/comments"),
        format!("/v1/items/{item}/activity"),
        format!("/v1/files?boardId={board}"),
        format!("/v1/boards?workspaceId={ws}"),
        "/v1/boards/not-a-uuid".to_owned(),
    ] {
        let r = sys.read(&path, stranger, p).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
        assert_eq!(r.header("content-type"), "application/problem+json");
    }
    let mine = sys.read("/v1/boards", stranger, p).await;
    assert_eq!(mine.data(), &json!([]), "a stranger's own board list is empty, not someone else's");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn filters_combine(pool: PgPool) {
    let sys = System::start(pool).await;
    let (owner, mate) = (user(), user());
    let (ws, board, _) = sys.board(owner).await;
    sys.command(Method::POST, &format!("/v1/workspaces/{ws}/members"), owner, Some(json!({"userId": mate, "role": "member"}))).await;
    sys.command(Method::POST, &format!("/v1/boards/{board}/members"), owner, Some(json!({"userId": mate, "role": "editor"}))).await;
    let specs = [
        ("Alpha bug", "Done", vec!["x", "y"]),
        ("beta BUG", "Done", vec!["x"]),
        ("gamma", "To Do", vec!["x", "y"]),
        ("100%_sure", "Done", vec![]),
    ];
    let mut made = Vec::new();
    for (name, status, tags) in specs {
        let body = json!({"boardId": board, "name": name, "itemData": {"status": status, "tags": tags}});
        made.push(sys.command(Method::POST, "/v1/items", owner, Some(body)).await.id().to_string());
    }
    let last = sys.command(Method::POST, &format!("/v1/items/{}/assignees", made[1]), owner, Some(json!({"userId": mate}))).await;
    let p = last.position();
    let list = |q: String| {
        let sys = &sys;
        async move { ids(sys.read(&format!("/v1/boards/{board}/items?{q}"), owner, p).await.data()) }
    };
    assert_eq!(list("status=Done".into()).await, [made[0].clone(), made[1].clone(), made[3].clone()]);
    assert_eq!(list("status=Done&tag=x&tag=y".into()).await, [made[0].clone()]);
    assert_eq!(list("q=bug".into()).await, [made[0].clone(), made[1].clone()]);
    assert_eq!(list("q=%25_".into()).await, [made[3].clone()], "q matches % and _ literally");
    assert_eq!(list(format!("assignee={mate}")).await, [made[1].clone()]);
    assert_eq!(list(format!("assignee={mate}&status=To%20Do")).await, Vec::<String>::new());
    let r = sys.read(&format!("/v1/boards/{board}/items?assignee=nope"), owner, p).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn pages_hold_limit_items_and_miss_none_while_items_are_added(pool: PgPool) {
    let sys = System::start(pool).await;
    let owner = user();
    let (_, board, _) = sys.board(owner).await;
    let mut existing = Vec::new();
    let mut p = 0;
    for i in 0..17 {
        let r = sys.command(Method::POST, "/v1/items", owner, Some(json!({"boardId": board, "name": format!("n{i}")}))).await;
        existing.push(r.id().to_string());
        p = r.position();
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let page = sys.read(&format!("/v1/items?boardId={board}&limit=5{q}"), owner, p).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let got = ids(page.data());
        cursor = page.body["nextCursor"].as_str().map(str::to_owned);
        if cursor.is_some() {
            assert_eq!(got.len(), 5, "a page holds exactly limit entries while more remain");
        }
        seen.extend(got);
        // Add an item between pages; it goes last and must not disturb the walk.
        p = sys.command(Method::POST, "/v1/items", owner, Some(json!({"boardId": board, "name": "late"}))).await.position();
        if cursor.is_none() || seen.len() > 100 {
            break;
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no item twice");
    assert!(existing.iter().all(|e| unique.contains(e)), "no item missing");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn an_unchanged_read_answers_304_to_its_etag(pool: PgPool) {
    let sys = System::start(pool).await;
    let owner = user();
    let (_, board, p) = sys.board(owner).await;
    let first = sys.read(&format!("/v1/boards/{board}"), owner, p).await;
    let etag = first.header("etag").to_owned();
    assert!(etag.starts_with('"'), "{etag}");
    let again = sys.send(Method::GET, &format!("/v1/boards/{board}"), owner, None, &[("if-none-match", etag.clone())]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    let renamed = sys.command(Method::PATCH, &format!("/v1/boards/{board}"), owner, Some(json!({"name": "New"}))).await;
    let after = sys
        .send(
            Method::GET,
            &format!("/v1/boards/{board}"),
            owner,
            None,
            &[("if-none-match", etag), ("x-sunday-min-position", renamed.position().to_string())],
        )
        .await;
    assert_eq!(after.status, StatusCode::OK);
    assert_eq!(after.data()["name"], "New");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_position_never_reached_is_504(pool: PgPool) {
    let sys = System::with_wait(pool, Duration::from_millis(200)).await;
    let owner = user();
    let r = sys.read("/v1/workspaces", owner, i64::MAX).await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
    let bad = sys.send(Method::GET, "/v1/workspaces", owner, None, &[("x-sunday-min-position", "soon".into())]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn comments_and_files_read_back(pool: PgPool) {
    let sys = System::start(pool).await;
    let owner = user();
    let (_, board, _) = sys.board(owner).await;
    let item = sys.command(Method::POST, "/v1/items", owner, Some(json!({"boardId": board, "name": "x"}))).await.id();
    for i in 0..3 {
        sys.command(Method::POST, &format!("/v1/items/{item}/comments"), owner, Some(json!({"body": format!("c{i}")}))).await;
    }
    let f = sys
        .command(
            Method::POST,
            &format!("/v1/items/{item}/files"),
            owner,
            Some(json!({"name": "a.png", "contentType": "image/png", "size": 42})),
        )
        .await;
    let comments = sys.read(&format!("/v1/items/{item}/comments?limit=2"), owner, f.position()).await;
    let bodies: Vec<&str> = comments.data().as_array().into_iter().flatten().filter_map(|c| c["body"].as_str()).collect();
    assert_eq!(bodies, ["c0", "c1"], "oldest first");
    assert!(comments.body["nextCursor"].is_string());
    let files = sys.read(&format!("/v1/files?boardId={board}"), owner, f.position()).await;
    assert_eq!(files.data()[0]["size"], 42);
    assert_eq!(files.data()[0]["itemId"], json!(item));
    let one = sys.read(&format!("/v1/items/{item}"), owner, f.position()).await;
    assert_eq!((one.data()["commentCount"].clone(), one.data()["files"][0]["name"].clone()), (json!(3), json!("a.png")));
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn reads_keep_being_served_while_the_read_models_are_rebuilt(pool: PgPool) {
    let sys = System::start(pool.clone()).await;
    let owner = user();
    let (_, board, _) = sys.board(owner).await;
    let mut p = 0;
    for i in 0..200 {
        p = sys.command(Method::POST, "/v1/items", owner, Some(json!({"boardId": board, "name": format!("n{i}")}))).await.position();
    }
    let before = sys.read(&format!("/v1/boards/{board}/items?limit=500"), owner, p).await;
    assert_eq!(before.data().as_array().map(Vec::len), Some(200));
    let store = sunday_eventstore::PgEventStore::new(pool.clone());
    let base = pool.connect_options().as_ref().clone();
    let rebuild = tokio::spawn(async move {
        sunday_projector::rebuild(&store, base, &sunday_projector::Progress::log()).await.map_err(|e| e.to_string())
    });
    let mut reads = 0;
    while !rebuild.is_finished() || reads < 20 {
        let r = sys.read(&format!("/v1/boards/{board}/items?limit=500"), owner, p).await;
        assert_eq!(r.status, StatusCode::OK, "a read failed during the rebuild: {}", r.body);
        assert_eq!(r.data(), before.data(), "a read during the rebuild saw other content");
        reads += 1;
    }
    if let Err(e) = rebuild.await.expect("the rebuild task panicked") {
        panic!("the rebuild failed: {e}");
    }
    let after = sys.read(&format!("/v1/boards/{board}/items?limit=500"), owner, p).await;
    assert_eq!(after.data(), before.data());
    let more = sys.command(Method::POST, "/v1/items", owner, Some(json!({"boardId": board, "name": "after"}))).await;
    let last = sys.read(&format!("/v1/boards/{board}/items?limit=500"), owner, more.position()).await;
    assert_eq!(last.data().as_array().map(Vec::len), Some(201), "the live projector goes on in the rebuilt tables");
}
