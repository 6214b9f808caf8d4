//! Embedding the sync engine in another Rust service.
//!
//! The service brings its own price source (a [`PriceFetcher`] over an
//! in-memory price list, in USD per million tokens) and a SQLite store in a
//! temporary directory. It starts the engine, triggers a sync, waits for the
//! job to finish by polling [`EngineHandle::job`], reads a price back from
//! the store, cancels a second (slow) job while it runs, and shuts the
//! engine down.
//!
//! Run with `cargo run -p pricesync-engine --example embed`.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pricesync_domain::{
    parse_decimal, ComponentKey, JobState, Meter, PriceSource, PriceUnit, ProviderId, RawOffering,
    RawPricing, SkipReason, SkippedModel,
};
use pricesync_engine::{
    Engine, EngineConfig, EngineHandle, JobView, SchedulerConfig, TriggerOutcome, TriggerRequest,
};
use pricesync_providers::{FetchError, FetchedList, PriceFetcher};
use pricesync_store::{CancelOutcome, DatabaseUrl, PoolConfig, Store};
use uuid::Uuid;

/// The service's own price list: `(model, input, output)` in USD per
/// million tokens, as its finance team keeps it.
const HOUSE_PRICES: &[(&str, &str, &str)] = &[
    ("house/small", "0.15", "0.60"),
    ("house/large", "2.50", "10.00"),
    // A typo: skipped with a reason, the rest of the list goes on.
    ("house/broken", "1,20", "4.80"),
];

/// A fetcher over an in-memory price list. A real one would read a file,
/// a database or an internal API; the contract is the same: return every
/// model in USD per single unit (converted through [`PriceUnit`]), and
/// report the entries that cannot be read instead of failing the list.
struct HouseFetcher {
    provider: ProviderId,
    prices: &'static [(&'static str, &'static str, &'static str)],
    /// Simulates a slow source (for the cancel demo).
    delay: Option<Duration>,
}

impl HouseFetcher {
    fn new(name: &str, delay: Option<Duration>) -> Result<Self, Box<dyn Error>> {
        Ok(Self {
            provider: ProviderId::parse(name)?,
            prices: HOUSE_PRICES,
            delay,
        })
    }
}

/// A price in USD per million tokens, as USD per token.
fn per_token(text: &str) -> Result<pricesync_domain::Decimal, String> {
    let value = parse_decimal(text).map_err(|e| format!("{text:?}: {e}"))?;
    PriceUnit::UsdPerMillion
        .to_usd_per_unit(value)
        .map_err(|e| e.to_string())
}

#[async_trait]
impl PriceFetcher for HouseFetcher {
    fn provider(&self) -> &ProviderId {
        &self.provider
    }

    async fn fetch(&self) -> Result<FetchedList, FetchError> {
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
        let mut list = FetchedList::default();
        for (model, input, output) in self.prices {
            let key = |meter| ComponentKey::base(meter);
            match (per_token(input), per_token(output)) {
                (Ok(input), Ok(output)) => list.models.push(RawOffering {
                    provider_model_id: (*model).to_owned(),
                    display_name: None,
                    context_length: None,
                    source: PriceSource::Manual,
                    pricing: RawPricing::Metered(vec![
                        (key(Meter::InputTokens), input),
                        (key(Meter::OutputTokens), output),
                    ]),
                }),
                (Err(detail), _) | (_, Err(detail)) => list.skipped.push(SkippedModel {
                    provider_model_id: (*model).to_owned(),
                    reason: SkipReason::Unparseable(detail),
                }),
            }
        }
        Ok(list)
    }
}

/// Queues a sync of `provider`, or says which job is in the way.
async fn trigger(engine: &EngineHandle, provider: &str) -> Result<Uuid, Box<dyn Error>> {
    let request = TriggerRequest {
        providers: Some(vec![provider.to_owned()]),
        dry_run: false,
        triggered_by: "embed-example".to_owned(),
    };
    match engine.trigger(request).await? {
        TriggerOutcome::Queued(job) => {
            println!("queued job {} for {provider}", job.id);
            Ok(job.id)
        }
        TriggerOutcome::Busy {
            active, provider, ..
        } => Err(format!("{provider} is busy with job {}", active.id).into()),
    }
}

