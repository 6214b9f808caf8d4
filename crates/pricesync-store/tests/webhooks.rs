//! Webhook endpoints and the outbox of their deliveries, on SQLite and
//! PostgreSQL (see `conformance.rs` for the suite's rules): events are
//! recorded in the transaction of what they announce, claims keep two
//! senders apart, and an attempt's outcome is guarded by its claim.

use std::time::Duration;

use pricesync_domain::{
    diff_price_lists, validate_price_list, JobState, ProviderId, ProviderRunStatus, ShrinkGuard,
    ValidationPolicy,
};
use pricesync_store::testing::{enqueued, one_price};
use pricesync_store::{
    AttemptOutcome, DeliveryQuery, DeliveryRecord, DeliveryState, DueDelivery, EndpointChange,
    JobProgress, JobRecord, NewEndpoint, NewJob, NewProviderLog, Store, StoreError, WebhookEvent,
};
use serde_json::Value;
use uuid::Uuid;

fn provider(name: &str) -> ProviderId {
    ProviderId::parse(name).expect("test provider")
}

async fn endpoint(store: &Store, events: Vec<WebhookEvent>) -> Uuid {
    store
        .create_webhook_endpoint(&NewEndpoint {
            url: "http://127.0.0.1:9/hook".to_owned(),
            secret: "0123456789abcdef-secret".to_owned(),
            events,
            description: "test".to_owned(),
            created_by: "admin:test".to_owned(),
        })
        .await
        .expect("register")
        .id
}

/// Writes one model at `price` for openrouter, as a sync would.
async fn write_price(store: &Store, price: &str) -> Uuid {
    let p = provider("openrouter");
    let list = validate_price_list(
        vec![one_price("org/a", price)],
        &ValidationPolicy::default(),
    );
    let stored = store.load_provider_prices(&p).await.expect("load");
    let diff = diff_price_lists(&stored, &list, ShrinkGuard::default());
    let sync_id = Uuid::now_v7();
    store
        .apply_price_diff(&p, &diff, Some(sync_id), None)
        .await
        .expect("apply");
    sync_id
}

/// Queues a sync of openrouter by an admin.
async fn enqueue(store: &Store, dry_run: bool) -> JobRecord {
    enqueued(
        store,
        &NewJob {
            providers: vec![provider("openrouter")],
            dry_run,
            triggered_by: "admin:ops".to_owned(),
            max_attempts: 3,
            schedule: None,
        },
    )
    .await
}

async fn claim(store: &Store, sender: &str) -> Vec<DueDelivery> {
    store
        .claim_due_deliveries(sender, 100, Duration::from_secs(60))
        .await
        .expect("claim")
}

/// The deliveries `query` selects, up to 100 (its own limit is ignored).
async fn deliveries(store: &Store, query: DeliveryQuery) -> Vec<DeliveryRecord> {
    store
        .list_webhook_deliveries(&DeliveryQuery {
            limit: 100,
            ..query
        })
        .await
        .expect("deliveries")
}

fn body(delivery: &DueDelivery) -> Value {
    serde_json::from_str(&delivery.payload).expect("a JSON payload")
}

