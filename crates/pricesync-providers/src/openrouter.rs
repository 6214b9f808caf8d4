//! OpenRouter: `GET {base}/models` → `{"data": [Model, …]}`, no key needed.
//!
//! Every price is a decimal string in USD per unit. Mapping:
//!
//! | pricing key | meter |
//! |---|---|
//! | `prompt` | input_tokens |
//! | `completion` | output_tokens |
//! | `input_cache_read` | cache_read_tokens |
//! | `input_cache_write` | cache_write_5m_tokens |
//! | `input_cache_write_1h` | cache_write_1h_tokens |
//! | `internal_reasoning` | reasoning_tokens |
//! | `audio` | input_audio_tokens |
//! | `request` | request |
//! | `image` | image |
//! | `web_search` | web_search |
//!
//! - `"-1"` in any price marks a variable price (routers such as
//!   `openrouter/auto`): the model is [`RawPricing::Dynamic`], no number is kept.
//! - `"0"`: free or not charged separately. Input and output are always kept
//!   (so an all-zero model is free); other zero prices are left out (the
//!   rule every provider shares, see `docs/providers.md`). A `pricing`
//!   without any known price is unknown.
//! - `overrides: [{"min_prompt_tokens": N, …}]` become bands from N prompt
//!   tokens; keys an override leaves out inherit the base price.
//! - `discount` (a fraction) is applied to every price: `price × (1 − discount)`.
//! - Keys pricesync has no meter for (`image_output`, …) and unknown fields are
//!   ignored: new keys appear without notice.
//! - The display name is `name`; `canonical_slug`, the permanent id, is kept
//!   in the display name's place when `name` is missing. The model id is `id`,
//!   the slug the gateway sends to the API.

use std::collections::BTreeMap;

use async_trait::async_trait;
use pricesync_domain::{
    ComponentKey, Decimal, Meter, PriceSource, PriceUnit, ProviderId, RawOffering, RawPricing,
    SkipReason, SkippedModel,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::api::{Key, ProviderApi};
use crate::json::{decimal, payload, read_list, whole_number};
use crate::prices::kept;
use crate::{FetchError, FetchedList, HttpClient, PriceFetcher, ProviderSettings};

/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://openrouter.ai/api/v1";

const METERS: [(&str, Meter); 10] = [
    ("prompt", Meter::InputTokens),
    ("completion", Meter::OutputTokens),
    ("input_cache_read", Meter::CacheReadTokens),
    ("input_cache_write", Meter::CacheWrite5mTokens),
    ("input_cache_write_1h", Meter::CacheWrite1hTokens),
    ("internal_reasoning", Meter::ReasoningTokens),
    ("audio", Meter::InputAudioTokens),
    ("request", Meter::Request),
    ("image", Meter::Image),
    ("web_search", Meter::WebSearch),
];

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    data: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Model {
    id: String,
    #[serde(default)]
    canonical_slug: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    context_length: Option<Value>,
    #[serde(default)]
    pricing: Option<BTreeMap<String, Value>>,
}

/// Fetches OpenRouter's model list.
pub struct OpenRouterFetcher {
    api: ProviderApi,
}

impl OpenRouterFetcher {
    /// A fetcher for `settings.base_url`.
    pub fn new(settings: ProviderSettings, http: HttpClient) -> Result<Self, FetchError> {
        Ok(Self {
            // The key is optional: sent when configured.
            api: ProviderApi::new("openrouter", settings, http, Key::Optional)?,
        })
    }
}

#[async_trait]
impl PriceFetcher for OpenRouterFetcher {
    fn provider(&self) -> &ProviderId {
        self.api.provider()
    }

    async fn fetch(&self) -> Result<FetchedList, FetchError> {
        parse(&self.api.get("models").await?)
    }
}

/// Parses a `/models` payload.
pub fn parse(body: &[u8]) -> Result<FetchedList, FetchError> {
    let envelope: Envelope<'_> = payload(body)?;
    Ok(read_list(&envelope.data, "id", offering))
}

fn offering(model: Model) -> Result<RawOffering, SkippedModel> {
    let skip = |reason: SkipReason| SkippedModel {
        provider_model_id: model.id.clone(),
        reason,
    };
    let display_name = model.name.clone().or_else(|| model.canonical_slug.clone());
    let context_length = model.context_length.as_ref().and_then(whole_number);
    let pricing = match &model.pricing {
        None => RawPricing::Unknown,
        Some(prices) => pricing(prices).map_err(|detail| skip(SkipReason::Unparseable(detail)))?,
    };
    Ok(RawOffering {
        provider_model_id: model.id.clone(),
        display_name,
        context_length,
        source: PriceSource::Api,
        pricing,
    })
}

/// Reads the base prices and the override bands.
fn pricing(prices: &BTreeMap<String, Value>) -> Result<RawPricing, String> {
    let discount = match prices.get("discount") {
        None | Some(Value::Null) => Decimal::ZERO,
        Some(value) => {
            let d = decimal(value).map_err(|e| format!("pricing.discount {e}"))?;
            if d < Decimal::ZERO || d >= Decimal::ONE {
                return Err(format!("pricing.discount {d} is not a fraction in [0, 1)"));
            }
            d
        }
    };
    let base = read_prices(prices, "pricing")?;
    if base.values().any(|p| *p == Decimal::NEGATIVE_ONE) {
        return Ok(RawPricing::Dynamic);
    }
    let mut components = Vec::new();
    push_band(&mut components, 0, &base, discount)?;
    if let Some(overrides) = prices.get("overrides") {
        let Value::Array(overrides) = overrides else {
            return Err("pricing.overrides is not an array".to_owned());
        };
        for (i, band) in overrides.iter().enumerate() {
            let Value::Object(band) = band else {
                return Err(format!("pricing.overrides[{i}] is not an object"));
            };
            let start = band
                .get("min_prompt_tokens")
                .and_then(whole_number)
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    format!(
                        "pricing.overrides[{i}].min_prompt_tokens is not a positive whole number"
                    )
                })?;
            let band_map: BTreeMap<String, Value> =
                band.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let mut band_prices = base.clone();
            band_prices.extend(read_prices(&band_map, &format!("pricing.overrides[{i}]"))?);
            if band_prices.values().any(|p| *p == Decimal::NEGATIVE_ONE) {
                return Ok(RawPricing::Dynamic);
            }
            push_band(&mut components, start, &band_prices, discount)?;
        }
    }
    if components.is_empty() {
        // `pricing: {}` or only unknown keys: listed without a price.
        return Ok(RawPricing::Unknown);
    }
    Ok(RawPricing::Metered(components))
}

