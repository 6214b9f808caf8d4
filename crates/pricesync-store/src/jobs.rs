//! Sync jobs: race-free enqueue, claim, heartbeats, guarded transitions,
//! rescue, cancel, the per-provider log and pruning.
//!
//! Every transition of a running job is guarded in SQL by
//! `state = 'in_progress' AND worker = $me AND attempt = $n`, so a worker
//! whose job was rescued cannot complete it. The primary key of
//! `pricing_sync_active_providers` makes a second queued or running job for a
//! provider impossible, across replicas, without a check-then-insert race.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, RunQueryDsl};
use pricesync_domain::{JobState, ProviderId, ProviderRunStatus};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::batch::{binds, BatchInsert, InsertRow, Upsert};
use crate::leases::{self, provider_lease_key, Lease, LeaseRow, PROVIDER_LEASE_PREFIX};
use crate::schema::{
    pricing_sync_active_providers as active, pricing_sync_jobs as jobs, pricing_sync_lock as lock,
    pricing_sync_log as log,
};
use crate::sql_types::{DbNow, DbNowPlus, DbTimestamp, DbUuid, SqlTime, SqlUuid};
use crate::store::on_conn;
use crate::{BackendKind, Store, StoreError, StoreResult};

/// The longest error text stored on a job or log row.
pub const MAX_ERROR_CHARS: usize = 500;

/// Cuts an error message to [`MAX_ERROR_CHARS`] characters.
pub fn truncate_error(message: &str) -> String {
    if message.chars().count() <= MAX_ERROR_CHARS {
        return message.to_owned();
    }
    let mut out: String = message.chars().take(MAX_ERROR_CHARS - 1).collect();
    out.push('…');
    out
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The providers to sync, in order; at least one.
    pub providers: Vec<ProviderId>,
    /// Compute and report, write no prices.
    pub dry_run: bool,
    /// Who asked: `admin:<name>`, `scheduler`, `cli`.
    pub triggered_by: String,
    /// Attempts before a job whose worker keeps dying is failed.
    pub max_attempts: u32,
    /// The schedule slot this job is for, if the scheduler made it.
    pub schedule: Option<ScheduleSlot>,
}

/// A schedule's slot: at most one job per slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSlot {
    /// The schedule.
    pub name: String,
    /// The slot's time.
    pub slot: OffsetDateTime,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRecord {
    /// The job's id (`sync_id` in the API).
    pub id: Uuid,
    /// Its state.
    pub state: JobState,
    /// The providers it syncs.
    pub providers: Vec<String>,
    /// Whether it writes prices.
    pub dry_run: bool,
    /// Who asked.
    pub triggered_by: String,
    /// Attempts started so far.
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// The worker running it, if running.
    pub worker: Option<String>,
    /// An admin asked to cancel it.
    pub cancel_requested: bool,
    /// When it was enqueued.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When its current (last) attempt started.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// Its worker's last heartbeat.
    #[serde(with = "time::serde::rfc3339::option")]
    pub heartbeat_at: Option<OffsetDateTime>,
    /// When it reached a final state.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Providers in the job.
    pub providers_total: u32,
    /// Providers finished.
    pub providers_done: u32,
    /// Models processed so far.
    pub models_processed: u64,
    /// Why it failed, truncated, secret-free.
    pub error: Option<String>,
    /// The schedule that made it, if any.
    pub schedule_name: Option<String>,
}

#[derive(Queryable, QueryableByName, Selectable)]
#[diesel(table_name = jobs)]
pub(crate) struct JobRow {
    id: SqlUuid,
    state: String,
    providers: String,
    dry_run: bool,
    triggered_by: String,
    attempt: i32,
    max_attempts: i32,
    worker: Option<String>,
    cancel_requested: bool,
    created_at: SqlTime,
    started_at: Option<SqlTime>,
    heartbeat_at: Option<SqlTime>,
    finished_at: Option<SqlTime>,
    providers_total: i32,
    providers_done: i32,
    models_processed: i64,
    error: Option<String>,
    schedule_name: Option<String>,
}

impl TryFrom<JobRow> for JobRecord {
    type Error = StoreError;

