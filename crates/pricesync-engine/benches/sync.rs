//! Engine benchmark (DESIGN §12), on SQLite and, when one is available,
//! PostgreSQL:
//!
//! 1. **trigger → job started** with an idle worker: the time from calling
//!    [`EngineHandle::trigger`] to the worker reaching
//!    [`SyncPoint::JobStarted`], over 200 runs (min, median, p99). On
//!    PostgreSQL it is set beside a floor measured in the same run,
//!    interleaved with it: one `INSERT` + `NOTIFY` committed on one
//!    connection (a single round trip: `BEGIN; INSERT …; NOTIFY …; COMMIT`)
//!    and received on a `LISTEN`ing connection, timed from before that
//!    committing batch is sent to the notification's arrival. It is about
//!    the least any job queue on PostgreSQL can do to hand a new job to an
//!    idle worker; the scratch table lives in the bench's own schema;
//! 2. **full sync from a local mock**: a wiremock server plays Featherless
//!    (22,000 metered models, paged 1000 at a time the way the real fetcher
//!    asks) and OpenRouter (1,000 models on `/models`); the real fetchers
//!    from `build_fetchers` read it through `<PROVIDER>_BASE_URL`. Three
//!    jobs over both providers: first sync, unchanged re-sync (must write no
//!    price rows) and a sync where every 20th model's price changed. Wall
//!    time is trigger → [`SyncPoint::JobFinished`];
//! 3. **rescue of a dead worker's job** with the default timings: engine A
//!    claims a job whose fetch never returns and is aborted (a crash);
//!    engine B, already running, rescues the job and starts it. Both
//!    backends are measured at the same time (each on its own database), as
//!    each takes about half a minute of waiting.
//!
//! Run with `cargo bench -p pricesync-engine --bench sync` (`just bench`);
//! name sections to run only those, e.g.
//! `cargo bench -p pricesync-engine --bench sync -- trigger` (sections:
//! `trigger`, `sync`, `rescue`). PostgreSQL comes from `TEST_DATABASE_URL`,
//! or the local default (see `pricesync_store::testing`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::StreamExt;
use pricesync_domain::{
    parse_decimal, ComponentKey, JobState, Meter, PriceSource, ProviderId, RawOffering, RawPricing,
};
use pricesync_engine::{
    Engine, EngineConfig, EngineHandle, JobView, SchedulerConfig, SyncHooks, SyncPoint,
    TriggerOutcome, TriggerRequest,
};
use pricesync_providers::{build_fetchers, FetchError, FetchedList, HttpPolicy, PriceFetcher};
use pricesync_store::testing::TestDatabase;
use pricesync_store::{DatabaseUrl, HistoryQuery, Store};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TRIGGER_RUNS: usize = 200;
const FEATHERLESS_MODELS: usize = 22_000;
const OPENROUTER_MODELS: usize = 1_000;
/// No single wait of this bench should come near this.
const PATIENCE: Duration = Duration::from_secs(300);

// --- hooks and fetchers --------------------------------------------------------

/// Sends every pause point, with the time it was reached.
struct Recorder(mpsc::UnboundedSender<(SyncPoint, Instant)>);

#[async_trait]
impl SyncHooks for Recorder {
    async fn reached(&self, point: SyncPoint) {
        let _ = self.0.send((point, Instant::now()));
    }
}

type Points = mpsc::UnboundedReceiver<(SyncPoint, Instant)>;

fn recorder() -> (Arc<Recorder>, Points) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Arc::new(Recorder(tx)), rx)
}

/// Waits for the first point `want` accepts; returns when it was reached.
async fn until(points: &mut Points, want: impl Fn(&SyncPoint) -> bool) -> (SyncPoint, Instant) {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let (point, at) = points.recv().await.expect("the engine reports its points");
            if want(&point) {
                return (point, at);
            }
        }
    })
    .await
    .expect("the engine reaches the expected point in time")
}

async fn started(points: &mut Points, job: Uuid) -> Instant {
    until(
        points,
        |p| matches!(p, SyncPoint::JobStarted { job: j } if *j == job),
    )
    .await
    .1
}

