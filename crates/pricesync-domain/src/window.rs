//! UTC time-of-day windows: a price that applies only at certain hours,
//! optionally only on certain weekdays.
//!
//! OpenRouter publishes such prices as `overrides` entries with
//! `"utc_start": HHMM, "utc_end": HHMM` (integers: `1000` is 10:00, `100` is
//! 01:00) and optionally `"utc_days": ["monday", …]`. As its documentation
//! defines them: the start is inclusive, the end exclusive; a window whose
//! end is not after its start wraps past midnight (10:00 → 01:00 covers
//! 10:00-24:00 and 00:00-01:00; an end of 0 is the end of the day, and a
//! start equal to the end is the whole day); the weekday is the one of the
//! request instant in UTC (a Friday 22:00 → 02:00 window does not hold
//! Saturday 01:00).

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, Weekday};

/// Minutes in a day.
pub const MINUTES_PER_DAY: u16 = 24 * 60;

const EVERY_DAY: u8 = 0x7f;

const DAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Why a window cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// A time is not a valid `HHMM` (hours 0-23, minutes 0-59; `2400` is
    /// accepted as an end: midnight).
    #[error("{0} is not a time of day as HHMM (e.g. 1000 for 10:00, 100 for 01:00)")]
    BadTime(i64),
    /// A weekday name is not one of `monday` … `sunday`.
    #[error("{0:?} is not a weekday (monday … sunday)")]
    BadDay(String),
    /// The window names no weekday.
    #[error("the window names no weekday")]
    NoDays,
    /// A stored window's text is not [`TimeWindow::code`]'s form.
    #[error("{0:?} is not a stored time window (HH:MM-HH:MM[@mon,tue,...])")]
    BadCode(String),
}

/// A UTC time-of-day window, `[start, end)` in minutes since midnight,
/// wrapping past midnight when `end <= start`, on some weekdays (every day
/// unless restricted). One form per window: an end at midnight is held as
/// 1440 (24:00) and the whole day as `00:00-24:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimeWindow {
    days: u8,
    start_minute: u16,
    end_minute: u16,
}

impl TimeWindow {
    /// A window from minutes since midnight, every day. `end` may be 1440
    /// (midnight); an end of 0 is also midnight; `start == end` is the whole
    /// day.
    pub fn from_minutes(start_minute: u16, end_minute: u16) -> Result<Self, WindowError> {
        if start_minute >= MINUTES_PER_DAY {
            return Err(WindowError::BadTime(i64::from(start_minute)));
        }
        if end_minute > MINUTES_PER_DAY {
            return Err(WindowError::BadTime(i64::from(end_minute)));
        }
        let (start_minute, end_minute) = if start_minute == end_minute % MINUTES_PER_DAY {
            (0, MINUTES_PER_DAY)
        } else if end_minute == 0 {
            (start_minute, MINUTES_PER_DAY)
        } else {
            (start_minute, end_minute)
        };
        Ok(Self {
            days: EVERY_DAY,
            start_minute,
            end_minute,
        })
    }

    /// A window from OpenRouter's `HHMM` integers, every day.
    pub fn from_hhmm(start: i64, end: i64) -> Result<Self, WindowError> {
        let minutes = |value: i64, is_end: bool| -> Result<u16, WindowError> {
            let (hours, minutes) = (value / 100, value % 100);
            let valid = value >= 0 && minutes < 60 && (hours < 24 || (is_end && value == 2400));
            if !valid {
                return Err(WindowError::BadTime(value));
            }
            u16::try_from(hours * 60 + minutes).map_err(|_| WindowError::BadTime(value))
        };
        Self::from_minutes(minutes(start, false)?, minutes(end, true)?)
    }

    /// The whole day, every day (restrict it with [`TimeWindow::on_days`]).
    pub fn whole_day() -> Self {
        Self {
            days: EVERY_DAY,
            start_minute: 0,
            end_minute: MINUTES_PER_DAY,
        }
    }

    /// The same window, only on the named weekdays (`"monday"` … `"sunday"`,
    /// any case).
    pub fn on_days<S: AsRef<str>>(self, names: &[S]) -> Result<Self, WindowError> {
        let mut days = 0u8;
        for name in names {
            let name = name.as_ref();
            let index = DAY_NAMES
                .iter()
                .position(|d| d.eq_ignore_ascii_case(name))
                .ok_or_else(|| WindowError::BadDay(name.to_owned()))?;
            days |= 1 << index;
        }
        Self::with_day_mask(self, days)
    }

