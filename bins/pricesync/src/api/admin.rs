//! The admin API (paths kept from the system pricesync replaces). Every
//! route sits behind [`super::auth::require_admin`], mounted on [`SCOPE`];
//! the OpenAPI document derives each operation's security and its 401 from
//! that scope (see `openapi.rs`).

use actix_web::body::BoxBody;
use actix_web::http::header;
use actix_web::web::Json;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse, Responder};
use pricesync_domain::JobState;
use pricesync_engine::{EngineError, EngineHandle, TriggerOutcome, TriggerRequest};
use pricesync_store::CancelOutcome;
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::IntoParams;
use uuid::Uuid;

use super::auth::Admin;
use super::error::{ApiError, ErrorBody};
use super::types::admin::{
    ActiveSyncs, Lock, LockList, LockReleased, SchedulerStatus, SyncBusy, SyncCancelled, SyncJob,
    SyncList, SyncQueued, TriggerBody,
};

/// Where the admin routes are mounted.
pub(crate) const SCOPE: &str = "/admin/pricing";

/// How long a refused trigger should wait before trying again.
const RETRY_AFTER_SECS: u64 = 30;

pub(crate) fn parse_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::BadRequest {
        code: "invalid_sync_id",
        message: format!("{text:?} is not a sync id (a UUID such as 0190f5a2-…)"),
    })
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::UnknownProvider { .. } => ApiError::BadRequest {
                code: "unknown_provider",
                message: error.to_string(),
            },
            EngineError::Store(e) => e.into(),
            EngineError::Config(_) => {
                tracing::error!(error = %error, "engine configuration error");
                ApiError::Internal(error.into())
            }
        }
    }
}

fn invalid_body(problem: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest {
        code: "invalid_body",
        message: format!(
            "invalid JSON body: {problem}; expected {{\"providers\": [\"openrouter\", …], \"dry_run\": false}} (both optional)"
        ),
    }
}

/// The trigger body: none (or blank) means every configured provider; a
/// malformed one is a 400 that says what is wrong, never a silent default.
fn trigger_body(bytes: &[u8]) -> Result<TriggerBody, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(TriggerBody::default());
    }
    // A derived `Deserialize` also takes a struct as an array of its
    // fields; the body is documented as an object, so only that is read.
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(invalid_body)?;
    if !value.is_object() {
        return Err(invalid_body("the body must be a JSON object"));
    }
    serde_json::from_value(value).map_err(invalid_body)
}

/// The answer to a trigger: 202 with the queued sync, or 429 naming the
/// sync in the way.
pub(crate) enum TriggerAnswer {
    /// The sync is queued.
    Queued(SyncQueued),
    /// A sync of a requested provider is already queued or running.
    Busy(SyncBusy),
}

impl From<TriggerOutcome> for TriggerAnswer {
    fn from(outcome: TriggerOutcome) -> Self {
        match outcome {
            TriggerOutcome::Queued(job) => Self::Queued(SyncQueued::from(&job)),
            TriggerOutcome::Busy {
                active,
                provider,
                lease,
            } => Self::Busy(SyncBusy::new(&active, &provider, lease.as_ref())),
        }
    }
}

impl Responder for TriggerAnswer {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        match self {
            Self::Queued(queued) => HttpResponse::Accepted()
                .insert_header((header::LOCATION, queued.poll_url.clone()))
                .json(queued),
            Self::Busy(busy) => HttpResponse::TooManyRequests()
                .insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()))
                .json(busy),
        }
    }
}

async fn trigger(
    engine: web::Data<EngineHandle>,
    admin: Admin,
    body: web::Bytes,
) -> Result<TriggerAnswer, ApiError> {
    let body = trigger_body(&body)?;
    let outcome = engine
        .trigger(TriggerRequest {
            providers: body.providers,
            dry_run: body.dry_run,
            triggered_by: admin.label(),
        })
        .await?;
    if let TriggerOutcome::Queued(job) = &outcome {
        tracing::info!(sync_id = %job.id, by = %admin.label(), providers = ?job.providers, "sync triggered");
    }
    Ok(outcome.into())
}

