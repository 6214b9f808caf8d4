//! End-to-end: `pricesync-client` against the real `pricesync` binary, on
//! SQLite and PostgreSQL: the initial load, a change followed, an outage
//! and a restart survived, and an expired cursor answered by a reload.
//!
//! Processes are watched through conditions polled until a deadline;
//! nothing waits on time for synchronisation.

use std::process::Child;
use std::time::{Duration, Instant};

use pricesync_client::{Client, ClientOptions, Usage};
use pricesync_domain::Decimal;
use pricesync_store::DatabaseUrl;
use time::OffsetDateTime;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[path = "../bins/pricesync/tests/common/mod.rs"]
mod common;

use common::TestDatabase;

const TOKEN: &str = common::E2E_TOKEN;

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

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(url: &DatabaseUrl, provider_url: &str, bind: &str) -> Self {
        let (child, base) = common::spawn_binary(url, bind, provider_url, &[]);
        Self { child, base }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs a sync of the provider and waits until it completed.
async fn sync(http: &reqwest::Client, base: &str) {
    let accepted: serde_json::Value = http
        .post(format!("{base}/admin/pricing/sync/trigger"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("trigger")
        .json()
        .await
        .expect("JSON");
    let poll = format!("{base}{}", accepted["poll_url"].as_str().expect("poll url"));
    wait_for("the sync to complete", || async {
        let sync: serde_json::Value = http
            .get(&poll)
            .bearer_auth(TOKEN)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (sync["status"] == "completed").then_some(())
    })
    .await;
}

/// Polls `check` until it gives a value, for at most 30 s.
async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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

fn free_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = listener.local_addr().expect("address").to_string();
    drop(listener);
    address
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
