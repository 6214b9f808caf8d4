//! HTTP load against the real `pricesync` binary, from this separate
//! process: 1000 concurrent triggers (p50, p99, 5xx, jobs created), each on
//! a new connection and then on kept-alive connections, next to the same
//! burst on `/health` (what 1000 new connections cost this machine by
//! themselves), the read API's throughput and p99 for one model with 64
//! connections, and the cost API: one usage per request with 64
//! connections beside `GET /health` with the same client in the same run
//! (the floor), and batches of 1000 usages (priced now, and at an instant),
//! on SQLite and on PostgreSQL when one is available.
//!
//! Run with `cargo bench -p pricesync --bench http_load` (`just bench`);
//! `cargo bench -p pricesync --bench http_load -- cost` runs the cost
//! figures only.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pricesync_store::testing::TestDatabase;
use pricesync_store::DatabaseUrl;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "bench-token-0123456789";
const TRIGGERS: usize = 1000;
const ROUNDS: usize = 5;
const READ_CONNECTIONS: usize = 64;
const READS: usize = 40_000;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(url: &DatabaseUrl, provider: &str) -> (Server, String) {
    let database_url = match url {
        DatabaseUrl::Postgres(u) => u.clone(),
        DatabaseUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_pricesync"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn,pricesync::server=info")
        .env("DATABASE_URL", database_url)
        .env("PRICESYNC_BIND_ADDR", "127.0.0.1:0")
        .env("PRICESYNC_ADMIN_TOKENS", format!("bench:{TOKEN}"))
        .env("PRICING_SYNC_PROVIDERS", "openrouter")
        .env("PRICING_SYNC_ENABLED", "false")
        .env("OPENROUTER_BASE_URL", provider)
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().expect("piped");
    let mut lines = BufReader::new(stderr).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("the server logs its address")
            .expect("log");
        if let Some(rest) = line.split("address=").nth(1) {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    (Server(child), format!("http://{address}"))
}

/// A request as a client sends it (no body, a bearer token).
fn request(address: &str, line: &str) -> Arc<Vec<u8>> {
    Arc::new(
        format!(
            "{line} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes(),
    )
}

/// Sends `request` on `stream` and reads the whole response; its status.
/// A minimal HTTP/1.1 client, so that the load generator costs the shared
/// cores as little as it can.
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> Option<u16> {
    stream.write_all(request).await.ok()?;
    let mut response = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        response.extend_from_slice(&chunk[..n]);
        let Some(head_end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = std::str::from_utf8(&response[..head_end]).ok()?;
        let status = head.split(' ').nth(1)?.parse::<u16>().ok()?;
        let length = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if response.len() >= head_end + 4 + length {
            return Some(status);
        }
    }
}

/// No Nagle delay; and a reset instead of TIME_WAIT when the client closes,
/// so that 25,000 connections a run do not fill the ephemeral port range
/// and slow `connect` down for the bursts that follow.
fn client_socket(stream: &TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO))
}

/// 1000 connections, each past one request, so the server has accepted them.
async fn open_connections(address: &str, health: &Arc<Vec<u8>>) -> Vec<TcpStream> {
    let tasks: Vec<_> = (0..TRIGGERS)
        .map(|_| {
            let (address, health) = (address.to_owned(), health.clone());
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(address).await.expect("connect");
                client_socket(&stream).expect("socket options");
                assert_eq!(exchange(&mut stream, &health).await, Some(200));
                stream
            })
        })
        .collect();
    let mut streams = Vec::with_capacity(TRIGGERS);
    for task in tasks {
        streams.push(task.await.expect("task"));
    }
    streams
}

/// Sends `request` 1000 times at once: on new connections, or on `kept`
/// ones; each request's status (0: no answer) and latency, the connection
/// included when it is new.
async fn burst(
    address: &str,
    request: &Arc<Vec<u8>>,
    kept: Option<Vec<TcpStream>>,
) -> Vec<(u16, Duration)> {
    let streams: Vec<Option<TcpStream>> = match kept {
        Some(streams) => streams.into_iter().map(Some).collect(),
        None => (0..TRIGGERS).map(|_| None).collect(),
    };
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|stream| {
            let (address, request) = (address.to_owned(), request.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let status = async {
                    let mut stream = match stream {
                        Some(stream) => stream,
                        None => {
                            let stream = TcpStream::connect(address).await.ok()?;
                            client_socket(&stream).ok()?;
                            stream
                        }
                    };
                    exchange(&mut stream, &request).await
                }
                .await
                .unwrap_or(0);
                (status, started.elapsed())
            })
        })
        .collect();
    let mut results = Vec::with_capacity(TRIGGERS);
    for task in tasks {
        results.push(task.await.expect("task"));
    }
    results
}