async fn finished(points: &mut Points, job: Uuid) -> (Option<JobState>, Instant) {
    match until(
        points,
        |p| matches!(p, SyncPoint::JobFinished { job: j, .. } if *j == job),
    )
    .await
    {
        (SyncPoint::JobFinished { state, .. }, at) => (state, at),
        (other, _) => unreachable!("filtered: {other:?}"),
    }
}

/// A one-model list, at once.
struct QuickFetcher(ProviderId);

#[async_trait]
impl PriceFetcher for QuickFetcher {
    fn provider(&self) -> &ProviderId {
        &self.0
    }

    async fn fetch(&self) -> Result<FetchedList, FetchError> {
        Ok(FetchedList {
            models: vec![RawOffering {
                provider_model_id: "bench/model".to_owned(),
                display_name: None,
                context_length: None,
                source: PriceSource::Api,
                pricing: RawPricing::Metered(vec![(
                    ComponentKey::base(Meter::InputTokens),
                    parse_decimal("0.000001").expect("a decimal"),
                )]),
            }],
            skipped: vec![],
        })
    }
}

/// A fetch that never returns (the worker dies during it).
struct StuckFetcher {
    provider: ProviderId,
    entered: Notify,
}

#[async_trait]
impl PriceFetcher for StuckFetcher {
    fn provider(&self) -> &ProviderId {
        &self.provider
    }

    async fn fetch(&self) -> Result<FetchedList, FetchError> {
        self.entered.notify_one();
        std::future::pending().await
    }
}

fn bench_provider() -> ProviderId {
    ProviderId::parse("bench").expect("a provider name")
}

/// The documented defaults, without the scheduler (it would sync the
/// default providers, which this bench does not configure).
fn engine_config() -> EngineConfig {
    EngineConfig {
        scheduler: SchedulerConfig {
            enabled: false,
            ..SchedulerConfig::default()
        },
        ..EngineConfig::default()
    }
}

async fn start(
    store: &Store,
    fetchers: Vec<Arc<dyn PriceFetcher>>,
    hooks: Arc<Recorder>,
) -> EngineHandle {
    Engine::start(store.clone(), fetchers, engine_config(), Some(hooks))
        .await
        .expect("the engine starts")
}

async fn trigger(engine: &EngineHandle, providers: Option<&[&str]>) -> Uuid {
    let request = TriggerRequest {
        providers: providers.map(|p| p.iter().map(|s| (*s).to_owned()).collect()),
        dry_run: false,
        triggered_by: "bench".to_owned(),
    };
    match engine.trigger(request).await.expect("trigger") {
        TriggerOutcome::Queued(job) => job.id,
        other => panic!("expected a queued job, got {other:?}"),
    }
}

fn state_name(state: Option<JobState>) -> &'static str {
    state.map_or("re-queued/lost", JobState::as_str)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// --- 1. trigger → job started ----------------------------------------------------

/// Min, median and p99 (nearest rank) of `samples`, sorted in place.
struct Spread {
    min: Duration,
    median: Duration,
    p99: Duration,
}

impl Spread {
    fn of(samples: &mut [Duration]) -> Self {
        samples.sort();
        let rank = |q: f64| {
            let n = samples.len();
            let at = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
            samples[at]
        };
        Self {
            min: samples[0],
            median: rank(0.5),
            p99: rank(0.99),
        }
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "min {:>6.2} ms, median {:>6.2} ms, p99 {:>6.2} ms",
            ms(self.min),
            ms(self.median),
            ms(self.p99)
        )
    }
}

/// The PostgreSQL floor: a row inserted and a notification sent in one
/// committed batch on one connection, received on another that listens.
struct Floor {
    sender: AsyncPgConnection,
    arrivals: mpsc::UnboundedReceiver<Instant>,
    listener: tokio::task::JoinHandle<()>,
}

impl Floor {
    /// Sets up the scratch table and both connections on `url` (the
    /// bench's own schema).
    async fn new(url: &str) -> Self {
        let mut sender = AsyncPgConnection::establish(url)
            .await
            .expect("the floor's sending connection opens");
        sender
            .batch_execute(
                "CREATE TABLE bench_floor (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now())",
            )
            .await
            .expect("the scratch table is created");
        let mut listener = AsyncPgConnection::establish(url)
            .await
            .expect("the floor's listening connection opens");
        listener
            .batch_execute("LISTEN bench_floor")
            .await
            .expect("LISTEN");
        let (tx, arrivals) = mpsc::unbounded_channel();
        let listener = tokio::spawn(async move {
            let mut notifications = std::pin::pin!(listener.notifications_stream());
            while let Some(Ok(_)) = notifications.next().await {
                if tx.send(Instant::now()).is_err() {
                    return;
                }
            }
        });
        Self {
            sender,
            arrivals,
            listener,
        }
    }

