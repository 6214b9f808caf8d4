//! Column types that are native on PostgreSQL and text on SQLite.
//!
//! PostgreSQL gets `uuid`, `timestamptz` and `numeric` so that operators can
//! query it with plain SQL; SQLite stores the same values as text. Each type
//! below names both, and the conversions delegate to the existing PostgreSQL
//! implementations (diesel's for uuid and time, rust_decimal's for numeric).
//!
//! On SQLite, times are stored as `YYYY-MM-DDTHH:MM:SS.sssZ` (UTC,
//! milliseconds), the format of `strftime('%Y-%m-%dT%H:%M:%fZ','now')`, so
//! that text comparison is time comparison and the database clock can be
//! compared with stored values.

use diesel::deserialize::FromSqlRow;
use diesel::deserialize::{self, FromSql};
use diesel::expression::{AsExpression, Expression, ValidGrouping};
use diesel::pg::{Pg, PgValue};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use diesel::sqlite::{Sqlite, SqliteValue};
use diesel::{AppearsOnTable, QueryResult, SelectableExpression};
use rust_decimal::Decimal;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

/// A UUID: `uuid` on PostgreSQL, text on SQLite.
#[derive(Debug, Clone, Copy, Default, diesel::sql_types::SqlType, QueryId)]
#[diesel(postgres_type(oid = 2950, array_oid = 2951))]
#[diesel(sqlite_type(name = "Text"))]
pub struct DbUuid;

/// A point in time: `timestamptz` on PostgreSQL, text on SQLite.
#[derive(Debug, Clone, Copy, Default, diesel::sql_types::SqlType, QueryId)]
#[diesel(postgres_type(oid = 1184, array_oid = 1185))]
#[diesel(sqlite_type(name = "Text"))]
pub struct DbTimestamp;

/// An exact decimal: `numeric` on PostgreSQL, text on SQLite.
#[derive(Debug, Clone, Copy, Default, diesel::sql_types::SqlType, QueryId)]
#[diesel(postgres_type(oid = 1700, array_oid = 1231))]
#[diesel(sqlite_type(name = "Text"))]
pub struct DbDecimal;

/// The text form of times on SQLite.
const SQLITE_TIME: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// Formats a time the way SQLite stores it (UTC, milliseconds, truncated).
pub fn sqlite_time_text(at: OffsetDateTime) -> String {
    let utc = at.to_offset(UtcOffset::UTC);
    utc.format(SQLITE_TIME)
        .unwrap_or_else(|_| utc.unix_timestamp().to_string())
}

fn parse_sqlite_time(text: &str) -> deserialize::Result<OffsetDateTime> {
    let primitive = time::PrimitiveDateTime::parse(text, SQLITE_TIME)
        .map_err(|e| format!("stored time {text:?} is not in the expected format: {e}"))?;
    Ok(primitive.assume_utc())
}

/// A [`Uuid`] bound to or read from a [`DbUuid`] column. (Diesel's
/// `AsExpression` cannot be implemented for a foreign type, hence the
/// wrappers.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = DbUuid)]
pub struct SqlUuid(pub Uuid);

/// A point in time bound to or read from a [`DbTimestamp`] column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = DbTimestamp)]
pub struct SqlTime(pub OffsetDateTime);

/// An exact decimal bound to or read from a [`DbDecimal`] column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = DbDecimal)]
pub struct SqlDecimal(pub Decimal);

impl ToSql<DbUuid, Pg> for SqlUuid {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <Uuid as ToSql<diesel::sql_types::Uuid, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<DbUuid, Pg> for SqlUuid {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        <Uuid as FromSql<diesel::sql_types::Uuid, Pg>>::from_sql(bytes).map(Self)
    }
}

impl ToSql<DbUuid, Sqlite> for SqlUuid {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.hyphenated().to_string());
        Ok(IsNull::No)
    }
}

impl FromSql<DbUuid, Sqlite> for SqlUuid {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, Sqlite>>::from_sql(value)?;
        Uuid::parse_str(&text)
            .map(Self)
            .map_err(|e| format!("stored uuid {text:?} is invalid: {e}").into())
    }
}

impl ToSql<DbTimestamp, Pg> for SqlTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <OffsetDateTime as ToSql<diesel::sql_types::Timestamptz, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<DbTimestamp, Pg> for SqlTime {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        <OffsetDateTime as FromSql<diesel::sql_types::Timestamptz, Pg>>::from_sql(bytes).map(Self)
    }
}

impl ToSql<DbTimestamp, Sqlite> for SqlTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(sqlite_time_text(self.0));
        Ok(IsNull::No)
    }
}

impl FromSql<DbTimestamp, Sqlite> for SqlTime {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, Sqlite>>::from_sql(value)?;
        parse_sqlite_time(&text).map(Self)
    }
}

impl ToSql<DbDecimal, Pg> for SqlDecimal {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <Decimal as ToSql<diesel::sql_types::Numeric, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<DbDecimal, Pg> for SqlDecimal {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        <Decimal as FromSql<diesel::sql_types::Numeric, Pg>>::from_sql(bytes)
            .map(|d| Self(d.normalize()))
    }
}

impl ToSql<DbDecimal, Sqlite> for SqlDecimal {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.normalize().to_string());
        Ok(IsNull::No)
    }
}

