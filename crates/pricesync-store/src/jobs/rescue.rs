//! Rescue of jobs whose worker stopped heartbeating.

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use pricesync_domain::JobState;
use uuid::Uuid;

use super::truncate_error;
use crate::leases::{provider_lease_key, LeaseConn};
use crate::schema::pricing_sync_jobs as jobs;
use crate::sql_types::{DbNow, DbNowPlus, SqlTime, SqlUuid};
use crate::store::on_conn;
use crate::{Store, StoreResult};

/// What a rescue pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RescueReport {
    /// Jobs put back in the queue.
    pub requeued: Vec<Uuid>,
    /// Jobs failed for having used every attempt.
    pub failed: Vec<Uuid>,
    /// Jobs an admin had asked to cancel: their worker died before it
    /// stopped them, so they end `cancelled` instead of running again.
    pub cancelled: Vec<Uuid>,
}

impl RescueReport {
    /// Whether the pass rescued nothing.
    pub fn is_empty(&self) -> bool {
        self.requeued.is_empty() && self.failed.is_empty() && self.cancelled.is_empty()
    }
}

impl Store {
    /// Rescues jobs whose worker stopped heartbeating for longer than
    /// `timeout`: a job an admin asked to cancel ends `cancelled` (a cancel
    /// survives its worker's death); the others are re-queued while
    /// attempts remain, else failed with a clear message (finished jobs
    /// free their providers). The dead worker's leases on the
    /// job's providers are removed, so the next attempt need not wait for
    /// them to expire; fencing keeps a worker that was only paused from
    /// writing.
    pub async fn rescue_stale_jobs(&self, timeout: Duration) -> StoreResult<RescueReport> {
        let message = truncate_error(&format!(
            "the worker stopped heartbeating for more than {} s on its last allowed attempt; \
             the job was failed by the rescuer",
            timeout.as_secs()
        ));
        let cancelled_message = truncate_error(
            "cancelled by an admin; its worker stopped heartbeating before it could stop the job",
        );
        Ok(on_conn!(self, writer, |conn| {
            conn.transaction(async |conn| -> StoreResult<RescueReport> {
                let stale = jobs::state
                    .eq(JobState::InProgress.as_str())
                    .and(jobs::heartbeat_at.lt(DbNowPlus::before(timeout).nullable()));
                type Found = (SqlUuid, Option<String>, String, i32, i32, bool);
                let found: Vec<Found> = jobs::table
                    .filter(stale.clone())
                    .select((
                        jobs::id,
                        jobs::worker,
                        jobs::providers,
                        jobs::attempt,
                        jobs::max_attempts,
                        jobs::cancel_requested,
                    ))
                    .load(conn)
                    .await?;
                let mut report = RescueReport::default();
                for (id, worker, providers, attempt, max_attempts, cancel) in found {
                    // Re-check staleness in the UPDATE: another rescuer (or a
                    // late heartbeat) may have got there first.
                    let target = jobs::table.filter(jobs::id.eq(id)).filter(stale.clone());
                    let outcome = if cancel {
                        JobState::Cancelled
                    } else if attempt < max_attempts {
                        JobState::Queued
                    } else {
                        JobState::Failed
                    };
                    let changed = if outcome == JobState::Queued {
                        diesel::update(target)
                            .set((
                                jobs::state.eq(JobState::Queued.as_str()),
                                jobs::worker.eq(None::<String>),
                                jobs::heartbeat_at.eq(None::<SqlTime>),
                            ))
                            .execute(conn)
                            .await?
                    } else {
                        let error = if cancel { &cancelled_message } else { &message };
                        let ended = diesel::update(target)
                            .set((
                                jobs::state.eq(outcome.as_str()),
                                jobs::finished_at.eq(DbNow.nullable()),
                                jobs::error.eq(error),
                            ))
                            .execute(conn)
                            .await?;
                        if ended == 1 {
                            super::job_ended!(conn, id);
                        }
                        ended
                    };
                    if changed != 1 {
                        continue;
                    }
                    // The dead worker's leases on the job's providers go too:
                    // should it still be alive, the fence stops its writes.
                    if let Some(worker) = worker {
                        let keys = providers.split(',').map(provider_lease_key).collect();
                        conn.release_held_by(&worker, keys).await?;
                    }
                    match outcome {
                        JobState::Cancelled => report.cancelled.push(id.0),
                        JobState::Queued => report.requeued.push(id.0),
                        _ => report.failed.push(id.0),
                    }
                }
                Ok(report)
            })
            .await?
        }))
    }
}