    fn try_from(row: JobRow) -> Result<Self, StoreError> {
        let corrupt = |what: String| StoreError::Corrupt(format!("job {}: {what}", row.id.0));
        Ok(Self {
            id: row.id.0,
            state: row
                .state
                .parse()
                .map_err(|e: pricesync_domain::ParseStateError| corrupt(e.to_string()))?,
            providers: row.providers.split(',').map(str::to_owned).collect(),
            dry_run: row.dry_run,
            triggered_by: row.triggered_by,
            attempt: u32::try_from(row.attempt).map_err(|_| corrupt("negative attempt".into()))?,
            max_attempts: u32::try_from(row.max_attempts)
                .map_err(|_| corrupt("negative max".into()))?,
            worker: row.worker,
            cancel_requested: row.cancel_requested,
            created_at: row.created_at.0,
            started_at: row.started_at.map(|t| t.0),
            heartbeat_at: row.heartbeat_at.map(|t| t.0),
            finished_at: row.finished_at.map(|t| t.0),
            providers_total: u32::try_from(row.providers_total).unwrap_or(0),
            providers_done: u32::try_from(row.providers_done).unwrap_or(0),
            models_processed: u64::try_from(row.models_processed).unwrap_or(0),
            error: row.error,
            schedule_name: row.schedule_name,
        })
    }
}

/// A provider whose job is queued or running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusyProvider {
    /// The job.
    pub job: JobRecord,
    /// The provider.
    pub provider: String,
    /// Its lease, when it is being synced right now.
    pub lease: Option<Lease>,
}

/// What an enqueue did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnqueueOutcome {
    /// The job is queued.
    Enqueued(JobRecord),
    /// A queued or running job already covers `provider`: nothing was
    /// enqueued.
    Busy {
        /// The job in the way.
        active: JobRecord,
        /// The provider they share.
        provider: String,
        /// That provider's lease, when its sync is running now.
        lease: Option<Lease>,
    },
    /// The schedule slot already has its job (another replica made it).
    SlotTaken,
}

impl From<BusyProvider> for EnqueueOutcome {
    fn from(busy: BusyProvider) -> Self {
        EnqueueOutcome::Busy {
            active: busy.job,
            provider: busy.provider,
            lease: busy.lease,
        }
    }
}

/// How the worker is doing, written with each heartbeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobProgress {
    /// Providers finished.
    pub providers_done: u32,
    /// Models processed so far.
    pub models_processed: u64,
}

/// What a heartbeat learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatOutcome {
    /// The job is still this worker's; `cancel_requested` says whether an
    /// admin asked to stop.
    Alive {
        /// Stop at the next safe point.
        cancel_requested: bool,
    },
    /// The job is no longer this worker's (rescued, or finished): stop now.
    Lost,
}

/// What a cancel request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The job was queued and is now cancelled.
    Cancelled(JobRecord),
    /// The job is running: its worker stops at the next safe point.
    Requested(JobRecord),
    /// The job had already finished.
    AlreadyFinished(JobRecord),
    /// No such job.
    NotFound,
}

/// What a rescue pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RescueReport {
    /// Jobs put back in the queue.
    pub requeued: Vec<Uuid>,
    /// Jobs failed for having used every attempt.
    pub failed: Vec<Uuid>,
}

/// One provider's result within a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderLog {
    /// The provider.
    pub provider: String,
    /// Its outcome.
    pub status: ProviderRunStatus,
    /// Models in the fetched list.
    pub models_fetched: u32,
    /// Added (and reactivated).
    pub models_added: u32,
    /// Updated.
    pub models_updated: u32,
    /// Unchanged.
    pub models_unchanged: u32,
    /// Skipped with a reason.
    pub models_skipped: u32,
    /// Marked removed.
    pub models_removed: u32,
    /// Errors met.
    pub errors: u32,
    /// The shrink guard held removals back.
    pub removals_suppressed: bool,
    /// How long the provider took, in milliseconds.
    pub duration_ms: u64,
    /// Why it failed, truncated, secret-free.
    pub error: Option<String>,
    /// When it started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When it finished.
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = log)]
struct LogRow {
    provider: String,
    status: String,
    models_fetched: i32,
    models_added: i32,
    models_updated: i32,
    models_unchanged: i32,
    models_skipped: i32,
    models_removed: i32,
    errors: i32,
    removals_suppressed: bool,
    duration_ms: i64,
    error: Option<String>,
    started_at: SqlTime,
    finished_at: SqlTime,
}

impl TryFrom<LogRow> for ProviderLog {
    type Error = StoreError;

    fn try_from(row: LogRow) -> Result<Self, StoreError> {
        let count = |n: i32| u32::try_from(n).unwrap_or(0);
        Ok(Self {
            status: row
                .status
                .parse()
                .map_err(|e: pricesync_domain::ParseStateError| {
                    StoreError::Corrupt(e.to_string())
                })?,
            provider: row.provider,
            models_fetched: count(row.models_fetched),
            models_added: count(row.models_added),
            models_updated: count(row.models_updated),
            models_unchanged: count(row.models_unchanged),
            models_skipped: count(row.models_skipped),
            models_removed: count(row.models_removed),
            errors: count(row.errors),
            removals_suppressed: row.removals_suppressed,
            duration_ms: u64::try_from(row.duration_ms).unwrap_or(0),
            error: row.error,
            started_at: row.started_at.0,
            finished_at: row.finished_at.0,
        })
    }
}

