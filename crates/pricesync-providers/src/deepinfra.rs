//! DeepInfra: `GET {base}/models/list` → a bare array of models. The key
//! (`DEEPINFRA_API_KEY`) is optional and sent as a bearer token when set.
//!
//! `pricing` says how a model is billed in `type`; token prices are in US
//! **cents per token** (0.0001 cents → 0.000001 USD per token, $1 per 1M):
//!
//! | `pricing.type` | reading |
//! |---|---|
//! | `tokens` | `cents_per_input_token` → input_tokens, `cents_per_output_token` → output_tokens (both required); `cents_per_input_token × rate_per_input_token_cached` → cache_read_tokens |
//! | `input_tokens` (embeddings) | `cents_per_input_token` → input_tokens |
//! | anything else (`image_units`, `time`, `input_length`, `output_length`, `input_character_length`, `frame_units`, …) | skipped (unsupported pricing): per image, second or character |
//! | missing `type` | skipped (unparseable) |
//! | no `pricing` | unknown |
//!
//! - **Cache reads.** `rate_per_input_token_cached` is a *multiplier* on the
//!   input price, not a price (field name from DeepInfra's OpenAPI schema;
//!   the multiplier meaning from several independent clients, values such as
//!   0.2 and 0.25): the cache-read price is the exact product, converted from
//!   cents like the others. Absent, null or 0: no cache price.
//!   `rate_per_input_token_cache_write` (a cache lifetime DeepInfra does not
//!   state) and the service-tier multipliers are not read.
//! - **Deprecated models** (`deprecated` set, often with `replaced_by`) are
//!   kept with their prices: DeepInfra keeps serving them (redirecting to
//!   the replacement) until it drops them from the list, and the gateway
//!   needs their price while traffic still names them. Once gone from the
//!   list, the sync marks them removed.
//! - The id is `model_name`; DeepInfra gives no display name. The context
//!   window is `max_tokens`.

