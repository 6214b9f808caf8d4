//! End-to-end: `pricesync-client` against the real `pricesync` binary, on
//! SQLite and PostgreSQL: the initial load, a change followed, an outage
//! and a restart survived, and an expired cursor answered by a reload.
//!
//! Processes are watched through conditions polled until a deadline;
//! nothing waits on time for synchronisation.

use std::time::Duration;

use pricesync_client::{Client, ClientOptions, Usage};
use pricesync_domain::Decimal;
use time::OffsetDateTime;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[path = "../bins/pricesync/tests/common/mod.rs"]
mod common;

use common::{free_port, sync, wait_for, Server, TestDatabase};

fn models(prompt: &str) -> String {
    format!(
        r#"{{"data":[
  {{"id":"anthropic/claude-sonnet-4.5","pricing":{{"prompt":"{prompt}","completion":"0.000015"}}}},
  {{"id":"tiny/model","pricing":{{"prompt":"0.0000001875","completion":"0.000000000131"}}}}
]}}"#
    )
}

async fn serve_prices(provider: &MockServer, prompt: &str) {
    provider.reset().await;
    Mock::given(method("GET"))
        .and(path("/models"))
        .respond_with(ResponseTemplate::new(200).set_body_string(models(prompt)))
        .mount(provider)
        .await;
}

fn prompt_price(client: &Client) -> Option<Decimal> {
    let breakdown = client
        .cost(
            "openrouter",
            "anthropic/claude-sonnet-4.5",
            &Usage::tokens(1_000_000, 0),
            OffsetDateTime::now_utc(),
        )
        .ok()?;
    Some(breakdown.total_usd)
}

async fn the_client_follows_the_server(db: TestDatabase) {
    let provider = MockServer::start().await;
    serve_prices(&provider, "0.000003").await;
    let bind = free_port();
    let mut server = Server::start(&db.url, &provider.uri(), &bind);
    let http = reqwest::Client::new();
    sync(&http, &server.base).await;

    // Initial load.
    let options = ClientOptions {
        wait: Duration::from_secs(2),
        retry_delay: Duration::from_millis(50),
        max_retry_delay: Duration::from_millis(200),
        ..ClientOptions::default()
    };
    let client = Client::connect(&server.base, options)
        .await
        .expect("the client loads the catalogue");
    assert_eq!(client.status().models, 2);
    assert_eq!(
        prompt_price(&client),
        Some("3.000000".parse().expect("decimal"))
    );
    let unknown = client
        .cost(
            "openrouter",
            "no/such",
            &Usage::tokens(1, 1),
            OffsetDateTime::now_utc(),
        )
        .expect_err("unknown");
    assert_eq!(unknown.code(), "unknown_model");

    // A change followed.
    serve_prices(&provider, "0.000004").await;
    sync(&http, &server.base).await;
    wait_for("the client to see the new price", || async {
        (prompt_price(&client) == Some("4.000000".parse().expect("decimal"))).then_some(())
    })
    .await;

    // An outage: stale, the last good copy still answers.
    server.stop();
    wait_for("the client to notice the outage", || async {
        client.is_stale().then_some(())
    })
    .await;
    assert!(!client.status().connected);
    assert!(client.status().last_error.is_some());
    assert_eq!(
        prompt_price(&client),
        Some("4.000000".parse().expect("decimal"))
    );

    // Restarted on the same address: the client follows again.
    let server = Server::start(&db.url, &provider.uri(), &bind);
    wait_for("the client to reconnect", || async {
        (!client.is_stale()).then_some(())
    })
    .await;
    serve_prices(&provider, "0.000005").await;
    sync(&http, &server.base).await;
    wait_for("the client to see the price after the restart", || async {
        (prompt_price(&client) == Some("5.000000".parse().expect("decimal"))).then_some(())
    })
    .await;

    // A cursor past the retained history: the client reloads.
    let loads = client.status().loads;
    db.store
        .delete_price_history_for_tests()
        .await
        .expect("history deleted");
    wait_for("the client to reload on an expired cursor", || async {
        (client.status().loads > loads).then_some(())
    })
    .await;
    assert_eq!(
        prompt_price(&client),
        Some("5.000000".parse().expect("decimal"))
    );
    assert!(!client.is_stale());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_follows_the_server_on_sqlite() {
    the_client_follows_the_server(TestDatabase::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_follows_the_server_on_postgres() {
    let Some(db) = common::postgres("the_client_follows_the_server_on_postgres").await else {
        return;
    };
    the_client_follows_the_server(db).await;
}
