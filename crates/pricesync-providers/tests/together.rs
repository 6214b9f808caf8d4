//! Together AI against its recorded list (40 entries: USD per 1M as JSON
//! numbers, a float artefact, free, image, transcription and
//! dedicated-only models, wrong types, duplicates). The key is required.

mod common;

use common::{
    assert_needs_key, assert_skipped, counts, fetch_fixture, kind, price, validated, Provider,
};
use pricesync_domain::{Meter, PricingKind};

const TOGETHER: Provider = Provider {
    name: "together",
    path: "/models",
    key: Some(("TOGETHER_API_KEY", "tg-test-key")),
};

http_policy_cases!(TOGETHER);

#[tokio::test]
async fn prices_per_million_become_exact_per_token_values() {
    let list = validated(fetch_fixture(&TOGETHER).await);
    let llama = "meta-llama/Llama-3.3-70B-Instruct-Turbo";
    assert_eq!(price(&list, llama, Meter::InputTokens, 0), "0.00000088");
    let r1 = "deepseek-ai/DeepSeek-R1";
    assert_eq!(price(&list, r1, Meter::InputTokens, 0), "0.000003");
    assert_eq!(price(&list, r1, Meter::OutputTokens, 0), "0.000007");
    // The JSON number 0.30000000000000004 is read from its text, not a float.
    let qwen = "Qwen/Qwen2.5-7B-Instruct-Turbo";
    assert_eq!(
        price(&list, qwen, Meter::InputTokens, 0),
        "0.00000030000000000000004"
    );
    let embedding = "BAAI/bge-large-en-v1.5";
    assert_eq!(price(&list, embedding, Meter::InputTokens, 0), "0.00000002");
    assert_eq!(price(&list, embedding, Meter::OutputTokens, 0), "0");
    assert_eq!(kind(&list, embedding), PricingKind::Metered);
}

#[tokio::test]
async fn zero_prices_are_free_only_for_token_models() {
    let list = validated(fetch_fixture(&TOGETHER).await);
    let free = "meta-llama/Llama-3.3-70B-Instruct-Turbo-Free";
    assert_eq!(kind(&list, free), PricingKind::Free);
    assert_skipped(
        &list,
        &[
            ("black-forest-labs/FLUX.1-schnell", "unsupported_pricing"),
            ("openai/whisper-large-v3", "unsupported_pricing"),
            (
                "meta-llama/Meta-Llama-3.1-405B-Instruct",
                "unsupported_pricing",
            ),
        ],
    );
}

#[tokio::test]
async fn wrong_types_and_conflicts_are_skipped_and_the_rest_kept() {
    let list = validated(fetch_fixture(&TOGETHER).await);
    assert_skipped(
        &list,
        &[
            ("broken/text-price", "unparseable"),
            ("broken/pricing-list", "unparseable"),
            ("<unknown>", "unparseable"),
            ("Qwen/Qwen3-235B-A22B-fp8-tput", "conflicting_duplicate"),
        ],
    );
    // 40 entries: 3 unsupported, 3 unreadable, 1 identical duplicate
    // merged, 1 id listed twice with different prices.
    assert_eq!(counts(&list), (31, 7));
}

#[tokio::test]
async fn without_a_key_no_request_is_made() {
    assert_needs_key(&TOGETHER).await;
}
