//! OpenRouter against its recorded list (42 entries: bands, cache prices,
//! a discount, free and dynamic models, duplicates, wrong types).

mod common;

use common::{
    assert_skipped, counts, fetch_fixture, fetch_named_fixture, kind, named_fixture, offering, ok,
    policy, price, price_at, validated, Provider,
};
use pricesync_domain::{ComponentKey, Meter, PricingKind, TimeWindow};
use pricesync_providers::openrouter::OpenRouterFetcher;
use pricesync_providers::{HttpClient, PriceFetcher, ProviderSettings};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer};

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

fn window(start: i64, end: i64) -> TimeWindow {
    TimeWindow::from_hhmm(start, end).expect("test window")
}

fn at(meter: Meter, band: u64, w: TimeWindow) -> ComponentKey {
    ComponentKey::band(meter, band).in_window(w)
}

#[tokio::test]
async fn time_of_day_overrides_become_windows_without_the_current_top_level_price() {
    let list = validated(fetch_named_fixture(&OPENROUTER, "time_of_day_confirmed.json").await);
    assert_eq!(counts(&list), (4, 0), "{:?}", list.skipped());
    // Peak 10:00 → 01:00 (wrapping past midnight) and off-peak 01:00 → 10:00.
    let flash = "deepseek/deepseek-v4-flash";
    let (peak, off_peak) = (window(1000, 100), window(100, 1000));
    assert_eq!(
        price_at(&list, flash, at(Meter::InputTokens, 0, peak)),
        "0.00000028"
    );
    assert_eq!(
        price_at(&list, flash, at(Meter::InputTokens, 0, off_peak)),
        "0.00000014"
    );
    assert_eq!(
        price_at(&list, flash, at(Meter::CacheReadTokens, 0, peak)),
        "0.000000028"
    );
    assert_eq!(
        price_at(&list, flash, at(Meter::OutputTokens, 0, off_peak)),
        "0.00000028"
    );
    // The top-level price is the window of the moment: not kept as a base.
    let o = offering(&list, flash);
    assert!(o
        .component(ComponentKey::base(Meter::InputTokens))
        .is_none());
    assert!(o
        .component(ComponentKey::base(Meter::CacheReadTokens))
        .is_none());
    assert_eq!(o.components().len(), 6);
    // Windows and a band on one model: the later band entry wins over the
    // windows for long prompts, at any time of day.
    let glm = "z-ai/glm-5.3";
    assert_eq!(
        price_at(&list, glm, at(Meter::InputTokens, 0, window(1630, 30))),
        "0.0000003"
    );
    assert_eq!(
        price_at(&list, glm, at(Meter::OutputTokens, 0, window(30, 1630))),
        "0.0000022"
    );
    assert_eq!(price(&list, glm, Meter::InputTokens, 128_000), "0.0000012");
    assert_eq!(price(&list, glm, Meter::OutputTokens, 128_000), "0.0000044");
    assert_eq!(offering(&list, glm).components().len(), 6);
    // Weekday peak/off-peak and a whole-day weekend price tile the week.
    let kimi = "moonshotai/kimi-k3";
    let weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday"];
    let weekday_peak = window(30, 1630).on_days(&weekdays).expect("days");
    let weekend = TimeWindow::whole_day()
        .on_days(&["saturday", "sunday"])
        .expect("days");
    assert_eq!(
        price_at(&list, kimi, at(Meter::InputTokens, 0, weekday_peak)),
        "0.00000056"
    );
    assert_eq!(
        price_at(&list, kimi, at(Meter::OutputTokens, 0, weekend)),
        "0.00000042"
    );
    // `{utc_start: 0, utc_end: 0}` is the whole day; the entry with a
    // condition pricesync does not know (`min_batch_size`) is ignored.
    let future = "vendor/future-condition";
    assert_eq!(
        price_at(
            &list,
            future,
            at(Meter::InputTokens, 0, TimeWindow::whole_day())
        ),
        "0.000001"
    );
    assert_eq!(offering(&list, future).components().len(), 2);
}

