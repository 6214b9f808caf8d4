//! Together AI against its recorded list (40 entries: USD per 1M as JSON
//! numbers, a float artefact, free, image, transcription and
//! dedicated-only models, wrong types, duplicates). The key is required.

mod common;

use common::{
    assert_needs_key, assert_skipped, counts, fetch_fixture, fetch_named_fixture, kind, price,
    validated, Provider,
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

const AUDIO_ZERO: &str = "audio_zero_guessed.json";

#[tokio::test]
async fn of_eleven_chat_models_at_zero_only_the_three_named_free_are_free() {
    let list = validated(fetch_named_fixture(&TOGETHER, AUDIO_ZERO).await);
    let zero_chat = [
        "meta-llama/Llama-3.3-70B-Instruct-Turbo-Free",
        "deepseek-ai/DeepSeek-R1-Distill-Llama-70B-free",
        "lgai/exaone-3-5-32b-instruct",
        "arcee-ai/AFM-4.5B",
        "meta-llama/Llama-Vision-Free",
        "lgai/exaone-deep-32b",
        "arcee-ai/coder-large",
        "arcee-ai/virtuoso-large",
        "Qwen/Qwen2.5-VL-72B-Instruct",
        "marin-community/marin-8b-instruct",
        "togethercomputer/MoA-1",
    ];
    let free: Vec<&str> = zero_chat
        .iter()
        .copied()
        .filter(|id| kind(&list, id) == PricingKind::Free)
        .collect();
    assert_eq!(
        free,
        [
            "meta-llama/Llama-3.3-70B-Instruct-Turbo-Free",
            "deepseek-ai/DeepSeek-R1-Distill-Llama-70B-free",
            "meta-llama/Llama-Vision-Free",
        ]
    );
    let unknown = zero_chat
        .iter()
        .filter(|id| kind(&list, id) == PricingKind::Unknown)
        .count();
    assert_eq!(unknown, 8);
}

#[tokio::test]
async fn speech_transcription_image_and_video_are_never_priced_per_token() {
    let list = validated(fetch_named_fixture(&TOGETHER, AUDIO_ZERO).await);
    assert_skipped(
        &list,
        &[
            ("cartesia/sonic", "unsupported_pricing"),
            ("cartesia/sonic-2", "unsupported_pricing"),
            ("canopylabs/orpheus-3b-0.1-ft", "unsupported_pricing"),
            ("openai/whisper-large-v3", "unsupported_pricing"),
            ("black-forest-labs/FLUX.1-schnell", "unsupported_pricing"),
            ("google/veo-3.0", "unsupported_pricing"),
            (
                "mistralai/Mixtral-8x22B-Instruct-v0.1",
                "unsupported_pricing",
            ),
        ],
    );
    // 21 entries: 7 skipped; 11 zero-priced chat, 3 priced.
    assert_eq!(counts(&list), (14, 7));
    let qwen = "Qwen/Qwen3-235B-A22B-Instruct-2507-tput";
    assert_eq!(price(&list, qwen, Meter::CacheReadTokens, 0), "0.0000001");
    assert_eq!(price(&list, qwen, Meter::InputTokens, 0), "0.0000002");
    let embedding = "BAAI/bge-large-en-v1.5";
    assert_eq!(price(&list, embedding, Meter::InputTokens, 0), "0.00000002");
}
