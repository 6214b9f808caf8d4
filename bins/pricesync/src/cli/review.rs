//! Operator commands for what a sync saw and held: skipped models, a dry
//! run's diff, held price changes and their approval. They read the
//! database directly, like the other commands, and print the API's bodies
//! with `--json`.

use std::process::ExitCode;

use anyhow::Context;
use pricesync_store::{
    DecideOutcome, Decision, HeldQuery, HeldStatus, PlannedRecord, ReportQuery, SkippedRecord,
    Store,
};
use uuid::Uuid;

use super::print_json;
use crate::api::types::review::{
    ChangesPage, HeldChange, HeldChangePage, PlannedChange, SkippedPage,
};
use crate::Config;

fn parse_uuid(text: &str, what: &str) -> anyhow::Result<Uuid> {
    text.parse()
        .with_context(|| format!("{text:?} is not a {what} (a UUID)"))
}

/// Every line of a job's report, page by page: `page` reads the page
/// after a cursor, `cursor` gives a line's cursor.
async fn all_lines<T, F, Fut>(
    mut page: F,
    cursor: fn(&T) -> (String, u32),
) -> anyhow::Result<Vec<T>>
where
    F: FnMut(Option<(String, u32)>) -> Fut,
    Fut: std::future::Future<Output = pricesync_store::StoreResult<Vec<T>>>,
{
    const PAGE: usize = 1000;
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let lines = page(after).await?;
        let done = lines.len() < PAGE;
        after = lines.last().map(cursor);
        all.extend(lines);
        if done {
            return Ok(all);
        }
    }
}

fn report_query(job_id: Uuid, provider: Option<&str>, after: Option<(String, u32)>) -> ReportQuery {
    ReportQuery {
        job_id,
        provider: provider.map(str::to_owned),
        limit: 1000,
        after,
    }
}

/// Every line of a job's dry-run diff.
pub(super) async fn all_planned(
    store: &Store,
    job_id: Uuid,
    provider: Option<&str>,
) -> anyhow::Result<Vec<PlannedRecord>> {
    all_lines(
        |after| async move {
            store
                .job_planned_changes(&report_query(job_id, provider, after))
                .await
        },
        |r: &PlannedRecord| (r.provider.clone(), r.seq),
    )
    .await
}

async fn all_skipped(
    store: &Store,
    job_id: Uuid,
    provider: Option<&str>,
) -> anyhow::Result<Vec<SkippedRecord>> {
    all_lines(
        |after| async move {
            store
                .job_skipped(&report_query(job_id, provider, after))
                .await
        },
        |r: &SkippedRecord| (r.provider.clone(), r.seq),
    )
    .await
}

/// The lines of a dry run's diff, as the API writes them.
pub(super) fn planned_changes(job_id: Uuid, records: Vec<PlannedRecord>) -> Vec<PlannedChange> {
    let limit = records.len();
    ChangesPage::page(job_id, records, limit).changes
}

/// Prints a dry run's diff as a table.
pub(super) fn print_changes(changes: &[PlannedChange]) {
    if changes.is_empty() {
        println!("no changes");
        return;
    }
    println!(
        "{:<14} {:<40} {:<12} {:<32} {:<8} {:>16} {:>16}",
        "provider", "model", "model", "component", "change", "old", "new"
    );
    for c in changes {
        let component = c.meter.map_or_else(String::new, |meter| {
            let mut key = meter.to_string();
            if let Some(band) = c.min_prompt_tokens.filter(|b| *b > 0) {
                key.push_str(&format!(">{band}"));
            }
            if let Some(window) = c.window {
                key.push('@');
                key.push_str(&window.code());
            }
            key
        });
        let price =
            |p: Option<pricesync_domain::UsdPerUnit>| p.map_or("-".to_owned(), |p| p.to_string());
        println!(
            "{:<14} {:<40} {:<12} {:<32} {:<8} {:>16} {:>16}",
            c.provider,
            c.model_id,
            c.model_change.as_str(),
            component,
            c.change.map_or("", |k| k.as_str()),
            price(c.old_usd_per_unit),
            price(c.new_usd_per_unit),
        );
    }
}

