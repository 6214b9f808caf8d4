//! The cost function against hand computations: every meter, band and window
//! boundary, every error kind.

use pricesync_domain::{
    cost, parse_decimal, CardComponent, ComponentKey, CostErrorKind, Decimal, Meter, PriceCard,
    PriceComponent, PricingKind, TimeWindow, Usage,
};
use time::macros::datetime;
use time::OffsetDateTime;

const SINCE: OffsetDateTime = datetime!(2026-11-01 00:00 UTC);
const NOON: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

fn dec(text: &str) -> Decimal {
    parse_decimal(text).expect("test literal")
}

fn component(key: ComponentKey, price: &str) -> CardComponent {
    CardComponent {
        component: PriceComponent::new(key, price.parse().expect("test price")),
        since: SINCE,
    }
}

fn card(components: Vec<CardComponent>) -> PriceCard {
    PriceCard {
        model: "openrouter/test/model".to_owned(),
        pricing_kind: PricingKind::Metered,
        listed_since: SINCE,
        removed_at: None,
        components,
    }
}

fn base(meter: Meter, price: &str) -> CardComponent {
    component(ComponentKey::base(meter), price)
}

fn total(card: &PriceCard, usage: Usage, at: OffsetDateTime) -> Decimal {
    cost(card, &usage, at).expect("priced").total_usd
}

fn error(card: &PriceCard, usage: Usage, at: OffsetDateTime) -> CostErrorKind {
    cost(card, &usage, at).expect_err("not priced").kind
}

fn sonnet() -> PriceCard {
    card(vec![
        base(Meter::InputTokens, "0.000003"),
        base(Meter::OutputTokens, "0.000015"),
        base(Meter::CacheReadTokens, "0.0000003"),
        base(Meter::CacheWrite5mTokens, "0.00000375"),
        base(Meter::CacheWrite1hTokens, "0.000006"),
        component(ComponentKey::band(Meter::InputTokens, 200_000), "0.000006"),
        component(
            ComponentKey::band(Meter::OutputTokens, 200_000),
            "0.0000225",
        ),
        component(
            ComponentKey::band(Meter::CacheReadTokens, 200_000),
            "0.0000006",
        ),
    ])
}

#[test]
fn input_and_output_tokens() {
    // 1200 × 0.000003 + 300 × 0.000015 = 0.0036 + 0.0045
    let b = cost(&sonnet(), &Usage::tokens(1200, 300), NOON).expect("priced");
    assert_eq!(b.total_usd, dec("0.0081"));
    assert_eq!(b.pricing_kind, PricingKind::Metered);
    let lines: Vec<(Meter, u64, Decimal)> = b
        .lines
        .iter()
        .map(|l| (l.meter, l.quantity, l.amount_usd))
        .collect();
    assert_eq!(
        lines,
        [
            (Meter::InputTokens, 1200, dec("0.0036")),
            (Meter::OutputTokens, 300, dec("0.0045")),
        ]
    );
    assert!(b
        .lines
        .iter()
        .all(|l| l.price_since == SINCE && l.window.is_none()));
}

#[test]
fn cache_reads_and_writes_are_parts_of_the_prompt() {
    let usage = Usage {
        input_tokens: 10_000,
        cache_read_tokens: 6_000,
        cache_write_5m_tokens: 1_000,
        cache_write_1h_tokens: 500,
        output_tokens: 100,
        ..Usage::default()
    };
    // text 2,500 × 0.000003 = 0.0075; read 6,000 × 0.0000003 = 0.0018;
    // write 5m 1,000 × 0.00000375 = 0.00375; write 1h 500 × 0.000006 = 0.003;
    // output 100 × 0.000015 = 0.0015. Sum 0.01755.
    let b = cost(&sonnet(), &usage, NOON).expect("priced");
    assert_eq!(b.total_usd, dec("0.01755"));
    let input = b.lines.iter().find(|l| l.meter == Meter::InputTokens);
    assert_eq!(input.map(|l| l.quantity), Some(2_500));
}

