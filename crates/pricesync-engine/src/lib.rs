//! The pricesync sync engine. It owns what happens to a provider's fetched
//! list: validate, diff against the stored list, write the changes (unless
//! it is a dry run) and report the counts.
//!
//! [`sync_price_list`] is the core of one provider's sync; leases, jobs, the
//! worker and the scheduler build on it.

use pricesync_domain::{
    diff_price_lists, validate_price_list, PriceDiff, ProviderId, ShrinkGuard, SkippedModel,
    SuppressedRemoval, ValidationPolicy,
};
use pricesync_providers::FetchedList;
use pricesync_store::{Store, StoreError, WriteReport};
use uuid::Uuid;

/// How a provider's list is checked and applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncOptions {
    /// Magnitude bounds and the other validation rules.
    pub validation: ValidationPolicy,
    /// When a short list may remove models.
    pub shrink_guard: ShrinkGuard,
    /// Compute and report the diff, write nothing.
    pub dry_run: bool,
}

/// What a provider's sync found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSyncSummary {
    /// Models in the fetched list (read and unreadable).
    pub fetched: usize,
    /// New models, and removed models that came back.
    pub added: usize,
    /// Models whose prices, kind or description changed.
    pub updated: usize,
    /// Models with nothing changed.
    pub unchanged: usize,
    /// Models removed from the provider's list.
    pub removed: usize,
    /// Models skipped, with reasons; their stored prices stay.
    pub skipped: Vec<SkippedModel>,
    /// Set when the shrink guard held removals back.
    pub suppressed_removal: Option<SuppressedRemoval>,
    /// The rows written (all zero in a dry run).
    pub written: WriteReport,
    /// The full diff, for dry-run reports.
    pub diff: PriceDiff,
}

/// Why a provider's sync failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Reading or writing the store failed; nothing was written.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Validates `fetched`, diffs it against the provider's stored list and, unless
/// `options.dry_run`, writes the diff in one transaction, recording `sync_id`
/// in the history.
pub async fn sync_price_list(
    store: &Store,
    provider: &ProviderId,
    fetched: FetchedList,
    options: &SyncOptions,
    sync_id: Option<Uuid>,
) -> Result<ProviderSyncSummary, SyncError> {
    let fetched_count = fetched.models.len() + fetched.skipped.len();
    let mut validated = validate_price_list(fetched.models, &options.validation);
    validated.add_skipped(fetched.skipped);
    let stored = store.load_provider_prices(provider).await?;
    let diff = diff_price_lists(&stored, &validated, options.shrink_guard);
    let written = if options.dry_run {
        WriteReport::default()
    } else {
        store
            .apply_price_diff(provider, &diff, sync_id, None)
            .await?
    };
    let (_, skipped) = validated.into_parts();
    Ok(ProviderSyncSummary {
        fetched: fetched_count,
        added: diff.added.len() + diff.reactivated.len(),
        updated: diff.updated.len(),
        unchanged: diff.unchanged.len(),
        removed: diff.removed.len(),
        skipped,
        suppressed_removal: diff.suppressed_removal,
        written,
        diff,
    })
}
