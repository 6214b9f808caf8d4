//! Cerebras against its recorded public list (24 entries: per-token
//! strings, a number where a string is documented, deprecated and free
//! models, wrong types, a duplicate). No key is sent.

mod common;

use common::{
    assert_skipped, counts, fetch_fixture, fixture, kind, ok, policy, price, validated, Provider,
};
use pricesync_domain::{Meter, PricingKind};
use wiremock::matchers::{header_exists, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CEREBRAS: Provider = Provider {
    name: "cerebras",
    path: "/public/v1/models",
    key: None,
};

http_policy_cases!(CEREBRAS);

#[tokio::test]
async fn per_token_strings_are_exact() {
    let list = validated(fetch_fixture(&CEREBRAS).await);
    assert_eq!(
        price(&list, "llama3.1-8b", Meter::InputTokens, 0),
        "0.0000001"
    );
    let qwen = "qwen-3-235b-a22b-instruct-2507";
    assert_eq!(price(&list, qwen, Meter::InputTokens, 0), "0.0000006");
    assert_eq!(price(&list, qwen, Meter::OutputTokens, 0), "0.0000012");
    // 2.25e-06 as a JSON number is read exactly too.
    assert_eq!(
        price(&list, "zai-glm-4.6", Meter::InputTokens, 0),
        "0.00000225"
    );
}

#[tokio::test]
async fn deprecated_models_are_kept_and_zero_prices_are_free() {
    let list = validated(fetch_fixture(&CEREBRAS).await);
    let scout = "llama-4-scout-17b-16e-instruct";
    assert_eq!(price(&list, scout, Meter::OutputTokens, 0), "0.00000085");
    assert_eq!(kind(&list, "cerebras/free-sandbox"), PricingKind::Free);
}

#[tokio::test]
async fn wrong_types_are_skipped_and_the_rest_kept() {
    let list = validated(fetch_fixture(&CEREBRAS).await);
    assert_skipped(
        &list,
        &[
            ("broken/array-price", "unparseable"),
            ("broken/missing-completion", "unparseable"),
            ("<unknown>", "unparseable"),
        ],
    );
    // 24 entries: 3 unreadable, 1 duplicate merged.
    assert_eq!(counts(&list), (20, 3));
}

#[tokio::test]
async fn a_configured_key_is_not_sent_to_the_public_list() {
    let server = MockServer::start().await;
    Mock::given(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(401))
        .expect(0)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ok(fixture("cerebras")))
        .expect(1)
        .mount(&server)
        .await;
    let with_key = Provider {
        key: Some(("CEREBRAS_API_KEY", "csk-test")),
        ..CEREBRAS
    };
    let list = common::fetcher(&with_key, &server, policy())
        .fetch()
        .await
        .expect("public list");
    assert!(!list.models.is_empty());
}
