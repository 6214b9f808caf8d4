//! Store benchmark: apply a 26,000-model provider list (3 components each)
//! — first insert, unchanged re-apply, 5% changed — on SQLite and, when one
//! is available, PostgreSQL. Prints time and rows written for each, then
//! the time to load every current card (the cost API's in-memory
//! catalogue).
//!
//! Run with `cargo bench -p pricesync-store --bench apply_price_list`
//! (`just bench`). PostgreSQL comes from `TEST_DATABASE_URL`, or the local
//! default (see `pricesync_store::testing`).

use std::time::{Duration, Instant};

use pricesync_domain::{
    diff_price_lists, validate_price_list, ComponentKey, Decimal, Meter, PriceSource, ProviderId,
    RawOffering, RawPricing, ShrinkGuard, ValidatedList, ValidationPolicy,
};
use pricesync_store::testing::TestDatabase;
use pricesync_store::{Store, WriteReport};

const MODELS: usize = 26_000;

/// Model `i`'s input price is `(i + 1) * 1e-9`, times 3 for every 20th
/// model when `changed`.
fn price_list(changed: bool) -> ValidatedList {
    let raws = (0..MODELS).map(|i| {
        let n = i as i64 + 1;
        let factor = if changed && i % 20 == 0 { 3 } else { 1 };
        let component = |meter, value| (ComponentKey::base(meter), value);
        RawOffering {
            provider_model_id: format!("org-{}/model-{i:05}", i % 97),
            display_name: Some(format!("Model {i}")),
            context_length: Some(32_768),
            source: PriceSource::Api,
            pricing: RawPricing::Metered(vec![
                component(Meter::InputTokens, Decimal::new(n * factor, 9)),
                component(Meter::OutputTokens, Decimal::new(4 * n, 9)),
                component(Meter::CacheReadTokens, Decimal::new(1875, 10)),
            ]),
        }
    });
    validate_price_list(raws, &ValidationPolicy::default())
}

async fn apply(
    store: &Store,
    provider: &ProviderId,
    list: &ValidatedList,
) -> (Duration, WriteReport) {
    let started = Instant::now();
    let stored = store.load_provider_prices(provider).await.expect("load");
    let diff = diff_price_lists(&stored, list, ShrinkGuard::default());
    let report = store
        .apply_price_diff(provider, &diff, Some(uuid::Uuid::now_v7()), None)
        .await
        .expect("apply");
    (started.elapsed(), report)
}

async fn run(backend: &str, db: TestDatabase) {
    let provider = ProviderId::parse("featherless").expect("provider");
    let unchanged = price_list(false);
    let changed = price_list(true);
    for (step, list) in [
        ("first insert", &unchanged),
        ("unchanged re-apply", &unchanged),
        ("5% changed", &changed),
    ] {
        let (elapsed, report) = apply(&db.store, &provider, list).await;
        println!(
            "{backend:<10} {step:<20} {:>8.1} ms  {:>7} rows written ({} models inserted, {} updated, {} prices, {} history)",
            elapsed.as_secs_f64() * 1000.0,
            report.rows_written(),
            report.models_inserted,
            report.models_updated,
            report.prices_written,
            report.history_rows,
        );
    }
    // What a server's in-memory catalogue reloads after a change.
    let started = Instant::now();
    let catalogue = db.store.load_catalogue().await.expect("catalogue");
    println!(
        "{backend:<10} {:<20} {:>8.1} ms  {} cards (every current card, for the cost API's memory)",
        "load the catalogue",
        started.elapsed().as_secs_f64() * 1000.0,
        catalogue.cards.len(),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter we do
    // not support, so say what runs.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!("apply a {MODELS}-model provider list, 3 components per model");
        run("sqlite", TestDatabase::sqlite().await).await;
        match TestDatabase::postgres().await {
            Some(db) => run("postgres", db).await,
            None => println!("postgres   not measured: no PostgreSQL available"),
        }
    });
}
