//! The admin API (paths kept from the system pricesync replaces). Every
//! route sits behind [`super::auth::require_admin`].

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{delete, get, post, web, HttpResponse};
use pricesync_domain::{JobState, ProviderRunStatus};
use pricesync_engine::{EngineError, EngineHandle, JobView, TriggerOutcome, TriggerRequest};
use pricesync_store::{CancelOutcome, JobRecord, Lease, ProviderLog};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::auth::Admin;
use super::error::{ApiError, ErrorBody};
use super::openapi::{
    ActiveSyncs, LockList, LockReleased, SchedulerStatus, SyncBusy, SyncCancelled, SyncJob,
    SyncList, SyncQueued, SyncStatus,
};

/// Where the admin routes are mounted.
pub const SCOPE: &str = "/admin/pricing";

/// How long a refused trigger should wait before trying again.
const RETRY_AFTER_SECS: u64 = 30;

/// Body of a trigger (optional: an empty body syncs every configured
/// provider).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "providers": ["openrouter"], "dry_run": false }))]
pub struct TriggerBody {
    /// The providers to sync (default: every configured provider).
    providers: Option<Vec<String>>,
    /// Compute and report, write no prices.
    #[serde(default)]
    dry_run: bool,
}

fn poll_url(id: Uuid) -> String {
    format!("/admin/pricing/sync/{id}")
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn parse_id(text: &str) -> Result<Uuid, ApiError> {
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
            EngineError::Config(message) => {
                tracing::error!(message, "engine configuration error");
                ApiError::Internal
            }
        }
    }
}

/// The trigger body: none (or blank) means every configured provider; a
/// malformed one is a 400 that says what is wrong, never a silent default.
fn trigger_body(bytes: &[u8]) -> Result<TriggerBody, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(TriggerBody::default());
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest {
        code: "invalid_body",
        message: format!(
            "invalid JSON body: {e}; expected {{\"providers\": [\"openrouter\", …], \"dry_run\": false}} (both optional)"
        ),
    })
}

async fn trigger(
    engine: web::Data<EngineHandle>,
    admin: Admin,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = trigger_body(&body)?;
    let outcome = engine
        .trigger(TriggerRequest {
            providers: body.providers,
            dry_run: body.dry_run,
            triggered_by: admin.label(),
        })
        .await?;
    match outcome {
        TriggerOutcome::Queued(job) => {
            tracing::info!(sync_id = %job.id, by = %admin.label(), providers = ?job.providers, "sync triggered");
            Ok(HttpResponse::Accepted()
                .insert_header((header::LOCATION, poll_url(job.id)))
                .json(json!({
                    "sync_id": job.id,
                    "status": "queued",
                    "poll_url": poll_url(job.id),
                    "providers": job.providers,
                    "dry_run": job.dry_run,
                    "triggered_by": job.triggered_by,
                    "triggered_at": rfc3339(job.created_at),
                })))
        }
        TriggerOutcome::Busy {
            active,
            provider,
            lease,
        } => Ok(HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()))
            .json(json!({
                "error": "sync_in_progress",
                "message": format!(
                    "a sync of {provider} is already {} (sync {}); poll it or retry later",
                    if active.state == JobState::Queued { "queued" } else { "running" },
                    active.id
                ),
                "active_sync_id": active.id,
                "poll_url": poll_url(active.id),
                "lock": lease.map(|l| json!({
                    "key": l.key,
                    "holder": l.holder,
                    "acquired_at": rfc3339(l.acquired_at),
                    "expires_at": rfc3339(l.expires_at),
                })),
            }))),
    }
}

