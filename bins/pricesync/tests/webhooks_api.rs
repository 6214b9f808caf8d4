//! The webhook admin API on both backends: registration and its checks,
//! secrets shown once, reading and changing an endpoint (pause, resume),
//! removal, the deliveries list and resending.

mod common;

use common::{on_both_backends, TestApp, TestDatabase};
use reqwest::Method;
use serde_json::{json, Value};

async fn start(db: TestDatabase) -> TestApp {
    TestApp::builder().admin_token().start(db).await
}

/// Each body of `cases` is refused with a 400 whose message holds its
/// needle.
async fn assert_refused(app: &TestApp, method: Method, path: &str, cases: &[(Value, &str)]) {
    for (body, needle) in cases {
        let (status, answer) = app.admin(method.clone(), path, Some(body.clone())).await;
        assert_eq!(status, 400, "{method} {body}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .is_some_and(|m| m.contains(needle)),
            "{method} {body}: {answer}"
        );
    }
}

async fn registration_checks_its_input_and_shows_the_secret_once(db: TestDatabase) {
    let app = start(db).await;
    let refused = [
        (json!({"url": "ftp://example.com/x"}), "http or https"),
        (json!({"url": "not a url"}), "not a URL"),
        (
            json!({"url": "http://example.com/x", "events": ["sync.started"]}),
            "unknown webhook event",
        ),
        (
            json!({"url": "http://example.com/x", "secret": "short"}),
            "16 to 256",
        ),
        (
            json!({"url": "http://example.com/x", "secret": "with a space 0123456789"}),
            "16 to 256",
        ),
        (
            json!({"url": "http://example.com/x", "other": 1}),
            "unknown field",
        ),
    ];
    assert_refused(&app, Method::POST, "/admin/pricing/webhooks", &refused).await;
    let (status, made) = app
        .admin(
            Method::POST,
            "/admin/pricing/webhooks",
            Some(json!({"url": "https://hooks.example.com/p", "events": ["sync.finished", "sync.finished"]})),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let secret = made["secret"].as_str().expect("a secret");
    assert!(
        secret.starts_with("whsec_") && secret.len() == 70,
        "{secret}"
    );
    assert_eq!(made["webhook"]["events"], json!(["sync.finished"]));
    assert_eq!(made["webhook"]["created_by"], "admin:ops");
    let (status, given) = app
        .admin(
            Method::POST,
            "/admin/pricing/webhooks",
            Some(json!({"url": "http://127.0.0.1:9/x", "secret": "my-own-secret-0123456789"})),
        )
        .await;
    assert_eq!(status, 201, "{given}");
    assert_eq!(given["secret"], "my-own-secret-0123456789");
    assert_eq!(given["webhook"]["events"], json!(["*"]));

    let (status, listed) = app
        .admin(Method::GET, "/admin/pricing/webhooks", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["webhooks"].as_array().map(Vec::len), Some(2));
    assert!(!listed.to_string().contains("secret"), "{listed}");

    let id = made["webhook"]["id"].as_str().expect("id");
    let path = format!("/admin/pricing/webhooks/{id}");
    let response = app
        .call(Method::DELETE, &path, Some(common::TOKEN), None)
        .await;
    assert_eq!(response.status().as_u16(), 204);
    let (status, answer) = app.admin(Method::DELETE, &path, None).await;
    assert_eq!((status, answer["error"].as_str()), (404, Some("not_found")));
    // Without a token: refused.
    let (status, _) = app.get("/admin/pricing/webhooks").await;
    assert_eq!(status, 401);
}

async fn deliveries_are_listed_and_only_failed_ones_resent(db: TestDatabase) {
    let app = start(db).await;
    for (path, code) in [
        (
            "/admin/pricing/webhooks/deliveries?state=lost",
            "invalid_parameter",
        ),
        (
            "/admin/pricing/webhooks/deliveries?webhook_id=x",
            "invalid_parameter",
        ),
        (
            "/admin/pricing/webhooks/deliveries?cursor=abc",
            "invalid_parameter",
        ),
        (
            "/admin/pricing/webhooks/deliveries?limit=0",
            "invalid_parameter",
        ),
        (
            "/admin/pricing/webhooks/deliveries?other=1",
            "invalid_request",
        ),
    ] {
        let (status, answer) = app.admin(Method::GET, path, None).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some(code)),
            "{path}"
        );
    }
    let (status, _) = app
        .admin(
            Method::POST,
            "/admin/pricing/webhooks",
            Some(json!({"url": "http://127.0.0.1:9/x"})),
        )
        .await;
    assert_eq!(status, 201);
    // A price write announces itself: one pending delivery.
    app.seed(
        "openrouter",
        vec![common::model(
            "org/a",
            &[(pricesync_domain::Meter::InputTokens, 0, "0.000001")],
        )],
    )
    .await;
    let (status, page) = app
        .admin(Method::GET, "/admin/pricing/webhooks/deliveries", None)
        .await;
    assert_eq!(status, 200, "{page}");
    let delivery = &page["deliveries"][0];
    assert_eq!(delivery["event"], "prices.changed");
    assert_eq!(page["next_cursor"], serde_json::Value::Null);
    let id = delivery["id"].as_str().expect("id");
    // Pending (or already tried): not failed, so not resent.
    let (status, answer) = app
        .admin(
            Method::POST,
            &format!("/admin/pricing/webhooks/deliveries/{id}/retry"),
            None,
        )
        .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (409, Some("conflict")),
        "{answer}"
    );
    let (status, answer) = app
        .admin(
            Method::POST,
            &format!(
                "/admin/pricing/webhooks/deliveries/{}/retry",
                uuid::Uuid::nil()
            ),
            None,
        )
        .await;
    assert_eq!((status, answer["error"].as_str()), (404, Some("not_found")));
}

