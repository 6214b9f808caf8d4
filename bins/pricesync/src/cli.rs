//! Operator commands that run in the foreground.

use std::process::ExitCode;

use anyhow::Context;
use pricesync_domain::{validate_price_list, PricingKind};

use crate::api::types::admin::{
    describe_cadence, ActiveSyncs, SchedulerStatus, SyncJob, SyncSummary,
};
use crate::api::types::cost::CostItem;
use crate::api::types::read::Model;
use crate::api::types::ErrorBody;
use crate::Config;

mod probe;
mod review;

pub use probe::probe;
pub use review::{decide, held, skipped};

/// Exit codes of the operator commands: 0 done, 1 failed (or not all
/// providers succeeded), 2 a usage error (clap's), 3 busy (a sync of the
/// same providers is already queued or running), 130 interrupted.
pub mod exit {
    /// A sync of the same providers is already queued or running.
    pub const BUSY: u8 = 3;
    /// Stopped by SIGINT or SIGTERM.
    pub const INTERRUPTED: u8 = 130;
}

/// Whether a progress line is on the terminal now: a log line then first
/// clears it, so that logs do not run into the bar (the bar is drawn anew
/// at its next update).
static PROGRESS_SHOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Log output for `tracing_subscriber`: stderr, clearing a progress line
/// before the first byte of each event.
#[derive(Debug, Clone, Copy, Default)]
pub struct StderrBelowProgress;

/// One log event's writer (see [`StderrBelowProgress`]).
pub struct EventWriter {
    cleared: bool,
}

impl std::io::Write for EventWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut stderr = std::io::stderr().lock();
        if !self.cleared && PROGRESS_SHOWN.load(std::sync::atomic::Ordering::SeqCst) {
            stderr.write_all(b"\r\x1b[2K")?;
            self.cleared = true;
        }
        stderr.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for StderrBelowProgress {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter { cleared: false }
    }
}

/// Resolves on SIGINT or SIGTERM, as the server stops on them; never when
/// the signals cannot be listened to (the sync then runs to its end).
async fn interrupted() {
    if let Err(e) = crate::server::wait_for_signal().await {
        tracing::warn!(error = %e, "Ctrl-C will not cancel this sync");
        std::future::pending::<()>().await;
    }
}

/// Which provider the foreground sync is at, and doing what: fed by the
/// engine's sync points, shown by the progress line.
#[derive(Default)]
struct Phase(std::sync::Mutex<Option<(String, String)>>);

#[async_trait::async_trait]
impl pricesync_engine::SyncHooks for Phase {
    async fn reached(&self, point: pricesync_engine::SyncPoint) {
        use pricesync_engine::SyncPoint;
        let now = match point {
            SyncPoint::ProviderLeased { provider, .. } => Some((provider, "fetching".to_owned())),
            SyncPoint::BeforeWrite {
                provider, fetched, ..
            } => Some((provider, format!("writing {fetched} models of"))),
            SyncPoint::ProviderFinished { .. } | SyncPoint::JobFinished { .. } => None,
            _ => return,
        };
        if let Ok(mut phase) = self.0.lock() {
            *phase = now;
        }
    }
}

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

/// `pricesync sync --dry-run --json`: the body of
/// `GET /admin/pricing/sync/{id}` with the whole diff of
/// `GET /admin/pricing/sync/{id}/changes`.
#[derive(serde::Serialize)]
struct DryRunOutput {
    #[serde(flatten)]
    sync: SyncJob,
    changes: Vec<crate::api::types::review::PlannedChange>,
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
    /// No progress line.
    pub quiet: bool,
}

