//! Turning a provider's published prices into price components: the rules
//! every provider module shares.
//!
//! - Each value is converted from the provider's unit by
//!   [`PriceUnit::to_usd_per_unit`] (the one place that converts units).
//! - Input and output prices are always kept, zero included, so a model
//!   whose prices are all zero is *free*. A zero price of any other meter
//!   (cache, image, request, …) means "not charged separately" or "not
//!   offered" and is left out: recording a zero cache price would bill
//!   cached tokens at nothing when the provider simply has no cache price.
//! - A model with no price at all is [`RawPricing::Unknown`], never an empty
//!   metered list.
//! - Negative and implausible prices are *not* judged here: the domain's
//!   validation skips them with a reason.

use pricesync_domain::{
    ComponentKey, Decimal, Meter, PriceSource, PriceUnit, RawOffering, RawPricing,
};
use serde_json::Value;

use crate::json::decimal;

/// Whether a price is recorded: input and output always, other meters only
/// when non-zero.
pub(crate) fn kept(meter: Meter, price: Decimal) -> bool {
    matches!(meter, Meter::InputTokens | Meter::OutputTokens) || !price.is_zero()
}

/// A model's price components, converted to USD per unit as they are added.
#[derive(Debug)]
pub(crate) struct Components {
    unit: PriceUnit,
    parts: Vec<(ComponentKey, Decimal)>,
}

impl Components {
    /// An empty list whose prices are published in `unit`.
    pub(crate) fn new(unit: PriceUnit) -> Self {
        Self {
            unit,
            parts: Vec::new(),
        }
    }

    /// Adds `value` (in this list's unit) for `meter`, from
    /// `min_prompt_tokens` prompt tokens on (0: the base price).
    pub(crate) fn add(
        &mut self,
        meter: Meter,
        min_prompt_tokens: u64,
        value: Decimal,
    ) -> Result<(), String> {
        if !kept(meter, value) {
            return Ok(());
        }
        self.add_including_zero(meter, min_prompt_tokens, value)
    }

    /// Adds `value` even when it is zero, for a provider whose zero is
    /// documented (or known) to be a price rather than "not offered".
    pub(crate) fn add_including_zero(
        &mut self,
        meter: Meter,
        min_prompt_tokens: u64,
        value: Decimal,
    ) -> Result<(), String> {
        let usd = self
            .unit
            .to_usd_per_unit(value)
            .map_err(|e| format!("{meter}: {e}"))?;
        self.parts
            .push((ComponentKey::band(meter, min_prompt_tokens), usd));
        Ok(())
    }

    /// Adds a price read from JSON; `at` names the field in errors.
    pub(crate) fn add_json(
        &mut self,
        meter: Meter,
        min_prompt_tokens: u64,
        value: &Value,
        at: &str,
    ) -> Result<(), String> {
        let price = decimal(value).map_err(|e| format!("{at} {e}"))?;
        self.add(meter, min_prompt_tokens, price)
    }

    /// Metered, or [`RawPricing::Unknown`] when no price was added.
    pub(crate) fn into_pricing(self) -> RawPricing {
        if self.parts.is_empty() {
            RawPricing::Unknown
        } else {
            RawPricing::Metered(self.parts)
        }
    }
}

/// An input and an output price that come as a pair: `Ok(None)` when both
/// are absent (or null), an error when only one is given (a model billed
/// for input but silent on output cannot be priced safely).
pub(crate) fn input_output(
    unit: PriceUnit,
    input: (&str, Option<&Value>),
    output: (&str, Option<&Value>),
) -> Result<Option<RawPricing>, String> {
    match (present(input.1), present(output.1)) {
        (None, None) => Ok(None),
        (Some(i), Some(o)) => {
            let mut components = Components::new(unit);
            components.add_json(Meter::InputTokens, 0, i, input.0)?;
            components.add_json(Meter::OutputTokens, 0, o, output.0)?;
            Ok(Some(components.into_pricing()))
        }
        (Some(_), None) => Err(format!("{} is given without {}", input.0, output.0)),
        (None, Some(_)) => Err(format!("{} is given without {}", output.0, input.0)),
    }
}

/// The value unless it is absent or `null`.
fn present(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| !v.is_null())
}

/// An offering read from a provider's API.
pub(crate) fn api_offering(
    provider_model_id: String,
    display_name: Option<String>,
    context_length: Option<u64>,
    pricing: RawPricing,
) -> RawOffering {
    RawOffering {
        provider_model_id,
        display_name,
        context_length,
        source: PriceSource::Api,
        pricing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Value {
        serde_json::from_str(text).expect("test literal")
    }

    #[test]
    fn zero_side_prices_are_left_out_but_zero_input_and_output_kept() {
        let mut c = Components::new(PriceUnit::UsdPerMillion);
        c.add(Meter::InputTokens, 0, Decimal::ZERO).expect("adds");
        c.add(Meter::OutputTokens, 0, Decimal::ZERO).expect("adds");
        c.add(Meter::CacheReadTokens, 0, Decimal::ZERO)
            .expect("adds");
        let RawPricing::Metered(parts) = c.into_pricing() else {
            panic!("metered");
        };
        assert_eq!(parts.len(), 2);
        assert_eq!(
            Components::new(PriceUnit::UsdPerUnit).into_pricing(),
            RawPricing::Unknown
        );
    }

    #[test]
    fn pairs_need_both_halves() {
        let one = json("0.88");
        let pricing = input_output(
            PriceUnit::UsdPerMillion,
            ("input", Some(&one)),
            ("output", Some(&one)),
        )
        .expect("reads");
        let Some(RawPricing::Metered(parts)) = pricing else {
            panic!("metered");
        };
        assert_eq!(parts[0].1.to_string(), "0.00000088");
        let null = Value::Null;
        assert_eq!(
            input_output(
                PriceUnit::UsdPerMillion,
                ("input", Some(&null)),
                ("output", None)
            ),
            Ok(None)
        );
        let e = input_output(
            PriceUnit::UsdPerMillion,
            ("input", Some(&one)),
            ("output", None),
        )
        .expect_err("half a pair");
        assert!(e.contains("input is given without output"), "{e}");
        let e = input_output(
            PriceUnit::UsdPerMillion,
            ("input", Some(&json("true"))),
            ("output", Some(&one)),
        )
        .expect_err("wrong type");
        assert!(e.starts_with("input is a boolean"), "{e}");
    }
}
