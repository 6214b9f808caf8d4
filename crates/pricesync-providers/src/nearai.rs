//! NEAR AI Cloud: `GET {base}/v1/model/list?offset=N&limit=M` →
//! `{"models": [Model, …], "total": n}`, a few dozen models. The key
//! (`NEARAI_API_KEY`) is optional and sent as a bearer token when set.
//!
//! Paging: offsets with `limit` [`DEFAULT_PAGE_SIZE`] (the API's own
//! default); the listing ends once `total` entries have arrived (or at an
//! empty page). See [`crate::paging`] for the shared rules.
//!
//! Every price is `{"amount": A, "scale": S, "currency": "USD"}` meaning
//! `A × 10^-S` USD per unit (`{850, 9}` → 0.00000085 USD per token),
//! converted by [`scale_down`]:
//!
//! | key | meter |
//! |---|---|
//! | `inputCostPerToken` | input_tokens |
//! | `outputCostPerToken` | output_tokens |
//! | `cacheReadCostPerToken` (optional) | cache_read_tokens |
//! | `costPerImage` (optional) | output_image when `metadata.architecture.outputModalities` holds `image` (an image generator), else image (per input image) |
//!
//! - **Negative scale**: older payloads write `{"amount": 1.05, "scale": -6}`
//!   for 1.05e-6. Both signs are read as `A × 10^-|S|`: no per-token price
//!   is above one dollar, so a negative exponent can only be this older
//!   spelling (and the magnitude bounds of validation would catch a
//!   misreading).
//! - `amount: 0` is free; a model whose input and output are zero is free.
//!   A zero image price is left out (the rule every provider shares, see
//!   `docs/providers.md`). A zero **cache** price is kept: cached tokens are
//!   then billed at zero, not at the input price. NEAR's source holds every
//!   price as a number defaulting to 0, and NEAR's own client bills cached
//!   tokens at `cacheReadCostPerToken`, zero included; no NEAR document
//!   says more (evidence: NEAR's client code, not its documentation).
//! - A missing (or `null`) `cacheReadCostPerToken` or `costPerImage` means
//!   no such component. A model without any price is *unknown*; one with
//!   only one of input/output is skipped (unparseable).
//! - `currency` other than USD (any case) skips the model (unsupported
//!   pricing): pricesync stores USD only and converts no currency. A price
//!   without `currency` is taken as USD, the only currency NEAR publishes.
//! - The display name is `metadata.modelDisplayName` (the field of NEAR's
//!   API source), else `metadata.displayName`; the context window
//!   `metadata.contextLength`; the id is `modelId`.

use async_trait::async_trait;
use pricesync_domain::{
    scale_down, Decimal, Meter, PriceUnit, ProviderId, RawOffering, RawPricing, SkipReason,
    SkippedModel,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::api::{Key, ProviderApi};
use crate::json::{decimal, integer, payload, read_list, skip, text, whole_number};
use crate::paging::{Page, Paging};
use crate::prices::{api_offering, Components};
use crate::{FetchError, FetchedList, HttpClient, PriceFetcher, ProviderSettings};

/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://cloud-api.near.ai";

/// Models asked for per page (the API's default).
pub const DEFAULT_PAGE_SIZE: u32 = 100;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    models: Vec<&'a RawValue>,
    #[serde(default)]
    total: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Model {
    model_id: String,
    #[serde(default)]
    input_cost_per_token: Option<Value>,
    #[serde(default)]
    output_cost_per_token: Option<Value>,
    #[serde(default)]
    cache_read_cost_per_token: Option<Value>,
    #[serde(default)]
    cost_per_image: Option<Value>,
    #[serde(default)]
    metadata: Option<Value>,
}

/// Fetches NEAR AI Cloud's model list, page by page.
pub struct NearAiFetcher {
    api: ProviderApi,
    page_size: u32,
}

impl NearAiFetcher {
    /// A fetcher for `settings.base_url`, asking for
    /// [`DEFAULT_PAGE_SIZE`] models per page.
    pub fn new(settings: ProviderSettings, http: HttpClient) -> Result<Self, FetchError> {
        Ok(Self {
            api: ProviderApi::new("nearai", settings, http, Key::Optional)?,
            page_size: DEFAULT_PAGE_SIZE,
        })
    }

    /// Asks for `size` models per page instead.
    pub fn with_page_size(mut self, size: u32) -> Self {
        self.page_size = size.max(1);
        self
    }
}

#[async_trait]
impl PriceFetcher for NearAiFetcher {
    fn provider(&self) -> &ProviderId {
        self.api.provider()
    }

    async fn fetch(&self) -> Result<FetchedList, FetchError> {
        let paging = Paging::Offset {
            offset: "offset",
            limit: "limit",
            size: self.page_size,
        };
        self.api.get_pages("v1/model/list", paging, parse).await
    }
}

/// Parses one page of `/v1/model/list`.
pub fn parse(body: &[u8]) -> Result<Page, FetchError> {
    let envelope: Envelope<'_> = payload(body)?;
    Ok(Page {
        list: read_list(&envelope.models, "modelId", offering),
        entries: envelope.models.len(),
        total: envelope.total.as_ref().and_then(whole_number),
    })
}

fn offering(model: Model) -> Result<RawOffering, SkippedModel> {
    let pricing = pricing(&model).map_err(|reason| skip(&model.model_id, reason))?;
    let metadata = model.metadata.as_ref();
    Ok(api_offering(
        model.model_id,
        text(metadata.and_then(|m| m.get("modelDisplayName")))
            .or_else(|| text(metadata.and_then(|m| m.get("displayName")))),
        metadata
            .and_then(|m| m.get("contextLength"))
            .and_then(whole_number),
        pricing,
    ))
}

fn pricing(model: &Model) -> Result<RawPricing, SkipReason> {
    let present = |v: &Option<Value>| v.as_ref().filter(|v| !v.is_null()).is_some();
    let fields = [
        (
            "inputCostPerToken",
            Meter::InputTokens,
            &model.input_cost_per_token,
        ),
        (
            "outputCostPerToken",
            Meter::OutputTokens,
            &model.output_cost_per_token,
        ),
        (
            "cacheReadCostPerToken",
            Meter::CacheReadTokens,
            &model.cache_read_cost_per_token,
        ),
        ("costPerImage", image_meter(model), &model.cost_per_image),
    ];
    if !fields.iter().any(|(_, _, v)| present(v)) {
        return Ok(RawPricing::Unknown);
    }
    for (key, _, value) in &fields[..2] {
        if !present(value) {
            return Err(SkipReason::Unparseable(format!("{key} is missing")));
        }
    }
    // `scale_down` has already made the amount USD per unit.
    let mut components = Components::new(PriceUnit::UsdPerUnit);
    for (key, meter, value) in fields {
        let Some(value) = value.as_ref().filter(|v| !v.is_null()) else {
            continue;
        };
        let usd = usd_per_unit(value, key)?;
        let added = if meter == Meter::CacheReadTokens {
            // A zero cache price is a price: cached tokens cost nothing.
            components.add_including_zero(meter, 0, usd)
        } else {
            components.add(meter, 0, usd)
        };
        added.map_err(SkipReason::Unparseable)?;
    }
    Ok(components.into_pricing())
}

/// What `costPerImage` charges for: a generated image when the model
/// outputs images, else an input image.
fn image_meter(model: &Model) -> Meter {
    let outputs_images = model
        .metadata
        .as_ref()
        .and_then(|m| m.get("architecture"))
        .and_then(|a| a.get("outputModalities"))
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(|v| v.as_str() == Some("image")));
    if outputs_images {
        Meter::OutputImage
    } else {
        Meter::Image
    }
}

