//! The HTTP API: the route list, extractor configuration and the error
//! mapping. Bodies are the types of [`types`].

mod admin;
pub(crate) mod auth;
mod cost;
pub(crate) mod error;
mod health;
mod openapi;
pub(crate) mod ops;
mod read;
pub mod types;

use actix_web::web;
use utoipa_actix_web::service_config::ServiceConfig;

/// The route list: every route the server serves, each registered with its
/// OpenAPI operation by the same `service` call (a handler without
/// `#[utoipa::path]` does not compile here), plus the JSON extractor errors
/// and Swagger UI. The server and the document are both built from it.
pub(crate) fn routes(cfg: &mut ServiceConfig) {
    cfg.map(|cfg| {
        cfg.app_data(
            web::QueryConfig::default().error_handler(|err, _| {
                error::extractor_error(format!("invalid query string: {err}"))
            }),
        )
        .app_data(
            web::PathConfig::default()
                .error_handler(|err, _| error::extractor_error(format!("invalid path: {err}"))),
        )
        .app_data(
            web::JsonConfig::default()
                .limit(MAX_BODY_BYTES)
                .error_handler(|err, _| {
                    error::extractor_error(format!("invalid JSON body: {err}"))
                }),
        )
        .app_data(web::PayloadConfig::default().limit(MAX_BODY_BYTES))
    })
    .service(health::health)
    .service(health::ready)
    .service(ops::metrics_text)
    .service(ops::pool)
    .service(read::list_models)
    .service(read::get_model)
    .service(read::history)
    .service(cost::cost)
    .service(openapi::openapi_json)
    .map(openapi::configure_ui)
    .service(
        utoipa_actix_web::scope(admin::SCOPE)
            // The last `wrap` runs first: authenticate, then limit.
            .wrap(actix_web::middleware::from_fn(auth::limit_admin))
            .wrap(actix_web::middleware::from_fn(auth::require_admin))
            .service(admin::scheduler_trigger)
            .service(admin::sync_trigger)
            .service(admin::active_syncs)
            .service(admin::list_syncs)
            .service(admin::cancel_sync)
            .service(admin::get_sync)
            .service(admin::scheduler_status)
            .service(admin::list_locks)
            .service(admin::release_lock)
            .default_service(web::to(not_found)),
    );
}

/// HTTP request durations, by method, route pattern and status class.
pub(crate) const HTTP_DURATION: &str = "pricing_http_request_duration_seconds";
/// Buckets of [`HTTP_DURATION`], in seconds.
pub(crate) const HTTP_BUCKETS: [f64; 10] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

fn describe_http_metrics() {
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP request durations by method, route and status."
    );
}

/// Records every request's duration and gives it a request id
/// (`X-Request-Id`: the caller's when it is sane, else a new one), also set
/// on the log span of the request.
pub(crate) async fn observe(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use tracing::Instrument;
    let started = std::time::Instant::now();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = method_label(req.method());
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let span =
        tracing::info_span!("request", request_id = %request_id, method = %method, route = %route);
    let mut response = next.call(req).instrument(span.clone()).await?;
    let status = response.status();
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("x-request-id"),
            value,
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route, "status" => format!("{}xx", status.as_u16() / 100))
        .record(seconds);
    span.in_scope(|| {
        tracing::debug!(
            status = status.as_u16(),
            ms = seconds * 1000.0,
            "request done"
        )
    });
    Ok(response)
}

/// The method as a metric label, from a fixed set: any other method a
/// client sends (`FOO1`, 300 characters) is `other`, so clients cannot add
/// series.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    KNOWN
        .iter()
        .find(|(known, _)| known == method)
        .map_or("other", |(_, label)| label)
}

/// The largest request body accepted, in bytes.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// Replaces actix's plain-text 413 (an oversized body, rejected before any
/// handler runs) with the JSON error shape. A 413 that already is one (the
/// cost route's own, with its larger limit) is kept.
pub(crate) fn json_payload_errors<B: actix_web::body::MessageBody + 'static>(
) -> actix_web::middleware::ErrorHandlers<B> {
    use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
    use actix_web::ResponseError;
    ErrorHandlers::new().handler(actix_web::http::StatusCode::PAYLOAD_TOO_LARGE, |res| {
        let is_json = res
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if is_json {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let (req, _) = res.into_parts();
        let response = error::ApiError::PayloadTooLarge(MAX_BODY_BYTES).error_response();
        Ok(ErrorHandlerResponse::Response(
            actix_web::dev::ServiceResponse::new(req, response).map_into_right_body(),
        ))
    })
}

/// The answer for a path no route serves.
pub(crate) async fn not_found(
    request: actix_web::HttpRequest,
) -> Result<actix_web::HttpResponse, error::ApiError> {
    Err(error::ApiError::NotFound(format!(
        "no route for {} {}",
        request.method(),
        request.path()
    )))
}
