//! Query parameters an attacker or a careless client may send: NUL
//! characters (which PostgreSQL cannot compare), forged cursors, and values
//! of every shape. Each is a 4xx, never a 500.

use axum::http::{Method, StatusCode};
use base64::Engine;
use sqlx::PgPool;

use crate::helpers::{System, user};

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn nul_characters_in_query_parameters_and_cursors_are_400(pool: PgPool) {
    let sys = System::start(pool).await;
    let owner = user();
    let (_, board, p) = sys.board(owner).await;
    sys.read(&format!("/v1/boards/{board}"), owner, p).await;
    let forged = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    let paths = [
        format!("/v1/boards/{board}/items?q=%00"),
        format!("/v1/boards/{board}/items?q=a%00b"),
        format!("/v1/boards/{board}/items?tag=x&tag=%00"),
        format!("/v1/boards/{board}/items?status=Done%00"),
        format!("/v1/items?boardId={board}&q=%00"),
        format!("/v1/boards/{board}/items?cursor={}", forged(r#"{"r":"\u0000"}"#)),
        format!("/v1/boards/{board}/activity?cursor={}", forged(r#"{"p":"\u0000"}"#)),
        format!("/v1/boards/{board}/items?cursor=%00"),
        "/v1/boards?workspaceId=%00".to_owned(),
    ];
    for path in paths {
        let r = sys.send(Method::GET, &path, owner, None, &[]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
        assert_eq!(r.header("content-type"), "application/problem+json");
    }
}

#[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
async fn a_user_over_the_read_rate_gets_429(pool: PgPool) {
    let limits = sunday_edge::Limits { reads: std::num::NonZeroU32::new(3), ..Default::default() };
    let sys = System::with_limits(pool, limits).await;
    let (reader, other) = (user(), user());
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..12 {
        let r = sys.send(Method::GET, "/v1/workspaces", reader, None, &[]).await;
        statuses.push(r.status);
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(r);
        }
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert!(ok >= 6, "a burst of 6 passes: {statuses:?}");
    let r = limited.unwrap_or_else(|| panic!("never limited: {statuses:?}"));
    assert_eq!(r.header("content-type"), "application/problem+json");
    assert!(r.header("retry-after").parse::<u64>().is_ok_and(|s| s >= 1));
    assert_eq!((r.header("ratelimit-limit"), r.header("ratelimit-remaining")), ("6", "0"));
    assert_eq!(sys.send(Method::GET, "/v1/workspaces", other, None, &[]).await.status, StatusCode::OK, "limits are per user");
}
