//! What the engine's tasks share: the store, the fetchers, the settings,
//! the hooks and the signals between the handle, the workers and the
//! background loops. Every other engine module reads it; it reads none of
//! them but the stop signals.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use pricesync_providers::PriceFetcher;
use pricesync_store::Store;
use tokio::sync::Notify;
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
        }
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
