//! Parse + validate benchmark at the seed providers' sizes: a 22,000-model
//! Featherless catalog and a 1,000-model OpenRouter list, generated in code
//! (no fixture that size is committed).
//!
//! Prints, per list: the payload size, the time of `parse` followed by
//! `validate_price_list` (median, min and max of several runs), and the peak
//! memory one such run adds.
//!
//! Peak memory is the resident set's high-water mark (`VmHWM` in
//! `/proc/self/status`, so Linux only; elsewhere it prints "n/a"), measured
//! in a fresh child process (this binary re-run with `PARSE_LISTS_CHILD`
//! set): the child builds the payload, resets the mark, parses and
//! validates once, and reports the mark less the memory it held before. A
//! fresh process keeps memory freed by earlier runs from hiding the peak,
//! and no instrumenting allocator slows the timed runs.
//!
//! Run with `cargo bench -p pricesync-providers --bench parse_lists`
//! (`just bench` runs it too).

use std::hint::black_box;
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use pricesync_domain::{validate_price_list, ValidatedList, ValidationPolicy};
use pricesync_providers::{featherless, openrouter, FetchedList};
use serde_json::{json, Value};

const RUNS: usize = 15;
const CHILD: &str = "PARSE_LISTS_CHILD";

/// One list to measure.
struct Case {
    name: &'static str,
    models: usize,
    entry: fn(usize) -> Value,
    parse: fn(&[u8]) -> FetchedList,
}

const CASES: [Case; 2] = [
    Case {
        name: "featherless",
        models: 22_000,
        entry: featherless_entry,
        parse: |body| featherless::parse(body).expect("the payload parses").list,
    },
    Case {
        name: "openrouter",
        models: 1_000,
        entry: openrouter_entry,
        parse: |body| openrouter::parse(body).expect("the payload parses"),
    },
];

/// A Featherless model: mostly subscription, one in 20 with the
/// undocumented per-1M `pricing`, one in 5000 unreadable.
fn featherless_entry(i: usize) -> Value {
    let classes = [
        "llama3-8b",
        "llama31-8b",
        "mistral-v02-7b",
        "qwen25-14b",
        "qwen25-72b",
    ];
    let class = classes[i % classes.len()];
    let context_length = [8192, 16384, 32768][i % 3];
    let mut model = json!({
        "id": format!("author-{}/model-{i}-{class}", i % 997),
        "name": format!("model-{i}"),
        "created": 1_726_000_000 + i,
        "model_class": class,
        "context_length": context_length,
        "max_completion_tokens": 4096,
        "is_gated": i.is_multiple_of(7),
        "owned_by": format!("author-{}", i % 997),
    });
    if i.is_multiple_of(20) {
        model["pricing"] = json!({ "input": format!("0.{}", 10 + i % 9), "output": "0.4" });
    }
    if i % 5000 == 1 {
        model["pricing"] = json!("contact sales");
    }
    model
}

/// An OpenRouter model: string prices, cache prices, one in ten with a
/// long-context band, dynamic and free ones.
fn openrouter_entry(i: usize) -> Value {
    let mut pricing = json!({
        "prompt": format!("0.000000{}", 10 + i % 89),
        "completion": format!("0.00000{}", 1 + i % 9),
        "request": "0",
        "image": if i.is_multiple_of(4) { "0.001" } else { "0" },
        "web_search": "0",
        "internal_reasoning": "0",
        "input_cache_read": format!("0.0000000{}", 1 + i % 9),
        "input_cache_write": "0",
    });
    if i.is_multiple_of(10) {
        pricing["overrides"] = json!([{ "min_prompt_tokens": 200_000, "prompt": "0.000006" }]);
    }
    if i.is_multiple_of(50) {
        pricing = json!({ "prompt": "-1", "completion": "-1" });
    }
    if i % 40 == 1 {
        pricing = json!({ "prompt": "0", "completion": "0" });
    }
    json!({
        "id": format!("vendor-{}/model-{i}", i % 60),
        "canonical_slug": format!("vendor-{}/model-{i}-20250101", i % 60),
        "name": format!("Vendor {}: Model {i}", i % 60),
        "created": 1_759_161_676 - i,
        "context_length": 131_072,
        "architecture": { "input_modalities": ["text"], "output_modalities": ["text"], "tokenizer": "Other" },
        "top_provider": { "context_length": 131_072, "max_completion_tokens": 8192, "is_moderated": false },
        "pricing": pricing,
        "supported_parameters": ["max_tokens", "temperature", "tools"],
    })
}

/// `{"data": [...]}`, written entry by entry so that building it leaves
/// little freed memory behind.
fn payload(case: &Case) -> Vec<u8> {
    let mut body = b"{\"data\":[".to_vec();
    for i in 0..case.models {
        if i > 0 {
            body.push(b',');
        }
        serde_json::to_writer(&mut body, &(case.entry)(i)).expect("writes to memory");
    }
    body.extend_from_slice(b"]}");
    body
}

fn parse_and_validate(case: &Case, body: &[u8]) -> ValidatedList {
    let list = (case.parse)(body);
    let mut validated = validate_price_list(list.models, &ValidationPolicy::default());
    validated.add_skipped(list.skipped);
    validated
}

/// A `kB` line of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// In the child: the memory one parse + validate adds at its peak.
fn measure_peak(case: &Case) -> Option<u64> {
    let body = payload(case);
    // Resets VmHWM to the current resident set (Linux 4.0 and later).
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    let before = status_bytes("VmRSS:")?;
    let validated = parse_and_validate(case, &body);
    let peak = status_bytes("VmHWM:")?;
    black_box(validated);
    Some(peak.saturating_sub(before))
}

/// Runs the child for `case` and reads its answer.
fn peak_in_child(case: &Case) -> Option<u64> {
    let output = Command::new(std::env::current_exe().ok()?)
        .env(CHILD, case.name)
        .output()
        .ok()?;
    String::from_utf8(output.stdout).ok()?.trim().parse().ok()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn bench(case: &Case) {
    let body = payload(case);
    // Warm up, and check that the run does what it claims.
    let validated = parse_and_validate(case, &body);
    let listed = validated.offerings().len() + validated.skipped().len();
    assert!(
        listed >= case.models * 99 / 100,
        "{}: {listed} of {} accounted for",
        case.name,
        case.models
    );
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            black_box(parse_and_validate(case, black_box(&body)));
            started.elapsed()
        })
        .collect();
    times.sort();
    let median = times[RUNS / 2];
    let peak = peak_in_child(case).map_or_else(
        || "n/a".to_owned(),
        |bytes| {
            format!(
                "{:.2} MiB ({:.1}x payload)",
                mib(bytes),
                bytes as f64 / body.len() as f64
            )
        },
    );
    println!(
        "{:<12} {:>6} models  payload {:>5.2} MiB  parse+validate median {:>6.2} ms (min {:.2}, max {:.2})  {:>7.0} models/s  peak memory +{peak}  valid {} skipped {}",
        case.name,
        case.models,
        mib(body.len() as u64),
        ms(median),
        ms(times[0]),
        ms(times[RUNS - 1]),
        case.models as f64 / median.as_secs_f64(),
        validated.offerings().len(),
        validated.skipped().len(),
    );
}

fn main() {
    if let Ok(name) = std::env::var(CHILD) {
        let case = CASES.iter().find(|c| c.name == name).expect("a known case");
        if let Some(bytes) = measure_peak(case) {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{bytes}").expect("writes to stdout");
        }
        return;
    }
    println!("parse_lists: parse + validate_price_list, {RUNS} runs each (release)");
    for case in &CASES {
        bench(case);
    }
}
