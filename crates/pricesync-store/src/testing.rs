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
//! on stderr: developers without PostgreSQL can still run the suite, and CI,
//! which sets the variable, cannot pass without PostgreSQL.

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

use crate::{DatabaseUrl, PoolConfig, Store};

/// The PostgreSQL tried when `TEST_DATABASE_URL` is not set.
pub const DEFAULT_TEST_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

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
                eprintln!(
                    "PostgreSQL tests not run: nothing answers at {DEFAULT_TEST_POSTGRES_URL} ({e}); set TEST_DATABASE_URL to run them"
                );
                return None;
            }
        };
        let schema = format!("pricesync_test_{}", uuid::Uuid::new_v4().simple());
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

impl Store {
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
        self.insert_job(job).await
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
