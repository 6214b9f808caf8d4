//! Black-box tests of the OpenAPI document (`/openapi.json`) and Swagger UI
//! (`/docs/`): the real server on port 0 over SQLite. The document must list
//! every route the server serves, guard the admin routes with the bearer
//! scheme, and describe the bodies the server really sends.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use pricesync::{Application, Config};
use pricesync_domain::{
    parse_decimal, ComponentKey, JobState, Meter, PriceSource, ProviderId, RawOffering, RawPricing,
};
use pricesync_engine::{SyncHooks, SyncPoint};
use pricesync_providers::{FetchError, FetchedList, PriceFetcher};
use pricesync_store::testing::TestDatabase;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use uuid::Uuid;

const TOKEN: &str = "openapi-token-0123456789";

/// Every route the server serves, as the document must name it.
const ROUTES: [(&str, &str); 17] = [
    ("get", "/v1/pricing/models"),
    ("get", "/v1/pricing/models/{provider}/{model_id}"),
    ("get", "/v1/pricing/history"),
    ("post", "/admin/pricing/scheduler/trigger"),
    ("post", "/admin/pricing/sync/trigger"),
    ("get", "/admin/pricing/sync/{sync_id}"),
    ("get", "/admin/pricing/syncs/active"),
    ("get", "/admin/pricing/syncs"),
    ("post", "/admin/pricing/sync/{sync_id}/cancel"),
    ("get", "/admin/pricing/scheduler/status"),
    ("get", "/admin/pricing/locks"),
    ("delete", "/admin/pricing/locks/{key}"),
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
    ("get", "/metrics/pool"),
    ("get", "/openapi.json"),
];

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// A provider that answers at once with one model.
struct OneModel(ProviderId);

#[async_trait]
impl PriceFetcher for OneModel {
    fn provider(&self) -> &ProviderId {
        &self.0
    }

    async fn fetch(&self) -> Result<FetchedList, FetchError> {
        Ok(FetchedList {
            models: vec![RawOffering {
                provider_model_id: "anthropic/claude-sonnet-4.5".into(),
                display_name: Some("Claude Sonnet 4.5".into()),
                context_length: Some(200_000),
                source: PriceSource::Api,
                pricing: RawPricing::Metered(vec![
                    (
                        ComponentKey {
                            meter: Meter::InputTokens,
                            min_prompt_tokens: 0,
                        },
                        parse_decimal("0.000003").expect("price"),
                    ),
                    (
                        ComponentKey {
                            meter: Meter::OutputTokens,
                            min_prompt_tokens: 0,
                        },
                        parse_decimal("0.000015").expect("price"),
                    ),
                ]),
            }],
            skipped: vec![],
        })
    }
}

struct Finished(mpsc::UnboundedSender<(Uuid, Option<JobState>)>);

#[async_trait]
impl SyncHooks for Finished {
    async fn reached(&self, point: SyncPoint) {
        if let SyncPoint::JobFinished { job, state } = point {
            let _ = self.0.send((job, state));
        }
    }
}

struct TestApp {
    base: String,
    client: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
    finished: Option<mpsc::UnboundedReceiver<(Uuid, Option<JobState>)>>,
    _db: TestDatabase,
}

impl TestApp {
    /// The server with no provider and no hooks (admin token configured).
    async fn start(db: TestDatabase) -> Self {
        Self::build(db, Vec::new(), None).await
    }

    /// The server with one provider that answers at once, and a hook that
    /// reports finished syncs.
    async fn start_with_provider(db: TestDatabase) -> Self {
        let provider: Arc<dyn PriceFetcher> =
            Arc::new(OneModel(ProviderId::parse("openrouter").expect("provider")));
        let (tx, rx) = mpsc::unbounded_channel();
        let mut app = Self::build(db, vec![provider], Some(Arc::new(Finished(tx)))).await;
        app.finished = Some(rx);
        app
    }

