//! The HTTP API: routes, extractor configuration and the error mapping.

pub mod error;
mod health;
mod read;

use actix_web::web;

/// Registers every route and makes extractor errors JSON.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::QueryConfig::default()
            .error_handler(|err, _| error::extractor_error(format!("invalid query string: {err}"))),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|err, _| error::extractor_error(format!("invalid path: {err}"))),
    )
    .app_data(
        web::JsonConfig::default()
            .limit(64 * 1024)
            .error_handler(|err, _| error::extractor_error(format!("invalid JSON body: {err}"))),
    )
    .service(health::health)
    .service(health::ready)
    .service(read::list_models)
    .service(read::get_model)
    .service(read::history);
}

/// The answer for a path no route serves.
pub async fn not_found(
    request: actix_web::HttpRequest,
) -> Result<actix_web::HttpResponse, error::ApiError> {
    Err(error::ApiError::NotFound(format!(
        "no route for {} {}",
        request.method(),
        request.path()
    )))
}
