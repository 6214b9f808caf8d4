//! End-to-end: `pricesync cost` prices a usage from the database, now or
//! as of `--at`, with the same answer as `POST /v1/pricing/cost`.

#[path = "../bins/pricesync/tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::Duration;

use common::{model, on_both_backends, TestDatabase};
use pricesync::api::types::cost::CostAnswer;
use pricesync_domain::{
    diff_price_lists, validate_price_list, Meter, ProviderId, RawOffering, ShrinkGuard,
    ValidationPolicy,
};
use pricesync_store::DatabaseUrl;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn sonnet(input: &str) -> RawOffering {
    model(
        "anthropic/claude-sonnet-4.5",
        &[
            (Meter::InputTokens, 0, input),
            (Meter::OutputTokens, 0, "0.000015"),
            (Meter::CacheReadTokens, 0, "0.0000003"),
        ],
    )
}

async fn write(db: &TestDatabase, raws: Vec<RawOffering>) {
    let provider = ProviderId::parse("openrouter").expect("provider");
    let stored = db
        .store
        .load_provider_prices(&provider)
        .await
        .expect("load");
    let fresh = validate_price_list(raws, &ValidationPolicy::default());
    let diff = diff_price_lists(&stored, &fresh, ShrinkGuard::default());
    db.store
        .apply_price_diff(&provider, &diff, None, None)
        .await
        .expect("apply");
}

fn cost(db: &TestDatabase, args: &[&str]) -> std::process::Output {
    let url = match &db.url {
        DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
        DatabaseUrl::Postgres(url) => url.clone(),
    };
    Command::new(env!("CARGO_BIN_EXE_pricesync"))
        .arg("cost")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .output()
        .expect("runs")
}

async fn prints_the_breakdown_now_and_at_an_instant(db: TestDatabase) {
    write(&db, vec![sonnet("0.000003")]).await;
    db.store
        .age_catalogue_for_tests(Duration::from_secs(3600))
        .await
        .expect("age");
    write(&db, vec![sonnet("0.000005")]).await;
    let usage = [
        "--provider",
        "openrouter",
        "--model",
        "anthropic/claude-sonnet-4.5",
        "--input",
        "1200",
        "--cached",
        "1000",
        "--output",
        "300",
    ];

    let now = cost(&db, &usage);
    let stdout = String::from_utf8_lossy(&now.stdout);
    assert!(
        now.status.success(),
        "{}",
        String::from_utf8_lossy(&now.stderr)
    );
    assert!(
        stdout.contains("openrouter/anthropic/claude-sonnet-4.5 at "),
        "{stdout}"
    );
    assert!(stdout.contains("cache_read_tokens"), "{stdout}");
    assert!(stdout.contains("0.000005"), "{stdout}");
    assert!(stdout.contains("total_usd 0.0058"), "{stdout}");

    let half_hour_ago = (OffsetDateTime::now_utc() - time::Duration::minutes(30))
        .format(&Rfc3339)
        .expect("formats");
    let mut args = usage.to_vec();
    args.extend(["--at", &half_hour_ago, "--round", "3", "--json"]);
    let then = cost(&db, &args);
    assert!(
        then.status.success(),
        "{}",
        String::from_utf8_lossy(&then.stderr)
    );
    let answer: CostAnswer = serde_json::from_slice(&then.stdout).expect("the API's answer");
    assert_eq!(answer.total_usd.to_string(), "0.0054");
    assert_eq!(
        answer.total_usd_rounded.map(|d| d.to_string()).as_deref(),
        Some("0.005")
    );
    assert_eq!(answer.lines.len(), 3);

    let unknown = cost(
        &db,
        &[
            "--provider",
            "openrouter",
            "--model",
            "no/such",
            "--input",
            "1",
        ],
    );
    assert_eq!(unknown.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("[unknown_model]"), "{stderr}");

    let bad = cost(
        &db,
        &["--provider", "openrouter", "--model", "x", "--at", "noon"],
    );
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("--at: \"noon\" is not an RFC 3339 time"),
        "{stderr}"
    );
}

on_both_backends!(prints_the_breakdown_now_and_at_an_instant);
