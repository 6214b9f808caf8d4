//! NEAR AI Cloud against its recorded list (40 entries: `{amount, scale}`
//! prices with both signs of scale, cache and image prices, a free model, a
//! non-USD one, wrong types, a duplicate), whole and paged by offset.

mod common;

use common::{
    assert_same_list, assert_skipped, counts, entries, fetch_fixture, fetch_named_fixture, kind,
    meters, offering, policy, price, validated, PagedList, Provider,
};
use pricesync_domain::{Meter, PricingKind};
use pricesync_providers::nearai::NearAiFetcher;
use pricesync_providers::{HttpClient, PriceFetcher, ProviderSettings};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

const NEARAI: Provider = Provider {
    name: "nearai",
    path: "/v1/model/list",
    key: None,
};

http_policy_cases!(NEARAI);

/// Fetches the fixture paged by `page_size`, from a server that serves at
/// most `cap` entries a page, expecting `requests` requests.
async fn fetch_paged(
    page_size: u32,
    cap: usize,
    requests: u64,
) -> pricesync_providers::FetchedList {
    let server = MockServer::start().await;
    let list = PagedList {
        entries: entries("nearai", "models"),
        key: "models",
        total: true,
        cap,
    };
    Mock::given(method("GET"))
        .and(path(NEARAI.path))
        .respond_with(list)
        .expect(requests)
        .mount(&server)
        .await;
    let settings = ProviderSettings::from_lookup("nearai", &server.uri(), &|_| None);
    NearAiFetcher::new(settings, HttpClient::new(policy()).expect("client"))
        .expect("fetcher")
        .with_page_size(page_size)
        .fetch()
        .await
        .expect("paged")
}

#[tokio::test]
async fn amounts_and_scales_become_exact_per_token_prices() {
    let list = validated(fetch_fixture(&NEARAI).await);
    let v31 = "deepseek-ai/DeepSeek-V3.1";
    assert_eq!(price(&list, v31, Meter::InputTokens, 0), "0.00000085");
    assert_eq!(price(&list, v31, Meter::OutputTokens, 0), "0.0000025");
    assert_eq!(price(&list, v31, Meter::CacheReadTokens, 0), "0.00000017");
    // The older negative scale: {1.05, -6} is 1.05e-6.
    let qwen = "Qwen/Qwen3-30B-A3B-Instruct-2507";
    assert_eq!(price(&list, qwen, Meter::InputTokens, 0), "0.00000105");
    assert_eq!(price(&list, qwen, Meter::OutputTokens, 0), "0.00000315");
    assert_eq!(
        price(&list, "black-forest-labs/FLUX.1-schnell", Meter::Image, 0),
        "0.003"
    );
    let glm = offering(&list, "zai-org/GLM-4.6");
    assert_eq!(
        (glm.display_name.as_deref(), glm.context_length),
        (Some("GLM 4.6"), Some(200_000))
    );
}

#[tokio::test]
async fn zero_amounts_are_free_and_a_missing_cache_price_is_no_component() {
    let list = validated(fetch_fixture(&NEARAI).await);
    assert_eq!(kind(&list, "nearai/free-llama-3.1-8b"), PricingKind::Free);
    assert_eq!(
        meters(&list, "openai/gpt-oss-120b"),
        [(Meter::InputTokens, 0), (Meter::OutputTokens, 0)]
    );
}

#[tokio::test]
async fn other_currencies_and_wrong_types_are_skipped_and_the_rest_kept() {
    let list = validated(fetch_fixture(&NEARAI).await);
    assert_skipped(
        &list,
        &[
            ("eu-hosted/mistral-large", "unsupported_pricing"),
            ("broken/amount-text", "unparseable"),
            ("broken/not-an-object", "unparseable"),
            ("broken/no-output", "unparseable"),
            ("<unknown>", "unparseable"),
        ],
    );
    // 40 entries: 5 skipped, 1 duplicate (with an extra unknown field) merged.
    assert_eq!(counts(&list), (34, 5));
}

#[tokio::test]
async fn offsets_are_followed_until_the_total() {
    let whole = fetch_fixture(&NEARAI).await;
    // 40 entries by 15: 15, 15, 10 and the total is reached.
    assert_same_list(&fetch_paged(15, usize::MAX, 3).await, &whole);
}

#[tokio::test]
async fn a_provider_capping_the_page_size_is_still_read_to_the_end() {
    let whole = fetch_fixture(&NEARAI).await;
    // Asked for 15, served 10: the offset advances by what arrived.
    assert_same_list(&fetch_paged(15, 10, 4).await, &whole);
}

#[tokio::test]
async fn a_zero_cache_price_is_kept_and_names_come_from_model_display_name() {
    let list = validated(fetch_named_fixture(&NEARAI, "cache_zero_confirmed.json").await);
    assert_eq!(counts(&list), (5, 0), "{:?}", list.skipped());
    let v31 = "deepseek-ai/DeepSeek-V3.1";
    assert_eq!(price(&list, v31, Meter::CacheReadTokens, 0), "0");
    assert_eq!(kind(&list, v31), PricingKind::Metered);
    assert_eq!(
        offering(&list, v31).display_name.as_deref(),
        Some("DeepSeek V3.1")
    );
    assert_eq!(
        price(&list, "zai-org/GLM-5.1-FP8", Meter::CacheReadTokens, 0),
        "0.00000017"
    );
    // No cache field: no cache component.
    assert_eq!(
        meters(&list, "openai/gpt-oss-120b"),
        [(Meter::InputTokens, 0), (Meter::OutputTokens, 0)]
    );
    // An image generator's costPerImage is per generated image.
    let flux = "black-forest-labs/FLUX.2-klein-4B";
    assert_eq!(price(&list, flux, Meter::OutputImage, 0), "0.04");
    assert_eq!(kind(&list, flux), PricingKind::Metered);
}
