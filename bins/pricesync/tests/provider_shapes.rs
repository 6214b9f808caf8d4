//! End to end, through the read API: the price shapes providers publish
//! (time-of-day prices, audio and image meters, speech models, zero that
//! is not free), served from the providers' fixtures by a local mock,
//! fetched by the real provider modules, synced by the real server.

mod common;

use common::{model as priced, on_both_backends, StubProvider, TestApp, TestDatabase};
use pricesync_domain::JobState;
use pricesync_domain::Meter;
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(provider: &str, name: &str) -> Value {
    let file = format!(
        "{}/../../crates/pricesync-providers/fixtures/{provider}/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

async fn serve(at: &str, body: Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    server
}

/// OpenRouter's documented shapes in one list: time-of-day overrides,
/// every pricing key with a discount, and speech / transcription models.
fn openrouter_list() -> Value {
    let mut data = Vec::new();
    for name in [
        "time_of_day_confirmed.json",
        "meters_discount_confirmed.json",
        "modalities_all_guessed.json",
    ] {
        data.extend(
            fixture("openrouter", name)["data"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
    }
    json!({ "data": data })
}

async fn model(app: &TestApp, provider: &str, id: &str) -> (u16, Value) {
    app.get(&format!("/v1/pricing/models/{provider}/{id}"))
        .await
}

/// `(meter, band, window code or "", price)` of each component.
fn prices(model: &Value) -> Vec<(String, u64, String, String)> {
    model["prices"]
        .as_array()
        .expect("prices")
        .iter()
        .map(|p| {
            let window = match &p["window"] {
                Value::Null => String::new(),
                w => format!(
                    "{}-{}",
                    w["utc_start"].as_str().unwrap_or("?"),
                    w["utc_end"].as_str().unwrap_or("?")
                ),
            };
            (
                p["meter"].as_str().unwrap_or("?").to_owned(),
                p["min_prompt_tokens"].as_u64().unwrap_or(0),
                window,
                p["usd_per_unit"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect()
}

fn price_of(model: &Value, meter: &str, window: &str) -> Option<String> {
    prices(model)
        .into_iter()
        .find(|(m, band, w, _)| m == meter && *band == 0 && w == window)
        .map(|(_, _, _, price)| price)
}

async fn the_read_api_shows_what_providers_publish(db: TestDatabase) {
    let openrouter = serve("/models", openrouter_list()).await;
    let together = serve("/models", fixture("together", "audio_zero_guessed.json")).await;
    let nearai = serve(
        "/v1/model/list",
        fixture("nearai", "cache_zero_confirmed.json"),
    )
    .await;
    let (or_url, tg_url, near_url) = (openrouter.uri(), together.uri(), nearai.uri());
    let lookup = move |name: &str| match name {
        "OPENROUTER_BASE_URL" => Some(or_url.clone()),
        "TOGETHER_BASE_URL" => Some(tg_url.clone()),
        "TOGETHER_API_KEY" => Some("tg-test-key".to_owned()),
        "NEARAI_BASE_URL" => Some(near_url.clone()),
        _ => None,
    };
    let names = ["openrouter", "together", "nearai"].map(str::to_owned);
    let fetchers = pricesync_providers::build_fetchers(
        &names,
        &lookup,
        pricesync_providers::HttpPolicy::default(),
    )
    .expect("fetchers");
    let mut builder = TestApp::builder().admin_token();
    for fetcher in fetchers {
        builder = builder.fetcher(fetcher);
    }
    let mut app = builder.start(db).await;
    let (status, body) = app
        .admin(reqwest::Method::POST, "/admin/pricing/sync/trigger", None)
        .await;
    assert_eq!(status, 202, "{body}");
    let id: Uuid = body["sync_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    assert_eq!(app.wait_finished(id).await, Some(JobState::Completed));

    // Time-of-day prices: peak 10:00 -> 01:00 (wrapping midnight) at 2x,
    // off-peak 01:00 -> 10:00; no any-time price beside them.
    let (status, flash) = model(&app, "openrouter", "deepseek/deepseek-v4-flash").await;
    assert_eq!(status, 200, "{flash}");
    assert_eq!(
        price_of(&flash, "input_tokens", "10:00-01:00").as_deref(),
        Some("0.00000028")
    );
    assert_eq!(
        price_of(&flash, "input_tokens", "01:00-10:00").as_deref(),
        Some("0.00000014")
    );
    assert_eq!(price_of(&flash, "input_tokens", ""), None);
    let (_, history) = app
        .get("/v1/pricing/history?provider=openrouter&model=deepseek/deepseek-v4-flash")
        .await;
    assert!(
        history["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["window"]["utc_start"] == "10:00" && e["window"]["utc_end"] == "01:00"),
        "{history}"
    );

    // Audio and image meters.
    let (_, audio) = model(&app, "openrouter", "openai/gpt-audio-mini").await;
    assert_eq!(
        price_of(&audio, "output_audio_tokens", "").as_deref(),
        Some("0.00002")
    );
    assert_eq!(
        price_of(&audio, "cache_read_audio_tokens", "").as_deref(),
        Some("0.0000003")
    );
    assert_eq!(
        price_of(&audio, "input_audio_tokens", "").as_deref(),
        Some("0.00001")
    );
    let (_, image) = model(&app, "openrouter", "google/gemini-3.1-flash-image").await;
    assert!(price_of(&image, "output_image", "").is_some(), "{image}");
    assert!(
        price_of(&image, "input_image_tokens", "").is_some(),
        "{image}"
    );

    // Speech and transcription: never a per-token price; skipped, with
    // the reason, in the sync's report.
    for (provider, id) in [
        ("openrouter", "openai/whisper-1"),
        ("openrouter", "hexgrad/kokoro-82m"),
        ("together", "cartesia/sonic"),
        ("together", "openai/whisper-large-v3"),
    ] {
        let (status, body) = model(&app, provider, id).await;
        assert_eq!(status, 404, "{provider}/{id}: {body}");
    }
    let (_, skipped) = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/pricing/sync/{id}/skipped?provider=together&limit=1000"),
            None,
        )
        .await;
    let sonic = skipped["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .find(|s| s["model_id"] == "cartesia/sonic")
        .cloned()
        .expect("cartesia/sonic is listed as skipped");
    assert_eq!(sonic["reason"], "unsupported_pricing");

    // Free only on evidence: a zero-priced chat model without the word is
    // unknown (no price), one named free is free; a zero cache price of a
    // priced model is a price.
    let (_, zero) = model(&app, "together", "lgai/exaone-3-5-32b-instruct").await;
    assert_eq!(zero["pricing_kind"], "unknown");
    assert_eq!(zero["prices"], json!([]));
    let (_, named) = model(
        &app,
        "together",
        "meta-llama/Llama-3.3-70B-Instruct-Turbo-Free",
    )
    .await;
    assert_eq!(named["pricing_kind"], "free");
    let (_, free) = model(&app, "openrouter", "meta-llama/llama-3.3-70b-instruct:free").await;
    assert_eq!(free["pricing_kind"], "free");
    let (_, v31) = model(&app, "nearai", "deepseek-ai/DeepSeek-V3.1").await;
    assert_eq!(v31["pricing_kind"], "metered");
    assert_eq!(
        price_of(&v31, "cache_read_tokens", "").as_deref(),
        Some("0")
    );
}

/// A NUL byte (which PostgreSQL refuses in text) in one model's id skips
/// that model; in another's name drops the name; the rest of the list is
/// written, on both backends.
async fn one_bad_text_field_costs_one_model_at_most(db: TestDatabase) {
    let mut named = priced("org/named", &[(Meter::InputTokens, 0, "0.000001")]);
    named.display_name = Some("Model\0 with a NUL".to_owned());
    let models = vec![
        priced("org/bad\0id", &[(Meter::InputTokens, 0, "0.000001")]),
        named,
        priced("org/plain", &[(Meter::InputTokens, 0, "0.000002")]),
    ];
    let mut app = TestApp::builder()
        .provider(StubProvider::new("openrouter", models))
        .admin_token()
        .start(db)
        .await;
    let (status, body) = app
        .admin(reqwest::Method::POST, "/admin/pricing/sync/trigger", None)
        .await;
    assert_eq!(status, 202, "{body}");
    let id: Uuid = body["sync_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    assert_eq!(app.wait_finished(id).await, Some(JobState::Completed));
    let (_, plain) = model(&app, "openrouter", "org/plain").await;
    assert_eq!(
        price_of(&plain, "input_tokens", "").as_deref(),
        Some("0.000002")
    );
    let (status, named) = model(&app, "openrouter", "org/named").await;
    assert_eq!(status, 200, "{named}");
    assert_eq!(
        named["display_name"],
        Value::Null,
        "the bad name is dropped"
    );
    let (_, skipped) = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/pricing/sync/{id}/skipped"),
            None,
        )
        .await;
    assert_eq!(
        skipped["skipped"][0]["reason"], "invalid_model_id",
        "{skipped}"
    );
    // Recorded escaped, so the report can show it.
    assert_eq!(skipped["skipped"][0]["model_id"], "org/bad\\0id");
    let (_, job) = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/pricing/sync/{id}"),
            None,
        )
        .await;
    assert_eq!(job["providers"]["openrouter"]["models_added"], 2, "{job}");
}

on_both_backends!(
    the_read_api_shows_what_providers_publish,
    one_bad_text_field_costs_one_model_at_most,
);