/// A provider's result to record; times come from the caller's measurement
/// of the run, the row's own from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProviderLog {
    /// The provider.
    pub provider: String,
    /// Its outcome.
    pub status: ProviderRunStatus,
    /// Counts: fetched, added, updated, unchanged, skipped, removed, errors.
    pub counts: [u32; 7],
    /// The shrink guard held removals back.
    pub removals_suppressed: bool,
    /// How long it took.
    pub duration: Duration,
    /// Why it failed.
    pub error: Option<String>,
}

struct LogInsert {
    id: SqlUuid,
    job_id: SqlUuid,
    provider: String,
    status: &'static str,
    counts: [i32; 7],
    removals_suppressed: bool,
    duration_ms: i64,
    error: Option<String>,
    /// `now - duration` and `now`, on the database clock.
    started_at: DbNowPlus,
    finished_at: DbNowPlus,
}

impl<DB> InsertRow<DB> for LogInsert
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<DbUuid>
        + diesel::sql_types::HasSqlType<DbTimestamp>
        + diesel::sql_types::HasSqlType<diesel::sql_types::Bool>
        + diesel::sql_types::HasSqlType<diesel::sql_types::Integer>,
    SqlUuid: diesel::serialize::ToSql<DbUuid, DB>,
    str: diesel::serialize::ToSql<Text, DB>,
    String: diesel::serialize::ToSql<Text, DB>,
    i32: diesel::serialize::ToSql<diesel::sql_types::Integer, DB>,
    i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
    bool: diesel::serialize::ToSql<diesel::sql_types::Bool, DB>,
    Option<String>: diesel::serialize::ToSql<diesel::sql_types::Nullable<Text>, DB>,
    crate::sql_types::DbNowPlus: diesel::query_builder::QueryFragment<DB>,
{
    const TABLE: &'static str = "pricing_sync_log";
    const COLUMNS: &'static str = "id, job_id, provider, status, models_fetched, models_added, \
        models_updated, models_unchanged, models_skipped, models_removed, errors, \
        removals_suppressed, duration_ms, error, started_at, finished_at";
    fn walk<'b>(&'b self, out: &mut diesel::query_builder::AstPass<'_, 'b, DB>) -> QueryResult<()> {
        use diesel::query_builder::QueryFragment;
        use diesel::sql_types::{BigInt, Bool, Integer, Nullable};
        binds!(out;
            DbUuid => &self.id,
            DbUuid => &self.job_id,
            Text => &self.provider,
            Text => self.status,
            Integer => &self.counts[0],
            Integer => &self.counts[1],
            Integer => &self.counts[2],
            Integer => &self.counts[3],
            Integer => &self.counts[4],
            Integer => &self.counts[5],
            Integer => &self.counts[6],
            Bool => &self.removals_suppressed,
            BigInt => &self.duration_ms,
            Nullable<Text> => &self.error,
        )?;
        // started_at = now - duration, finished_at = now: database clock.
        out.push_sql(", ");
        self.started_at.walk_ast(out.reborrow())?;
        out.push_sql(", ");
        self.finished_at.walk_ast(out.reborrow())
    }
}

const LOG_UPSERT: Upsert = Upsert {
    target: "job_id, provider",
    set_from_new: &[
        "status",
        "models_fetched",
        "models_added",
        "models_updated",
        "models_unchanged",
        "models_skipped",
        "models_removed",
        "errors",
        "removals_suppressed",
        "duration_ms",
        "error",
        "started_at",
        "finished_at",
    ],
    set_sql: "",
    touch: None,
};

/// Why an enqueue transaction rolled back.
pub(crate) enum EnqueueAbort {
    Store(StoreError),
    /// One of the job's providers is covered by another queued or running
    /// job.
    Busy,
    /// The schedule slot already has its job.
    SlotTaken,
}

impl From<diesel::result::Error> for EnqueueAbort {
    fn from(e: diesel::result::Error) -> Self {
        EnqueueAbort::Store(e.into())
    }
}

impl From<StoreError> for EnqueueAbort {
    fn from(e: StoreError) -> Self {
        EnqueueAbort::Store(e)
    }
}

