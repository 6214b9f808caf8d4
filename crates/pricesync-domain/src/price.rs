//! Exact prices, the meters they apply to and long-context bands.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Why a price value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// Prices are never negative (OpenRouter's `-1` "dynamic" marker is not a
    /// price: it becomes [`crate::PricingKind::Dynamic`] before it gets here).
    #[error("price {0} is negative")]
    Negative(Decimal),
    /// The text is not a decimal number.
    #[error("{0:?} is not a decimal number")]
    NotADecimal(String),
}

/// An exact, non-negative price in US dollars for one unit of a [`Meter`]
/// (one token, one request, one image, one search).
///
/// Held as a normalised [`Decimal`] (no trailing zeros), so two equal prices
/// compare, hash and print the same. Serialised as a decimal string so no
/// JSON reader turns it into a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsdPerUnit(Decimal);

impl UsdPerUnit {
    /// Zero: free, or not charged separately.
    pub const ZERO: UsdPerUnit = UsdPerUnit(Decimal::ZERO);

    /// Wraps an exact decimal; negative values are refused.
    pub fn new(value: Decimal) -> Result<Self, PriceError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(PriceError::Negative(value));
        }
        // `-0` normalises to `0`; trailing zeros are dropped.
        Ok(Self(value.normalize()))
    }

    /// The exact value.
    pub fn value(self) -> Decimal {
        self.0
    }

    /// Whether the price is zero.
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl fmt::Display for UsdPerUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for UsdPerUnit {
    type Err = PriceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let value =
            crate::parse_decimal(text).map_err(|_| PriceError::NotADecimal(text.to_owned()))?;
        Self::new(value)
    }
}

impl Serialize for UsdPerUnit {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for UsdPerUnit {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What a meter counts, which decides the magnitude bounds that apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MeterUnit {
    /// Billed per token.
    Token,
    /// Billed per event: a request, an image, a search.
    Event,
}

// A decimal string in the API, named for what it holds rather than for the
// Rust type, with the pattern clients can check it against.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for UsdPerUnit {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "An exact price in US dollars per unit, as a decimal string (never a JSON \
                 number, so no precision is lost), normalised: no trailing zeros.",
            ))
            .pattern(Some(r"^[0-9]+(\.[0-9]+)?$"))
            .examples(["0.000003"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for UsdPerUnit {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("UsdDecimal")
    }
}

/// The thing a price component charges for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Meter {
    /// Prompt (input) tokens.
    InputTokens,
    /// Completion (output) tokens.
    OutputTokens,
    /// Prompt tokens read from the provider's cache.
    CacheReadTokens,
    /// Prompt tokens written to a cache that lives 5 minutes.
    #[serde(rename = "cache_write_5m_tokens")]
    CacheWrite5mTokens,
    /// Prompt tokens written to a cache that lives 1 hour.
    #[serde(rename = "cache_write_1h_tokens")]
    CacheWrite1hTokens,
    /// Internal reasoning tokens, when billed apart from output.
    ReasoningTokens,
    /// Audio input tokens.
    InputAudioTokens,
    /// Image input tokens.
    InputImageTokens,
    /// One request, whatever its size.
    Request,
    /// One input image.
    Image,
    /// One web search.
    WebSearch,
}

impl Meter {
    /// Every meter, in their canonical order.
    pub const ALL: [Meter; 11] = [
        Meter::InputTokens,
        Meter::OutputTokens,
        Meter::CacheReadTokens,
        Meter::CacheWrite5mTokens,
        Meter::CacheWrite1hTokens,
        Meter::ReasoningTokens,
        Meter::InputAudioTokens,
        Meter::InputImageTokens,
        Meter::Request,
        Meter::Image,
        Meter::WebSearch,
    ];

    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Meter::InputTokens => "input_tokens",
            Meter::OutputTokens => "output_tokens",
            Meter::CacheReadTokens => "cache_read_tokens",
            Meter::CacheWrite5mTokens => "cache_write_5m_tokens",
            Meter::CacheWrite1hTokens => "cache_write_1h_tokens",
            Meter::ReasoningTokens => "reasoning_tokens",
            Meter::InputAudioTokens => "input_audio_tokens",
            Meter::InputImageTokens => "input_image_tokens",
            Meter::Request => "request",
            Meter::Image => "image",
            Meter::WebSearch => "web_search",
        }
    }

    /// Whether the meter counts tokens or events.
    pub fn unit(self) -> MeterUnit {
        match self {
            Meter::Request | Meter::Image | Meter::WebSearch => MeterUnit::Event,
            _ => MeterUnit::Token,
        }
    }
}

