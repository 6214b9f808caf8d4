//! The store's conformance suite: every case runs on SQLite, and on
//! PostgreSQL when one is available (see `pricesync_store::testing`), each in
//! a database of its own.

use pricesync_domain::{
    apply_diff, diff_price_lists, hold_implausible_changes, parse_decimal, validate_price_list,
    ComponentChangeKind, ComponentKey, HoldPolicy, Meter, ModelChangeKind, ModelStatus, PriceDiff,
    PriceSource, PricingKind, ProviderId, ProviderRunStatus, RawOffering, RawPricing, ShrinkGuard,
    SkipReason, SkippedModel, StoredOffering, TimeWindow, ValidatedList, ValidationPolicy,
};
use pricesync_store::testing::enqueued;
use pricesync_store::{
    DecideOutcome, Decision, HeldQuery, HeldStatus, HistoryChange, HistoryQuery, ModelQuery,
    NewJob, NewProviderLog, ReportQuery, StatusFilter, Store, WriteReport,
};
use uuid::Uuid;

fn provider(name: &str) -> ProviderId {
    ProviderId::parse(name).expect("test provider")
}

fn key(meter: Meter, band: u64) -> ComponentKey {
    ComponentKey::band(meter, band)
}

fn raw(id: &str, prices: &[(Meter, u64, &str)]) -> RawOffering {
    RawOffering {
        provider_model_id: id.to_owned(),
        display_name: Some(format!("Model {id}")),
        context_length: Some(128_000),
        source: PriceSource::Api,
        pricing: RawPricing::Metered(
            prices
                .iter()
                .map(|(m, band, p)| (key(*m, *band), parse_decimal(p).expect("test price")))
                .collect(),
        ),
    }
}

fn list(raws: Vec<RawOffering>) -> ValidatedList {
    let list = validate_price_list(raws, &ValidationPolicy::default());
    assert!(
        list.skipped().is_empty(),
        "test data is valid: {:?}",
        list.skipped()
    );
    list
}

/// A provider list of `n` models with three components each; model `i`'s
/// input price is `(i + 1 + bump) * 1e-9`.
fn generated(n: usize, bump: usize) -> ValidatedList {
    list(
        (0..n)
            .map(|i| {
                let input = format!("{}e-9", i + 1 + bump);
                let output = format!("{}e-9", 4 * (i + 1));
                raw(
                    &format!("org/model-{i:05}"),
                    &[
                        (Meter::InputTokens, 0, &input),
                        (Meter::OutputTokens, 0, &output),
                        (Meter::CacheReadTokens, 0, "0.0000001875"),
                    ],
                )
            })
            .collect(),
    )
}

async fn sync(store: &Store, p: &ProviderId, fresh: &ValidatedList) -> (PriceDiff, WriteReport) {
    let stored = store.load_provider_prices(p).await.expect("load");
    let diff = diff_price_lists(&stored, fresh, ShrinkGuard::default());
    let report = store
        .apply_price_diff(p, &diff, Some(Uuid::now_v7()), None)
        .await
        .expect("apply");
    (diff, report)
}

async fn history_len(store: &Store, p: &ProviderId) -> usize {
    let mut total = 0;
    let mut after_id = None;
    loop {
        let page = store
            .price_history(&HistoryQuery {
                provider: Some(p.clone()),
                limit: 1000,
                after_id,
                ..HistoryQuery::default()
            })
            .await
            .expect("history");
        total += page.entries.len();
        match page.next_cursor {
            Some(cursor) => after_id = Some(cursor),
            None => return total,
        }
    }
}

// ---------------------------------------------------------------------------
// The cases, each a function of a fresh store.

async fn migrations_are_current_and_idempotent(store: Store) {
    assert!(store
        .pending_migrations()
        .await
        .expect("pending")
        .is_empty());
    assert!(store.migrate().await.expect("migrate again").is_empty());
    store.ping().await.expect("ping");
}

