//! Black-box tests of the OpenAPI document (`/openapi.json`) and Swagger UI
//! (`/docs/`): the real server on port 0 over SQLite. The document is
//! pinned by a snapshot (review a change to it like a change of the API);
//! it must list every route the server serves, guard the admin routes with
//! the bearer scheme, and name for every answer the type that deserialises
//! what the server really sends.

mod common;

use std::collections::BTreeSet;

use common::{model, StubProvider, TestApp, TestDatabase, TOKEN};
use pricesync::api::types::{admin, cost, ops, read, ErrorBody};
use pricesync_domain::{JobState, Meter};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

/// Every route the server serves, as the document must name it.
const ROUTES: [(&str, &str); 34] = [
    ("get", "/v1/pricing/models"),
    ("get", "/v1/pricing/models/{provider}/{model_id}"),
    ("get", "/v1/pricing/history"),
    ("get", "/v1/pricing/catalogue"),
    ("get", "/v1/pricing/changes"),
    ("post", "/v1/pricing/cost"),
    ("post", "/admin/pricing/scheduler/trigger"),
    ("post", "/admin/pricing/sync/trigger"),
    ("get", "/admin/pricing/sync/{sync_id}"),
    ("get", "/admin/pricing/syncs/active"),
    ("get", "/admin/pricing/syncs"),
    ("post", "/admin/pricing/sync/{sync_id}/cancel"),
    ("get", "/admin/pricing/scheduler/status"),
    ("get", "/admin/pricing/locks"),
    ("delete", "/admin/pricing/locks/{key}"),
    ("get", "/admin/pricing/sync/{sync_id}/skipped"),
    ("get", "/admin/pricing/sync/{sync_id}/changes"),
    ("get", "/admin/pricing/held-changes"),
    ("post", "/admin/pricing/held-changes/{id}/approve"),
    ("post", "/admin/pricing/held-changes/{id}/reject"),
    ("post", "/admin/pricing/webhooks"),
    ("get", "/admin/pricing/webhooks"),
    ("get", "/admin/pricing/webhooks/{id}"),
    ("patch", "/admin/pricing/webhooks/{id}"),
    ("delete", "/admin/pricing/webhooks/{id}"),
    ("get", "/admin/pricing/webhooks/deliveries"),
    ("post", "/admin/pricing/webhooks/deliveries/{id}/retry"),
    ("get", "/health"),
    ("head", "/health"),
    ("get", "/ready"),
    ("head", "/ready"),
    ("get", "/metrics"),
    ("get", "/metrics/pool"),
    ("get", "/openapi.json"),
];

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The server with an admin token and no provider.
async fn start(db: TestDatabase) -> TestApp {
    TestApp::builder().admin_token().start(db).await
}

/// The server with an admin token and an openrouter that answers at once
/// with one model.
async fn start_with_provider(db: TestDatabase) -> TestApp {
    let mut sonnet = model(
        "anthropic/claude-sonnet-4.5",
        &[
            (Meter::InputTokens, 0, "0.000003"),
            (Meter::OutputTokens, 0, "0.000015"),
        ],
    );
    sonnet.display_name = Some("Claude Sonnet 4.5".into());
    sonnet.context_length = Some(200_000);
    TestApp::builder()
        .admin_token()
        .provider(StubProvider::new("openrouter", vec![sonnet]))
        .start(db)
        .await
}

fn method(name: &str) -> reqwest::Method {
    name.to_ascii_uppercase().parse().expect("method")
}

async fn document(app: &TestApp) -> Value {
    let (status, doc) = app.get("/openapi.json").await;
    assert_eq!(status, 200, "{doc}");
    doc
}

/// Every (method, path) of the document.
fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(move |m| ((*m).to_owned(), path.clone()))
        })
        .collect()
}

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "no operation {method} {path}");
    op
}

/// Resolves a local `$ref`.
fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let pointer = reference
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("not a local reference: {reference}"));
    doc.pointer(pointer)
        .unwrap_or_else(|| panic!("dangling reference {reference}"))
}

