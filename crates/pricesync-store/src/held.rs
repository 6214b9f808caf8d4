//! Price changes held for an admin's decision.
//!
//! A sync that holds a change records it here, in its write transaction
//! ([`record_held!`]): one pending row per component at most. A later sync
//! that holds the same component again updates that row; a pending row the
//! provider's latest sync no longer holds (the provider went back, or moved
//! to a plausible price that was applied) is marked `superseded`. A change
//! an admin rejected is not held anew while the provider keeps listing
//! exactly that price: the model keeps its old one.
//!
//! Approval applies the change in one transaction, if the stored price is
//! still the one the change was held against, and records it in history
//! with the approver's name.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use pricesync_domain::{ComponentKey, PricingKind, UsdPerUnit};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::prices::{band_column, stored_key, stored_price, window_code};
use crate::schema::{
    held_price_changes as held, model_prices, model_pricing_history, model_status_history, models,
};
use crate::sql_types::{DbNow, SqlDecimal, SqlTime, SqlUuid};
use crate::store::{on_conn, CatalogueWrites};
use crate::webhooks::{feed_cursor, record_event, PricesChanged, WebhookEvent};
use crate::{Store, StoreError, StoreResult};

/// Where a held change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeldStatus {
    /// Waiting for a decision; the model keeps its old price.
    Pending,
    /// Approved and applied.
    Approved,
    /// Rejected: the model keeps its old price.
    Rejected,
    /// The provider no longer lists the held price.
    Superseded,
}

impl HeldStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Superseded => "superseded",
        }
    }
}

impl std::str::FromStr for HeldStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "pending" => Ok(Self::Pending),
            "approved" => Ok(Self::Approved),
            "rejected" => Ok(Self::Rejected),
            "superseded" => Ok(Self::Superseded),
            other => Err(format!(
                "unknown status {other:?}; use pending, approved, rejected or superseded"
            )),
        }
    }
}

/// A held change as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRecord {
    /// Its id.
    pub id: Uuid,
    /// The provider.
    pub provider: String,
    /// The provider's model id.
    pub model_id: String,
    /// Meter, band and window.
    pub key: ComponentKey,
    /// The price in force when the change was held.
    pub old: UsdPerUnit,
    /// The price the provider lists.
    pub new: UsdPerUnit,
    /// Where it stands.
    pub status: HeldStatus,
    /// The sync that last held it.
    pub sync_id: Option<Uuid>,
    /// When it was held (with this new price).
    pub held_at: OffsetDateTime,
    /// Who approved or rejected it.
    pub decided_by: Option<String>,
    /// When it was decided or superseded.
    pub decided_at: Option<OffsetDateTime>,
}

/// A listing of held changes, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldQuery {
    /// Only changes in this state.
    pub status: Option<HeldStatus>,
    /// Only this provider's.
    pub provider: Option<String>,
    /// Only the changes a sync held last.
    pub sync_id: Option<Uuid>,
    /// At most this many.
    pub limit: u32,
    /// Continue after this id.
    pub after: Option<Uuid>,
}

/// An admin's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Apply the new price.
    Approve,
    /// Keep the old price.
    Reject,
}

/// What a decision did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecideOutcome {
    /// Decided (and, for an approval, applied).
    Decided(HeldRecord),
    /// No such held change.
    NotFound,
    /// Already approved, rejected or superseded.
    NotPending(HeldRecord),
    /// The stored price is no longer the one the change was held against
    /// (`current`; none when the component is gone): approving would apply
    /// a change nobody reviewed. Nothing was written; the next sync of the
    /// provider settles it.
    Stale {
        /// The held change.
        record: HeldRecord,
        /// The price now stored.
        current: Option<UsdPerUnit>,
    },
}

/// A pending or rejected held change as [`record_held!`] compares it: id,
/// model, meter, band, window, old, new, status.
pub(crate) type ExistingHeld = (
    SqlUuid,
    SqlUuid,
    String,
    i64,
    String,
    SqlDecimal,
    SqlDecimal,
    String,
);

pub(crate) type HeldRow = (
    SqlUuid,
    String,
    String,
    String,
    i64,
    String,
    SqlDecimal,
    SqlDecimal,
    String,
    Option<SqlUuid>,
    SqlTime,
    Option<String>,
    Option<SqlTime>,
);

