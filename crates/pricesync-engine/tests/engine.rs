//! The engine end to end on the real store (SQLite, and PostgreSQL when
//! available), made deterministic with pause points: no sleep is used to
//! wait for anything.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pricesync_domain::{JobState, ProviderId, ProviderRunStatus};
use pricesync_engine::{
    Engine, EngineConfig, EngineHandle, SchedulerConfig, SyncHooks, SyncPoint, TriggerOutcome,
    TriggerRequest,
};
use pricesync_providers::{FetchError, PriceFetcher};
use pricesync_store::{CancelOutcome, Store};
use tokio::sync::{mpsc, Notify};
use uuid::Uuid;

mod common;

use common::{list, TestFetcher};

// --- test doubles ------------------------------------------------------------

type Matcher = Box<dyn Fn(&SyncPoint) -> bool + Send + Sync>;

/// Reports every finished job, and holds the engine at one pause point
/// (the first time it is reached) until released.
struct TestHooks {
    finished: mpsc::UnboundedSender<(Uuid, Option<JobState>)>,
    pause: Option<Matcher>,
    paused: AtomicBool,
    reached: Notify,
    release: Notify,
}

impl TestHooks {
    fn new(
        pause: Option<Matcher>,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<(Uuid, Option<JobState>)>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Arc::new(Self {
                finished: tx,
                pause,
                paused: AtomicBool::new(false),
                reached: Notify::new(),
                release: Notify::new(),
            }),
            rx,
        )
    }
}

#[async_trait]
impl SyncHooks for TestHooks {
    async fn reached(&self, point: SyncPoint) {
        if let SyncPoint::JobFinished { job, state } = &point {
            let _ = self.finished.send((*job, *state));
        }
        if let Some(matcher) = &self.pause {
            if matcher(&point) && !self.paused.swap(true, Ordering::SeqCst) {
                self.reached.notify_one();
                self.release.notified().await;
            }
        }
    }
}

fn config() -> EngineConfig {
    EngineConfig {
        janitor_interval: Duration::from_secs(3600),
        poll_interval: Duration::from_secs(3600),
        // No heartbeat happens during a test (they take about a second): a
        // test ages heartbeats itself. It must stay under the rescue timeout.
        heartbeat_interval: Duration::from_secs(25),
        scheduler: SchedulerConfig {
            enabled: false,
            ..SchedulerConfig::default()
        },
        ..EngineConfig::default()
    }
}

async fn start(
    store: &Store,
    fetchers: Vec<Arc<TestFetcher>>,
    config: EngineConfig,
    hooks: Arc<TestHooks>,
) -> EngineHandle {
    let fetchers: Vec<Arc<dyn PriceFetcher>> = fetchers
        .into_iter()
        .map(|f| f as Arc<dyn PriceFetcher>)
        .collect();
    Engine::start(store.clone(), fetchers, config, Some(hooks))
        .await
        .expect("engine starts")
}

fn request(providers: &[&str]) -> TriggerRequest {
    TriggerRequest {
        providers: Some(providers.iter().map(|p| (*p).to_owned()).collect()),
        dry_run: false,
        triggered_by: "admin:test".into(),
    }
}

async fn queued(engine: &EngineHandle, providers: &[&str]) -> Uuid {
    match engine.trigger(request(providers)).await.expect("trigger") {
        TriggerOutcome::Queued(job) => job.id,
        other => panic!("expected a queued job, got {other:?}"),
    }
}

async fn finished(
    rx: &mut mpsc::UnboundedReceiver<(Uuid, Option<JobState>)>,
    job: Uuid,
) -> Option<JobState> {
    loop {
        let (id, state) = rx.recv().await.expect("the engine reports finished jobs");
        if id == job {
            return state;
        }
    }
}

async fn price(store: &Store, provider: &str, model: &str) -> Option<String> {
    let provider = ProviderId::parse(provider).expect("provider");
    store
        .get_model(&provider, model)
        .await
        .expect("get")
        .map(|m| m.prices[0].usd_per_unit.to_string())
}

