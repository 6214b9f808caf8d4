//! The pool hands out connections without a ping, and verifies a connection
//! before its next use once it has seen an error.

use pricesync_domain::ProviderId;
use pricesync_store::testing::TestDatabase;
use pricesync_store::{EnqueueOutcome, NewJob, PoolConfig, Store};

/// A connection the server ended while it sat idle is replaced: the pool's
/// cheap check usually sees the closed socket at checkout; if the end
/// arrives too late for that, the one query that fails marks the connection
/// and the next checkout verifies it, finds it dead and replaces it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_server_ended_is_replaced() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let config = PoolConfig {
        max_size: 1,
        ..PoolConfig::default()
    };
    let store = Store::connect(&db.url, &config).expect("store");
    let pid = store
        .backend_pid_for_tests()
        .await
        .expect("pid")
        .expect("a PostgreSQL connection");
    // Another connection ends it and waits until it is gone.
    db.store
        .raw_batch_for_tests(&format!("SELECT pg_terminate_backend({pid}, 5000)"))
        .await
        .expect("terminate");
    if let Err(e) = store.ping().await {
        eprintln!("the ended connection failed one query: {e}");
    }
    store
        .ping()
        .await
        .expect("the ended connection is not handed out again");
    let replaced = store.backend_pid_for_tests().await.expect("pid");
    assert!(
        replaced.is_some_and(|new| new != pid),
        "{replaced:?} vs {pid}"
    );
}

/// The statements on the way from a trigger to a started job are prepared
/// once per connection, not anew on every call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_notify_and_claim_stay_prepared() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let config = PoolConfig {
        max_size: 1,
        ..PoolConfig::default()
    };
    let store = Store::connect(&db.url, &config).expect("store");
    for (i, provider) in ["openrouter", "nearai", "featherless"].iter().enumerate() {
        let job = NewJob {
            providers: vec![ProviderId::parse(provider).expect("provider")],
            dry_run: false,
            triggered_by: "admin:test".into(),
            max_attempts: 1,
            schedule: None,
        };
        assert!(matches!(
            store.enqueue_job(&job).await.expect("enqueue"),
            EnqueueOutcome::Enqueued(_)
        ));
        let claimed = store
            .claim_next_job(&format!("w-{i}"))
            .await
            .expect("claim")
            .expect("a job");
        assert_eq!(claimed.providers, [*provider]);
    }
    let prepared = store.prepared_statements_for_tests().await.expect("read");
    let count = |needle: &str| prepared.iter().filter(|s| s.contains(needle)).count();
    // The enqueue is one statement (job, providers and pg_notify), the
    // claim another; each prepared once for the three jobs.
    assert_eq!(count("pg_notify"), 1, "{prepared:#?}");
    assert_eq!(count("SKIP LOCKED"), 1, "{prepared:#?}");
    assert_eq!(count("INSERT INTO pricing_sync_jobs"), 1, "{prepared:#?}");
}

/// Schemas that crashed runs left behind are dropped once they are an hour
/// old; younger ones (a run in progress) stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftover_test_schemas_are_swept() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let random = uuid::Uuid::new_v4().simple();
    let old = format!("pricesync_test_{}_{random}", now - 7200);
    let young = format!("pricesync_test_{}_{random}", now - 60);
    for schema in [&old, &young] {
        db.store
            .raw_batch_for_tests(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("create");
    }
    db.sweep_leftover_schemas().await;
    // CREATE SCHEMA succeeds only for a name that no longer exists.
    db.store
        .raw_batch_for_tests(&format!("CREATE SCHEMA {old}"))
        .await
        .expect("the old schema was dropped");
    assert!(
        db.store
            .raw_batch_for_tests(&format!("CREATE SCHEMA {young}"))
            .await
            .is_err(),
        "the young schema stays"
    );
    db.store
        .raw_batch_for_tests(&format!("DROP SCHEMA {old}; DROP SCHEMA {young}"))
        .await
        .expect("clean up");
}

/// A query that fails leaves a connection that still answers (verified, on
/// both backends).
async fn the_store_answers_after_a_failed_query(store: Store) {
    assert!(store
        .raw_batch_for_tests("SELECT * FROM no_such_table")
        .await
        .is_err());
    store.ping().await.expect("ping after an error");
    store
        .raw_batch_for_tests("SELECT 1")
        .await
        .expect("the writer answers after its error");
}

pricesync_store::on_both_backends!(the_store_answers_after_a_failed_query);
