//! The diff of a provider's stored list against a freshly fetched one.
//!
//! Change detection is exact equality of the canonical components: no
//! threshold, so a 5x change on a model that costs 1e-8 per token is seen.

use std::collections::{HashMap, HashSet};

use crate::{
    ComponentKey, HeldChange, ModelId, ModelOffering, ModelStatus, PriceComponent, StoredOffering,
    UsdPerUnit, ValidatedList,
};

/// Refuses removals when a fresh list is suspiciously short: an empty or
/// truncated response must not mark a provider's whole catalogue removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShrinkGuard {
    /// Removals happen only when the fresh list holds at least this percentage
    /// of the currently active models. Default 50.
    pub min_listed_percent: u8,
}

impl Default for ShrinkGuard {
    fn default() -> Self {
        Self {
            min_listed_percent: 50,
        }
    }
}

/// Removals that the [`ShrinkGuard`] held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SuppressedRemoval {
    /// Active models before the sync.
    pub active_before: usize,
    /// Models in the fresh list (valid and skipped).
    pub listed: usize,
    /// Models that would have been marked removed.
    pub would_remove: usize,
}

/// A change to one component of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentChange {
    /// A new component.
    Added(PriceComponent),
    /// The price of an existing component changed.
    Changed {
        /// Before.
        old: PriceComponent,
        /// After.
        new: PriceComponent,
    },
    /// A component that no longer exists.
    Removed(PriceComponent),
}

/// A model whose offering changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelChange {
    /// The stored offering.
    pub before: ModelOffering,
    /// The fresh offering.
    pub after: ModelOffering,
    /// The component changes. For a reactivated model every component of
    /// `after` is [`ComponentChange::Added`] (its removal recorded every
    /// component as removed).
    pub components: Vec<ComponentChange>,
}

/// What a sync would change for one provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceDiff {
    /// Models never seen before.
    pub added: Vec<ModelOffering>,
    /// Models that were marked removed and are listed again.
    pub reactivated: Vec<ModelChange>,
    /// Active models whose prices, kind or descriptive fields changed.
    pub updated: Vec<ModelChange>,
    /// Active models with nothing changed.
    pub unchanged: Vec<ModelId>,
    /// Active models missing from the fresh list, with their last offering.
    pub removed: Vec<ModelOffering>,
    /// Set when the shrink guard held removals back.
    pub suppressed_removal: Option<SuppressedRemoval>,
    /// Component changes held for an admin's decision (see
    /// [`crate::hold_implausible_changes`]); not part of `updated`.
    pub held: Vec<HeldChange>,
}

impl PriceDiff {
    /// Whether applying the diff changes no price or model (held changes
    /// are not applied, so they do not count).
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.reactivated.is_empty()
            && self.updated.is_empty()
            && self.removed.is_empty()
    }

    /// Every component change, with the model it belongs to. Added models
    /// yield `Added` for each component, removed models `Removed`.
    pub fn component_changes(&self) -> impl Iterator<Item = (&ModelId, ComponentChange)> + '_ {
        let added = self.added.iter().flat_map(|o| {
            o.components()
                .iter()
                .map(move |c| (o.model_id(), ComponentChange::Added(*c)))
        });
        let changed = self
            .reactivated
            .iter()
            .chain(&self.updated)
            .flat_map(|m| m.components.iter().map(move |c| (m.after.model_id(), *c)));
        let removed = self.removed.iter().flat_map(|o| {
            o.components()
                .iter()
                .map(move |c| (o.model_id(), ComponentChange::Removed(*c)))
        });
        added.chain(changed).chain(removed)
    }
}

/// How a model changes in a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelChangeKind {
    /// A model never seen before.
    Added,
    /// A listed model whose prices, kind or descriptive fields changed.
    Updated,
    /// A removed model listed again.
    Reactivated,
    /// A model no longer listed.
    Removed,
}

/// How one component changes in a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentChangeKind {
    /// A new component.
    Added,
    /// A new price for an existing component.
    Changed,
    /// A component no longer priced.
    Removed,
    /// A new price held for an admin's approval (the old one stays).
    Held,
}

macro_rules! text_enum {
    ($name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        impl $name {
            /// The stored and serialised name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!("unknown {} {other:?}", stringify!($name))),
                }
            }
        }
    };
}

text_enum!(ModelChangeKind {
    Added = "added",
    Updated = "updated",
    Reactivated = "reactivated",
    Removed = "removed",
});
text_enum!(ComponentChangeKind {
    Added = "added",
    Changed = "changed",
    Removed = "removed",
    Held = "held",
});