/// The row of a new queued job; every other column takes its default, the
/// times from the database clock.
#[derive(Insertable)]
#[diesel(table_name = jobs)]
pub(crate) struct QueuedJob<'a> {
    id: SqlUuid,
    state: &'static str,
    providers: String,
    dry_run: bool,
    triggered_by: &'a str,
    max_attempts: i32,
    providers_total: i32,
    schedule_name: Option<&'a str>,
    schedule_slot: Option<SqlTime>,
}

impl<'a> QueuedJob<'a> {
    pub(crate) fn new(job: &'a NewJob) -> Self {
        let slot = job.schedule.as_ref();
        Self {
            id: SqlUuid(Uuid::now_v7()),
            state: JobState::Queued.as_str(),
            providers: job
                .providers
                .iter()
                .map(ProviderId::as_str)
                .collect::<Vec<_>>()
                .join(","),
            dry_run: job.dry_run,
            triggered_by: &job.triggered_by,
            max_attempts: i32::try_from(job.max_attempts.max(1)).unwrap_or(i32::MAX),
            providers_total: i32::try_from(job.providers.len()).unwrap_or(i32::MAX),
            schedule_name: slot.map(|s| s.name.as_str()),
            schedule_slot: slot.map(|s| SqlTime(s.slot)),
        }
    }

    pub(crate) fn id(&self) -> SqlUuid {
        self.id
    }

    pub(crate) fn providers(&self) -> impl Iterator<Item = &str> {
        self.providers.split(',')
    }
}

/// Inserts a queued job (`$job`, a [`QueuedJob`]) and claims its providers
/// on `$conn`, inside the caller's transaction; evaluates to
/// `Result<JobRow, EnqueueAbort>`. The job row comes back from `RETURNING`,
/// database-clock columns included. A macro because the statements run on
/// each backend's connection type (see `on_conn!`).
///
/// The jobs table's only unique key a new row can meet is the schedule slot
/// (ids are fresh), so an insert that conflicts is a taken slot; the
/// active-providers key makes a claimed provider a busy one.
macro_rules! insert_queued {
    ($conn:ident, $job:expr) => {
        async {
            let job: &$crate::jobs::QueuedJob<'_> = $job;
            let row: Option<$crate::jobs::JobRow> =
                diesel::insert_into($crate::schema::pricing_sync_jobs::table)
                    .values(job)
                    .on_conflict_do_nothing()
                    .returning($crate::jobs::JobRow::as_returning())
                    .get_result($conn)
                    .await
                    .optional()?;
            let row = row.ok_or($crate::jobs::EnqueueAbort::SlotTaken)?;
            for provider in job.providers() {
                let claimed =
                    diesel::insert_into($crate::schema::pricing_sync_active_providers::table)
                        .values((
                            $crate::schema::pricing_sync_active_providers::provider.eq(provider),
                            $crate::schema::pricing_sync_active_providers::job_id.eq(job.id()),
                        ))
                        .on_conflict_do_nothing()
                        .execute($conn)
                        .await?;
                if claimed != 1 {
                    return Err($crate::jobs::EnqueueAbort::Busy);
                }
            }
            $crate::store::NotifyJobs::notify_new_job($conn).await?;
            Ok::<_, $crate::jobs::EnqueueAbort>(row)
        }
        .await
    };
}
pub(crate) use insert_queued;

/// How often an enqueue that finds its blocker gone (finished between the
/// insert and the read) tries again before giving up with
/// [`StoreError::Contended`].
const ENQUEUE_ATTEMPTS: usize = 5;

impl Store {
    /// Enqueues a job unless a queued or running job already covers one of
    /// its providers — decided by the database in one transaction, so 1000
    /// concurrent calls across replicas make exactly one job. A refusal
    /// carries the job in the way, the provider they share and that
    /// provider's lease, read in one query.
    pub async fn enqueue_job(&self, job: &NewJob) -> StoreResult<EnqueueOutcome> {
        // One read first: when a job is in the way (most triggers of a
        // burst) it answers without taking the single SQLite writer or a
        // write transaction. The insert stays the authority: this read can
        // only turn a request away early, never let a second job in.
        let names: Vec<&str> = job.providers.iter().map(ProviderId::as_str).collect();
        if let Some(busy) = self.active_job_with_lease(&names).await? {
            return Ok(busy.into());
        }
        self.insert_job(job).await
    }

