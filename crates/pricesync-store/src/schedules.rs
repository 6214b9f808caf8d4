//! Schedules: leaderless, exactly-once slots. Every replica may tick; a tick
//! enqueues a slot's job only through a compare-and-set on the schedule row
//! in the same transaction, so N replicas produce one job per slot.

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::jobs::{insert_queued, EnqueueAbort, QueuedJob, Refusal};
use crate::schema::{pricing_sync_jobs as jobs, pricing_sync_schedules as schedules};
use crate::sql_types::{DbNow, DbNowPlus, SqlTime, SqlUuid};
use crate::store::on_conn;
use crate::{JobRecord, NewJob, ScheduleSlot, Store, StoreError, StoreResult};

/// A schedule as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRecord {
    /// Its name (`default`, or `provider:<name>` for a provider's own interval).
    pub name: String,
    /// The providers each run syncs.
    pub providers: Vec<String>,
    /// Time between runs, in seconds.
    pub interval_seconds: u64,
    /// Whether ticks enqueue runs.
    pub enabled: bool,
    /// When the next run is due.
    pub next_run_at: OffsetDateTime,
    /// The slot of the last run enqueued (or skipped).
    pub last_slot_at: Option<OffsetDateTime>,
    /// The last job enqueued.
    pub last_job_id: Option<Uuid>,
    /// Failed runs in a row.
    pub consecutive_failures: u32,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = schedules)]
struct ScheduleRow {
    name: String,
    providers: String,
    interval_seconds: i64,
    enabled: bool,
    next_run_at: SqlTime,
    last_slot_at: Option<SqlTime>,
    last_job_id: Option<SqlUuid>,
    consecutive_failures: i32,
    version: i64,
}

impl From<ScheduleRow> for ScheduleRecord {
    fn from(row: ScheduleRow) -> Self {
        Self {
            name: row.name,
            providers: row.providers.split(',').map(str::to_owned).collect(),
            interval_seconds: u64::try_from(row.interval_seconds).unwrap_or(0),
            enabled: row.enabled,
            next_run_at: row.next_run_at.0,
            last_slot_at: row.last_slot_at.map(|t| t.0),
            last_job_id: row.last_job_id.map(|u| u.0),
            consecutive_failures: u32::try_from(row.consecutive_failures).unwrap_or(0),
        }
    }
}

/// What one tick of a schedule did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickOutcome {
    /// The schedule is disabled.
    Disabled,
    /// Not due yet.
    NotDue {
        /// When it is due.
        next_run_at: OffsetDateTime,
    },
    /// This tick enqueued the slot's job.
    Enqueued(JobRecord),
    /// The slot was due but a job of the same providers is queued or running:
    /// the slot is skipped (advanced without a job).
    Busy {
        /// The job in the way.
        active: JobRecord,
        /// The provider they share.
        provider: String,
    },
    /// Another replica took the slot first.
    LostRace,
}

/// What the tick transaction concluded, before the outcome is resolved.
enum TickResult {
    Disabled,
    NotDue(OffsetDateTime),
    Enqueued(Box<JobRecord>),
    Busy(Vec<String>),
    LostRace,
}

fn interval_seconds(interval: Duration) -> StoreResult<i64> {
    match i64::try_from(interval.as_secs()) {
        Ok(s) if s > 0 => Ok(s),
        _ => Err(StoreError::InvalidArgument(format!(
            "schedule interval {interval:?} must be at least a second"
        ))),
    }
}

