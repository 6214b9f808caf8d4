//! End-to-end with the real `pricesync` binary and a local mock provider:
//! the operator's scenario, two replicas on one PostgreSQL, and a replica
//! killed with SIGKILL in the middle of a sync.
//!
//! These tests watch real processes, so they poll the HTTP API (as an
//! operator would) until a deadline; nothing else waits on time.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use pricesync_store::DatabaseUrl;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[path = "../bins/pricesync/tests/common/mod.rs"]
mod common;

use common::TestDatabase;

const TOKEN: &str = common::E2E_TOKEN;

const MODELS: &str = r#"{"data":[
  {"id":"anthropic/claude-sonnet-4.5","pricing":{"prompt":"0.000003","completion":"0.000015",
     "input_cache_read":"0.0000003","overrides":[{"min_prompt_tokens":200000,"prompt":"0.000006"}]}},
  {"id":"tiny/model","pricing":{"prompt":"0.0000001875","completion":"0.000000000131"}}
]}"#;

struct Replica {
    child: Child,
    base: String,
}

impl Replica {
    fn start(url: &DatabaseUrl, provider_url: &str, extra: &[(&str, &str)]) -> Self {
        let (child, base) = common::spawn_binary(url, "127.0.0.1:0", provider_url, extra);
        Self { child, base }
    }

