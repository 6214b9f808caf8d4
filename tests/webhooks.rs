//! End-to-end: webhook deliveries from the real `pricesync` binary to a
//! local receiver, on SQLite and PostgreSQL. The receiver is down when the
//! events happen and the server that recorded them is killed; the
//! deliveries wait in the database, and the next server sends them, signed,
//! once the receiver is up.
//!
//! Processes are watched through conditions polled until a deadline;
//! nothing waits on time for synchronisation.

use pricesync_domain::webhook::{verify, DEFAULT_TOLERANCE_SECS, SIGNATURE_HEADER};
use serde_json::{json, Value};
use time::OffsetDateTime;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[path = "../bins/pricesync/tests/common/mod.rs"]
mod common;

use common::{admin_get, free_port, sync, wait_for, Server, TestDatabase, E2E_TOKEN};

/// Fast retries and polls, so the outage is short.
const FAST: [(&str, &str); 5] = [
    ("PRICESYNC_WEBHOOK_POLL_MS", "50"),
    ("PRICESYNC_WEBHOOK_RETRY_BASE_SECS", "1"),
    ("PRICESYNC_WEBHOOK_RETRY_MAX_SECS", "1"),
    ("PRICESYNC_WEBHOOK_TIMEOUT_SECS", "2"),
    ("PRICESYNC_WEBHOOK_MAX_ATTEMPTS", "100"),
];

async fn deliveries(http: &reqwest::Client, base: &str) -> Option<Vec<Value>> {
    let page = admin_get(http, &format!("{base}/admin/pricing/webhooks/deliveries")).await?;
    page["deliveries"].as_array().cloned()
}

async fn deliveries_survive_an_outage_and_a_restart(db: TestDatabase) {
    let provider = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/models"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"data":[
  {"id":"anthropic/claude-sonnet-4.5","pricing":{"prompt":"0.000003","completion":"0.000015"}},
  {"id":"tiny/model","pricing":{"prompt":"0.0000001875","completion":"0.000000000131"}}
]}"#,
        ))
        .mount(&provider)
        .await;
    // The receiver's address, with nothing listening yet: it is down.
    let receiver_address = free_port();
    let http = reqwest::Client::new();
    let mut first = Server::start_with(&db.url, &provider.uri(), &free_port(), &FAST);
    let registered: Value = http
        .post(format!("{}/admin/pricing/webhooks", first.base))
        .bearer_auth(E2E_TOKEN)
        .json(&json!({
            "url": format!("http://{receiver_address}/hooks/pricesync"),
            "description": "the gateway",
        }))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("JSON");
    let secret = registered["secret"].as_str().expect("a secret").to_owned();
    assert_eq!(registered["webhook"]["events"], json!(["*"]));
    let sync_id = sync(&http, &first.base).await;

    // Both events are recorded and tried while the receiver is down.
    wait_for("failed attempts at both deliveries", || async {
        let listed = deliveries(&http, &first.base).await?;
        (listed.len() == 2
            && listed.iter().all(|d| {
                d["state"] == "pending"
                    && d["attempts"].as_u64() >= Some(1)
                    && d["last_error"].is_string()
            }))
        .then_some(())
    })
    .await;
    first.stop();

    // The receiver comes up; a new server on the same database sends (a
    // delivery the killed server had claimed mid-attempt waits for its
    // claim to run out: the time-out plus 5 s).
    let receiver = MockServer::builder()
        .listener(std::net::TcpListener::bind(&receiver_address).expect("the receiver's port"))
        .start()
        .await;
    Mock::given(method("POST"))
        .and(path("/hooks/pricesync"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let second = Server::start_with(&db.url, &provider.uri(), &free_port(), &FAST);
    let delivered = wait_for("both deliveries delivered", || async {
        let listed = deliveries(&http, &second.base).await?;
        (listed.len() == 2 && listed.iter().all(|d| d["state"] == "delivered")).then_some(listed)
    })
    .await;
    for delivery in &delivered {
        assert_eq!(delivery["last_status"], 204, "{delivery}");
        assert!(delivery["next_attempt_at"].is_null(), "{delivery}");
    }

    let received = receiver.received_requests().await.expect("recorded");
    assert_eq!(received.len(), 2, "one request per event");
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut events = Vec::new();
    for request in &received {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let signature = header(SIGNATURE_HEADER);
        assert_eq!(
            verify(
                secret.as_bytes(),
                &signature,
                &request.body,
                now,
                DEFAULT_TOLERANCE_SECS
            ),
            Ok(()),
            "{signature}"
        );
        assert!(verify(
            b"another secret...",
            &signature,
            &request.body,
            now,
            DEFAULT_TOLERANCE_SECS
        )
        .is_err());
        assert_eq!(header("content-type"), "application/json");
        let body: Value = serde_json::from_slice(&request.body).expect("a JSON body");
        assert_eq!(header("Pricesync-Event"), body["type"]);
        assert_eq!(header("Pricesync-Event-Id"), body["id"]);
        events.push(body);
    }
    events.sort_by_key(|e| e["type"].as_str().unwrap_or_default().to_owned());
    let changed = &events[0];
    assert_eq!(changed["type"], "prices.changed");
    assert_eq!(changed["data"]["provider"], "openrouter");
    assert_eq!(changed["data"]["sync_id"], sync_id);
    assert_eq!(changed["data"]["models_added"], 2);
    assert_eq!(
        changed["data"]["changes_url"],
        "/v1/pricing/changes?after=0"
    );
    let finished = &events[1];
    assert_eq!(finished["type"], "sync.finished");
    assert_eq!(finished["data"]["sync_id"], sync_id);
    assert_eq!(finished["data"]["status"], "completed");
    assert_eq!(finished["data"]["providers"][0]["provider"], "openrouter");
    assert_eq!(finished["data"]["providers"][0]["added"], 2);

    // Counted for the alerts and dashboards.
    let metrics = http
        .get(format!("{}/metrics", second.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(
            r#"pricing_webhook_deliveries_total{event="sync.finished",outcome="delivered"} 1"#
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_survive_an_outage_and_a_restart_on_sqlite() {
    deliveries_survive_an_outage_and_a_restart(TestDatabase::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_survive_an_outage_and_a_restart_on_postgres() {
    let Some(db) = common::postgres("deliveries_survive_an_outage_and_a_restart_on_postgres").await
    else {
        return;
    };
    deliveries_survive_an_outage_and_a_restart(db).await;
}
