//! Schedules: leaderless, exactly-once slots. Every replica may tick; a tick
//! enqueues a slot's job only through a compare-and-set on the schedule row
//! in the same transaction, so N replicas produce one job per slot. A slot
//! is the row's `next_run_at`; the next one is computed from the database
//! clock's "now" by the schedule's [`Cadence`] (an interval, or a cron
//! expression in UTC), so interval and cron slots are claimed alike.

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use pricesync_domain::{Cadence, CronSchedule};
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
    /// Its name (`default`, or `provider:<name>` for a provider's own
    /// interval or cron expression).
    pub name: String,
    /// The providers each run syncs.
    pub providers: Vec<String>,
    /// When it runs: every interval, or at the slots of a cron expression
    /// in UTC.
    pub cadence: Cadence,
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
    cron_expression: Option<String>,
}

impl ScheduleRow {
    /// The row's cadence: its cron expression when it has one, else its
    /// interval.
    fn cadence(&self) -> StoreResult<Cadence> {
        match &self.cron_expression {
            Some(expression) => CronSchedule::parse(expression)
                .map(Cadence::Cron)
                .map_err(|e| StoreError::corrupt_because(format!("schedule {}", self.name), e)),
            None => match u64::try_from(self.interval_seconds) {
                Ok(s) if s > 0 => Ok(Cadence::Every(Duration::from_secs(s))),
                _ => Err(StoreError::corrupt(format!(
                    "schedule {} has interval_seconds {}",
                    self.name, self.interval_seconds
                ))),
            },
        }
    }
}

impl TryFrom<ScheduleRow> for ScheduleRecord {
    type Error = StoreError;

