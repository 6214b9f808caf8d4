//! Enqueue: one read of what is in the way, then the transactional insert
//! whose active-provider rows are the race-free authority.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{Bool, Integer, Nullable, Text};
use diesel_async::{AsyncConnection, RunQueryDsl};
use pricesync_domain::{JobState, ProviderId};
use uuid::Uuid;

use super::{JobRecord, JobRow, NewJob};
use crate::leases::{self, Lease, LeaseRow, PROVIDER_LEASE_PREFIX};
use crate::schema::{
    pricing_sync_active_providers as active, pricing_sync_jobs as jobs, pricing_sync_lock as lock,
};
use crate::sql_types::{DbNow, DbTimestamp, DbUuid, SqlTime, SqlUuid};
use crate::store::{on_conn, Backend};
use crate::{Store, StoreError, StoreResult};

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

/// Why an enqueue transaction rolled back.
pub(crate) enum EnqueueAbort {
    /// The database failed.
    Store(StoreError),
    /// The database refused the job.
    Refused(Refusal),
}

/// Why the database refused a job.
pub(crate) enum Refusal {
    /// One of the job's providers is covered by another queued or running
    /// job.
    Busy,
    /// The schedule slot already has its job.
    SlotTaken,
}

impl EnqueueAbort {
    /// Separates a refusal, an answer, from a failure. Used inside
    /// `on_conn!` with `?`, so that a connection that saw a failure is
    /// verified before its next use.
    pub(crate) fn settle<T>(result: Result<T, EnqueueAbort>) -> StoreResult<Result<T, Refusal>> {
        match result {
            Ok(value) => Ok(Ok(value)),
            Err(EnqueueAbort::Refused(refusal)) => Ok(Err(refusal)),
            Err(EnqueueAbort::Store(e)) => Err(e),
        }
    }
}

impl EnqueueAbort {
    /// The outcome of [`EnqueueInOneStatement`]: a unique violation there
    /// can only be a provider claimed by another job (the job's own
    /// conflicts are `ON CONFLICT DO NOTHING`), so it is a refusal.
    fn from_statement(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => EnqueueAbort::Refused(Refusal::Busy),
            other => other.into(),
        }
    }
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
// A `None` binds NULL rather than writing DEFAULT, so that the statement's
// text is the same for every job and diesel keeps it prepared.
#[diesel(treat_none_as_default_value = false)]
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
    /// The worker that starts the job's first attempt at once, if any
    /// (see [`Store::enqueue_started_job`]).
    #[diesel(skip_insertion)]
    claimed_by: Option<&'a str>,
}

impl<'a> QueuedJob<'a> {
    pub(crate) fn new(job: &'a NewJob, claimed_by: Option<&'a str>) -> Self {
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
            claimed_by,
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
            let row = row.ok_or($crate::jobs::EnqueueAbort::Refused(
                $crate::jobs::Refusal::SlotTaken,
            ))?;
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
                    return Err($crate::jobs::EnqueueAbort::Refused(
                        $crate::jobs::Refusal::Busy,
                    ));
                }
            }
            $crate::store::NotifyJobs::notify_new_job($conn).await?;
            Ok::<_, $crate::jobs::EnqueueAbort>(row)
        }
        .await
    };
}
pub(crate) use insert_queued;

/// The PostgreSQL enqueue in one statement: insert the job (a taken
/// schedule slot inserts nothing and returns no row), claim its providers
/// (a provider claimed by another job violates the key and fails the whole
/// statement, job included) and wake the workers (`pg_notify` is delivered
/// when the statement commits). One round trip instead of a transaction's
/// five; its text never changes, so it is prepared once per connection.
#[derive(Clone, Copy)]
struct EnqueueInOneStatement<'a> {
    job: &'a QueuedJob<'a>,
}

crate::sql_types::raw_statement!(EnqueueInOneStatement<'_>);

impl QueryFragment<Pg> for EnqueueInOneStatement<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let job = self.job;
        let claimed = job.claimed_by.is_some();
        out.push_sql(
            "WITH job AS (INSERT INTO pricing_sync_jobs (id, state, providers, dry_run, \
             triggered_by, max_attempts, providers_total, schedule_name, schedule_slot, \
             worker, attempt, started_at, heartbeat_at) VALUES (",
        );
        out.push_bind_param::<DbUuid, _>(&job.id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(if claimed {
            JobState::InProgress.as_str()
        } else {
            job.state
        })?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&job.providers)?;
        out.push_sql(", ");
        out.push_bind_param::<Bool, _>(&job.dry_run)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(job.triggered_by)?;
        out.push_sql(", ");
        out.push_bind_param::<Integer, _>(&job.max_attempts)?;
        out.push_sql(", ");
        out.push_bind_param::<Integer, _>(&job.providers_total)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&job.schedule_name)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<DbTimestamp>, _>(&job.schedule_slot)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&job.claimed_by)?;
        out.push_sql(", ");
        out.push_bind_param::<Integer, _>(if claimed { &1 } else { &0 })?;
        // Started now, on the database clock, when a worker takes the job.
        out.push_sql(", CASE WHEN ");
        out.push_bind_param::<Bool, _>(if claimed { &true } else { &false })?;
        out.push_sql(" THEN now() END, CASE WHEN ");
        out.push_bind_param::<Bool, _>(if claimed { &true } else { &false })?;
        out.push_sql(
            " THEN now() END) ON CONFLICT DO NOTHING RETURNING *), \
             claimed AS (INSERT INTO pricing_sync_active_providers (provider, job_id) \
             SELECT provider, job.id FROM job CROSS JOIN unnest(string_to_array(job.providers, ',')) AS provider), \
             woken AS (SELECT pg_notify('pricing_sync_jobs', '') FROM job) \
             SELECT job.* FROM job WHERE (SELECT count(*) FROM woken) >= 0",
        );
        Ok(())
    }
}

