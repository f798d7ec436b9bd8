//! Webhook subscriptions: owners and admins make, change, rotate and delete
//! them; others learn nothing (404) or are refused (403); URLs that lead into
//! private networks are refused after that; the secret is shown by the
//! create and the rotation only, and is in no event.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use sunday_command_api::Config;
use uuid::Uuid;

use crate::helpers::{TestApp, user};

/// A public address the tests never reach (nothing is sent in these tests).
const URL: &str = "http://93.184.216.34/hooks";

fn secret_of(body: &Value) -> String {
    body["data"]["secret"].as_str().map(str::to_owned).unwrap_or_else(|| panic!("no data.secret in {body}"))
}

async fn member(app: &TestApp, owner: Uuid, ws: Uuid, role: &str) -> Uuid {
    let who = user();
    let body = json!({"userId": who, "role": role});
    app.ok(Method::POST, &format!("/v1/workspaces/{ws}/members"), owner, Some(body), StatusCode::OK).await;
    who
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn owners_and_admins_manage_webhooks_and_the_secret_is_shown_only_in_answers(pool: PgPool) {
    let app = TestApp::new(pool);
    let owner = user();
    let ws = app.workspace(owner).await;
    let admin = member(&app, owner, ws, "admin").await;
    let path = format!("/v1/workspaces/{ws}/webhooks");
    let body = json!({"id": Uuid::now_v7(), "url": URL, "eventTypes": ["ItemCreated", "ItemCreated", "CommentAdded"]});
    let created = app.ok(Method::POST, &path, admin, Some(body.clone()), StatusCode::CREATED).await;
    let first = secret_of(&created.body);
    assert!(first.starts_with("whsec_") && first.len() == 6 + 44, "{first}");
    let hook = created.id();
    let stream = format!("webhook-{hook}");
    let data = app.last_data(&stream).await;
    assert_eq!(data["eventTypes"], json!(["CommentAdded", "ItemCreated"]), "sorted, without repeats");
    assert_eq!(data["workspaceId"], json!(ws));

    // The same create again (same id and body) answers as then, with the same secret.
    let replayed = app.ok(Method::POST, &path, admin, Some(body), StatusCode::CREATED).await;
    assert_eq!(secret_of(&replayed.body), first);

    let rotated = app.ok(Method::POST, &format!("/v1/webhooks/{hook}/rotate-secret"), owner, None, StatusCode::OK).await;
    let second = secret_of(&rotated.body);
    assert_ne!(second, first);
    let patch = json!({"active": false, "boardIds": [Uuid::now_v7()]});
    let changed = app.ok(Method::PATCH, &format!("/v1/webhooks/{hook}"), owner, Some(patch), StatusCode::OK).await;
    assert!(changed.body["data"].get("secret").is_none(), "only the create and the rotation show the secret");
    let same = app.ok(Method::PATCH, &format!("/v1/webhooks/{hook}"), owner, Some(json!({"active": false})), StatusCode::OK).await;
    assert_eq!(same.version(), changed.version(), "a change that changes nothing appends nothing");
    app.ok(Method::PATCH, &format!("/v1/webhooks/{hook}"), owner, Some(json!({"boardIds": null})), StatusCode::OK).await;
    app.ok(Method::DELETE, &format!("/v1/webhooks/{hook}"), owner, None, StatusCode::OK).await;
    assert_eq!(
        app.stream_types(&stream).await,
        ["WebhookCreated", "WebhookSecretRotated", "WebhookUpdated", "WebhookUpdated", "WebhookDeleted"]
    );
    let r = app.send(Method::PATCH, &format!("/v1/webhooks/{hook}"), Some(owner), Some(json!({"active": true}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a deleted webhook is gone: {}", r.body);

    let log: Vec<String> =
        sqlx::query_scalar("SELECT data::text || metadata::text FROM events").fetch_all(&app.pool).await.unwrap_or_default();
    for secret in [&first, &second] {
        let bare = secret.trim_start_matches("whsec_");
        assert!(log.iter().all(|row| !row.contains(bare)), "a secret is in the log");
    }
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn members_are_refused_and_strangers_learn_nothing(pool: PgPool) {
    let app = TestApp::new(pool);
    let owner = user();
    let ws = app.workspace(owner).await;
    let plain = member(&app, owner, ws, "member").await;
    let stranger = user();
    let path = format!("/v1/workspaces/{ws}/webhooks");
    let hook = app.ok(Method::POST, &path, owner, Some(json!({"url": URL})), StatusCode::CREATED).await.id();
    let before = app.event_count().await;
    // A stranger gets the 404 first, even for a body that breaks every rule.
    let bad = json!({"url": "http://127.0.0.1/x", "eventTypes": ["Nope"]});
    for (who, want) in [(plain, StatusCode::FORBIDDEN), (stranger, StatusCode::NOT_FOUND)] {
        assert_eq!(app.send(Method::POST, &path, Some(who), Some(json!({"url": URL}))).await.status, want);
        assert_eq!(app.send(Method::POST, &path, Some(who), Some(bad.clone())).await.status, want);
        for (method, rest, body) in
            [(Method::PATCH, "", Some(json!({"active": false}))), (Method::POST, "/rotate-secret", None), (Method::DELETE, "", None)]
        {
            let r = app.send(method.clone(), &format!("/v1/webhooks/{hook}{rest}"), Some(who), body).await;
            assert_eq!(r.status, want, "{method} {rest}: {}", r.body);
            assert!(r.body.to_string().find("secret").is_none() || want == StatusCode::FORBIDDEN);
        }
    }
    let unknown = app.send(Method::DELETE, &format!("/v1/webhooks/{}", Uuid::now_v7()), Some(owner), None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(app.event_count().await, before, "nothing refused was logged");
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn bad_settings_and_private_addresses_are_422_and_change_nothing(pool: PgPool) {
    let app = TestApp::new(pool);
    let owner = user();
    let ws = app.workspace(owner).await;
    let path = format!("/v1/workspaces/{ws}/webhooks");
    let before = app.event_count().await;
    let long = format!("http://93.184.216.34/{}", "a".repeat(2100));
    for (body, field) in [
        (json!({"url": "ftp://93.184.216.34/x"}), "url"),
        (json!({"url": "http://user:pw@93.184.216.34/x"}), "url"),
        (json!({"url": "http://127.0.0.1:8080/x"}), "url"),
        (json!({"url": "http://[::ffff:10.0.0.1]/x"}), "url"),
        (json!({"url": "http://169.254.169.254/latest/meta-data"}), "url"),
        (json!({"url": "http://localhost/x"}), "url"),
        (json!({"url": long}), "url"),
        (json!({"url": URL, "eventTypes": ["WebhookCreated"]}), "eventTypes[0]"),
        (json!({"url": URL, "eventTypes": ["NoSuchEvent"]}), "eventTypes[0]"),
        (json!({"url": URL, "boardIds": []}), "boardIds"),
        (json!({"url": URL, "boardIds": ["not-a-uuid"]}), "boardIds[0]"),
    ] {
        let r = app.send(Method::POST, &path, Some(owner), Some(body.clone())).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.body);
        let fields: Vec<&str> = r.body["errors"].as_array().into_iter().flatten().filter_map(|e| e["field"].as_str()).collect();
        assert!(fields.contains(&field), "{body}: {}", r.body);
    }
    for body in [json!({"url": URL, "active": "yes"}), json!({"url": URL, "eventTypes": "ItemCreated"}), json!({"url": URL, "x": 1})] {
        let r = app.send(Method::POST, &path, Some(owner), Some(body.clone())).await;
        assert!(r.status == StatusCode::BAD_REQUEST || r.status == StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.status);
    }
    assert_eq!(app.event_count().await, before);
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn loopback_is_allowed_only_when_the_server_says_so(pool: PgPool) {
    let config = Config { webhook_addresses: sunday_webhooks::AddressPolicy { allow_private: true }, ..Config::default() };
    let app = TestApp::with_config(pool, config);
    let owner = user();
    let ws = app.workspace(owner).await;
    let body = json!({"url": "http://127.0.0.1:9/hooks"});
    app.ok(Method::POST, &format!("/v1/workspaces/{ws}/webhooks"), owner, Some(body), StatusCode::CREATED).await;
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_replay_lost_before_it_was_written_is_written_by_its_retry_and_never_twice(pool: PgPool) {
    let app = TestApp::new(pool);
    let owner = user();
    let ws = app.workspace(owner).await;
    let hook =
        app.ok(Method::POST, &format!("/v1/workspaces/{ws}/webhooks"), owner, Some(json!({"url": URL})), StatusCode::CREATED).await.id();
    let path = format!("/v1/webhooks/{hook}/replay");
    let replays = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM webhook_replays WHERE webhook_id = $1")
            .bind(hook)
            .fetch_one(&app.pool)
            .await
            .unwrap_or(-1)
    };
    let send = async |key: &str| {
        let headers = [("idempotency-key", key)];
        app.send_with(Method::POST, &path, Some(owner), Some(json!({"fromPosition": 0})), &headers).await
    };
    assert_eq!(send("r-1").await.status, StatusCode::OK);
    assert_eq!(replays().await, 1);
    // The first run died after its answer was stored and before its replay was.
    sqlx::query("DELETE FROM webhook_replays").execute(&app.pool).await.unwrap_or_else(|e| panic!("{e}"));
    let retried = send("r-1").await;
    assert_eq!((retried.status, retried.header("idempotency-replayed")), (StatusCode::OK, "true"));
    assert_eq!(replays().await, 1, "the retry asks for the replay the first run could not");
    assert_eq!(send("r-1").await.status, StatusCode::OK);
    assert_eq!(replays().await, 1, "the same key never asks twice");
    assert_eq!(send("r-2").await.status, StatusCode::OK);
    assert_eq!(replays().await, 2, "another request is another replay");
}
