//! Bodies of what a sync saw and held: the models it skipped, a dry run's
//! diff, and the price changes held for an admin's decision.

use pricesync_domain::{ComponentChangeKind, Meter, ModelChangeKind, TimeWindow, UsdPerUnit};
use pricesync_store::{HeldRecord, HeldStatus, PlannedRecord, SkippedRecord};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{rfc3339, take_page};

/// A report page's cursor as clients see it: `provider:position`.
pub(crate) fn encode_report_cursor(provider: &str, seq: u32) -> String {
    format!("{provider}:{seq}")
}

/// Reads a cursor written by [`encode_report_cursor`].
pub(crate) fn parse_report_cursor(text: &str) -> Result<(String, u32), String> {
    text.split_once(':')
        .and_then(|(provider, seq)| Some((provider.to_owned(), seq.parse::<u32>().ok()?)))
        .filter(|(provider, _)| pricesync_domain::ProviderId::parse(provider).is_ok())
        .ok_or_else(|| {
            format!("cursor {text:?} is not valid; pass the next_cursor of the previous page")
        })
}

/// One model a sync skipped: it is still listed by the provider, but
/// pricesync could not take its price, so its stored price (if any) stays.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkippedModel {
    /// The provider.
    #[schema(example = "openrouter")]
    pub provider: String,
    /// The provider's model id as given.
    #[schema(example = "openai/tts-1")]
    pub model_id: String,
    /// The reason code: one of `pricesync_domain::SkipReason::CODES`.
    #[schema(example = "unsupported_pricing")]
    pub reason: String,
    /// The reason in words.
    pub detail: String,
}

/// A page of the models a sync skipped, by provider.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkippedPage {
    /// The sync.
    pub sync_id: Uuid,
    /// The skipped models.
    pub skipped: Vec<SkippedModel>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[schema(required = true, example = "openrouter:99")]
    pub next_cursor: Option<String>,
}

impl SkippedPage {
    /// A page from one more record than asked (the extra one says another
    /// page exists).
    pub(crate) fn page(sync_id: Uuid, mut records: Vec<SkippedRecord>, limit: usize) -> Self {
        let next_cursor = take_page(&mut records, limit, |r| {
            encode_report_cursor(&r.provider, r.seq)
        });
        Self {
            sync_id,
            skipped: records
                .into_iter()
                .map(|r| SkippedModel {
                    provider: r.provider,
                    model_id: r.provider_model_id,
                    reason: r.reason,
                    detail: r.detail,
                })
                .collect(),
            next_cursor,
        }
    }
}

/// One line of a dry run's diff: a component change of a model, or (with
/// no meter) a model whose kind or descriptive fields alone change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlannedChange {
    /// The provider.
    pub provider: String,
    /// The provider's model id.
    pub model_id: String,
    /// How the model changes.
    pub model_change: ModelChangeKind,
    /// The component's meter (absent: the model's kind or descriptive
    /// fields change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter: Option<Meter>,
    /// The component's band: prompts of more than this many tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_prompt_tokens: Option<u64>,
    /// The component's UTC time-of-day window (absent: any time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<TimeWindow>,
    /// How the component changes; `held` would be held for approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<ComponentChangeKind>,
    /// The price in force before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_usd_per_unit: Option<UsdPerUnit>,
    /// The price after (for `held`: the listed price, not applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_usd_per_unit: Option<UsdPerUnit>,
}

/// A page of a dry run's diff, by provider.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangesPage {
    /// The sync.
    pub sync_id: Uuid,
    /// The changes it would make.
    pub changes: Vec<PlannedChange>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[schema(required = true, example = "openrouter:99")]
    pub next_cursor: Option<String>,
}

impl ChangesPage {
    /// A page from one more record than asked.
    pub(crate) fn page(sync_id: Uuid, mut records: Vec<PlannedRecord>, limit: usize) -> Self {
        let next_cursor = take_page(&mut records, limit, |r| {
            encode_report_cursor(&r.provider, r.seq)
        });
        Self {
            sync_id,
            changes: records
                .into_iter()
                .map(|r| {
                    let c = r.entry.component;
                    PlannedChange {
                        provider: r.provider,
                        model_id: r.entry.model_id.as_str().to_owned(),
                        model_change: r.entry.model_change,
                        meter: c.map(|c| c.key.meter),
                        min_prompt_tokens: c.map(|c| c.key.min_prompt_tokens),
                        window: c.and_then(|c| c.key.window),
                        change: c.map(|c| c.change),
                        old_usd_per_unit: c.and_then(|c| c.old),
                        new_usd_per_unit: c.and_then(|c| c.new),
                    }
                })
                .collect(),
            next_cursor,
        }
    }
}

