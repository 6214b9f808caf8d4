//! Where a provider is reached and with which key.

/// A provider's base URL and API key, from `<PROVIDER>_BASE_URL` and
/// `<PROVIDER>_API_KEY` (provider name upper-cased, `-` as `_`; a registry
/// entry may name another key variable, as alibaba-cloud's
/// `ALIBABA_API_KEY`).
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    /// The API's base URL.
    pub base_url: String,
    /// The API key, when configured.
    pub api_key: Option<String>,
    /// The variable that holds the key (for "set X" messages).
    pub api_key_variable: String,
}

impl std::fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret: never printed.
        f.debug_struct("ProviderSettings")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("api_key_variable", &self.api_key_variable)
            .finish()
    }
}

impl ProviderSettings {
    /// Reads a provider's settings through `lookup`: the base URL from
    /// `base_url_variable` (`default_base_url` when unset or empty) and the
    /// key from `api_key_variable`. The registry names the variables
    /// ([`crate::KnownProvider::settings`]).
    pub fn read(
        base_url_variable: &str,
        default_base_url: &str,
        api_key_variable: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Self {
        let present = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Self {
            base_url: present(base_url_variable).unwrap_or_else(|| default_base_url.to_owned()),
            api_key: present(api_key_variable),
            api_key_variable: api_key_variable.to_owned(),
        }
    }

    /// Reads the settings of `provider` with the variable names the
    /// registry gives it (`<PROVIDER>_BASE_URL`, `<PROVIDER>_API_KEY` or the
    /// provider's own key variable), with `default_base_url` in place of the
    /// registry's default — for a test or an embedder pointing a known
    /// provider at another server.
    pub fn from_lookup(
        provider: &str,
        default_base_url: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Self {
        let stem = crate::registry::env_name(provider);
        let key_variable = crate::KnownProvider::find(provider)
            .map(crate::KnownProvider::key_variable)
            .unwrap_or_else(|| format!("{stem}_API_KEY"));
        Self::read(
            &format!("{stem}_BASE_URL"),
            default_base_url,
            &key_variable,
            lookup,
        )
    }

    /// The key, or the missing-credentials error naming the variable.
    pub fn require_key(&self, provider: &str) -> Result<&str, crate::FetchError> {
        self.api_key
            .as_deref()
            .ok_or_else(|| crate::FetchError::MissingCredentials {
                provider: provider.to_owned(),
                variable: self.api_key_variable.clone(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_follow_the_provider_name() {
        let env = |name: &str| match name {
            "ALIBABA_CLOUD_BASE_URL" => Some("http://127.0.0.1:1".to_owned()),
            "ALIBABA_API_KEY" => Some("sk-secret".to_owned()),
            _ => None,
        };
        let s = ProviderSettings::from_lookup("alibaba-cloud", "https://default", &env);
        assert_eq!(s.base_url, "http://127.0.0.1:1");
        assert_eq!(s.api_key.as_deref(), Some("sk-secret"));
        assert!(!format!("{s:?}").contains("sk-secret"));
        let s = ProviderSettings::from_lookup("nearai", "https://cloud-api.near.ai", &env);
        assert_eq!(s.base_url, "https://cloud-api.near.ai");
        let err = s.require_key("nearai").expect_err("no key");
        assert!(err.to_string().contains("NEARAI_API_KEY"));
    }
}
