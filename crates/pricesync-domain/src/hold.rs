//! Holding implausible price changes for an admin's approval.
//!
//! Magnitude bounds catch a price read in the wrong unit when it lands
//! outside every plausible price; they cannot catch a 1000x drop that stays
//! inside the bounds (a $15 per million price read as $0.015 per million).
//! A component whose price moves by more than a factor between two syncs is
//! therefore *held*: the model keeps its old price, and the change waits for
//! an admin to approve or reject it.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::{ComponentChange, ModelId, ModelOffering, PriceComponent, PriceDiff, UsdPerUnit};

/// How far a component's price may move between two syncs before the change
/// is held. A move *to or from zero* is always held when the policy is on:
/// a paid meter that turns free (or the reverse) is exactly the kind of
/// change that costs money when it is a reading error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldPolicy {
    factor: Option<Decimal>,
}

impl Default for HoldPolicy {
    /// Hold moves of more than 10x either way.
    fn default() -> Self {
        Self {
            factor: Some(Decimal::TEN),
        }
    }
}

/// Why a hold factor was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a hold factor: give a decimal number greater than 1 (such as 10), or `off`")]
pub struct HoldFactorError(String);

impl HoldPolicy {
    /// Holds moves of more than `factor` either way; `factor` must exceed 1.
    pub fn factor(factor: Decimal) -> Result<Self, HoldFactorError> {
        if factor > Decimal::ONE {
            Ok(Self {
                factor: Some(factor.normalize()),
            })
        } else {
            Err(HoldFactorError(factor.to_string()))
        }
    }

    /// Holds nothing: every change is applied.
    pub fn off() -> Self {
        Self { factor: None }
    }

    /// The factor, when the policy is on.
    pub fn limit(self) -> Option<Decimal> {
        self.factor
    }

    /// Whether a move from `old` to `new` is held.
    pub fn holds(self, old: UsdPerUnit, new: UsdPerUnit) -> bool {
        let Some(factor) = self.factor else {
            return false;
        };
        if old == new {
            return false;
        }
        let (low, high) = if old < new { (old, new) } else { (new, old) };
        if low.is_zero() {
            return true;
        }
        // high / low > factor, without a division: high > low * factor. A
        // product too large for a decimal is certainly more than `high`.
        match low.value().checked_mul(factor) {
            Some(limit) => high.value() > limit,
            None => false,
        }
    }
}

impl FromStr for HoldPolicy {
    type Err = HoldFactorError;

    /// `off`, or a decimal factor greater than 1.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(Self::off());
        }
        let factor = Decimal::from_str(text).map_err(|_| HoldFactorError(text.to_owned()))?;
        Self::factor(factor)
    }
}

impl fmt::Display for HoldPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.factor {
            Some(factor) => write!(f, "{factor}"),
            None => f.write_str("off"),
        }
    }
}

/// A component change held for an admin's decision: the model keeps `old`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldChange {
    /// The model.
    pub model_id: ModelId,
    /// The stored price, still in force.
    pub old: PriceComponent,
    /// The price the provider now lists.
    pub new: PriceComponent,
}

/// Takes the changes `policy` holds out of `diff.updated` into `diff.held`:
/// each held component keeps its old price in the model's new offering, and
/// a model left with no change at all moves to `diff.unchanged`.
///
/// Only price changes of listed models are held. A new model, a reactivated
/// one, an added or a removed component has no "before" price in force to
/// compare with; the kind changing (to dynamic, say) is not a move of a
/// price either.
pub fn hold_implausible_changes(diff: &mut PriceDiff, policy: HoldPolicy) {
    if policy.limit().is_none() {
        return;
    }
    let updated = std::mem::take(&mut diff.updated);
    for mut change in updated {
        let mut held = Vec::new();
        change.components.retain(|c| match c {
            ComponentChange::Changed { old, new }
                if policy.holds(old.usd_per_unit, new.usd_per_unit) =>
            {
                held.push((*old, *new));
                false
            }
            _ => true,
        });
        if held.is_empty() {
            diff.updated.push(change);
            continue;
        }
        change.after = keep_old_prices(&change.after, &change.before, &held);
        diff.held
            .extend(held.into_iter().map(|(old, new)| HeldChange {
                model_id: change.after.model_id().clone(),
                old,
                new,
            }));
        let unchanged = change.components.is_empty()
            && change.before.same_prices(&change.after)
            && change.before.same_metadata(&change.after);
        if unchanged {
            diff.unchanged.push(change.after.model_id().clone());
        } else {
            diff.updated.push(change);
        }
    }
}

