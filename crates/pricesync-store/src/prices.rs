//! Loading a provider's stored prices and writing a diff, batched.

use std::collections::{BTreeMap, HashMap};

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use pricesync_domain::{
    ComponentChange, ComponentKey, Meter, ModelId, ModelOffering, ModelStatus, PriceComponent,
    PriceDiff, PriceSource, PricingKind, ProviderId, StoredOffering, TimeWindow, UsdPerUnit,
    WindowError,
};
use uuid::Uuid;

use crate::batch::{binds, BatchInsert, InsertRow, Upsert};
use crate::held::record_held;
use crate::leases::LeaseConn;
use crate::schema::{model_prices, models};
use crate::sql_types::{DbDecimal, DbNow, DbUuid, SqlDecimal, SqlUuid};
use crate::store::{on_conn, CatalogueWrites};
use crate::webhooks::{feed_cursor, record_event, PriceChangeHeld, PricesChanged, WebhookEvent};
use crate::{Fence, Store, StoreError, StoreResult};
use diesel::backend::Backend;
use diesel::query_builder::AstPass;
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType, Nullable, Text};

/// The most rows one INSERT, UPDATE or DELETE carries. Keeps every statement
/// well under PostgreSQL's 65,535 and SQLite's 32,766 bind parameters.
pub const MAX_ROWS_PER_STATEMENT: usize = 1000;

/// A write that inserts at least this many models refreshes the
/// statistics of the catalogue's tables on PostgreSQL.
const ANALYZE_AFTER_NEW_MODELS: usize = 100;

/// What [`Store::apply_price_diff`] wrote, row by row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// New rows in `models`.
    pub models_inserted: usize,
    /// Rows of `models` updated (prices, kind, metadata or reactivation).
    pub models_updated: usize,
    /// Rows of `models` marked removed.
    pub models_removed: usize,
    /// Rows of `model_prices` inserted or updated.
    pub prices_written: usize,
    /// Rows of `model_prices` deleted.
    pub prices_deleted: usize,
    /// Rows of `model_pricing_history` inserted.
    pub history_rows: usize,
    /// Held changes pending after the write (new or held again).
    pub held_pending: usize,
    /// Of those, the changes held for the first time.
    pub held_new: usize,
    /// Held changes not held anew because an admin rejected exactly them.
    pub held_rejected_before: usize,
    /// Pending held changes the provider no longer lists, now superseded.
    pub held_superseded: usize,
    /// Rows of `model_status_history` inserted (a model listed, relisted,
    /// removed, or its pricing kind changed).
    pub status_rows: usize,
}

impl WriteReport {
    /// Every model, price and history row written (held changes are
    /// bookkeeping, counted apart).
    pub fn rows_written(&self) -> usize {
        self.models_inserted
            + self.models_updated
            + self.models_removed
            + self.prices_written
            + self.prices_deleted
            + self.history_rows
            + self.status_rows
    }
}

struct NewModel<'a> {
    id: SqlUuid,
    provider: &'a str,
    provider_model_id: &'a str,
    display_name: Option<&'a str>,
    pricing_kind: &'static str,
    status: &'static str,
    source: &'static str,
    context_length: Option<i64>,
    last_sync_id: Option<SqlUuid>,
}

struct NewPrice {
    model_id: SqlUuid,
    meter: &'static str,
    min_prompt_tokens: i64,
    utc_window: String,
    usd_per_unit: SqlDecimal,
}

struct NewHistory {
    model_id: SqlUuid,
    meter: &'static str,
    min_prompt_tokens: i64,
    utc_window: String,
    change: &'static str,
    old_usd_per_unit: Option<SqlDecimal>,
    new_usd_per_unit: Option<SqlDecimal>,
    sync_id: Option<SqlUuid>,
}

/// A change of a model's listing or pricing kind.
struct NewStatus {
    model_id: SqlUuid,
    change: &'static str,
    pricing_kind: &'static str,
    sync_id: Option<SqlUuid>,
}