/// `POST /admin/pricing/scheduler/trigger`
#[utoipa::path(
    summary = "Trigger a sync",
    description = "Queues a sync of the given providers (default: every configured one). \
        Refused with 429 while a sync of one of them is queued or running.",
    context_path = SCOPE,
    tag = "admin",
    security(("admin_token" = [])),
    request_body(content = TriggerBody, content_type = "application/json",
        description = "Optional: an empty body syncs every configured provider."),
    responses(
        (status = 202, description = "The sync is queued; follow it at `Location`.", body = SyncQueued,
            headers(("Location" = String, description = "The sync's poll URL."))),
        (status = 400, description = "A malformed body or an unknown provider.", body = ErrorBody),
        (status = 401, description = "No valid admin token.", body = ErrorBody),
        (status = 429, description = "A sync of a requested provider is already queued or running.",
            body = SyncBusy, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = "The database is unavailable; retry (Retry-After).", body = ErrorBody),
    )
)]
#[post("/scheduler/trigger")]
pub async fn scheduler_trigger(
    engine: web::Data<EngineHandle>,
    admin: Admin,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    trigger(engine, admin, body).await
}

/// `POST /admin/pricing/sync/trigger` (alias)
#[utoipa::path(
    summary = "Trigger a sync (alias of /scheduler/trigger)",
    description = "Queues a sync of the given providers (default: every configured one). \
        Refused with 429 while a sync of one of them is queued or running.",
    context_path = SCOPE,
    tag = "admin",
    security(("admin_token" = [])),
    request_body(content = TriggerBody, content_type = "application/json",
        description = "Optional: an empty body syncs every configured provider."),
    responses(
        (status = 202, description = "The sync is queued; follow it at `Location`.", body = SyncQueued,
            headers(("Location" = String, description = "The sync's poll URL."))),
        (status = 400, description = "A malformed body or an unknown provider.", body = ErrorBody),
        (status = 401, description = "No valid admin token.", body = ErrorBody),
        (status = 429, description = "A sync of a requested provider is already queued or running.",
            body = SyncBusy, headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = "The database is unavailable; retry (Retry-After).", body = ErrorBody),
    )
)]
#[post("/sync/trigger")]
pub async fn sync_trigger(
    engine: web::Data<EngineHandle>,
    admin: Admin,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    trigger(engine, admin, body).await
}

/// One provider's part of a sync.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProviderResult)]
pub struct ProviderView {
    /// Where it stands, or how it ended.
    #[schema(value_type = super::openapi::ProviderResultStatus)]
    status: String,
    /// Models in the provider's list.
    models_fetched: u32,
    /// Models added.
    models_added: u32,
    /// Models whose prices changed.
    models_updated: u32,
    /// Models unchanged.
    models_unchanged: u32,
    /// Models skipped (invalid).
    models_skipped: u32,
    /// Models removed.
    models_removed: u32,
    /// Errors.
    errors: u32,
    /// Whether removals were held back because the list shrank too much.
    removals_suppressed: bool,
    /// How long the provider's run took, once it ran.
    #[schema(required = true)]
    duration_ms: Option<u64>,
    /// Its error, if it failed.
    #[schema(required = true)]
    error: Option<String>,
}

fn provider_view(log: &ProviderLog) -> ProviderView {
    ProviderView {
        status: log.status.as_str().to_owned(),
        models_fetched: log.models_fetched,
        models_added: log.models_added,
        models_updated: log.models_updated,
        models_unchanged: log.models_unchanged,
        models_skipped: log.models_skipped,
        models_removed: log.models_removed,
        errors: log.errors,
        removals_suppressed: log.removals_suppressed,
        duration_ms: Some(log.duration_ms),
        error: log.error.clone(),
    }
}

fn progress_percent(job: &JobRecord) -> u32 {
    if job.state.is_terminal() {
        return 100;
    }
    (job.providers_done.min(job.providers_total) * 100)
        .checked_div(job.providers_total)
        .unwrap_or(0)
}

