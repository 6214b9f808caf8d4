//! Bodies of the read API: models with their prices, and price history.

use pricesync_domain::{
    Meter, ModelStatus, PriceComponent, PriceSource, PricingKind, ProviderId, TimeWindow,
    UsdPerUnit,
};
use pricesync_store as store;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::rfc3339;

/// A model with its current prices, or with its prices at an instant
/// (`GET /v1/pricing/models/{provider}/{model_id}?at=`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// The provider.
    #[schema(example = "openrouter")]
    provider: String,
    /// The provider's model id (may hold slashes).
    #[schema(example = "anthropic/claude-sonnet-4.5")]
    model_id: String,
    /// Human-readable name.
    #[schema(required = true)]
    display_name: Option<String>,
    /// How the model is priced.
    pricing_kind: PricingKind,
    /// Active or removed.
    status: ModelStatus,
    /// API or manual table.
    source: PriceSource,
    /// Context window in tokens.
    #[schema(required = true)]
    context_length: Option<u64>,
    /// Current (for removed models: last known) price components; with
    /// `?at=`, those in force at that instant.
    prices: Vec<Price>,
    /// With `?at=`: the instant the card is for (`status`, `pricing_kind`
    /// and `prices` are those of that instant; the descriptive fields are
    /// current).
    #[serde(
        default,
        with = "rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    at: Option<OffsetDateTime>,
    /// With `?at=`: since when the model was listed (its last listing at or
    /// before `at`).
    #[serde(
        default,
        with = "rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    listed_since: Option<OffsetDateTime>,
    /// When pricesync first saw the model.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    first_seen_at: OffsetDateTime,
    /// When the model's row last changed; with `?at=`, the last change of
    /// its card at or before `at`.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    updated_at: OffsetDateTime,
    /// When the model disappeared from its provider's list.
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    removed_at: Option<OffsetDateTime>,
}

impl From<store::ModelRecord> for Model {
    fn from(m: store::ModelRecord) -> Self {
        Self {
            provider: m.provider,
            model_id: m.model_id,
            display_name: m.display_name,
            pricing_kind: m.pricing_kind,
            status: m.status,
            source: m.source,
            context_length: m.context_length,
            prices: m.prices.into_iter().map(Price::from).collect(),
            at: None,
            listed_since: None,
            first_seen_at: m.first_seen_at,
            updated_at: m.updated_at,
            removed_at: m.removed_at,
        }
    }
}

impl Model {
    /// The card of a model listed at `at`.
    pub(crate) fn at_instant(card: store::ModelCard, at: OffsetDateTime) -> Self {
        let updated_at = card.changed_at();
        let (status, listed_since, removed_at) = match card.listing {
            store::Listing::Listed { since } => (ModelStatus::Active, Some(since), None),
            store::Listing::Removed {
                listed_since,
                removed_at,
            } => (ModelStatus::Removed, Some(listed_since), Some(removed_at)),
            store::Listing::NotYet { .. } => (ModelStatus::Active, None, None),
        };
        Self {
            provider: card.provider,
            model_id: card.model_id,
            display_name: card.display_name,
            pricing_kind: card.pricing_kind,
            status,
            source: card.source,
            context_length: card.context_length,
            prices: card
                .components
                .into_iter()
                .map(|c| Price {
                    since: Some(c.since),
                    ..Price::from(c.component)
                })
                .collect(),
            at: Some(at),
            listed_since,
            first_seen_at: card.first_seen_at,
            updated_at,
            removed_at,
        }
    }
}

/// One price of a model: so many USD per unit of a meter, from a prompt
/// size, at a time of day or at any time.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// What is charged.
    meter: Meter,
    /// The band applies to prompts of more than this many tokens (0 = the
    /// base price).
    min_prompt_tokens: u64,
    /// The UTC time-of-day window of a time-of-day price (absent: any
    /// time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window: Option<TimeWindow>,
    /// The exact price of one unit.
    usd_per_unit: UsdPerUnit,
    /// With `?at=`: since when this price was in force.
    #[serde(
        default,
        with = "rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    since: Option<OffsetDateTime>,
}

impl From<PriceComponent> for Price {
    fn from(c: PriceComponent) -> Self {
        Self {
            meter: c.meter,
            min_prompt_tokens: c.min_prompt_tokens,
            window: c.window,
            usd_per_unit: c.usd_per_unit,
            since: None,
        }
    }
}

/// A page of models, ordered by provider then model id.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelPage {
    /// The models.
    models: Vec<Model>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[schema(required = true, example = "openrouter:anthropic/claude-sonnet-4.5")]
    next_cursor: Option<String>,
}

impl From<store::ModelPage> for ModelPage {
    fn from(page: store::ModelPage) -> Self {
        Self {
            models: page.models.into_iter().map(Model::from).collect(),
            next_cursor: page.next_cursor.as_ref().map(encode_model_cursor),
        }
    }
}

