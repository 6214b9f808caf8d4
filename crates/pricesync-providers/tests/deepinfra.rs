//! DeepInfra against its recorded list (40 entries: US cents per token,
//! embeddings, image/time/character pricing, a deprecated model, a free one,
//! wrong types, a duplicate).

mod common;

use common::{
    assert_skipped, counts, fetch_fixture, fetch_named_fixture, kind, meters, price, validated,
    Provider,
};
use pricesync_domain::{Meter, PricingKind};

const DEEPINFRA: Provider = Provider {
    name: "deepinfra",
    path: "/models/list",
    key: None,
};

http_policy_cases!(DEEPINFRA);

#[tokio::test]
async fn cents_per_token_become_exact_usd_per_token() {
    let list = validated(fetch_fixture(&DEEPINFRA).await);
    // 0.0001 cents per token is $1 per 1M.
    let qwen = "Qwen/Qwen2.5-72B-Instruct";
    assert_eq!(price(&list, qwen, Meter::InputTokens, 0), "0.000001");
    assert_eq!(price(&list, qwen, Meter::OutputTokens, 0), "0.0000039");
    let llama = "meta-llama/Llama-3.3-70B-Instruct-Turbo";
    assert_eq!(price(&list, llama, Meter::InputTokens, 0), "0.000000038");
    let r1 = "deepseek-ai/DeepSeek-R1-0528";
    assert_eq!(price(&list, r1, Meter::OutputTokens, 0), "0.00000215");
    assert_eq!(
        price(&list, "BAAI/bge-m3", Meter::InputTokens, 0),
        "0.00000001"
    );
}

#[tokio::test]
async fn deprecated_models_are_kept_and_zero_prices_are_free() {
    let list = validated(fetch_fixture(&DEEPINFRA).await);
    let deprecated = "meta-llama/Meta-Llama-3-70B-Instruct";
    assert_eq!(kind(&list, deprecated), PricingKind::Metered);
    assert_eq!(price(&list, deprecated, Meter::InputTokens, 0), "0.0000003");
    assert_eq!(kind(&list, "deepinfra/free-preview-8b"), PricingKind::Free);
}

#[tokio::test]
async fn other_pricing_types_and_wrong_types_are_skipped_and_the_rest_kept() {
    let list = validated(fetch_fixture(&DEEPINFRA).await);
    assert_skipped(
        &list,
        &[
            ("stabilityai/sdxl-turbo", "unsupported_pricing"),
            ("openai/whisper-large-v3", "unsupported_pricing"),
            ("hexgrad/Kokoro-82M", "unsupported_pricing"),
            ("broken/type-missing", "unparseable"),
            ("broken/bool-price", "unparseable"),
            ("broken/pricing-text", "unparseable"),
            ("<unknown>", "unparseable"),
        ],
    );
    // 40 entries: 7 skipped, 1 duplicate merged.
    assert_eq!(counts(&list), (32, 7));
}

#[tokio::test]
async fn cache_rates_multiply_the_input_price_and_non_token_types_are_skipped() {
    let list = validated(fetch_named_fixture(&DEEPINFRA, "cached_nontoken_guessed.json").await);
    // 0.000026 cents × 0.2 = 0.0000052 cents per token.
    let v32 = "deepseek-ai/DeepSeek-V3.2";
    assert_eq!(price(&list, v32, Meter::CacheReadTokens, 0), "0.000000052");
    let kimi = "moonshotai/Kimi-K2.6";
    assert_eq!(price(&list, kimi, Meter::CacheReadTokens, 0), "0.000000125");
    assert_eq!(price(&list, kimi, Meter::InputTokens, 0), "0.0000005");
    assert_eq!(
        meters(&list, "meta-llama/Llama-3.3-70B-Instruct-Turbo").len(),
        2,
        "no rate, no cache price"
    );
    assert_skipped(
        &list,
        &[
            ("openai/whisper-large-v3-turbo", "unsupported_pricing"),
            ("openai/whisper-large-v3", "unsupported_pricing"),
            ("hexgrad/Kokoro-82M", "unsupported_pricing"),
            ("black-forest-labs/FLUX-1-schnell", "unsupported_pricing"),
            ("Wan-AI/Wan2.1-T2V-1.3B", "unsupported_pricing"),
        ],
    );
    assert_eq!(counts(&list), (4, 5));
    assert_eq!(kind(&list, "BAAI/bge-m3"), PricingKind::Metered);
}
