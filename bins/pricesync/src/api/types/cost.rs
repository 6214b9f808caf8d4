//! Bodies of `POST /v1/pricing/cost`: what a usage cost.

use pricesync_domain::{CostBreakdown, Decimal, Meter, PricingKind, TimeWindow, Usage, UsdPerUnit};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::rfc3339;
use crate::api::error::ErrorBody;

/// The most usages one request prices.
pub const MAX_COST_ITEMS: usize = 1000;

/// One usage to price.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "provider": "openrouter",
    "model": "anthropic/claude-sonnet-4.5",
    "usage": {"input_tokens": 1200, "cache_read_tokens": 1000, "output_tokens": 300},
    "at": "2026-11-24T09:15:02Z"
}))]
pub struct CostItem {
    /// The provider.
    #[schema(example = "openrouter")]
    pub provider: String,
    /// The provider's model id.
    #[schema(example = "anthropic/claude-sonnet-4.5")]
    pub model: String,
    /// What the request used; totals include their parts (see docs/cost.md).
    pub usage: Usage,
    /// When the request ran (RFC 3339): it is priced with the card of that
    /// instant, read from the price history. Absent: now, from the server's
    /// in-memory copy of the current prices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime, example = "2026-11-24T09:15:02Z")]
    pub at: Option<String>,
}

/// Up to 1000 usages, answered in order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CostBatch {
    /// The usages (1 to 1000).
    pub items: Vec<CostItem>,
}

/// The body of `POST /v1/pricing/cost`: one usage, or `items` with up to
/// 1000. An object with `items` is a batch; any other is one usage.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum CostRequest {
    /// One usage: answered with its cost, or an error status.
    One(CostItem),
    /// Several usages: answered `200` with one result per usage, in order.
    Batch(CostBatch),
}

impl<'de> Deserialize<'de> for CostRequest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        // One pass over the body: every field either shape may have, unknown
        // fields refused, then the shape decided with a precise message.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Either {
            provider: Option<String>,
            model: Option<String>,
            usage: Option<Usage>,
            at: Option<String>,
            items: Option<Vec<CostItem>>,
        }
        let body = Either::deserialize(deserializer)?;
        match body {
            Either {
                items: Some(items),
                provider: None,
                model: None,
                usage: None,
                at: None,
            } => Ok(CostRequest::Batch(CostBatch { items })),
            Either { items: Some(_), .. } => Err(D::Error::custom(
                "a body with `items` is a batch: give provider, model, usage and at inside each item",
            )),
            Either {
                provider: Some(provider),
                model: Some(model),
                usage: Some(usage),
                at,
                items: None,
            } => Ok(CostRequest::One(CostItem {
                provider,
                model,
                usage,
                at,
            })),
            Either {
                provider, model, usage, ..
            } => {
                let missing: Vec<&str> = [
                    ("provider", provider.is_none()),
                    ("model", model.is_none()),
                    ("usage", usage.is_none()),
                ]
                .into_iter()
                .filter_map(|(name, absent)| absent.then_some(name))
                .collect();
                Err(D::Error::custom(format!(
                    "missing field(s) {}: send {{provider, model, usage, at?}} or {{items: [...]}}",
                    missing.join(", ")
                )))
            }
        }
    }
}

/// One billed meter of a usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CostLine {
    /// The meter billed.
    pub meter: Meter,
    /// How many units.
    pub quantity: u64,
    /// The meter whose price was used, when the model has no price of this
    /// meter's own (reasoning tokens at the output price, image tokens at
    /// the input price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billed_as: Option<Meter>,
    /// The price of one unit.
    pub usd_per_unit: UsdPerUnit,
    /// `quantity × usd_per_unit`, exact, as a decimal string.
    #[schema(value_type = String, pattern = r"^[0-9]+(\.[0-9]+)?$", example = "0.0036")]
    pub amount_usd: Decimal,
    /// The band applied (0: the base price).
    pub min_prompt_tokens: u64,
    /// The UTC time-of-day window applied (absent: the any-time price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<TimeWindow>,
    /// Since when this price is in force.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub price_since: OffsetDateTime,
}

/// What one usage cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CostAnswer {
    /// The provider.
    pub provider: String,
    /// The provider's model id.
    pub model: String,
    /// The instant priced: the usage's `at`, or the server's clock when it
    /// had none.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// `metered`, or `free` (total 0, no lines).
    pub pricing_kind: PricingKind,
    /// One line per billed meter, in meter order.
    pub lines: Vec<CostLine>,
    /// The sum of the lines, exact, as a decimal string. Never rounded.
    #[schema(value_type = String, pattern = r"^[0-9]+(\.[0-9]+)?$", example = "0.00483")]
    pub total_usd: Decimal,
    /// With `?round=N`: `total_usd` rounded to N decimal places, half away
    /// from zero, written with exactly N places.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "0.0048")]
    pub total_usd_rounded: Option<Decimal>,
}

impl CostAnswer {
    /// The answer for `breakdown`, with the total rounded to `round`
    /// places when asked.
    pub fn new(
        provider: &str,
        model: &str,
        at: OffsetDateTime,
        breakdown: CostBreakdown,
        round: Option<u32>,
    ) -> Self {
        let total_usd_rounded = round.map(|places| {
            let mut rounded = breakdown.total_rounded(places);
            rounded.rescale(places);
            rounded
        });
        Self {
            provider: provider.to_owned(),
            model: model.to_owned(),
            at,
            pricing_kind: breakdown.pricing_kind,
            lines: breakdown
                .lines
                .into_iter()
                .map(|l| CostLine {
                    meter: l.meter,
                    quantity: l.quantity,
                    billed_as: l.billed_as,
                    usd_per_unit: l.usd_per_unit,
                    amount_usd: l.amount_usd,
                    min_prompt_tokens: l.min_prompt_tokens,
                    window: l.window,
                    price_since: l.price_since,
                })
                .collect(),
            total_usd: breakdown.total_usd,
            total_usd_rounded,
        }
    }
}

/// The result for one usage of a batch: its cost, or why it could not be
/// priced.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum CostItemResult {
    /// Priced.
    Ok {
        /// What it cost.
        ok: CostAnswer,
    },
    /// Not priced: `error` is `unknown_model`, `dynamic_pricing`,
    /// `subscription_pricing`, `unknown_pricing`, `not_listed_yet`,
    /// `removed`, `unpriced_meter`, `inconsistent_usage` or `overflow`.
    Error(ErrorBody),
}

/// The answer to a batch: one result per usage, in the order sent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CostBatchAnswer {
    /// The results.
    pub items: Vec<CostItemResult>,
}

/// The answer of `POST /v1/pricing/cost`: the cost of the one usage, or the
/// results of a batch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum CostResponse {
    /// The results of a batch, one per usage, in order.
    Batch(CostBatchAnswer),
    /// What the one usage cost.
    One(CostAnswer),
}
