//! The embeddable engine: start it over a store and fetchers, trigger, poll,
//! cancel, and shut it down.

use std::collections::BTreeMap;
use std::sync::Arc;

use pricesync_providers::PriceFetcher;
use pricesync_store::{
    CancelOutcome, EnqueueOutcome, JobRecord, Lease, NewJob, ProviderLog, Store, StoreError,
};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::config::EngineConfig;
use crate::hooks::{NoHooks, SyncHooks};
use crate::state::Shared;
use crate::stop::StopReason;
use crate::worker::worker_loop;
use crate::{janitor, scheduler, webhooks};

/// Why the engine refused a request.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A provider name the engine has no fetcher for.
    #[error("unknown provider {name:?}; configured providers: {}", known.join(", "))]
    UnknownProvider {
        /// The name asked for.
        name: String,
        /// The configured providers.
        known: Vec<String>,
    },
    /// The configuration cannot work.
    #[error("invalid engine configuration: {0}")]
    Config(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A request for a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerRequest {
    /// The providers; `None` for every configured one.
    pub providers: Option<Vec<String>>,
    /// Compute and report the diff, write no prices.
    pub dry_run: bool,
    /// Who asks: `admin:<name>`, `cli`, …
    pub triggered_by: String,
}

/// What a trigger did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerOutcome {
    /// The job is queued; an idle worker starts it at once.
    Queued(JobRecord),
    /// A job of one of the providers is already queued or running: no new
    /// job.
    Busy {
        /// The job in the way.
        active: JobRecord,
        /// The provider they share.
        provider: String,
        /// Its lease, when the provider is being synced right now.
        lease: Option<Lease>,
    },
}

/// A job with its per-provider results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobView {
    /// The job.
    pub job: JobRecord,
    /// One entry per provider that has finished (this attempt or an earlier).
    pub providers: Vec<ProviderLog>,
}

/// A running engine. Dropping it does not stop it: call
/// [`EngineHandle::shutdown`].
pub struct EngineHandle {
    shared: Arc<Shared>,
    workers: tokio::sync::Mutex<Vec<JoinHandle<()>>>,
    background: tokio::sync::Mutex<Vec<JoinHandle<()>>>,
}

/// The engine.
pub struct Engine;

impl Engine {
    /// Starts the engine: rescues stale jobs, sets up the schedules, then
    /// runs the workers, the janitor, the scheduler (when enabled) and, on
    /// PostgreSQL, a listener that wakes idle workers when a job is queued
    /// anywhere.
    pub async fn start(
        store: Store,
        fetchers: Vec<Arc<dyn PriceFetcher>>,
        config: EngineConfig,
        hooks: Option<Arc<dyn SyncHooks>>,
    ) -> Result<EngineHandle, EngineError> {
        let fetchers: BTreeMap<String, Arc<dyn PriceFetcher>> = fetchers
            .into_iter()
            .map(|f| (f.provider().as_str().to_owned(), f))
            .collect();
        // The priority list, and the scheduled providers when the
        // scheduler runs, name only providers this engine can fetch.
        let scheduled = if config.scheduler.enabled {
            config.scheduler.providers.as_slice()
        } else {
            &[]
        };
        if let Some(unknown) = config
            .provider_priority
            .iter()
            .chain(scheduled)
            .find(|p| !fetchers.contains_key(*p))
        {
            return Err(EngineError::UnknownProvider {
                name: unknown.clone(),
                known: fetchers.keys().cloned().collect(),
            });
        }
        validate(&config)?;
        let hooks = hooks.unwrap_or_else(|| Arc::new(NoHooks));
        let shared = Arc::new(Shared::new(store, fetchers, config, hooks));
        janitor::janitor_pass(&shared, true).await;
        scheduler::ensure_schedules(&shared).await?;

        let mut background = Vec::new();
        match shared.store.listen_for_jobs(shared.wake.clone()).await {
            Ok(Some(listener)) => background.push(listener),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for job notifications; workers poll")
            }
        }
        background.push(tokio::spawn(janitor::janitor_loop(shared.clone())));
        if shared.config.scheduler.enabled {
            background.push(tokio::spawn(scheduler::scheduler_loop(shared.clone())));
        }
        if shared.config.webhooks.enabled {
            background.push(tokio::spawn(webhooks::dispatcher_loop(shared.clone())));
        }
        let workers = (0..shared.config.workers)
            .map(|_| tokio::spawn(worker_loop(shared.clone())))
            .collect();
        tracing::info!(worker = %shared.config.worker_id, providers = ?shared.fetchers.keys().collect::<Vec<_>>(),
            scheduler = shared.config.scheduler.enabled, "sync engine started");
        Ok(EngineHandle {
            shared,
            workers: tokio::sync::Mutex::new(workers),
            background: tokio::sync::Mutex::new(background),
        })
    }
}

