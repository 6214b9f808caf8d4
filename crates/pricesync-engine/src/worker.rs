//! The worker: claims queued jobs and runs them, provider by provider, under
//! leases, with heartbeats, cancellation at safe points and honest final
//! states.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pricesync_domain::{JobState, ProviderId, ProviderRunStatus};
use pricesync_providers::{FetchError, PriceFetcher};
use pricesync_store::{
    provider_lease_key, Fence, HeartbeatOutcome, JobProgress, JobRecord, NewProviderLog, Store,
    StoreError,
};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::flights::TriggerFlights;
use crate::hooks::{SyncHooks, SyncPoint};
use crate::{metrics, plan_price_list, write_plan, EngineConfig, ProviderSyncSummary, SyncError};

/// How soon a worker tries again after failing to claim.
const CLAIM_RETRY: Duration = Duration::from_secs(1);

/// What the engine's tasks share.
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) fetchers: BTreeMap<String, Arc<dyn PriceFetcher>>,
    pub(crate) config: EngineConfig,
    pub(crate) hooks: Arc<dyn SyncHooks>,
    /// Wakes an idle worker (local triggers, NOTIFY, rescues).
    pub(crate) wake: Arc<Notify>,
    /// Stop claiming jobs and ticking (shutdown has begun).
    pub(crate) stop_claiming: CancellationToken,
    /// The shutdown grace is over: running jobs stop and go back to the queue.
    pub(crate) abort_jobs: CancellationToken,
    /// Jobs running in this process, to stop them at once on a local cancel.
    pub(crate) running: Mutex<HashMap<Uuid, Arc<JobStop>>>,
    /// Concurrent triggers of the same providers share one decision.
    pub(crate) flights: TriggerFlights,
}

/// Why a running job stops early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// An admin cancelled it.
    Cancelled,
    /// The process shuts down and the grace period is over.
    Shutdown,
    /// The job is no longer this worker's (it was rescued).
    Lost,
}

/// The stop signal of one running job.
pub(crate) struct JobStop {
    token: CancellationToken,
    reason: Mutex<Option<StopReason>>,
}

impl JobStop {
    fn new(token: CancellationToken) -> Self {
        Self {
            token,
            reason: Mutex::new(None),
        }
    }

    pub(crate) fn stop(&self, reason: StopReason) {
        if let Ok(mut current) = self.reason.lock() {
            current.get_or_insert(reason);
        }
        self.token.cancel();
    }

    fn reason(&self, shutdown: &CancellationToken) -> Option<StopReason> {
        let set = self.reason.lock().ok().and_then(|r| *r);
        set.or_else(|| shutdown.is_cancelled().then_some(StopReason::Shutdown))
    }
}

