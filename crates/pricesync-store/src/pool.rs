//! The connection pools: a connection is verified (`SELECT 1`) when it goes
//! back into use after its last use did not finish cleanly — a query error,
//! an early return, a cancelled future — not on every checkout.
//!
//! A checkout that pings costs a round trip per query (about ten per job on
//! PostgreSQL). What the ping guards against is a connection that broke
//! while in use; a connection that finished its work cleanly is handed out
//! again after diesel-async's own cheap check (no transaction left open).
//! One that the server closed while it sat idle fails its next query, which
//! marks it, and the checkout after that finds it dead and replaces it.

use deadpool::managed::{Manager, Metrics, RecycleResult};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, PoolError, RecyclingMethod};
use diesel_async::{AsyncConnection, TransactionManager};

use crate::{StoreError, StoreResult};

/// A pooled connection and whether its last use finished cleanly.
pub(crate) struct Checked<C> {
    conn: C,
    /// Set while the connection is in use; still set when it comes back,
    /// it makes the next checkout verify the connection first.
    suspect: bool,
}

/// A pool of [`Checked`] connections.
pub(crate) type Pool<C> = deadpool::managed::Pool<CheckedManager<C>>;

/// A checked-out connection.
pub(crate) type Object<C> = deadpool::managed::Object<CheckedManager<C>>;

/// Creates connections through diesel-async's manager and recycles them
/// with its cheap check, or with a `SELECT 1` for a suspect one.
pub(crate) struct CheckedManager<C> {
    /// Creates connections; recycles with [`RecyclingMethod::Fast`].
    fast: AsyncDieselConnectionManager<C>,
    /// Recycles with [`RecyclingMethod::Verified`] (never creates).
    verified: AsyncDieselConnectionManager<C>,
}

impl<C> CheckedManager<C>
where
    AsyncDieselConnectionManager<C>: Manager<Type = C, Error = PoolError>,
{
    /// A manager whose connections are made by `make(recycling_method)`.
    pub(crate) fn new(
        make: impl Fn(RecyclingMethod<C>) -> AsyncDieselConnectionManager<C>,
    ) -> Self {
        Self {
            fast: make(RecyclingMethod::Fast),
            verified: make(RecyclingMethod::Verified),
        }
    }
}

impl<C> Manager for CheckedManager<C>
where
    C: Send,
    AsyncDieselConnectionManager<C>: Manager<Type = C, Error = PoolError>,
{
    type Type = Checked<C>;
    type Error = PoolError;

    async fn create(&self) -> Result<Checked<C>, PoolError> {
        Ok(Checked {
            conn: self.fast.create().await?,
            suspect: false,
        })
    }

    async fn recycle(&self, obj: &mut Checked<C>, metrics: &Metrics) -> RecycleResult<PoolError> {
        if obj.suspect {
            self.verified.recycle(&mut obj.conn, metrics).await?;
            obj.suspect = false;
            Ok(())
        } else {
            self.fast.recycle(&mut obj.conn, metrics).await
        }
    }
}

/// A connection in use: suspect until [`InUse::finish`] says its work ended
/// cleanly. `on_conn!` calls `finish` after its body; a body that returns
/// early (`?`), panics or is cancelled leaves the connection suspect.
///
/// A use dropped inside a transaction (a cancelled task, a panic) does not
/// give its connection back: an idle pooled connection would keep the
/// transaction open, and its locks, until its next checkout — blocking
/// every statement that needs those rows (a rescue, a schema drop).
/// Closing it ends the transaction on the server at once.
pub(crate) struct InUse<C>
where
    C: AsyncConnection + 'static,
    CheckedManager<C>: Manager<Type = Checked<C>>,
{
    object: Option<Object<C>>,
}

impl<C> InUse<C>
where
    C: AsyncConnection + 'static,
    CheckedManager<C>: Manager<Type = Checked<C>>,
{
    /// The connection.
    pub(crate) fn conn(&mut self) -> &mut C {
        &mut self
            .object
            .as_mut()
            .expect("an InUse holds its connection until dropped")
            .conn
    }

    /// The work finished cleanly: the connection goes back without a ping.
    pub(crate) fn finish(mut self) {
        if let Some(object) = self.object.as_mut() {
            object.suspect = false;
        }
    }
}

