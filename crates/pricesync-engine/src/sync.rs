//! One provider's list: validate, diff against the stored list, write.

use pricesync_domain::{
    diff_price_lists, hold_implausible_changes, validate_price_list, HoldPolicy, PriceDiff,
    ProviderId, ShrinkGuard, SkippedModel, SuppressedRemoval, ValidationPolicy,
};
use pricesync_providers::FetchedList;
use pricesync_store::{Fence, Store, StoreResult, WriteReport};
use uuid::Uuid;

/// How a provider's list is checked and applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncOptions {
    /// Magnitude bounds and the other validation rules.
    pub validation: ValidationPolicy,
    /// When a short list may remove models.
    pub shrink_guard: ShrinkGuard,
    /// Which price moves are held for an admin's approval.
    pub hold: HoldPolicy,
    /// Compute and report the diff, write nothing.
    pub dry_run: bool,
}

/// A validated, diffed list, not yet written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPlan {
    /// Models in the fetched list (read and unreadable).
    pub fetched: usize,
    /// Models skipped, with reasons; their stored prices stay.
    pub skipped: Vec<SkippedModel>,
    /// What writing would change.
    pub diff: PriceDiff,
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
    /// Price changes held for an admin's approval (not applied).
    pub held: usize,
    /// Models skipped, with reasons; their stored prices stay.
    pub skipped: Vec<SkippedModel>,
    /// Set when the shrink guard held removals back.
    pub suppressed_removal: Option<SuppressedRemoval>,
    /// The rows written (all zero in a dry run).
    pub written: WriteReport,
    /// The full diff, for dry-run reports.
    pub diff: PriceDiff,
}

/// Validates `fetched` and diffs it against the provider's stored list.
pub async fn plan_price_list(
    store: &Store,
    provider: &ProviderId,
    fetched: FetchedList,
    options: &SyncOptions,
) -> StoreResult<SyncPlan> {
    let fetched_count = fetched.models.len() + fetched.skipped.len();
    let mut validated = validate_price_list(fetched.models, &options.validation);
    validated.add_skipped(fetched.skipped);
    let stored = store.load_provider_prices(provider).await?;
    let mut diff = diff_price_lists(&stored, &validated, options.shrink_guard);
    hold_implausible_changes(&mut diff, options.hold);
    let (_, skipped) = validated.into_parts();
    Ok(SyncPlan {
        fetched: fetched_count,
        skipped,
        diff,
    })
}

/// Writes a plan in one transaction (nothing in a dry run), fenced by the
/// provider's lease when `fence` is given, recording `sync_id` in history.
/// A write the fence rejects is [`pricesync_store::StoreError::FenceRejected`]
/// and writes nothing.
pub async fn write_plan(
    store: &Store,
    provider: &ProviderId,
    plan: SyncPlan,
    options: &SyncOptions,
    sync_id: Option<Uuid>,
    fence: Option<&Fence>,
) -> StoreResult<ProviderSyncSummary> {
    let written = if options.dry_run {
        WriteReport::default()
    } else {
        store
            .apply_price_diff(provider, &plan.diff, sync_id, fence)
            .await?
    };
    let diff = plan.diff;
    Ok(ProviderSyncSummary {
        fetched: plan.fetched,
        added: diff.added.len() + diff.reactivated.len(),
        updated: diff.updated.len(),
        unchanged: diff.unchanged.len(),
        removed: diff.removed.len(),
        held: diff.held.len(),
        skipped: plan.skipped,
        suppressed_removal: diff.suppressed_removal,
        written,
        diff,
    })
}

/// [`plan_price_list`] then [`write_plan`].
pub async fn sync_price_list(
    store: &Store,
    provider: &ProviderId,
    fetched: FetchedList,
    options: &SyncOptions,
    sync_id: Option<Uuid>,
    fence: Option<&Fence>,
) -> StoreResult<ProviderSyncSummary> {
    let plan = plan_price_list(store, provider, fetched, options).await?;
    write_plan(store, provider, plan, options, sync_id, fence).await
}
