//! What every API fetcher holds: the provider's id, where its API is and
//! with which key, and the one HTTP client.

use pricesync_domain::ProviderId;
use url::Url;

use crate::http::endpoint;
use crate::paging::{fetch_all_pages, Page, Paging};
use crate::{FetchError, FetchedList, HttpClient, ProviderSettings};

/// Whether a provider's API needs a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    /// Sent as a bearer token when configured; requests go out without one.
    Optional,
    /// Without a key no request is made: the fetch fails with
    /// [`FetchError::MissingCredentials`] naming the variable to set.
    Required,
}

/// A provider's API as a fetcher reaches it.
#[derive(Debug, Clone)]
pub(crate) struct ProviderApi {
    provider: ProviderId,
    settings: ProviderSettings,
    http: HttpClient,
    key: Key,
}

impl ProviderApi {
    /// The API of provider `name`.
    pub(crate) fn new(
        name: &str,
        settings: ProviderSettings,
        http: HttpClient,
        key: Key,
    ) -> Result<Self, FetchError> {
        let provider = ProviderId::parse(name)
            .map_err(|e| FetchError::Malformed(format!("provider name {name:?}: {e}")))?;
        Ok(Self {
            provider,
            settings,
            http,
            key,
        })
    }

    /// The provider.
    pub(crate) fn provider(&self) -> &ProviderId {
        &self.provider
    }

    /// Whether an API key is configured.
    pub(crate) fn has_key(&self) -> bool {
        self.settings.api_key.is_some()
    }

    /// The bearer token to send, checked before any request is made.
    fn bearer(&self) -> Result<Option<&str>, FetchError> {
        match self.key {
            Key::Optional => Ok(self.settings.api_key.as_deref()),
            Key::Required => self.settings.require_key(self.provider.as_str()).map(Some),
        }
    }

    /// GETs `path` under the base URL.
    pub(crate) async fn get(&self, path: &str) -> Result<Vec<u8>, FetchError> {
        let url = self.url(path)?;
        self.get_url(&url).await
    }

    /// The URL of `path` under the base URL.
    pub(crate) fn url(&self, path: &str) -> Result<Url, FetchError> {
        endpoint(&self.settings.base_url, path)
    }

    /// GETs `url`, which the caller has checked is on the provider's host
    /// (the key goes with the request).
    pub(crate) async fn get_url(&self, url: &Url) -> Result<Vec<u8>, FetchError> {
        let bearer = self.bearer()?;
        self.http.get_bytes(url, bearer).await
    }

    /// The most pages a listing may take ([`crate::HttpPolicy::max_pages`]).
    pub(crate) fn max_pages(&self) -> u32 {
        self.http.policy().max_pages.max(1)
    }

    /// GETs every page of the listing at `path` under the base URL.
    pub(crate) async fn get_pages(
        &self,
        path: &str,
        paging: Paging,
        parse: impl Fn(&[u8]) -> Result<Page, FetchError>,
    ) -> Result<FetchedList, FetchError> {
        let bearer = self.bearer()?;
        let url = endpoint(&self.settings.base_url, path)?;
        fetch_all_pages(&self.http, &url, bearer, paging, parse).await
    }
}