#[test]
fn the_prompt_size_picks_the_band_for_the_whole_request() {
    let at = |prompt: u64| total(&sonnet(), Usage::tokens(prompt, 1000), NOON);
    // Just below and at the threshold: base prices.
    assert_eq!(at(199_999), dec("0.599997") + dec("0.015"));
    assert_eq!(at(200_000), dec("0.6") + dec("0.015"));
    // Above: the band's prices, output included.
    assert_eq!(at(200_001), dec("1.200006") + dec("0.0225"));
    // A meter without a band keeps its base price in a banded request.
    let usage = Usage {
        input_tokens: 300_000,
        cache_write_5m_tokens: 100_000,
        cache_read_tokens: 100_000,
        ..Usage::default()
    };
    let b = cost(&sonnet(), &usage, NOON).expect("priced");
    let band_of = |meter: Meter| {
        b.lines
            .iter()
            .find(|l| l.meter == meter)
            .map(|l| (l.min_prompt_tokens, l.amount_usd))
    };
    assert_eq!(band_of(Meter::InputTokens), Some((200_000, dec("0.6"))));
    assert_eq!(
        band_of(Meter::CacheReadTokens),
        Some((200_000, dec("0.06")))
    );
    assert_eq!(band_of(Meter::CacheWrite5mTokens), Some((0, dec("0.375"))));
}

fn time_of_day() -> PriceCard {
    let window = |s, e| TimeWindow::from_hhmm(s, e).expect("test window");
    card(vec![
        component(
            ComponentKey::base(Meter::InputTokens).in_window(window(1000, 100)),
            "0.000002",
        ),
        component(
            ComponentKey::base(Meter::InputTokens).in_window(window(100, 1000)),
            "0.000001",
        ),
        base(Meter::OutputTokens, "0.000004"),
        component(
            ComponentKey::base(Meter::OutputTokens).in_window(window(1000, 100)),
            "0.000008",
        ),
    ])
}

#[test]
fn the_time_of_day_picks_the_window_also_past_midnight() {
    let at = |t: OffsetDateTime| total(&time_of_day(), Usage::tokens(1_000_000, 1_000_000), t);
    let off_peak = dec("1") + dec("4");
    let peak = dec("2") + dec("8");
    assert_eq!(at(datetime!(2026-11-30 09:59:59 UTC)), off_peak);
    assert_eq!(at(datetime!(2026-11-30 10:00:00 UTC)), peak);
    assert_eq!(at(datetime!(2026-11-30 23:59:59 UTC)), peak);
    assert_eq!(at(datetime!(2026-12-01 00:59:59 UTC)), peak);
    assert_eq!(at(datetime!(2026-12-01 01:00:00 UTC)), off_peak);
    // The UTC time of day counts, whatever the offset of `at`.
    assert_eq!(at(datetime!(2026-11-30 12:00:00 +02:00)), peak);
    assert_eq!(at(datetime!(2026-11-30 11:59:59 +02:00)), off_peak);
    let b = cost(
        &time_of_day(),
        &Usage::tokens(10, 10),
        datetime!(2026-11-30 10:00 UTC),
    )
    .expect("priced");
    assert!(b.lines.iter().all(|l| l.window.is_some()));
}

#[test]
fn every_meter_at_its_own_price() {
    let priced = card(vec![
        base(Meter::InputTokens, "0.000001"),
        base(Meter::OutputTokens, "0.000002"),
        base(Meter::CacheReadTokens, "0.0000001"),
        base(Meter::CacheWrite5mTokens, "0.0000013"),
        base(Meter::CacheWrite1hTokens, "0.000002"),
        base(Meter::ReasoningTokens, "0.000003"),
        base(Meter::InputAudioTokens, "0.00004"),
        base(Meter::InputImageTokens, "0.0000005"),
        base(Meter::CacheReadAudioTokens, "0.0000025"),
        base(Meter::OutputAudioTokens, "0.00008"),
        base(Meter::Request, "0.001"),
        base(Meter::Image, "0.0024"),
        base(Meter::WebSearch, "0.01"),
        base(Meter::OutputImage, "0.04"),
    ]);
    let usage = Usage {
        input_tokens: 1_000,
        cache_read_tokens: 100,
        cache_write_5m_tokens: 50,
        cache_write_1h_tokens: 25,
        input_audio_tokens: 200,
        cache_read_audio_tokens: 20,
        input_image_tokens: 5,
        output_tokens: 500,
        reasoning_tokens: 300,
        output_audio_tokens: 100,
        requests: 1,
        input_images: 2,
        output_images: 3,
        web_searches: 4,
    };
    let b = cost(&priced, &usage, NOON).expect("priced");
    let amounts: Vec<(Meter, u64, Decimal)> = b
        .lines
        .iter()
        .map(|l| (l.meter, l.quantity, l.amount_usd))
        .collect();
    assert_eq!(
        amounts,
        [
            (Meter::InputTokens, 600, dec("0.0006")),
            (Meter::OutputTokens, 100, dec("0.0002")),
            (Meter::CacheReadTokens, 100, dec("0.00001")),
            (Meter::CacheWrite5mTokens, 50, dec("0.000065")),
            (Meter::CacheWrite1hTokens, 25, dec("0.00005")),
            (Meter::ReasoningTokens, 300, dec("0.0009")),
            (Meter::InputAudioTokens, 200, dec("0.008")),
            (Meter::InputImageTokens, 5, dec("0.0000025")),
            (Meter::CacheReadAudioTokens, 20, dec("0.00005")),
            (Meter::OutputAudioTokens, 100, dec("0.008")),
            (Meter::Request, 1, dec("0.001")),
            (Meter::Image, 2, dec("0.0048")),
            (Meter::WebSearch, 4, dec("0.04")),
            (Meter::OutputImage, 3, dec("0.12")),
        ]
    );
    assert_eq!(b.total_usd, dec("0.1836775"));
    assert!(b.lines.iter().all(|l| l.billed_as.is_none()));
}