/// One line for `bursts` of one kind: p50 and p99 over all their requests,
/// the spread of the bursts' own p99, and the statuses.
fn report(backend: &str, what: &str, bursts: &[Vec<(u16, Duration)>]) {
    let results: Vec<&(u16, Duration)> = bursts.iter().flatten().collect();
    let mut latencies: Vec<Duration> = results.iter().map(|(_, d)| *d).collect();
    latencies.sort();
    let mut p99s: Vec<Duration> = bursts
        .iter()
        .map(|b| {
            let mut l: Vec<Duration> = b.iter().map(|(_, d)| *d).collect();
            l.sort();
            percentile(&l, 0.99)
        })
        .collect();
    p99s.sort();
    let count = |keep: fn(u16) -> bool| results.iter().filter(|(s, _)| keep(*s)).count();
    println!(
        "{backend:<9} {what}, {} x {TRIGGERS} at once: p50 {:.1} ms, p99 {:.1} ms (bursts' p99 {:.1}-{:.1} ms); 202 (jobs created): {}, 200: {}, 429: {}, 5xx: {}, other: {}",
        bursts.len(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(p99s.first().copied().unwrap_or_default()),
        ms(p99s.last().copied().unwrap_or_default()),
        count(|s| s == 202),
        count(|s| s == 200),
        count(|s| s == 429),
        count(|s| (500..600).contains(&s)),
        count(|s| ![200, 202, 429].contains(&s) && !(500..600).contains(&s)),
    );
}

/// Cancels the running sync and waits until no sync is active.
async fn cancel_active(client: &reqwest::Client, base: &str) {
    let active = |client: reqwest::Client| async move {
        let body: serde_json::Value = client
            .get(format!("{base}/admin/pricing/syncs/active"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("active syncs")
            .json()
            .await
            .expect("active syncs JSON");
        body["active_syncs"]
            .as_array()
            .map(|syncs| {
                syncs
                    .iter()
                    .filter_map(|s| s["sync_id"].as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    for id in active(client.clone()).await {
        let status = client
            .post(format!("{base}/admin/pricing/sync/{id}/cancel"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .map(|r| r.status().as_u16());
        assert!(
            matches!(status.as_ref().ok(), Some(200..=299)),
            "cancel {id}: {status:?}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !active(client.clone()).await.is_empty() {
        assert!(Instant::now() < deadline, "the cancelled sync never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn run(backend: &str, db: TestDatabase, only_cost: bool) {
    // 1,000 models, served after 15 s so the sync the first burst triggers
    // is still running during the others (at once for the cost figures
    // alone).
    let models: Vec<String> = (0..1000)
        .map(|i| {
            format!(
                r#"{{"id":"org/model-{i:04}","pricing":{{"prompt":"0.00000{}","completion":"0.0000{}"}}}}"#,
                1 + i % 9,
                1 + i % 7
            )
        })
        .collect();
    let body = format!("{{\"data\":[{}]}}", models.join(","));
    let provider = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/models"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(body)
                .set_delay(Duration::from_secs(if only_cost { 0 } else { 15 })),
        )
        .mount(&provider)
        .await;
    let (_server, base) = start(&db.url, &provider.uri());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(READ_CONNECTIONS)
        .build()
        .expect("client");

    let address = base.trim_start_matches("http://").to_owned();
    let trigger = request(&address, "POST /admin/pricing/sync/trigger");
    let health = request(&address, "GET /health");
    // Each round: a burst with no sync running (exactly one 202 expected),
    // bursts while that sync runs, the same bursts on /health (what the
    // machine's TCP and HTTP cost by themselves); then the sync is
    // cancelled, and the no-sync burst is repeated on kept-alive
    // connections and cancelled too, so the next round starts clean. Several rounds, so one noisy burst on
    // the shared cores does not make the figure.
    let (mut first, mut first_kept) = (Vec::new(), Vec::new());
    let (mut fresh, mut kept) = (Vec::new(), Vec::new());
    let (mut floor_fresh, mut floor_kept) = (Vec::new(), Vec::new());
    for _ in 0..if only_cost { 0 } else { ROUNDS } {
        first.push(burst(&address, &trigger, None).await);
        fresh.push(burst(&address, &trigger, None).await);
        let connections = open_connections(&address, &health).await;
        kept.push(burst(&address, &trigger, Some(connections)).await);
        floor_fresh.push(burst(&address, &health, None).await);
        let connections = open_connections(&address, &health).await;
        floor_kept.push(burst(&address, &health, Some(connections)).await);
        cancel_active(&client, &base).await;
        let connections = open_connections(&address, &health).await;
        first_kept.push(burst(&address, &trigger, Some(connections)).await);
        cancel_active(&client, &base).await;
    }
    if !only_cost {
        report_bursts(
            backend,
            [
                &first,
                &first_kept,
                &fresh,
                &kept,
                &floor_fresh,
                &floor_kept,
            ],
        );
    }
    let status = client
        .post(format!("{base}/admin/pricing/sync/trigger"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(status.ok(), Some(202), "a last sync for the read figures");

    // Wait for the sync to write the prices, then read one model hard.
    let deadline = Instant::now() + Duration::from_secs(60);
    let model_url = Arc::new(format!(
        "{base}/v1/pricing/models/openrouter/org/model-0042"
    ));
    loop {
        let status = client
            .get(model_url.as_str())
            .send()
            .await
            .map(|r| r.status().as_u16());
        if status.ok() == Some(200) {
            break;
        }
        assert!(Instant::now() < deadline, "the sync never wrote the prices");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !only_cost {
        let load = throughput(&client, Load::Get(model_url.clone()), READS).await;
        load.print(backend, "GET one model");
    }
    cost_figures(backend, &client, &base).await;
}

/// The trigger and `/health` bursts' lines.
fn report_bursts(backend: &str, bursts: [&[Vec<(u16, Duration)>]; 6]) {
    let [first, first_kept, fresh, kept, floor_fresh, floor_kept] = bursts;
    report(backend, "trigger, no sync running, new connections", first);
    report(
        backend,
        "trigger, no sync running, kept-alive connections",
        first_kept,
    );
    report(backend, "trigger, sync running, new connections", fresh);
    report(
        backend,
        "trigger, sync running, kept-alive connections",
        kept,
    );
    report(backend, "GET /health, new connections", floor_fresh);
    report(backend, "GET /health, kept-alive connections", floor_kept);
}

/// What each connection of a throughput run sends.
#[derive(Clone)]
enum Load {
    Get(Arc<String>),
    Post(Arc<String>, actix_web::web::Bytes),
}

/// A throughput run's figures.
struct Throughput {
    requests: usize,
    per_second: f64,
    latencies: Vec<Duration>,
    failures: usize,
}

impl Throughput {
    fn print(&self, backend: &str, what: &str) {
        println!(
            "{backend:<9} {what}, {READ_CONNECTIONS} connections, {} requests: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, failures {}",
            self.requests,
            self.per_second,
            ms(percentile(&self.latencies, 0.5)),
            ms(percentile(&self.latencies, 0.99)),
            self.failures,
        );
    }
}

/// `requests` requests over [`READ_CONNECTIONS`] kept-alive connections,
/// each connection sending its next request when its answer is read.
async fn throughput(client: &reqwest::Client, load: Load, requests: usize) -> Throughput {
    let started = Instant::now();
    let per_connection = requests / READ_CONNECTIONS;
    let tasks: Vec<_> = (0..READ_CONNECTIONS)
        .map(|_| {
            let (client, load) = (client.clone(), load.clone());
            tokio::spawn(async move {
                let mut seen = Vec::with_capacity(per_connection);
                let mut failures = 0;
                for _ in 0..per_connection {
                    let t = Instant::now();
                    let sent = match &load {
                        Load::Get(url) => client.get(url.as_str()).send().await,
                        Load::Post(url, body) => {
                            client
                                .post(url.as_str())
                                .header("content-type", "application/json")
                                .body(body.clone())
                                .send()
                                .await
                        }
                    };
                    match sent {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                        }
                        _ => failures += 1,
                    }
                    seen.push(t.elapsed());
                }
                (seen, failures)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(requests);
    let mut failures = 0;
    for task in tasks {
        let (seen, failed) = task.await.expect("task");
        latencies.extend(seen);
        failures += failed;
    }
    let wall = started.elapsed();
    latencies.sort();
    Throughput {
        requests: latencies.len(),
        per_second: latencies.len() as f64 / wall.as_secs_f64(),
        latencies,
        failures,
    }
}

const COST_ROUNDS: usize = 3;
const BATCHES: usize = 40;

/// One usage of model `i` (of the 1,000 the mock provider lists).
fn usage_item(i: usize, at: Option<&str>) -> serde_json::Value {
    let mut item = serde_json::json!({
        "provider": "openrouter",
        "model": format!("org/model-{:04}", i % 1000),
        "usage": {"input_tokens": 1200 + i as u64, "output_tokens": 300},
    });
    if let Some(at) = at {
        item["at"] = serde_json::json!(at);
    }
    item
}

/// `POST /v1/pricing/cost`: one usage per request with 64 connections,
/// alternating with `GET /health` rounds (the floor) on the same client;
/// then batches of 1000 usages one after another, priced now (in memory)
/// and at an instant (one query per batch).
async fn cost_figures(backend: &str, client: &reqwest::Client, base: &str) {
    let cost_url = Arc::new(format!("{base}/v1/pricing/cost"));
    let single = actix_web::web::Bytes::from(usage_item(42, None).to_string());
    let health = Load::Get(Arc::new(format!("{base}/health")));
    let cost = Load::Post(cost_url.clone(), single);
    // Warm both paths and the connection pool.
    throughput(client, health.clone(), 6_400).await;
    throughput(client, cost.clone(), 6_400).await;
    let (mut floors, mut costs) = (Vec::new(), Vec::new());
    for _ in 0..COST_ROUNDS {
        let floor = throughput(client, health.clone(), READS).await;
        floor.print(backend, "GET /health (floor)");
        let priced = throughput(client, cost.clone(), READS).await;
        priced.print(backend, "POST /v1/pricing/cost, one usage now");
        floors.push(floor.per_second);
        costs.push(priced.per_second);
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let (floor, priced) = (median(&mut floors), median(&mut costs));
    println!(
        "{backend:<9} cost, one usage now: median {priced:.0} req/s against /health {floor:.0} req/s = {:.0}% of the floor (budget: at least 70%)",
        100.0 * priced / floor
    );

    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats");
    for (what, at) in [("now", None), ("at an instant", Some(now.as_str()))] {
        let items: Vec<serde_json::Value> = (0..1000).map(|i| usage_item(i, at)).collect();
        let body = actix_web::web::Bytes::from(serde_json::json!({ "items": items }).to_string());
        let mut latencies = Vec::with_capacity(BATCHES);
        for round in 0..BATCHES + 3 {
            let t = Instant::now();
            let response = client
                .post(cost_url.as_str())
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .expect("a batch is answered");
            assert_eq!(response.status().as_u16(), 200, "batch {what}");
            let answer: serde_json::Value = response.json().await.expect("JSON");
            let priced = answer["items"].as_array().map_or(0, |items| {
                items.iter().filter(|i| i["ok"].is_object()).count()
            });
            assert_eq!(priced, 1000, "every usage of the batch is priced");
            // The first three warm the path.
            if round >= 3 {
                latencies.push(t.elapsed());
            }
        }
        latencies.sort();
        println!(
            "{backend:<9} POST /v1/pricing/cost, 1000 usages {what} ({} KiB), {BATCHES} batches one after another: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (budget: under 20 ms)",
            body.len() / 1024,
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99)),
            ms(latencies.last().copied().unwrap_or_default()),
        );
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let only_cost = std::env::args().any(|a| a == "cost");
        println!("HTTP load against the real binary (this process is the load generator)");
        run("sqlite", TestDatabase::sqlite().await, only_cost).await;
        match TestDatabase::postgres().await {
            Some(db) => run("postgres", db, only_cost).await,
            None => println!("postgres  not measured: no PostgreSQL available"),
        }
    });
}
