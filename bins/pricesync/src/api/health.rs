//! `/health` (the process is alive) and `/ready` (it can serve: the
//! database answers and its schema is current). Both answer `HEAD` too,
//! as load balancers probe with it (same status, no body).

use actix_web::web::Json;
use actix_web::{get, head, web};
use pricesync_store::Store;

use super::types::ops::{Alive, Health, NotReady, NotReadyReason, Ready, ReadyStatus};

/// Alive: answers without touching the database.
#[utoipa::path(
    tag = "ops",
    summary = "Liveness",
    responses((status = 200, description = "The process is alive.", body = Health,
        example = json!({ "status": "ok" }))),
)]
#[get("/health")]
pub(crate) async fn health() -> Json<Health> {
    alive()
}

fn alive() -> Json<Health> {
    Json(Health { status: Alive::Ok })
}

/// Ready: the database answers and no migration is pending.
#[utoipa::path(
    tag = "ops",
    summary = "Readiness",
    responses(
        (status = 200, description = "The database answers and its schema is current.", body = Ready,
            example = json!({ "status": "ready" })),
        (status = 503, description = "The database does not answer or migrations are pending.",
            body = NotReady, headers(("Retry-After" = u64, description = "Seconds to wait.")),
            example = json!({
                "status": "unavailable",
                "error": "migrations_pending",
                "message": "database migrations are pending; run `pricesync migrate`"
            })),
    ),
)]
#[get("/ready")]
pub(crate) async fn ready(store: web::Data<Store>) -> Result<Json<Ready>, NotReady> {
    readiness(&store).await
}

async fn readiness(store: &Store) -> Result<Json<Ready>, NotReady> {
    if let Err(e) = store.ping().await {
        tracing::warn!(error = %e, "readiness: database does not answer");
        return Err(NotReadyReason::DatabaseUnreachable.into());
    }
    match store.schema_is_current().await {
        Ok(true) => Ok(Json(Ready {
            status: ReadyStatus::Ready,
        })),
        Ok(false) => Err(NotReadyReason::MigrationsPending.into()),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: cannot read migrations");
            Err(NotReadyReason::MigrationsUnknown.into())
        }
    }
}

/// `HEAD /health`: as `GET`, without the body (load balancers probe with
/// `HEAD`).
#[utoipa::path(
    tag = "ops",
    summary = "Liveness, headers only",
    responses((status = 200, description = "The process is alive.")),
)]
#[head("/health")]
pub(crate) async fn health_head() -> Json<Health> {
    alive()
}

/// `HEAD /ready`: as `GET`, without the body.
#[utoipa::path(
    tag = "ops",
    summary = "Readiness, headers only",
    responses(
        (status = 200, description = "The database answers and its schema is current."),
        (status = 503, description = "The database does not answer or migrations are pending.",
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
    ),
)]
#[head("/ready")]
pub(crate) async fn ready_head(store: web::Data<Store>) -> Result<Json<Ready>, NotReady> {
    readiness(&store).await
}