    /// The same window on the weekdays of `mask` (bit 0 Monday … bit 6
    /// Sunday), as [`TimeWindow::day_mask`] gives it.
    pub fn with_day_mask(self, mask: u8) -> Result<Self, WindowError> {
        if mask & EVERY_DAY == 0 {
            return Err(WindowError::NoDays);
        }
        Ok(Self {
            days: mask & EVERY_DAY,
            ..self
        })
    }

    /// The weekdays, bit 0 Monday … bit 6 Sunday (`0x7f`: every day).
    pub fn day_mask(self) -> u8 {
        self.days
    }

    /// Whether the window holds on every weekday.
    pub fn every_day(self) -> bool {
        self.days == EVERY_DAY
    }

    /// The first minute of the window, since midnight UTC.
    pub fn start_minute(self) -> u16 {
        self.start_minute
    }

    /// The minute the window ends (exclusive), since midnight UTC, from 1 to
    /// 1440 (24:00).
    pub fn end_minute(self) -> u16 {
        self.end_minute
    }

    /// Whether the window wraps past midnight.
    pub fn wraps(self) -> bool {
        self.end_minute <= self.start_minute
    }

    /// Whether `minute` (since midnight UTC) of a day with weekday index
    /// `day` (0 Monday … 6 Sunday) is in the window.
    pub fn contains_minute(self, day: u8, minute: u16) -> bool {
        if day > 6 || self.days & (1 << day) == 0 {
            return false;
        }
        if self.wraps() {
            minute >= self.start_minute || minute < self.end_minute
        } else {
            (self.start_minute..self.end_minute).contains(&minute)
        }
    }

    /// Whether the instant `at` falls in the window (by its UTC weekday and
    /// time of day).
    pub fn contains(self, at: OffsetDateTime) -> bool {
        let (day, minute) = day_and_minute(at);
        self.contains_minute(day, minute)
    }

    /// The window's minutes of one day, as at most two non-wrapping ranges.
    fn ranges(self) -> [std::ops::Range<u16>; 2] {
        if self.wraps() {
            [self.start_minute..MINUTES_PER_DAY, 0..self.end_minute]
        } else {
            [self.start_minute..self.end_minute, 0..0]
        }
    }

    /// Whether two windows share a minute of a weekday.
    pub fn overlaps(self, other: TimeWindow) -> bool {
        self.days & other.days != 0
            && self.ranges().iter().any(|a| {
                other
                    .ranges()
                    .iter()
                    .any(|b| a.start < b.end && b.start < a.end)
            })
    }

    /// How many minutes of each of its weekdays the window covers.
    pub fn minutes_per_day(self) -> u16 {
        self.ranges().iter().map(|r| r.end - r.start).sum()
    }

    /// Whether non-overlapping `windows` cover every minute of the week.
    pub fn cover_the_week(windows: &[TimeWindow]) -> bool {
        (0..7u8).all(|day| {
            let covered: u32 = windows
                .iter()
                .filter(|w| w.days & (1 << day) != 0)
                .map(|w| u32::from(w.minutes_per_day()))
                .sum();
            covered >= u32::from(MINUTES_PER_DAY)
        })
    }

    /// The weekday names of the window, Monday first.
    pub fn day_names(self) -> impl Iterator<Item = &'static str> {
        DAY_NAMES
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.days & (1 << i) != 0)
            .map(|(_, name)| *name)
    }
}

impl TimeWindow {
    /// A compact text form, one per window, for storage: `10:00-01:00`, or
    /// `00:00-24:00@sat,sun` when restricted to weekdays. Read back with
    /// [`TimeWindow::from_code`].
    pub fn code(self) -> String {
        let mut code = format!("{}-{}", hhmm(self.start_minute), hhmm(self.end_minute));
        if !self.every_day() {
            let days: Vec<&str> = self.day_names().map(|d| &d[..3]).collect();
            code.push('@');
            code.push_str(&days.join(","));
        }
        code
    }

    /// Reads [`TimeWindow::code`]'s form.
    pub fn from_code(code: &str) -> Result<Self, WindowError> {
        let bad = || WindowError::BadCode(code.to_owned());
        let (times, days) = match code.split_once('@') {
            Some((times, days)) => (times, Some(days)),
            None => (code, None),
        };
        let (start, end) = times.split_once('-').ok_or_else(bad)?;
        let start = parse_hhmm_text(start).ok_or_else(bad)?;
        let end = parse_hhmm_text(end).ok_or_else(bad)?;
        let window = Self::from_minutes(start, end)?;
        let Some(days) = days else {
            return Ok(window);
        };
        let mut mask = 0u8;
        for short in days.split(',') {
            let index = DAY_NAMES
                .iter()
                .position(|d| short.len() == 3 && d.starts_with(short))
                .ok_or_else(bad)?;
            mask |= 1 << index;
        }
        window.with_day_mask(mask)
    }
}