/// One component of a [`DiffEntry`]: which price, how it changes, and its
/// value before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiffComponent {
    /// Meter, band and window.
    pub key: ComponentKey,
    /// How it changes.
    pub change: ComponentChangeKind,
    /// The price in force before (none for an added component).
    pub old: Option<UsdPerUnit>,
    /// The price after (none for a removed one; for a held one, the price
    /// the provider lists, not applied).
    pub new: Option<UsdPerUnit>,
}

/// A line of a diff as a report shows it: a model's component change, or a
/// model whose kind or descriptive fields alone changed (`component` none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffEntry {
    /// The model.
    pub model_id: ModelId,
    /// How the model changes.
    pub model_change: ModelChangeKind,
    /// The component change, if any.
    pub component: Option<DiffComponent>,
}

impl DiffComponent {
    fn of(change: ComponentChange) -> Self {
        let (change, key, old, new) = match change {
            ComponentChange::Added(c) => (ComponentChangeKind::Added, c.key(), None, Some(c)),
            ComponentChange::Changed { old, new } => (
                ComponentChangeKind::Changed,
                new.key(),
                Some(old),
                Some(new),
            ),
            ComponentChange::Removed(c) => (ComponentChangeKind::Removed, c.key(), Some(c), None),
        };
        Self {
            key,
            change,
            old: old.map(|c| c.usd_per_unit),
            new: new.map(|c| c.usd_per_unit),
        }
    }
}

impl PriceDiff {
    /// The whole diff as report lines, by model id, then in the order added,
    /// changed, held, removed components come for that model.
    pub fn entries(&self) -> Vec<DiffEntry> {
        let mut entries = Vec::new();
        let mut push =
            |model: &ModelId, kind: ModelChangeKind, component: Option<DiffComponent>| {
                entries.push(DiffEntry {
                    model_id: model.clone(),
                    model_change: kind,
                    component,
                });
            };
        for offering in &self.added {
            for c in offering.components() {
                push(
                    offering.model_id(),
                    ModelChangeKind::Added,
                    Some(DiffComponent::of(ComponentChange::Added(*c))),
                );
            }
            if offering.components().is_empty() {
                push(offering.model_id(), ModelChangeKind::Added, None);
            }
        }
        let changed = self
            .reactivated
            .iter()
            .map(|m| (m, ModelChangeKind::Reactivated))
            .chain(self.updated.iter().map(|m| (m, ModelChangeKind::Updated)));
        for (model, kind) in changed {
            for c in &model.components {
                push(model.after.model_id(), kind, Some(DiffComponent::of(*c)));
            }
            let held_here = self
                .held
                .iter()
                .any(|h| &h.model_id == model.after.model_id());
            if model.components.is_empty() && !held_here {
                push(model.after.model_id(), kind, None);
            }
        }
        for held in &self.held {
            push(
                &held.model_id,
                ModelChangeKind::Updated,
                Some(DiffComponent {
                    key: held.new.key(),
                    change: ComponentChangeKind::Held,
                    old: Some(held.old.usd_per_unit),
                    new: Some(held.new.usd_per_unit),
                }),
            );
        }
        for offering in &self.removed {
            for c in offering.components() {
                push(
                    offering.model_id(),
                    ModelChangeKind::Removed,
                    Some(DiffComponent::of(ComponentChange::Removed(*c))),
                );
            }
            if offering.components().is_empty() {
                push(offering.model_id(), ModelChangeKind::Removed, None);
            }
        }
        // Stable: a model's lines keep the order above.
        entries.sort_by(|a, b| a.model_id.cmp(&b.model_id));
        entries
    }
}

/// The component changes from `before` to `after`, in key order.
pub fn component_diff(before: &[PriceComponent], after: &[PriceComponent]) -> Vec<ComponentChange> {
    let old: HashMap<_, _> = before.iter().map(|c| (c.key(), c)).collect();
    let new: HashMap<_, _> = after.iter().map(|c| (c.key(), c)).collect();
    let mut changes = Vec::new();
    for component in after {
        match old.get(&component.key()) {
            None => changes.push(ComponentChange::Added(*component)),
            Some(previous) if previous.usd_per_unit != component.usd_per_unit => {
                changes.push(ComponentChange::Changed {
                    old: **previous,
                    new: *component,
                });
            }
            Some(_) => {}
        }
    }
    for component in before {
        if !new.contains_key(&component.key()) {
            changes.push(ComponentChange::Removed(*component));
        }
    }
    changes
}

