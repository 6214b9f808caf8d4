//! Exact prices, the meters they apply to and long-context bands.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::TimeWindow;

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
    /// Audio input tokens read from the provider's cache.
    CacheReadAudioTokens,
    /// Audio output tokens.
    OutputAudioTokens,
    /// One request, whatever its size.
    Request,
    /// One input image.
    Image,
    /// One web search.
    WebSearch,
    /// One generated (output) image.
    OutputImage,
}

impl Meter {
    /// Every meter, in their canonical order.
    pub const ALL: [Meter; 14] = [
        Meter::InputTokens,
        Meter::OutputTokens,
        Meter::CacheReadTokens,
        Meter::CacheWrite5mTokens,
        Meter::CacheWrite1hTokens,
        Meter::ReasoningTokens,
        Meter::InputAudioTokens,
        Meter::InputImageTokens,
        Meter::CacheReadAudioTokens,
        Meter::OutputAudioTokens,
        Meter::Request,
        Meter::Image,
        Meter::WebSearch,
        Meter::OutputImage,
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
            Meter::CacheReadAudioTokens => "cache_read_audio_tokens",
            Meter::OutputAudioTokens => "output_audio_tokens",
            Meter::Request => "request",
            Meter::Image => "image",
            Meter::WebSearch => "web_search",
            Meter::OutputImage => "output_image",
        }
    }

    /// Whether the meter counts tokens or events.
    pub fn unit(self) -> MeterUnit {
        match self {
            Meter::Request | Meter::Image | Meter::WebSearch | Meter::OutputImage => {
                MeterUnit::Event
            }
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

/// Identifies one component of a model's price: the meter, the prompt size
/// from which it applies and, for a time-of-day price, its UTC window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentKey {
    /// What is charged.
    pub meter: Meter,
    /// The band applies to prompts of *more than* this many tokens (0 = the
    /// base price); then the *whole request* is billed at the band's prices.
    pub min_prompt_tokens: u64,
    /// The UTC time of day (and weekdays) when the price applies; `None`:
    /// whenever no window of the same meter and band applies.
    pub window: Option<TimeWindow>,
}

impl ComponentKey {
    /// The base price of a meter: from a prompt of 0 tokens, at any time.
    pub fn base(meter: Meter) -> Self {
        Self::band(meter, 0)
    }

    /// A long-context band of a meter, from `min_prompt_tokens`, at any time.
    pub fn band(meter: Meter, min_prompt_tokens: u64) -> Self {
        Self {
            meter,
            min_prompt_tokens,
            window: None,
        }
    }

    /// The same key, restricted to a UTC time-of-day window.
    pub fn in_window(self, window: TimeWindow) -> Self {
        Self {
            window: Some(window),
            ..self
        }
    }
}

impl fmt::Display for ComponentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.meter.as_str())?;
        if self.min_prompt_tokens > 0 {
            write!(f, " above {} prompt tokens", self.min_prompt_tokens)?;
        }
        if let Some(window) = self.window {
            write!(f, " at {window}")?;
        }
        Ok(())
    }
}

/// One price of a model: so many USD per unit of a meter, from a prompt
/// size, at a time of day or at any time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PriceComponent {
    /// What is charged.
    pub meter: Meter,
    /// The band applies to prompts of more than this many tokens (0 = the
    /// base price).
    #[serde(default)]
    pub min_prompt_tokens: u64,
    /// The UTC time-of-day window of a time-of-day price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<TimeWindow>,
    /// The exact price of one unit.
    pub usd_per_unit: UsdPerUnit,
}

impl PriceComponent {
    /// A base-band component (applies from a prompt of 0 tokens, at any
    /// time).
    pub fn base(meter: Meter, usd_per_unit: UsdPerUnit) -> Self {
        Self::new(ComponentKey::base(meter), usd_per_unit)
    }

    /// The component of `key` at `usd_per_unit`.
    pub fn new(key: ComponentKey, usd_per_unit: UsdPerUnit) -> Self {
        Self {
            meter: key.meter,
            min_prompt_tokens: key.min_prompt_tokens,
            window: key.window,
            usd_per_unit,
        }
    }

    /// The component's key.
    pub fn key(&self) -> ComponentKey {
        ComponentKey {
            meter: self.meter,
            min_prompt_tokens: self.min_prompt_tokens,
            window: self.window,
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