impl<DB> InsertRow<DB> for NewStatus
where
    DB: Backend + HasSqlType<DbUuid>,
    SqlUuid: ToSql<DbUuid, DB>,
    str: ToSql<Text, DB>,
    Option<SqlUuid>: ToSql<Nullable<DbUuid>, DB>,
{
    const TABLE: &'static str = "model_status_history";
    const COLUMNS: &'static str = "model_id, change, pricing_kind, sync_id";
    fn walk<'b>(&'b self, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()> {
        binds!(out;
            DbUuid => &self.model_id,
            Text => self.change,
            Text => self.pricing_kind,
            Nullable<DbUuid> => &self.sync_id,
        )
    }
}

impl<'a, DB> InsertRow<DB> for NewModel<'a>
where
    DB: Backend + HasSqlType<DbUuid>,
    SqlUuid: ToSql<DbUuid, DB>,
    str: ToSql<Text, DB>,
    Option<&'a str>: ToSql<Nullable<Text>, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
    Option<SqlUuid>: ToSql<Nullable<DbUuid>, DB>,
{
    const TABLE: &'static str = "models";
    const COLUMNS: &'static str = "id, provider, provider_model_id, display_name, pricing_kind, \
        status, source, context_length, last_sync_id";
    fn walk<'b>(&'b self, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()> {
        binds!(out;
            DbUuid => &self.id,
            Text => self.provider,
            Text => self.provider_model_id,
            Nullable<Text> => &self.display_name,
            Text => self.pricing_kind,
            Text => self.status,
            Text => self.source,
            Nullable<BigInt> => &self.context_length,
            Nullable<DbUuid> => &self.last_sync_id,
        )
    }
}

impl<DB> InsertRow<DB> for NewPrice
where
    DB: Backend + HasSqlType<DbUuid> + HasSqlType<DbDecimal>,
    SqlUuid: ToSql<DbUuid, DB>,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    SqlDecimal: ToSql<DbDecimal, DB>,
{
    const TABLE: &'static str = "model_prices";
    const COLUMNS: &'static str = "model_id, meter, min_prompt_tokens, utc_window, usd_per_unit";
    fn walk<'b>(&'b self, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()> {
        binds!(out;
            DbUuid => &self.model_id,
            Text => self.meter,
            BigInt => &self.min_prompt_tokens,
            Text => self.utc_window.as_str(),
            DbDecimal => &self.usd_per_unit,
        )
    }
}

impl<DB> InsertRow<DB> for NewHistory
where
    DB: Backend + HasSqlType<DbUuid> + HasSqlType<DbDecimal>,
    SqlUuid: ToSql<DbUuid, DB>,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    Option<SqlDecimal>: ToSql<Nullable<DbDecimal>, DB>,
    Option<SqlUuid>: ToSql<Nullable<DbUuid>, DB>,
{
    const TABLE: &'static str = "model_pricing_history";
    const COLUMNS: &'static str = "model_id, meter, min_prompt_tokens, utc_window, change, \
        old_usd_per_unit, new_usd_per_unit, sync_id";
    fn walk<'b>(&'b self, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()> {
        binds!(out;
            DbUuid => &self.model_id,
            Text => self.meter,
            BigInt => &self.min_prompt_tokens,
            Text => self.utc_window.as_str(),
            Text => self.change,
            Nullable<DbDecimal> => &self.old_usd_per_unit,
            Nullable<DbDecimal> => &self.new_usd_per_unit,
            Nullable<DbUuid> => &self.sync_id,
        )
    }
}

fn to_i64(value: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| {
        StoreError::InvalidArgument(format!("{what} {value} does not fit the database"))
    })
}

