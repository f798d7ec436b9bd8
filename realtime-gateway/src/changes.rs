//! The change feed, `GET /v1/boards/{id}/changes`: a board's events read
//! from the log (never the projections) and authorized as of the log like a
//! join, as JSON pages that may wait for the next event (`wait`), or as
//! Server-Sent Events (`sse`).
//!
//! A page is final: it holds only events below the horizon, so a client that
//! continues from `X-Sunday-Position` misses nothing, late committers
//! included. Events committed but still above the horizon (an older
//! transaction is open somewhere) are waited for briefly, so the position is
//! normally at or above every event of the board committed so far.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sunday_domain::FieldError;
use sunday_domain::store::{Position, RecordedEvent};
use sunday_edge::{ErrorKind, Problem};
use uuid::Uuid;

use crate::feed::{Follower, not_found, refusal};
use crate::join::{self, CatchUpError};
use crate::live::LiveEvent;
use crate::outbox::Out;
use crate::{Gateway, sse};

/// Events per page unless `limit` says otherwise, and at most.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// The longest `wait`, in seconds.
const MAX_WAIT: u64 = 30;
/// How long a page waits for the horizon to pass events already committed.
const HORIZON_PATIENCE: Duration = Duration::from_secs(1);
/// First and longest pause between two looks at the horizon meanwhile.
const HORIZON_RETRY: Duration = Duration::from_millis(2);
const HORIZON_RETRY_MAX: Duration = Duration::from_millis(100);
/// Frames a waiting request's room may queue for it (it only needs a wake-up).
const WAITER_QUEUE: usize = 4;

#[derive(Deserialize)]
struct ChangesQuery {
    since: Option<String>,
    limit: Option<String>,
    wait: Option<String>,
}

/// What a request asks for, checked.
struct Ask {
    since: Position,
    limit: usize,
    wait: Duration,
}

/// `GET /v1/boards/{id}/changes`.
pub(crate) async fn changes(
    State(gateway): State<Gateway>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    match answer(gateway, path.ok().map(|p| p.0), &uri, &headers).await {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    }
}

async fn answer(gateway: Gateway, raw_board: Option<String>, uri: &Uri, headers: &HeaderMap) -> Result<Response, Problem> {
    let now = chrono::Utc::now().timestamp();
    let claims = sunday_edge::token::authenticate(
        &gateway.config.jwt_secret,
        sunday_edge::token::bearer(headers),
        "a bearer token is required",
        now,
    )?;
    if let Err(limited) = gateway.limits.check(sunday_edge::Kind::Reads, claims.sub) {
        return Err(Problem::rate_limited(limited, format!("too many reads; retry in {} s", limited.retry_after_secs())));
    }
    let query = Query::<ChangesQuery>::try_from_uri(uri).map_err(|e| Problem::new(ErrorKind::BadRequest, e.body_text()))?;
    let checked = parse(&query.0)?;
    // A board id that is not a UUID names nothing, like any board read.
    let board = raw_board.and_then(|raw| Uuid::parse_str(&raw).ok()).ok_or_else(not_found)?;
    let mut ask = match checked {
        Ok(ask) => ask,
        Err(invalid) => {
            // A `404` wins over a `422` (api.md): say nothing to a non-reader.
            join::authorized_horizon(&gateway.store, board, claims.sub, Duration::ZERO).await.map_err(refusal)?;
            return Err(invalid);
        }
    };
    if wants_stream(headers) {
        if let Some(last) = last_event_id(headers)? {
            ask.since = last;
        }
        return sse::open(gateway, claims, board, ask.since).await;
    }
    let (events, position) = page(&gateway, claims.sub, board, &ask).await?;
    Ok(render(&events, position))
}

/// The parameters as integers (`400` for one that is not), and then checked
/// against their ranges (`422`): the caller's `404` comes between the two.
fn parse(q: &ChangesQuery) -> Result<Result<Ask, Problem>, Problem> {
    let given = |raw: Option<&str>, field, default| raw.map_or(Ok(default), |r| integer(field, r));
    let since = given(q.since.as_deref(), "since", 0)?;
    let limit = given(q.limit.as_deref(), "limit", DEFAULT_LIMIT as i64)?;
    let wait = given(q.wait.as_deref(), "wait", 0)?;
    Ok(check(since, limit, wait))
}

fn check(since: i64, limit: i64, wait: i64) -> Result<Ask, Problem> {
    if since < 0 {
        return Err(invalid("since", "must be a log position (0 or more)"));
    }
    if !(1..=MAX_LIMIT as i64).contains(&limit) {
        return Err(invalid("limit", "must be between 1 and 1000"));
    }
    if !(0..=MAX_WAIT as i64).contains(&wait) {
        return Err(invalid("wait", "must be between 0 and 30 seconds"));
    }
    let limit = usize::try_from(limit).unwrap_or(DEFAULT_LIMIT);
    Ok(Ask { since, limit, wait: Duration::from_secs(u64::try_from(wait).unwrap_or(0)) })
}