// --- cases -------------------------------------------------------------------

async fn a_trigger_runs_to_completed_with_prices_and_logs(store: Store) {
    let (hooks, mut rx) = TestHooks::new(None);
    let a = TestFetcher::new(
        "alpha",
        vec![Ok(list(&[("m1", "0.000001"), ("m2", "0.000002")]))],
    );
    let engine = start(&store, vec![a], config(), hooks).await;
    let job = queued(&engine, &["alpha"]).await;
    assert_eq!(finished(&mut rx, job).await, Some(JobState::Completed));
    let view = engine.job(job).await.expect("job").expect("stored");
    assert_eq!(view.job.providers_done, 1);
    assert_eq!(view.job.models_processed, 2);
    assert_eq!(view.providers.len(), 1);
    assert_eq!(view.providers[0].status, ProviderRunStatus::Succeeded);
    assert_eq!(view.providers[0].models_added, 2);
    assert_eq!(
        price(&store, "alpha", "m2").await.as_deref(),
        Some("0.000002")
    );
    assert!(
        store.list_leases().await.expect("leases").is_empty(),
        "lease released"
    );
    engine.shutdown().await;
}

async fn concurrent_triggers_while_one_runs_make_one_job(store: Store) {
    let (hooks, mut rx) = TestHooks::new(Some(Box::new(|p| {
        matches!(p, SyncPoint::JobStarted { .. })
    })));
    let a = TestFetcher::new("alpha", vec![Ok(list(&[("m", "0.000001")]))]);
    let engine = Arc::new(start(&store, vec![a], config(), hooks.clone()).await);
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move { engine.trigger(request(&["alpha"])).await })
        })
        .collect();
    let mut jobs = Vec::new();
    let mut in_the_way = Vec::new();
    for task in tasks {
        match task.await.expect("task").expect("trigger") {
            TriggerOutcome::Queued(job) => jobs.push(job.id),
            TriggerOutcome::Busy { active, .. } => in_the_way.push(active.id),
        }
    }
    assert_eq!(jobs.len(), 1, "exactly one job");
    assert_eq!(in_the_way.len(), 999);
    assert!(
        in_the_way.iter().all(|id| *id == jobs[0]),
        "every refusal names the one job"
    );
    hooks.reached.notified().await;
    hooks.release.notify_one();
    assert_eq!(finished(&mut rx, jobs[0]).await, Some(JobState::Completed));
    engine.shutdown().await;
}

async fn concurrent_triggers_while_its_sync_runs_name_the_job_and_its_lease(store: Store) {
    let (hooks, mut rx) = TestHooks::new(Some(Box::new(|p| {
        matches!(p, SyncPoint::ProviderLeased { .. })
    })));
    let a = TestFetcher::new("alpha", vec![Ok(list(&[("m", "0.000001")]))]);
    let engine = Arc::new(start(&store, vec![a], config(), hooks.clone()).await);
    let job = queued(&engine, &["alpha"]).await;
    // The job holds alpha's lease and is held there while the burst comes.
    hooks.reached.notified().await;
    let held = store
        .get_lease("pricing_sync:alpha")
        .await
        .expect("lease")
        .expect("held while the sync runs");
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move { engine.trigger(request(&["alpha"])).await })
        })
        .collect();
    for task in tasks {
        match task.await.expect("task").expect("trigger") {
            TriggerOutcome::Busy {
                active,
                provider,
                lease,
            } => {
                assert_eq!(active.id, job, "the refusal names the running job");
                assert_eq!(provider, "alpha");
                assert_eq!(lease.as_ref(), Some(&held), "and its lease");
            }
            TriggerOutcome::Queued(other) => panic!("a second job was queued: {other:?}"),
        }
    }
    hooks.release.notify_one();
    assert_eq!(finished(&mut rx, job).await, Some(JobState::Completed));
    engine.shutdown().await;
}

