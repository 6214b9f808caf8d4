//! Builds the configured fetchers from provider names.
//!
//! Adding a provider is its module plus one entry of [`KNOWN_PROVIDERS`]:
//! its name, where its prices come from (the default base URL), the variable
//! holding its key when that is not `<PROVIDER>_API_KEY`, and its
//! constructor. Every per-provider variable name derives from the name.

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

impl Source {
    /// The default base URL of a provider reached over HTTP.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Source::Api { default_base_url } | Source::ManualCrossChecked { default_base_url } => {
                Some(default_base_url)
            }
            Source::Manual => None,
        }
    }
}

/// What a provider's constructor gets.
pub struct FetcherParts<'a> {
    /// The provider's id.
    pub provider: ProviderId,
    /// Its base URL and key (the default base URL is empty for a provider
    /// served from the manual table alone).
    pub settings: ProviderSettings,
    /// The shared HTTP client (one policy for every provider).
    pub http: HttpClient,
    /// The manual price table, defaults plus the operator's file.
    pub table: &'a ManualTable,
}

/// Builds one provider's fetcher.
pub type FetcherConstructor = fn(FetcherParts<'_>) -> Result<Arc<dyn PriceFetcher>, FetchError>;

/// A provider pricesync knows.
#[derive(Clone, Copy)]
pub struct KnownProvider {
    /// The name used in configuration.
    pub name: &'static str,
    /// Where its prices come from.
    pub source: Source,
    /// The variable that holds its API key, when it is not
    /// `<PROVIDER>_API_KEY` (the name the provider's own docs use).
    pub api_key_variable: Option<&'static str>,
    /// Its constructor.
    pub build: FetcherConstructor,
}

impl std::fmt::Debug for KnownProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownProvider")
            .field("name", &self.name)
            .field("source", &self.source)
            .field("api_key_variable", &self.api_key_variable)
            .finish_non_exhaustive()
    }
}

impl PartialEq for KnownProvider {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for KnownProvider {}

impl KnownProvider {
    /// Looks a provider up by its configured name.
    pub fn find(name: &str) -> Option<&'static KnownProvider> {
        KNOWN_PROVIDERS.iter().find(|p| p.name == name.trim())
    }

    /// The stem of its environment variables: the name upper-cased, `-` as
    /// `_` (`alibaba-cloud` → `ALIBABA_CLOUD`).
    pub fn env_name(&self) -> String {
        env_name(self.name)
    }

    /// The variable of its base URL, `<PROVIDER>_BASE_URL`.
    pub fn base_url_variable(&self) -> String {
        format!("{}_BASE_URL", self.env_name())
    }

    /// The variable of its API key.
    pub fn key_variable(&self) -> String {
        self.api_key_variable
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}_API_KEY", self.env_name()))
    }

    /// Its settings, read through `lookup`.
    pub fn settings(&self, lookup: &dyn Fn(&str) -> Option<String>) -> ProviderSettings {
        ProviderSettings::read(
            &self.base_url_variable(),
            self.source.default_base_url().unwrap_or(""),
            &self.key_variable(),
            lookup,
        )
    }
}

/// The stem of a provider's environment variables: its name upper-cased,
/// `-` as `_`.
pub fn env_name(provider: &str) -> String {
    provider.trim().to_ascii_uppercase().replace('-', "_")
}

const fn api(
    name: &'static str,
    default_base_url: &'static str,
    build: FetcherConstructor,
) -> KnownProvider {
    KnownProvider {
        name,
        source: Source::Api { default_base_url },
        api_key_variable: None,
        build,
    }
}

const fn manual(name: &'static str) -> KnownProvider {
    KnownProvider {
        name,
        source: Source::Manual,
        api_key_variable: None,
        build: |p| Ok(Arc::new(ManualFetcher::new(p.provider, p.table))),
    }
}

