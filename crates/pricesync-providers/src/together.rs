//! Together AI: `GET {base}/models` → a bare array of models. The key
//! (`TOGETHER_API_KEY`) is required: without it the fetch fails with
//! [`FetchError::MissingCredentials`] before any request is made.
//!
//! `pricing {input, output, cached_input, hourly, base, finetune}` are JSON
//! numbers in USD per 1M tokens (decimal strings are read too, exactly; the
//! unit is confirmed by Together's examples, not stated in its schema):
//!
//! | key | meter |
//! |---|---|
//! | `input` | input_tokens |
//! | `output` | output_tokens |
//! | `cached_input` (optional) | cache_read_tokens |
//! | `hourly`, `base`, `finetune` | none (see below) |
//!
//! Decisions, in order:
//! 1. The model's `type` decides the unit. Together bills `chat`,
//!    `language`, `code`, `embedding`, `moderation` and `rerank` models per
//!    token; `audio` (text-to-speech) and `transcribe` (speech-to-text) per
//!    second of audio, `image` per megapixel, `video` per second. Any type
//!    but the token ones, or none, is skipped (unsupported pricing) whatever
//!    its numbers: `cartesia/sonic` lists 65 in `input`, which is not a
//!    price per 1M tokens.
//! 2. `input` or `output` non-zero: metered with both (an embedding model's
//!    zero output is kept: it has no output tokens), plus `cached_input`
//!    when non-zero.
//! 3. Both zero and `hourly` non-zero: the model only runs on a dedicated
//!    endpoint billed per hour → skipped (unsupported pricing).
//! 4. Both zero otherwise: **free only when the id ends in `-Free`** (any
//!    case), Together's naming of its free endpoints; any other 0/0 model is
//!    *unknown*. Together documents no meaning for a zero price, and lists
//!    0/0 for models it does not serve for free: recording those as free
//!    would let the gateway serve them at no charge.
//! - `base` and `finetune` are fine-tuning prices, not inference: ignored.
//! - No `pricing` at all: unknown. Only one of `input`/`output`: skipped
//!   (unparseable).
//! - The id is `id`, the display name `display_name`, the context window
//!   `context_length`.

use async_trait::async_trait;
use pricesync_domain::{
    Decimal, Meter, PriceUnit, ProviderId, RawOffering, RawPricing, SkipReason, SkippedModel,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::api::{Key, ProviderApi};
use crate::json::{decimal, payload, read_list, skip, text, whole_number};
use crate::prices::{api_offering, input_output, Components};
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
    let kind = text(model.kind.as_ref());
    if !kind.as_deref().is_some_and(|k| TOKEN_TYPES.contains(&k)) {
        return Err(SkipReason::UnsupportedPricing(format!(
            "{} model: not billed per token",
            kind.as_deref().unwrap_or("untyped")
        )));
    }
    let (input, output, hourly) = (price("input")?, price("output")?, price("hourly")?);
    if input.is_zero() && output.is_zero() {
        if !hourly.is_zero() {
            return Err(SkipReason::UnsupportedPricing(format!(
                "only a dedicated endpoint at {hourly} USD per hour"
            )));
        }
        if !named_free(&model.id) {
            return Ok(RawPricing::Unknown);
        }
    }
    let pair = input_output(
        PriceUnit::UsdPerMillion,
        ("pricing.input", prices.get("input")),
        ("pricing.output", prices.get("output")),
    )
    .map_err(SkipReason::Unparseable)?;
    let Some(RawPricing::Metered(mut parts)) = pair else {
        return Ok(pair.unwrap_or(RawPricing::Unknown));
    };
    let cached = price("cached_input")?;
    let mut cache = Components::new(PriceUnit::UsdPerMillion);
    cache
        .add(Meter::CacheReadTokens, 0, cached)
        .map_err(SkipReason::Unparseable)?;
    if let RawPricing::Metered(extra) = cache.into_pricing() {
        parts.extend(extra);
    }
    Ok(RawPricing::Metered(parts))
}

/// Whether Together names the model as its free endpoint (`…-Free`).
fn named_free(id: &str) -> bool {
    id.len() >= 5
        && id
            .get(id.len() - 5..)
            .is_some_and(|end| end.eq_ignore_ascii_case("-free"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(json: &str) -> Option<String> {
        let list = parse(format!("[{json}]").as_bytes()).expect("payload");
        list.skipped.first().map(|s| s.reason.to_string())
    }

    #[test]
    fn zero_token_prices_are_free_only_when_named_free() {
        let list = parse(
            br#"[{"id":"a/Model-Free","type":"chat","pricing":{"input":0,"output":0,"hourly":0}},
            {"id":"a/model-free","type":"chat","pricing":{"input":0,"output":0}},
            {"id":"a/freedom","type":"chat","pricing":{"input":0,"output":0}},
            {"id":"a/zero","type":"language","pricing":{"input":0,"output":0}}]"#,
        )
        .expect("payload");
        let kinds: Vec<bool> = list
            .models
            .iter()
            .map(|m| matches!(m.pricing, RawPricing::Metered(_)))
            .collect();
        assert_eq!(kinds, [true, true, false, false]);
        assert_eq!(list.models[3].pricing, RawPricing::Unknown);
        assert!(!named_free("free"), "too short to carry the suffix");
        assert!(!named_free("é-Fre"));
    }

    #[test]
    fn non_token_types_are_skipped_whatever_their_numbers() {
        for kind in ["audio", "transcribe", "image", "video", "speech"] {
            let skipped = reason(&format!(
                r#"{{"id":"m","type":"{kind}","pricing":{{"input":65,"output":0,"hourly":0}}}}"#
            ))
            .expect("skipped");
            assert!(skipped.contains(&format!("{kind} model")), "{skipped}");
        }
        let untyped =
            reason(r#"{"id":"m","pricing":{"input":0.2,"output":0.2}}"#).expect("skipped");
        assert!(untyped.contains("untyped model"), "{untyped}");
    }

    #[test]
    fn cached_input_is_the_cache_read_price() {
        let list = parse(
            br#"[{"id":"m","type":"chat","pricing":{"input":0.2,"output":0.6,"cached_input":0.1}},
            {"id":"n","type":"chat","pricing":{"input":0.2,"output":0.6,"cached_input":0}}]"#,
        )
        .expect("payload");
        let RawPricing::Metered(parts) = &list.models[0].pricing else {
            panic!("metered");
        };
        let cache: Vec<String> = parts
            .iter()
            .filter(|(k, _)| k.meter == Meter::CacheReadTokens)
            .map(|(_, p)| p.to_string())
            .collect();
        assert_eq!(cache, ["0.0000001"]);
        let RawPricing::Metered(parts) = &list.models[1].pricing else {
            panic!("metered");
        };
        assert_eq!(parts.len(), 2, "a zero cache price is no component");
    }

    #[test]
    fn zero_token_prices_are_free_only_for_token_models() {
        assert_eq!(
            reason(
                r#"{"id":"a/b-Free","type":"chat","pricing":{"input":0,"output":0,"hourly":0}}"#
            ),
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
