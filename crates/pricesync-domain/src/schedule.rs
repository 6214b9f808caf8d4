//! When a schedule runs: every fixed interval, or at the slots of a cron
//! expression in UTC. Only the arithmetic lives here; which clock says
//! "now" is the caller's (the store passes the database's).

use std::cmp::Ordering;
use std::fmt;
use std::time::Duration;

use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};
use croner::{CivilDateTime, Cron, CronDateTime, Resolution};
use time::{Month, OffsetDateTime, UtcOffset};

/// A standard five-field cron expression (`minute hour day-of-month month
/// day-of-week`), evaluated in UTC. Names (`MON`, `JAN`), ranges, lists,
/// steps, `L`, `W`, `#` and the nicknames `@hourly`, `@daily`, `@weekly`,
/// `@monthly`, `@yearly` are accepted; a seconds or a year field is not
/// (a six-field expression would otherwise be read with seconds first, and
/// `0 3 * * * *` would silently mean "every hour at minute 3").
#[derive(Clone)]
pub struct CronSchedule {
    /// The expression as written (trimmed), for display and storage.
    expression: String,
    /// Boxed: the parsed pattern is a few hundred bytes, and a
    /// [`Cadence`] is mostly an interval.
    cron: Box<Cron>,
}

impl CronSchedule {
    /// Parses `expression`. Refuses an expression that is malformed or that
    /// never matches a date (`0 0 30 2 *`).
    pub fn parse(expression: &str) -> Result<Self, CronScheduleError> {
        let expression = expression.trim();
        let invalid = |reason: String| CronScheduleError {
            expression: expression.to_owned(),
            reason,
        };
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(expression)
            .map_err(|e| invalid(describe(&e)))?;
        let schedule = Self {
            expression: expression.to_owned(),
            cron: Box::new(cron),
        };
        // Without a year field, an expression that matches at all matches
        // within any 28 years (the calendar repeats): look from a fixed
        // instant, so that parsing needs no clock.
        let reference = OffsetDateTime::UNIX_EPOCH + time::Duration::days(365 * 30);
        if schedule.next_after(reference).is_none() {
            return Err(invalid(
                "it never matches a date (a day that no month has?)".to_owned(),
            ));
        }
        Ok(schedule)
    }

    /// The expression as written.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The first slot strictly after `after` (in UTC, on a whole minute).
    /// `None` when there is none within croner's search range, or `after`
    /// is outside years 1 to 4999.
    pub fn next_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        let start = UtcInstant::new(after.to_offset(UtcOffset::UTC))?;
        self.cron
            .find_next_occurrence(&start, false)
            .ok()
            .map(|next| next.at)
    }
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CronSchedule")
            .field(&self.expression)
            .finish()
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expression)
    }
}

/// Two schedules are equal when they are written alike.
impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.expression == other.expression
    }
}

impl Eq for CronSchedule {}

/// A cron expression that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron expression {expression:?}: {reason}; use five fields in UTC: minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\" for 03:00 UTC every day")]
pub struct CronScheduleError {
    /// The expression.
    pub expression: String,
    /// What is wrong with it.
    pub reason: String,
}

fn describe(error: &CronError) -> String {
    match error {
        CronError::EmptyPattern => "it is empty".to_owned(),
        CronError::InvalidPattern(m)
        | CronError::IllegalCharacters(m)
        | CronError::ComponentError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// How often a schedule runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cadence {
    /// Every interval, counted from the previous run (at least a second).
    Every(Duration),
    /// At the slots of a cron expression, in UTC.
    Cron(CronSchedule),
}

impl Cadence {
    /// When the run after one at `now` is due: `now + interval`, or the
    /// first cron slot strictly after `now` (so slots missed while nothing
    /// ran are not made up one by one: one run, then the grid again).
    pub fn next_after(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        match self {
            Self::Every(interval) => time::Duration::try_from(*interval)
                .ok()
                .and_then(|d| now.checked_add(d)),
            Self::Cron(cron) => cron.next_after(now),
        }
    }

    /// The cron schedule, if this is one.
    pub fn cron(&self) -> Option<&CronSchedule> {
        match self {
            Self::Cron(cron) => Some(cron),
            Self::Every(_) => None,
        }
    }

    /// The interval, if this is one.
    pub fn interval(&self) -> Option<Duration> {
        match self {
            Self::Every(interval) => Some(*interval),
            Self::Cron(_) => None,
        }
    }
}

impl fmt::Display for Cadence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Every(interval) => write!(f, "every {} s", interval.as_secs()),
            Self::Cron(cron) => write!(f, "cron \"{cron}\" (UTC)"),
        }
    }
}

/// An instant in UTC as croner walks it: a UTC wall clock has no gaps and
/// no repeated hours, so every civil time resolves to one instant.
#[derive(Clone, Copy)]
struct UtcInstant {
    at: OffsetDateTime,
    civil: CivilDateTime,
}

impl UtcInstant {
    /// `None` outside the years croner handles.
    fn new(at: OffsetDateTime) -> Option<Self> {
        let civil = CivilDateTime::from_ymd_hms_opt(
            at.year(),
            u32::from(u8::from(at.month())),
            u32::from(at.day()),
            u32::from(at.hour()),
            u32::from(at.minute()),
            u32::from(at.second()),
        )?;
        Some(Self { at, civil })
    }
}

