//! The one HTTP policy every provider uses: timeouts, retries with
//! exponential backoff and jitter, `Retry-After`, a cap on the response size,
//! gzip, a user agent naming pricesync, and pagination.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::StatusCode;
use url::Url;

use crate::FetchError;

/// Limits and retry rules for provider requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPolicy {
    /// Time to open a connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Time for one whole request, body included. Default 60 s.
    pub request_timeout: Duration,
    /// Attempts per request, the first included. Default 4.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time. Default 500 ms.
    pub backoff_base: Duration,
    /// Longest backoff. Default 10 s.
    pub backoff_max: Duration,
    /// Longest `Retry-After` honoured; a provider asking for more fails the
    /// request as rate limited rather than stall the sync. Default 60 s.
    pub retry_after_max: Duration,
    /// Largest response body accepted. Default 64 MiB.
    pub max_body_bytes: u64,
    /// Most pages one listing may have (a guard against endless paging).
    /// Default 1000.
    pub max_pages: u32,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_attempts: 4,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(10),
            retry_after_max: Duration::from_secs(60),
            max_body_bytes: 64 * 1024 * 1024,
            max_pages: 1000,
        }
    }
}

/// The user agent of every provider request.
pub const USER_AGENT: &str = concat!(
    "pricesync/",
    env!("CARGO_PKG_VERSION"),
    " (LLM price sync; +https://github.com/pricesync)"
);

/// An HTTP client with the policy applied. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    policy: HttpPolicy,
}

/// One failed attempt: whether to retry and after how long.
enum Attempt {
    Retry {
        error: FetchError,
        wait: Option<Duration>,
    },
    Fail(FetchError),
}

impl HttpClient {
    /// Builds a client with `policy`.
    pub fn new(policy: HttpPolicy) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.request_timeout)
            .user_agent(USER_AGENT)
            .gzip(true)
            .build()
            .map_err(|e| FetchError::Connect(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { client, policy })
    }

    /// The policy in force.
    pub fn policy(&self) -> &HttpPolicy {
        &self.policy
    }

    /// GETs `url` and returns the body, retrying transient failures. A bearer
    /// token, when given, is sent in the `Authorization` header (never in the
    /// URL, so it cannot appear in errors or logs).
    pub async fn get_bytes(&self, url: &Url, bearer: Option<&str>) -> Result<Vec<u8>, FetchError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        if let Some(token) = bearer {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                FetchError::Malformed("the API key holds characters not allowed in a header".into())
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let mut attempt = 1;
        loop {
            let error = match self.try_once(url, headers.clone()).await {
                Ok(body) => return Ok(body),
                Err(Attempt::Fail(error)) => return Err(error),
                Err(Attempt::Retry { error, wait }) => (error, wait),
            };
            if attempt >= self.policy.max_attempts {
                return Err(error.0);
            }
            let wait = error.1.unwrap_or_else(|| self.backoff(attempt));
            tracing::debug!(url = %url, attempt, error = %error.0, wait_ms = wait.as_millis() as u64, "retrying provider request");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Full-jitter exponential backoff: a random wait up to
    /// `base * 2^(attempt-1)`, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .policy
            .backoff_base
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let ceiling = exp.min(self.policy.backoff_max);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(fastrand::u64(millis / 2..=millis.max(1)))
    }

    async fn try_once(&self, url: &Url, headers: HeaderMap) -> Result<Vec<u8>, Attempt> {
        let response = self
            .client
            .get(url.clone())
            .headers(headers)
            .send()
            .await
            .map_err(|e| self.classify(e))?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = retry_after(response.headers());
            let error = FetchError::RateLimited {
                retry_after_seconds: retry_after.map(|d| d.as_secs()),
            };
            return match retry_after {
                Some(wait) if wait > self.policy.retry_after_max => Err(Attempt::Fail(error)),
                wait => Err(Attempt::Retry { error, wait }),
            };
        }
        if !status.is_success() {
            let retry_after = retry_after(response.headers());
            let detail = excerpt(&response.bytes().await.unwrap_or_default());
            let error = FetchError::HttpStatus {
                status: status.as_u16(),
                detail,
            };
            return if status.is_server_error() {
                Err(Attempt::Retry {
                    error,
                    wait: retry_after.filter(|w| *w <= self.policy.retry_after_max),
                })
            } else {
                Err(Attempt::Fail(error))
            };
        }
        self.read_body(response).await
    }

    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, Attempt> {
        let limit = self.policy.max_body_bytes;
        let too_large = || Attempt::Fail(FetchError::TooLarge { limit_bytes: limit });
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(e))? {
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn classify(&self, error: reqwest::Error) -> Attempt {
        if error.is_timeout() {
            Attempt::Retry {
                error: FetchError::Timeout {
                    seconds: self.policy.request_timeout.as_secs().max(1),
                },
                wait: None,
            }
        } else if error.is_decode() {
            Attempt::Fail(FetchError::Malformed(format!(
                "the response body could not be decoded: {error}"
            )))
        } else {
            // Connection refused, reset, or the body broke off: transient.
            Attempt::Retry {
                error: FetchError::Connect(error_text(&error)),
                wait: None,
            }
        }
    }
}

/// The error's message and its causes, on one line, with its URL (which
/// may carry query parameters or credentials) written `<url>`.
pub fn error_text(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The first 200 characters of a body, for error messages.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut out: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        out.push('…');
    }
    out
}

/// Joins a base URL and a path, keeping the base's own path
/// (`https://host/api/v1` + `models` → `https://host/api/v1/models`).
pub fn endpoint(base: &str, path: &str) -> Result<Url, FetchError> {
    let base = if base.ends_with('/') {
        base.to_owned()
    } else {
        format!("{base}/")
    };
    Url::parse(&base)
        .and_then(|b| b.join(path.trim_start_matches('/')))
        .map_err(|e| FetchError::Malformed(format!("invalid base URL {base:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(
            retry_after(&headers),
            Some(Duration::ZERO),
            "a past date means now"
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn endpoints_keep_the_base_path() {
        let url = endpoint("https://openrouter.ai/api/v1", "models").expect("valid");
        assert_eq!(url.as_str(), "https://openrouter.ai/api/v1/models");
        let url = endpoint("http://127.0.0.1:9/", "/v1/models").expect("valid");
        assert_eq!(url.as_str(), "http://127.0.0.1:9/v1/models");
        assert!(endpoint("not a url", "x").is_err());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let client = HttpClient::new(HttpPolicy::default()).expect("client");
        for attempt in 1..10 {
            let wait = client.backoff(attempt);
            assert!(wait <= Duration::from_secs(10), "{attempt}: {wait:?}");
        }
        assert!(client.backoff(1) <= Duration::from_millis(500));
    }

    #[test]
    fn excerpts_are_short() {
        let long = "x".repeat(1000);
        assert_eq!(excerpt(long.as_bytes()).chars().count(), 201);
    }
}