async fn endpoints_keep_their_secret_and_want_their_events(store: Store) {
    let refused = store
        .create_webhook_endpoint(&NewEndpoint {
            url: "http://127.0.0.1:9/".to_owned(),
            secret: "short".to_owned(),
            events: Vec::new(),
            description: String::new(),
            created_by: "admin:test".to_owned(),
        })
        .await;
    assert!(matches!(refused, Err(StoreError::InvalidArgument(_))));
    let all = endpoint(&store, Vec::new()).await;
    let finished_only = endpoint(&store, vec![WebhookEvent::SyncFinished]).await;
    let listed = store.list_webhook_endpoints().await.expect("list");
    assert_eq!(
        listed
            .iter()
            .map(|e| (e.id, e.events.clone()))
            .collect::<Vec<_>>(),
        [
            (all, vec![]),
            (finished_only, vec![WebhookEvent::SyncFinished])
        ]
    );
    let sync_id = write_price(&store, "0.000001").await;
    let due = claim(&store, "s1").await;
    assert_eq!(due.len(), 1, "only the endpoint that wants every event");
    let delivery = &due[0];
    assert_eq!(delivery.event_type, "prices.changed");
    assert_eq!(delivery.secret, "0123456789abcdef-secret");
    assert_eq!(delivery.attempt, 1);
    let payload = body(delivery);
    assert_eq!(payload["type"], "prices.changed");
    assert_eq!(payload["id"], delivery.event_id.to_string());
    assert_eq!(payload["data"]["provider"], "openrouter");
    assert_eq!(payload["data"]["sync_id"], sync_id.to_string());
    assert_eq!(payload["data"]["models_added"], 1);
    assert_eq!(payload["data"]["changes_after"], 0);
    // An unchanged write announces nothing.
    write_price(&store, "0.000001").await;
    assert!(claim(&store, "s1").await.is_empty());
    // A change does, with the cursor just before it.
    write_price(&store, "0.000002").await;
    let due = claim(&store, "s1").await;
    assert_eq!(due.len(), 1);
    assert_eq!(body(&due[0])["data"]["changes_after"], 1);
    // Removing an endpoint removes its deliveries.
    assert!(store.delete_webhook_endpoint(all).await.expect("delete"));
    assert!(!store.delete_webhook_endpoint(all).await.expect("delete"));
    let left = deliveries(&store, DeliveryQuery::default()).await;
    assert!(left.is_empty(), "{left:?}");
}

async fn a_finished_job_announces_itself_with_its_providers(store: Store) {
    endpoint(&store, vec![WebhookEvent::SyncFinished]).await;
    let job = enqueue(&store, false).await;
    let claimed = store
        .claim_next_job("w")
        .await
        .expect("claim")
        .expect("a job");
    assert!(store
        .record_provider_log(
            job.id,
            "w",
            claimed.attempt,
            &NewProviderLog {
                provider: "openrouter".to_owned(),
                status: ProviderRunStatus::Succeeded,
                counts: [300, 2, 5, 290, 3, 0, 0],
                removals_suppressed: false,
                changes_held: 0,
                duration: Duration::from_millis(5),
                error: None,
                skipped: Vec::new(),
                planned: Vec::new(),
            },
        )
        .await
        .expect("log"));
    // Nothing is announced before the job ends.
    assert!(claim(&store, "s").await.is_empty());
    assert!(store
        .finish_job(
            job.id,
            "w",
            claimed.attempt,
            JobState::Completed,
            JobProgress::default(),
            None
        )
        .await
        .expect("finish"));
    let due = claim(&store, "s").await;
    assert_eq!(due.len(), 1);
    let payload = body(&due[0]);
    assert_eq!(payload["type"], "sync.finished");
    let data = &payload["data"];
    assert_eq!(data["sync_id"], job.id.to_string());
    assert_eq!(data["status"], "completed");
    assert_eq!(data["triggered_by"], "admin:ops");
    assert_eq!(data["providers"][0]["provider"], "openrouter");
    assert_eq!(data["providers"][0]["fetched"], 300);
    assert_eq!(data["providers"][0]["updated"], 5);
    assert_eq!(data["job_url"], format!("/admin/pricing/sync/{}", job.id));
    // A cancelled queued job ends too, and says so.
    let queued = enqueue(&store, true).await;
    store
        .cancel_job(queued.id, "admin:ops")
        .await
        .expect("cancel");
    let due = claim(&store, "s").await;
    assert_eq!(due.len(), 1);
    assert_eq!(body(&due[0])["data"]["status"], "cancelled");
    assert_eq!(body(&due[0])["data"]["dry_run"], true);
}

