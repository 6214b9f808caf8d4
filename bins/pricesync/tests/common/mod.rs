//! What the binary's tests share: the one test server ([`TestApp`]), an
//! in-process provider ([`StubProvider`]), the PostgreSQL rule
//! ([`postgres`]) and the macro that runs a case on both backends.
//!
//! Used by `bins/pricesync/tests/*.rs` and by the end-to-end tests in the
//! repository's `tests/` (through `#[path]`); each uses part of it.
#![allow(dead_code)]

use std::io::Write;
use std::sync::Arc;

use async_trait::async_trait;
use pricesync::{Application, Config};
use pricesync_domain::{
    diff_price_lists, parse_decimal, validate_price_list, ComponentKey, JobState, Meter,
    PriceSource, ProviderId, RawOffering, RawPricing, ShrinkGuard, ValidationPolicy,
};
use pricesync_engine::{SyncHooks, SyncPoint};
use pricesync_providers::{FetchError, FetchedList, PriceFetcher};
pub use pricesync_store::testing::TestDatabase;
use serde_json::Value;
use tokio::sync::{mpsc, Notify};
use uuid::Uuid;

/// The admin token of servers built with [`TestAppBuilder::admin_token`].
pub const TOKEN: &str = "test-token-0123456789";

/// A PostgreSQL test database under the suites' rule: required (and the
/// test fails without it) when `TEST_DATABASE_URL` is set; otherwise used
/// when the local server answers, and skipped when none does. A skip is
/// written to the test output: libtest captures `eprintln!` of passing
/// tests, so the line goes to the process's stderr directly.
pub async fn postgres(case: &str) -> Option<TestDatabase> {
    let db = TestDatabase::postgres().await;
    if db.is_none() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {case}: no PostgreSQL (TEST_DATABASE_URL is unset and nothing answers on 127.0.0.1:5432)"
        );
    }
    db
}

/// Defines `sqlite::<case>` and `postgres::<case>` tests that run
/// `async fn <case>(TestDatabase)` on a fresh database of each backend.
#[allow(unused_macros)] // Not every test crate has cases on both backends.
macro_rules! on_both_backends {
    ($($case:ident),+ $(,)?) => {
        mod sqlite { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$case($crate::common::TestDatabase::sqlite().await).await;
            }
        )+ }
        mod postgres { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let case = concat!(module_path!(), "::", stringify!($case));
                let Some(db) = $crate::common::postgres(case).await else { return };
                super::$case(db).await;
            }
        )+ }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_backends;

/// A metered model with `(meter, band, price)` components.
pub fn model(id: &str, prices: &[(Meter, u64, &str)]) -> RawOffering {
    RawOffering {
        provider_model_id: id.to_owned(),
        display_name: None,
        context_length: None,
        source: PriceSource::Api,
        pricing: RawPricing::Metered(
            prices
                .iter()
                .map(|(meter, band, price)| {
                    (
                        ComponentKey::band(*meter, *band),
                        parse_decimal(price).expect("price"),
                    )
                })
                .collect(),
        ),
    }
}

/// An in-process provider that answers with a fixed list, at once or
/// when its gate opens.
pub struct StubProvider {
    provider: ProviderId,
    models: Vec<RawOffering>,
    gate: Option<Arc<Notify>>,
}

impl StubProvider {
    /// `provider` answering `models` at once.
    pub fn new(provider: &str, models: Vec<RawOffering>) -> Self {
        Self {
            provider: ProviderId::parse(provider).expect("provider"),
            models,
            gate: None,
        }
    }

    /// Each fetch waits until `gate` is notified.
    pub fn gated(mut self, gate: Arc<Notify>) -> Self {
        self.gate = Some(gate);
        self
    }
}

#[async_trait]
impl PriceFetcher for StubProvider {
    fn provider(&self) -> &ProviderId {
        &self.provider
    }

    async fn fetch(&self) -> Result<FetchedList, FetchError> {
        if let Some(gate) = &self.gate {
            gate.notified().await;
        }
        Ok(FetchedList {
            models: self.models.clone(),
            skipped: vec![],
        })
    }
}

/// Reports finished jobs to the test.
struct Finished(mpsc::UnboundedSender<(Uuid, Option<JobState>)>);

#[async_trait]
impl SyncHooks for Finished {
    async fn reached(&self, point: SyncPoint) {
        if let SyncPoint::JobFinished { job, state } = point {
            let _ = self.0.send((job, state));
        }
    }
}

