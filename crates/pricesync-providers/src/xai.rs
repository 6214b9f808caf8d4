//! xAI: `GET {base}/v1/language-models` → `{"models": [Model, …]}`. The key
//! (`XAI_API_KEY`) is required: without it the fetch fails with
//! [`FetchError::MissingCredentials`] before any request is made.
//!
//! Prices are whole numbers in **US cents per 100M tokens** (20000 → $2 per
//! 1M → 0.000002 USD per token):
//!
//! | key | meter | band |
//! |---|---|---|
//! | `prompt_text_token_price` | input_tokens | base |
//! | `completion_text_token_price` | output_tokens | base |
//! | `cached_prompt_text_token_price` | cache_read_tokens | base |
//! | `prompt_image_token_price` | input_image_tokens | base |
//! | `prompt_text_token_price_long_context` | input_tokens | long context |
//! | `completion_text_token_price_long_context` | output_tokens | long context |
//! | `cached_prompt_text_token_price_long_context` | cache_read_tokens | long context |
//!
//! - **Long-context band**: the `*_long_context` prices start at
//!   `long_context_threshold` prompt tokens when the payload states one,
//!   else at [`DEFAULT_LONG_CONTEXT_THRESHOLD`] (128,000, the threshold
//!   xAI's price page gives for every model priced this way). Above it the
//!   whole request is billed at the band, so a meter the band leaves out
//!   (or gives as 0) inherits the base price, as in OpenRouter's overrides.
//! - Input and output are required (a model with one and not the other is
//!   skipped, unparseable); a model with no price at all is unknown. A zero
//!   cache or image price is left out (the rule every provider shares, see
//!   `docs/providers.md`).
//! - **Aliases**: each name in `aliases` (`grok-4`, `grok-4-latest`, …) is
//!   what clients send, so it is listed as its own offering with the same
//!   prices; its display name is the id it points to. An alias claimed by
//!   two models with different prices is skipped by validation as a
//!   conflicting duplicate, so no guess is stored.
//! - Other fields (`fingerprint`, modalities, new ones) are ignored.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use pricesync_domain::{
    Decimal, Meter, PriceUnit, ProviderId, RawOffering, RawPricing, SkipReason, SkippedModel,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::api::{Key, ProviderApi};
use crate::json::{decimal, payload, read_list, skip, whole_number};
use crate::prices::{api_offering, Components};
use crate::{FetchError, FetchedList, HttpClient, PriceFetcher, ProviderSettings};

/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.x.ai";

/// Prompt tokens from which `*_long_context` prices apply when the payload
/// does not say.
pub const DEFAULT_LONG_CONTEXT_THRESHOLD: u64 = 128_000;

const BASE: [(&str, Meter); 4] = [
    ("prompt_text_token_price", Meter::InputTokens),
    ("completion_text_token_price", Meter::OutputTokens),
    ("cached_prompt_text_token_price", Meter::CacheReadTokens),
    ("prompt_image_token_price", Meter::InputImageTokens),
];

const LONG_CONTEXT: [(&str, Meter); 3] = [
    ("prompt_text_token_price_long_context", Meter::InputTokens),
    (
        "completion_text_token_price_long_context",
        Meter::OutputTokens,
    ),
    (
        "cached_prompt_text_token_price_long_context",
        Meter::CacheReadTokens,
    ),
];

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    models: Vec<&'a RawValue>,
}

/// Fetches xAI's language models.
pub struct XaiFetcher {
    api: ProviderApi,
}

impl XaiFetcher {
    /// A fetcher for `settings.base_url`; `settings.api_key` is required.
    pub fn new(settings: ProviderSettings, http: HttpClient) -> Result<Self, FetchError> {
        Ok(Self {
            api: ProviderApi::new("xai", settings, http, Key::Required)?,
        })
    }
}

#[async_trait]
impl PriceFetcher for XaiFetcher {
    fn provider(&self) -> &ProviderId {
        self.api.provider()
    }

    async fn fetch(&self) -> Result<FetchedList, FetchError> {
        parse(&self.api.get("v1/language-models").await?)
    }
}

/// Parses a `/v1/language-models` payload; aliases follow the models.
pub fn parse(body: &[u8]) -> Result<FetchedList, FetchError> {
    let envelope: Envelope<'_> = payload(body)?;
    let mut aliases: Vec<RawOffering> = Vec::new();
    let mut list = read_list(&envelope.models, "id", |model: Map<String, Value>| {
        let offering = offering(&model)?;
        for alias in alias_names(&model, &offering.provider_model_id) {
            aliases.push(RawOffering {
                provider_model_id: alias,
                display_name: Some(offering.provider_model_id.clone()),
                ..offering.clone()
            });
        }
        Ok(offering)
    });
    list.models.extend(aliases);
    Ok(list)
}