/// Every `$ref` anywhere in `value`.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => found.push(r.clone()),
                    _ => references(v, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

/// The `$ref` of a response's JSON body, if it has one.
fn response_ref(doc: &Value, method: &str, path: &str, status: &str) -> Option<String> {
    operation(doc, method, path)["responses"][status]["content"]["application/json"]["schema"]
        ["$ref"]
        .as_str()
        .map(str::to_owned)
}

/// Checks that `method route` documents `status` with `T`'s schema, and
/// that `body` deserialises as `T` (whose types refuse unknown keys).
fn answers_as<T: DeserializeOwned + ToSchema>(
    doc: &Value,
    (method, route): (&str, &str),
    status: u16,
    body: &Value,
) -> T {
    documented_as::<T>(doc, (method, route), status, body);
    conforms::<T>(doc, &format!("{method} {route} {status}"), body)
}

/// Checks that `method route` documents `status` with `T`'s schema.
fn documented_as<T: ToSchema>(
    doc: &Value,
    (method, route): (&str, &str),
    status: u16,
    body: &Value,
) {
    let schema = &operation(doc, method, route)["responses"][status.to_string()]["content"]
        ["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {route} answered {status}, which is not documented: {body}"
    );
    assert_eq!(
        schema["$ref"],
        format!("#/components/schemas/{}", T::name()),
        "{method} {route} {status}"
    );
}

/// Checks that `body` has every key `T`'s schema requires and no other,
/// and deserialises as `T`.
fn conforms<T: DeserializeOwned + ToSchema>(doc: &Value, what: &str, body: &Value) -> T {
    // Every documented key is sent (null when empty), and no other.
    let component = &doc["components"]["schemas"][T::name().as_ref()];
    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let required: BTreeSet<String> = component["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    let sent = keys(body);
    assert!(
        required.is_subset(&sent),
        "{what}: missing {:?}",
        required.difference(&sent).collect::<Vec<_>>()
    );
    assert!(
        sent.is_subset(&keys(&component["properties"])),
        "{what}: undocumented keys in {body}"
    );
    serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("{what}: not a {}: {e}\nbody: {body}", T::name()))
}

async fn the_document_lists_every_route(app: TestApp) {
    let doc = document(&app).await;
    let version = doc["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3."), "OpenAPI 3.x, got {version}");
    assert!(doc["info"]["title"].is_string());

    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let documented = documented_routes(&doc);
    assert_eq!(
        documented,
        expected,
        "undocumented: {:?}; documented but not expected: {:?}",
        expected.difference(&documented).collect::<Vec<_>>(),
        documented.difference(&expected).collect::<Vec<_>>()
    );

    let mut refs = Vec::new();
    references(&doc, &mut refs);
    assert!(!refs.is_empty());
    for reference in &refs {
        resolve(&doc, reference);
    }

    for (method, path) in ROUTES {
        let op = operation(&doc, method, path);
        // Path parameters are the template's placeholders.
        let placeholders: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        let params: BTreeSet<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(params, placeholders, "{method} {path}");
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
        // Error answers use the error schema.
        for status in ["400", "401", "404", "409", "503"] {
            if op["responses"].get(status).is_some() && path != "/ready" {
                assert_eq!(
                    response_ref(&doc, method, path, status).as_deref(),
                    Some("#/components/schemas/Error"),
                    "{method} {path} {status}"
                );
            }
        }
    }

    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["properties"]["error"]["type"], "string");
    assert_eq!(error["properties"]["message"]["type"], "string");

    // Admin routes need the bearer token; nothing else does.
    let scheme = &doc["components"]["securitySchemes"]["admin_token"];
    assert_eq!(scheme["type"], "http", "{scheme}");
    assert_eq!(scheme["scheme"], "bearer", "{scheme}");
    for (method, path) in ROUTES {
        let op = operation(&doc, method, path);
        if path.starts_with("/admin/") {
            assert_eq!(
                op["security"],
                json!([{ "admin_token": [] }]),
                "{method} {path}"
            );
            assert!(op["responses"].get("401").is_some(), "{method} {path}");
            let unauthorized = &op["responses"]["401"];
            assert!(
                unauthorized["headers"]["WWW-Authenticate"].is_object(),
                "{method} {path}: {unauthorized}"
            );
        } else {
            assert_eq!(op["security"], json!([]), "{method} {path} is public");
        }
        // A 503 says when to retry, unless a retry cannot help (the
        // metrics recorder is missing for the life of the process).
        let unavailable = &op["responses"]["503"];
        if unavailable.is_object() && path != "/metrics" {
            assert!(
                unavailable["headers"]["Retry-After"].is_object(),
                "{method} {path}: {unavailable}"
            );
        }
        // Path parameters say what they accept.
        for param in op["parameters"].as_array().into_iter().flatten() {
            if param["in"] == "path" {
                assert!(
                    param["schema"]["pattern"].is_string(),
                    "{method} {path}: {param}"
                );
            }
        }
    }
    assert!(doc.get("security").is_none(), "no global requirement");

    // Statuses the brief names, where they apply.
    let has = |method: &str, path: &str, status: &str| {
        operation(&doc, method, path)["responses"]
            .get(status)
            .is_some()
    };
    assert!(has("get", "/v1/pricing/models", "400"));
    assert!(has(
        "get",
        "/v1/pricing/models/{provider}/{model_id}",
        "404"
    ));
    assert!(has("post", "/admin/pricing/scheduler/trigger", "429"));
    assert!(has("post", "/admin/pricing/sync/{sync_id}/cancel", "409"));
    assert!(has("get", "/ready", "503"));
    assert_eq!(
        response_ref(&doc, "get", "/v1/pricing/models", "200").as_deref(),
        Some("#/components/schemas/ModelPage")
    );
    assert_eq!(
        response_ref(&doc, "get", "/v1/pricing/history", "200").as_deref(),
        Some("#/components/schemas/HistoryPage")
    );
    // Prices are decimal strings.
    assert_eq!(doc["components"]["schemas"]["UsdDecimal"]["type"], "string");

    // Every documented route is served: with placeholders filled in, none
    // falls through to "no route".
    for (method, path) in ROUTES {
        let concrete = path
            .replace("{provider}", "openrouter")
            .replace("{model_id}", "anthropic/claude-sonnet-4.5")
            .replace("{sync_id}", "0190f5a2-0000-7000-8000-000000000000")
            .replace("{key}", "pricing_sync:nosuch");
        let body = method
            .eq("post")
            .then(|| json!({ "providers": ["nosuch"] }));
        let response = app
            .call(self::method(method), &concrete, Some(TOKEN), body)
            .await;
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        assert_ne!(status, 405, "{method} {concrete}");
        assert!(
            !text.contains("no route for"),
            "{method} {concrete} is not served: {status} {text}"
        );
    }
}

