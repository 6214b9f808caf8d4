//! Featherless against its recorded catalog (60 entries: subscription
//! models, undocumented per-token prices, a free one, wrong types,
//! duplicates), whole and paged.

mod common;

use common::{
    assert_skipped, counts, entries, fetch_fixture, kind, offering, ok, policy, price, validated,
    PagedList, Provider,
};
use pricesync_domain::{Meter, PricingKind};
use pricesync_providers::featherless::FeatherlessFetcher;
use pricesync_providers::{HttpClient, HttpPolicy, PriceFetcher, ProviderSettings};
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const FEATHERLESS: Provider = Provider {
    name: "featherless",
    path: "/models",
    key: None,
};

http_policy_cases!(FEATHERLESS);

fn paged_fetcher(server: &MockServer, page_size: u32, policy: HttpPolicy) -> FeatherlessFetcher {
    let settings = ProviderSettings::from_lookup("featherless", &server.uri(), &|_| None);
    FeatherlessFetcher::new(settings, HttpClient::new(policy).expect("client"))
        .expect("fetcher")
        .with_page_size(page_size)
}

async fn serve_pages(server: &MockServer, list: PagedList, requests: u64) {
    Mock::given(method("GET"))
        .and(path("/models"))
        .respond_with(list)
        .expect(requests)
        .mount(server)
        .await;
}

#[tokio::test]
async fn undocumented_per_token_prices_are_exact() {
    let list = validated(fetch_fixture(&FEATHERLESS).await);
    let qwerky = "featherless-ai/Qwerky-QwQ-32B";
    assert_eq!(price(&list, qwerky, Meter::InputTokens, 0), "0.0000001");
    assert_eq!(price(&list, qwerky, Meter::OutputTokens, 0), "0.0000004");
    let v3 = "deepseek-ai/DeepSeek-V3-0324";
    assert_eq!(price(&list, v3, Meter::InputTokens, 0), "0.00000025");
    assert_eq!(price(&list, v3, Meter::OutputTokens, 0), "0.0000009");
}

#[tokio::test]
async fn models_without_prices_are_subscription_and_zero_prices_free() {
    let list = validated(fetch_fixture(&FEATHERLESS).await);
    let llama = "meta-llama/Meta-Llama-3.1-8B-Instruct";
    assert_eq!(kind(&list, llama), PricingKind::Subscription);
    assert_eq!(offering(&list, llama).context_length, Some(16384));
    let nemo = "mistralai/Mistral-Nemo-Instruct-2407";
    assert_eq!(
        kind(&list, nemo),
        PricingKind::Subscription,
        "pricing: null"
    );
    assert_eq!(
        kind(&list, "featherless-ai/free-trial-8b"),
        PricingKind::Free
    );
    // Wrong-typed descriptive fields lose the field, not the model.
    let odd = offering(&list, "odd/context-as-text");
    assert_eq!(
        (odd.context_length, odd.display_name.as_deref()),
        (None, None)
    );
}

#[tokio::test]
async fn wrong_types_are_skipped_and_the_rest_kept() {
    let list = validated(fetch_fixture(&FEATHERLESS).await);
    assert_skipped(
        &list,
        &[
            ("broken/pricing-string", "unparseable"),
            ("broken/pricing-bool", "unparseable"),
            ("broken/half-priced", "unparseable"),
            ("<unknown>", "unparseable"),
        ],
    );
    // 60 entries: 4 unreadable, 1 identical duplicate merged.
    assert_eq!(counts(&list), (55, 4));
}

#[tokio::test]
async fn pages_are_followed_until_a_short_page() {
    let whole = fetch_fixture(&FEATHERLESS).await;
    let server = MockServer::start().await;
    let list = PagedList {
        entries: entries("featherless", "data"),
        key: "data",
        total: false,
        cap: usize::MAX,
    };
    // 60 entries by 25: two full pages and a short one.
    serve_pages(&server, list, 3).await;
    let paged = paged_fetcher(&server, 25, policy())
        .fetch()
        .await
        .expect("paged");
    common::assert_same_list(&paged, &whole);
}

