//! Price cards at an instant and the current catalogue, on SQLite and
//! PostgreSQL (see `conformance.rs` for the suite's rules). Each change is
//! made, then aged with `age_catalogue_for_tests`, so that every instant of
//! a test is hours apart without waiting.

use std::time::Duration;

use pricesync_domain::{
    cost, diff_price_lists, parse_decimal, validate_price_list, ComponentKey, CostErrorKind, Meter,
    PriceSource, PricingKind, ProviderId, RawOffering, RawPricing, ShrinkGuard, TimeWindow, Usage,
    ValidatedList, ValidationPolicy,
};
use pricesync_store::{CardRequest, HistoryQuery, Listing, ModelCard, Store};
use time::OffsetDateTime;
use uuid::Uuid;

const HOUR: Duration = Duration::from_secs(3600);

fn provider(name: &str) -> ProviderId {
    ProviderId::parse(name).expect("test provider")
}

fn raw(id: &str, prices: &[(ComponentKey, &str)]) -> RawOffering {
    RawOffering {
        provider_model_id: id.to_owned(),
        display_name: Some(format!("Model {id}")),
        context_length: Some(200_000),
        source: PriceSource::Api,
        pricing: RawPricing::Metered(
            prices
                .iter()
                .map(|(key, p)| (*key, parse_decimal(p).expect("test price")))
                .collect(),
        ),
    }
}

fn with_pricing(mut offering: RawOffering, pricing: RawPricing) -> RawOffering {
    offering.pricing = pricing;
    offering
}

fn list(raws: Vec<RawOffering>) -> ValidatedList {
    let list = validate_price_list(raws, &ValidationPolicy::default());
    assert!(list.skipped().is_empty(), "{:?}", list.skipped());
    list
}

async fn sync(store: &Store, p: &ProviderId, raws: Vec<RawOffering>) {
    let stored = store.load_provider_prices(p).await.expect("load");
    let diff = diff_price_lists(&stored, &list(raws), ShrinkGuard::default());
    store
        .apply_price_diff(p, &diff, Some(Uuid::now_v7()), None)
        .await
        .expect("apply");
}

async fn card(store: &Store, model: &str, at: OffsetDateTime) -> ModelCard {
    store
        .card_at("openrouter", model, at)
        .await
        .expect("card query")
        .expect("a known model")
}

/// `(meter, band, window code, price)` of a card's components.
fn prices(card: &ModelCard) -> Vec<(Meter, u64, String, String)> {
    card.components
        .iter()
        .map(|c| {
            (
                c.component.meter,
                c.component.min_prompt_tokens,
                c.component.window.map(TimeWindow::code).unwrap_or_default(),
                c.component.usd_per_unit.to_string(),
            )
        })
        .collect()
}

/// When each history entry of the provider was written, oldest first.
async fn history_times(store: &Store, p: &ProviderId) -> Vec<OffsetDateTime> {
    store
        .price_history(&HistoryQuery {
            provider: Some(p.clone()),
            limit: 1000,
            ..HistoryQuery::default()
        })
        .await
        .expect("history")
        .entries
        .iter()
        .map(|e| e.changed_at)
        .collect()
}

fn base(meter: Meter) -> ComponentKey {
    ComponentKey::base(meter)
}