macro_rules! held_columns {
    () => {
        (
            held::id,
            models::provider,
            models::provider_model_id,
            held::meter,
            held::min_prompt_tokens,
            held::utc_window,
            held::old_usd_per_unit,
            held::new_usd_per_unit,
            held::status,
            held::sync_id,
            held::held_at,
            held::decided_by,
            held::decided_at,
        )
    };
}

fn held_record(row: HeldRow) -> StoreResult<HeldRecord> {
    let (id, provider, model_id, meter, band, window, old, new, status, sync_id, at, by, decided) =
        row;
    let what = format!("held change {}", id.0);
    let corrupt = |problem: String| StoreError::corrupt(format!("{what}: {problem}"));
    let price = |d: SqlDecimal| stored_price(&what, d);
    let key = stored_key(&what, &meter, band, &window)?;
    Ok(HeldRecord {
        id: id.0,
        provider,
        model_id,
        key,
        old: price(old)?,
        new: price(new)?,
        status: status.parse().map_err(corrupt)?,
        sync_id: sync_id.map(|u| u.0),
        held_at: at.0,
        decided_by: by,
        decided_at: decided.map(|t| t.0),
    })
}

/// Records a sync's held changes inside its write transaction, then marks
/// superseded the provider's pending changes this sync did not hold again.
/// `$held` is `&[pricesync_domain::HeldChange]`, `$ids` maps model ids to
/// database ids, `$report` is the `WriteReport` to count into. A macro so
/// that it compiles for each backend's connection, as `on_conn!` bodies do.
macro_rules! record_held {
    ($conn:expr, $provider:expr, $held:expr, $ids:expr, $sync_id:expr, $report:expr) => {{
        use $crate::schema::{held_price_changes as held, models};
        use $crate::sql_types::{DbNow, SqlDecimal, SqlUuid};
        let conn = &mut *$conn;
        let provider: &pricesync_domain::ProviderId = $provider;
        let held_changes: &[pricesync_domain::HeldChange] = $held;
        let mut keep: Vec<SqlUuid> = Vec::with_capacity(held_changes.len());
        if !held_changes.is_empty() {
            let mut model_ids = Vec::with_capacity(held_changes.len());
            for h in held_changes {
                let id = $ids.get(h.model_id.as_str()).copied().ok_or_else(|| {
                    $crate::StoreError::corrupt(format!(
                        "held model {} of {provider} is not stored",
                        h.model_id
                    ))
                })?;
                model_ids.push(SqlUuid(id));
            }
            let existing: Vec<$crate::held::ExistingHeld> = held::table
                .filter(held::model_id.eq_any(&model_ids))
                .filter(held::status.eq_any(["pending", "rejected"]))
                .select((
                    held::id,
                    held::model_id,
                    held::meter,
                    held::min_prompt_tokens,
                    held::utc_window,
                    held::old_usd_per_unit,
                    held::new_usd_per_unit,
                    held::status,
                ))
                .load(conn)
                .await?;
            for (h, model) in held_changes.iter().zip(&model_ids) {
                let meter = h.new.meter.as_str();
                let band = $crate::prices::band_column(h.new.min_prompt_tokens);
                let window = $crate::prices::window_code(h.new.window);
                let old = h.old.usd_per_unit.value();
                let new = h.new.usd_per_unit.value();
                let same_key = |row: &&$crate::held::ExistingHeld| {
                    row.1 == *model && row.2 == meter && row.3 == band && row.4 == window
                };
                let same_prices = |row: &&$crate::held::ExistingHeld| {
                    row.5 .0.normalize() == old && row.6 .0.normalize() == new
                };
                if let Some(row) = existing.iter().filter(same_key).find(|r| r.7 == "pending") {
                    if same_prices(&row) {
                        diesel::update(held::table.filter(held::id.eq(row.0)))
                            .set(held::sync_id.eq($sync_id.map(SqlUuid)))
                            .execute(conn)
                            .await?;
                    } else {
                        diesel::update(held::table.filter(held::id.eq(row.0)))
                            .set((
                                held::old_usd_per_unit.eq(SqlDecimal(old)),
                                held::new_usd_per_unit.eq(SqlDecimal(new)),
                                held::sync_id.eq($sync_id.map(SqlUuid)),
                                held::held_at.eq(DbNow),
                            ))
                            .execute(conn)
                            .await?;
                    }
                    keep.push(row.0);
                    $report.held_pending += 1;
                } else if existing
                    .iter()
                    .filter(same_key)
                    .any(|r| r.7 == "rejected" && same_prices(&r))
                {
                    $report.held_rejected_before += 1;
                } else {
                    let id = SqlUuid(uuid::Uuid::now_v7());
                    diesel::insert_into(held::table)
                        .values((
                            held::id.eq(id),
                            held::model_id.eq(*model),
                            held::meter.eq(meter),
                            held::min_prompt_tokens.eq(band),
                            held::utc_window.eq(window),
                            held::old_usd_per_unit.eq(SqlDecimal(old)),
                            held::new_usd_per_unit.eq(SqlDecimal(new)),
                            held::status.eq("pending"),
                            held::sync_id.eq($sync_id.map(SqlUuid)),
                            held::held_at.eq(DbNow),
                        ))
                        .execute(conn)
                        .await?;
                    keep.push(id);
                    $report.held_pending += 1;
                    $report.held_new += 1;
                }
            }
        }
        $report.held_superseded += diesel::update(
            held::table
                .filter(held::status.eq("pending"))
                .filter(held::id.ne_all(&keep))
                .filter(
                    held::model_id.eq_any(
                        models::table
                            .filter(models::provider.eq(provider.as_str()))
                            .select(models::id),
                    ),
                ),
        )
        .set((
            held::status.eq("superseded"),
            held::decided_at.eq(DbNow.nullable()),
        ))
        .execute(conn)
        .await?;
    }};
}
pub(crate) use record_held;

