//! The engine's metrics (the `metrics` crate; the server installs the
//! Prometheus recorder). Names follow the system pricesync replaces; every
//! label set is bounded: provider names, states, outcome and error kinds —
//! never a model id or free text.
//!
//! The code says *lease* where the metric names, kept for the dashboards
//! and alerts that read them, say *lock*: [`LEASE_CONTENTION`] is
//! `pricing_lock_contention_total` and [`LEASE_RENEW_FAILURES`] is
//! `pricing_lock_renew_failures_total`.

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};

use crate::sync::ProviderSyncSummary;

/// Scheduled runs by final status.
pub const SCHEDULED_RUNS: &str = "pricing_scheduled_sync_runs_total";
/// Duration of scheduled runs.
pub const SCHEDULED_DURATION: &str = "pricing_scheduled_sync_duration_seconds";
/// Unix time of a provider's last successful sync.
pub const LAST_SYNC: &str = "pricing_last_sync_timestamp";
/// Models synced by provider and outcome (added, updated, unchanged, removed, skipped).
pub const MODELS_SYNCED: &str = "pricing_models_synced_total";
/// Provider fetch duration.
pub const FETCH_DURATION: &str = "pricing_provider_fetch_duration_seconds";
/// Provider fetch errors by kind.
pub const FETCH_ERRORS: &str = "pricing_provider_fetch_errors_total";
/// Skipped models by provider and reason code.
pub const MODELS_SKIPPED: &str = "pricing_models_skipped_total";
/// Price component changes by provider and change.
pub const PRICE_CHANGES: &str = "pricing_price_changes_total";
/// Price changes held for an admin's approval, by provider.
pub const PRICE_CHANGES_HELD: &str = "pricing_price_changes_held_total";
/// Lease acquisitions refused because another holder had it.
pub const LEASE_CONTENTION: &str = "pricing_lock_contention_total";
/// Lease renewals that failed or came late.
pub const LEASE_RENEW_FAILURES: &str = "pricing_lock_renew_failures_total";
/// Writes rejected by the fence.
pub const FENCING_REJECTIONS: &str = "pricing_fencing_rejections_total";
/// Jobs finished by final state.
pub const JOBS_FINISHED: &str = "pricing_sync_jobs_finished_total";
/// Jobs in each state (refreshed by the janitor).
pub const JOBS_BY_STATE: &str = "pricing_sync_jobs";
/// Time from enqueue to start.
pub const QUEUE_LAG: &str = "pricing_sync_queue_lag_seconds";
/// Jobs rescued by outcome (requeued, failed).
pub const JOBS_RESCUED: &str = "pricing_sync_jobs_rescued_total";
/// Webhook delivery attempts by event and outcome (delivered, retry,
/// failed: given up).
pub const WEBHOOK_ATTEMPTS: &str = "pricing_webhook_deliveries_total";
/// Duration of webhook delivery attempts.
pub const WEBHOOK_DURATION: &str = "pricing_webhook_delivery_duration_seconds";
/// Webhook deliveries not delivered yet (refreshed by the janitor).
pub const WEBHOOK_PENDING: &str = "pricing_webhook_deliveries_pending";
/// Scheduler ticks by outcome (enqueued, busy, not_due, lost_race, disabled, error).
pub const SCHEDULER_TICKS: &str = "pricing_scheduler_ticks_total";

