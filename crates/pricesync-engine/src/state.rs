//! What the engine's tasks share: the store, the fetchers, the settings,
//! the hooks and the signals between the handle, the workers and the
//! background loops. Every other engine module reads it; it reads none of
//! them but the stop signals.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pricesync_providers::PriceFetcher;
use pricesync_store::{JobRecord, Store};
use tokio::sync::{oneshot, Notify};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::EngineConfig;
use crate::hooks::SyncHooks;
use crate::stop::{JobStop, StopReason};

/// What the engine's tasks share.
pub(crate) struct Shared {
    pub(crate) store: Store,
    /// The fetchers, by provider name.
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
    running: Mutex<HashMap<Uuid, Arc<JobStop>>>,
    /// Idle workers, each waiting for a job a local trigger may hand it
    /// (started for it in the enqueue itself), by ticket.
    parked: Mutex<Vec<(u64, oneshot::Sender<JobRecord>)>>,
    next_ticket: AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        store: Store,
        fetchers: BTreeMap<String, Arc<dyn PriceFetcher>>,
        config: EngineConfig,
        hooks: Arc<dyn SyncHooks>,
    ) -> Self {
        Self {
            store,
            fetchers,
            config,
            hooks,
            wake: Arc::new(Notify::new()),
            stop_claiming: CancellationToken::new(),
            abort_jobs: CancellationToken::new(),
            running: Mutex::new(HashMap::new()),
            parked: Mutex::new(Vec::new()),
            next_ticket: AtomicU64::new(0),
        }
    }

    /// An idle worker offers to take a job handed to it; returns its ticket.
    pub(crate) fn park(&self, handoff: oneshot::Sender<JobRecord>) -> u64 {
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut parked) = self.parked.lock() {
            parked.push((ticket, handoff));
        }
        ticket
    }

    /// Withdraws a worker's offer. `false`: a trigger has taken it, so the
    /// worker must wait for what it sends (a job, or nothing when its
    /// enqueue did not start one).
    pub(crate) fn unpark(&self, ticket: u64) -> bool {
        let Ok(mut parked) = self.parked.lock() else {
            return true;
        };
        match parked.iter().position(|(t, _)| *t == ticket) {
            Some(i) => {
                parked.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Takes an idle worker's offer, if any worker of this process is idle.
    pub(crate) fn take_parked(&self) -> Option<oneshot::Sender<JobRecord>> {
        let mut parked = self.parked.lock().ok()?;
        // Skip offers whose worker is gone (its task ended).
        while let Some((_, handoff)) = parked.pop() {
            if !handoff.is_closed() {
                return Some(handoff);
            }
        }
        None
    }

    /// Registers a job that starts running here; it stays registered until
    /// the returned value is dropped, however the run ends.
    pub(crate) fn register_running(&self, job: Uuid) -> Running<'_> {
        let stop = Arc::new(JobStop::new(self.abort_jobs.child_token()));
        if let Ok(mut running) = self.running.lock() {
            running.insert(job, stop.clone());
        }
        Running {
            shared: self,
            job,
            stop,
        }
    }

    /// Stops `job` if it runs in this process.
    pub(crate) fn stop_running(&self, job: Uuid, reason: StopReason) {
        let stop = self.running.lock().ok().and_then(|r| r.get(&job).cloned());
        if let Some(stop) = stop {
            stop.stop(reason);
        }
    }
}

/// A job registered as running in this process; unregisters on drop.
pub(crate) struct Running<'a> {
    shared: &'a Shared,
    job: Uuid,
    stop: Arc<JobStop>,
}

impl Running<'_> {
    /// The job's stop signal.
    pub(crate) fn stop(&self) -> &Arc<JobStop> {
        &self.stop
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Ok(mut running) = self.shared.running.lock() {
            running.remove(&self.job);
        }
    }
}
