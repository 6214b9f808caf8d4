//! Leases, jobs and schedules on both backends: the coordination that keeps
//! two syncs from colliding and jobs from getting stuck.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use pricesync_domain::{
    diff_price_lists, validate_price_list, Cadence, CronSchedule, JobState, ProviderId,
    ProviderRunStatus, ShrinkGuard, ValidationPolicy,
};
use pricesync_store::testing::one_price;
use pricesync_store::{
    CancelOutcome, EnqueueOutcome, HeartbeatOutcome, JobProgress, JobRecord, NewJob,
    NewProviderLog, ScheduleRecord, Store, StoreError, TickOutcome,
};

const TTL: Duration = Duration::from_secs(300);

fn providers(names: &[&str]) -> Vec<ProviderId> {
    names
        .iter()
        .map(|n| ProviderId::parse(n).expect("provider"))
        .collect()
}

fn job(names: &[&str]) -> NewJob {
    NewJob {
        providers: providers(names),
        dry_run: false,
        triggered_by: "admin:test".into(),
        max_attempts: 2,
        schedule: None,
    }
}

async fn enqueued(store: &Store, names: &[&str]) -> JobRecord {
    pricesync_store::testing::enqueued(store, &job(names)).await
}

// --- leases ------------------------------------------------------------------

async fn a_lease_has_one_holder_until_it_expires(store: Store) {
    let key = "pricing_sync:openrouter";
    let first = store
        .try_acquire_lease(key, "owner-a", "scheduler", TTL)
        .await
        .expect("acquire")
        .expect("free lease is taken");
    assert!(first.expires_at > first.acquired_at);
    assert!(store
        .try_acquire_lease(key, "owner-b", "admin:ops", TTL)
        .await
        .expect("acquire")
        .is_none());
    let renewed = store
        .renew_lease(&first.fence(), "owner-a", TTL)
        .await
        .expect("renew")
        .expect("still held");
    assert!(renewed.expires_at >= first.expires_at);

    // The holder pauses past its TTL: another takes over with a larger fence.
    store.expire_lease_for_tests(key).await.expect("expire");
    let second = store
        .try_acquire_lease(key, "owner-b", "admin:ops", TTL)
        .await
        .expect("acquire")
        .expect("expired lease is taken over");
    assert!(second.fence > first.fence, "fences only grow");
    assert!(store
        .renew_lease(&first.fence(), "owner-a", TTL)
        .await
        .expect("renew")
        .is_none());
    assert!(!store
        .release_lease(&first.fence(), "owner-a")
        .await
        .expect("release"));
    assert!(store
        .release_lease(&second.fence(), "owner-b")
        .await
        .expect("release"));
    assert!(store.list_leases().await.expect("list").is_empty());
}

async fn a_stale_fence_cannot_write_prices(store: Store) {
    let provider = ProviderId::parse("openrouter").expect("provider");
    let key = "pricing_sync:openrouter";
    let price_list =
        |price: &str| validate_price_list([one_price("m", price)], &ValidationPolicy::default());
    let old = store
        .try_acquire_lease(key, "paused", "scheduler", TTL)
        .await
        .expect("acquire")
        .expect("taken");
    // The old holder computed its diff, then paused past its lease.
    let stale_diff = diff_price_lists(&[], &price_list("0.000001"), ShrinkGuard::default());
    store.expire_lease_for_tests(key).await.expect("expire");
    let new = store
        .try_acquire_lease(key, "fresh", "scheduler", TTL)
        .await
        .expect("acquire")
        .expect("taken over");
    let fresh_diff = diff_price_lists(&[], &price_list("0.000002"), ShrinkGuard::default());
    store
        .apply_price_diff(&provider, &fresh_diff, None, Some(&new.fence()))
        .await
        .expect("the new holder writes");
    let rejected = store
        .apply_price_diff(&provider, &stale_diff, None, Some(&old.fence()))
        .await;
    assert!(
        matches!(rejected, Err(StoreError::FenceRejected { .. })),
        "{rejected:?}"
    );
    let model = store
        .get_model(&provider, "m")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(
        model.prices[0].usd_per_unit.to_string(),
        "0.000002",
        "the new holder's prices stay"
    );
}

