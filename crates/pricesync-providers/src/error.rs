//! Fetch errors, classified so that the engine can report, count and retry
//! them.

/// Why a fetch failed, classified so that the engine can report, count and
/// retry it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The provider needs an API key and none is configured.
    #[error("{provider} needs an API key: set {variable}")]
    MissingCredentials {
        /// The provider.
        provider: String,
        /// The environment variable to set.
        variable: String,
    },
    /// The request took longer than allowed.
    #[error("timed out after {seconds} s")]
    Timeout {
        /// The limit that was hit.
        seconds: u64,
    },
    /// The connection could not be made or broke.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The provider answered 429 and kept doing so.
    #[error("rate limited by the provider{}", retry_after_text(*.retry_after_seconds))]
    RateLimited {
        /// What `Retry-After` asked for, when given.
        retry_after_seconds: Option<u64>,
    },
    /// The provider answered with an error status.
    #[error("HTTP {status}: {detail}")]
    HttpStatus {
        /// The status code.
        status: u16,
        /// A short, secret-free excerpt of the answer.
        detail: String,
    },
    /// The answer was larger than allowed.
    #[error("response larger than {limit_bytes} bytes")]
    TooLarge {
        /// The cap.
        limit_bytes: u64,
    },
    /// The answer could not be read as the provider's format.
    #[error("malformed payload: {0}")]
    Malformed(String),
}

fn retry_after_text(seconds: Option<u64>) -> String {
    seconds
        .map(|s| format!(" (Retry-After {s} s)"))
        .unwrap_or_default()
}

impl FetchError {
    /// Every value [`FetchError::kind`] gives, for metrics registered at
    /// zero before the first error.
    pub const KINDS: [&'static str; 7] = [
        "missing_credentials",
        "timeout",
        "connect",
        "rate_limited",
        "http_status",
        "too_large",
        "malformed",
    ];

    /// A short label from a fixed set, safe as a metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::MissingCredentials { .. } => "missing_credentials",
            FetchError::Timeout { .. } => "timeout",
            FetchError::Connect(_) => "connect",
            FetchError::RateLimited { .. } => "rate_limited",
            FetchError::HttpStatus { .. } => "http_status",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Malformed(_) => "malformed",
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Timeout { .. }
            | FetchError::Connect(_)
            | FetchError::RateLimited { .. } => true,
            FetchError::HttpStatus { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_lists_every_kind() {
        let every = [
            FetchError::MissingCredentials {
                provider: String::new(),
                variable: String::new(),
            },
            FetchError::Timeout { seconds: 1 },
            FetchError::Connect(String::new()),
            FetchError::RateLimited {
                retry_after_seconds: None,
            },
            FetchError::HttpStatus {
                status: 500,
                detail: String::new(),
            },
            FetchError::TooLarge { limit_bytes: 1 },
            FetchError::Malformed(String::new()),
        ];
        let kinds: Vec<&str> = every.iter().map(FetchError::kind).collect();
        assert_eq!(kinds, FetchError::KINDS);
    }

    #[test]
    fn errors_are_classified() {
        let missing = FetchError::MissingCredentials {
            provider: "nearai".into(),
            variable: "NEARAI_API_KEY".into(),
        };
        assert_eq!(missing.kind(), "missing_credentials");
        assert!(missing.to_string().contains("NEARAI_API_KEY"));
        assert!(!missing.is_transient());
        assert!(FetchError::HttpStatus {
            status: 503,
            detail: String::new()
        }
        .is_transient());
        assert!(!FetchError::HttpStatus {
            status: 404,
            detail: String::new()
        }
        .is_transient());
        let limited = FetchError::RateLimited {
            retry_after_seconds: Some(30),
        };
        assert_eq!(
            limited.to_string(),
            "rate limited by the provider (Retry-After 30 s)"
        );
    }
}
