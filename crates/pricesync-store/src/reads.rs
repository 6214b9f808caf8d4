//! Read queries for the gateway's read API: current prices and history.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use pricesync_domain::{
    Meter, ModelStatus, PriceComponent, PriceSource, PricingKind, ProviderId, TimeWindow,
    UsdPerUnit,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::prices::stored_offering;
use crate::schema::{model_prices, model_pricing_history, models};
use crate::sql_types::{SqlDecimal, SqlTime, SqlUuid};
use crate::store::on_conn;
use crate::{Store, StoreError, StoreResult};

/// Which models a listing includes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StatusFilter {
    /// Models in their provider's latest list (the default).
    #[default]
    Active,
    /// Models no longer listed.
    Removed,
    /// Both.
    All,
}

impl std::str::FromStr for StatusFilter {
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

/// Where a model listing continues: after this provider and model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCursor {
    /// The last provider of the previous page.
    pub provider: String,
    /// The last model id of the previous page.
    pub model_id: String,
}

/// A listing of models.
#[derive(Debug, Clone, Default)]
pub struct ModelQuery {
    /// Only this provider's models.
    pub provider: Option<ProviderId>,
    /// Only the model with this provider id.
    pub model: Option<String>,
    /// Active, removed or all.
    pub status: StatusFilter,
    /// At most this many models (1 to 1000).
    pub limit: u32,
    /// Continue after this model.
    pub after: Option<ModelCursor>,
}

/// A model with its current prices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRecord {
    /// The provider.
    pub provider: String,
    /// The provider's model id.
    pub model_id: String,
    /// Human-readable name.
    pub display_name: Option<String>,
    /// How the model is priced.
    pub pricing_kind: PricingKind,
    /// Active or removed.
    pub status: ModelStatus,
    /// API or manual table.
    pub source: PriceSource,
    /// Context window in tokens.
    pub context_length: Option<u64>,
    /// Current (for removed models: last known) price components.
    pub prices: Vec<PriceComponent>,
    /// When pricesync first saw the model.
    pub first_seen_at: OffsetDateTime,
    /// When the model's row last changed.
    pub updated_at: OffsetDateTime,
    /// When the model disappeared from its provider's list.
    pub removed_at: Option<OffsetDateTime>,
}

/// A page of models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPage {
    /// The models, ordered by provider then model id.
    pub models: Vec<ModelRecord>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<ModelCursor>,
}

/// What happened to a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryChange {
    /// It appeared.
    Added,
    /// Its price changed.
    Changed,
    /// It disappeared (or its model was removed).
    Removed,
}

/// A listing of price history.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    /// Only this provider.
    pub provider: Option<ProviderId>,
    /// Only this model (provider id of the model).
    pub model: Option<String>,
    /// Only changes at or after this time.
    pub since: Option<OffsetDateTime>,
    /// At most this many entries (1 to 1000).
    pub limit: u32,
    /// Continue after this entry id.
    pub after_id: Option<i64>,
}

/// One change of one price component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The entry's id: entries are ordered by it.
    pub id: i64,
    /// The provider.
    pub provider: String,
    /// The provider's model id.
    pub model_id: String,
    /// The meter.
    pub meter: Meter,
    /// The band.
    pub min_prompt_tokens: u64,
    /// The UTC time-of-day window of a time-of-day price.
    pub window: Option<TimeWindow>,
    /// Added, changed or removed.
    pub change: HistoryChange,
    /// The price before (none when added).
    pub old_usd_per_unit: Option<UsdPerUnit>,
    /// The price after (none when removed).
    pub new_usd_per_unit: Option<UsdPerUnit>,
    /// The sync that made the change.
    pub sync_id: Option<Uuid>,
    /// When.
    pub changed_at: OffsetDateTime,
    /// The admin who approved it, for a held change applied on approval.
    pub approved_by: Option<String>,
}

/// A page of history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    /// Oldest first.
    pub entries: Vec<HistoryEntry>,
    /// The id after which the next page starts; `None` on the last page.
    pub next_cursor: Option<i64>,
}

type ModelRow = (
    SqlUuid,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    Option<i64>,
    SqlTime,
    SqlTime,
    Option<SqlTime>,
);

/// A price row of a listed model: model id, meter, band, price.
type PriceRow = (SqlUuid, String, i64, String, SqlDecimal);

