//! One provider's part of a job: take its lease, fetch, plan, write fenced,
//! and record the result. The lease is held through a [`LeaseGuard`], so
//! it is released however the run ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pricesync_domain::{ProviderId, ProviderRunStatus};
use pricesync_providers::{FetchError, PriceFetcher};
use pricesync_store::{provider_lease_key, JobRecord, NewProviderLog, StoreError};

use crate::hooks::SyncPoint;
use crate::lease::LeaseGuard;
use crate::metrics;
use crate::state::Shared;
use crate::stop::{unless_cancelled, JobStop};
use crate::sync::{plan_price_list, write_plan, ProviderSyncSummary, SyncOptions};

/// One provider's result.
pub(crate) struct ProviderOutcome {
    pub(crate) provider: String,
    pub(crate) status: ProviderRunStatus,
    pub(crate) summary: Option<ProviderSyncSummary>,
    pub(crate) error: Option<String>,
    pub(crate) duration: Duration,
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

    fn cancelled(provider: &str, started: Instant) -> Self {
        Self {
            provider: provider.to_owned(),
            status: ProviderRunStatus::Cancelled,
            summary: None,
            error: None,
            duration: started.elapsed(),
        }
    }

    fn lease_lost(provider: &str, started: Instant, key: &str) -> Self {
        Self::failed(
            provider,
            started,
            format!("lease {key} was lost (renewal failed, came late or was taken over); nothing was written"),
        )
    }
}

/// Syncs provider `name` for `job`, records its log and metrics, and
/// reports it at [`SyncPoint::ProviderFinished`].
pub(crate) async fn run_provider(
    shared: &Arc<Shared>,
    job: &JobRecord,
    name: &str,
    stop: &JobStop,
) -> ProviderOutcome {
    let started = Instant::now();
    let outcome = run_leased(shared, job, name, stop, started).await;
    record(shared, job, name, &outcome).await;
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

/// Writes the provider's log row and metrics, and logs its end.
async fn record(shared: &Shared, job: &JobRecord, name: &str, outcome: &ProviderOutcome) {
    let failed = u32::from(outcome.error.is_some());
    let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    let summary = outcome.summary.as_ref();
    let log = NewProviderLog {
        provider: name.to_owned(),
        status: outcome.status,
        counts: summary.map_or([0, 0, 0, 0, 0, 0, failed], |s| {
            [
                n(s.fetched),
                n(s.added),
                n(s.updated),
                n(s.unchanged),
                n(s.skipped.len()),
                n(s.removed),
                failed,
            ]
        }),
        removals_suppressed: summary.is_some_and(|s| s.suppressed_removal.is_some()),
        changes_held: summary.map_or(0, |s| n(s.held)),
        duration: outcome.duration,
        error: outcome.error.clone(),
        skipped: summary.map(|s| s.skipped.clone()).unwrap_or_default(),
        // A dry run reports its whole diff; a run that wrote has it in the
        // price history.
        planned: summary
            .filter(|_| job.dry_run)
            .map(|s| s.diff.entries())
            .unwrap_or_default(),
    };
    match shared
        .store
        .record_provider_log(job.id, &shared.config.worker_id, job.attempt, &log)
        .await
    {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            job = %job.id, provider = name, attempt = job.attempt,
            "the job is no longer this worker's attempt (rescued or taken over): its result is not recorded"
        ),
        Err(e) => {
            tracing::error!(job = %job.id, provider = name, error = %e, "cannot record the provider's result")
        }
    }
    if let Some(summary) = &outcome.summary {
        metrics::provider_synced(name, summary, job.dry_run);
        if summary.held > 0 && !job.dry_run {
            tracing::warn!(
                job = %job.id, provider = name, held = summary.held,
                "price changes held for approval: list them with GET /admin/pricing/held-changes?status=pending"
            );
        }
        if let Some(suppressed) = &summary.suppressed_removal {
            tracing::warn!(
                job = %job.id, provider = name, active_before = suppressed.active_before,
                listed = suppressed.listed, would_remove = suppressed.would_remove,
                "the provider's list shrank suspiciously; no model was removed"
            );
        }
    }
    let ms = outcome.duration.as_millis() as u64;
    let status = outcome.status.as_str();
    match (&outcome.error, outcome.status) {
        // A failure is a warning: an operator looks at it; one provider's
        // failure does not stop the others, so it is not an error of the
        // service.
        (Some(error), ProviderRunStatus::Failed) => {
            tracing::warn!(job = %job.id, provider = name, status, ms, error = %error, "provider failed")
        }
        (Some(error), _) => {
            tracing::warn!(job = %job.id, provider = name, status, ms, error = %error, "provider not synced")
        }
        (None, _) => tracing::info!(job = %job.id, provider = name, status, ms, "provider done"),
    }
}

