//! Black-box tests of `POST /v1/pricing/cost` and of cards at an instant
//! (`GET /v1/pricing/models/{provider}/{model_id}?at=`) over HTTP: the real
//! server on port 0, a database of its own per test (SQLite, and
//! PostgreSQL when available). Every answer is read back into its
//! documented type.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::{model, on_both_backends, TestApp, TestDatabase};
use pricesync::api::types::cost::{CostAnswer, CostItemResult, CostResponse};
use pricesync::api::types::ErrorBody;
use pricesync::catalogue::Catalogue;
use pricesync_domain::{
    diff_price_lists, validate_price_list, JobState, Meter, ProviderId, RawOffering, RawPricing,
    ShrinkGuard, ValidationPolicy,
};
use pricesync_providers::{FetchError, FetchedList, PriceFetcher};
use pricesync_store::Store;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

const HOUR: Duration = Duration::from_secs(3600);

fn sonnet(input: &str) -> RawOffering {
    model(
        "anthropic/claude-sonnet-4.5",
        &[
            (Meter::InputTokens, 0, input),
            (Meter::InputTokens, 200_000, "0.000006"),
            (Meter::OutputTokens, 0, "0.000015"),
            (Meter::CacheReadTokens, 0, "0.0000003"),
        ],
    )
}

fn dynamic(id: &str) -> RawOffering {
    let mut offering = model(id, &[]);
    offering.pricing = RawPricing::Dynamic;
    offering
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).expect("formats")
}

/// POSTs `body` to the cost route: the status and the raw JSON.
async fn post_cost(app: &TestApp, query: &str, body: Value) -> (u16, Value) {
    let response = app
        .call(
            reqwest::Method::POST,
            &format!("/v1/pricing/cost{query}"),
            None,
            Some(body),
        )
        .await;
    let status = response.status().as_u16();
    let value: Value = response.json().await.expect("a JSON answer");
    (status, value)
}

fn one(value: Value) -> CostAnswer {
    match serde_json::from_value::<CostResponse>(value.clone()) {
        Ok(CostResponse::One(answer)) => answer,
        other => panic!("not one answer: {other:?} from {value}"),
    }
}

fn batch(value: Value) -> Vec<CostItemResult> {
    match serde_json::from_value::<CostResponse>(value.clone()) {
        Ok(CostResponse::Batch(answer)) => answer.items,
        other => panic!("not a batch: {other:?} from {value}"),
    }
}

fn error(value: Value) -> ErrorBody {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}: {value}"))
}

fn total(result: &CostItemResult) -> String {
    match result {
        CostItemResult::Ok { ok } => ok.total_usd.to_string(),
        CostItemResult::Error(e) => panic!("not priced: {e:?}"),
    }
}

fn code(result: &CostItemResult) -> &str {
    match result {
        CostItemResult::Ok { ok } => panic!("priced: {ok:?}"),
        CostItemResult::Error(e) => &e.error,
    }
}