async fn many_acquirers_one_holder(store: Store) {
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .try_acquire_lease(
                        "pricing_sync:nearai",
                        &format!("owner-{i}"),
                        "scheduler",
                        TTL,
                    )
                    .await
                    .expect("acquire")
            })
        })
        .collect();
    let mut holders = 0;
    for task in tasks {
        if task.await.expect("task").is_some() {
            holders += 1;
        }
    }
    assert_eq!(holders, 1);
}

// --- jobs --------------------------------------------------------------------

async fn concurrent_triggers_make_exactly_one_job(store: Store) {
    one_job_from_1000_concurrent(store, true).await;
}

/// The transaction alone, without the read that turns most requests away
/// first, must make exactly one job too.
async fn concurrent_inserts_without_the_fast_path_make_exactly_one_job(store: Store) {
    one_job_from_1000_concurrent(store, false).await;
}

async fn one_job_from_1000_concurrent(store: Store, fast_path: bool) {
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let job = job(&["openrouter", "nearai"]);
                if fast_path {
                    store.enqueue_job(&job).await
                } else {
                    store.enqueue_job_without_first_read_for_tests(&job).await
                }
            })
        })
        .collect();
    let mut created = Vec::new();
    let mut refused_for = HashSet::new();
    for task in tasks {
        match task.await.expect("task").expect("enqueue answers") {
            EnqueueOutcome::Enqueued(job) => created.push(job.id),
            EnqueueOutcome::Busy { active, .. } => {
                refused_for.insert(active.id);
            }
            EnqueueOutcome::SlotTaken => panic!("no schedule here"),
        }
    }
    assert_eq!(created.len(), 1, "exactly one job");
    assert_eq!(
        refused_for,
        HashSet::from([created[0]]),
        "every refusal names it"
    );
    assert_eq!(store.active_jobs().await.expect("active").len(), 1);
}

async fn overlapping_providers_are_refused_and_others_run_alongside(store: Store) {
    let first = enqueued(&store, &["openrouter", "nearai"]).await;
    match store.enqueue_job(&job(&["nearai"])).await.expect("enqueue") {
        EnqueueOutcome::Busy {
            active,
            provider,
            lease,
        } => {
            assert_eq!(active.id, first.id);
            assert_eq!(provider, "nearai");
            assert_eq!(lease, None, "a queued job holds no lease yet");
        }
        other => panic!("expected busy, got {other:?}"),
    }
    let other = enqueued(&store, &["featherless"]).await;
    assert_ne!(other.id, first.id);
}

async fn a_refusal_names_the_job_and_the_lease_in_its_way(store: Store) {
    assert_eq!(
        store
            .active_job_with_lease(&["openrouter"])
            .await
            .expect("read"),
        None,
        "nothing in the way"
    );
    let first = enqueued(&store, &["openrouter", "nearai"]).await;
    let queued = store
        .active_job_with_lease(&["featherless", "nearai"])
        .await
        .expect("read")
        .expect("a queued job is in the way");
    assert_eq!(queued.job.id, first.id);
    assert_eq!(queued.provider, "nearai");
    assert_eq!(queued.lease, None, "a queued job holds no lease yet");
    // Another provider's lease is not this one's.
    store
        .try_acquire_lease("pricing_sync:featherless", "w-2", "scheduler", TTL)
        .await
        .expect("acquire")
        .expect("free");
    let lease = store
        .try_acquire_lease("pricing_sync:nearai", "w-1", "admin:test", TTL)
        .await
        .expect("acquire")
        .expect("free");
    let running = store
        .active_job_with_lease(&["nearai"])
        .await
        .expect("read")
        .expect("in the way");
    assert_eq!(running.job.id, first.id);
    assert_eq!(running.lease, Some(lease), "the provider's own lease");
    assert_eq!(
        store
            .active_job_with_lease(&["featherless"])
            .await
            .expect("read"),
        None,
        "a lease alone is not a job"
    );
}

