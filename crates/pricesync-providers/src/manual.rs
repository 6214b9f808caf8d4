//! Manual price tables, for providers without a price API (alibaba-cloud,
//! groq, fireworks) or any provider an operator prices by hand.
//!
//! The format is TOML (see `manual/defaults.toml`, shipped in the crate):
//! `format = 1`, then `[[models]]` with `provider`, `id`, optional `name`,
//! `context_length` and `kind` (`dynamic`, `subscription` or `unknown` for a
//! model without prices), and `prices`: `{ meter, price, unit,
//! min_prompt_tokens? }` where `price` is a decimal *string* and `unit` says
//! what it is per (see [`PriceUnit`]). Prices from a table go through the same
//! validation as API prices and are recorded with source `manual`.
//!
//! An operator file (`PRICING_MANUAL_PRICES_FILE`) replaces the shipped
//! entries of every provider it lists; the others keep the defaults.

use std::collections::BTreeMap;

use async_trait::async_trait;
use pricesync_domain::{
    parse_decimal, ComponentKey, Meter, PriceSource, PriceUnit, ProviderId, RawOffering, RawPricing,
};
use serde::Deserialize;

use crate::{FetchError, FetchedList, PriceFetcher};

/// The table shipped with pricesync.
pub const DEFAULT_TABLE: &str = include_str!("../manual/defaults.toml");

/// The format version this code reads.
pub const FORMAT_VERSION: u32 = 1;

/// A table that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("manual price table {source_name}: {message}")]
pub struct ManualTableError {
    /// The file (or "defaults").
    pub source_name: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    format: u32,
    #[serde(default)]
    #[allow(dead_code)]
    updated: Option<String>,
    #[serde(default)]
    models: Vec<ModelEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelEntry {
    provider: String,
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    context_length: Option<u64>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    prices: Vec<PriceEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceEntry {
    meter: String,
    #[serde(deserialize_with = "decimal_text")]
    price: String,
    unit: String,
    #[serde(default)]
    min_prompt_tokens: u64,
}

/// Reads a price as text. A TOML number would have gone through a float,
/// so it is refused with a message that says how to write it.
fn decimal_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct DecimalText;
    impl serde::de::Visitor<'_> for DecimalText {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a decimal string such as \"0.59\"")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<String, E> {
            Err(E::custom(NUMBER_PRICE))
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<String, E> {
            Err(E::custom(NUMBER_PRICE))
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<String, E> {
            Err(E::custom(NUMBER_PRICE))
        }
    }
    deserializer.deserialize_any(DecimalText)
}

const NUMBER_PRICE: &str =
    "prices are decimal strings such as \"0.59\", not TOML numbers (a number goes through a float)";

/// A parsed table: each provider's models, prices in USD per unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManualTable {
    providers: BTreeMap<String, Vec<RawOffering>>,
}