async fn a_price_change_between_two_instants(store: Store) {
    let p = provider("openrouter");
    // Listed two hours ago at 1e-6 in, 2e-6 out.
    sync(
        &store,
        &p,
        vec![raw(
            "a/model",
            &[
                (base(Meter::InputTokens), "0.000001"),
                (base(Meter::OutputTokens), "0.000002"),
            ],
        )],
    )
    .await;
    store.age_catalogue_for_tests(HOUR).await.expect("age");
    // An hour ago: input 3e-6, a long-context band from 200k tokens.
    sync(
        &store,
        &p,
        vec![raw(
            "a/model",
            &[
                (base(Meter::InputTokens), "0.000003"),
                (ComponentKey::band(Meter::InputTokens, 200_000), "0.000006"),
                (base(Meter::OutputTokens), "0.000002"),
            ],
        )],
    )
    .await;
    store.age_catalogue_for_tests(HOUR).await.expect("age");
    let times = history_times(&store, &p).await;
    assert_eq!(times.len(), 4, "2 added, 1 changed, 1 added");
    let (listed, changed) = (times[0], times[2]);
    assert!(changed - listed >= time::Duration::minutes(59));

    // The listing is recorded in the same transaction as the first prices
    // (on SQLite, by a later statement: up to a few milliseconds later).
    let near_listed = |at: OffsetDateTime| at >= listed && at - listed < time::Duration::SECOND;
    let before = card(&store, "a/model", listed - time::Duration::minutes(1)).await;
    let Listing::NotYet { listed_from } = before.listing else {
        panic!("not listed a minute before: {:?}", before.listing);
    };
    assert!(near_listed(listed_from), "{listed_from} vs {listed}");
    assert!(before.components.is_empty());

    let first = card(&store, "a/model", listed + time::Duration::minutes(30)).await;
    let Listing::Listed { since } = first.listing else {
        panic!("listed: {:?}", first.listing);
    };
    assert!(near_listed(since));
    assert_eq!(first.pricing_kind, PricingKind::Metered);
    assert_eq!(
        prices(&first),
        [
            (Meter::InputTokens, 0, String::new(), "0.000001".to_owned()),
            (Meter::OutputTokens, 0, String::new(), "0.000002".to_owned()),
        ]
    );
    assert!(first.components.iter().all(|c| c.since == listed));

    // The instant of a change is priced with the new card.
    for at in [changed, changed + time::Duration::minutes(30)] {
        let second = card(&store, "a/model", at).await;
        assert_eq!(
            prices(&second),
            [
                (Meter::InputTokens, 0, String::new(), "0.000003".to_owned()),
                (
                    Meter::InputTokens,
                    200_000,
                    String::new(),
                    "0.000006".to_owned()
                ),
                (Meter::OutputTokens, 0, String::new(), "0.000002".to_owned()),
            ]
        );
        let since: Vec<OffsetDateTime> = second.components.iter().map(|c| c.since).collect();
        assert_eq!(since, [changed, changed, listed], "output kept its price");
    }

    // The cost function on each card: the usage priced at its own time.
    let usage = Usage::tokens(1000, 100);
    let early = cost(
        &first.price_card(),
        &usage,
        listed + time::Duration::minutes(30),
    )
    .expect("priced");
    assert_eq!(early.total_usd.to_string(), "0.0012");
    let late = card(&store, "a/model", changed + time::Duration::minutes(1)).await;
    let late = cost(
        &late.price_card(),
        &usage,
        changed + time::Duration::minutes(1),
    )
    .expect("priced");
    assert_eq!(late.total_usd.to_string(), "0.0032");
    let long = Usage::tokens(300_000, 0);
    let banded = card(&store, "a/model", OffsetDateTime::now_utc()).await;
    let banded = cost(&banded.price_card(), &long, OffsetDateTime::now_utc()).expect("priced");
    assert_eq!(banded.total_usd.to_string(), "1.8");
    assert_eq!(banded.lines[0].min_prompt_tokens, 200_000);
}

async fn windows_and_bands_at_an_instant(store: Store) {
    let p = provider("openrouter");
    let peak = TimeWindow::from_hhmm(1000, 100).expect("window");
    let weekend = TimeWindow::whole_day()
        .on_days(&["saturday", "sunday"])
        .expect("window");
    let priced = |peak_price: &'static str| {
        vec![raw(
            "w/model",
            &[
                (base(Meter::InputTokens), "0.000001"),
                (base(Meter::InputTokens).in_window(peak), peak_price),
                (
                    ComponentKey::band(Meter::InputTokens, 128_000).in_window(weekend),
                    "0.0000005",
                ),
                (ComponentKey::band(Meter::InputTokens, 128_000), "0.000002"),
                (base(Meter::OutputTokens), "0.000004"),
            ],
        )]
    };
    sync(&store, &p, priced("0.0000015")).await;
    store.age_catalogue_for_tests(HOUR).await.expect("age");
    sync(&store, &p, priced("0.0000025")).await;
    let times = history_times(&store, &p).await;
    let (listed, changed) = (times[0], *times.last().expect("a change"));

    let old = card(&store, "w/model", listed + time::Duration::minutes(1)).await;
    let new = card(&store, "w/model", changed).await;
    let window_of = |c: &ModelCard| -> Vec<(u64, String, String)> {
        prices(c)
            .into_iter()
            .filter(|(meter, ..)| *meter == Meter::InputTokens)
            .map(|(_, band, window, price)| (band, window, price))
            .collect()
    };
    assert_eq!(
        window_of(&old),
        [
            (0, String::new(), "0.000001".to_owned()),
            (0, "10:00-01:00".to_owned(), "0.0000015".to_owned()),
            (128_000, String::new(), "0.000002".to_owned()),
            (
                128_000,
                "00:00-24:00@sat,sun".to_owned(),
                "0.0000005".to_owned()
            ),
        ]
    );
    assert_eq!(
        window_of(&new)[1],
        (0, "10:00-01:00".to_owned(), "0.0000025".to_owned())
    );
    // Only the peak price changed: the other components keep their `since`.
    let unchanged = new.components.iter().filter(|c| c.since == listed).count();
    assert_eq!(unchanged, 4);

    // A Wednesday at 12:00 UTC is in the peak window; a Saturday long
    // prompt gets the weekend band.
    let wednesday_noon = time::macros::datetime!(2026-11-25 12:00 UTC);
    let saturday = time::macros::datetime!(2026-11-28 12:00 UTC);
    let mut card = new.price_card();
    card.listed_since = OffsetDateTime::UNIX_EPOCH;
    let at_peak = cost(&card, &Usage::tokens(1000, 0), wednesday_noon).expect("priced");
    assert_eq!(at_peak.total_usd.to_string(), "0.0025");
    assert_eq!(at_peak.lines[0].window, Some(peak));
    let weekend_long = cost(&card, &Usage::tokens(200_000, 0), saturday).expect("priced");
    assert_eq!(weekend_long.total_usd.to_string(), "0.1");
}