/// A refused enqueue carries the lease of the provider in the way, on both
/// paths: the first read and the transactional insert.
async fn a_refused_enqueue_carries_the_providers_lease(store: Store) {
    let first = enqueued(&store, &["openrouter", "nearai"]).await;
    let lease = store
        .try_acquire_lease("pricing_sync:nearai", "w-1", "admin:test", TTL)
        .await
        .expect("acquire")
        .expect("free");
    let via_read = store
        .enqueue_job(&job(&["featherless", "nearai"]))
        .await
        .expect("enqueue");
    let via_insert = store
        .enqueue_job_without_first_read_for_tests(&job(&["featherless", "nearai"]))
        .await
        .expect("enqueue");
    for outcome in [via_read, via_insert] {
        assert_eq!(
            outcome,
            EnqueueOutcome::Busy {
                active: first.clone(),
                provider: "nearai".into(),
                lease: Some(lease.clone()),
            }
        );
    }
    assert_eq!(
        store.active_jobs().await.expect("active"),
        [first],
        "nothing was enqueued"
    );
}

/// The record an enqueue returns is the stored row, database-clock columns
/// included, though it is built without reading the job back.
async fn an_enqueued_record_is_what_get_job_returns(store: Store) {
    let mut dry_run = job(&["openrouter"]);
    dry_run.dry_run = true;
    dry_run.max_attempts = 3;
    let record = enqueued(&store, &["nearai", "featherless"]).await;
    let stored = store
        .get_job(record.id)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(record, stored);
    assert_eq!(record.providers, ["nearai", "featherless"]);
    assert_eq!((record.providers_total, record.attempt), (2, 0));
    let EnqueueOutcome::Enqueued(dry) = store.enqueue_job(&dry_run).await.expect("enqueue") else {
        panic!("expected a new job");
    };
    assert_eq!(
        Some(&dry),
        store.get_job(dry.id).await.expect("get").as_ref()
    );
    assert!(dry.dry_run);
    assert_eq!(dry.max_attempts, 3);
}

async fn a_claimed_job_runs_guarded_to_its_end(store: Store) {
    let queued = enqueued(&store, &["openrouter"]).await;
    assert_eq!(queued.state, JobState::Queued);
    let running = store
        .claim_next_job("worker-1")
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(
        (running.id, running.state, running.attempt),
        (queued.id, JobState::InProgress, 1)
    );
    assert!(store
        .claim_next_job("worker-2")
        .await
        .expect("claim")
        .is_none());

    let progress = JobProgress {
        providers_done: 1,
        models_processed: 340,
    };
    assert_eq!(
        store
            .heartbeat_job(running.id, "worker-1", 1, progress)
            .await
            .expect("beat"),
        HeartbeatOutcome::Alive {
            cancel_requested: false
        }
    );
    assert_eq!(
        store
            .heartbeat_job(running.id, "worker-2", 1, progress)
            .await
            .expect("beat"),
        HeartbeatOutcome::Lost,
        "another worker's heartbeat is refused"
    );
    let log = |status, counts| NewProviderLog {
        provider: "openrouter".into(),
        status,
        counts,
        removals_suppressed: false,
        changes_held: 0,
        duration: Duration::from_millis(1234),
        error: None,
        skipped: Vec::new(),
        planned: Vec::new(),
    };
    assert!(store
        .record_provider_log(
            running.id,
            "worker-1",
            1,
            &log(ProviderRunStatus::Succeeded, [340, 3, 2, 335, 1, 0, 0]),
        )
        .await
        .expect("log"));
    // Another worker, or an older attempt, cannot rewrite the record.
    for (worker, attempt) in [("worker-2", 1), ("worker-1", 2), ("worker-1", 0)] {
        assert!(!store
            .record_provider_log(
                running.id,
                worker,
                attempt,
                &log(ProviderRunStatus::Failed, [0, 0, 0, 0, 0, 0, 1]),
            )
            .await
            .expect("log"));
    }
    let logs = store.job_provider_logs(running.id).await.expect("logs");
    assert_eq!(
        (logs[0].status, logs[0].models_updated),
        (ProviderRunStatus::Succeeded, 2)
    );
    assert!(!store
        .finish_job(
            running.id,
            "worker-2",
            1,
            JobState::Completed,
            progress,
            None
        )
        .await
        .expect("finish"));
    assert!(store
        .finish_job(
            running.id,
            "worker-1",
            1,
            JobState::Completed,
            progress,
            None
        )
        .await
        .expect("finish"));
    let done = store
        .get_job(running.id)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(done.state, JobState::Completed);
    assert_eq!(done.models_processed, 340);
    assert!(done.finished_at >= done.started_at);
    let logs = store.job_provider_logs(running.id).await.expect("logs");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].duration_ms, 1234);
    assert_eq!((logs[0].models_added, logs[0].models_skipped), (3, 1));
    let (last, last_ok) = store.last_provider_runs("openrouter").await.expect("runs");
    assert_eq!(last.map(|l| l.status), Some(ProviderRunStatus::Succeeded));
    assert!(last_ok.is_some());
    // The provider is free again.
    enqueued(&store, &["openrouter"]).await;
}

