//! OpenRouter: `GET {base}/models?output_modalities=all` →
//! `{"data": [Model, …], "total_count": n, "links": {"next": url|null}}`,
//! no key needed.
//!
//! Every price is a decimal string in USD per unit (OpenRouter's SDK,
//! `PublicPricing`). Mapping:
//!
//! | pricing key | meter | unit |
//! |---|---|---|
//! | `prompt` | input_tokens | token |
//! | `completion` | output_tokens | token |
//! | `input_cache_read` | cache_read_tokens | token |
//! | `input_cache_write` | cache_write_5m_tokens | token (the default, 5-minute TTL) |
//! | `input_cache_write_1h` | cache_write_1h_tokens | token |
//! | `internal_reasoning` | reasoning_tokens | token |
//! | `audio` | input_audio_tokens | token |
//! | `input_audio_cache` | cache_read_audio_tokens | token |
//! | `audio_output` | output_audio_tokens | token |
//! | `image_token` | input_image_tokens | token |
//! | `request` | request | request |
//! | `image` | image | input image |
//! | `image_output` | output_image | generated image |
//! | `web_search` | web_search | search |
//!
//! - **Modalities.** The list is asked for with `output_modalities=all`, so
//!   image-generation and embedding models are priced too. A model whose
//!   `architecture.output_modalities` holds `speech` or `transcription`
//!   (text-to-speech is billed per character, speech-to-text per second of
//!   audio), `video` or `rerank` is skipped as unsupported pricing: the
//!   numbers in its `prompt`/`completion` are not per-token prices, and
//!   pricesync has no meter for their unit. Such a model is never stored
//!   per token.
//! - **`"-1"`** in any price marks a variable price (routers such as
//!   `openrouter/auto`): the model is [`RawPricing::Dynamic`].
//! - **`"0"`** is documented as "the feature is free". Input and output are
//!   always kept, so a model whose prompt and completion are zero is *free*
//!   (`:free` variants are listed that way); other zero prices are left out
//!   (not charged separately: a zero `internal_reasoning` means reasoning
//!   tokens are billed as completion tokens). A `pricing` without any known
//!   price is unknown.
//! - **`discount`** (a number in [0, 1]; `1` = free) is applied to every
//!   price: `price × (1 − discount)`, the price the gateway pays.
//! - **`overrides`** entries carry conditions and prices; an entry applies
//!   when all its conditions hold, later entries win per key, keys an entry
//!   leaves out keep the price they had:
//!   - `min_prompt_tokens: N` → a band for prompts of *more than* N tokens;
//!     it inherits every price it does not restate.
//!   - `utc_start`/`utc_end` (HHMM integers, wrapping past midnight; see
//!     [`TimeWindow::from_hhmm`]) and/or `utc_days` → time-of-day
//!     components. For a meter with time windows the top-level price is the
//!     price of the window that applies *now*, not a base, so it is dropped:
//!     the windows must then tile the week (validation skips the model as
//!     `uncovered_time` otherwise). Within a meter that has windows, a zero
//!     window price is kept (it is that window's price).
//!   - an entry with any other key (a condition pricesync does not know) is
//!     ignored, as OpenRouter asks of its consumers; an unreadable time is
//!     skipped as `invalid_time_window`.
//! - **Pages.** Without paging parameters OpenRouter sends the whole list
//!   with `links.next: null`; a non-null `links.next` (a URL relative to the
//!   API host) is followed, and `total_count` must equal the number of
//!   entries read, else the fetch fails (a truncated list must not look
//!   whole).
//! - The display name is `name`, else `canonical_slug`. The model id is `id`,
//!   the slug the gateway sends to the API.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use pricesync_domain::{
    ComponentKey, Decimal, Meter, PriceSource, PriceUnit, ProviderId, RawOffering, RawPricing,
    SkipReason, SkippedModel, TimeWindow,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use url::Url;

use crate::api::{Key, ProviderApi};
use crate::json::{decimal, integer, payload, read_list, whole_number};
use crate::prices::kept;
use crate::{FetchError, FetchedList, HttpClient, PriceFetcher, ProviderSettings};

/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://openrouter.ai/api/v1";