/// Diffs a provider's stored models against its freshly validated list.
///
/// Models the fresh list *skipped* are still listed upstream: they are
/// neither removed nor changed (their stored price stays).
pub fn diff_price_lists(
    stored: &[StoredOffering],
    fresh: &ValidatedList,
    guard: ShrinkGuard,
) -> PriceDiff {
    let by_id: HashMap<&ModelId, &StoredOffering> =
        stored.iter().map(|s| (s.offering.model_id(), s)).collect();
    let mut diff = PriceDiff::default();
    for offering in fresh.offerings() {
        match by_id.get(offering.model_id()) {
            None => diff.added.push(offering.clone()),
            Some(previous) if previous.status == ModelStatus::Removed => {
                diff.reactivated.push(ModelChange {
                    before: previous.offering.clone(),
                    after: offering.clone(),
                    components: component_diff(&[], offering.components()),
                });
            }
            Some(previous) => {
                let before = &previous.offering;
                if before.same_prices(offering) && before.same_metadata(offering) {
                    diff.unchanged.push(offering.model_id().clone());
                } else {
                    diff.updated.push(ModelChange {
                        before: before.clone(),
                        after: offering.clone(),
                        components: component_diff(before.components(), offering.components()),
                    });
                }
            }
        }
    }

    let listed: HashSet<&str> = fresh
        .offerings()
        .iter()
        .map(|o| o.model_id().as_str())
        .chain(fresh.skipped().iter().map(|s| s.provider_model_id.as_str()))
        .collect();
    let active: Vec<&StoredOffering> = stored
        .iter()
        .filter(|s| s.status == ModelStatus::Active)
        .collect();
    let missing: Vec<ModelOffering> = active
        .iter()
        .filter(|s| !listed.contains(s.offering.model_id().as_str()))
        .map(|s| s.offering.clone())
        .collect();
    let shrunk = listed.len() * 100 < active.len() * usize::from(guard.min_listed_percent);
    if !missing.is_empty() && shrunk {
        diff.suppressed_removal = Some(SuppressedRemoval {
            active_before: active.len(),
            listed: listed.len(),
            would_remove: missing.len(),
        });
    } else {
        diff.removed = missing;
    }
    diff
}