    /// The transactional half of [`Store::enqueue_job`]: the insert, and on
    /// refusal the read of what is in the way.
    pub(crate) async fn insert_job(&self, job: &NewJob) -> StoreResult<EnqueueOutcome> {
        if job.providers.is_empty() {
            return Err(StoreError::InvalidArgument(
                "a job needs at least one provider".into(),
            ));
        }
        let names: Vec<&str> = job.providers.iter().map(ProviderId::as_str).collect();
        for _ in 0..ENQUEUE_ATTEMPTS {
            let new = QueuedJob::new(job);
            let result: Result<JobRow, EnqueueAbort> = on_conn!(self, writer, |conn| {
                conn.transaction(async |conn| insert_queued!(conn, &new))
                    .await
            });
            match result {
                Ok(row) => return Ok(EnqueueOutcome::Enqueued(JobRecord::try_from(row)?)),
                Err(EnqueueAbort::Store(e)) => return Err(e),
                Err(EnqueueAbort::SlotTaken) => return Ok(EnqueueOutcome::SlotTaken),
                Err(EnqueueAbort::Busy) => {
                    if let Some(busy) = self.active_job_with_lease(&names).await? {
                        return Ok(busy.into());
                    }
                    // The job in the way finished meanwhile: try again.
                }
            }
        }
        Err(StoreError::Contended {
            attempts: ENQUEUE_ATTEMPTS,
        })
    }

    /// A queued or running job that covers one of `providers`, with the
    /// provider and that provider's lease when it is being synced now — what
    /// a refused enqueue reports, in one query.
    pub async fn active_job_with_lease(
        &self,
        providers: &[&str],
    ) -> StoreResult<Option<BusyProvider>> {
        let row: Option<(JobRow, String, Option<LeaseRow>)> = on_conn!(self, readers, |conn| {
            active::table
                .inner_join(jobs::table)
                .left_join(
                    lock::table.on(lock::key.eq(PROVIDER_LEASE_PREFIX
                        .into_sql::<Text>()
                        .concat(active::provider))),
                )
                .filter(active::provider.eq_any(providers))
                .select((
                    JobRow::as_select(),
                    active::provider,
                    leases::COLUMNS.nullable(),
                ))
                .first(conn)
                .await
                .optional()?
        });
        row.map(|(job, provider, lease)| {
            Ok(BusyProvider {
                job: JobRecord::try_from(job)?,
                provider,
                lease: lease.map(Lease::from),
            })
        })
        .transpose()
    }

    /// One job.
    pub async fn get_job(&self, id: Uuid) -> StoreResult<Option<JobRecord>> {
        let row: Option<JobRow> = on_conn!(self, readers, |conn| {
            jobs::table
                .filter(jobs::id.eq(SqlUuid(id)))
                .select(JobRow::as_select())
                .first(conn)
                .await
                .optional()?
        });
        row.map(JobRecord::try_from).transpose()
    }

    /// The per-provider results of a job, by provider.
    pub async fn job_provider_logs(&self, id: Uuid) -> StoreResult<Vec<ProviderLog>> {
        let rows: Vec<LogRow> = on_conn!(self, readers, |conn| {
            log::table
                .filter(log::job_id.eq(SqlUuid(id)))
                .select(LogRow::as_select())
                .order(log::provider)
                .load(conn)
                .await?
        });
        rows.into_iter().map(ProviderLog::try_from).collect()
    }

    /// Queued and running jobs, oldest first.
    pub async fn active_jobs(&self) -> StoreResult<Vec<JobRecord>> {
        let rows: Vec<JobRow> = on_conn!(self, readers, |conn| {
            jobs::table
                .filter(
                    jobs::state.eq_any([JobState::Queued.as_str(), JobState::InProgress.as_str()]),
                )
                .select(JobRow::as_select())
                .order((jobs::created_at, jobs::id))
                .load(conn)
                .await?
        });
        rows.into_iter().map(JobRecord::try_from).collect()
    }

    /// Jobs, newest first, optionally of one state, a page at a time:
    /// `before` is the id of the last job of the previous page.
    pub async fn list_jobs(
        &self,
        state: Option<JobState>,
        limit: u32,
        before: Option<Uuid>,
    ) -> StoreResult<Vec<JobRecord>> {
        if !(1..=10_000).contains(&limit) {
            return Err(StoreError::InvalidArgument(format!(
                "limit {limit} is out of range; use 1 to 10000"
            )));
        }
        let cursor =
            match before {
                None => None,
                Some(id) => Some(self.get_job(id).await?.ok_or_else(|| {
                    StoreError::InvalidArgument(format!("cursor {id} names no job"))
                })?),
            };
        let rows: Vec<JobRow> = on_conn!(self, readers, |conn| {
            let mut query = jobs::table
                .select(JobRow::as_select())
                .order((jobs::created_at.desc(), jobs::id.desc()))
                .limit(i64::from(limit))
                .into_boxed();
            if let Some(state) = state {
                query = query.filter(jobs::state.eq(state.as_str()));
            }
            if let Some(c) = &cursor {
                query = query.filter(
                    jobs::created_at
                        .lt(SqlTime(c.created_at))
                        .or(jobs::created_at
                            .eq(SqlTime(c.created_at))
                            .and(jobs::id.lt(SqlUuid(c.id)))),
                );
            }
            query.load(conn).await?
        });
        rows.into_iter().map(JobRecord::try_from).collect()
    }

