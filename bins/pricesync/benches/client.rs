//! `pricesync-client` against the real server, in this process: the server
//! (`pricesync::Application`) over SQLite, and over PostgreSQL when one is
//! available, with 30,000 models of 3 to 5 price components.
//!
//! 1. Propagation: a price write commits (timed when the store reports the
//!    commit) → a client long-polling the change feed holds the new price
//!    (the bench spins on the client's copy). On PostgreSQL also across two
//!    replicas: written through one server, the client follows the other.
//! 2. The client's in-process cost of one usage while its copy is being
//!    replaced by a background stream of price changes, beside the domain
//!    `cost` on the same card in the same run (the floor).
//! 3. The memory the client's copy holds: this process's resident memory
//!    after the client connected, less before. The server in the same
//!    process answered the load meanwhile, and the allocator keeps some of
//!    what that answer used: the figure is an upper bound of the copy.
//!
//! Run with `cargo bench -p pricesync --bench client` (`just bench`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pricesync::{Application, Config};
use pricesync_client::{Client, ClientOptions, Usage};
use pricesync_domain::{
    diff_price_lists, parse_decimal, validate_price_list, ComponentKey, Meter, PriceDiff,
    PriceSource, ProviderId, RawOffering, RawPricing, ShrinkGuard, ValidationPolicy,
};
use pricesync_store::testing::TestDatabase;
use pricesync_store::{DatabaseUrl, Store};
use time::OffsetDateTime;

/// This process's resident memory, in bytes (Linux `/proc/self/statm`).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

const MODELS: usize = 30_000;
const PROPAGATIONS: usize = 30;
const COSTS: usize = 200_000;
const PROVIDER: &str = "openrouter";

/// Model `i` with 3 to 5 components; `bump` moves its input price.
fn model(i: usize, bump: usize) -> RawOffering {
    let price = |text: String| parse_decimal(&text).expect("price");
    let mut parts = vec![
        (
            ComponentKey::base(Meter::InputTokens),
            price(format!("{}e-9", 1000 + i + bump)),
        ),
        (
            ComponentKey::base(Meter::OutputTokens),
            price(format!("{}e-9", 4000 + i)),
        ),
        (
            ComponentKey::base(Meter::CacheReadTokens),
            price(format!("{}e-10", 1000 + i)),
        ),
    ];
    if !i.is_multiple_of(3) {
        parts.push((
            ComponentKey::band(Meter::InputTokens, 200_000),
            price(format!("{}e-9", 2000 + i)),
        ));
    }
    if i % 3 == 2 {
        parts.push((
            ComponentKey::base(Meter::CacheWrite5mTokens),
            price(format!("{}e-9", 1250 + i)),
        ));
    }
    RawOffering {
        provider_model_id: format!("org/model-{i:05}"),
        display_name: None,
        context_length: None,
        source: PriceSource::Api,
        pricing: RawPricing::Metered(parts),
    }
}

/// The diff that writes `models` as the provider's list.
async fn diff_to(store: &Store, models: Vec<RawOffering>) -> PriceDiff {
    let provider = ProviderId::parse(PROVIDER).expect("provider");
    let stored = store.load_provider_prices(&provider).await.expect("load");
    let fresh = validate_price_list(models, &ValidationPolicy::default());
    diff_price_lists(
        &stored,
        &fresh,
        ShrinkGuard {
            min_listed_percent: 0,
        },
    )
}

/// Writes a diff; returns when committed.
async fn apply(store: &Store, diff: &PriceDiff) {
    let provider = ProviderId::parse(PROVIDER).expect("provider");
    store
        .apply_price_diff(&provider, diff, None, None)
        .await
        .expect("write");
}

/// Writes `models` as the provider's list.
async fn write(store: &Store, models: Vec<RawOffering>) {
    let diff = diff_to(store, models).await;
    apply(store, &diff).await;
}