/// Takes the provider's lease, runs the sync under it and releases it.
async fn run_leased(
    shared: &Arc<Shared>,
    job: &JobRecord,
    name: &str,
    stop: &JobStop,
    started: Instant,
) -> ProviderOutcome {
    let Some(fetcher) = shared.fetchers.get(name) else {
        return ProviderOutcome::failed(
            name,
            started,
            format!(
                "provider {name} is not configured on worker {}",
                shared.config.worker_id
            ),
        );
    };
    if stop.token().is_cancelled() {
        return ProviderOutcome::cancelled(name, started);
    }
    let key = provider_lease_key(name);
    let worker = &shared.config.worker_id;
    let acquired = LeaseGuard::acquire(
        &shared.store,
        &key,
        worker,
        &job.triggered_by,
        shared.config.lease_ttl,
        stop.token(),
        name,
    )
    .await;
    let lease = match acquired {
        Ok(Some(lease)) => lease,
        Ok(None) => {
            metrics::lease_contended(name);
            let holder = shared
                .store
                .get_lease(&key)
                .await
                .ok()
                .flatten()
                .map(|l| format!("{} (until {})", l.requested_by, l.expires_at))
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
    let result = sync_under_lease(shared, job, fetcher.as_ref(), name, &lease, started).await;
    let lost = lease.is_lost();
    lease.finish().await;
    match result {
        Some(outcome) => outcome,
        None if lost => ProviderOutcome::lease_lost(name, started, &key),
        None => ProviderOutcome::cancelled(name, started),
    }
}

/// Fetches, plans and writes under `lease`; `None` when stopped at a safe
/// point (the job stopped or the lease was lost) with nothing written.
async fn sync_under_lease(
    shared: &Shared,
    job: &JobRecord,
    fetcher: &dyn PriceFetcher,
    name: &str,
    lease: &LeaseGuard,
    started: Instant,
) -> Option<ProviderOutcome> {
    let work = lease.work();
    unless_cancelled(
        work,
        shared.hooks.reached(SyncPoint::ProviderLeased {
            job: job.id,
            provider: name.to_owned(),
        }),
    )
    .await;
    let fetch_started = Instant::now();
    let fetched = unless_cancelled(work, fetcher.fetch()).await?;
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
    let provider: &ProviderId = fetcher.provider();
    let options = SyncOptions {
        dry_run: job.dry_run,
        ..shared.config.sync
    };
    let plan = match plan_price_list(&shared.store, provider, fetched, &options).await {
        Ok(plan) => plan,
        Err(e) => return Some(ProviderOutcome::failed(name, started, e.to_string())),
    };
    unless_cancelled(
        work,
        shared.hooks.reached(SyncPoint::BeforeWrite {
            job: job.id,
            provider: name.to_owned(),
            fetched: plan.fetched,
        }),
    )
    .await;
    // The last safe point: after it the write commits whole or not at all.
    if work.is_cancelled() {
        return None;
    }
    let write_scope = lease.writing();
    let written = write_plan(
        &shared.store,
        provider,
        plan,
        &options,
        Some(job.id),
        Some(lease.fence()),
    )
    .await;
    drop(write_scope);
    Some(match written {
        Ok(summary) => ProviderOutcome {
            provider: name.to_owned(),
            status: ProviderRunStatus::Succeeded,
            summary: Some(summary),
            error: None,
            duration: started.elapsed(),
        },
        Err(StoreError::FenceRejected { .. }) => {
            metrics::fence_rejected(name);
            ProviderOutcome::lease_lost(name, started, &lease.fence().key)
        }
        Err(e) => ProviderOutcome::failed(name, started, e.to_string()),
    })
}
