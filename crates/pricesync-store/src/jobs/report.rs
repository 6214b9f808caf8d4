//! What a provider's sync reports beside its counts: the models it skipped
//! and, for a dry run, the diff it would have applied. Both are written
//! with the provider's log row, in its transaction, and replaced with it
//! when a retried attempt records the provider again.

use diesel::backend::Backend;
use diesel::prelude::*;
use diesel::query_builder::AstPass;
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType, Integer, Nullable, Text};
use diesel_async::RunQueryDsl;
use pricesync_domain::{
    ComponentChangeKind, DiffComponent, DiffEntry, ModelChangeKind, ModelId, SkippedModel,
};
use uuid::Uuid;

use super::record::storable;
use crate::batch::{binds, InsertRow};
use crate::prices::{band_column, stored_key, stored_price, window_code};
use crate::schema::{pricing_sync_planned_changes as planned, pricing_sync_skipped as skipped};
use crate::sql_types::{DbDecimal, DbUuid, SqlDecimal, SqlUuid};
use crate::store::on_conn;
use crate::{Store, StoreError, StoreResult};

/// The longest skip detail kept, in characters; a provider's message can be
/// long, and the reason code carries the meaning.
pub const MAX_SKIP_DETAIL_CHARS: usize = 500;

/// One model a sync skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRecord {
    /// The provider.
    pub provider: String,
    /// Its position in the provider's skips (the page cursor).
    pub seq: u32,
    /// The provider's id as given.
    pub provider_model_id: String,
    /// The reason code (`pricesync_domain::SkipReason::code`).
    pub reason: String,
    /// The reason in words.
    pub detail: String,
}

/// One line of a dry run's diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRecord {
    /// The provider.
    pub provider: String,
    /// Its position in the provider's diff (the page cursor).
    pub seq: u32,
    /// The change.
    pub entry: DiffEntry,
}

/// A page of a job's report, by provider then position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportQuery {
    /// The job.
    pub job_id: Uuid,
    /// Only this provider's lines.
    pub provider: Option<String>,
    /// At most this many lines.
    pub limit: u32,
    /// Continue after this provider and position.
    pub after: Option<(String, u32)>,
}