    fn kill9(&mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn admin(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, url).bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls a sync until it is finished; returns it and the progress values
/// seen on the way.
async fn poll_until_finished(client: &reqwest::Client, url: &str) -> (Value, Vec<i64>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        let (_, sync) = admin(client, reqwest::Method::GET, url, None).await;
        seen.push(sync["progress_percent"].as_i64().unwrap_or(-1));
        let status = sync["status"].as_str().unwrap_or_default().to_owned();
        if !["queued", "in_progress"].contains(&status.as_str()) {
            return (sync, seen);
        }
        assert!(Instant::now() < deadline, "the sync did not finish: {sync}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A provider whose first answer takes 30 s (a process is stopped during
/// it) and whose later answers come at once.
async fn hangs_once_then_answers() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/models"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(MODELS)
                .set_delay(Duration::from_secs(30)),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/models"))
        .respond_with(ResponseTemplate::new(200).set_body_string(MODELS))
        .mount(&server)
        .await;
    server
}

async fn slow_provider(delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/models"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(MODELS)
                .set_delay(delay),
        )
        .mount(&server)
        .await;
    server
}

async fn the_operators_scenario(db: TestDatabase) {
    let provider = slow_provider(Duration::from_millis(1500)).await;
    let replica = Replica::start(&db.url, &provider.uri(), &[]);
    let client = reqwest::Client::new();
    let trigger = format!("{}/admin/pricing/scheduler/trigger", replica.base);
    let (status, accepted) = admin(&client, reqwest::Method::POST, &trigger, None).await;
    assert_eq!(status, 202, "{accepted}");
    // The provider takes 1.5 s: an immediate second trigger meets the first
    // still running, which a blocking trigger could not.
    let (status, refused) = admin(
        &client,
        reqwest::Method::POST,
        &trigger,
        Some(json!({"providers": ["openrouter"]})),
    )
    .await;
    assert_eq!(status, 429, "{refused}");
    assert_eq!(refused["active_sync_id"], accepted["sync_id"]);
    let poll = format!(
        "{}{}",
        replica.base,
        accepted["poll_url"].as_str().expect("poll url")
    );
    let (done, seen) = poll_until_finished(&client, &poll).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(
        seen.iter().any(|p| (0..100).contains(p)),
        "progress seen before the end: {seen:?}"
    );
    assert_eq!(done["models_added"], 2);

    let model: Value = client
        .get(format!(
            "{}/v1/pricing/models/openrouter/tiny/model",
            replica.base
        ))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    let prices: Vec<(String, String)> = model["prices"]
        .as_array()
        .expect("prices")
        .iter()
        .map(|p| {
            (
                p["meter"].as_str().unwrap_or_default().to_owned(),
                p["usd_per_unit"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        prices,
        [
            ("input_tokens".to_owned(), "0.0000001875".to_owned()),
            ("output_tokens".to_owned(), "0.000000000131".to_owned())
        ],
        "exact to the last digit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_scenario_on_sqlite() {
    the_operators_scenario(TestDatabase::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_scenario_on_postgres() {
    let Some(db) = common::postgres("operators_scenario_on_postgres").await else {
        return;
    };
    the_operators_scenario(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_make_one_sync() {
    let Some(db) = common::postgres("two_replicas_on_one_postgres_make_one_sync").await else {
        return;
    };
    // The provider's first answer takes 30 s, longer than any burst: the
    // sync stays running for the whole burst (a sync that finished during
    // it would rightly let a later trigger through). It is cancelled after.
    let provider = hangs_once_then_answers().await;
    let a = Replica::start(&db.url, &provider.uri(), &[]);
    let b = Replica::start(&db.url, &provider.uri(), &[]);
    let client = reqwest::Client::new();
    let triggers: Vec<_> = (0..1000)
        .map(|i| {
            let url = format!(
                "{}/admin/pricing/sync/trigger",
                if i % 2 == 0 { &a.base } else { &b.base }
            );
            let client = client.clone();
            tokio::spawn(async move { admin(&client, reqwest::Method::POST, &url, None).await })
        })
        .collect();
    let mut accepted = Vec::new();
    for t in triggers {
        let (status, body) = t.await.expect("task");
        match status {
            202 => accepted.push(body),
            429 => {}
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(accepted.len(), 1, "one sync across both replicas, no 5xx");
    let poll = format!(
        "{}{}",
        a.base,
        accepted[0]["poll_url"].as_str().expect("poll url")
    );
    let (status, _) = admin(
        &client,
        reqwest::Method::POST,
        &format!("{poll}/cancel"),
        None,
    )
    .await;
    assert_eq!(status, 202, "cancel accepted");
    let (done, _) = poll_until_finished(&client, &poll).await;
    assert_eq!(done["status"], "cancelled");
    // The next sync runs to its end on the other replica's view too.
    let (status, again) = admin(
        &client,
        reqwest::Method::POST,
        &format!("{}/admin/pricing/sync/trigger", b.base),
        None,
    )
    .await;
    assert_eq!(status, 202, "{again}");
    let poll = format!(
        "{}{}",
        a.base,
        again["poll_url"].as_str().expect("poll url")
    );
    let (done, _) = poll_until_finished(&client, &poll).await;
    assert_eq!(done["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_sync_has_its_sync_rescued_by_another() {
    let Some(db) =
        common::postgres("a_replica_killed_mid_sync_has_its_sync_rescued_by_another").await
    else {
        return;
    };
    // The first fetch hangs (the replica is killed during it); later ones answer.
    let provider = hangs_once_then_answers().await;
    let fast_rescue = [
        ("PRICESYNC_HEARTBEAT_SECS", "1"),
        ("PRICESYNC_RESCUE_TIMEOUT_SECS", "3"),
    ];
    let mut a = Replica::start(&db.url, &provider.uri(), &fast_rescue);
    let client = reqwest::Client::new();
    let (status, accepted) = admin(
        &client,
        reqwest::Method::POST,
        &format!("{}/admin/pricing/sync/trigger", a.base),
        None,
    )
    .await;
    assert_eq!(status, 202);
    let sync_id = accepted["sync_id"].as_str().expect("id").to_owned();
    // Wait until A has the sync running, then kill it without any cleanup.
    wait_in_progress(&client, &format!("{}/admin/pricing/sync/{sync_id}", a.base)).await;
    a.kill9();
    let b = Replica::start(&db.url, &provider.uri(), &fast_rescue);
    let (done, _) =
        poll_until_finished(&client, &format!("{}/admin/pricing/sync/{sync_id}", b.base)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["attempt"], 2, "rescued and run again");
    let (_, active) = admin(
        &client,
        reqwest::Method::GET,
        &format!("{}/admin/pricing/syncs/active", b.base),
        None,
    )
    .await;
    assert_eq!(active["count"], 0, "nothing stays in progress");
    // Every price of the list is there, whole: nothing half-written.
    let models: Value = client
        .get(format!("{}/v1/pricing/models?provider=openrouter", b.base))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    let components: usize = models["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| m["prices"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(models["models"].as_array().map(Vec::len), Some(2));
    assert_eq!(components, 6 + 2, "base and band components of both models");
}

async fn wait_in_progress(client: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, sync) = admin(client, reqwest::Method::GET, url, None).await;
        if sync["status"] == "in_progress" {
            return;
        }
        assert!(Instant::now() < deadline, "the sync never started: {sync}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sigterm_mid_sync_requeues_and_the_restart_completes(db: TestDatabase) {
    let provider = hangs_once_then_answers().await;
    let grace = [("PRICESYNC_SHUTDOWN_GRACE_SECS", "1")];
    let mut first = Replica::start(&db.url, &provider.uri(), &grace);
    let client = reqwest::Client::new();
    let (status, accepted) = admin(
        &client,
        reqwest::Method::POST,
        &format!("{}/admin/pricing/sync/trigger", first.base),
        None,
    )
    .await;
    assert_eq!(status, 202);
    let sync_id = accepted["sync_id"].as_str().expect("id").to_owned();
    wait_in_progress(
        &client,
        &format!("{}/admin/pricing/sync/{sync_id}", first.base),
    )
    .await;
    let pid = first.child.id().to_string();
    let sent = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs")
        .success());
    let exit = first.child.wait().expect("exits");
    assert!(exit.success(), "a SIGTERM stop is a clean exit: {exit}");
    assert!(
        sent.elapsed() < Duration::from_secs(20),
        "exits soon after the 1 s grace, not after the 30 s fetch"
    );
    let job = db
        .store
        .get_job(sync_id.parse().expect("uuid"))
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(
        (job.state.as_str(), job.attempt),
        ("queued", 0),
        "re-queued without using an attempt"
    );

    let restarted = Replica::start(&db.url, &provider.uri(), &grace);
    let (done, _) = poll_until_finished(
        &client,
        &format!("{}/admin/pricing/sync/{sync_id}", restarted.base),
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["attempt"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_sync_on_sqlite() {
    sigterm_mid_sync_requeues_and_the_restart_completes(TestDatabase::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_sync_on_postgres() {
    let Some(db) = common::postgres("sigterm_mid_sync_on_postgres").await else {
        return;
    };
    sigterm_mid_sync_requeues_and_the_restart_completes(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_route_of_the_binary_needs_a_token() {
    let db = TestDatabase::sqlite().await;
    let provider = slow_provider(Duration::ZERO).await;
    let replica = Replica::start(&db.url, &provider.uri(), &[]);
    let client = reqwest::Client::new();
    let id = "0190f5a2-0000-7000-8000-000000000000";
    for (verb, route) in [
        ("POST", "/admin/pricing/scheduler/trigger".to_owned()),
        ("POST", "/admin/pricing/sync/trigger".to_owned()),
        ("GET", format!("/admin/pricing/sync/{id}")),
        ("GET", "/admin/pricing/syncs/active".to_owned()),
        ("GET", "/admin/pricing/syncs".to_owned()),
        ("POST", format!("/admin/pricing/sync/{id}/cancel")),
        ("GET", "/admin/pricing/scheduler/status".to_owned()),
        ("GET", "/admin/pricing/locks".to_owned()),
        (
            "DELETE",
            "/admin/pricing/locks/pricing_sync:openrouter".to_owned(),
        ),
    ] {
        let url = format!("{}{route}", replica.base);
        let verb: reqwest::Method = verb.parse().expect("method");
        for token in [None, Some("not-the-token-0123456789")] {
            let mut request = client.request(verb.clone(), &url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.expect("request");
            assert_eq!(
                response.status().as_u16(),
                401,
                "{verb} {route} with {token:?}"
            );
            let body: Value = response.json().await.expect("JSON error");
            assert_eq!(body["error"], "unauthorized");
        }
    }
    for (verb, route, body) in [
        ("GET", "/admin/pricing/sync/not-a-uuid".to_owned(), None),
        (
            "POST",
            "/admin/pricing/sync/trigger".to_owned(),
            Some(json!({"dry_run": "yes"})),
        ),
        (
            "POST",
            "/admin/pricing/sync/trigger".to_owned(),
            Some(json!({"providers": ["nosuch"]})),
        ),
    ] {
        let (status, answer) = admin(
            &client,
            verb.parse().expect("method"),
            &format!("{}{route}", replica.base),
            body,
        )
        .await;
        assert_eq!(status, 400, "{verb} {route}: {answer}");
        assert!(
            answer["error"].is_string() && answer["message"].is_string(),
            "{answer}"
        );
    }
}