#[test]
fn reasoning_and_image_tokens_fall_back_to_their_totals_price() {
    let usage = Usage {
        input_tokens: 1_000,
        input_image_tokens: 400,
        output_tokens: 1_000,
        reasoning_tokens: 700,
        ..Usage::default()
    };
    let b = cost(&sonnet(), &usage, NOON).expect("priced");
    let line = |meter: Meter| b.lines.iter().find(|l| l.meter == meter).copied();
    let reasoning = line(Meter::ReasoningTokens).expect("billed");
    assert_eq!(reasoning.billed_as, Some(Meter::OutputTokens));
    assert_eq!(reasoning.amount_usd, dec("0.0105"));
    let image = line(Meter::InputImageTokens).expect("billed");
    assert_eq!(image.billed_as, Some(Meter::InputTokens));
    // Counted once: 1,000 prompt × 0.000003 + 1,000 completion × 0.000015.
    assert_eq!(b.total_usd, dec("0.003") + dec("0.015"));
}

#[test]
fn requests_are_billed_only_where_a_request_price_exists() {
    assert_eq!(total(&sonnet(), Usage::tokens(0, 0), NOON), Decimal::ZERO);
    let mut with_fee = sonnet();
    with_fee.components.push(base(Meter::Request, "0.005"));
    let usage = Usage {
        requests: 2,
        ..Usage::tokens(0, 0)
    };
    assert_eq!(total(&with_fee, usage, NOON), dec("0.01"));
}

#[test]
fn a_free_model_costs_exactly_zero_and_says_so() {
    let free = PriceCard {
        pricing_kind: PricingKind::Free,
        ..card(vec![
            base(Meter::InputTokens, "0"),
            base(Meter::OutputTokens, "0"),
        ])
    };
    let b = cost(&free, &Usage::tokens(5_000, 5_000), NOON).expect("free");
    assert_eq!(b.pricing_kind, PricingKind::Free);
    assert_eq!(b.total_usd, Decimal::ZERO);
}

#[test]
fn never_a_silent_zero() {
    for (kind, code) in [
        (PricingKind::Dynamic, "dynamic_pricing"),
        (PricingKind::Subscription, "subscription_pricing"),
        (PricingKind::Unknown, "unknown_pricing"),
    ] {
        let unpriced = PriceCard {
            pricing_kind: kind,
            ..card(Vec::new())
        };
        let e = cost(&unpriced, &Usage::tokens(1, 1), NOON).expect_err("not priced");
        assert_eq!(e.kind.code(), code);
        assert!(e.to_string().contains("openrouter/test/model"), "{e}");
    }
    // Not listed yet; removed (from the instant of removal on).
    let before = error(
        &sonnet(),
        Usage::tokens(1, 1),
        datetime!(2026-10-31 23:59:59 UTC),
    );
    assert_eq!(before.code(), "not_listed_yet");
    let removed = PriceCard {
        removed_at: Some(datetime!(2026-11-20 00:00 UTC)),
        ..sonnet()
    };
    assert!(cost(
        &removed,
        &Usage::tokens(1, 1),
        datetime!(2026-11-19 23:59:59 UTC)
    )
    .is_ok());
    let after = error(
        &removed,
        Usage::tokens(1, 1),
        datetime!(2026-11-20 00:00 UTC),
    );
    assert_eq!(after.code(), "removed");
    // A meter the model has no price for.
    let search = Usage {
        web_searches: 1,
        ..Usage::tokens(10, 10)
    };
    assert_eq!(
        error(&sonnet(), search, NOON),
        CostErrorKind::UnpricedMeter {
            meter: Meter::WebSearch,
            quantity: 1
        }
    );
    let audio = Usage {
        input_tokens: 100,
        input_audio_tokens: 50,
        ..Usage::default()
    };
    assert_eq!(error(&sonnet(), audio, NOON).code(), "unpriced_meter");
    let no_output_price = card(vec![base(Meter::InputTokens, "0.000001")]);
    assert_eq!(
        error(&no_output_price, Usage::tokens(10, 10), NOON),
        CostErrorKind::UnpricedMeter {
            meter: Meter::OutputTokens,
            quantity: 10
        }
    );
    // Zero of an unpriced meter is fine.
    assert!(cost(&no_output_price, &Usage::tokens(10, 0), NOON).is_ok());
}

