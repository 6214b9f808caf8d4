//! Builds the configured fetchers from provider names.

use std::sync::Arc;

use pricesync_domain::ProviderId;

use crate::alibaba_cloud::AlibabaCloudFetcher;
use crate::cerebras::CerebrasFetcher;
use crate::deepinfra::DeepInfraFetcher;
use crate::featherless::FeatherlessFetcher;
use crate::manual::{ManualFetcher, ManualTable, ManualTableError};
use crate::nearai::NearAiFetcher;
use crate::novita::NovitaFetcher;
use crate::openrouter::OpenRouterFetcher;
use crate::together::TogetherFetcher;
use crate::xai::XaiFetcher;
use crate::{FetchError, HttpClient, HttpPolicy, PriceFetcher, ProviderSettings};

/// How a provider's prices are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// From its API, at this default base URL.
    Api {
        /// The default base URL (`<PROVIDER>_BASE_URL` overrides it).
        default_base_url: &'static str,
    },
    /// From the manual price table, cross-checked against the provider's
    /// model list at this default base URL when its key is set.
    ManualCrossChecked {
        /// The default base URL (`<PROVIDER>_BASE_URL` overrides it).
        default_base_url: &'static str,
    },
    /// From the manual price table.
    Manual,
}

/// A provider pricesync knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownProvider {
    /// The name used in configuration.
    pub name: &'static str,
    /// Where its prices come from.
    pub source: Source,
}

const fn api(name: &'static str, default_base_url: &'static str) -> KnownProvider {
    KnownProvider {
        name,
        source: Source::Api { default_base_url },
    }
}

/// Every provider pricesync knows, by name.
pub const KNOWN_PROVIDERS: &[KnownProvider] = &[
    api("openrouter", crate::openrouter::DEFAULT_BASE_URL),
    api("featherless", crate::featherless::DEFAULT_BASE_URL),
    api("nearai", crate::nearai::DEFAULT_BASE_URL),
    KnownProvider {
        name: "alibaba-cloud",
        source: Source::ManualCrossChecked {
            default_base_url: crate::alibaba_cloud::DEFAULT_BASE_URL,
        },
    },
    api("together", crate::together::DEFAULT_BASE_URL),
    api("deepinfra", crate::deepinfra::DEFAULT_BASE_URL),
    api("cerebras", crate::cerebras::DEFAULT_BASE_URL),
    api("novita", crate::novita::DEFAULT_BASE_URL),
    api("xai", crate::xai::DEFAULT_BASE_URL),
    KnownProvider {
        name: "groq",
        source: Source::Manual,
    },
    KnownProvider {
        name: "fireworks",
        source: Source::Manual,
    },
];

/// The names of the known providers, for messages.
pub fn known_providers() -> Vec<&'static str> {
    KNOWN_PROVIDERS.iter().map(|p| p.name).collect()
}

