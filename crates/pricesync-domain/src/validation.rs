//! Validation of a freshly fetched price list.
//!
//! A model that fails validation is *skipped with a reason*: its stored price
//! stays, and the rest of the provider's list goes on.

use std::collections::HashMap;
use std::fmt;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::{
    ComponentKey, IdError, Meter, MeterUnit, ModelId, ModelOffering, OfferingError, PriceComponent,
    PriceSource, PricingKind, UsdPerUnit,
};

/// Inclusive bounds for a non-zero price of one unit. Zero is always allowed
/// (free); anything outside the bounds is most likely a unit mix-up (a price
/// per 1M tokens read as per token, or the reverse).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MagnitudeBounds {
    /// The smallest non-zero price accepted.
    pub min_nonzero: Decimal,
    /// The largest price accepted.
    pub max: Decimal,
}

/// The rules a fetched price must pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationPolicy {
    /// Bounds for per-token meters. Default: 1e-12 to 1e-2 USD per token.
    pub per_token: MagnitudeBounds,
    /// Bounds for per-event meters (request, image, web search). Default:
    /// 1e-9 to 100 USD per event.
    pub per_event: MagnitudeBounds,
}

impl Default for ValidationPolicy {
    fn default() -> Self {
        Self {
            per_token: MagnitudeBounds {
                min_nonzero: Decimal::new(1, 12),
                max: Decimal::new(1, 2),
            },
            per_event: MagnitudeBounds {
                min_nonzero: Decimal::new(1, 9),
                max: Decimal::new(100, 0),
            },
        }
    }
}

impl ValidationPolicy {
    /// The bounds that apply to a meter.
    pub fn bounds_for(&self, meter: Meter) -> MagnitudeBounds {
        match meter.unit() {
            MeterUnit::Token => self.per_token,
            MeterUnit::Event => self.per_event,
        }
    }
}

/// How a provider module reports a model's pricing before validation. Prices
/// are already converted to USD per unit (see [`crate::PriceUnit`]) but not
/// yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawPricing {
    /// Per-unit prices: `(component key, USD per unit)`.
    Metered(Vec<(ComponentKey, Decimal)>),
    /// The price varies per request.
    Dynamic,
    /// Billed by subscription.
    Subscription,
    /// Listed without a price.
    Unknown,
}

/// A model as a provider module read it, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOffering {
    /// The provider's id of the model, unchecked.
    pub provider_model_id: String,
    /// Human-readable name.
    pub display_name: Option<String>,
    /// Context window in tokens.
    pub context_length: Option<u64>,
    /// Where the price came from.
    pub source: PriceSource,
    /// The prices.
    pub pricing: RawPricing,
}

/// Why a model was skipped. [`SkipReason::code`] gives a short, bounded label
/// for metrics; `Display` gives the detail for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The model id is not acceptable.
    InvalidModelId(IdError),
    /// A price is negative.
    NegativePrice {
        /// Which component.
        key: ComponentKey,
        /// The value.
        value: Decimal,
    },
    /// A non-zero price is below the minimum: likely a unit error.
    BelowMinimum {
        /// Which component.
        key: ComponentKey,
        /// The value.
        value: Decimal,
        /// The bound.
        min: Decimal,
    },
    /// A price is above the maximum: likely a unit error.
    AboveMaximum {
        /// Which component.
        key: ComponentKey,
        /// The value.
        value: Decimal,
        /// The bound.
        max: Decimal,
    },
    /// Two prices for the same meter, band and window.
    DuplicateComponent(ComponentKey),
    /// Two time-of-day windows of the same meter and band overlap: which
    /// price applies in the overlap is unknown.
    OverlappingWindows(ComponentKey, ComponentKey),
    /// Time-of-day windows of a meter and band leave part of the day
    /// without a price, and there is no price for the rest of the day.
    UncoveredTime(ComponentKey),
    /// A time-of-day window is not readable (reported by provider modules).
    InvalidTimeWindow(String),
    /// A metered model without any price.
    NoPrices,
    /// The model appears more than once in the list with different data; no
    /// copy is trusted.
    ConflictingDuplicate,
    /// The provider's entry could not be read (reported by provider modules).
    Unparseable(String),
    /// The provider prices the model in a way pricesync does not model
    /// (reported by provider modules; e.g. per second of GPU time).
    UnsupportedPricing(String),
}