impl ManualTable {
    /// Parses a table. `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, ManualTableError> {
        let error = |message: String| ManualTableError {
            source_name: source_name.to_owned(),
            message,
        };
        let file: TableFile = toml::from_str(text).map_err(|e| error(e.to_string()))?;
        if file.format != FORMAT_VERSION {
            return Err(error(format!(
                "format {} is not supported; this pricesync reads format {FORMAT_VERSION}",
                file.format
            )));
        }
        let mut providers: BTreeMap<String, Vec<RawOffering>> = BTreeMap::new();
        for (i, model) in file.models.into_iter().enumerate() {
            let at = format!("models[{i}] ({}/{})", model.provider, model.id);
            let provider = ProviderId::parse(&model.provider)
                .map_err(|e| error(format!("{at}: provider: {e}")))?;
            let pricing = match model.kind.as_deref() {
                None | Some("metered") | Some("free") => {
                    let mut components = Vec::with_capacity(model.prices.len());
                    for (j, p) in model.prices.iter().enumerate() {
                        let at = format!("{at}.prices[{j}]");
                        let meter: Meter =
                            p.meter.parse().map_err(|e| error(format!("{at}: {e}")))?;
                        let unit: PriceUnit =
                            p.unit.parse().map_err(|e| error(format!("{at}: {e}")))?;
                        let value = parse_decimal(&p.price)
                            .map_err(|e| error(format!("{at}: price: {e}")))?;
                        let usd = unit
                            .to_usd_per_unit(value)
                            .map_err(|e| error(format!("{at}: {e}")))?;
                        components.push((ComponentKey::band(meter, p.min_prompt_tokens), usd));
                    }
                    RawPricing::Metered(components)
                }
                Some(kind) => {
                    if !model.prices.is_empty() {
                        return Err(error(format!("{at}: a {kind} model lists no prices")));
                    }
                    match kind {
                        "dynamic" => RawPricing::Dynamic,
                        "subscription" => RawPricing::Subscription,
                        "unknown" => RawPricing::Unknown,
                        other => {
                            return Err(error(format!(
                                "{at}: kind {other:?} is not one of metered, dynamic, subscription, unknown"
                            )))
                        }
                    }
                }
            };
            providers
                .entry(provider.as_str().to_owned())
                .or_default()
                .push(RawOffering {
                    provider_model_id: model.id,
                    display_name: model.name,
                    context_length: model.context_length,
                    source: PriceSource::Manual,
                    pricing,
                });
        }
        Ok(Self { providers })
    }

    /// The shipped defaults, replaced provider by provider by `operator`.
    pub fn with_overrides(mut self, operator: ManualTable) -> Self {
        for (provider, models) in operator.providers {
            self.providers.insert(provider, models);
        }
        self
    }

    /// The shipped defaults (the crate's tests check they parse).
    pub fn defaults() -> Result<Self, ManualTableError> {
        Self::parse(DEFAULT_TABLE, "defaults")
    }

    /// The providers the table lists.
    pub fn providers(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(String::as_str)
    }

    /// A provider's entries (empty when the table does not list it).
    pub fn models(&self, provider: &str) -> &[RawOffering] {
        self.providers
            .get(provider)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// Serves one provider's entries of a manual table.
pub struct ManualFetcher {
    provider: ProviderId,
    models: Vec<RawOffering>,
}

impl ManualFetcher {
    /// A fetcher for `provider`'s entries of `table`.
    pub fn new(provider: ProviderId, table: &ManualTable) -> Self {
        let models = table.models(provider.as_str()).to_vec();
        Self { provider, models }
    }
}

#[async_trait]
impl PriceFetcher for ManualFetcher {
    fn provider(&self) -> &ProviderId {
        &self.provider
    }

    async fn fetch(&self) -> Result<FetchedList, FetchError> {
        Ok(FetchedList {
            models: self.models.clone(),
            skipped: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pricesync_domain::{validate_price_list, ValidationPolicy};

    #[test]
    fn the_shipped_defaults_parse_and_validate() {
        let table = ManualTable::defaults().expect("defaults parse");
        let providers: Vec<&str> = table.providers().collect();
        assert_eq!(providers, ["alibaba-cloud", "fireworks", "groq"]);
        for provider in providers {
            let list = validate_price_list(
                table.models(provider).to_vec(),
                &ValidationPolicy::default(),
            );
            assert!(
                list.skipped().is_empty(),
                "{provider}: {:?}",
                list.skipped()
            );
            assert!(!list.offerings().is_empty());
        }
    }

    #[test]
    fn known_prices_convert_to_usd_per_token() {
        let table = ManualTable::defaults().expect("defaults parse");
        let groq = table.models("groq");
        let llama = groq
            .iter()
            .find(|m| m.provider_model_id == "llama-3.3-70b-versatile")
            .expect("listed");
        let RawPricing::Metered(prices) = &llama.pricing else {
            panic!("metered");
        };
        let text: Vec<String> = prices.iter().map(|(_, p)| p.to_string()).collect();
        assert_eq!(text, ["0.00000059", "0.00000079"]);
        assert_eq!(llama.source, PriceSource::Manual);
    }

    #[test]
    fn bad_tables_say_where_and_why() {
        let float = "format = 1\n[[models]]\nprovider = \"groq\"\nid = \"m\"\nprices = [{ meter = \"input_tokens\", price = 0.59, unit = \"usd_per_million\" }]\n";
        let e = ManualTable::parse(float, "ops.toml").expect_err("float price");
        assert!(e.to_string().contains("decimal strings"), "{e}");
        assert!(e.to_string().contains("ops.toml"), "{e}");
        let unit = float
            .replace("price = 0.59", "price = \"0.59\"")
            .replace("usd_per_million", "per_token");
        let e = ManualTable::parse(&unit, "ops.toml").expect_err("bad unit");
        assert!(
            e.to_string().contains("models[0] (groq/m).prices[0]"),
            "{e}"
        );
        let e = ManualTable::parse("format = 2\n", "ops.toml").expect_err("version");
        assert!(e.to_string().contains("format 2"), "{e}");
        let e =
            ManualTable::parse("format = 1\ncolour = 1\n", "ops.toml").expect_err("unknown key");
        assert!(e.to_string().contains("colour"), "{e}");
    }

    #[test]
    fn operator_entries_replace_a_providers_defaults() {
        let operator = ManualTable::parse(
            "format = 1\n[[models]]\nprovider = \"groq\"\nid = \"only\"\nprices = [{ meter = \"input_tokens\", price = \"1\", unit = \"usd_per_million\" }]\n",
            "ops.toml",
        )
        .expect("parses");
        let table = ManualTable::defaults()
            .expect("defaults")
            .with_overrides(operator);
        assert_eq!(table.models("groq").len(), 1);
        assert!(
            table.models("fireworks").len() > 1,
            "others keep the defaults"
        );
    }
}
