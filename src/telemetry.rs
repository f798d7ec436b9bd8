//! Logs and traces. `SUNDAY_LOG` filters the log lines; when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, the spans of Sunday's crates also go
//! to that OpenTelemetry collector (OTLP over HTTP, batched, from a thread of
//! their own), named by `OTEL_SERVICE_NAME` (default `sunday`).

use anyhow::Context;
use opentelemetry::trace::TracerProvider;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Flushes and stops the exporter when dropped.
pub(crate) struct Telemetry(Option<SdkTracerProvider>);

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("sunday: flushing traces failed: {e}");
        }
    }
}

/// Installs the log (and, when configured, the trace) subscriber.
pub(crate) fn init() -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_env("SUNDAY_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer().with_filter(filter);
    let registry = tracing_subscriber::registry().with(logs);
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_none() {
        registry.init();
        return Ok(Telemetry(None));
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().build().context("building the OTLP exporter")?;
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("sunday");
    }
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource.build()).build();
    registry.with(layer(&provider)).init();
    Ok(Telemetry(Some(provider)))
}

/// The OpenTelemetry layer: Sunday's spans down to debug (append, publish,
/// project, ws_frame), other crates' from info.
pub(crate) fn layer<S>(provider: &SdkTracerProvider) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let targets = Targets::new().with_target("sunday", Level::DEBUG).with_default(Level::INFO);
    tracing_opentelemetry::layer().with_tracer(provider.tracer("sunday")).with_filter(targets)
}