/// Every provider pricesync knows, by name.
pub const KNOWN_PROVIDERS: &[KnownProvider] = &[
    api("openrouter", crate::openrouter::DEFAULT_BASE_URL, |p| {
        Ok(Arc::new(OpenRouterFetcher::new(p.settings, p.http)?))
    }),
    api("featherless", crate::featherless::DEFAULT_BASE_URL, |p| {
        Ok(Arc::new(FeatherlessFetcher::new(p.settings, p.http)?))
    }),
    api("nearai", crate::nearai::DEFAULT_BASE_URL, |p| {
        Ok(Arc::new(NearAiFetcher::new(p.settings, p.http)?))
    }),
    KnownProvider {
        name: "alibaba-cloud",
        source: Source::ManualCrossChecked {
            default_base_url: crate::alibaba_cloud::DEFAULT_BASE_URL,
        },
        // The name Alibaba Cloud's own documentation uses.
        api_key_variable: Some("ALIBABA_API_KEY"),
        build: |p| {
            Ok(Arc::new(AlibabaCloudFetcher::new(
                p.settings, p.http, p.table,
            )?))
        },
    },
    api("together", crate::together::DEFAULT_BASE_URL, |p| {
        Ok(Arc::new(TogetherFetcher::new(p.settings, p.http)?))
    }),
    api("deepinfra", crate::deepinfra::DEFAULT_BASE_URL, |p| {
        Ok(Arc::new(DeepInfraFetcher::new(p.settings, p.http)?))
    }),
    api("cerebras", crate::cerebras::DEFAULT_BASE_URL, |p| {
        Ok(Arc::new(CerebrasFetcher::new(p.settings, p.http)?))
    }),
    api("novita", crate::novita::DEFAULT_BASE_URL, |p| {
        Ok(Arc::new(NovitaFetcher::new(p.settings, p.http)?))
    }),
    api("xai", crate::xai::DEFAULT_BASE_URL, |p| {
        Ok(Arc::new(XaiFetcher::new(p.settings, p.http)?))
    }),
    manual("groq"),
    manual("fireworks"),
];

/// The providers synced when `PRICING_SYNC_PROVIDERS` is not set.
pub const DEFAULT_SYNC_PROVIDERS: &[&str] =
    &["openrouter", "featherless", "nearai", "alibaba-cloud"];

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
    #[error("cannot read PRICING_MANUAL_PRICES_FILE={path:?}: {source}")]
    ManualFile {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A registry entry's name is not a valid provider id (a defect of the
    /// entry, caught by this module's tests).
    #[error("provider name {name:?} is not a valid id")]
    InvalidName {
        /// The entry's name.
        name: &'static str,
        /// Why.
        #[source]
        source: pricesync_domain::IdError,
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
            KnownProvider::find(name)
                .ok_or_else(|| RegistryError::UnknownProvider { name: name.clone() })
        })
        .collect::<Result<_, _>>()?;
    let http = HttpClient::new(policy)?;
    let mut table = ManualTable::defaults()?;
    if let Some(path) = lookup("PRICING_MANUAL_PRICES_FILE").filter(|p| !p.trim().is_empty()) {
        let text = std::fs::read_to_string(&path).map_err(|source| RegistryError::ManualFile {
            path: path.clone(),
            source,
        })?;
        table = table.with_overrides(ManualTable::parse(&text, &path)?);
    }
    let mut fetchers: Vec<Arc<dyn PriceFetcher>> = Vec::with_capacity(known.len());
    for provider in known {
        let id = ProviderId::parse(provider.name).map_err(|source| RegistryError::InvalidName {
            name: provider.name,
            source,
        })?;
        fetchers.push((provider.build)(FetcherParts {
            provider: id,
            settings: provider.settings(lookup),
            http: http.clone(),
            table: &table,
        })?);
    }
    Ok(fetchers)
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
    fn variable_names_derive_from_the_provider_name() {
        let nearai = KnownProvider::find("nearai").expect("known");
        assert_eq!(nearai.base_url_variable(), "NEARAI_BASE_URL");
        assert_eq!(nearai.key_variable(), "NEARAI_API_KEY");
        let alibaba = KnownProvider::find(" alibaba-cloud ").expect("known, trimmed");
        assert_eq!(alibaba.env_name(), "ALIBABA_CLOUD");
        assert_eq!(alibaba.base_url_variable(), "ALIBABA_CLOUD_BASE_URL");
        assert_eq!(alibaba.key_variable(), "ALIBABA_API_KEY");
        assert!(KnownProvider::find("nosuch").is_none());
    }

    #[test]
    fn settings_read_the_derived_variables_with_the_registry_default() {
        let env = |name: &str| match name {
            "XAI_API_KEY" => Some(" xai-secret ".to_owned()),
            "TOGETHER_BASE_URL" => Some("http://127.0.0.1:9".to_owned()),
            _ => None,
        };
        let xai = KnownProvider::find("xai").expect("known").settings(&env);
        assert_eq!(xai.base_url, crate::xai::DEFAULT_BASE_URL);
        assert_eq!(xai.api_key.as_deref(), Some("xai-secret"));
        let together = KnownProvider::find("together")
            .expect("known")
            .settings(&env);
        assert_eq!(together.base_url, "http://127.0.0.1:9");
        assert_eq!(together.api_key, None);
        assert_eq!(together.api_key_variable, "TOGETHER_API_KEY");
    }

    #[test]
    fn the_default_sync_providers_are_known() {
        for name in DEFAULT_SYNC_PROVIDERS {
            assert!(KnownProvider::find(name).is_some(), "{name}");
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
