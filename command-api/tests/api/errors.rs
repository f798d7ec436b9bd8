//! Rejected requests get the right problem response and append nothing.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{Reply, TestApp, token, user};

/// Asserts the status, the problem+json shape, and that the log did not grow.
async fn rejected(app: &TestApp, before: i64, r: Reply, status: StatusCode) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.header("content-type"), "application/problem+json");
    assert_eq!(r.body["status"], status.as_u16());
    assert!(r.body["type"].is_string() && r.body["title"].is_string() && r.body["detail"].is_string(), "{}", r.body);
    assert_eq!(app.event_count().await, before, "a rejected request appended");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn unauthenticated_requests_are_401(pool: PgPool) {
    let app = TestApp::new(pool);
    let before = app.event_count().await;
    let r = app.send(Method::POST, "/v1/workspaces", None, Some(json!({"name": "x"}))).await;
    assert_eq!(r.header("www-authenticate"), "Bearer");
    rejected(&app, before, r, StatusCode::UNAUTHORIZED).await;
    let forged = format!("{}x", token(user()));
    let r = app
        .send_with(Method::POST, "/v1/workspaces", None, Some(json!({"name": "x"})), &[("authorization", &format!("Bearer {forged}"))])
        .await;
    rejected(&app, before, r, StatusCode::UNAUTHORIZED).await;
    // 401 wins over a malformed body.
    let req = Request::post("/v1/workspaces").header("content-type", "application/json").body(Body::from("{")).unwrap_or_default();
    rejected(&app, before, app.raw(req).await, StatusCode::UNAUTHORIZED).await;
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn malformed_bodies_and_wrong_types_are_400(pool: PgPool) {
    let app = TestApp::new(pool);
    let owner = user();
    let (_, board) = app.board(owner).await;
    let before = app.event_count().await;
    let bearer = format!("Bearer {}", token(owner));
    let req = Request::post("/v1/items")
        .header("authorization", &bearer)
        .header("content-type", "application/json")
        .body(Body::from("{\"name\":"))
        .unwrap_or_default();
    rejected(&app, before, app.raw(req).await, StatusCode::BAD_REQUEST).await;
    for body in [
        json!({"boardId": board}),                                   // missing name
        json!({"boardId": board, "name": 5}),                        // wrong type
        json!({"boardId": board, "name": "x", "description": null}), // null outside itemData
        json!({"boardId": board, "name": "x", "itemData": []}),
    ] {
        let r = app.post("/v1/items", owner, body).await;
        rejected(&app, before, r, StatusCode::BAD_REQUEST).await;
    }
    let r = app.post(&format!("/v1/items/{}/files", Uuid::now_v7()), owner, json!({"name": "a", "contentType": "a/b", "size": 1.5})).await;
    rejected(&app, before, r, StatusCode::BAD_REQUEST).await;
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn non_members_get_404_and_viewers_get_403(pool: PgPool) {
    let app = TestApp::new(pool);
    let (owner, viewer, stranger) = (user(), user(), user());
    let (ws, board) = app.board(owner).await;
    app.join(owner, ws, board, viewer, "member", "viewer").await;
    let item = app.item(owner, board, "Secret").await;
    let before = app.event_count().await;
    let cases = [
        (stranger, Method::PATCH, format!("/v1/boards/{board}"), Some(json!({"name": "mine"})), StatusCode::NOT_FOUND),
        (stranger, Method::PUT, format!("/v1/items/{item}"), Some(json!({"name": "mine"})), StatusCode::NOT_FOUND),
        (stranger, Method::POST, "/v1/items".to_owned(), Some(json!({"boardId": board, "name": "x"})), StatusCode::NOT_FOUND),
        (stranger, Method::PATCH, format!("/v1/workspaces/{ws}"), Some(json!({"name": "mine"})), StatusCode::NOT_FOUND),
        (owner, Method::PUT, format!("/v1/items/{}", Uuid::now_v7()), Some(json!({"name": "x"})), StatusCode::NOT_FOUND),
        (owner, Method::PUT, "/v1/items/not-a-uuid".to_owned(), Some(json!({"name": "x"})), StatusCode::NOT_FOUND),
        (viewer, Method::PUT, format!("/v1/items/{item}"), Some(json!({"name": "mine"})), StatusCode::FORBIDDEN),
        (viewer, Method::POST, "/v1/items".to_owned(), Some(json!({"boardId": board, "name": "x"})), StatusCode::FORBIDDEN),
        (
            viewer,
            Method::POST,
            format!("/v1/boards/{board}/columns"),
            Some(json!({"key": "k", "title": "K", "type": "text"})),
            StatusCode::FORBIDDEN,
        ),
        (viewer, Method::PATCH, format!("/v1/workspaces/{ws}"), Some(json!({"name": "mine"})), StatusCode::FORBIDDEN),
    ];
    for (who, method, path, body, status) in cases {
        let r = app.send(method, &path, Some(who), body).await;
        rejected(&app, before, r, status).await;
    }
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn if_match_mismatch_is_412_and_a_match_succeeds(pool: PgPool) {
    let app = TestApp::new(pool);
    let owner = user();
    let (_, board) = app.board(owner).await;
    let item = app.item(owner, board, "x").await;
    let before = app.event_count().await;
    let path = format!("/v1/items/{item}");
    let r = app.send_with(Method::PUT, &path, Some(owner), Some(json!({"name": "y"})), &[("if-match", "\"7\"")]).await;
    rejected(&app, before, r, StatusCode::PRECONDITION_FAILED).await;
    let r = app.send_with(Method::PUT, &path, Some(owner), Some(json!({"name": "y"})), &[("if-match", "\"1\"")]).await;
    assert_eq!((r.status, r.version()), (StatusCode::OK, 2));
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn reusing_an_id_with_another_body_is_409(pool: PgPool) {
    let app = TestApp::new(pool);
    let owner = user();
    let id = Uuid::now_v7();
    app.ok(Method::POST, "/v1/workspaces", owner, Some(json!({"id": id, "name": "A"})), StatusCode::CREATED).await;
    let before = app.event_count().await;
    let r = app.post("/v1/workspaces", owner, json!({"id": id, "name": "B"})).await;
    rejected(&app, before, r, StatusCode::CONFLICT).await;
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn oversized_and_non_json_bodies_are_413_and_415(pool: PgPool) {
    let app = TestApp::new(pool);
    let owner = user();
    let before = app.event_count().await;
    let r = app.post("/v1/workspaces", owner, json!({"name": "x".repeat(300 * 1024)})).await;
    rejected(&app, before, r, StatusCode::PAYLOAD_TOO_LARGE).await;
    let req = Request::post("/v1/workspaces")
        .header("authorization", format!("Bearer {}", token(owner)))
        .header("content-type", "text/plain")
        .body(Body::from("{\"name\": \"x\"}"))
        .unwrap_or_default();
    rejected(&app, before, app.raw(req).await, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn rule_breaking_values_are_422_with_field_errors(pool: PgPool) {
    let app = TestApp::new(pool);
    let (owner, outsider) = (user(), user());
    let (_, board) = app.board(owner).await;
    let item = app.item(owner, board, "x").await;
    let before = app.event_count().await;
    let cases = [
        ("/v1/items".to_owned(), json!({"boardId": board, "name": "x", "itemData": {"nope": 1}}), "itemData.nope"),
        ("/v1/items".to_owned(), json!({"boardId": board, "name": "x", "itemData": {"status": "Someday"}}), "itemData.status"),
        ("/v1/items".to_owned(), json!({"boardId": board, "name": "x", "itemData": {"dueDate": "tomorrow"}}), "itemData.dueDate"),
        ("/v1/items".to_owned(), json!({"id": "not-a-uuid", "boardId": board, "name": "x"}), "id"),
        ("/v1/items".to_owned(), json!({"boardId": board, "name": "   "}), "name"),
        (format!("/v1/boards/{board}/columns"), json!({"key": "status", "title": "Again", "type": "text"}), "key"),
        (format!("/v1/boards/{board}/columns"), json!({"key": "Bad Key", "title": "K", "type": "text"}), "key"),
        (format!("/v1/boards/{board}/columns"), json!({"key": "k", "title": "K", "type": "rainbow"}), "type"),
        (format!("/v1/items/{item}/assignees"), json!({"userId": outsider}), "userId"),
        (format!("/v1/boards/{board}/members"), json!({"userId": outsider, "role": "editor"}), "userId"),
        (format!("/v1/items/{item}/move"), json!({"afterItemId": item}), "afterItemId"),
        (format!("/v1/items/{item}/comments"), json!({"body": ""}), "body"),
        (format!("/v1/items/{item}/files"), json!({"name": "a", "contentType": "pdf", "size": -1}), "contentType"),
    ];
    for (path, body, field) in cases {
        let r = app.post(&path, owner, body).await;
        let fields: Vec<&str> = r.body["errors"].as_array().into_iter().flatten().filter_map(|e| e["field"].as_str()).collect();
        assert!(fields.contains(&field), "{path}: expected an error on {field}, got {}", r.body);
        rejected(&app, before, r, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn unknown_routes_and_methods_answer_in_the_problem_shape(pool: PgPool) {
    let app = TestApp::new(pool);
    let before = app.event_count().await;
    let r = app.send(Method::POST, "/v1/nowhere", Some(user()), Some(json!({}))).await;
    rejected(&app, before, r, StatusCode::NOT_FOUND).await;
    let r = app.send(Method::PATCH, "/v1/items", Some(user()), Some(json!({}))).await;
    rejected(&app, before, r, StatusCode::METHOD_NOT_ALLOWED).await;
}