async fn dead_workers_jobs_are_rescued_then_failed_when_out_of_attempts(store: Store) {
    let queued = enqueued(&store, &["openrouter"]).await;
    let first = store
        .claim_next_job("dies-1")
        .await
        .expect("claim")
        .expect("job");
    store
        .age_heartbeat_for_tests(first.id, Duration::from_secs(60))
        .await
        .expect("age");
    let report = store
        .rescue_stale_jobs(Duration::from_secs(30))
        .await
        .expect("rescue");
    assert_eq!(report.requeued, [queued.id]);
    assert!(report.failed.is_empty());
    assert!(
        !store
            .finish_job(
                first.id,
                "dies-1",
                1,
                JobState::Completed,
                JobProgress::default(),
                None
            )
            .await
            .expect("finish"),
        "the worker that lost the job cannot complete it"
    );

    let second = store
        .claim_next_job("dies-2")
        .await
        .expect("claim")
        .expect("job");
    assert_eq!(second.attempt, 2);
    store
        .age_heartbeat_for_tests(second.id, Duration::from_secs(60))
        .await
        .expect("age");
    let report = store
        .rescue_stale_jobs(Duration::from_secs(30))
        .await
        .expect("rescue");
    assert_eq!(report.failed, [queued.id]);
    let failed = store
        .get_job(queued.id)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(failed.state, JobState::Failed);
    assert!(failed
        .error
        .as_deref()
        .unwrap_or_default()
        .contains("heartbeat"));
    // A fresh heartbeat is not stale.
    let third = enqueued(&store, &["openrouter"]).await;
    store
        .claim_next_job("alive")
        .await
        .expect("claim")
        .expect("job");
    let report = store
        .rescue_stale_jobs(Duration::from_secs(30))
        .await
        .expect("rescue");
    assert!(
        report.requeued.is_empty() && report.failed.is_empty(),
        "{third:?}"
    );
}

/// An admin cancels a running job, then its worker dies before it stops
/// the job: the rescuer ends it cancelled (not re-queued to run again), and
/// its provider is free.
async fn a_cancel_survives_the_workers_death(store: Store) {
    let queued = enqueued(&store, &["openrouter"]).await;
    let running = store
        .claim_next_job("dies")
        .await
        .expect("claim")
        .expect("job");
    store
        .cancel_job(running.id, "admin:ops")
        .await
        .expect("cancel");
    store
        .age_heartbeat_for_tests(running.id, Duration::from_secs(60))
        .await
        .expect("age");
    let report = store
        .rescue_stale_jobs(Duration::from_secs(30))
        .await
        .expect("rescue");
    assert_eq!(report.cancelled, [queued.id]);
    assert!(report.requeued.is_empty() && report.failed.is_empty());
    let job = store
        .get_job(queued.id)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(job.state, JobState::Cancelled);
    assert!(job.finished_at.is_some());
    assert!(
        store
            .claim_next_job("another")
            .await
            .expect("claim")
            .is_none(),
        "nothing to run again"
    );
    // The provider is free for the next sync.
    enqueued(&store, &["openrouter"]).await;
}

