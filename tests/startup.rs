//! End-to-end: the real `pricesync` binary starts on SQLite and answers,
//! stops cleanly on SIGTERM, and refuses to start with a one-line error
//! that says what to fix when the database URL is malformed, the database is
//! unreachable or a migration fails.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use pricesync_store::{DatabaseUrl, PoolConfig, Store};

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pricesync"));
    // Nothing from the developer's environment or .env leaks in.
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "info");
    command
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pricesync-e2e-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn one_line_error(output: &Output) -> String {
    assert!(!output.status.success(), "the command should fail");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "exactly one error line in:\n{stderr}");
    errors[0].to_owned()
}

#[test]
fn a_malformed_database_url_names_the_variable() {
    let output = binary()
        .args(["migrate"])
        .env("DATABASE_URL", "mysql://app:secret@db/prices")
        .output()
        .expect("runs");
    let line = one_line_error(&output);
    assert!(line.contains("DATABASE_URL"), "{line}");
    assert!(line.contains("sqlite://"), "says what to use: {line}");
    assert!(!line.contains("secret"), "no password in errors: {line}");
}

#[test]
fn an_unreachable_database_says_so() {
    let output = binary()
        .args(["serve"])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/pricesync")
        .env("PRICESYNC_DB_CONNECT_TIMEOUT_MS", "2000")
        .output()
        .expect("runs");
    let line = one_line_error(&output);
    assert!(line.contains("cannot reach the database"), "{line}");
    assert!(line.contains("DATABASE_URL"), "{line}");
}

#[test]
fn a_failed_migration_stops_start_up() {
    let dir = scratch_dir();
    let path = dir.join("broken.db");
    // A database whose `models` table is not pricesync's.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = Store::connect(&DatabaseUrl::Sqlite(path.clone()), &PoolConfig::default())
            .expect("opens");
        store
            .raw_batch_for_tests("CREATE TABLE models (something_else INTEGER)")
            .await
            .expect("creates a conflicting table");
    });
    let output = binary()
        .args(["serve"])
        .env("DATABASE_URL", format!("sqlite://{}", path.display()))
        .output()
        .expect("runs");
    let line = one_line_error(&output);
    assert!(line.contains("migration"), "{line}");
    let _ = std::fs::remove_dir_all(dir);
}

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serves_on_sqlite_by_default_and_stops_on_sigterm() {
    let dir = scratch_dir();
    let mut server = Server {
        child: binary()
            .args(["serve"])
            .current_dir(&dir)
            .env("PRICESYNC_BIND_ADDR", "127.0.0.1:0")
            .env("PRICING_SYNC_ENABLED", "false")
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts"),
    };
    // Read the log until the server says where it listens.
    let stderr = server.child.stderr.take().expect("piped");
    let mut lines = BufReader::new(stderr).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("the server logs its address before anything else ends its output")
            .expect("readable log");
        if let Some(rest) = line.split("address=").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .expect("an address")
                .to_owned();
        }
    };
    assert!(
        dir.join("data/pricesync.db").exists(),
        "SQLite file created on first start"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let body: serde_json::Value = runtime.block_on(async {
        reqwest::get(format!("http://{address}/health"))
            .await
            .expect("answers")
            .json()
            .await
            .expect("JSON")
    });
    assert_eq!(body["status"], "ok");

    // The counters the alert rules read exist at zero before any event,
    // for each configured provider, so the first event after a start
    // shows as an increase.
    let metrics = runtime.block_on(async {
        reqwest::get(format!("http://{address}/metrics"))
            .await
            .expect("answers")
            .text()
            .await
            .expect("text")
    });
    for series in [
        "pricing_lock_renew_failures_total{provider=\"openrouter\"} 0",
        "pricing_fencing_rejections_total{provider=\"nearai\"} 0",
        "pricing_lock_contention_total{provider=\"featherless\"} 0",
        "pricing_provider_fetch_errors_total{provider=\"alibaba-cloud\",kind=\"timeout\"} 0",
        "pricing_models_skipped_total{provider=\"openrouter\",reason=\"above_maximum\"} 0",
        "pricing_sync_jobs_rescued_total{outcome=\"requeued\"} 0",
        "pricing_sync_jobs_rescued_total{outcome=\"failed\"} 0",
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }

    // The health check of a container: the binary probes its own
    // configured address, an unspecified one on loopback.
    let port = address.rsplit(':').next().expect("a port");
    for extra in [None, Some("--ready")] {
        let probe = binary()
            .arg("probe")
            .args(extra)
            .current_dir(&dir)
            .env("PRICESYNC_BIND_ADDR", format!("0.0.0.0:{port}"))
            .output()
            .expect("the probe runs");
        assert!(probe.status.success(), "{extra:?}: {probe:?}");
    }

    let pid = server.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = server.child.wait().expect("exits");
    assert!(status.success(), "a SIGTERM stop is a clean exit: {status}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
    // Stopped: the probe fails, and says why on one line.
    let probe = binary()
        .arg("probe")
        .current_dir(&dir)
        .env("PRICESYNC_BIND_ADDR", &address)
        .output()
        .expect("the probe runs");
    assert_eq!(probe.status.code(), Some(1), "{probe:?}");
    let said = String::from_utf8_lossy(&probe.stderr);
    assert!(
        said.contains(&format!("GET http://{address}/health")),
        "{said}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// With `PRICESYNC_ACCESS_LOG=true` every request is logged; a refused
/// admin request is logged at WARN with who and how, never the token.
#[test]
fn access_log_and_refused_admin_requests_are_logged() {
    const WRONG: &str = "not-the-token-5f2a9c1e";
    let dir = scratch_dir();
    let mut server = Server {
        child: binary()
            .args(["serve"])
            .current_dir(&dir)
            .env("PRICESYNC_BIND_ADDR", "127.0.0.1:0")
            .env("PRICING_SYNC_ENABLED", "false")
            .env("PRICESYNC_ACCESS_LOG", "true")
            .env("PRICESYNC_ADMIN_TOKENS", "ops:the-real-token-0123456789")
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts"),
    };
    let stderr = server.child.stderr.take().expect("piped");
    let mut lines = BufReader::new(stderr).lines();
    let address = loop {
        let line = lines.next().expect("the address").expect("readable log");
        if let Some(rest) = line.split("address=").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .expect("an address")
                .to_owned();
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let statuses = runtime.block_on(async {
        let client = reqwest::Client::new();
        let refused = client
            .get(format!("http://{address}/admin/pricing/locks"))
            .bearer_auth(WRONG)
            .send()
            .await
            .expect("answers")
            .status();
        let health = client
            .get(format!("http://{address}/health"))
            .send()
            .await
            .expect("answers")
            .status();
        (refused.as_u16(), health.as_u16())
    });
    assert_eq!(statuses, (401, 200));
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs")
        .success());
    server.child.wait().expect("exits");
    let log: Vec<String> = lines.map_while(Result::ok).collect();
    let refused = log
        .iter()
        .find(|l| l.contains("admin request refused"))
        .unwrap_or_else(|| panic!("no refusal logged: {log:#?}"));
    assert!(refused.contains("WARN"), "{refused}");
    assert!(refused.contains("unknown token"), "{refused}");
    assert!(refused.contains("/admin/pricing/locks"), "{refused}");
    assert!(
        log.iter().all(|l| !l.contains(WRONG)),
        "the presented token is never logged: {log:#?}"
    );
    assert!(
        log.iter().any(|l| l.contains("pricesync::access")
            && l.contains("path=/health")
            && l.contains("status=200")),
        "{log:#?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
