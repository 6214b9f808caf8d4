//! Operator commands that run in the foreground.

use std::process::ExitCode;

use anyhow::Context;
use pricesync_domain::{validate_price_list, PricingKind};

use crate::api::types::admin::{ActiveSyncs, SchedulerStatus, SyncJob, SyncSummary};
use crate::api::types::cost::CostItem;
use crate::api::types::read::Model;
use crate::api::types::ErrorBody;
use crate::Config;

/// Prints `value` as pretty JSON on stdout.
fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).context("serialising the output")?
    );
    Ok(())
}

/// `pricesync fetch --json`: a provider's list as validated, with what was
/// skipped and why (no API body shows a fetched list).
#[derive(serde::Serialize)]
struct FetchOutput<'a> {
    provider: &'a str,
    fetched: usize,
    valid: usize,
    models: &'a [pricesync_domain::ModelOffering],
    skipped: &'a [pricesync_domain::SkippedModel],
}

/// `pricesync status --json`: the body of `GET /admin/pricing/scheduler/status`
/// and that of `GET /admin/pricing/syncs/active`, side by side.
#[derive(serde::Serialize)]
struct StatusOutput {
    #[serde(flatten)]
    scheduler: SchedulerStatus,
    #[serde(flatten)]
    active: ActiveSyncs,
}