    /// Claims the oldest queued job for `worker` (`FOR UPDATE SKIP LOCKED`
    /// on PostgreSQL, so workers never wait on each other), starting its
    /// next attempt.
    pub async fn claim_next_job(&self, worker: &str) -> StoreResult<Option<JobRecord>> {
        let sql = match self.backend_kind() {
            BackendKind::Postgres => {
                "UPDATE pricing_sync_jobs SET state = 'in_progress', worker = $1, attempt = attempt + 1, \
                 started_at = now(), heartbeat_at = now() \
                 WHERE id = (SELECT id FROM pricing_sync_jobs WHERE state = 'queued' \
                             ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
                 RETURNING *"
            }
            BackendKind::Sqlite => {
                "UPDATE pricing_sync_jobs SET state = 'in_progress', worker = ?, attempt = attempt + 1, \
                 started_at = strftime('%Y-%m-%dT%H:%M:%fZ','now'), \
                 heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') \
                 WHERE id = (SELECT id FROM pricing_sync_jobs WHERE state = 'queued' \
                             ORDER BY created_at, id LIMIT 1) \
                 RETURNING *"
            }
        };
        let row: Option<JobRow> = on_conn!(self, writer, |conn| {
            diesel::sql_query(sql)
                .bind::<Text, _>(worker)
                .get_result(conn)
                .await
                .optional()?
        });
        row.map(JobRecord::try_from).transpose()
    }

    /// Records that `worker` still runs attempt `attempt` of `id`, with its
    /// progress.
    pub async fn heartbeat_job(
        &self,
        id: Uuid,
        worker: &str,
        attempt: u32,
        progress: JobProgress,
    ) -> StoreResult<HeartbeatOutcome> {
        let cancel: Option<bool> = on_conn!(self, writer, |conn| {
            diesel::update(guarded(id, worker, attempt))
                .set((
                    jobs::heartbeat_at.eq(DbNow.nullable()),
                    jobs::providers_done
                        .eq(i32::try_from(progress.providers_done).unwrap_or(i32::MAX)),
                    jobs::models_processed
                        .eq(i64::try_from(progress.models_processed).unwrap_or(i64::MAX)),
                ))
                .returning(jobs::cancel_requested)
                .get_result(conn)
                .await
                .optional()?
        });
        Ok(match cancel {
            Some(cancel_requested) => HeartbeatOutcome::Alive { cancel_requested },
            None => HeartbeatOutcome::Lost,
        })
    }

    /// Moves a running job to its final state and frees its providers;
    /// `false` when the job is no longer this worker's attempt.
    pub async fn finish_job(
        &self,
        id: Uuid,
        worker: &str,
        attempt: u32,
        state: JobState,
        progress: JobProgress,
        error: Option<&str>,
    ) -> StoreResult<bool> {
        if !state.is_terminal() {
            return Err(StoreError::InvalidArgument(format!(
                "{state} is not a final state"
            )));
        }
        let error = error.map(truncate_error);
        on_conn!(self, writer, |conn| {
            conn.transaction(async |conn| -> StoreResult<bool> {
                let updated = diesel::update(guarded(id, worker, attempt))
                    .set((
                        jobs::state.eq(state.as_str()),
                        jobs::finished_at.eq(DbNow.nullable()),
                        jobs::providers_done
                            .eq(i32::try_from(progress.providers_done).unwrap_or(i32::MAX)),
                        jobs::models_processed
                            .eq(i64::try_from(progress.models_processed).unwrap_or(i64::MAX)),
                        jobs::error.eq(&error),
                    ))
                    .execute(conn)
                    .await?;
                if updated == 1 {
                    diesel::delete(active::table.filter(active::job_id.eq(SqlUuid(id))))
                        .execute(conn)
                        .await?;
                }
                Ok(updated == 1)
            })
            .await
        })
    }

    /// Puts a running job back in the queue (shutdown). With
    /// `keep_attempt`, the attempt it used is given back.
    pub async fn requeue_job(
        &self,
        id: Uuid,
        worker: &str,
        attempt: u32,
        keep_attempt: bool,
    ) -> StoreResult<bool> {
        let back = i32::from(keep_attempt);
        let updated = on_conn!(self, writer, |conn| {
            diesel::update(guarded(id, worker, attempt))
                .set((
                    jobs::state.eq(JobState::Queued.as_str()),
                    jobs::worker.eq(None::<String>),
                    jobs::heartbeat_at.eq(None::<SqlTime>),
                    jobs::attempt.eq(jobs::attempt - back),
                ))
                .execute(conn)
                .await?
        });
        Ok(updated == 1)
    }

