//! Snapshots of what every kind of failure looks like on the wire: the
//! problem+json body and headers over HTTP, the `error` frame code over the
//! WebSocket. A change to any status, type, title, code or header shows here.

use std::fmt::Write;
use std::time::Duration;

use axum::response::IntoResponse;
use sunday_domain::FieldError;
use sunday_edge::{ErrorKind, Kind, Limited, Problem};

fn rendered(p: Problem) -> String {
    let body = String::from_utf8(p.body()).unwrap_or_default();
    let response = p.into_response();
    let mut out = format!("{} {body}\n", response.status().as_u16());
    let mut headers: Vec<_> = response.headers().iter().map(|(k, v)| format!("  {k}: {}", v.to_str().unwrap_or("?"))).collect();
    headers.sort();
    for h in headers {
        let _ = writeln!(out, "{h}");
    }
    out
}

#[test]
fn every_kind_of_failure_renders_from_the_one_table() {
    let mut out = String::new();
    for kind in ErrorKind::ALL {
        let _ = writeln!(out, "{kind:?} (ws code {})", kind.ws_code());
        out.push_str(&rendered(Problem::new(kind, format!("what went wrong ({kind:?})"))));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn field_errors_and_rate_limits_add_to_the_body_and_the_headers() {
    let fields =
        vec![FieldError::new("itemData.status", "must be one of the column's labels"), FieldError::new("name", "must not be empty")];
    let mut out = rendered(Problem::new(ErrorKind::Validation, "the request breaks 2 rule(s)").with_errors(fields));
    let limited = Limited { kind: Kind::Commands, limit: 100, retry_after: Duration::from_millis(1500) };
    out.push_str(&rendered(Problem::rate_limited(limited, "too many commands; retry in 2 s")));
    insta::assert_snapshot!(out);
}

#[test]
fn an_internal_failure_never_shows_its_cause() {
    let p = Problem::new(ErrorKind::Internal, "connection to 10.0.0.5:5432 refused, password=hunter2");
    let body = String::from_utf8(p.body()).unwrap_or_default();
    assert!(!body.contains("hunter2") && !body.contains("10.0.0.5"), "{body}");
}
