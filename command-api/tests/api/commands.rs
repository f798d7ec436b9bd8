//! Every command of api.md succeeds through the router, answers as specified and
//! leaves its event in the log.

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{TestApp, user};

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn workspace_commands_append_their_events(pool: PgPool) {
    let app = TestApp::new(pool);
    let (owner, other) = (user(), user());
    let ws = app.workspace(owner).await;
    let path = format!("/v1/workspaces/{ws}");
    app.ok(Method::PATCH, &path, owner, Some(json!({"name": "Renamed"})), StatusCode::OK).await;
    let added =
        app.ok(Method::POST, &format!("{path}/members"), owner, Some(json!({"userId": other, "role": "member"})), StatusCode::OK).await;
    assert_eq!(added.version(), 3);
    app.ok(Method::DELETE, &format!("{path}/members/{other}"), owner, None, StatusCode::OK).await;
    assert_eq!(
        app.stream_types(&format!("workspace-{ws}")).await,
        ["WorkspaceCreated", "WorkspaceRenamed", "WorkspaceMemberAdded", "WorkspaceMemberRemoved"]
    );
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn answers_carry_id_version_position_and_headers(pool: PgPool) {
    let app = TestApp::new(pool);
    let r = app.post("/v1/workspaces", user(), json!({"name": "A"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.version(), 1);
    assert_eq!(r.header("etag"), "\"1\"");
    assert_eq!(r.header("x-sunday-position"), r.position().to_string());
    let stored: i64 = sqlx::query_scalar("SELECT position FROM events WHERE stream_id = $1")
        .bind(format!("workspace-{}", r.id()))
        .fetch_one(&app.pool)
        .await
        .unwrap_or_default();
    assert_eq!(stored, r.position());
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn board_commands_append_their_events(pool: PgPool) {
    let app = TestApp::new(pool);
    let (owner, editor) = (user(), user());
    let ws = app.workspace(owner).await;
    let body = json!({
        "workspaceId": ws, "name": "Sprint", "description": "Q1",
        "columns": [{"key": "state", "title": "State", "type": "status", "settings": {"labels": ["Open", "Closed"]}}],
        "groups": [{"title": "Backlog", "color": "#00ff00"}]
    });
    let board = app.ok(Method::POST, "/v1/boards", owner, Some(body), StatusCode::CREATED).await.id();
    let b = format!("/v1/boards/{board}");
    app.ok(Method::PATCH, &b, owner, Some(json!({"name": "Sprint 2"})), StatusCode::OK).await;
    let col = app
        .ok(Method::POST, &format!("{b}/columns"), owner, Some(json!({"key": "notes", "title": "Notes", "type": "text"})), StatusCode::OK)
        .await;
    assert_eq!(col.id(), board);
    let column_id = col.entity_id();
    app.ok(Method::PATCH, &format!("{b}/columns/{column_id}"), owner, Some(json!({"title": "Remarks"})), StatusCode::OK).await;
    app.ok(Method::DELETE, &format!("{b}/columns/{column_id}"), owner, None, StatusCode::OK).await;
    let group = app.ok(Method::POST, &format!("{b}/groups"), owner, Some(json!({"title": "Doing"})), StatusCode::OK).await;
    assert_ne!(group.entity_id(), board);
    app.join(owner, ws, board, editor, "member", "editor").await;
    app.ok(Method::POST, &format!("{b}/members"), owner, Some(json!({"userId": editor, "role": "viewer"})), StatusCode::OK).await;
    app.ok(Method::DELETE, &format!("{b}/members/{editor}"), owner, None, StatusCode::OK).await;
    app.ok(Method::POST, &format!("{b}/archive"), owner, None, StatusCode::OK).await;
    assert_eq!(
        app.stream_types(&format!("board-{board}")).await,
        [
            "BoardCreated",
            "BoardUpdated",
            "ColumnAdded",
            "ColumnUpdated",
            "ColumnRemoved",
            "GroupAdded",
            "BoardMemberAdded",
            "BoardMemberRoleChanged",
            "BoardMemberRemoved",
            "BoardArchived"
        ]
    );
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_board_without_columns_gets_the_defaults_and_a_main_group(pool: PgPool) {
    let app = TestApp::new(pool);
    let owner = user();
    let (_, board) = app.board(owner).await;
    let created = app.last_data(&format!("board-{board}")).await;
    let keys: Vec<&str> = created["columns"].as_array().into_iter().flatten().filter_map(|c| c["key"].as_str()).collect();
    assert_eq!(keys, ["status", "priority", "estimatedHours", "tags", "dueDate"]);
    assert_eq!(created["columns"][0]["settings"]["labels"], json!(["To Do", "In Progress", "Done"]));
    assert_eq!(created["groups"][0]["title"], "Main");
    assert_eq!(created["ownerId"], json!(owner));
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn item_commands_append_their_events(pool: PgPool) {
    let app = TestApp::new(pool);
    let (owner, mate) = (user(), user());
    let (ws, board) = app.board(owner).await;
    app.join(owner, ws, board, mate, "member", "editor").await;
    app.item(owner, board, "Already there").await;
    let body = json!({"boardId": board, "name": "Write docs", "itemData": {"status": "To Do", "estimatedHours": 3, "tags": ["docs"], "dueDate": "2026-12-01"}});
    let item = app.ok(Method::POST, "/v1/items", owner, Some(body), StatusCode::CREATED).await.id();
    let i = format!("/v1/items/{item}");
    app.ok(Method::PUT, &i, mate, Some(json!({"name": "Write more docs", "itemData": {"status": "Done", "tags": null}})), StatusCode::OK)
        .await;
    app.ok(Method::POST, &format!("{i}/move"), owner, Some(json!({"afterItemId": null})), StatusCode::OK).await;
    app.ok(Method::POST, &format!("{i}/assignees"), owner, Some(json!({"userId": mate})), StatusCode::OK).await;
    app.ok(Method::DELETE, &format!("{i}/assignees/{mate}"), owner, None, StatusCode::OK).await;
    let c = app.ok(Method::POST, &format!("{i}/comments"), mate, Some(json!({"body": "Looks good"})), StatusCode::OK).await;
    assert_eq!(c.id(), item);
    let f = app
        .ok(
            Method::POST,
            &format!("{i}/files"),
            mate,
            Some(json!({"name": "spec.pdf", "contentType": "application/pdf", "size": 1024})),
            StatusCode::OK,
        )
        .await;
    assert_ne!(f.entity_id(), c.entity_id());
    let deleted = app.ok(Method::DELETE, &i, owner, None, StatusCode::OK).await;
    assert_eq!(deleted.version(), 8);
    assert_eq!(
        app.stream_types(&format!("item-{item}")).await,
        ["ItemCreated", "ItemUpdated", "ItemMoved", "ItemAssigned", "ItemUnassigned", "CommentAdded", "FileAttached", "ItemDeleted"]
    );
    let r = app.send(Method::PUT, &i, Some(owner), Some(json!({"name": "zombie"}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "commands on a deleted item are 404");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn profile_updates_start_at_version_one(pool: PgPool) {
    let app = TestApp::new(pool);
    let me = user();
    let r = app.ok(Method::PUT, "/v1/me", me, Some(json!({"firstName": "Ada", "lastName": "Lovelace"})), StatusCode::OK).await;
    assert_eq!((r.id(), r.version()), (me, 1));
    let again = app.ok(Method::PUT, "/v1/me", me, Some(json!({"firstName": "Ada"})), StatusCode::OK).await;
    assert_eq!(again.version(), 1, "an unchanged profile appends nothing");
    assert_eq!(app.stream_types(&format!("user-{me}")).await, ["UserProfileUpdated"]);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn commands_that_change_nothing_append_nothing(pool: PgPool) {
    let app = TestApp::new(pool);
    let (owner, mate) = (user(), user());
    let (ws, board) = app.board(owner).await;
    app.join(owner, ws, board, mate, "member", "editor").await;
    let item = app.item(owner, board, "Task").await;
    let assigned = app.ok(Method::POST, &format!("/v1/items/{item}/assignees"), owner, Some(json!({"userId": mate})), StatusCode::OK).await;
    let before = app.event_count().await;
    let again = app.ok(Method::POST, &format!("/v1/items/{item}/assignees"), owner, Some(json!({"userId": mate})), StatusCode::OK).await;
    assert_eq!((again.version(), again.position()), (assigned.version(), assigned.position()));
    app.ok(Method::DELETE, &format!("/v1/items/{item}/assignees/{}", Uuid::now_v7()), owner, None, StatusCode::OK).await;
    app.ok(Method::POST, &format!("/v1/boards/{board}/members"), owner, Some(json!({"userId": mate, "role": "editor"})), StatusCode::OK)
        .await;
    app.ok(Method::PUT, &format!("/v1/items/{item}"), owner, Some(json!({"name": "Task"})), StatusCode::OK).await;
    assert_eq!(app.event_count().await, before);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_create_resent_with_its_id_is_idempotent_and_another_body_conflicts(pool: PgPool) {
    let app = TestApp::new(pool);
    let owner = user();
    let (_, board) = app.board(owner).await;
    let id = Uuid::now_v7();
    let body = json!({"id": id, "boardId": board, "name": "Once"});
    let first = app.ok(Method::POST, "/v1/items", owner, Some(body.clone()), StatusCode::CREATED).await;
    app.ok(Method::PUT, &format!("/v1/items/{id}"), owner, Some(json!({"name": "Changed"})), StatusCode::OK).await;
    let before = app.event_count().await;
    let again = app.ok(Method::POST, "/v1/items", owner, Some(body), StatusCode::CREATED).await;
    assert_eq!(again.body, first.body);
    let other = app.post("/v1/items", owner, json!({"id": id, "boardId": board, "name": "Twice"})).await;
    assert_eq!(other.status, StatusCode::CONFLICT);
    let comment = Uuid::now_v7();
    let c = json!({"id": comment, "body": "hi"});
    let first = app.ok(Method::POST, &format!("/v1/items/{id}/comments"), owner, Some(c.clone()), StatusCode::OK).await;
    let again = app.ok(Method::POST, &format!("/v1/items/{id}/comments"), owner, Some(c), StatusCode::OK).await;
    assert_eq!((again.entity_id(), again.position()), (comment, first.position()));
    let clash = app.post(&format!("/v1/items/{id}/comments"), owner, json!({"id": comment, "body": "other"})).await;
    assert_eq!(clash.status, StatusCode::CONFLICT);
    assert_eq!(app.event_count().await, before + 1);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn items_are_ranked_in_display_order_and_moves_reorder_them(pool: PgPool) {
    let app = TestApp::new(pool);
    let owner = user();
    let (_, board) = app.board(owner).await;
    let a = app.item(owner, board, "a").await;
    let b = app.item(owner, board, "b").await;
    let c = app.item(owner, board, "c").await;
    app.ok(Method::POST, &format!("/v1/items/{c}/move"), owner, Some(json!({"afterItemId": a})), StatusCode::OK).await;
    app.ok(Method::POST, &format!("/v1/items/{b}/move"), owner, Some(json!({"afterItemId": null})), StatusCode::OK).await;
    let order: Vec<Uuid> = sqlx::query_scalar(
        "SELECT (data->>'itemId')::uuid FROM (SELECT DISTINCT ON (stream_id) stream_id, data FROM events \
         WHERE event_type IN ('ItemCreated', 'ItemMoved') ORDER BY stream_id, stream_version DESC) last ORDER BY data->>'rank' COLLATE \"C\"",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap_or_default();
    assert_eq!(order, [b, a, c]);
    let moved_nowhere =
        app.ok(Method::POST, &format!("/v1/items/{b}/move"), owner, Some(json!({"afterItemId": null})), StatusCode::OK).await;
    assert_eq!(moved_nowhere.version(), 2, "moving an item where it already is appends nothing");
}
