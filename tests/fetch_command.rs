//! End-to-end: `pricesync fetch` against a local mock provider prints the
//! normalised list and touches no database.

use std::process::Command;

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const MODELS: &str = r#"{"data":[
  {"id":"anthropic/claude-sonnet-4.5","name":"Claude Sonnet 4.5","context_length":1000000,
   "pricing":{"prompt":"0.000003","completion":"0.000015","input_cache_read":"0.0000003",
     "overrides":[{"min_prompt_tokens":200000,"prompt":"0.000006","completion":"0.0000225"}]}},
  {"id":"openrouter/auto","pricing":{"prompt":"-1","completion":"-1"}},
  {"id":"meta/llama:free","pricing":{"prompt":"0","completion":"0"}},
  {"id":"bad/units","pricing":{"prompt":"3","completion":"15"}}
]}"#;

fn fetch(base_url: &str, args: &[&str]) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!("pricesync-fetch-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let output = Command::new(env!("CARGO_BIN_EXE_pricesync"))
        .arg("fetch")
        .args(args)
        .current_dir(&dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("OPENROUTER_BASE_URL", base_url)
        .output()
        .expect("runs");
    assert!(!dir.join("data").exists(), "fetch touches no database");
    let _ = std::fs::remove_dir_all(dir);
    output
}

async fn mock() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/models"))
        .respond_with(ResponseTemplate::new(200).set_body_string(MODELS))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn prints_counts_and_skipped_models_with_reasons() {
    let server = mock().await;
    let output = fetch(&server.uri(), &["openrouter"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("openrouter: 4 fetched, 3 valid (1 metered, 1 free, 1 dynamic, 0 subscription, 0 unknown), 1 skipped"),
        "{stdout}"
    );
    assert!(stdout.contains("skipped bad/units"), "{stdout}");
    assert!(stdout.contains("[above_maximum]"), "{stdout}");
}

#[tokio::test]
async fn json_output_carries_exact_prices() {
    let server = mock().await;
    let output = fetch(&server.uri(), &["openrouter", "--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let body: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let claude = body["models"]
        .as_array()
        .and_then(|m| {
            m.iter()
                .find(|m| m["model_id"] == "anthropic/claude-sonnet-4.5")
        })
        .expect("listed");
    let band = claude["components"]
        .as_array()
        .and_then(|c| {
            c.iter()
                .find(|c| c["meter"] == "output_tokens" && c["min_prompt_tokens"] == 200000)
        })
        .expect("long-context band");
    assert_eq!(band["usd_per_unit"], "0.0000225");
    assert_eq!(body["skipped"][0]["reason"]["code"], "above_maximum");
}

#[tokio::test]
async fn a_failing_provider_exits_non_zero_and_an_unknown_one_lists_the_known() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let output = fetch(&server.uri(), &["openrouter"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("HTTP 404"));
    let output = fetch(&server.uri(), &["nosuch"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nosuch") && stderr.contains("featherless"),
        "{stderr}"
    );
}

/// Runs the binary with a SQLite database in `dir` and the mock provider.
fn run(dir: &std::path::Path, base_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pricesync"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("OPENROUTER_BASE_URL", base_url)
        .env("PRICING_SYNC_PROVIDERS", "openrouter")
        .output()
        .expect("runs")
}

#[tokio::test]
async fn sync_runs_in_the_foreground_and_the_other_commands_show_it() {
    let server = mock().await;
    let dir = std::env::temp_dir().join(format!("pricesync-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let out = run(&dir, &server.uri(), &["sync", "--provider", "openrouter"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // One model is skipped as a unit error: the provider still succeeds.
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" completed"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("openrouter") && l.contains("succeeded")),
        "{stdout}"
    );

    let out = run(&dir, &server.uri(), &["prices", "--provider", "openrouter"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("openrouter/anthropic/claude-sonnet-4.5  metered  input_tokens=0.000003"),
        "{stdout}"
    );
    assert!(stdout.contains("input_tokens>200000=0.000006"), "{stdout}");

    let out = run(&dir, &server.uri(), &["jobs", "--json"]);
    let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(jobs[0]["status"], "completed");
    assert_eq!(jobs[0]["triggered_by"], "cli");

    let out = run(&dir, &server.uri(), &["status"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("openrouter"),
        "status lists the provider"
    );
    let out = run(&dir, &server.uri(), &["cancel", "not-a-uuid"]);
    assert!(!out.status.success());
    let out = run(
        &dir,
        &server.uri(),
        &["locks", "release", "pricing_sync:openrouter"],
    );
    assert!(!out.status.success(), "no lock is left behind");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_failed_sync_exits_non_zero() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let dir = std::env::temp_dir().join(format!("pricesync-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let out = run(&dir, &server.uri(), &["sync", "--json"]);
    assert!(!out.status.success());
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(result["status"], "failed");
    assert_eq!(result["providers"]["openrouter"]["status"], "failed");
    let _ = std::fs::remove_dir_all(dir);
}

/// The same list with claude's prompt price read 1000x too low (a unit
/// error inside the magnitude bounds).
const MODELS_1000X_LOWER: &str = r#"{"data":[
  {"id":"anthropic/claude-sonnet-4.5","name":"Claude Sonnet 4.5","context_length":1000000,
   "pricing":{"prompt":"0.000000003","completion":"0.000015","input_cache_read":"0.0000003",
     "overrides":[{"min_prompt_tokens":200000,"prompt":"0.000006","completion":"0.0000225"}]}},
  {"id":"openrouter/auto","pricing":{"prompt":"-1","completion":"-1"}},
  {"id":"meta/llama:free","pricing":{"prompt":"0","completion":"0"}},
  {"id":"bad/units","pricing":{"prompt":"3","completion":"15"}}
]}"#;

#[tokio::test]
async fn dry_run_diff_skips_and_held_changes_from_the_command_line() {
    let server = mock().await;
    let dir = std::env::temp_dir().join(format!("pricesync-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).into_owned();

    // A dry run prints its whole diff and writes no price.
    let out = run(&dir, &server.uri(), &["sync", "--dry-run", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dry: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(dry["dry_run"], true);
    let changes = dry["changes"].as_array().expect("changes");
    assert!(
        changes
            .iter()
            .any(|c| c["model_id"] == "anthropic/claude-sonnet-4.5"
                && c["model_change"] == "added"
                && c["meter"] == "input_tokens"
                && c["min_prompt_tokens"] == 200000
                && c["new_usd_per_unit"] == "0.000006"),
        "{changes:?}"
    );
    let sync_id = dry["sync_id"].as_str().expect("sync id").to_owned();
    let out = run(&dir, &server.uri(), &["skipped", &sync_id, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let skipped: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(skipped["skipped"][0]["model_id"], "bad/units");
    assert_eq!(skipped["skipped"][0]["reason"], "above_maximum");
    let out = run(&dir, &server.uri(), &["prices", "--json"]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("JSON"),
        serde_json::json!([])
    );

    // A real sync, then a 1000x drop: held, the old price stays.
    assert!(run(&dir, &server.uri(), &["sync"]).status.success());
    let lower = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/models"))
        .respond_with(ResponseTemplate::new(200).set_body_string(MODELS_1000X_LOWER))
        .mount(&lower)
        .await;
    let out = run(&dir, &lower.uri(), &["sync"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", stderr(&out));
    assert!(stdout.contains("pricesync held"), "{stdout}");
    let out = run(&dir, &lower.uri(), &["held", "--json"]);
    let held: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let change = &held["held_changes"][0];
    assert_eq!(change["old_usd_per_unit"], "0.000003");
    assert_eq!(change["new_usd_per_unit"], "0.000000003");
    let id = change["id"].as_str().expect("id").to_owned();
    let prices =
        |base: &str| String::from_utf8_lossy(&run(&dir, base, &["prices"]).stdout).into_owned();
    assert!(prices(&lower.uri()).contains(" input_tokens=0.000003 "));

    let out = run(&dir, &lower.uri(), &["approve", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(prices(&lower.uri()).contains(" input_tokens=0.000000003 "));
    let out = run(&dir, &lower.uri(), &["reject", &id]);
    assert!(
        !out.status.success(),
        "an approved change cannot be rejected"
    );
    assert!(stderr(&out).contains("not pending"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(dir);
}

/// Ctrl-C (SIGINT) on `pricesync sync` cancels its job at a safe point:
/// the job ends `cancelled`, its lease is released, the exit code is 130
/// and the next sync runs. While it runs, a second sync of the same
/// provider exits 3 (busy), distinct from a usage error (2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_sync_cancels_its_job_and_frees_the_provider() {
    let slow = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/models"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(MODELS)
                .set_delay(std::time::Duration::from_secs(600)),
        )
        .mount(&slow)
        .await;
    let fast = mock().await;
    let dir = std::env::temp_dir().join(format!("pricesync-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let jobs = |dir: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&run(dir, &fast.uri(), &["jobs", "--json"]).stdout).expect("JSON")
    };
    // The database and its schema exist before two processes share it.
    assert!(run(&dir, &fast.uri(), &["migrate", "--json"])
        .status
        .success());

    let syncing = Command::new(env!("CARGO_BIN_EXE_pricesync"))
        .args(["sync", "--json"])
        .current_dir(&dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("OPENROUTER_BASE_URL", slow.uri())
        .env("PRICING_SYNC_PROVIDERS", "openrouter")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    // Wait until its job runs (it then waits on the slow provider).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let running = loop {
        let listed = jobs(&dir);
        if listed[0]["status"] == "in_progress" {
            break listed[0]["sync_id"].as_str().expect("id").to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sync never started: {listed}"
        );
        std::thread::yield_now();
    };
    let busy = run(&dir, &fast.uri(), &["sync"]);
    assert_eq!(
        busy.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&busy.stderr)
    );
    let usage = run(&dir, &fast.uri(), &["sync", "--no-such-flag"]);
    assert_eq!(usage.status.code(), Some(2));

    let pid = syncing.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill runs")
        .success());
    let out = syncing.wait_with_output().expect("exits");
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stopped: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(stopped["status"], "cancelled");
    assert_eq!(stopped["sync_id"], running.as_str());

    let out = run(&dir, &fast.uri(), &["job", &running, "--json"]);
    let job: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(job["status"], "cancelled");
    let out = run(&dir, &fast.uri(), &["locks", "--json"]);
    let locks: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(locks["locks"], serde_json::json!([]), "{locks}");
    let next = run(&dir, &fast.uri(), &["sync", "-q"]);
    assert!(
        next.status.success(),
        "{}",
        String::from_utf8_lossy(&next.stderr)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn status_shows_the_recorded_cron_schedule_and_its_next_slot() {
    let dir = std::env::temp_dir().join(format!("pricesync-cron-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("data")).expect("scratch dir");
    // A server recorded a nightly cron schedule in this database.
    let url = pricesync_store::DatabaseUrl::Sqlite(dir.join("data/pricesync.db"));
    let store = pricesync_store::Store::connect(&url, &pricesync_store::PoolConfig::default())
        .expect("store");
    store.migrate().await.expect("migrate");
    let nightly = pricesync_domain::CronSchedule::parse("30 2 * * *").expect("cron");
    store
        .ensure_schedule(
            "default",
            &["openrouter".to_owned()],
            &pricesync_domain::Cadence::Cron(nightly),
            true,
            std::time::Duration::from_secs(30),
        )
        .await
        .expect("schedule");
    drop(store);
    let out = run(&dir, "http://127.0.0.1:9", &["status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    // The scheduler's fields sit at the top, beside the active syncs.
    let scheduler = &status;
    assert_eq!(scheduler["cron"], "30 2 * * *", "{status}");
    assert_eq!(scheduler["interval_hours"], serde_json::Value::Null);
    assert_eq!(scheduler["schedules"][0]["cron"], "30 2 * * *");
    let next = scheduler["next_run_at"].as_str().expect("next run");
    assert!(next.contains("T02:30:00"), "{next}");
    let out = run(&dir, "http://127.0.0.1:9", &["status"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("cron \"30 2 * * *\" UTC"), "{stdout}");
    let _ = std::fs::remove_dir_all(dir);
}
