//! The in-process cost of one usage: [`pricesync_domain::cost`] on a card
//! with long-context bands and time-of-day windows (14 components), beside a
//! floor measured in the same run: the two exact multiplications and the
//! addition that any answer for input and output tokens needs.
//!
//! Prints the median, p99 and min of the per-call time over many batches
//! (each batch's time divided by its calls, so the clock's resolution does
//! not count).
//!
//! Run with `cargo bench -p pricesync-domain --bench cost` (`just bench`
//! runs it too).

use std::hint::black_box;
use std::time::Instant;

use pricesync_domain::{
    cost, parse_decimal, CardComponent, ComponentKey, Decimal, Meter, PriceCard, PriceComponent,
    PricingKind, TimeWindow, Usage,
};
use time::macros::datetime;

const BATCHES: usize = 400;
const CALLS_PER_BATCH: usize = 2_000;

fn card() -> PriceCard {
    let since = datetime!(2026-11-01 00:00 UTC);
    let peak = TimeWindow::from_hhmm(1000, 100).expect("valid window");
    let off_peak = TimeWindow::from_hhmm(100, 1000).expect("valid window");
    let c = |key: ComponentKey, price: &str| CardComponent {
        component: PriceComponent::new(key, price.parse().expect("valid price")),
        since,
    };
    let band = |meter, price| c(ComponentKey::band(meter, 200_000), price);
    PriceCard {
        model: "openrouter/bench/model".to_owned(),
        pricing_kind: PricingKind::Metered,
        listed_since: since,
        removed_at: None,
        components: vec![
            c(
                ComponentKey::base(Meter::InputTokens).in_window(peak),
                "0.000006",
            ),
            c(
                ComponentKey::base(Meter::InputTokens).in_window(off_peak),
                "0.000003",
            ),
            c(
                ComponentKey::base(Meter::OutputTokens).in_window(peak),
                "0.00003",
            ),
            c(
                ComponentKey::base(Meter::OutputTokens).in_window(off_peak),
                "0.000015",
            ),
            c(ComponentKey::base(Meter::CacheReadTokens), "0.0000003"),
            c(ComponentKey::base(Meter::CacheWrite5mTokens), "0.00000375"),
            c(ComponentKey::base(Meter::CacheWrite1hTokens), "0.000006"),
            c(ComponentKey::base(Meter::ReasoningTokens), "0.000015"),
            c(ComponentKey::base(Meter::WebSearch), "0.01"),
            c(ComponentKey::base(Meter::Request), "0.0001"),
            band(Meter::InputTokens, "0.000012"),
            band(Meter::OutputTokens, "0.000045"),
            band(Meter::CacheReadTokens, "0.0000006"),
            band(Meter::CacheWrite5mTokens, "0.0000075"),
        ],
    }
}

/// Median, p99 and min of `f`'s per-call time in nanoseconds.
fn measure(mut f: impl FnMut()) -> (f64, f64, f64) {
    let mut per_call: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..CALLS_PER_BATCH {
                f();
            }
            start.elapsed().as_nanos() as f64 / CALLS_PER_BATCH as f64
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    let at = |q: f64| per_call[((per_call.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99), per_call[0])
}

fn main() {
    let card = card();
    let usage = Usage {
        input_tokens: 12_000,
        cache_read_tokens: 8_000,
        cache_write_5m_tokens: 1_000,
        output_tokens: 900,
        reasoning_tokens: 400,
        web_searches: 1,
        ..Usage::default()
    };
    let at = datetime!(2026-11-30 11:30 UTC);
    let total = cost(&card, &usage, at)
        .expect("the usage is priced")
        .total_usd;
    println!("cost of one usage (14 components, bands and windows): {total} USD");

    let (median, p99, min) = measure(|| {
        black_box(cost(black_box(&card), black_box(&usage), black_box(at)).ok());
    });
    let input = parse_decimal("0.000006").expect("valid");
    let output = parse_decimal("0.00003").expect("valid");
    let (floor_median, floor_p99, floor_min) = measure(|| {
        let a = Decimal::from(black_box(12_000u64)) * black_box(input);
        let b = Decimal::from(black_box(900u64)) * black_box(output);
        black_box(a + b);
    });
    println!("cost():                 median {median:7.1} ns  p99 {p99:7.1} ns  min {min:7.1} ns");
    println!(
        "floor (2 mul + 1 add):  median {floor_median:7.1} ns  p99 {floor_p99:7.1} ns  min {floor_min:7.1} ns"
    );
    println!(
        "ratio (median): {:.1}x the floor; budget: median under 1000 ns",
        median / floor_median
    );
}
