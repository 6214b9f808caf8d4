//! Black-box tests of the admin API and the ops endpoints over HTTP: the
//! real server on port 0, a gated in-process provider, jobs followed through
//! the engine's pause points (no sleeps).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{model, on_both_backends, StubProvider, TestApp, TestDatabase, TOKEN};
use pricesync::api::types::admin::SyncBusy;
use pricesync_domain::{Cadence, CronSchedule, JobState, Meter};
use serde_json::{json, Value};
use tokio::sync::Notify;
use uuid::Uuid;

/// The server with an admin token (when `with_token`) and an openrouter
/// whose fetch waits until the test opens `gate`.
async fn start(db: TestDatabase, with_token: bool) -> (TestApp, Arc<Notify>) {
    let gate = Arc::new(Notify::new());
    let provider = StubProvider::new(
        "openrouter",
        vec![model(
            "anthropic/claude-sonnet-4.5",
            &[(Meter::InputTokens, 0, "0.0000001875")],
        )],
    )
    .gated(gate.clone());
    let builder = TestApp::builder().provider(provider).http_workers(2);
    let builder = if with_token {
        builder.admin_token()
    } else {
        builder
    };
    (builder.start(db).await, gate)
}

const ADMIN_ROUTES: [(&str, &str); 14] = [
    ("POST", "/admin/pricing/scheduler/trigger"),
    ("POST", "/admin/pricing/sync/trigger"),
    (
        "GET",
        "/admin/pricing/sync/0190f5a2-0000-7000-8000-000000000000",
    ),
    ("GET", "/admin/pricing/syncs/active"),
    ("GET", "/admin/pricing/syncs"),
    (
        "POST",
        "/admin/pricing/sync/0190f5a2-0000-7000-8000-000000000000/cancel",
    ),
    ("GET", "/admin/pricing/scheduler/status"),
    ("GET", "/admin/pricing/locks"),
    ("DELETE", "/admin/pricing/locks/pricing_sync:openrouter"),
    (
        "GET",
        "/admin/pricing/sync/0190f5a2-0000-7000-8000-000000000000/skipped",
    ),
    (
        "GET",
        "/admin/pricing/sync/0190f5a2-0000-7000-8000-000000000000/changes",
    ),
    ("GET", "/admin/pricing/held-changes"),
    (
        "POST",
        "/admin/pricing/held-changes/0190f5a2-0000-7000-8000-000000000000/approve",
    ),
    (
        "POST",
        "/admin/pricing/held-changes/0190f5a2-0000-7000-8000-000000000000/reject",
    ),
];

async fn every_admin_route_needs_a_valid_token(db: TestDatabase) {
    let (app, _gate) = start(db, true).await;
    for (method, path) in ADMIN_ROUTES {
        let method: reqwest::Method = method.parse().expect("method");
        for token in [None, Some("wrong-token-0123456789"), Some("")] {
            let response = app.call(method.clone(), path, token, None).await;
            assert_eq!(
                response.status().as_u16(),
                401,
                "{method} {path} with {token:?}"
            );
            assert!(response.headers().contains_key("www-authenticate"));
            let body: Value = response.json().await.expect("JSON");
            assert_eq!(body["error"], "unauthorized");
        }
    }
    // Unknown admin paths are not open either.
    let response = app
        .call(reqwest::Method::GET, "/admin/pricing/nosuch", None, None)
        .await;
    assert_eq!(response.status().as_u16(), 401);
}

