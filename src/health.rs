//! `/healthz` (the process is alive) and `/readyz` (it can serve: the
//! database answers, NATS is connected when configured, the projection is
//! not too far behind when this process projects, a read replica not too far
//! behind when this process reads from one, and no task it depends on
//! is down or retrying), for every role. `/readyz` also says which elected
//! roles this process leads.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Map, Value, json};
use sqlx::PgPool;

/// What readiness checks.
#[derive(Clone)]
pub(crate) struct Health {
    pub(crate) pool: PgPool,
    pub(crate) nats: Option<async_nats::Client>,
    /// With the projector role: the read models' pool and the most events the
    /// projection may lag behind while still ready.
    pub(crate) projection: Option<(PgPool, i64)>,
    /// The process's supervised tasks.
    pub(crate) tasks: sunday_runtime::Tasks,
    /// A query API reading from a replica: ready only while it is close enough.
    pub(crate) replica: Option<sunday_query_api::QueryState>,
}

pub(crate) fn routes(health: Health) -> Router {
    Router::new().route("/healthz", get(|| async { "ok" })).route("/readyz", get(ready)).with_state(health)
}

async fn ready(State(h): State<Health>) -> impl IntoResponse {
    let mut checks = Map::new();
    let database = sqlx::query("SELECT 1").execute(&h.pool).await.is_ok();
    checks.insert("database".into(), json!(database));
    let mut ok = database;
    if let Some(client) = &h.nats {
        let connected = client.connection_state() == async_nats::connection::State::Connected;
        checks.insert("nats".into(), json!(connected));
        ok &= connected;
    }
    if let Some((pool, max_lag)) = &h.projection {
        let lag = sunday_projector::lag(pool).await.ok().map(|l| l.events);
        let fresh = lag.is_some_and(|l| l <= *max_lag);
        checks.insert("projectionLagEvents".into(), lag.map_or(Value::Null, Value::from));
        ok &= fresh;
    }
    if let Some(q) = &h.replica
        && let Some(lag) = q.replica_lag()
    {
        checks.insert("replicaLagSeconds".into(), json!((lag.as_secs_f64() * 1000.0).round() / 1000.0));
        ok &= lag <= q.config.replica_max_lag;
    }
    let (tasks, leading, healthy) = task_states(&h.tasks);
    ok &= healthy;
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({ "status": if ok { "ready" } else { "not ready" }, "checks": checks, "tasks": tasks, "leading": leading });
    (status, axum::Json(body))
}

/// Each task's state (`running`, `standby`, `retrying: <why>`...), the
/// elected roles this process leads, and whether every critical task is well.
fn task_states(tasks: &sunday_runtime::Tasks) -> (Map<String, Value>, Map<String, Value>, bool) {
    use sunday_runtime::State;
    let (mut states, mut leading, mut healthy) = (Map::new(), Map::new(), true);
    for t in tasks.report() {
        let state = match &t.state {
            State::Starting => "starting".to_owned(),
            State::Running => "running".to_owned(),
            State::Standby => "standby".to_owned(),
            State::Retrying(why) => format!("retrying: {why}"),
            State::Stopped => "stopped".to_owned(),
        };
        healthy &= !t.critical || t.state.is_healthy();
        states.insert(t.name.into(), json!(state));
        if let Some(l) = t.leading {
            leading.insert(t.name.into(), json!(l));
        }
    }
    (states, leading, healthy)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn status(app: &Router, path: &str) -> StatusCode {
        let resp = app.clone().oneshot(Request::get(path).body(Body::empty()).unwrap_or_default()).await;
        resp.unwrap_or_else(|e| match e {}).status()
    }

    #[sqlx::test(migrator = "sunday_eventstore::MIGRATOR")]
    async fn ready_while_the_database_answers(pool: PgPool) {
        let own = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect_with(pool.connect_options().as_ref().clone()).await;
        let own = own.unwrap_or_else(|e| panic!("{e}"));
        let tasks = sunday_runtime::Tasks::new();
        let app = routes(Health { pool: own.clone(), nats: None, projection: None, tasks: tasks.clone(), replica: None });
        assert_eq!(status(&app, "/healthz").await, StatusCode::OK);
        assert_eq!(status(&app, "/readyz").await, StatusCode::OK);
        let task = tasks.register("publisher", true);
        task.failing(&"JetStream is gone");
        assert_eq!(status(&app, "/readyz").await, StatusCode::SERVICE_UNAVAILABLE, "a critical task retrying");
        task.standby();
        assert_eq!(status(&app, "/readyz").await, StatusCode::OK, "a standby is ready");
        tasks.register("housekeeping", false).failing(&"later");
        assert_eq!(status(&app, "/readyz").await, StatusCode::OK, "housekeeping is not critical");
        own.close().await;
        assert_eq!(status(&app, "/readyz").await, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(&app, "/healthz").await, StatusCode::OK, "alive even when not ready");
    }
}