fn offering(model: &Map<String, Value>) -> Result<RawOffering, SkippedModel> {
    let Some(id) = model.get("id").and_then(Value::as_str) else {
        return Err(skip(
            "<unknown>",
            SkipReason::Unparseable("id is missing or not a string".to_owned()),
        ));
    };
    let pricing = pricing(model).map_err(|detail| skip(id, SkipReason::Unparseable(detail)))?;
    Ok(api_offering(id.to_owned(), None, None, pricing))
}

/// The model's aliases other than its id, each once. Aliases are names,
/// not prices: a malformed list is ignored rather than losing the model.
fn alias_names(model: &Map<String, Value>, id: &str) -> BTreeSet<String> {
    let Some(Value::Array(aliases)) = model.get("aliases") else {
        return BTreeSet::new();
    };
    aliases
        .iter()
        .filter_map(Value::as_str)
        .map(str::trim)
        .filter(|alias| !alias.is_empty() && *alias != id)
        .map(str::to_owned)
        .collect()
}

fn pricing(model: &Map<String, Value>) -> Result<RawPricing, String> {
    let base = read_prices(model, &BASE)?;
    let long: BTreeMap<Meter, Decimal> = read_prices(model, &LONG_CONTEXT)?
        .into_iter()
        .filter(|(_, price)| !price.is_zero())
        .collect();
    if base.is_empty() && long.is_empty() {
        return Ok(RawPricing::Unknown);
    }
    for (key, meter) in &BASE[..2] {
        if !base.contains_key(meter) {
            return Err(format!("{key} is missing"));
        }
    }
    let mut components = Components::new(PriceUnit::UsdCentsPerHundredMillion);
    for (meter, price) in &base {
        components.add(*meter, 0, *price)?;
    }
    if !long.is_empty() {
        let threshold = match model.get("long_context_threshold") {
            None | Some(Value::Null) => DEFAULT_LONG_CONTEXT_THRESHOLD,
            Some(value) => whole_number(value).filter(|n| *n > 0).ok_or_else(|| {
                "long_context_threshold is not a positive whole number".to_owned()
            })?,
        };
        let mut band = base;
        band.extend(long);
        for (meter, price) in &band {
            components.add(*meter, threshold, *price)?;
        }
    }
    Ok(components.into_pricing())
}

/// The prices of `keys` present in `model`, as published.
fn read_prices(
    model: &Map<String, Value>,
    keys: &[(&str, Meter)],
) -> Result<BTreeMap<Meter, Decimal>, String> {
    let mut prices = BTreeMap::new();
    for (key, meter) in keys {
        match model.get(*key) {
            None | Some(Value::Null) => {}
            Some(value) => {
                prices.insert(*meter, decimal(value).map_err(|e| format!("{key} {e}"))?);
            }
        }
    }
    Ok(prices)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn components(list: &FetchedList, id: &str) -> Vec<(Meter, u64, String)> {
        let model = list
            .models
            .iter()
            .find(|m| m.provider_model_id == id)
            .expect("listed");
        let RawPricing::Metered(parts) = &model.pricing else {
            panic!("metered");
        };
        parts
            .iter()
            .map(|(k, p)| (k.meter, k.min_prompt_tokens, p.to_string()))
            .collect()
    }

    #[test]
    fn long_context_prices_are_a_band_that_inherits_the_base() {
        let list = parse(
            br#"{"models":[{"id":"grok-4-0709","aliases":["grok-4","grok-4-0709",7],
            "prompt_text_token_price":30000,"cached_prompt_text_token_price":7500,
            "completion_text_token_price":150000,"prompt_image_token_price":0,
            "prompt_text_token_price_long_context":60000,"completion_text_token_price_long_context":0}]}"#,
        )
        .expect("payload");
        assert!(list.skipped.is_empty(), "{:?}", list.skipped);
        let ids: Vec<&str> = list
            .models
            .iter()
            .map(|m| m.provider_model_id.as_str())
            .collect();
        assert_eq!(ids, ["grok-4-0709", "grok-4"]);
        let expected = vec![
            (Meter::InputTokens, 0, "0.000003".to_owned()),
            (Meter::OutputTokens, 0, "0.000015".to_owned()),
            (Meter::CacheReadTokens, 0, "0.00000075".to_owned()),
            (Meter::InputTokens, 128_000, "0.000006".to_owned()),
            (Meter::OutputTokens, 128_000, "0.000015".to_owned()),
            (Meter::CacheReadTokens, 128_000, "0.00000075".to_owned()),
        ];
        assert_eq!(components(&list, "grok-4-0709"), expected);
        assert_eq!(components(&list, "grok-4"), expected);
        assert_eq!(list.models[1].display_name.as_deref(), Some("grok-4-0709"));
    }

    #[test]
    fn a_stated_threshold_is_used() {
        let list = parse(
            br#"{"models":[{"id":"g","prompt_text_token_price":2000,"completion_text_token_price":5000,
            "prompt_text_token_price_long_context":4000,"long_context_threshold":200000}]}"#,
        )
        .expect("payload");
        assert!(components(&list, "g")
            .iter()
            .any(|(m, band, p)| *m == Meter::InputTokens && *band == 200_000 && p == "0.0000004"));
    }
}
