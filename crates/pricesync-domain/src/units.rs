//! The one place where provider units become canonical USD per unit.
//!
//! Providers publish prices per token, per million tokens, in cents, in
//! 1/10,000 of a dollar or as `{amount, scale}` integers. Each provider module
//! names the unit it reads and calls [`PriceUnit::to_usd_per_unit`]; no other
//! code multiplies or divides prices. Every conversion is exact: a result that
//! would need more than 28 significant digits is an error, never a rounding.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Why a number could not be turned into a canonical price.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// The text is not a decimal number.
    #[error("{0:?} is not a decimal number")]
    NotADecimal(String),
    /// The conversion cannot be represented exactly.
    #[error("{value} in {unit} cannot be converted to USD per unit exactly")]
    Inexact {
        /// The value as published.
        value: Decimal,
        /// Its unit.
        unit: &'static str,
    },
}

/// The unit a provider publishes a price in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceUnit {
    /// USD per unit (per token, per request): OpenRouter, Cerebras.
    UsdPerUnit,
    /// USD per 1,000 units.
    UsdPerThousand,
    /// USD per 1,000,000 units: Together, Featherless, Alibaba (international).
    UsdPerMillion,
    /// US cents per unit: DeepInfra.
    UsdCentsPerUnit,
    /// 1/10,000 USD per 1,000,000 units: Novita (2690 → $0.269 per 1M).
    TenThousandthUsdPerMillion,
    /// US cents per 100,000,000 units: xAI.
    UsdCentsPerHundredMillion,
}

impl PriceUnit {
    /// The unit's name as written in manual price tables.
    pub fn as_str(self) -> &'static str {
        match self {
            PriceUnit::UsdPerUnit => "usd_per_unit",
            PriceUnit::UsdPerThousand => "usd_per_thousand",
            PriceUnit::UsdPerMillion => "usd_per_million",
            PriceUnit::UsdCentsPerUnit => "usd_cents_per_unit",
            PriceUnit::TenThousandthUsdPerMillion => "ten_thousandth_usd_per_million",
            PriceUnit::UsdCentsPerHundredMillion => "usd_cents_per_hundred_million",
        }
    }

    /// How many powers of ten separate this unit from USD per unit.
    fn exponent(self) -> u32 {
        match self {
            PriceUnit::UsdPerUnit => 0,
            PriceUnit::UsdPerThousand => 3,
            PriceUnit::UsdPerMillion => 6,
            PriceUnit::UsdCentsPerUnit => 2,
            PriceUnit::TenThousandthUsdPerMillion => 10,
            PriceUnit::UsdCentsPerHundredMillion => 10,
        }
    }

    /// Converts a value published in this unit to USD per single unit,
    /// exactly.
    pub fn to_usd_per_unit(self, value: Decimal) -> Result<Decimal, UnitError> {
        scale_down(value, self.exponent()).ok_or(UnitError::Inexact {
            value,
            unit: self.as_str(),
        })
    }
}

/// `value × 10^-exponent`, exactly, or `None` when the result would lose
/// digits. Used for `{amount, scale}` prices as well as by [`PriceUnit`].
pub fn scale_down(value: Decimal, exponent: u32) -> Option<Decimal> {
    let value = value.normalize();
    let scale = value.scale().checked_add(exponent)?;
    if scale > Decimal::MAX_SCALE {
        return None;
    }
    let mut result = value;
    result.set_scale(scale).ok()?;
    Some(result.normalize())
}

/// Parses a decimal number from its text without going through a float.
/// Accepts plain (`0.000003`) and scientific (`3e-6`, `1.5E-7`) notation.
pub fn parse_decimal(text: &str) -> Result<Decimal, UnitError> {
    let trimmed = text.trim();
    let parsed = if trimmed.contains(['e', 'E']) {
        Decimal::from_scientific(trimmed)
    } else {
        Decimal::from_str_exact(trimmed)
    };
    match parsed {
        Ok(value) => Ok(value.normalize()),
        Err(_) => Err(UnitError::NotADecimal(text.to_owned())),
    }
}

impl FromStr for PriceUnit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        const ALL: [PriceUnit; 6] = [
            PriceUnit::UsdPerUnit,
            PriceUnit::UsdPerThousand,
            PriceUnit::UsdPerMillion,
            PriceUnit::UsdCentsPerUnit,
            PriceUnit::TenThousandthUsdPerMillion,
            PriceUnit::UsdCentsPerHundredMillion,
        ];
        ALL.into_iter().find(|u| u.as_str() == text).ok_or_else(|| {
            let known: Vec<&str> = ALL.iter().map(|u| u.as_str()).collect();
            format!("unknown price unit {text:?}; known: {}", known.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        parse_decimal(text).expect("test literal")
    }

    #[test]
    fn known_provider_prices_convert_exactly() {
        // Novita: 2690 in 1/10,000 USD per 1M tokens is $0.269 per 1M.
        assert_eq!(
            PriceUnit::TenThousandthUsdPerMillion.to_usd_per_unit(dec("2690")),
            Ok(dec("0.000000269"))
        );
        // DeepInfra: 0.0001 cents per token is $1 per 1M.
        assert_eq!(
            PriceUnit::UsdCentsPerUnit.to_usd_per_unit(dec("0.0001")),
            Ok(dec("0.000001"))
        );
        // Together: $0.88 per 1M.
        assert_eq!(
            PriceUnit::UsdPerMillion.to_usd_per_unit(dec("0.88")),
            Ok(dec("0.00000088"))
        );
        // xAI: 20000 cents per 100M tokens is $2 per 1M.
        assert_eq!(
            PriceUnit::UsdCentsPerHundredMillion.to_usd_per_unit(dec("20000")),
            Ok(dec("0.000002"))
        );
        assert_eq!(
            PriceUnit::UsdPerUnit.to_usd_per_unit(dec("0.000003")),
            Ok(dec("0.000003"))
        );
    }

    #[test]
    fn scaled_amounts() {
        // NEAR: {amount: 850, scale: 9} is 8.5e-7 USD per token.
        assert_eq!(scale_down(dec("850"), 9), Some(dec("0.00000085")));
        assert_eq!(scale_down(dec("1.05"), 6), Some(dec("0.00000105")));
        assert_eq!(scale_down(dec("0"), 9), Some(Decimal::ZERO));
    }

    #[test]
    fn conversions_that_would_round_are_errors() {
        let long = dec("0.1234567890123456789012345678");
        assert!(matches!(
            PriceUnit::UsdPerMillion.to_usd_per_unit(long),
            Err(UnitError::Inexact { .. })
        ));
    }

    #[test]
    fn decimals_parse_without_floats() {
        assert_eq!(
            parse_decimal("0.0016150000000000001").map(|d| d.to_string()),
            Ok("0.0016150000000000001".to_owned())
        );
        assert_eq!(parse_decimal("3e-6"), Ok(dec("0.000003")));
        assert_eq!(parse_decimal("1.5E-7"), Ok(dec("0.00000015")));
        for bad in ["", "abc", "NaN", "inf", "1.2.3", "--1"] {
            assert!(parse_decimal(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn unit_names_round_trip() {
        for unit in [
            PriceUnit::UsdPerMillion,
            PriceUnit::UsdCentsPerHundredMillion,
        ] {
            assert_eq!(unit.as_str().parse::<PriceUnit>(), Ok(unit));
        }
        assert!("per_token".parse::<PriceUnit>().is_err());
    }
}
