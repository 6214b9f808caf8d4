//! The per-provider log: one row per provider and job.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::AsyncConnection;
use diesel_async::RunQueryDsl;
use pricesync_domain::{DiffEntry, ProviderRunStatus, SkippedModel};
use time::OffsetDateTime;
use uuid::Uuid;

use super::report::replace_report;
use super::truncate_error;
use super::worker::guarded;
use crate::batch::{binds, BatchInsert, InsertRow, Upsert};
use crate::schema::pricing_sync_jobs as jobs;
use crate::schema::pricing_sync_log as log;
use crate::sql_types::{DbNow, DbNowPlus, DbTimestamp, DbUuid, SqlTime, SqlUuid};
use crate::store::on_conn;
use crate::{Store, StoreError, StoreResult};

/// One provider's result within a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderLog {
    /// The provider.
    pub provider: String,
    /// Its outcome.
    pub status: ProviderRunStatus,
    /// Models in the fetched list.
    pub models_fetched: u32,
    /// Added (and reactivated).
    pub models_added: u32,
    /// Updated.
    pub models_updated: u32,
    /// Unchanged.
    pub models_unchanged: u32,
    /// Skipped with a reason.
    pub models_skipped: u32,
    /// Marked removed.
    pub models_removed: u32,
    /// Errors met.
    pub errors: u32,
    /// The shrink guard held removals back.
    pub removals_suppressed: bool,
    /// Price changes held for an admin's approval.
    pub changes_held: u32,
    /// How long the provider took, in milliseconds.
    pub duration_ms: u64,
    /// Why it failed, truncated, secret-free.
    pub error: Option<String>,
    /// When it started.
    pub started_at: OffsetDateTime,
    /// When it finished.
    pub finished_at: OffsetDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = log)]
pub(crate) struct LogRow {
    provider: String,
    status: String,
    models_fetched: i32,
    models_added: i32,
    models_updated: i32,
    models_unchanged: i32,
    models_skipped: i32,
    models_removed: i32,
    errors: i32,
    removals_suppressed: bool,
    duration_ms: i64,
    error: Option<String>,
    started_at: SqlTime,
    finished_at: SqlTime,
    changes_held: i32,
}

impl TryFrom<LogRow> for ProviderLog {
    type Error = StoreError;

    fn try_from(row: LogRow) -> Result<Self, StoreError> {
        let count = |n: i32| u32::try_from(n).unwrap_or(0);
        Ok(Self {
            status: row
                .status
                .parse()
                .map_err(|e: pricesync_domain::ParseStateError| {
                    StoreError::corrupt_because(format!("log of {}: status", row.provider), e)
                })?,
            provider: row.provider,
            models_fetched: count(row.models_fetched),
            models_added: count(row.models_added),
            models_updated: count(row.models_updated),
            models_unchanged: count(row.models_unchanged),
            models_skipped: count(row.models_skipped),
            models_removed: count(row.models_removed),
            errors: count(row.errors),
            removals_suppressed: row.removals_suppressed,
            changes_held: count(row.changes_held),
            duration_ms: u64::try_from(row.duration_ms).unwrap_or(0),
            error: row.error,
            started_at: row.started_at.0,
            finished_at: row.finished_at.0,
        })
    }
}

/// A provider's result to record; times come from the caller's measurement
/// of the run, the row's own from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProviderLog {
    /// The provider.
    pub provider: String,
    /// Its outcome.
    pub status: ProviderRunStatus,
    /// Counts: fetched, added, updated, unchanged, skipped, removed, errors.
    pub counts: [u32; 7],
    /// The shrink guard held removals back.
    pub removals_suppressed: bool,
    /// Price changes held for an admin's approval.
    pub changes_held: u32,
    /// How long it took.
    pub duration: Duration,
    /// Why it failed.
    pub error: Option<String>,
    /// The models skipped, with their reasons.
    pub skipped: Vec<SkippedModel>,
    /// A dry run's diff (empty for a run that wrote).
    pub planned: Vec<DiffEntry>,
}

struct LogInsert {
    id: SqlUuid,
    job_id: SqlUuid,
    provider: String,
    status: &'static str,
    counts: [i32; 7],
    removals_suppressed: bool,
    changes_held: i32,
    duration_ms: i64,
    error: Option<String>,
    /// `now - duration` and `now`, on the database clock.
    started_at: DbNowPlus,
    finished_at: DbNowPlus,
}