/// `{amount, scale, currency}` as USD per unit: `amount × 10^-|scale|`.
fn usd_per_unit(value: &Value, key: &str) -> Result<Decimal, SkipReason> {
    let bad = |detail: String| SkipReason::Unparseable(format!("{key}{detail}"));
    let Value::Object(price) = value else {
        return Err(bad(" is not an {amount, scale, currency} object".to_owned()));
    };
    match price.get("currency") {
        None | Some(Value::Null) => {}
        Some(Value::String(currency)) if currency.eq_ignore_ascii_case("USD") => {}
        Some(Value::String(currency)) => {
            return Err(SkipReason::UnsupportedPricing(format!(
                "{key} is in {currency}; pricesync stores USD prices only"
            )))
        }
        Some(_) => return Err(bad(".currency is not a string".to_owned())),
    }
    let amount = price
        .get("amount")
        .ok_or_else(|| bad(".amount is missing".to_owned()))
        .and_then(|a| decimal(a).map_err(|e| bad(format!(".amount {e}"))))?;
    let scale = price
        .get("scale")
        .and_then(integer)
        .ok_or_else(|| bad(".scale is not a whole number".to_owned()))?;
    let exponent = u32::try_from(scale.unsigned_abs())
        .map_err(|_| bad(format!(".scale {scale} is out of range")))?;
    scale_down(amount, exponent).ok_or_else(|| {
        bad(format!(
            " {amount} × 10^-{exponent} cannot be represented exactly"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prices(json: &str) -> Result<Vec<String>, SkipReason> {
        let page =
            parse(format!("{{\"models\":[{json}],\"total\":1}}").as_bytes()).expect("payload");
        if let Some(skipped) = page.list.skipped.into_iter().next() {
            return Err(skipped.reason);
        }
        match &page.list.models[0].pricing {
            RawPricing::Metered(parts) => Ok(parts.iter().map(|(_, p)| p.to_string()).collect()),
            other => Ok(vec![format!("{other:?}")]),
        }
    }

    #[test]
    fn both_signs_of_scale_are_read() {
        assert_eq!(
            prices(
                r#"{"modelId":"m","inputCostPerToken":{"amount":850,"scale":9,"currency":"USD"},
                "outputCostPerToken":{"amount":1.05,"scale":-6,"currency":"usd"}}"#
            ),
            Ok(vec!["0.00000085".to_owned(), "0.00000105".to_owned()])
        );
    }

    #[test]
    fn missing_cache_and_zero_image_are_no_component_and_other_currencies_are_skipped() {
        let usd = r#"{"amount":100,"scale":9,"currency":"USD"}"#;
        assert_eq!(
            prices(&format!(
                r#"{{"modelId":"m","inputCostPerToken":{usd},"outputCostPerToken":{usd},
                "costPerImage":{{"amount":0,"scale":0}}}}"#
            ))
            .map(|p| p.len()),
            Ok(2)
        );
        let eur = prices(&format!(
            r#"{{"modelId":"m","inputCostPerToken":{usd},"outputCostPerToken":{{"amount":1,"scale":6,"currency":"EUR"}}}}"#
        ));
        assert!(
            matches!(&eur, Err(SkipReason::UnsupportedPricing(d)) if d.contains("EUR")),
            "{eur:?}"
        );
        assert_eq!(
            prices(r#"{"modelId":"m","metadata":{}}"#),
            Ok(vec!["Unknown".to_owned()])
        );
        let huge = prices(&format!(
            r#"{{"modelId":"m","inputCostPerToken":{usd},"outputCostPerToken":{{"amount":1,"scale":4000000000000}}}}"#
        ));
        assert!(matches!(huge, Err(SkipReason::Unparseable(_))), "{huge:?}");
    }
}