async fn tiny_prices_round_trip_exactly(store: Store) {
    let p = provider("openrouter");
    let fresh = list(vec![raw(
        "anthropic/claude-sonnet-4.5",
        &[
            (Meter::InputTokens, 0, "0.0000001875"),
            (Meter::OutputTokens, 0, "0.000000000131"),
            (Meter::InputTokens, 200_000, "0.000006"),
            (Meter::WebSearch, 0, "0.01"),
        ],
    )]);
    sync(&store, &p, &fresh).await;
    let model = store
        .get_model(&p, "anthropic/claude-sonnet-4.5")
        .await
        .expect("get")
        .expect("stored");
    let prices: Vec<(String, u64, String)> = model
        .prices
        .iter()
        .map(|c| {
            (
                c.meter.to_string(),
                c.min_prompt_tokens,
                c.usd_per_unit.to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, u64, String)> = [
        ("input_tokens", 0, "0.0000001875"),
        ("input_tokens", 200_000, "0.000006"),
        ("output_tokens", 0, "0.000000000131"),
        ("web_search", 0, "0.01"),
    ]
    .iter()
    .map(|(m, b, p)| (m.to_string(), *b, p.to_string()))
    .collect();
    assert_eq!(prices, expected);
    // And loading for a diff gives back exactly what was written.
    let stored = store.load_provider_prices(&p).await.expect("load");
    assert_eq!(stored[0].offering, fresh.offerings()[0]);
}

async fn first_insert_then_unchanged_reapply_writes_nothing(store: Store) {
    let p = provider("featherless");
    let fresh = generated(2_500, 0);
    let (_, first) = sync(&store, &p, &fresh).await;
    assert_eq!(first.models_inserted, 2_500);
    assert_eq!(first.prices_written, 7_500);
    assert_eq!(first.history_rows, 7_500);
    let history_before = history_len(&store, &p).await;

    let (diff, again) = sync(&store, &p, &fresh).await;
    assert!(diff.is_empty());
    assert_eq!(diff.unchanged.len(), 2_500);
    assert_eq!(again.rows_written(), 0);
    assert_eq!(history_len(&store, &p).await, history_before);
}

async fn a_five_percent_change_writes_exactly_those_rows(store: Store) {
    let p = provider("featherless");
    sync(&store, &p, &generated(1_000, 0)).await;
    let before = store.load_provider_prices(&p).await.expect("load");
    // Every 20th model gets a new input price.
    let changed = list(
        generated(1_000, 0)
            .offerings()
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let input = if i % 20 == 0 {
                    format!("{}e-9", 7 * (i + 1))
                } else {
                    format!("{}e-9", i + 1)
                };
                raw(
                    o.model_id().as_str(),
                    &[
                        (Meter::InputTokens, 0, &input),
                        (Meter::OutputTokens, 0, &format!("{}e-9", 4 * (i + 1))),
                        (Meter::CacheReadTokens, 0, "0.0000001875"),
                    ],
                )
            })
            .collect(),
    );
    let history_before = history_len(&store, &p).await;
    let (diff, report) = sync(&store, &p, &changed).await;
    assert_eq!(diff.updated.len(), 50);
    assert_eq!(
        report,
        WriteReport {
            models_updated: 50,
            prices_written: 50,
            history_rows: 50,
            ..WriteReport::default()
        }
    );
    assert_eq!(history_len(&store, &p).await, history_before + 50);
    // The store now holds exactly what applying the diff in memory gives.
    let after = store.load_provider_prices(&p).await.expect("load");
    assert_eq!(after, apply_diff(&before, &diff));
    let entry = store
        .price_history(&HistoryQuery {
            provider: Some(p.clone()),
            model: Some("org/model-00020".to_owned()),
            limit: 10,
            ..HistoryQuery::default()
        })
        .await
        .expect("history");
    let last = entry.entries.last().expect("a change");
    assert_eq!(last.change, HistoryChange::Changed);
    assert_eq!(
        last.old_usd_per_unit.map(|d| d.to_string()).as_deref(),
        Some("0.000000021")
    );
    assert_eq!(
        last.new_usd_per_unit.map(|d| d.to_string()).as_deref(),
        Some("0.000000147")
    );
}