/// The diff of one model's new input price, the rest as it was.
async fn change_of_one(store: &Store, model_index: usize, bump: usize) -> PriceDiff {
    let models = (0..MODELS)
        .map(|i| model(i, if i == model_index { bump } else { 0 }))
        .collect();
    diff_to(store, models).await
}

/// One model's new input price, written.
async fn change_one(store: &Store, model_index: usize, bump: usize) {
    let diff = change_of_one(store, model_index, bump).await;
    apply(store, &diff).await;
}

async fn start(url: &DatabaseUrl) -> (Application, String) {
    let lookup = |name: &str| match name {
        "PRICING_SYNC_ENABLED" => Some("false".to_owned()),
        "PRICING_SYNC_PROVIDERS" => Some(PROVIDER.to_owned()),
        _ => None,
    };
    let mut config = Config::from_lookup(lookup).expect("config");
    config.database_url = url.clone();
    config.bind_addr = "127.0.0.1:0".parse().expect("address");
    let app = Application::build(&config, Vec::new(), None)
        .await
        .expect("server");
    let base = format!("http://127.0.0.1:{}", app.port());
    (app, base)
}

fn input_price(client: &Client, model: &str) -> Option<String> {
    let card = client.card(PROVIDER, model)?;
    card.components
        .iter()
        .find(|c| c.component.key() == ComponentKey::base(Meter::InputTokens))
        .map(|c| c.component.usd_per_unit.to_string())
}

