//! Pricing usages: the one path from `{provider, model, usage, at?}` to an
//! answer, used by `POST /v1/pricing/cost` and `pricesync cost`.
//!
//! A usage without `at` is priced now with the in-memory catalogue (no
//! query); a usage with `at` with the card of that instant from the price
//! history — all such usages of a request in one query. Each usage's error
//! is its own: it never fails the others.

use pricesync_domain::{cost, CostError, PriceCard, ProviderId, Usage};
use pricesync_store::{CardRequest, Store, StoreResult};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::api::types::cost::{CostAnswer, CostItem};
use crate::catalogue::Catalogue;

/// A usage to price, its `at` read.
#[derive(Debug, Clone)]
pub struct Pricing {
    /// The provider.
    pub provider: String,
    /// The provider's model id.
    pub model: String,
    /// What was used.
    pub usage: Usage,
    /// When; `None`: now.
    pub at: Option<OffsetDateTime>,
}

impl Pricing {
    /// Reads an item of the API; `Err` names the bad `at`.
    pub fn from_item(item: &CostItem) -> Result<Self, String> {
        let at = item
            .at
            .as_deref()
            .map(|text| {
                OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
                    format!("at: {text:?} is not an RFC 3339 time such as 2026-01-31T12:00:00Z")
                })
            })
            .transpose()?;
        Ok(Self {
            provider: item.provider.clone(),
            model: item.model.clone(),
            usage: item.usage,
            at,
        })
    }
}

/// Why one usage was not priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    /// No such model.
    #[error("{0}")]
    UnknownModel(String),
    /// The cost function refused it.
    #[error(transparent)]
    Cost(#[from] CostError),
}

impl PricingError {
    /// The API's error code.
    pub fn code(&self) -> &'static str {
        match self {
            PricingError::UnknownModel(_) => "unknown_model",
            PricingError::Cost(e) => e.kind.code(),
        }
    }
}

fn unknown(provider: &str, model: &str) -> PricingError {
    match ProviderId::parse(provider) {
        Err(e) => PricingError::UnknownModel(format!("provider {provider:?}: {e}")),
        Ok(_) => PricingError::UnknownModel(format!(
            "no model {model:?} is known for provider {provider}"
        )),
    }
}

/// What pricing a usage needs: the server's catalogue for "now", or none
/// (the CLI), in which case "now" is read from the history too.
pub struct Pricer<'a> {
    /// The database.
    pub store: &'a Store,
    /// The in-memory current cards.
    pub catalogue: Option<&'a Catalogue>,
    /// Round totals to this many decimal places.
    pub round: Option<u32>,
}

impl Pricer<'_> {
    /// Prices `usages` (at most [`pricesync_store::MAX_CARDS_PER_QUERY`]),
    /// answering in order. `Err` only when the database fails.
    pub async fn price(
        &self,
        usages: &[Pricing],
    ) -> StoreResult<Vec<Result<CostAnswer, PricingError>>> {
        let now = OffsetDateTime::now_utc();
        let mut results: Vec<Option<Result<CostAnswer, PricingError>>> = vec![None; usages.len()];
        // Now, from the catalogue.
        if let Some(catalogue) = self.catalogue {
            if usages.iter().any(|u| u.at.is_none()) {
                let snapshot = catalogue.snapshot().await?;
                for (usage, result) in usages.iter().zip(results.iter_mut()) {
                    if usage.at.is_some() {
                        continue;
                    }
                    *result = Some(match snapshot.card(&usage.provider, &usage.model) {
                        None => Err(unknown(&usage.provider, &usage.model)),
                        Some(card) => self.answer(usage, &card.price, now_for(&card.price, now)),
                    });
                }
            }
        }
        // At an instant (or now without a catalogue), from the history.
        let pending: Vec<usize> = (0..usages.len())
            .filter(|i| results[*i].is_none())
            .collect();
        if !pending.is_empty() {
            let asked: Vec<CardRequest<'_>> = pending
                .iter()
                .map(|i| CardRequest {
                    provider: &usages[*i].provider,
                    model_id: &usages[*i].model,
                    at: usages[*i].at.unwrap_or(now),
                })
                .collect();
            let cards = self.store.cards_at(&asked).await?;
            for ((i, card), asked) in pending.iter().zip(cards).zip(&asked) {
                let usage = &usages[*i];
                results[*i] = Some(match card {
                    None => Err(unknown(&usage.provider, &usage.model)),
                    Some(card) => self.answer(usage, &card.price_card(), asked.at),
                });
            }
        }
        Ok(results
            .into_iter()
            .zip(usages)
            .map(|(result, usage)| {
                result.unwrap_or_else(|| Err(unknown(&usage.provider, &usage.model)))
            })
            .collect())
    }

    fn answer(
        &self,
        usage: &Pricing,
        card: &PriceCard,
        at: OffsetDateTime,
    ) -> Result<CostAnswer, PricingError> {
        let breakdown = cost(card, &usage.usage, at)?;
        Ok(CostAnswer::new(
            &usage.provider,
            &usage.model,
            at,
            breakdown,
            self.round,
        ))
    }
}

/// The instant a usage "now" is priced at with a current card: the server's
/// clock, but never before the card's listing (the listing time comes from
/// the database's clock, which may run a little ahead of this one: a model
/// the catalogue lists is listed now). A removed card stays removed: its
/// removal is in the past of the database, whatever this clock says.
fn now_for(card: &PriceCard, now: OffsetDateTime) -> OffsetDateTime {
    match card.removed_at {
        Some(removed_at) => now.max(removed_at),
        None => now.max(card.listed_since),
    }
}
