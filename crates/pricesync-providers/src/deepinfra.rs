//! DeepInfra: `GET {base}/models/list` → a bare array of models. The key
//! (`DEEPINFRA_API_KEY`) is optional and sent as a bearer token when set.
//!
//! `pricing` says how a model is billed in `type`; token prices are in US
//! **cents per token** (0.0001 cents → 0.000001 USD per token, $1 per 1M):
//!
//! | `pricing.type` | reading |
//! |---|---|
//! | `tokens` | `cents_per_input_token` → input_tokens, `cents_per_output_token` → output_tokens (both required) |
//! | `input_tokens` (embeddings) | `cents_per_input_token` → input_tokens |
//! | anything else (`image_units`, `time`, `characters`, …) | skipped (unsupported pricing) |
//! | missing `type` | skipped (unparseable) |
//! | no `pricing` | unknown |
//!
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
use serde_json::Value;

use crate::api::{Key, ProviderApi};
use crate::json::{payload, read_list, skip, whole_number};
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
}