/// Write → the client holds the new price, `PROPAGATIONS` times: from the
/// start of the write transaction (a one-model diff, prepared beforehand)
/// to the client's copy holding the price, so the commit → client time
/// is at most this. Each change is written through `writer` and followed by
/// `client`.
async fn propagation(writer: &Store, client: &Client) -> Vec<Duration> {
    let mut times = Vec::with_capacity(PROPAGATIONS);
    for n in 0..PROPAGATIONS {
        let index = n * 997 % MODELS;
        let id = format!("org/model-{index:05}");
        let bump = 500 + n;
        let expected = format!(
            "{}",
            parse_decimal(&format!("{}e-9", 1000 + index + bump))
                .expect("price")
                .normalize()
        );
        let diff = change_of_one(writer, index, bump).await;
        let committed = Instant::now();
        apply(writer, &diff).await;
        let deadline = committed + Duration::from_secs(30);
        while input_price(client, &id).as_deref() != Some(expected.as_str()) {
            assert!(
                Instant::now() < deadline,
                "the client never saw {id} at {expected}"
            );
            tokio::task::yield_now().await;
        }
        times.push(committed.elapsed());
        // Back to the listed price, unmeasured.
        change_one(writer, index, 0).await;
    }
    times
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn report_times(backend: &str, what: &str, times: Vec<Duration>) {
    let mut sorted = times.clone();
    sorted.sort();
    println!(
        "{backend:<9} {what:<44} median {:>7.1} ms  p90 {:>7.1} ms  max {:>7.1} ms  (n={})",
        median(times).as_secs_f64() * 1000.0,
        sorted[sorted.len() * 9 / 10].as_secs_f64() * 1000.0,
        sorted[sorted.len() - 1].as_secs_f64() * 1000.0,
        sorted.len()
    );
}

async fn run(backend: &str, db: TestDatabase, second: Option<DatabaseUrl>, weigh: bool) {
    write(&db.store, (0..MODELS).map(|i| model(i, 0)).collect()).await;
    let (app, base) = start(&db.url).await;
    let handle = app.handle();
    let store = app.store().clone();
    tokio::spawn(app.run_until_stopped());

    // 3. Memory: live heap before and after the client loaded its copy.
    let options = ClientOptions {
        wait: Duration::from_secs(20),
        ..ClientOptions::default()
    };
    // A first client warms the server's answer path (its buffers are
    // reused, not grown, by the second load); the second client's growth
    // of resident memory is then its copy, its HTTP client and the parse.
    let client = Client::connect(&base, options.clone())
        .await
        .expect("client");
    // Three more clients, each with its own copy: the growth divided by
    // three is one copy (the loads' passing buffers are reused from one
    // load to the next, so they count once, not three times).
    const MORE: usize = 3;
    if weigh {
        let before = resident_bytes();
        let mut more = Vec::with_capacity(MORE);
        for _ in 0..MORE {
            more.push(
                Client::connect(&base, options.clone())
                    .await
                    .expect("client"),
            );
        }
        let after = resident_bytes();
        match (before, after) {
        (Some(before), Some(after)) => println!(
            "{backend:<9} client copy of {} models (3-5 components)  {:>6.1} MiB (resident memory grown by {MORE} more clients, divided by {MORE})",
            client.status().models,
            after.saturating_sub(before) as f64 / (MORE as f64 * 1024.0 * 1024.0)
        ),
        _ => println!("{backend:<9} client copy: /proc/self/statm unreadable, memory not measured"),
    }
        drop(more);
    } else {
        // Resident memory only grows in a fresh process: later runs reuse
        // what the first one freed.
        println!("{backend:<9} client copy: weighed in the first run only");
    }

    // 1. Propagation through the same server.
    report_times(
        backend,
        "write start -> long-polling client has it",
        propagation(&store, &client).await,
    );

    // 2. Cost in process while the copy is replaced in the background.
    let usage = Usage {
        cache_read_tokens: 1_000,
        ..Usage::tokens(250_000, 800)
    };
    let at = OffsetDateTime::now_utc();
    let target = "org/model-00002";
    let card = client.card(PROVIDER, target).expect("card");
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                change_one(&store, (n * 13) % MODELS, n % 7).await;
            }
            n
        })
    };
    let measure = |f: &dyn Fn() -> bool| {
        let mut times = Vec::with_capacity(COSTS / 100);
        let until = Instant::now() + Duration::from_secs(3);
        while times.len() < COSTS / 100 || Instant::now() < until {
            let started = Instant::now();
            for _ in 0..100 {
                assert!(f());
            }
            times.push(started.elapsed() / 100);
        }
        median(times)
    };
    let via_client = tokio::task::block_in_place(|| {
        measure(&|| std::hint::black_box(client.cost(PROVIDER, target, &usage, at)).is_ok())
    });
    let floor = tokio::task::block_in_place(|| {
        measure(&|| std::hint::black_box(pricesync_domain::cost(&card, &usage, at)).is_ok())
    });
    stop.store(true, Ordering::SeqCst);
    let changes = churn.await.expect("churn");
    println!(
        "{backend:<9} client.cost, one usage (copy replaced {changes}x meanwhile)   median {:>6.0} ns   floor: domain cost on the card {:>6.0} ns",
        via_client.as_nanos() as f64,
        floor.as_nanos() as f64
    );

    // 1b. Two replicas on one PostgreSQL: written through this server,
    // followed by a client of another.
    if let Some(url) = second {
        let (other, other_base) = start(&url).await;
        let other_handle = other.handle();
        tokio::spawn(other.run_until_stopped());
        let remote = Client::connect(&other_base, options).await.expect("client");
        report_times(
            backend,
            "write on replica A -> client of replica B has it",
            propagation(&store, &remote).await,
        );
        drop(remote);
        other_handle.stop(true).await;
    }
    drop(client);
    handle.stop(true).await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!(
            "pricesync-client: {MODELS} models; propagation over {PROPAGATIONS} changes; cost: median of batches of 100 over at least 3 s and {} batches",
            COSTS / 100
        );
        run("sqlite", TestDatabase::sqlite().await, None, true).await;
        match TestDatabase::postgres().await {
            Some(db) => {
                let url = db.url.clone();
                run("postgres", db, Some(url), false).await;
            }
            None => println!("postgres  skipped: no PostgreSQL answers"),
        }
    });
}
