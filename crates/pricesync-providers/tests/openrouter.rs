//! OpenRouter against its recorded list (42 entries: bands, cache prices,
//! a discount, free and dynamic models, duplicates, wrong types).

mod common;

use common::{assert_skipped, counts, fetch_fixture, kind, price, validated, Provider};
use pricesync_domain::{Meter, PricingKind};

const OPENROUTER: Provider = Provider {
    name: "openrouter",
    path: "/models",
    key: None,
};

http_policy_cases!(OPENROUTER);

#[tokio::test]
async fn known_prices_are_exact_per_token_values() {
    let list = validated(fetch_fixture(&OPENROUTER).await);
    let sonnet = "anthropic/claude-sonnet-4.5";
    assert_eq!(price(&list, sonnet, Meter::InputTokens, 0), "0.000003");
    assert_eq!(
        price(&list, sonnet, Meter::OutputTokens, 200_000),
        "0.0000225"
    );
    assert_eq!(
        price(&list, sonnet, Meter::CacheWrite5mTokens, 0),
        "0.00000375"
    );
    assert_eq!(price(&list, sonnet, Meter::WebSearch, 0), "0.01");
    assert_eq!(price(&list, "openai/gpt-4o", Meter::Image, 0), "0.003613");
    let opus = "anthropic/claude-opus-4.1";
    assert_eq!(price(&list, opus, Meter::CacheWrite1hTokens, 0), "0.00003");
    // A 25% discount on 0.0000002.
    let v31 = "deepseek/deepseek-chat-v3.1";
    assert_eq!(price(&list, v31, Meter::InputTokens, 0), "0.00000015");
    // Every digit of a float artefact is kept.
    assert_eq!(
        price(
            &list,
            "mistralai/mistral-small-3.2-24b-instruct",
            Meter::InputTokens,
            0
        ),
        "0.0000000500000000000001"
    );
    // A band override inherits the cache price it does not restate.
    let gemini = "google/gemini-2.5-pro";
    assert_eq!(
        price(&list, gemini, Meter::CacheReadTokens, 200_000),
        "0.000000625"
    );
    assert_eq!(price(&list, gemini, Meter::Image, 200_000), "0.00516");
}

#[tokio::test]
async fn free_dynamic_and_unpriced_models_keep_their_kind() {
    let list = validated(fetch_fixture(&OPENROUTER).await);
    let free = "meta-llama/llama-3.3-70b-instruct:free";
    assert_eq!(kind(&list, free), PricingKind::Free);
    assert_eq!(kind(&list, "openrouter/auto"), PricingKind::Dynamic);
    assert_eq!(
        kind(&list, "~anthropic/claude-sonnet-latest"),
        PricingKind::Dynamic
    );
    assert_eq!(kind(&list, "mystery/no-pricing"), PricingKind::Unknown);
    assert_eq!(
        kind(&list, "z-ai/glm-4.6"),
        PricingKind::Metered,
        "unknown keys are ignored"
    );
}

#[tokio::test]
async fn bad_entries_are_skipped_with_reasons_and_the_rest_kept() {
    let list = validated(fetch_fixture(&OPENROUTER).await);
    assert_skipped(
        &list,
        &[
            ("broken/price-object", "unparseable"),
            ("<unknown>", "unparseable"),
            ("broken/overrides", "unparseable"),
            ("broken/not-a-number", "unparseable"),
            ("moonshotai/kimi-k2", "conflicting_duplicate"),
            ("unit-error/per-million-as-token", "above_maximum"),
        ],
    );
    // 42 entries: 4 unreadable, 1 identical duplicate merged, 1 id listed
    // twice with different prices, 1 unit error.
    assert_eq!(counts(&list), (34, 6));
}
