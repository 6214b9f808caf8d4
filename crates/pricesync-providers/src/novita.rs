//! Novita AI: `GET {base}/v3/openai/v1/models` → `{"data": [Model, …]}`. The
//! key (`NOVITA_API_KEY`) is optional and sent as a bearer token when set.
//!
//! Prices are whole numbers in **1/10,000 USD per 1M tokens**
//! (2690 → $0.269 per 1M → 0.000000269 USD per token; a well-known tool
//! got this 8000× wrong):
//!
//! | key | meter |
//! |---|---|
//! | `input_token_price_per_m` | input_tokens |
//! | `output_token_price_per_m` | output_tokens |
//!
//! - Both prices are required; one without the other skips the model
//!   (unparseable). Neither: unknown. Both 0: free.
//! - The id is `id`; the display name `display_name`, else `title`; the
//!   context window `context_size`. Other fields are ignored.

use async_trait::async_trait;
use pricesync_domain::{PriceUnit, ProviderId, RawOffering, RawPricing, SkipReason, SkippedModel};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::api::{Key, ProviderApi};
use crate::json::{payload, read_list, skip, text, whole_number};
use crate::prices::{api_offering, input_output};
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
}

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
        parse(&self.api.get("v3/openai/v1/models").await?)
    }
}

/// Parses a `/v3/openai/v1/models` payload.
pub fn parse(body: &[u8]) -> Result<FetchedList, FetchError> {
    let envelope: Envelope<'_> = payload(body)?;
    Ok(read_list(&envelope.data, "id", offering))
}

fn offering(model: Model) -> Result<RawOffering, SkippedModel> {
    let pricing = input_output(
        PriceUnit::TenThousandthUsdPerMillion,
        (
            "input_token_price_per_m",
            model.input_token_price_per_m.as_ref(),
        ),
        (
            "output_token_price_per_m",
            model.output_token_price_per_m.as_ref(),
        ),
    )
    .map_err(|detail| skip(&model.id, SkipReason::Unparseable(detail)))?
    .unwrap_or(RawPricing::Unknown);
    let display_name = text(model.display_name.as_ref()).or_else(|| text(model.title.as_ref()));
    Ok(api_offering(
        model.id,
        display_name,
        model.context_size.as_ref().and_then(whole_number),
        pricing,
    ))
}
