//! What a sync saw and held (admin scope): the models it skipped, a dry
//! run's diff, and the price changes held for an admin's decision, with
//! approve and reject.

use actix_web::web::Json;
use actix_web::{get, post, web};
use pricesync_engine::EngineHandle;
use pricesync_store::{
    DecideOutcome, Decision, HeldQuery, HeldStatus, JobRecord, ReportQuery, Store,
};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::admin::parse_id;
use super::auth::Admin;
use super::error::{ApiError, ErrorBody};
use super::types::review::{
    parse_report_cursor, stale_message, ChangesPage, HeldChange, HeldChangePage, HeldChangeStatus,
    SkippedPage,
};

const DEFAULT_LIMIT: u32 = 100;

/// Query of a sync's report pages.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReportParams {
    /// Only this provider's lines.
    #[param(example = "openrouter")]
    provider: Option<String>,
    /// At most this many lines (1 to 1000; default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

fn provider_param(value: Option<&str>) -> Result<Option<String>, ApiError> {
    Ok(super::params::provider(value)?.map(|p| p.as_str().to_owned()))
}

/// The job, or 404.
async fn existing_job(store: &Store, id: Uuid) -> Result<JobRecord, ApiError> {
    store
        .get_job(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no sync {id}")))
}

/// The report query of a page (one more line than asked, to tell whether
/// another page exists).
fn report_query(id: Uuid, params: &ReportParams) -> Result<(ReportQuery, u32), ApiError> {
    let limit = super::params::limit(params.limit.as_deref(), DEFAULT_LIMIT)?;
    let after = params
        .cursor
        .as_deref()
        .map(|c| parse_report_cursor(c).map_err(|e| ApiError::bad_parameter("cursor", e)))
        .transpose()?;
    Ok((
        ReportQuery {
            job_id: id,
            provider: provider_param(params.provider.as_deref())?,
            limit: limit + 1,
            after,
        },
        limit,
    ))
}

/// `GET /admin/pricing/sync/{sync_id}/skipped`
#[utoipa::path(
    tag = "admin",
    summary = "The models a sync skipped",
    description = "Each model the provider lists but pricesync could not take a price from, with the reason code and detail. Its stored price, if any, stays. Ordered by provider, then as met in the list.",
    params(("sync_id" = String, Path, format = Uuid, description = "The sync's id."), ReportParams),
    responses(
        (status = 200, description = "A page of skipped models.", body = SkippedPage),
        (status = 400, description = "A malformed id or query parameter.", body = ErrorBody),
        (status = 404, description = "No such sync.", body = ErrorBody),
    )
)]
#[get("/sync/{sync_id}/skipped")]
pub(crate) async fn sync_skipped(
    engine: web::Data<EngineHandle>,
    path: web::Path<String>,
    params: web::Query<ReportParams>,
) -> Result<Json<SkippedPage>, ApiError> {
    let id = parse_id(&path)?;
    let (query, limit) = report_query(id, &params)?;
    let store = engine.store();
    existing_job(store, id).await?;
    let records = store.job_skipped(&query).await?;
    Ok(Json(SkippedPage::page(id, records, limit as usize)))
}

/// `GET /admin/pricing/sync/{sync_id}/changes`
#[utoipa::path(
    tag = "admin",
    summary = "A dry run's diff",
    description = "What a dry run would change, model by model and component by component: added, updated (old and new price), reactivated and removed models, and the changes it would hold for approval. A sync that wrote has its changes in `GET /v1/pricing/history` and its held changes in `GET /admin/pricing/held-changes?sync_id=`; asking it here is a 409.",
    params(("sync_id" = String, Path, format = Uuid, description = "The sync's id."), ReportParams),
    responses(
        (status = 200, description = "A page of the diff.", body = ChangesPage),
        (status = 400, description = "A malformed id or query parameter.", body = ErrorBody),
        (status = 404, description = "No such sync.", body = ErrorBody),
        (status = 409, description = "The sync was not a dry run.", body = ErrorBody),
    )
)]
#[get("/sync/{sync_id}/changes")]
pub(crate) async fn sync_changes(
    engine: web::Data<EngineHandle>,
    path: web::Path<String>,
    params: web::Query<ReportParams>,
) -> Result<Json<ChangesPage>, ApiError> {
    let id = parse_id(&path)?;
    let (query, limit) = report_query(id, &params)?;
    let store = engine.store();
    let job = existing_job(store, id).await?;
    if !job.dry_run {
        return Err(ApiError::Conflict(format!(
            "sync {id} was not a dry run: its changes are in GET /v1/pricing/history, its held changes in GET /admin/pricing/held-changes?sync_id={id}"
        )));
    }
    let records = store.job_planned_changes(&query).await?;
    Ok(Json(ChangesPage::page(id, records, limit as usize)))
}