    fn try_from(row: ScheduleRow) -> StoreResult<Self> {
        Ok(Self {
            cadence: row.cadence()?,
            providers: row.providers.split(',').map(str::to_owned).collect(),
            enabled: row.enabled,
            next_run_at: row.next_run_at.0,
            last_slot_at: row.last_slot_at.map(|t| t.0),
            last_job_id: row.last_job_id.map(|u| u.0),
            consecutive_failures: u32::try_from(row.consecutive_failures).unwrap_or(0),
            name: row.name,
        })
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

/// The `interval_seconds` column of a schedule: its interval, or for a
/// cron schedule the gap between the expression's next two slots after
/// `now` (what a binary without cron support would run it by; see the
/// migration `2026-11-30-000004_cron_schedules`).
fn interval_seconds(cadence: &Cadence, now: OffsetDateTime) -> StoreResult<i64> {
    let interval = match cadence {
        Cadence::Every(interval) => *interval,
        Cadence::Cron(cron) => cron
            .next_after(now)
            .and_then(|first| Some((first, cron.next_after(first)?)))
            .and_then(|(first, second)| Duration::try_from(second - first).ok())
            .unwrap_or(Duration::from_secs(24 * 3600)),
    };
    match i64::try_from(interval.as_secs()) {
        Ok(s) if s > 0 => Ok(s),
        _ => Err(StoreError::InvalidArgument(format!(
            "schedule interval {interval:?} must be at least a second"
        ))),
    }
}

/// The run after one at `now`, by `cadence`; an error names the schedule
/// when there is none (a cron expression with no slot left in range).
fn next_run(name: &str, cadence: &Cadence, now: OffsetDateTime) -> StoreResult<SqlTime> {
    cadence.next_after(now).map(SqlTime).ok_or_else(|| {
        StoreError::InvalidArgument(format!(
            "schedule {name} ({cadence}) has no run after {now}"
        ))
    })
}

/// How often [`Store::ensure_schedule`] re-reads a row that a concurrent
/// writer changed under it before giving up.
const ENSURE_ATTEMPTS: usize = 5;

impl Store {
    /// Creates the schedule if it does not exist, else updates its
    /// providers, cadence and switch, keeping its next run, with these
    /// exceptions (all times on the database clock):
    ///
    /// - a new interval schedule first runs `first_delay` from now; a new
    ///   cron schedule at its first slot;
    /// - an interval schedule's next run is brought forward to one interval
    ///   from now if that is sooner; a cron schedule whose expression
    ///   changed (or that was an interval schedule) next runs at the new
    ///   expression's first slot;
    /// - a run already due (slots were missed while no engine ran) is put
    ///   `first_delay` from now: one catch-up run after a start-up delay,
    ///   not a burst. An interval schedule also waits for the delay when its
    ///   run is due within it; a cron slot still ahead is kept.
    ///
    /// The update is a compare-and-set on the row's version, like a tick.
    pub async fn ensure_schedule(
        &self,
        name: &str,
        providers: &[String],
        cadence: &Cadence,
        enabled: bool,
        first_delay: Duration,
    ) -> StoreResult<ScheduleRecord> {
        let providers = providers.join(",");
        let cron = cadence.cron().map(CronSchedule::expression);
        let delay = time::Duration::try_from(first_delay).map_err(|_| {
            StoreError::InvalidArgument(format!("start-up delay {first_delay:?} is too long"))
        })?;
        for _ in 0..ENSURE_ATTEMPTS {
            let written: bool = on_conn!(self, writer, |conn| {
                conn.transaction(async |conn| -> StoreResult<bool> {
                    let now: SqlTime = diesel::select(DbNow).get_result(conn).await?;
                    let now = now.0;
                    let seconds = interval_seconds(cadence, now)?;
                    let stored: Option<ScheduleRow> = schedules::table
                        .filter(schedules::name.eq(name))
                        .select(ScheduleRow::as_select())
                        .first(conn)
                        .await
                        .optional()?;
                    let Some(stored) = stored else {
                        let first = match cadence {
                            Cadence::Every(_) => SqlTime(now + delay),
                            Cadence::Cron(_) => next_run(name, cadence, now)?,
                        };
                        let inserted = diesel::insert_into(schedules::table)
                            .values((
                                schedules::name.eq(name),
                                schedules::providers.eq(&providers),
                                schedules::interval_seconds.eq(seconds),
                                schedules::cron_expression.eq(cron),
                                schedules::enabled.eq(enabled),
                                schedules::next_run_at.eq(first),
                            ))
                            .on_conflict_do_nothing()
                            .execute(conn)
                            .await?;
                        return Ok(inserted == 1);
                    };
                    let mut next = stored.next_run_at.0;
                    match cadence {
                        Cadence::Every(_) => {
                            next = next.min(next_run(name, cadence, now)?.0);
                            next = next.max(now + delay);
                        }
                        Cadence::Cron(_) => {
                            if stored.cron_expression.as_deref() != cron {
                                next = next_run(name, cadence, now)?.0;
                            } else if next <= now {
                                next = now + delay;
                            }
                        }
                    }
                    let updated = diesel::update(
                        schedules::table
                            .filter(schedules::name.eq(name))
                            .filter(schedules::version.eq(stored.version)),
                    )
                    .set((
                        schedules::providers.eq(&providers),
                        schedules::interval_seconds.eq(seconds),
                        schedules::cron_expression.eq(cron),
                        schedules::enabled.eq(enabled),
                        schedules::next_run_at.eq(SqlTime(next)),
                        schedules::updated_at.eq(DbNow),
                        schedules::version.eq(stored.version + 1),
                    ))
                    .execute(conn)
                    .await?;
                    Ok(updated == 1)
                })
                .await?
            });
            if written {
                return self
                    .get_schedule(name)
                    .await?
                    .ok_or_else(|| StoreError::corrupt(format!("schedule {name} vanished")));
            }
        }
        // Ticks of other engines kept advancing the row: it stands as they
        // left it; the next start-up writes it again.
        tracing::warn!(
            schedule = name,
            attempts = ENSURE_ATTEMPTS,
            "the schedule kept changing while it was being written; left as it is"
        );
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
        row.map(ScheduleRecord::try_from).transpose()
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
        rows.into_iter().map(ScheduleRecord::try_from).collect()
    }

    /// Ticks a schedule: when due, advances it (next run one interval from
    /// now, or the cron expression's first slot after now: missed slots make
    /// one catch-up run, not a burst) and enqueues the slot's job, all in
    /// one transaction guarded by a compare-and-set on the row's version. `job` gives the job's settings; its providers and
    /// schedule slot are the schedule's.
    pub async fn tick_schedule(&self, name: &str, job: &NewJob) -> StoreResult<TickOutcome> {
        let result: Result<TickResult, Refusal> = on_conn!(self, writer, |conn| {
            let tick = conn.transaction(async |conn| -> Result<TickResult, EnqueueAbort> {
                let row: Option<(ScheduleRow, bool, SqlTime)> = schedules::table
                    .filter(schedules::name.eq(name))
                    .select((
                        ScheduleRow::as_select(),
                        schedules::next_run_at.le(DbNow),
                        DbNow,
                    ))
                    .first(conn)
                    .await
                    .optional()?;
                let Some((row, due, now)) = row else {
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
                let next = next_run(name, &row.cadence()?, now.0)?;
                let advanced = diesel::update(
                    schedules::table
                        .filter(schedules::name.eq(name))
                        .filter(schedules::version.eq(row.version)),
                )
                .set((
                    schedules::version.eq(row.version + 1),
                    schedules::last_slot_at.eq(Some(row.next_run_at)),
                    schedules::next_run_at.eq(next),
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
    /// forward to `retry_after` from now (the caller computes the backoff),
    /// never later: a retry never goes past the schedule's next slot. A
    /// success resets the failure count.
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
