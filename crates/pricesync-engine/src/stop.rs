//! Stop signals: why a running job stops early, and how its tasks learn it.

use std::sync::Mutex;

use tokio_util::sync::CancellationToken;

/// Why a running job stops early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// An admin cancelled it.
    Cancelled,
    /// The process shuts down and the grace period is over.
    Shutdown,
    /// The job is no longer this worker's (it was rescued).
    Lost,
}

/// The stop signal of one running job: a token its tasks watch, and the
/// first reason given.
pub(crate) struct JobStop {
    token: CancellationToken,
    reason: Mutex<Option<StopReason>>,
}

impl JobStop {
    /// A signal that also fires when `token` (the engine's "abort running
    /// jobs" token, of which it is a child) is cancelled.
    pub(crate) fn new(token: CancellationToken) -> Self {
        Self {
            token,
            reason: Mutex::new(None),
        }
    }

    /// Stops the job; the first reason wins.
    pub(crate) fn stop(&self, reason: StopReason) {
        if let Ok(mut current) = self.reason.lock() {
            current.get_or_insert(reason);
        }
        self.token.cancel();
    }

    /// The token the job's tasks watch.
    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Why the job stopped, if it did: the reason given, or `Shutdown` when
    /// only the engine's `shutdown` token fired.
    pub(crate) fn reason(&self, shutdown: &CancellationToken) -> Option<StopReason> {
        let set = self.reason.lock().ok().and_then(|r| *r);
        set.or_else(|| shutdown.is_cancelled().then_some(StopReason::Shutdown))
    }
}

/// Runs `future` unless `token` is cancelled first.
pub(crate) async fn unless_cancelled<F: std::future::Future>(
    token: &CancellationToken,
    future: F,
) -> Option<F::Output> {
    tokio::select! {
        output = future => Some(output),
        _ = token.cancelled() => None,
    }
}
