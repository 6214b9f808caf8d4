//! The in-memory copy of the price cards: replaced whole, never changed in
//! place, so a reader holds a consistent copy for as long as it needs.

use std::collections::HashMap;
use std::sync::Arc;

use pricesync_domain::PriceCard;

use crate::wire::FeedCard;

/// Cards by provider, then model id. A change replaces the cards of the
/// models it names and clones only their provider's map (the others are
/// shared with the previous copy through their `Arc`).
#[derive(Debug, Default, Clone)]
pub(crate) struct PriceCopy {
    by_provider: HashMap<String, Arc<HashMap<String, Arc<PriceCard>>>>,
    /// The change feed cursor the copy holds every change up to.
    pub cursor: i64,
}

impl PriceCopy {
    /// A copy of `cards`, current up to `cursor`.
    pub fn new(cards: Vec<FeedCard>, cursor: i64) -> Self {
        let mut by_provider: HashMap<String, HashMap<String, Arc<PriceCard>>> = HashMap::new();
        for card in cards {
            by_provider
                .entry(card.provider)
                .or_default()
                .insert(card.model_id, Arc::new(card.card));
        }
        Self {
            by_provider: by_provider
                .into_iter()
                .map(|(provider, models)| (provider, Arc::new(models)))
                .collect(),
            cursor,
        }
    }

    /// The card of a model.
    pub fn card(&self, provider: &str, model_id: &str) -> Option<&PriceCard> {
        self.by_provider.get(provider)?.get(model_id).map(|c| &**c)
    }

    /// A copy with `cards` replacing the cards of the same models, current
    /// up to `cursor`.
    pub fn with(&self, cards: Vec<FeedCard>, cursor: i64) -> Self {
        let mut by_provider = self.by_provider.clone();
        for card in cards {
            let models = by_provider.entry(card.provider).or_default();
            Arc::make_mut(models).insert(card.model_id, Arc::new(card.card));
        }
        Self {
            by_provider,
            cursor,
        }
    }

    /// How many models it holds.
    pub fn len(&self) -> usize {
        self.by_provider.values().map(|m| m.len()).sum()
    }
}