/// Registers help texts and units. Call once after installing a recorder.
pub fn describe() {
    describe_counter!(SCHEDULED_RUNS, "Scheduled sync runs by final status.");
    describe_histogram!(
        SCHEDULED_DURATION,
        Unit::Seconds,
        "Duration of scheduled sync runs."
    );
    describe_gauge!(
        LAST_SYNC,
        Unit::Seconds,
        "Unix time of the provider's last successful sync."
    );
    describe_counter!(MODELS_SYNCED, "Models synced by provider and outcome.");
    describe_histogram!(FETCH_DURATION, Unit::Seconds, "Provider fetch duration.");
    describe_counter!(FETCH_ERRORS, "Provider fetch errors by kind.");
    describe_counter!(MODELS_SKIPPED, "Models skipped by provider and reason.");
    describe_counter!(
        PRICE_CHANGES,
        "Price component changes by provider and kind of change."
    );
    describe_counter!(
        PRICE_CHANGES_HELD,
        "Price component changes held for an admin's approval (moved by more than the hold factor), by provider; counted at each sync that holds them."
    );
    describe_counter!(
        LEASE_CONTENTION,
        "Lease acquisitions refused because another holder had the lease."
    );
    describe_counter!(
        LEASE_RENEW_FAILURES,
        "Lease renewals that failed or came too late."
    );
    describe_counter!(
        FENCING_REJECTIONS,
        "Price writes rejected by the fencing token."
    );
    describe_counter!(JOBS_FINISHED, "Sync jobs finished, by final state.");
    describe_gauge!(JOBS_BY_STATE, "Sync jobs in each state.");
    describe_histogram!(
        QUEUE_LAG,
        Unit::Seconds,
        "Time from a job's enqueue to its start."
    );
    describe_counter!(JOBS_RESCUED, "Jobs rescued from dead workers, by outcome.");
    describe_counter!(SCHEDULER_TICKS, "Scheduler ticks by outcome.");
    describe_counter!(
        WEBHOOK_ATTEMPTS,
        "Webhook delivery attempts by event and outcome: delivered, retry (failed, tried again later), failed (given up)."
    );
    describe_histogram!(
        WEBHOOK_DURATION,
        Unit::Seconds,
        "Duration of webhook delivery attempts."
    );
    describe_gauge!(
        WEBHOOK_PENDING,
        "Webhook deliveries not delivered yet, on every replica."
    );
}

/// Registers every counter the alert rules read at zero, for each of its
/// known label values, so that `increase()` sees the first event after a
/// start (a series that appears only with its first event reads as no
/// increase). Call once, after installing a recorder, with the configured
/// providers.
pub fn register_at_zero<S: AsRef<str>>(providers: &[S]) {
    for provider in providers {
        let p = || provider.as_ref().to_owned();
        for kind in pricesync_providers::FetchError::KINDS {
            counter!(FETCH_ERRORS, "provider" => p(), "kind" => kind).increment(0);
        }
        for reason in pricesync_domain::SkipReason::CODES {
            counter!(MODELS_SKIPPED, "provider" => p(), "reason" => reason).increment(0);
        }
        for status in ["added", "updated", "unchanged", "removed", "skipped"] {
            counter!(MODELS_SYNCED, "provider" => p(), "status" => status).increment(0);
        }
        counter!(PRICE_CHANGES_HELD, "provider" => p()).increment(0);
        counter!(LEASE_CONTENTION, "provider" => p()).increment(0);
        counter!(LEASE_RENEW_FAILURES, "provider" => p()).increment(0);
        counter!(FENCING_REJECTIONS, "provider" => p()).increment(0);
    }
    for outcome in ["requeued", "failed", "cancelled"] {
        counter!(JOBS_RESCUED, "outcome" => outcome).increment(0);
    }
    for event in pricesync_store::WebhookEvent::ALL {
        for outcome in ["delivered", "retry", "failed"] {
            counter!(WEBHOOK_ATTEMPTS, "event" => event.as_str(), "outcome" => outcome)
                .increment(0);
        }
    }
}

/// Histogram buckets (seconds) suited to each histogram, for the exporter.
pub fn buckets() -> Vec<(&'static str, Vec<f64>)> {
    vec![
        (
            SCHEDULED_DURATION,
            vec![0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0],
        ),
        (
            FETCH_DURATION,
            vec![0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0],
        ),
        (
            WEBHOOK_DURATION,
            vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
        ),
        (
            QUEUE_LAG,
            vec![0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0],
        ),
    ]
}

