//! UTC time-of-day windows: a price that applies only at certain hours.
//!
//! OpenRouter publishes such prices as `overrides` entries with
//! `"utc_start": HHMM, "utc_end": HHMM` (integers: `1000` is 10:00, `100` is
//! 01:00). A window starts at its start minute (inclusive) and ends at its
//! end minute (exclusive); one whose end is not after its start wraps past
//! midnight (10:00 → 01:00 covers 10:00-24:00 and 00:00-01:00).

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Minutes in a day.
pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// Why a window cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// A time is not a valid `HHMM` (hours 0-23, minutes 0-59; `2400` is
    /// accepted as an end: midnight).
    #[error("{0} is not a time of day as HHMM (e.g. 1000 for 10:00, 100 for 01:00)")]
    BadTime(i64),
    /// Start and end are the same minute: the window is empty or the whole
    /// day, which the provider did not say.
    #[error("the window starts and ends at the same time ({0})")]
    Empty(String),
}

/// A UTC time-of-day window, `[start, end)` in minutes since midnight,
/// wrapping past midnight when `end <= start`. An end at midnight is held as
/// 1440 (24:00), so each window has one form; `00:00-24:00` is the whole day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimeWindow {
    start_minute: u16,
    end_minute: u16,
}

impl TimeWindow {
    /// A window from minutes since midnight (`end` may be 1440: midnight).
    pub fn from_minutes(start_minute: u16, end_minute: u16) -> Result<Self, WindowError> {
        if start_minute >= MINUTES_PER_DAY {
            return Err(WindowError::BadTime(i64::from(start_minute)));
        }
        if end_minute > MINUTES_PER_DAY {
            return Err(WindowError::BadTime(i64::from(end_minute)));
        }
        let whole_day = start_minute == 0 && end_minute == MINUTES_PER_DAY;
        if start_minute == end_minute % MINUTES_PER_DAY && !whole_day {
            return Err(WindowError::Empty(hhmm(start_minute)));
        }
        // One form per window: an end at midnight is 24:00, not 00:00.
        let end_minute = if end_minute == 0 {
            MINUTES_PER_DAY
        } else {
            end_minute
        };
        Ok(Self {
            start_minute,
            end_minute,
        })
    }

    /// A window from OpenRouter's `HHMM` integers.
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

    /// Whether `minute` (since midnight UTC) is in the window.
    pub fn contains_minute(self, minute: u16) -> bool {
        if self.wraps() {
            minute >= self.start_minute || minute < self.end_minute
        } else {
            (self.start_minute..self.end_minute).contains(&minute)
        }
    }

    /// Whether the instant `at` falls in the window (by its UTC time of day).
    pub fn contains(self, at: OffsetDateTime) -> bool {
        self.contains_minute(minute_of_day(at))
    }

    /// The window's minutes, as at most two non-wrapping ranges.
    fn ranges(self) -> [std::ops::Range<u16>; 2] {
        if self.wraps() {
            [self.start_minute..MINUTES_PER_DAY, 0..self.end_minute]
        } else {
            [self.start_minute..self.end_minute, 0..0]
        }
    }

    /// Whether two windows share a minute.
    pub fn overlaps(self, other: TimeWindow) -> bool {
        self.ranges().iter().any(|a| {
            other
                .ranges()
                .iter()
                .any(|b| a.start < b.end && b.start < a.end)
        })
    }

    /// How many minutes the window covers.
    pub fn len_minutes(self) -> u16 {
        self.ranges().iter().map(|r| r.end - r.start).sum()
    }
}

/// The minute of the day of `at`, in UTC.
pub fn minute_of_day(at: OffsetDateTime) -> u16 {
    let utc = at.to_offset(time::UtcOffset::UTC);
    u16::from(utc.hour()) * 60 + u16::from(utc.minute())
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
        )
    }
}

/// The JSON form: `{"utc_start": "10:00", "utc_end": "01:00"}`.
#[derive(Serialize, Deserialize)]
struct WindowJson {
    utc_start: String,
    utc_end: String,
}

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
        TimeWindow::from_minutes(start, end).map_err(D::Error::custom)
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
    fn hhmm_integers_are_read_as_openrouter_writes_them() {
        let peak = w(1000, 100);
        assert_eq!(peak.start_minute(), 600);
        assert_eq!(peak.end_minute(), 60);
        assert!(peak.wraps());
        assert_eq!(peak.to_string(), "10:00-01:00 UTC");
        assert_eq!(w(0, 2400).len_minutes(), MINUTES_PER_DAY);
        assert_eq!(w(2200, 0), w(2200, 2400));
        assert!(!w(2200, 0).wraps());
        assert_eq!(w(130, 945).len_minutes(), 8 * 60 + 15);
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
        assert_eq!(
            TimeWindow::from_hhmm(1000, 1000),
            Err(WindowError::Empty("10:00".into()))
        );
        assert_eq!(
            TimeWindow::from_hhmm(0, 0),
            Err(WindowError::Empty("00:00".into()))
        );
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
        assert_eq!(peak.len_minutes() + off_peak.len_minutes(), MINUTES_PER_DAY);
        assert!(!peak.overlaps(off_peak));
        assert!(peak.overlaps(w(2300, 200)));
        assert!(peak.overlaps(w(0, 30)));
        assert!(!peak.overlaps(w(100, 130)));
    }

    #[test]
    fn json_is_hh_mm_text() {
        let json = serde_json::to_string(&w(1000, 100)).expect("serialise");
        assert_eq!(json, r#"{"utc_start":"10:00","utc_end":"01:00"}"#);
        let back: TimeWindow = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, w(1000, 100));
        assert!(
            serde_json::from_str::<TimeWindow>(r#"{"utc_start":"25:00","utc_end":"01:00"}"#)
                .is_err()
        );
    }
}
