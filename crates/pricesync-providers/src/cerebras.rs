//! Cerebras: `GET {base}/public/v1/models` → `{"data": [Model, …]}`. The
//! list is public: no key is needed, and none is sent even when
//! `CEREBRAS_API_KEY` is set (it is for inference, not for this list).
//!
//! `pricing {prompt, completion}` are decimal strings in USD per token:
//!
//! | key | meter |
//! |---|---|
//! | `prompt` | input_tokens |
//! | `completion` | output_tokens |
//!
//! - Both prices are required; one without the other skips the model
//!   (unparseable). No `pricing`: unknown. `"0"` for both: free.
//! - **Deprecated models** (`deprecated: true`) are kept with their prices:
//!   Cerebras serves them until their retirement date and the gateway needs
//!   their price while traffic still names them; once they leave the list
//!   the sync marks them removed.
//! - The id is `id`, the display name `name`, the context window
//!   `context_length`. Other fields are ignored.

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
pub const DEFAULT_BASE_URL: &str = "https://api.cerebras.ai";

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    data: Vec<&'a RawValue>,
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

/// Fetches Cerebras' public model list.
pub struct CerebrasFetcher {
    api: ProviderApi,
}

impl CerebrasFetcher {
    /// A fetcher for `settings.base_url`. `settings.api_key` is not used.
    pub fn new(mut settings: ProviderSettings, http: HttpClient) -> Result<Self, FetchError> {
        settings.api_key = None;
        Ok(Self {
            api: ProviderApi::new("cerebras", settings, http, Key::Optional)?,
        })
    }
}

#[async_trait]
impl PriceFetcher for CerebrasFetcher {
    fn provider(&self) -> &ProviderId {
        self.api.provider()
    }

    async fn fetch(&self) -> Result<FetchedList, FetchError> {
        parse(&self.api.get("public/v1/models").await?)
    }
}

/// Parses a `/public/v1/models` payload.
pub fn parse(body: &[u8]) -> Result<FetchedList, FetchError> {
    let envelope: Envelope<'_> = payload(body)?;
    Ok(read_list(&envelope.data, "id", offering))
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
        None | Some(Value::Null) => return Ok(RawPricing::Unknown),
        Some(Value::Object(prices)) => prices,
        Some(_) => return Err("pricing is not an object".to_owned()),
    };
    let pair = input_output(
        PriceUnit::UsdPerUnit,
        ("pricing.prompt", prices.get("prompt")),
        ("pricing.completion", prices.get("completion")),
    )?;
    Ok(pair.unwrap_or(RawPricing::Unknown))
}
