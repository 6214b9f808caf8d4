//! Isolated databases for tests (feature `testing`).
//!
//! Each [`TestDatabase`] is a fresh, migrated store: a SQLite file in its own
//! temporary directory, or a PostgreSQL schema of its own (so tests run in
//! parallel against one server). The schema or directory is dropped with
//! the value.
//!
//! PostgreSQL comes from `TEST_DATABASE_URL`. When that is set, failing to
//! reach the server fails the test. When it is not set, the local default
//! (`postgres://postgres@127.0.0.1:5432/postgres`) is tried and, if nothing
//! answers there, [`TestDatabase::postgres`] returns `None` after saying so
//! in the test output, naming the suite: developers without PostgreSQL can
//! still run the suite, and CI, which sets the variable, cannot pass without
//! PostgreSQL.
//!
//! A test run that crashes leaves its schemas behind. Their names carry
//! their creation time (`pricesync_test_<unix seconds>_<random>`), and the
//! first test database of each run drops those older than
//! [`LEFTOVER_SCHEMA_AGE`] — old enough that no running test still uses them.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use pricesync_domain::{parse_decimal, ComponentKey, Meter, PriceSource, RawOffering, RawPricing};

use crate::{DatabaseUrl, EnqueueOutcome, JobRecord, NewJob, PoolConfig, Store};

/// The PostgreSQL tried when `TEST_DATABASE_URL` is not set.
pub const DEFAULT_TEST_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Test schemas older than this are leftovers of crashed runs.
pub const LEFTOVER_SCHEMA_AGE: Duration = Duration::from_secs(3600);

/// What every test schema's name starts with.
const SCHEMA_PREFIX: &str = "pricesync_test_";

/// The test binary's name without its build hash (`coordination`), which
/// names the suite in messages.
fn suite_name() -> String {
    let exe = std::env::current_exe().ok();
    let stem = exe
        .as_deref()
        .and_then(std::path::Path::file_stem)
        .and_then(std::ffi::OsStr::to_str)
        .unwrap_or("tests");
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_owned(),
        _ => stem.to_owned(),
    }
}

/// Says, once per test binary, that its PostgreSQL tests are skipped.
/// Written to the process's stderr directly: the test harness captures
/// `eprintln!` of passing tests, and a skip must not be silent.
fn announce_skip(reason: &str) {
    static ANNOUNCED: AtomicBool = AtomicBool::new(false);
    if ANNOUNCED.swap(true, Ordering::SeqCst) {
        return;
    }
    let _ = writeln!(
        std::io::stderr(),
        "\nSKIPPED: the PostgreSQL tests of `{}` did not run: nothing answers at \
         {DEFAULT_TEST_POSTGRES_URL} ({reason}); set TEST_DATABASE_URL to run them\n",
        suite_name()
    );
}

/// A fresh schema name: the prefix, the creation time, a random part.
fn new_schema_name() -> String {
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{SCHEMA_PREFIX}{created}_{}", uuid::Uuid::new_v4().simple())
}

/// When a test schema was created, from its name; `None` for names this
/// module did not make.
fn schema_created_at(name: &str) -> Option<u64> {
    let (seconds, random) = name.strip_prefix(SCHEMA_PREFIX)?.split_once('_')?;
    if random.is_empty() || !random.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    seconds.parse().ok()
}