/// A model listing's cursor as clients see it: `provider:model_id`
/// (provider names hold no colon; model ids may).
pub(crate) fn encode_model_cursor(cursor: &store::ModelCursor) -> String {
    format!("{}:{}", cursor.provider, cursor.model_id)
}

/// Reads a cursor written by [`encode_model_cursor`].
pub(crate) fn parse_model_cursor(text: &str) -> Result<store::ModelCursor, String> {
    match text.split_once(':') {
        Some((provider, model_id))
            if ProviderId::parse(provider).is_ok() && !model_id.is_empty() =>
        {
            Ok(store::ModelCursor {
                provider: provider.to_owned(),
                model_id: model_id.to_owned(),
            })
        }
        _ => Err(format!(
            "cursor {text:?} is not valid; pass the next_cursor of the previous page"
        )),
    }
}

/// Which models a listing includes (`status` of `GET /v1/pricing/models`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[schema(as = ModelStatusFilter)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StatusParam {
    /// Models in their provider's latest list (the default).
    #[default]
    Active,
    /// Models no longer listed.
    Removed,
    /// Both.
    All,
}

impl std::str::FromStr for StatusParam {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "active" => Ok(Self::Active),
            "removed" => Ok(Self::Removed),
            "all" => Ok(Self::All),
            other => Err(format!(
                "unknown status {other:?}; use active, removed or all"
            )),
        }
    }
}

impl From<StatusParam> for store::StatusFilter {
    fn from(status: StatusParam) -> Self {
        match status {
            StatusParam::Active => Self::Active,
            StatusParam::Removed => Self::Removed,
            StatusParam::All => Self::All,
        }
    }
}

/// What happened to a price component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HistoryChange {
    /// It appeared.
    Added,
    /// Its price changed.
    Changed,
    /// It disappeared (or its model was removed).
    Removed,
}

impl From<store::HistoryChange> for HistoryChange {
    fn from(change: store::HistoryChange) -> Self {
        match change {
            store::HistoryChange::Added => Self::Added,
            store::HistoryChange::Changed => Self::Changed,
            store::HistoryChange::Removed => Self::Removed,
        }
    }
}

/// One change of one price component.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    /// The entry's id: entries are ordered by it.
    pub(crate) id: i64,
    /// The provider.
    provider: String,
    /// The provider's model id.
    model_id: String,
    /// The meter.
    meter: Meter,
    /// The band: it applies to prompts of more than this many tokens (0:
    /// the base price).
    min_prompt_tokens: u64,
    /// The UTC time-of-day window of a time-of-day price (absent: any
    /// time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window: Option<TimeWindow>,
    /// Added, changed or removed.
    change: HistoryChange,
    /// The price before (null when added).
    #[schema(required = true)]
    old_usd_per_unit: Option<UsdPerUnit>,
    /// The price after (null when removed).
    #[schema(required = true)]
    new_usd_per_unit: Option<UsdPerUnit>,
    /// The sync that made the change.
    #[schema(required = true)]
    sync_id: Option<Uuid>,
    /// When.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    changed_at: OffsetDateTime,
    /// The admin who approved the change, when it was held for approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    approved_by: Option<String>,
}

impl From<store::HistoryEntry> for HistoryEntry {
    fn from(e: store::HistoryEntry) -> Self {
        Self {
            id: e.id,
            provider: e.provider,
            model_id: e.model_id,
            meter: e.meter,
            min_prompt_tokens: e.min_prompt_tokens,
            window: e.window,
            change: e.change.into(),
            old_usd_per_unit: e.old_usd_per_unit,
            new_usd_per_unit: e.new_usd_per_unit,
            sync_id: e.sync_id,
            changed_at: e.changed_at,
            approved_by: e.approved_by,
        }
    }
}

/// A page of price history, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryPage {
    /// The changes.
    entries: Vec<HistoryEntry>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[schema(required = true, example = "1234")]
    next_cursor: Option<String>,
}

impl From<store::HistoryPage> for HistoryPage {
    fn from(page: store::HistoryPage) -> Self {
        Self {
            entries: page.entries.into_iter().map(HistoryEntry::from).collect(),
            next_cursor: page.next_cursor.map(|id| id.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_cursors_read_back() {
        let cursor = store::ModelCursor {
            provider: "openrouter".to_owned(),
            model_id: "a/b:free".to_owned(),
        };
        let text = encode_model_cursor(&cursor);
        assert_eq!(text, "openrouter:a/b:free");
        assert_eq!(parse_model_cursor(&text), Ok(cursor));
        assert!(parse_model_cursor("nonsense").is_err());
        assert!(parse_model_cursor("Bad Provider:x").is_err());
        assert!(parse_model_cursor("openrouter:").is_err());
    }
}
