//! The [`Store`]: connection pools for PostgreSQL or SQLite behind one API.

use std::path::Path;

use deadpool::managed::Manager;
use diesel::{Connection, SqliteConnection};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolError, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use futures_util::FutureExt;

use crate::pool::{CheckedManager, Pool};
use crate::{DatabaseUrl, PoolConfig, StoreError, StoreResult};

/// The PostgreSQL migrations, embedded in the binary.
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
/// The SQLite migrations, embedded in the binary.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// An asynchronous SQLite connection (the synchronous one on a blocking
/// thread).
pub(crate) type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

/// Which database a store uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

/// SQLite allows one writer at a time: writes go through a pool of one
/// connection so that they queue in the application instead of failing with
/// "database is locked", while reads use their own pool (WAL mode lets them
/// run beside the writer).
pub(crate) struct SqlitePools {
    pub(crate) writer: Pool<SqliteConn>,
    pub(crate) readers: Pool<SqliteConn>,
}

pub(crate) enum Backend {
    Postgres(Pool<AsyncPgConnection>),
    Sqlite(SqlitePools),
}

/// A snapshot of the connection pool, for `/metrics/pool`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// The most connections the pool opens.
    pub max_size: usize,
    /// Connections open now.
    pub size: usize,
    /// Open connections in use.
    pub in_use: usize,
    /// Open connections idle.
    pub idle: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

impl PoolStatus {
    /// Whether every connection is in use and callers wait.
    pub fn is_exhausted(&self) -> bool {
        self.waiting > 0 || (self.size >= self.max_size && self.idle == 0)
    }
}

/// The repository of prices, history, jobs, leases and schedules.
///
/// Cheap to clone: clones share the pools.
#[derive(Clone)]
pub struct Store {
    pub(crate) backend: std::sync::Arc<Backend>,
    url: DatabaseUrl,
    /// How many catalogue writes this store and its clones committed.
    price_writes: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.url.redacted())
            .finish()
    }
}

