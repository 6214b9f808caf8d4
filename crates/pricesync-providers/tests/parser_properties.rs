//! Properties of every provider's `parse`, over arbitrary bytes and over
//! arbitrary JSON shaped like provider payloads (keys drawn from the
//! providers' vocabularies, numbers of every size and sign, `"-1"`, wrong
//! types at every level):
//! - parsing never panics;
//! - a parser never reports a metered model with no price component;
//! - after `validate_price_list`, no price is negative and no metered
//!   model lacks components;
//! - a page accounts for each of its entries, read or skipped.
//!
//! Random objects seldom reach a parser's deep paths (NEAR needs a
//! `modelId` and two well-formed `{amount, scale}` objects), so the third
//! property starts from the recorded fixtures and replaces a few nodes at
//! any depth with arbitrary values.

use std::sync::LazyLock;

use pricesync_domain::{
    validate_price_list, PricingKind, RawOffering, RawPricing, ValidationPolicy,
};
use pricesync_providers::manual::ManualTable;
use pricesync_providers::{
    alibaba_cloud, cerebras, deepinfra, featherless, nearai, novita, openrouter, together, xai,
    FetchError, FetchedList,
};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{json, Value};

static TABLE: LazyLock<Vec<RawOffering>> = LazyLock::new(|| {
    ManualTable::defaults()
        .expect("the shipped table parses")
        .models("alibaba-cloud")
        .to_vec()
});

type Parse = fn(&[u8]) -> Result<FetchedList, FetchError>;

/// Every provider's parser, paged ones checked for their page accounting.
const PARSERS: [(&str, Parse); 9] = [
    ("openrouter", openrouter::parse),
    ("featherless", |body| {
        featherless::parse(body).map(|page| {
            let read = page.list.models.len() + page.list.skipped.len();
            assert_eq!(page.entries, read, "featherless page accounting");
            page.list
        })
    }),
    ("nearai", |body| {
        nearai::parse(body).map(|page| {
            let read = page.list.models.len() + page.list.skipped.len();
            assert_eq!(page.entries, read, "nearai page accounting");
            page.list
        })
    }),
    ("alibaba-cloud", |body| alibaba_cloud::parse(body, &TABLE)),
    ("together", together::parse),
    ("deepinfra", deepinfra::parse),
    ("cerebras", cerebras::parse),
    ("novita", novita::parse),
    ("xai", xai::parse),
];

const KEYS: &[&str] = &[
    "id",
    "modelId",
    "model_name",
    "name",
    "display_name",
    "title",
    "context_length",
    "context_size",
    "max_tokens",
    "metadata",
    "contextLength",
    "displayName",
    "pricing",
    "prompt",
    "completion",
    "input",
    "output",
    "hourly",
    "base",
    "type",
    "request",
    "image",
    "web_search",
    "internal_reasoning",
    "input_cache_read",
    "input_cache_write",
    "input_cache_write_1h",
    "audio",
    "discount",
    "overrides",
    "min_prompt_tokens",
    "cents_per_input_token",
    "cents_per_output_token",
    "input_token_price_per_m",
    "output_token_price_per_m",
    "inputCostPerToken",
    "outputCostPerToken",
    "cacheReadCostPerToken",
    "costPerImage",
    "amount",
    "scale",
    "currency",
    "prompt_text_token_price",
    "completion_text_token_price",
    "cached_prompt_text_token_price",
    "prompt_image_token_price",
    "prompt_text_token_price_long_context",
    "completion_text_token_price_long_context",
    "cached_prompt_text_token_price_long_context",
    "long_context_threshold",
    "aliases",
    "deprecated",
    "data",
    "models",
    "total",
];

const WORDS: &[&str] = &[
    "a/b",
    "m",
    "~latest",
    "",
    " ",
    "USD",
    "usd",
    "EUR",
    "tokens",
    "input_tokens",
    "time",
    "chat",
    "image",
    "embedding",
    "-1",
    "0",
    "0.000003",
    "1e-7",
    "abc",
    "NaN",
    "-0.000001",
];

/// JSON numbers written as text, kept exactly (`arbitrary_precision`).
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (any::<i64>(), 0u32..60).prop_map(|(m, e)| format!("{m}e-{e}")),
        (any::<i32>(), any::<u64>()).prop_map(|(i, f)| format!("{i}.{f}")),
        prop::sample::select(vec![
            "-1",
            "0",
            "-0.0",
            "1e400",
            "1E+30",
            "0.30000000000000004",
            "123456789012345678901234567890.123",
        ])
        .prop_map(str::to_owned),
    ]
    .prop_filter_map("a JSON number", |text| serde_json::from_str(&text).ok())
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        prop::sample::select(WORDS).prop_map(|w| json!(w)),
        "[-0-9.e]{0,12}".prop_map(Value::String),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        9 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => "[a-z_]{1,8}",
    ]
}

