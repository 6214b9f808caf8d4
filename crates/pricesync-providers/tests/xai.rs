//! xAI against its recorded list (22 entries: US cents per 100M tokens,
//! long-context bands, cache and image prices, aliases (one claimed by two
//! models), a free model, wrong types, a duplicate). The key is required.

mod common;

use common::{
    assert_needs_key, assert_skipped, counts, fetch_fixture, kind, meters, price, validated,
    Provider,
};
use pricesync_domain::{Meter, PricingKind};

const XAI: Provider = Provider {
    name: "xai",
    path: "/v1/language-models",
    key: Some(("XAI_API_KEY", "xai-test-key")),
};

http_policy_cases!(XAI);

#[tokio::test]
async fn cents_per_hundred_million_become_exact_per_token_values() {
    let list = validated(fetch_fixture(&XAI).await);
    let mini = "grok-3-mini";
    assert_eq!(price(&list, mini, Meter::InputTokens, 0), "0.0000003");
    assert_eq!(price(&list, mini, Meter::OutputTokens, 0), "0.0000005");
    assert_eq!(price(&list, mini, Meter::CacheReadTokens, 0), "0.000000075");
    let vision = "grok-2-vision-1212";
    assert_eq!(price(&list, vision, Meter::InputImageTokens, 0), "0.000002");
}

#[tokio::test]
async fn long_context_prices_are_a_band_from_128k_prompt_tokens() {
    let list = validated(fetch_fixture(&XAI).await);
    for id in ["grok-4-0709", "grok-4", "grok-4-latest"] {
        assert_eq!(price(&list, id, Meter::InputTokens, 0), "0.000003", "{id}");
        assert_eq!(
            price(&list, id, Meter::InputTokens, 128_000),
            "0.000006",
            "{id}"
        );
        assert_eq!(
            price(&list, id, Meter::OutputTokens, 128_000),
            "0.00003",
            "{id}"
        );
        assert_eq!(
            price(&list, id, Meter::CacheReadTokens, 128_000),
            "0.0000015",
            "{id}"
        );
    }
    // A band without a cached price inherits the base one.
    let fast = "grok-4-fast-reasoning";
    assert_eq!(
        price(&list, fast, Meter::CacheReadTokens, 128_000),
        "0.00000005"
    );
    assert_eq!(
        price(&list, fast, Meter::InputImageTokens, 128_000),
        "0.0000002"
    );
    // No band without long-context prices.
    assert!(meters(&list, "grok-3").iter().all(|(_, band)| *band == 0));
}

#[tokio::test]
async fn free_models_aliases_and_bad_entries() {
    let list = validated(fetch_fixture(&XAI).await);
    assert_eq!(kind(&list, "grok-beta-free"), PricingKind::Free);
    assert_skipped(
        &list,
        &[
            ("broken/text-price", "unparseable"),
            ("broken/no-completion", "unparseable"),
            ("<unknown>", "unparseable"),
            ("grok-fast", "conflicting_duplicate"),
        ],
    );
    // 22 entries: 3 unreadable, 19 models with 28 aliases; a duplicate
    // model (and its 2 aliases) merged; an alias claimed by two models.
    assert_eq!(counts(&list), (42, 4));
}

#[tokio::test]
async fn without_a_key_no_request_is_made() {
    assert_needs_key(&XAI).await;
}
