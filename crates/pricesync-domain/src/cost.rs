//! What a request cost: one pure, exact function, [`cost`], from a model's
//! price card, the request's usage and the instant it ran.
//!
//! # The usage's canonical form
//!
//! [`Usage`] counts tokens the way OpenAI-style APIs report them: the totals
//! *include* their parts.
//! - `input_tokens` is the whole prompt: it includes `cache_read_tokens`,
//!   `cache_write_5m_tokens`, `cache_write_1h_tokens`, `input_audio_tokens`,
//!   `cache_read_audio_tokens` and `input_image_tokens`. The prompt tokens
//!   billed at the input price are what remains.
//! - `output_tokens` is the whole completion: it includes `reasoning_tokens`
//!   and `output_audio_tokens`.
//! - `requests` (default 1), `input_images`, `output_images` and
//!   `web_searches` count events.
//!
//! An Anthropic-style usage (`input_tokens` *excluding* cache reads and
//! writes) converts by adding them: `input_tokens = input_tokens +
//! cache_read_input_tokens + cache_creation_input_tokens`. A usage whose parts
//! exceed their total is refused ([`CostErrorKind::InconsistentUsage`]).
//!
//! # Which price applies
//! - **Band**: a component with `min_prompt_tokens = N > 0` applies to
//!   prompts of *more than* N tokens (`input_tokens > N`), and then to the
//!   whole request: each meter is billed at its highest band below the
//!   prompt size.
//! - **Window**: within a meter and band, a component whose UTC window holds
//!   the weekday and time of day of `at` applies; otherwise the one without
//!   a window.
//! - **Parts without a price of their own**: reasoning tokens are output
//!   tokens and image tokens are input tokens, so a model that does not price
//!   them apart bills them at the output / input price (the breakdown says
//!   so). Every other count needs its own price: cache reads and writes, and
//!   audio, are priced apart by every provider that offers them, often at
//!   many times the text rate, so guessing would mis-bill. A count of such a
//!   meter on a model without its price is an error, never a zero.
//! - **Requests**: a model without a per-request price has no per-request
//!   fee; `requests` is then not billed.
//!
//! Never a silent zero: a dynamic, subscription or unknown price, a model
//! not listed at `at`, or a count without a price is a [`CostError`] naming
//! the model and the cause. A free model costs exactly 0 and says so.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{Meter, PriceComponent, PricingKind, TimeWindow, UsdPerUnit};

/// A model's prices at an instant, as [`cost`] reads them. Its JSON form
/// (times in RFC 3339) is what the server's catalogue and change feed send
/// and what `pricesync-client` prices from, so both read one shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PriceCard {
    /// `provider/model_id`, for errors.
    pub model: String,
    /// How the model is priced.
    pub pricing_kind: PricingKind,
    /// When the model was (last) listed: a usage before it is not priced.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub listed_since: OffsetDateTime,
    /// When the model was removed, if it was: a usage from then on is not
    /// priced.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub removed_at: Option<OffsetDateTime>,
    /// The components, each with the instant since when it is in force.
    pub components: Vec<CardComponent>,
}

/// One component of a [`PriceCard`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CardComponent {
    /// The price.
    pub component: PriceComponent,
    /// Since when this price is in force.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub since: OffsetDateTime,
}