/// Every pricing key pricesync reads, and its meter.
pub const METERS: [(&str, Meter); 14] = [
    ("prompt", Meter::InputTokens),
    ("completion", Meter::OutputTokens),
    ("input_cache_read", Meter::CacheReadTokens),
    ("input_cache_write", Meter::CacheWrite5mTokens),
    ("input_cache_write_1h", Meter::CacheWrite1hTokens),
    ("internal_reasoning", Meter::ReasoningTokens),
    ("audio", Meter::InputAudioTokens),
    ("input_audio_cache", Meter::CacheReadAudioTokens),
    ("audio_output", Meter::OutputAudioTokens),
    ("image_token", Meter::InputImageTokens),
    ("request", Meter::Request),
    ("image", Meter::Image),
    ("image_output", Meter::OutputImage),
    ("web_search", Meter::WebSearch),
];

/// Output modalities whose models are not billed per token (or per image):
/// text-to-speech per character, speech-to-text per second, video per
/// second, rerank per search.
pub const UNSUPPORTED_MODALITIES: [&str; 4] = ["speech", "transcription", "video", "rerank"];

/// The override conditions pricesync knows.
const CONDITIONS: [&str; 4] = ["min_prompt_tokens", "utc_start", "utc_end", "utc_days"];

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    data: Vec<&'a RawValue>,
    #[serde(default)]
    total_count: Option<Value>,
    #[serde(default)]
    links: Option<Links>,
}

#[derive(Deserialize)]
struct Links {
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct Model {
    id: String,
    #[serde(default)]
    canonical_slug: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    context_length: Option<Value>,
    #[serde(default)]
    architecture: Option<Value>,
    #[serde(default)]
    pricing: Option<Map<String, Value>>,
}

/// One page of the list as read.
#[derive(Debug)]
struct ListPage {
    list: FetchedList,
    entries: usize,
    total_count: Option<u64>,
    next: Option<String>,
}

/// Fetches OpenRouter's model list.
pub struct OpenRouterFetcher {
    api: ProviderApi,
}

impl OpenRouterFetcher {
    /// A fetcher for `settings.base_url`.
    pub fn new(settings: ProviderSettings, http: HttpClient) -> Result<Self, FetchError> {
        Ok(Self {
            // The key is optional: sent when configured.
            api: ProviderApi::new("openrouter", settings, http, Key::Optional)?,
        })
    }
}

#[async_trait]
impl PriceFetcher for OpenRouterFetcher {
    fn provider(&self) -> &ProviderId {
        self.api.provider()
    }

