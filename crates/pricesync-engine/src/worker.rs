//! The worker: claims queued jobs and runs them — a heartbeat, the
//! providers with bounded parallelism (each in [`crate::provider_run`]),
//! cancellation at safe points and an honest final state.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pricesync_domain::{JobState, ProviderRunStatus};
use pricesync_store::{HeartbeatOutcome, JobProgress, JobRecord};
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::hooks::SyncPoint;
use crate::metrics;
use crate::provider_run::{run_provider, ProviderOutcome};
use crate::scheduler;
use crate::state::Shared;
use crate::stop::{unless_cancelled, JobStop, StopReason};

/// How soon a worker tries again after failing to claim.
const CLAIM_RETRY: Duration = Duration::from_secs(1);

/// Claims and runs jobs until shutdown.
pub(crate) async fn worker_loop(shared: Arc<Shared>) {
    loop {
        if shared.stop_claiming.is_cancelled() {
            return;
        }
        let wait = match shared.store.claim_next_job(&shared.config.worker_id).await {
            Ok(Some(job)) => {
                run_job(&shared, job).await;
                continue;
            }
            Ok(None) => shared.config.poll_interval,
            Err(e) => {
                // The database is busy or away: look again soon rather than
                // after a whole poll interval.
                tracing::warn!(error = %e, "cannot claim a job; retrying shortly");
                shared.config.poll_interval.min(CLAIM_RETRY)
            }
        };
        // Idle: a local trigger may hand this worker its job, already
        // started for it by the enqueue (no claim round trip).
        let (handoff, mut handed) = oneshot::channel();
        let ticket = shared.park(handoff);
        let mut stopping = false;
        let job = tokio::select! {
            job = &mut handed => job.ok(),
            _ = shared.stop_claiming.cancelled() => { stopping = true; None }
            _ = shared.wake.notified() => None,
            _ = tokio::time::sleep(wait) => None,
        };
        let job = match job {
            Some(job) => Some(job),
            // Still ours to withdraw: nothing was handed.
            None if shared.unpark(ticket) => None,
            // A trigger took the offer: its job (or nothing) is on the way.
            None => handed.await.ok(),
        };
        if let Some(job) = job {
            run_job(&shared, job).await;
        } else if stopping {
            return;
        }
    }
}

/// Runs a claimed job to its end, or back to the queue on shutdown.
async fn run_job(shared: &Arc<Shared>, job: JobRecord) {
    let started = Instant::now();
    if let Some(at) = job.started_at {
        metrics::queue_lag((at - job.created_at).as_seconds_f64().max(0.0));
    }
    tracing::info!(job = %job.id, providers = ?job.providers, attempt = job.attempt, "sync job started");
    let running = shared.register_running(job.id);
    let stop = running.stop().clone();
    let progress = Arc::new(Mutex::new(JobProgress::default()));
    // Dropping the set (as a crash of this task would) aborts the heartbeat.
    let mut heartbeat = JoinSet::new();
    let done = CancellationToken::new();
    heartbeat.spawn(heartbeat_loop(
        shared.clone(),
        job.id,
        job.attempt,
        progress.clone(),
        stop.clone(),
        done.clone(),
    ));
    unless_cancelled(
        stop.token(),
        shared.hooks.reached(SyncPoint::JobStarted { job: job.id }),
    )
    .await;
    let outcomes = run_providers(shared, &job, &stop, &progress).await;
    done.cancel();
    heartbeat.shutdown().await;
    drop(running);
    let progress = progress.lock().map(|p| *p).unwrap_or_default();

    let (state, error) = match stop.reason(&shared.abort_jobs) {
        Some(StopReason::Lost) => {
            tracing::warn!(job = %job.id, "job lost to a rescue; another worker owns it now");
            return job_finished(shared, job.id, None).await;
        }
        Some(StopReason::Shutdown) => {
            requeue(shared, &job).await;
            return job_finished(shared, job.id, None).await;
        }
        Some(StopReason::Cancelled) => (
            JobState::Cancelled,
            Some("cancelled by an admin".to_owned()),
        ),
        None => final_state(&outcomes),
    };
    let recorded = shared
        .store
        .finish_job(
            job.id,
            &shared.config.worker_id,
            job.attempt,
            state,
            progress,
            error.as_deref(),
        )
        .await;
    match recorded {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(job = %job.id, "job no longer ours at the end; its new owner decides");
            return job_finished(shared, job.id, None).await;
        }
        Err(e) => {
            tracing::error!(job = %job.id, error = %e, "cannot record the end of the job; the rescuer will retry it");
            return job_finished(shared, job.id, None).await;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    metrics::job_finished(state.as_str(), job.schedule_name.as_ref().map(|_| seconds));
    if let Some(schedule) = &job.schedule_name {
        scheduler::record_result(shared, schedule, state).await;
    }
    match state {
        JobState::Completed | JobState::Cancelled => {
            tracing::info!(job = %job.id, state = %state, seconds, "sync job finished")
        }
        _ => {
            tracing::warn!(job = %job.id, state = %state, seconds, "sync job finished with failures")
        }
    }
    job_finished(shared, job.id, Some(state)).await;
}

/// Runs the job's providers, at most `provider_parallelism` at a time,
/// started in priority order (`EngineConfig::start_order`).
async fn run_providers(
    shared: &Arc<Shared>,
    job: &JobRecord,
    stop: &Arc<JobStop>,
    progress: &Arc<Mutex<JobProgress>>,
) -> Vec<ProviderOutcome> {
    let permits = Arc::new(Semaphore::new(shared.config.provider_parallelism.max(1)));
    let mut providers = JoinSet::new();
    for provider in shared.config.start_order(&job.providers) {
        // The permit is taken here, in order, not in the spawned task:
        // tasks are not polled in the order they were spawned, so only this
        // makes the priority decide which provider starts next.
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let (shared, job, stop, progress) =
            (shared.clone(), job.clone(), stop.clone(), progress.clone());
        providers.spawn(async move {
            let _permit = permit;
            let outcome = run_provider(&shared, &job, &provider, &stop).await;
            if let Ok(mut p) = progress.lock() {
                p.providers_done += 1;
                p.models_processed += outcome.summary.as_ref().map_or(0, |s| s.fetched as u64);
            }
            outcome
        });
    }
    let mut outcomes = Vec::with_capacity(job.providers.len());
    while let Some(joined) = providers.join_next().await {
        match joined {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) => tracing::error!(job = %job.id, error = %e, "a provider task failed"),
        }
    }
    outcomes
}

