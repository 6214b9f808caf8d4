//! Store benchmark: a model's price card at an instant
//! ([`Store::card_at`]) when the model has 10,000 history rows, beside a
//! floor measured in the same run (a primary-key read of one row,
//! [`Store::catalogue_version`]), on SQLite and, when one is available,
//! PostgreSQL. Also: the card of a model with a short history, 1000 cards
//! in one query ([`Store::cards_at`]), and the query plan (which indexes the
//! card query uses).
//!
//! The long history: 4 component keys; the input, output and band prices
//! change in turn every hour for 10,000 hours while the cache price never
//! changes (its only row is the oldest: the case a scan by time would pay
//! for most). 1,000 other models with 3 components each share the tables.
//!
//! Run with `cargo bench -p pricesync-store --bench card_at_instant`
//! (`just bench`).

use std::time::{Duration, Instant};

use pricesync_domain::{
    diff_price_lists, validate_price_list, ComponentKey, Decimal, Meter, PriceSource, ProviderId,
    RawOffering, RawPricing, ShrinkGuard, ValidationPolicy,
};
use pricesync_store::testing::TestDatabase;
use pricesync_store::{BackendKind, CardRequest, Store};
use time::OffsetDateTime;

const OTHER_MODELS: usize = 1000;
const CHANGES: usize = 9_996;
const TARGET: &str = "target/long-history";
const ITERATIONS: usize = 2000;

fn offering(id: String, components: Vec<(ComponentKey, Decimal)>) -> RawOffering {
    RawOffering {
        provider_model_id: id,
        display_name: None,
        context_length: Some(200_000),
        source: PriceSource::Api,
        pricing: RawPricing::Metered(components),
    }
}

async fn seed(store: &Store, provider: &ProviderId) {
    let mut raws: Vec<RawOffering> = (0..OTHER_MODELS)
        .map(|i| {
            let n = i as i64 + 1;
            offering(
                format!("org/model-{i:04}"),
                vec![
                    (ComponentKey::base(Meter::InputTokens), Decimal::new(n, 9)),
                    (
                        ComponentKey::base(Meter::OutputTokens),
                        Decimal::new(4 * n, 9),
                    ),
                    (
                        ComponentKey::base(Meter::CacheReadTokens),
                        Decimal::new(1875, 10),
                    ),
                ],
            )
        })
        .collect();
    raws.push(offering(
        TARGET.to_owned(),
        vec![
            (ComponentKey::base(Meter::InputTokens), Decimal::new(1, 6)),
            (
                ComponentKey::band(Meter::InputTokens, 200_000),
                Decimal::new(2, 6),
            ),
            (ComponentKey::base(Meter::OutputTokens), Decimal::new(4, 6)),
            (
                ComponentKey::base(Meter::CacheReadTokens),
                Decimal::new(1, 7),
            ),
        ],
    ));
    let stored = store.load_provider_prices(provider).await.expect("load");
    let fresh = validate_price_list(raws, &ValidationPolicy::default());
    let diff = diff_price_lists(&stored, &fresh, ShrinkGuard::default());
    store
        .apply_price_diff(provider, &diff, None, None)
        .await
        .expect("apply");
    // Everything listed 10,001 hours ago, then one change an hour.
    store
        .age_catalogue_for_tests(Duration::from_secs(3600 * (CHANGES as u64 + 5)))
        .await
        .expect("age");
    let sql = match store.backend_kind() {
        BackendKind::Postgres => format!(
            "INSERT INTO model_pricing_history (model_id, meter, min_prompt_tokens, utc_window, \
             change, old_usd_per_unit, new_usd_per_unit, changed_at) \
             SELECT m.id, CASE g % 3 WHEN 1 THEN 'output_tokens' ELSE 'input_tokens' END, \
             CASE g % 3 WHEN 2 THEN 200000 ELSE 0 END, '', 'changed', 0.000001, \
             0.000001 + g * 0.000000000001, \
             now() - interval '{} hours' + g * interval '1 hour' \
             FROM models m, generate_series(1, {CHANGES}) g WHERE m.provider_model_id = '{TARGET}'",
            CHANGES + 5
        ),
        BackendKind::Sqlite => format!(
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {CHANGES}) \
             INSERT INTO model_pricing_history (model_id, meter, min_prompt_tokens, utc_window, \
             change, old_usd_per_unit, new_usd_per_unit, changed_at) \
             SELECT m.id, CASE n % 3 WHEN 1 THEN 'output_tokens' ELSE 'input_tokens' END, \
             CASE n % 3 WHEN 2 THEN 200000 ELSE 0 END, '', 'changed', '0.000001', \
             '0.00000' || (1000000 + n), \
             strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-{} hours', '+' || n || ' hours') \
             FROM models m, g WHERE m.provider_model_id = '{TARGET}'",
            CHANGES + 5
        ),
    };
    store.raw_batch_for_tests(&sql).await.expect("history rows");
    // Fresh statistics, as autovacuum (PostgreSQL) or an operator's
    // ANALYZE (SQLite) would give a table of this size.
    store.raw_batch_for_tests("ANALYZE").await.expect("analyze");
}