    async fn fetch(&self) -> Result<FetchedList, FetchError> {
        let mut url = self.api.url("models")?;
        with_all_modalities(&mut url);
        let mut all = FetchedList::default();
        let mut entries = 0usize;
        let mut visited = BTreeSet::new();
        for _ in 0..self.api.max_pages() {
            visited.insert(url.to_string());
            let page = {
                let body = self.api.get_url(&url).await?;
                parse_page(&body)?
            };
            entries += page.entries;
            all.models.extend(page.list.models);
            all.skipped.extend(page.list.skipped);
            let Some(next) = page.next else {
                check_total(page.total_count, entries)?;
                return Ok(all);
            };
            url = next_url(&url, &next)?;
            if visited.contains(url.as_str()) {
                return Err(FetchError::Malformed(format!(
                    "links.next {next:?} leads back to a page already read"
                )));
            }
        }
        Err(FetchError::Malformed(format!(
            "the listing did not end within {} pages (HttpPolicy::max_pages)",
            self.api.max_pages()
        )))
    }
}

/// Asks for models of every output modality (the default is text only), so
/// that image and embedding models are priced and speech models are seen
/// and skipped rather than silently absent.
fn with_all_modalities(url: &mut Url) {
    if !url.query_pairs().any(|(k, _)| k == "output_modalities") {
        url.query_pairs_mut()
            .append_pair("output_modalities", "all");
    }
}

/// The URL `links.next` names, relative to the page that named it. It must
/// stay on the API's host: the key goes with the request.
fn next_url(current: &Url, next: &str) -> Result<Url, FetchError> {
    let mut url = current
        .join(next)
        .map_err(|e| FetchError::Malformed(format!("links.next {next:?} is not a URL: {e}")))?;
    if url.origin() != current.origin() {
        return Err(FetchError::Malformed(format!(
            "links.next {next:?} leaves the API's host"
        )));
    }
    with_all_modalities(&mut url);
    Ok(url)
}

/// A stated `total_count` must match what was read.
fn check_total(total_count: Option<u64>, entries: usize) -> Result<(), FetchError> {
    match total_count {
        Some(total) if total != entries as u64 => Err(FetchError::Malformed(format!(
            "total_count is {total} but {entries} entries arrived: the list is incomplete"
        ))),
        _ => Ok(()),
    }
}

/// Parses a whole `/models` payload: one that names no next page, and holds
/// as many entries as its `total_count` says.
pub fn parse(body: &[u8]) -> Result<FetchedList, FetchError> {
    let page = parse_page(body)?;
    if let Some(next) = page.next {
        return Err(FetchError::Malformed(format!(
            "the list continues at links.next {next:?}"
        )));
    }
    check_total(page.total_count, page.entries)?;
    Ok(page.list)
}

fn parse_page(body: &[u8]) -> Result<ListPage, FetchError> {
    let envelope: Envelope<'_> = payload(body)?;
    let total_count = match &envelope.total_count {
        None | Some(Value::Null) => None,
        Some(value) => Some(whole_number(value).ok_or_else(|| {
            FetchError::Malformed(format!("total_count {value} is not a whole number"))
        })?),
    };
    Ok(ListPage {
        list: read_list(&envelope.data, "id", offering),
        entries: envelope.data.len(),
        total_count,
        next: envelope
            .links
            .and_then(|l| l.next)
            .filter(|n| !n.trim().is_empty()),
    })
}

fn offering(model: Model) -> Result<RawOffering, SkippedModel> {
    let skip = |reason: SkipReason| SkippedModel {
        provider_model_id: model.id.clone(),
        reason,
    };
    if let Some(modality) = unsupported_modality(model.architecture.as_ref()) {
        return Err(skip(SkipReason::UnsupportedPricing(format!(
            "output modality {modality:?} is not billed per token"
        ))));
    }
    let display_name = model.name.clone().or_else(|| model.canonical_slug.clone());
    let context_length = model.context_length.as_ref().and_then(whole_number);
    let pricing = match &model.pricing {
        None => RawPricing::Unknown,
        Some(prices) => pricing(prices).map_err(skip)?,
    };
    Ok(RawOffering {
        provider_model_id: model.id.clone(),
        display_name,
        context_length,
        source: PriceSource::Api,
        pricing,
    })
}

/// The first output modality pricesync cannot price, if any.
fn unsupported_modality(architecture: Option<&Value>) -> Option<String> {
    let modalities = architecture?.get("output_modalities")?.as_array()?;
    modalities
        .iter()
        .filter_map(Value::as_str)
        .find(|m| {
            UNSUPPORTED_MODALITIES
                .iter()
                .any(|u| u.eq_ignore_ascii_case(m))
        })
        .map(str::to_owned)
}

/// One `overrides` entry pricesync applies.
#[derive(Debug)]
struct Override {
    /// Applies to prompts of more than this many tokens (0: any prompt).
    min_prompt_tokens: u64,
    /// Applies in this window only.
    window: Option<TimeWindow>,
    prices: BTreeMap<Meter, Decimal>,
}

/// Reads the prices, the bands and the time windows.
fn pricing(prices: &Map<String, Value>) -> Result<RawPricing, SkipReason> {
    let unreadable = SkipReason::Unparseable;
    let discount = match prices.get("discount") {
        None | Some(Value::Null) => Decimal::ZERO,
        Some(value) => {
            let d = decimal(value).map_err(|e| unreadable(format!("pricing.discount {e}")))?;
            if d < Decimal::ZERO || d > Decimal::ONE {
                return Err(unreadable(format!(
                    "pricing.discount {d} is not a fraction in [0, 1]"
                )));
            }
            d
        }
    };
    let base = read_prices(prices, "pricing").map_err(unreadable)?;
    let overrides = read_overrides(prices)?;
    let dynamic = |p: &BTreeMap<Meter, Decimal>| p.values().any(|v| *v == Decimal::NEGATIVE_ONE);
    if dynamic(&base) || overrides.iter().any(|o| dynamic(&o.prices)) {
        return Ok(RawPricing::Dynamic);
    }
    let bands: BTreeSet<u64> = std::iter::once(0)
        .chain(overrides.iter().map(|o| o.min_prompt_tokens))
        .collect();
    let mut components = Vec::new();
    for band in bands {
        // A band of prompts of more than `band` tokens meets every entry
        // whose threshold is at most `band`.
        let applicable: Vec<&Override> = overrides
            .iter()
            .filter(|o| o.min_prompt_tokens <= band)
            .collect();
        let meters: BTreeSet<Meter> = base
            .keys()
            .chain(applicable.iter().flat_map(|o| o.prices.keys()))
            .copied()
            .collect();
        for meter in meters {
            let prices = band_prices(meter, &base, &applicable);
            let all_zero = prices.iter().all(|(_, p)| p.is_zero());
            let windowed = prices.iter().any(|(w, _)| w.is_some());
            for (window, price) in prices {
                // Without windows the shared zero rule applies; within a
                // meter that has windows a zero is that window's price.
                let keep = if windowed {
                    kept(meter, Decimal::ZERO) || !all_zero
                } else {
                    kept(meter, price)
                };
                if !keep {
                    continue;
                }
                let mut key = ComponentKey::band(meter, band);
                if let Some(window) = window {
                    key = key.in_window(window);
                }
                components.push((key, discounted(meter, price, discount)?));
            }
        }
    }
    if components.is_empty() {
        // `pricing: {}` or only unknown keys: listed without a price.
        return Ok(RawPricing::Unknown);
    }
    Ok(RawPricing::Metered(components))
}

/// The prices of `meter` for a band that meets the `applicable` entries:
/// one any-time price, or one per window (with an any-time price only when
/// an entry without a window sets it before the windowed ones).
fn band_prices(
    meter: Meter,
    base: &BTreeMap<Meter, Decimal>,
    applicable: &[&Override],
) -> Vec<(Option<TimeWindow>, Decimal)> {
    let setters: Vec<&Override> = applicable
        .iter()
        .copied()
        .filter(|o| o.prices.contains_key(&meter))
        .collect();
    let last_any_time = setters.iter().rposition(|o| o.window.is_none());
    let windowed = match last_any_time {
        Some(i) => &setters[i + 1..],
        None => &setters[..],
    };
    let any_time = match last_any_time {
        Some(i) => setters[i].prices.get(&meter).copied(),
        // The top-level price of a meter with windows is the current
        // window's, not a base: it is dropped.
        None if windowed.is_empty() => base.get(&meter).copied(),
        None => None,
    };
    let mut out: Vec<(Option<TimeWindow>, Decimal)> = Vec::new();
    if let Some(price) = any_time {
        out.push((None, price));
    }
    for entry in windowed {
        let (Some(window), Some(price)) = (entry.window, entry.prices.get(&meter)) else {
            continue;
        };
        // A later entry for the same window wins.
        out.retain(|(w, _)| *w != Some(window));
        out.push((Some(window), *price));
    }
    out
}

fn discounted(meter: Meter, price: Decimal, discount: Decimal) -> Result<Decimal, SkipReason> {
    let usd = PriceUnit::UsdPerUnit
        .to_usd_per_unit(price)
        .map_err(|e| SkipReason::Unparseable(format!("{meter}: {e}")))?;
    if discount.is_zero() {
        return Ok(usd);
    }
    usd.checked_mul(Decimal::ONE - discount)
        .map(|d| d.normalize())
        .ok_or_else(|| {
            SkipReason::Unparseable(format!(
                "{meter} price {usd} with discount {discount} overflows"
            ))
        })
}

/// The entries of `overrides` pricesync applies, in order.
fn read_overrides(prices: &Map<String, Value>) -> Result<Vec<Override>, SkipReason> {
    let unreadable = SkipReason::Unparseable;
    let entries = match prices.get("overrides") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(unreadable("pricing.overrides is not an array".to_owned())),
    };
    let mut out = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("pricing.overrides[{i}]");
        let Value::Object(entry) = entry else {
            return Err(unreadable(format!("{at} is not an object")));
        };
        if let Some(unknown) = entry
            .keys()
            .find(|k| !CONDITIONS.contains(&k.as_str()) && !METERS.iter().any(|(m, _)| m == k))
        {
            // OpenRouter: "skip entries containing condition fields they do
            // not recognize rather than apply their prices".
            tracing::debug!(
                entry = %at,
                key = %unknown,
                "ignoring an OpenRouter price override with an unknown condition"
            );
            continue;
        }
        let min_prompt_tokens = match entry.get("min_prompt_tokens") {
            None | Some(Value::Null) => None,
            Some(value) => Some(whole_number(value).filter(|n| *n > 0).ok_or_else(|| {
                unreadable(format!(
                    "{at}.min_prompt_tokens is not a positive whole number"
                ))
            })?),
        };
        let window = read_window(entry, &at)?;
        if min_prompt_tokens.is_none() && window.is_none() {
            return Err(unreadable(format!(
                "{at} has neither min_prompt_tokens nor a time window"
            )));
        }
        out.push(Override {
            min_prompt_tokens: min_prompt_tokens.unwrap_or(0),
            window,
            prices: read_prices(entry, &at).map_err(unreadable)?,
        });
    }
    Ok(out)
}