impl SkipReason {
    /// Every value [`SkipReason::code`] gives, for metrics registered at
    /// zero before the first skip.
    pub const CODES: [&'static str; 12] = [
        "invalid_model_id",
        "negative_price",
        "below_minimum",
        "above_maximum",
        "duplicate_component",
        "overlapping_windows",
        "uncovered_time",
        "invalid_time_window",
        "no_prices",
        "conflicting_duplicate",
        "unparseable",
        "unsupported_pricing",
    ];

    /// A short label from a fixed set, safe as a metric label.
    pub fn code(&self) -> &'static str {
        match self {
            SkipReason::InvalidModelId(_) => "invalid_model_id",
            SkipReason::NegativePrice { .. } => "negative_price",
            SkipReason::BelowMinimum { .. } => "below_minimum",
            SkipReason::AboveMaximum { .. } => "above_maximum",
            SkipReason::DuplicateComponent(_) => "duplicate_component",
            SkipReason::OverlappingWindows(..) => "overlapping_windows",
            SkipReason::UncoveredTime(_) => "uncovered_time",
            SkipReason::InvalidTimeWindow(_) => "invalid_time_window",
            SkipReason::NoPrices => "no_prices",
            SkipReason::ConflictingDuplicate => "conflicting_duplicate",
            SkipReason::Unparseable(_) => "unparseable",
            SkipReason::UnsupportedPricing(_) => "unsupported_pricing",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::InvalidModelId(e) => write!(f, "invalid model id: {e}"),
            SkipReason::NegativePrice { key, value } => {
                write!(f, "{key} price {value} is negative")
            }
            SkipReason::BelowMinimum { key, value, min } => write!(
                f,
                "{key} price {value} USD is below {min} USD per unit: likely a unit error"
            ),
            SkipReason::AboveMaximum { key, value, max } => write!(
                f,
                "{key} price {value} USD is above {max} USD per unit: likely a unit error"
            ),
            SkipReason::DuplicateComponent(key) => write!(f, "two prices for {key}"),
            SkipReason::OverlappingWindows(a, b) => {
                write!(f, "time-of-day prices overlap: {a} and {b}")
            }
            SkipReason::UncoveredTime(key) => write!(
                f,
                "the time-of-day prices of {key} leave part of the day without a price"
            ),
            SkipReason::InvalidTimeWindow(detail) => {
                write!(f, "unreadable time-of-day window: {detail}")
            }
            SkipReason::NoPrices => f.write_str("metered model without any price"),
            SkipReason::ConflictingDuplicate => {
                f.write_str("listed more than once with different data")
            }
            SkipReason::Unparseable(detail) => write!(f, "unreadable entry: {detail}"),
            SkipReason::UnsupportedPricing(detail) => write!(f, "unsupported pricing: {detail}"),
        }
    }
}

impl Serialize for SkipReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("SkipReason", 2)?;
        s.serialize_field("code", self.code())?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
    }
}

/// A model left out of a list, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedModel {
    /// The provider's id as given (it may be the invalid part).
    pub provider_model_id: String,
    /// Why.
    pub reason: SkipReason,
}

/// A provider's list after validation: valid offerings sorted by model id,
/// unique, and the models skipped with their reasons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidatedList {
    offerings: Vec<ModelOffering>,
    skipped: Vec<SkippedModel>,
}

impl ValidatedList {
    /// The valid offerings, sorted by model id.
    pub fn offerings(&self) -> &[ModelOffering] {
        &self.offerings
    }

    /// The skipped models.
    pub fn skipped(&self) -> &[SkippedModel] {
        &self.skipped
    }

    /// Adds models the provider module could not read.
    pub fn add_skipped(&mut self, skipped: impl IntoIterator<Item = SkippedModel>) {
        self.skipped.extend(skipped);
    }

    /// Splits the list into its parts.
    pub fn into_parts(self) -> (Vec<ModelOffering>, Vec<SkippedModel>) {
        (self.offerings, self.skipped)
    }
}