fn build_pool<C>(
    manager: CheckedManager<C>,
    max_size: usize,
    config: &PoolConfig,
) -> StoreResult<Pool<C>>
where
    C: Send,
    AsyncDieselConnectionManager<C>: Manager<Type = C, Error = PoolError>,
{
    Pool::builder(manager)
        .max_size(max_size)
        .wait_timeout(Some(config.wait_timeout))
        .create_timeout(Some(config.create_timeout))
        .recycle_timeout(Some(config.recycle_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Connect(Box::new(e)))
}

/// A connection manager for `url` whose new connections run `setup` (the
/// PostgreSQL session limits, the SQLite pragmas) before first use.
fn set_up_manager<C>(
    url: &str,
    setup: &str,
    recycling_method: RecyclingMethod<C>,
) -> AsyncDieselConnectionManager<C>
where
    C: AsyncConnection + SimpleAsyncConnection + 'static,
{
    let setup = setup.to_owned();
    let mut manager_config = ManagerConfig::<C>::default();
    manager_config.recycling_method = recycling_method;
    manager_config.custom_setup = Box::new(move |url| {
        let setup = setup.clone();
        let url = url.to_owned();
        async move {
            let mut conn = C::establish(&url).await?;
            conn.batch_execute(&setup)
                .await
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        }
        .boxed()
    });
    AsyncDieselConnectionManager::<C>::new_with_config(url, manager_config)
}

fn sqlite_pragmas(config: &PoolConfig) -> String {
    format!(
        "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         PRAGMA foreign_keys = ON;",
        config.sqlite_busy_timeout.as_millis()
    )
}

fn path_text(path: &Path) -> StoreResult<String> {
    path.to_str().map(str::to_owned).ok_or_else(|| {
        StoreError::InvalidUrl(format!("SQLite path {} is not valid UTF-8", path.display()))
    })
}

impl Store {
    /// Builds the pools for `url`. SQLite files (and their directory) are
    /// created if missing. Nothing is queried yet: call [`Store::ping`] to
    /// check the database answers and [`Store::migrate`] to bring its schema
    /// up to date.
    pub fn connect(url: &DatabaseUrl, config: &PoolConfig) -> StoreResult<Self> {
        let backend = match url {
            DatabaseUrl::Postgres(text) => {
                // Every session gets server-side limits, so that a worker
                // frozen or cut off inside a transaction cannot hold its
                // locks for long, and no statement queues behind it.
                let settings = config.pg_session_settings();
                let manager = CheckedManager::new(|recycling_method| {
                    set_up_manager::<AsyncPgConnection>(text, &settings, recycling_method)
                });
                Backend::Postgres(build_pool(manager, config.max_size.max(1), config)?)
            }
            DatabaseUrl::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                        dir: dir.to_owned(),
                        source,
                    })?;
                }
                let path = path_text(path)?;
                let pragmas = sqlite_pragmas(config);
                let make_manager = |recycling_method| {
                    set_up_manager::<SqliteConn>(&path, &pragmas, recycling_method)
                };
                Backend::Sqlite(SqlitePools {
                    writer: build_pool(CheckedManager::new(make_manager), 1, config)?,
                    readers: build_pool(
                        CheckedManager::new(make_manager),
                        config.max_size.max(1),
                        config,
                    )?,
                })
            }
        };
        Ok(Self {
            backend: std::sync::Arc::new(backend),
            url: url.clone(),
            price_writes: std::sync::Arc::new(tokio::sync::watch::channel(0).0),
        })
    }

    /// Counts the catalogue writes (models, prices, history) that this
    /// store and its clones committed: the value grows right after each
    /// commit, before the writing call returns. A reader that keeps a copy
    /// of the catalogue compares it with the count its copy was loaded at,
    /// with no query, and waits on `changed()` to reload. Writes by other
    /// processes show in [`Store::catalogue_version`] instead.
    pub fn watch_price_writes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.price_writes.subscribe()
    }

    /// Records a committed catalogue write (see
    /// [`Store::watch_price_writes`]).
    pub(crate) fn price_write_committed(&self) {
        self.price_writes.send_modify(|count| *count += 1);
    }

    /// Which database this store uses.
    pub fn backend_kind(&self) -> BackendKind {
        match *self.backend {
            Backend::Postgres(_) => BackendKind::Postgres,
            Backend::Sqlite(_) => BackendKind::Sqlite,
        }
    }

    /// The database URL, password hidden.
    pub fn redacted_url(&self) -> String {
        self.url.redacted()
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> StoreResult<()> {
        on_conn!(self, readers, |conn| {
            conn.batch_execute("SELECT 1").await?;
            Ok(())
        })
    }

    /// Runs the pending migrations; returns the versions applied.
    pub async fn migrate(&self) -> StoreResult<Vec<String>> {
        self.with_migration_harness(|harness| match harness {
            Harness::Postgres(conn) => conn
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.to_string()).collect()),
            Harness::Sqlite(conn) => conn
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.to_string()).collect()),
        })
        .await
    }

    /// The migrations not yet applied (empty when the schema is current).
    pub async fn pending_migrations(&self) -> StoreResult<Vec<String>> {
        self.with_migration_harness(|harness| match harness {
            Harness::Postgres(conn) => conn
                .pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.name().to_string()).collect()),
            Harness::Sqlite(conn) => conn
                .pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.name().to_string()).collect()),
        })
        .await
    }

    /// Whether every embedded migration has been applied, checked with one
    /// query on a pooled connection (cheap enough for readiness probes).
    pub async fn schema_is_current(&self) -> StoreResult<bool> {
        #[derive(diesel::QueryableByName)]
        struct Applied {
            #[diesel(sql_type = diesel::sql_types::Text)]
            version: String,
        }
        let applied: Vec<Applied> = on_conn!(self, readers, |conn| {
            diesel_async::RunQueryDsl::load(
                diesel::sql_query("SELECT version FROM __diesel_schema_migrations"),
                conn,
            )
            .await?
        });
        let applied: std::collections::HashSet<String> =
            applied.into_iter().map(|a| a.version).collect();
        let embedded = match &*self.backend {
            Backend::Postgres(_) => versions::<diesel::pg::Pg>(&POSTGRES_MIGRATIONS)?,
            Backend::Sqlite(_) => versions::<diesel::sqlite::Sqlite>(&SQLITE_MIGRATIONS)?,
        };
        Ok(embedded.iter().all(|v| applied.contains(v)))
    }

    /// On PostgreSQL, listens for new jobs (the enqueue transaction sends
    /// `NOTIFY pricing_sync_jobs`) on a dedicated connection and wakes
    /// `notify` for each; returns the listening task. `None` on SQLite, where
    /// workers poll (and in-process triggers wake them directly). If the
    /// connection breaks the task ends: polling still finds the jobs.
    pub async fn listen_for_jobs(
        &self,
        notify: std::sync::Arc<tokio::sync::Notify>,
    ) -> StoreResult<Option<tokio::task::JoinHandle<()>>> {
        self.listen(
            JOBS_CHANNEL,
            "job notifications stopped; workers keep polling",
            move || notify.notify_one(),
        )
        .await
    }

    /// On PostgreSQL, listens for committed catalogue writes of any process
    /// on this database (`NOTIFY pricing_catalogue`, sent by every price
    /// write transaction) on a dedicated connection and bumps `written` for
    /// each; returns the listening task, which ends when the connection
    /// breaks (the caller polls and listens again). `None` on SQLite, where
    /// [`Store::watch_price_writes`] and [`Store::catalogue_version`] say
    /// the same.
    pub async fn listen_for_catalogue_writes(
        &self,
        written: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
    ) -> StoreResult<Option<tokio::task::JoinHandle<()>>> {
        self.listen(
            CATALOGUE_CHANNEL,
            "catalogue notifications stopped",
            move || written.send_modify(|count| *count += 1),
        )
        .await
    }

    /// `LISTEN channel` on a dedicated PostgreSQL connection, calling
    /// `on_notification` for each notification until the connection breaks
    /// (logged with `stopped`); `None` on SQLite.
    async fn listen(
        &self,
        channel: &str,
        stopped: &'static str,
        on_notification: impl Fn() + Send + 'static,
    ) -> StoreResult<Option<tokio::task::JoinHandle<()>>> {
        let DatabaseUrl::Postgres(url) = &self.url else {
            return Ok(None);
        };
        let mut conn = AsyncPgConnection::establish(url)
            .await
            .map_err(|e| StoreError::Connect(Box::new(e)))?;
        conn.batch_execute(&format!("LISTEN {channel}")).await?;
        Ok(Some(tokio::spawn(async move {
            use futures_util::StreamExt;
            let mut stream = std::pin::pin!(conn.notifications_stream());
            while let Some(item) = stream.next().await {
                match item {
                    Ok(_) => on_notification(),
                    Err(e) => {
                        tracing::warn!(error = %e, "{stopped}");
                        break;
                    }
                }
            }
        })))
    }

    /// Runs `task` with a synchronous migration connection on a blocking
    /// thread (diesel's migration harness is synchronous).
    async fn with_migration_harness<R: Send + 'static>(
        &self,
        task: impl FnOnce(Harness<'_>) -> diesel::migration::Result<R> + Send + 'static,
    ) -> StoreResult<R> {
        let url = self.url.clone();
        let busy = match &*self.backend {
            Backend::Sqlite(_) => "PRAGMA busy_timeout = 5000;",
            Backend::Postgres(_) => "",
        };
        tokio::task::spawn_blocking(move || match url {
            DatabaseUrl::Postgres(text) => {
                let mut conn =
                    <AsyncConnectionWrapper<AsyncPgConnection> as Connection>::establish(&text)
                        .map_err(|e| StoreError::Connect(Box::new(e)))?;
                task(Harness::Postgres(&mut conn)).map_err(StoreError::Migration)
            }
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path_text(&path)?)
                    .map_err(|e| StoreError::Connect(Box::new(e)))?;
                diesel::connection::SimpleConnection::batch_execute(&mut conn, busy)?;
                task(Harness::Sqlite(&mut conn)).map_err(StoreError::Migration)
            }
        })
        .await
        .map_err(|e| StoreError::Migration(Box::new(e)))?
    }

    /// The pool's state (PostgreSQL pool, or SQLite's readers and writer
    /// added up).
    pub fn pool_status(&self) -> PoolStatus {
        fn of<C>(pool: &Pool<C>) -> PoolStatus
        where
            C: Send,
            AsyncDieselConnectionManager<C>: Manager<Type = C, Error = PoolError>,
        {
            let s = pool.status();
            PoolStatus {
                max_size: s.max_size,
                size: s.size,
                in_use: s.size.saturating_sub(s.available),
                idle: s.available,
                waiting: s.waiting,
            }
        }
        match &*self.backend {
            Backend::Postgres(pool) => of(pool),
            Backend::Sqlite(pools) => {
                let (w, r) = (of(&pools.writer), of(&pools.readers));
                PoolStatus {
                    max_size: w.max_size + r.max_size,
                    size: w.size + r.size,
                    in_use: w.in_use + r.in_use,
                    idle: w.idle + r.idle,
                    waiting: w.waiting + r.waiting,
                }
            }
        }
    }
}