/// `pricesync sync`: runs a sync in the foreground with an in-process
/// engine (scheduler off), shows progress on a terminal and a summary table.
/// Exit code 0 only when the job completed (every provider succeeded);
/// [`exit::BUSY`] when another sync of the same providers is queued or
/// running. SIGINT or SIGTERM cancels the job (it stops at its next safe
/// point, ends `cancelled`, its leases released; exit
/// [`exit::INTERRUPTED`]); a second one stops the engine at once, which puts
/// the job back in the queue.
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
    let phase = std::sync::Arc::new(Phase::default());
    let engine = Engine::start(store.clone(), fetchers, engine_config, Some(phase.clone()))
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
            return Ok(ExitCode::from(exit::BUSY));
        }
        Err(e) => {
            engine.shutdown().await;
            return Err(e.into());
        }
    };
    let terminal = std::io::stderr().is_terminal() && !args.json && !args.quiet;
    let mut shown = None;
    let mut interrupts = 0u8;
    let stop = interrupted();
    tokio::pin!(stop);
    let record = loop {
        let Some(current) = store.get_job(job.id).await? else {
            anyhow::bail!("sync {} disappeared", job.id);
        };
        let at = phase.0.lock().ok().and_then(|p| p.clone());
        let line = (current.providers_done, current.state, at.clone());
        if terminal && shown.as_ref() != Some(&line) {
            let done = current.providers_done.min(current.providers_total) as usize;
            let total = current.providers_total.max(1) as usize;
            let bar = "=".repeat(done * 30 / total) + &" ".repeat(30 - done * 30 / total);
            let doing = at.map_or_else(String::new, |(provider, what)| {
                format!(", {what} {provider}")
            });
            eprint!(
                "\r\x1b[2K[{bar}] {done}/{} providers, {} models{doing}, {}",
                current.providers_total, current.models_processed, current.state
            );
            let _ = std::io::stderr().flush();
            PROGRESS_SHOWN.store(true, std::sync::atomic::Ordering::SeqCst);
            shown = Some(line);
        }
        if current.state.is_terminal() {
            break current;
        }
        tokio::select! {
            _ = &mut stop => {
                interrupts += 1;
                if interrupts > 1 {
                    eprintln!("\ninterrupted again: stopping now; sync {} goes back to the queue", job.id);
                    engine.shutdown().await;
                    return Ok(ExitCode::from(exit::INTERRUPTED));
                }
                eprintln!(
                    "\ninterrupted: cancelling sync {} at its next safe point (interrupt again to stop at once)",
                    job.id
                );
                engine.cancel(job.id, "cli").await?;
                stop.set(interrupted());
            }
            _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
        }
    };
    if terminal {
        eprintln!();
        PROGRESS_SHOWN.store(false, std::sync::atomic::Ordering::SeqCst);
    }
    engine.shutdown().await;
    let logs = store.job_provider_logs(job.id).await?;
    let changes = if record.dry_run {
        review::planned_changes(job.id, review::all_planned(&store, job.id, None).await?)
    } else {
        Vec::new()
    };
    if args.json {
        // The same body as `GET /admin/pricing/sync/{id}`.
        let view = pricesync_engine::JobView {
            job: record.clone(),
            providers: logs,
        };
        let sync = SyncJob::from(&view);
        if record.dry_run {
            print_json(&DryRunOutput { sync, changes })?;
        } else {
            print_json(&sync)?;
        }
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
        print_provider_table(&logs);
        if record.dry_run {
            println!();
            review::print_changes(&changes);
        }
        if logs.iter().any(|l| l.models_skipped > 0) {
            println!("skipped models: pricesync skipped {}", record.id);
        }
        if !record.dry_run && logs.iter().any(|l| l.changes_held > 0) {
            println!("held price changes (not applied): pricesync held");
        }
    }
    Ok(match record.state {
        pricesync_domain::JobState::Completed => ExitCode::SUCCESS,
        pricesync_domain::JobState::Cancelled if interrupts > 0 => {
            ExitCode::from(exit::INTERRUPTED)
        }
        _ => ExitCode::FAILURE,
    })
}