    async fn build(
        db: TestDatabase,
        fetchers: Vec<Arc<dyn PriceFetcher>>,
        hooks: Option<Arc<dyn SyncHooks>>,
    ) -> Self {
        let providers = if fetchers.is_empty() {
            None
        } else {
            Some("openrouter".to_owned())
        };
        let lookup = |name: &str| match name {
            "PRICESYNC_ADMIN_TOKENS" => Some(format!("ops:{TOKEN}")),
            "PRICING_SYNC_PROVIDERS" => providers.clone(),
            _ => None,
        };
        let mut config = Config::from_lookup(lookup).expect("config");
        config.database_url = db.url.clone();
        config.bind_addr = "127.0.0.1:0".parse().expect("address");
        config.http_workers = Some(1);
        config.engine.scheduler.enabled = false;
        let app = Application::build(&config, fetchers, hooks)
            .await
            .expect("server builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        Self {
            base,
            client: reqwest::Client::new(),
            handle,
            finished: None,
            _db: db,
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let method: reqwest::Method = method.to_ascii_uppercase().parse().expect("method");
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request")
    }

    /// Calls with the admin token; the status and the JSON body.
    async fn json(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let response = self.call(method, path, Some(TOKEN), body).await;
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
        (status, value)
    }

    async fn document(&self) -> Value {
        let (status, doc) = self.json("get", "/openapi.json", None).await;
        assert_eq!(status, 200, "{doc}");
        doc
    }

    async fn wait_finished(&mut self, job: Uuid) -> Option<JobState> {
        let finished = self.finished.as_mut().expect("started with a provider");
        loop {
            let (id, state) = finished
                .recv()
                .await
                .expect("the engine reports finished jobs");
            if id == job {
                return state;
            }
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
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

/// Checks `value` against `schema` (the subset of JSON Schema the document
/// uses): types, enums, required and documented properties, arrays, maps,
/// `oneOf`. `at` names the place for the failure message.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        return conforms(doc, resolve(doc, reference), value, at);
    }
    if let Some(choices) = schema["oneOf"].as_array() {
        return if choices.iter().any(|c| conforms(doc, c, value, at).is_ok()) {
            Ok(())
        } else {
            Err(format!("{at}: {value} fits none of {schema}"))
        };
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            return Err(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() {
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        if !(types.contains(&actual) || (actual == "integer" && types.contains(&"number"))) {
            return Err(format!(
                "{at}: {value} is a {actual}, documented as {types:?}"
            ));
        }
    }
    match value {
        Value::Object(map) => {
            if let Some(properties) = schema["properties"].as_object() {
                if let Some(key) = map.keys().find(|k| !properties.contains_key(*k)) {
                    return Err(format!(
                        "{at}: the key {key:?} is not documented in {schema}"
                    ));
                }
                for (key, property) in properties {
                    if let Some(v) = map.get(key) {
                        conforms(doc, property, v, &format!("{at}.{key}"))?;
                    }
                }
            }
            for key in schema["required"].as_array().into_iter().flatten() {
                let key = key.as_str().unwrap_or_default();
                if !map.contains_key(key) {
                    return Err(format!("{at}: the required key {key:?} is missing"));
                }
            }
            if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
                for (key, v) in map {
                    conforms(doc, values, v, &format!("{at}[{key:?}]"))?;
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    conforms(doc, item, v, &format!("{at}[{i}]"))?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Checks a response body against the schema the document gives for that
/// operation and status.
fn answers_as_documented(doc: &Value, (method, route): (&str, &str), status: u16, body: &Value) {
    let schema = &operation(doc, method, route)["responses"][status.to_string()]["content"]
        ["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {route} answered {status}, which is not documented: {body}"
    );
    if let Err(problem) = conforms(doc, schema, body, &format!("{method} {route} {status}")) {
        panic!("{problem}\nbody: {body}");
    }
}

async fn the_document_lists_every_route(app: TestApp) {
    let doc = app.document().await;
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
        } else {
            assert!(op.get("security").is_none(), "{method} {path} is public");
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
        let response = app.call(method, &concrete, Some(TOKEN), body).await;
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
    let response = app.call("get", "/docs/", None, None).await;
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = response.text().await.expect("body");
    assert!(html.contains("swagger-ui"), "{html}");

    // `/docs` leads there (reqwest follows the redirect).
    let response = app.call("get", "/docs", None, None).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.url().path().ends_with("/docs/"));

    // The assets are compiled in, and the UI loads this server's document.
    let css = app.call("get", "/docs/swagger-ui.css", None, None).await;
    assert_eq!(css.status().as_u16(), 200);
    let init = app
        .call("get", "/docs/swagger-initializer.js", None, None)
        .await;
    assert_eq!(init.status().as_u16(), 200);
    assert!(init.text().await.expect("body").contains("/openapi.json"));
}

async fn answers_match_their_schemas(mut app: TestApp) {
    let doc = app.document().await;

    let (status, body) = app.json("get", "/health", None).await;
    answers_as_documented(&doc, ("get", "/health"), status, &body);
    let (status, body) = app.json("get", "/ready", None).await;
    answers_as_documented(&doc, ("get", "/ready"), status, &body);
    let (status, body) = app.json("get", "/metrics/pool", None).await;
    answers_as_documented(&doc, ("get", "/metrics/pool"), status, &body);

    // A sync: queued, followed, listed.
    let trigger = ("post", "/admin/pricing/scheduler/trigger");
    let (status, queued) = app.json(trigger.0, trigger.1, None).await;
    assert_eq!(status, 202, "{queued}");
    answers_as_documented(&doc, trigger, status, &queued);
    let sync_id: Uuid = queued["sync_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("uuid");
    let (status, body) = app.json("get", "/admin/pricing/syncs/active", None).await;
    answers_as_documented(&doc, ("get", "/admin/pricing/syncs/active"), status, &body);
    assert_eq!(app.wait_finished(sync_id).await, Some(JobState::Completed));

    let job = ("get", "/admin/pricing/sync/{sync_id}");
    let (status, body) = app
        .json("get", &format!("/admin/pricing/sync/{sync_id}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["providers"]["openrouter"]["status"], "succeeded");
    answers_as_documented(&doc, job, status, &body);

    let (status, body) = app.json("get", "/admin/pricing/syncs?limit=5", None).await;
    assert_eq!(body["syncs"].as_array().map(Vec::len), Some(1), "{body}");
    answers_as_documented(&doc, ("get", "/admin/pricing/syncs"), status, &body);

    let cancel = ("post", "/admin/pricing/sync/{sync_id}/cancel");
    let (status, body) = app
        .json(
            "post",
            &format!("/admin/pricing/sync/{sync_id}/cancel"),
            None,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    answers_as_documented(&doc, cancel, status, &body);

    let (status, body) = app
        .json("get", "/admin/pricing/scheduler/status", None)
        .await;
    assert!(
        body["last_syncs"]["openrouter"]["last_success"].is_object(),
        "{body}"
    );
    answers_as_documented(
        &doc,
        ("get", "/admin/pricing/scheduler/status"),
        status,
        &body,
    );

    let (status, body) = app.json("get", "/admin/pricing/locks", None).await;
    answers_as_documented(&doc, ("get", "/admin/pricing/locks"), status, &body);
    let (status, body) = app
        .json("delete", "/admin/pricing/locks/pricing_sync:nosuch", None)
        .await;
    assert_eq!(status, 404);
    answers_as_documented(
        &doc,
        ("delete", "/admin/pricing/locks/{key}"),
        status,
        &body,
    );

    // The read API, over what the sync wrote.
    let (status, body) = app.json("get", "/v1/pricing/models", None).await;
    assert_eq!(body["models"].as_array().map(Vec::len), Some(1), "{body}");
    answers_as_documented(&doc, ("get", "/v1/pricing/models"), status, &body);
    let one = ("get", "/v1/pricing/models/{provider}/{model_id}");
    let (status, body) = app
        .json(
            "get",
            "/v1/pricing/models/openrouter/anthropic/claude-sonnet-4.5",
            None,
        )
        .await;
    assert_eq!(body["prices"][0]["usd_per_unit"], "0.000003");
    answers_as_documented(&doc, one, status, &body);
    // Swagger UI sends the slash of a model id percent-encoded.
    let (status, encoded) = app
        .json(
            "get",
            "/v1/pricing/models/openrouter/anthropic%2Fclaude-sonnet-4.5",
            None,
        )
        .await;
    assert_eq!((status, &encoded), (200, &body));
    let (status, body) = app
        .json("get", "/v1/pricing/models/openrouter/no/such", None)
        .await;
    assert_eq!(status, 404);
    answers_as_documented(&doc, one, status, &body);
    let (status, body) = app.json("get", "/v1/pricing/history", None).await;
    assert!(
        !body["entries"].as_array().is_some_and(Vec::is_empty),
        "{body}"
    );
    answers_as_documented(&doc, ("get", "/v1/pricing/history"), status, &body);
    let (status, body) = app.json("get", "/v1/pricing/history?limit=0", None).await;
    assert_eq!(status, 400);
    answers_as_documented(&doc, ("get", "/v1/pricing/history"), status, &body);

    // Without a token: the documented 401.
    let response = app.call(trigger.0, trigger.1, None, None).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(status, 401);
    answers_as_documented(&doc, trigger, status, &body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_lists_every_route_and_guards_the_admin_ones() {
    the_document_lists_every_route(TestApp::start(TestDatabase::sqlite().await).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_is_served_with_its_assets() {
    swagger_ui_is_served(TestApp::start(TestDatabase::sqlite().await).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answers_match_the_documented_schemas() {
    answers_match_their_schemas(TestApp::start_with_provider(TestDatabase::sqlite().await).await)
        .await;
}