/// Drops test schemas older than [`LEFTOVER_SCHEMA_AGE`]. Best effort: a
/// failure here must not fail the test that happened to run it, and the
/// next run tries again.
async fn sweep_leftover_schemas(admin: &mut AsyncPgConnection) {
    #[derive(diesel::QueryableByName)]
    struct Schema {
        #[diesel(sql_type = diesel::sql_types::Text)]
        nspname: String,
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let Ok(schemas) = diesel::sql_query(
        "SELECT nspname::text AS nspname FROM pg_namespace WHERE starts_with(nspname, $1)",
    )
    .bind::<diesel::sql_types::Text, _>(SCHEMA_PREFIX)
    .load::<Schema>(admin)
    .await
    else {
        return;
    };
    for schema in schemas {
        let leftover = schema_created_at(&schema.nspname)
            .is_some_and(|created| now.saturating_sub(created) > LEFTOVER_SCHEMA_AGE.as_secs());
        if leftover {
            let _ = admin
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", schema.nspname))
                .await;
        }
    }
}

/// A migrated store that tests may change at will.
pub struct TestDatabase {
    /// The store.
    pub store: Store,
    /// The URL the store uses.
    pub url: DatabaseUrl,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(std::path::PathBuf),
    Postgres { admin_url: String, schema: String },
}

impl TestDatabase {
    /// A fresh SQLite database.
    pub async fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("pricesync-test-{}", uuid::Uuid::new_v4()));
        let url = DatabaseUrl::Sqlite(dir.join("pricesync.db"));
        let store = Store::connect(&url, &PoolConfig::default()).expect("SQLite store opens");
        store.migrate().await.expect("SQLite migrations run");
        Self {
            store,
            url,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A fresh PostgreSQL schema, or `None` when no server is configured and
    /// none answers locally (see the module docs).
    pub async fn postgres() -> Option<Self> {
        let (admin_url, required) = match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => (url, true),
            _ => (DEFAULT_TEST_POSTGRES_URL.to_owned(), false),
        };
        let mut admin = match AsyncPgConnection::establish(&admin_url).await {
            Ok(conn) => conn,
            Err(e) if required => panic!(
                "TEST_DATABASE_URL is set but PostgreSQL cannot be reached: {e}; start PostgreSQL or unset the variable"
            ),
            Err(e) => {
                announce_skip(&e.to_string());
                return None;
            }
        };
        static SWEPT: AtomicBool = AtomicBool::new(false);
        if !SWEPT.swap(true, Ordering::SeqCst) {
            sweep_leftover_schemas(&mut admin).await;
        }
        let schema = new_schema_name();
        admin
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("test schema is created");
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        let url = DatabaseUrl::Postgres(format!(
            "{admin_url}{separator}options=-c%20search_path%3D{schema}"
        ));
        let store = Store::connect(&url, &PoolConfig::default()).expect("PostgreSQL store opens");
        store.migrate().await.expect("PostgreSQL migrations run");
        Some(Self {
            store,
            url,
            cleanup: Cleanup::Postgres { admin_url, schema },
        })
    }
}

impl TestDatabase {
    /// Drops the leftover test schemas of crashed runs now (each run's first
    /// PostgreSQL test database does it on its own); nothing on SQLite.
    pub async fn sweep_leftover_schemas(&self) {
        if let Cleanup::Postgres { admin_url, .. } = &self.cleanup {
            if let Ok(mut admin) = AsyncPgConnection::establish(admin_url).await {
                sweep_leftover_schemas(&mut admin).await;
            }
        }
    }
}

impl Store {
    /// Deletes every price history entry (as a pruning of the whole
    /// history would), for tests of change feed cursors past the retained
    /// history; returns how many were deleted.
    pub async fn delete_price_history_for_tests(&self) -> crate::StoreResult<usize> {
        use crate::schema::model_pricing_history;
        Ok(crate::store::on_conn!(self, writer, |conn| {
            diesel_async::RunQueryDsl::execute(diesel::delete(model_pricing_history::table), conn)
                .await?
        }))
    }

    /// The PostgreSQL server process of the connection the next query would
    /// use (`None` on SQLite), for tests that end a pooled connection from
    /// outside.
    pub async fn backend_pid_for_tests(&self) -> crate::StoreResult<Option<i32>> {
        #[derive(diesel::QueryableByName)]
        struct Pid {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            pid: i32,
        }
        match &*self.backend {
            crate::store::Backend::Sqlite(_) => Ok(None),
            crate::store::Backend::Postgres(pool) => {
                let mut pooled = crate::pool::checkout(pool).await?;
                let pid: Pid = diesel_async::RunQueryDsl::get_result(
                    diesel::sql_query("SELECT pg_backend_pid() AS pid"),
                    pooled.conn(),
                )
                .await?;
                pooled.finish();
                Ok(Some(pid.pid))
            }
        }
    }

    /// The statements the pooled PostgreSQL connection keeps prepared
    /// (empty on SQLite), for tests that check which statements diesel
    /// caches.
    pub async fn prepared_statements_for_tests(&self) -> crate::StoreResult<Vec<String>> {
        #[derive(diesel::QueryableByName)]
        struct Prepared {
            #[diesel(sql_type = diesel::sql_types::Text)]
            statement: String,
        }
        match &*self.backend {
            crate::store::Backend::Sqlite(_) => Ok(Vec::new()),
            crate::store::Backend::Postgres(pool) => {
                let mut pooled = crate::pool::checkout(pool).await?;
                let rows: Vec<Prepared> = diesel_async::RunQueryDsl::load(
                    diesel::sql_query("SELECT statement FROM pg_prepared_statements"),
                    pooled.conn(),
                )
                .await?;
                pooled.finish();
                Ok(rows.into_iter().map(|p| p.statement).collect())
            }
        }
    }