/// How to build a [`TestApp`].
pub struct TestAppBuilder {
    admin_tokens: Option<String>,
    fetchers: Vec<Arc<dyn PriceFetcher>>,
    http_workers: usize,
}

impl TestAppBuilder {
    /// Configure `ops:`[`TOKEN`] as the admin token.
    pub fn admin_token(mut self) -> Self {
        self.admin_tokens = Some(format!("ops:{TOKEN}"));
        self
    }

    /// Sync this provider (the configured providers are those given here;
    /// with none, the default list without fetchers).
    pub fn provider(mut self, fetcher: impl PriceFetcher + 'static) -> Self {
        self.fetchers.push(Arc::new(fetcher));
        self
    }

    /// Sync this provider, built elsewhere (e.g. by
    /// `pricesync_providers::build_fetchers`).
    pub fn fetcher(mut self, fetcher: Arc<dyn PriceFetcher>) -> Self {
        self.fetchers.push(fetcher);
        self
    }

    /// Serve with this many HTTP workers.
    pub fn http_workers(mut self, workers: usize) -> Self {
        self.http_workers = workers;
        self
    }

    /// The real server on port 0 over `db`, scheduler off, its engine
    /// reporting finished jobs to [`TestApp::wait_finished`].
    pub async fn start(self, db: TestDatabase) -> TestApp {
        let providers = (!self.fetchers.is_empty()).then(|| {
            self.fetchers
                .iter()
                .map(|f| f.provider().as_str().to_owned())
                .collect::<Vec<_>>()
                .join(",")
        });
        let tokens = self.admin_tokens;
        let lookup = |name: &str| match name {
            "PRICESYNC_ADMIN_TOKENS" => tokens.clone(),
            "PRICING_SYNC_PROVIDERS" => providers.clone(),
            "PRICING_SYNC_ENABLED" => Some("false".to_owned()),
            _ => None,
        };
        let mut config = Config::from_lookup(lookup).expect("config");
        config.database_url = db.url.clone();
        config.bind_addr = "127.0.0.1:0".parse().expect("address");
        config.http_workers = Some(self.http_workers);
        let (tx, finished) = mpsc::unbounded_channel();
        let app = Application::build(&config, self.fetchers, Some(Arc::new(Finished(tx))))
            .await
            .expect("server builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        let catalogue = app.catalogue();
        tokio::spawn(app.run_until_stopped());
        TestApp {
            base,
            client: reqwest::Client::new(),
            finished,
            handle,
            db,
            catalogue,
        }
    }
}

/// The real server on port 0, stopped when dropped.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// A client for it.
    pub client: reqwest::Client,
    /// Its database.
    pub db: TestDatabase,
    /// Its in-memory copy of the current prices.
    pub catalogue: Arc<pricesync::catalogue::Catalogue>,
    finished: mpsc::UnboundedReceiver<(Uuid, Option<JobState>)>,
    handle: actix_web::dev::ServerHandle,
}

impl TestApp {
    /// No admin token, no provider, one HTTP worker.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            admin_tokens: None,
            fetchers: Vec::new(),
            http_workers: 1,
        }
    }

    /// Sends a request, with `token` as bearer token and `body` as JSON.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request")
    }

    /// `GET path` without a token: the status and the JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.call(reqwest::Method::GET, path, None, None).await;
        json_answer(response, "GET", path).await
    }

    /// Calls with [`TOKEN`]: the status and the JSON body.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let name = method.to_string();
        let response = self.call(method, path, Some(TOKEN), body).await;
        json_answer(response, &name, path).await
    }

    /// Waits until the engine reports `job` finished; its final state.
    pub async fn wait_finished(&mut self, job: Uuid) -> Option<JobState> {
        loop {
            let (id, state) = self
                .finished
                .recv()
                .await
                .expect("the engine reports finished jobs");
            if id == job {
                return state;
            }
        }
    }

    /// Writes `models` as `provider`'s prices, as another process's sync
    /// would, then has the server check for changes (as it does every
    /// `PRICESYNC_CATALOGUE_CHECK_SECS`), so that its costs "now" see them.
    pub async fn seed(&self, provider: &str, models: Vec<RawOffering>) {
        self.seed_unseen(provider, models).await;
        self.catalogue
            .refresh()
            .await
            .expect("the catalogue reloads");
    }

    /// Writes `models` as `provider`'s prices, as another process's sync
    /// would, without the server's periodic check.
    pub async fn seed_unseen(&self, provider: &str, models: Vec<RawOffering>) {
        let provider = ProviderId::parse(provider).expect("provider");
        let store = &self.db.store;
        let stored = store.load_provider_prices(&provider).await.expect("load");
        let fresh = validate_price_list(models, &ValidationPolicy::default());
        let diff = diff_price_lists(&stored, &fresh, ShrinkGuard::default());
        store
            .apply_price_diff(&provider, &diff, None, None)
            .await
            .expect("apply");
    }
}