    /// Rescues jobs whose worker stopped heartbeating for longer than
    /// `timeout`: re-queued while attempts remain, else failed with a clear
    /// message (and their providers freed). The dead worker's leases on the
    /// job's providers are removed, so the next attempt need not wait for
    /// them to expire; fencing keeps a worker that was only paused from
    /// writing.
    pub async fn rescue_stale_jobs(&self, timeout: Duration) -> StoreResult<RescueReport> {
        let message = truncate_error(&format!(
            "the worker stopped heartbeating for more than {} s on its last allowed attempt; \
             the job was failed by the rescuer",
            timeout.as_secs()
        ));
        on_conn!(self, writer, |conn| {
            conn.transaction(async |conn| -> StoreResult<RescueReport> {
                let stale = jobs::state
                    .eq(JobState::InProgress.as_str())
                    .and(jobs::heartbeat_at.lt(DbNowPlus::before(timeout).nullable()));
                let found: Vec<(SqlUuid, Option<String>, String, i32, i32)> = jobs::table
                    .filter(stale.clone())
                    .select((
                        jobs::id,
                        jobs::worker,
                        jobs::providers,
                        jobs::attempt,
                        jobs::max_attempts,
                    ))
                    .load(conn)
                    .await?;
                let mut report = RescueReport::default();
                for (id, worker, providers, attempt, max_attempts) in found {
                    // Re-check staleness in the UPDATE: another rescuer (or a
                    // late heartbeat) may have got there first.
                    let target = jobs::table.filter(jobs::id.eq(id)).filter(stale.clone());
                    let changed = if attempt < max_attempts {
                        diesel::update(target)
                            .set((
                                jobs::state.eq(JobState::Queued.as_str()),
                                jobs::worker.eq(None::<String>),
                                jobs::heartbeat_at.eq(None::<SqlTime>),
                            ))
                            .execute(conn)
                            .await?
                    } else {
                        let failed = diesel::update(target)
                            .set((
                                jobs::state.eq(JobState::Failed.as_str()),
                                jobs::finished_at.eq(DbNow.nullable()),
                                jobs::error.eq(&message),
                            ))
                            .execute(conn)
                            .await?;
                        if failed == 1 {
                            diesel::delete(active::table.filter(active::job_id.eq(id)))
                                .execute(conn)
                                .await?;
                        }
                        failed
                    };
                    if changed != 1 {
                        continue;
                    }
                    // The dead worker's leases on the job's providers go too:
                    // should it still be alive, the fence stops its writes.
                    if let Some(worker) = worker {
                        let keys: Vec<String> =
                            providers.split(',').map(provider_lease_key).collect();
                        diesel::delete(
                            lock::table
                                .filter(lock::owner.eq(worker))
                                .filter(lock::key.eq_any(keys)),
                        )
                        .execute(conn)
                        .await?;
                    }
                    if attempt < max_attempts {
                        report.requeued.push(id.0);
                    } else {
                        report.failed.push(id.0);
                    }
                }
                Ok(report)
            })
            .await
        })
    }

    /// Cancels a queued job at once, or asks a running job's worker to stop
    /// at its next safe point.
    pub async fn cancel_job(&self, id: Uuid, by: &str) -> StoreResult<CancelOutcome> {
        let message = truncate_error(&format!("cancelled by {by}"));
        let cancelled_now = on_conn!(self, writer, |conn| {
            conn.transaction(async |conn| -> StoreResult<bool> {
                let updated = diesel::update(
                    jobs::table
                        .filter(jobs::id.eq(SqlUuid(id)))
                        .filter(jobs::state.eq(JobState::Queued.as_str())),
                )
                .set((
                    jobs::state.eq(JobState::Cancelled.as_str()),
                    jobs::finished_at.eq(DbNow.nullable()),
                    jobs::error.eq(&message),
                ))
                .execute(conn)
                .await?;
                if updated == 1 {
                    diesel::delete(active::table.filter(active::job_id.eq(SqlUuid(id))))
                        .execute(conn)
                        .await?;
                    return Ok(true);
                }
                diesel::update(
                    jobs::table
                        .filter(jobs::id.eq(SqlUuid(id)))
                        .filter(jobs::state.eq(JobState::InProgress.as_str())),
                )
                .set(jobs::cancel_requested.eq(true))
                .execute(conn)
                .await?;
                Ok(false)
            })
            .await?
        });
        let Some(job) = self.get_job(id).await? else {
            return Ok(CancelOutcome::NotFound);
        };
        Ok(if cancelled_now {
            CancelOutcome::Cancelled(job)
        } else if job.state == JobState::InProgress {
            CancelOutcome::Requested(job)
        } else {
            CancelOutcome::AlreadyFinished(job)
        })
    }