#[tokio::test]
async fn a_listing_that_is_an_exact_number_of_pages_ends_at_the_empty_page() {
    let server = MockServer::start().await;
    let list = PagedList {
        entries: entries("featherless", "data"),
        key: "data",
        total: false,
        cap: usize::MAX,
    };
    serve_pages(&server, list, 4).await;
    let paged = paged_fetcher(&server, 20, policy())
        .fetch()
        .await
        .expect("paged");
    assert_eq!(paged.models.len() + paged.skipped.len(), 60);
}

#[tokio::test]
async fn a_provider_that_ignores_the_limit_is_read_in_one_page() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ok(common::fixture("featherless")))
        .expect(1)
        .mount(&server)
        .await;
    let list = paged_fetcher(&server, 25, policy())
        .fetch()
        .await
        .expect("one page");
    assert_eq!(list.models.len() + list.skipped.len(), 60);
}

#[tokio::test]
async fn a_provider_that_ignores_the_page_number_fails_the_fetch() {
    let server = MockServer::start().await;
    let first_page: Vec<_> = entries("featherless", "data")
        .into_iter()
        .take(25)
        .collect();
    Mock::given(method("GET"))
        .respond_with(ok(json!({ "data": first_page }).to_string()))
        .expect(2)
        .mount(&server)
        .await;
    let error = paged_fetcher(&server, 25, policy())
        .fetch()
        .await
        .expect_err("endless");
    assert_eq!(error.kind(), "malformed");
    assert!(error.to_string().contains("ignores the paging"), "{error}");
}

#[tokio::test]
async fn paging_stops_at_the_page_limit() {
    let server = MockServer::start().await;
    let endless: Vec<_> = (0..1000)
        .map(|i| json!({ "id": format!("org/model-{i}") }))
        .collect();
    let list = PagedList {
        entries: endless,
        key: "data",
        total: false,
        cap: usize::MAX,
    };
    serve_pages(&server, list, 10).await;
    let error = paged_fetcher(&server, 25, policy())
        .fetch()
        .await
        .expect_err("more than max_pages");
    assert!(error.to_string().contains("within 10 pages"), "{error}");
}

/// Featherless as public client code describes it: pages of at least 100
/// whatever `per_page` asks, with `pagination` and `total`.
struct FlooredPages {
    entries: Vec<serde_json::Value>,
}

impl Respond for FlooredPages {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let param = |name: &str| -> Option<usize> {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse().ok())
        };
        let size = param("per_page").unwrap_or(usize::MAX).max(100);
        let page = param("page").unwrap_or(1).max(1);
        let data: Vec<_> = self
            .entries
            .iter()
            .skip((page - 1).saturating_mul(size))
            .take(size)
            .collect();
        let total = self.entries.len();
        ok(json!({
            "data": data,
            "pagination": {
                "current_page": page,
                "total_pages": total.div_ceil(size),
                "total_items": total
            },
            "total": total
        })
        .to_string())
    }
}

#[tokio::test]
async fn pages_are_asked_with_per_page_and_read_to_the_stated_total() {
    let server = MockServer::start().await;
    let entries: Vec<_> = (0..250)
        .map(|i| json!({ "id": format!("org/model-{i}") }))
        .collect();
    // Asked for 25, served 100 a page: longer than asked, yet the stated
    // total (250) says there is more.
    Mock::given(method("GET"))
        .and(path("/models"))
        .and(query_param("per_page", "25"))
        .respond_with(FlooredPages { entries })
        .expect(3)
        .mount(&server)
        .await;
    let list = paged_fetcher(&server, 25, policy())
        .fetch()
        .await
        .expect("paged");
    assert_eq!(list.models.len(), 250);
    assert_eq!(list.models[249].provider_model_id, "org/model-249");
}

#[tokio::test]
async fn a_documented_page_with_pagination_is_read() {
    let page = pricesync_providers::featherless::parse(
        common::named_fixture("featherless", "per_page_guessed.json").as_bytes(),
    )
    .expect("payload");
    assert_eq!(page.total, Some(22060));
    assert_eq!(page.entries, 2);
    assert_eq!(
        page.list.models[1].pricing,
        pricesync_domain::RawPricing::Subscription
    );
}