/// `pricesync fetch <provider> [--json]`: fetches one provider and prints
/// the normalised list (counts, skipped models with reasons) without
/// touching the database. Exit code 1 when the fetch fails.
pub async fn fetch(
    config: &Config,
    provider: &str,
    as_json: bool,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<ExitCode> {
    let fetchers =
        pricesync_providers::build_fetchers(&[provider.to_owned()], lookup, config.http.clone())
            .context("cannot set up the provider")?;
    let Some(fetcher) = fetchers.into_iter().next() else {
        anyhow::bail!("no fetcher was built for {provider}");
    };
    let fetched = match fetcher.fetch().await {
        Ok(list) => list,
        Err(e) => {
            eprintln!("error: fetching {provider} failed ({}): {e}", e.kind());
            return Ok(ExitCode::FAILURE);
        }
    };
    let total = fetched.models.len() + fetched.skipped.len();
    let mut validated = validate_price_list(fetched.models, &config.engine.sync.validation);
    validated.add_skipped(fetched.skipped);
    let (offerings, skipped) = validated.into_parts();
    if as_json {
        print_json(&FetchOutput {
            provider,
            fetched: total,
            valid: offerings.len(),
            models: &offerings,
            skipped: &skipped,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let count = |kind: PricingKind| {
        offerings
            .iter()
            .filter(|o| o.pricing_kind() == kind)
            .count()
    };
    println!(
        "{provider}: {total} fetched, {} valid ({} metered, {} free, {} dynamic, {} subscription, {} unknown), {} skipped",
        offerings.len(),
        count(PricingKind::Metered),
        count(PricingKind::Free),
        count(PricingKind::Dynamic),
        count(PricingKind::Subscription),
        count(PricingKind::Unknown),
        skipped.len()
    );
    for s in &skipped {
        println!(
            "  skipped {}: {} [{}]",
            s.provider_model_id,
            s.reason,
            s.reason.code()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Options of `pricesync sync`.
#[derive(Debug, Clone, Default)]
pub struct SyncArgs {
    /// Providers; empty for every configured one.
    pub providers: Vec<String>,
    /// Report the diff, write no prices.
    pub dry_run: bool,
    /// Print the result as JSON.
    pub json: bool,
}

/// `pricesync sync`: runs a sync in the foreground with an in-process
/// engine (scheduler off), shows progress on a terminal and a summary table.
/// Exit code 0 only when the job completed (every provider succeeded); 2
/// when another sync of the same providers is queued or running.
pub async fn sync(
    config: &Config,
    args: SyncArgs,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<ExitCode> {
    use pricesync_engine::{Engine, TriggerOutcome, TriggerRequest};
    use std::io::{IsTerminal, Write};

    let store = crate::server::open_store(config).await?;
    store
        .migrate()
        .await
        .context("cannot bring the database schema up to date")?;
    let fetchers = crate::server::configured_fetchers(config, lookup)?;
    let mut engine_config = config.engine.clone();
    engine_config.scheduler.enabled = false;
    engine_config.workers = 1;
    let engine = Engine::start(store.clone(), fetchers, engine_config, None)
        .await
        .context("cannot start the sync engine")?;
    let outcome = engine
        .trigger(TriggerRequest {
            providers: (!args.providers.is_empty()).then(|| args.providers.clone()),
            dry_run: args.dry_run,
            triggered_by: "cli".to_owned(),
        })
        .await;
    let job = match outcome {
        Ok(TriggerOutcome::Queued(job)) => job,
        Ok(TriggerOutcome::Busy {
            active, provider, ..
        }) => {
            engine.shutdown().await;
            eprintln!(
                "error: a sync of {provider} is already {} (sync {}, by {}); wait for it or cancel it with `pricesync cancel {}`",
                active.state, active.id, active.triggered_by, active.id
            );
            return Ok(ExitCode::from(2));
        }
        Err(e) => {
            engine.shutdown().await;
            return Err(e.into());
        }
    };
    let terminal = std::io::stderr().is_terminal() && !args.json;
    let mut shown = None;
    let record = loop {
        let Some(current) = store.get_job(job.id).await? else {
            anyhow::bail!("sync {} disappeared", job.id);
        };
        if terminal && shown != Some((current.providers_done, current.state)) {
            shown = Some((current.providers_done, current.state));
            let done = current.providers_done.min(current.providers_total) as usize;
            let total = current.providers_total.max(1) as usize;
            let bar = "=".repeat(done * 30 / total) + &" ".repeat(30 - done * 30 / total);
            eprint!(
                "\r[{bar}] {done}/{} providers, {} models, {}   ",
                current.providers_total, current.models_processed, current.state
            );
            let _ = std::io::stderr().flush();
        }
        if current.state.is_terminal() {
            break current;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    if terminal {
        eprintln!();
    }
    engine.shutdown().await;
    let logs = store.job_provider_logs(job.id).await?;
    if args.json {
        // The same body as `GET /admin/pricing/sync/{id}`.
        let view = pricesync_engine::JobView {
            job: record.clone(),
            providers: logs,
        };
        print_json(&SyncJob::from(&view))?;
    } else {
        println!(
            "sync {} {}{}",
            record.id,
            record.state,
            if record.dry_run {
                " (dry run: nothing written)"
            } else {
                ""
            }
        );
        println!(
            "{:<16} {:<10} {:>8} {:>7} {:>8} {:>10} {:>8} {:>8} {:>8}  error",
            "provider",
            "status",
            "fetched",
            "added",
            "updated",
            "unchanged",
            "skipped",
            "removed",
            "ms"
        );
        for l in &logs {
            println!(
                "{:<16} {:<10} {:>8} {:>7} {:>8} {:>10} {:>8} {:>8} {:>8}  {}",
                l.provider,
                l.status.as_str(),
                l.models_fetched,
                l.models_added,
                l.models_updated,
                l.models_unchanged,
                l.models_skipped,
                l.models_removed,
                l.duration_ms,
                l.error.as_deref().unwrap_or("")
            );
        }
    }
    Ok(if record.state == pricesync_domain::JobState::Completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `pricesync status`: the schedules and each provider's last sync.
pub async fn status(config: &Config, as_json: bool) -> anyhow::Result<ExitCode> {
    let store = crate::server::open_store(config).await?;
    let schedules = store.list_schedules().await?;
    let now = time::OffsetDateTime::now_utc();
    let mut providers = Vec::new();
    for provider in &config.providers {
        let (last, last_ok) = store.last_provider_runs(provider).await?;
        providers.push((provider.clone(), last, last_ok));
    }
    let active = store.active_jobs().await?;
    if as_json {
        let scheduler =
            SchedulerStatus::load(&store, &config.engine.scheduler, &config.providers).await?;
        print_json(&StatusOutput {
            scheduler,
            active: ActiveSyncs::from(active.as_slice()),
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "scheduler: {} (every {} h)",
        if config.engine.scheduler.enabled {
            "enabled"
        } else {
            "disabled"
        },
        config.engine.scheduler.interval.as_secs_f64() / 3600.0
    );
    for s in &schedules {
        println!(
            "  schedule {:<24} next run {}  failures in a row {}{}",
            s.name,
            s.next_run_at,
            s.consecutive_failures,
            if s.enabled { "" } else { "  (disabled)" }
        );
    }
    println!(
        "{:<16} {:<10} {:>12}  last success",
        "provider", "last run", "seconds ago"
    );
    for (provider, last, ok) in &providers {
        println!(
            "{:<16} {:<10} {:>12}  {}",
            provider,
            last.as_ref().map_or("never", |l| l.status.as_str()),
            last.as_ref()
                .map_or("-".to_owned(), |l| (now - l.finished_at)
                    .whole_seconds()
                    .to_string()),
            ok.as_ref()
                .map_or("never".to_owned(), |l| l.finished_at.to_string()),
        );
    }
    println!("active syncs: {}", active.len());
    for job in &active {
        println!(
            "  {} {} {:?} by {}",
            job.id, job.state, job.providers, job.triggered_by
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `pricesync jobs`: recent syncs, newest first.
pub async fn jobs(
    config: &Config,
    state: Option<&str>,
    limit: u32,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let state = state
        .map(|s| s.parse::<pricesync_domain::JobState>())
        .transpose()
        .context("--status")?;
    let store = crate::server::open_store(config).await?;
    let jobs = store.list_jobs(state, limit, None).await?;
    if as_json {
        let jobs: Vec<SyncSummary> = jobs.iter().map(SyncSummary::from).collect();
        print_json(&jobs)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<36} {:<17} {:<20} {:<28} providers",
        "sync id", "status", "triggered by", "created"
    );
    for job in &jobs {
        println!(
            "{:<36} {:<17} {:<20} {:<28} {}",
            job.id,
            job.state.as_str(),
            job.triggered_by,
            job.created_at.to_string(),
            job.providers.join(",")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `pricesync cancel <id>`.
pub async fn cancel(config: &Config, id: &str) -> anyhow::Result<ExitCode> {
    use pricesync_store::CancelOutcome;
    let id: uuid::Uuid = id
        .parse()
        .with_context(|| format!("{id:?} is not a sync id (a UUID)"))?;
    let store = crate::server::open_store(config).await?;
    match store.cancel_job(id, "cli").await? {
        CancelOutcome::Cancelled(_) => println!("sync {id} was queued and is now cancelled"),
        CancelOutcome::Requested(_) => {
            println!("sync {id} is running: its worker stops at its next safe point (within a heartbeat)")
        }
        CancelOutcome::AlreadyFinished(job) => {
            println!("sync {id} already finished ({})", job.state);
            return Ok(ExitCode::FAILURE);
        }
        CancelOutcome::NotFound => {
            eprintln!("error: no sync {id}");
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `pricesync locks [release <key>]`.
pub async fn locks(config: &Config, release: Option<&str>) -> anyhow::Result<ExitCode> {
    let store = crate::server::open_store(config).await?;
    if let Some(key) = release {
        return Ok(match store.force_release_lease(key).await? {
            Some(lease) => {
                tracing::warn!(key = %lease.key, holder = %lease.requested_by, owner = %lease.worker, by = "cli", "lock forcibly released");
                println!(
                    "released {} (held by {}, fence {})",
                    lease.key, lease.requested_by, lease.fence
                );
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("error: no lock {key:?}");
                ExitCode::FAILURE
            }
        });
    }
    let now = time::OffsetDateTime::now_utc();
    let leases = store.list_leases().await?;
    println!(
        "{:<32} {:<20} {:<22} {:>8}  expires",
        "key", "holder", "owner", "fence"
    );
    for l in &leases {
        println!(
            "{:<32} {:<20} {:<22} {:>8}  {}{}",
            l.key,
            l.requested_by,
            l.worker,
            l.fence,
            l.expires_at,
            if l.expires_at <= now {
                " (expired)"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `pricesync prices`: current prices from the database.
pub async fn prices(
    config: &Config,
    provider: Option<&str>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    use pricesync_store::{ModelQuery, StatusFilter};
    let provider = provider
        .map(pricesync_domain::ProviderId::parse)
        .transpose()
        .context("--provider")?;
    let store = crate::server::open_store(config).await?;
    let mut models = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_models(&ModelQuery {
                provider: provider.clone(),
                model: None,
                status: StatusFilter::Active,
                limit: 1000,
                after,
            })
            .await?;
        models.extend(page.models);
        match page.next_cursor {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    if as_json {
        let models: Vec<Model> = models.into_iter().map(Model::from).collect();
        print_json(&models)?;
        return Ok(ExitCode::SUCCESS);
    }
    for m in &models {
        let prices: Vec<String> = m
            .prices
            .iter()
            .map(|p| {
                // meter[>band][@window]=price, e.g. input_tokens>200000=0.000006
                // or input_tokens@10:00-01:00=0.000002.
                let mut key = p.meter.to_string();
                if p.min_prompt_tokens > 0 {
                    key.push_str(&format!(">{}", p.min_prompt_tokens));
                }
                if let Some(window) = p.window {
                    key.push('@');
                    key.push_str(&window.code());
                }
                format!("{key}={}", p.usd_per_unit)
            })
            .collect();
        println!(
            "{}/{}  {}  {}",
            m.provider,
            m.model_id,
            m.pricing_kind,
            prices.join(" ")
        );
    }
    eprintln!("{} models", models.len());
    Ok(ExitCode::SUCCESS)
}

/// `pricesync cost`: what a usage cost, from the database (now, or as of
/// `--at`), through the same pricing as `POST /v1/pricing/cost`. Exit code
/// 1 when the usage cannot be priced.
pub async fn cost(
    config: &Config,
    item: &CostItem,
    round: Option<u32>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let usage = crate::pricing::Pricing::from_item(item).map_err(|e| anyhow::anyhow!("--{e}"))?;
    let store = crate::server::open_store(config).await?;
    let pricer = crate::pricing::Pricer {
        store: &store,
        catalogue: None,
        round,
    };
    let result = pricer
        .price(std::slice::from_ref(&usage))
        .await?
        .pop()
        .context("no answer for the usage")?;
    let answer = match result {
        Ok(answer) => answer,
        Err(e) => {
            if as_json {
                print_json(&ErrorBody::new(e.code(), e.to_string()))?;
            }
            eprintln!("error: {e} [{}]", e.code());
            return Ok(ExitCode::FAILURE);
        }
    };
    if as_json {
        print_json(&answer)?;
        return Ok(ExitCode::SUCCESS);
    }
    let at = answer
        .at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| answer.at.to_string());
    println!(
        "{}/{} at {at} ({})",
        answer.provider, answer.model, answer.pricing_kind
    );
    println!(
        "{:<24} {:>10} {:>16} {:>20}  {:<10} {:<22} since",
        "meter", "quantity", "usd_per_unit", "amount_usd", "band", "window"
    );
    for line in &answer.lines {
        let meter = match line.billed_as {
            Some(as_meter) => format!("{} (as {as_meter})", line.meter),
            None => line.meter.to_string(),
        };
        let band = if line.min_prompt_tokens > 0 {
            format!(">{}", line.min_prompt_tokens)
        } else {
            "-".to_owned()
        };
        let since = line
            .price_since
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| line.price_since.to_string());
        println!(
            "{:<24} {:>10} {:>16} {:>20}  {:<10} {:<22} {since}",
            meter,
            line.quantity,
            line.usd_per_unit.to_string(),
            line.amount_usd.to_string(),
            band,
            line.window.map_or("-".to_owned(), |w| w.code()),
        );
    }
    println!("total_usd {}", answer.total_usd);
    if let Some(rounded) = answer.total_usd_rounded {
        println!("total_usd_rounded {rounded}");
    }
    Ok(ExitCode::SUCCESS)
}