    /// One insert + notify, from before the committing batch is sent to the
    /// notification's arrival.
    async fn sample(&mut self) -> Duration {
        let sent = Instant::now();
        self.sender
            .batch_execute(
                "BEGIN; INSERT INTO bench_floor DEFAULT VALUES; NOTIFY bench_floor; COMMIT",
            )
            .await
            .expect("insert + notify commits");
        let arrived = tokio::time::timeout(PATIENCE, self.arrivals.recv())
            .await
            .expect("the notification arrives in time")
            .expect("the listener runs");
        arrived.duration_since(sent)
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

async fn trigger_latency(backend: &str, store: &Store, mut floor: Option<Floor>) {
    let (hooks, mut points) = recorder();
    let fetcher: Arc<dyn PriceFetcher> = Arc::new(QuickFetcher(bench_provider()));
    let engine = start(store, vec![fetcher], hooks).await;
    let mut to_start = Vec::with_capacity(TRIGGER_RUNS);
    let mut trigger_call = Vec::with_capacity(TRIGGER_RUNS);
    let mut floors = Vec::with_capacity(TRIGGER_RUNS);
    // One warm-up run (connections, statement caches), then the measured
    // ones, each beside a floor sample so that both see the same machine.
    for run in 0..=TRIGGER_RUNS {
        let floor_sample = match &mut floor {
            Some(floor) => Some(floor.sample().await),
            None => None,
        };
        let sent = Instant::now();
        let job = trigger(&engine, None).await;
        let returned = sent.elapsed();
        let at = started(&mut points, job).await;
        let (state, _) = finished(&mut points, job).await;
        assert_eq!(state, Some(JobState::Completed), "bench job {job}");
        if run > 0 {
            to_start.push(at.duration_since(sent));
            trigger_call.push(returned);
            floors.extend(floor_sample);
        }
    }
    engine.shutdown().await;
    let to_start = Spread::of(&mut to_start);
    println!("{backend:<10} trigger → JobStarted:   {to_start}");
    println!(
        "{backend:<10} trigger call alone:     {}",
        Spread::of(&mut trigger_call)
    );
    if floors.is_empty() {
        return;
    }
    let floor = Spread::of(&mut floors);
    println!("{backend:<10} floor, INSERT+NOTIFY → received: {floor}");
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(f64::EPSILON);
    println!(
        "{backend:<10} trigger → JobStarted / floor: median {:.2}x, p99 {:.2}x",
        ratio(to_start.median, floor.median),
        ratio(to_start.p99, floor.p99),
    );
}

// --- 2. full sync from a local mock ------------------------------------------------

/// A Featherless catalog entry, metered (`pricing {input, output}`, USD per
/// 1M tokens). With `changed`, every 20th model's input price differs.
fn featherless_entry(i: usize, changed: bool) -> Value {
    let classes = [
        "llama3-8b",
        "llama31-8b",
        "mistral-v02-7b",
        "qwen25-14b",
        "qwen25-72b",
    ];
    let class = classes[i % classes.len()];
    let input = if changed && i.is_multiple_of(20) {
        "0.95".to_owned()
    } else {
        format!("0.{:02}", 10 + i % 80)
    };
    let context_length = [8192, 16384, 32768][i % 3];
    json!({
        "id": format!("author-{}/model-{i}-{class}", i % 997),
        "name": format!("model-{i}"),
        "created": 1_726_000_000 + i,
        "model_class": class,
        "context_length": context_length,
        "max_completion_tokens": 4096,
        "is_gated": i.is_multiple_of(7),
        "owned_by": format!("author-{}", i % 997),
        "pricing": { "input": input, "output": "0.4" },
    })
}

/// An OpenRouter model: string prices per token, cache prices, one in ten
/// with a long-context band, some dynamic and some free ones. With
/// `changed`, every 20th model's prompt price differs (none of those is
/// dynamic or free, and the new price is above every base price).
fn openrouter_entry(i: usize, changed: bool) -> Value {
    let prompt = if changed && i.is_multiple_of(20) {
        "0.0000011".to_owned()
    } else {
        format!("0.000000{}", 10 + i % 89)
    };
    let mut pricing = json!({
        "prompt": prompt,
        "completion": format!("0.00000{}", 1 + i % 9),
        "request": "0",
        "image": if i.is_multiple_of(4) { "0.001" } else { "0" },
        "web_search": "0",
        "internal_reasoning": "0",
        "input_cache_read": format!("0.0000000{}", 1 + i % 9),
        "input_cache_write": "0",
    });
    if i.is_multiple_of(10) {
        pricing["overrides"] = json!([{ "min_prompt_tokens": 200_000, "prompt": "0.000006" }]);
    }
    if i % 50 == 7 {
        pricing = json!({ "prompt": "-1", "completion": "-1" });
    }
    if i % 40 == 1 {
        pricing = json!({ "prompt": "0", "completion": "0" });
    }
    json!({
        "id": format!("vendor-{}/model-{i}", i % 60),
        "canonical_slug": format!("vendor-{}/model-{i}-20250101", i % 60),
        "name": format!("Vendor {}: Model {i}", i % 60),
        "created": 1_759_161_676 - i,
        "context_length": 131_072,
        "architecture": { "input_modalities": ["text"], "output_modalities": ["text"], "tokenizer": "Other" },
        "top_provider": { "context_length": 131_072, "max_completion_tokens": 8192, "is_moderated": false },
        "pricing": pricing,
        "supported_parameters": ["max_tokens", "temperature", "tools"],
    })
}

/// `{"data": [entries…]}` from serialized entries.
fn envelope(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut body = b"{\"data\":[".to_vec();
    for (n, entry) in entries.iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        body.extend_from_slice(entry);
    }
    body.extend_from_slice(b"]}");
    body
}

fn serialized(models: usize, entry: fn(usize, bool) -> Value, changed: bool) -> Vec<Vec<u8>> {
    (0..models)
        .map(|i| serde_json::to_vec(&entry(i, changed)).expect("serializes"))
        .collect()
}

/// Both providers' payloads, in two versions; `current` picks the one served.
struct Catalog {
    current: AtomicUsize,
    featherless: [Vec<Vec<u8>>; 2],
    openrouter: [Vec<u8>; 2],
}

impl Catalog {
    fn new() -> Self {
        let featherless =
            [false, true].map(|changed| serialized(FEATHERLESS_MODELS, featherless_entry, changed));
        let openrouter = [false, true]
            .map(|changed| envelope(&serialized(OPENROUTER_MODELS, openrouter_entry, changed)));
        Self {
            current: AtomicUsize::new(0),
            featherless,
            openrouter,
        }
    }