/// Runs `future` unless `token` is cancelled first.
async fn unless_cancelled<F: std::future::Future>(
    token: &CancellationToken,
    future: F,
) -> Option<F::Output> {
    tokio::select! {
        output = future => Some(output),
        _ = token.cancelled() => None,
    }
}

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
        tokio::select! {
            _ = shared.stop_claiming.cancelled() => return,
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One provider's result.
struct ProviderOutcome {
    provider: String,
    status: ProviderRunStatus,
    summary: Option<ProviderSyncSummary>,
    error: Option<String>,
    duration: Duration,
}

impl ProviderOutcome {
    fn failed(provider: &str, started: Instant, error: String) -> Self {
        Self {
            provider: provider.to_owned(),
            status: ProviderRunStatus::Failed,
            summary: None,
            error: Some(error),
            duration: started.elapsed(),
        }
    }
}

async fn run_job(shared: &Arc<Shared>, job: JobRecord) {
    let started = Instant::now();
    let worker = shared.config.worker_id.clone();
    if let Some(at) = job.started_at {
        metrics::queue_lag((at - job.created_at).as_seconds_f64().max(0.0));
    }
    tracing::info!(job = %job.id, providers = ?job.providers, attempt = job.attempt, "sync job started");
    let stop = Arc::new(JobStop::new(shared.abort_jobs.child_token()));
    if let Ok(mut running) = shared.running.lock() {
        running.insert(job.id, stop.clone());
    }
    let progress = Arc::new(Mutex::new(JobProgress::default()));
    // Dropping the set (as a crash of this task would) aborts its tasks.
    let mut tasks = JoinSet::new();
    let done = CancellationToken::new();
    tasks.spawn(heartbeat_loop(
        shared.clone(),
        job.id,
        job.attempt,
        progress.clone(),
        stop.clone(),
        done.clone(),
    ));
    unless_cancelled(
        &stop.token,
        shared.hooks.reached(SyncPoint::JobStarted { job: job.id }),
    )
    .await;

    let permits = Arc::new(Semaphore::new(shared.config.provider_parallelism.max(1)));
    let mut providers = JoinSet::new();
    for provider in job.providers.clone() {
        let (shared, job, stop, progress, permits) = (
            shared.clone(),
            job.clone(),
            stop.clone(),
            progress.clone(),
            permits.clone(),
        );
        providers.spawn(async move {
            let _permit = permits.acquire_owned().await;
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
    done.cancel();
    tasks.shutdown().await;
    if let Ok(mut running) = shared.running.lock() {
        running.remove(&job.id);
    }
    let progress = progress.lock().map(|p| *p).unwrap_or_default();

    let reason = stop.reason(&shared.abort_jobs);
    let (state, error) = match reason {
        Some(StopReason::Lost) => {
            tracing::warn!(job = %job.id, "job lost to a rescue; another worker owns it now");
            finish_hook(shared, job.id, None).await;
            return;
        }
        Some(StopReason::Shutdown) => {
            match shared
                .store
                .requeue_job(job.id, &worker, job.attempt, true)
                .await
            {
                Ok(true) => tracing::info!(job = %job.id, "shutdown: job put back in the queue"),
                Ok(false) => tracing::warn!(job = %job.id, "shutdown: job no longer ours"),
                Err(e) => {
                    tracing::error!(job = %job.id, error = %e, "shutdown: cannot re-queue; the rescuer will")
                }
            }
            finish_hook(shared, job.id, None).await;
            return;
        }
        Some(StopReason::Cancelled) => (
            JobState::Cancelled,
            Some("cancelled by an admin".to_owned()),
        ),
        None => {
            let statuses: Vec<ProviderRunStatus> = outcomes.iter().map(|o| o.status).collect();
            let state = JobState::from_outcomes(&statuses);
            let errors: Vec<String> = outcomes
                .iter()
                .filter_map(|o| o.error.as_ref().map(|e| format!("{}: {e}", o.provider)))
                .collect();
            let error = if errors.is_empty() {
                None
            } else {
                Some(errors.join("; "))
            };
            (state, error)
        }
    };
    match shared
        .store
        .finish_job(
            job.id,
            &worker,
            job.attempt,
            state,
            progress,
            error.as_deref(),
        )
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(job = %job.id, "job no longer ours at the end; its new owner decides");
            finish_hook(shared, job.id, None).await;
            return;
        }
        Err(e) => {
            tracing::error!(job = %job.id, error = %e, "cannot record the end of the job; the rescuer will retry it");
            finish_hook(shared, job.id, None).await;
            return;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    metrics::job_finished(state.as_str(), job.schedule_name.as_ref().map(|_| seconds));
    if let Some(schedule) = &job.schedule_name {
        record_schedule_result(shared, schedule, state).await;
    }
    tracing::info!(job = %job.id, state = %state, seconds, "sync job finished");
    finish_hook(shared, job.id, Some(state)).await;
}

/// Called on every way out of a job, after the store has its end (or its
/// return to the queue): refusals that named it may be stale now.
async fn finish_hook(shared: &Shared, job: Uuid, state: Option<JobState>) {
    shared.flights.forget();
    shared
        .hooks
        .reached(SyncPoint::JobFinished { job, state })
        .await;
}

pub(crate) async fn record_schedule_result(shared: &Shared, schedule: &str, state: JobState) {
    let succeeded = state == JobState::Completed;
    let delay = match shared.store.get_schedule(schedule).await {
        Ok(Some(record)) => shared.config.scheduler.retry_delay(
            record.consecutive_failures + 1,
            Duration::from_secs(record.interval_seconds),
        ),
        _ => shared.config.scheduler.retry_base,
    };
    if let Err(e) = shared
        .store
        .record_schedule_result(schedule, succeeded, delay)
        .await
    {
        tracing::warn!(schedule, error = %e, "cannot record the scheduled run's result");
    } else if !succeeded {
        tracing::info!(
            schedule,
            retry_in_s = delay.as_secs(),
            "scheduled run failed; retrying sooner"
        );
    }
}

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

/// Keeps a lease alive every TTL/3. When a renewal fails, or cannot finish
/// before the lease would lapse, the provider's work is stopped: the holder
/// never assumes it holds a lease past its last renewal plus the TTL.
async fn renew_loop(
    store: Store,
    fence: Fence,
    owner: String,
    ttl: Duration,
    stop: CancellationToken,
    lost: Arc<AtomicBool>,
    provider: String,
) {
    let period = ttl / 3;
    let mut deadline = tokio::time::Instant::now() + ttl;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
        let sent = tokio::time::Instant::now();
        let renewed =
            tokio::time::timeout_at(deadline, store.renew_lease(&fence, &owner, ttl)).await;
        match renewed {
            Ok(Ok(Some(_))) => deadline = sent + ttl,
            outcome => {
                let why = match outcome {
                    Ok(Ok(_)) => "the lease was taken over or released".to_owned(),
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => "the renewal did not finish before the lease would lapse".to_owned(),
                };
                tracing::warn!(key = %fence.key, why, "lease lost; stopping the provider's sync");
                metrics::renew_failed(&provider);
                lost.store(true, Ordering::SeqCst);
                stop.cancel();
                return;
            }
        }
    }
}

async fn run_provider(
    shared: &Arc<Shared>,
    job: &JobRecord,
    name: &str,
    stop: &JobStop,
) -> ProviderOutcome {
    let started = Instant::now();
    let outcome = run_provider_leased(shared, job, name, stop, started).await;
    let log = NewProviderLog {
        provider: name.to_owned(),
        status: outcome.status,
        counts: outcome.summary.as_ref().map_or(
            [0, 0, 0, 0, 0, 0, u32::from(outcome.error.is_some())],
            |s| {
                let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
                [
                    n(s.fetched),
                    n(s.added),
                    n(s.updated),
                    n(s.unchanged),
                    n(s.skipped.len()),
                    n(s.removed),
                    u32::from(outcome.error.is_some()),
                ]
            },
        ),
        removals_suppressed: outcome
            .summary
            .as_ref()
            .is_some_and(|s| s.suppressed_removal.is_some()),
        duration: outcome.duration,
        error: outcome.error.clone(),
    };
    if let Err(e) = shared.store.record_provider_log(job.id, &log).await {
        tracing::warn!(job = %job.id, provider = name, error = %e, "cannot record the provider's result");
    }
    if let Some(summary) = &outcome.summary {
        metrics::provider_synced(name, summary, job.dry_run);
        if let Some(suppressed) = &summary.suppressed_removal {
            tracing::warn!(
                job = %job.id, provider = name, active_before = suppressed.active_before,
                listed = suppressed.listed, would_remove = suppressed.would_remove,
                "the provider's list shrank suspiciously; no model was removed"
            );
        }
    }
    tracing::info!(job = %job.id, provider = name, status = outcome.status.as_str(),
        ms = outcome.duration.as_millis() as u64, error = outcome.error.as_deref().unwrap_or(""), "provider done");
    unless_cancelled(
        &shared.abort_jobs,
        shared.hooks.reached(SyncPoint::ProviderFinished {
            job: job.id,
            provider: name.to_owned(),
            status: outcome.status,
        }),
    )
    .await;
    outcome
}

async fn run_provider_leased(
    shared: &Arc<Shared>,
    job: &JobRecord,
    name: &str,
    stop: &JobStop,
    started: Instant,
) -> ProviderOutcome {
    let cancelled = || ProviderOutcome {
        provider: name.to_owned(),
        status: ProviderRunStatus::Cancelled,
        summary: None,
        error: None,
        duration: started.elapsed(),
    };
    let Some(fetcher) = shared.fetchers.get(name).cloned() else {
        return ProviderOutcome::failed(
            name,
            started,
            format!(
                "provider {name} is not configured on worker {}",
                shared.config.worker_id
            ),
        );
    };
    if stop.token.is_cancelled() {
        return cancelled();
    }
    let key = provider_lease_key(name);
    let owner = shared.config.worker_id.clone();
    let lease = match shared
        .store
        .try_acquire_lease(&key, &owner, &job.triggered_by, shared.config.lease_ttl)
        .await
    {
        Ok(Some(lease)) => lease,
        Ok(None) => {
            metrics::lock_contended(name);
            let holder = shared
                .store
                .get_lease(&key)
                .await
                .ok()
                .flatten()
                .map(|l| format!("{} (until {})", l.holder, l.expires_at))
                .unwrap_or_else(|| "another worker".to_owned());
            return ProviderOutcome::failed(
                name,
                started,
                format!("lease {key} is held by {holder}"),
            );
        }
        Err(e) => {
            return ProviderOutcome::failed(name, started, format!("cannot take lease {key}: {e}"))
        }
    };
    let fence = lease.fence();
    let provider_stop = stop.token.child_token();
    let lost = Arc::new(AtomicBool::new(false));
    let mut renewer = JoinSet::new();
    renewer.spawn(renew_loop(
        shared.store.clone(),
        fence.clone(),
        owner.clone(),
        shared.config.lease_ttl,
        provider_stop.clone(),
        lost.clone(),
        name.to_owned(),
    ));
    let provider_id: ProviderId = fetcher.provider().clone();
    let lease_lost = || {
        ProviderOutcome::failed(
            name,
            started,
            format!("lease {key} was lost (renewal failed, came late or was taken over); nothing was written"),
        )
    };
    let result = async {
        unless_cancelled(
            &provider_stop,
            shared.hooks.reached(SyncPoint::ProviderLeased {
                job: job.id,
                provider: name.to_owned(),
            }),
        )
        .await;
        let fetch_started = Instant::now();
        let fetched = unless_cancelled(&provider_stop, fetcher.fetch()).await?;
        let seconds = fetch_started.elapsed().as_secs_f64();
        let fetched = match fetched {
            Ok(list) => {
                metrics::fetch_finished(name, seconds, None);
                list
            }
            Err(e) => {
                metrics::fetch_finished(name, seconds, Some(e.kind()));
                let mut outcome = ProviderOutcome::failed(name, started, e.to_string());
                if matches!(e, FetchError::MissingCredentials { .. }) {
                    // Not attempted: the message names the variable to set.
                    outcome.status = ProviderRunStatus::Skipped;
                }
                return Some(outcome);
            }
        };
        let options = crate::SyncOptions {
            dry_run: job.dry_run,
            ..shared.config.sync
        };
        let plan = match plan_price_list(&shared.store, &provider_id, fetched, &options).await {
            Ok(plan) => plan,
            Err(e) => return Some(ProviderOutcome::failed(name, started, e.to_string())),
        };
        unless_cancelled(
            &provider_stop,
            shared.hooks.reached(SyncPoint::BeforeWrite {
                job: job.id,
                provider: name.to_owned(),
            }),
        )
        .await;
        // The last safe point: after it the write commits whole or not at all.
        if provider_stop.is_cancelled() {
            return None;
        }
        match write_plan(
            &shared.store,
            &provider_id,
            plan,
            &options,
            Some(job.id),
            Some(&fence),
        )
        .await
        {
            Ok(summary) => Some(ProviderOutcome {
                provider: name.to_owned(),
                status: ProviderRunStatus::Succeeded,
                summary: Some(summary),
                error: None,
                duration: started.elapsed(),
            }),
            Err(SyncError::Store(StoreError::FenceRejected { .. })) => {
                metrics::fence_rejected(name);
                Some(lease_lost())
            }
            Err(e) => Some(ProviderOutcome::failed(name, started, e.to_string())),
        }
    }
    .await;
    provider_stop.cancel();
    renewer.shutdown().await;
    if let Err(e) = shared.store.release_lease(&fence, &owner).await {
        tracing::warn!(key, error = %e, "cannot release the lease; it will expire");
    }
    match result {
        Some(outcome) => outcome,
        None if lost.load(Ordering::SeqCst) => lease_lost(),
        None => cancelled(),
    }
}
