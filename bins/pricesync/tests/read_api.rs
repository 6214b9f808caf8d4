//! Black-box tests of the read API over HTTP: the real server on port 0, a
//! database of its own per test (SQLite, and PostgreSQL when available).

use pricesync::{Application, Config};
use pricesync_domain::{
    diff_price_lists, parse_decimal, validate_price_list, ComponentKey, Meter, PriceSource,
    ProviderId, RawOffering, RawPricing, ShrinkGuard, ValidationPolicy,
};
use pricesync_store::testing::TestDatabase;
use serde_json::Value;

struct TestApp {
    base: String,
    client: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
    _db: TestDatabase,
}

impl TestApp {
    async fn start(db: TestDatabase) -> Self {
        let mut config = Config::from_lookup(|_| None).expect("defaults");
        config.database_url = db.url.clone();
        config.bind_addr = "127.0.0.1:0".parse().expect("address");
        config.http_workers = Some(1);
        config.engine.scheduler.enabled = false;
        let app = Application::build(&config, Vec::new(), None)
            .await
            .expect("server builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        Self {
            base,
            client: reqwest::Client::new(),
            handle,
            _db: db,
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body = response.json().await.expect("JSON body");
        (status, body)
    }

    async fn seed(&self, provider: &str, models: Vec<RawOffering>) {
        let provider = ProviderId::parse(provider).expect("provider");
        let store = &self._db.store;
        let stored = store.load_provider_prices(&provider).await.expect("load");
        let fresh = validate_price_list(models, &ValidationPolicy::default());
        let diff = diff_price_lists(&stored, &fresh, ShrinkGuard::default());
        store
            .apply_price_diff(&provider, &diff, None, None)
            .await
            .expect("apply");
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stopping the server lets run_until_stopped shut the engine down.
        drop(self.handle.stop(false));
    }
}

fn model(id: &str, prices: &[(Meter, u64, &str)]) -> RawOffering {
    RawOffering {
        provider_model_id: id.to_owned(),
        display_name: None,
        context_length: None,
        source: PriceSource::Api,
        pricing: RawPricing::Metered(
            prices
                .iter()
                .map(|(meter, band, price)| {
                    (
                        ComponentKey {
                            meter: *meter,
                            min_prompt_tokens: *band,
                        },
                        parse_decimal(price).expect("price"),
                    )
                })
                .collect(),
        ),
    }
}

async fn serves_models_with_exact_prices(app: TestApp) {
    app.seed(
        "openrouter",
        vec![
            model(
                "anthropic/claude-sonnet-4.5",
                &[
                    (Meter::InputTokens, 0, "0.000003"),
                    (Meter::OutputTokens, 0, "0.000015"),
                    (Meter::InputTokens, 200_000, "0.000006"),
                ],
            ),
            model("tiny/model", &[(Meter::InputTokens, 0, "0.000000000131")]),
        ],
    )
    .await;

    let (status, body) = app
        .get("/v1/pricing/models/openrouter/anthropic/claude-sonnet-4.5")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["provider"], "openrouter");
    assert_eq!(body["model_id"], "anthropic/claude-sonnet-4.5");
    assert_eq!(body["pricing_kind"], "metered");
    assert_eq!(body["status"], "active");
    assert_eq!(
        body["prices"],
        serde_json::json!([
            {"meter": "input_tokens", "min_prompt_tokens": 0, "usd_per_unit": "0.000003"},
            {"meter": "input_tokens", "min_prompt_tokens": 200000, "usd_per_unit": "0.000006"},
            {"meter": "output_tokens", "min_prompt_tokens": 0, "usd_per_unit": "0.000015"},
        ])
    );

    let (status, body) = app
        .get("/v1/pricing/models?provider=openrouter&limit=1")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["models"].as_array().map(Vec::len), Some(1));
    let cursor = body["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let (_, next) = app
        .get(&format!(
            "/v1/pricing/models?provider=openrouter&limit=1&cursor={}",
            urlencode(&cursor)
        ))
        .await;
    assert_eq!(next["models"][0]["model_id"], "tiny/model");
    assert_eq!(
        next["models"][0]["prices"][0]["usd_per_unit"],
        "0.000000000131"
    );
    assert_eq!(next["next_cursor"], Value::Null);

    let (status, history) = app
        .get("/v1/pricing/history?provider=openrouter&model=tiny/model")
        .await;
    assert_eq!(status, 200);
    assert_eq!(history["entries"][0]["change"], "added");
    assert_eq!(history["entries"][0]["new_usd_per_unit"], "0.000000000131");
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn bad_requests_are_json_400s_that_say_what_is_wrong(app: TestApp) {
    for (path, mentions) in [
        ("/v1/pricing/models?limit=0", "limit"),
        ("/v1/pricing/models?limit=abc", "limit"),
        ("/v1/pricing/models?status=gone", "status"),
        ("/v1/pricing/models?provider=Open%20Router", "provider"),
        ("/v1/pricing/models?cursor=nonsense", "cursor"),
        ("/v1/pricing/models?unknown=1", "unknown"),
        ("/v1/pricing/history?since=yesterday", "since"),
        ("/v1/pricing/history?cursor=x", "cursor"),
        ("/v1/pricing/models/Bad%20Provider/x", "provider"),
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(mentions), "{path}: {message}");
    }
    let (status, body) = app.get("/v1/pricing/models/openrouter/no/such/model").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "not_found");
    let (status, body) = app.get("/no/such/route").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "not_found");
}

async fn unchanged_answers_revalidate_with_etags(app: TestApp) {
    app.seed(
        "nearai",
        vec![model("m", &[(Meter::InputTokens, 0, "0.00000085")])],
    )
    .await;
    let url = format!("{}/v1/pricing/models?provider=nearai", app.base);
    let first = app.client.get(&url).send().await.expect("request");
    assert_eq!(first.status().as_u16(), 200);
    let etag = first.headers()["etag"].to_str().expect("ascii").to_owned();
    let again = app
        .client
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("request");
    assert_eq!(again.status().as_u16(), 304);
    app.seed(
        "nearai",
        vec![model("m", &[(Meter::InputTokens, 0, "0.0000009")])],
    )
    .await;
    let changed = app
        .client
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("request");
    assert_eq!(
        changed.status().as_u16(),
        200,
        "a price change changes the tag"
    );
}

async fn health_and_readiness(app: TestApp) {
    assert_eq!(
        app.get("/health").await,
        (200, serde_json::json!({"status": "ok"}))
    );
    assert_eq!(
        app.get("/ready").await,
        (200, serde_json::json!({"status": "ready"}))
    );
}

macro_rules! on_both_backends {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::TestApp::start(super::TestDatabase::sqlite().await).await).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = super::TestDatabase::postgres().await else { return };
                    super::$case(super::TestApp::start(db).await).await;
                }
            )+
        }
    };
}

on_both_backends!(
    serves_models_with_exact_prices,
    bad_requests_are_json_400s_that_say_what_is_wrong,
    unchanged_answers_revalidate_with_etags,
    health_and_readiness,
);