/// Validates one raw offering.
pub fn validate_offering(
    raw: &RawOffering,
    policy: &ValidationPolicy,
) -> Result<ModelOffering, SkipReason> {
    let model_id = ModelId::parse(&raw.provider_model_id).map_err(SkipReason::InvalidModelId)?;
    let offering = match &raw.pricing {
        RawPricing::Metered(parts) => {
            let mut components = Vec::with_capacity(parts.len());
            for (key, value) in parts {
                components.push(validate_component(*key, *value, policy)?);
            }
            ModelOffering::metered(model_id, components).map_err(|e| match e {
                OfferingError::DuplicateComponent(key) => SkipReason::DuplicateComponent(key),
                OfferingError::OverlappingWindows(a, b) => SkipReason::OverlappingWindows(a, b),
                OfferingError::UncoveredTime(key) => SkipReason::UncoveredTime(key),
                OfferingError::NoComponents | OfferingError::KindWithoutComponents(_) => {
                    SkipReason::NoPrices
                }
            })?
        }
        RawPricing::Dynamic => ModelOffering::unpriced(model_id, PricingKind::Dynamic)
            .map_err(|_| SkipReason::NoPrices)?,
        RawPricing::Subscription => ModelOffering::unpriced(model_id, PricingKind::Subscription)
            .map_err(|_| SkipReason::NoPrices)?,
        RawPricing::Unknown => ModelOffering::unpriced(model_id, PricingKind::Unknown)
            .map_err(|_| SkipReason::NoPrices)?,
    };
    Ok(offering
        .with_display_name(raw.display_name.clone())
        .with_context_length(raw.context_length)
        .with_source(raw.source))
}

fn validate_component(
    key: ComponentKey,
    value: Decimal,
    policy: &ValidationPolicy,
) -> Result<PriceComponent, SkipReason> {
    let usd_per_unit =
        UsdPerUnit::new(value).map_err(|_| SkipReason::NegativePrice { key, value })?;
    if !usd_per_unit.is_zero() {
        let bounds = policy.bounds_for(key.meter);
        if usd_per_unit.value() < bounds.min_nonzero {
            return Err(SkipReason::BelowMinimum {
                key,
                value,
                min: bounds.min_nonzero,
            });
        }
        if usd_per_unit.value() > bounds.max {
            return Err(SkipReason::AboveMaximum {
                key,
                value,
                max: bounds.max,
            });
        }
    }
    Ok(PriceComponent::new(key, usd_per_unit))
}