/// A sync as `GET /admin/pricing/sync/{id}` shows it.
fn job_json(view: &JobView) -> serde_json::Value {
    let job = &view.job;
    let mut providers: BTreeMap<&str, ProviderView> = BTreeMap::new();
    for name in &job.providers {
        let pending = match job.state {
            JobState::Queued => "queued",
            JobState::InProgress => "running",
            _ => "not_run",
        };
        providers.insert(
            name,
            ProviderView {
                status: pending.to_owned(),
                models_fetched: 0,
                models_added: 0,
                models_updated: 0,
                models_unchanged: 0,
                models_skipped: 0,
                models_removed: 0,
                errors: 0,
                removals_suppressed: false,
                duration_ms: None,
                error: None,
            },
        );
    }
    for log in &view.providers {
        providers.insert(&log.provider, provider_view(log));
    }
    let sum = |f: fn(&ProviderLog) -> u32| view.providers.iter().map(f).sum::<u32>();
    let duration_ms = match (job.started_at, job.finished_at) {
        (Some(start), Some(end)) => Some((end - start).whole_milliseconds().max(0)),
        _ => None,
    };
    json!({
        "sync_id": job.id,
        "status": job.state.as_str(),
        "progress_percent": progress_percent(job),
        "providers_total": job.providers_total,
        "providers_done": job.providers_done,
        "models_processed": job.models_processed,
        "dry_run": job.dry_run,
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "triggered_by": job.triggered_by,
        "triggered_at": rfc3339(job.created_at),
        "started_at": job.started_at.map(rfc3339),
        "completed_at": job.finished_at.map(rfc3339),
        "duration_ms": duration_ms,
        "models_fetched": sum(|l| l.models_fetched),
        "models_added": sum(|l| l.models_added),
        "models_updated": sum(|l| l.models_updated),
        "models_unchanged": sum(|l| l.models_unchanged),
        "models_skipped": sum(|l| l.models_skipped),
        "models_removed": sum(|l| l.models_removed),
        "errors": sum(|l| l.errors),
        "error_message": job.error,
        "cancel_requested": job.cancel_requested,
        "schedule": job.schedule_name,
        "providers": providers,
    })
}

/// A sync in a listing (without per-provider detail).
fn job_summary(job: &JobRecord) -> serde_json::Value {
    json!({
        "sync_id": job.id,
        "status": job.state.as_str(),
        "progress_percent": progress_percent(job),
        "providers": job.providers,
        "dry_run": job.dry_run,
        "triggered_by": job.triggered_by,
        "triggered_at": rfc3339(job.created_at),
        "started_at": job.started_at.map(rfc3339),
        "completed_at": job.finished_at.map(rfc3339),
        "attempt": job.attempt,
        "error_message": job.error,
        "poll_url": poll_url(job.id),
    })
}

/// `GET /admin/pricing/sync/{sync_id}`
#[utoipa::path(
    context_path = SCOPE,
    tag = "admin",
    summary = "One sync, with per-provider results",
    security(("admin_token" = [])),
    params(("sync_id" = String, Path, format = Uuid, description = "The sync's id.")),
    responses(
        (status = 200, description = "The sync.", body = SyncJob),
        (status = 400, description = "The id is not a UUID.", body = ErrorBody),
        (status = 401, description = "No valid admin token.", body = ErrorBody),
        (status = 404, description = "No such sync.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry (Retry-After).", body = ErrorBody),
    )
)]
#[get("/sync/{sync_id}")]
pub async fn get_sync(
    engine: web::Data<EngineHandle>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let view = engine
        .job(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no sync {id}")))?;
    Ok(HttpResponse::Ok().json(job_json(&view)))
}

/// `GET /admin/pricing/syncs/active`
#[utoipa::path(
    context_path = SCOPE,
    tag = "admin",
    summary = "The queued and running syncs",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The active syncs.", body = ActiveSyncs),
        (status = 401, description = "No valid admin token.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry (Retry-After).", body = ErrorBody),
    )
)]
#[get("/syncs/active")]
pub async fn active_syncs(engine: web::Data<EngineHandle>) -> Result<HttpResponse, ApiError> {
    let jobs = engine.store().active_jobs().await?;
    let list: Vec<_> = jobs.iter().map(job_summary).collect();
    Ok(HttpResponse::Ok().json(json!({ "active_syncs": list, "count": list.len() })))
}

