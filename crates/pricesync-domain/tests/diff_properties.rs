//! Property tests of the price-list diff.

use std::collections::{HashMap, HashSet};

use pricesync_domain::{
    apply_diff, diff_price_lists, validate_price_list, ComponentChange, ComponentKey, Decimal,
    Meter, ModelOffering, ModelStatus, PriceSource, RawOffering, RawPricing, ShrinkGuard,
    StoredOffering, TimeWindow, ValidatedList, ValidationPolicy,
};
use proptest::prelude::*;

/// Prices from a small set so that equal and unequal prices both happen.
fn price() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        Just(Decimal::ZERO),
        Just(Decimal::new(3, 6)),
        Just(Decimal::new(15, 6)),
        Just(Decimal::new(1875, 10)),
        Just(Decimal::new(131, 12)),
    ]
}

fn pricing() -> impl Strategy<Value = RawPricing> {
    let key = (
        prop::sample::select(vec![
            Meter::InputTokens,
            Meter::OutputTokens,
            Meter::CacheReadTokens,
        ]),
        prop::sample::select(vec![0u64, 200_000]),
        prop::sample::select(vec![None, Some((600u16, 60u16)), Some((60, 600))]),
    )
        .prop_map(|(meter, min_prompt_tokens, window)| {
            let key = ComponentKey::band(meter, min_prompt_tokens);
            match window.map(|(start, end)| TimeWindow::from_minutes(start, end)) {
                Some(Ok(window)) => key.in_window(window),
                _ => key,
            }
        });
    prop_oneof![
        4 => prop::collection::btree_map(key, price(), 1..5).prop_map(|mut m| {
            // A valid list: a meter and band with a time-of-day price also
            // has a price for the rest of the day.
            let windowed: Vec<(ComponentKey, Decimal)> = m
                .iter()
                .filter(|(k, _)| k.window.is_some())
                .map(|(k, v)| (*k, *v))
                .collect();
            for (k, v) in windowed {
                m.entry(ComponentKey::band(k.meter, k.min_prompt_tokens))
                    .or_insert(v);
            }
            RawPricing::Metered(m.into_iter().collect())
        }),
        1 => Just(RawPricing::Dynamic),
        1 => Just(RawPricing::Subscription),
    ]
}

/// A valid list over model ids m0..m11, so that lists overlap.
fn price_list() -> impl Strategy<Value = ValidatedList> {
    prop::collection::btree_map(0u8..12, (pricing(), prop::option::of("[A-C]")), 0..12).prop_map(
        |models| {
            let raws = models.into_iter().map(|(n, (pricing, name))| RawOffering {
                provider_model_id: format!("m{n}"),
                display_name: name,
                context_length: None,
                source: PriceSource::Api,
                pricing,
            });
            validate_price_list(raws, &ValidationPolicy::default())
        },
    )
}

fn stored_list() -> impl Strategy<Value = Vec<StoredOffering>> {
    (price_list(), prop::collection::vec(any::<bool>(), 12)).prop_map(|(list, removed)| {
        list.offerings()
            .iter()
            .zip(removed)
            .map(|(offering, removed)| StoredOffering {
                offering: offering.clone(),
                status: if removed {
                    ModelStatus::Removed
                } else {
                    ModelStatus::Active
                },
            })
            .collect()
    })
}

fn active(stored: &[StoredOffering]) -> Vec<ModelOffering> {
    let mut active: Vec<ModelOffering> = stored
        .iter()
        .filter(|s| s.status == ModelStatus::Active)
        .map(|s| s.offering.clone())
        .collect();
    active.sort_by(|a, b| a.model_id().cmp(b.model_id()));
    active
}

/// Never suppress removals, so that the new list is reached exactly.
const NO_GUARD: ShrinkGuard = ShrinkGuard {
    min_listed_percent: 0,
};

proptest! {
    #[test]
    fn applying_the_diff_to_the_old_list_yields_the_new_list(
        old in stored_list(),
        new in price_list(),
    ) {
        let diff = diff_price_lists(&old, &new, NO_GUARD);
        let result = apply_diff(&old, &diff);
        prop_assert_eq!(active(&result), new.offerings().to_vec());
        // Nothing is deleted: every model ever stored is still there.
        let ids: HashSet<_> = result.iter().map(|s| s.offering.model_id().clone()).collect();
        for s in &old {
            prop_assert!(ids.contains(s.offering.model_id()));
        }
    }

    #[test]
    fn diffing_a_list_with_itself_yields_only_unchanged(list in price_list()) {
        let stored: Vec<StoredOffering> = list
            .offerings()
            .iter()
            .map(|o| StoredOffering { offering: o.clone(), status: ModelStatus::Active })
            .collect();
        let diff = diff_price_lists(&stored, &list, ShrinkGuard::default());
        prop_assert!(diff.is_empty());
        prop_assert_eq!(diff.unchanged.len(), list.offerings().len());
        prop_assert_eq!(diff.component_changes().count(), 0);
        prop_assert_eq!(diff.suppressed_removal, None);
    }

    #[test]
    fn no_component_is_both_added_and_removed(old in stored_list(), new in price_list()) {
        let diff = diff_price_lists(&old, &new, NO_GUARD);
        let mut added: HashMap<String, HashSet<ComponentKey>> = HashMap::new();
        let mut removed: HashMap<String, HashSet<ComponentKey>> = HashMap::new();
        for (model, change) in diff.component_changes() {
            match change {
                ComponentChange::Added(c) => {
                    prop_assert!(added.entry(model.to_string()).or_default().insert(c.key()));
                }
                ComponentChange::Removed(c) => {
                    prop_assert!(removed.entry(model.to_string()).or_default().insert(c.key()));
                }
                ComponentChange::Changed { old, new } => {
                    prop_assert_eq!(old.key(), new.key());
                    prop_assert_ne!(old.usd_per_unit, new.usd_per_unit);
                }
            }
        }
        for (model, keys) in &added {
            if let Some(gone) = removed.get(model) {
                prop_assert!(keys.is_disjoint(gone), "{} has a key both added and removed", model);
            }
        }
        // And a model is in at most one category.
        let mut seen = HashSet::new();
        let ids = diff.added.iter().map(|o| o.model_id())
            .chain(diff.reactivated.iter().map(|m| m.after.model_id()))
            .chain(diff.updated.iter().map(|m| m.after.model_id()))
            .chain(diff.unchanged.iter())
            .chain(diff.removed.iter().map(|o| o.model_id()));
        for id in ids {
            prop_assert!(seen.insert(id.clone()), "{} appears twice", id);
        }
    }

    #[test]
    fn the_shrink_guard_never_removes_most_of_a_list(old in stored_list(), new in price_list()) {
        let diff = diff_price_lists(&old, &new, ShrinkGuard::default());
        let active_before = old.iter().filter(|s| s.status == ModelStatus::Active).count();
        if new.offerings().len() * 2 < active_before {
            prop_assert!(diff.removed.is_empty());
        }
    }
}