/// Validates a provider's whole list. Identical duplicates are merged;
/// duplicates that disagree are all skipped ([`SkipReason::ConflictingDuplicate`]),
/// so the stored price stays rather than a guess between the copies.
pub fn validate_price_list(
    raws: impl IntoIterator<Item = RawOffering>,
    policy: &ValidationPolicy,
) -> ValidatedList {
    let mut by_id: HashMap<String, (RawOffering, bool)> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for raw in raws {
        match by_id.get_mut(&raw.provider_model_id) {
            Some((first, conflicting)) => {
                if *first != raw {
                    *conflicting = true;
                }
            }
            None => {
                order.push(raw.provider_model_id.clone());
                by_id.insert(raw.provider_model_id.clone(), (raw, false));
            }
        }
    }
    let mut list = ValidatedList::default();
    for id in order {
        let Some((raw, conflicting)) = by_id.remove(&id) else {
            continue;
        };
        let result = if conflicting {
            Err(SkipReason::ConflictingDuplicate)
        } else {
            validate_offering(&raw, policy)
        };
        match result {
            Ok(offering) => list.offerings.push(offering),
            Err(reason) => list.skipped.push(SkippedModel {
                provider_model_id: id,
                reason,
            }),
        }
    }
    list.offerings
        .sort_by(|a, b| a.model_id().cmp(b.model_id()));
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_decimal;

    fn dec(text: &str) -> Decimal {
        parse_decimal(text).expect("test literal")
    }

    fn base(meter: Meter) -> ComponentKey {
        ComponentKey::base(meter)
    }

    fn raw(id: &str, prices: &[(Meter, &str)]) -> RawOffering {
        RawOffering {
            provider_model_id: id.to_owned(),
            display_name: None,
            context_length: None,
            source: PriceSource::Api,
            pricing: RawPricing::Metered(prices.iter().map(|(m, p)| (base(*m), dec(p))).collect()),
        }
    }

    #[test]
    fn codes_lists_every_code() {
        let key = base(Meter::InputTokens);
        let every = [
            SkipReason::InvalidModelId(IdError::Empty { what: "model id" }),
            SkipReason::NegativePrice {
                key,
                value: Decimal::ONE,
            },
            SkipReason::BelowMinimum {
                key,
                value: Decimal::ONE,
                min: Decimal::ONE,
            },
            SkipReason::AboveMaximum {
                key,
                value: Decimal::ONE,
                max: Decimal::ONE,
            },
            SkipReason::DuplicateComponent(key),
            SkipReason::OverlappingWindows(key, key),
            SkipReason::UncoveredTime(key),
            SkipReason::InvalidTimeWindow(String::new()),
            SkipReason::NoPrices,
            SkipReason::ConflictingDuplicate,
            SkipReason::Unparseable(String::new()),
            SkipReason::UnsupportedPricing(String::new()),
        ];
        let codes: Vec<&str> = every.iter().map(SkipReason::code).collect();
        assert_eq!(codes, SkipReason::CODES);
    }

    #[test]
    fn a_normal_list_passes() {
        let list = validate_price_list(
            vec![
                raw(
                    "b",
                    &[
                        (Meter::InputTokens, "0.000003"),
                        (Meter::OutputTokens, "0.000015"),
                    ],
                ),
                raw(
                    "a",
                    &[(Meter::InputTokens, "0"), (Meter::OutputTokens, "0")],
                ),
            ],
            &ValidationPolicy::default(),
        );
        assert!(list.skipped().is_empty());
        let ids: Vec<&str> = list
            .offerings()
            .iter()
            .map(|o| o.model_id().as_str())
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(list.offerings()[0].pricing_kind(), PricingKind::Free);
    }

    fn windowed(id: &str, prices: &[(ComponentKey, &str)]) -> RawOffering {
        RawOffering {
            pricing: RawPricing::Metered(prices.iter().map(|(k, p)| (*k, dec(p))).collect()),
            ..raw(id, &[])
        }
    }

    fn at(start: i64, end: i64) -> ComponentKey {
        base(Meter::InputTokens).in_window(crate::TimeWindow::from_hhmm(start, end).expect("test"))
    }

    #[test]
    fn time_of_day_prices_must_say_what_applies_at_every_minute() {
        let policy = ValidationPolicy::default();
        // Peak and off-peak cover the day: valid without an any-time price.
        let day = validate_offering(
            &windowed(
                "m",
                &[(at(1000, 100), "0.000002"), (at(100, 1000), "0.000001")],
            ),
            &policy,
        )
        .expect("windows covering the day");
        assert_eq!(day.components().len(), 2);
        // A peak window beside an any-time price: valid.
        validate_offering(
            &windowed(
                "m",
                &[
                    (at(1000, 100), "0.000002"),
                    (base(Meter::InputTokens), "0.000001"),
                ],
            ),
            &policy,
        )
        .expect("window and any-time price");
        // A peak window alone leaves 01:00-10:00 unpriced.
        let gap = validate_offering(&windowed("m", &[(at(1000, 100), "0.000002")]), &policy);
        assert_eq!(
            gap,
            Err(SkipReason::UncoveredTime(base(Meter::InputTokens)))
        );
        assert_eq!(gap.expect_err("skipped").code(), "uncovered_time");
        // Overlapping windows: which price applies at 00:30 is unknown.
        let overlap = validate_offering(
            &windowed(
                "m",
                &[
                    (at(1000, 100), "0.000002"),
                    (at(0, 1000), "0.000001"),
                    (base(Meter::InputTokens), "0.000001"),
                ],
            ),
            &policy,
        );
        assert_eq!(
            overlap.as_ref().map_err(SkipReason::code),
            Err("overlapping_windows")
        );
        assert!(overlap
            .expect_err("skipped")
            .to_string()
            .contains("input_tokens at 00:00-10:00 UTC"));
        // Other meters and bands are checked apart: a window of the output
        // price does not cover the input price.
        let other_meter = validate_offering(
            &windowed(
                "m",
                &[
                    (at(1000, 100), "0.000002"),
                    (at(100, 1000), "0.000001"),
                    (
                        base(Meter::OutputTokens)
                            .in_window(crate::TimeWindow::from_hhmm(1000, 100).expect("test")),
                        "0.000004",
                    ),
                ],
            ),
            &policy,
        );
        assert_eq!(
            other_meter,
            Err(SkipReason::UncoveredTime(base(Meter::OutputTokens)))
        );
    }

    #[test]
    fn unit_errors_are_caught_by_the_bounds() {
        let policy = ValidationPolicy::default();
        // $3 per 1M read as $3 per token.
        let too_big = validate_offering(&raw("x", &[(Meter::InputTokens, "3")]), &policy);
        assert!(matches!(too_big, Err(SkipReason::AboveMaximum { .. })));
        // $0.10 per 1M divided by 1e6 twice.
        let too_small = validate_offering(
            &raw("x", &[(Meter::InputTokens, "0.0000000000001")]),
            &policy,
        );
        assert!(matches!(too_small, Err(SkipReason::BelowMinimum { .. })));
        // Web search at $0.01 a search is fine: per-event bounds.
        assert!(validate_offering(&raw("x", &[(Meter::WebSearch, "0.01")]), &policy).is_ok());
        // The bounds are configurable.
        let loose = ValidationPolicy {
            per_token: MagnitudeBounds {
                min_nonzero: dec("1e-15"),
                max: dec("10"),
            },
            ..policy
        };
        assert!(validate_offering(&raw("x", &[(Meter::InputTokens, "3")]), &loose).is_ok());
    }

    #[test]
    fn negative_prices_and_bad_ids_are_skipped_with_reasons() {
        let list = validate_price_list(
            vec![
                raw("neg", &[(Meter::InputTokens, "-0.000001")]),
                raw("bad id", &[(Meter::InputTokens, "0.000001")]),
                raw("ok", &[(Meter::InputTokens, "0.000001")]),
                raw("none", &[]),
            ],
            &ValidationPolicy::default(),
        );
        let codes: Vec<(&str, &str)> = list
            .skipped()
            .iter()
            .map(|s| (s.provider_model_id.as_str(), s.reason.code()))
            .collect();
        assert_eq!(
            codes,
            [
                ("neg", "negative_price"),
                ("bad id", "invalid_model_id"),
                ("none", "no_prices")
            ]
        );
        assert_eq!(list.offerings().len(), 1);
        let message = list.skipped()[0].reason.to_string();
        assert!(message.contains("input_tokens"), "{message}");
    }

    #[test]
    fn duplicates_merge_when_equal_and_are_skipped_when_not() {
        let list = validate_price_list(
            vec![
                raw("same", &[(Meter::InputTokens, "0.000001")]),
                raw("same", &[(Meter::InputTokens, "0.000001")]),
                raw("differs", &[(Meter::InputTokens, "0.000001")]),
                raw("differs", &[(Meter::InputTokens, "0.000002")]),
            ],
            &ValidationPolicy::default(),
        );
        assert_eq!(list.offerings().len(), 1);
        assert_eq!(list.offerings()[0].model_id().as_str(), "same");
        assert_eq!(list.skipped().len(), 1);
        assert_eq!(list.skipped()[0].reason, SkipReason::ConflictingDuplicate);
    }

    #[test]
    fn unpriced_kinds_carry_no_components() {
        let mut dynamic = raw("openrouter/auto", &[]);
        dynamic.pricing = RawPricing::Dynamic;
        let offering =
            validate_offering(&dynamic, &ValidationPolicy::default()).expect("dynamic is valid");
        assert_eq!(offering.pricing_kind(), PricingKind::Dynamic);
        assert!(offering.components().is_empty());
    }

    #[test]
    fn skip_reasons_serialise_with_code_and_message() {
        let json = serde_json::to_value(SkipReason::NoPrices).expect("serialise");
        assert_eq!(json["code"], "no_prices");
        assert_eq!(json["message"], "metered model without any price");
    }
}