async fn removed_models_keep_their_history_and_can_return(store: Store) {
    let p = provider("nearai");
    let all = list(vec![
        raw("a", &[(Meter::InputTokens, 0, "0.000001")]),
        raw("b", &[(Meter::InputTokens, 0, "0.000002")]),
        raw("c", &[(Meter::InputTokens, 0, "0.000003")]),
    ]);
    sync(&store, &p, &all).await;
    let without_c = list(vec![
        raw("a", &[(Meter::InputTokens, 0, "0.000001")]),
        raw("b", &[(Meter::InputTokens, 0, "0.000002")]),
    ]);
    let (diff, report) = sync(&store, &p, &without_c).await;
    assert_eq!(diff.removed.len(), 1);
    assert_eq!(report.models_removed, 1);
    assert_eq!(report.history_rows, 1);

    let c = store
        .get_model(&p, "c")
        .await
        .expect("get")
        .expect("still stored");
    assert_eq!(c.status, ModelStatus::Removed);
    assert!(c.removed_at.is_some());
    assert_eq!(
        c.prices[0].usd_per_unit.to_string(),
        "0.000003",
        "last price kept"
    );
    let history = store
        .price_history(&HistoryQuery {
            provider: Some(p.clone()),
            model: Some("c".to_owned()),
            limit: 10,
            ..HistoryQuery::default()
        })
        .await
        .expect("history");
    let changes: Vec<HistoryChange> = history.entries.iter().map(|e| e.change).collect();
    assert_eq!(changes, [HistoryChange::Added, HistoryChange::Removed]);

    // Listing hides removed models unless asked.
    let active = store
        .list_models(&ModelQuery {
            provider: Some(p.clone()),
            limit: 10,
            ..ModelQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(active.models.len(), 2);
    let removed = store
        .list_models(&ModelQuery {
            provider: Some(p.clone()),
            status: StatusFilter::Removed,
            limit: 10,
            ..ModelQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(removed.models.len(), 1);

    // c returns at a new price: reactivated, prices replaced, history grows.
    let back = list(vec![
        raw("a", &[(Meter::InputTokens, 0, "0.000001")]),
        raw("b", &[(Meter::InputTokens, 0, "0.000002")]),
        raw(
            "c",
            &[
                (Meter::InputTokens, 0, "0.000004"),
                (Meter::Request, 0, "0.001"),
            ],
        ),
    ]);
    let (diff, _) = sync(&store, &p, &back).await;
    assert_eq!(diff.reactivated.len(), 1);
    let c = store
        .get_model(&p, "c")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(c.status, ModelStatus::Active);
    assert_eq!(c.removed_at, None);
    let prices: Vec<String> = c
        .prices
        .iter()
        .map(|x| x.usd_per_unit.to_string())
        .collect();
    assert_eq!(prices, ["0.000004", "0.001"]);
}

async fn a_shrunken_list_removes_nothing(store: Store) {
    let p = provider("featherless");
    sync(&store, &p, &generated(100, 0)).await;
    let (diff, report) = sync(&store, &p, &generated(10, 0)).await;
    assert!(diff.suppressed_removal.is_some());
    assert_eq!(report.rows_written(), 0);
    let page = store
        .list_models(&ModelQuery {
            provider: Some(p.clone()),
            limit: 1000,
            ..ModelQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(page.models.len(), 100);
}

async fn components_that_disappear_are_deleted_with_history(store: Store) {
    let p = provider("openrouter");
    sync(
        &store,
        &p,
        &list(vec![raw(
            "m",
            &[
                (Meter::InputTokens, 0, "0.000001"),
                (Meter::CacheReadTokens, 0, "0.0000001"),
            ],
        )]),
    )
    .await;
    let (_, report) = sync(
        &store,
        &p,
        &list(vec![raw("m", &[(Meter::InputTokens, 0, "0.000001")])]),
    )
    .await;
    assert_eq!(report.prices_deleted, 1);
    assert_eq!(report.history_rows, 1);
    let m = store
        .get_model(&p, "m")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(m.prices.len(), 1);
}

async fn kinds_without_prices_are_stored(store: Store) {
    let p = provider("openrouter");
    let mut dynamic = raw("openrouter/auto", &[]);
    dynamic.pricing = RawPricing::Dynamic;
    let free = raw(
        "x/y:free",
        &[(Meter::InputTokens, 0, "0"), (Meter::OutputTokens, 0, "0")],
    );
    sync(&store, &p, &list(vec![dynamic, free])).await;
    let stored: Vec<StoredOffering> = store.load_provider_prices(&p).await.expect("load");
    let kinds: Vec<String> = stored
        .iter()
        .map(|s| s.offering.pricing_kind().to_string())
        .collect();
    assert_eq!(kinds, ["dynamic", "free"]);
}

async fn listing_pages_and_filters(store: Store) {
    let a = provider("alpha");
    let b = provider("beta");
    sync(&store, &a, &generated(5, 0)).await;
    sync(&store, &b, &generated(3, 0)).await;
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_models(&ModelQuery {
                limit: 3,
                after: after.clone(),
                ..ModelQuery::default()
            })
            .await
            .expect("list");
        seen.extend(
            page.models
                .iter()
                .map(|m| format!("{}:{}", m.provider, m.model_id)),
        );
        match page.next_cursor {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
    assert!(seen[0].starts_with("alpha:"));

    let only = store
        .list_models(&ModelQuery {
            provider: Some(b.clone()),
            model: Some("org/model-00001".to_owned()),
            limit: 10,
            ..ModelQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(only.models.len(), 1);
    assert_eq!(only.models[0].prices.len(), 3);
    assert!(store
        .get_model(&b, "no/such-model")
        .await
        .expect("get")
        .is_none());
    let bad = store
        .list_models(&ModelQuery {
            limit: 0,
            ..ModelQuery::default()
        })
        .await;
    assert!(bad.is_err());
}

async fn history_since_filters_by_time(store: Store) {
    let p = provider("nearai");
    sync(
        &store,
        &p,
        &list(vec![raw("a", &[(Meter::InputTokens, 0, "0.000001")])]),
    )
    .await;
    let all = store
        .price_history(&HistoryQuery {
            provider: Some(p.clone()),
            limit: 100,
            ..HistoryQuery::default()
        })
        .await
        .expect("history");
    assert_eq!(all.entries.len(), 1);
    let at = all.entries[0].changed_at;
    let later = store
        .price_history(&HistoryQuery {
            provider: Some(p.clone()),
            since: Some(at + time::Duration::seconds(1)),
            limit: 100,
            ..HistoryQuery::default()
        })
        .await
        .expect("history");
    assert!(later.entries.is_empty());
    let from = store
        .price_history(&HistoryQuery {
            since: Some(at - time::Duration::seconds(1)),
            limit: 100,
            ..HistoryQuery::default()
        })
        .await
        .expect("history");
    assert_eq!(from.entries.len(), 1);
}

async fn check_constraints_guard_the_invariants(store: Store) {
    // A negative price cannot be stored, whatever writes it.
    let id = Uuid::now_v7();
    let kind = store.backend_kind();
    let sql = format!(
        "INSERT INTO models (id, provider, provider_model_id, pricing_kind, status, source) \
         VALUES ('{id}', 'p', 'm', 'metered', 'active', 'api'); \
         INSERT INTO model_prices (model_id, meter, min_prompt_tokens, usd_per_unit) \
         VALUES ('{id}', 'input_tokens', 0, {});",
        if kind == pricesync_store::BackendKind::Postgres {
            "-1"
        } else {
            "'-1'"
        }
    );
    let result = store.raw_batch_for_tests(&sql).await;
    assert!(result.is_err(), "a negative price was accepted");
    let bad_state = store
        .raw_batch_for_tests(&format!(
            "INSERT INTO pricing_sync_jobs (id, state, providers, triggered_by) VALUES ('{}', 'running', 'p', 't')",
            Uuid::now_v7()
        ))
        .await;
    assert!(bad_state.is_err(), "an unknown job state was accepted");
}

fn time_of_day_list(peak_input: &str) -> ValidatedList {
    let window = |start, end| TimeWindow::from_hhmm(start, end).expect("test window");
    let weekend = TimeWindow::whole_day()
        .on_days(&["saturday", "sunday"])
        .expect("test window");
    let weekdays = TimeWindow::whole_day()
        .on_days(&["monday", "tuesday", "wednesday", "thursday", "friday"])
        .expect("test window");
    let price = |text: &str| parse_decimal(text).expect("test price");
    list(vec![RawOffering {
        pricing: RawPricing::Metered(vec![
            (
                ComponentKey::base(Meter::InputTokens).in_window(window(1000, 100)),
                price(peak_input),
            ),
            (
                ComponentKey::base(Meter::InputTokens).in_window(window(100, 1000)),
                price("0.000001"),
            ),
            (
                ComponentKey::band(Meter::InputTokens, 200_000).in_window(weekend),
                price("0.000003"),
            ),
            (
                ComponentKey::band(Meter::InputTokens, 200_000).in_window(weekdays),
                price("0.000004"),
            ),
            (ComponentKey::base(Meter::OutputTokens), price("0.000008")),
            (
                ComponentKey::base(Meter::OutputAudioTokens),
                price("0.00008"),
            ),
            (
                ComponentKey::base(Meter::CacheReadAudioTokens),
                price("0.0000025"),
            ),
            (ComponentKey::base(Meter::OutputImage), price("0.04")),
        ]),
        ..raw("vendor/time-of-day", &[])
    }])
}

async fn time_of_day_prices_and_new_meters_round_trip(store: Store) {
    let p = provider("openrouter");
    let fresh = time_of_day_list("0.000002");
    sync(&store, &p, &fresh).await;
    let stored = store.load_provider_prices(&p).await.expect("load");
    assert_eq!(stored.len(), 1);
    assert_eq!(&stored[0].offering, &fresh.offerings()[0]);
    let windows: Vec<String> = stored[0]
        .offering
        .components()
        .iter()
        .filter_map(|c| c.window.map(TimeWindow::code))
        .collect();
    assert_eq!(
        windows,
        [
            "01:00-10:00",
            "10:00-01:00",
            "00:00-24:00@mon,tue,wed,thu,fri",
            "00:00-24:00@sat,sun"
        ]
    );
    // Unchanged: nothing written.
    let (_, report) = sync(&store, &p, &fresh).await;
    assert_eq!(report.rows_written(), 0);
    // The peak price changes: one price row, one history row naming the
    // window.
    let before = history_len(&store, &p).await;
    let (_, report) = sync(&store, &p, &time_of_day_list("0.000003")).await;
    assert_eq!((report.prices_written, report.history_rows), (1, 1));
    assert_eq!(history_len(&store, &p).await, before + 1);
    let page = store
        .price_history(&HistoryQuery {
            provider: Some(p.clone()),
            limit: 1000,
            ..HistoryQuery::default()
        })
        .await
        .expect("history");
    let last = page.entries.last().expect("a change");
    assert_eq!(last.change, HistoryChange::Changed);
    assert_eq!(
        last.window.map(TimeWindow::code).as_deref(),
        Some("10:00-01:00")
    );
    let model = store
        .get_model(&p, "vendor/time-of-day")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(model.prices.len(), 8);
}

// ---------------------------------------------------------------------------
// Skips, dry-run diffs and held changes.

async fn held_sync(
    store: &Store,
    p: &ProviderId,
    fresh: &ValidatedList,
) -> (PriceDiff, WriteReport) {
    let stored = store.load_provider_prices(p).await.expect("load");
    let mut diff = diff_price_lists(&stored, fresh, ShrinkGuard::default());
    hold_implausible_changes(&mut diff, HoldPolicy::default());
    let report = store
        .apply_price_diff(p, &diff, Some(Uuid::now_v7()), None)
        .await
        .expect("apply");
    (diff, report)
}

fn two_models(a_input: &str, b_input: &str) -> ValidatedList {
    list(vec![
        raw(
            "org/a",
            &[
                (Meter::InputTokens, 0, a_input),
                (Meter::OutputTokens, 0, "0.00006"),
            ],
        ),
        raw("org/b", &[(Meter::InputTokens, 0, b_input)]),
    ])
}

async fn held(store: &Store, status: Option<HeldStatus>) -> Vec<pricesync_store::HeldRecord> {
    store
        .list_held_changes(&HeldQuery {
            status,
            limit: 100,
            ..HeldQuery::default()
        })
        .await
        .expect("held")
}

async fn input_price(store: &Store, p: &ProviderId, model: &str) -> String {
    let m = store
        .get_model(p, model)
        .await
        .expect("get")
        .expect("stored");
    m.prices
        .iter()
        .find(|c| c.meter == Meter::InputTokens)
        .expect("input price")
        .usd_per_unit
        .to_string()
}

async fn an_implausible_move_is_held_until_approved(store: Store) {
    let p = provider("openrouter");
    held_sync(&store, &p, &two_models("0.000015", "0.000001")).await;
    // a: 1000x drop (inside the magnitude bounds): held. b: 2x: applied.
    let (diff, report) = held_sync(&store, &p, &two_models("0.000000015", "0.000002")).await;
    assert_eq!(diff.held.len(), 1);
    assert_eq!(report.held_pending, 1);
    assert_eq!(
        input_price(&store, &p, "org/a").await,
        "0.000015",
        "the old price stays"
    );
    assert_eq!(input_price(&store, &p, "org/b").await, "0.000002");
    let pending = held(&store, Some(HeldStatus::Pending)).await;
    assert_eq!(pending.len(), 1);
    let change = &pending[0];
    assert_eq!(
        (change.provider.as_str(), change.model_id.as_str()),
        ("openrouter", "org/a")
    );
    assert_eq!(
        (change.old.to_string(), change.new.to_string()),
        ("0.000015".to_owned(), "0.000000015".to_owned())
    );

    // Held again by the next sync: still one pending change.
    let (_, again) = held_sync(&store, &p, &two_models("0.000000015", "0.000002")).await;
    assert_eq!(again.held_pending, 1);
    assert_eq!(again.rows_written(), 0);
    assert_eq!(held(&store, None).await.len(), 1);

    let outcome = store
        .decide_held_change(change.id, Decision::Approve, "admin:ops")
        .await
        .expect("approve");
    let DecideOutcome::Decided(approved) = outcome else {
        panic!("approval refused: {outcome:?}");
    };
    assert_eq!(approved.status, HeldStatus::Approved);
    assert_eq!(approved.decided_by.as_deref(), Some("admin:ops"));
    assert!(approved.decided_at.is_some());
    assert_eq!(input_price(&store, &p, "org/a").await, "0.000000015");
    let history = store
        .price_history(&HistoryQuery {
            provider: Some(p.clone()),
            model: Some("org/a".to_owned()),
            limit: 100,
            ..HistoryQuery::default()
        })
        .await
        .expect("history");
    let last = history.entries.last().expect("an entry");
    assert_eq!(last.change, HistoryChange::Changed);
    assert_eq!(last.approved_by.as_deref(), Some("admin:ops"));
    assert_eq!(
        last.new_usd_per_unit.map(|p| p.to_string()).as_deref(),
        Some("0.000000015")
    );
    // Deciding twice is refused; the sync after approval changes nothing.
    assert!(matches!(
        store
            .decide_held_change(change.id, Decision::Reject, "admin:x")
            .await
            .expect("decide"),
        DecideOutcome::NotPending(_)
    ));
    let (diff, _) = held_sync(&store, &p, &two_models("0.000000015", "0.000002")).await;
    assert!(diff.is_empty() && diff.held.is_empty());
    assert!(matches!(
        store
            .decide_held_change(Uuid::now_v7(), Decision::Approve, "admin:x")
            .await
            .expect("decide"),
        DecideOutcome::NotFound
    ));
}

async fn a_rejected_change_is_not_held_again_and_a_revert_supersedes(store: Store) {
    let p = provider("openrouter");
    held_sync(&store, &p, &two_models("0.000015", "0.000001")).await;
    held_sync(&store, &p, &two_models("0.000015", "0.001")).await;
    let pending = held(&store, Some(HeldStatus::Pending)).await;
    assert_eq!(pending.len(), 1);
    let DecideOutcome::Decided(rejected) = store
        .decide_held_change(pending[0].id, Decision::Reject, "admin:ops")
        .await
        .expect("reject")
    else {
        panic!("rejection refused");
    };
    assert_eq!(rejected.status, HeldStatus::Rejected);
    assert_eq!(input_price(&store, &p, "org/b").await, "0.000001");
    // The provider keeps listing the rejected price: nothing new is held.
    let (_, report) = held_sync(&store, &p, &two_models("0.000015", "0.001")).await;
    assert_eq!((report.held_pending, report.held_rejected_before), (0, 1));
    assert!(held(&store, Some(HeldStatus::Pending)).await.is_empty());
    assert_eq!(input_price(&store, &p, "org/b").await, "0.000001");

    // A different implausible price is held anew; when the provider goes
    // back to the stored price, the pending change is superseded.
    held_sync(&store, &p, &two_models("0.000015", "0.0001")).await;
    let pending = held(&store, Some(HeldStatus::Pending)).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].new.to_string(), "0.0001");
    let (_, report) = held_sync(&store, &p, &two_models("0.000015", "0.000001")).await;
    assert_eq!(report.held_superseded, 1);
    let superseded = held(&store, Some(HeldStatus::Superseded)).await;
    assert_eq!(superseded.len(), 1);
    assert!(superseded[0].decided_by.is_none() && superseded[0].decided_at.is_some());
    // A superseded change can no longer be approved.
    assert!(matches!(
        store
            .decide_held_change(superseded[0].id, Decision::Approve, "admin:ops")
            .await
            .expect("decide"),
        DecideOutcome::NotPending(_)
    ));
}

async fn a_price_applied_after_a_hold_supersedes_it(store: Store) {
    let p = provider("openrouter");
    held_sync(&store, &p, &two_models("0.000015", "0.000001")).await;
    held_sync(&store, &p, &two_models("0.000015", "0.001")).await;
    let pending = held(&store, Some(HeldStatus::Pending)).await;
    // The provider moves to a plausible price, which applies: the held
    // change is superseded in the same transaction, so nobody can approve
    // a change that is no longer listed.
    let (_, report) = held_sync(&store, &p, &two_models("0.000015", "0.000002")).await;
    assert_eq!(report.held_superseded, 1);
    assert_eq!(input_price(&store, &p, "org/b").await, "0.000002");
    match store
        .decide_held_change(pending[0].id, Decision::Approve, "admin:ops")
        .await
        .expect("decide")
    {
        DecideOutcome::NotPending(record) => assert_eq!(record.status, HeldStatus::Superseded),
        other => panic!("expected not pending, got {other:?}"),
    }
    assert_eq!(input_price(&store, &p, "org/b").await, "0.000002");
}

async fn approving_a_move_from_zero_makes_a_free_model_metered(store: Store) {
    let p = provider("nearai");
    let free = list(vec![raw(
        "org/f",
        &[(Meter::InputTokens, 0, "0"), (Meter::OutputTokens, 0, "0")],
    )]);
    held_sync(&store, &p, &free).await;
    let priced = list(vec![raw(
        "org/f",
        &[
            (Meter::InputTokens, 0, "0.000001"),
            (Meter::OutputTokens, 0, "0"),
        ],
    )]);
    let (diff, _) = held_sync(&store, &p, &priced).await;
    assert_eq!(diff.held.len(), 1, "a move from zero is held");
    let model = store
        .get_model(&p, "org/f")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(model.pricing_kind, PricingKind::Free);
    let pending = held(&store, Some(HeldStatus::Pending)).await;
    assert!(pending[0].old.is_zero());
    store
        .decide_held_change(pending[0].id, Decision::Approve, "admin:ops")
        .await
        .expect("approve");
    let model = store
        .get_model(&p, "org/f")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(model.pricing_kind, PricingKind::Metered);
}

async fn skips_and_a_dry_run_diff_are_recorded_per_provider(store: Store) {
    let job = enqueued(
        &store,
        &NewJob {
            providers: vec![provider("openrouter"), provider("together")],
            dry_run: true,
            triggered_by: "test".to_owned(),
            max_attempts: 3,
            schedule: None,
        },
    )
    .await;
    let claimed = store
        .claim_next_job("w")
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!((claimed.id, claimed.attempt), (job.id, 1));
    let p = provider("openrouter");
    sync(&store, &p, &two_models("0.000015", "0.000001")).await;
    let stored = store.load_provider_prices(&p).await.expect("load");
    let mut diff = diff_price_lists(
        &stored,
        &list(vec![
            raw(
                "org/a",
                &[
                    (Meter::InputTokens, 0, "0.000000015"),
                    (Meter::OutputTokens, 0, "0.00007"),
                ],
            ),
            raw("org/c", &[(Meter::InputTokens, 0, "0.000003")]),
        ]),
        ShrinkGuard {
            min_listed_percent: 0,
        },
    );
    hold_implausible_changes(&mut diff, HoldPolicy::default());
    let skipped: Vec<SkippedModel> = (0..1500)
        .map(|i| SkippedModel {
            provider_model_id: format!("org/tts-{i:04}"),
            reason: SkipReason::UnsupportedPricing(format!("billed per character ({i})")),
        })
        .collect();
    let log = |provider: &str, skipped: Vec<SkippedModel>, planned| NewProviderLog {
        provider: provider.to_owned(),
        status: ProviderRunStatus::Succeeded,
        counts: [0; 7],
        removals_suppressed: false,
        changes_held: 0,
        duration: std::time::Duration::from_millis(5),
        error: None,
        skipped,
        planned,
    };
    assert!(store
        .record_provider_log(
            job.id,
            "w",
            1,
            &log("together", vec![skipped[0].clone()], Vec::new()),
        )
        .await
        .expect("log"));
    // A first attempt's report is replaced by the next one's.
    assert!(store
        .record_provider_log(
            job.id,
            "w",
            1,
            &log("openrouter", skipped[..3].to_vec(), Vec::new()),
        )
        .await
        .expect("log"));
    assert!(store
        .record_provider_log(
            job.id,
            "w",
            1,
            &log("openrouter", skipped.clone(), diff.entries())
        )
        .await
        .expect("log"));

    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .job_skipped(&ReportQuery {
                job_id: job.id,
                provider: None,
                limit: 1000,
                after: after.clone(),
            })
            .await
            .expect("skipped");
        after = page.last().map(|r| (r.provider.clone(), r.seq));
        let done = page.len() < 1000;
        pages.push(page);
        if done {
            break;
        }
    }
    let all: Vec<_> = pages.concat();
    assert_eq!(all.len(), 1501);
    assert_eq!(all[0].provider_model_id, "org/tts-0000");
    assert_eq!(all[0].reason, "unsupported_pricing");
    assert!(
        all[0].detail.contains("billed per character (0)"),
        "{}",
        all[0].detail
    );
    assert_eq!(all[1499].provider_model_id, "org/tts-1499");
    assert_eq!(all[1500].provider, "together");
    let only = store
        .job_skipped(&ReportQuery {
            job_id: job.id,
            provider: Some("together".to_owned()),
            limit: 10,
            after: None,
        })
        .await
        .expect("skipped");
    assert_eq!(only.len(), 1);

    let planned = store
        .job_planned_changes(&ReportQuery {
            job_id: job.id,
            provider: None,
            limit: 100,
            after: None,
        })
        .await
        .expect("planned");
    type Line<'a> = (
        &'a str,
        ModelChangeKind,
        Option<ComponentChangeKind>,
        Option<String>,
        Option<String>,
    );
    let lines: Vec<Line> = planned
        .iter()
        .map(|r| {
            let c = r.entry.component.expect("component");
            (
                r.entry.model_id.as_str(),
                r.entry.model_change,
                Some(c.change),
                c.old.map(|p| p.to_string()),
                c.new.map(|p| p.to_string()),
            )
        })
        .collect();
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        lines,
        [
            (
                "org/a",
                ModelChangeKind::Updated,
                Some(ComponentChangeKind::Changed),
                s("0.00006"),
                s("0.00007")
            ),
            (
                "org/a",
                ModelChangeKind::Updated,
                Some(ComponentChangeKind::Held),
                s("0.000015"),
                s("0.000000015")
            ),
            (
                "org/b",
                ModelChangeKind::Removed,
                Some(ComponentChangeKind::Removed),
                s("0.000001"),
                None
            ),
            (
                "org/c",
                ModelChangeKind::Added,
                Some(ComponentChangeKind::Added),
                None,
                s("0.000003")
            ),
        ]
    );
}

pricesync_store::on_both_backends!(
    migrations_are_current_and_idempotent,
    an_implausible_move_is_held_until_approved,
    a_rejected_change_is_not_held_again_and_a_revert_supersedes,
    a_price_applied_after_a_hold_supersedes_it,
    approving_a_move_from_zero_makes_a_free_model_metered,
    skips_and_a_dry_run_diff_are_recorded_per_provider,
    time_of_day_prices_and_new_meters_round_trip,
    tiny_prices_round_trip_exactly,
    first_insert_then_unchanged_reapply_writes_nothing,
    a_five_percent_change_writes_exactly_those_rows,
    removed_models_keep_their_history_and_can_return,
    a_shrunken_list_removes_nothing,
    components_that_disappear_are_deleted_with_history,
    kinds_without_prices_are_stored,
    listing_pages_and_filters,
    history_since_filters_by_time,
    check_constraints_guard_the_invariants,
);

#[test]
fn both_backends_have_the_same_migration_versions() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let names = |backend: &str| {
        let mut names: Vec<String> = std::fs::read_dir(root.join(backend))
            .expect("migrations folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let postgres = names("postgres");
    assert!(!postgres.is_empty());
    assert_eq!(postgres, names("sqlite"));
}