/// The UTC weekday index (0 Monday … 6 Sunday) and minute of the day of `at`.
pub fn day_and_minute(at: OffsetDateTime) -> (u8, u16) {
    let utc = at.to_offset(time::UtcOffset::UTC);
    let day = match utc.weekday() {
        Weekday::Monday => 0,
        Weekday::Tuesday => 1,
        Weekday::Wednesday => 2,
        Weekday::Thursday => 3,
        Weekday::Friday => 4,
        Weekday::Saturday => 5,
        Weekday::Sunday => 6,
    };
    (day, u16::from(utc.hour()) * 60 + u16::from(utc.minute()))
}

fn hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

impl fmt::Display for TimeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{} UTC",
            hhmm(self.start_minute),
            hhmm(self.end_minute)
        )?;
        if !self.every_day() {
            let days: Vec<&str> = self.day_names().collect();
            write!(f, " on {}", days.join(", "))?;
        }
        Ok(())
    }
}

/// The JSON form: `{"utc_start": "10:00", "utc_end": "01:00"}`, with
/// `"utc_days": ["saturday", "sunday"]` when not every day.
#[derive(Serialize, Deserialize)]
struct WindowJson {
    utc_start: String,
    utc_end: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    utc_days: Option<Vec<String>>,
}

// The JSON object of a window, with the patterns clients can check.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for TimeWindow {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        let time = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"))
                .description(Some(description.to_owned()))
        };
        let day = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(DAY_NAMES));
        ObjectBuilder::new()
            .description(Some(
                "A UTC time-of-day window: from utc_start (inclusive) to utc_end (exclusive), \
                 wrapping past midnight when utc_end is not after utc_start; only on utc_days \
                 (the UTC weekday of the request) when present.",
            ))
            .property("utc_start", time("Start, HH:MM UTC, inclusive."))
            .required("utc_start")
            .property(
                "utc_end",
                time("End, HH:MM UTC, exclusive (24:00: midnight)."),
            )
            .required("utc_end")
            .property("utc_days", ArrayBuilder::new().items(day))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for TimeWindow {}

fn parse_hhmm_text(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && (h < 24 || m == 0)).then_some(h * 60 + m)
}