    /// A PostgreSQL setting of a pooled session (`SHOW name`; `None` on
    /// SQLite), for tests of the session limits.
    pub async fn pg_setting_for_tests(&self, name: &str) -> crate::StoreResult<Option<String>> {
        #[derive(diesel::QueryableByName)]
        struct Setting {
            #[diesel(sql_type = diesel::sql_types::Text)]
            value: String,
        }
        match &*self.backend {
            crate::store::Backend::Sqlite(_) => Ok(None),
            crate::store::Backend::Postgres(pool) => {
                let mut pooled = crate::pool::checkout(pool).await?;
                let setting: Setting = diesel_async::RunQueryDsl::get_result(
                    diesel::sql_query("SELECT current_setting($1) AS value")
                        .bind::<diesel::sql_types::Text, _>(name),
                    pooled.conn(),
                )
                .await?;
                pooled.finish();
                Ok(Some(setting.value))
            }
        }
    }

    /// Runs raw SQL on the write connection, for tests that check what the
    /// database itself refuses.
    pub async fn raw_batch_for_tests(&self, sql: &str) -> crate::StoreResult<()> {
        crate::store::on_conn!(self, writer, |conn| {
            conn.batch_execute(sql).await?;
            Ok(())
        })
    }
}

impl Store {
    /// [`Store::enqueue_job`] without its read-only first look, for tests
    /// that check the transactional insert alone makes one job.
    pub async fn enqueue_job_without_first_read_for_tests(
        &self,
        job: &crate::NewJob,
    ) -> crate::StoreResult<crate::EnqueueOutcome> {
        self.insert_job(job, None).await
    }

    /// Makes a lease look expired (as if its holder had paused past its TTL),
    /// deterministically.
    pub async fn expire_lease_for_tests(&self, key: &str) -> crate::StoreResult<()> {
        use crate::schema::pricing_sync_lock as lock;
        use crate::sql_types::DbNowPlus;
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        crate::store::on_conn!(self, writer, |conn| {
            diesel::update(lock::table.filter(lock::key.eq(key)))
                .set((
                    lock::acquired_at.eq(DbNowPlus::millis(-120_000)),
                    lock::renewed_at.eq(DbNowPlus::millis(-120_000)),
                    lock::expires_at.eq(DbNowPlus::millis(-60_000)),
                ))
                .execute(conn)
                .await?;
        });
        Ok(())
    }

    /// Moves a job's last heartbeat into the past (as if its worker had
    /// died that long ago).
    pub async fn age_heartbeat_for_tests(
        &self,
        job: uuid::Uuid,
        by: std::time::Duration,
    ) -> crate::StoreResult<()> {
        use crate::schema::pricing_sync_jobs as jobs;
        use crate::sql_types::{DbNowPlus, SqlUuid};
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        crate::store::on_conn!(self, writer, |conn| {
            diesel::update(jobs::table.filter(jobs::id.eq(SqlUuid(job))))
                .set(jobs::heartbeat_at.eq(DbNowPlus::before(by).nullable()))
                .execute(conn)
                .await?;
        });
        Ok(())
    }

    /// Moves every recorded time of the catalogue (models, prices, both
    /// history tables) `by` into the past, as if it had all happened that
    /// long ago: tests of cards at an instant make one change, age it,
    /// make the next, with no waiting.
    pub async fn age_catalogue_for_tests(&self, by: std::time::Duration) -> crate::StoreResult<()> {
        let millis = by.as_millis();
        let columns = [
            ("models", "first_seen_at"),
            ("models", "updated_at"),
            ("models", "removed_at"),
            ("model_prices", "updated_at"),
            ("model_pricing_history", "changed_at"),
            ("model_status_history", "changed_at"),
        ];
        let sql: String = columns
            .iter()
            .map(|(table, column)| match &*self.backend {
                crate::store::Backend::Postgres(_) => format!(
                    "UPDATE {table} SET {column} = {column} - interval '{millis} milliseconds';"
                ),
                crate::store::Backend::Sqlite(_) => format!(
                    "UPDATE {table} SET {column} = strftime('%Y-%m-%dT%H:%M:%fZ', {column}, '-{}.{:03} seconds');",
                    millis / 1000,
                    millis % 1000
                ),
            })
            .collect();
        self.raw_batch_for_tests(&sql).await
    }

