//! Shared by the provider tests: a mock provider (wiremock) serving the
//! recorded fixtures, a short-timeout HTTP policy, readers of the results,
//! and [`http_policy_cases!`], the HTTP failure cases every provider gets.
//!
//! Fetchers are built through `build_fetchers` with `<PROVIDER>_BASE_URL`
//! pointing at the mock server, so the registry wiring is tested too.

// Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use pricesync_domain::{
    validate_price_list, ComponentKey, Meter, ModelOffering, PricingKind, ValidatedList,
    ValidationPolicy,
};
use pricesync_providers::{build_fetchers, FetchError, FetchedList, HttpPolicy, PriceFetcher};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, Request, Respond, ResponseTemplate};

/// A provider under test.
#[derive(Clone, Copy)]
pub struct Provider {
    /// Its configuration name.
    pub name: &'static str,
    /// The path its fetcher GETs (under a base URL without a path).
    pub path: &'static str,
    /// The key it is configured with: (variable, value). Requests must
    /// carry it as a bearer token.
    pub key: Option<(&'static str, &'static str)>,
}

/// Short timeouts and backoff, so failure cases finish fast.
pub fn policy() -> HttpPolicy {
    HttpPolicy {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        max_attempts: 3,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        retry_after_max: Duration::from_secs(5),
        max_body_bytes: 256 * 1024,
        max_pages: 10,
    }
}

/// The provider's recorded `models.json`.
pub fn fixture(provider: &str) -> String {
    let file = format!(
        "{}/fixtures/{provider}/models.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The provider's fixture `name` (a payload written from the provider's
/// documented shape, beside the recorded `models.json`).
pub fn named_fixture(provider: &str, name: &str) -> String {
    let file = format!("{}/fixtures/{provider}/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Fetches the provider's fixture `name` from a mock server, with the test
/// policy.
pub async fn fetch_named_fixture(provider: &Provider, name: &str) -> FetchedList {
    let server = MockServer::start().await;
    request(provider)
        .respond_with(ok(named_fixture(provider.name, name)))
        .expect(1..)
        .mount(&server)
        .await;
    fetcher(provider, &server, policy())
        .fetch()
        .await
        .unwrap_or_else(|e| panic!("{name} is fetched: {e}"))
}

/// The exact USD-per-unit price of `id`'s `key`.
pub fn price_at(list: &ValidatedList, id: &str, key: ComponentKey) -> String {
    offering(list, id)
        .component(key)
        .unwrap_or_else(|| panic!("{id} has no {key} price"))
        .usd_per_unit
        .to_string()
}

/// The configuration lookup pointing `provider` at `base_url`, with its key
/// when it has one.
pub fn lookup(provider: &Provider, base_url: &str) -> impl Fn(&str) -> Option<String> {
    let base_variable = format!(
        "{}_BASE_URL",
        provider.name.to_ascii_uppercase().replace('-', "_")
    );
    let base_url = base_url.to_owned();
    let key = provider.key;
    move |name: &str| {
        if name == base_variable {
            return Some(base_url.clone());
        }
        key.filter(|(variable, _)| *variable == name)
            .map(|(_, value)| value.to_owned())
    }
}

/// The provider's fetcher, built by the registry, against `server`.
pub fn fetcher(
    provider: &Provider,
    server: &MockServer,
    policy: HttpPolicy,
) -> Arc<dyn PriceFetcher> {
    let lookup = lookup(provider, &server.uri());
    let mut fetchers =
        build_fetchers(&[provider.name.to_owned()], &lookup, policy).expect("builds");
    fetchers.pop().expect("one fetcher")
}

/// A GET of the provider's path, carrying its key when it has one.
pub fn request(provider: &Provider) -> MockBuilder {
    let builder = Mock::given(method("GET")).and(path(provider.path));
    match provider.key {
        Some((_, key)) => builder.and(header("authorization", format!("Bearer {key}"))),
        None => builder,
    }
}

/// A 200 answer with `body`.
pub fn ok(body: impl Into<Vec<u8>>) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "application/json")
        .set_body_bytes(body)
}

/// Fetches the provider's fixture from a mock server, with the test policy.
pub async fn fetch_fixture(provider: &Provider) -> FetchedList {
    let server = MockServer::start().await;
    request(provider)
        .respond_with(ok(fixture(provider.name)))
        .expect(1..)
        .mount(&server)
        .await;
    fetcher(provider, &server, policy())
        .fetch()
        .await
        .expect("the fixture is fetched")
}

/// Asserts that without its key the provider fails with
/// `MissingCredentials` naming the variable, and sends no request.
pub async fn assert_needs_key(provider: &Provider) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ok("[]"))
        .expect(0)
        .mount(&server)
        .await;
    let (variable, _) = provider.key.expect("a provider with a key");
    let without_key = Provider {
        key: None,
        ..*provider
    };
    let error = fetcher(&without_key, &server, policy())
        .fetch()
        .await
        .expect_err("no key");
    assert_eq!(
        error,
        FetchError::MissingCredentials {
            provider: provider.name.to_owned(),
            variable: variable.to_owned(),
        }
    );
    assert!(error.to_string().contains(variable), "{error}");
}