impl fmt::Display for Meter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Meter {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Meter::ALL
            .into_iter()
            .find(|m| m.as_str() == text)
            .ok_or_else(|| {
                let known: Vec<&str> = Meter::ALL.iter().map(|m| m.as_str()).collect();
                format!("unknown meter {text:?}; known: {}", known.join(", "))
            })
    }
}

/// Identifies one component of a model's price: the meter and the prompt
/// size from which it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentKey {
    /// What is charged.
    pub meter: Meter,
    /// The band starts at this prompt size (0 = the base price). Above it the
    /// *whole request* is billed at this band's price.
    pub min_prompt_tokens: u64,
}

/// One price of a model: so many USD per unit of a meter, from a prompt size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PriceComponent {
    /// What is charged.
    pub meter: Meter,
    /// The band starts at this prompt size (0 = the base price).
    #[serde(default)]
    pub min_prompt_tokens: u64,
    /// The exact price of one unit.
    pub usd_per_unit: UsdPerUnit,
}

impl PriceComponent {
    /// A base-band component (applies from a prompt of 0 tokens).
    pub fn base(meter: Meter, usd_per_unit: UsdPerUnit) -> Self {
        Self {
            meter,
            min_prompt_tokens: 0,
            usd_per_unit,
        }
    }

    /// The component's key.
    pub fn key(&self) -> ComponentKey {
        ComponentKey {
            meter: self.meter,
            min_prompt_tokens: self.min_prompt_tokens,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        crate::parse_decimal(text).expect("test literal")
    }

    #[test]
    fn prices_are_exact_and_normalised() {
        let a: UsdPerUnit = "0.0000030".parse().expect("valid");
        let b: UsdPerUnit = "0.000003".parse().expect("valid");
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "0.000003");
        let tiny: UsdPerUnit = "0.000000000131".parse().expect("valid");
        assert_eq!(tiny.value(), dec("0.000000000131"));
        assert_eq!(tiny.to_string(), "0.000000000131");
    }

    #[test]
    fn negative_prices_are_refused_and_minus_zero_is_zero() {
        assert_eq!(
            UsdPerUnit::new(dec("-1")),
            Err(PriceError::Negative(dec("-1")))
        );
        assert_eq!(UsdPerUnit::new(dec("-0")), Ok(UsdPerUnit::ZERO));
        assert!(matches!(
            "abc".parse::<UsdPerUnit>(),
            Err(PriceError::NotADecimal(_))
        ));
    }

    #[test]
    fn prices_serialise_as_strings() {
        let p: UsdPerUnit = "0.0000001875".parse().expect("valid");
        assert_eq!(
            serde_json::to_string(&p).expect("serialise"),
            "\"0.0000001875\""
        );
        let back: UsdPerUnit = serde_json::from_str("\"0.0000001875\"").expect("parse");
        assert_eq!(back, p);
    }

    #[test]
    fn meter_names_round_trip() {
        for meter in Meter::ALL {
            assert_eq!(meter.as_str().parse::<Meter>(), Ok(meter));
            let json = serde_json::to_string(&meter).expect("serialise");
            assert_eq!(json, format!("\"{}\"", meter.as_str()));
        }
        assert!("tokens".parse::<Meter>().is_err());
        assert_eq!(Meter::WebSearch.unit(), MeterUnit::Event);
        assert_eq!(Meter::CacheReadTokens.unit(), MeterUnit::Token);
    }
}