async fn a_cancelled_queued_job_lets_the_next_trigger_through_at_once(store: Store) {
    // One worker, held at the start of alpha's job: beta's job stays queued.
    let (hooks, mut rx) = TestHooks::new(Some(Box::new(|p| {
        matches!(p, SyncPoint::JobStarted { .. })
    })));
    let fetchers = vec![
        TestFetcher::new("alpha", vec![Ok(list(&[("a", "0.000001")]))]),
        TestFetcher::new("beta", vec![Ok(list(&[("b", "0.000002")]))]),
    ];
    let engine = start(&store, fetchers, config(), hooks.clone()).await;
    let running = queued(&engine, &["alpha"]).await;
    hooks.reached.notified().await;
    let waiting = queued(&engine, &["beta"]).await;
    match engine.trigger(request(&["beta"])).await.expect("trigger") {
        TriggerOutcome::Busy { active, lease, .. } => {
            assert_eq!(active.id, waiting);
            assert_eq!(lease, None, "a queued job holds no lease");
        }
        other => panic!("expected the queued job in the way, got {other:?}"),
    }
    assert!(matches!(
        engine.cancel(waiting, "admin:test").await.expect("cancel"),
        CancelOutcome::Cancelled(_)
    ));
    let next = queued(&engine, &["beta"]).await;
    assert_ne!(next, waiting);
    hooks.release.notify_one();
    assert_eq!(finished(&mut rx, running).await, Some(JobState::Completed));
    assert_eq!(finished(&mut rx, next).await, Some(JobState::Completed));
    engine.shutdown().await;
}

async fn a_job_that_ends_in_another_engine_stops_refusing_at_once(store: Store) {
    // Once armed, whichever engine runs the second job holds it at its
    // lease, so that it is still active when A triggers.
    let armed = Arc::new(AtomicBool::new(false));
    let hold = |armed: Arc<AtomicBool>| -> Option<Matcher> {
        Some(Box::new(move |p| {
            armed.load(Ordering::SeqCst) && matches!(p, SyncPoint::ProviderLeased { .. })
        }))
    };
    let (hooks_a, mut rx_a) = TestHooks::new(hold(armed.clone()));
    let (hooks_b, mut rx_b) = TestHooks::new(hold(armed.clone()));
    let fetcher = TestFetcher::new("alpha", vec![Ok(list(&[("m", "0.000001")]))]);
    let a = start(&store, vec![fetcher.clone()], config(), hooks_a.clone()).await;
    let b = start(&store, vec![fetcher], config(), hooks_b.clone()).await;
    let first = queued(&a, &["alpha"]).await;
    let state = tokio::select! {
        s = finished(&mut rx_a, first) => s,
        s = finished(&mut rx_b, first) => s,
    };
    assert_eq!(state, Some(JobState::Completed));
    armed.store(true, Ordering::SeqCst);
    // Whichever engine ran it, the other's very next trigger goes through.
    let second = queued(&b, &["alpha"]).await;
    assert_ne!(second, first);
    tokio::select! {
        _ = hooks_a.reached.notified() => {}
        _ = hooks_b.reached.notified() => {}
    }
    let third = match a.trigger(request(&["alpha"])).await.expect("trigger") {
        TriggerOutcome::Busy { active, .. } => active.id,
        TriggerOutcome::Queued(job) => panic!("second job beside {second}: {job:?}"),
    };
    assert_eq!(third, second, "A's refusal names B's job");
    hooks_a.release.notify_one();
    hooks_b.release.notify_one();
    let state = tokio::select! {
        s = finished(&mut rx_a, second) => s,
        s = finished(&mut rx_b, second) => s,
    };
    assert_eq!(state, Some(JobState::Completed));
    a.shutdown().await;
    b.shutdown().await;
}