async fn claims_keep_senders_apart_and_outcomes_are_guarded(store: Store) {
    endpoint(&store, Vec::new()).await;
    write_price(&store, "0.000001").await;
    let first = claim(&store, "s1").await;
    assert_eq!(first.len(), 1);
    let id = first[0].id;
    // Claimed: no one else gets it meanwhile.
    assert!(claim(&store, "s2").await.is_empty());
    // A failure with a retry frees it for later, not now.
    let failed = AttemptOutcome::Failed {
        status: Some(503),
        error: "503 Service Unavailable".to_owned(),
        retry_in: Some(Duration::from_secs(3600)),
    };
    assert!(store
        .record_delivery_attempt(id, "s1", &failed)
        .await
        .expect("record"));
    assert!(claim(&store, "s2").await.is_empty());
    let listed = deliveries(
        &store,
        DeliveryQuery {
            state: Some(DeliveryState::Pending),
            ..DeliveryQuery::default()
        },
    )
    .await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].attempts, 1);
    assert_eq!(listed[0].last_status, Some(503));
    assert!(listed[0].next_attempt_at > listed[0].created_at + Duration::from_secs(3000));
    assert_eq!(store.count_pending_deliveries().await.expect("count"), 1);
    // A claim that runs out (a sender that died) is taken by another, and
    // the first sender's late outcome is refused.
    write_price(&store, "0.000002").await;
    let taken = store
        .claim_due_deliveries("s1", 10, Duration::ZERO)
        .await
        .expect("claim");
    assert_eq!(taken.len(), 1);
    let second = taken[0].id;
    let again = claim(&store, "s2").await;
    assert_eq!(again.iter().map(|d| d.id).collect::<Vec<_>>(), [second]);
    assert_eq!(again[0].attempt, 2, "each claim is an attempt");
    let delivered = AttemptOutcome::Delivered { status: 200 };
    assert!(!store
        .record_delivery_attempt(second, "s1", &delivered)
        .await
        .expect("record"));
    assert!(store
        .record_delivery_attempt(second, "s2", &delivered)
        .await
        .expect("record"));
    // Given up: failed, and an admin can send it again from the start.
    write_price(&store, "0.000003").await;
    let third = claim(&store, "s1").await;
    assert_eq!(third.len(), 1);
    let gave_up = AttemptOutcome::Failed {
        status: None,
        error: "connection refused".to_owned(),
        retry_in: None,
    };
    assert!(store
        .record_delivery_attempt(third[0].id, "s1", &gave_up)
        .await
        .expect("record"));
    assert_eq!(
        store
            .retry_webhook_delivery(second)
            .await
            .expect("a delivered one is not retried"),
        None
    );
    let retried = store
        .retry_webhook_delivery(third[0].id)
        .await
        .expect("retry")
        .expect("a failed one is");
    assert_eq!(
        (retried.id, retried.state, retried.attempts),
        (third[0].id, DeliveryState::Pending, 0)
    );
    let resent = claim(&store, "s2").await;
    assert_eq!(
        resent.iter().map(|d| d.id).collect::<Vec<_>>(),
        [third[0].id]
    );
    assert_eq!(resent[0].attempt, 1);
    let states = deliveries(&store, DeliveryQuery::default()).await;
    assert_eq!(
        states.iter().map(|d| d.state).collect::<Vec<_>>(),
        [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Pending
        ],
        "newest first"
    );
    // Paging: after the newest, the two older ones.
    let page = deliveries(
        &store,
        DeliveryQuery {
            before: Some((states[0].created_at, states[0].id)),
            ..DeliveryQuery::default()
        },
    )
    .await;
    assert_eq!(
        page.iter().map(|d| d.id).collect::<Vec<_>>(),
        [states[1].id, states[2].id]
    );
    // Pruning takes the ended deliveries older than the retention, never a
    // pending one.
    let day = Duration::from_secs(24 * 3600);
    assert_eq!(
        store.prune_finished_deliveries(day).await.expect("prune"),
        0
    );
    assert_eq!(
        store
            .prune_finished_deliveries(Duration::ZERO)
            .await
            .expect("prune"),
        1
    );
    let left = deliveries(&store, DeliveryQuery::default()).await;
    assert_eq!(
        left.iter().map(|d| d.id).collect::<Vec<_>>(),
        [states[0].id, states[2].id]
    );
}

