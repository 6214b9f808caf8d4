//! Bodies of the admin API: triggers, syncs, the scheduler and locks
//! (locks are the store's leases; the API keeps the established name).

use std::collections::BTreeMap;

use pricesync_domain::{Cadence, JobState, ProviderRunStatus};
use pricesync_engine::JobView;
use pricesync_store::{JobRecord, Lease, ProviderLog, ScheduleRecord};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::rfc3339;

/// Where a sync is followed.
pub(crate) fn poll_url(id: Uuid) -> String {
    format!("{}/sync/{id}", crate::api::admin::SCOPE)
}

/// Body of a trigger (optional: an empty body syncs every configured
/// provider).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "providers": ["openrouter"], "dry_run": false }))]
pub struct TriggerBody {
    /// The providers to sync (default: every configured provider).
    #[schema(nullable = false)]
    pub providers: Option<Vec<String>>,
    /// Compute and report, write no prices.
    #[serde(default)]
    pub dry_run: bool,
}

/// A sync was queued (202).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncQueued {
    /// The sync's id.
    pub sync_id: Uuid,
    /// Always `queued`.
    #[schema(example = "queued")]
    pub status: JobState,
    /// Where to follow it (also in `Location`).
    #[schema(example = "/admin/pricing/sync/0190f5a2-0000-7000-8000-000000000000")]
    pub poll_url: String,
    /// The providers it syncs.
    pub providers: Vec<String>,
    /// Whether it writes no prices.
    pub dry_run: bool,
    /// Who asked (`admin:<name>`).
    #[schema(example = "admin:ops")]
    pub triggered_by: String,
    /// When.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub triggered_at: OffsetDateTime,
}

impl From<&JobRecord> for SyncQueued {
    fn from(job: &JobRecord) -> Self {
        Self {
            sync_id: job.id,
            // The record is the one just inserted: queued, whatever a worker
            // has done with it since.
            status: JobState::Queued,
            poll_url: poll_url(job.id),
            providers: job.providers.clone(),
            dry_run: job.dry_run,
            triggered_by: job.triggered_by.clone(),
            triggered_at: job.created_at,
        }
    }
}

/// The lock a busy provider is held by.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusyLock {
    /// The lock's key.
    pub key: String,
    /// Who holds it.
    pub holder: String,
    /// When it was taken.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub acquired_at: OffsetDateTime,
    /// When it lapses unless renewed.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
}

impl From<&Lease> for BusyLock {
    fn from(lease: &Lease) -> Self {
        Self {
            key: lease.key.clone(),
            holder: lease.requested_by.clone(),
            acquired_at: lease.acquired_at,
            expires_at: lease.expires_at,
        }
    }
}

/// The one code of [`SyncBusy::error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BusyCode {
    /// A sync of a requested provider is queued or running.
    SyncInProgress,
}

/// A sync of a requested provider is already queued or running (429, with
/// `Retry-After`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncBusy {
    /// Always `sync_in_progress`.
    pub error: BusyCode,
    /// What is going on, for people.
    pub message: String,
    /// The sync already queued or running.
    pub active_sync_id: Uuid,
    /// Where to follow it.
    pub poll_url: String,
    /// The provider's lock, if it is held.
    #[schema(required = true)]
    pub lock: Option<BusyLock>,
}

impl SyncBusy {
    /// The refusal naming `active`, the sync in the way of `provider`.
    pub(crate) fn new(active: &JobRecord, provider: &str, lease: Option<&Lease>) -> Self {
        let doing = if active.state == JobState::Queued {
            "queued"
        } else {
            "running"
        };
        Self {
            error: BusyCode::SyncInProgress,
            message: format!(
                "a sync of {provider} is already {doing} (sync {}); poll it or retry later",
                active.id
            ),
            active_sync_id: active.id,
            poll_url: poll_url(active.id),
            lock: lease.map(BusyLock::from),
        }
    }
}

/// Where one provider of a sync stands before it has run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderPending {
    /// The sync is queued.
    Queued,
    /// The sync runs and has not finished this provider.
    Running,
    /// The sync ended without running this provider.
    NotRun,
}

/// Where one provider of a sync stands: `queued`, `running` or `not_run`
/// until it has run, then how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ProviderResultStatus {
    /// It has not run.
    Pending(ProviderPending),
    /// How it ended.
    Ran(ProviderRunStatus),
}