fn clamp_limit(limit: u32) -> StoreResult<i64> {
    if (1..=1000).contains(&limit) {
        Ok(i64::from(limit))
    } else {
        Err(StoreError::InvalidArgument(format!(
            "limit {limit} is out of range; use 1 to 1000"
        )))
    }
}

fn decimal(value: SqlDecimal, what: &str) -> StoreResult<UsdPerUnit> {
    UsdPerUnit::new(value.0).map_err(|e| StoreError::corrupt_because(what, e))
}

impl Store {
    /// Lists models with their current prices, ordered by provider and model
    /// id, a page at a time.
    pub async fn list_models(&self, query: &ModelQuery) -> StoreResult<ModelPage> {
        let limit = clamp_limit(query.limit)?;
        let (rows, prices): (Vec<ModelRow>, Vec<PriceRow>) = on_conn!(self, readers, |conn| {
            let mut select = models::table
                .select((
                    models::id,
                    models::provider,
                    models::provider_model_id,
                    models::display_name,
                    models::pricing_kind,
                    models::status,
                    models::source,
                    models::context_length,
                    models::first_seen_at,
                    models::updated_at,
                    models::removed_at,
                ))
                .order((models::provider, models::provider_model_id))
                .limit(limit + 1)
                .into_boxed();
            if let Some(provider) = &query.provider {
                select = select.filter(models::provider.eq(provider.as_str().to_owned()));
            }
            if let Some(model) = &query.model {
                select = select.filter(models::provider_model_id.eq(model.clone()));
            }
            match query.status {
                StatusFilter::Active => {
                    select = select.filter(models::status.eq(ModelStatus::Active.as_str()));
                }
                StatusFilter::Removed => {
                    select = select.filter(models::status.eq(ModelStatus::Removed.as_str()));
                }
                StatusFilter::All => {}
            }
            if let Some(after) = &query.after {
                select = select.filter(
                    models::provider
                        .gt(after.provider.clone())
                        .or(models::provider
                            .eq(after.provider.clone())
                            .and(models::provider_model_id.gt(after.model_id.clone()))),
                );
            }
            let rows: Vec<ModelRow> = select.load(conn).await?;
            let ids: Vec<SqlUuid> = rows.iter().take(limit as usize).map(|r| r.0).collect();
            let prices = if ids.is_empty() {
                Vec::new()
            } else {
                model_prices::table
                    .filter(model_prices::model_id.eq_any(ids))
                    .select((
                        model_prices::model_id,
                        model_prices::meter,
                        model_prices::min_prompt_tokens,
                        model_prices::utc_window,
                        model_prices::usd_per_unit,
                    ))
                    .order((
                        model_prices::meter,
                        model_prices::min_prompt_tokens,
                        model_prices::utc_window,
                    ))
                    .load(conn)
                    .await?
            };
            (rows, prices)
        });
        let has_more = rows.len() > limit as usize;
        let mut by_model: HashMap<Uuid, Vec<(String, i64, String, SqlDecimal)>> = HashMap::new();
        for (id, meter, band, window, usd) in prices {
            by_model
                .entry(id.0)
                .or_default()
                .push((meter, band, window, usd));
        }
        let mut models = Vec::with_capacity(rows.len().min(limit as usize));
        for row in rows.into_iter().take(limit as usize) {
            let (
                id,
                provider,
                model_id,
                name,
                kind,
                status,
                source,
                context,
                first,
                updated,
                removed,
            ) = row;
            let stored = stored_offering(
                &provider,
                (model_id.clone(), name, kind, status, source, context),
                by_model.remove(&id.0).unwrap_or_default(),
            )?;
            models.push(ModelRecord {
                provider,
                model_id,
                display_name: stored.offering.display_name.clone(),
                pricing_kind: stored.offering.pricing_kind(),
                status: stored.status,
                source: stored.offering.source,
                context_length: stored.offering.context_length,
                prices: stored.offering.components().to_vec(),
                first_seen_at: first.0,
                updated_at: updated.0,
                removed_at: removed.map(|t| t.0),
            });
        }
        let next_cursor = if has_more {
            models.last().map(|m| ModelCursor {
                provider: m.provider.clone(),
                model_id: m.model_id.clone(),
            })
        } else {
            None
        };
        Ok(ModelPage {
            models,
            next_cursor,
        })
    }

