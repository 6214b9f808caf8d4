//! Alibaba Cloud (DashScope): prices from the manual price table, cross-
//! checked against the model list when `ALIBABA_API_KEY` is set.
//!
//! DashScope publishes prices only on a web page (per region, with
//! input-size bands and thinking-mode prices), so the prices are the
//! `alibaba-cloud` entries of the [`ManualTable`] (source `manual`; the
//! shipped defaults are international USD per 1M tokens, banded).
//!
//! Cross-check: `GET {base}/compatible-mode/v1/models` (OpenAI-compatible,
//! bearer key, `{"data": [{"id": …}, …]}`, default base
//! `https://dashscope-intl.aliyuncs.com`):
//! - a model listed upstream but missing from the table is reported in
//!   `skipped` (unsupported pricing: "listed upstream but not in the manual
//!   price table"), so operators see what to price; no price is invented;
//! - a table model that the list does not name is still returned with the
//!   table's price (the operator's table is the authority; the list can be
//!   region-limited) and logged as a warning;
//! - if the request fails, the fetch fails with the classified error, so a
//!   broken key or endpoint is reported instead of silently skipped.
//!
//! Without the key the fetch returns the table as is, and makes no request.

use std::collections::BTreeSet;

use async_trait::async_trait;
use pricesync_domain::{ProviderId, RawOffering, SkipReason};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::api::{Key, ProviderApi};
use crate::json::{entry, payload, skip};
use crate::manual::ManualTable;
use crate::{FetchError, FetchedList, HttpClient, PriceFetcher, ProviderSettings};

/// The default base URL (international region).
pub const DEFAULT_BASE_URL: &str = "https://dashscope-intl.aliyuncs.com";

/// The skip message for a model the table does not price.
pub const NOT_IN_TABLE: &str = "listed upstream but not in the manual price table";

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    data: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Listed {
    id: String,
}

/// Serves the manual table's alibaba-cloud prices, cross-checked against
/// DashScope's model list when a key is configured.
pub struct AlibabaCloudFetcher {
    api: ProviderApi,
    table: Vec<RawOffering>,
}

impl AlibabaCloudFetcher {
    /// A fetcher serving `table`'s alibaba-cloud entries, cross-checking
    /// them at `settings.base_url` when `settings.api_key` is set.
    pub fn new(
        settings: ProviderSettings,
        http: HttpClient,
        table: &ManualTable,
    ) -> Result<Self, FetchError> {
        let api = ProviderApi::new("alibaba-cloud", settings, http, Key::Optional)?;
        let table = table.models(api.provider().as_str()).to_vec();
        Ok(Self { api, table })
    }
}

#[async_trait]
impl PriceFetcher for AlibabaCloudFetcher {
    fn provider(&self) -> &ProviderId {
        self.api.provider()
    }

    async fn fetch(&self) -> Result<FetchedList, FetchError> {
        if !self.api.has_key() {
            return Ok(FetchedList {
                models: self.table.clone(),
                skipped: Vec::new(),
            });
        }
        let body = self.api.get("compatible-mode/v1/models").await?;
        parse(&body, &self.table)
    }
}

/// Cross-checks `table` against a `/compatible-mode/v1/models` payload: the
/// table's models, and the listed models the table lacks as skipped.
pub fn parse(body: &[u8], table: &[RawOffering]) -> Result<FetchedList, FetchError> {
    let envelope: Envelope<'_> = payload(body)?;
    let priced: BTreeSet<&str> = table.iter().map(|m| m.provider_model_id.as_str()).collect();
    let mut listed: BTreeSet<String> = BTreeSet::new();
    let mut list = FetchedList {
        models: table.to_vec(),
        skipped: Vec::new(),
    };
    for raw in envelope.data {
        match entry::<Listed>(raw, "id") {
            Ok(model) => {
                if !priced.contains(model.id.as_str()) && !listed.contains(&model.id) {
                    list.skipped.push(skip(
                        &model.id,
                        SkipReason::UnsupportedPricing(NOT_IN_TABLE.to_owned()),
                    ));
                }
                listed.insert(model.id);
            }
            Err(skipped) => list.skipped.push(skipped),
        }
    }
    let unlisted: Vec<&str> = priced
        .iter()
        .copied()
        .filter(|id| !listed.contains(*id))
        .collect();
    if !unlisted.is_empty() {
        tracing::warn!(
            provider = "alibaba-cloud",
            models = ?unlisted,
            "manual price table models not in the upstream model list; their table prices are kept"
        );
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_models_missing_from_the_table_are_reported_once() {
        let table = ManualTable::defaults().expect("defaults");
        let table = table.models("alibaba-cloud");
        let list = parse(
            br#"{"object":"list","data":[{"id":"qwen-max","object":"model"},{"id":"qwen-new"},
            {"id":"qwen-new"},{"id":17}]}"#,
            table,
        )
        .expect("payload");
        assert_eq!(list.models, table);
        let skipped: Vec<(&str, &str)> = list
            .skipped
            .iter()
            .map(|s| (s.provider_model_id.as_str(), s.reason.code()))
            .collect();
        assert_eq!(
            skipped,
            [
                ("qwen-new", "unsupported_pricing"),
                ("<unknown>", "unparseable")
            ]
        );
    }
}