/// One provider's part of a sync.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProviderResult)]
pub struct ProviderView {
    /// Where it stands, or how it ended.
    pub status: ProviderResultStatus,
    /// Models in the provider's list.
    pub models_fetched: u32,
    /// Models added.
    pub models_added: u32,
    /// Models whose prices changed.
    pub models_updated: u32,
    /// Models unchanged.
    pub models_unchanged: u32,
    /// Models skipped (invalid).
    pub models_skipped: u32,
    /// Models removed.
    pub models_removed: u32,
    /// Errors.
    pub errors: u32,
    /// Whether removals were held back because the list shrank too much.
    pub removals_suppressed: bool,
    /// Price changes held for an admin's approval (see
    /// `GET /admin/pricing/held-changes?sync_id=`).
    pub changes_held: u32,
    /// How long the provider's run took, once it ran.
    #[schema(required = true)]
    pub duration_ms: Option<u64>,
    /// Its error, if it failed.
    #[schema(required = true)]
    pub error: Option<String>,
}

impl ProviderView {
    fn pending(status: ProviderPending) -> Self {
        Self {
            status: ProviderResultStatus::Pending(status),
            models_fetched: 0,
            models_added: 0,
            models_updated: 0,
            models_unchanged: 0,
            models_skipped: 0,
            models_removed: 0,
            errors: 0,
            removals_suppressed: false,
            changes_held: 0,
            duration_ms: None,
            error: None,
        }
    }
}

impl From<&ProviderLog> for ProviderView {
    fn from(log: &ProviderLog) -> Self {
        Self {
            status: ProviderResultStatus::Ran(log.status),
            models_fetched: log.models_fetched,
            models_added: log.models_added,
            models_updated: log.models_updated,
            models_unchanged: log.models_unchanged,
            models_skipped: log.models_skipped,
            models_removed: log.models_removed,
            errors: log.errors,
            removals_suppressed: log.removals_suppressed,
            changes_held: log.changes_held,
            duration_ms: Some(log.duration_ms),
            error: log.error.clone(),
        }
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

/// A sync with its per-provider results.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncJob {
    /// The sync's id.
    pub sync_id: Uuid,
    /// Its state.
    pub status: JobState,
    /// 0 to 100.
    pub progress_percent: u32,
    /// How many providers it syncs.
    pub providers_total: u32,
    /// How many are done.
    pub providers_done: u32,
    /// Models processed so far.
    pub models_processed: u64,
    /// Whether it writes no prices.
    pub dry_run: bool,
    /// Which attempt this is.
    pub attempt: u32,
    /// How many attempts it gets.
    pub max_attempts: u32,
    /// Who asked (`admin:<name>`, or the scheduler).
    pub triggered_by: String,
    /// When it was queued.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub triggered_at: OffsetDateTime,
    /// When it started.
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub started_at: Option<OffsetDateTime>,
    /// When it ended.
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub completed_at: Option<OffsetDateTime>,
    /// How long it ran, once ended.
    #[schema(required = true)]
    pub duration_ms: Option<u64>,
    /// Models fetched, over the providers that ran.
    pub models_fetched: u32,
    /// Models added.
    pub models_added: u32,
    /// Models whose prices changed.
    pub models_updated: u32,
    /// Models unchanged.
    pub models_unchanged: u32,
    /// Models skipped (invalid).
    pub models_skipped: u32,
    /// Models removed.
    pub models_removed: u32,
    /// Errors.
    pub errors: u32,
    /// Price changes held for an admin's approval.
    pub changes_held: u32,
    /// Why it failed.
    #[schema(required = true)]
    pub error_message: Option<String>,
    /// Whether an admin asked it to stop.
    pub cancel_requested: bool,
    /// The schedule that queued it.
    #[schema(required = true)]
    pub schedule: Option<String>,
    /// Each provider's part, by provider name.
    pub providers: BTreeMap<String, ProviderView>,
}

impl From<&JobView> for SyncJob {
    fn from(view: &JobView) -> Self {
        let job = &view.job;
        let pending = match job.state {
            JobState::Queued => ProviderPending::Queued,
            JobState::InProgress => ProviderPending::Running,
            _ => ProviderPending::NotRun,
        };
        let mut providers: BTreeMap<String, ProviderView> = job
            .providers
            .iter()
            .map(|name| (name.clone(), ProviderView::pending(pending)))
            .collect();
        for log in &view.providers {
            providers.insert(log.provider.clone(), ProviderView::from(log));
        }
        let sum = |f: fn(&ProviderLog) -> u32| view.providers.iter().map(f).sum::<u32>();
        let duration_ms = match (job.started_at, job.finished_at) {
            (Some(start), Some(end)) => {
                Some(u64::try_from((end - start).whole_milliseconds()).unwrap_or(0))
            }
            _ => None,
        };
        Self {
            sync_id: job.id,
            status: job.state,
            progress_percent: progress_percent(job),
            providers_total: job.providers_total,
            providers_done: job.providers_done,
            models_processed: job.models_processed,
            dry_run: job.dry_run,
            attempt: job.attempt,
            max_attempts: job.max_attempts,
            triggered_by: job.triggered_by.clone(),
            triggered_at: job.created_at,
            started_at: job.started_at,
            completed_at: job.finished_at,
            duration_ms,
            models_fetched: sum(|l| l.models_fetched),
            models_added: sum(|l| l.models_added),
            models_updated: sum(|l| l.models_updated),
            models_unchanged: sum(|l| l.models_unchanged),
            models_skipped: sum(|l| l.models_skipped),
            models_removed: sum(|l| l.models_removed),
            errors: sum(|l| l.errors),
            changes_held: sum(|l| l.changes_held),
            error_message: job.error.clone(),
            cancel_requested: job.cancel_requested,
            schedule: job.schedule_name.clone(),
            providers,
        }
    }
}

/// A sync in a listing.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncSummary {
    /// The sync's id.
    pub sync_id: Uuid,
    /// Its state.
    pub status: JobState,
    /// 0 to 100.
    pub progress_percent: u32,
    /// The providers it syncs.
    pub providers: Vec<String>,
    /// Whether it writes no prices.
    pub dry_run: bool,
    /// Who asked.
    pub triggered_by: String,
    /// When it was queued.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub triggered_at: OffsetDateTime,
    /// When it started.
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub started_at: Option<OffsetDateTime>,
    /// When it ended.
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub completed_at: Option<OffsetDateTime>,
    /// Which attempt this is.
    pub attempt: u32,
    /// Why it failed.
    #[schema(required = true)]
    pub error_message: Option<String>,
    /// Where to follow it.
    pub poll_url: String,
}

