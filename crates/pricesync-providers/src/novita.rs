//! Novita AI: `GET {base}/openai/v1/models` → `{"data": [Model, …]}` (the
//! path Novita's API reference documents; the older base `/v3/openai` serves
//! the same list). The key (`NOVITA_API_KEY`) is optional and sent as a
//! bearer token when set.
//!
//! Two price shapes:
//!
//! - **Flat** models: `input_token_price_per_m` / `output_token_price_per_m`,
//!   whole numbers in **1/10,000 USD per 1M tokens** (2690 → $0.269 per 1M
//!   → 0.000000269 USD per token; a well-known tool got this 8000× wrong).
//!   Cache prices come from the `pricing` object (below) when it has them.
//! - **Tiered** models (`is_tiered_billing: true`): the flat fields are 0 and
//!   the prices are in `tiered_billing_configs: [{min_tokens, max_tokens,
//!   pricing}]`, one prompt-size band per tier. The first tier is the base
//!   price; a later tier is a band for prompts of more than the previous
//!   tier's `max_tokens` (Novita writes adjacent tiers with a shared bound,
//!   131072 as the max of one and the min of the next: the bound is taken to
//!   belong to the lower tier), or of more than `min_tokens − 1` when the
//!   previous tier states no maximum. A tiered model without readable tiers
//!   is skipped (unparseable), never read as free or unknown.
//!
//! A `pricing` object (flat or per tier) holds, per key, `{price_per_m,
//! price_per_m_decimal, origin_price_per_m, origin_price_per_m_decimal}`:
//! `price_per_m_decimal` is the current price in USD per 1M tokens (read
//! first, exactly), `price_per_m` the same in 1/10,000 USD per 1M; the
//! `origin_*` list price before a discount is ignored.
//!
//! | key | meter |
//! |---|---|
//! | `input_token_price_per_m`, `pricing.prompt` | input_tokens |
//! | `output_token_price_per_m`, `pricing.completion` | output_tokens |
//! | `pricing.input_cache_read` | cache_read_tokens |
//! | `pricing.input_cache_write` | cache_write_5m_tokens (Novita states no cache lifetime) |
//!
//! - **Modalities.** A model whose `output_modalities` are listed and hold
//!   no `text` (speech, image, video) is skipped as unsupported pricing:
//!   its per-1M fields would not be token prices.
//! - **Zero.** Novita documents no free marker, and lists 0/0 for models
//!   other catalogues price above zero: a model whose prices are all zero is
//!   *unknown*, never free.
//! - Both flat prices are required; one without the other skips the model
//!   (unparseable). Neither: unknown.
//! - The id is `id`; the display name `display_name`, else `title`; the
//!   context window `context_size`. Other fields are ignored.