#[test]
fn inconsistent_usages_are_refused() {
    let cached = Usage {
        input_tokens: 100,
        cache_read_tokens: 101,
        ..Usage::default()
    };
    assert_eq!(error(&sonnet(), cached, NOON).code(), "inconsistent_usage");
    let reasoning = Usage {
        output_tokens: 10,
        reasoning_tokens: 8,
        output_audio_tokens: 3,
        ..Usage::default()
    };
    assert_eq!(
        error(&sonnet(), reasoning, NOON).code(),
        "inconsistent_usage"
    );
    let overflowing = Usage {
        input_tokens: u64::MAX,
        cache_read_tokens: u64::MAX,
        cache_write_5m_tokens: 1,
        ..Usage::default()
    };
    assert_eq!(
        error(&sonnet(), overflowing, NOON).code(),
        "inconsistent_usage"
    );
}

#[test]
fn amounts_are_exact_and_rounded_only_on_request() {
    let cheap = card(vec![
        base(Meter::InputTokens, "0.0000000131"),
        base(Meter::OutputTokens, "0.0000000262"),
    ]);
    let b = cost(&cheap, &Usage::tokens(7, 3), NOON).expect("priced");
    // 7 × 0.0000000131 + 3 × 0.0000000262 = 0.0000000917 + 0.0000000786
    assert_eq!(b.total_usd, dec("0.0000001703"));
    assert_eq!(b.total_rounded(9), dec("0.00000017"));
    let half = card(vec![
        base(Meter::Request, "0.005"),
        base(Meter::InputTokens, "0.000001"),
    ]);
    let b = cost(&half, &Usage::tokens(0, 0), NOON).expect("priced");
    assert_eq!(b.total_rounded(2), dec("0.01"));
    // u64::MAX tokens at 1e11 USD each is beyond an exact decimal: an
    // error, not a wrong number.
    let huge = card(vec![base(Meter::InputTokens, "100000000000")]);
    assert_eq!(
        error(&huge, Usage::tokens(u64::MAX, 0), NOON),
        CostErrorKind::Overflow(Meter::InputTokens)
    );
}

#[test]
fn the_breakdown_says_since_when_each_price_applies() {
    let mut c = sonnet();
    let changed = datetime!(2026-11-25 08:00 UTC);
    c.components[1].since = changed;
    let b = cost(&c, &Usage::tokens(10, 10), NOON).expect("priced");
    let since: Vec<(Meter, OffsetDateTime)> =
        b.lines.iter().map(|l| (l.meter, l.price_since)).collect();
    assert_eq!(
        since,
        [(Meter::InputTokens, SINCE), (Meter::OutputTokens, changed)]
    );
}

#[test]
fn weekday_windows_follow_the_utc_weekday_of_the_instant() {
    let weekend = TimeWindow::whole_day()
        .on_days(&["saturday", "sunday"])
        .expect("valid");
    let weekdays = TimeWindow::whole_day()
        .on_days(&["monday", "tuesday", "wednesday", "thursday", "friday"])
        .expect("valid");
    let c = card(vec![
        component(
            ComponentKey::base(Meter::InputTokens).in_window(weekend),
            "0.000001",
        ),
        component(
            ComponentKey::base(Meter::InputTokens).in_window(weekdays),
            "0.000002",
        ),
        base(Meter::OutputTokens, "0.000002"),
    ]);
    let at = |t: OffsetDateTime| total(&c, Usage::tokens(1_000_000, 0), t);
    // 2026-12-04 is a Friday, 2026-12-05 a Saturday.
    assert_eq!(at(datetime!(2026-12-04 23:59:59 UTC)), dec("2"));
    assert_eq!(at(datetime!(2026-12-05 00:00:00 UTC)), dec("1"));
    // Saturday 00:30 in UTC is Friday 23:30 at -01:00: the UTC day counts.
    assert_eq!(at(datetime!(2026-12-04 23:30:00 -01:00)), dec("1"));
}
