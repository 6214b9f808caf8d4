//! The JSON the client reads from the server: the catalogue, the change
//! feed and errors. Only the fields the client uses; unknown fields are
//! ignored, so a newer server does not break an older client.

use pricesync_domain::PriceCard;
use serde::Deserialize;

/// One model's current card.
#[derive(Debug, Deserialize)]
pub(crate) struct FeedCard {
    pub provider: String,
    pub model_id: String,
    pub card: PriceCard,
}

/// `GET /v1/pricing/catalogue`.
#[derive(Debug, Deserialize)]
pub(crate) struct CatalogueAnswer {
    pub cursor: String,
    pub cards: Vec<FeedCard>,
}

/// `GET /v1/pricing/changes`.
#[derive(Debug, Deserialize)]
pub(crate) struct ChangePage {
    pub cards: Vec<FeedCard>,
    pub cursor: String,
    pub more: bool,
}

/// Every error answer.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    pub error: String,
    pub message: String,
}