async fn a_job_that_ends_here_stops_refusing_at_once(store: Store) {
    let (hooks, mut rx) = TestHooks::new(None);
    // Each fetch waits at the gate, so the first job is still running when
    // the second trigger comes.
    let gate = Arc::new(Notify::new());
    let a = TestFetcher::gated_each(
        "alpha",
        vec![
            Ok(list(&[("m", "0.000001")])),
            Ok(list(&[("m", "0.000002")])),
        ],
        gate.clone(),
    );
    let engine = start(&store, vec![a], config(), hooks).await;
    let first = queued(&engine, &["alpha"]).await;
    match engine.trigger(request(&["alpha"])).await.expect("trigger") {
        TriggerOutcome::Busy { active, .. } => assert_eq!(active.id, first),
        other => panic!("expected the first job in the way, got {other:?}"),
    }
    gate.notify_one();
    assert_eq!(finished(&mut rx, first).await, Some(JobState::Completed));
    let second = queued(&engine, &["alpha"]).await;
    assert_ne!(second, first, "the ended job no longer refuses");
    gate.notify_one();
    assert_eq!(finished(&mut rx, second).await, Some(JobState::Completed));
    assert_eq!(
        price(&store, "alpha", "m").await.as_deref(),
        Some("0.000002")
    );
    engine.shutdown().await;
}

async fn one_failing_provider_of_three_is_partially_failed(store: Store) {
    let (hooks, mut rx) = TestHooks::new(None);
    let fetchers = vec![
        TestFetcher::new("alpha", vec![Ok(list(&[("a", "0.000001")]))]),
        TestFetcher::new("beta", vec![Err(FetchError::Timeout { seconds: 60 })]),
        TestFetcher::new("gamma", vec![Ok(list(&[("g", "0.000003")]))]),
    ];
    let engine = start(&store, fetchers, config(), hooks).await;
    let job = queued(&engine, &["alpha", "beta", "gamma"]).await;
    assert_eq!(
        finished(&mut rx, job).await,
        Some(JobState::PartiallyFailed)
    );
    assert_eq!(
        price(&store, "alpha", "a").await.as_deref(),
        Some("0.000001")
    );
    assert_eq!(
        price(&store, "gamma", "g").await.as_deref(),
        Some("0.000003")
    );
    let view = engine.job(job).await.expect("job").expect("stored");
    let beta = view
        .providers
        .iter()
        .find(|p| p.provider == "beta")
        .expect("logged");
    assert_eq!(beta.status, ProviderRunStatus::Failed);
    assert!(beta
        .error
        .as_deref()
        .unwrap_or_default()
        .contains("timed out"));
    assert!(view
        .job
        .error
        .as_deref()
        .unwrap_or_default()
        .starts_with("beta: "));
    engine.shutdown().await;
}

async fn all_failing_is_failed_and_no_success_is_recorded(store: Store) {
    let (hooks, mut rx) = TestHooks::new(None);
    let fetchers = vec![
        TestFetcher::new(
            "alpha",
            vec![Err(FetchError::HttpStatus {
                status: 503,
                detail: "down".into(),
            })],
        ),
        TestFetcher::new("beta", vec![Err(FetchError::Malformed("not JSON".into()))]),
    ];
    let engine = start(&store, fetchers, config(), hooks).await;
    let job = queued(&engine, &["alpha", "beta"]).await;
    assert_eq!(finished(&mut rx, job).await, Some(JobState::Failed));
    for provider in ["alpha", "beta"] {
        let (last, last_ok) = store.last_provider_runs(provider).await.expect("runs");
        assert_eq!(last.map(|l| l.status), Some(ProviderRunStatus::Failed));
        assert!(
            last_ok.is_none(),
            "no successful sync recorded for {provider}"
        );
    }
    engine.shutdown().await;
}