/// Every row a diff writes, with database ids resolved.
#[derive(Default)]
struct WriteRows<'a> {
    new_models: Vec<NewModel<'a>>,
    changed_models: Vec<NewModel<'a>>,
    removed_models: Vec<SqlUuid>,
    /// Reactivated models: their old components are replaced whole.
    replace_prices_of: Vec<SqlUuid>,
    /// Components that disappeared from a still-listed model, by key.
    delete_prices: BTreeMap<(&'static str, i64, String), Vec<SqlUuid>>,
    upsert_prices: Vec<NewPrice>,
    history: Vec<NewHistory>,
    statuses: Vec<NewStatus>,
}

impl<'a> WriteRows<'a> {
    fn model_row(
        id: Uuid,
        provider: &'a ProviderId,
        offering: &'a ModelOffering,
        sync_id: Option<Uuid>,
    ) -> StoreResult<NewModel<'a>> {
        Ok(NewModel {
            id: SqlUuid(id),
            provider: provider.as_str(),
            provider_model_id: offering.model_id().as_str(),
            display_name: offering.display_name.as_deref(),
            pricing_kind: offering.pricing_kind().as_str(),
            status: ModelStatus::Active.as_str(),
            source: offering.source.as_str(),
            context_length: offering
                .context_length
                .map(|n| to_i64(n, "context length"))
                .transpose()?,
            last_sync_id: sync_id.map(SqlUuid),
        })
    }

    fn price_row(model_id: Uuid, component: &PriceComponent) -> StoreResult<NewPrice> {
        Ok(NewPrice {
            model_id: SqlUuid(model_id),
            meter: component.meter.as_str(),
            min_prompt_tokens: to_i64(component.min_prompt_tokens, "min_prompt_tokens")?,
            utc_window: window_code(component.window),
            usd_per_unit: SqlDecimal(component.usd_per_unit.value()),
        })
    }

    fn history_row(
        model_id: Uuid,
        change: &ComponentChange,
        sync_id: Option<Uuid>,
    ) -> StoreResult<NewHistory> {
        let (kind, key, old, new) = match change {
            ComponentChange::Added(c) => ("added", c.key(), None, Some(c.usd_per_unit.value())),
            ComponentChange::Changed { old, new } => (
                "changed",
                new.key(),
                Some(old.usd_per_unit.value()),
                Some(new.usd_per_unit.value()),
            ),
            ComponentChange::Removed(c) => ("removed", c.key(), Some(c.usd_per_unit.value()), None),
        };
        Ok(NewHistory {
            model_id: SqlUuid(model_id),
            meter: key.meter.as_str(),
            min_prompt_tokens: to_i64(key.min_prompt_tokens, "min_prompt_tokens")?,
            utc_window: window_code(key.window),
            change: kind,
            old_usd_per_unit: old.map(SqlDecimal),
            new_usd_per_unit: new.map(SqlDecimal),
            sync_id: sync_id.map(SqlUuid),
        })
    }

    fn status_row(
        model_id: Uuid,
        change: &'static str,
        kind: PricingKind,
        sync_id: Option<Uuid>,
    ) -> NewStatus {
        NewStatus {
            model_id: SqlUuid(model_id),
            change,
            pricing_kind: kind.as_str(),
            sync_id: sync_id.map(SqlUuid),
        }
    }

    /// Builds the rows; `ids` maps the model ids of updated, reactivated and
    /// removed models to their database ids.
    fn build(
        provider: &'a ProviderId,
        diff: &'a PriceDiff,
        sync_id: Option<Uuid>,
        ids: &HashMap<String, Uuid>,
    ) -> StoreResult<Self> {
        let id_of = |model: &ModelId| {
            ids.get(model.as_str()).copied().ok_or_else(|| {
                StoreError::corrupt(format!(
                    "model {model} of {provider} was loaded but is no longer stored; was it deleted during the sync?"
                ))
            })
        };
        let mut rows = WriteRows::default();
        for offering in &diff.added {
            let id = Uuid::now_v7();
            rows.new_models
                .push(Self::model_row(id, provider, offering, sync_id)?);
            rows.statuses.push(Self::status_row(
                id,
                "listed",
                offering.pricing_kind(),
                sync_id,
            ));
            for component in offering.components() {
                rows.upsert_prices.push(Self::price_row(id, component)?);
                rows.history.push(Self::history_row(
                    id,
                    &ComponentChange::Added(*component),
                    sync_id,
                )?);
            }
        }
        for change in &diff.reactivated {
            let id = id_of(change.after.model_id())?;
            rows.changed_models
                .push(Self::model_row(id, provider, &change.after, sync_id)?);
            rows.replace_prices_of.push(SqlUuid(id));
            rows.statuses.push(Self::status_row(
                id,
                "listed",
                change.after.pricing_kind(),
                sync_id,
            ));
            for component in change.after.components() {
                rows.upsert_prices.push(Self::price_row(id, component)?);
            }
            for component_change in &change.components {
                rows.history
                    .push(Self::history_row(id, component_change, sync_id)?);
            }
        }
        for change in &diff.updated {
            let id = id_of(change.after.model_id())?;
            rows.changed_models
                .push(Self::model_row(id, provider, &change.after, sync_id)?);
            if change.before.pricing_kind() != change.after.pricing_kind() {
                rows.statuses.push(Self::status_row(
                    id,
                    "kind_changed",
                    change.after.pricing_kind(),
                    sync_id,
                ));
            }
            for component_change in &change.components {
                match component_change {
                    ComponentChange::Added(c) | ComponentChange::Changed { new: c, .. } => {
                        rows.upsert_prices.push(Self::price_row(id, c)?);
                    }
                    ComponentChange::Removed(c) => rows
                        .delete_prices
                        .entry((
                            c.meter.as_str(),
                            to_i64(c.min_prompt_tokens, "min_prompt_tokens")?,
                            window_code(c.window),
                        ))
                        .or_default()
                        .push(SqlUuid(id)),
                }
                rows.history
                    .push(Self::history_row(id, component_change, sync_id)?);
            }
        }
        for offering in &diff.removed {
            let id = id_of(offering.model_id())?;
            rows.removed_models.push(SqlUuid(id));
            rows.statuses.push(Self::status_row(
                id,
                "removed",
                offering.pricing_kind(),
                sync_id,
            ));
            for component in offering.components() {
                rows.history.push(Self::history_row(
                    id,
                    &ComponentChange::Removed(*component),
                    sync_id,
                )?);
            }
        }
        Ok(rows)
    }
}