use async_trait::async_trait;
use pricesync_domain::{
    scale_down, Decimal, Meter, PriceUnit, ProviderId, RawOffering, RawPricing, SkipReason,
    SkippedModel,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::api::{Key, ProviderApi};
use crate::json::{decimal, payload, read_list, skip, text, whole_number};
use crate::prices::{api_offering, input_output, Components};
use crate::{FetchError, FetchedList, HttpClient, PriceFetcher, ProviderSettings};

/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.novita.ai";

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    data: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Model {
    id: String,
    #[serde(default)]
    display_name: Option<Value>,
    #[serde(default)]
    title: Option<Value>,
    #[serde(default)]
    context_size: Option<Value>,
    #[serde(default)]
    input_token_price_per_m: Option<Value>,
    #[serde(default)]
    output_token_price_per_m: Option<Value>,
    #[serde(default)]
    is_tiered_billing: Option<Value>,
    #[serde(default)]
    tiered_billing_configs: Option<Value>,
    #[serde(default)]
    pricing: Option<Value>,
    #[serde(default)]
    output_modalities: Option<Value>,
}

/// The `pricing` keys read, and their meters.
const PRICING_KEYS: [(&str, Meter); 4] = [
    ("prompt", Meter::InputTokens),
    ("completion", Meter::OutputTokens),
    ("input_cache_read", Meter::CacheReadTokens),
    ("input_cache_write", Meter::CacheWrite5mTokens),
];

/// Fetches Novita AI's model list.
pub struct NovitaFetcher {
    api: ProviderApi,
}

impl NovitaFetcher {
    /// A fetcher for `settings.base_url`.
    pub fn new(settings: ProviderSettings, http: HttpClient) -> Result<Self, FetchError> {
        Ok(Self {
            api: ProviderApi::new("novita", settings, http, Key::Optional)?,
        })
    }
}

#[async_trait]
impl PriceFetcher for NovitaFetcher {
    fn provider(&self) -> &ProviderId {
        self.api.provider()
    }

    async fn fetch(&self) -> Result<FetchedList, FetchError> {
        parse(&self.api.get("openai/v1/models").await?)
    }
}

/// Parses an `/openai/v1/models` payload.
pub fn parse(body: &[u8]) -> Result<FetchedList, FetchError> {
    let envelope: Envelope<'_> = payload(body)?;
    Ok(read_list(&envelope.data, "id", offering))
}

fn offering(model: Model) -> Result<RawOffering, SkippedModel> {
    if let Some(outputs) = non_text_outputs(model.output_modalities.as_ref()) {
        return Err(skip(
            &model.id,
            SkipReason::UnsupportedPricing(format!(
                "outputs {outputs}, not text: not billed per token"
            )),
        ));
    }
    let pricing =
        pricing(&model).map_err(|detail| skip(&model.id, SkipReason::Unparseable(detail)))?;
    let display_name = text(model.display_name.as_ref()).or_else(|| text(model.title.as_ref()));
    Ok(api_offering(
        model.id,
        display_name,
        model.context_size.as_ref().and_then(whole_number),
        pricing,
    ))
}

/// The output modalities, when they are listed and none is text (a speech,
/// image or video model, billed per character, second or image).
fn non_text_outputs(modalities: Option<&Value>) -> Option<String> {
    let modalities = modalities?.as_array()?;
    let names: Vec<&str> = modalities.iter().filter_map(Value::as_str).collect();
    if names.is_empty() || names.iter().any(|m| m.eq_ignore_ascii_case("text")) {
        return None;
    }
    Some(names.join(", "))
}

fn pricing(model: &Model) -> Result<RawPricing, String> {
    let pricing = if model.is_tiered_billing.as_ref().and_then(Value::as_bool) == Some(true) {
        tiered(model)?
    } else {
        flat(model)?
    };
    // Zero is no evidence of free on Novita.
    match pricing {
        RawPricing::Metered(parts) if parts.iter().all(|(_, p)| p.is_zero()) => {
            Ok(RawPricing::Unknown)
        }
        other => Ok(other),
    }
}

/// The whole-number input and output prices, and the cache prices of the
/// `pricing` object.
fn flat(model: &Model) -> Result<RawPricing, String> {
    let pair = input_output(
        PriceUnit::TenThousandthUsdPerMillion,
        (
            "input_token_price_per_m",
            model.input_token_price_per_m.as_ref(),
        ),
        (
            "output_token_price_per_m",
            model.output_token_price_per_m.as_ref(),
        ),
    )?;
    let Some(RawPricing::Metered(mut parts)) = pair else {
        return Ok(pair.unwrap_or(RawPricing::Unknown));
    };
    if let Some(Value::Object(prices)) = &model.pricing {
        let mut cache = Components::new(PriceUnit::UsdPerMillion);
        for (key, meter) in &PRICING_KEYS[2..] {
            if let Some(value) = prices.get(*key).filter(|v| !v.is_null()) {
                cache.add(*meter, 0, per_million(value, &format!("pricing.{key}"))?)?;
            }
        }
        if let RawPricing::Metered(extra) = cache.into_pricing() {
            parts.extend(extra);
        }
    }
    Ok(RawPricing::Metered(parts))
}

/// One band per tier of `tiered_billing_configs`.
fn tiered(model: &Model) -> Result<RawPricing, String> {
    let Some(Value::Array(configs)) = &model.tiered_billing_configs else {
        return Err("is_tiered_billing without a tiered_billing_configs list".to_owned());
    };
    if configs.is_empty() {
        return Err("is_tiered_billing with no tier".to_owned());
    }
    let mut tiers = Vec::with_capacity(configs.len());
    for (i, config) in configs.iter().enumerate() {
        let at = format!("tiered_billing_configs[{i}]");
        let min = config
            .get("min_tokens")
            .and_then(whole_number)
            .ok_or_else(|| format!("{at}.min_tokens is not a whole number"))?;
        let max = config.get("max_tokens").and_then(whole_number);
        let Some(Value::Object(prices)) = config.get("pricing") else {
            return Err(format!("{at}.pricing is not an object"));
        };
        tiers.push((min, max, prices, at));
    }
    tiers.sort_by_key(|(min, ..)| *min);
    let mut components = Components::new(PriceUnit::UsdPerMillion);
    for (i, (min, _, prices, at)) in tiers.iter().enumerate() {
        let band = match i {
            0 => 0,
            _ => tiers[i - 1].1.unwrap_or(min.saturating_sub(1)),
        };
        for (key, meter) in PRICING_KEYS {
            match prices.get(key).filter(|v| !v.is_null()) {
                Some(value) => {
                    let price = per_million(value, &format!("{at}.pricing.{key}"))?;
                    components.add(meter, band, price)?;
                }
                None if matches!(meter, Meter::InputTokens | Meter::OutputTokens) => {
                    return Err(format!("{at}.pricing.{key} is missing"));
                }
                None => {}
            }
        }
    }
    Ok(components.into_pricing())
}

/// A `{price_per_m_decimal, price_per_m, …}` price in USD per 1M tokens.
fn per_million(value: &Value, at: &str) -> Result<Decimal, String> {
    if let Some(text) = value.get("price_per_m_decimal").filter(|v| !v.is_null()) {
        return decimal(text).map_err(|e| format!("{at}.price_per_m_decimal {e}"));
    }
    let Some(whole) = value.get("price_per_m").filter(|v| !v.is_null()) else {
        return Err(format!(
            "{at} has neither price_per_m_decimal nor price_per_m"
        ));
    };
    let amount = decimal(whole).map_err(|e| format!("{at}.price_per_m {e}"))?;
    // 1/10,000 USD per 1M → USD per 1M.
    scale_down(amount, 4).ok_or_else(|| format!("{at}.price_per_m {amount} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<RawPricing, String> {
        let list = parse(format!("{{\"data\":[{json}]}}").as_bytes()).expect("payload");
        match list.skipped.into_iter().next() {
            Some(skipped) => Err(skipped.reason.to_string()),
            None => Ok(list.models[0].pricing.clone()),
        }
    }

    fn tier(min: u64, max: &str, prompt: &str) -> String {
        format!(
            r#"{{"min_tokens":{min},"max_tokens":{max},"pricing":{{"prompt":{{"price_per_m_decimal":"{prompt}"}},"completion":{{"price_per_m":20000}}}}}}"#
        )
    }

    #[test]
    fn tiers_are_bands_above_the_previous_maximum() {
        let json = format!(
            r#"{{"id":"t","input_token_price_per_m":0,"output_token_price_per_m":0,"is_tiered_billing":true,
            "tiered_billing_configs":[{},{},{}]}}"#,
            tier(128_001, "null", "3"),
            tier(1, "32000", "1"),
            tier(32_000, "null", "9"),
        );
        let Ok(RawPricing::Metered(parts)) = read(&json) else {
            panic!("metered");
        };
        let bands: Vec<(u64, String)> = parts
            .iter()
            .filter(|(k, _)| k.meter == Meter::InputTokens)
            .map(|(k, p)| (k.min_prompt_tokens, p.to_string()))
            .collect();
        // In min_tokens order: the first tier is the base; the second shares
        // the bound 32000 with the first (more than 32000); the third
        // follows a tier without a maximum (more than min_tokens − 1).
        assert_eq!(
            bands,
            [
                (0, "0.000001".to_owned()),
                (32_000, "0.000009".to_owned()),
                (128_000, "0.000003".to_owned())
            ]
        );
        let completion = parts
            .iter()
            .find(|(k, _)| k.meter == Meter::OutputTokens)
            .map(|(_, p)| p.to_string());
        assert_eq!(
            completion.as_deref(),
            Some("0.000002"),
            "price_per_m / 10,000"
        );
    }

    #[test]
    fn a_tiered_model_without_tiers_is_skipped_not_free() {
        for configs in [
            "",
            r#","tiered_billing_configs":[]"#,
            r#","tiered_billing_configs":[{"min_tokens":1}]"#,
        ] {
            let e = read(&format!(
                r#"{{"id":"t","input_token_price_per_m":0,"output_token_price_per_m":0,"is_tiered_billing":true{configs}}}"#
            ))
            .expect_err("skipped");
            assert!(e.contains("tier"), "{e}");
        }
        let e = read(&format!(
            r#"{{"id":"t","is_tiered_billing":true,"tiered_billing_configs":[{}]}}"#,
            r#"{"min_tokens":1,"pricing":{"prompt":{"price_per_m":1}}}"#
        ))
        .expect_err("no completion");
        assert!(e.contains("completion is missing"), "{e}");
    }

    #[test]
    fn zero_is_unknown_and_zero_cache_prices_are_left_out() {
        assert_eq!(
            read(r#"{"id":"z","input_token_price_per_m":0,"output_token_price_per_m":0}"#),
            Ok(RawPricing::Unknown)
        );
        let Ok(RawPricing::Metered(parts)) = read(
            r#"{"id":"f","input_token_price_per_m":100,"output_token_price_per_m":200,
            "pricing":{"input_cache_read":{"price_per_m":0},"input_cache_write":{"price_per_m_decimal":"0.5"}}}"#,
        ) else {
            panic!("metered");
        };
        let got: Vec<(Meter, String)> = parts
            .iter()
            .map(|(k, p)| (k.meter, p.to_string()))
            .collect();
        assert_eq!(
            got,
            [
                (Meter::InputTokens, "0.00000001".to_owned()),
                (Meter::OutputTokens, "0.00000002".to_owned()),
                (Meter::CacheWrite5mTokens, "0.0000005".to_owned()),
            ]
        );
    }

    #[test]
    fn models_without_text_output_are_skipped() {
        let e = read(
            r#"{"id":"tts","input_token_price_per_m":500,"output_token_price_per_m":0,"output_modalities":["audio"]}"#,
        )
        .expect_err("skipped");
        assert!(e.contains("outputs audio"), "{e}");
        assert!(read(
            r#"{"id":"chat","input_token_price_per_m":500,"output_token_price_per_m":900,"output_modalities":["text"]}"#
        )
        .is_ok());
    }
}