/// The list as the engine would see it: validated, with the provider
/// module's skips added.
pub fn validated(list: FetchedList) -> ValidatedList {
    let mut validated = validate_price_list(list.models, &ValidationPolicy::default());
    validated.add_skipped(list.skipped);
    validated
}

/// The valid offering `id`.
pub fn offering<'a>(list: &'a ValidatedList, id: &str) -> &'a ModelOffering {
    list.offerings()
        .iter()
        .find(|o| o.model_id().as_str() == id)
        .unwrap_or_else(|| panic!("{id} is not among the valid offerings"))
}

/// The exact USD-per-unit price of `id`'s `meter` in the band starting at
/// `band` prompt tokens.
pub fn price(list: &ValidatedList, id: &str, meter: Meter, band: u64) -> String {
    let key = ComponentKey::band(meter, band);
    offering(list, id)
        .component(key)
        .unwrap_or_else(|| panic!("{id} has no {meter} price from {band} tokens"))
        .usd_per_unit
        .to_string()
}

/// The (meter, band) keys `id` is priced by.
pub fn meters(list: &ValidatedList, id: &str) -> Vec<(Meter, u64)> {
    offering(list, id)
        .components()
        .iter()
        .map(|c| (c.meter, c.min_prompt_tokens))
        .collect()
}

/// How `id` is priced.
pub fn kind(list: &ValidatedList, id: &str) -> PricingKind {
    offering(list, id).pricing_kind()
}

/// Skipped model ids and their reason codes (the last reason when one id
/// was skipped twice).
pub fn skipped(list: &ValidatedList) -> BTreeMap<String, &'static str> {
    list.skipped()
        .iter()
        .map(|s| (s.provider_model_id.clone(), s.reason.code()))
        .collect()
}

/// Asserts that each `(id, code)` was skipped with that reason.
pub fn assert_skipped(list: &ValidatedList, expected: &[(&str, &str)]) {
    let skipped = skipped(list);
    for (id, code) in expected {
        assert_eq!(
            skipped.get(*id).copied(),
            Some(*code),
            "{id}: skipped {skipped:?}"
        );
    }
}

/// Asserts that two fetches read the same list: the same models, and the
/// same entries skipped for the same kind of reason (the detail may quote
/// a position in the text, which differs between a page and the whole).
pub fn assert_same_list(got: &FetchedList, expected: &FetchedList) {
    assert!(got.models == expected.models, "the models differ");
    let reasons = |list: &FetchedList| -> Vec<(String, &'static str)> {
        list.skipped
            .iter()
            .map(|s| (s.provider_model_id.clone(), s.reason.code()))
            .collect()
    };
    assert_eq!(reasons(got), reasons(expected));
}

/// Counts of a validated list: (valid offerings, skipped).
pub fn counts(list: &ValidatedList) -> (usize, usize) {
    (list.offerings().len(), list.skipped().len())
}

/// The entries of a fixture's list under `key`.
pub fn entries(provider: &str, key: &str) -> Vec<Value> {
    let payload: Value = serde_json::from_str(&fixture(provider)).expect("fixture is JSON");
    payload[key].as_array().expect("a list").clone()
}

/// A mock provider that pages `entries` as asked by the query (`page` from
/// 1, or `offset`; and `limit` or `per_page`), serving at most `cap` entries a page and
/// stating the total when `total` is set: `{key: [...], "total": n}`.
pub struct PagedList {
    /// The whole listing.
    pub entries: Vec<Value>,
    /// The envelope's list key.
    pub key: &'static str,
    /// Whether the envelope states the total.
    pub total: bool,
    /// The most entries a page holds, whatever the limit asked.
    pub cap: usize,
}

impl Respond for PagedList {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let query: BTreeMap<String, usize> = request
            .url
            .query_pairs()
            .filter_map(|(k, v)| Some((k.into_owned(), v.parse().ok()?)))
            .collect();
        let size = query
            .get("limit")
            .or_else(|| query.get("per_page"))
            .copied()
            .unwrap_or(usize::MAX)
            .min(self.cap);
        let start = match (query.get("offset"), query.get("page")) {
            (Some(offset), _) => *offset,
            (None, Some(page)) => page.saturating_sub(1).saturating_mul(size),
            (None, None) => 0,
        };
        let page: Vec<&Value> = self.entries.iter().skip(start).take(size).collect();
        let mut body = json!({ self.key: page });
        if self.total {
            body["total"] = json!(self.entries.len());
        }
        ok(body.to_string())
    }
}