/// What one request used. Totals include their parts: `input_tokens` is the
/// whole prompt (cache reads and writes, audio and image tokens are parts
/// of it) and `output_tokens` the whole completion (reasoning and audio
/// output tokens are parts of it). Every count defaults to 0, `requests` to
/// 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    /// All prompt tokens, parts included.
    pub input_tokens: u64,
    /// Prompt tokens read from the cache (part of `input_tokens`).
    pub cache_read_tokens: u64,
    /// Prompt tokens written to a 5-minute cache (part of `input_tokens`).
    pub cache_write_5m_tokens: u64,
    /// Prompt tokens written to a 1-hour cache (part of `input_tokens`).
    pub cache_write_1h_tokens: u64,
    /// Audio prompt tokens, not from the cache (part of `input_tokens`).
    pub input_audio_tokens: u64,
    /// Audio prompt tokens read from the cache (part of `input_tokens`).
    pub cache_read_audio_tokens: u64,
    /// Image prompt tokens (part of `input_tokens`).
    pub input_image_tokens: u64,
    /// All completion tokens, parts included.
    pub output_tokens: u64,
    /// Reasoning tokens (part of `output_tokens`).
    pub reasoning_tokens: u64,
    /// Audio completion tokens (part of `output_tokens`).
    pub output_audio_tokens: u64,
    /// Requests (default 1).
    pub requests: u64,
    /// Input images.
    pub input_images: u64,
    /// Generated images.
    pub output_images: u64,
    /// Web searches.
    pub web_searches: u64,
}

impl Default for Usage {
    fn default() -> Self {
        Self {
            input_tokens: 0,
            cache_read_tokens: 0,
            cache_write_5m_tokens: 0,
            cache_write_1h_tokens: 0,
            input_audio_tokens: 0,
            cache_read_audio_tokens: 0,
            input_image_tokens: 0,
            output_tokens: 0,
            reasoning_tokens: 0,
            output_audio_tokens: 0,
            requests: 1,
            input_images: 0,
            output_images: 0,
            web_searches: 0,
        }
    }
}

impl Usage {
    /// A request with so many prompt and completion tokens.
    pub fn tokens(input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            input_tokens,
            output_tokens,
            ..Self::default()
        }
    }
}

/// Why a usage could not be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot price {model}: {kind}")]
pub struct CostError {
    /// `provider/model_id`.
    pub model: String,
    /// The cause.
    pub kind: CostErrorKind,
}

/// The cause of a [`CostError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostErrorKind {
    /// The model's price is dynamic, a subscription or unknown: there is no
    /// per-unit price.
    #[error("its pricing is {0}, not a per-unit price")]
    NotMetered(PricingKind),
    /// The usage is from before the model was listed.
    #[error("it was not listed yet at that time (listed since {0})")]
    NotListedYet(String),
    /// The usage is from after the model was removed.
    #[error("it was no longer listed at that time (removed at {0})")]
    Removed(String),
    /// The usage counts a meter the model has no price for.
    #[error("{quantity} {meter} used, but the model has no {meter} price")]
    UnpricedMeter {
        /// The meter.
        meter: Meter,
        /// How much of it was used.
        quantity: u64,
    },
    /// The parts of a count exceed it.
    #[error("inconsistent usage: {0}")]
    InconsistentUsage(String),
    /// The amount does not fit an exact decimal.
    #[error("the amount of {0} overflows an exact decimal")]
    Overflow(Meter),
}

impl CostErrorKind {
    /// A short label from a fixed set, for API error codes.
    pub fn code(&self) -> &'static str {
        match self {
            CostErrorKind::NotMetered(PricingKind::Dynamic) => "dynamic_pricing",
            CostErrorKind::NotMetered(PricingKind::Subscription) => "subscription_pricing",
            CostErrorKind::NotMetered(_) => "unknown_pricing",
            CostErrorKind::NotListedYet(_) => "not_listed_yet",
            CostErrorKind::Removed(_) => "removed",
            CostErrorKind::UnpricedMeter { .. } => "unpriced_meter",
            CostErrorKind::InconsistentUsage(_) => "inconsistent_usage",
            CostErrorKind::Overflow(_) => "overflow",
        }
    }
}

/// The cost of one meter of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CostLine {
    /// The meter billed.
    pub meter: Meter,
    /// How many units.
    pub quantity: u64,
    /// The meter whose price was used, when it is not `meter` itself
    /// (reasoning tokens at the output price, image tokens at the input
    /// price).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billed_as: Option<Meter>,
    /// The price of one unit.
    pub usd_per_unit: UsdPerUnit,
    /// `quantity × usd_per_unit`, exact.
    pub amount_usd: Decimal,
    /// The band applied (0: the base price).
    pub min_prompt_tokens: u64,
    /// The time-of-day window applied, if any.
    pub window: Option<TimeWindow>,
    /// Since when this price is in force.
    #[serde(with = "time::serde::rfc3339")]
    pub price_since: OffsetDateTime,
}