impl From<&JobRecord> for SyncSummary {
    fn from(job: &JobRecord) -> Self {
        Self {
            sync_id: job.id,
            status: job.state,
            progress_percent: progress_percent(job),
            providers: job.providers.clone(),
            dry_run: job.dry_run,
            triggered_by: job.triggered_by.clone(),
            triggered_at: job.created_at,
            started_at: job.started_at,
            completed_at: job.finished_at,
            attempt: job.attempt,
            error_message: job.error.clone(),
            poll_url: poll_url(job.id),
        }
    }
}

/// The queued and running syncs.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActiveSyncs {
    /// The syncs.
    pub active_syncs: Vec<SyncSummary>,
    /// How many.
    pub count: usize,
}

impl From<&[JobRecord]> for ActiveSyncs {
    fn from(jobs: &[JobRecord]) -> Self {
        Self {
            active_syncs: jobs.iter().map(SyncSummary::from).collect(),
            count: jobs.len(),
        }
    }
}

/// A page of syncs, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncList {
    /// The syncs.
    pub syncs: Vec<SyncSummary>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<Uuid>,
}

impl SyncList {
    /// A page of `limit` syncs from `jobs`, which holds one more when
    /// another page exists.
    pub(crate) fn page(mut jobs: Vec<JobRecord>, limit: usize) -> Self {
        Self {
            next_cursor: super::take_page(&mut jobs, limit, |j| j.id),
            syncs: jobs.iter().map(SyncSummary::from).collect(),
        }
    }
}

/// The answer to a cancel: 200 when a queued sync was cancelled, 202 when a
/// running one was asked to stop.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncCancelled {
    /// The sync's id.
    pub sync_id: Uuid,
    /// Its state now.
    pub status: JobState,
    /// What happens next, for people.
    pub message: String,
    /// Where to follow it (202 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub poll_url: Option<String>,
}

impl SyncCancelled {
    /// A queued sync, now cancelled.
    pub(crate) fn cancelled(job: &JobRecord) -> Self {
        Self {
            sync_id: job.id,
            status: job.state,
            message: "the sync was queued and is now cancelled".to_owned(),
            poll_url: None,
        }
    }