/// The HTTP failure cases, run against one provider's fetcher: malformed
/// and wrongly shaped JSON, a truncated body, an oversized body, a slow
/// provider, 429 with `Retry-After`, and 5xx then success.
#[macro_export]
macro_rules! http_policy_cases {
    ($provider:ident) => {
        mod http_policy_cases {
            use std::time::{Duration, Instant};

            use pricesync_providers::{FetchError, HttpPolicy};
            use wiremock::{MockServer, ResponseTemplate};

            use super::common::{fetcher, fixture, ok, policy, request};

            const PROVIDER: &super::common::Provider = &super::$provider;

            async fn fetch_with(
                answer: ResponseTemplate,
                policy: HttpPolicy,
            ) -> Result<pricesync_providers::FetchedList, FetchError> {
                let server = MockServer::start().await;
                request(PROVIDER).respond_with(answer).mount(&server).await;
                fetcher(PROVIDER, &server, policy).fetch().await
            }

            #[tokio::test]
            async fn malformed_and_wrongly_shaped_payloads_are_malformed() {
                for body in [
                    "<html>maintenance</html>",
                    "{\"data\": 42, \"models\": 42}",
                    "null",
                ] {
                    let error = fetch_with(ok(body), policy()).await.expect_err("malformed");
                    assert_eq!(error.kind(), "malformed", "{body}: {error}");
                    assert!(
                        error.to_string().contains("not the expected JSON"),
                        "{body}: {error}"
                    );
                }
            }

            #[tokio::test]
            async fn a_truncated_body_is_malformed_and_says_so() {
                let body = fixture(PROVIDER.name).into_bytes();
                let half = body[..body.len() / 2].to_vec();
                let error = fetch_with(ok(half), policy()).await.expect_err("truncated");
                assert_eq!(error.kind(), "malformed");
                assert!(error.to_string().contains("truncated"), "{error}");
            }

            #[tokio::test]
            async fn an_oversized_body_is_refused() {
                let small = HttpPolicy {
                    max_body_bytes: 1024,
                    ..policy()
                };
                let error = fetch_with(ok(fixture(PROVIDER.name)), small)
                    .await
                    .expect_err("too large");
                assert_eq!(error, FetchError::TooLarge { limit_bytes: 1024 });
            }

            #[tokio::test]
            async fn a_slow_provider_times_out() {
                let slow = ok(fixture(PROVIDER.name)).set_delay(Duration::from_secs(10));
                let short = HttpPolicy {
                    request_timeout: Duration::from_millis(200),
                    max_attempts: 2,
                    ..policy()
                };
                let error = fetch_with(slow, short).await.expect_err("times out");
                assert_eq!(error.kind(), "timeout", "{error}");
            }

            #[tokio::test]
            async fn a_429_is_retried_after_the_time_asked() {
                let server = MockServer::start().await;
                request(PROVIDER)
                    .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
                    .up_to_n_times(1)
                    .expect(1)
                    .mount(&server)
                    .await;
                request(PROVIDER)
                    .respond_with(ok(fixture(PROVIDER.name)))
                    .expect(1..)
                    .mount(&server)
                    .await;
                let started = Instant::now();
                let list = fetcher(PROVIDER, &server, policy())
                    .fetch()
                    .await
                    .expect("succeeds after waiting");
                assert!(!list.models.is_empty());
                assert!(
                    started.elapsed() >= Duration::from_secs(1),
                    "waited as Retry-After asked"
                );
            }

            #[tokio::test]
            async fn server_errors_are_retried_until_success() {
                let server = MockServer::start().await;
                request(PROVIDER)
                    .respond_with(ResponseTemplate::new(503).set_body_string("overloaded"))
                    .up_to_n_times(2)
                    .expect(2)
                    .mount(&server)
                    .await;
                request(PROVIDER)
                    .respond_with(ok(fixture(PROVIDER.name)))
                    .expect(1..)
                    .mount(&server)
                    .await;
                let list = fetcher(PROVIDER, &server, policy())
                    .fetch()
                    .await
                    .expect("the third attempt succeeds");
                assert!(!list.models.is_empty());
            }

            #[tokio::test]
            async fn persistent_server_errors_fail_classified() {
                let error = fetch_with(ResponseTemplate::new(502), policy())
                    .await
                    .expect_err("fails");
                assert_eq!(error.kind(), "http_status");
                assert!(error.is_transient());
            }
        }
    };
}
