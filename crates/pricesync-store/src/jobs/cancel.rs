//! Cancelling a job: at once when queued, at the worker's next safe point
//! when running.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use pricesync_domain::JobState;
use uuid::Uuid;

use super::{truncate_error, JobRecord};
use crate::schema::pricing_sync_jobs as jobs;
use crate::sql_types::{DbNow, SqlUuid};
use crate::store::on_conn;
use crate::{Store, StoreResult};

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

impl Store {
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
                    super::job_ended!(conn, SqlUuid(id));
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
}
