//! The leaderless scheduler: every replica ticks; the database decides,
//! through a compare-and-set on each schedule row, which tick enqueues a
//! slot's job. It also keeps each schedule's books: a failed run brings the
//! next one closer.

use std::sync::Arc;

use pricesync_domain::JobState;
use pricesync_store::{NewJob, StoreResult, TickOutcome};

use crate::metrics;
use crate::state::Shared;

/// Creates or updates the configured schedules. A schedule that is already
/// due runs after the start-up delay, not at once. An engine whose scheduler
/// is off leaves the shared schedule rows alone: one replica (or an embedded
/// engine) with the scheduler off must not switch scheduling off for the
/// others.
pub(crate) async fn ensure_schedules(shared: &Shared) -> StoreResult<()> {
    let config = &shared.config.scheduler;
    if !config.enabled {
        return Ok(());
    }
    for (name, providers, cadence) in config.schedules() {
        let schedule = shared
            .store
            .ensure_schedule(
                &name,
                &providers,
                &cadence,
                config.enabled,
                config.startup_delay,
            )
            .await?;
        tracing::info!(schedule = %name, providers = ?providers, cadence = %schedule.cadence,
            next_run_at = %schedule.next_run_at, "schedule in force");
    }
    Ok(())
}

/// Ticks every schedule once.
pub(crate) async fn tick_all(shared: &Shared) {
    let template = NewJob {
        providers: Vec::new(),
        dry_run: false,
        triggered_by: "scheduler".to_owned(),
        max_attempts: shared.config.max_attempts,
        schedule: None,
    };
    for (name, _, _) in shared.config.scheduler.schedules() {
        match shared.store.tick_schedule(&name, &template).await {
            Ok(TickOutcome::Enqueued(job)) => {
                tracing::info!(schedule = %name, job = %job.id, providers = ?job.providers, "scheduled sync enqueued");
                metrics::tick("enqueued");
                shared.wake.notify_one();
            }
            Ok(TickOutcome::Busy { active, provider }) => {
                tracing::info!(schedule = %name, provider, active_job = %active.id,
                    "scheduled sync skipped: a sync of the same provider is queued or running");
                metrics::tick("busy");
            }
            Ok(TickOutcome::NotDue { .. }) => metrics::tick("not_due"),
            Ok(TickOutcome::LostRace) => metrics::tick("lost_race"),
            Ok(TickOutcome::Disabled) => metrics::tick("disabled"),
            Err(e) => {
                tracing::warn!(schedule = %name, error = %e, "scheduler tick failed");
                metrics::tick("error");
            }
        }
    }
}

pub(crate) async fn scheduler_loop(shared: Arc<Shared>) {
    loop {
        tokio::select! {
            _ = shared.stop_claiming.cancelled() => return,
            _ = tokio::time::sleep(shared.config.scheduler.tick_interval) => {}
        }
        tick_all(&shared).await;
    }
}

/// Records how a scheduled run ended: a success keeps the schedule's
/// cadence; a failure brings the next attempt closer, backing off with each
/// failure in a row (see `RetryBackoff::delay`), never past the next slot.
pub(crate) async fn record_result(shared: &Shared, schedule: &str, state: JobState) {
    let succeeded = state == JobState::Completed;
    let backoff = &shared.config.scheduler.retry;
    let delay = match shared.store.get_schedule(schedule).await {
        Ok(Some(record)) => backoff.delay(record.consecutive_failures + 1, &record.cadence),
        _ => backoff.base,
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