    /// Records (or replaces) a provider's result within a job.
    pub async fn record_provider_log(
        &self,
        job_id: Uuid,
        entry: &NewProviderLog,
    ) -> StoreResult<()> {
        let row = LogInsert {
            id: SqlUuid(Uuid::now_v7()),
            job_id: SqlUuid(job_id),
            provider: entry.provider.clone(),
            status: entry.status.as_str(),
            counts: entry.counts.map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
            removals_suppressed: entry.removals_suppressed,
            duration_ms: i64::try_from(entry.duration.as_millis()).unwrap_or(i64::MAX),
            error: entry.error.as_deref().map(truncate_error),
            started_at: DbNowPlus::before(entry.duration),
            finished_at: DbNowPlus::millis(0),
        };
        on_conn!(self, writer, |conn| {
            BatchInsert {
                rows: std::slice::from_ref(&row),
                upsert: Some(LOG_UPSERT),
            }
            .execute(conn)
            .await?;
        });
        Ok(())
    }

    /// The newest log row of a provider, and its newest successful one.
    pub async fn last_provider_runs(
        &self,
        provider: &str,
    ) -> StoreResult<(Option<ProviderLog>, Option<ProviderLog>)> {
        let (last, last_ok): (Option<LogRow>, Option<LogRow>) = on_conn!(self, readers, |conn| {
            let last = log::table
                .filter(log::provider.eq(provider))
                .select(LogRow::as_select())
                .order(log::finished_at.desc())
                .first(conn)
                .await
                .optional()?;
            let last_ok = log::table
                .filter(log::provider.eq(provider))
                .filter(log::status.eq(ProviderRunStatus::Succeeded.as_str()))
                .select(LogRow::as_select())
                .order(log::finished_at.desc())
                .first(conn)
                .await
                .optional()?;
            (last, last_ok)
        });
        Ok((
            last.map(ProviderLog::try_from).transpose()?,
            last_ok.map(ProviderLog::try_from).transpose()?,
        ))
    }

    /// How many jobs are in each state.
    pub async fn count_jobs_by_state(&self) -> StoreResult<Vec<(JobState, usize)>> {
        let rows: Vec<(String, i64)> = on_conn!(self, readers, |conn| {
            jobs::table
                .group_by(jobs::state)
                .select((jobs::state, diesel::dsl::count_star()))
                .load(conn)
                .await?
        });
        Ok(JobState::ALL
            .into_iter()
            .map(|state| {
                let count = rows
                    .iter()
                    .find(|(s, _)| s == state.as_str())
                    .map_or(0, |(_, n)| usize::try_from(*n).unwrap_or(0));
                (state, count)
            })
            .collect())
    }

    /// Deletes jobs (and their log rows) finished more than `retention` ago.
    pub async fn prune_finished_jobs(&self, retention: Duration) -> StoreResult<usize> {
        Ok(on_conn!(self, writer, |conn| {
            diesel::delete(
                jobs::table.filter(jobs::finished_at.lt(DbNowPlus::before(retention).nullable())),
            )
            .execute(conn)
            .await?
        }))
    }
}

/// The rows of a job that only its current worker and attempt may change.
type Guarded = diesel::dsl::Filter<
    diesel::dsl::Filter<
        diesel::dsl::Filter<
            diesel::dsl::Filter<jobs::table, diesel::dsl::Eq<jobs::id, SqlUuid>>,
            diesel::dsl::Eq<jobs::state, &'static str>,
        >,
        diesel::dsl::Eq<jobs::worker, String>,
    >,
    diesel::dsl::Eq<jobs::attempt, i32>,
>;

/// The rows of job `id` that only its current worker and attempt may change.
fn guarded(id: Uuid, worker: &str, attempt: u32) -> Guarded {
    jobs::table
        .filter(jobs::id.eq(SqlUuid(id)))
        .filter(jobs::state.eq(JobState::InProgress.as_str()))
        .filter(jobs::worker.eq(worker.to_owned()))
        .filter(jobs::attempt.eq(i32::try_from(attempt).unwrap_or(i32::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_truncated_to_500_characters() {
        let long = "é".repeat(800);
        let cut = truncate_error(&long);
        assert_eq!(cut.chars().count(), 500);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate_error("short"), "short");
    }
}