/// `pricesync status`: what the servers sharing the database run — the
/// schedules they recorded, each scheduled provider's last run and last
/// success — and the active syncs. Read from the database, not from this
/// process's environment (which may differ from the servers').
pub async fn status(config: &Config, as_json: bool) -> anyhow::Result<ExitCode> {
    let store = crate::server::open_store(config).await?;
    let recorded = SchedulerStatus::recorded(&store).await?;
    let active = store.active_jobs().await?;
    let from_servers = recorded.is_some();
    let scheduler = match recorded {
        Some(scheduler) => scheduler,
        None => {
            // No server has run on this database: this environment's
            // configuration is the best account there is, and says so.
            eprintln!("note: no server has recorded a schedule in this database yet; showing this environment's configuration");
            SchedulerStatus::load(&store, &config.engine.scheduler, &config.providers).await?
        }
    };
    if as_json {
        print_json(&StatusOutput {
            scheduler,
            active: ActiveSyncs::from(active.as_slice()),
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "scheduler: {} ({}), {}",
        if scheduler.enabled {
            "enabled"
        } else {
            "disabled"
        },
        describe_cadence(scheduler.interval_hours, scheduler.cron.as_deref()),
        if from_servers {
            "as recorded by the servers"
        } else {
            "from this environment (no server has recorded one)"
        }
    );
    for s in &scheduler.schedules {
        println!(
            "  schedule {:<24} {:<26} next run {}  failures in a row {}{}",
            s.name,
            describe_cadence(s.interval_hours, s.cron.as_deref()),
            s.next_run_at,
            s.consecutive_failures,
            if s.enabled { "" } else { "  (disabled)" }
        );
    }
    println!(
        "{:<16} {:<10} {:>12}  last success",
        "provider", "last run", "seconds ago"
    );
    for (provider, last) in &scheduler.last_syncs {
        println!(
            "{:<16} {:<10} {:>12}  {}",
            provider,
            last.status.map_or("never", |s| s.as_str()),
            last.seconds_ago.map_or("-".to_owned(), |n| n.to_string()),
            last.last_success
                .as_ref()
                .map_or("never".to_owned(), |l| l.at.to_string()),
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

/// `pricesync job <sync_id> [--json]`: one sync with its per-provider
/// results, as `GET /admin/pricing/sync/{sync_id}` shows it.
pub async fn job(config: &Config, id: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let id: uuid::Uuid = id
        .parse()
        .with_context(|| format!("{id:?} is not a sync id (a UUID)"))?;
    let store = crate::server::open_store(config).await?;
    let Some(record) = store.get_job(id).await? else {
        eprintln!("error: no sync {id}");
        return Ok(ExitCode::FAILURE);
    };
    let logs = store.job_provider_logs(id).await?;
    if as_json {
        let view = pricesync_engine::JobView {
            job: record,
            providers: logs,
        };
        print_json(&SyncJob::from(&view))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "sync {} {} (attempt {}/{}, by {}{})",
        record.id,
        record.state,
        record.attempt,
        record.max_attempts,
        record.triggered_by,
        if record.dry_run { ", dry run" } else { "" }
    );
    if let Some(error) = &record.error {
        println!("error: {error}");
    }
    print_provider_table(&logs);
    Ok(ExitCode::SUCCESS)
}

/// The per-provider results of a sync, one line each.
fn print_provider_table(logs: &[pricesync_store::ProviderLog]) {
    println!(
        "{:<16} {:<10} {:>8} {:>7} {:>8} {:>10} {:>8} {:>8} {:>6} {:>8}  error",
        "provider",
        "status",
        "fetched",
        "added",
        "updated",
        "unchanged",
        "skipped",
        "removed",
        "held",
        "ms"
    );
    for l in logs {
        println!(
            "{:<16} {:<10} {:>8} {:>7} {:>8} {:>10} {:>8} {:>8} {:>6} {:>8}  {}",
            l.provider,
            l.status.as_str(),
            l.models_fetched,
            l.models_added,
            l.models_updated,
            l.models_unchanged,
            l.models_skipped,
            l.models_removed,
            l.changes_held,
            l.duration_ms,
            l.error.as_deref().unwrap_or("")
        );
    }
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

/// `pricesync cancel <id> [--json]`: the body of
/// `POST /admin/pricing/sync/{id}/cancel` with `--json`.
pub async fn cancel(config: &Config, id: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    use crate::api::types::admin::SyncCancelled;
    use pricesync_store::CancelOutcome;
    let id: uuid::Uuid = id
        .parse()
        .with_context(|| format!("{id:?} is not a sync id (a UUID)"))?;
    let store = crate::server::open_store(config).await?;
    match store.cancel_job(id, "cli").await? {
        CancelOutcome::Cancelled(job) if as_json => print_json(&SyncCancelled::cancelled(&job))?,
        CancelOutcome::Requested(job) if as_json => print_json(&SyncCancelled::requested(&job))?,
        CancelOutcome::Cancelled(_) => println!("sync {id} was queued and is now cancelled"),
        CancelOutcome::Requested(_) => {
            println!("sync {id} is running: its worker stops at its next safe point (within a heartbeat)")
        }
        CancelOutcome::AlreadyFinished(job) => {
            eprintln!("error: sync {id} already finished ({})", job.state);
            return Ok(ExitCode::FAILURE);
        }
        CancelOutcome::NotFound => {
            eprintln!("error: no sync {id}");
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `pricesync locks [release <key>] [--json]`: with `--json`, the bodies
/// of `GET /admin/pricing/locks` and `DELETE /admin/pricing/locks/{key}`.
pub async fn locks(
    config: &Config,
    release: Option<&str>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    use crate::api::types::admin::{Lock, LockList, LockReleased};
    let store = crate::server::open_store(config).await?;
    let now = time::OffsetDateTime::now_utc();
    if let Some(key) = release {
        return Ok(match store.force_release_lease(key).await? {
            Some(lease) => {
                tracing::warn!(key = %lease.key, holder = %lease.requested_by, owner = %lease.worker, by = "cli", "lock forcibly released");
                if as_json {
                    print_json(&LockReleased {
                        released: Lock::new(&lease, now),
                        released_by: "cli".to_owned(),
                    })?;
                } else {
                    println!(
                        "released {} (held by {}, fence {})",
                        lease.key, lease.requested_by, lease.fence
                    );
                }
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("error: no lock {key:?}");
                ExitCode::FAILURE
            }
        });
    }
    let leases = store.list_leases().await?;
    if as_json {
        print_json(&LockList::new(&leases, now))?;
        return Ok(ExitCode::SUCCESS);
    }
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