/// An updated or reactivated model keeps its id and first-seen time.
const MODEL_UPSERT: Upsert = Upsert {
    target: "id",
    set_from_new: &[
        "display_name",
        "pricing_kind",
        "status",
        "source",
        "context_length",
        "last_sync_id",
    ],
    set_sql: "removed_at = NULL",
    touch: Some("updated_at"),
};

const PRICE_UPSERT: Upsert = Upsert {
    target: "model_id, meter, min_prompt_tokens, utc_window",
    set_from_new: &["usd_per_unit"],
    set_sql: "",
    touch: Some("updated_at"),
};

/// The model ids whose database ids a diff needs.
fn existing_model_ids(diff: &PriceDiff) -> Vec<&str> {
    let mut ids: Vec<&str> = diff
        .reactivated
        .iter()
        .chain(&diff.updated)
        .map(|c| c.after.model_id().as_str())
        .chain(diff.removed.iter().map(|o| o.model_id().as_str()))
        .chain(diff.held.iter().map(|h| h.model_id.as_str()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

type ModelColumns = (String, Option<String>, String, String, String, Option<i64>);
type PriceColumns = (String, i64, String, SqlDecimal);

/// How a component's window is stored: its code, or `''` for an any-time
/// price (a key column cannot be NULL).
pub(crate) fn window_code(window: Option<TimeWindow>) -> String {
    window.map(TimeWindow::code).unwrap_or_default()
}

/// A band as stored (a band beyond `i64` cannot pass validation; it
/// saturates rather than fail a write).
pub(crate) fn band_column(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Reads the stored key columns of a component of `what` (a model, a
/// history entry, a held change): meter, band and window.
pub(crate) fn stored_key(
    what: &str,
    meter: &str,
    band: i64,
    window: &str,
) -> StoreResult<ComponentKey> {
    let corrupt = |problem: String| StoreError::corrupt(format!("{what}: {problem}"));
    let band = u64::try_from(band).map_err(|_| corrupt(format!("negative band {band}")))?;
    let mut key = ComponentKey::band(meter.parse::<Meter>().map_err(corrupt)?, band);
    key.window = parse_window(window).map_err(|e| StoreError::corrupt_because(what, e))?;
    Ok(key)
}

/// Reads a stored price of `what`.
pub(crate) fn stored_price(what: &str, usd: SqlDecimal) -> StoreResult<UsdPerUnit> {
    UsdPerUnit::new(usd.0).map_err(|e| StoreError::corrupt_because(what, e))
}

/// Reads a stored window column back.
pub(crate) fn parse_window(code: &str) -> Result<Option<TimeWindow>, WindowError> {
    if code.is_empty() {
        Ok(None)
    } else {
        TimeWindow::from_code(code).map(Some)
    }
}

/// Rebuilds a stored offering from its row and its price rows.
pub(crate) fn stored_offering(
    provider: &str,
    model: ModelColumns,
    prices: Vec<PriceColumns>,
) -> StoreResult<StoredOffering> {
    let (model_id, display_name, kind, status, source, context_length) = model;
    let what = format!("model {provider}/{model_id}");
    let corrupt = |problem: String| StoreError::corrupt(format!("{what}: {problem}"));
    let id = ModelId::parse(&model_id).map_err(|e| StoreError::corrupt_because(&what, e))?;
    let kind: PricingKind = kind.parse().map_err(corrupt)?;
    let status: ModelStatus = status.parse().map_err(corrupt)?;
    let source: PriceSource = source.parse().map_err(corrupt)?;
    let components = prices
        .into_iter()
        .map(|(meter, band, window, usd)| {
            Ok(PriceComponent::new(
                stored_key(&what, &meter, band, &window)?,
                stored_price(&what, usd)?,
            ))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let offering = ModelOffering::from_parts(id, kind, components)
        .map_err(|e| StoreError::corrupt_because(&what, e))?
        .with_display_name(display_name)
        .with_context_length(context_length.and_then(|n| u64::try_from(n).ok()))
        .with_source(source);
    Ok(StoredOffering { offering, status })
}

impl Store {
    /// Loads every stored model of a provider (active and removed) with its
    /// current prices, in one query.
    pub async fn load_provider_prices(
        &self,
        provider: &ProviderId,
    ) -> StoreResult<Vec<StoredOffering>> {
        let rows: Vec<(ModelColumns, Option<PriceColumns>)> = on_conn!(self, readers, |conn| {
            models::table
                .left_join(model_prices::table)
                .filter(models::provider.eq(provider.as_str()))
                .select((
                    (
                        models::provider_model_id,
                        models::display_name,
                        models::pricing_kind,
                        models::status,
                        models::source,
                        models::context_length,
                    ),
                    (
                        model_prices::meter,
                        model_prices::min_prompt_tokens,
                        model_prices::utc_window,
                        model_prices::usd_per_unit,
                    )
                        .nullable(),
                ))
                .order((
                    models::provider_model_id,
                    model_prices::meter,
                    model_prices::min_prompt_tokens,
                    model_prices::utc_window,
                ))
                .load(conn)
                .await?
        });
        let mut result: Vec<StoredOffering> = Vec::new();
        let mut current: Option<(ModelColumns, Vec<PriceColumns>)> = None;
        for (model, price) in rows {
            match &mut current {
                Some((m, prices)) if m.0 == model.0 => prices.extend(price),
                _ => {
                    if let Some((m, prices)) = current.take() {
                        result.push(stored_offering(provider.as_str(), m, prices)?);
                    }
                    current = Some((model, price.into_iter().collect()));
                }
            }
        }
        if let Some((m, prices)) = current {
            result.push(stored_offering(provider.as_str(), m, prices)?);
        }
        Ok(result)
    }

    /// Writes a provider's diff in one transaction: model rows, current
    /// prices and a history row (old, new, when, which sync) for every added,
    /// changed and removed component. The diff's held changes are recorded
    /// (`crate::held`), and the provider's pending held changes it no
    /// longer holds are superseded. An empty diff writes no price row.
    ///
    /// With a `fence`, the transaction commits only if, inside it, the lease
    /// still carries that fencing token and has not expired (the lease row is
    /// locked until commit, so it cannot be taken over half-way); otherwise
    /// nothing is written and the answer is [`StoreError::FenceRejected`].
    pub async fn apply_price_diff(
        &self,
        provider: &ProviderId,
        diff: &PriceDiff,
        sync_id: Option<Uuid>,
        fence: Option<&Fence>,
    ) -> StoreResult<WriteReport> {
        if diff.is_empty() && diff.held.is_empty() {
            let mut report = WriteReport::default();
            let none: HashMap<String, Uuid> = HashMap::new();
            on_conn!(self, writer, |conn| {
                record_held!(conn, provider, &[], &none, sync_id, report);
            });
            return Ok(report);
        }
        let needed = existing_model_ids(diff);
        let started = std::time::Instant::now();
        let report = on_conn!(self, writer, |conn| {
            conn.transaction(async |conn| -> StoreResult<WriteReport> {
                // First: history ids in commit order (see `CatalogueWrites`).
                conn.lock_catalogue().await?;
                if let Some(fence) = fence {
                    if !conn.holds_fence(fence).await? {
                        return Err(StoreError::FenceRejected {
                            key: fence.key.clone(),
                            token: fence.token,
                        });
                    }
                }
                let mut ids = HashMap::with_capacity(needed.len());
                for chunk in needed.chunks(MAX_ROWS_PER_STATEMENT) {
                    let found: Vec<(SqlUuid, String)> = models::table
                        .filter(models::provider.eq(provider.as_str()))
                        .filter(models::provider_model_id.eq_any(chunk))
                        .select((models::id, models::provider_model_id))
                        .load(conn)
                        .await?;
                    ids.extend(found.into_iter().map(|(id, model)| (model, id.0)));
                }
                let rows = WriteRows::build(provider, diff, sync_id, &ids)?;
                let mut report = WriteReport::default();
                for chunk in rows.new_models.chunks(MAX_ROWS_PER_STATEMENT) {
                    report.models_inserted += BatchInsert {
                        rows: chunk,
                        upsert: None,
                    }
                    .execute(conn)
                    .await?;
                }
                for chunk in rows.changed_models.chunks(MAX_ROWS_PER_STATEMENT) {
                    report.models_updated += BatchInsert {
                        rows: chunk,
                        upsert: Some(MODEL_UPSERT),
                    }
                    .execute(conn)
                    .await?;
                }
                for chunk in rows.removed_models.chunks(MAX_ROWS_PER_STATEMENT) {
                    report.models_removed += diesel::update(models::table)
                        .filter(models::id.eq_any(chunk))
                        .set((
                            models::status.eq(ModelStatus::Removed.as_str()),
                            models::removed_at.eq(DbNow.nullable()),
                            models::updated_at.eq(DbNow),
                            models::last_sync_id.eq(sync_id.map(SqlUuid)),
                        ))
                        .execute(conn)
                        .await?;
                }
                for chunk in rows.replace_prices_of.chunks(MAX_ROWS_PER_STATEMENT) {
                    report.prices_deleted += diesel::delete(
                        model_prices::table.filter(model_prices::model_id.eq_any(chunk)),
                    )
                    .execute(conn)
                    .await?;
                }
                for ((meter, band, window), model_ids) in &rows.delete_prices {
                    for chunk in model_ids.chunks(MAX_ROWS_PER_STATEMENT) {
                        report.prices_deleted += diesel::delete(
                            model_prices::table
                                .filter(model_prices::meter.eq(*meter))
                                .filter(model_prices::min_prompt_tokens.eq(*band))
                                .filter(model_prices::utc_window.eq(window))
                                .filter(model_prices::model_id.eq_any(chunk)),
                        )
                        .execute(conn)
                        .await?;
                    }
                }
                for chunk in rows.upsert_prices.chunks(MAX_ROWS_PER_STATEMENT) {
                    report.prices_written += BatchInsert {
                        rows: chunk,
                        upsert: Some(PRICE_UPSERT),
                    }
                    .execute(conn)
                    .await?;
                }
                // The change feed's cursor before this write (writes are
                // serialised by the catalogue lock), for `prices.changed`:
                // read only when the write adds to the history.
                let changes_after = if rows.history.is_empty() && rows.statuses.is_empty() {
                    None
                } else {
                    Some(feed_cursor!(conn))
                };
                for chunk in rows.history.chunks(MAX_ROWS_PER_STATEMENT) {
                    report.history_rows += BatchInsert {
                        rows: chunk,
                        upsert: None,
                    }
                    .execute(conn)
                    .await?;
                }
                record_held!(conn, provider, &diff.held, &ids, sync_id, report);
                if let Some(fence) = fence {
                    conn.extend_fence(fence, started.elapsed()).await?;
                }
                for chunk in rows.statuses.chunks(MAX_ROWS_PER_STATEMENT) {
                    report.status_rows += BatchInsert {
                        rows: chunk,
                        upsert: None,
                    }
                    .execute(conn)
                    .await?;
                }
                if let Some(changes_after) = changes_after {
                    record_event!(
                        conn,
                        WebhookEvent::PricesChanged,
                        &PricesChanged::new(
                            provider.as_str(),
                            sync_id,
                            None,
                            [
                                report.models_inserted,
                                report.models_updated,
                                report.models_removed
                            ],
                            report.history_rows,
                            changes_after,
                        )
                    );
                }
                if report.held_new > 0 {
                    record_event!(
                        conn,
                        WebhookEvent::PriceChangeHeld,
                        &PriceChangeHeld {
                            provider: provider.as_str(),
                            sync_id,
                            newly_held: report.held_new,
                            pending: report.held_pending,
                            held_changes_url: format!(
                                "/admin/pricing/held-changes?status=pending&provider={provider}"
                            ),
                        }
                    );
                }
                conn.catalogue_written().await?;
                Ok(report)
            })
            .await?
        });
        self.price_write_committed();
        if report.models_inserted >= ANALYZE_AFTER_NEW_MODELS {
            self.analyze_catalogue().await;
        }
        Ok(report)
    }

    /// After a write that added many models (a provider's first sync),
    /// refreshes PostgreSQL's statistics of the catalogue's tables at once
    /// rather than at autovacuum's next round, a minute or more later:
    /// without them the planner took a batch of 1000 cards at an instant
    /// ([`Store::cards_at`]) through a plan ten times slower. Price changes
    /// do not move the tables' distributions enough to need it. A failure
    /// is logged, never returned: the write has committed. Nothing on
    /// SQLite, whose plans for these queries do not depend on statistics.
    async fn analyze_catalogue(&self) {
        let crate::store::Backend::Postgres(_) = &*self.backend else {
            return;
        };
        let analyzed: StoreResult<()> = async {
            on_conn!(self, writer, |conn| {
                diesel_async::SimpleAsyncConnection::batch_execute(
                    conn,
                    "ANALYZE models, model_prices, model_pricing_history, model_status_history",
                )
                .await?;
            });
            Ok(())
        }
        .await;
        if let Err(e) = analyzed {
            tracing::warn!(error = %e, "cannot refresh the catalogue's statistics after a large write");
        }
    }
}