/// The names of a job's providers; a job needs at least one.
fn provider_names(job: &NewJob) -> StoreResult<Vec<&str>> {
    if job.providers.is_empty() {
        return Err(StoreError::InvalidArgument(
            "a job needs at least one provider".into(),
        ));
    }
    Ok(job.providers.iter().map(ProviderId::as_str).collect())
}

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
        self.enqueue(job, None).await
    }

    /// [`Store::enqueue_job`] for a process with an idle worker: the new
    /// job's first attempt is started by `worker` in the same statement
    /// (state `in_progress`, started and heartbeat now), so the worker runs
    /// it without a claim. It heartbeats, finishes and is rescued like any
    /// claimed job.
    pub async fn enqueue_started_job(
        &self,
        job: &NewJob,
        worker: &str,
    ) -> StoreResult<EnqueueOutcome> {
        self.enqueue(job, Some(worker)).await
    }

    async fn enqueue(&self, job: &NewJob, worker: Option<&str>) -> StoreResult<EnqueueOutcome> {
        let names = provider_names(job)?;
        // On SQLite, one read first: when a job is in the way (most
        // triggers of a burst) it answers without taking the single writer.
        // On PostgreSQL the insert is one statement that fails at once when
        // a provider is taken, so the read waits for that refusal. Either
        // way the insert is the authority: the read can only turn a request
        // away early, never let a second job in.
        if self.backend_kind() == crate::BackendKind::Sqlite {
            if let Some(busy) = self.active_job_with_lease(&names).await? {
                return Ok(busy.into());
            }
        }
        self.insert_job(job, worker).await
    }

    /// The transactional half of [`Store::enqueue_job`]: the insert, and on
    /// refusal the read of what is in the way.
    pub(crate) async fn insert_job(
        &self,
        job: &NewJob,
        worker: Option<&str>,
    ) -> StoreResult<EnqueueOutcome> {
        let names = provider_names(job)?;
        for _ in 0..ENQUEUE_ATTEMPTS {
            let new = QueuedJob::new(job, worker);
            let result: Result<JobRow, Refusal> = match &*self.backend {
                // One statement, one round trip: the job, its providers and
                // the wake-up commit together or not at all.
                Backend::Postgres(pool) => {
                    let mut pooled = crate::pool::checkout(pool).await?;
                    let outcome = EnqueueAbort::settle(
                        EnqueueInOneStatement { job: &new }
                            .get_result::<JobRow>(pooled.conn())
                            .await
                            .optional()
                            .map_err(EnqueueAbort::from_statement)
                            .and_then(|row| row.ok_or(EnqueueAbort::Refused(Refusal::SlotTaken))),
                    )?;
                    pooled.finish();
                    outcome
                }
                Backend::Sqlite(_) => on_conn!(self, writer, |conn| {
                    EnqueueAbort::settle(
                        conn.transaction(async |conn| {
                            let row = insert_queued!(conn, &new)?;
                            match new.claimed_by {
                                None => Ok(row),
                                // The writer connection is this process's
                                // alone: starting the attempt right after
                                // the insert, in its transaction, costs no
                                // round trip.
                                Some(worker) => {
                                    Ok(diesel::update(jobs::table.filter(jobs::id.eq(new.id())))
                                        .set((
                                            jobs::state.eq(JobState::InProgress.as_str()),
                                            jobs::worker.eq(worker),
                                            jobs::attempt.eq(1),
                                            jobs::started_at.eq(DbNow.nullable()),
                                            jobs::heartbeat_at.eq(DbNow.nullable()),
                                        ))
                                        .returning(JobRow::as_returning())
                                        .get_result(conn)
                                        .await?)
                                }
                            }
                        })
                        .await,
                    )?
                }),
            };
            match result {
                Ok(row) => return Ok(EnqueueOutcome::Enqueued(JobRecord::try_from(row)?)),
                Err(Refusal::SlotTaken) => return Ok(EnqueueOutcome::SlotTaken),
                Err(Refusal::Busy) => {
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
}
