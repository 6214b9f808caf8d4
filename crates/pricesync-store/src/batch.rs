//! Multi-row INSERT for both backends.
//!
//! Diesel's own batch insert has no asynchronous form on SQLite, so this
//! builds `INSERT INTO t (…) VALUES (…), (…) [ON CONFLICT …]` itself. Bind
//! parameters go through diesel's AST, so each backend gets its own
//! placeholders and types, and the statement runs through diesel-async on
//! either.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::QueryResult;

use crate::sql_types::DbNow;

/// A row type that can be written by [`BatchInsert`].
pub(crate) trait InsertRow<DB: Backend> {
    /// The table.
    const TABLE: &'static str;
    /// The column list, comma-separated, in the order of [`InsertRow::walk`].
    const COLUMNS: &'static str;
    /// Pushes the row's values as bind parameters, comma-separated.
    fn walk<'b>(&'b self, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()>;
}

/// What to do when a row conflicts with an existing one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Upsert {
    /// The conflict target, e.g. `id` or `model_id, meter, min_prompt_tokens`.
    pub(crate) target: &'static str,
    /// Columns set from the new row (`col = excluded.col`).
    pub(crate) set_from_new: &'static [&'static str],
    /// Further assignments, as SQL valid on both backends.
    pub(crate) set_sql: &'static str,
    /// A column set to the database clock.
    pub(crate) touch: Option<&'static str>,
}

/// `INSERT INTO … VALUES (…), (…), …` of a slice of rows, optionally an
/// upsert.
pub(crate) struct BatchInsert<'r, R> {
    pub(crate) rows: &'r [R],
    pub(crate) upsert: Option<Upsert>,
}

impl<R> QueryId for BatchInsert<'_, R> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<R, DB> QueryFragment<DB> for BatchInsert<'_, R>
where
    DB: Backend,
    R: InsertRow<DB>,
    DbNow: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        // The statement's shape depends on the number of rows.
        out.unsafe_to_cache_prepared();
        out.push_sql("INSERT INTO ");
        out.push_sql(R::TABLE);
        out.push_sql(" (");
        out.push_sql(R::COLUMNS);
        out.push_sql(") VALUES ");
        for (i, row) in self.rows.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            out.push_sql("(");
            row.walk(&mut out)?;
            out.push_sql(")");
        }
        if let Some(upsert) = &self.upsert {
            out.push_sql(" ON CONFLICT (");
            out.push_sql(upsert.target);
            out.push_sql(") DO UPDATE SET ");
            let mut first = true;
            let mut separate = |out: &mut AstPass<'_, 'b, DB>| {
                if !first {
                    out.push_sql(", ");
                }
                first = false;
            };
            for column in upsert.set_from_new {
                separate(&mut out);
                out.push_sql(column);
                out.push_sql(" = excluded.");
                out.push_sql(column);
            }
            if !upsert.set_sql.is_empty() {
                separate(&mut out);
                out.push_sql(upsert.set_sql);
            }
            if let Some(column) = upsert.touch {
                separate(&mut out);
                out.push_sql(column);
                out.push_sql(" = ");
                DbNow.walk_ast(out.reborrow())?;
            }
        }
        Ok(())
    }
}

/// Pushes bind parameters separated by commas:
/// `bind!(out; DbUuid => &self.id, Text => &self.name)`.
macro_rules! binds {
    ($out:ident; $($st:ty => $value:expr),+ $(,)?) => {{
        let mut first = true;
        $(
            if !first {
                $out.push_sql(", ");
            }
            first = false;
            $out.push_bind_param::<$st, _>($value)?;
        )+
        let _ = first;
        diesel::QueryResult::Ok(())
    }};
}
pub(crate) use binds;