/// Why the fetchers could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A configured name is not a known provider.
    #[error("unknown provider {name:?}; known providers: {}", known_providers().join(", "))]
    UnknownProvider {
        /// The name as configured.
        name: String,
    },
    /// The manual price table cannot be used.
    #[error(transparent)]
    ManualTable(#[from] ManualTableError),
    /// The operator's manual price file cannot be read.
    #[error("cannot read PRICING_MANUAL_PRICES_FILE={path:?}: {reason}")]
    ManualFile {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// The HTTP client cannot be built.
    #[error(transparent)]
    Http(#[from] FetchError),
}

/// Builds a fetcher for each name, reading `<PROVIDER>_BASE_URL`,
/// `<PROVIDER>_API_KEY` and `PRICING_MANUAL_PRICES_FILE` through `lookup`.
/// Names are checked first: an unknown one fails with the list of known ones.
pub fn build_fetchers(
    names: &[String],
    lookup: &dyn Fn(&str) -> Option<String>,
    policy: HttpPolicy,
) -> Result<Vec<Arc<dyn PriceFetcher>>, RegistryError> {
    let known: Vec<&KnownProvider> = names
        .iter()
        .map(|name| {
            KNOWN_PROVIDERS
                .iter()
                .find(|p| p.name == name.trim())
                .ok_or_else(|| RegistryError::UnknownProvider { name: name.clone() })
        })
        .collect::<Result<_, _>>()?;
    let http = HttpClient::new(policy)?;
    let mut table = ManualTable::defaults()?;
    if let Some(path) = lookup("PRICING_MANUAL_PRICES_FILE").filter(|p| !p.trim().is_empty()) {
        let text = std::fs::read_to_string(&path).map_err(|e| RegistryError::ManualFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        table = table.with_overrides(ManualTable::parse(&text, &path)?);
    }
    let mut fetchers: Vec<Arc<dyn PriceFetcher>> = Vec::with_capacity(known.len());
    for provider in known {
        let id = ProviderId::parse(provider.name)
            .map_err(|e| FetchError::Malformed(format!("provider name: {e}")))?;
        let fetcher: Arc<dyn PriceFetcher> = match provider.source {
            Source::Manual => Arc::new(ManualFetcher::new(id, &table)),
            Source::Api { default_base_url } | Source::ManualCrossChecked { default_base_url } => {
                let settings =
                    ProviderSettings::from_lookup(provider.name, default_base_url, lookup);
                api_fetcher(provider.name, settings, http.clone(), &table)?
            }
        };
        fetchers.push(fetcher);
    }
    Ok(fetchers)
}

/// The fetcher of a provider reached over HTTP.
fn api_fetcher(
    name: &str,
    settings: ProviderSettings,
    http: HttpClient,
    table: &ManualTable,
) -> Result<Arc<dyn PriceFetcher>, RegistryError> {
    Ok(match name {
        "openrouter" => Arc::new(OpenRouterFetcher::new(settings, http)?),
        "featherless" => Arc::new(FeatherlessFetcher::new(settings, http)?),
        "nearai" => Arc::new(NearAiFetcher::new(settings, http)?),
        "alibaba-cloud" => Arc::new(AlibabaCloudFetcher::new(settings, http, table)?),
        "together" => Arc::new(TogetherFetcher::new(settings, http)?),
        "deepinfra" => Arc::new(DeepInfraFetcher::new(settings, http)?),
        "cerebras" => Arc::new(CerebrasFetcher::new(settings, http)?),
        "novita" => Arc::new(NovitaFetcher::new(settings, http)?),
        "xai" => Arc::new(XaiFetcher::new(settings, http)?),
        other => {
            return Err(RegistryError::UnknownProvider {
                name: other.to_owned(),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_list_the_known_ones() {
        let e = build_fetchers(
            &["openrouter".into(), "nosuch".into()],
            &|_| None,
            HttpPolicy::default(),
        )
        .err()
        .expect("unknown provider");
        let text = e.to_string();
        assert!(text.contains("\"nosuch\""), "{text}");
        assert!(text.contains("openrouter"), "{text}");
    }

    #[test]
    fn builds_the_named_fetchers_in_order() {
        let fetchers = build_fetchers(
            &["groq".into(), "openrouter".into()],
            &|_| None,
            HttpPolicy::default(),
        )
        .expect("builds");
        let names: Vec<&str> = fetchers.iter().map(|f| f.provider().as_str()).collect();
        assert_eq!(names, ["groq", "openrouter"]);
    }

    #[test]
    fn every_known_provider_builds_without_configuration() {
        let names: Vec<String> = known_providers().into_iter().map(str::to_owned).collect();
        let fetchers = build_fetchers(&names, &|_| None, HttpPolicy::default()).expect("all build");
        let built: Vec<&str> = fetchers.iter().map(|f| f.provider().as_str()).collect();
        assert_eq!(built, known_providers());
        for provider in [
            "openrouter",
            "featherless",
            "nearai",
            "alibaba-cloud",
            "xai",
        ] {
            assert!(built.contains(&provider), "{provider}");
        }
    }

    #[test]
    fn a_missing_operator_file_is_an_error_naming_the_variable() {
        let lookup = |name: &str| {
            (name == "PRICING_MANUAL_PRICES_FILE").then(|| "/no/such/file.toml".to_owned())
        };
        let e = build_fetchers(&["groq".into()], &lookup, HttpPolicy::default())
            .err()
            .expect("missing file");
        assert!(e.to_string().contains("PRICING_MANUAL_PRICES_FILE"));
    }
}
