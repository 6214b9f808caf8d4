//! Novita AI against its recorded list (40 entries: prices in 1/10,000 USD
//! per 1M, zero-priced and unpriced models, wrong types, a duplicate) and a
//! list written from third-party descriptions of its tiered billing.

mod common;

use common::{
    assert_skipped, counts, fetch_fixture, fetch_named_fixture, kind, meters, offering, price,
    validated, Provider,
};
use pricesync_domain::{Meter, PricingKind};

const NOVITA: Provider = Provider {
    name: "novita",
    path: "/openai/v1/models",
    key: None,
};

http_policy_cases!(NOVITA);

#[tokio::test]
async fn ten_thousandths_per_million_become_exact_per_token_values() {
    let list = validated(fetch_fixture(&NOVITA).await);
    // 2690 is $0.269 per 1M tokens.
    let v3 = "deepseek/deepseek-v3-0324";
    assert_eq!(price(&list, v3, Meter::InputTokens, 0), "0.000000269");
    assert_eq!(price(&list, v3, Meter::OutputTokens, 0), "0.00000112");
    let llama = "meta-llama/llama-3.3-70b-instruct";
    assert_eq!(price(&list, llama, Meter::InputTokens, 0), "0.00000013");
    assert_eq!(price(&list, llama, Meter::OutputTokens, 0), "0.00000039");
}

#[tokio::test]
async fn zero_and_missing_prices_are_unknown() {
    let list = validated(fetch_fixture(&NOVITA).await);
    // Novita documents no free marker and lists 0/0 for priced models.
    assert_eq!(kind(&list, "thudm/glm-4-9b-0414"), PricingKind::Unknown);
    assert_eq!(kind(&list, "novita/no-price-listed"), PricingKind::Unknown);
    // display_name null falls back to the title; "8k" is no context length.
    let euryale = offering(&list, "sao10k/l3-70b-euryale-v2.1");
    assert_eq!(euryale.display_name.as_deref(), Some("L3 70B Euryale v2.1"));
    assert_eq!(euryale.context_length, None);
}

#[tokio::test]
async fn wrong_types_are_skipped_and_the_rest_kept() {
    let list = validated(fetch_fixture(&NOVITA).await);
    assert_skipped(
        &list,
        &[
            ("broken/text-price", "unparseable"),
            ("broken/half-price", "unparseable"),
            ("<unknown>", "unparseable"),
        ],
    );
    // 40 entries: 3 unreadable, 1 duplicate merged.
    assert_eq!(counts(&list), (36, 3));
}

#[tokio::test]
async fn tiered_models_become_bands_and_cache_prices_are_read() {
    let list = validated(fetch_named_fixture(&NOVITA, "tiered_guessed.json").await);
    assert_eq!(counts(&list), (5, 0), "{:?}", list.skipped());
    // Flat fields 0/0, prices in three tiers (USD per 1M as decimals).
    let max = "qwen/qwen3.8-max";
    assert_eq!(kind(&list, max), PricingKind::Metered);
    assert_eq!(price(&list, max, Meter::InputTokens, 0), "0.0000012");
    assert_eq!(price(&list, max, Meter::OutputTokens, 0), "0.000006");
    assert_eq!(price(&list, max, Meter::CacheReadTokens, 0), "0.00000024");
    assert_eq!(price(&list, max, Meter::InputTokens, 131_072), "0.0000024");
    assert_eq!(price(&list, max, Meter::OutputTokens, 262_144), "0.000015");
    assert_eq!(
        price(&list, max, Meter::CacheReadTokens, 262_144),
        "0.0000006"
    );
    assert_eq!(meters(&list, max).len(), 9);
    // Flat: the whole-number fields, and the cache price of `pricing`.
    let v3 = "deepseek/deepseek-v3-0324";
    assert_eq!(price(&list, v3, Meter::InputTokens, 0), "0.000000269");
    assert_eq!(price(&list, v3, Meter::CacheReadTokens, 0), "0.000000135");
    // The current (discounted) price, not the list price.
    let llama = "meta-llama/llama-3.3-70b-instruct";
    assert_eq!(price(&list, llama, Meter::InputTokens, 0), "0.00000013");
    // 0/0 without a pricing object: unknown, not free.
    assert_eq!(kind(&list, "thudm/glm-4-9b-0414"), PricingKind::Unknown);
    let embedding = "qwen/qwen3-embedding-0.6b";
    assert_eq!(price(&list, embedding, Meter::InputTokens, 0), "0.00000007");
}