fn integer(field: &'static str, raw: &str) -> Result<i64, Problem> {
    raw.parse().map_err(|_| {
        Problem::new(ErrorKind::BadRequest, format!("{field}: must be an integer"))
            .with_errors(vec![FieldError::new(field, "must be an integer")])
    })
}

fn invalid(field: &'static str, message: &str) -> Problem {
    Problem::new(ErrorKind::Validation, format!("{field}: {message}")).with_errors(vec![FieldError::new(field, message)])
}

fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.split(';').next().is_some_and(|media| media.trim().eq_ignore_ascii_case("text/event-stream")))
}

/// `Last-Event-ID`, which an `EventSource` sends when it reconnects.
fn last_event_id(headers: &HeaderMap) -> Result<Option<Position>, Problem> {
    let Some(value) = headers.get("last-event-id") else { return Ok(None) };
    let position = value.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok()).filter(|p| *p >= 0);
    position.map(Some).ok_or_else(|| Problem::new(ErrorKind::BadRequest, "Last-Event-ID must be a position this feed sent"))
}

/// Up to `limit` final events after `since`, and the position the answer is
/// complete up to; with `wait`, held until there is one or the wait ends.
async fn page(gateway: &Gateway, user: Uuid, board: Uuid, ask: &Ask) -> Result<(Vec<RecordedEvent>, Position), Problem> {
    let deadline = tokio::time::Instant::now() + ask.wait;
    let mut waiter: Option<Waiter> = None;
    loop {
        let (events, position) = final_page(gateway, user, board, ask).await?;
        if !events.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok((events, position));
        }
        match &mut waiter {
            // Registered first, read again after: no event can slip between.
            None => waiter = Some(Waiter::enter(gateway, board, user).await?),
            Some(w) => match w.woken_before(deadline).await {
                Wake::Heard => {}
                Wake::Dropped => waiter = None,
                Wake::TimedOut => return Ok((events, position)),
            },
        }
    }
}

/// One read of the log: authorized as of the horizon, the events below it.
async fn final_page(gateway: &Gateway, user: Uuid, board: Uuid, ask: &Ask) -> Result<(Vec<RecordedEvent>, Position), Problem> {
    let started = tokio::time::Instant::now();
    let patience = started + HORIZON_PATIENCE;
    let mut pause = HORIZON_RETRY;
    loop {
        let horizon = join::authorized_horizon(&gateway.store, board, user, started.elapsed()).await.map_err(refusal)?;
        let events = gateway.store.board_page(board, ask.since, Position::MAX, ask.limit).await.map_err(read_failed)?;
        let settled = events.iter().take_while(|e| e.position < horizon).count();
        if settled == events.len() || tokio::time::Instant::now() >= patience {
            let mut events = events;
            events.truncate(settled);
            let position = match events.last() {
                Some(last) if events.len() == ask.limit => last.position,
                _ => ask.since.max(horizon - 1),
            };
            return Ok((events, position));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(HORIZON_RETRY_MAX);
    }
}

fn read_failed(e: sunday_domain::store::StoreError) -> Problem {
    refusal(CatchUpError::Failed(e.to_string()))
}

fn render(events: &[RecordedEvent], position: Position) -> Response {
    let mut body = String::from("{\"data\":[");
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&LiveEvent::from_recorded(e).json);
    }
    body.push_str("],\"nextCursor\":null}");
    let mut response = ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response();
    response.headers_mut().insert("x-sunday-position", HeaderValue::from(position));
    response
}

enum Wake {
    /// Something happened on the board: read the log again.
    Heard,
    /// The room let the waiter go (it closed, or found it slow): enter again.
    Dropped,
    TimedOut,
}

/// A request waiting in the board's room to hear that something happened.
struct Waiter(Follower);

impl Waiter {
    async fn enter(gateway: &Gateway, board: Uuid, user: Uuid) -> Result<Self, Problem> {
        Follower::enter(gateway, board, user, WAITER_QUEUE).await.map(Self)
    }

    /// Waits for the room to hear the board's events (or an eviction) before
    /// `deadline`; presence and cursors do not count.
    async fn woken_before(&mut self, deadline: tokio::time::Instant) -> Wake {
        loop {
            tokio::select! {
                out = self.0.rx.recv() => match out {
                    Some(Out::Board(_) | Out::Direct(_)) => continue,
                    Some(Out::Events(_) | Out::Evicted(_)) => return Wake::Heard,
                    None => return Wake::Dropped,
                },
                _ = self.0.outbox.closed() => return Wake::Dropped,
                () = tokio::time::sleep_until(deadline) => return Wake::TimedOut,
            }
        }
    }
}
