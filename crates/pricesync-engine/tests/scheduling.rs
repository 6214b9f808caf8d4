//! Cron schedules, the retry backoff and the providers' start order, end to
//! end on the real store (SQLite, and PostgreSQL when available). Time is
//! the database's: a test makes a slot due instead of waiting for it, and
//! learns that a job ended from the engine's pause points, never by
//! sleeping.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pricesync_domain::{Cadence, CronSchedule, JobState};
use pricesync_engine::{
    Engine, EngineConfig, EngineError, EngineHandle, RetryBackoff, SchedulerConfig, SyncHooks,
    SyncPoint, TriggerOutcome, TriggerRequest,
};
use pricesync_providers::{FetchError, PriceFetcher};
use pricesync_store::Store;
use tokio::sync::{mpsc, Barrier};
use uuid::Uuid;

mod common;

use common::{list, TestFetcher};

/// Answers one model at one price.
fn ok(name: &str) -> Arc<dyn PriceFetcher> {
    TestFetcher::new(name, vec![Ok(list(&[("m", "0.000001")]))])
}

/// Fails every time.
fn failing(name: &str) -> Arc<dyn PriceFetcher> {
    TestFetcher::new(name, vec![Err(FetchError::Timeout { seconds: 60 })])
}

/// Records the order in which providers took their lease (started), and
/// reports finished jobs.
struct Recorder {
    started: Mutex<Vec<String>>,
    finished: mpsc::UnboundedSender<(Uuid, Option<JobState>)>,
    /// Providers held right after their lease until all of them have one.
    gate: Option<(Vec<String>, Barrier)>,
}

impl Recorder {
    fn new() -> (Arc<Self>, mpsc::UnboundedReceiver<(Uuid, Option<JobState>)>) {
        Self::gated(&[])
    }

    /// A recorder that holds each of `providers` after its lease until all
    /// of them are leased, so that none of them finishes (and frees its
    /// place for another) before the others have started.
    fn gated(providers: &[&str]) -> (Arc<Self>, mpsc::UnboundedReceiver<(Uuid, Option<JobState>)>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let gate = (!providers.is_empty()).then(|| {
            (
                providers.iter().map(|p| (*p).to_owned()).collect(),
                Barrier::new(providers.len()),
            )
        });
        (
            Arc::new(Self {
                started: Mutex::new(Vec::new()),
                finished: tx,
                gate,
            }),
            rx,
        )
    }

    fn started(&self) -> Vec<String> {
        self.started.lock().expect("lock").clone()
    }
}

#[async_trait]
impl SyncHooks for Recorder {
    async fn reached(&self, point: SyncPoint) {
        match point {
            SyncPoint::ProviderLeased { provider, .. } => {
                self.started.lock().expect("lock").push(provider.clone());
                if let Some((held, barrier)) = &self.gate {
                    if held.contains(&provider) {
                        // Bounded, so that a provider that never leases
                        // fails the test's order check instead of hanging it.
                        let _ = tokio::time::timeout(Duration::from_secs(30), barrier.wait()).await;
                    }
                }
            }
            SyncPoint::JobFinished { job, state } => {
                let _ = self.finished.send((job, state));
            }
            _ => {}
        }
    }
}

async fn finished(rx: &mut mpsc::UnboundedReceiver<(Uuid, Option<JobState>)>) -> (Uuid, JobState) {
    loop {
        let (id, state) = rx.recv().await.expect("the engine reports finished jobs");
        if let Some(state) = state {
            return (id, state);
        }
    }
}

/// An engine whose own timers never fire during a test: the test ticks.
fn config(scheduler: SchedulerConfig) -> EngineConfig {
    EngineConfig {
        janitor_interval: Duration::from_secs(3600),
        poll_interval: Duration::from_secs(3600),
        heartbeat_interval: Duration::from_secs(25),
        scheduler: SchedulerConfig {
            tick_interval: Duration::from_secs(3600),
            startup_delay: Duration::ZERO,
            ..scheduler
        },
        ..EngineConfig::default()
    }
}

async fn start(
    store: &Store,
    fetchers: Vec<Arc<dyn PriceFetcher>>,
    config: EngineConfig,
    hooks: Arc<Recorder>,
) -> EngineHandle {
    Engine::start(store.clone(), fetchers, config, Some(hooks))
        .await
        .expect("engine starts")
}

fn cron(expression: &str) -> Cadence {
    Cadence::Cron(CronSchedule::parse(expression).expect("cron"))
}

// --- cases -------------------------------------------------------------------