/// `POST /admin/pricing/scheduler/trigger`
#[utoipa::path(
    summary = "Trigger a sync",
    description = "Queues a sync of the given providers (default: every configured one). \
        Refused with 429 while a sync of one of them is queued or running.",
    tag = "admin",
    request_body(content = TriggerBody, content_type = "application/json",
        description = "Optional: an empty body syncs every configured provider."),
    responses(
        (status = 202, description = "The sync is queued; follow it at `Location`.", body = SyncQueued,
            headers(("Location" = String, description = "The sync's poll URL."))),
        (status = 400, description = "A malformed body or an unknown provider.", body = ErrorBody),
        (status = 429, description = "A sync of a requested provider is already queued or running.",
            body = SyncBusy, headers(("Retry-After" = u64, description = "Seconds to wait."))),
    )
)]
#[post("/scheduler/trigger")]
pub(crate) async fn scheduler_trigger(
    engine: web::Data<EngineHandle>,
    admin: Admin,
    body: web::Bytes,
) -> Result<TriggerAnswer, ApiError> {
    trigger(engine, admin, body).await
}

/// `POST /admin/pricing/sync/trigger` (alias)
#[utoipa::path(
    summary = "Trigger a sync (alias of /scheduler/trigger)",
    description = "Queues a sync of the given providers (default: every configured one). \
        Refused with 429 while a sync of one of them is queued or running.",
    tag = "admin",
    request_body(content = TriggerBody, content_type = "application/json",
        description = "Optional: an empty body syncs every configured provider."),
    responses(
        (status = 202, description = "The sync is queued; follow it at `Location`.", body = SyncQueued,
            headers(("Location" = String, description = "The sync's poll URL."))),
        (status = 400, description = "A malformed body or an unknown provider.", body = ErrorBody),
        (status = 429, description = "A sync of a requested provider is already queued or running.",
            body = SyncBusy, headers(("Retry-After" = u64, description = "Seconds to wait."))),
    )
)]
#[post("/sync/trigger")]
pub(crate) async fn sync_trigger(
    engine: web::Data<EngineHandle>,
    admin: Admin,
    body: web::Bytes,
) -> Result<TriggerAnswer, ApiError> {
    trigger(engine, admin, body).await
}

/// `GET /admin/pricing/sync/{sync_id}`
#[utoipa::path(
    tag = "admin",
    summary = "One sync, with per-provider results",
    params(("sync_id" = String, Path, format = Uuid, description = "The sync's id.")),
    responses(
        (status = 200, description = "The sync.", body = SyncJob),
        (status = 400, description = "The id is not a UUID.", body = ErrorBody),
        (status = 404, description = "No such sync.", body = ErrorBody),
    )
)]
#[get("/sync/{sync_id}")]
pub(crate) async fn get_sync(
    engine: web::Data<EngineHandle>,
    path: web::Path<String>,
) -> Result<Json<SyncJob>, ApiError> {
    let id = parse_id(&path)?;
    let view = engine
        .job(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no sync {id}")))?;
    Ok(Json(SyncJob::from(&view)))
}

/// `GET /admin/pricing/syncs/active`
#[utoipa::path(
    tag = "admin",
    summary = "The queued and running syncs",
    responses(
        (status = 200, description = "The active syncs.", body = ActiveSyncs),
    )
)]
#[get("/syncs/active")]
pub(crate) async fn active_syncs(
    engine: web::Data<EngineHandle>,
) -> Result<Json<ActiveSyncs>, ApiError> {
    let jobs = engine.store().active_jobs().await?;
    Ok(Json(ActiveSyncs::from(jobs.as_slice())))
}

/// Query of `GET /admin/pricing/syncs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SyncsParams {
    /// Only syncs in this state.
    #[param(value_type = Option<JobState>, inline)]
    status: Option<String>,
    /// At most this many syncs (1 to 1000; default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(format = Uuid)]
    cursor: Option<String>,
}

/// `GET /admin/pricing/syncs?status=&limit=&cursor=`
#[utoipa::path(
    tag = "admin",
    summary = "Syncs, newest first",
    params(SyncsParams),
    responses(
        (status = 200, description = "A page of syncs.", body = SyncList),
        (status = 400, description = "A bad or unknown query parameter.", body = ErrorBody),
    )
)]
#[get("/syncs")]
pub(crate) async fn list_syncs(
    engine: web::Data<EngineHandle>,
    params: web::Query<SyncsParams>,
) -> Result<Json<SyncList>, ApiError> {
    let state = params
        .status
        .as_deref()
        .map(|s| {
            s.parse::<JobState>()
                .map_err(|e| ApiError::bad_parameter("status", e))
        })
        .transpose()?;
    let limit = super::params::limit(params.limit.as_deref(), 50)?;
    let before = params
        .cursor
        .as_deref()
        .map(|c| {
            Uuid::parse_str(c).map_err(|_| {
                ApiError::bad_parameter("cursor", "pass the next_cursor of the previous page")
            })
        })
        .transpose()?;
    // One more than asked tells whether another page exists.
    let jobs = engine.store().list_jobs(state, limit + 1, before).await?;
    Ok(Json(SyncList::page(jobs, limit as usize)))
}

