//! A worker frozen or cut off inside a transaction cannot stall the others:
//! PostgreSQL sessions carry server-side limits, rescue never queues behind
//! a lease row a zombie transaction holds, and a fenced write keeps (and
//! extends) its own lease however long it takes.

use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use pricesync_domain::{
    diff_price_lists, parse_decimal, validate_price_list, ComponentKey, Meter, PriceSource,
    ProviderId, RawOffering, RawPricing, ShrinkGuard, ValidationPolicy,
};
use pricesync_store::testing::{enqueued, TestDatabase};
use pricesync_store::{DatabaseUrl, NewJob, PoolConfig, Store};

/// How long a test waits for what must happen promptly before failing.
const PATIENCE: Duration = Duration::from_secs(10);

fn url_text(url: &DatabaseUrl) -> String {
    match url {
        DatabaseUrl::Postgres(text) => text.clone(),
        other => panic!("a PostgreSQL URL, not {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sessions_carry_the_configured_limits() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let config = PoolConfig {
        pg_statement_timeout: Duration::from_millis(45_000),
        pg_lock_timeout: Duration::from_millis(7_000),
        pg_idle_in_transaction_timeout: Duration::from_millis(20_000),
        ..PoolConfig::default()
    };
    let store = Store::connect(&db.url, &config).expect("store");
    let setting = |name: &'static str| {
        let store = store.clone();
        async move {
            store
                .pg_setting_for_tests(name)
                .await
                .expect("setting")
                .expect("PostgreSQL")
        }
    };
    assert_eq!(setting("statement_timeout").await, "45s");
    assert_eq!(setting("lock_timeout").await, "7s");
    assert_eq!(setting("idle_in_transaction_session_timeout").await, "20s");
    // The defaults, on the suite's own store.
    assert_eq!(
        db.store
            .pg_setting_for_tests("idle_in_transaction_session_timeout")
            .await
            .expect("setting")
            .as_deref(),
        Some("1min")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rescue_does_not_queue_behind_a_frozen_writers_lease_row() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let store = &db.store;
    let job = enqueued(
        store,
        &NewJob {
            providers: vec![ProviderId::parse("openrouter").expect("provider")],
            dry_run: false,
            triggered_by: "test".to_owned(),
            max_attempts: 3,
            schedule: None,
        },
    )
    .await;
    store
        .claim_next_job("frozen")
        .await
        .expect("claim")
        .expect("the job");
    store
        .try_acquire_lease(
            "pricing_sync:openrouter",
            "frozen",
            "test",
            Duration::from_secs(300),
        )
        .await
        .expect("acquire")
        .expect("free");
    // The frozen worker: inside its write transaction, holding the lease
    // row, and then silent.
    let mut zombie = AsyncPgConnection::establish(&url_text(&db.url))
        .await
        .expect("connect");
    zombie
        .batch_execute(
            "BEGIN; SELECT key FROM pricing_sync_lock WHERE key = 'pricing_sync:openrouter' FOR UPDATE;",
        )
        .await
        .expect("lock the lease row");
    store
        .age_heartbeat_for_tests(job.id, Duration::from_secs(60))
        .await
        .expect("age");
    let report = tokio::time::timeout(PATIENCE, store.rescue_stale_jobs(Duration::from_secs(30)))
        .await
        .expect("rescue does not wait for the frozen transaction")
        .expect("rescue");
    assert_eq!(report.requeued, [job.id]);
    // The locked lease row was left for PostgreSQL to free.
    assert!(store
        .get_lease("pricing_sync:openrouter")
        .await
        .expect("lease")
        .is_some());
    drop(zombie);
}

fn one_model(price: &str) -> RawOffering {
    RawOffering {
        provider_model_id: "org/a".to_owned(),
        display_name: None,
        context_length: None,
        source: PriceSource::Api,
        pricing: RawPricing::Metered(vec![(
            ComponentKey::base(Meter::InputTokens),
            parse_decimal(price).expect("price"),
        )]),
    }
}

async fn a_fenced_write_extends_its_own_lease(store: Store) {
    let provider = ProviderId::parse("openrouter").expect("provider");
    let lease = store
        .try_acquire_lease(
            "pricing_sync:openrouter",
            "w",
            "test",
            Duration::from_secs(2),
        )
        .await
        .expect("acquire")
        .expect("free");
    let fence = lease.fence();
    assert_eq!(fence.ttl, Duration::from_secs(2));
    let fresh = validate_price_list([one_model("0.000001")], &ValidationPolicy::default());
    let diff = diff_price_lists(&[], &fresh, ShrinkGuard::default());
    store
        .apply_price_diff(&provider, &diff, None, Some(&fence))
        .await
        .expect("the fenced write commits");
    let after = store
        .get_lease("pricing_sync:openrouter")
        .await
        .expect("lease")
        .expect("still held");
    assert_eq!(after.fence, lease.fence);
    assert!(after.renewed_at >= lease.renewed_at);
    assert!(after.expires_at - after.renewed_at >= time::Duration::seconds(2));
    assert!(after.expires_at >= lease.expires_at);
}

pricesync_store::on_both_backends!(a_fenced_write_extends_its_own_lease);
