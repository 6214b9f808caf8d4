//! HTTP load against the real `pricesync` binary, from this separate
//! process: 1000 concurrent triggers (p50, p99, 5xx, jobs created) and the
//! read API's throughput and p99 for one model with 64 connections, on
//! SQLite and on PostgreSQL when one is available.
//!
//! Run with `cargo bench -p pricesync --bench http_load` (`just bench`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pricesync_store::testing::TestDatabase;
use pricesync_store::DatabaseUrl;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "bench-token-0123456789";
const TRIGGERS: usize = 1000;
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

async fn run(backend: &str, db: TestDatabase) {
    // 1,000 models, served after 3 s so the triggered sync is still running
    // while the burst arrives.
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
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&provider)
        .await;
    let (_server, base) = start(&db.url, &provider.uri());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(TRIGGERS)
        .build()
        .expect("client");

    let url = Arc::new(format!("{base}/admin/pricing/sync/trigger"));
    let tasks: Vec<_> = (0..TRIGGERS)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let status = client
                    .post(url.as_str())
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                (status, started.elapsed())
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(TRIGGERS);
    let (mut accepted, mut refused, mut server_errors, mut other) = (0, 0, 0, 0);
    for task in tasks {
        let (status, elapsed) = task.await.expect("task");
        latencies.push(elapsed);
        match status {
            202 => accepted += 1,
            429 => refused += 1,
            500..=599 => server_errors += 1,
            _ => other += 1,
        }
    }
    latencies.sort();
    println!(
        "{backend:<9} trigger x{TRIGGERS} concurrent: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; 202: {accepted} (jobs created), 429: {refused}, 5xx: {server_errors}, other: {other}",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(percentile(&latencies, 1.0)),
    );

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
    let started = Instant::now();
    let per_connection = READS / READ_CONNECTIONS;
    let tasks: Vec<_> = (0..READ_CONNECTIONS)
        .map(|_| {
            let (client, url) = (client.clone(), model_url.clone());
            tokio::spawn(async move {
                let mut seen = Vec::with_capacity(per_connection);
                let mut failures = 0;
                for _ in 0..per_connection {
                    let t = Instant::now();
                    match client.get(url.as_str()).send().await {
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
    let mut reads = Vec::with_capacity(READS);
    let mut failures = 0;
    for task in tasks {
        let (seen, failed) = task.await.expect("task");
        reads.extend(seen);
        failures += failed;
    }
    let wall = started.elapsed();
    reads.sort();
    println!(
        "{backend:<9} GET one model, {READ_CONNECTIONS} connections, {} requests: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, failures {failures}",
        reads.len(),
        reads.len() as f64 / wall.as_secs_f64(),
        ms(percentile(&reads, 0.5)),
        ms(percentile(&reads, 0.99)),
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!("HTTP load against the real binary (this process is the load generator)");
        run("sqlite", TestDatabase::sqlite().await).await;
        match TestDatabase::postgres().await {
            Some(db) => run("postgres", db).await,
            None => println!("postgres  not measured: no PostgreSQL available"),
        }
    });
}