async fn without_configured_tokens_the_admin_api_is_closed(db: TestDatabase) {
    let (app, _gate) = start(db, false).await;
    for (method, path) in ADMIN_ROUTES {
        let response = app
            .call(method.parse().expect("method"), path, Some(TOKEN), None)
            .await;
        assert_eq!(response.status().as_u16(), 401, "{method} {path}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["error"], "admin_disabled");
    }
}

async fn the_operators_scenario(db: TestDatabase) {
    let (mut app, gate) = start(db, true).await;
    let response = app
        .call(
            reqwest::Method::POST,
            "/admin/pricing/scheduler/trigger",
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(response.status().as_u16(), 202);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let accepted: Value = response.json().await.expect("JSON");
    assert_eq!(accepted["status"], "queued");
    assert_eq!(accepted["triggered_by"], "admin:ops");
    assert_eq!(accepted["poll_url"], location.as_str());
    let sync_id: Uuid = accepted["sync_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("uuid");

    // An immediate second trigger is refused, naming the first.
    let refused = app
        .call(
            reqwest::Method::POST,
            "/admin/pricing/sync/trigger",
            Some(TOKEN),
            Some(json!({"providers": ["openrouter"]})),
        )
        .await;
    assert_eq!(refused.status().as_u16(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let refused: Value = refused.json().await.expect("JSON");
    // The 429 body is exactly the documented type.
    serde_json::from_value::<SyncBusy>(refused.clone()).expect("a SyncBusy");
    assert_eq!(refused["error"], "sync_in_progress");
    assert_eq!(refused["active_sync_id"], sync_id.to_string());
    assert_eq!(refused["poll_url"], location.as_str());

    let (status, running) = app.admin(reqwest::Method::GET, &location, None).await;
    assert_eq!(status, 200);
    assert!(["queued", "in_progress"].contains(&running["status"].as_str().unwrap_or_default()));
    assert_eq!(running["progress_percent"], 0);
    let (_, active) = app
        .admin(reqwest::Method::GET, "/admin/pricing/syncs/active", None)
        .await;
    assert_eq!(active["count"], 1);

    gate.notify_one();
    assert_eq!(app.wait_finished(sync_id).await, Some(JobState::Completed));
    let (_, done) = app.admin(reqwest::Method::GET, &location, None).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["progress_percent"], 100);
    assert_eq!(done["models_added"], 1);
    assert_eq!(done["providers"]["openrouter"]["status"], "succeeded");
    assert!(done["duration_ms"].as_i64().is_some());

    // The prices are visible through the read API, exact to the last digit.
    let read = app
        .call(
            reqwest::Method::GET,
            "/v1/pricing/models/openrouter/anthropic/claude-sonnet-4.5",
            None,
            None,
        )
        .await;
    let model: Value = read.json().await.expect("JSON");
    assert_eq!(model["prices"][0]["usd_per_unit"], "0.0000001875");

    let (_, list) = app
        .admin(
            reqwest::Method::GET,
            "/admin/pricing/syncs?status=completed&limit=10",
            None,
        )
        .await;
    assert_eq!(list["syncs"][0]["sync_id"], sync_id.to_string());
    let (_, one) = app
        .admin(reqwest::Method::GET, "/admin/pricing/syncs?limit=1", None)
        .await;
    assert_eq!(one["syncs"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        one["next_cursor"],
        Value::Null,
        "a full last page has no next page"
    );
    // The auth scheme's name is case-insensitive.
    let upper = app
        .client
        .get(format!("{}/admin/pricing/syncs/active", app.base))
        .header("authorization", format!("BEARER {TOKEN}"))
        .send()
        .await
        .expect("request");
    assert_eq!(upper.status().as_u16(), 200);
    let (status, finished_cancel) = app
        .admin(reqwest::Method::POST, &format!("{location}/cancel"), None)
        .await;
    assert_eq!(status, 409, "{finished_cancel}");
    let (status, sched) = app
        .admin(
            reqwest::Method::GET,
            "/admin/pricing/scheduler/status",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(sched["enabled"], false);
    assert_eq!(sched["last_syncs"]["openrouter"]["status"], "succeeded");
    assert!(sched["last_syncs"]["openrouter"]["seconds_ago"]
        .as_i64()
        .is_some());

    // Metrics carry the sync, with bounded labels.
    let metrics = app.call(reqwest::Method::GET, "/metrics", None, None).await;
    assert_eq!(metrics.status().as_u16(), 200);
    let text = metrics.text().await.expect("text");
    assert!(text.contains("pricing_models_synced_total"), "{text}");
    assert!(text.contains("pricing_last_sync_timestamp"), "{text}");
    assert!(
        text.contains("pricing_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(!text.contains("claude"), "no model id as a label");

    // A method a client makes up adds no series: it is counted as `other`.
    let long = "X".repeat(300);
    for made_up in ["FOO1", long.as_str()] {
        let method = reqwest::Method::from_bytes(made_up.as_bytes()).expect("a token");
        let answer = app.call(method, "/health", None, None).await;
        assert!(answer.status().is_client_error(), "{made_up}");
    }
    let text = app
        .call(reqwest::Method::GET, "/metrics", None, None)
        .await
        .text()
        .await
        .expect("text");
    assert!(!text.contains("FOO1"), "{text}");
    assert!(!text.contains(&long), "a 300-character method label");
    assert!(text.contains("method=\"other\""), "{text}");
}

async fn a_running_sync_can_be_cancelled(db: TestDatabase) {
    let (mut app, _gate) = start(db, true).await;
    let (status, accepted) = app
        .admin(
            reqwest::Method::POST,
            "/admin/pricing/sync/trigger",
            Some(json!({"dry_run": true})),
        )
        .await;
    assert_eq!(status, 202);
    let id = accepted["sync_id"].as_str().expect("id").to_owned();
    let (status, cancel) = app
        .admin(
            reqwest::Method::POST,
            &format!("/admin/pricing/sync/{id}/cancel"),
            None,
        )
        .await;
    assert!(status == 200 || status == 202, "{status} {cancel}");
    let sync_id: Uuid = id.parse().expect("uuid");
    if status == 202 {
        assert_eq!(app.wait_finished(sync_id).await, Some(JobState::Cancelled));
    }
    let (_, view) = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/pricing/sync/{id}"),
            None,
        )
        .await;
    assert_eq!(view["status"], "cancelled");
    assert_eq!(app.db.store.active_jobs().await.expect("active").len(), 0);
}

async fn bad_admin_requests_are_json_400s_and_404s(db: TestDatabase) {
    let (app, _gate) = start(db, true).await;
    for (method, path, body, status, mentions) in [
        (
            "GET",
            "/admin/pricing/sync/not-a-uuid",
            None,
            400,
            "sync id",
        ),
        (
            "GET",
            "/admin/pricing/sync/0190f5a2-0000-7000-8000-000000000000",
            None,
            404,
            "no sync",
        ),
        (
            "POST",
            "/admin/pricing/sync/not-a-uuid/cancel",
            None,
            400,
            "sync id",
        ),
        (
            "GET",
            "/admin/pricing/syncs?status=running",
            None,
            400,
            "status",
        ),
        ("GET", "/admin/pricing/syncs?limit=0", None, 400, "limit"),
        (
            "GET",
            "/admin/pricing/syncs?cursor=abc",
            None,
            400,
            "cursor",
        ),
        (
            "POST",
            "/admin/pricing/sync/trigger",
            Some(json!({"providers": ["nosuch"]})),
            400,
            "openrouter",
        ),
        (
            "POST",
            "/admin/pricing/sync/trigger",
            Some(json!({"dry_run": "yes"})),
            400,
            "dry_run",
        ),
        (
            "POST",
            "/admin/pricing/sync/trigger",
            Some(json!({"provider": "x"})),
            400,
            "unknown field",
        ),
        // An array where the object belongs (serde would read it as the
        // struct's fields in order).
        (
            "POST",
            "/admin/pricing/sync/trigger",
            Some(json!([["openrouter"], true])),
            400,
            "JSON object",
        ),
        (
            "DELETE",
            "/admin/pricing/locks/pricing_sync:nosuch",
            None,
            404,
            "no lock",
        ),
    ] {
        let (code, answer) = app.admin(method.parse().expect("method"), path, body).await;
        assert_eq!(code, status, "{method} {path}: {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains(mentions), "{method} {path}: {message}");
    }
    // An oversized body is a JSON 413.
    let response = app
        .client
        .post(format!("{}/admin/pricing/sync/trigger", app.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(format!("{{\"providers\": [\"{}\"]}}", "x".repeat(100_000)))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 413);
    let body: Value = response.json().await.expect("JSON error");
    assert_eq!(body["error"], "payload_too_large");
    // A malformed JSON body is a 400 too.
    let response = app
        .client
        .post(format!("{}/admin/pricing/sync/trigger", app.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 400);
}

async fn locks_are_listed_and_can_be_released(db: TestDatabase) {
    let (app, _gate) = start(db, true).await;
    app.db
        .store
        .try_acquire_lease(
            "pricing_sync:openrouter",
            "worker-x",
            "admin:ops",
            std::time::Duration::from_secs(300),
        )
        .await
        .expect("acquire")
        .expect("free");
    let (_, locks) = app
        .admin(reqwest::Method::GET, "/admin/pricing/locks", None)
        .await;
    assert_eq!(locks["count"], 1);
    assert_eq!(locks["locks"][0]["holder"], "admin:ops");
    let (status, released) = app
        .admin(
            reqwest::Method::DELETE,
            "/admin/pricing/locks/pricing_sync:openrouter",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(released["released_by"], "admin:ops");
    let (_, locks) = app
        .admin(reqwest::Method::GET, "/admin/pricing/locks", None)
        .await;
    assert_eq!(locks["count"], 0);
}

async fn ops_endpoints_answer(db: TestDatabase) {
    let (app, _gate) = start(db, false).await;
    // Just after start the engine's first passes may hold, or wait for,
    // SQLite's one writer connection for a moment ("exhausted"): the pool
    // reads healthy once they are done.
    let pool: Value = common::wait_for("a healthy pool", || async {
        let pool: Value = app
            .call(reqwest::Method::GET, "/metrics/pool", None, None)
            .await
            .json()
            .await
            .expect("JSON");
        (pool["status"] == "healthy").then_some(pool)
    })
    .await;
    assert!(pool["max_size"].as_u64().unwrap_or(0) > 0);
    let response = app
        .client
        .get(format!("{}/health", app.base))
        .header("x-request-id", "req-123")
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()["x-request-id"], "req-123");
    let generated = app.call(reqwest::Method::GET, "/health", None, None).await;
    assert!(generated.headers()["x-request-id"]
        .to_str()
        .map(|v| v.len() == 36)
        .unwrap_or(false));
}

async fn the_status_shows_each_schedules_cron_or_interval(db: TestDatabase) {
    // Schedules as the servers recorded them: a nightly cron for the
    // default, an interval of its own for one provider.
    let nightly = Cadence::Cron(CronSchedule::parse("0 3 * * *").expect("cron"));
    db.store
        .ensure_schedule(
            "default",
            &["openrouter".to_owned()],
            &nightly,
            true,
            Duration::from_secs(30),
        )
        .await
        .expect("schedule");
    db.store
        .ensure_schedule(
            "provider:featherless",
            &["featherless".to_owned()],
            &Cadence::Every(Duration::from_secs(2 * 3600)),
            true,
            Duration::from_secs(30),
        )
        .await
        .expect("schedule");
    let (app, _gate) = start(db, true).await;
    let (status, sched) = app
        .admin(
            reqwest::Method::GET,
            "/admin/pricing/scheduler/status",
            None,
        )
        .await;
    assert_eq!(status, 200, "{sched}");
    let schedules = sched["schedules"].as_array().expect("schedules");
    let default = schedules
        .iter()
        .find(|s| s["name"] == "default")
        .expect("default");
    assert_eq!(default["cron"], "0 3 * * *", "{sched}");
    assert_eq!(default["interval_hours"], Value::Null);
    let next = default["next_run_at"].as_str().expect("next run");
    assert!(next.contains("T03:00:00"), "the next slot, in UTC: {next}");
    let own = schedules
        .iter()
        .find(|s| s["name"] == "provider:featherless")
        .expect("featherless");
    assert_eq!(own["cron"], Value::Null);
    assert_eq!(own["interval_hours"], 2.0);
    // This server's own default schedule is the interval it was given.
    assert_eq!(sched["interval_hours"], 6.0);
    assert_eq!(sched["cron"], Value::Null);
    assert_eq!(
        sched["next_run_at"].as_str(),
        own["next_run_at"].as_str().min(Some(next))
    );
}

on_both_backends!(
    the_status_shows_each_schedules_cron_or_interval,
    every_admin_route_needs_a_valid_token,
    without_configured_tokens_the_admin_api_is_closed,
    the_operators_scenario,
    a_running_sync_can_be_cancelled,
    bad_admin_requests_are_json_400s_and_404s,
    locks_are_listed_and_can_be_released,
    ops_endpoints_answer,
);