async fn a_provider_without_its_key_is_skipped_naming_the_variable(store: Store) {
    let (hooks, mut rx) = TestHooks::new(None);
    let fetchers = vec![
        TestFetcher::new("alpha", vec![Ok(list(&[("a", "0.000001")]))]),
        TestFetcher::new(
            "beta",
            vec![Err(FetchError::MissingCredentials {
                provider: "beta".into(),
                variable: "BETA_API_KEY".into(),
            })],
        ),
    ];
    let engine = start(&store, fetchers, config(), hooks).await;
    let job = queued(&engine, &["alpha", "beta"]).await;
    assert_eq!(
        finished(&mut rx, job).await,
        Some(JobState::PartiallyFailed)
    );
    let view = engine.job(job).await.expect("job").expect("stored");
    let beta = view
        .providers
        .iter()
        .find(|p| p.provider == "beta")
        .expect("logged");
    assert_eq!(beta.status, ProviderRunStatus::Skipped);
    assert!(beta
        .error
        .as_deref()
        .unwrap_or_default()
        .contains("BETA_API_KEY"));
    engine.shutdown().await;
}

async fn cancel_during_fetch_writes_nothing(store: Store) {
    let gate = Arc::new(Notify::new());
    let (hooks, mut rx) = TestHooks::new(Some(Box::new(|p| {
        matches!(p, SyncPoint::ProviderLeased { .. })
    })));
    let a = TestFetcher::gated("alpha", list(&[("m", "0.000001")]), gate.clone());
    let engine = start(&store, vec![a], config(), hooks.clone()).await;
    let job = queued(&engine, &["alpha"]).await;
    hooks.reached.notified().await;
    hooks.release.notify_one();
    // The fetch now waits at its gate: cancel it there.
    assert!(matches!(
        engine.cancel(job, "admin:test").await.expect("cancel"),
        CancelOutcome::Requested(_)
    ));
    assert_eq!(finished(&mut rx, job).await, Some(JobState::Cancelled));
    assert_eq!(price(&store, "alpha", "m").await, None);
    let view = engine.job(job).await.expect("job").expect("stored");
    assert_eq!(view.providers[0].status, ProviderRunStatus::Cancelled);
    engine.shutdown().await;
}

async fn cancel_before_the_write_writes_nothing(store: Store) {
    let (hooks, mut rx) = TestHooks::new(Some(Box::new(|p| {
        matches!(p, SyncPoint::BeforeWrite { .. })
    })));
    let a = TestFetcher::new("alpha", vec![Ok(list(&[("m", "0.000001")]))]);
    let engine = start(&store, vec![a], config(), hooks.clone()).await;
    let job = queued(&engine, &["alpha"]).await;
    hooks.reached.notified().await;
    engine.cancel(job, "admin:test").await.expect("cancel");
    hooks.release.notify_one();
    assert_eq!(finished(&mut rx, job).await, Some(JobState::Cancelled));
    assert_eq!(price(&store, "alpha", "m").await, None);
    engine.shutdown().await;
}

async fn shutdown_mid_job_requeues_without_using_an_attempt(store: Store) {
    let (hooks, mut rx) = TestHooks::new(Some(Box::new(|p| {
        matches!(p, SyncPoint::ProviderLeased { .. })
    })));
    let a = TestFetcher::new("alpha", vec![Ok(list(&[("m", "0.000001")]))]);
    let config = EngineConfig {
        shutdown_grace: Duration::from_millis(50),
        ..config()
    };
    let engine = start(&store, vec![a], config, hooks.clone()).await;
    let job = queued(&engine, &["alpha"]).await;
    hooks.reached.notified().await;
    // The job is held past the grace period: shutdown stops it and re-queues it.
    engine.shutdown().await;
    assert_eq!(finished(&mut rx, job).await, None);
    let record = store.get_job(job).await.expect("get").expect("stored");
    assert_eq!((record.state, record.attempt), (JobState::Queued, 0));
    assert_eq!(price(&store, "alpha", "m").await, None);

    // The next engine picks it up and completes it.
    let (hooks, mut rx) = TestHooks::new(None);
    let a = TestFetcher::new("alpha", vec![Ok(list(&[("m", "0.000001")]))]);
    let engine = start(&store, vec![a], self::config(), hooks).await;
    engine.run_janitor().await;
    assert_eq!(finished(&mut rx, job).await, Some(JobState::Completed));
    assert_eq!(
        store
            .get_job(job)
            .await
            .expect("get")
            .expect("stored")
            .attempt,
        1
    );
    engine.shutdown().await;
}

