//! rust-svc: the last hop of the otelflow example fleet (python-api -> go-svc -> rust-svc).
//!
//! axum serves `GET /price/{sku}`; `tracing` spans become OpenTelemetry spans through
//! tracing-opentelemetry, and `tracing` events become OpenTelemetry log records through
//! opentelemetry-appender-tracing, both sent over OTLP/gRPC (tonic) to the collector.
//! The W3C `traceparent` of each incoming request is extracted, so this service's server
//! span is a child of go-svc's client span.
//!
//! Common mistakes avoided here: spans are batched (BatchSpanProcessor / BatchLogProcessor),
//! the resource carries service.name and deployment.environment, attributes are bounded
//! (a SKU from a fixed catalogue, never a user id or a request body), and both providers are
//! shut down (flushed) on SIGTERM or Ctrl-C before the process exits.

use std::{env, net::SocketAddr};

use axum::{extract::Path, http::HeaderMap, http::StatusCode, routing::get, Router};
use opentelemetry::{global, propagation::Extractor, trace::TracerProvider as _, KeyValue};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_otlp::{LogExporter, SpanExporter, WithExportConfig};
use opentelemetry_sdk::{
    logs::SdkLoggerProvider,
    propagation::TraceContextPropagator,
    resource::{EnvResourceDetector, TelemetryResourceDetector},
    trace::SdkTracerProvider,
    Resource,
};
use tracing::{info, warn, Instrument, Level};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{filter::Targets, layer::SubscriberExt, util::SubscriberInitExt};

/// Reads W3C trace context out of axum's (http's) header map.
struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// A fixed catalogue: the `sku` attribute can only take these values (bounded cardinality).
const CATALOGUE: &[(&str, u32)] = &[("widget", 1250), ("gadget", 4999), ("gizmo", 799)];

async fn price(headers: HeaderMap, Path(sku): Path<String>) -> (StatusCode, String) {
    let parent = global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(&headers)));
    let known = CATALOGUE.iter().find(|(name, _)| *name == sku);
    let sku_attr = known.map(|(name, _)| *name).unwrap_or("unknown");
    let span = tracing::info_span!(
        "GET /price/{sku}",
        otel.kind = "server",
        http.request.method = "GET",
        http.route = "/price/{sku}",
        http.response.status_code = tracing::field::Empty,
        shop.sku = sku_attr,
    );
    let _ = span.set_parent(parent);
    async move {
        let (status, body) = match known {
            Some((name, cents)) => {
                info!(shop.sku = *name, price_cents = *cents, "priced item");
                (StatusCode::OK, format!("{cents}"))
            }
            None => {
                warn!(shop.sku = "unknown", "unknown sku");
                (StatusCode::NOT_FOUND, "unknown sku".to_string())
            }
        };
        tracing::Span::current().record("http.response.status_code", status.as_u16());
        (status, body)
    }
    .instrument(span)
    .await
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = env::var("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4317".into());
    let addr: SocketAddr = env::var("RUST_SVC_ADDR").unwrap_or_else(|_| "127.0.0.1:8082".into()).parse()?;

    // Defaults first, then OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME override them.
    let mut resource = Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_service_name("rust-svc")
        .with_attributes([
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("deployment.environment", "dev"),
        ])
        .with_detector(Box::new(EnvResourceDetector::new()));
    if let Ok(name) = env::var("OTEL_SERVICE_NAME") {
        resource = resource.with_service_name(name);
    }
    let resource = resource.build();

    let spans = SpanExporter::builder().with_tonic().with_endpoint(endpoint.clone()).build()?;
    let tracer_provider = SdkTracerProvider::builder()
        .with_batch_exporter(spans)
        .with_resource(resource.clone())
        .build();
    let logs = LogExporter::builder().with_tonic().with_endpoint(endpoint).build()?;
    let logger_provider = SdkLoggerProvider::builder()
        .with_batch_exporter(logs)
        .with_resource(resource)
        .build();

    global::set_text_map_propagator(TraceContextPropagator::new());
    global::set_tracer_provider(tracer_provider.clone());

    // Only this crate's spans and events go to OpenTelemetry: tonic/hyper's own logs would
    // otherwise be exported through the very exporter that produces them.
    tracing_subscriber::registry()
        .with(Targets::new().with_target("rust_svc", Level::INFO))
        .with(tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer("rust-svc")))
        .with(OpenTelemetryTracingBridge::new(&logger_provider))
        .with(tracing_subscriber::fmt::layer().with_ansi(false))
        .init();

    let app = Router::new()
        .route("/price/{sku}", get(price))
        .route("/healthz", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    info!(%addr, "rust-svc listening");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;

    info!("rust-svc shutting down, flushing telemetry");
    // The batch processors block while they flush: do it off the async workers.
    tokio::task::spawn_blocking(move || {
        if let Err(e) = tracer_provider.shutdown() {
            eprintln!("tracer provider shutdown: {e}");
        }
        if let Err(e) = logger_provider.shutdown() {
            eprintln!("logger provider shutdown: {e}");
        }
    })
    .await?;
    Ok(())
}