/// The meters' prices present in `map`, as published.
fn read_prices(
    map: &BTreeMap<String, Value>,
    at: &str,
) -> Result<BTreeMap<Meter, Decimal>, String> {
    let mut out = BTreeMap::new();
    for (key, meter) in METERS {
        if let Some(value) = map.get(key) {
            if value.is_null() {
                continue;
            }
            let price = decimal(value).map_err(|e| format!("{at}.{key} {e}"))?;
            out.insert(meter, price);
        }
    }
    Ok(out)
}

fn push_band(
    components: &mut Vec<(ComponentKey, Decimal)>,
    start: u64,
    prices: &BTreeMap<Meter, Decimal>,
    discount: Decimal,
) -> Result<(), String> {
    for (meter, price) in prices {
        if !kept(*meter, *price) {
            continue;
        }
        let usd = PriceUnit::UsdPerUnit
            .to_usd_per_unit(*price)
            .map_err(|e| e.to_string())?;
        let usd = if discount.is_zero() {
            usd
        } else {
            usd.checked_mul(Decimal::ONE - discount)
                .ok_or_else(|| format!("{meter} price {usd} with discount {discount} overflows"))?
                .normalize()
        };
        components.push((ComponentKey::band(*meter, start), usd));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(json: &str) -> RawOffering {
        let list = parse(format!("{{\"data\": [{json}]}}").as_bytes()).expect("payload");
        assert!(list.skipped.is_empty(), "{:?}", list.skipped);
        list.models.into_iter().next().expect("one model")
    }

    fn price(model: &RawOffering, meter: Meter, band: u64) -> Option<String> {
        let RawPricing::Metered(components) = &model.pricing else {
            return None;
        };
        components
            .iter()
            .find(|(k, _)| k.meter == meter && k.min_prompt_tokens == band)
            .map(|(_, p)| p.to_string())
    }

    #[test]
    fn bands_inherit_missing_keys() {
        let m = one(
            r#"{"id":"a/b","pricing":{"prompt":"0.000003","completion":"0.000015",
            "input_cache_read":"0.0000003","request":"0","overrides":[{"min_prompt_tokens":200000,"prompt":"0.000006"}]}}"#,
        );
        assert_eq!(
            price(&m, Meter::InputTokens, 200_000).as_deref(),
            Some("0.000006")
        );
        assert_eq!(
            price(&m, Meter::OutputTokens, 200_000).as_deref(),
            Some("0.000015")
        );
        assert_eq!(
            price(&m, Meter::CacheReadTokens, 200_000).as_deref(),
            Some("0.0000003")
        );
        assert_eq!(
            price(&m, Meter::Request, 0),
            None,
            "zero side prices are left out"
        );
    }

    #[test]
    fn minus_one_is_dynamic_and_discount_applies() {
        let m = one(r#"{"id":"openrouter/auto","pricing":{"prompt":"-1","completion":"-1"}}"#);
        assert_eq!(m.pricing, RawPricing::Dynamic);
        let m = one(
            r#"{"id":"d","pricing":{"prompt":"0.000002","completion":"0.000004","discount":0.25}}"#,
        );
        assert_eq!(
            price(&m, Meter::InputTokens, 0).as_deref(),
            Some("0.0000015")
        );
        assert_eq!(
            price(&m, Meter::OutputTokens, 0).as_deref(),
            Some("0.000003")
        );
    }

    #[test]
    fn a_bad_entry_is_skipped_and_the_rest_kept() {
        let list = parse(
            br#"{"data":[{"id":"ok","pricing":{"prompt":"0.000001","completion":"0.000002"}},
            {"id":"bad","pricing":{"prompt":{"x":1},"completion":"0.000002"}},
            {"pricing":{}}]}"#,
        )
        .expect("payload");
        assert_eq!(list.models.len(), 1);
        let ids: Vec<&str> = list
            .skipped
            .iter()
            .map(|s| s.provider_model_id.as_str())
            .collect();
        assert_eq!(ids, ["bad", "<unknown>"]);
    }
}