impl Store {
    /// Held changes, oldest first, a page at a time.
    pub async fn list_held_changes(&self, query: &HeldQuery) -> StoreResult<Vec<HeldRecord>> {
        let rows: Vec<HeldRow> = on_conn!(self, readers, |conn| {
            let mut q = held::table
                .inner_join(models::table)
                .select(held_columns!())
                .order(held::id)
                .limit(i64::from(query.limit))
                .into_boxed();
            if let Some(status) = query.status {
                q = q.filter(held::status.eq(status.as_str()));
            }
            if let Some(provider) = &query.provider {
                q = q.filter(models::provider.eq(provider.clone()));
            }
            if let Some(sync_id) = query.sync_id {
                q = q.filter(held::sync_id.eq(SqlUuid(sync_id)));
            }
            if let Some(after) = query.after {
                q = q.filter(held::id.gt(SqlUuid(after)));
            }
            q.load(conn).await?
        });
        rows.into_iter().map(held_record).collect()
    }

    /// One held change.
    pub async fn get_held_change(&self, id: Uuid) -> StoreResult<Option<HeldRecord>> {
        let row: Option<HeldRow> = on_conn!(self, readers, |conn| {
            held::table
                .inner_join(models::table)
                .filter(held::id.eq(SqlUuid(id)))
                .select(held_columns!())
                .first(conn)
                .await
                .optional()?
        });
        row.map(held_record).transpose()
    }

