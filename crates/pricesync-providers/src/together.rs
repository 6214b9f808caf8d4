//! Together AI: `GET {base}/models` → a bare array of models. The key
//! (`TOGETHER_API_KEY`) is required: without it the fetch fails with
//! [`FetchError::MissingCredentials`] before any request is made.
//!
//! `pricing {input, output, hourly, base, finetune}` are JSON numbers in USD
//! per 1M tokens (decimal strings are read too, exactly):
//!
//! | key | meter |
//! |---|---|
//! | `input` | input_tokens |
//! | `output` | output_tokens |
//! | `hourly`, `base`, `finetune` | none (see below) |
//!
//! Decisions, in order:
//! 1. `input` or `output` non-zero: metered with both (an embedding model's
//!    zero output is kept: it has no output tokens).
//! 2. Both zero and `hourly` non-zero: the model only runs on a dedicated
//!    endpoint billed per hour → skipped (unsupported pricing).
//! 3. Both zero and the model's `type` is a token model (`chat`,
//!    `language`, `code`, `embedding`, `moderation`, `rerank`): free.
//! 4. Both zero otherwise (`image`, `audio`, `transcribe`, `video`, a
//!    missing type, …): those models are billed per image, megapixel or
//!    second, which this list does not state → skipped (unsupported
//!    pricing). Recording them as free would let the gateway serve them at
//!    no charge.
//! - `base` and `finetune` are fine-tuning prices, not inference: ignored.
//! - No `pricing` at all: unknown. Only one of `input`/`output`: skipped
//!   (unparseable).
//! - The id is `id`, the display name `display_name`, the context window
//!   `context_length`.

use async_trait::async_trait;
use pricesync_domain::{
    Decimal, PriceUnit, ProviderId, RawOffering, RawPricing, SkipReason, SkippedModel,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::api::{Key, ProviderApi};
use crate::json::{decimal, payload, read_list, skip, text, whole_number};
use crate::prices::{api_offering, input_output};
use crate::{FetchError, FetchedList, HttpClient, PriceFetcher, ProviderSettings};

/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.together.xyz/v1";

/// Model types billed per token.
const TOKEN_TYPES: [&str; 6] = [
    "chat",
    "language",
    "code",
    "embedding",
    "moderation",
    "rerank",
];

#[derive(Deserialize)]
struct Model {
    id: String,
    #[serde(default, rename = "type")]
    kind: Option<Value>,
    #[serde(default)]
    display_name: Option<Value>,
    #[serde(default)]
    context_length: Option<Value>,
    #[serde(default)]
    pricing: Option<Value>,
}

/// Fetches Together AI's model list.
pub struct TogetherFetcher {
    api: ProviderApi,
}

impl TogetherFetcher {
    /// A fetcher for `settings.base_url`; `settings.api_key` is required.
    pub fn new(settings: ProviderSettings, http: HttpClient) -> Result<Self, FetchError> {
        Ok(Self {
            api: ProviderApi::new("together", settings, http, Key::Required)?,
        })
    }
}

#[async_trait]
impl PriceFetcher for TogetherFetcher {
    fn provider(&self) -> &ProviderId {
        self.api.provider()
    }

    async fn fetch(&self) -> Result<FetchedList, FetchError> {
        parse(&self.api.get("models").await?)
    }
}

/// Parses a `/models` payload.
pub fn parse(body: &[u8]) -> Result<FetchedList, FetchError> {
    let entries: Vec<&RawValue> = payload(body)?;
    Ok(read_list(&entries, "id", offering))
}

fn offering(model: Model) -> Result<RawOffering, SkippedModel> {
    let pricing = pricing(&model).map_err(|reason| skip(&model.id, reason))?;
    Ok(api_offering(
        model.id,
        text(model.display_name.as_ref()),
        model.context_length.as_ref().and_then(whole_number),
        pricing,
    ))
}

fn pricing(model: &Model) -> Result<RawPricing, SkipReason> {
    let prices = match &model.pricing {
        None | Some(Value::Null) => return Ok(RawPricing::Unknown),
        Some(Value::Object(prices)) => prices,
        Some(_) => {
            return Err(SkipReason::Unparseable(
                "pricing is not an object".to_owned(),
            ))
        }
    };
    let price = |key: &str| -> Result<Decimal, SkipReason> {
        match prices.get(key) {
            None | Some(Value::Null) => Ok(Decimal::ZERO),
            Some(value) => {
                decimal(value).map_err(|e| SkipReason::Unparseable(format!("pricing.{key} {e}")))
            }
        }
    };
    let (input, output, hourly) = (price("input")?, price("output")?, price("hourly")?);
    let kind = text(model.kind.as_ref());
    if input.is_zero() && output.is_zero() {
        if !hourly.is_zero() {
            return Err(SkipReason::UnsupportedPricing(format!(
                "only a dedicated endpoint at {hourly} USD per hour"
            )));
        }
        if !kind.as_deref().is_some_and(|k| TOKEN_TYPES.contains(&k)) {
            return Err(SkipReason::UnsupportedPricing(format!(
                "{} model without a per-token price",
                kind.as_deref().unwrap_or("untyped")
            )));
        }
    }
    let pair = input_output(
        PriceUnit::UsdPerMillion,
        ("pricing.input", prices.get("input")),
        ("pricing.output", prices.get("output")),
    )
    .map_err(SkipReason::Unparseable)?;
    Ok(pair.unwrap_or(RawPricing::Unknown))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(json: &str) -> Option<String> {
        let list = parse(format!("[{json}]").as_bytes()).expect("payload");
        list.skipped.first().map(|s| s.reason.to_string())
    }

    #[test]
    fn zero_token_prices_are_free_only_for_token_models() {
        assert_eq!(
            reason(r#"{"id":"free","type":"chat","pricing":{"input":0,"output":0,"hourly":0}}"#),
            None
        );
        let image = reason(
            r#"{"id":"flux","type":"image","pricing":{"input":0,"output":0,"hourly":0,"base":0}}"#,
        )
        .expect("skipped");
        assert!(image.contains("image model"), "{image}");
        let dedicated =
            reason(r#"{"id":"big","type":"chat","pricing":{"input":0,"output":0,"hourly":5.2}}"#)
                .expect("skipped");
        assert!(dedicated.contains("5.2 USD per hour"), "{dedicated}");
        let half = reason(r#"{"id":"h","type":"chat","pricing":{"input":0.2}}"#).expect("skipped");
        assert!(half.contains("without pricing.output"), "{half}");
    }
}