async fn a_dead_workers_job_is_rescued_and_completed(store: Store) {
    let (hooks, _rx) = TestHooks::new(Some(Box::new(|p| {
        matches!(p, SyncPoint::ProviderLeased { .. })
    })));
    let a = TestFetcher::new("alpha", vec![Ok(list(&[("m", "0.000001")]))]);
    let dying = start(&store, vec![a], config(), hooks.clone()).await;
    let job = queued(&dying, &["alpha"]).await;
    hooks.reached.notified().await;
    // The worker disappears without recording anything: the job stays its.
    dying.abort();
    let stuck = store.get_job(job).await.expect("get").expect("stored");
    assert_eq!(stuck.state, JobState::InProgress);
    // Its last heartbeat is older than the rescue timeout.
    store
        .age_heartbeat_for_tests(job, Duration::from_secs(31))
        .await
        .expect("age");

    let (hooks, mut rx) = TestHooks::new(None);
    let b = TestFetcher::new("alpha", vec![Ok(list(&[("m", "0.000002")]))]);
    let rescuer = start(&store, vec![b], config(), hooks).await; // start-up runs the janitor
    assert_eq!(finished(&mut rx, job).await, Some(JobState::Completed));
    let done = store.get_job(job).await.expect("get").expect("stored");
    assert_eq!(done.attempt, 2);
    assert_eq!(
        price(&store, "alpha", "m").await.as_deref(),
        Some("0.000002")
    );
    rescuer.shutdown().await;
}

async fn a_paused_holders_write_is_fenced_off(store: Store) {
    // Engine A pauses right before its write, holding the lease.
    let (hooks_a, mut rx_a) = TestHooks::new(Some(Box::new(|p| {
        matches!(p, SyncPoint::BeforeWrite { .. })
    })));
    let a = TestFetcher::new("alpha", vec![Ok(list(&[("m", "0.000001")]))]);
    let engine_a = start(&store, vec![a], config(), hooks_a.clone()).await;
    let job = queued(&engine_a, &["alpha"]).await;
    hooks_a.reached.notified().await;
    // A stays paused past its lease and its heartbeats: the job is rescued
    // and engine B takes it over and writes.
    store
        .age_heartbeat_for_tests(job, Duration::from_secs(60))
        .await
        .expect("age");
    store
        .expire_lease_for_tests("pricing_sync:alpha")
        .await
        .expect("expire");
    let (hooks_b, mut rx_b) = TestHooks::new(None);
    let b = TestFetcher::new("alpha", vec![Ok(list(&[("m", "0.000002")]))]);
    let engine_b = start(&store, vec![b], config(), hooks_b).await;
    assert_eq!(finished(&mut rx_b, job).await, Some(JobState::Completed));
    assert_eq!(
        price(&store, "alpha", "m").await.as_deref(),
        Some("0.000002")
    );
    // A wakes up and tries to write: the fence rejects it.
    hooks_a.release.notify_one();
    assert_eq!(
        finished(&mut rx_a, job).await,
        None,
        "A learns the job is not its own"
    );
    assert_eq!(
        price(&store, "alpha", "m").await.as_deref(),
        Some("0.000002"),
        "B's prices stay"
    );
    engine_a.shutdown().await;
    engine_b.shutdown().await;
}