    /// A running sync, asked to stop.
    pub(crate) fn requested(job: &JobRecord) -> Self {
        Self {
            sync_id: job.id,
            status: job.state,
            message:
                "the sync is running; it stops at its next safe point and writes nothing after"
                    .to_owned(),
            poll_url: Some(poll_url(job.id)),
        }
    }
}

/// The outcome of a provider's last run.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LastRun {
    /// When it ended.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// How long ago, in seconds.
    pub seconds_ago: i64,
    /// How it ended.
    pub status: ProviderRunStatus,
}

/// A provider's last sync.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderLastSync {
    /// When its last run ended; null if it never ran.
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub last_sync_at: Option<OffsetDateTime>,
    /// How long ago, in seconds.
    #[schema(required = true)]
    pub seconds_ago: Option<i64>,
    /// How it ended.
    #[schema(required = true)]
    pub status: Option<ProviderRunStatus>,
    /// Its error, if it failed.
    #[schema(required = true)]
    pub error: Option<String>,
    /// The last run that succeeded.
    #[schema(required = true)]
    pub last_success: Option<LastRun>,
}

impl ProviderLastSync {
    /// From a provider's last run and its last successful one, at `now`.
    pub(crate) fn new(
        last: Option<&ProviderLog>,
        last_ok: Option<&ProviderLog>,
        now: OffsetDateTime,
    ) -> Self {
        let ago = |l: &ProviderLog| (now - l.finished_at).whole_seconds().max(0);
        Self {
            last_sync_at: last.map(|l| l.finished_at),
            seconds_ago: last.map(ago),
            status: last.map(|l| l.status),
            error: last.and_then(|l| l.error.clone()),
            last_success: last_ok
                .filter(|l| l.status == ProviderRunStatus::Succeeded)
                .map(|l| LastRun {
                    at: l.finished_at,
                    seconds_ago: ago(l),
                    status: l.status,
                }),
        }
    }
}

/// A schedule of the scheduler.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Its name.
    pub name: String,
    /// The providers it syncs.
    pub providers: Vec<String>,
    /// Whether it runs.
    pub enabled: bool,
    /// Its interval, in hours; `null` for a cron schedule.
    #[schema(required = true)]
    pub interval_hours: Option<f64>,
    /// Its cron expression (five fields, UTC); `null` for an interval
    /// schedule.
    #[schema(required = true)]
    pub cron: Option<String>,
    /// When it runs next.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub next_run_at: OffsetDateTime,
    /// The slot it last queued a sync for.
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub last_slot_at: Option<OffsetDateTime>,
    /// The sync it last queued.
    #[schema(required = true)]
    pub last_sync_id: Option<Uuid>,
    /// Failed syncs in a row.
    pub consecutive_failures: u32,
}

impl From<&ScheduleRecord> for Schedule {
    fn from(s: &ScheduleRecord) -> Self {
        Self {
            name: s.name.clone(),
            providers: s.providers.clone(),
            enabled: s.enabled,
            interval_hours: interval_hours(&s.cadence),
            cron: cron_expression(&s.cadence),
            next_run_at: s.next_run_at,
            last_slot_at: s.last_slot_at,
            last_sync_id: s.last_job_id,
            consecutive_failures: s.consecutive_failures,
        }
    }
}

/// How a schedule runs, for people: `every 6 h` or `cron "0 3 * * *" UTC`.
pub(crate) fn describe_cadence(interval_hours: Option<f64>, cron: Option<&str>) -> String {
    match (cron, interval_hours) {
        (Some(cron), _) => format!("cron \"{cron}\" UTC"),
        (None, Some(hours)) => format!("every {hours} h"),
        (None, None) => "no cadence".to_owned(),
    }
}

fn interval_hours(cadence: &Cadence) -> Option<f64> {
    cadence.interval().map(|i| i.as_secs_f64() / 3600.0)
}

fn cron_expression(cadence: &Cadence) -> Option<String> {
    cadence.cron().map(|c| c.expression().to_owned())
}