async fn one_usage_is_priced_now_with_a_breakdown(db: TestDatabase) {
    let app = TestApp::builder().start(db).await;
    app.seed("openrouter", vec![sonnet("0.000003")]).await;
    let (status, body) = post_cost(
        &app,
        "",
        json!({
            "provider": "openrouter",
            "model": "anthropic/claude-sonnet-4.5",
            "usage": {"input_tokens": 1200, "cache_read_tokens": 1000, "output_tokens": 300},
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Exact decimal strings.
    assert_eq!(body["total_usd"], "0.0054");
    assert_eq!(body["lines"][0]["amount_usd"], "0.0006");
    let answer = one(body);
    let lines: Vec<(Meter, u64, String, String)> = answer
        .lines
        .iter()
        .map(|l| {
            (
                l.meter,
                l.quantity,
                l.usd_per_unit.to_string(),
                l.amount_usd.to_string(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (Meter::InputTokens, 200, "0.000003".into(), "0.0006".into()),
            (Meter::OutputTokens, 300, "0.000015".into(), "0.0045".into()),
            (
                Meter::CacheReadTokens,
                1000,
                "0.0000003".into(),
                "0.0003".into()
            ),
        ]
    );
    assert!(answer.total_usd_rounded.is_none());
    assert!((OffsetDateTime::now_utc() - answer.at).abs() < time::Duration::minutes(1));

    // A long prompt is billed at the band; ?round= adds a rounded total.
    let (status, body) = post_cost(
        &app,
        "?round=2",
        json!({
            "provider": "openrouter",
            "model": "anthropic/claude-sonnet-4.5",
            "usage": {"input_tokens": 250000, "output_tokens": 1000},
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total_usd"], "1.515");
    assert_eq!(body["total_usd_rounded"], "1.52");
    assert_eq!(body["lines"][0]["min_prompt_tokens"], 200000);

    // A single usage that cannot be priced is the answer's status.
    app.seed(
        "openrouter",
        vec![sonnet("0.000003"), dynamic("openrouter/auto")],
    )
    .await;
    let (status, body) = post_cost(
        &app,
        "",
        json!({"provider": "openrouter", "model": "openrouter/auto", "usage": {"input_tokens": 1}}),
    )
    .await;
    assert_eq!(
        (status, error(body).error.as_str()),
        (422, "dynamic_pricing")
    );
    let (status, body) = post_cost(
        &app,
        "",
        json!({"provider": "openrouter", "model": "no/such", "usage": {"input_tokens": 1}}),
    )
    .await;
    let body = error(body);
    assert_eq!((status, body.error.as_str()), (404, "unknown_model"));
    assert!(body.message.contains("no/such"), "{}", body.message);
}

async fn a_batch_is_answered_in_order_and_one_failure_fails_no_other(db: TestDatabase) {
    let app = TestApp::builder().start(db).await;
    app.seed(
        "openrouter",
        vec![sonnet("0.000003"), dynamic("openrouter/auto")],
    )
    .await;
    let item = |model: &str, usage: Value| json!({"provider": "openrouter", "model": model, "usage": usage});
    let sonnet_id = "anthropic/claude-sonnet-4.5";
    let (status, body) = post_cost(
        &app,
        "?round=4",
        json!({"items": [
            item(sonnet_id, json!({"input_tokens": 1000})),
            item("no/such/model", json!({"input_tokens": 1000})),
            item("openrouter/auto", json!({"input_tokens": 1000})),
            item(sonnet_id, json!({"input_tokens": 10, "cache_read_tokens": 11})),
            item(sonnet_id, json!({"input_tokens": 100, "cache_write_5m_tokens": 100})),
            {"provider": "Not A Provider", "model": "x", "usage": {}},
            item(sonnet_id, json!({"output_tokens": 2})),
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let results = batch(body);
    assert_eq!(results.len(), 7);
    assert_eq!(total(&results[0]), "0.003");
    assert_eq!(code(&results[1]), "unknown_model");
    assert_eq!(code(&results[2]), "dynamic_pricing");
    assert_eq!(code(&results[3]), "inconsistent_usage");
    assert_eq!(code(&results[4]), "unpriced_meter");
    assert_eq!(code(&results[5]), "unknown_model");
    assert_eq!(total(&results[6]), "0.00003");
    if let CostItemResult::Ok { ok } = &results[6] {
        assert_eq!(
            ok.total_usd_rounded.map(|d| d.to_string()).as_deref(),
            Some("0.0000")
        );
    }
    if let CostItemResult::Error(e) = &results[4] {
        assert!(e.message.contains("cache_write_5m_tokens"), "{}", e.message);
    }
}

async fn malformed_bodies_are_400_with_the_error_shape(db: TestDatabase) {
    let app = TestApp::builder().start(db).await;
    app.seed("openrouter", vec![sonnet("0.000003")]).await;
    let usage = json!({"input_tokens": 1});
    let cases = [
        (json!("just a string"), "invalid JSON body"),
        (
            json!({"provider": "openrouter", "usage": usage}),
            "missing field(s) model",
        ),
        (
            json!({"provider": "openrouter", "model": "m", "usage": usage, "extra": 1}),
            "unknown field `extra`",
        ),
        (
            json!({"provider": "openrouter", "model": "m", "usage": {"input_tokenz": 1}}),
            "unknown field `input_tokenz`",
        ),
        (
            json!({"provider": "openrouter", "model": "m", "usage": {"input_tokens": -1}}),
            "invalid JSON body",
        ),
        (
            json!({"provider": "openrouter", "model": "m", "usage": usage, "at": "yesterday"}),
            "at: \"yesterday\" is not an RFC 3339 time",
        ),
        (
            json!({"items": [{"provider": "openrouter", "model": "m", "usage": usage}], "provider": "x"}),
            "a body with `items` is a batch",
        ),
        (json!({"items": []}), "items is empty"),
        (
            json!({"items": [
                {"provider": "openrouter", "model": "m", "usage": usage},
                {"provider": "openrouter", "model": "m", "usage": usage, "at": "2026-13-01T00:00:00Z"},
            ]}),
            "items[1].at",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = post_cost(&app, "", body.clone()).await;
        let answer = error(answer);
        assert_eq!(status, 400, "{body} → {answer:?}");
        assert_eq!(answer.error, "invalid_body", "{body}");
        assert!(
            answer.message.contains(expected),
            "{body}: {:?} should say {expected:?}",
            answer.message
        );
    }
    // Not JSON at all, and a bad query parameter.
    let response = app
        .client
        .post(format!("{}/v1/pricing/cost", app.base))
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 400);
    let answer: ErrorBody = response.json().await.expect("error body");
    assert_eq!(answer.error, "invalid_body");
    let (status, answer) = post_cost(
        &app,
        "?round=99",
        json!({"provider": "openrouter", "model": "m", "usage": usage}),
    )
    .await;
    assert_eq!(
        (status, error(answer).error.as_str()),
        (400, "invalid_parameter")
    );
    let (status, answer) = post_cost(
        &app,
        "?rounding=2",
        json!({"provider": "openrouter", "model": "m", "usage": usage}),
    )
    .await;
    assert_eq!(
        (status, error(answer).error.as_str()),
        (400, "invalid_request")
    );

    // 1000 items are taken; 1001 are refused, saying so.
    let item =
        json!({"provider": "openrouter", "model": "anthropic/claude-sonnet-4.5", "usage": usage});
    let (status, answer) = post_cost(&app, "", json!({"items": vec![item.clone(); 1000]})).await;
    assert_eq!(status, 200);
    assert_eq!(batch(answer).len(), 1000);
    let (status, answer) = post_cost(&app, "", json!({"items": vec![item; 1001]})).await;
    let answer = error(answer);
    assert_eq!((status, answer.error.as_str()), (400, "invalid_body"));
    assert!(
        answer
            .message
            .contains("too many items: 1001; at most 1000"),
        "{}",
        answer.message
    );

    // A body over 1 MiB: 413, in the JSON error shape, naming the limit.
    let padding = "x".repeat(1024 * 1024);
    let (status, answer) = post_cost(
        &app,
        "",
        json!({"provider": "openrouter", "model": padding, "usage": usage}),
    )
    .await;
    let answer = error(answer);
    assert_eq!((status, answer.error.as_str()), (413, "payload_too_large"));
    assert!(answer.message.contains("1048576"), "{}", answer.message);
}

async fn usages_are_priced_at_their_own_times(db: TestDatabase) {
    let app = TestApp::builder().start(db).await;
    // 3e-6 an hour ago and before, 5e-6 since now.
    app.seed("openrouter", vec![sonnet("0.000003")]).await;
    app.db
        .store
        .age_catalogue_for_tests(HOUR)
        .await
        .expect("age");
    app.seed("openrouter", vec![sonnet("0.000005")]).await;
    let now = OffsetDateTime::now_utc();
    let item = |at: Option<OffsetDateTime>| {
        let mut item = json!({
            "provider": "openrouter",
            "model": "anthropic/claude-sonnet-4.5",
            "usage": {"input_tokens": 1000},
        });
        if let Some(at) = at {
            item["at"] = json!(rfc3339(at));
        }
        item
    };
    let (status, body) = post_cost(
        &app,
        "",
        json!({"items": [
            item(Some(now - time::Duration::minutes(30))),
            item(Some(now + time::Duration::seconds(1))),
            item(None),
            item(Some(now - time::Duration::hours(2))),
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let results = batch(body);
    assert_eq!(total(&results[0]), "0.003", "before the change");
    assert_eq!(total(&results[1]), "0.005", "after the change");
    assert_eq!(total(&results[2]), "0.005", "now, from memory");
    assert_eq!(code(&results[3]), "not_listed_yet");
    let CostItemResult::Ok { ok } = &results[0] else {
        unreachable!("checked above");
    };
    assert_eq!(ok.at, now - time::Duration::minutes(30));
    assert!(ok.lines[0].price_since < now - time::Duration::minutes(59));

    // The card itself at those instants.
    let path = "/v1/pricing/models/openrouter/anthropic/claude-sonnet-4.5";
    let (status, card) = app
        .get(&format!(
            "{path}?at={}",
            rfc3339(now - time::Duration::minutes(30)).replace('+', "%2B")
        ))
        .await;
    assert_eq!(status, 200, "{card}");
    let parsed: pricesync::api::types::read::Model =
        serde_json::from_value(card.clone()).expect("a Model");
    drop(parsed);
    assert_eq!(card["prices"][0]["meter"], "input_tokens");
    assert_eq!(card["prices"][0]["usd_per_unit"], "0.000003");
    assert!(card["prices"][0]["since"].is_string(), "{card}");
    assert!(card["at"].is_string() && card["listed_since"].is_string());
    let (_, current) = app.get(path).await;
    assert_eq!(current["prices"][0]["usd_per_unit"], "0.000005");
    assert!(
        current["prices"][0].get("since").is_none(),
        "unchanged shape"
    );
    let (status, early) = app
        .get(&format!(
            "{path}?at={}",
            rfc3339(now - time::Duration::hours(2))
        ))
        .await;
    assert_eq!(
        (status, early["error"].as_str()),
        (404, Some("not_listed_yet"))
    );
    let (status, bad) = app.get(&format!("{path}?at=noon")).await;
    assert_eq!(
        (status, bad["error"].as_str()),
        (400, Some("invalid_parameter"))
    );
    assert!(bad["message"]
        .as_str()
        .is_some_and(|m| m.contains("query parameter at")));
    let (status, bad) = app.get(&format!("{path}?when=noon")).await;
    assert_eq!(
        (status, bad["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

/// A provider whose list the test replaces between syncs.
struct ChangingProvider {
    provider: ProviderId,
    models: Arc<Mutex<Vec<RawOffering>>>,
}

#[async_trait]
impl PriceFetcher for ChangingProvider {
    fn provider(&self) -> &ProviderId {
        &self.provider
    }

    async fn fetch(&self) -> Result<FetchedList, FetchError> {
        let models = self.models.lock().expect("not poisoned").clone();
        Ok(FetchedList {
            models,
            skipped: vec![],
        })
    }
}

async fn sync(app: &mut TestApp) {
    let (status, accepted) = app
        .admin(reqwest::Method::POST, "/admin/pricing/sync/trigger", None)
        .await;
    assert_eq!(status, 202, "{accepted}");
    let id: Uuid = accepted["sync_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("sync id");
    assert_eq!(app.wait_finished(id).await, Some(JobState::Completed));
}

async fn a_usage_now_after_a_sync_gets_the_new_prices(db: TestDatabase) {
    let models = Arc::new(Mutex::new(vec![sonnet("0.000003")]));
    let mut app = TestApp::builder()
        .admin_token()
        .provider(ChangingProvider {
            provider: ProviderId::parse("openrouter").expect("provider"),
            models: models.clone(),
        })
        .start(db)
        .await;
    let usage = json!({
        "provider": "openrouter",
        "model": "anthropic/claude-sonnet-4.5",
        "usage": {"input_tokens": 1000},
    });
    let (status, body) = post_cost(&app, "", usage.clone()).await;
    assert_eq!((status, error(body).error.as_str()), (404, "unknown_model"));
    sync(&mut app).await;
    let (status, body) = post_cost(&app, "", usage.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(one(body).total_usd.to_string(), "0.003");
    *models.lock().expect("not poisoned") = vec![sonnet("0.000004")];
    sync(&mut app).await;
    // Right after this process's sync: the new price, with no periodic
    // check in between (every 5 s by default).
    let (status, body) = post_cost(&app, "", usage).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(one(body).total_usd.to_string(), "0.004");
}

/// Writes `raws` as openrouter's prices through `store`.
async fn write(store: &Store, raws: Vec<RawOffering>) {
    let provider = ProviderId::parse("openrouter").expect("provider");
    let stored = store.load_provider_prices(&provider).await.expect("load");
    let fresh = validate_price_list(raws, &ValidationPolicy::default());
    let diff = diff_price_lists(&stored, &fresh, ShrinkGuard::default());
    store
        .apply_price_diff(&provider, &diff, None, None)
        .await
        .expect("apply");
}

fn input_price(catalogue: &pricesync::catalogue::Snapshot) -> Option<String> {
    catalogue
        .card("openrouter", "anthropic/claude-sonnet-4.5")
        .and_then(|c| c.card.components.first())
        .map(|c| c.component.usd_per_unit.to_string())
}

async fn the_catalogue_follows_its_own_writes_at_once_and_others_on_check(db: TestDatabase) {
    let store = db.store.clone();
    write(&store, vec![sonnet("0.000003")]).await;
    let catalogue = Catalogue::load(store.clone()).await.expect("loads");
    let snapshot = catalogue.snapshot().await.expect("snapshot");
    assert_eq!(input_price(&snapshot).as_deref(), Some("0.000003"));

    // A write through this process's store: the next snapshot has it, with
    // no refresher running and no check called.
    write(&store, vec![sonnet("0.000004")]).await;
    let snapshot = catalogue.snapshot().await.expect("snapshot");
    assert_eq!(input_price(&snapshot).as_deref(), Some("0.000004"));

    // A write by another process (its own store on the same database): not
    // seen until the periodic check, which notices the version moved.
    let other = Store::connect(&db.url, &Default::default()).expect("another store");
    write(&other, vec![sonnet("0.000005")]).await;
    let snapshot = catalogue.snapshot().await.expect("snapshot");
    assert_eq!(input_price(&snapshot).as_deref(), Some("0.000004"));
    assert!(catalogue.refresh().await.expect("check"), "reloaded");
    let snapshot = catalogue.snapshot().await.expect("snapshot");
    assert_eq!(input_price(&snapshot).as_deref(), Some("0.000005"));
    assert!(!catalogue.refresh().await.expect("check"), "nothing new");
}

on_both_backends!(
    one_usage_is_priced_now_with_a_breakdown,
    a_batch_is_answered_in_order_and_one_failure_fails_no_other,
    malformed_bodies_are_400_with_the_error_shape,
    usages_are_priced_at_their_own_times,
    a_usage_now_after_a_sync_gets_the_new_prices,
    the_catalogue_follows_its_own_writes_at_once_and_others_on_check,
);
