//! The janitor: rescues jobs of dead workers, removes expired leases, prunes
//! old jobs and ended webhook deliveries, and refreshes the gauges. Runs at start-up and periodically.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pricesync_domain::JobState;

use crate::state::Shared;
use crate::{metrics, scheduler};

/// How often old jobs are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// One pass; returns how many jobs went back to the queue.
pub(crate) async fn janitor_pass(shared: &Shared, prune: bool) -> usize {
    let mut requeued = 0;
    match shared
        .store
        .rescue_stale_jobs(shared.config.rescue_timeout)
        .await
    {
        Ok(report) => {
            if !report.is_empty() {
                tracing::warn!(requeued = ?report.requeued, failed = ?report.failed,
                    cancelled = ?report.cancelled,
                    "rescued jobs whose worker stopped heartbeating");
                metrics::rescued(
                    report.requeued.len(),
                    report.failed.len(),
                    report.cancelled.len(),
                );
            }
            requeued = report.requeued.len();
            for _ in &report.cancelled {
                // The admin's cancel, carried out by the rescuer.
                metrics::job_finished("cancelled", None);
            }
            for id in &report.failed {
                // Failed by the rescuer: count it and let its schedule retry
                // sooner, as if its worker had reported the failure.
                metrics::job_finished("failed", None);
                if let Ok(Some(job)) = shared.store.get_job(*id).await {
                    if let Some(schedule) = &job.schedule_name {
                        scheduler::record_result(shared, schedule, JobState::Failed).await;
                    }
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "rescue pass failed"),
    }
    if let Err(e) = shared.store.delete_expired_leases().await {
        tracing::warn!(error = %e, "cannot delete expired leases");
    }
    if prune {
        match shared
            .store
            .prune_finished_jobs(shared.config.job_retention)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "pruned old finished jobs"),
            Err(e) => tracing::warn!(error = %e, "cannot prune old jobs"),
        }
        match shared
            .store
            .prune_finished_deliveries(shared.config.job_retention)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(deliveries = n, "pruned old webhook deliveries"),
            Err(e) => tracing::warn!(error = %e, "cannot prune old webhook deliveries"),
        }
    }
    match shared.store.count_jobs_by_state().await {
        Ok(counts) => {
            for (state, count) in counts {
                metrics::jobs_in_state(state.as_str(), count);
            }
        }
        Err(e) => tracing::debug!(error = %e, "cannot count jobs"),
    }
    match shared.store.count_pending_deliveries().await {
        Ok(count) => metrics::webhooks_pending(count),
        Err(e) => tracing::debug!(error = %e, "cannot count webhook deliveries"),
    }
    requeued
}

pub(crate) async fn janitor_loop(shared: Arc<Shared>) {
    let mut last_prune: Option<Instant> = None;
    loop {
        let prune = last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY);
        if prune {
            last_prune = Some(Instant::now());
        }
        if janitor_pass(&shared, prune).await > 0 {
            shared.wake.notify_one();
        }
        tokio::select! {
            _ = shared.stop_claiming.cancelled() => return,
            _ = tokio::time::sleep(shared.config.janitor_interval) => {}
        }
    }
}