    /// The database's plan of [`Store::cards_at`] for `asked`, one line
    /// per row: PostgreSQL's `EXPLAIN (ANALYZE, BUFFERS)` (the query runs),
    /// SQLite's `EXPLAIN QUERY PLAN`. For benches and reviews: which
    /// indexes the card query uses.
    pub async fn explain_cards_at_for_tests(
        &self,
        asked: &[crate::CardRequest<'_>],
    ) -> crate::StoreResult<Vec<String>> {
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct PgLine {
            #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
            line: String,
        }
        #[derive(diesel::QueryableByName)]
        struct SqliteLine {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            id: i32,
            #[diesel(sql_type = diesel::sql_types::Integer)]
            parent: i32,
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        let mut query = crate::cards::CardsAtQuery::new(asked);
        match &*self.backend {
            crate::store::Backend::Postgres(pool) => {
                query.explain = "EXPLAIN (ANALYZE, BUFFERS) ";
                let mut pooled = crate::pool::checkout(pool).await?;
                let lines: Vec<PgLine> = query.load(pooled.conn()).await?;
                pooled.finish();
                Ok(lines.into_iter().map(|l| l.line).collect())
            }
            crate::store::Backend::Sqlite(pools) => {
                query.explain = "EXPLAIN QUERY PLAN ";
                let mut pooled = crate::pool::checkout(&pools.readers).await?;
                let lines: Vec<SqliteLine> = query.load(pooled.conn()).await?;
                pooled.finish();
                Ok(lines
                    .into_iter()
                    .map(|l| format!("{} {} {}", l.id, l.parent, l.detail))
                    .collect())
            }
        }
    }

    /// The database clock's current time (what schedules are compared to).
    pub async fn database_now_for_tests(&self) -> crate::StoreResult<time::OffsetDateTime> {
        use crate::sql_types::{DbNow, SqlTime};
        use diesel_async::RunQueryDsl;
        let now: SqlTime = crate::store::on_conn!(self, readers, |conn| {
            diesel::select(DbNow).get_result(conn).await?
        });
        Ok(now.0)
    }

    /// Makes a schedule overdue by `by`, as if every engine had been down
    /// since then.
    pub async fn make_schedule_overdue_for_tests(
        &self,
        name: &str,
        by: std::time::Duration,
    ) -> crate::StoreResult<()> {
        use crate::schema::pricing_sync_schedules as schedules;
        use crate::sql_types::DbNowPlus;
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        crate::store::on_conn!(self, writer, |conn| {
            diesel::update(schedules::table.filter(schedules::name.eq(name)))
                .set(schedules::next_run_at.eq(DbNowPlus::before(by)))
                .execute(conn)
                .await?;
        });
        Ok(())
    }

    /// Makes a schedule due now.
    pub async fn make_schedule_due_for_tests(&self, name: &str) -> crate::StoreResult<()> {
        use crate::schema::pricing_sync_schedules as schedules;
        use crate::sql_types::DbNowPlus;
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        crate::store::on_conn!(self, writer, |conn| {
            diesel::update(schedules::table.filter(schedules::name.eq(name)))
                .set(schedules::next_run_at.eq(DbNowPlus::millis(-1)))
                .execute(conn)
                .await?;
        });
        Ok(())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Sqlite(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, schema } => {
                let (admin_url, schema) = (admin_url.clone(), schema.clone());
                // Drop may run inside a runtime: clean up on a thread of
                // its own with a runtime of its own.
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    if let Ok(runtime) = runtime {
                        runtime.block_on(async {
                            if let Ok(mut conn) = AsyncPgConnection::establish(&admin_url).await {
                                let _ = conn
                                    .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
                                    .await;
                            }
                        });
                    }
                })
                .join();
            }
        }
    }
}

/// Queues `job`, which the test expects to be accepted.
pub async fn enqueued(store: &Store, job: &NewJob) -> JobRecord {
    match store.enqueue_job(job).await.expect("enqueue") {
        EnqueueOutcome::Enqueued(job) => job,
        other => panic!("expected a new job, got {other:?}"),
    }
}

/// A model offered by the API at one price: `usd` per input token.
pub fn one_price(model: &str, usd: &str) -> RawOffering {
    RawOffering {
        provider_model_id: model.to_owned(),
        display_name: None,
        context_length: None,
        source: PriceSource::Api,
        pricing: RawPricing::Metered(vec![(
            ComponentKey::base(Meter::InputTokens),
            parse_decimal(usd).expect("a test price"),
        )]),
    }
}

/// Declares each listed `async fn case(store: Store)` as two tests, one on a
/// fresh SQLite database (module `sqlite`) and one on a fresh PostgreSQL
/// schema (module `postgres`, left out when no server is available: see the
/// module docs). The cases must be in scope of the invocation.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = $crate::testing::TestDatabase::sqlite().await;
                    super::$case(db.store.clone()).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = $crate::testing::TestDatabase::postgres().await else {
                        return;
                    };
                    super::$case(db.store.clone()).await;
                }
            )+
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_carry_their_creation_time() {
        let name = new_schema_name();
        let created = schema_created_at(&name).expect("a name this module made");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        assert!(now.abs_diff(created) < 60, "{name}");
        assert_eq!(
            schema_created_at("pricesync_test_1700000000_0123abcd"),
            Some(1_700_000_000)
        );
        // Names of other origins (or the older random-only form) are never
        // taken for leftovers.
        assert_eq!(schema_created_at("pricesync_test_0123abcd"), None);
        assert_eq!(schema_created_at("public"), None);
        assert_eq!(schema_created_at("pricesync_test_12_x-y"), None);
    }
}