fn versions<DB: diesel::backend::Backend>(source: &EmbeddedMigrations) -> StoreResult<Vec<String>> {
    use diesel::migration::MigrationSource;
    let migrations = MigrationSource::<DB>::migrations(source).map_err(StoreError::Migration)?;
    Ok(migrations
        .iter()
        .map(|m| m.name().version().to_string())
        .collect())
}

/// A synchronous connection for diesel's migration harness.
enum Harness<'a> {
    Postgres(&'a mut AsyncConnectionWrapper<AsyncPgConnection>),
    Sqlite(&'a mut SqliteConnection),
}

diesel::define_sql_function! {
    /// PostgreSQL's `pg_notify(channel, payload)`.
    fn pg_notify(channel: diesel::sql_types::Text, payload: diesel::sql_types::Text);
}

/// The channel on which PostgreSQL announces committed catalogue writes
/// (prices, models, history): every replica's change feed and in-memory
/// catalogue wake on it.
pub(crate) const CATALOGUE_CHANNEL: &str = "pricing_catalogue";

/// The two ends of every catalogue write transaction (a sync's price write,
/// an approved held change):
/// - [`CatalogueWrites::lock_catalogue`], its first statement, takes the
///   `pricing_catalogue_version` row lock until commit, so catalogue writes
///   run one at a time and history ids are taken in commit order: once a
///   reader sees history id N, every id below N that will ever exist is
///   visible too. The change feed's cursor (a history id) relies on it; a
///   lock taken only at the end would let a transaction that took smaller
///   ids commit after a reader had moved past them.
/// - [`CatalogueWrites::catalogue_written`], its last statement, bumps the
///   version and, on PostgreSQL, sends `NOTIFY pricing_catalogue`
///   (delivered on commit, to every replica).
///
/// SQLite has one writer connection and `BEGIN IMMEDIATE`-style write
/// locks: its writes are serial already.
pub(crate) trait CatalogueWrites {
    /// Takes the catalogue's write lock (PostgreSQL; nothing on SQLite).
    async fn lock_catalogue(&mut self) -> diesel::QueryResult<()>;
    /// Bumps the catalogue version and announces the write.
    async fn catalogue_written(&mut self) -> diesel::QueryResult<()>;
}

impl CatalogueWrites for AsyncPgConnection {
    async fn lock_catalogue(&mut self) -> diesel::QueryResult<()> {
        use crate::schema::pricing_catalogue_version as v;
        use diesel::prelude::*;
        diesel_async::RunQueryDsl::load::<i64>(v::table.select(v::version).for_update(), self)
            .await
            .map(drop)
    }

    async fn catalogue_written(&mut self) -> diesel::QueryResult<()> {
        use crate::schema::pricing_catalogue_version as v;
        use diesel::prelude::*;
        diesel_async::RunQueryDsl::execute(
            diesel::update(v::table).set((
                v::version.eq(v::version + 1_i64),
                v::changed_at.eq(crate::sql_types::DbNow),
            )),
            self,
        )
        .await?;
        diesel_async::RunQueryDsl::execute(diesel::select(pg_notify(CATALOGUE_CHANNEL, "")), self)
            .await
            .map(drop)
    }
}

impl CatalogueWrites for SqliteConn {
    async fn lock_catalogue(&mut self) -> diesel::QueryResult<()> {
        Ok(())
    }

    async fn catalogue_written(&mut self) -> diesel::QueryResult<()> {
        use crate::schema::pricing_catalogue_version as v;
        use diesel::prelude::*;
        diesel_async::RunQueryDsl::execute(
            diesel::update(v::table).set((
                v::version.eq(v::version + 1_i64),
                v::changed_at.eq(crate::sql_types::DbNow),
            )),
            self,
        )
        .await
        .map(drop)
    }
}

/// The channel on which PostgreSQL announces new jobs.
pub(crate) const JOBS_CHANNEL: &str = "pricing_sync_jobs";

/// Wakes idle workers of every replica when a job is queued: a
/// `pg_notify` inside the enqueue transaction on PostgreSQL (delivered on
/// commit); nothing on SQLite, where workers poll and in-process triggers
/// wake them directly.
pub(crate) trait NotifyJobs {
    /// Announces a new job.
    async fn notify_new_job(&mut self) -> diesel::QueryResult<()>;
}

impl NotifyJobs for AsyncPgConnection {
    async fn notify_new_job(&mut self) -> diesel::QueryResult<()> {
        // A statement built from the DSL with a fixed shape: diesel keeps
        // it prepared instead of preparing it anew on every enqueue.
        diesel_async::RunQueryDsl::execute(diesel::select(pg_notify(JOBS_CHANNEL, "")), self)
            .await
            .map(drop)
    }
}

impl NotifyJobs for SqliteConn {
    async fn notify_new_job(&mut self) -> diesel::QueryResult<()> {
        Ok(())
    }
}

/// Runs `$body` with `$conn` bound to a connection of the store's backend.
/// The body is compiled once per backend, so the same diesel query serves
/// both. `$pool` is `readers` or `writer` (SQLite's split; PostgreSQL has
/// one pool). A body that does not finish (an early `?` return, a panic, a
/// cancelled future) leaves its connection to be verified before its next
/// use (see [`crate::pool`]); so a body passes its errors on with `?`
/// rather than evaluating to them. (Inside a transaction diesel itself marks
/// a connection broken when the rollback after an error fails.)
macro_rules! on_conn {
    ($store:expr, $pool:ident, |$conn:ident| $body:expr) => {{
        match &*$store.backend {
            $crate::store::Backend::Postgres(pool) => {
                let mut pooled = $crate::pool::checkout(pool).await?;
                let $conn: &mut ::diesel_async::AsyncPgConnection = pooled.conn();
                let value = $body;
                pooled.finish();
                value
            }
            $crate::store::Backend::Sqlite(pools) => {
                let mut pooled = $crate::pool::checkout(&pools.$pool).await?;
                let $conn: &mut $crate::store::SqliteConn = pooled.conn();
                let value = $body;
                pooled.finish();
                value
            }
        }
    }};
}
pub(crate) use on_conn;