async fn kinds_removals_and_relistings_at_an_instant(store: Store) {
    let p = provider("openrouter");
    let keep = raw("keep/model", &[(base(Meter::InputTokens), "0.000001")]);
    let metered = raw(
        "k/model",
        &[
            (base(Meter::InputTokens), "0.000001"),
            (base(Meter::OutputTokens), "0.000002"),
        ],
    );
    // 5 h ago metered; 4 h ago dynamic; 3 h ago removed; 2 h ago listed
    // again, metered; 1 h ago free.
    sync(&store, &p, vec![keep.clone(), metered.clone()]).await;
    store.age_catalogue_for_tests(HOUR).await.expect("age");
    let dynamic = with_pricing(metered.clone(), RawPricing::Dynamic);
    sync(&store, &p, vec![keep.clone(), dynamic]).await;
    store.age_catalogue_for_tests(HOUR).await.expect("age");
    sync(&store, &p, vec![keep.clone()]).await;
    store.age_catalogue_for_tests(HOUR).await.expect("age");
    sync(&store, &p, vec![keep.clone(), metered.clone()]).await;
    store.age_catalogue_for_tests(HOUR).await.expect("age");
    let free = raw(
        "k/model",
        &[
            (base(Meter::InputTokens), "0"),
            (base(Meter::OutputTokens), "0"),
        ],
    );
    sync(&store, &p, vec![keep.clone(), free]).await;
    store.age_catalogue_for_tests(HOUR).await.expect("age");

    let now = OffsetDateTime::now_utc();
    let ago = |hours: f64| now - time::Duration::seconds_f64(hours * 3600.0);
    let at = |hours: f64| {
        let store = store.clone();
        async move { card(&store, "k/model", ago(hours)).await }
    };
    let listed_first = at(4.5).await;
    assert_eq!(listed_first.pricing_kind, PricingKind::Metered);
    assert_eq!(listed_first.components.len(), 2);
    let Listing::Listed { since: first_since } = listed_first.listing else {
        panic!("listed 4.5 h ago: {:?}", listed_first.listing);
    };

    let dynamic = at(3.5).await;
    assert_eq!(dynamic.pricing_kind, PricingKind::Dynamic);
    assert!(dynamic.components.is_empty());
    assert_eq!(dynamic.listing, Listing::Listed { since: first_since });
    let refused = cost(&dynamic.price_card(), &Usage::tokens(1, 1), ago(3.5))
        .expect_err("dynamic")
        .kind;
    assert_eq!(refused.code(), "dynamic_pricing");

    let removed = at(2.5).await;
    let Listing::Removed {
        listed_since,
        removed_at,
    } = removed.listing
    else {
        panic!("removed 2.5 h ago: {:?}", removed.listing);
    };
    assert_eq!(listed_since, first_since);
    assert!(removed_at < ago(2.5) && removed_at > ago(3.5));
    let refused = cost(&removed.price_card(), &Usage::tokens(1, 1), ago(2.5))
        .expect_err("removed")
        .kind;
    assert_eq!(refused, CostErrorKind::Removed(rfc3339(removed_at)));

    let relisted = at(1.5).await;
    let Listing::Listed { since } = relisted.listing else {
        panic!("listed again 1.5 h ago: {:?}", relisted.listing);
    };
    assert!(since > removed_at && since < ago(1.5));
    assert_eq!(relisted.pricing_kind, PricingKind::Metered);
    assert_eq!(
        prices(&relisted),
        [
            (Meter::InputTokens, 0, String::new(), "0.000001".to_owned()),
            (Meter::OutputTokens, 0, String::new(), "0.000002".to_owned()),
        ]
    );
    // Added again at the relisting (on SQLite the statements of one
    // transaction may be a few milliseconds apart).
    assert!(relisted
        .components
        .iter()
        .all(|c| (c.since - since).abs() < time::Duration::SECOND && c.since > removed_at));

    let free = at(0.5).await;
    assert_eq!(free.pricing_kind, PricingKind::Free);
    let priced = cost(&free.price_card(), &Usage::tokens(10, 10), ago(0.5)).expect("free");
    assert_eq!(priced.total_usd.to_string(), "0");
}