/// The answer to a cancel.
pub(crate) enum CancelAnswer {
    /// A queued sync is cancelled (200).
    Cancelled(SyncCancelled),
    /// A running sync was asked to stop (202).
    Requested(SyncCancelled),
}

impl Responder for CancelAnswer {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        match self {
            Self::Cancelled(body) => HttpResponse::Ok().json(body),
            Self::Requested(body) => HttpResponse::Accepted().json(body),
        }
    }
}

/// `POST /admin/pricing/sync/{sync_id}/cancel`
#[utoipa::path(
    tag = "admin",
    summary = "Cancel a sync",
    params(("sync_id" = String, Path, format = Uuid, description = "The sync's id.")),
    responses(
        (status = 200, description = "The sync was queued and is now cancelled.", body = SyncCancelled),
        (status = 202, description = "The sync is running; it stops at its next safe point.", body = SyncCancelled),
        (status = 400, description = "The id is not a UUID.", body = ErrorBody),
        (status = 404, description = "No such sync.", body = ErrorBody),
        (status = 409, description = "The sync already finished.", body = ErrorBody),
    )
)]
#[post("/sync/{sync_id}/cancel")]
pub(crate) async fn cancel_sync(
    engine: web::Data<EngineHandle>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<CancelAnswer, ApiError> {
    let id = parse_id(&path)?;
    match engine.cancel(id, &admin.label()).await? {
        CancelOutcome::Cancelled(job) => {
            tracing::info!(sync_id = %id, by = %admin.label(), "queued sync cancelled");
            Ok(CancelAnswer::Cancelled(SyncCancelled::cancelled(&job)))
        }
        CancelOutcome::Requested(job) => {
            tracing::info!(sync_id = %id, by = %admin.label(), "running sync asked to stop");
            Ok(CancelAnswer::Requested(SyncCancelled::requested(&job)))
        }
        CancelOutcome::AlreadyFinished(job) => Err(ApiError::Conflict(format!(
            "sync {id} already finished ({})",
            job.state
        ))),
        CancelOutcome::NotFound => Err(ApiError::NotFound(format!("no sync {id}"))),
    }
}

/// `GET /admin/pricing/scheduler/status`
#[utoipa::path(
    tag = "admin",
    summary = "The scheduler and each provider's last sync",
    responses(
        (status = 200, description = "The scheduler's status.", body = SchedulerStatus),
    )
)]
#[get("/scheduler/status")]
pub(crate) async fn scheduler_status(
    engine: web::Data<EngineHandle>,
) -> Result<Json<SchedulerStatus>, ApiError> {
    let status = SchedulerStatus::load(
        engine.store(),
        &engine.config().scheduler,
        &engine.providers(),
    )
    .await?;
    Ok(Json(status))
}

/// `GET /admin/pricing/locks`
#[utoipa::path(
    tag = "admin",
    summary = "The locks",
    responses(
        (status = 200, description = "Every lock, held or lapsed.", body = LockList),
    )
)]
#[get("/locks")]
pub(crate) async fn list_locks(
    engine: web::Data<EngineHandle>,
) -> Result<Json<LockList>, ApiError> {
    let leases = engine.store().list_leases().await?;
    Ok(Json(LockList::new(&leases, OffsetDateTime::now_utc())))
}

/// `DELETE /admin/pricing/locks/{key}`: forced release, recorded in the log.
/// The former holder's fenced writes fail from now on.
#[utoipa::path(
    tag = "admin",
    summary = "Release a lock by force",
    description = "Forced release, recorded in the log. The former holder's fenced writes fail from now on.",
    params(("key" = String, Path, description = "The lock's key.", example = "pricing_sync:openrouter",
        pattern = r"^[^/]+$")),
    responses(
        (status = 200, description = "The lock was released.", body = LockReleased),
        (status = 404, description = "No such lock.", body = ErrorBody),
    )
)]
#[delete("/locks/{key}")]
pub(crate) async fn release_lock(
    engine: web::Data<EngineHandle>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<Json<LockReleased>, ApiError> {
    let key = path.into_inner();
    match engine.store().force_release_lease(&key).await? {
        Some(lease) => {
            tracing::warn!(key = %lease.key, holder = %lease.requested_by, owner = %lease.worker, fence = lease.fence,
                by = %admin.label(), "lock forcibly released");
            Ok(Json(LockReleased {
                released: Lock::new(&lease, OffsetDateTime::now_utc()),
                released_by: admin.label(),
            }))
        }
        None => Err(ApiError::NotFound(format!("no lock {key:?}"))),
    }
}