    fn serve_changed(&self, changed: bool) {
        self.current.store(usize::from(changed), Ordering::SeqCst);
    }
}

/// `GET /featherless/models?page=N&per_page=M`: numbered pages from 1, an
/// empty page past the end (as `featherless.rs` expects).
struct FeatherlessPages(Arc<Catalog>);

impl Respond for FeatherlessPages {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let query = |name: &str| {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse::<usize>().ok())
        };
        let (Some(page), Some(limit)) = (query("page"), query("per_page")) else {
            return ResponseTemplate::new(400).set_body_string("page and per_page are required");
        };
        let models = &self.0.featherless[self.0.current.load(Ordering::SeqCst)];
        let start = page
            .saturating_sub(1)
            .saturating_mul(limit)
            .min(models.len());
        let end = start.saturating_add(limit).min(models.len());
        ResponseTemplate::new(200).set_body_raw(envelope(&models[start..end]), "application/json")
    }
}

/// `GET /openrouter/models`: the whole list.
struct OpenRouterList(Arc<Catalog>);

impl Respond for OpenRouterList {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let body = self.0.openrouter[self.0.current.load(Ordering::SeqCst)].clone();
        ResponseTemplate::new(200).set_body_raw(body, "application/json")
    }
}

/// History rows with an id above `*after`; moves `*after` to the last one.
async fn new_history_rows(store: &Store, after: &mut Option<i64>) -> usize {
    let mut count = 0;
    loop {
        let page = store
            .price_history(&HistoryQuery {
                limit: 1000,
                after_id: *after,
                ..HistoryQuery::default()
            })
            .await
            .expect("history");
        count += page.entries.len();
        if let Some(last) = page.entries.last() {
            *after = Some(last.id);
        }
        if page.next_cursor.is_none() {
            return count;
        }
    }
}