/// Refuses settings that cannot work: a live job rescued while it runs, or
/// a loop that never waits.
fn validate(config: &EngineConfig) -> Result<(), EngineError> {
    let problem = if config.workers == 0 {
        Some("workers must be at least 1")
    } else if config.lease_ttl < std::time::Duration::from_millis(3) {
        Some("the lease TTL must be at least 3 ms")
    } else if config.heartbeat_interval.is_zero()
        || config.heartbeat_interval >= config.rescue_timeout
    {
        Some("the heartbeat interval must be above zero and shorter than the rescue timeout")
    } else if config.poll_interval.is_zero() || config.janitor_interval.is_zero() {
        Some("the poll and janitor intervals must be above zero")
    } else if config.scheduler.enabled && config.scheduler.tick_interval.is_zero() {
        Some("the scheduler tick interval must be above zero")
    } else if !config.scheduler.retry.is_valid() {
        Some("the retry backoff needs a base above zero, a factor of at least 1 and a maximum not below the base")
    } else if config.webhooks.enabled
        && (config.webhooks.poll_interval.is_zero()
            || config.webhooks.timeout.is_zero()
            || config.webhooks.max_attempts == 0
            || config.webhooks.batch == 0
            || !config.webhooks.retry.is_valid())
    {
        Some(
            "webhooks need a poll interval and time-out above zero, at least one attempt and \
             one delivery at a time, and a valid retry backoff",
        )
    } else {
        None
    };
    match problem {
        Some(problem) => Err(EngineError::Config(problem.to_owned())),
        None => Ok(()),
    }
}

impl EngineHandle {
    /// The store.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The configuration in force.
    pub fn config(&self) -> &EngineConfig {
        &self.shared.config
    }

    /// The configured providers, by name.
    pub fn providers(&self) -> Vec<String> {
        self.shared.fetchers.keys().cloned().collect()
    }

    /// Queues a sync, or says which job is in the way. Returns at once; the
    /// job runs on a worker.
    pub async fn trigger(&self, request: TriggerRequest) -> Result<TriggerOutcome, EngineError> {
        let names = match request.providers {
            Some(names) if !names.is_empty() => names,
            _ => self.providers(),
        };
        let mut providers: Vec<pricesync_domain::ProviderId> = Vec::with_capacity(names.len());
        for name in &names {
            let Some(fetcher) = self.shared.fetchers.get(name) else {
                return Err(EngineError::UnknownProvider {
                    name: name.clone(),
                    known: self.providers(),
                });
            };
            if !providers.contains(fetcher.provider()) {
                providers.push(fetcher.provider().clone());
            }
        }
        let job = NewJob {
            providers,
            dry_run: request.dry_run,
            triggered_by: request.triggered_by,
            max_attempts: self.shared.config.max_attempts,
            schedule: None,
        };
        // One call: the store's unique key on the providers of active jobs
        // decides, race-free across processes, and a refusal carries the
        // job in the way and its lease from one query.
        // With an idle worker here, the enqueue starts the job for it and
        // hands it over: no wake-up and claim in between.
        let worker = &self.shared.config.worker_id;
        let handoff = self.shared.take_parked();
        let outcome = match &handoff {
            Some(_) => self.shared.store.enqueue_started_job(&job, worker).await?,
            None => self.shared.store.enqueue_job(&job).await?,
        };
        match outcome {
            EnqueueOutcome::Enqueued(job) => {
                match handoff {
                    Some(handoff) => {
                        if let Err(started) = handoff.send(job.clone()) {
                            // The worker stopped meanwhile (shutdown): the
                            // job goes back to the queue, attempt unused.
                            self.shared
                                .store
                                .requeue_job(started.id, worker, started.attempt, true)
                                .await?;
                        }
                    }
                    None => self.shared.wake.notify_one(),
                }
                Ok(TriggerOutcome::Queued(job))
            }
            EnqueueOutcome::Busy {
                active,
                provider,
                lease,
            } => Ok(TriggerOutcome::Busy {
                active,
                provider,
                lease,
            }),
            // Only a scheduled job has a slot to find taken.
            EnqueueOutcome::SlotTaken => Err(EngineError::Config(
                "a manual trigger has no schedule slot".into(),
            )),
        }
    }