async fn shutdown_requeues_without_using_an_attempt(store: Store) {
    enqueued(&store, &["openrouter"]).await;
    let running = store
        .claim_next_job("w")
        .await
        .expect("claim")
        .expect("job");
    assert!(store
        .requeue_job(running.id, "w", 1, true)
        .await
        .expect("requeue"));
    let back = store
        .get_job(running.id)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(
        (back.state, back.attempt, back.worker.as_deref()),
        (JobState::Queued, 0, None)
    );
    let again = store
        .claim_next_job("w2")
        .await
        .expect("claim")
        .expect("job");
    assert_eq!(again.attempt, 1);
}

async fn cancel_stops_queued_jobs_at_once_and_flags_running_ones(store: Store) {
    let queued = enqueued(&store, &["openrouter"]).await;
    match store
        .cancel_job(queued.id, "admin:ops")
        .await
        .expect("cancel")
    {
        CancelOutcome::Cancelled(job) => assert_eq!(job.state, JobState::Cancelled),
        other => panic!("{other:?}"),
    }
    let running_job = enqueued(&store, &["openrouter"]).await;
    let running = store
        .claim_next_job("w")
        .await
        .expect("claim")
        .expect("job");
    assert_eq!(running.id, running_job.id);
    assert!(matches!(
        store
            .cancel_job(running.id, "admin:ops")
            .await
            .expect("cancel"),
        CancelOutcome::Requested(_)
    ));
    assert_eq!(
        store
            .heartbeat_job(running.id, "w", 1, JobProgress::default())
            .await
            .expect("beat"),
        HeartbeatOutcome::Alive {
            cancel_requested: true
        }
    );
    assert!(store
        .finish_job(
            running.id,
            "w",
            1,
            JobState::Cancelled,
            JobProgress::default(),
            Some("cancelled")
        )
        .await
        .expect("finish"));
    assert!(matches!(
        store
            .cancel_job(running.id, "admin:ops")
            .await
            .expect("cancel"),
        CancelOutcome::AlreadyFinished(_)
    ));
    assert_eq!(
        store
            .cancel_job(uuid::Uuid::now_v7(), "admin:ops")
            .await
            .expect("cancel"),
        CancelOutcome::NotFound
    );
}

async fn jobs_list_newest_first_and_old_ones_are_pruned(store: Store) {
    let a = enqueued(&store, &["a"]).await;
    let b = enqueued(&store, &["b"]).await;
    let c = enqueued(&store, &["c"]).await;
    let page = store.list_jobs(None, 2, None).await.expect("list");
    assert_eq!(page.iter().map(|j| j.id).collect::<Vec<_>>(), [c.id, b.id]);
    let next = store.list_jobs(None, 2, Some(b.id)).await.expect("list");
    assert_eq!(next.iter().map(|j| j.id).collect::<Vec<_>>(), [a.id]);
    store.cancel_job(a.id, "t").await.expect("cancel");
    let cancelled = store
        .list_jobs(Some(JobState::Cancelled), 10, None)
        .await
        .expect("list");
    assert_eq!(cancelled.len(), 1);
    assert_eq!(
        store
            .prune_finished_jobs(Duration::from_secs(3600))
            .await
            .expect("prune"),
        0
    );
    assert_eq!(
        store
            .prune_finished_jobs(Duration::ZERO)
            .await
            .expect("prune"),
        1
    );
    assert!(store.get_job(a.id).await.expect("get").is_none());
}

// --- schedules -----------------------------------------------------------------