impl Store {
    /// Creates the schedule if it does not exist (first run `first_delay`
    /// from now), else updates its providers, interval and switch, keeping
    /// its next run — brought forward if the new interval makes it sooner,
    /// and, if it is already due, put `first_delay` from now (one catch-up
    /// run after a start-up delay, not a burst).
    pub async fn ensure_schedule(
        &self,
        name: &str,
        providers: &[String],
        interval: Duration,
        enabled: bool,
        first_delay: Duration,
    ) -> StoreResult<ScheduleRecord> {
        let seconds = interval_seconds(interval)?;
        let providers = providers.join(",");
        on_conn!(self, writer, |conn| {
            conn.transaction(async |conn| -> StoreResult<()> {
                let inserted = diesel::insert_into(schedules::table)
                    .values((
                        schedules::name.eq(name),
                        schedules::providers.eq(&providers),
                        schedules::interval_seconds.eq(seconds),
                        schedules::enabled.eq(enabled),
                        schedules::next_run_at.eq(DbNowPlus::after(first_delay)),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
                if inserted == 0 {
                    diesel::update(schedules::table.filter(schedules::name.eq(name)))
                        .set((
                            schedules::providers.eq(&providers),
                            schedules::interval_seconds.eq(seconds),
                            schedules::enabled.eq(enabled),
                            schedules::updated_at.eq(DbNow),
                            schedules::version.eq(schedules::version + 1),
                        ))
                        .execute(conn)
                        .await?;
                    diesel::update(
                        schedules::table
                            .filter(schedules::name.eq(name))
                            .filter(schedules::next_run_at.gt(DbNowPlus::after(interval))),
                    )
                    .set(schedules::next_run_at.eq(DbNowPlus::after(interval)))
                    .execute(conn)
                    .await?;
                    // A run already due waits for the start-up delay.
                    diesel::update(
                        schedules::table
                            .filter(schedules::name.eq(name))
                            .filter(schedules::next_run_at.lt(DbNowPlus::after(first_delay))),
                    )
                    .set(schedules::next_run_at.eq(DbNowPlus::after(first_delay)))
                    .execute(conn)
                    .await?;
                }
                Ok(())
            })
            .await?;
        });
        self.get_schedule(name)
            .await?
            .ok_or_else(|| StoreError::corrupt(format!("schedule {name} vanished")))
    }

    /// One schedule.
    pub async fn get_schedule(&self, name: &str) -> StoreResult<Option<ScheduleRecord>> {
        let row: Option<ScheduleRow> = on_conn!(self, readers, |conn| {
            schedules::table
                .filter(schedules::name.eq(name))
                .select(ScheduleRow::as_select())
                .first(conn)
                .await
                .optional()?
        });
        Ok(row.map(ScheduleRecord::from))
    }

    /// Every schedule, by name.
    pub async fn list_schedules(&self) -> StoreResult<Vec<ScheduleRecord>> {
        let rows: Vec<ScheduleRow> = on_conn!(self, readers, |conn| {
            schedules::table
                .select(ScheduleRow::as_select())
                .order(schedules::name)
                .load(conn)
                .await?
        });
        Ok(rows.into_iter().map(ScheduleRecord::from).collect())
    }

    /// Ticks a schedule: when due, advances it (next run one interval from
    /// now: missed slots make one catch-up run, not a burst) and enqueues the
    /// slot's job, all in one transaction guarded by a compare-and-set on the
    /// row's version. `job` gives the job's settings; its providers and
    /// schedule slot are the schedule's.
    pub async fn tick_schedule(&self, name: &str, job: &NewJob) -> StoreResult<TickOutcome> {
        let result: Result<TickResult, Refusal> = on_conn!(self, writer, |conn| {
            let tick = conn.transaction(async |conn| -> Result<TickResult, EnqueueAbort> {
                let row: Option<(ScheduleRow, bool)> = schedules::table
                    .filter(schedules::name.eq(name))
                    .select((ScheduleRow::as_select(), schedules::next_run_at.le(DbNow)))
                    .first(conn)
                    .await
                    .optional()?;
                let Some((row, due)) = row else {
                    return Err(EnqueueAbort::Store(StoreError::InvalidArgument(format!(
                        "no schedule named {name}"
                    ))));
                };
                if !row.enabled {
                    return Ok(TickResult::Disabled);
                }
                if !due {
                    return Ok(TickResult::NotDue(row.next_run_at.0));
                }
                let interval =
                    Duration::from_secs(u64::try_from(row.interval_seconds).unwrap_or(1));
                let advanced = diesel::update(
                    schedules::table
                        .filter(schedules::name.eq(name))
                        .filter(schedules::version.eq(row.version)),
                )
                .set((
                    schedules::version.eq(row.version + 1),
                    schedules::last_slot_at.eq(Some(row.next_run_at)),
                    schedules::next_run_at.eq(DbNowPlus::after(interval)),
                    schedules::updated_at.eq(DbNow),
                ))
                .execute(conn)
                .await?;
                if advanced != 1 {
                    return Ok(TickResult::LostRace);
                }
                let mut slot_job = job.clone();
                slot_job.providers = row
                    .providers
                    .split(',')
                    .map(pricesync_domain::ProviderId::parse)
                    .collect::<Result<_, _>>()
                    .map_err(|e| StoreError::corrupt_because(format!("schedule {name}"), e))?;
                slot_job.schedule = Some(ScheduleSlot {
                    name: name.to_owned(),
                    slot: row.next_run_at.0,
                });
                let new = QueuedJob::new(&slot_job, None);
                match insert_queued!(conn, &new) {
                    Ok(job) => {
                        diesel::update(schedules::table.filter(schedules::name.eq(name)))
                            .set(schedules::last_job_id.eq(Some(new.id())))
                            .execute(conn)
                            .await?;
                        Ok(TickResult::Enqueued(Box::new(JobRecord::try_from(job)?)))
                    }
                    Err(EnqueueAbort::Refused(Refusal::Busy)) => {
                        // Skip the slot: keep it advanced, drop the job row
                        // (and with it any provider it claimed).
                        let orphans: Vec<SqlUuid> = jobs::table
                            .filter(jobs::schedule_name.eq(name))
                            .filter(jobs::schedule_slot.eq(Some(row.next_run_at)))
                            .select(jobs::id)
                            .load(conn)
                            .await?;
                        diesel::delete(jobs::table.filter(jobs::id.eq_any(orphans)))
                            .execute(conn)
                            .await?;
                        Ok(TickResult::Busy(
                            new.providers().map(str::to_owned).collect(),
                        ))
                    }
                    Err(other) => Err(other),
                }
            });
            EnqueueAbort::settle(tick.await)?
        });
        match result {
            Ok(TickResult::Disabled) => Ok(TickOutcome::Disabled),
            Ok(TickResult::NotDue(next_run_at)) => Ok(TickOutcome::NotDue { next_run_at }),
            Ok(TickResult::LostRace) => Ok(TickOutcome::LostRace),
            Ok(TickResult::Enqueued(job)) => Ok(TickOutcome::Enqueued(*job)),
            Ok(TickResult::Busy(providers)) => {
                let names: Vec<&str> = providers.iter().map(String::as_str).collect();
                match self.active_job_with_lease(&names).await? {
                    Some(busy) => Ok(TickOutcome::Busy {
                        active: busy.job,
                        provider: busy.provider,
                    }),
                    // The job in the way finished meanwhile; the slot is
                    // skipped all the same and the next tick will run.
                    None => Ok(TickOutcome::LostRace),
                }
            }
            Err(Refusal::SlotTaken | Refusal::Busy) => Ok(TickOutcome::LostRace),
        }
    }

    /// Records how a scheduled run ended. A failure brings the next run
    /// forward to `retry_after` from now (the caller computes the backoff);
    /// a success resets the failure count.
    pub async fn record_schedule_result(
        &self,
        name: &str,
        succeeded: bool,
        retry_after: Duration,
    ) -> StoreResult<()> {
        on_conn!(self, writer, |conn| {
            if succeeded {
                diesel::update(schedules::table.filter(schedules::name.eq(name)))
                    .set((
                        schedules::consecutive_failures.eq(0),
                        schedules::updated_at.eq(DbNow),
                    ))
                    .execute(conn)
                    .await?;
            } else {
                conn.transaction(async |conn| -> StoreResult<()> {
                    diesel::update(schedules::table.filter(schedules::name.eq(name)))
                        .set((
                            schedules::consecutive_failures.eq(schedules::consecutive_failures + 1),
                            schedules::updated_at.eq(DbNow),
                            schedules::version.eq(schedules::version + 1),
                        ))
                        .execute(conn)
                        .await?;
                    diesel::update(
                        schedules::table
                            .filter(schedules::name.eq(name))
                            .filter(schedules::next_run_at.gt(DbNowPlus::after(retry_after))),
                    )
                    .set(schedules::next_run_at.eq(DbNowPlus::after(retry_after)))
                    .execute(conn)
                    .await?;
                    Ok(())
                })
                .await?;
            }
        });
        Ok(())
    }
}