/// Applies a diff to a stored list in memory: what the store does, without
/// a database. Used by tests and in-memory stores.
pub fn apply_diff(stored: &[StoredOffering], diff: &PriceDiff) -> Vec<StoredOffering> {
    let mut by_id: HashMap<ModelId, StoredOffering> = stored
        .iter()
        .map(|s| (s.offering.model_id().clone(), s.clone()))
        .collect();
    let upserts = diff.added.iter().chain(
        diff.reactivated
            .iter()
            .chain(&diff.updated)
            .map(|m| &m.after),
    );
    for offering in upserts {
        by_id.insert(
            offering.model_id().clone(),
            StoredOffering {
                offering: offering.clone(),
                status: ModelStatus::Active,
            },
        );
    }
    for offering in &diff.removed {
        if let Some(entry) = by_id.get_mut(offering.model_id()) {
            entry.status = ModelStatus::Removed;
        }
    }
    let mut result: Vec<StoredOffering> = by_id.into_values().collect();
    result.sort_by(|a, b| a.offering.model_id().cmp(b.offering.model_id()));
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        validate_price_list, ComponentKey, Meter, PriceSource, RawOffering, RawPricing,
        ValidationPolicy,
    };
    use rust_decimal::Decimal;

    fn raw(id: &str, input: &str) -> RawOffering {
        RawOffering {
            provider_model_id: id.to_owned(),
            display_name: None,
            context_length: None,
            source: PriceSource::Api,
            pricing: RawPricing::Metered(vec![(
                ComponentKey::base(Meter::InputTokens),
                crate::parse_decimal(input).expect("test literal"),
            )]),
        }
    }

    fn fresh(models: &[(&str, &str)]) -> ValidatedList {
        validate_price_list(
            models.iter().map(|(id, p)| raw(id, p)),
            &ValidationPolicy::default(),
        )
    }

    fn stored(list: &ValidatedList) -> Vec<StoredOffering> {
        list.offerings()
            .iter()
            .map(|o| StoredOffering {
                offering: o.clone(),
                status: ModelStatus::Active,
            })
            .collect()
    }

    #[test]
    fn a_tiny_relative_change_is_a_change() {
        // The replaced system's absolute 1e-7 threshold hid this 5x change.
        let old = stored(&fresh(&[("cheap", "0.00000001")]));
        let diff = diff_price_lists(
            &old,
            &fresh(&[("cheap", "0.00000005")]),
            ShrinkGuard::default(),
        );
        assert_eq!(diff.updated.len(), 1);
        assert!(matches!(
            diff.updated[0].components[..],
            [ComponentChange::Changed { .. }]
        ));
    }

    #[test]
    fn missing_models_are_removed_but_skipped_ones_are_not() {
        let old = stored(&fresh(&[
            ("a", "0.000001"),
            ("b", "0.000001"),
            ("c", "0.000001"),
        ]));
        let mut new = fresh(&[("a", "0.000001"), ("b", "0.000001")]);
        new.add_skipped([crate::SkippedModel {
            provider_model_id: "c".to_owned(),
            reason: crate::SkipReason::Unparseable("bad".to_owned()),
        }]);
        let diff = diff_price_lists(&old, &new, ShrinkGuard::default());
        assert!(diff.removed.is_empty(), "a skipped model is still listed");
        let diff = diff_price_lists(
            &old,
            &fresh(&[("a", "0.000001"), ("b", "0.000001")]),
            ShrinkGuard::default(),
        );
        let removed: Vec<&str> = diff.removed.iter().map(|o| o.model_id().as_str()).collect();
        assert_eq!(removed, ["c"]);
    }

    #[test]
    fn a_shrunken_list_removes_nothing() {
        let old = stored(&fresh(&[
            ("a", "0.000001"),
            ("b", "0.000001"),
            ("c", "0.000001"),
        ]));
        let diff = diff_price_lists(&old, &fresh(&[("a", "0.000001")]), ShrinkGuard::default());
        assert!(diff.removed.is_empty());
        assert_eq!(
            diff.suppressed_removal,
            Some(SuppressedRemoval {
                active_before: 3,
                listed: 1,
                would_remove: 2
            })
        );
        let empty = diff_price_lists(&old, &ValidatedList::default(), ShrinkGuard::default());
        assert!(empty.removed.is_empty());
        assert!(empty.suppressed_removal.is_some());
    }

    #[test]
    fn a_removed_model_that_returns_is_reactivated() {
        let mut old = stored(&fresh(&[("a", "0.000001")]));
        old[0].status = ModelStatus::Removed;
        let diff = diff_price_lists(&old, &fresh(&[("a", "0.000001")]), ShrinkGuard::default());
        assert_eq!(diff.reactivated.len(), 1);
        assert!(matches!(
            diff.reactivated[0].components[..],
            [ComponentChange::Added(_)]
        ));
        let after = apply_diff(&old, &diff);
        assert_eq!(after[0].status, ModelStatus::Active);
    }

    #[test]
    fn entries_list_every_change_by_model() {
        let mut old = stored(&fresh(&[
            ("a", "0.000001"),
            ("b", "0.000001"),
            ("c", "0.000001"),
            ("r", "0.000002"),
        ]));
        old[3].status = ModelStatus::Removed;
        let diff = diff_price_lists(
            &old,
            &fresh(&[
                ("a", "0.000002"),
                ("b", "0.000001"),
                ("n", "0.000003"),
                ("r", "0.000002"),
            ]),
            ShrinkGuard {
                min_listed_percent: 0,
            },
        );
        type Line<'a> = (
            String,
            &'a str,
            Option<&'a str>,
            Option<String>,
            Option<String>,
        );
        let lines: Vec<Line> = diff
            .entries()
            .into_iter()
            .map(|e| {
                let c = e.component.expect("every change here is a component's");
                (
                    e.model_id.as_str().to_owned(),
                    e.model_change.as_str(),
                    Some(c.change.as_str()),
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
                    "a".to_owned(),
                    "updated",
                    Some("changed"),
                    s("0.000001"),
                    s("0.000002")
                ),
                (
                    "c".to_owned(),
                    "removed",
                    Some("removed"),
                    s("0.000001"),
                    None
                ),
                ("n".to_owned(), "added", Some("added"), None, s("0.000003")),
                (
                    "r".to_owned(),
                    "reactivated",
                    Some("added"),
                    None,
                    s("0.000002")
                ),
            ]
        );
        for kind in [
            ModelChangeKind::Added,
            ModelChangeKind::Updated,
            ModelChangeKind::Reactivated,
            ModelChangeKind::Removed,
        ] {
            assert_eq!(kind.as_str().parse::<ModelChangeKind>(), Ok(kind));
        }
        for kind in [
            ComponentChangeKind::Added,
            ComponentChangeKind::Changed,
            ComponentChangeKind::Removed,
            ComponentChangeKind::Held,
        ] {
            assert_eq!(kind.as_str().parse::<ComponentChangeKind>(), Ok(kind));
        }
    }

    #[test]
    fn metadata_changes_are_updates_without_component_changes() {
        let old = stored(&fresh(&[("a", "0.000001")]));
        let mut renamed = raw("a", "0.000001");
        renamed.display_name = Some("Model A".to_owned());
        let new = validate_price_list([renamed], &ValidationPolicy::default());
        let diff = diff_price_lists(&old, &new, ShrinkGuard::default());
        assert_eq!(diff.updated.len(), 1);
        assert!(diff.updated[0].components.is_empty());
        assert_eq!(diff.component_changes().count(), 0);
        assert!(!diff.is_empty());
        assert_eq!(Decimal::ZERO, Decimal::ZERO);
    }
}
