//! A provider's lease held for the length of its sync.
//!
//! [`LeaseGuard::acquire`] takes the lease and starts its renewal every
//! TTL/3; [`LeaseGuard::finish`] stops the renewal and releases the lease.
//! Every way out of a provider's run should end in `finish().await`. When
//! the guard is dropped without it (the task panicked or was aborted), an
//! `async` release cannot run in `Drop`, so `Drop` aborts the renewal and
//! spawns the release on the current runtime: the lease is freed shortly
//! after rather than left to expire at its TTL. Releasing is fenced (key,
//! worker and fencing token), so a late release never frees a lease that has
//! since been taken over.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pricesync_store::{Fence, Store, StoreResult};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::metrics;

/// A held lease, renewed in the background until [`LeaseGuard::finish`].
pub(crate) struct LeaseGuard {
    store: Store,
    fence: Fence,
    worker: String,
    /// Cancelled when the work under the lease must stop: its parent (the
    /// job) stopped, or the lease was lost.
    work: CancellationToken,
    lost: Arc<AtomicBool>,
    /// True while a fenced write runs under the lease.
    writing: Arc<watch::Sender<bool>>,
    renewal: Option<JoinHandle<()>>,
    /// Set by [`LeaseGuard::finish`]: `Drop` has nothing left to release.
    released: bool,
}

/// A fenced write in progress under a [`LeaseGuard`] (see
/// [`LeaseGuard::writing`]); the renewal resumes when it is dropped.
pub(crate) struct WriteScope(Arc<watch::Sender<bool>>);

impl Drop for WriteScope {
    fn drop(&mut self) {
        self.0.send_replace(false);
    }
}

impl LeaseGuard {
    /// Takes the lease `key` for `worker` (this process) on behalf of
    /// `requested_by` (who asked for the sync), or `None` when someone else
    /// holds it. The
    /// guard's work token is a child of `within`. `provider` labels the
    /// renewal-failure metric.
    pub(crate) async fn acquire(
        store: &Store,
        key: &str,
        worker: &str,
        requested_by: &str,
        ttl: Duration,
        within: &CancellationToken,
        provider: &str,
    ) -> StoreResult<Option<Self>> {
        let Some(lease) = store
            .try_acquire_lease(key, worker, requested_by, ttl)
            .await?
        else {
            return Ok(None);
        };
        let fence = lease.fence();
        let work = within.child_token();
        let lost = Arc::new(AtomicBool::new(false));
        let writing = Arc::new(watch::Sender::new(false));
        let renewal = tokio::spawn(renew_loop(
            store.clone(),
            fence.clone(),
            worker.to_owned(),
            ttl,
            work.clone(),
            lost.clone(),
            writing.subscribe(),
            provider.to_owned(),
        ));
        Ok(Some(Self {
            store: store.clone(),
            fence,
            worker: worker.to_owned(),
            work,
            lost,
            writing,
            renewal: Some(renewal),
            released: false,
        }))
    }

    /// The proof of the lease that fenced writes carry.
    pub(crate) fn fence(&self) -> &Fence {
        &self.fence
    }

    /// Cancelled when the work under the lease must stop: the job stopped
    /// or the lease was lost (see [`LeaseGuard::is_lost`]).
    pub(crate) fn work(&self) -> &CancellationToken {
        &self.work
    }

    /// Marks a fenced write under the lease until the scope is dropped.
    /// The write's transaction holds the lease row (no one can take the
    /// lease over meanwhile) and extends the lease as it commits, so the
    /// renewal waits for it instead of queueing behind it and calling the
    /// lease lost when the write outlasts the TTL.
    pub(crate) fn writing(&self) -> WriteScope {
        self.writing.send_replace(true);
        WriteScope(self.writing.clone())
    }

    /// Whether a renewal failed, came late or found the lease taken over.
    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Stops the renewal and releases the lease.
    pub(crate) async fn finish(mut self) {
        self.work.cancel();
        if let Some(renewal) = self.renewal.take() {
            // It ends at once on the cancel; an error here is a panic of
            // the renewal task, which leaves nothing to clean up.
            let _ = renewal.await;
        }
        release(&self.store, &self.fence, &self.worker).await;
        self.released = true;
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.work.cancel();
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        if self.released {
            return;
        }
        // Dropped without `finish` (a panic, an aborted task): release in a
        // task of its own, if a runtime is still there to run it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (store, fence, worker) =
                (self.store.clone(), self.fence.clone(), self.worker.clone());
            runtime.spawn(async move { release(&store, &fence, &worker).await });
        }
    }
}