async fn two_engines_make_one_job_per_slot_and_never_sync_a_provider_twice(store: Store) {
    let scheduled = EngineConfig {
        scheduler: SchedulerConfig {
            enabled: true,
            providers: vec!["alpha".into()],
            tick_interval: Duration::from_secs(3600),
            ..SchedulerConfig::default()
        },
        ..config()
    };
    let fetcher = TestFetcher::new("alpha", vec![Ok(list(&[("m", "0.000001")]))]);
    let (hooks_a, mut rx_a) = TestHooks::new(None);
    let (hooks_b, mut rx_b) = TestHooks::new(None);
    let a = Arc::new(start(&store, vec![fetcher.clone()], scheduled.clone(), hooks_a).await);
    let b = Arc::new(start(&store, vec![fetcher.clone()], scheduled, hooks_b).await);
    for _slot in 0..3 {
        store
            .make_schedule_due_for_tests("default")
            .await
            .expect("due");
        let ticks: Vec<_> = (0..10)
            .map(|i| {
                let engine = if i % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(async move { engine.tick_schedules().await })
            })
            .collect();
        for t in ticks {
            t.await.expect("tick");
        }
        let jobs = store.list_jobs(None, 100, None).await.expect("jobs");
        let active: Vec<_> = jobs.iter().filter(|j| !j.state.is_terminal()).collect();
        assert!(active.len() <= 1, "one job per slot: {active:?}");
        if let Some(job) = active.first() {
            let id = job.id;
            tokio::select! {
                s = finished(&mut rx_a, id) => assert_eq!(s, Some(JobState::Completed)),
                s = finished(&mut rx_b, id) => assert_eq!(s, Some(JobState::Completed)),
            }
        }
    }
    let jobs = store.list_jobs(None, 100, None).await.expect("jobs");
    assert_eq!(jobs.len(), 3, "three slots, three jobs");
    assert_eq!(
        fetcher.max_in_flight.load(Ordering::SeqCst),
        1,
        "never two syncs of one provider at once"
    );
    assert_eq!(fetcher.calls.load(Ordering::SeqCst), 3);
    a.shutdown().await;
    b.shutdown().await;
}

async fn unknown_providers_are_refused_with_the_known_ones(store: Store) {
    let (hooks, _rx) = TestHooks::new(None);
    let engine = start(
        &store,
        vec![TestFetcher::new("alpha", vec![])],
        config(),
        hooks,
    )
    .await;
    let error = engine
        .trigger(request(&["nosuch"]))
        .await
        .expect_err("unknown");
    let text = error.to_string();
    assert!(text.contains("nosuch") && text.contains("alpha"), "{text}");
    engine.shutdown().await;
}

async fn a_dry_run_writes_only_the_job(store: Store) {
    let (hooks, mut rx) = TestHooks::new(None);
    let engine = start(
        &store,
        vec![TestFetcher::new(
            "alpha",
            vec![Ok(list(&[("m", "0.000001")]))],
        )],
        config(),
        hooks,
    )
    .await;
    let job = match engine
        .trigger(TriggerRequest {
            dry_run: true,
            ..request(&["alpha"])
        })
        .await
        .expect("trigger")
    {
        TriggerOutcome::Queued(job) => job.id,
        other => panic!("{other:?}"),
    };
    assert_eq!(finished(&mut rx, job).await, Some(JobState::Completed));
    assert_eq!(price(&store, "alpha", "m").await, None);
    let view = engine.job(job).await.expect("job").expect("stored");
    assert_eq!(view.providers[0].models_added, 1, "the diff is reported");
    engine.shutdown().await;
}

pricesync_store::on_both_backends!(
    a_trigger_runs_to_completed_with_prices_and_logs,
    concurrent_triggers_while_one_runs_make_one_job,
    concurrent_triggers_while_its_sync_runs_name_the_job_and_its_lease,
    a_cancelled_queued_job_lets_the_next_trigger_through_at_once,
    a_job_that_ends_in_another_engine_stops_refusing_at_once,
    a_job_that_ends_here_stops_refusing_at_once,
    one_failing_provider_of_three_is_partially_failed,
    all_failing_is_failed_and_no_success_is_recorded,
    a_provider_without_its_key_is_skipped_naming_the_variable,
    cancel_during_fetch_writes_nothing,
    cancel_before_the_write_writes_nothing,
    shutdown_mid_job_requeues_without_using_an_attempt,
    a_dead_workers_job_is_rescued_and_completed,
    a_paused_holders_write_is_fenced_off,
    two_engines_make_one_job_per_slot_and_never_sync_a_provider_twice,
    unknown_providers_are_refused_with_the_known_ones,
    a_dry_run_writes_only_the_job,
);