/// What a request cost: a line per billed meter and the exact total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CostBreakdown {
    /// The model's pricing kind (`metered` or `free`).
    pub pricing_kind: PricingKind,
    /// One line per meter billed, in meter order.
    pub lines: Vec<CostLine>,
    /// The sum of the lines' amounts, exact.
    pub total_usd: Decimal,
}

impl CostBreakdown {
    /// The total rounded to `places` decimal places, half away from zero
    /// (a half cent rounds up), the rule most invoices use. The exact total
    /// stays in [`CostBreakdown::total_usd`].
    pub fn total_rounded(&self, places: u32) -> Decimal {
        self.total_usd
            .round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero)
    }
}

impl fmt::Display for CostBreakdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} USD", self.total_usd)
    }
}

/// What a request of `usage` made at `at` cost under `card`. Pure and exact;
/// see the module docs for the rules.
pub fn cost(
    card: &PriceCard,
    usage: &Usage,
    at: OffsetDateTime,
) -> Result<CostBreakdown, CostError> {
    let fail = |kind: CostErrorKind| CostError {
        model: card.model.clone(),
        kind,
    };
    if at < card.listed_since {
        return Err(fail(CostErrorKind::NotListedYet(rfc3339(
            card.listed_since,
        ))));
    }
    if let Some(removed_at) = card.removed_at {
        if at >= removed_at {
            return Err(fail(CostErrorKind::Removed(rfc3339(removed_at))));
        }
    }
    let parts = check_usage(usage).map_err(&fail)?;
    match card.pricing_kind {
        PricingKind::Metered => {}
        PricingKind::Free => {
            return Ok(CostBreakdown {
                pricing_kind: PricingKind::Free,
                lines: Vec::new(),
                total_usd: Decimal::ZERO,
            })
        }
        other => return Err(fail(CostErrorKind::NotMetered(other))),
    }
    let (day, minute) = crate::day_and_minute(at);
    let prompt = usage.input_tokens;
    let find = |meter: Meter| find_price(&card.components, meter, prompt, day, minute);
    let mut lines = Vec::with_capacity(8);
    let mut total = Decimal::ZERO;
    let mut bill =
        |meter: Meter, quantity: u64, price: &CardComponent, billed_as: Option<Meter>| {
            let amount = Decimal::from(quantity)
                .checked_mul(price.component.usd_per_unit.value())
                .ok_or(CostErrorKind::Overflow(meter))?;
            total = total
                .checked_add(amount)
                .ok_or(CostErrorKind::Overflow(meter))?;
            lines.push(CostLine {
                meter,
                quantity,
                billed_as,
                usd_per_unit: price.component.usd_per_unit,
                amount_usd: amount.normalize(),
                min_prompt_tokens: price.component.min_prompt_tokens,
                window: price.component.window,
                price_since: price.since,
            });
            Ok::<(), CostErrorKind>(())
        };
    // Meters billed at their own price or not at all.
    for (meter, quantity) in parts {
        if quantity == 0 {
            continue;
        }
        let own = find(meter);
        let (price, billed_as) = match (own, meter) {
            (Some(p), _) => (p, None),
            (None, Meter::ReasoningTokens) => match find(Meter::OutputTokens) {
                Some(p) => (p, Some(Meter::OutputTokens)),
                None => return Err(fail(unpriced(Meter::OutputTokens, quantity))),
            },
            (None, Meter::InputImageTokens) => match find(Meter::InputTokens) {
                Some(p) => (p, Some(Meter::InputTokens)),
                None => return Err(fail(unpriced(Meter::InputTokens, quantity))),
            },
            // No per-request price: no per-request fee.
            (None, Meter::Request) => continue,
            (None, _) => return Err(fail(unpriced(meter, quantity))),
        };
        bill(meter, quantity, price, billed_as).map_err(&fail)?;
    }
    Ok(CostBreakdown {
        pricing_kind: PricingKind::Metered,
        lines,
        total_usd: total.normalize(),
    })
}

