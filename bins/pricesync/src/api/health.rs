//! `/health` (the process is alive) and `/ready` (it can serve: the
//! database answers and its schema is current).

use actix_web::{get, web, HttpResponse};
use pricesync_store::Store;
use serde_json::json;

use super::openapi::{Health, Readiness};

/// Alive: answers without touching the database.
#[utoipa::path(
    tag = "ops",
    summary = "Liveness",
    responses((status = 200, description = "The process is alive.", body = Health,
        example = json!({ "status": "ok" }))),
)]
#[get("/health")]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready: the database answers and no migration is pending.
#[utoipa::path(
    tag = "ops",
    summary = "Readiness",
    responses(
        (status = 200, description = "The database answers and its schema is current.", body = Readiness,
            example = json!({ "status": "ready" })),
        (status = 503, description = "The database does not answer or migrations are pending.",
            body = Readiness, example = json!({
                "status": "unavailable",
                "error": "migrations_pending",
                "message": "database migrations are pending; run `pricesync migrate`"
            })),
    ),
)]
#[get("/ready")]
pub async fn ready(store: web::Data<Store>) -> HttpResponse {
    if let Err(e) = store.ping().await {
        tracing::warn!(error = %e, "readiness: database does not answer");
        return HttpResponse::ServiceUnavailable().json(json!({
            "status": "unavailable",
            "error": "database_unreachable",
            "message": "the database does not answer",
        }));
    }
    match store.schema_is_current().await {
        Ok(true) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Ok(false) => HttpResponse::ServiceUnavailable().json(json!({
            "status": "unavailable",
            "error": "migrations_pending",
            "message": "database migrations are pending; run `pricesync migrate`",
        })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: cannot read migrations");
            HttpResponse::ServiceUnavailable().json(json!({
                "status": "unavailable",
                "error": "migrations_unknown",
                "message": "cannot read the migration state",
            }))
        }
    }
}