/// `pricesync skipped <sync_id> [--provider P] [--json]`.
pub async fn skipped(
    config: &Config,
    id: &str,
    provider: Option<&str>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let id = parse_uuid(id, "sync id")?;
    let store = crate::server::open_store(config).await?;
    if store.get_job(id).await?.is_none() {
        eprintln!("error: no sync {id}");
        return Ok(ExitCode::FAILURE);
    }
    let records = all_skipped(&store, id, provider).await?;
    let limit = records.len();
    let page = SkippedPage::page(id, records, limit);
    if as_json {
        print_json(&page)?;
        return Ok(ExitCode::SUCCESS);
    }
    for s in &page.skipped {
        println!(
            "{:<14} {:<48} {:<24} {}",
            s.provider, s.model_id, s.reason, s.detail
        );
    }
    eprintln!("{} skipped", page.skipped.len());
    Ok(ExitCode::SUCCESS)
}

/// `pricesync held [--status S] [--provider P] [--json]`: held price
/// changes, oldest first (default: pending ones).
pub async fn held(
    config: &Config,
    status: Option<&str>,
    provider: Option<&str>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let status = match status {
        None => Some(HeldStatus::Pending),
        Some("all") => None,
        Some(text) => Some(
            text.parse::<HeldStatus>()
                .map_err(anyhow::Error::msg)
                .context("--status")?,
        ),
    };
    let provider = provider
        .map(|p| pricesync_domain::ProviderId::parse(p).map(|p| p.as_str().to_owned()))
        .transpose()
        .context("--provider")?;
    let store = crate::server::open_store(config).await?;
    let mut records = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_held_changes(&HeldQuery {
                status,
                provider: provider.clone(),
                sync_id: None,
                limit: 1000,
                after,
            })
            .await?;
        let done = page.len() < 1000;
        after = page.last().map(|r| r.id);
        records.extend(page);
        if done {
            break;
        }
    }
    let limit = records.len();
    let page = HeldChangePage::page(records, limit);
    if as_json {
        print_json(&page)?;
        return Ok(ExitCode::SUCCESS);
    }
    for h in &page.held_changes {
        let mut key = h.meter.to_string();
        if h.min_prompt_tokens > 0 {
            key.push_str(&format!(">{}", h.min_prompt_tokens));
        }
        if let Some(window) = h.window {
            key.push('@');
            key.push_str(&window.code());
        }
        println!(
            "{}  {:<10} {}/{}  {}  {} -> {} (x{})  held {}{}",
            h.id,
            format!("{:?}", h.status).to_lowercase(),
            h.provider,
            h.model_id,
            key,
            h.old_usd_per_unit,
            h.new_usd_per_unit,
            h.ratio.as_deref().unwrap_or("inf"),
            h.held_at,
            h.decided_by
                .as_deref()
                .map(|who| format!("  by {who}"))
                .unwrap_or_default()
        );
    }
    eprintln!("{} held changes", page.held_changes.len());
    Ok(ExitCode::SUCCESS)
}

/// `pricesync approve <id>` / `pricesync reject <id>`. Exit code 1 when
/// the change is unknown, already decided, or (approve) stale.
pub async fn decide(
    config: &Config,
    id: &str,
    decision: Decision,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let id = parse_uuid(id, "held change id")?;
    let by = match std::env::var("USER") {
        Ok(user) if !user.trim().is_empty() => format!("cli:{}", user.trim()),
        _ => "cli".to_owned(),
    };
    let store = crate::server::open_store(config).await?;
    match store.decide_held_change(id, decision, &by).await? {
        DecideOutcome::Decided(record) => {
            tracing::warn!(held_change = %id, provider = %record.provider, model = %record.model_id,
                decision = record.status.as_str(), by = %by, "held price change decided");
            let view = HeldChange::from(record);
            if as_json {
                print_json(&view)?;
            } else {
                println!(
                    "{} {}/{} {}: {} -> {} {}",
                    id,
                    view.provider,
                    view.model_id,
                    view.meter,
                    view.old_usd_per_unit,
                    view.new_usd_per_unit,
                    match decision {
                        Decision::Approve => "approved and applied",
                        Decision::Reject => "rejected: the old price stays",
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        DecideOutcome::NotFound => {
            eprintln!("error: no held change {id}");
            Ok(ExitCode::FAILURE)
        }
        DecideOutcome::NotPending(record) => {
            eprintln!(
                "error: held change {id} is {}, not pending",
                record.status.as_str()
            );
            Ok(ExitCode::FAILURE)
        }
        DecideOutcome::Stale { record, current } => {
            eprintln!(
                "error: {}",
                crate::api::types::review::stale_message(&record, current)
            );
            Ok(ExitCode::FAILURE)
        }
    }
}