impl<DB> InsertRow<DB> for LogInsert
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<DbUuid>
        + diesel::sql_types::HasSqlType<DbTimestamp>
        + diesel::sql_types::HasSqlType<diesel::sql_types::Bool>
        + diesel::sql_types::HasSqlType<diesel::sql_types::Integer>,
    SqlUuid: diesel::serialize::ToSql<DbUuid, DB>,
    str: diesel::serialize::ToSql<Text, DB>,
    String: diesel::serialize::ToSql<Text, DB>,
    i32: diesel::serialize::ToSql<diesel::sql_types::Integer, DB>,
    i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
    bool: diesel::serialize::ToSql<diesel::sql_types::Bool, DB>,
    Option<String>: diesel::serialize::ToSql<diesel::sql_types::Nullable<Text>, DB>,
    crate::sql_types::DbNowPlus: diesel::query_builder::QueryFragment<DB>,
{
    const TABLE: &'static str = "pricing_sync_log";
    const COLUMNS: &'static str = "id, job_id, provider, status, models_fetched, models_added, \
        models_updated, models_unchanged, models_skipped, models_removed, errors, \
        removals_suppressed, changes_held, duration_ms, error, started_at, finished_at";
    fn walk<'b>(&'b self, out: &mut diesel::query_builder::AstPass<'_, 'b, DB>) -> QueryResult<()> {
        use diesel::query_builder::QueryFragment;
        use diesel::sql_types::{BigInt, Bool, Integer, Nullable};
        binds!(out;
            DbUuid => &self.id,
            DbUuid => &self.job_id,
            Text => &self.provider,
            Text => self.status,
            Integer => &self.counts[0],
            Integer => &self.counts[1],
            Integer => &self.counts[2],
            Integer => &self.counts[3],
            Integer => &self.counts[4],
            Integer => &self.counts[5],
            Integer => &self.counts[6],
            Bool => &self.removals_suppressed,
            Integer => &self.changes_held,
            BigInt => &self.duration_ms,
            Nullable<Text> => &self.error,
        )?;
        // started_at = now - duration, finished_at = now: database clock.
        out.push_sql(", ");
        self.started_at.walk_ast(out.reborrow())?;
        out.push_sql(", ");
        self.finished_at.walk_ast(out.reborrow())
    }
}

const LOG_UPSERT: Upsert = Upsert {
    target: "job_id, provider",
    set_from_new: &[
        "status",
        "models_fetched",
        "models_added",
        "models_updated",
        "models_unchanged",
        "models_skipped",
        "models_removed",
        "errors",
        "removals_suppressed",
        "changes_held",
        "duration_ms",
        "error",
        "started_at",
        "finished_at",
    ],
    set_sql: "",
    touch: None,
};

impl Store {
    /// The per-provider results of a job, by provider.
    pub async fn job_provider_logs(&self, id: Uuid) -> StoreResult<Vec<ProviderLog>> {
        let rows: Vec<LogRow> = on_conn!(self, readers, |conn| {
            log::table
                .filter(log::job_id.eq(SqlUuid(id)))
                .select(LogRow::as_select())
                .order(log::provider)
                .load(conn)
                .await?
        });
        rows.into_iter().map(ProviderLog::try_from).collect()
    }

    /// Records (or replaces) a provider's result within attempt `attempt`
    /// of job `job_id` run by `worker`, with the models it skipped and a dry
    /// run's diff, in one transaction. Guarded like the job's transitions:
    /// when the job is no longer that worker's attempt (rescued, taken over,
    /// finished), nothing is written and the answer is `false`, so a late
    /// worker cannot overwrite the record of the attempt that replaced it.
    /// The guard touches the job row first, which on PostgreSQL holds it
    /// until commit: a rescue of the job waits for the record, not the
    /// other way round.
    pub async fn record_provider_log(
        &self,
        job_id: Uuid,
        worker: &str,
        attempt: u32,
        entry: &NewProviderLog,
    ) -> StoreResult<bool> {
        let row = LogInsert {
            id: SqlUuid(Uuid::now_v7()),
            job_id: SqlUuid(job_id),
            provider: entry.provider.clone(),
            status: entry.status.as_str(),
            counts: entry.counts.map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
            removals_suppressed: entry.removals_suppressed,
            changes_held: i32::try_from(entry.changes_held).unwrap_or(i32::MAX),
            duration_ms: i64::try_from(entry.duration.as_millis()).unwrap_or(i64::MAX),
            error: entry.error.as_deref().map(truncate_error),
            started_at: DbNowPlus::before(entry.duration),
            finished_at: DbNowPlus::millis(0),
        };
        Ok(on_conn!(self, writer, |conn| {
            conn.transaction(async |conn| -> StoreResult<bool> {
                let owned = diesel::update(guarded(job_id, worker, attempt))
                    .set(jobs::heartbeat_at.eq(DbNow.nullable()))
                    .execute(conn)
                    .await?;
                if owned == 0 {
                    return Ok(false);
                }
                BatchInsert {
                    rows: std::slice::from_ref(&row),
                    upsert: Some(LOG_UPSERT),
                }
                .execute(conn)
                .await?;
                replace_report!(
                    conn,
                    job_id,
                    &entry.provider,
                    &entry.skipped,
                    &entry.planned
                );
                Ok(true)
            })
            .await?
        }))
    }

    /// The newest log row of a provider, and its newest successful one.
    pub async fn last_provider_runs(
        &self,
        provider: &str,
    ) -> StoreResult<(Option<ProviderLog>, Option<ProviderLog>)> {
        let (last, last_ok): (Option<LogRow>, Option<LogRow>) = on_conn!(self, readers, |conn| {
            let last = log::table
                .filter(log::provider.eq(provider))
                .select(LogRow::as_select())
                .order(log::finished_at.desc())
                .first(conn)
                .await
                .optional()?;
            let last_ok = log::table
                .filter(log::provider.eq(provider))
                .filter(log::status.eq(ProviderRunStatus::Succeeded.as_str()))
                .select(LogRow::as_select())
                .order(log::finished_at.desc())
                .first(conn)
                .await
                .optional()?;
            (last, last_ok)
        });
        Ok((
            last.map(ProviderLog::try_from).transpose()?,
            last_ok.map(ProviderLog::try_from).transpose()?,
        ))
    }
}