fn unpriced(meter: Meter, quantity: u64) -> CostErrorKind {
    CostErrorKind::UnpricedMeter { meter, quantity }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

/// The usage as `(meter, quantity billed at that meter)`, in meter order (so
/// the breakdown's lines come out in meter order without a sort): the text
/// input and output are what remains of the totals after their parts.
fn check_usage(u: &Usage) -> Result<[(Meter, u64); 14], CostErrorKind> {
    let input_parts = [
        u.cache_read_tokens,
        u.cache_write_5m_tokens,
        u.cache_write_1h_tokens,
        u.input_audio_tokens,
        u.cache_read_audio_tokens,
        u.input_image_tokens,
    ]
    .iter()
    .try_fold(0u64, |sum, n| sum.checked_add(*n));
    let text_input = input_parts
        .and_then(|parts| u.input_tokens.checked_sub(parts))
        .ok_or_else(|| {
            CostErrorKind::InconsistentUsage(
                "cache reads and writes, audio and image tokens are parts of input_tokens and \
                 together exceed it (input_tokens counts the whole prompt)"
                    .to_owned(),
            )
        })?;
    let text_output = u
        .reasoning_tokens
        .checked_add(u.output_audio_tokens)
        .and_then(|parts| u.output_tokens.checked_sub(parts))
        .ok_or_else(|| {
            CostErrorKind::InconsistentUsage(
                "reasoning and audio output tokens are parts of output_tokens and together \
                 exceed it (output_tokens counts the whole completion)"
                    .to_owned(),
            )
        })?;
    Ok([
        (Meter::InputTokens, text_input),
        (Meter::OutputTokens, text_output),
        (Meter::CacheReadTokens, u.cache_read_tokens),
        (Meter::CacheWrite5mTokens, u.cache_write_5m_tokens),
        (Meter::CacheWrite1hTokens, u.cache_write_1h_tokens),
        (Meter::ReasoningTokens, u.reasoning_tokens),
        (Meter::InputAudioTokens, u.input_audio_tokens),
        (Meter::InputImageTokens, u.input_image_tokens),
        (Meter::CacheReadAudioTokens, u.cache_read_audio_tokens),
        (Meter::OutputAudioTokens, u.output_audio_tokens),
        (Meter::Request, u.requests),
        (Meter::Image, u.input_images),
        (Meter::WebSearch, u.web_searches),
        (Meter::OutputImage, u.output_images),
    ])
}

/// The component that prices `meter` for a prompt of `prompt` tokens at
/// `minute` of weekday `day`: the highest band below the prompt size, and in
/// it the window holding that minute, else the any-time price.
fn find_price(
    components: &[CardComponent],
    meter: Meter,
    prompt: u64,
    day: u8,
    minute: u16,
) -> Option<&CardComponent> {
    let band = components
        .iter()
        .map(|c| &c.component)
        .filter(|c| c.meter == meter && (c.min_prompt_tokens == 0 || prompt > c.min_prompt_tokens))
        .map(|c| c.min_prompt_tokens)
        .max()?;
    let mut any_time = None;
    for c in components {
        let p = &c.component;
        if p.meter != meter || p.min_prompt_tokens != band {
            continue;
        }
        match p.window {
            Some(window) if window.contains_minute(day, minute) => return Some(c),
            Some(_) => {}
            None => any_time = Some(c),
        }
    }
    any_time
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usage_parts_come_in_meter_order() {
        let parts = check_usage(&Usage::default()).expect("consistent");
        let meters: Vec<Meter> = parts.iter().map(|(m, _)| *m).collect();
        assert_eq!(meters, Meter::ALL);
    }
}
