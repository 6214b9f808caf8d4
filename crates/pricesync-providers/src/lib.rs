//! Price fetchers for pricesync: the [`PriceFetcher`] trait that every
//! provider module implements, and the list and error types they share.
//!
//! A fetcher reads a provider's published prices and returns them converted
//! to canonical USD per unit ([`pricesync_domain::PriceUnit`]) but not yet
//! validated: validation, diffing and storage are the engine's. Other Rust
//! services implement [`PriceFetcher`] for their own sources and hand it to
//! the engine.
//!
//! One module per provider (`openrouter`, `featherless`, `nearai`,
//! `alibaba_cloud`, `together`, `deepinfra`, `cerebras`, `novita`, `xai`),
//! each with a `parse` function over the provider's raw payload and module
//! docs stating its endpoint, units, key→meter mapping and quirks. groq and
//! fireworks have no price API and are served from the [`manual`] table.
//! [`build_fetchers`] builds them by name from configuration.

pub mod alibaba_cloud;
mod api;
pub mod cerebras;
pub mod deepinfra;
mod error;
pub mod featherless;
pub mod http;
mod json;
pub mod manual;
pub mod nearai;
pub mod novita;
pub mod openrouter;
pub mod paging;
mod prices;
mod registry;
mod settings;
pub mod together;
pub mod xai;

use async_trait::async_trait;
use pricesync_domain::{ProviderId, RawOffering, SkippedModel};

pub use error::FetchError;
pub use http::{HttpClient, HttpPolicy, USER_AGENT};
pub use registry::{
    build_fetchers, env_name, known_providers, FetcherConstructor, FetcherParts, KnownProvider,
    RegistryError, Source, DEFAULT_SYNC_PROVIDERS, KNOWN_PROVIDERS,
};
pub use settings::ProviderSettings;

/// A provider's list as fetched: the models read, and the entries that could
/// not be read (with reasons) so that they are reported, not silently lost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchedList {
    /// Models read from the payload, prices in USD per unit.
    pub models: Vec<RawOffering>,
    /// Entries of the payload that could not be read.
    pub skipped: Vec<SkippedModel>,
}

/// A source of one provider's prices.
///
/// Implementations must not panic on any input, must bound the memory they
/// use, and must convert every price to USD per unit through
/// [`pricesync_domain::PriceUnit`] (the one place that converts units).
#[async_trait]
pub trait PriceFetcher: Send + Sync {
    /// The provider this fetcher reads.
    fn provider(&self) -> &ProviderId;

    /// Fetches the provider's current list.
    async fn fetch(&self) -> Result<FetchedList, FetchError>;
}
