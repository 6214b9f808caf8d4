//! Bodies of the catalogue and the change feed (`GET /v1/pricing/catalogue`,
//! `GET /v1/pricing/changes`): what a client needs to keep a copy of every
//! current card and follow it without gaps.

use pricesync_domain::PriceCard;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::read::HistoryEntry;
use crate::catalogue::CatalogueCard;

/// One model's current price card, as the cost function reads it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedCard {
    /// The provider.
    pub provider: String,
    /// The provider's model id.
    pub model_id: String,
    /// The card: kind, listing, components each with since when.
    pub card: PriceCard,
}

impl From<&CatalogueCard> for FeedCard {
    fn from(card: &CatalogueCard) -> Self {
        Self {
            provider: card.card.provider.clone(),
            model_id: card.card.model_id.clone(),
            card: card.price.clone(),
        }
    }
}

/// Every model's current card with the change feed cursor that follows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogueAnswer {
    /// Pass as `after` to `GET /v1/pricing/changes`: the cards hold every
    /// change up to it (a later one may be in the cards and sent again by
    /// the feed; applying a card twice changes nothing).
    #[schema(example = "1234")]
    pub cursor: String,
    /// Every model, active and removed.
    pub cards: Vec<FeedCard>,
}

/// Price changes after a cursor, oldest first, with the current card of
/// each model they name.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePage {
    /// The changes, in commit order (by id).
    pub changes: Vec<HistoryEntry>,
    /// The current card of each model the changes name (current as of the
    /// answer: it may hold later changes, which the feed sends again).
    pub cards: Vec<FeedCard>,
    /// Pass as `after` to get the next changes: the id of the last change
    /// sent, or the `after` asked when there is none.
    #[schema(example = "1234")]
    pub cursor: String,
    /// Whether more changes wait after this page (ask again at once).
    pub more: bool,
}