/// Any JSON value, objects keyed mostly by the providers' field names.
fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 96, 8, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(key(), inner, 0..10).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A list entry: an object with provider keys (or, rarely, anything).
fn entry() -> impl Strategy<Value = Value> {
    prop_oneof![
        9 => btree_map(key(), value(), 0..14).prop_map(|m| Value::Object(m.into_iter().collect())),
        1 => value(),
    ]
}

/// Payloads in each provider's envelope, and free-form ones.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    let entries = || vec(entry(), 0..8);
    prop_oneof![
        value(),
        entries().prop_map(Value::Array),
        (entries(), value())
            .prop_map(|(e, total)| json!({ "data": e, "models": e, "total": total })),
    ]
    .prop_map(|v| v.to_string().into_bytes())
}

const FIXTURES: [&str; 9] = [
    "openrouter",
    "featherless",
    "nearai",
    "alibaba-cloud",
    "together",
    "deepinfra",
    "cerebras",
    "novita",
    "xai",
];

static RECORDED: LazyLock<Vec<Value>> = LazyLock::new(|| {
    FIXTURES
        .iter()
        .map(|provider| {
            let file = format!(
                "{}/fixtures/{provider}/models.json",
                env!("CARGO_MANIFEST_DIR")
            );
            let text = std::fs::read_to_string(&file).expect("fixture");
            serde_json::from_str(&text).expect("fixture is JSON")
        })
        .collect()
});

fn nodes(value: &Value) -> u64 {
    1 + match value {
        Value::Array(items) => items.iter().map(nodes).sum(),
        Value::Object(fields) => fields.values().map(nodes).sum(),
        _ => 0,
    }
}

/// Replaces the `n`th node (depth first) with `with`; false when `value`
/// has fewer nodes.
fn replace_nth(value: &mut Value, n: &mut u64, with: &Value) -> bool {
    if *n == 0 {
        *value = with.clone();
        return true;
    }
    *n -= 1;
    match value {
        Value::Array(items) => items.iter_mut().any(|item| replace_nth(item, n, with)),
        Value::Object(fields) => fields.values_mut().any(|field| replace_nth(field, n, with)),
        _ => false,
    }
}

/// A recorded fixture with a few nodes replaced by arbitrary values.
fn mutated_fixture() -> impl Strategy<Value = Vec<u8>> {
    (0..FIXTURES.len(), vec((any::<u64>(), value()), 1..6)).prop_map(|(which, edits)| {
        let mut payload = RECORDED[which].clone();
        for (selector, with) in edits {
            let mut n = selector % nodes(&payload);
            replace_nth(&mut payload, &mut n, &with);
        }
        payload.to_string().into_bytes()
    })
}

fn check(provider: &str, body: &[u8]) {
    let Ok(list) = PARSERS
        .iter()
        .find(|(name, _)| *name == provider)
        .map(|(_, parse)| parse(body))
        .expect("a parser")
    else {
        return;
    };
    for model in &list.models {
        if let RawPricing::Metered(parts) = &model.pricing {
            assert!(
                !parts.is_empty(),
                "{provider}: {model:?} is metered without prices"
            );
        }
    }
    let validated = validate_price_list(list.models, &ValidationPolicy::default());
    for offering in validated.offerings() {
        for component in offering.components() {
            assert!(
                !component.usd_per_unit.value().is_sign_negative()
                    || component.usd_per_unit.is_zero(),
                "{provider}: negative price in {offering:?}"
            );
        }
        if offering.pricing_kind() == PricingKind::Metered {
            assert!(
                !offering.components().is_empty(),
                "{provider}: {offering:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn arbitrary_bytes_never_panic(body in vec(any::<u8>(), 0..400)) {
        for (provider, _) in PARSERS {
            check(provider, &body);
        }
    }

    #[test]
    fn arbitrary_provider_shaped_json_never_panics_nor_yields_bad_prices(body in payload()) {
        for (provider, _) in PARSERS {
            check(provider, &body);
        }
    }

    #[test]
    fn mutated_recorded_payloads_never_panic_nor_yield_bad_prices(body in mutated_fixture()) {
        for (provider, _) in PARSERS {
            check(provider, &body);
        }
    }
}

/// The recorded payloads pass the same checks, and each of them yields
/// metered models, so the mutated ones start from deep paths.
#[test]
fn the_recorded_fixtures_pass_the_same_checks() {
    for (provider, payload) in FIXTURES.iter().zip(RECORDED.iter()) {
        let body = payload.to_string().into_bytes();
        check(provider, &body);
        let (_, parse) = PARSERS
            .iter()
            .find(|(name, _)| name == provider)
            .expect("a parser");
        let list = parse(&body).expect("the fixture parses");
        assert!(
            list.models
                .iter()
                .any(|m| matches!(m.pricing, RawPricing::Metered(_))),
            "{provider}"
        );
    }
}
