//! Black-box tests of what a sync saw and held, over HTTP: the models it
//! skipped, a dry run's whole diff, and held price changes with approve and
//! reject. The real server on port 0 over each backend; jobs are followed
//! through the engine's reports (no sleeps).

mod common;

use common::{model, on_both_backends, StubProvider, TestApp, TestDatabase};
use pricesync::api::types::review::{ChangesPage, HeldChangePage, SkippedPage};
use pricesync_domain::{JobState, Meter, RawOffering};
use serde_json::{json, Value};
use uuid::Uuid;

/// What openrouter listed at the last sync.
fn before() -> Vec<RawOffering> {
    vec![
        model(
            "org/a",
            &[
                (Meter::InputTokens, 0, "0.000015"),
                (Meter::OutputTokens, 0, "0.00006"),
            ],
        ),
        model("org/b", &[(Meter::InputTokens, 0, "0.000001")]),
    ]
}

/// What it lists now: a's input 1000x lower (a unit error that stays inside
/// the magnitude bounds), b's 2x higher, c new, and a model whose price is
/// out of bounds (skipped).
fn now() -> Vec<RawOffering> {
    vec![
        model(
            "org/a",
            &[
                (Meter::InputTokens, 0, "0.000000015"),
                (Meter::OutputTokens, 0, "0.00006"),
            ],
        ),
        model("org/b", &[(Meter::InputTokens, 0, "0.000002")]),
        model("org/c", &[(Meter::InputTokens, 0, "0.000003")]),
        model("org/huge", &[(Meter::InputTokens, 0, "5")]),
    ]
}

async fn start(db: TestDatabase) -> TestApp {
    let app = TestApp::builder()
        .provider(StubProvider::new("openrouter", now()))
        .admin_token()
        .start(db)
        .await;
    app.seed("openrouter", before()).await;
    app
}