/// A position as stored.
pub(crate) fn seq_column(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A row of `pricing_sync_skipped`.
pub(crate) struct SkipRow {
    job_id: SqlUuid,
    provider: String,
    seq: i32,
    provider_model_id: String,
    reason: &'static str,
    detail: String,
}

/// A row of `pricing_sync_planned_changes`.
pub(crate) struct PlanRow {
    job_id: SqlUuid,
    provider: String,
    seq: i32,
    provider_model_id: String,
    model_change: &'static str,
    meter: Option<&'static str>,
    min_prompt_tokens: Option<i64>,
    utc_window: Option<String>,
    component_change: Option<&'static str>,
    old_usd_per_unit: Option<SqlDecimal>,
    new_usd_per_unit: Option<SqlDecimal>,
}

impl<DB> InsertRow<DB> for SkipRow
where
    DB: Backend + HasSqlType<DbUuid>,
    SqlUuid: ToSql<DbUuid, DB>,
    str: ToSql<Text, DB>,
    String: ToSql<Text, DB>,
    i32: ToSql<Integer, DB>,
{
    const TABLE: &'static str = "pricing_sync_skipped";
    const COLUMNS: &'static str = "job_id, provider, seq, provider_model_id, reason, detail";
    fn walk<'b>(&'b self, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()> {
        binds!(out;
            DbUuid => &self.job_id,
            Text => &self.provider,
            Integer => &self.seq,
            Text => &self.provider_model_id,
            Text => self.reason,
            Text => &self.detail,
        )
    }
}

impl<DB> InsertRow<DB> for PlanRow
where
    DB: Backend + HasSqlType<DbUuid> + HasSqlType<DbDecimal>,
    SqlUuid: ToSql<DbUuid, DB>,
    str: ToSql<Text, DB>,
    String: ToSql<Text, DB>,
    i32: ToSql<Integer, DB>,
    Option<&'static str>: ToSql<Nullable<Text>, DB>,
    Option<String>: ToSql<Nullable<Text>, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
    Option<SqlDecimal>: ToSql<Nullable<DbDecimal>, DB>,
{
    const TABLE: &'static str = "pricing_sync_planned_changes";
    const COLUMNS: &'static str = "job_id, provider, seq, provider_model_id, model_change, \
        meter, min_prompt_tokens, utc_window, component_change, old_usd_per_unit, new_usd_per_unit";
    fn walk<'b>(&'b self, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()> {
        binds!(out;
            DbUuid => &self.job_id,
            Text => &self.provider,
            Integer => &self.seq,
            Text => &self.provider_model_id,
            Text => self.model_change,
            Nullable<Text> => &self.meter,
            Nullable<BigInt> => &self.min_prompt_tokens,
            Nullable<Text> => &self.utc_window,
            Nullable<Text> => &self.component_change,
            Nullable<DbDecimal> => &self.old_usd_per_unit,
            Nullable<DbDecimal> => &self.new_usd_per_unit,
        )
    }
}

/// The rows of a provider's report for a job.
pub(crate) fn report_rows(
    job_id: Uuid,
    provider: &str,
    skips: &[SkippedModel],
    plan: &[DiffEntry],
) -> (Vec<SkipRow>, Vec<PlanRow>) {
    let skip_rows = skips
        .iter()
        .enumerate()
        .map(|(n, s)| SkipRow {
            job_id: SqlUuid(job_id),
            provider: provider.to_owned(),
            seq: seq_column(n),
            provider_model_id: storable(&s.provider_model_id),
            reason: s.reason.code(),
            detail: storable(&s.reason.to_string())
                .chars()
                .take(MAX_SKIP_DETAIL_CHARS)
                .collect(),
        })
        .collect();
    let plan_rows = plan
        .iter()
        .enumerate()
        .map(|(n, e)| {
            let c = e.component.as_ref();
            PlanRow {
                job_id: SqlUuid(job_id),
                provider: provider.to_owned(),
                seq: seq_column(n),
                provider_model_id: e.model_id.as_str().to_owned(),
                model_change: e.model_change.as_str(),
                meter: c.map(|c| c.key.meter.as_str()),
                min_prompt_tokens: c.map(|c| band_column(c.key.min_prompt_tokens)),
                utc_window: c.map(|c| window_code(c.key.window)),
                component_change: c.map(|c| c.change.as_str()),
                old_usd_per_unit: c.and_then(|c| c.old).map(|p| SqlDecimal(p.value())),
                new_usd_per_unit: c.and_then(|c| c.new).map(|p| SqlDecimal(p.value())),
            }
        })
        .collect();
    (skip_rows, plan_rows)
}

/// Writes `$skips` (`&[SkippedModel]`) and `$plan` (`&[DiffEntry]`) of
/// `$provider` for job `$job`, replacing what an earlier attempt wrote. A
/// macro, not a function: its body compiles for each backend's connection
/// inside the caller's transaction, as `on_conn!` bodies do.
macro_rules! replace_report {
    ($conn:expr, $job:expr, $provider:expr, $skips:expr, $plan:expr) => {{
        use $crate::schema::{
            pricing_sync_planned_changes as planned, pricing_sync_skipped as skipped,
        };
        let conn = &mut *$conn;
        let job = $crate::sql_types::SqlUuid($job);
        let provider: &str = $provider;
        diesel::delete(
            skipped::table
                .filter(skipped::job_id.eq(job))
                .filter(skipped::provider.eq(provider)),
        )
        .execute(conn)
        .await?;
        diesel::delete(
            planned::table
                .filter(planned::job_id.eq(job))
                .filter(planned::provider.eq(provider)),
        )
        .execute(conn)
        .await?;
        let (skip_rows, plan_rows) =
            $crate::jobs::report::report_rows($job, provider, $skips, $plan);
        for chunk in skip_rows.chunks($crate::MAX_ROWS_PER_STATEMENT) {
            $crate::batch::BatchInsert {
                rows: chunk,
                upsert: None,
            }
            .execute(conn)
            .await?;
        }
        for chunk in plan_rows.chunks($crate::MAX_ROWS_PER_STATEMENT) {
            $crate::batch::BatchInsert {
                rows: chunk,
                upsert: None,
            }
            .execute(conn)
            .await?;
        }
    }};
}
pub(crate) use replace_report;

type PlannedRow = (
    String,
    i32,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<SqlDecimal>,
    Option<SqlDecimal>,
);

fn planned_record(row: PlannedRow) -> StoreResult<PlannedRecord> {
    let (provider, n, model, model_change, meter, band, window, change, old, new) = row;
    let what = format!("planned change {n} of {provider}");
    let corrupt = |problem: String| StoreError::corrupt(format!("{what}: {problem}"));
    let price = |value: Option<SqlDecimal>| value.map(|v| stored_price(&what, v)).transpose();
    let component = match (meter, band, window, change) {
        (Some(meter), Some(band), Some(window), Some(change)) => Some(DiffComponent {
            key: stored_key(&what, &meter, band, &window)?,
            change: change.parse::<ComponentChangeKind>().map_err(corrupt)?,
            old: price(old)?,
            new: price(new)?,
        }),
        (None, None, None, None) => None,
        _ => return Err(corrupt("a component half there".to_owned())),
    };
    Ok(PlannedRecord {
        entry: DiffEntry {
            model_id: ModelId::parse(&model).map_err(|e| StoreError::corrupt_because(&what, e))?,
            model_change: model_change.parse::<ModelChangeKind>().map_err(corrupt)?,
            component,
        },
        provider,
        seq: u32::try_from(n).map_err(|_| corrupt(format!("position {n}")))?,
    })
}

/// A page of a report table (`pricing_sync_skipped` or
/// `pricing_sync_planned_changes`, which share the key `(job_id, provider,
/// seq)`) for `$query`, selecting `$columns`, as a boxed query to load.
macro_rules! report_page {
    ($table:ident, $query:expr, $columns:expr) => {{
        let query: &ReportQuery = $query;
        let mut q = $table::table
            .filter($table::job_id.eq(SqlUuid(query.job_id)))
            .select($columns)
            .order(($table::provider, $table::seq))
            .limit(i64::from(query.limit))
            .into_boxed();
        if let Some(provider) = &query.provider {
            q = q.filter($table::provider.eq(provider.clone()));
        }
        if let Some((provider, after)) = &query.after {
            let after = i32::try_from(*after).unwrap_or(i32::MAX);
            q = q.filter(
                $table::provider.gt(provider.clone()).or($table::provider
                    .eq(provider.clone())
                    .and($table::seq.gt(after))),
            );
        }
        q
    }};
}

impl Store {
    /// A page of the models a job skipped, by provider then position.
    pub async fn job_skipped(&self, query: &ReportQuery) -> StoreResult<Vec<SkippedRecord>> {
        let rows: Vec<(String, i32, String, String, String)> = on_conn!(self, readers, |conn| {
            report_page!(
                skipped,
                query,
                (
                    skipped::provider,
                    skipped::seq,
                    skipped::provider_model_id,
                    skipped::reason,
                    skipped::detail,
                )
            )
            .load(conn)
            .await?
        });
        rows.into_iter()
            .map(|(provider, n, provider_model_id, reason, detail)| {
                Ok(SkippedRecord {
                    seq: u32::try_from(n).map_err(|_| {
                        StoreError::corrupt(format!("skip {n} of {provider}: negative position"))
                    })?,
                    provider,
                    provider_model_id,
                    reason,
                    detail,
                })
            })
            .collect()
    }

    /// A page of a dry run's diff, by provider then position (a job that
    /// was not a dry run has none: its changes are in the price history).
    pub async fn job_planned_changes(
        &self,
        query: &ReportQuery,
    ) -> StoreResult<Vec<PlannedRecord>> {
        let rows: Vec<PlannedRow> = on_conn!(self, readers, |conn| {
            report_page!(
                planned,
                query,
                (
                    planned::provider,
                    planned::seq,
                    planned::provider_model_id,
                    planned::model_change,
                    planned::meter,
                    planned::min_prompt_tokens,
                    planned::utc_window,
                    planned::component_change,
                    planned::old_usd_per_unit,
                    planned::new_usd_per_unit,
                )
            )
            .load(conn)
            .await?
        });
        rows.into_iter().map(planned_record).collect()
    }
}
