//! One provider's sync against the real store, on SQLite and PostgreSQL.

use pricesync_domain::{
    parse_decimal, ComponentKey, Meter, PriceSource, ProviderId, RawOffering, RawPricing,
    SkipReason, SkippedModel,
};
use pricesync_engine::{sync_price_list, SyncOptions};
use pricesync_providers::FetchedList;
use pricesync_store::Store;

fn offering(id: &str, input: &str) -> RawOffering {
    RawOffering {
        provider_model_id: id.to_owned(),
        display_name: None,
        context_length: None,
        source: PriceSource::Api,
        pricing: RawPricing::Metered(vec![(
            ComponentKey::base(Meter::InputTokens),
            parse_decimal(input).expect("price"),
        )]),
    }
}

async fn a_bad_model_is_skipped_and_the_rest_goes_on(store: Store) {
    let provider = ProviderId::parse("together").expect("provider");
    let first = FetchedList {
        models: vec![offering("a", "0.000001"), offering("b", "0.000002")],
        skipped: vec![],
    };
    let summary = sync_price_list(
        &store,
        &provider,
        first,
        &SyncOptions::default(),
        None,
        None,
    )
    .await
    .expect("sync");
    assert_eq!((summary.fetched, summary.added), (2, 2));

    // b now arrives with a per-1M price read as per token: skipped, old price kept.
    let second = FetchedList {
        models: vec![offering("a", "0.0000011"), offering("b", "2")],
        skipped: vec![SkippedModel {
            provider_model_id: "c".into(),
            reason: SkipReason::Unparseable("pricing.input is not a number".into()),
        }],
    };
    let summary = sync_price_list(
        &store,
        &provider,
        second,
        &SyncOptions::default(),
        None,
        None,
    )
    .await
    .expect("sync");
    assert_eq!(summary.fetched, 3);
    assert_eq!(summary.updated, 1);
    assert_eq!(summary.removed, 0, "a skipped model is not removed");
    let codes: Vec<&str> = summary.skipped.iter().map(|s| s.reason.code()).collect();
    assert_eq!(codes, ["above_maximum", "unparseable"]);
    let b = store
        .get_model(&provider, "b")
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(b.prices[0].usd_per_unit.to_string(), "0.000002");
}

async fn a_dry_run_reports_the_diff_and_writes_nothing(store: Store) {
    let provider = ProviderId::parse("together").expect("provider");
    let list = FetchedList {
        models: vec![offering("a", "0.000001")],
        skipped: vec![],
    };
    let options = SyncOptions {
        dry_run: true,
        ..SyncOptions::default()
    };
    let summary = sync_price_list(&store, &provider, list, &options, None, None)
        .await
        .expect("sync");
    assert_eq!(summary.added, 1);
    assert_eq!(summary.diff.added.len(), 1);
    assert_eq!(summary.written.rows_written(), 0);
    assert!(store
        .load_provider_prices(&provider)
        .await
        .expect("load")
        .is_empty());
}

pricesync_store::on_both_backends!(
    a_bad_model_is_skipped_and_the_rest_goes_on,
    a_dry_run_reports_the_diff_and_writes_nothing,
);
