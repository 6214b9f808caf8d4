//! The shared HTTP policy against a local mock server (wiremock): retries,
//! `Retry-After`, timeouts, the body cap, malformed and truncated payloads.
//! OpenRouter's fetcher is the vehicle; every provider uses the same client.

use std::time::Duration;

use pricesync_providers::openrouter::OpenRouterFetcher;
use pricesync_providers::{FetchError, HttpClient, HttpPolicy, PriceFetcher, ProviderSettings};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ONE_MODEL: &str =
    r#"{"data":[{"id":"a/b","pricing":{"prompt":"0.000001","completion":"0.000002"}}]}"#;

fn policy() -> HttpPolicy {
    HttpPolicy {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        max_attempts: 3,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        retry_after_max: Duration::from_secs(5),
        max_body_bytes: 64 * 1024,
        max_pages: 10,
    }
}

fn fetcher(server: &MockServer, policy: HttpPolicy) -> OpenRouterFetcher {
    let settings = ProviderSettings::from_lookup("openrouter", &server.uri(), &|_| None);
    OpenRouterFetcher::new(settings, HttpClient::new(policy).expect("client")).expect("fetcher")
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/models"))
        .respond_with(ResponseTemplate::new(503).set_body_string("overloaded"))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/models"))
        .respond_with(ResponseTemplate::new(200).set_body_string(ONE_MODEL))
        .expect(1)
        .mount(&server)
        .await;
    let list = fetcher(&server, policy())
        .fetch()
        .await
        .expect("third attempt succeeds");
    assert_eq!(list.models.len(), 1);
}

#[tokio::test]
async fn persistent_server_errors_fail_classified_after_the_last_attempt() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(502).set_body_string("bad gateway"))
        .expect(3)
        .mount(&server)
        .await;
    let error = fetcher(&server, policy()).fetch().await.expect_err("fails");
    assert_eq!(
        error,
        FetchError::HttpStatus {
            status: 502,
            detail: "bad gateway".into()
        }
    );
    assert!(error.is_transient());
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_string("{\"error\":\"no key\"}"))
        .expect(1)
        .mount(&server)
        .await;
    let error = fetcher(&server, policy()).fetch().await.expect_err("fails");
    assert_eq!(error.kind(), "http_status");
}

#[tokio::test]
async fn rate_limits_honour_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(ONE_MODEL))
        .expect(1)
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    let list = fetcher(&server, policy())
        .fetch()
        .await
        .expect("succeeds after waiting");
    assert_eq!(list.models.len(), 1);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited as Retry-After asked"
    );
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_fails_at_once_as_rate_limited() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .expect(1)
        .mount(&server)
        .await;
    let error = fetcher(&server, policy()).fetch().await.expect_err("fails");
    assert_eq!(
        error,
        FetchError::RateLimited {
            retry_after_seconds: Some(3600)
        }
    );
}

#[tokio::test]
async fn a_slow_provider_times_out() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(ONE_MODEL)
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&server)
        .await;
    let policy = HttpPolicy {
        request_timeout: Duration::from_millis(200),
        max_attempts: 2,
        ..policy()
    };
    let error = fetcher(&server, policy)
        .fetch()
        .await
        .expect_err("times out");
    assert_eq!(error.kind(), "timeout");
}

#[tokio::test]
async fn an_oversized_body_is_cut_off() {
    let server = MockServer::start().await;
    let huge = format!("{{\"data\":[{}]}}", vec![ONE_MODEL; 2000].join(","));
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(huge))
        .mount(&server)
        .await;
    let error = fetcher(&server, policy())
        .fetch()
        .await
        .expect_err("too large");
    assert_eq!(
        error,
        FetchError::TooLarge {
            limit_bytes: 64 * 1024
        }
    );
}

#[tokio::test]
async fn malformed_and_truncated_payloads_are_classified() {
    for (body, says) in [
        ("<html>maintenance</html>", "not the expected JSON"),
        (&ONE_MODEL[..40], "truncated"),
        ("{\"data\": 42}", "not the expected JSON"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_string(body.to_owned()))
            .mount(&server)
            .await;
        let error = fetcher(&server, policy())
            .fetch()
            .await
            .expect_err("malformed");
        assert_eq!(error.kind(), "malformed", "{body}");
        assert!(error.to_string().contains(says), "{body}: {error}");
    }
}

#[tokio::test]
async fn requests_name_pricesync_and_send_keys_as_bearer_tokens() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer sk-test"))
        .and(wiremock::matchers::header_regex(
            "user-agent",
            "^pricesync/",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_string(ONE_MODEL))
        .expect(1)
        .mount(&server)
        .await;
    let lookup = |name: &str| (name == "OPENROUTER_API_KEY").then(|| "sk-test".to_owned());
    let settings = ProviderSettings::from_lookup("openrouter", &server.uri(), &lookup);
    let fetcher = OpenRouterFetcher::new(settings, HttpClient::new(policy()).expect("client"))
        .expect("fetcher");
    fetcher.fetch().await.expect("authorised");
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let settings = ProviderSettings::from_lookup("openrouter", "http://127.0.0.1:1", &|_| None);
    let fetcher = OpenRouterFetcher::new(settings, HttpClient::new(policy()).expect("client"))
        .expect("fetcher");
    let error = fetcher.fetch().await.expect_err("refused");
    assert_eq!(error.kind(), "connect");
}
