//! Test doubles shared by the engine's test suites.
#![allow(dead_code)] // Not every suite uses every double.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use pricesync_domain::ProviderId;
use pricesync_providers::{FetchError, FetchedList, PriceFetcher};
use pricesync_store::testing::one_price;
use tokio::sync::Notify;

/// A list of models, each at one price per input token.
pub fn list(prices: &[(&str, &str)]) -> FetchedList {
    FetchedList {
        models: prices
            .iter()
            .map(|(id, price)| one_price(id, price))
            .collect(),
        skipped: vec![],
    }
}

/// Answers queued responses in order (then the last one again), optionally
/// waiting at a gate, and counts concurrent fetches.
pub struct TestFetcher {
    provider: ProviderId,
    responses: Mutex<VecDeque<Result<FetchedList, FetchError>>>,
    gate: Option<Arc<Notify>>,
    in_flight: AtomicUsize,
    /// The most fetches in flight at once.
    pub max_in_flight: AtomicUsize,
    /// Fetches made.
    pub calls: AtomicUsize,
}

impl TestFetcher {
    pub fn new(name: &str, responses: Vec<Result<FetchedList, FetchError>>) -> Arc<Self> {
        Arc::new(Self {
            provider: ProviderId::parse(name).expect("provider"),
            responses: Mutex::new(responses.into()),
            gate: None,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
        })
    }

    pub fn gated(name: &str, response: FetchedList, gate: Arc<Notify>) -> Arc<Self> {
        Self::gated_each(name, vec![Ok(response)], gate)
    }

    /// Answers `responses` in turn, each fetch once `gate` lets it.
    pub fn gated_each(
        name: &str,
        responses: Vec<Result<FetchedList, FetchError>>,
        gate: Arc<Notify>,
    ) -> Arc<Self> {
        let mut fetcher = Self::new(name, responses);
        if let Some(f) = Arc::get_mut(&mut fetcher) {
            f.gate = Some(gate);
        }
        fetcher
    }
}

#[async_trait]
impl PriceFetcher for TestFetcher {
    fn provider(&self) -> &ProviderId {
        &self.provider
    }

    async fn fetch(&self) -> Result<FetchedList, FetchError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        struct Leave<'a>(&'a AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _leave = Leave(&self.in_flight);
        if let Some(gate) = &self.gate {
            gate.notified().await;
        }
        let mut responses = self.responses.lock().expect("lock");
        if responses.len() > 1 {
            responses.pop_front().expect("non-empty")
        } else {
            responses
                .front()
                .cloned()
                .unwrap_or_else(|| Ok(FetchedList::default()))
        }
    }
}