async fn release(store: &Store, fence: &Fence, worker: &str) {
    if let Err(e) = store.release_lease(fence, worker).await {
        tracing::warn!(key = %fence.key, error = %e, "cannot release the lease; it will expire");
    }
}

/// Keeps a lease alive every TTL/3. When a renewal fails, or cannot finish
/// before the lease would lapse, the work under it is stopped: the holder
/// never assumes it holds a lease past its last renewal plus the TTL. While
/// a fenced write runs ([`LeaseGuard::writing`]) there is nothing to renew:
/// the write holds the lease row and extends the lease when it commits. A
/// renewal that was already under way when the write began may queue behind
/// it: it is then retried after the write, not taken for a lost lease.
#[allow(clippy::too_many_arguments)]
async fn renew_loop(
    store: Store,
    fence: Fence,
    worker: String,
    ttl: Duration,
    work: CancellationToken,
    lost: Arc<AtomicBool>,
    mut writing: watch::Receiver<bool>,
    provider: String,
) {
    let period = ttl / 3;
    let mut deadline = tokio::time::Instant::now() + ttl;
    loop {
        tokio::select! {
            _ = work.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
        if *writing.borrow_and_update() {
            if !wait_for_write(&mut writing, &work).await {
                return;
            }
            deadline = tokio::time::Instant::now() + ttl;
            continue;
        }
        let sent = tokio::time::Instant::now();
        let renewed =
            tokio::time::timeout_at(deadline, store.renew_lease(&fence, &worker, ttl)).await;
        if !matches!(renewed, Ok(Ok(Some(_)))) && writing.has_changed().unwrap_or(false) {
            // A write began while this renewal was under way: it may have
            // queued behind the write's lock. Renew after the write.
            if !wait_for_write(&mut writing, &work).await {
                return;
            }
            deadline = tokio::time::Instant::now() + ttl;
            continue;
        }
        match renewed {
            Ok(Ok(Some(_))) => deadline = sent + ttl,
            outcome => {
                let why = match outcome {
                    Ok(Ok(_)) => "the lease was taken over or released".to_owned(),
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => "the renewal did not finish before the lease would lapse".to_owned(),
                };
                tracing::warn!(key = %fence.key, why, "lease lost; stopping the work under it");
                metrics::lease_renew_failed(&provider);
                lost.store(true, Ordering::SeqCst);
                work.cancel();
                return;
            }
        }
    }
}

/// Waits until no fenced write runs; `false` when the work stopped first.
async fn wait_for_write(writing: &mut watch::Receiver<bool>, work: &CancellationToken) -> bool {
    tokio::select! {
        _ = work.cancelled() => false,
        idle = writing.wait_for(|w| !*w) => idle.is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use pricesync_store::testing::TestDatabase;
    use tokio_util::sync::CancellationToken;

    use super::LeaseGuard;

    const KEY: &str = "pricing_sync:alpha";
    /// Long enough that no test sees its end unless it ages the lease.
    const LONG: Duration = Duration::from_secs(300);
    /// How long a test waits for what it expects before failing.
    const PATIENCE: Duration = Duration::from_secs(30);

    async fn acquire(db: &TestDatabase, ttl: Duration, within: &CancellationToken) -> LeaseGuard {
        LeaseGuard::acquire(
            &db.store,
            KEY,
            "worker-a",
            "admin:test",
            ttl,
            within,
            "alpha",
        )
        .await
        .expect("store")
        .expect("the lease is free")
    }

    #[tokio::test]
    async fn a_held_lease_refuses_others_and_finish_releases_it() {
        let db = TestDatabase::sqlite().await;
        let job = CancellationToken::new();
        let guard = acquire(&db, LONG, &job).await;
        let other = LeaseGuard::acquire(&db.store, KEY, "worker-b", "cli", LONG, &job, "alpha")
            .await
            .expect("store");
        assert!(other.is_none(), "held by worker-a");
        assert_eq!(
            db.store
                .get_lease(KEY)
                .await
                .expect("store")
                .map(|l| l.fence),
            Some(guard.fence().token)
        );
        guard.finish().await;
        assert_eq!(db.store.get_lease(KEY).await.expect("store"), None);
        assert!(!job.is_cancelled(), "finishing does not stop the job");
    }

    #[tokio::test]
    async fn a_guard_dropped_without_finish_still_releases() {
        let db = TestDatabase::sqlite().await;
        let job = CancellationToken::new();
        let guard = acquire(&db, LONG, &job).await;
        let work = guard.work().clone();
        // As when the task running the provider is aborted.
        drop(guard);
        assert!(work.is_cancelled(), "the work under the lease stops");
        tokio::time::timeout(PATIENCE, async {
            while db.store.get_lease(KEY).await.expect("store").is_some() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the spawned release frees the lease");
    }

    #[tokio::test]
    async fn a_lease_taken_over_stops_the_work_under_it() {
        let db = TestDatabase::sqlite().await;
        let job = CancellationToken::new();
        // Renewed every 100 ms.
        let guard = acquire(&db, Duration::from_millis(300), &job).await;
        db.store.expire_lease_for_tests(KEY).await.expect("expire");
        let thief = db
            .store
            .try_acquire_lease(KEY, "worker-b", "cli", LONG)
            .await
            .expect("store")
            .expect("an expired lease can be taken over");
        tokio::time::timeout(PATIENCE, guard.work().cancelled())
            .await
            .expect("the next renewal finds the lease gone");
        assert!(guard.is_lost());
        assert!(!job.is_cancelled(), "only the work under the lease stops");
        guard.finish().await;
        assert_eq!(
            db.store
                .get_lease(KEY)
                .await
                .expect("store")
                .map(|l| l.fence),
            Some(thief.fence),
            "releasing a lost lease leaves the new holder's alone"
        );
    }

    /// A write longer than the TTL: the renewal neither runs nor calls the
    /// lease lost while the write holds it, and resumes after. The clock is
    /// paused, so "longer than the TTL" is exact, not a wait.
    #[tokio::test(start_paused = true)]
    async fn a_long_write_does_not_lose_its_own_lease() {
        let db = TestDatabase::sqlite().await;
        let job = CancellationToken::new();
        let ttl = Duration::from_millis(300);
        let guard = acquire(&db, ttl, &job).await;
        let before = db.store.get_lease(KEY).await.expect("store").expect("held");
        let scope = guard.writing();
        // Ten TTLs pass while the write runs; the renewal wakes each third
        // of a TTL and finds the write still running.
        for _ in 0..30 {
            tokio::time::advance(ttl / 3).await;
            tokio::task::yield_now().await;
        }
        assert!(!guard.is_lost(), "the lease is not lost during the write");
        assert!(!guard.work().is_cancelled());
        assert_eq!(
            db.store
                .get_lease(KEY)
                .await
                .expect("store")
                .map(|l| l.renewed_at),
            Some(before.renewed_at),
            "no renewal runs while the write holds the lease"
        );
        drop(scope);
        // After the write, the renewal resumes.
        tokio::time::timeout(PATIENCE, async {
            loop {
                let lease = db.store.get_lease(KEY).await.expect("store").expect("held");
                if lease.renewed_at > before.renewed_at {
                    break;
                }
                tokio::time::advance(ttl / 3).await;
            }
        })
        .await
        .expect("the renewal resumes after the write");
        assert!(!guard.is_lost());
        guard.finish().await;
    }

    #[tokio::test]
    async fn a_stopped_job_stops_the_work_but_keeps_the_lease_until_finish() {
        let db = TestDatabase::sqlite().await;
        let job = CancellationToken::new();
        let guard = acquire(&db, LONG, &job).await;
        job.cancel();
        assert!(guard.work().is_cancelled());
        assert!(!guard.is_lost());
        assert!(db.store.get_lease(KEY).await.expect("store").is_some());
        guard.finish().await;
        assert_eq!(db.store.get_lease(KEY).await.expect("store"), None);
    }
}