/// Query of `GET /admin/pricing/syncs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SyncsParams {
    /// Only syncs in this state.
    #[param(value_type = Option<SyncStatus>)]
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
    context_path = SCOPE,
    tag = "admin",
    summary = "Syncs, newest first",
    security(("admin_token" = [])),
    params(SyncsParams),
    responses(
        (status = 200, description = "A page of syncs.", body = SyncList),
        (status = 400, description = "A bad or unknown query parameter.", body = ErrorBody),
        (status = 401, description = "No valid admin token.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry (Retry-After).", body = ErrorBody),
    )
)]
#[get("/syncs")]
pub async fn list_syncs(
    engine: web::Data<EngineHandle>,
    params: web::Query<SyncsParams>,
) -> Result<HttpResponse, ApiError> {
    let state = params
        .status
        .as_deref()
        .map(|s| {
            s.parse::<JobState>()
                .map_err(|e| ApiError::bad_parameter("status", e))
        })
        .transpose()?;
    let limit = match params.limit.as_deref() {
        None => 50,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_parameter(
                    "limit",
                    format!("{text:?} is not a whole number from 1 to 1000"),
                ))
            }
        },
    };
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
    let mut jobs = engine.store().list_jobs(state, limit + 1, before).await?;
    let more = jobs.len() > limit as usize;
    jobs.truncate(limit as usize);
    let next_cursor = more.then(|| jobs.last().map(|j| j.id)).flatten();
    let list: Vec<_> = jobs.iter().map(job_summary).collect();
    Ok(HttpResponse::Ok().json(json!({ "syncs": list, "next_cursor": next_cursor })))
}

/// `POST /admin/pricing/sync/{sync_id}/cancel`
#[utoipa::path(
    context_path = SCOPE,
    tag = "admin",
    summary = "Cancel a sync",
    security(("admin_token" = [])),
    params(("sync_id" = String, Path, format = Uuid, description = "The sync's id.")),
    responses(
        (status = 200, description = "The sync was queued and is now cancelled.", body = SyncCancelled),
        (status = 202, description = "The sync is running; it stops at its next safe point.", body = SyncCancelled),
        (status = 400, description = "The id is not a UUID.", body = ErrorBody),
        (status = 401, description = "No valid admin token.", body = ErrorBody),
        (status = 404, description = "No such sync.", body = ErrorBody),
        (status = 409, description = "The sync already finished.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry (Retry-After).", body = ErrorBody),
    )
)]
#[post("/sync/{sync_id}/cancel")]
pub async fn cancel_sync(
    engine: web::Data<EngineHandle>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    match engine.cancel(id, &admin.label()).await? {
        CancelOutcome::Cancelled(job) => {
            tracing::info!(sync_id = %id, by = %admin.label(), "queued sync cancelled");
            Ok(HttpResponse::Ok().json(json!({
                "sync_id": job.id, "status": job.state.as_str(),
                "message": "the sync was queued and is now cancelled",
            })))
        }
        CancelOutcome::Requested(job) => {
            tracing::info!(sync_id = %id, by = %admin.label(), "running sync asked to stop");
            Ok(HttpResponse::Accepted().json(json!({
                "sync_id": job.id, "status": job.state.as_str(),
                "message": "the sync is running; it stops at its next safe point and writes nothing after",
                "poll_url": poll_url(job.id),
            })))
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
    context_path = SCOPE,
    tag = "admin",
    summary = "The scheduler and each provider's last sync",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The scheduler's status.", body = SchedulerStatus),
        (status = 401, description = "No valid admin token.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry (Retry-After).", body = ErrorBody),
    )
)]
#[get("/scheduler/status")]
pub async fn scheduler_status(engine: web::Data<EngineHandle>) -> Result<HttpResponse, ApiError> {
    let config = &engine.config().scheduler;
    let schedules = engine.store().list_schedules().await?;
    let now = OffsetDateTime::now_utc();
    let mut last_syncs = serde_json::Map::new();
    for provider in engine.providers() {
        let (last, last_ok) = engine.store().last_provider_runs(&provider).await?;
        let entry = |log: &Option<ProviderLog>| {
            log.as_ref().map(|l| {
                json!({
                    "at": rfc3339(l.finished_at),
                    "seconds_ago": (now - l.finished_at).whole_seconds().max(0),
                    "status": l.status.as_str(),
                })
            })
        };
        last_syncs.insert(
            provider.clone(),
            json!({
                "last_sync_at": last.as_ref().map(|l| rfc3339(l.finished_at)),
                "seconds_ago": last.as_ref().map(|l| (now - l.finished_at).whole_seconds().max(0)),
                "status": last.as_ref().map(|l| l.status.as_str()),
                "error": last.as_ref().and_then(|l| l.error.clone()),
                "last_success": entry(&last_ok.filter(|l| l.status == ProviderRunStatus::Succeeded)),
            }),
        );
    }
    let next_run_at = schedules
        .iter()
        .filter(|s| s.enabled)
        .map(|s| s.next_run_at)
        .min();
    Ok(HttpResponse::Ok().json(json!({
        "enabled": config.enabled,
        "interval_hours": config.interval.as_secs_f64() / 3600.0,
        "providers": config.providers,
        "next_run_at": next_run_at.map(rfc3339),
        "schedules": schedules.iter().map(|s| json!({
            "name": s.name,
            "providers": s.providers,
            "enabled": s.enabled,
            "interval_hours": s.interval_seconds as f64 / 3600.0,
            "next_run_at": rfc3339(s.next_run_at),
            "last_slot_at": s.last_slot_at.map(rfc3339),
            "last_sync_id": s.last_job_id,
            "consecutive_failures": s.consecutive_failures,
        })).collect::<Vec<_>>(),
        "last_syncs": last_syncs,
    })))
}

