//! One signal per process that ticks when a catalogue write may have
//! committed, by this process or any other on the same database: the change
//! feed's long polls and the in-memory catalogue wait on it.
//!
//! Sources:
//! - **this process's writes**: [`Store::watch_price_writes`], bumped right
//!   after each commit;
//! - **other processes on PostgreSQL**: one `LISTEN pricing_catalogue`
//!   connection per process ([`Store::listen_for_catalogue_writes`]); every
//!   catalogue write transaction sends the notification, delivered on
//!   commit. When that connection breaks, the task polls the catalogue
//!   version every [`FALLBACK_POLL`] and listens again at each poll;
//! - **other processes on SQLite** (`pricesync sync` on the same file): the
//!   catalogue version, polled every [`FALLBACK_POLL`] (one primary-key
//!   read).
//!
//! The signal carries no data: a waiter reads what it needs after a tick,
//! and subscribes before reading so that no tick falls between its read and
//! its wait.

use std::sync::Arc;
use std::time::Duration;

use pricesync_store::{BackendKind, Store};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often the version is polled when no notification can arrive (SQLite,
/// or a broken PostgreSQL listener).
pub const FALLBACK_POLL: Duration = Duration::from_secs(1);

/// The process's "the catalogue may have changed" signal (see the module
/// docs), and the token that ends long polls at shutdown.
#[derive(Debug, Clone)]
pub struct ChangeSignal {
    ticks: Arc<watch::Sender<u64>>,
    stopping: CancellationToken,
}

impl ChangeSignal {
    /// A receiver that sees each later tick.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.ticks.subscribe()
    }

    /// Cancelled when the server stops: waiters answer at once.
    pub fn stopping(&self) -> &CancellationToken {
        &self.stopping
    }

    /// Starts the task that feeds the signal until `stop`.
    pub fn spawn(store: Store, stop: CancellationToken) -> (Self, tokio::task::JoinHandle<()>) {
        let ticks = Arc::new(watch::channel(0_u64).0);
        let signal = Self {
            ticks: ticks.clone(),
            stopping: stop.clone(),
        };
        let task = tokio::spawn(feed(store, ticks, stop));
        (signal, task)
    }
}

async fn feed(store: Store, ticks: Arc<watch::Sender<u64>>, stop: CancellationToken) {
    let mut local = store.watch_price_writes();
    let mut listener: Option<tokio::task::JoinHandle<()>> = None;
    let mut polled_version: Option<i64> = None;
    let mut polls = tokio::time::interval(FALLBACK_POLL);
    polls.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            changed = local.changed() => {
                if changed.is_err() {
                    break;
                }
                ticks.send_modify(|n| *n += 1);
                continue;
            }
            _ = polls.tick() => {}
        }
        if store.backend_kind() == BackendKind::Postgres
            && listener.as_ref().is_none_or(|task| task.is_finished())
        {
            listener = match store.listen_for_catalogue_writes(ticks.clone()).await {
                Ok(task) => {
                    // Listening again after a break: a write committed in
                    // the gap was not notified.
                    if polled_version.is_some() {
                        ticks.send_modify(|n| *n += 1);
                    }
                    task
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for catalogue writes; polling the catalogue version every second");
                    None
                }
            };
        }
        if listener.as_ref().is_some_and(|task| !task.is_finished()) {
            polled_version = None;
            continue;
        }
        match store.catalogue_version().await {
            Ok(version) => {
                if polled_version.is_some_and(|seen| seen != version) {
                    ticks.send_modify(|n| *n += 1);
                }
                polled_version = Some(version);
            }
            Err(e) => tracing::debug!(error = %e, "cannot read the catalogue version"),
        }
    }
    if let Some(task) = listener {
        task.abort();
    }
}