fn provider_counts(view: &JobView) -> String {
    view.providers
        .iter()
        .map(|p| {
            format!(
                "{} {} {} ms: +{} ~{} ={} skipped {}",
                p.provider,
                p.status.as_str(),
                p.duration_ms,
                p.models_added,
                p.models_updated,
                p.models_unchanged,
                p.models_skipped
            )
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

async fn full_sync(backend: &str, store: &Store, server: &MockServer, catalog: &Catalog) {
    let base = server.uri();
    let lookup = move |name: &str| match name {
        "FEATHERLESS_BASE_URL" => Some(format!("{base}/featherless")),
        "OPENROUTER_BASE_URL" => Some(format!("{base}/openrouter")),
        _ => None,
    };
    let names = ["featherless".to_owned(), "openrouter".to_owned()];
    let fetchers =
        build_fetchers(&names, &lookup, HttpPolicy::default()).expect("the fetchers build");
    let (hooks, mut points) = recorder();
    let engine = start(store, fetchers, hooks).await;
    let mut history_cursor = None;
    for (step, changed) in [
        ("first sync", false),
        ("unchanged re-sync", false),
        ("5% changed", true),
    ] {
        catalog.serve_changed(changed);
        let sent = Instant::now();
        let job = trigger(&engine, None).await;
        let (state, at) = finished(&mut points, job).await;
        let wall = at.duration_since(sent);
        let view = engine.job(job).await.expect("job").expect("stored");
        let history = new_history_rows(store, &mut history_cursor).await;
        println!(
            "{backend:<10} {step:<18} {:>8.1} ms  {:<9} {history:>6} history rows written   [{}]",
            ms(wall),
            state_name(state),
            provider_counts(&view),
        );
        if step == "unchanged re-sync" && history > 0 {
            println!(
                "{backend:<10}   UNEXPECTED: an unchanged re-sync wrote {history} history rows"
            );
        }
        if state != Some(JobState::Completed) {
            println!(
                "{backend:<10}   job error: {}",
                view.job.error.as_deref().unwrap_or("-")
            );
        }
    }
    engine.shutdown().await;
}

// --- 3. rescue of a dead worker's job ------------------------------------------------

struct Rescue {
    abort_to_started: Duration,
    claim_to_abort: Duration,
    state: Option<JobState>,
    attempt: u32,
}

async fn rescue(store: Store) -> Rescue {
    // Engine A claims the job; its fetch never returns.
    let stuck = Arc::new(StuckFetcher {
        provider: bench_provider(),
        entered: Notify::new(),
    });
    let (hooks_a, mut points_a) = recorder();
    let a = start(
        &store,
        vec![stuck.clone() as Arc<dyn PriceFetcher>],
        hooks_a,
    )
    .await;
    let job = trigger(&a, None).await;
    let claimed = started(&mut points_a, job).await;
    stuck.entered.notified().await;

    // Engine B, default timings, runs before A dies (started only now, so
    // that it cannot claim the job before A does).
    let (hooks_b, mut points_b) = recorder();
    let quick: Arc<dyn PriceFetcher> = Arc::new(QuickFetcher(bench_provider()));
    let b = start(&store, vec![quick], hooks_b).await;

    // A crashes mid-fetch, holding the job and the provider's lease.
    let crashed = Instant::now();
    a.abort();
    let picked_up = started(&mut points_b, job).await;
    let (state, _) = finished(&mut points_b, job).await;
    let attempt = store
        .get_job(job)
        .await
        .expect("job")
        .map_or(0, |j| j.attempt);
    b.shutdown().await;
    Rescue {
        abort_to_started: picked_up.duration_since(crashed),
        claim_to_abort: crashed.duration_since(claimed),
        state,
        attempt,
    }
}

fn print_rescue(backend: &str, r: &Rescue) {
    println!(
        "{backend:<10} crash → job started by B: {:>6.2} s   (crash {:.0} ms after A's claim, i.e. its last heartbeat; the job then ended {} on attempt {})",
        r.abort_to_started.as_secs_f64(),
        ms(r.claim_to_abort),
        state_name(r.state),
        r.attempt,
    );
}

// --- main ------------------------------------------------------------------------------

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // `cargo bench` passes `--bench`; the other arguments name sections.
    let sections: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |section: &str| sections.is_empty() || sections.iter().any(|s| s == section);
    runtime.block_on(async {
        let not_measured = || println!("postgres   not measured: no PostgreSQL available");
        if run("trigger") {
            trigger_section(not_measured).await;
        }
        if run("sync") {
            sync_section(not_measured).await;
        }
        if run("rescue") {
            rescue_section(not_measured).await;
        }
    });
}

async fn trigger_section(not_measured: impl Fn()) {
    let sqlite = TestDatabase::sqlite().await;
    let postgres = TestDatabase::postgres().await;
    println!(
        "\n1. trigger → job started, idle worker ({TRIGGER_RUNS} runs after 1 warm-up; scheduler off, default timings)"
    );
    trigger_latency("sqlite", &sqlite.store, None).await;
    match &postgres {
        Some(db) => {
            let DatabaseUrl::Postgres(url) = &db.url else {
                unreachable!("a PostgreSQL test database has a PostgreSQL URL")
            };
            let floor = Floor::new(url).await;
            trigger_latency("postgres", &db.store, Some(floor)).await;
        }
        None => not_measured(),
    }
}

async fn sync_section(not_measured: impl Fn()) {
    println!(
            "\n2. full sync from a local mock: featherless {FEATHERLESS_MODELS} metered models (pages of {}) + openrouter {OPENROUTER_MODELS} models",
            pricesync_providers::featherless::DEFAULT_PAGE_SIZE
        );
    println!("   wall time = trigger → JobFinished; per provider: status, duration, +added ~updated =unchanged, skipped");
    let catalog = Arc::new(Catalog::new());
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/featherless/models"))
        .respond_with(FeatherlessPages(catalog.clone()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/openrouter/models"))
        .respond_with(OpenRouterList(catalog.clone()))
        .mount(&server)
        .await;
    // Fresh databases: the trigger runs left a provider of their own.
    let sync_sqlite = TestDatabase::sqlite().await;
    full_sync("sqlite", &sync_sqlite.store, &server, &catalog).await;
    drop(sync_sqlite);
    match TestDatabase::postgres().await {
        Some(db) => full_sync("postgres", &db.store, &server, &catalog).await,
        None => not_measured(),
    }
}

async fn rescue_section(not_measured: impl Fn()) {
    let defaults = EngineConfig::default();
    println!(
            "\n3. rescue of a dead worker's job, default timings (heartbeat {} s, rescue timeout {} s, janitor interval {} s, poll {} s);",
            defaults.heartbeat_interval.as_secs(),
            defaults.rescue_timeout.as_secs(),
            defaults.janitor_interval.as_secs(),
            defaults.poll_interval.as_secs(),
        );
    println!(
            "   expected between rescue timeout - heartbeat ({} s) and rescue timeout + janitor interval ({} s) after the crash;",
            defaults.rescue_timeout.saturating_sub(defaults.heartbeat_interval).as_secs(),
            (defaults.rescue_timeout + defaults.janitor_interval).as_secs(),
        );
    println!(
            "   B starts right after A's claim, so one of B's janitor passes (every {} s from B's start) comes just as",
            defaults.janitor_interval.as_secs()
        );
    println!(
        "   the job turns stale: the best case for a crash right after a heartbeat ({}-{} s);",
        defaults.rescue_timeout.as_secs(),
        (defaults.rescue_timeout + defaults.janitor_interval).as_secs(),
    );
    println!("   both backends measured at the same time, each on its own database");
    let rescue_sqlite = TestDatabase::sqlite().await;
    let rescue_postgres = TestDatabase::postgres().await;
    let (on_sqlite, on_postgres) = tokio::join!(rescue(rescue_sqlite.store.clone()), async {
        match &rescue_postgres {
            Some(db) => Some(rescue(db.store.clone()).await),
            None => None,
        }
    });
    print_rescue("sqlite", &on_sqlite);
    match &on_postgres {
        Some(r) => print_rescue("postgres", r),
        None => not_measured(),
    }
}
