//! Operations endpoints: Prometheus metrics and the database pool.

use std::sync::OnceLock;

use actix_web::web::Json;
use actix_web::{get, web, HttpResponse};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use pricesync_store::Store;

use super::error::ErrorBody;
use super::types::ops::{MetricsUnavailable, PoolStatus};

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once; later calls return
/// the same handle), with explicit histogram buckets.
pub(crate) fn prometheus() -> Option<PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            let mut builder = PrometheusBuilder::new();
            for (name, buckets) in pricesync_engine::metrics::buckets()
                .into_iter()
                .chain([(super::HTTP_DURATION, super::HTTP_BUCKETS.to_vec())])
            {
                builder = match builder.set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(name.to_owned()),
                    &buckets,
                ) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::error!(error = %e, "invalid histogram buckets");
                        return None;
                    }
                };
            }
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            match ::metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    pricesync_engine::metrics::describe();
                    super::describe_http_metrics();
                    describe_pool_metrics();
                    Some(handle)
                }
                Err(e) => {
                    tracing::error!(error = %e, "another metrics recorder is installed; /metrics is empty");
                    None
                }
            }
        })
        .clone()
}

/// Database pool connections by state (`in_use`, `idle`), sampled when
/// `/metrics` is scraped.
const POOL_CONNECTIONS: &str = "pricing_db_pool_connections";
/// The pool's maximum size.
const POOL_MAX_CONNECTIONS: &str = "pricing_db_pool_max_connections";
/// Requests waiting for a pooled connection.
const POOL_WAITING: &str = "pricing_db_pool_waiting";

fn describe_pool_metrics() {
    ::metrics::describe_gauge!(
        POOL_CONNECTIONS,
        "Database pool connections by state (in_use, idle), sampled at each scrape."
    );
    ::metrics::describe_gauge!(POOL_MAX_CONNECTIONS, "The database pool's maximum size.");
    ::metrics::describe_gauge!(
        POOL_WAITING,
        "Requests waiting for a database connection, sampled at each scrape."
    );
}

/// `GET /metrics`: Prometheus text.
#[utoipa::path(
    tag = "ops",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "Metrics in the Prometheus text format.", body = String,
            content_type = "text/plain; version=0.0.4"),
        (status = 503, description = "The metrics recorder could not be installed.", body = ErrorBody),
    ),
)]
#[get("/metrics")]
pub(crate) async fn metrics_text(
    store: web::Data<Store>,
) -> Result<HttpResponse, MetricsUnavailable> {
    let status = store.pool_status();
    ::metrics::gauge!(POOL_CONNECTIONS, "state" => "in_use").set(status.in_use as f64);
    ::metrics::gauge!(POOL_CONNECTIONS, "state" => "idle").set(status.idle as f64);
    ::metrics::gauge!(POOL_MAX_CONNECTIONS).set(status.max_size as f64);
    ::metrics::gauge!(POOL_WAITING).set(status.waiting as f64);
    // Prometheus text, not JSON: the one body that is not a typed `Json`.
    let handle = prometheus().ok_or(MetricsUnavailable)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render()))
}

/// `GET /metrics/pool`: the database pool as JSON.
#[utoipa::path(
    tag = "ops",
    summary = "The database connection pool",
    responses((status = 200, description = "The pool's state.", body = PoolStatus)),
)]
#[get("/metrics/pool")]
pub(crate) async fn pool(store: web::Data<Store>) -> Json<PoolStatus> {
    Json(store.pool_status().into())
}