/// Data written before the listing history existed: the migration recorded
/// each model as listed since first seen with its current kind, so the kind
/// history is lost. The card's kind then follows its components' numbers;
/// with none, a recorded metered kind cannot be told and is unknown: never
/// a price (and never a silent zero).
async fn kinds_from_before_the_listing_history(store: Store) {
    let p = provider("openrouter");
    let metered = raw("was/metered", &[(base(Meter::InputTokens), "0.000001")]);
    let free_later = raw("was/metered", &[(base(Meter::InputTokens), "0")]);
    let dynamic_first = with_pricing(raw("was/dynamic", &[]), RawPricing::Dynamic);
    let metered_later = raw("was/dynamic", &[(base(Meter::InputTokens), "0.000002")]);
    sync(&store, &p, vec![metered, dynamic_first]).await;
    store.age_catalogue_for_tests(HOUR).await.expect("age");
    sync(&store, &p, vec![free_later, metered_later]).await;
    // What migration 2026-11-30-000003 would have recorded.
    store
        .raw_batch_for_tests(
            "DELETE FROM model_status_history WHERE change = 'kind_changed'; \
             UPDATE model_status_history SET pricing_kind = \
             (SELECT m.pricing_kind FROM models m WHERE m.id = model_status_history.model_id);",
        )
        .await
        .expect("as migrated");
    let before = OffsetDateTime::now_utc() - time::Duration::minutes(30);
    let was_metered = card(&store, "was/metered", before).await;
    assert_eq!(was_metered.pricing_kind, PricingKind::Metered);
    let priced = cost(&was_metered.price_card(), &Usage::tokens(1000, 0), before)
        .expect("priced at the old price, not as free");
    assert_eq!(priced.total_usd.to_string(), "0.001");
    let was_dynamic = card(&store, "was/dynamic", before).await;
    assert_eq!(was_dynamic.pricing_kind, PricingKind::Unknown);
    let refused = cost(&was_dynamic.price_card(), &Usage::tokens(1000, 0), before)
        .expect_err("no price then");
    assert_eq!(refused.kind.code(), "unknown_pricing");
    // Now both are what their numbers say.
    let now = OffsetDateTime::now_utc();
    assert_eq!(
        card(&store, "was/metered", now).await.pricing_kind,
        PricingKind::Free
    );
    assert_eq!(
        card(&store, "was/dynamic", now).await.pricing_kind,
        PricingKind::Metered
    );
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

async fn many_pairs_in_one_query_in_order(store: Store) {
    let p = provider("openrouter");
    sync(
        &store,
        &p,
        vec![
            raw("m/one", &[(base(Meter::InputTokens), "0.000001")]),
            raw("m/two", &[(base(Meter::InputTokens), "0.000002")]),
        ],
    )
    .await;
    store.age_catalogue_for_tests(HOUR).await.expect("age");
    sync(
        &store,
        &p,
        vec![
            raw("m/one", &[(base(Meter::InputTokens), "0.000005")]),
            raw("m/two", &[(base(Meter::InputTokens), "0.000002")]),
        ],
    )
    .await;
    let now = OffsetDateTime::now_utc();
    let half_hour_ago = now - time::Duration::minutes(30);
    let asked = [
        ("m/one", now),
        ("m/one", half_hour_ago),
        ("no/such", now),
        ("m/two", half_hour_ago),
        ("m/one", now - time::Duration::hours(3)),
    ];
    let requests: Vec<CardRequest<'_>> = asked
        .iter()
        .map(|(model, at)| CardRequest {
            provider: "openrouter",
            model_id: model,
            at: *at,
        })
        .collect();
    let cards = store.cards_at(&requests).await.expect("cards");
    assert_eq!(cards.len(), 5);
    let price = |i: usize| {
        cards[i].as_ref().map(|c| {
            c.components
                .first()
                .map(|c| c.component.usd_per_unit.to_string())
        })
    };
    assert_eq!(price(0), Some(Some("0.000005".to_owned())));
    assert_eq!(price(1), Some(Some("0.000001".to_owned())));
    assert_eq!(price(2), None, "unknown model");
    assert_eq!(price(3), Some(Some("0.000002".to_owned())));
    assert!(matches!(
        cards[4].as_ref().map(|c| c.listing),
        Some(Listing::NotYet { .. })
    ));
    // Another provider's model of the same id is not this one.
    let other = store
        .card_at("nearai", "m/one", now)
        .await
        .expect("card query");
    assert!(other.is_none());
}

async fn a_long_history_answers_with_the_latest_rows(store: Store) {
    // 300 changes of the input price, the output price never: each key's
    // latest row is found however far back it is.
    let p = provider("openrouter");
    for i in 1..=300 {
        let input = format!("{i}e-9");
        sync(
            &store,
            &p,
            vec![raw(
                "long/model",
                &[
                    (base(Meter::InputTokens), &input),
                    (base(Meter::OutputTokens), "0.000002"),
                ],
            )],
        )
        .await;
        store
            .age_catalogue_for_tests(Duration::from_secs(60))
            .await
            .expect("age");
    }
    let now = OffsetDateTime::now_utc();
    let current = card(&store, "long/model", now).await;
    assert_eq!(
        prices(&current),
        [
            (Meter::InputTokens, 0, String::new(), "0.0000003".to_owned()),
            (Meter::OutputTokens, 0, String::new(), "0.000002".to_owned()),
        ]
    );
    // 100.5 minutes ago, the 200th price was in force (one per minute, the
    // last aged one minute).
    let past = card(&store, "long/model", now - time::Duration::seconds(6030)).await;
    assert_eq!(prices(&past)[0].3, "0.0000002");
    assert_eq!(current.components[1].since, past.components[1].since);
}

async fn the_catalogue_is_the_current_cards(store: Store) {
    let p = provider("openrouter");
    let writes = store.watch_price_writes();
    let empty = store.load_catalogue().await.expect("catalogue");
    assert!(empty.cards.is_empty());
    let version = store.catalogue_version().await.expect("version");
    assert_eq!(empty.version, version);
    sync(
        &store,
        &p,
        vec![
            raw("c/one", &[(base(Meter::InputTokens), "0.000001")]),
            raw("c/two", &[(base(Meter::InputTokens), "0.000002")]),
            with_pricing(raw("c/auto", &[]), RawPricing::Dynamic),
        ],
    )
    .await;
    assert_eq!(*writes.borrow(), 1, "the local write count moved at commit");
    assert_eq!(
        store.catalogue_version().await.expect("version"),
        version + 1
    );
    // An unchanged list writes nothing and moves nothing.
    sync(
        &store,
        &p,
        vec![
            raw("c/one", &[(base(Meter::InputTokens), "0.000001")]),
            raw("c/two", &[(base(Meter::InputTokens), "0.000002")]),
            with_pricing(raw("c/auto", &[]), RawPricing::Dynamic),
        ],
    )
    .await;
    assert_eq!(*writes.borrow(), 1);
    assert_eq!(
        store.catalogue_version().await.expect("version"),
        version + 1
    );
    // c/two removed (2 of 3 still listed: above the shrink guard).
    sync(
        &store,
        &p,
        vec![
            raw("c/one", &[(base(Meter::InputTokens), "0.000001")]),
            with_pricing(raw("c/auto", &[]), RawPricing::Dynamic),
        ],
    )
    .await;
    let loaded = store.load_catalogue().await.expect("catalogue");
    assert_eq!(loaded.version, version + 2);
    let names: Vec<String> = loaded.cards.iter().map(ModelCard::name).collect();
    assert_eq!(
        names,
        ["openrouter/c/auto", "openrouter/c/one", "openrouter/c/two"]
    );
    let now = OffsetDateTime::now_utc();
    for current in &loaded.cards {
        let at_now = card(&store, &current.model_id, now).await;
        assert_eq!(&at_now, current, "the current card is the card at now");
    }
    assert!(matches!(loaded.cards[2].listing, Listing::Removed { .. }));
    assert!(loaded.cards[2].components.is_empty());
}

pricesync_store::on_both_backends!(
    a_price_change_between_two_instants,
    windows_and_bands_at_an_instant,
    kinds_removals_and_relistings_at_an_instant,
    kinds_from_before_the_listing_history,
    many_pairs_in_one_query_in_order,
    a_long_history_answers_with_the_latest_rows,
    the_catalogue_is_the_current_cards,
);