/// The entry's UTC window: `utc_start`/`utc_end` and/or `utc_days`.
fn read_window(entry: &Map<String, Value>, at: &str) -> Result<Option<TimeWindow>, SkipReason> {
    let bad = |detail: String| SkipReason::InvalidTimeWindow(format!("{at}: {detail}"));
    let present = |key: &str| entry.get(key).filter(|v| !v.is_null());
    let hhmm = |key: &str, value: &Value| {
        integer(value).ok_or_else(|| bad(format!("{key} {value} is not an HHMM integer")))
    };
    let times = match (present("utc_start"), present("utc_end")) {
        (None, None) => None,
        (Some(start), Some(end)) => {
            let (start, end) = (hhmm("utc_start", start)?, hhmm("utc_end", end)?);
            Some(TimeWindow::from_hhmm(start, end).map_err(|e| bad(e.to_string()))?)
        }
        (Some(_), None) => return Err(bad("utc_start without utc_end".to_owned())),
        (None, Some(_)) => return Err(bad("utc_end without utc_start".to_owned())),
    };
    let Some(days) = present("utc_days") else {
        return Ok(times);
    };
    let Value::Array(days) = days else {
        return Err(bad("utc_days is not a list of weekdays".to_owned()));
    };
    let names = days
        .iter()
        .map(|d| {
            d.as_str()
                .ok_or_else(|| bad(format!("utc_days holds {d}, not a weekday")))
        })
        .collect::<Result<Vec<&str>, SkipReason>>()?;
    times
        .unwrap_or_else(TimeWindow::whole_day)
        .on_days(&names)
        .map(Some)
        .map_err(|e| bad(e.to_string()))
}