async fn a_due_slot_yields_one_job_and_busy_providers_skip_it(store: Store) {
    let names = vec!["openrouter".to_owned(), "nearai".to_owned()];
    let schedule = ensure(
        &store,
        &names,
        &Cadence::Every(Duration::from_secs(6 * 3600)),
        true,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(schedule.providers, names);
    let template = NewJob {
        triggered_by: "scheduler".into(),
        ..job(&["openrouter"])
    };
    assert!(matches!(
        store
            .tick_schedule("default", &template)
            .await
            .expect("tick"),
        TickOutcome::NotDue { .. }
    ));
    store
        .make_schedule_due_for_tests("default")
        .await
        .expect("due");
    let job = match store
        .tick_schedule("default", &template)
        .await
        .expect("tick")
    {
        TickOutcome::Enqueued(job) => job,
        other => panic!("{other:?}"),
    };
    assert_eq!(job.providers, names);
    assert_eq!(job.schedule_name.as_deref(), Some("default"));
    assert!(matches!(
        store
            .tick_schedule("default", &template)
            .await
            .expect("tick"),
        TickOutcome::NotDue { .. }
    ));
    // Due again while the first job still runs: skipped, slot advanced.
    store
        .make_schedule_due_for_tests("default")
        .await
        .expect("due");
    match store
        .tick_schedule("default", &template)
        .await
        .expect("tick")
    {
        TickOutcome::Busy { active, .. } => assert_eq!(active.id, job.id),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store
            .tick_schedule("default", &template)
            .await
            .expect("tick"),
        TickOutcome::NotDue { .. }
    ));
    assert_eq!(store.active_jobs().await.expect("active").len(), 1);
}