/// The job's state from its providers' results, and their errors joined.
fn final_state(outcomes: &[ProviderOutcome]) -> (JobState, Option<String>) {
    let statuses: Vec<ProviderRunStatus> = outcomes.iter().map(|o| o.status).collect();
    let errors: Vec<String> = outcomes
        .iter()
        .filter_map(|o| o.error.as_ref().map(|e| format!("{}: {e}", o.provider)))
        .collect();
    let error = (!errors.is_empty()).then(|| errors.join("; "));
    (JobState::from_outcomes(&statuses), error)
}

/// Puts a job stopped by shutdown back in the queue without using an
/// attempt.
async fn requeue(shared: &Shared, job: &JobRecord) {
    match shared
        .store
        .requeue_job(job.id, &shared.config.worker_id, job.attempt, true)
        .await
    {
        Ok(true) => tracing::info!(job = %job.id, "shutdown: job put back in the queue"),
        Ok(false) => tracing::warn!(job = %job.id, "shutdown: job no longer ours"),
        Err(e) => {
            tracing::error!(job = %job.id, error = %e, "shutdown: cannot re-queue; the rescuer will")
        }
    }
}

/// Reports every way out of a job, after the store has its end (or its
/// return to the queue).
async fn job_finished(shared: &Shared, job: Uuid, state: Option<JobState>) {
    shared
        .hooks
        .reached(SyncPoint::JobFinished { job, state })
        .await;
}

/// Heartbeats the job every heartbeat interval until `done`, with its
/// progress; stops the job when an admin cancelled it elsewhere or it is no
/// longer this worker's.
async fn heartbeat_loop(
    shared: Arc<Shared>,
    job: Uuid,
    attempt: u32,
    progress: Arc<Mutex<JobProgress>>,
    stop: Arc<JobStop>,
    done: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = done.cancelled() => return,
            _ = tokio::time::sleep(shared.config.heartbeat_interval) => {}
        }
        let current = progress.lock().map(|p| *p).unwrap_or_default();
        match shared
            .store
            .heartbeat_job(job, &shared.config.worker_id, attempt, current)
            .await
        {
            Ok(HeartbeatOutcome::Alive {
                cancel_requested: true,
            }) => stop.stop(StopReason::Cancelled),
            Ok(HeartbeatOutcome::Alive { .. }) => {}
            Ok(HeartbeatOutcome::Lost) => {
                stop.stop(StopReason::Lost);
                return;
            }
            Err(e) => tracing::warn!(job = %job, error = %e, "heartbeat failed"),
        }
    }
}
