//! Featherless: `GET {base}/models?page=N&per_page=M` → `{"data": [Model,
//! …], "pagination": {"current_page", "total_pages", "total_items"},
//! "total": n}`, about 22,000 models. The key (`FEATHERLESS_API_KEY`) is
//! optional and sent as a bearer token when set.
//!
//! Paging: numbered pages from 1 (`page` is in Featherless' API reference)
//! with `per_page` [`DEFAULT_PAGE_SIZE`] (the name public client code uses,
//! with the notes that the API floors sizes below 100 at 100 and that
//! without `per_page` the whole list comes in one response). The listing
//! ends once `pagination.total_items` (else `total`) entries have arrived;
//! without a total, at the first short or empty page, and a page longer
//! than asked for is taken as the whole list: so a server that ignores the
//! paging parameters is read correctly too. See [`crate::paging`] for the
//! shared rules.
//!
//! Featherless bills by subscription plan, not per token:
//!
//! | payload | pricing |
//! |---|---|
//! | no `pricing` (or `null`, or an object without `input`/`output`) | subscription |
//! | `pricing {input, output}` (undocumented, USD per 1M tokens) | metered: `input` → input_tokens, `output` → output_tokens |
//! | `pricing {0, 0}` | metered at zero: free |
//! | only one of `input`/`output`, or a price that is not a number | skipped (unparseable) |
//!
//! Prices may be JSON numbers or decimal strings; either is read exactly.
//! The model id is `id`, the display name `name` when it is a string, the
//! context window `context_length`. Other fields (`model_class`, `is_gated`,
//! `max_completion_tokens`, new ones) are ignored.

use async_trait::async_trait;
use pricesync_domain::{PriceUnit, ProviderId, RawOffering, RawPricing, SkipReason, SkippedModel};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::api::{Key, ProviderApi};
use crate::json::{payload, read_list, skip, text, whole_number};
use crate::paging::{Page, Paging};
use crate::prices::{api_offering, input_output};
use crate::{FetchError, FetchedList, HttpClient, PriceFetcher, ProviderSettings};

/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.featherless.ai/v1";

/// Models asked for per page: 22 requests for the whole catalog.
pub const DEFAULT_PAGE_SIZE: u32 = 1000;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    data: Vec<&'a RawValue>,
    #[serde(default)]
    pagination: Option<Value>,
    #[serde(default)]
    total: Option<Value>,
}

#[derive(Deserialize)]
struct Model {
    id: String,
    #[serde(default)]
    name: Option<Value>,
    #[serde(default)]
    context_length: Option<Value>,
    #[serde(default)]
    pricing: Option<Value>,
}

/// Fetches Featherless' catalog, page by page.
pub struct FeatherlessFetcher {
    api: ProviderApi,
    page_size: u32,
}

impl FeatherlessFetcher {
    /// A fetcher for `settings.base_url`, asking for
    /// [`DEFAULT_PAGE_SIZE`] models per page.
    pub fn new(settings: ProviderSettings, http: HttpClient) -> Result<Self, FetchError> {
        Ok(Self {
            api: ProviderApi::new("featherless", settings, http, Key::Optional)?,
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
impl PriceFetcher for FeatherlessFetcher {
    fn provider(&self) -> &ProviderId {
        self.api.provider()
    }

    async fn fetch(&self) -> Result<FetchedList, FetchError> {
        let paging = Paging::Numbered {
            page: "page",
            limit: "per_page",
            first: 1,
            size: self.page_size,
        };
        self.api.get_pages("models", paging, parse).await
    }
}

/// Parses one page of `/models`.
pub fn parse(body: &[u8]) -> Result<Page, FetchError> {
    let envelope: Envelope<'_> = payload(body)?;
    Ok(Page {
        list: read_list(&envelope.data, "id", offering),
        entries: envelope.data.len(),
        total: envelope
            .pagination
            .as_ref()
            .and_then(|p| p.get("total_items"))
            .and_then(whole_number)
            .or_else(|| envelope.total.as_ref().and_then(whole_number)),
    })
}

fn offering(model: Model) -> Result<RawOffering, SkippedModel> {
    let pricing = pricing(model.pricing.as_ref())
        .map_err(|detail| skip(&model.id, SkipReason::Unparseable(detail)))?;
    Ok(api_offering(
        model.id,
        text(model.name.as_ref()),
        model.context_length.as_ref().and_then(whole_number),
        pricing,
    ))
}

fn pricing(pricing: Option<&Value>) -> Result<RawPricing, String> {
    let prices = match pricing {
        None | Some(Value::Null) => return Ok(RawPricing::Subscription),
        Some(Value::Object(prices)) => prices,
        Some(_) => return Err("pricing is not an object".to_owned()),
    };
    let pair = input_output(
        PriceUnit::UsdPerMillion,
        ("pricing.input", prices.get("input")),
        ("pricing.output", prices.get("output")),
    )?;
    Ok(pair.unwrap_or(RawPricing::Subscription))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_unless_priced() {
        let page = parse(
            br#"{"data":[{"id":"a/sub","model_class":"llama3-8b","is_gated":false},
            {"id":"a/priced","name":"Priced","context_length":16384,"pricing":{"input":0.1,"output":"0.2"}},
            {"id":"a/null","pricing":null},
            {"id":"a/half","pricing":{"input":0.1}}]}"#,
        )
        .expect("payload");
        assert_eq!(page.entries, 4);
        assert_eq!(page.list.models.len(), 3);
        assert_eq!(page.list.models[0].pricing, RawPricing::Subscription);
        assert_eq!(page.list.models[2].pricing, RawPricing::Subscription);
        let RawPricing::Metered(parts) = &page.list.models[1].pricing else {
            panic!("metered");
        };
        let prices: Vec<String> = parts.iter().map(|(_, p)| p.to_string()).collect();
        assert_eq!(prices, ["0.0000001", "0.0000002"]);
        assert_eq!(page.list.models[1].context_length, Some(16384));
        assert_eq!(page.list.skipped[0].provider_model_id, "a/half");
    }

    #[test]
    fn the_stated_total_is_read() {
        let page = parse(
            br#"{"data":[{"id":"a/b"}],"pagination":{"current_page":1,"total_pages":221,"total_items":22060},"total":22061}"#,
        )
        .expect("payload");
        assert_eq!(page.total, Some(22060), "pagination.total_items first");
        let page = parse(br#"{"data":[{"id":"a/b"}],"total":7}"#).expect("payload");
        assert_eq!(page.total, Some(7));
        let page = parse(br#"{"data":[{"id":"a/b"}],"pagination":"none"}"#).expect("payload");
        assert_eq!(page.total, None);
    }
}