impl FromSql<DbDecimal, Sqlite> for SqlDecimal {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, Sqlite>>::from_sql(value)?;
        Decimal::from_str_exact(&text)
            .map(|d| Self(d.normalize()))
            .map_err(|e| format!("stored decimal {text:?} is invalid: {e}").into())
    }
}

/// The database's clock: `now()` on PostgreSQL, the same instant as text
/// on SQLite. Every lease, heartbeat and schedule comparison uses it (or
/// [`DbNowPlus`]), never the application's clock, and no statement spells
/// the clock itself.
#[derive(Debug, Clone, Copy, QueryId, ValidGrouping)]
pub struct DbNow;

impl Expression for DbNow {
    type SqlType = DbTimestamp;
}

impl<QS> AppearsOnTable<QS> for DbNow {}
impl<QS> SelectableExpression<QS> for DbNow {}

impl QueryFragment<Pg> for DbNow {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("now()");
        Ok(())
    }
}

/// SQLite's clock in the stored text format ([`SQLITE_TIME`]), without
/// its closing parenthesis so that a modifier can follow: the one place
/// this spelling lives.
const SQLITE_CLOCK: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now'";

impl QueryFragment<Sqlite> for DbNow {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql(SQLITE_CLOCK);
        out.push_sql(")");
        Ok(())
    }
}

/// ` FOR UPDATE SKIP LOCKED` on PostgreSQL; nothing on SQLite.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SkipLocked;

impl QueryFragment<Pg> for SkipLocked {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(" FOR UPDATE SKIP LOCKED");
        Ok(())
    }
}

impl QueryFragment<Sqlite> for SkipLocked {
    fn walk_ast<'b>(&'b self, _: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_times_round_trip_at_millisecond_precision() {
        let at = time::macros::datetime!(2026-11-23 05:18:08.123456 UTC);
        let text = sqlite_time_text(at);
        assert_eq!(text, "2026-11-23T05:18:08.123Z");
        let back = parse_sqlite_time(&text).expect("parses");
        assert_eq!(back, time::macros::datetime!(2026-11-23 05:18:08.123 UTC));
    }

    #[test]
    fn other_offsets_are_stored_in_utc() {
        let at = time::macros::datetime!(2026-11-23 07:00:00 +02:00);
        assert_eq!(sqlite_time_text(at), "2026-11-23T05:00:00.000Z");
    }
}

/// The database's clock moved by a signed number of milliseconds:
/// `now() + n ms` on PostgreSQL, the same on SQLite as text. Used for lease
/// expiry and for "older than" comparisons, always on the database clock.
#[derive(Debug, Clone, QueryId, ValidGrouping)]
pub struct DbNowPlus {
    millis: i64,
    sqlite_modifier: String,
}

impl DbNowPlus {
    /// `now()` plus `millis` (negative: in the past).
    pub fn millis(millis: i64) -> Self {
        let sign = if millis < 0 { '-' } else { '+' };
        let abs = millis.unsigned_abs();
        Self {
            millis,
            sqlite_modifier: format!("{sign}{}.{:03} seconds", abs / 1000, abs % 1000),
        }
    }

    /// `now()` plus a duration.
    pub fn after(duration: std::time::Duration) -> Self {
        Self::millis(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 2))
    }

    /// `now()` minus a duration.
    pub fn before(duration: std::time::Duration) -> Self {
        Self::millis(-i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 2))
    }
}

impl Expression for DbNowPlus {
    type SqlType = DbTimestamp;
}

impl<QS> AppearsOnTable<QS> for DbNowPlus {}
impl<QS> SelectableExpression<QS> for DbNowPlus {}

impl QueryFragment<Pg> for DbNowPlus {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("(now() + (");
        out.push_bind_param::<diesel::sql_types::BigInt, _>(&self.millis)?;
        out.push_sql(" * interval '1 millisecond'))");
        Ok(())
    }
}

impl QueryFragment<Sqlite> for DbNowPlus {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql(SQLITE_CLOCK);
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.sqlite_modifier)?;
        out.push_sql(")");
        Ok(())
    }
}

#[cfg(test)]
mod now_plus_tests {
    use super::*;

    #[test]
    fn sqlite_modifiers_are_signed_seconds_with_milliseconds() {
        assert_eq!(
            DbNowPlus::millis(300_000).sqlite_modifier,
            "+300.000 seconds"
        );
        assert_eq!(DbNowPlus::millis(-1_500).sqlite_modifier, "-1.500 seconds");
        assert_eq!(DbNowPlus::millis(7).sqlite_modifier, "+0.007 seconds");
    }
}

/// Declares `$statement` (a hand-written `QueryFragment`) a statement whose
/// rows are read by name (`QueryableByName`) and that diesel caches by its
/// text, one prepared statement per text and connection, rather than by a
/// static type id.
macro_rules! raw_statement {
    ($statement:ty) => {
        impl diesel::query_builder::QueryId for $statement {
            type QueryId = ();
            const HAS_STATIC_QUERY_ID: bool = false;
        }

        impl diesel::query_builder::Query for $statement {
            type SqlType = diesel::sql_types::Untyped;
        }
    };
}
pub(crate) use raw_statement;