/// Polls the job until `done` says so (an example may poll; a service can
/// use `SyncHooks` instead), for at most `patience`.
async fn wait_for(
    engine: &EngineHandle,
    job: Uuid,
    patience: Duration,
    done: impl Fn(JobState) -> bool,
) -> Result<JobView, Box<dyn Error>> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let view = engine
            .job(job)
            .await?
            .ok_or_else(|| format!("job {job} vanished"))?;
        if done(view.job.state) {
            return Ok(view);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("job {job} is still {} after {patience:?}", view.job.state).into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run(store: Store) -> Result<(), Box<dyn Error>> {
    // Defaults (DESIGN §4-§6), without the scheduler: this service triggers
    // syncs itself. To sync on a schedule, keep it enabled and name the
    // providers: `SchedulerConfig { providers: vec!["house".into()], .. }`.
    let config = EngineConfig {
        scheduler: SchedulerConfig {
            enabled: false,
            ..SchedulerConfig::default()
        },
        ..EngineConfig::default()
    };
    let fetchers: Vec<Arc<dyn PriceFetcher>> = vec![
        Arc::new(HouseFetcher::new("house", None)?),
        Arc::new(HouseFetcher::new(
            "house-slow",
            Some(Duration::from_secs(3600)),
        )?),
    ];
    let engine = Engine::start(store.clone(), fetchers, config, None).await?;
    println!(
        "engine started: worker {}, providers {:?}",
        engine.config().worker_id,
        engine.providers()
    );

    // 1. A sync, start to finish.
    let job = trigger(&engine, "house").await?;
    let view = wait_for(&engine, job, Duration::from_secs(30), JobState::is_terminal).await?;
    println!(
        "job {} {} (attempt {}, {} of {} providers, {} models processed)",
        view.job.id,
        view.job.state,
        view.job.attempt,
        view.job.providers_done,
        view.job.providers_total,
        view.job.models_processed,
    );
    for p in &view.providers {
        println!(
            "  {}: {}, {} fetched, {} added, {} updated, {} unchanged, {} skipped, {} ms",
            p.provider,
            p.status.as_str(),
            p.models_fetched,
            p.models_added,
            p.models_updated,
            p.models_unchanged,
            p.models_skipped,
            p.duration_ms,
        );
    }

    // 2. Read a price back, as the service's billing code would.
    let house = ProviderId::parse("house")?;
    let model = store
        .get_model(&house, "house/small")
        .await?
        .ok_or("house/small was not stored")?;
    for price in &model.prices {
        println!(
            "  {} {}: {} USD per token",
            model.model_id, price.meter, price.usd_per_unit
        );
    }

    // 3. Cancel a running job: it stops at once and writes nothing.
    let slow = trigger(&engine, "house-slow").await?;
    wait_for(&engine, slow, Duration::from_secs(30), |s| {
        s != JobState::Queued
    })
    .await?;
    match engine.cancel(slow, "embed-example").await? {
        CancelOutcome::Requested(_) => println!("cancel of running job {slow} requested"),
        CancelOutcome::Cancelled(_) => println!("job {slow} cancelled before it started"),
        CancelOutcome::AlreadyFinished(job) => {
            println!("job {slow} had already ended {}", job.state)
        }
        CancelOutcome::NotFound => return Err(format!("job {slow} vanished").into()),
    }
    let view = wait_for(
        &engine,
        slow,
        Duration::from_secs(30),
        JobState::is_terminal,
    )
    .await?;
    println!(
        "job {} {}: {}",
        view.job.id,
        view.job.state,
        view.job.error.as_deref().unwrap_or("-")
    );

    // 4. Stop: no new jobs; a running job may finish within the grace.
    engine.shutdown().await;
    println!("engine stopped");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!("pricesync-embed-{}", Uuid::new_v4()));
    let url = DatabaseUrl::Sqlite(dir.join("prices.db"));
    let store = Store::connect(&url, &PoolConfig::default())?;
    store.migrate().await?;
    println!("store: {}", store.redacted_url());
    let result = run(store).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}