async fn json_answer(response: reqwest::Response, method: &str, path: &str) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
    (status, value)
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stopping the server lets run_until_stopped shut the engine down.
        drop(self.handle.stop(false));
    }
}

/// The admin token of [`spawn_binary`]'s servers (`ops:`).
pub const E2E_TOKEN: &str = "e2e-token-0123456789";

/// The real `pricesync serve` binary on `bind` over `database`, syncing
/// openrouter from `provider_url`, scheduler off, admin token
/// `ops:`[`E2E_TOKEN`], plus the `extra` variables. Returns the child and
/// its base URL (read from its log; the rest of the log is drained so the
/// child never blocks on a full pipe).
pub fn spawn_binary(
    database: &pricesync_store::DatabaseUrl,
    bind: &str,
    provider_url: &str,
    extra: &[(&str, &str)],
) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let database_url = match database {
        pricesync_store::DatabaseUrl::Postgres(u) => u.clone(),
        pricesync_store::DatabaseUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
    };
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_pricesync"));
    command
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .env("DATABASE_URL", database_url)
        .env("PRICESYNC_BIND_ADDR", bind)
        .env("PRICESYNC_ADMIN_TOKENS", format!("ops:{E2E_TOKEN}"))
        .env("PRICING_SYNC_PROVIDERS", "openrouter")
        .env("PRICING_SYNC_ENABLED", "false")
        .env("OPENROUTER_BASE_URL", provider_url)
        .stderr(std::process::Stdio::piped());
    for (k, v) in extra {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("the binary starts");
    let stderr = child.stderr.take().expect("piped");
    let mut lines = BufReader::new(stderr).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("the server logs its address")
            .expect("readable log");
        if let Some(rest) = line.split("address=").nth(1) {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    (child, format!("http://{address}"))
}

/// The real binary (see [`spawn_binary`]), killed when dropped.
pub struct Server {
    child: std::process::Child,
    /// `http://<address>`.
    pub base: String,
}

impl Server {
    /// Starts `pricesync serve` on `bind` over `url`, syncing openrouter
    /// from `provider_url`.
    pub fn start(url: &pricesync_store::DatabaseUrl, provider_url: &str, bind: &str) -> Self {
        Self::start_with(url, provider_url, bind, &[])
    }

    /// The same, with the `extra` variables.
    pub fn start_with(
        url: &pricesync_store::DatabaseUrl,
        provider_url: &str,
        bind: &str,
        extra: &[(&str, &str)],
    ) -> Self {
        let (child, base) = spawn_binary(url, bind, provider_url, extra);
        Self { child, base }
    }

    /// Kills it (SIGKILL: nothing is finished or handed over).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs a sync of the server's providers through the admin API and waits
/// until it completed; its id.
pub async fn sync(http: &reqwest::Client, base: &str) -> String {
    let accepted: Value = http
        .post(format!("{base}/admin/pricing/sync/trigger"))
        .bearer_auth(E2E_TOKEN)
        .send()
        .await
        .expect("trigger")
        .json()
        .await
        .expect("JSON");
    let poll = format!("{base}{}", accepted["poll_url"].as_str().expect("poll url"));
    wait_for("the sync to complete", || async {
        let sync = admin_get(http, &poll).await?;
        (sync["status"] == "completed").then_some(())
    })
    .await;
    accepted["sync_id"].as_str().expect("a sync id").to_owned()
}

/// `GET url` with the end-to-end admin token: its JSON body, or `None`
/// when the server does not answer with JSON (yet), for [`wait_for`].
pub async fn admin_get(http: &reqwest::Client, url: &str) -> Option<Value> {
    http.get(url)
        .bearer_auth(E2E_TOKEN)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// Polls `check` until it gives a value, for at most 30 s.
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A loopback address with a port free at the time of asking.
pub fn free_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = listener.local_addr().expect("address").to_string();
    drop(listener);
    address
}