impl Serialize for TimeWindow {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WindowJson {
            utc_start: hhmm(self.start_minute),
            utc_end: hhmm(self.end_minute),
            utc_days: (!self.every_day()).then(|| self.day_names().map(str::to_owned).collect()),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for TimeWindow {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let json = WindowJson::deserialize(deserializer)?;
        let start = parse_hhmm_text(&json.utc_start).ok_or_else(|| {
            D::Error::custom(format!("utc_start {:?} is not HH:MM", json.utc_start))
        })?;
        let end = parse_hhmm_text(&json.utc_end)
            .ok_or_else(|| D::Error::custom(format!("utc_end {:?} is not HH:MM", json.utc_end)))?;
        let window = TimeWindow::from_minutes(start, end).map_err(D::Error::custom)?;
        match json.utc_days {
            None => Ok(window),
            Some(days) => window.on_days(&days).map_err(D::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn w(start: i64, end: i64) -> TimeWindow {
        TimeWindow::from_hhmm(start, end).expect("test window")
    }

    #[test]
    fn hhmm_integers_are_read_as_openrouter_documents_them() {
        let peak = w(1000, 100);
        assert_eq!(peak.start_minute(), 600);
        assert_eq!(peak.end_minute(), 60);
        assert!(peak.wraps());
        assert_eq!(peak.to_string(), "10:00-01:00 UTC");
        // An end of 0 is the end of the day; start == end is the whole day.
        assert_eq!(w(2200, 0), w(2200, 2400));
        assert!(!w(2200, 0).wraps());
        assert_eq!(w(0, 0), TimeWindow::whole_day());
        assert_eq!(w(1000, 1000), TimeWindow::whole_day());
        assert_eq!(w(0, 2400).minutes_per_day(), MINUTES_PER_DAY);
        assert_eq!(w(130, 945).minutes_per_day(), 8 * 60 + 15);
        for bad in [
            (2400, 100),
            (1060, 1100),
            (-1, 100),
            (100, 2401),
            (99, 2500),
        ] {
            assert!(
                TimeWindow::from_hhmm(bad.0, bad.1).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn boundaries_are_start_inclusive_end_exclusive_also_past_midnight() {
        let peak = w(1000, 100);
        assert!(!peak.contains(datetime!(2026-11-30 09:59:59 UTC)));
        assert!(peak.contains(datetime!(2026-11-30 10:00:00 UTC)));
        assert!(peak.contains(datetime!(2026-11-30 23:59:59 UTC)));
        assert!(peak.contains(datetime!(2026-12-01 00:00:00 UTC)));
        assert!(peak.contains(datetime!(2026-12-01 00:59:59 UTC)));
        assert!(!peak.contains(datetime!(2026-12-01 01:00:00 UTC)));
        // The time of day is read in UTC, whatever the offset of `at`.
        assert!(peak.contains(datetime!(2026-11-30 12:30:00 +02:00)));
        assert!(!peak.contains(datetime!(2026-11-30 11:30:00 +02:00)));
        assert!(peak.contains(datetime!(2026-11-30 23:30:00 -01:00)));
        assert!(!peak.contains(datetime!(2026-11-30 00:30:00 -01:00)));
        let off_peak = w(100, 1000);
        assert_eq!(
            peak.minutes_per_day() + off_peak.minutes_per_day(),
            MINUTES_PER_DAY
        );
        assert!(!peak.overlaps(off_peak));
        assert!(peak.overlaps(w(2300, 200)));
        assert!(peak.overlaps(w(0, 30)));
        assert!(!peak.overlaps(w(100, 130)));
        assert!(TimeWindow::cover_the_week(&[peak, off_peak]));
        assert!(!TimeWindow::cover_the_week(&[peak]));
    }

    #[test]
    fn weekdays_are_those_of_the_request_instant_in_utc() {
        let friday_night = w(2200, 200).on_days(&["Friday"]).expect("valid");
        // 2026-12-04 is a Friday.
        assert!(friday_night.contains(datetime!(2026-12-04 23:00 UTC)));
        assert!(friday_night.contains(datetime!(2026-12-04 01:00 UTC)));
        assert!(!friday_night.contains(datetime!(2026-12-05 01:00 UTC)));
        assert!(!friday_night.contains(datetime!(2026-12-03 23:00 UTC)));
        assert_eq!(friday_night.to_string(), "22:00-02:00 UTC on friday");
        let weekend = TimeWindow::whole_day()
            .on_days(&["saturday", "sunday"])
            .expect("valid");
        let weekdays = TimeWindow::whole_day()
            .on_days(&["monday", "tuesday", "wednesday", "thursday", "friday"])
            .expect("valid");
        assert!(!weekend.overlaps(weekdays));
        assert!(TimeWindow::cover_the_week(&[weekend, weekdays]));
        assert!(!TimeWindow::cover_the_week(&[weekend]));
        assert!(weekend.overlaps(TimeWindow::whole_day()));
        assert_eq!(
            w(0, 100).on_days(&["someday"]),
            Err(WindowError::BadDay("someday".into()))
        );
        assert_eq!(w(0, 100).on_days::<&str>(&[]), Err(WindowError::NoDays));
    }

    #[test]
    fn codes_round_trip() {
        let windows = [
            w(1000, 100),
            w(0, 0),
            w(2200, 0),
            w(130, 945).on_days(&["sunday", "monday"]).expect("valid"),
        ];
        for window in windows {
            assert_eq!(TimeWindow::from_code(&window.code()), Ok(window));
        }
        assert_eq!(w(1000, 100).code(), "10:00-01:00");
        assert_eq!(
            w(0, 0)
                .on_days(&["saturday", "sunday"])
                .expect("valid")
                .code(),
            "00:00-24:00@sat,sun"
        );
        for bad in [
            "",
            "10:00",
            "10:00-",
            "1000-0100",
            "10:00-01:00@",
            "10:00-01:00@xyz",
        ] {
            assert!(TimeWindow::from_code(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn json_is_hh_mm_text_with_days_when_restricted() {
        let json = serde_json::to_string(&w(1000, 100)).expect("serialise");
        assert_eq!(json, r#"{"utc_start":"10:00","utc_end":"01:00"}"#);
        let back: TimeWindow = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, w(1000, 100));
        let weekend = w(0, 0).on_days(&["sunday", "saturday"]).expect("valid");
        let json = serde_json::to_string(&weekend).expect("serialise");
        assert_eq!(
            json,
            r#"{"utc_start":"00:00","utc_end":"24:00","utc_days":["saturday","sunday"]}"#
        );
        let back: TimeWindow = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, weekend);
        assert!(
            serde_json::from_str::<TimeWindow>(r#"{"utc_start":"25:00","utc_end":"01:00"}"#)
                .is_err()
        );
    }
}
