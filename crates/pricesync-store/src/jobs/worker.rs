//! The worker's transitions of a job: claim, heartbeat, finish, requeue —
//! each guarded by the worker and attempt that own the job.

use diesel::backend::Backend;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Text};
use diesel_async::{AsyncConnection, RunQueryDsl};
use pricesync_domain::JobState;
use uuid::Uuid;

use super::{truncate_error, JobRecord, JobRow};
use crate::schema::pricing_sync_jobs as jobs;
use crate::sql_types::{DbNow, SkipLocked, SqlTime, SqlUuid};
use crate::store::on_conn;
use crate::{Store, StoreError, StoreResult};

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

impl Store {
    /// Claims the oldest queued job for `worker` (`FOR UPDATE SKIP LOCKED`
    /// on PostgreSQL, so workers never wait on each other), starting its
    /// next attempt.
    pub async fn claim_next_job(&self, worker: &str) -> StoreResult<Option<JobRecord>> {
        let row: Option<JobRow> = on_conn!(self, writer, |conn| {
            ClaimNext { worker }.get_result(conn).await.optional()?
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
        Ok(on_conn!(self, writer, |conn| {
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
                    super::job_ended!(conn, SqlUuid(id));
                }
                Ok(updated == 1)
            })
            .await?
        }))
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
}

/// Claims the oldest queued job for `worker`: its next attempt starts now,
/// on the database clock.
///
/// Written out rather than built with `diesel::update`, which marks every
/// UPDATE unfit for the prepared-statement cache: this statement's text
/// never changes, so diesel prepares it once per connection. On PostgreSQL
/// the row is locked `FOR UPDATE SKIP LOCKED`, so concurrent claims take
/// different jobs instead of waiting on each other; SQLite's single writer
/// connection serialises claims already (and has no row locks).
#[derive(Debug, Clone, Copy)]
struct ClaimNext<'a> {
    worker: &'a str,
}

crate::sql_types::raw_statement!(ClaimNext<'_>);

impl<DB> QueryFragment<DB> for ClaimNext<'_>
where
    DB: Backend + HasSqlType<Text>,
    str: ToSql<Text, DB>,
    DbNow: QueryFragment<DB>,
    SkipLocked: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE pricing_sync_jobs SET state = 'in_progress', worker = ");
        out.push_bind_param::<Text, str>(self.worker)?;
        out.push_sql(", attempt = attempt + 1, started_at = ");
        DbNow.walk_ast(out.reborrow())?;
        out.push_sql(", heartbeat_at = ");
        DbNow.walk_ast(out.reborrow())?;
        out.push_sql(
            " WHERE id = (SELECT id FROM pricing_sync_jobs WHERE state = 'queued' \
             ORDER BY created_at, id LIMIT 1",
        );
        SkipLocked.walk_ast(out.reborrow())?;
        out.push_sql(") RETURNING *");
        Ok(())
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
pub(super) fn guarded(id: Uuid, worker: &str, attempt: u32) -> Guarded {
    jobs::table
        .filter(jobs::id.eq(SqlUuid(id)))
        .filter(jobs::state.eq(JobState::InProgress.as_str()))
        .filter(jobs::worker.eq(worker.to_owned()))
        .filter(jobs::attempt.eq(i32::try_from(attempt).unwrap_or(i32::MAX)))
}