#[tokio::test]
async fn every_pricing_key_reaches_its_meter_and_discount_applies() {
    let list = validated(fetch_named_fixture(&OPENROUTER, "meters_discount_confirmed.json").await);
    assert_eq!(counts(&list), (6, 0), "{:?}", list.skipped());
    let audio = "openai/gpt-audio-mini";
    assert_eq!(price(&list, audio, Meter::InputAudioTokens, 0), "0.00001");
    assert_eq!(
        price(&list, audio, Meter::CacheReadAudioTokens, 0),
        "0.0000003"
    );
    assert_eq!(price(&list, audio, Meter::OutputAudioTokens, 0), "0.00002");
    // `discount: 0.25`: every price × 0.75.
    let image = "google/gemini-3.1-flash-image";
    assert_eq!(price(&list, image, Meter::InputTokens, 0), "0.000000225");
    assert_eq!(
        price(&list, image, Meter::InputImageTokens, 0),
        "0.000000225"
    );
    assert_eq!(price(&list, image, Meter::OutputImage, 0), "0.02925");
    assert_eq!(price(&list, image, Meter::Image, 0), "0.0009285");
    let opus = "anthropic/claude-opus-5";
    assert_eq!(
        price(&list, opus, Meter::CacheWrite1hTokens, 200_000),
        "0.00002"
    );
    assert_eq!(price(&list, opus, Meter::WebSearch, 200_000), "0.01");
    // "0" is free (documented); `discount: 1` is free too.
    assert_eq!(
        kind(&list, "meta-llama/llama-3.3-70b-instruct:free"),
        PricingKind::Free
    );
    assert_eq!(kind(&list, "vendor/promo-model"), PricingKind::Free);
    assert_eq!(kind(&list, "openrouter/auto"), PricingKind::Dynamic);
}

#[tokio::test]
async fn speech_and_transcription_models_are_never_priced_per_token() {
    let list = validated(fetch_named_fixture(&OPENROUTER, "modalities_all_guessed.json").await);
    assert_skipped(
        &list,
        &[
            ("openai/gpt-4o-mini-tts-2025-12-15", "unsupported_pricing"),
            ("hexgrad/kokoro-82m", "unsupported_pricing"),
            ("openai/whisper-1", "unsupported_pricing"),
            ("openai/whisper-large-v3", "unsupported_pricing"),
            // Token-priced transcription cannot be told apart: skipped too.
            ("openai/gpt-4o-transcribe", "unsupported_pricing"),
        ],
    );
    assert_eq!(counts(&list), (3, 5));
    let flux = "black-forest-labs/flux.2-pro";
    assert_eq!(kind(&list, flux), PricingKind::Metered);
    assert_eq!(price(&list, flux, Meter::OutputImage, 0), "0.03");
    assert_eq!(
        price(
            &list,
            "openai/text-embedding-3-small",
            Meter::InputTokens,
            0
        ),
        "0.00000002"
    );
}

fn fetcher_at(base_url: &str) -> OpenRouterFetcher {
    let settings = ProviderSettings::from_lookup("openrouter", base_url, &|_| None);
    OpenRouterFetcher::new(settings, HttpClient::new(policy()).expect("client")).expect("fetcher")
}

#[tokio::test]
async fn links_next_is_followed_and_every_modality_asked_for() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/models"))
        .and(query_param("output_modalities", "all"))
        .and(query_param_is_missing("offset"))
        .respond_with(ok(named_fixture("openrouter", "paged_p1_confirmed.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/models"))
        .and(query_param("output_modalities", "all"))
        .and(query_param("offset", "1"))
        .respond_with(ok(named_fixture("openrouter", "paged_p2_confirmed.json")))
        .expect(1)
        .mount(&server)
        .await;
    let list = fetcher_at(&format!("{}/api/v1", server.uri()))
        .fetch()
        .await
        .expect("both pages");
    let ids: Vec<&str> = list
        .models
        .iter()
        .map(|m| m.provider_model_id.as_str())
        .collect();
    assert_eq!(ids, ["openai/gpt-5.5-mini", "anthropic/claude-opus-5"]);
}

#[tokio::test]
async fn a_list_shorter_than_its_total_count_fails() {
    let server = MockServer::start().await;
    // The first page claims to be the last, but total_count says 2.
    let first = named_fixture("openrouter", "paged_p1_confirmed.json")
        .replace("\"/api/v1/models?offset=1&limit=1\"", "null");
    Mock::given(method("GET"))
        .and(path("/api/v1/models"))
        .respond_with(ok(first))
        .mount(&server)
        .await;
    let error = fetcher_at(&format!("{}/api/v1", server.uri()))
        .fetch()
        .await
        .expect_err("incomplete");
    assert_eq!(error.kind(), "malformed");
    assert!(error.to_string().contains("total_count is 2"), "{error}");
}

#[tokio::test]
async fn a_next_link_to_another_host_is_not_followed() {
    let server = MockServer::start().await;
    let first = named_fixture("openrouter", "paged_p1_confirmed.json").replace(
        "\"/api/v1/models?offset=1&limit=1\"",
        "\"https://elsewhere.example/api/v1/models?offset=1\"",
    );
    Mock::given(method("GET"))
        .and(path("/api/v1/models"))
        .respond_with(ok(first))
        .expect(1)
        .mount(&server)
        .await;
    let error = fetcher_at(&format!("{}/api/v1", server.uri()))
        .fetch()
        .await
        .expect_err("another host");
    assert!(
        error.to_string().contains("leaves the API's host"),
        "{error}"
    );
}
