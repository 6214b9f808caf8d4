//! Pause points: an embedding service (or a test) can observe the engine at
//! well-defined points of a job, and hold it there.

use async_trait::async_trait;
use pricesync_domain::{JobState, ProviderRunStatus};
use uuid::Uuid;

/// A point in a job's run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncPoint {
    /// A worker claimed the job and starts it.
    JobStarted {
        /// The job.
        job: Uuid,
    },
    /// A provider's lease is held; fetching comes next.
    ProviderLeased {
        /// The job.
        job: Uuid,
        /// The provider.
        provider: String,
    },
    /// A provider's list is fetched and diffed; the write comes next (a
    /// cancel or a lost lease seen here stops the provider with nothing
    /// written).
    BeforeWrite {
        /// The job.
        job: Uuid,
        /// The provider.
        provider: String,
        /// Models in the fetched list (what the write is about to process).
        fetched: usize,
    },
    /// A provider is done.
    ProviderFinished {
        /// The job.
        job: Uuid,
        /// The provider.
        provider: String,
        /// How it ended.
        status: ProviderRunStatus,
    },
    /// The job ended (`None`: it went back to the queue, or was lost).
    JobFinished {
        /// The job.
        job: Uuid,
        /// Its final state.
        state: Option<JobState>,
    },
}

/// Called at each [`SyncPoint`]; the engine waits for the call to return
/// (a cancel or shutdown interrupts the wait).
#[async_trait]
pub trait SyncHooks: Send + Sync + 'static {
    /// The engine reached `point`.
    async fn reached(&self, point: SyncPoint);
}

/// Hooks that do nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

#[async_trait]
impl SyncHooks for NoHooks {
    async fn reached(&self, _point: SyncPoint) {}
}