async fn run_sync(app: &mut TestApp, dry_run: bool) -> Uuid {
    let (status, body) = app
        .admin(
            reqwest::Method::POST,
            "/admin/pricing/sync/trigger",
            Some(json!({"providers": ["openrouter"], "dry_run": dry_run})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id: Uuid = body["sync_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("sync id");
    assert_eq!(app.wait_finished(id).await, Some(JobState::Completed));
    id
}

async fn input_price(app: &TestApp, model: &str) -> String {
    let (status, body) = app
        .get(&format!("/v1/pricing/models/openrouter/{model}"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["prices"]
        .as_array()
        .and_then(|prices| prices.iter().find(|p| p["meter"] == "input_tokens"))
        .and_then(|p| p["usd_per_unit"].as_str())
        .expect("an input price")
        .to_owned()
}

async fn a_dry_run_shows_its_whole_diff_and_its_skips(db: TestDatabase) {
    let mut app = start(db).await;
    let id = run_sync(&mut app, true).await;

    let (status, body) = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/pricing/sync/{id}/changes"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let page: ChangesPage = serde_json::from_value(body.clone()).expect("a ChangesPage");
    assert!(page.next_cursor.is_none());
    let lines: Vec<(&str, &str, &str, &str, &str)> = body["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["model_id"].as_str().unwrap_or(""),
                c["model_change"].as_str().unwrap_or(""),
                c["change"].as_str().unwrap_or(""),
                c["old_usd_per_unit"].as_str().unwrap_or("-"),
                c["new_usd_per_unit"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("org/a", "updated", "held", "0.000015", "0.000000015"),
            ("org/b", "updated", "changed", "0.000001", "0.000002"),
            ("org/c", "added", "added", "-", "0.000003"),
        ]
    );
    // Page by page, with the cursor.
    let (_, first) = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/pricing/sync/{id}/changes?limit=2"),
            None,
        )
        .await;
    assert_eq!(first["changes"].as_array().map(Vec::len), Some(2));
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let (_, second) = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/pricing/sync/{id}/changes?limit=2&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(second["changes"][0]["model_id"], "org/c");
    assert_eq!(second["next_cursor"], Value::Null);

    let (status, body) = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/pricing/sync/{id}/skipped"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let skipped: SkippedPage = serde_json::from_value(body).expect("a SkippedPage");
    assert_eq!(skipped.skipped.len(), 1);
    assert_eq!(skipped.skipped[0].model_id, "org/huge");
    assert_eq!(skipped.skipped[0].reason, "above_maximum");
    assert!(!skipped.skipped[0].detail.is_empty());

    let (_, job) = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/pricing/sync/{id}"),
            None,
        )
        .await;
    assert_eq!(job["providers"]["openrouter"]["models_skipped"], 1);
    assert_eq!(job["providers"]["openrouter"]["changes_held"], 1);
    // A dry run writes nothing: no price moved, nothing is held.
    assert_eq!(input_price(&app, "org/b").await, "0.000001");
    let (_, held) = app
        .admin(reqwest::Method::GET, "/admin/pricing/held-changes", None)
        .await;
    assert_eq!(held["held_changes"], json!([]));
}

async fn a_held_change_waits_for_an_admin(db: TestDatabase) {
    let mut app = start(db).await;
    let id = run_sync(&mut app, false).await;
    assert_eq!(
        input_price(&app, "org/a").await,
        "0.000015",
        "held: the old price stays"
    );
    assert_eq!(
        input_price(&app, "org/b").await,
        "0.000002",
        "a plausible move applies"
    );

    // A sync that wrote has no dry-run diff.
    let (status, body) = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/pricing/sync/{id}/changes"),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );

    let (status, body) = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/pricing/held-changes?status=pending&sync_id={id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let page: HeldChangePage = serde_json::from_value(body.clone()).expect("a HeldChangePage");
    assert_eq!(page.held_changes.len(), 1);
    let held = &body["held_changes"][0];
    assert_eq!(held["model_id"], "org/a");
    assert_eq!(held["meter"], "input_tokens");
    assert_eq!(held["old_usd_per_unit"], "0.000015");
    assert_eq!(held["new_usd_per_unit"], "0.000000015");
    assert_eq!(held["ratio"], "0.001");
    assert_eq!(held["status"], "pending");
    let held_id = held["id"].as_str().expect("id").to_owned();

    let metrics = app
        .call(reqwest::Method::GET, "/metrics", None, None)
        .await
        .text()
        .await
        .expect("metrics");
    // The recorder is the process's: other tests' servers count too.
    let held_count = metrics
        .lines()
        .find_map(|l| l.strip_prefix("pricing_price_changes_held_total{provider=\"openrouter\"} "))
        .and_then(|v| v.parse::<f64>().ok());
    assert!(held_count.is_some_and(|n| n >= 1.0), "{metrics}");

    let (status, body) = app
        .admin(
            reqwest::Method::POST,
            &format!("/admin/pricing/held-changes/{held_id}/approve"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "approved");
    assert_eq!(body["decided_by"], "admin:ops");
    assert_eq!(input_price(&app, "org/a").await, "0.000000015");
    // The cost of a request priced now follows the approval at once (the
    // server's in-memory catalogue reloads on the approval's commit).
    let (status, cost) = app
        .admin(
            reqwest::Method::POST,
            "/v1/pricing/cost",
            Some(json!({"provider": "openrouter", "model": "org/a", "usage": {"input_tokens": 1000000}})),
        )
        .await;
    assert_eq!(status, 200, "{cost}");
    assert_eq!(cost["total_usd"], "0.015", "{cost}");
    let (_, history) = app
        .get("/v1/pricing/history?provider=openrouter&model=org/a")
        .await;
    let last = history["entries"]
        .as_array()
        .and_then(|e| e.last())
        .cloned()
        .expect("an entry");
    assert_eq!(last["change"], "changed");
    assert_eq!(last["approved_by"], "admin:ops");

    let (status, body) = app
        .admin(
            reqwest::Method::POST,
            &format!("/admin/pricing/held-changes/{held_id}/reject"),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    let (status, body) = app
        .admin(
            reqwest::Method::POST,
            "/admin/pricing/held-changes/0190f5a2-0000-7000-8000-000000000000/approve",
            None,
        )
        .await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, body) = app
        .admin(
            reqwest::Method::POST,
            "/admin/pricing/held-changes/nope/reject",
            None,
        )
        .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_id")));
}

async fn bad_review_requests_are_json_400s_and_404s(db: TestDatabase) {
    let app = start(db).await;
    let unknown = "0190f5a2-0000-7000-8000-000000000000";
    for (path, status, code) in [
        (
            format!("/admin/pricing/sync/{unknown}/skipped"),
            404,
            "not_found",
        ),
        (
            format!("/admin/pricing/sync/{unknown}/changes"),
            404,
            "not_found",
        ),
        (
            "/admin/pricing/sync/nope/skipped".to_owned(),
            400,
            "invalid_sync_id",
        ),
        (
            format!("/admin/pricing/sync/{unknown}/skipped?limit=0"),
            400,
            "invalid_parameter",
        ),
        (
            format!("/admin/pricing/sync/{unknown}/skipped?cursor=x"),
            400,
            "invalid_parameter",
        ),
        (
            format!("/admin/pricing/sync/{unknown}/changes?provider=Bad!"),
            400,
            "invalid_parameter",
        ),
        (
            format!("/admin/pricing/sync/{unknown}/changes?other=1"),
            400,
            "invalid_request",
        ),
        (
            "/admin/pricing/held-changes?status=bogus".to_owned(),
            400,
            "invalid_parameter",
        ),
        (
            "/admin/pricing/held-changes?sync_id=x".to_owned(),
            400,
            "invalid_parameter",
        ),
        (
            "/admin/pricing/held-changes?cursor=x".to_owned(),
            400,
            "invalid_parameter",
        ),
    ] {
        let (got, body) = app.admin(reqwest::Method::GET, &path, None).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

on_both_backends!(
    a_dry_run_shows_its_whole_diff_and_its_skips,
    a_held_change_waits_for_an_admin,
    bad_review_requests_are_json_400s_and_404s,
);