pub(crate) fn fetch_finished(provider: &str, seconds: f64, error_kind: Option<&'static str>) {
    histogram!(FETCH_DURATION, "provider" => provider.to_owned()).record(seconds);
    if let Some(kind) = error_kind {
        counter!(FETCH_ERRORS, "provider" => provider.to_owned(), "kind" => kind).increment(1);
    }
}

pub(crate) fn provider_synced(provider: &str, summary: &ProviderSyncSummary, dry_run: bool) {
    if dry_run {
        // A dry run changes nothing: it must not move the sync counters.
        return;
    }
    let p = || provider.to_owned();
    for (status, n) in [
        ("added", summary.added),
        ("updated", summary.updated),
        ("unchanged", summary.unchanged),
        ("removed", summary.removed),
        ("skipped", summary.skipped.len()),
    ] {
        counter!(MODELS_SYNCED, "provider" => p(), "status" => status).increment(n as u64);
    }
    for skipped in &summary.skipped {
        counter!(MODELS_SKIPPED, "provider" => p(), "reason" => skipped.reason.code()).increment(1);
    }
    {
        for (_, change) in summary.diff.component_changes() {
            let kind = match change {
                pricesync_domain::ComponentChange::Added(_) => "added",
                pricesync_domain::ComponentChange::Changed { .. } => "changed",
                pricesync_domain::ComponentChange::Removed(_) => "removed",
            };
            counter!(PRICE_CHANGES, "provider" => p(), "change" => kind).increment(1);
        }
        counter!(PRICE_CHANGES_HELD, "provider" => p()).increment(summary.held as u64);
        let now = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
        gauge!(LAST_SYNC, "provider" => p()).set(now);
    }
}

pub(crate) fn lease_contended(provider: &str) {
    counter!(LEASE_CONTENTION, "provider" => provider.to_owned()).increment(1);
}

pub(crate) fn lease_renew_failed(provider: &str) {
    counter!(LEASE_RENEW_FAILURES, "provider" => provider.to_owned()).increment(1);
}

pub(crate) fn fence_rejected(provider: &str) {
    counter!(FENCING_REJECTIONS, "provider" => provider.to_owned()).increment(1);
}

pub(crate) fn job_finished(state: &'static str, scheduled_seconds: Option<f64>) {
    counter!(JOBS_FINISHED, "state" => state).increment(1);
    if let Some(seconds) = scheduled_seconds {
        counter!(SCHEDULED_RUNS, "status" => state).increment(1);
        histogram!(SCHEDULED_DURATION).record(seconds);
    }
}

pub(crate) fn queue_lag(seconds: f64) {
    histogram!(QUEUE_LAG).record(seconds);
}

pub(crate) fn rescued(requeued: usize, failed: usize, cancelled: usize) {
    counter!(JOBS_RESCUED, "outcome" => "requeued").increment(requeued as u64);
    counter!(JOBS_RESCUED, "outcome" => "failed").increment(failed as u64);
    counter!(JOBS_RESCUED, "outcome" => "cancelled").increment(cancelled as u64);
}

pub(crate) fn tick(outcome: &'static str) {
    counter!(SCHEDULER_TICKS, "outcome" => outcome).increment(1);
}

pub(crate) fn jobs_in_state(state: &'static str, count: usize) {
    gauge!(JOBS_BY_STATE, "state" => state).set(count as f64);
}

/// One webhook delivery attempt. `event` is one of the store's event names
/// (a bounded set), `outcome` delivered, retry or failed.
pub(crate) fn webhook_attempt(event: &str, outcome: &'static str, seconds: f64) {
    counter!(WEBHOOK_ATTEMPTS, "event" => event.to_owned(), "outcome" => outcome).increment(1);
    histogram!(WEBHOOK_DURATION).record(seconds);
}

pub(crate) fn webhooks_pending(count: u64) {
    gauge!(WEBHOOK_PENDING).set(count as f64);
}