impl<C> Drop for InUse<C>
where
    C: AsyncConnection + 'static,
    CheckedManager<C>: Manager<Type = Checked<C>>,
{
    fn drop(&mut self) {
        let Some(mut object) = self.object.take() else {
            return;
        };
        let open = !matches!(
            C::TransactionManager::transaction_manager_status_mut(&mut object.conn)
                .transaction_depth(),
            Ok(None)
        );
        if object.suspect && open {
            // Out of the pool and closed: the server rolls it back.
            drop(deadpool::managed::Object::take(object));
        }
    }
}

/// Takes a connection from a pool, mapping the pool's errors; the
/// connection is suspect until [`InUse::finish`].
pub(crate) async fn checkout<C>(pool: &Pool<C>) -> StoreResult<InUse<C>>
where
    C: AsyncConnection + Send + 'static,
    AsyncDieselConnectionManager<C>: Manager<Type = C, Error = PoolError>,
{
    let mut object = pool.get().await.map_err(|e| match e {
        deadpool::managed::PoolError::Backend(inner) => StoreError::Connect(Box::new(inner)),
        other => StoreError::Pool(Box::new(other)),
    })?;
    object.suspect = true;
    Ok(InUse {
        object: Some(object),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use diesel_async::pooled_connection::ManagerConfig;
    use futures_util::FutureExt;

    use super::*;
    use crate::store::SqliteConn;

    /// A one-connection SQLite pool whose verifying check counts its runs.
    fn counting_pool(dir: &std::path::Path, verified: Arc<AtomicUsize>) -> Pool<SqliteConn> {
        let url = dir.join("pool.db").to_string_lossy().into_owned();
        let manager = CheckedManager::new(|method| {
            let mut config = ManagerConfig::<SqliteConn>::default();
            if let RecyclingMethod::Verified = method {
                let verified = verified.clone();
                config.recycling_method = RecyclingMethod::CustomFunction(Box::new(move |_| {
                    verified.fetch_add(1, Ordering::SeqCst);
                    async { Ok(()) }.boxed()
                }));
            }
            AsyncDieselConnectionManager::new_with_config(url.clone(), config)
        });
        Pool::builder(manager)
            .max_size(1)
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .expect("pool")
    }

    #[tokio::test]
    async fn only_a_connection_whose_use_did_not_finish_is_verified() {
        let dir = std::env::temp_dir().join(format!("pricesync-pool-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let verified = Arc::new(AtomicUsize::new(0));
        let pool = counting_pool(&dir, verified.clone());

        for _ in 0..3 {
            checkout(&pool).await.expect("checkout").finish();
        }
        assert_eq!(verified.load(Ordering::SeqCst), 0, "clean uses: no check");

        // A use that ends early (an error's `?`, a cancelled future).
        drop(checkout(&pool).await.expect("checkout"));
        checkout(&pool).await.expect("checkout").finish();
        assert_eq!(verified.load(Ordering::SeqCst), 1, "verified once after it");
        checkout(&pool).await.expect("checkout").finish();
        assert_eq!(verified.load(Ordering::SeqCst), 1, "then trusted again");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_use_dropped_inside_a_transaction_does_not_go_back_to_the_pool() {
        type Manager = <SqliteConn as AsyncConnection>::TransactionManager;
        let dir = std::env::temp_dir().join(format!("pricesync-pool-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let pool = counting_pool(&dir, Arc::new(AtomicUsize::new(0)));
        let mut used = checkout(&pool).await.expect("checkout");
        Manager::begin_transaction(used.conn())
            .await
            .expect("begin");
        // A cancelled task drops its use mid-transaction.
        drop(used);
        assert_eq!(
            pool.status().size,
            0,
            "the connection was closed, not pooled"
        );
        let mut next = checkout(&pool).await.expect("a new connection");
        let depth = Manager::transaction_manager_status_mut(next.conn()).transaction_depth();
        assert!(matches!(depth, Ok(None)), "no transaction left open");
        next.finish();
        assert_eq!(pool.status().size, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
