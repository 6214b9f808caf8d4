//! What a job is: the records callers see and the rows they come from.

use diesel::prelude::*;
use pricesync_domain::{JobState, ProviderId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::schema::pricing_sync_jobs as jobs;
use crate::sql_types::{SqlTime, SqlUuid};
use crate::StoreError;

/// The longest error text stored on a job or log row.
pub const MAX_ERROR_CHARS: usize = 500;

/// Cuts an error message to [`MAX_ERROR_CHARS`] characters.
pub fn truncate_error(message: &str) -> String {
    let message = storable(message);
    if message.chars().count() <= MAX_ERROR_CHARS {
        return message;
    }
    let mut out: String = message.chars().take(MAX_ERROR_CHARS - 1).collect();
    out.push('…');
    out
}

/// Text from outside (a provider's id, an error quoting its answer) made
/// storable on both backends: PostgreSQL refuses NUL in text, so a NUL is
/// recorded escaped (`\0`) rather than failing the write it is part of.
pub(crate) fn storable(text: &str) -> String {
    text.replace('\0', "\\0")
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The providers to sync, in order; at least one.
    pub providers: Vec<ProviderId>,
    /// Compute and report, write no prices.
    pub dry_run: bool,
    /// Who asked: `admin:<name>`, `scheduler`, `cli`.
    pub triggered_by: String,
    /// Attempts before a job whose worker keeps dying is failed.
    pub max_attempts: u32,
    /// The schedule slot this job is for, if the scheduler made it.
    pub schedule: Option<ScheduleSlot>,
}

/// A schedule's slot: at most one job per slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSlot {
    /// The schedule.
    pub name: String,
    /// The slot's time.
    pub slot: OffsetDateTime,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// The job's id (`sync_id` in the API).
    pub id: Uuid,
    /// Its state.
    pub state: JobState,
    /// The providers it syncs.
    pub providers: Vec<String>,
    /// Whether it writes prices.
    pub dry_run: bool,
    /// Who asked.
    pub triggered_by: String,
    /// Attempts started so far.
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// The worker running it, if running.
    pub worker: Option<String>,
    /// An admin asked to cancel it.
    pub cancel_requested: bool,
    /// When it was enqueued.
    pub created_at: OffsetDateTime,
    /// When its current (last) attempt started.
    pub started_at: Option<OffsetDateTime>,
    /// Its worker's last heartbeat.
    pub heartbeat_at: Option<OffsetDateTime>,
    /// When it reached a final state.
    pub finished_at: Option<OffsetDateTime>,
    /// Providers in the job.
    pub providers_total: u32,
    /// Providers finished.
    pub providers_done: u32,
    /// Models processed so far.
    pub models_processed: u64,
    /// Why it failed, truncated, secret-free.
    pub error: Option<String>,
    /// The schedule that made it, if any.
    pub schedule_name: Option<String>,
}

#[derive(Queryable, QueryableByName, Selectable)]
#[diesel(table_name = jobs)]
pub(crate) struct JobRow {
    id: SqlUuid,
    state: String,
    providers: String,
    dry_run: bool,
    triggered_by: String,
    attempt: i32,
    max_attempts: i32,
    worker: Option<String>,
    cancel_requested: bool,
    created_at: SqlTime,
    started_at: Option<SqlTime>,
    heartbeat_at: Option<SqlTime>,
    finished_at: Option<SqlTime>,
    providers_total: i32,
    providers_done: i32,
    models_processed: i64,
    error: Option<String>,
    schedule_name: Option<String>,
}

impl TryFrom<JobRow> for JobRecord {
    type Error = StoreError;

    fn try_from(row: JobRow) -> Result<Self, StoreError> {
        let id = row.id.0;
        let corrupt = |what: &str| StoreError::corrupt(format!("job {id}: {what}"));
        Ok(Self {
            id: row.id.0,
            state: row
                .state
                .parse()
                .map_err(|e: pricesync_domain::ParseStateError| {
                    StoreError::corrupt_because(format!("job {id}: state"), e)
                })?,
            providers: row.providers.split(',').map(str::to_owned).collect(),
            dry_run: row.dry_run,
            triggered_by: row.triggered_by,
            attempt: u32::try_from(row.attempt).map_err(|_| corrupt("negative attempt"))?,
            max_attempts: u32::try_from(row.max_attempts).map_err(|_| corrupt("negative max"))?,
            worker: row.worker,
            cancel_requested: row.cancel_requested,
            created_at: row.created_at.0,
            started_at: row.started_at.map(|t| t.0),
            heartbeat_at: row.heartbeat_at.map(|t| t.0),
            finished_at: row.finished_at.map(|t| t.0),
            providers_total: u32::try_from(row.providers_total).unwrap_or(0),
            providers_done: u32::try_from(row.providers_done).unwrap_or(0),
            models_processed: u64::try_from(row.models_processed).unwrap_or(0),
            error: row.error,
            schedule_name: row.schedule_name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_truncated_to_500_characters() {
        let long = "é".repeat(800);
        let cut = truncate_error(&long);
        assert_eq!(cut.chars().count(), 500);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate_error("short"), "short");
    }

    #[test]
    fn a_nul_from_outside_is_stored_escaped() {
        assert_eq!(
            truncate_error("upstream said \0bad\0"),
            "upstream said \\0bad\\0"
        );
    }
}
