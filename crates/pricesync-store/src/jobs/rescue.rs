//! Rescue of jobs whose worker stopped heartbeating.

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use pricesync_domain::JobState;
use uuid::Uuid;

use super::truncate_error;
use crate::leases::{self, provider_lease_key};
use crate::schema::{pricing_sync_active_providers as active, pricing_sync_jobs as jobs};
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
}

impl Store {
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
        Ok(on_conn!(self, writer, |conn| {
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
                        let keys = providers.split(',').map(provider_lease_key).collect();
                        leases::release_held_by(&worker, keys).execute(conn).await?;
                    }
                    if attempt < max_attempts {
                        report.requeued.push(id.0);
                    } else {
                        report.failed.push(id.0);
                    }
                }
                Ok(report)
            })
            .await?
        }))
    }
}