async fn swagger_ui_is_served(app: TestApp) {
    let get = |path: &'static str| app.call(reqwest::Method::GET, path, None, None);
    let response = get("/docs/").await;
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = response.text().await.expect("body");
    assert!(html.contains("swagger-ui"), "{html}");

    // `/docs` leads there (reqwest follows the redirect).
    let response = get("/docs").await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.url().path().ends_with("/docs/"));

    // The assets are compiled in, and the UI loads this server's document.
    let css = get("/docs/swagger-ui.css").await;
    assert_eq!(css.status().as_u16(), 200);
    let init = get("/docs/swagger-initializer.js").await;
    assert_eq!(init.status().as_u16(), 200);
    let init = init.text().await.expect("body");
    assert!(init.contains("/openapi.json"));
    // Swagger UI never sends the spec's URL to the public validator.
    assert!(init.contains(r#""validatorUrl": "none""#), "{init}");
}

async fn answers_match_their_schemas(mut app: TestApp) {
    let doc = document(&app).await;
    let get = reqwest::Method::GET;

    let (status, body) = app.get("/health").await;
    answers_as::<ops::Health>(&doc, ("get", "/health"), status, &body);
    let (status, body) = app.get("/ready").await;
    answers_as::<ops::Ready>(&doc, ("get", "/ready"), status, &body);
    let (status, body) = app.get("/metrics/pool").await;
    answers_as::<ops::PoolStatus>(&doc, ("get", "/metrics/pool"), status, &body);

    // A sync: queued, followed, listed.
    let trigger = ("post", "/admin/pricing/scheduler/trigger");
    let (status, queued) = app.admin(method(trigger.0), trigger.1, None).await;
    assert_eq!(status, 202, "{queued}");
    answers_as::<admin::SyncQueued>(&doc, trigger, status, &queued);
    let sync_id: Uuid = queued["sync_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("uuid");
    let (status, body) = app
        .admin(get.clone(), "/admin/pricing/syncs/active", None)
        .await;
    answers_as::<admin::ActiveSyncs>(&doc, ("get", "/admin/pricing/syncs/active"), status, &body);
    assert_eq!(app.wait_finished(sync_id).await, Some(JobState::Completed));

    let job = ("get", "/admin/pricing/sync/{sync_id}");
    let (status, body) = app
        .admin(get.clone(), &format!("/admin/pricing/sync/{sync_id}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["providers"]["openrouter"]["status"], "succeeded");
    answers_as::<admin::SyncJob>(&doc, job, status, &body);

    let (status, body) = app
        .admin(get.clone(), "/admin/pricing/syncs?limit=5", None)
        .await;
    assert_eq!(body["syncs"].as_array().map(Vec::len), Some(1), "{body}");
    answers_as::<admin::SyncList>(&doc, ("get", "/admin/pricing/syncs"), status, &body);

    let cancel = ("post", "/admin/pricing/sync/{sync_id}/cancel");
    let (status, body) = app
        .admin(
            reqwest::Method::POST,
            &format!("/admin/pricing/sync/{sync_id}/cancel"),
            None,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    answers_as::<ErrorBody>(&doc, cancel, status, &body);

    let (status, body) = app
        .admin(get.clone(), "/admin/pricing/scheduler/status", None)
        .await;
    assert!(
        body["last_syncs"]["openrouter"]["last_success"].is_object(),
        "{body}"
    );
    answers_as::<admin::SchedulerStatus>(
        &doc,
        ("get", "/admin/pricing/scheduler/status"),
        status,
        &body,
    );

    let (status, body) = app.admin(get.clone(), "/admin/pricing/locks", None).await;
    answers_as::<admin::LockList>(&doc, ("get", "/admin/pricing/locks"), status, &body);
    let (status, body) = app
        .admin(
            reqwest::Method::DELETE,
            "/admin/pricing/locks/pricing_sync:nosuch",
            None,
        )
        .await;
    assert_eq!(status, 404);
    answers_as::<ErrorBody>(
        &doc,
        ("delete", "/admin/pricing/locks/{key}"),
        status,
        &body,
    );

    // The read API, over what the sync wrote.
    let (status, body) = app.get("/v1/pricing/models").await;
    assert_eq!(body["models"].as_array().map(Vec::len), Some(1), "{body}");
    answers_as::<read::ModelPage>(&doc, ("get", "/v1/pricing/models"), status, &body);
    let one = ("get", "/v1/pricing/models/{provider}/{model_id}");
    let (status, body) = app
        .get("/v1/pricing/models/openrouter/anthropic/claude-sonnet-4.5")
        .await;
    assert_eq!(body["prices"][0]["usd_per_unit"], "0.000003");
    answers_as::<read::Model>(&doc, one, status, &body);
    // Swagger UI sends the slash of a model id percent-encoded.
    let (status, encoded) = app
        .get("/v1/pricing/models/openrouter/anthropic%2Fclaude-sonnet-4.5")
        .await;
    assert_eq!((status, &encoded), (200, &body));
    let (status, body) = app.get("/v1/pricing/models/openrouter/no/such").await;
    assert_eq!(status, 404);
    answers_as::<ErrorBody>(&doc, one, status, &body);
    let (status, body) = app.get("/v1/pricing/history").await;
    assert!(
        !body["entries"].as_array().is_some_and(Vec::is_empty),
        "{body}"
    );
    answers_as::<read::HistoryPage>(&doc, ("get", "/v1/pricing/history"), status, &body);
    let (status, body) = app.get("/v1/pricing/history?limit=0").await;
    assert_eq!(status, 400);
    answers_as::<ErrorBody>(&doc, ("get", "/v1/pricing/history"), status, &body);
    let at = body_at_now();
    let (status, body) = app
        .get(&format!(
            "/v1/pricing/models/openrouter/anthropic/claude-sonnet-4.5?at={at}"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["prices"][0]["since"].is_string(), "{body}");
    answers_as::<read::Model>(&doc, one, status, &body);
    let (status, body) = app
        .get("/v1/pricing/models/openrouter/anthropic/claude-sonnet-4.5?at=2000-01-01T00:00:00Z")
        .await;
    assert_eq!((status, &body["error"]), (404, &json!("not_listed_yet")));
    answers_as::<ErrorBody>(&doc, one, status, &body);

    // The cost of one usage, of a batch, and the errors.
    let route = ("post", "/v1/pricing/cost");
    let usage = json!({
        "provider": "openrouter",
        "model": "anthropic/claude-sonnet-4.5",
        "usage": {"input_tokens": 1000, "output_tokens": 10},
    });
    let cost = |body: Value, query: &'static str| {
        let app = &app;
        async move {
            let response = app
                .call(
                    reqwest::Method::POST,
                    &format!("/v1/pricing/cost{query}"),
                    None,
                    Some(body),
                )
                .await;
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("JSON"))
        }
    };
    let (status, body) = cost(usage.clone(), "?round=2").await;
    assert_eq!(status, 200, "{body}");
    documented_as::<cost::CostResponse>(&doc, route, status, &body);
    conforms::<cost::CostAnswer>(&doc, "one usage", &body);
    conforms::<cost::CostLine>(&doc, "a line", &body["lines"][0]);
    let (status, body) = cost(
        json!({"items": [usage.clone(), {"provider": "openrouter", "model": "x", "usage": {}}]}),
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    documented_as::<cost::CostResponse>(&doc, route, status, &body);
    conforms::<cost::CostBatchAnswer>(&doc, "a batch", &body);
    conforms::<cost::CostAnswer>(&doc, "a batch's answer", &body["items"][0]["ok"]);
    conforms::<ErrorBody>(&doc, "a batch's error", &body["items"][1]);
    let (status, body) = cost(json!({"items": 3}), "").await;
    assert_eq!(status, 400);
    answers_as::<ErrorBody>(&doc, route, status, &body);
    let (status, body) = cost(
        json!({"provider": "openrouter", "model": "no/such", "usage": {}}),
        "",
    )
    .await;
    assert_eq!(status, 404);
    answers_as::<ErrorBody>(&doc, route, status, &body);
    let (status, body) = cost(
        json!({"provider": "openrouter", "model": "anthropic/claude-sonnet-4.5",
            "usage": {"input_tokens": 1, "web_searches": 1}}),
        "",
    )
    .await;
    assert_eq!((status, &body["error"]), (422, &json!("unpriced_meter")));
    answers_as::<ErrorBody>(&doc, route, status, &body);

    // Without a token: the documented 401.
    let response = app.call(method(trigger.0), trigger.1, None, None).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(status, 401);
    answers_as::<ErrorBody>(&doc, trigger, status, &body);
}

/// Now, as a query parameter.
fn body_at_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

/// The document as served, pinned: any change to the API's shape shows up
/// here as a diff to review (and to accept with the snapshot).
async fn the_document_is_as_reviewed(app: TestApp) {
    let doc = document(&app).await;
    // Printed by serde_json itself: its exact numbers (`arbitrary_precision`)
    // would come out as private maps through insta's own serialiser.
    let text = serde_json::to_string_pretty(&doc).expect("the document prints");
    insta::assert_snapshot!("openapi", text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_lists_every_route_and_guards_the_admin_ones() {
    the_document_lists_every_route(start(TestDatabase::sqlite().await).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_is_served_with_its_assets() {
    swagger_ui_is_served(start(TestDatabase::sqlite().await).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answers_match_the_documented_schemas() {
    answers_match_their_schemas(start_with_provider(TestDatabase::sqlite().await).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_matches_its_snapshot() {
    the_document_is_as_reviewed(start(TestDatabase::sqlite().await).await).await;
}