async fn engines_ticking_at_once_make_one_job_per_cron_slot(store: Store) {
    let scheduled = config(SchedulerConfig {
        providers: vec!["alpha".into()],
        cadence: cron("15 */2 * * *"),
        ..SchedulerConfig::default()
    });
    let (hooks_a, mut rx_a) = Recorder::new();
    let (hooks_b, mut rx_b) = Recorder::new();
    let (hooks_c, mut rx_c) = Recorder::new();
    let engines = [
        Arc::new(start(&store, vec![ok("alpha")], scheduled.clone(), hooks_a).await),
        Arc::new(start(&store, vec![ok("alpha")], scheduled.clone(), hooks_b).await),
        Arc::new(start(&store, vec![ok("alpha")], scheduled, hooks_c).await),
    ];
    let schedule = store
        .get_schedule("default")
        .await
        .expect("get")
        .expect("written at start");
    assert_eq!(schedule.cadence, cron("15 */2 * * *"));
    // Not due at start: the first run is the expression's first slot.
    let slot = schedule.next_run_at;
    assert_eq!((slot.hour() % 2, slot.minute(), slot.second()), (0, 15, 0));
    for round in 0..3 {
        store
            .make_schedule_due_for_tests("default")
            .await
            .expect("due");
        let ticks: Vec<_> = (0..12)
            .map(|i| {
                let engine = engines[i % 3].clone();
                tokio::spawn(async move { engine.tick_schedules().await })
            })
            .collect();
        for tick in ticks {
            tick.await.expect("tick");
        }
        let jobs = store.list_jobs(None, 100, None).await.expect("jobs");
        assert_eq!(jobs.len(), round + 1, "one job per slot: {jobs:?}");
        let job = jobs[0].id;
        let (id, state) = tokio::select! {
            f = finished(&mut rx_a) => f,
            f = finished(&mut rx_b) => f,
            f = finished(&mut rx_c) => f,
        };
        assert_eq!((id, state), (job, JobState::Completed));
        // After the run the schedule is back on the expression's grid.
        let after = store
            .get_schedule("default")
            .await
            .expect("get")
            .expect("stored");
        let next = after.next_run_at;
        assert_eq!((next.hour() % 2, next.minute(), next.second()), (0, 15, 0));
        assert_eq!(after.consecutive_failures, 0);
    }
    for engine in &engines {
        engine.shutdown().await;
    }
}

async fn a_failed_scheduled_run_is_retried_by_the_configured_backoff(store: Store) {
    let backoff = RetryBackoff {
        base: Duration::from_secs(100),
        factor: 3,
        max: Duration::from_secs(500),
    };
    let engine_config = config(SchedulerConfig {
        providers: vec!["alpha".into()],
        cadence: Cadence::Every(Duration::from_secs(24 * 3600)),
        retry: backoff,
        ..SchedulerConfig::default()
    });
    let (hooks, mut rx) = Recorder::new();
    let engine = start(&store, vec![failing("alpha")], engine_config, hooks).await;
    // 100 s, then ×3 = 300 s, then capped at 500 s.
    for (failures, expected) in [(1, 100), (2, 300), (3, 500)] {
        store
            .make_schedule_due_for_tests("default")
            .await
            .expect("due");
        engine.tick_schedules().await;
        let (_, state) = finished(&mut rx).await;
        assert_eq!(state, JobState::Failed);
        let schedule = store
            .get_schedule("default")
            .await
            .expect("get")
            .expect("stored");
        assert_eq!(schedule.consecutive_failures, failures);
        let wait = schedule.next_run_at - store.database_now_for_tests().await.expect("now");
        assert!(
            wait <= time::Duration::seconds(expected)
                && wait > time::Duration::seconds(expected - 30),
            "after {failures} failures the retry comes in {expected} s, not {wait}"
        );
    }
    engine.shutdown().await;
}

async fn a_jobs_providers_start_in_priority_order(store: Store) {
    let names = ["alpha", "beta", "gamma", "delta"];
    let fetchers = || names.iter().map(|n| ok(n)).collect::<Vec<_>>();
    for parallelism in [1, 2] {
        // Two at a time, the priority pair is held until both have started.
        let (hooks, mut rx) = if parallelism == 2 {
            Recorder::gated(&["gamma", "delta"])
        } else {
            Recorder::new()
        };
        let engine_config = EngineConfig {
            provider_parallelism: parallelism,
            provider_priority: vec!["gamma".into(), "delta".into()],
            ..config(SchedulerConfig {
                enabled: false,
                // The configured order of the rest.
                providers: vec!["beta".into(), "alpha".into()],
                ..SchedulerConfig::default()
            })
        };
        let engine = start(&store, fetchers(), engine_config, hooks.clone()).await;
        let request = TriggerRequest {
            providers: Some(names.iter().map(|n| (*n).to_owned()).collect()),
            dry_run: false,
            triggered_by: "admin:test".into(),
        };
        let job = match engine.trigger(request).await.expect("trigger") {
            TriggerOutcome::Queued(job) => job.id,
            other => panic!("expected a queued job, got {other:?}"),
        };
        assert_eq!(finished(&mut rx).await, (job, JobState::Completed));
        let started = hooks.started();
        if parallelism == 1 {
            assert_eq!(started, ["gamma", "delta", "beta", "alpha"]);
        } else {
            // Two at a time: the priority pair starts first, in either
            // order. Its two places can free up at once, and then the
            // other two start side by side, in either order too (their
            // order is checked with one place, above).
            let sorted = |names: &[String]| {
                let mut names = names.to_vec();
                names.sort();
                names
            };
            assert_eq!(sorted(&started[..2]), ["delta", "gamma"], "{started:?}");
            assert_eq!(sorted(&started[2..]), ["alpha", "beta"], "{started:?}");
        }
        engine.shutdown().await;
    }
}

async fn an_unknown_priority_provider_is_refused_at_start(store: Store) {
    let (hooks, _rx) = Recorder::new();
    let engine_config = EngineConfig {
        provider_priority: vec!["nosuch".into()],
        ..config(SchedulerConfig {
            enabled: false,
            ..SchedulerConfig::default()
        })
    };
    match Engine::start(store, vec![ok("alpha")], engine_config, Some(hooks)).await {
        Err(EngineError::UnknownProvider { name, known }) => {
            assert_eq!((name.as_str(), known), ("nosuch", vec!["alpha".to_owned()]));
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("an unknown provider in the priority must be refused"),
    }
}

pricesync_store::on_both_backends!(
    engines_ticking_at_once_make_one_job_per_cron_slot,
    a_failed_scheduled_run_is_retried_by_the_configured_backoff,
    a_jobs_providers_start_in_priority_order,
    an_unknown_priority_provider_is_refused_at_start,
);
