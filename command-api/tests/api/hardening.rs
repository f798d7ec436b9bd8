//! Found by reading the code as an attacker and as a careless client would:
//! ids reused across the store, NUL characters, values of the wrong JSON type,
//! and the places where the server disagreed with api.md.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{TestApp, user};

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_sub_entity_id_used_elsewhere_is_409_everywhere(pool: PgPool) {
    let app = TestApp::new(pool);
    let owner = user();
    let (_, board) = app.board(owner).await;
    let (_, other_board) = app.board(owner).await;
    let (a, b) = (app.item(owner, board, "a").await, app.item(owner, board, "b").await);
    let id = Uuid::now_v7();
    let comment = json!({"id": id, "body": "hello"});
    app.ok(Method::POST, &format!("/v1/items/{a}/comments"), owner, Some(comment.clone()), StatusCode::OK).await;
    let again = app.ok(Method::POST, &format!("/v1/items/{a}/comments"), owner, Some(comment.clone()), StatusCode::OK).await;
    assert_eq!(again.entity_id(), id, "the same comment again is replayed");
    let before = app.event_count().await;
    let cases = [
        (format!("/v1/items/{b}/comments"), comment.clone()),
        (format!("/v1/items/{b}/files"), json!({"id": id, "name": "f", "contentType": "text/plain", "size": 1})),
        (format!("/v1/boards/{other_board}/columns"), json!({"id": id, "key": "notes", "title": "Notes", "type": "text"})),
        (format!("/v1/boards/{other_board}/groups"), json!({"id": id, "title": "Later"})),
    ];
    for (path, body) in cases {
        let r = app.post(&path, owner, body).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{path}: {}", r.body);
        assert_eq!(r.header("content-type"), "application/problem+json");
    }
    assert_eq!(app.event_count().await, before, "nothing was appended");
    let ws = app.workspace(owner).await;
    let before = app.event_count().await;
    let r = app.post("/v1/boards", owner, json!({"workspaceId": ws, "name": "x", "groups": [{"id": id, "title": "G"}]})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(app.event_count().await, before, "nothing was appended");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn nul_characters_in_bodies_are_422_with_the_field(pool: PgPool) {
    let app = TestApp::new(pool);
    let owner = user();
    let (ws, board) = app.board(owner).await;
    let item = app.item(owner, board, "a").await;
    app.ok(
        Method::POST,
        &format!("/v1/boards/{board}/columns"),
        owner,
        Some(json!({"key": "notes", "title": "Notes", "type": "text"})),
        StatusCode::OK,
    )
    .await;
    let before = app.event_count().await;
    let cases = [
        (Method::POST, "/v1/workspaces".to_owned(), json!({"name": "a\u{0}b"}), "name"),
        (Method::PATCH, format!("/v1/workspaces/{ws}"), json!({"name": "\u{0}"}), "name"),
        (Method::POST, "/v1/items".to_owned(), json!({"boardId": board, "name": "x", "description": "d\u{0}"}), "description"),
        (Method::PUT, format!("/v1/items/{item}"), json!({"itemData": {"notes": "a\u{0}"}}), "itemData.notes"),
        (Method::PUT, format!("/v1/items/{item}"), json!({"itemData": {"tags": ["ok", "b\u{0}d"]}}), "itemData.tags[1]"),
        (Method::POST, format!("/v1/items/{item}/comments"), json!({"body": "hi\u{0}"}), "body"),
        (Method::POST, format!("/v1/items/{item}/files"), json!({"name": "f\u{0}", "contentType": "text/plain", "size": 1}), "name"),
        (
            Method::POST,
            format!("/v1/boards/{board}/columns"),
            json!({"key": "k", "title": "K", "type": "text", "settings": {"x": "\u{0}"}}),
            "column.settings.x",
        ),
        (Method::POST, format!("/v1/boards/{board}/groups"), json!({"title": "G\u{0}"}), "group.title"),
        (Method::PUT, "/v1/me".to_owned(), json!({"firstName": "A\u{0}"}), "firstName"),
    ];
    for (method, path, body, field) in cases {
        let r = app.send(method.clone(), &path, Some(owner), Some(body)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{method} {path}: {}", r.body);
        assert_eq!(r.body["errors"][0]["field"], field, "{}", r.body);
    }
    assert_eq!(app.event_count().await, before, "nothing was appended");
    // A non-member still learns nothing: 404 comes first.
    let r = app.send(Method::PUT, &format!("/v1/items/{item}"), Some(user()), Some(json!({"name": "\u{0}"}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn item_values_of_the_wrong_json_type_are_400_after_visibility(pool: PgPool) {
    let app = TestApp::new(pool);
    let (owner, viewer) = (user(), user());
    let (ws, board) = app.board(owner).await;
    app.join(owner, ws, board, viewer, "member", "viewer").await;
    for (key, kind) in [("notes", "text"), ("people", "people"), ("done", "checkbox")] {
        let column = json!({"key": key, "title": key, "type": kind});
        app.ok(Method::POST, &format!("/v1/boards/{board}/columns"), owner, Some(column), StatusCode::OK).await;
    }
    let item = app.item(owner, board, "a").await;
    let before = app.event_count().await;
    let wrong = [
        json!({"notes": 5}),
        json!({"status": 1}),
        json!({"dueDate": 20260101}),
        json!({"estimatedHours": "2"}),
        json!({"estimatedHours": true}),
        json!({"people": "x"}),
        json!({"people": [1]}),
        json!({"tags": "a"}),
        json!({"tags": [1]}),
        json!({"done": "true"}),
        json!({"done": 1}),
    ];
    for data in wrong {
        let key = data.as_object().and_then(|m| m.keys().next().cloned()).unwrap_or_default();
        let r = app.send(Method::PUT, &format!("/v1/items/{item}"), Some(owner), Some(json!({"itemData": data}))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{data}: {}", r.body);
        assert_eq!(r.body["errors"][0]["field"], format!("itemData.{key}"), "{}", r.body);
        let r = app.post("/v1/items", owner, json!({"boardId": board, "name": "x", "itemData": data})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "create {data}: {}", r.body);
        // 400 comes before 403 for a viewer, who sees the columns anyway...
        let r = app.send(Method::PUT, &format!("/v1/items/{item}"), Some(viewer), Some(json!({"itemData": data}))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "viewer {data}: {}", r.body);
        // ...but a non-member learns nothing about them.
        let r = app.send(Method::PUT, &format!("/v1/items/{item}"), Some(user()), Some(json!({"itemData": data}))).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "stranger {data}: {}", r.body);
    }
    // Right type, broken rule: 422.
    for data in [json!({"status": "Someday"}), json!({"people": ["not-a-uuid"]}), json!({"tags": [" "]}), json!({"nope": 1})] {
        let r = app.send(Method::PUT, &format!("/v1/items/{item}"), Some(owner), Some(json!({"itemData": data}))).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{data}: {}", r.body);
    }
    assert_eq!(app.event_count().await, before, "nothing was appended");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn null_item_data_in_a_create_means_the_key_is_absent(pool: PgPool) {
    let app = TestApp::new(pool);
    let owner = user();
    let (_, board) = app.board(owner).await;
    let body = json!({"boardId": board, "name": "x", "itemData": {"status": null, "estimatedHours": 3}});
    let r = app.ok(Method::POST, "/v1/items", owner, Some(body), StatusCode::CREATED).await;
    let data = app.last_data(&format!("item-{}", r.id())).await;
    assert_eq!(data["itemData"], json!({"estimatedHours": 3}), "{data}");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn ids_the_server_makes_are_uuid_v7_default_columns_included(pool: PgPool) {
    let app = TestApp::new(pool);
    let owner = user();
    let (_, board) = app.board(owner).await;
    let created = app.last_data(&format!("board-{board}")).await;
    let ids: Vec<Uuid> = ["columns", "groups"]
        .iter()
        .flat_map(|k| created[*k].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["id"].as_str().and_then(|s| Uuid::parse_str(s).ok()))
        .collect();
    assert_eq!(ids.len(), 6, "{created}");
    assert!(ids.iter().all(|id| id.get_version_num() == 7), "{ids:?}");
    assert!(Uuid::parse_str(created["boardId"].as_str().unwrap_or_default()).is_ok_and(|b| b.get_version_num() == 7));
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn an_unknown_column_is_404_before_403(pool: PgPool) {
    let app = TestApp::new(pool);
    let (owner, viewer) = (user(), user());
    let (ws, board) = app.board(owner).await;
    app.join(owner, ws, board, viewer, "member", "viewer").await;
    let missing = Uuid::now_v7();
    let r = app.send(Method::PATCH, &format!("/v1/boards/{board}/columns/{missing}"), Some(viewer), Some(json!({"title": "x"}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = app.send(Method::DELETE, &format!("/v1/boards/{board}/columns/{missing}"), Some(viewer), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let created: Value = sqlx::query_scalar("SELECT data FROM events WHERE stream_id = $1 AND stream_version = 1")
        .bind(format!("board-{board}"))
        .fetch_one(&app.pool)
        .await
        .unwrap_or(Value::Null);
    let existing = created["columns"][0]["id"].clone();
    let r = app
        .send(
            Method::PATCH,
            &format!("/v1/boards/{board}/columns/{}", existing.as_str().unwrap_or_default()),
            Some(viewer),
            Some(json!({"title": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_user_over_the_command_rate_gets_429_and_appends_nothing(pool: PgPool) {
    let limits = sunday_edge::Limits { commands: std::num::NonZeroU32::new(2), ..Default::default() };
    let app = TestApp::with_config(pool, sunday_command_api::Config { rate_limits: limits, ..Default::default() });
    let (hasty, patient) = (user(), user());
    let mut answers = Vec::new();
    for i in 0..8 {
        answers.push(app.post("/v1/workspaces", hasty, json!({"name": format!("w{i}")})).await);
    }
    let created = answers.iter().filter(|r| r.status == StatusCode::CREATED).count();
    let limited: Vec<_> = answers.iter().filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS).collect();
    assert_eq!(created + limited.len(), 8);
    assert!(created >= 4 && !limited.is_empty(), "a burst of 4 passes, then 429: {created} created");
    let r = limited[0];
    assert_eq!(r.header("content-type"), "application/problem+json");
    assert_eq!(r.body["status"], 429);
    assert!(r.header("retry-after").parse::<u64>().is_ok_and(|s| s >= 1), "{:?}", r.headers);
    assert_eq!((r.header("ratelimit-limit"), r.header("ratelimit-remaining")), ("4", "0"));
    assert_eq!(app.event_count().await, i64::try_from(created).unwrap_or(0), "a limited command appends nothing");
    assert_eq!(app.post("/v1/workspaces", patient, json!({"name": "mine"})).await.status, StatusCode::CREATED, "limits are per user");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn unknown_fields_are_400_as_the_schemas_say(pool: PgPool) {
    let app = TestApp::new(pool);
    let owner = user();
    let before = app.event_count().await;
    let r = app.post("/v1/workspaces", owner, json!({"name": "x", "nmae": "typo"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body["detail"].as_str().is_some_and(|d| d.contains("nmae")), "{}", r.body);
    assert_eq!(app.event_count().await, before);
}
