//! Alibaba Cloud: the manual price table, cross-checked against DashScope's
//! recorded model list when `ALIBABA_API_KEY` is set. The HTTP cases apply
//! to the cross-check request.

mod common;

use common::{
    assert_skipped, counts, fetch_fixture, fetcher, ok, policy, price, validated, Provider,
};
use pricesync_domain::{Meter, PriceSource};
use pricesync_providers::alibaba_cloud::NOT_IN_TABLE;
use pricesync_providers::manual::ManualTable;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer};

const ALIBABA: Provider = Provider {
    name: "alibaba-cloud",
    path: "/compatible-mode/v1/models",
    key: Some(("ALIBABA_API_KEY", "sk-test")),
};

http_policy_cases!(ALIBABA);

#[tokio::test]
async fn table_prices_are_served_as_manual_exact_per_token_values() {
    let list = validated(fetch_fixture(&ALIBABA).await);
    assert_eq!(price(&list, "qwen-max", Meter::InputTokens, 0), "0.0000016");
    assert_eq!(
        price(&list, "qwen3-max", Meter::InputTokens, 128_000),
        "0.000003"
    );
    assert_eq!(
        price(&list, "qwen3-max", Meter::OutputTokens, 32_000),
        "0.000012"
    );
    assert!(list
        .offerings()
        .iter()
        .all(|o| o.source == PriceSource::Manual));
}

#[tokio::test]
async fn listed_models_missing_from_the_table_are_reported_never_priced() {
    let fetched = fetch_fixture(&ALIBABA).await;
    let vl = fetched
        .skipped
        .iter()
        .find(|s| s.provider_model_id == "qwen-vl-max")
        .expect("reported");
    assert!(
        vl.reason.to_string().contains(NOT_IN_TABLE),
        "{}",
        vl.reason
    );
    let list = validated(fetched);
    assert_skipped(
        &list,
        &[
            ("qwen3-coder-plus", "unsupported_pricing"),
            ("text-embedding-v3", "unsupported_pricing"),
            ("<unknown>", "unparseable"),
        ],
    );
    // Every table model is served (qwen-turbo too, though not listed); 26
    // listed ids less the 4 the table prices, and one unreadable entry.
    let table = ManualTable::defaults().expect("defaults");
    assert_eq!(counts(&list), (table.models("alibaba-cloud").len(), 23));
}

#[tokio::test]
async fn without_a_key_the_table_is_served_without_any_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ok("{\"data\": []}"))
        .expect(0)
        .mount(&server)
        .await;
    let no_key = Provider {
        key: None,
        ..ALIBABA
    };
    let list = fetcher(&no_key, &server, policy())
        .fetch()
        .await
        .expect("table");
    let table = ManualTable::defaults().expect("defaults");
    assert_eq!(list.models, table.models("alibaba-cloud"));
    assert!(list.skipped.is_empty());
}
