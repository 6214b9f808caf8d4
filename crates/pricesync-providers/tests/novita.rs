//! Novita AI against its recorded list (40 entries: prices in 1/10,000 USD
//! per 1M, free and unpriced models, wrong types, a duplicate).

mod common;

use common::{assert_skipped, counts, fetch_fixture, kind, offering, price, validated, Provider};
use pricesync_domain::{Meter, PricingKind};

const NOVITA: Provider = Provider {
    name: "novita",
    path: "/v3/openai/v1/models",
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
async fn zero_prices_are_free_and_missing_ones_unknown() {
    let list = validated(fetch_fixture(&NOVITA).await);
    assert_eq!(kind(&list, "thudm/glm-4-9b-0414"), PricingKind::Free);
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