    /// Approves (applies, recorded in history with `by`) or rejects a
    /// pending held change, in one transaction.
    pub async fn decide_held_change(
        &self,
        id: Uuid,
        decision: Decision,
        by: &str,
    ) -> StoreResult<DecideOutcome> {
        let status = match decision {
            Decision::Approve => HeldStatus::Approved,
            Decision::Reject => HeldStatus::Rejected,
        };
        let outcome = on_conn!(self, writer, |conn| {
            conn.transaction(async |conn| -> StoreResult<DecideOutcome> {
                // First, before any row lock: an approval writes history,
                // whose ids must follow commit order (`CatalogueWrites`). A
                // rejection writes no price and does not queue behind syncs.
                if decision == Decision::Approve {
                    conn.lock_catalogue().await?;
                }
                let row: Option<(HeldRow, SqlUuid)> = held::table
                    .inner_join(models::table)
                    .filter(held::id.eq(SqlUuid(id)))
                    .select((held_columns!(), held::model_id))
                    .first(conn)
                    .await
                    .optional()?;
                let Some((row, model_uuid)) = row else {
                    return Ok(DecideOutcome::NotFound);
                };
                let record = held_record(row)?;
                if record.status != HeldStatus::Pending {
                    return Ok(DecideOutcome::NotPending(record));
                }
                let meter = record.key.meter.as_str();
                let band = band_column(record.key.min_prompt_tokens);
                let window = window_code(record.key.window);
                let price_row = model_prices::table
                    .filter(model_prices::model_id.eq(model_uuid))
                    .filter(model_prices::meter.eq(meter))
                    .filter(model_prices::min_prompt_tokens.eq(band))
                    .filter(model_prices::utc_window.eq(&window));
                if decision == Decision::Approve {
                    let current: Option<SqlDecimal> = price_row
                        .select(model_prices::usd_per_unit)
                        .first(conn)
                        .await
                        .optional()?;
                    let current = current
                        .map(|d| UsdPerUnit::new(d.0))
                        .transpose()
                        .map_err(|e| StoreError::corrupt_because("a stored price", e))?;
                    if current != Some(record.old) {
                        return Ok(DecideOutcome::Stale { record, current });
                    }
                }
                // Guarded: of two admins deciding at once, one wins.
                let decided = diesel::update(
                    held::table
                        .filter(held::id.eq(SqlUuid(id)))
                        .filter(held::status.eq(HeldStatus::Pending.as_str())),
                )
                .set((
                    held::status.eq(status.as_str()),
                    held::decided_by.eq(by),
                    held::decided_at.eq(DbNow.nullable()),
                ))
                .execute(conn)
                .await?;
                if decided == 0 {
                    return Ok(DecideOutcome::NotPending(record));
                }
                if decision == Decision::Approve {
                    diesel::update(price_row)
                        .set((
                            model_prices::usd_per_unit.eq(SqlDecimal(record.new.value())),
                            model_prices::updated_at.eq(DbNow),
                        ))
                        .execute(conn)
                        .await?;
                    let changes_after = feed_cursor!(conn);
                    diesel::insert_into(model_pricing_history::table)
                        .values((
                            model_pricing_history::model_id.eq(model_uuid),
                            model_pricing_history::meter.eq(meter),
                            model_pricing_history::min_prompt_tokens.eq(band),
                            model_pricing_history::utc_window.eq(&window),
                            model_pricing_history::change.eq("changed"),
                            model_pricing_history::old_usd_per_unit
                                .eq(Some(SqlDecimal(record.old.value()))),
                            model_pricing_history::new_usd_per_unit
                                .eq(Some(SqlDecimal(record.new.value()))),
                            model_pricing_history::sync_id.eq(record.sync_id.map(SqlUuid)),
                            model_pricing_history::approved_by.eq(Some(by)),
                        ))
                        .execute(conn)
                        .await?;
                    // Free versus metered follows the numbers.
                    let prices: Vec<SqlDecimal> = model_prices::table
                        .filter(model_prices::model_id.eq(model_uuid))
                        .select(model_prices::usd_per_unit)
                        .load(conn)
                        .await?;
                    let kind = if prices.iter().all(|p| p.0.is_zero()) {
                        PricingKind::Free
                    } else {
                        PricingKind::Metered
                    };
                    let kind_changed = diesel::update(
                        models::table
                            .filter(models::id.eq(model_uuid))
                            .filter(models::pricing_kind.eq_any([
                                PricingKind::Free.as_str(),
                                PricingKind::Metered.as_str(),
                            ]))
                            .filter(models::pricing_kind.ne(kind.as_str())),
                    )
                    .set(models::pricing_kind.eq(kind.as_str()))
                    .execute(conn)
                    .await?;
                    diesel::update(models::table.filter(models::id.eq(model_uuid)))
                        .set(models::updated_at.eq(DbNow))
                        .execute(conn)
                        .await?;
                    if kind_changed == 1 {
                        // The card at an instant reads the kind from here.
                        diesel::insert_into(model_status_history::table)
                            .values((
                                model_status_history::model_id.eq(model_uuid),
                                model_status_history::change.eq("kind_changed"),
                                model_status_history::pricing_kind.eq(kind.as_str()),
                                model_status_history::sync_id.eq(record.sync_id.map(SqlUuid)),
                            ))
                            .execute(conn)
                            .await?;
                    }
                    record_event!(
                        conn,
                        WebhookEvent::PricesChanged,
                        &PricesChanged::new(
                            &record.provider,
                            record.sync_id,
                            Some(by),
                            [0, 1, 0],
                            1,
                            changes_after,
                        )
                    );
                    // Last, as in every price write: the replicas' in-memory
                    // catalogues and change feeds wake.
                    conn.catalogue_written().await?;
                }
                let row: HeldRow = held::table
                    .inner_join(models::table)
                    .filter(held::id.eq(SqlUuid(id)))
                    .select(held_columns!())
                    .first(conn)
                    .await?;
                Ok(DecideOutcome::Decided(held_record(row)?))
            })
            .await?
        });
        if matches!(&outcome, DecideOutcome::Decided(r) if r.status == HeldStatus::Approved) {
            self.price_write_committed();
        }
        Ok(outcome)
    }
}
