//! Black-box tests of the read API over HTTP: the real server on port 0, a
//! database of its own per test (SQLite, and PostgreSQL when available).

mod common;

use common::{model, on_both_backends, TestApp, TestDatabase};
use pricesync_domain::Meter;
use serde_json::Value;

async fn serves_models_with_exact_prices(db: TestDatabase) {
    let app = TestApp::builder().start(db).await;
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

async fn bad_requests_are_json_400s_that_say_what_is_wrong(db: TestDatabase) {
    let app = TestApp::builder().start(db).await;
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

async fn unchanged_answers_revalidate_with_etags(db: TestDatabase) {
    let app = TestApp::builder().start(db).await;
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

async fn health_and_readiness(db: TestDatabase) {
    let app = TestApp::builder().start(db).await;
    assert_eq!(
        app.get("/health").await,
        (200, serde_json::json!({"status": "ok"}))
    );
    assert_eq!(
        app.get("/ready").await,
        (200, serde_json::json!({"status": "ready"}))
    );
}

on_both_backends!(
    serves_models_with_exact_prices,
    bad_requests_are_json_400s_that_say_what_is_wrong,
    unchanged_answers_revalidate_with_etags,
    health_and_readiness,
);