async fn an_endpoint_is_read_changed_paused_and_resumed(db: TestDatabase) {
    let app = start(db).await;
    let response = app
        .call(
            Method::POST,
            "/admin/pricing/webhooks",
            Some(common::TOKEN),
            Some(json!({"url": "https://hooks.example.com/p", "description": "first"})),
        )
        .await;
    assert_eq!(response.status().as_u16(), 201);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("a Location header");
    let made: serde_json::Value = response.json().await.expect("JSON");
    let id = made["webhook"]["id"].as_str().expect("id");
    assert_eq!(location, format!("/admin/pricing/webhooks/{id}"));

    let (status, read) = app.admin(Method::GET, &location, None).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read, made["webhook"]);

    let refused = [
        (json!({"url": "ftp://example.com/x"}), "http or https"),
        (json!({"events": ["sync.started"]}), "unknown webhook event"),
        (json!({"secret": "short"}), "16 to 256"),
        (json!({"enabled": "no"}), "expected a boolean"),
        (json!({"created_by": "me"}), "unknown field"),
    ];
    assert_refused(&app, Method::PATCH, &location, &refused).await;
    let (status, unchanged) = app.admin(Method::GET, &location, None).await;
    assert_eq!(
        (status, &unchanged),
        (200, &made["webhook"]),
        "a refused change changes nothing"
    );

    let (status, paused) = app
        .admin(
            Method::PATCH,
            &location,
            Some(json!({"enabled": false, "events": ["prices.changed"], "secret": "a-new-secret-of-24-chars"})),
        )
        .await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["enabled"], false);
    assert_eq!(paused["events"], json!(["prices.changed"]));
    assert_eq!(paused["url"], "https://hooks.example.com/p");
    assert_eq!(paused["description"], "first");
    assert!(!paused.to_string().contains("a-new-secret"), "{paused}");
    let (_, listed) = app
        .admin(Method::GET, "/admin/pricing/webhooks", None)
        .await;
    assert_eq!(listed["webhooks"][0], paused);

    let (status, resumed) = app
        .admin(
            Method::PATCH,
            &location,
            Some(json!({"enabled": true, "url": "https://hooks.example.com/q"})),
        )
        .await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["enabled"], true);
    assert_eq!(resumed["url"], "https://hooks.example.com/q");
    assert_eq!(resumed["events"], json!(["prices.changed"]));
    let (status, same) = app.admin(Method::PATCH, &location, Some(json!({}))).await;
    assert_eq!(
        (status, &same),
        (200, &resumed),
        "an empty change changes nothing"
    );

    let missing = format!("/admin/pricing/webhooks/{}", uuid::Uuid::now_v7());
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        for (path, expected) in [
            (missing.as_str(), (404, Some("not_found"))),
            ("/admin/pricing/webhooks/nope", (400, Some("invalid_id"))),
        ] {
            let (status, answer) = app.admin(method.clone(), path, Some(json!({}))).await;
            assert_eq!(
                (status, answer["error"].as_str()),
                expected,
                "{method} {path}"
            );
        }
    }
    // The deliveries list keeps its path: it is not read as an endpoint id.
    let (status, deliveries) = app
        .admin(Method::GET, "/admin/pricing/webhooks/deliveries", None)
        .await;
    assert_eq!(status, 200, "{deliveries}");
    let (status, _) = app.get(&location).await;
    assert_eq!(status, 401, "without a token");
}

on_both_backends!(
    registration_checks_its_input_and_shows_the_secret_once,
    an_endpoint_is_read_changed_paused_and_resumed,
    deliveries_are_listed_and_only_failed_ones_resent,
);