/// Median and p99 of `ITERATIONS` runs of `call`.
async fn measure<F, Fut>(mut call: F) -> (Duration, Duration)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for i in 0..ITERATIONS / 10 {
        call(i).await;
    }
    let mut times = Vec::with_capacity(ITERATIONS);
    for i in 0..ITERATIONS {
        let started = Instant::now();
        call(i).await;
        times.push(started.elapsed());
    }
    times.sort();
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn run(backend: &str, db: TestDatabase) {
    let provider = ProviderId::parse("openrouter").expect("provider");
    seed(&db.store, &provider).await;
    let store = &db.store;
    let now = OffsetDateTime::now_utc();
    // Instants spread over the whole history.
    let instant = |i: usize| now - time::Duration::hours(((i * 7919) % CHANGES) as i64 + 1);

    let card = store
        .card_at("openrouter", TARGET, instant(0))
        .await
        .expect("card")
        .expect("known");
    assert_eq!(card.components.len(), 4, "{card:?}");

    let floor = measure(|_| async {
        store.catalogue_version().await.expect("version");
    })
    .await;
    let long = measure(|i| async move {
        let card = store
            .card_at("openrouter", TARGET, instant(i))
            .await
            .expect("card");
        assert!(card.is_some());
    })
    .await;
    let short = measure(|i| async move {
        let model = format!("org/model-{:04}", i % OTHER_MODELS);
        let card = store
            .card_at("openrouter", &model, now)
            .await
            .expect("card");
        assert!(card.is_some());
    })
    .await;
    let floor_again = measure(|_| async {
        store.catalogue_version().await.expect("version");
    })
    .await;
    let models: Vec<String> = (0..1000)
        .map(|i| format!("org/model-{:04}", i % OTHER_MODELS))
        .collect();
    let asked: Vec<CardRequest<'_>> = models
        .iter()
        .enumerate()
        .map(|(i, m)| CardRequest {
            provider: "openrouter",
            model_id: m,
            at: instant(i),
        })
        .collect();
    let mut batch = Vec::new();
    for _ in 0..23 {
        let started = Instant::now();
        let cards = store.cards_at(&asked).await.expect("cards");
        assert_eq!(cards.len(), 1000);
        batch.push(started.elapsed());
    }
    batch.drain(..3);
    batch.sort();
    println!(
        "{backend:<9} floor: primary-key read of one row (catalogue_version): median {:.3} ms, p99 {:.3} ms (again after: {:.3} / {:.3} ms)",
        ms(floor.0),
        ms(floor.1),
        ms(floor_again.0),
        ms(floor_again.1)
    );
    println!(
        "{backend:<9} card at an instant, {} history rows for the model: median {:.3} ms, p99 {:.3} ms (budget: under 2 ms)",
        CHANGES + 4,
        ms(long.0),
        ms(long.1)
    );
    println!(
        "{backend:<9} card at an instant, 3 history rows: median {:.3} ms, p99 {:.3} ms",
        ms(short.0),
        ms(short.1)
    );
    println!(
        "{backend:<9} 1000 cards in one query: median {:.1} ms, max {:.1} ms",
        ms(batch[batch.len() / 2]),
        ms(batch[batch.len() - 1])
    );
    let plan = store
        .explain_cards_at_for_tests(&[CardRequest {
            provider: "openrouter",
            model_id: TARGET,
            at: instant(1),
        }])
        .await
        .expect("plan");
    println!("{backend:<9} plan of the card query:");
    for line in plan {
        println!("    {line}");
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!(
            "price card at an instant: {OTHER_MODELS} models, one with {} history rows",
            CHANGES + 4
        );
        run("sqlite", TestDatabase::sqlite().await).await;
        match TestDatabase::postgres().await {
            Some(db) => run("postgres", db).await,
            None => println!("postgres  not measured: no PostgreSQL available"),
        }
    });
}