    /// One model of one provider, active or removed.
    pub async fn get_model(
        &self,
        provider: &ProviderId,
        model_id: &str,
    ) -> StoreResult<Option<ModelRecord>> {
        let page = self
            .list_models(&ModelQuery {
                provider: Some(provider.clone()),
                model: Some(model_id.to_owned()),
                status: StatusFilter::All,
                limit: 1,
                after: None,
            })
            .await?;
        Ok(page.models.into_iter().next())
    }

    /// The id of the latest price history entry (0 when there is none).
    /// Catalogue writes take history ids in commit order
    /// (`CatalogueWrites`), so every entry up to it is visible to a reader
    /// once it is: it is the change feed's cursor of "everything so far".
    pub async fn latest_history_id(&self) -> StoreResult<i64> {
        Ok(on_conn!(
            self,
            readers,
            |conn| crate::webhooks::feed_cursor!(conn)
        ))
    }

    /// Whether a price history entry with this id exists: a change feed
    /// cursor is valid when it does (or is 0, the beginning).
    pub async fn history_entry_exists(&self, id: i64) -> StoreResult<bool> {
        let found: Option<i64> = on_conn!(self, readers, |conn| {
            model_pricing_history::table
                .filter(model_pricing_history::id.eq(id))
                .select(model_pricing_history::id)
                .first(conn)
                .await
                .optional()?
        });
        Ok(found.is_some())
    }

    /// Price history, oldest first, a page at a time.
    pub async fn price_history(&self, query: &HistoryQuery) -> StoreResult<HistoryPage> {
        type Row = (
            i64,
            String,
            String,
            String,
            i64,
            String,
            String,
            Option<SqlDecimal>,
            Option<SqlDecimal>,
            Option<SqlUuid>,
            SqlTime,
            Option<String>,
        );
        let limit = clamp_limit(query.limit)?;
        let rows: Vec<Row> = on_conn!(self, readers, |conn| {
            let mut select = model_pricing_history::table
                .inner_join(models::table)
                .select((
                    model_pricing_history::id,
                    models::provider,
                    models::provider_model_id,
                    model_pricing_history::meter,
                    model_pricing_history::min_prompt_tokens,
                    model_pricing_history::utc_window,
                    model_pricing_history::change,
                    model_pricing_history::old_usd_per_unit,
                    model_pricing_history::new_usd_per_unit,
                    model_pricing_history::sync_id,
                    model_pricing_history::changed_at,
                    model_pricing_history::approved_by,
                ))
                .order(model_pricing_history::id)
                .limit(limit + 1)
                .into_boxed();
            if let Some(provider) = &query.provider {
                select = select.filter(models::provider.eq(provider.as_str().to_owned()));
            }
            if let Some(model) = &query.model {
                select = select.filter(models::provider_model_id.eq(model.clone()));
            }
            if let Some(since) = query.since {
                select = select.filter(model_pricing_history::changed_at.ge(SqlTime(since)));
            }
            if let Some(after) = query.after_id {
                select = select.filter(model_pricing_history::id.gt(after));
            }
            select.load(conn).await?
        });
        let has_more = rows.len() > limit as usize;
        let mut entries = Vec::with_capacity(rows.len().min(limit as usize));
        for (
            id,
            provider,
            model_id,
            meter,
            band,
            window,
            change,
            old,
            new,
            sync_id,
            at,
            approved_by,
        ) in rows.into_iter().take(limit as usize)
        {
            let what = format!("history entry {id}");
            let key = crate::prices::stored_key(&what, &meter, band, &window)?;
            entries.push(HistoryEntry {
                id,
                provider,
                model_id,
                meter: key.meter,
                min_prompt_tokens: key.min_prompt_tokens,
                window: key.window,
                change: match change.as_str() {
                    "added" => HistoryChange::Added,
                    "changed" => HistoryChange::Changed,
                    "removed" => HistoryChange::Removed,
                    other => return Err(StoreError::corrupt(format!("{what}: change {other:?}"))),
                },
                old_usd_per_unit: old.map(|d| decimal(d, &what)).transpose()?,
                new_usd_per_unit: new.map(|d| decimal(d, &what)).transpose()?,
                sync_id: sync_id.map(|u| u.0),
                changed_at: at.0,
                approved_by,
            });
        }
        let next_cursor = if has_more {
            entries.last().map(|e| e.id)
        } else {
            None
        };
        Ok(HistoryPage {
            entries,
            next_cursor,
        })
    }
}