/// `after` with the held components at their old price. If that cannot be
/// built (it always can: the keys are those of `after`), the model keeps
/// its whole stored offering, which is the safe side.
fn keep_old_prices(
    after: &ModelOffering,
    before: &ModelOffering,
    held: &[(PriceComponent, PriceComponent)],
) -> ModelOffering {
    let components = after
        .components()
        .iter()
        .map(|c| {
            held.iter()
                .find(|(old, _)| old.key() == c.key())
                .map_or(*c, |(old, _)| *old)
        })
        .collect();
    match ModelOffering::from_parts(after.model_id().clone(), after.pricing_kind(), components) {
        Ok(offering) => offering
            .with_display_name(after.display_name.clone())
            .with_context_length(after.context_length)
            .with_source(after.source),
        Err(_) => before.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        diff_price_lists, validate_price_list, ComponentKey, Meter, ModelStatus, PriceSource,
        RawOffering, RawPricing, ShrinkGuard, StoredOffering, ValidatedList, ValidationPolicy,
    };

    fn usd(text: &str) -> UsdPerUnit {
        UsdPerUnit::new(crate::parse_decimal(text).expect("test literal")).expect("test literal")
    }

    fn list(models: &[(&str, &str, &str)]) -> ValidatedList {
        validate_price_list(
            models.iter().map(|(id, input, output)| RawOffering {
                provider_model_id: (*id).to_owned(),
                display_name: None,
                context_length: None,
                source: PriceSource::Api,
                pricing: RawPricing::Metered(vec![
                    (
                        ComponentKey::base(Meter::InputTokens),
                        crate::parse_decimal(input).expect("test literal"),
                    ),
                    (
                        ComponentKey::base(Meter::OutputTokens),
                        crate::parse_decimal(output).expect("test literal"),
                    ),
                ]),
            }),
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
    fn the_factor_is_a_bound_either_way() {
        let policy = HoldPolicy::default();
        assert!(
            !policy.holds(usd("0.000001"), usd("0.00001")),
            "exactly 10x up"
        );
        assert!(
            !policy.holds(usd("0.00001"), usd("0.000001")),
            "exactly 10x down"
        );
        assert!(policy.holds(usd("0.000001"), usd("0.0000100001")));
        assert!(policy.holds(usd("0.0000100001"), usd("0.000001")));
        assert!(
            policy.holds(usd("0.000015"), usd("0.000000015")),
            "1000x drop"
        );
        assert!(policy.holds(usd("0"), usd("0.000001")), "from zero");
        assert!(policy.holds(usd("0.000001"), usd("0")), "to zero");
        assert!(!policy.holds(usd("0"), usd("0")));
        assert!(!HoldPolicy::off().holds(usd("0.000015"), usd("0.000000015")));
    }

    #[test]
    fn factors_parse_and_refuse_clearly() {
        assert_eq!("off".parse::<HoldPolicy>(), Ok(HoldPolicy::off()));
        assert_eq!(
            "2.5".parse::<HoldPolicy>().map(HoldPolicy::limit),
            Ok(Some(Decimal::new(25, 1)))
        );
        for bad in ["1", "0.5", "-10", "ten", ""] {
            let error = bad.parse::<HoldPolicy>().expect_err(bad);
            assert!(error.to_string().contains("greater than 1"), "{error}");
        }
    }

    #[test]
    fn a_held_component_keeps_its_old_price_and_the_rest_applies() {
        let old = stored(&list(&[
            ("a", "0.000015", "0.00006"),
            ("b", "0.000001", "0.000002"),
        ]));
        let fresh = list(&[
            ("a", "0.000000015", "0.00007"), // input 1000x down: held; output applies
            ("b", "0.000001", "0.000002"),
        ]);
        let mut diff = diff_price_lists(&old, &fresh, ShrinkGuard::default());
        hold_implausible_changes(&mut diff, HoldPolicy::default());
        assert_eq!(diff.held.len(), 1);
        let held = &diff.held[0];
        assert_eq!(held.model_id.as_str(), "a");
        assert_eq!(held.old.usd_per_unit, usd("0.000015"));
        assert_eq!(held.new.usd_per_unit, usd("0.000000015"));
        assert_eq!(diff.updated.len(), 1);
        let a = &diff.updated[0];
        assert!(matches!(
            a.components[..],
            [ComponentChange::Changed { new, .. }] if new.meter == Meter::OutputTokens
        ));
        let input = a.after.component(ComponentKey::base(Meter::InputTokens));
        assert_eq!(input.map(|c| c.usd_per_unit), Some(usd("0.000015")));
    }

    #[test]
    fn a_model_whose_only_change_is_held_is_unchanged() {
        let old = stored(&list(&[("a", "0.000015", "0.00006")]));
        let fresh = list(&[("a", "0.000015", "0.006")]);
        let mut diff = diff_price_lists(&old, &fresh, ShrinkGuard::default());
        hold_implausible_changes(&mut diff, HoldPolicy::default());
        assert!(diff.updated.is_empty());
        assert_eq!(diff.unchanged.len(), 1);
        assert_eq!(diff.held.len(), 1);
        assert!(diff.is_empty(), "nothing is applied");

        let mut open = diff_price_lists(&old, &fresh, ShrinkGuard::default());
        hold_implausible_changes(&mut open, HoldPolicy::off());
        assert!(open.held.is_empty());
        assert_eq!(open.updated.len(), 1);
    }
}