fn lease_json(lease: &Lease, now: OffsetDateTime) -> serde_json::Value {
    json!({
        "key": lease.key,
        "holder": lease.holder,
        "owner": lease.owner,
        "fence": lease.fence,
        "acquired_at": rfc3339(lease.acquired_at),
        "renewed_at": rfc3339(lease.renewed_at),
        "expires_at": rfc3339(lease.expires_at),
        "expired": lease.expires_at <= now,
    })
}

/// `GET /admin/pricing/locks`
#[utoipa::path(
    context_path = SCOPE,
    tag = "admin",
    summary = "The locks",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Every lock, held or lapsed.", body = LockList),
        (status = 401, description = "No valid admin token.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry (Retry-After).", body = ErrorBody),
    )
)]
#[get("/locks")]
pub async fn list_locks(engine: web::Data<EngineHandle>) -> Result<HttpResponse, ApiError> {
    let now = OffsetDateTime::now_utc();
    let leases = engine.store().list_leases().await?;
    let list: Vec<_> = leases.iter().map(|l| lease_json(l, now)).collect();
    Ok(HttpResponse::Ok().json(json!({ "locks": list, "count": list.len() })))
}

/// `DELETE /admin/pricing/locks/{key}`: forced release, recorded in the log.
/// The former holder's fenced writes fail from now on.
#[utoipa::path(
    context_path = SCOPE,
    tag = "admin",
    summary = "Release a lock by force",
    description = "Forced release, recorded in the log. The former holder's fenced writes fail from now on.",
    security(("admin_token" = [])),
    params(("key" = String, Path, description = "The lock's key.", example = "pricing_sync:openrouter")),
    responses(
        (status = 200, description = "The lock was released.", body = LockReleased),
        (status = 401, description = "No valid admin token.", body = ErrorBody),
        (status = 404, description = "No such lock.", body = ErrorBody),
        (status = 503, description = "The database is unavailable; retry (Retry-After).", body = ErrorBody),
    )
)]
#[delete("/locks/{key}")]
pub async fn release_lock(
    engine: web::Data<EngineHandle>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = path.into_inner();
    match engine.store().force_release_lease(&key).await? {
        Some(lease) => {
            tracing::warn!(key = %lease.key, holder = %lease.holder, owner = %lease.owner, fence = lease.fence,
                by = %admin.label(), "lock forcibly released");
            Ok(HttpResponse::Ok().json(json!({
                "released": lease_json(&lease, OffsetDateTime::now_utc()),
                "released_by": admin.label(),
            })))
        }
        None => Err(ApiError::NotFound(format!("no lock {key:?}"))),
    }
}

/// Registers the admin routes under `/admin/pricing`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(scheduler_trigger)
        .service(sync_trigger)
        .service(active_syncs)
        .service(list_syncs)
        .service(cancel_sync)
        .service(get_sync)
        .service(scheduler_status)
        .service(list_locks)
        .service(release_lock);
}
