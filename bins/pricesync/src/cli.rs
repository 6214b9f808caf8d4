//! Operator commands that run in the foreground.

use std::process::ExitCode;

use anyhow::Context;
use pricesync_domain::{validate_price_list, PricingKind};
use serde_json::json;

use crate::Config;

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
        let out = json!({
            "provider": provider,
            "fetched": total,
            "valid": offerings.len(),
            "models": offerings,
            "skipped": skipped,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).context("serialising the list")?
        );
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