/// Query of `GET /admin/pricing/held-changes`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct HeldParams {
    /// Only changes in this state (default: all).
    #[param(value_type = Option<HeldChangeStatus>, inline)]
    status: Option<String>,
    /// Only this provider's.
    #[param(example = "openrouter")]
    provider: Option<String>,
    /// Only the changes this sync held last.
    #[param(format = Uuid)]
    sync_id: Option<String>,
    /// At most this many (1 to 1000; default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(format = Uuid)]
    cursor: Option<String>,
}

/// `GET /admin/pricing/held-changes`
#[utoipa::path(
    tag = "admin",
    summary = "Price changes held for approval",
    description = "Price changes that moved by more than the hold factor (`PRICESYNC_HOLD_FACTOR`, default 10x either way) between two syncs, oldest first. A pending change is not applied: the model keeps its old price until an admin approves.",
    params(HeldParams),
    responses(
        (status = 200, description = "A page of held changes.", body = HeldChangePage),
        (status = 400, description = "A bad or unknown query parameter.", body = ErrorBody),
    )
)]
#[get("/held-changes")]
pub(crate) async fn held_changes(
    engine: web::Data<EngineHandle>,
    params: web::Query<HeldParams>,
) -> Result<Json<HeldChangePage>, ApiError> {
    let limit = super::params::limit(params.limit.as_deref(), DEFAULT_LIMIT)?;
    let status = params
        .status
        .as_deref()
        .map(|s| {
            s.parse::<HeldStatus>()
                .map_err(|e| ApiError::bad_parameter("status", e))
        })
        .transpose()?;
    let records = engine
        .store()
        .list_held_changes(&HeldQuery {
            status,
            provider: provider_param(params.provider.as_deref())?,
            sync_id: super::params::uuid("sync_id", params.sync_id.as_deref())?,
            limit: limit + 1,
            after: super::params::uuid("cursor", params.cursor.as_deref())?,
        })
        .await?;
    Ok(Json(HeldChangePage::page(records, limit as usize)))
}

async fn decide(
    engine: &EngineHandle,
    admin: &Admin,
    text: &str,
    decision: Decision,
) -> Result<Json<HeldChange>, ApiError> {
    let id = super::params::path_id(text, "held change")?;
    let by = admin.label();
    match engine.store().decide_held_change(id, decision, &by).await? {
        DecideOutcome::Decided(record) => {
            tracing::warn!(held_change = %id, provider = %record.provider, model = %record.model_id,
                meter = record.key.meter.as_str(), old = %record.old, new = %record.new,
                decision = record.status.as_str(), by = %by, "held price change decided");
            Ok(Json(HeldChange::from(record)))
        }
        DecideOutcome::NotFound => Err(ApiError::NotFound(format!("no held change {id}"))),
        DecideOutcome::NotPending(record) => Err(ApiError::Conflict(format!(
            "held change {id} is {}, not pending{}",
            record.status.as_str(),
            record
                .decided_by
                .map(|who| format!(" (decided by {who})"))
                .unwrap_or_default()
        ))),
        DecideOutcome::Stale { record, current } => {
            Err(ApiError::Conflict(stale_message(&record, current)))
        }
    }
}

/// `POST /admin/pricing/held-changes/{id}/approve`
#[utoipa::path(
    tag = "admin",
    summary = "Approve a held price change",
    description = "Applies the new price, if the stored price is still the one the change was held against; history records the change with the approver.",
    params(("id" = String, Path, format = Uuid, description = "The held change's id.")),
    responses(
        (status = 200, description = "Approved and applied.", body = HeldChange),
        (status = 400, description = "The id is not a UUID.", body = ErrorBody),
        (status = 404, description = "No such held change.", body = ErrorBody),
        (status = 409, description = "Not pending, or the stored price moved since it was held.", body = ErrorBody),
    )
)]
#[post("/held-changes/{id}/approve")]
pub(crate) async fn approve_held(
    engine: web::Data<EngineHandle>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<Json<HeldChange>, ApiError> {
    decide(&engine, &admin, &path, Decision::Approve).await
}

/// `POST /admin/pricing/held-changes/{id}/reject`
#[utoipa::path(
    tag = "admin",
    summary = "Reject a held price change",
    description = "Keeps the old price. While the provider keeps listing exactly this price, later syncs do not hold it again.",
    params(("id" = String, Path, format = Uuid, description = "The held change's id.")),
    responses(
        (status = 200, description = "Rejected.", body = HeldChange),
        (status = 400, description = "The id is not a UUID.", body = ErrorBody),
        (status = 404, description = "No such held change.", body = ErrorBody),
        (status = 409, description = "Not pending.", body = ErrorBody),
    )
)]
#[post("/held-changes/{id}/reject")]
pub(crate) async fn reject_held(
    engine: web::Data<EngineHandle>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<Json<HeldChange>, ApiError> {
    decide(&engine, &admin, &path, Decision::Reject).await
}