    /// A job with its per-provider results.
    pub async fn job(&self, id: Uuid) -> Result<Option<JobView>, EngineError> {
        let Some(job) = self.shared.store.get_job(id).await? else {
            return Ok(None);
        };
        let providers = self.shared.store.job_provider_logs(id).await?;
        Ok(Some(JobView { job, providers }))
    }

    /// Cancels a job: a queued one at once; a running one stops at its next
    /// safe point and writes nothing after (at once when it runs in this
    /// process, at its next heartbeat elsewhere).
    pub async fn cancel(&self, id: Uuid, by: &str) -> Result<CancelOutcome, EngineError> {
        let outcome = self.shared.store.cancel_job(id, by).await?;
        if let CancelOutcome::Requested(_) = outcome {
            self.shared.stop_running(id, StopReason::Cancelled);
        }
        Ok(outcome)
    }

    /// Ticks the schedules now (the scheduler does this every tick interval).
    #[cfg(feature = "testing")]
    pub async fn tick_schedules(&self) {
        scheduler::tick_all(&self.shared).await;
    }

    /// Runs a janitor pass now (rescue, lease cleanup); returns how many jobs
    /// went back to the queue.
    #[cfg(feature = "testing")]
    pub async fn run_janitor(&self) -> usize {
        let requeued = janitor::janitor_pass(&self.shared, false).await;
        if requeued > 0 {
            self.shared.wake.notify_one();
        }
        requeued
    }

    /// Stops gracefully: no new jobs are claimed and no schedule ticks; the
    /// running job may finish within the shutdown grace; after it, the job
    /// stops at its next safe point and goes back to the queue without using
    /// an attempt. Calling it again does nothing.
    pub async fn shutdown(&self) {
        self.shared.stop_claiming.cancel();
        let mut workers = self.workers.lock().await;
        let grace = self.shared.config.shutdown_grace;
        let finished = tokio::time::timeout(grace, async {
            for worker in workers.iter_mut() {
                let _ = worker.await;
            }
        })
        .await
        .is_ok();
        if !finished {
            tracing::warn!(
                grace_s = grace.as_secs(),
                "shutdown grace over: stopping the running job and re-queueing it"
            );
            self.shared.abort_jobs.cancel();
            for worker in workers.iter_mut() {
                let _ = worker.await;
            }
        }
        workers.clear();
        let mut background = self.background.lock().await;
        for task in background.iter() {
            task.abort();
        }
        for task in background.iter_mut() {
            let _ = task.await;
        }
        background.clear();
        tracing::info!("sync engine stopped");
    }

    /// Stops every task at once, as a crash would: nothing records the end
    /// of the jobs it was running, which stay `in_progress` until the
    /// rescuer of another engine (or of the next start) takes them back.
    /// (The provider leases of the dropped tasks are still released in the
    /// background by their guards' `Drop`, as after any aborted task.)
    #[cfg(feature = "testing")]
    pub fn abort(&self) {
        self.shared.stop_claiming.cancel();
        for tasks in [&self.workers, &self.background] {
            if let Ok(tasks) = tasks.try_lock() {
                for task in tasks.iter() {
                    task.abort();
                }
            }
        }
    }
}