/// The meters' prices present in `map`, as published.
fn read_prices(map: &Map<String, Value>, at: &str) -> Result<BTreeMap<Meter, Decimal>, String> {
    let mut out = BTreeMap::new();
    for (key, meter) in METERS {
        if let Some(value) = map.get(key) {
            if value.is_null() {
                continue;
            }
            let price = decimal(value).map_err(|e| format!("{at}.{key} {e}"))?;
            out.insert(meter, price);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(json: &str) -> RawOffering {
        let list = parse(format!("{{\"data\": [{json}]}}").as_bytes()).expect("payload");
        assert!(list.skipped.is_empty(), "{:?}", list.skipped);
        list.models.into_iter().next().expect("one model")
    }

    fn price(model: &RawOffering, meter: Meter, band: u64) -> Option<String> {
        let RawPricing::Metered(components) = &model.pricing else {
            return None;
        };
        components
            .iter()
            .find(|(k, _)| k.meter == meter && k.min_prompt_tokens == band && k.window.is_none())
            .map(|(_, p)| p.to_string())
    }

    #[test]
    fn bands_inherit_missing_keys() {
        let m = one(
            r#"{"id":"a/b","pricing":{"prompt":"0.000003","completion":"0.000015",
            "input_cache_read":"0.0000003","request":"0","overrides":[{"min_prompt_tokens":200000,"prompt":"0.000006"}]}}"#,
        );
        assert_eq!(
            price(&m, Meter::InputTokens, 200_000).as_deref(),
            Some("0.000006")
        );
        assert_eq!(
            price(&m, Meter::OutputTokens, 200_000).as_deref(),
            Some("0.000015")
        );
        assert_eq!(
            price(&m, Meter::CacheReadTokens, 200_000).as_deref(),
            Some("0.0000003")
        );
        assert_eq!(
            price(&m, Meter::Request, 0),
            None,
            "zero side prices are left out"
        );
    }

    #[test]
    fn minus_one_is_dynamic_and_discount_applies() {
        let m = one(r#"{"id":"openrouter/auto","pricing":{"prompt":"-1","completion":"-1"}}"#);
        assert_eq!(m.pricing, RawPricing::Dynamic);
        let m = one(
            r#"{"id":"d","pricing":{"prompt":"0.000002","completion":"0.000004","discount":0.25}}"#,
        );
        assert_eq!(
            price(&m, Meter::InputTokens, 0).as_deref(),
            Some("0.0000015")
        );
        assert_eq!(
            price(&m, Meter::OutputTokens, 0).as_deref(),
            Some("0.000003")
        );
    }

    #[test]
    fn a_bad_entry_is_skipped_and_the_rest_kept() {
        let list = parse(
            br#"{"data":[{"id":"ok","pricing":{"prompt":"0.000001","completion":"0.000002"}},
            {"id":"bad","pricing":{"prompt":{"x":1},"completion":"0.000002"}},
            {"pricing":{}}]}"#,
        )
        .expect("payload");
        assert_eq!(list.models.len(), 1);
        let ids: Vec<&str> = list
            .skipped
            .iter()
            .map(|s| s.provider_model_id.as_str())
            .collect();
        assert_eq!(ids, ["bad", "<unknown>"]);
    }

    #[test]
    fn next_pages_stay_on_the_api_host_and_ask_for_every_modality() {
        let current =
            Url::parse("https://openrouter.ai/api/v1/models?output_modalities=all").expect("url");
        let next = next_url(&current, "/api/v1/models?offset=1&limit=1").expect("relative");
        assert_eq!(
            next.as_str(),
            "https://openrouter.ai/api/v1/models?offset=1&limit=1&output_modalities=all"
        );
        assert!(next_url(&current, "https://elsewhere.example/models").is_err());
        assert!(next_url(&current, "//elsewhere.example/models").is_err());
    }

    #[test]
    fn an_incomplete_list_is_malformed() {
        let e =
            parse(br#"{"data":[],"total_count":3,"links":{"next":null}}"#).expect_err("truncated");
        assert!(e.to_string().contains("total_count is 3"), "{e}");
        let e = parse(br#"{"data":[],"links":{"next":"/api/v1/models?offset=5"}}"#)
            .expect_err("continues");
        assert!(e.to_string().contains("links.next"), "{e}");
        assert!(parse(br#"{"data":[],"total_count":0,"links":{"next":null}}"#).is_ok());
    }

    fn skipped(json: &str) -> SkipReason {
        let list = parse(format!("{{\"data\": [{json}]}}").as_bytes()).expect("payload");
        list.skipped.into_iter().next().expect("skipped").reason
    }

    fn components(model: &RawOffering) -> Vec<(String, String)> {
        let RawPricing::Metered(parts) = &model.pricing else {
            panic!("metered: {:?}", model.pricing);
        };
        parts
            .iter()
            .map(|(k, p)| (k.to_string(), p.to_string()))
            .collect()
    }

    fn w(start: i64, end: i64) -> TimeWindow {
        TimeWindow::from_hhmm(start, end).expect("test window")
    }

    #[test]
    fn each_pricing_key_is_pinned_to_its_meter() {
        let expected = [
            ("prompt", "input_tokens"),
            ("completion", "output_tokens"),
            ("input_cache_read", "cache_read_tokens"),
            ("input_cache_write", "cache_write_5m_tokens"),
            ("input_cache_write_1h", "cache_write_1h_tokens"),
            ("internal_reasoning", "reasoning_tokens"),
            ("audio", "input_audio_tokens"),
            ("input_audio_cache", "cache_read_audio_tokens"),
            ("audio_output", "output_audio_tokens"),
            ("image_token", "input_image_tokens"),
            ("request", "request"),
            ("image", "image"),
            ("image_output", "output_image"),
            ("web_search", "web_search"),
        ];
        let table: Vec<(&str, &str)> = METERS.iter().map(|(k, m)| (*k, m.as_str())).collect();
        assert_eq!(table, expected);
        // Through the parser: each key at a distinct price lands on its meter.
        let prices: Vec<String> = expected
            .iter()
            .enumerate()
            .map(|(i, (key, _))| format!("\"{key}\":\"0.00000{}\"", i + 1))
            .collect();
        let m = one(&format!(
            r#"{{"id":"all","pricing":{{{}}}}}"#,
            prices.join(",")
        ));
        for (i, (_, meter)) in expected.iter().enumerate() {
            let meter: Meter = meter.parse().expect("meter");
            let expected: Decimal = format!("0.00000{}", i + 1).parse().expect("decimal");
            let got: Option<Decimal> = price(&m, meter, 0).and_then(|p| p.parse().ok());
            assert_eq!(got, Some(expected), "{meter}");
        }
    }

    #[test]
    fn discount_is_a_fraction_up_to_one() {
        let m = one(
            r#"{"id":"d","pricing":{"prompt":"0.000002","completion":"0.000004","discount":1}}"#,
        );
        assert_eq!(price(&m, Meter::InputTokens, 0).as_deref(), Some("0"));
        for bad in ["1.5", "-0.1", "\"x\""] {
            let reason = skipped(&format!(
                r#"{{"id":"d","pricing":{{"prompt":"0.1","completion":"0.1","discount":{bad}}}}}"#
            ));
            assert_eq!(reason.code(), "unparseable", "{bad}");
        }
    }

    #[test]
    fn later_entries_win_per_key_and_bands_inherit_windows() {
        let m = one(
            r#"{"id":"m","pricing":{"prompt":"0.000002","completion":"0.000004","input_cache_read":"0.0000002",
            "overrides":[
              {"utc_start":900,"utc_end":1700,"prompt":"0.000004","completion":"0.000008"},
              {"utc_start":1700,"utc_end":900,"prompt":"0.000001","completion":"0.000002"},
              {"utc_start":900,"utc_end":1700,"prompt":"0.000005"},
              {"min_prompt_tokens":100000,"completion":"0.00001"}
            ]}}"#,
        );
        let (day, night) = (w(900, 1700), w(1700, 900));
        let got = components(&m);
        let has = |key: ComponentKey, price: &str| {
            assert!(
                got.contains(&(key.to_string(), price.to_owned())),
                "{key} at {price}: {got:?}"
            );
        };
        // The third entry restates the day window's prompt: it wins; the
        // completion it leaves out stays the first entry's.
        has(
            ComponentKey::base(Meter::InputTokens).in_window(day),
            "0.000005",
        );
        has(
            ComponentKey::base(Meter::OutputTokens).in_window(day),
            "0.000008",
        );
        has(
            ComponentKey::base(Meter::InputTokens).in_window(night),
            "0.000001",
        );
        // The cache price has no window: the top level is its base.
        has(ComponentKey::base(Meter::CacheReadTokens), "0.0000002");
        // The band restates completion (any time) and inherits the windows
        // of prompt.
        has(ComponentKey::band(Meter::OutputTokens, 100_000), "0.00001");
        has(
            ComponentKey::band(Meter::InputTokens, 100_000).in_window(night),
            "0.000001",
        );
        has(
            ComponentKey::band(Meter::CacheReadTokens, 100_000),
            "0.0000002",
        );
        assert_eq!(got.len(), 9, "{got:?}");
    }

    #[test]
    fn a_band_can_carry_its_own_windows() {
        let m = one(
            r#"{"id":"m","pricing":{"prompt":"0.000002","completion":"0.000004",
            "overrides":[
              {"min_prompt_tokens":200000,"utc_start":0,"utc_end":1200,"prompt":"0.000006"},
              {"min_prompt_tokens":200000,"utc_start":1200,"utc_end":0,"prompt":"0.000003"}
            ]}}"#,
        );
        let got = components(&m);
        assert!(got.contains(&("input_tokens".to_owned(), "0.000002".to_owned())));
        let key = ComponentKey::band(Meter::InputTokens, 200_000).in_window(w(1200, 0));
        assert!(
            got.contains(&(key.to_string(), "0.000003".to_owned())),
            "{got:?}"
        );
        assert!(got.contains(&(
            ComponentKey::band(Meter::OutputTokens, 200_000).to_string(),
            "0.000004".to_owned()
        )));
        assert_eq!(got.len(), 5, "{got:?}");
    }

    #[test]
    fn a_zero_window_price_is_kept_where_other_windows_charge() {
        let m = one(
            r#"{"id":"m","pricing":{"prompt":"0.000002","completion":"0.000004","overrides":[
              {"utc_start":0,"utc_end":1200,"input_cache_read":"0"},
              {"utc_start":1200,"utc_end":0,"input_cache_read":"0.0000002"}]}}"#,
        );
        let key = ComponentKey::base(Meter::CacheReadTokens).in_window(w(0, 1200));
        assert!(components(&m).contains(&(key.to_string(), "0".to_owned())));
    }

    #[test]
    fn unreadable_windows_and_untiled_days_are_skipped() {
        for entry in [
            r#"{"utc_start":2500,"utc_end":100,"prompt":"0.000001"}"#,
            r#"{"utc_start":1060,"utc_end":100,"prompt":"0.000001"}"#,
            r#"{"utc_start":1000,"prompt":"0.000001"}"#,
            r#"{"utc_start":"ten","utc_end":100,"prompt":"0.000001"}"#,
            r#"{"utc_days":["someday"],"prompt":"0.000001"}"#,
            r#"{"utc_days":"monday","prompt":"0.000001"}"#,
        ] {
            let reason = skipped(&format!(
                r#"{{"id":"m","pricing":{{"prompt":"0.1","completion":"0.1","overrides":[{entry}]}}}}"#
            ));
            assert_eq!(reason.code(), "invalid_time_window", "{entry}: {reason}");
        }
        // One window alone leaves the rest of the day without a price: the
        // domain's validation refuses it.
        let m = one(
            r#"{"id":"m","pricing":{"prompt":"0.000002","completion":"0.000004",
            "overrides":[{"utc_start":900,"utc_end":1700,"prompt":"0.000004"}]}}"#,
        );
        let reason =
            pricesync_domain::validate_offering(&m, &pricesync_domain::ValidationPolicy::default())
                .expect_err("uncovered");
        assert_eq!(reason.code(), "uncovered_time");
    }

    #[test]
    fn entries_with_unknown_conditions_are_ignored() {
        let m = one(
            r#"{"id":"m","pricing":{"prompt":"0.000002","completion":"0.000004",
            "overrides":[{"min_batch_size":64,"prompt":"0.000001"},{"min_prompt_tokens":1000,"region":"eu","prompt":"0.000009"}]}}"#,
        );
        assert_eq!(components(&m).len(), 2);
        assert_eq!(
            price(&m, Meter::InputTokens, 0).as_deref(),
            Some("0.000002")
        );
    }

    #[test]
    fn unsupported_output_modalities_are_skipped_whatever_the_numbers() {
        for modality in ["speech", "transcription", "video", "rerank"] {
            let reason = skipped(&format!(
                r#"{{"id":"m","architecture":{{"output_modalities":["{modality}"]}},
                "pricing":{{"prompt":"0.000001","completion":"0"}}}}"#
            ));
            assert_eq!(reason.code(), "unsupported_pricing", "{modality}");
            assert!(reason.to_string().contains(modality), "{reason}");
        }
        let m = one(
            r#"{"id":"m","architecture":{"output_modalities":["text","image"]},
            "pricing":{"prompt":"0.000001","completion":"0.000002","image_output":"0.04"}}"#,
        );
        assert_eq!(price(&m, Meter::OutputImage, 0).as_deref(), Some("0.04"));
    }
}
