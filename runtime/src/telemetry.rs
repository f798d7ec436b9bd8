//! Trace context across the log: W3C `traceparent` strings in and out of
//! `tracing` spans, so a command's trace continues wherever its events go
//! (stored in each event's metadata, carried in NATS headers, picked up by the
//! projector and the gateway). Without an OpenTelemetry layer installed every
//! function here is a cheap no-op (`None`).

use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Parses `00-<trace id>-<span id>-<flags>`.
pub fn parse(traceparent: &str) -> Option<SpanContext> {
    let mut parts = traceparent.trim().split('-');
    let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version != "00" || trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let span_id = SpanId::from_hex(span).ok()?;
    let flags = TraceFlags::new(u8::from_str_radix(flags, 16).ok()?);
    let context = SpanContext::new(trace_id, span_id, flags, true, TraceState::default());
    context.is_valid().then_some(context)
}

/// The `traceparent` of a span, when it is part of a trace.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let sc = context.span().span_context().clone();
    sc.is_valid().then(|| format!("00-{}-{}-{:02x}", sc.trace_id(), sc.span_id(), sc.trace_flags().to_u8()))
}

/// The `traceparent` of the current span.
pub fn current() -> Option<String> {
    traceparent(&tracing::Span::current())
}

/// Makes `span` a child of the remote span `traceparent` names (nothing when
/// it is absent or malformed).
pub fn follow(span: &tracing::Span, traceparent: Option<&str>) {
    if let Some(sc) = traceparent.and_then(parse) {
        let _ = span.set_parent(Context::new().with_remote_span_context(sc));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_parse_and_refuse_garbage() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let sc = parse(tp).unwrap_or_else(|| panic!("valid"));
        assert_eq!(sc.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(sc.is_sampled());
        assert!(parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none(), "an all-zero trace id is invalid");
        assert!(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_none());
        assert!(parse("garbage").is_none());
    }

    #[test]
    fn without_a_tracer_there_is_no_traceparent() {
        let span = tracing::info_span!("x");
        assert_eq!(traceparent(&span), None);
    }
}