use async_trait::async_trait;
use pricesync_domain::{
    Meter, PriceUnit, ProviderId, RawOffering, RawPricing, SkipReason, SkippedModel,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Map;
use serde_json::Value;

use crate::api::{Key, ProviderApi};
use crate::json::{decimal, payload, read_list, skip, whole_number};
use crate::prices::{api_offering, input_output, Components};
use crate::{FetchError, FetchedList, HttpClient, PriceFetcher, ProviderSettings};

/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.deepinfra.com";

#[derive(Deserialize)]
struct Model {
    model_name: String,
    #[serde(default)]
    max_tokens: Option<Value>,
    #[serde(default)]
    pricing: Option<Value>,
}

/// Fetches DeepInfra's model list.
pub struct DeepInfraFetcher {
    api: ProviderApi,
}

impl DeepInfraFetcher {
    /// A fetcher for `settings.base_url`.
    pub fn new(settings: ProviderSettings, http: HttpClient) -> Result<Self, FetchError> {
        Ok(Self {
            api: ProviderApi::new("deepinfra", settings, http, Key::Optional)?,
        })
    }
}

#[async_trait]
impl PriceFetcher for DeepInfraFetcher {
    fn provider(&self) -> &ProviderId {
        self.api.provider()
    }

    async fn fetch(&self) -> Result<FetchedList, FetchError> {
        parse(&self.api.get("models/list").await?)
    }
}

/// Parses a `/models/list` payload.
pub fn parse(body: &[u8]) -> Result<FetchedList, FetchError> {
    let entries: Vec<&RawValue> = payload(body)?;
    Ok(read_list(&entries, "model_name", offering))
}

fn offering(model: Model) -> Result<RawOffering, SkippedModel> {
    let pricing =
        pricing(model.pricing.as_ref()).map_err(|reason| skip(&model.model_name, reason))?;
    Ok(api_offering(
        model.model_name,
        None,
        model.max_tokens.as_ref().and_then(whole_number),
        pricing,
    ))
}

fn pricing(pricing: Option<&Value>) -> Result<RawPricing, SkipReason> {
    let prices = match pricing {
        None | Some(Value::Null) => return Ok(RawPricing::Unknown),
        Some(Value::Object(prices)) => prices,
        Some(_) => {
            return Err(SkipReason::Unparseable(
                "pricing is not an object".to_owned(),
            ))
        }
    };
    let input = (
        "pricing.cents_per_input_token",
        prices.get("cents_per_input_token"),
    );
    match prices.get("type") {
        Some(Value::String(kind)) if kind == "tokens" => input_output(
            PriceUnit::UsdCentsPerUnit,
            input,
            (
                "pricing.cents_per_output_token",
                prices.get("cents_per_output_token"),
            ),
        )
        .and_then(|pair| pair.ok_or_else(|| "token prices are missing".to_owned()))
        .and_then(|pricing| with_cache_read(pricing, prices))
        .map_err(SkipReason::Unparseable),
        Some(Value::String(kind)) if kind == "input_tokens" => {
            let value = input
                .1
                .ok_or_else(|| SkipReason::Unparseable(format!("{} is missing", input.0)))?;
            let mut components = Components::new(PriceUnit::UsdCentsPerUnit);
            components
                .add_json(Meter::InputTokens, 0, value, input.0)
                .map_err(SkipReason::Unparseable)?;
            Ok(components.into_pricing())
        }
        Some(Value::String(kind)) => Err(SkipReason::UnsupportedPricing(format!(
            "billed by {kind:?}, not per token"
        ))),
        _ => Err(SkipReason::Unparseable(
            "pricing.type is missing or not a string".to_owned(),
        )),
    }
}

/// Adds the cache-read price: the input price × `rate_per_input_token_cached`.
fn with_cache_read(pricing: RawPricing, prices: &Map<String, Value>) -> Result<RawPricing, String> {
    let RawPricing::Metered(mut parts) = pricing else {
        return Ok(pricing);
    };
    let Some(rate) = prices
        .get("rate_per_input_token_cached")
        .filter(|v| !v.is_null())
    else {
        return Ok(RawPricing::Metered(parts));
    };
    let rate = decimal(rate).map_err(|e| format!("pricing.rate_per_input_token_cached {e}"))?;
    let input = prices
        .get("cents_per_input_token")
        .map(decimal)
        .transpose()
        .map_err(|e| format!("pricing.cents_per_input_token {e}"))?
        .unwrap_or_default();
    let cents = input.checked_mul(rate).ok_or_else(|| {
        format!("the cache price {input} × {rate} cents cannot be represented exactly")
    })?;
    let mut cache = Components::new(PriceUnit::UsdCentsPerUnit);
    cache.add(Meter::CacheReadTokens, 0, cents)?;
    if let RawPricing::Metered(extra) = cache.into_pricing() {
        parts.extend(extra);
    }
    Ok(RawPricing::Metered(parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_pricing_in_cents_and_other_types_skipped() {
        let list = parse(
            br#"[{"model_name":"a/chat","pricing":{"type":"tokens","cents_per_input_token":0.0001,"cents_per_output_token":"0.0002"},"deprecated":1717000000,"replaced_by":"a/new"},
            {"model_name":"a/embed","pricing":{"type":"input_tokens","cents_per_input_token":0.000001}},
            {"model_name":"a/sdxl","pricing":{"type":"image_units","cents_per_image_unit":0.2}},
            {"model_name":"a/none","pricing":{"cents_per_input_token":0.1}}]"#,
        )
        .expect("payload");
        let ids: Vec<&str> = list
            .models
            .iter()
            .map(|m| m.provider_model_id.as_str())
            .collect();
        assert_eq!(ids, ["a/chat", "a/embed"], "deprecated models are kept");
        let RawPricing::Metered(parts) = &list.models[0].pricing else {
            panic!("metered");
        };
        let prices: Vec<String> = parts.iter().map(|(_, p)| p.to_string()).collect();
        assert_eq!(prices, ["0.000001", "0.000002"]);
        let codes: Vec<&str> = list.skipped.iter().map(|s| s.reason.code()).collect();
        assert_eq!(codes, ["unsupported_pricing", "unparseable"]);
    }

    #[test]
    fn the_cache_rate_multiplies_the_input_price_exactly() {
        let list = parse(
            br#"[{"model_name":"a/cached","pricing":{"type":"tokens","cents_per_input_token":2.6e-05,"cents_per_output_token":3.8e-05,"rate_per_input_token_cached":0.2}},
            {"model_name":"a/odd","pricing":{"type":"tokens","cents_per_input_token":0.0000003,"cents_per_output_token":0.000001,"rate_per_input_token_cached":"0.0769"}},
            {"model_name":"a/none","pricing":{"type":"tokens","cents_per_input_token":0.0001,"cents_per_output_token":0.0002,"rate_per_input_token_cached":null}},
            {"model_name":"a/zero","pricing":{"type":"tokens","cents_per_input_token":0.0001,"cents_per_output_token":0.0002,"rate_per_input_token_cached":0}},
            {"model_name":"a/bad","pricing":{"type":"tokens","cents_per_input_token":0.0001,"cents_per_output_token":0.0002,"rate_per_input_token_cached":"fast"}}]"#,
        )
        .expect("payload");
        let cache = |i: usize| -> Option<String> {
            let RawPricing::Metered(parts) = &list.models[i].pricing else {
                panic!("metered");
            };
            parts
                .iter()
                .find(|(k, _)| k.meter == Meter::CacheReadTokens)
                .map(|(_, p)| p.to_string())
        };
        // 0.000026 cents × 0.2 = 0.0000052 cents = 0.000000052 USD.
        assert_eq!(cache(0).as_deref(), Some("0.000000052"));
        assert_eq!(cache(1).as_deref(), Some("0.0000000002307"));
        assert_eq!(cache(2), None);
        assert_eq!(cache(3), None);
        assert_eq!(list.skipped[0].provider_model_id, "a/bad");
    }
}