async fn concurrent_senders_never_claim_the_same_delivery(store: Store) {
    endpoint(&store, Vec::new()).await;
    endpoint(&store, Vec::new()).await;
    for i in 1..=10 {
        write_price(&store, &format!("0.00000{i}")).await;
    }
    let senders = (0..4).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .claim_due_deliveries(&format!("s{i}"), 7, Duration::from_secs(60))
                .await
                .expect("claim")
        })
    });
    let mut ids = Vec::new();
    for sender in senders {
        ids.extend(sender.await.expect("task").into_iter().map(|d| d.id));
    }
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "a delivery claimed twice");
    assert_eq!(total, 20, "every due delivery claimed by someone");
}

async fn a_paused_endpoint_keeps_its_events_until_it_resumes(store: Store) {
    let id = endpoint(&store, Vec::new()).await;
    let pause = EndpointChange {
        enabled: Some(false),
        ..EndpointChange::default()
    };
    let paused = store
        .update_webhook_endpoint(id, &pause)
        .await
        .expect("pause")
        .expect("the endpoint");
    assert!(!paused.enabled);
    write_price(&store, "0.000001").await;
    write_price(&store, "0.000002").await;
    assert!(
        claim(&store, "s1").await.is_empty(),
        "a paused endpoint's deliveries are not sent"
    );
    let waiting = deliveries(
        &store,
        DeliveryQuery {
            state: Some(DeliveryState::Pending),
            endpoint_id: Some(id),
            ..DeliveryQuery::default()
        },
    )
    .await;
    assert_eq!(waiting.len(), 2, "events are recorded while paused");
    assert!(waiting.iter().all(|d| d.attempts == 0));

    // Resumed at a new URL with a new secret and a narrower event list:
    // the waiting deliveries go there, signed with the new secret.
    let change = EndpointChange {
        url: Some("http://127.0.0.1:9/moved".to_owned()),
        secret: Some("a-new-secret-of-24-chars".to_owned()),
        events: Some(vec![WebhookEvent::SyncFinished]),
        description: Some("moved".to_owned()),
        enabled: Some(true),
    };
    let resumed = store
        .update_webhook_endpoint(id, &change)
        .await
        .expect("resume")
        .expect("the endpoint");
    assert!(resumed.enabled);
    assert_eq!(resumed.url, "http://127.0.0.1:9/moved");
    assert_eq!(resumed.events, [WebhookEvent::SyncFinished]);
    assert_eq!(resumed.description, "moved");
    assert_eq!(
        store.webhook_endpoint(id).await.expect("read"),
        Some(resumed)
    );
    let due = claim(&store, "s1").await;
    assert_eq!(due.len(), 2);
    assert!(due.iter().all(|d| d.url == "http://127.0.0.1:9/moved"
        && d.secret == "a-new-secret-of-24-chars"
        && d.event_type == "prices.changed"));
    // The new event list applies to events recorded from now on.
    write_price(&store, "0.000003").await;
    assert!(claim(&store, "s1").await.is_empty());

    // An empty change reads the endpoint; a short secret and an unknown
    // endpoint are refused.
    let same = store
        .update_webhook_endpoint(id, &EndpointChange::default())
        .await
        .expect("no change");
    assert_eq!(
        same.map(|e| e.url),
        Some("http://127.0.0.1:9/moved".to_owned())
    );
    let short = EndpointChange {
        secret: Some("short".to_owned()),
        ..EndpointChange::default()
    };
    assert!(matches!(
        store.update_webhook_endpoint(id, &short).await,
        Err(StoreError::InvalidArgument(_))
    ));
    assert_eq!(
        store
            .update_webhook_endpoint(Uuid::now_v7(), &pause)
            .await
            .expect("update"),
        None
    );
    assert_eq!(
        store.webhook_endpoint(Uuid::now_v7()).await.expect("read"),
        None
    );
}

pricesync_store::on_both_backends!(
    endpoints_keep_their_secret_and_want_their_events,
    a_paused_endpoint_keeps_its_events_until_it_resumes,
    a_finished_job_announces_itself_with_its_providers,
    claims_keep_senders_apart_and_outcomes_are_guarded,
    concurrent_senders_never_claim_the_same_delivery,
);