/// Where a held change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HeldChangeStatus {
    /// Waiting for a decision; the model keeps its old price.
    Pending,
    /// Approved and applied.
    Approved,
    /// Rejected: the model keeps its old price.
    Rejected,
    /// The provider no longer lists the held price.
    Superseded,
}

impl From<HeldStatus> for HeldChangeStatus {
    fn from(status: HeldStatus) -> Self {
        match status {
            HeldStatus::Pending => Self::Pending,
            HeldStatus::Approved => Self::Approved,
            HeldStatus::Rejected => Self::Rejected,
            HeldStatus::Superseded => Self::Superseded,
        }
    }
}

/// A price change held for an admin's decision.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeldChange {
    /// Its id.
    pub id: Uuid,
    /// The provider.
    pub provider: String,
    /// The provider's model id.
    pub model_id: String,
    /// The meter.
    pub meter: Meter,
    /// The band: prompts of more than this many tokens (0: the base price).
    pub min_prompt_tokens: u64,
    /// The UTC time-of-day window (absent: any time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<TimeWindow>,
    /// The price in force (kept until approval).
    pub old_usd_per_unit: UsdPerUnit,
    /// The price the provider lists.
    pub new_usd_per_unit: UsdPerUnit,
    /// new / old, to 6 significant places; null when old is zero.
    #[schema(required = true, value_type = Option<String>, example = "0.001")]
    pub ratio: Option<String>,
    /// Where it stands.
    pub status: HeldChangeStatus,
    /// The sync that last held it.
    #[schema(required = true)]
    pub sync_id: Option<Uuid>,
    /// When it was held with this new price.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub held_at: OffsetDateTime,
    /// Who approved or rejected it.
    #[schema(required = true)]
    pub decided_by: Option<String>,
    /// When it was decided or superseded.
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub decided_at: Option<OffsetDateTime>,
}

impl From<HeldRecord> for HeldChange {
    fn from(r: HeldRecord) -> Self {
        let ratio = (!r.old.is_zero())
            .then(|| r.new.value().checked_div(r.old.value()))
            .flatten()
            .map(|q| q.round_sf(6).unwrap_or(q).normalize().to_string());
        Self {
            id: r.id,
            provider: r.provider,
            model_id: r.model_id,
            meter: r.key.meter,
            min_prompt_tokens: r.key.min_prompt_tokens,
            window: r.key.window,
            old_usd_per_unit: r.old,
            new_usd_per_unit: r.new,
            ratio,
            status: r.status.into(),
            sync_id: r.sync_id,
            held_at: r.held_at,
            decided_by: r.decided_by,
            decided_at: r.decided_at,
        }
    }
}

/// Why approving a held change applied nothing: the stored price moved
/// since it was held (`current`; none when the component is gone).
pub(crate) fn stale_message(record: &HeldRecord, current: Option<UsdPerUnit>) -> String {
    format!(
        "the stored price of {}/{} {} is now {}, not {} as when the change was held; nothing was applied (the provider's next sync settles it)",
        record.provider,
        record.model_id,
        record.key.meter.as_str(),
        current.map_or_else(|| "gone".to_owned(), |p| p.to_string()),
        record.old
    )
}

/// A page of held changes, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeldChangePage {
    /// The held changes.
    pub held_changes: Vec<HeldChange>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[schema(required = true, format = Uuid)]
    pub next_cursor: Option<String>,
}

impl HeldChangePage {
    /// A page from one more record than asked.
    pub(crate) fn page(mut records: Vec<HeldRecord>, limit: usize) -> Self {
        let next_cursor = take_page(&mut records, limit, |r| r.id.to_string());
        Self {
            held_changes: records.into_iter().map(HeldChange::from).collect(),
            next_cursor,
        }
    }
}
