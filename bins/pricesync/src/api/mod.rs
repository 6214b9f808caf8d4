//! The HTTP API: the route list, extractor configuration and the error
//! mapping. Bodies are the types of [`types`].

mod admin;
pub(crate) mod auth;
mod cost;
pub(crate) mod error;
mod feed;
mod health;
mod openapi;
pub(crate) mod ops;
mod params;
mod read;
mod review;
pub mod types;
mod webhooks;

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
    .service(health::health_head)
    .service(health::ready)
    .service(health::ready_head)
    .service(ops::metrics_text)
    .service(ops::pool)
    .service(read::list_models)
    .service(read::get_model)
    .service(read::history)
    .service(feed::load_catalogue)
    .service(feed::changes)
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
            .service(review::sync_skipped)
            .service(review::sync_changes)
            .service(review::held_changes)
            .service(review::approve_held)
            .service(review::reject_held)
            .service(webhooks::create_webhook)
            .service(webhooks::list_webhooks)
            .service(webhooks::list_deliveries)
            .service(webhooks::retry_delivery)
            .service(webhooks::get_webhook)
            .service(webhooks::update_webhook)
            .service(webhooks::delete_webhook)
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

/// Whether every request is logged (`PRICESYNC_ACCESS_LOG`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AccessLog(pub(crate) bool);

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
    let access_log = req
        .app_data::<actix_web::web::Data<AccessLog>>()
        .is_some_and(|a| a.0);
    let (path, peer) = if access_log {
        (
            req.path().to_owned(),
            req.peer_addr()
                .map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string()),
        )
    } else {
        (String::new(), String::new())
    };
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
        if access_log {
            tracing::info!(target: "pricesync::access", method = %method, path = %path,
                status = status.as_u16(), ms = seconds * 1000.0, peer = %peer, "request")
        } else {
            tracing::debug!(
                status = status.as_u16(),
                ms = seconds * 1000.0,
                "request done"
            )
        }
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

/// Gives every client error the JSON error shape. Handlers answer JSON
/// already; what reaches here is what actix answers before any handler
/// runs: an oversized body (413), a body that cannot be decoded (a
/// `Content-Encoding: gzip` body that is not gzip), a method a route does
/// not serve. Their plain-text bodies are replaced with a code and a
/// message that do not expose the decoder's internals.
pub(crate) fn json_client_errors<B: actix_web::body::MessageBody + 'static>(
) -> actix_web::middleware::ErrorHandlers<B> {
    use actix_web::http::{header, StatusCode};
    use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
    use actix_web::ResponseError;
    ErrorHandlers::new().default_handler_client(|res| {
        let is_json = res
            .response()
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if is_json {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let status = res.status();
        let error = match status {
            StatusCode::PAYLOAD_TOO_LARGE => error::ApiError::PayloadTooLarge(MAX_BODY_BYTES),
            StatusCode::NOT_FOUND => error::ApiError::NotFound(format!(
                "no route for {} {}",
                res.request().method(),
                res.request().path()
            )),
            _ => error::ApiError::BadRequest {
                code: "invalid_request",
                message: format!(
                    "the request could not be read ({}): check its method, headers and body encoding",
                    status.canonical_reason().unwrap_or("client error")
                ),
            },
        };
        let mut response = error.error_response();
        // Keep the status actix chose (405, 415, …) when it is more precise.
        *response.status_mut() = status;
        let (req, _) = res.into_parts();
        Ok(ErrorHandlerResponse::Response(
            actix_web::dev::ServiceResponse::new(req, response).map_into_right_body(),
        ))
    })
}

/// Refuses, with the JSON error shape, a request whose path or query
/// string holds a NUL byte, or bytes that are not UTF-8, once
/// percent-decoded: no identifier or parameter can carry them (PostgreSQL
/// refuses NUL in text), so they never reach a handler or a query.
pub(crate) async fn refuse_unreadable_target(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<
    actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>,
    actix_web::Error,
> {
    use actix_web::ResponseError;
    let uri = req.uri();
    let problem = [
        ("path", uri.path()),
        ("query string", uri.query().unwrap_or("")),
    ]
    .into_iter()
    .find_map(|(part, text)| unreadable(text).map(|why| format!("the request's {part} {why}")));
    if let Some(message) = problem {
        let response = error::ApiError::BadRequest {
            code: "invalid_request",
            message,
        }
        .error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// Why percent-decoded `text` cannot be read as text, if it cannot.
fn unreadable(text: &str) -> Option<&'static str> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                decoded.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    if decoded.contains(&0) {
        Some("holds a NUL byte (%00)")
    } else if std::str::from_utf8(&decoded).is_err() {
        Some("is not UTF-8 once percent-decoded")
    } else {
        None
    }
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
