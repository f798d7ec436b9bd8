//! Reads from a replica (`DATABASE_READ_URL`): the position a query API
//! waits on and reports is what the replica has replayed, not what the
//! projector announced on the primary, so read-your-writes holds and no
//! stale row is cached; a replica further behind than allowed answers 503.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{System, user};
use sunday_testkit::postgres::Cluster;

#[tokio::test]
async fn reads_on_a_replica_wait_for_what_it_has_replayed() {
    let primary = Cluster::primary();
    let pool = PgPoolOptions::new().max_connections(16).connect(&primary.url()).await.unwrap_or_else(|e| panic!("{e}"));
    sunday_eventstore::MIGRATOR.run(&pool).await.unwrap_or_else(|e| panic!("migrate: {e}"));
    let standby = primary.standby();
    let replica: PgConnectOptions = standby.url().parse().unwrap_or_else(|e| panic!("{e}"));
    let control = PgPoolOptions::new().max_connections(1).connect_with(replica.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    let max_lag = Duration::from_millis(1500);
    let sys = System::with_replica(pool, replica, Duration::from_millis(700), max_lag).await;
    let owner = user();
    let (_, board, created) = sys.board(owner).await;
    let path = format!("/v1/boards/{board}");
    // (The replica may take a moment to start streaming.)
    let mut r = sys.read(&path, owner, created).await;
    for _ in 0..20 {
        if r.status != StatusCode::GATEWAY_TIMEOUT {
            break;
        }
        r = sys.read(&path, owner, created).await;
    }
    assert_eq!((r.status, r.data()["name"].as_str()), (StatusCode::OK, Some("Roadmap")), "{}", r.body);

    // The replica stops replaying; the primary goes on.
    sqlx::query("SELECT pg_wal_replay_pause()").execute(&control).await.unwrap_or_else(|e| panic!("{e}"));
    let renamed = sys.command(Method::PATCH, &path, owner, Some(json!({"name": "Renamed"}))).await.position();
    let waited = sys.read(&path, owner, renamed).await;
    assert_eq!(waited.status, StatusCode::GATEWAY_TIMEOUT, "the replica has not got it: {}", waited.body);
    let now = sys.send(Method::GET, &path, owner, None, &[]).await;
    let reported: i64 = now.header("x-sunday-position").parse().unwrap_or(i64::MAX);
    assert!(reported < renamed, "the position reported is the replica's ({reported} < {renamed})");
    assert_eq!(now.data()["name"], "Roadmap", "consistent with that position");
    tokio::time::sleep(max_lag).await;
    let behind = sys.send(Method::GET, &path, owner, None, &[]).await;
    assert_eq!(behind.status, StatusCode::SERVICE_UNAVAILABLE, "past the lag allowed, no old data: {}", behind.body);
    assert_eq!(behind.header("retry-after"), "1");
    let problem = behind.body.to_string();
    assert!(problem.contains("/problems/unavailable") && problem.contains("replica"), "{problem}");

    sqlx::query("SELECT pg_wal_replay_resume()").execute(&control).await.unwrap_or_else(|e| panic!("{e}"));
    let caught_up = sys.read(&path, owner, renamed).await;
    assert_eq!(caught_up.data()["name"], "Renamed", "{}", caught_up.body);
    assert!(caught_up.header("x-sunday-position").parse::<i64>().unwrap_or(0) >= renamed);
    let again = sys.read(&path, owner, renamed).await;
    assert_eq!(again.data()["name"], "Renamed", "no stale row was cached");
}