impl CronDateTime for UtcInstant {
    fn to_civil(&self) -> CivilDateTime {
        self.civil
    }

    fn civil_weekday(&self) -> croner::Weekday {
        croner::Weekday::from_days_from_sunday(u32::from(
            self.at.weekday().number_days_from_sunday(),
        ))
    }

    fn resolve_civil(&self, civil: CivilDateTime) -> Result<Resolution<Self>, CronError> {
        let month = u8::try_from(civil.month())
            .ok()
            .and_then(|m| Month::try_from(m).ok())
            .ok_or(CronError::InvalidDate)?;
        let day = u8::try_from(civil.day()).map_err(|_| CronError::InvalidDate)?;
        let date = time::Date::from_calendar_date(civil.year(), month, day)
            .map_err(|_| CronError::InvalidDate)?;
        let hms = |v: u32| u8::try_from(v).map_err(|_| CronError::InvalidTime);
        let clock = time::Time::from_hms(
            hms(civil.hour())?,
            hms(civil.minute())?,
            hms(civil.second())?,
        )
        .map_err(|_| CronError::InvalidTime)?;
        let at = date.with_time(clock).assume_utc();
        Ok(Resolution::Single(Self { at, civil }))
    }

    fn checked_add_seconds(&self, seconds: i64) -> Option<Self> {
        Self::new(self.at.checked_add(time::Duration::seconds(seconds))?)
    }

    fn cmp_instant(&self, other: &Self) -> Ordering {
        self.at.cmp(&other.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn cron(expression: &str) -> CronSchedule {
        CronSchedule::parse(expression).expect("valid")
    }

    #[test]
    fn five_fields_in_utc_are_accepted() {
        let daily = cron(" 0 3 * * * ");
        assert_eq!(daily.expression(), "0 3 * * *");
        assert_eq!(
            daily.next_after(datetime!(2026-11-30 14:12:57.5 UTC)),
            Some(datetime!(2026-12-01 03:00 UTC))
        );
        // An instant given in another offset is the same instant.
        assert_eq!(
            daily.next_after(datetime!(2026-12-01 03:30 +01:00)),
            Some(datetime!(2026-12-01 03:00 UTC)),
            "02:30 UTC: today's 03:00 UTC is still ahead"
        );
        for expression in [
            "*/15 * * * *",
            "0 1-5 * * MON-FRI",
            "30 2 1,15 * *",
            "0 0 L * *",
            "@daily",
            "0 4 * JAN,JUL SUN",
        ] {
            cron(expression);
        }
        assert_eq!(
            cron("@hourly").next_after(datetime!(2026-11-30 14:12 UTC)),
            Some(datetime!(2026-11-30 15:00 UTC))
        );
    }

    #[test]
    fn a_slot_boundary_belongs_to_the_past() {
        let daily = cron("0 3 * * *");
        // Exactly on the slot: that slot is now, the next is tomorrow.
        assert_eq!(
            daily.next_after(datetime!(2026-12-01 03:00 UTC)),
            Some(datetime!(2026-12-02 03:00 UTC))
        );
        // A millisecond before it: the slot is still ahead.
        assert_eq!(
            daily.next_after(datetime!(2026-12-01 02:59:59.999 UTC)),
            Some(datetime!(2026-12-01 03:00 UTC))
        );
        // Month and year ends.
        assert_eq!(
            cron("0 0 1 * *").next_after(datetime!(2026-12-31 23:59:59 UTC)),
            Some(datetime!(2027-01-01 00:00 UTC))
        );
        assert_eq!(
            cron("0 12 29 2 *").next_after(datetime!(2026-03-01 00:00 UTC)),
            Some(datetime!(2028-02-29 12:00 UTC))
        );
    }

    #[test]
    fn missed_slots_give_one_next_run_not_a_burst() {
        // Every replica was down for three days of an hourly schedule: the
        // next run after "now" is the next slot ahead, not the 72 missed.
        let hourly = Cadence::Cron(cron("0 * * * *"));
        let now = datetime!(2026-12-04 10:20 UTC);
        assert_eq!(
            hourly.next_after(now),
            Some(datetime!(2026-12-04 11:00 UTC))
        );
        let every = Cadence::Every(Duration::from_secs(6 * 3600));
        assert_eq!(every.next_after(now), Some(datetime!(2026-12-04 16:20 UTC)));
    }

    #[test]
    fn malformed_or_impossible_expressions_are_refused() {
        for expression in [
            "",
            "0 3 * *",
            "0 3 * * * *",
            "0 3 * * * * 2027",
            "61 * * * *",
            "0 24 * * *",
            "0 3 * * MONDAY",
            "every day",
            "0 0 30 2 *",
            "0 0 31 4,6,9,11 *",
        ] {
            let e = CronSchedule::parse(expression).expect_err(expression);
            assert_eq!(e.expression, expression.trim());
            assert!(e.to_string().contains("five fields"), "{e}");
        }
    }
}