/// `replicas` schedulers tick the `default` schedule at the same time;
/// the store back, and what each tick did.
async fn tick_at_once(store: Store, replicas: usize) -> (Arc<Store>, Vec<TickOutcome>) {
    let store = Arc::new(store);
    let template = NewJob {
        triggered_by: "scheduler".into(),
        ..job(&["openrouter"])
    };
    let tasks: Vec<_> = (0..replicas)
        .map(|_| {
            let store = store.clone();
            let template = template.clone();
            tokio::spawn(async move { store.tick_schedule("default", &template).await })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(replicas);
    for task in tasks {
        outcomes.push(task.await.expect("task").expect("tick"));
    }
    (store, outcomes)
}

async fn concurrent_ticks_produce_one_job_per_slot(store: Store) {
    let names = vec!["openrouter".to_owned()];
    ensure(
        &store,
        &names,
        &Cadence::Every(Duration::from_secs(3600)),
        true,
        Duration::ZERO,
    )
    .await;
    store
        .make_schedule_due_for_tests("default")
        .await
        .expect("due");
    let (store, outcomes) = tick_at_once(store, 20).await;
    let enqueued = outcomes
        .iter()
        .filter(|o| matches!(o, TickOutcome::Enqueued(_)))
        .count();
    assert_eq!(enqueued, 1);
    assert_eq!(store.active_jobs().await.expect("active").len(), 1);
}

async fn a_failure_brings_the_next_run_forward(store: Store) {
    let names = vec!["openrouter".to_owned()];
    let before = ensure(
        &store,
        &names,
        &Cadence::Every(Duration::from_secs(6 * 3600)),
        true,
        Duration::from_secs(6 * 3600),
    )
    .await;
    store
        .record_schedule_result("default", false, Duration::from_secs(60))
        .await
        .expect("record");
    let after = stored_schedule(&store).await;
    assert_eq!(after.consecutive_failures, 1);
    assert!(after.next_run_at < before.next_run_at);
    assert!(after.next_run_at - before.next_run_at < time::Duration::hours(-5));
    store
        .record_schedule_result("default", true, Duration::from_secs(60))
        .await
        .expect("record");
    assert_eq!(stored_schedule(&store).await.consecutive_failures, 0);
    let disabled = ensure(
        &store,
        &names,
        &Cadence::Every(Duration::from_secs(3600)),
        false,
        Duration::ZERO,
    )
    .await;
    assert!(!disabled.enabled);
    store
        .make_schedule_due_for_tests("default")
        .await
        .expect("due");
    assert_eq!(
        store
            .tick_schedule("default", &job(&["openrouter"]))
            .await
            .expect("tick"),
        TickOutcome::Disabled
    );
}

/// Writes the schedule "default" of `names` (see `Store::ensure_schedule`).
async fn ensure(
    store: &Store,
    names: &[String],
    cadence: &Cadence,
    enabled: bool,
    first_delay: Duration,
) -> ScheduleRecord {
    store
        .ensure_schedule("default", names, cadence, enabled, first_delay)
        .await
        .expect("schedule")
}

/// The stored schedule "default".
async fn stored_schedule(store: &Store) -> ScheduleRecord {
    store
        .get_schedule("default")
        .await
        .expect("get")
        .expect("stored")
}

fn hourly() -> Cadence {
    Cadence::Cron(CronSchedule::parse("0 * * * *").expect("cron"))
}

/// The database clock's "now", as the schedules see it.
async fn db_now(store: &Store) -> time::OffsetDateTime {
    store.database_now_for_tests().await.expect("now")
}

async fn a_cron_schedule_first_runs_at_its_next_slot(store: Store) {
    let names = vec!["openrouter".to_owned()];
    let before = db_now(&store).await;
    let schedule = ensure(&store, &names, &hourly(), true, Duration::from_secs(30)).await;
    assert_eq!(schedule.cadence, hourly());
    // Not after the start-up delay: at the slot, on the hour, in UTC.
    let slot = schedule.next_run_at;
    assert_eq!((slot.minute(), slot.second(), slot.nanosecond()), (0, 0, 0));
    assert_eq!(slot.offset(), time::UtcOffset::UTC);
    assert!(
        slot > before && slot - before <= time::Duration::hours(1),
        "{before} → {slot}"
    );
    // Written again unchanged (a restart, another replica): the slot stays.
    let again = ensure(&store, &names, &hourly(), true, Duration::from_secs(30)).await;
    assert_eq!(again.next_run_at, slot);
    // A new expression moves the next run to its own first slot.
    let daily = Cadence::Cron(CronSchedule::parse("30 3 * * *").expect("cron"));
    let changed = ensure(&store, &names, &daily, true, Duration::from_secs(30)).await;
    assert_eq!(
        (changed.next_run_at.hour(), changed.next_run_at.minute()),
        (3, 30)
    );
    // Back to an interval: at most one interval away.
    let every = ensure(
        &store,
        &names,
        &Cadence::Every(Duration::from_secs(600)),
        true,
        Duration::ZERO,
    )
    .await;
    assert_eq!(every.cadence, Cadence::Every(Duration::from_secs(600)));
    assert!(every.next_run_at - db_now(&store).await <= time::Duration::seconds(600));
}

async fn concurrent_ticks_make_one_job_per_cron_slot(store: Store) {
    let names = vec!["openrouter".to_owned()];
    ensure(&store, &names, &hourly(), true, Duration::ZERO).await;
    store
        .make_schedule_due_for_tests("default")
        .await
        .expect("due");
    let slot = stored_schedule(&store).await.next_run_at;
    let (store, outcomes) = tick_at_once(store, 20).await;
    let mut jobs = Vec::new();
    for outcome in outcomes {
        match outcome {
            TickOutcome::Enqueued(job) => jobs.push(job),
            TickOutcome::LostRace | TickOutcome::NotDue { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(jobs.len(), 1, "one job for the slot: {jobs:?}");
    assert_eq!(store.active_jobs().await.expect("active").len(), 1);
    let after = stored_schedule(&store).await;
    assert_eq!(after.last_slot_at, Some(slot));
    assert_eq!(after.last_job_id, Some(jobs[0].id));
    // The next slot is the expression's next one after now: on the hour,
    // within the hour ahead.
    let now = db_now(&store).await;
    assert_eq!(
        (after.next_run_at.minute(), after.next_run_at.second()),
        (0, 0)
    );
    assert!(after.next_run_at > now && after.next_run_at - now <= time::Duration::hours(1));
}

async fn cron_slots_missed_while_everything_was_down_make_one_run(store: Store) {
    let names = vec!["openrouter".to_owned()];
    ensure(&store, &names, &hourly(), true, Duration::ZERO).await;
    // Three days of hourly slots missed.
    store
        .make_schedule_overdue_for_tests("default", Duration::from_secs(3 * 24 * 3600))
        .await
        .expect("overdue");
    // An engine starts: the overdue run waits for the start-up delay
    // (zero here) instead of running 72 times.
    let restarted = ensure(&store, &names, &hourly(), true, Duration::ZERO).await;
    assert!(restarted.next_run_at <= db_now(&store).await);
    let template = NewJob {
        triggered_by: "scheduler".into(),
        ..job(&["openrouter"])
    };
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        outcomes.push(
            store
                .tick_schedule("default", &template)
                .await
                .expect("tick"),
        );
    }
    let enqueued = outcomes
        .iter()
        .filter(|o| matches!(o, TickOutcome::Enqueued(_)))
        .count();
    assert_eq!(enqueued, 1, "one catch-up run: {outcomes:?}");
    assert!(matches!(outcomes[0], TickOutcome::Enqueued(_)));
    for outcome in &outcomes[1..] {
        match outcome {
            TickOutcome::NotDue { next_run_at } => {
                assert_eq!((next_run_at.minute(), next_run_at.second()), (0, 0));
            }
            other => panic!("{other:?}"),
        }
    }
    // The same without a restart in between (ticks of an engine that was
    // paused, not restarted): still one run.
    let finished = store.active_jobs().await.expect("active");
    for job in finished {
        store.cancel_job(job.id, "test").await.expect("cancel");
    }
    store
        .make_schedule_overdue_for_tests("default", Duration::from_secs(3 * 24 * 3600))
        .await
        .expect("overdue");
    let mut enqueued = 0;
    for _ in 0..5 {
        if let TickOutcome::Enqueued(_) = store
            .tick_schedule("default", &template)
            .await
            .expect("tick")
        {
            enqueued += 1;
        }
    }
    assert_eq!(enqueued, 1);
}

async fn a_failed_cron_run_retries_before_its_next_slot_never_after(store: Store) {
    let names = vec!["openrouter".to_owned()];
    // A slot far ahead (the next 29 February): a 60 s retry comes first.
    let leap_day = Cadence::Cron(CronSchedule::parse("0 3 29 2 *").expect("cron"));
    let slot = ensure(&store, &names, &leap_day, true, Duration::ZERO)
        .await
        .next_run_at;
    store
        .record_schedule_result("default", false, Duration::from_secs(60))
        .await
        .expect("record");
    let retried = stored_schedule(&store).await;
    let now = db_now(&store).await;
    assert!(retried.next_run_at < slot);
    assert!(retried.next_run_at - now <= time::Duration::seconds(60));
    assert_eq!(retried.consecutive_failures, 1);
    // An hourly slot comes before a two-day retry: the slot stays.
    let slot = ensure(&store, &names, &hourly(), true, Duration::ZERO)
        .await
        .next_run_at;
    store
        .record_schedule_result("default", false, Duration::from_secs(2 * 24 * 3600))
        .await
        .expect("record");
    let kept = stored_schedule(&store).await;
    assert_eq!(kept.next_run_at, slot);
    assert_eq!(kept.consecutive_failures, 2);
}

pricesync_store::on_both_backends!(
    a_cron_schedule_first_runs_at_its_next_slot,
    concurrent_ticks_make_one_job_per_cron_slot,
    cron_slots_missed_while_everything_was_down_make_one_run,
    a_failed_cron_run_retries_before_its_next_slot_never_after,
    a_lease_has_one_holder_until_it_expires,
    a_cancel_survives_the_workers_death,
    a_stale_fence_cannot_write_prices,
    many_acquirers_one_holder,
    concurrent_triggers_make_exactly_one_job,
    concurrent_inserts_without_the_fast_path_make_exactly_one_job,
    overlapping_providers_are_refused_and_others_run_alongside,
    a_refusal_names_the_job_and_the_lease_in_its_way,
    a_refused_enqueue_carries_the_providers_lease,
    an_enqueued_record_is_what_get_job_returns,
    a_claimed_job_runs_guarded_to_its_end,
    dead_workers_jobs_are_rescued_then_failed_when_out_of_attempts,
    shutdown_requeues_without_using_an_attempt,
    cancel_stops_queued_jobs_at_once_and_flags_running_ones,
    jobs_list_newest_first_and_old_ones_are_pruned,
    a_due_slot_yields_one_job_and_busy_providers_skip_it,
    concurrent_ticks_produce_one_job_per_slot,
    a_failure_brings_the_next_run_forward,
);