/// The scheduler and each provider's last sync.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchedulerStatus {
    /// Whether the scheduler runs.
    pub enabled: bool,
    /// The default schedule's interval, in hours; `null` when it follows a
    /// cron expression.
    #[schema(required = true)]
    pub interval_hours: Option<f64>,
    /// The default schedule's cron expression (five fields, UTC); `null`
    /// when it runs by an interval.
    #[schema(required = true)]
    pub cron: Option<String>,
    /// The configured providers.
    pub providers: Vec<String>,
    /// The next run of any enabled schedule.
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub next_run_at: Option<OffsetDateTime>,
    /// The schedules.
    pub schedules: Vec<Schedule>,
    /// Each configured provider's last sync, by provider name.
    pub last_syncs: BTreeMap<String, ProviderLastSync>,
}

impl SchedulerStatus {
    /// What the servers sharing the database run, read from the schedules
    /// they recorded (not from this process's environment, which may
    /// differ): enabled when a schedule is, the `default` schedule's
    /// interval or cron expression, every scheduled provider. `None` when no server has
    /// recorded a schedule yet.
    pub(crate) async fn recorded(
        store: &pricesync_store::Store,
    ) -> Result<Option<Self>, pricesync_store::StoreError> {
        let schedules = store.list_schedules().await?;
        let Some(main) = schedules
            .iter()
            .find(|s| s.name == "default")
            .or_else(|| schedules.first())
        else {
            return Ok(None);
        };
        let mut providers: Vec<String> = Vec::new();
        for p in schedules.iter().flat_map(|s| &s.providers) {
            if !providers.contains(p) {
                providers.push(p.clone());
            }
        }
        let config = pricesync_engine::SchedulerConfig {
            enabled: schedules.iter().any(|s| s.enabled),
            cadence: main.cadence.clone(),
            providers: providers.clone(),
            ..pricesync_engine::SchedulerConfig::default()
        };
        Self::load(store, &config, &providers).await.map(Some)
    }

    /// Reads the schedules and the last runs of `providers` from the store.
    pub(crate) async fn load(
        store: &pricesync_store::Store,
        config: &pricesync_engine::SchedulerConfig,
        providers: &[String],
    ) -> Result<Self, pricesync_store::StoreError> {
        let schedules = store.list_schedules().await?;
        let now = OffsetDateTime::now_utc();
        let mut last_syncs = BTreeMap::new();
        for provider in providers {
            let (last, last_ok) = store.last_provider_runs(provider).await?;
            last_syncs.insert(
                provider.clone(),
                ProviderLastSync::new(last.as_ref(), last_ok.as_ref(), now),
            );
        }
        Ok(Self {
            enabled: config.enabled,
            interval_hours: interval_hours(&config.cadence),
            cron: cron_expression(&config.cadence),
            providers: config.providers.clone(),
            next_run_at: schedules
                .iter()
                .filter(|s| s.enabled)
                .map(|s| s.next_run_at)
                .min(),
            schedules: schedules.iter().map(Schedule::from).collect(),
            last_syncs,
        })
    }
}

/// A lock: the lease of a provider's sync, with its fencing token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Its key, such as `pricing_sync:openrouter`.
    pub key: String,
    /// Who asked for the sync that holds it (`admin:<name>`, `scheduler`).
    pub holder: String,
    /// The process that holds it.
    pub owner: String,
    /// The fencing token: writes with an older one fail.
    pub fence: i64,
    /// When it was taken.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub acquired_at: OffsetDateTime,
    /// When it was last renewed.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub renewed_at: OffsetDateTime,
    /// When it lapses unless renewed.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    /// Whether it has lapsed.
    pub expired: bool,
}

impl Lock {
    /// The lock of `lease`, as it stands at `now`.
    pub(crate) fn new(lease: &Lease, now: OffsetDateTime) -> Self {
        Self {
            key: lease.key.clone(),
            holder: lease.requested_by.clone(),
            owner: lease.worker.clone(),
            fence: lease.fence,
            acquired_at: lease.acquired_at,
            renewed_at: lease.renewed_at,
            expires_at: lease.expires_at,
            expired: lease.expires_at <= now,
        }
    }
}

/// The locks.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockList {
    /// The locks.
    pub locks: Vec<Lock>,
    /// How many.
    pub count: usize,
}

impl LockList {
    /// The locks of `leases`, as they stand at `now`.
    pub(crate) fn new(leases: &[Lease], now: OffsetDateTime) -> Self {
        Self {
            locks: leases.iter().map(|l| Lock::new(l, now)).collect(),
            count: leases.len(),
        }
    }
}

/// A lock was forcibly released.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockReleased {
    /// The lock as it was.
    pub released: Lock,
    /// Who released it (`admin:<name>`).
    pub released_by: String,
}
