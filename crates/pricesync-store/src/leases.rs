//! Leases: one row per key in `pricing_sync_lock`, with a fencing token from
//! a sequence that only grows. Every time is the database's.

use std::time::Duration;

use diesel::dsl::delete;
use diesel::expression::{AppearsOnTable, Expression, ValidGrouping};
use diesel::pg::Pg;
use diesel::prelude::*;

use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::BigInt;
use diesel::sqlite::Sqlite;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;

use crate::schema::pricing_sync_lock as lock;
use crate::sql_types::{DbNow, DbNowPlus, SqlTime};
use crate::store::{on_conn, SqliteConn};
use crate::{Store, StoreError, StoreResult};

/// What a provider's lease key starts with.
pub(crate) const PROVIDER_LEASE_PREFIX: &str = "pricing_sync:";

/// The lease key of a provider's sync: `pricing_sync:<provider>`.
pub fn provider_lease_key(provider: &str) -> String {
    format!("{PROVIDER_LEASE_PREFIX}{provider}")
}

/// A lease as stored.
///
/// The table and the operators' tools call a lease a "lock"
/// (`pricing_sync_lock`, `/admin/locks`); the code calls it a lease. Two of
/// its columns keep their established names: `owner` is [`Lease::worker`]
/// (the process that holds it) and `holder` is [`Lease::requested_by`] (on
/// whose behalf).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// What is leased, e.g. `pricing_sync:openrouter`.
    pub key: String,
    /// The process holding it (a random id per process, never a hostname);
    /// column `owner`.
    pub worker: String,
    /// On whose behalf: `admin:<name>`, `scheduler`, …; column `holder`.
    pub requested_by: String,
    /// The fencing token; larger means newer.
    pub fence: i64,
    /// When it was taken.
    pub acquired_at: OffsetDateTime,
    /// When it was last renewed.
    pub renewed_at: OffsetDateTime,
    /// When it lapses unless renewed.
    pub expires_at: OffsetDateTime,
}

/// Proof of a held lease, checked by fenced writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The lease key.
    pub key: String,
    /// The fencing token the holder got.
    pub token: i64,
    /// The lease's time to live: a fenced write that commits extends the
    /// lease by it, from its commit.
    pub ttl: std::time::Duration,
}

impl Lease {
    /// The fence this lease gives its holder.
    pub fn fence(&self) -> Fence {
        let ttl = self.expires_at - self.renewed_at;
        Fence {
            key: self.key.clone(),
            token: self.fence,
            ttl: ttl.try_into().unwrap_or_default(),
        }
    }
}

#[derive(Queryable)]
pub(crate) struct LeaseRow {
    key: String,
    worker: String,
    requested_by: String,
    fence: i64,
    acquired_at: SqlTime,
    renewed_at: SqlTime,
    expires_at: SqlTime,
}

impl From<LeaseRow> for Lease {
    fn from(row: LeaseRow) -> Self {
        Self {
            key: row.key,
            worker: row.worker,
            requested_by: row.requested_by,
            fence: row.fence,
            acquired_at: row.acquired_at.0,
            renewed_at: row.renewed_at.0,
            expires_at: row.expires_at.0,
        }
    }
}

/// The columns of a [`LeaseRow`], in its order.
pub(crate) const COLUMNS: (
    lock::key,
    lock::owner,
    lock::holder,
    lock::fence,
    lock::acquired_at,
    lock::renewed_at,
    lock::expires_at,
) = (
    lock::key,
    lock::owner,
    lock::holder,
    lock::fence,
    lock::acquired_at,
    lock::renewed_at,
    lock::expires_at,
);

fn ttl_millis(ttl: Duration) -> StoreResult<i64> {
    match i64::try_from(ttl.as_millis()) {
        Ok(ms) if ms > 0 => Ok(ms),
        _ => Err(StoreError::InvalidArgument(format!(
            "lease TTL {ttl:?} must be at least a millisecond"
        ))),
    }
}

/// The fencing token of a lease being taken.
#[derive(Debug, Clone, Copy, ValidGrouping)]
pub(crate) enum NewFence {
    /// PostgreSQL's sequence, drawn inside the acquiring statement.
    Sequence,
    /// A token drawn before the statement (SQLite has no sequences).
    Drawn(i64),
}

impl QueryId for NewFence {
    type QueryId = ();
    // The SQL differs by variant: cache by text, not by type.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Expression for NewFence {
    type SqlType = BigInt;
}

impl<QS> AppearsOnTable<QS> for NewFence {}

impl QueryFragment<Pg> for NewFence {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        match self {
            NewFence::Sequence => {
                out.push_sql("nextval('pricing_sync_fence_seq')");
                Ok(())
            }
            NewFence::Drawn(token) => out.push_bind_param::<BigInt, _>(token),
        }
    }
}

impl QueryFragment<Sqlite> for NewFence {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        match self {
            NewFence::Sequence => Err(diesel::result::Error::QueryBuilderError(
                "SQLite has no fence sequence; draw the token first".into(),
            )),
            NewFence::Drawn(token) => out.push_bind_param::<BigInt, _>(token),
        }
    }
}

/// Where each backend's fencing tokens come from, and how it locks a lease
/// row for a fenced write.
pub(crate) trait LeaseConn {
    /// The token for the next acquisition: PostgreSQL's sequence (no query
    /// here); on SQLite the id of a row inserted now (ids never repeat).
    async fn draw_fence(&mut self) -> QueryResult<NewFence>;

    /// Whether the lease still carries `fence` and has not expired. On
    /// PostgreSQL the row stays locked until the caller's transaction ends,
    /// so it cannot be taken over half-way; SQLite's single writer
    /// connection gives the same guarantee.
    async fn holds_fence(&mut self, fence: &Fence) -> QueryResult<bool>;

    /// At the end of a fenced write that took `elapsed`: the lease, still
    /// locked by the write, lives `fence.ttl` from now on. A write longer
    /// than the TTL thus does not lose its own lease (nobody could take it
    /// over while the write held it). PostgreSQL's clock in a transaction is
    /// the transaction's start, hence `elapsed` is added there.
    async fn extend_fence(
        &mut self,
        fence: &Fence,
        elapsed: std::time::Duration,
    ) -> QueryResult<usize>;

    /// Deletes the leases `worker` holds on `keys` (rescue of a dead
    /// worker's job); the fence stops the worker's writes should it be
    /// alive. On PostgreSQL a lease row locked by a transaction still open
    /// (a worker frozen mid-write) is left alone (`SKIP LOCKED`): the rescue
    /// never queues behind it, and the row lapses or is taken over once
    /// PostgreSQL ends that transaction (`idle_in_transaction_session_timeout`).
    async fn release_held_by(&mut self, worker: &str, keys: Vec<String>) -> QueryResult<usize>;
}

#[derive(QueryableByName)]
struct FenceId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Sets the lease that carries `fence` to expire at `until`.
fn extend(
    fence: &Fence,
    until: DbNowPlus,
) -> impl diesel_async::methods::ExecuteDsl<AsyncPgConnection>
       + diesel_async::methods::ExecuteDsl<SqliteConn>
       + '_ {
    diesel::update(
        lock::table
            .filter(lock::key.eq(&fence.key))
            .filter(lock::fence.eq(fence.token)),
    )
    .set((lock::renewed_at.eq(DbNow), lock::expires_at.eq(until)))
}

/// The live lease row that carries a fence.
#[diesel::dsl::auto_type]
fn live_fence<'a>(key: &'a str, token: i64) -> _ {
    lock::table
        .filter(lock::key.eq(key))
        .filter(lock::fence.eq(token))
        .filter(lock::expires_at.gt(DbNow))
        .select(lock::fence)
}

impl LeaseConn for AsyncPgConnection {
    async fn draw_fence(&mut self) -> QueryResult<NewFence> {
        Ok(NewFence::Sequence)
    }

    async fn holds_fence(&mut self, fence: &Fence) -> QueryResult<bool> {
        let held: Option<i64> = live_fence(&fence.key, fence.token)
            .for_update()
            .first(self)
            .await
            .optional()?;
        Ok(held.is_some())
    }

    async fn extend_fence(
        &mut self,
        fence: &Fence,
        elapsed: std::time::Duration,
    ) -> QueryResult<usize> {
        extend(fence, DbNowPlus::after(fence.ttl + elapsed))
            .execute(self)
            .await
    }

    async fn release_held_by(&mut self, worker: &str, keys: Vec<String>) -> QueryResult<usize> {
        // Locks the rows it can (the caller's transaction holds them), then
        // deletes exactly those.
        let unlocked: Vec<String> = lock::table
            .filter(lock::owner.eq(worker))
            .filter(lock::key.eq_any(keys))
            .select(lock::key)
            .for_update()
            .skip_locked()
            .load(self)
            .await?;
        if unlocked.is_empty() {
            return Ok(0);
        }
        delete(lock::table.filter(lock::key.eq_any(unlocked)))
            .execute(self)
            .await
    }
}

impl LeaseConn for SqliteConn {
    async fn draw_fence(&mut self) -> QueryResult<NewFence> {
        let token: FenceId =
            diesel::sql_query("INSERT INTO pricing_sync_fence_seq DEFAULT VALUES RETURNING id")
                .get_result(self)
                .await?;
        // Only the newest id is needed for the next one to be larger.
        diesel::sql_query("DELETE FROM pricing_sync_fence_seq WHERE id < ?")
            .bind::<BigInt, _>(token.id)
            .execute(self)
            .await?;
        Ok(NewFence::Drawn(token.id))
    }

    async fn holds_fence(&mut self, fence: &Fence) -> QueryResult<bool> {
        let held: Option<i64> = live_fence(&fence.key, fence.token)
            .first(self)
            .await
            .optional()?;
        Ok(held.is_some())
    }

    async fn extend_fence(
        &mut self,
        fence: &Fence,
        _elapsed: std::time::Duration,
    ) -> QueryResult<usize> {
        // SQLite's clock is read per statement.
        extend(fence, DbNowPlus::after(fence.ttl))
            .execute(self)
            .await
    }

    async fn release_held_by(&mut self, worker: &str, keys: Vec<String>) -> QueryResult<usize> {
        // One writer connection: no other transaction holds a lock here.
        delete(
            lock::table
                .filter(lock::owner.eq(worker))
                .filter(lock::key.eq_any(keys)),
        )
        .execute(self)
        .await
    }
}

impl Store {
    /// Takes the lease `key` for `worker` on behalf of `requested_by` if it
    /// is free or expired, in one statement on the database clock; `None`
    /// when someone else holds it.
    pub async fn try_acquire_lease(
        &self,
        key: &str,
        worker: &str,
        requested_by: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>> {
        let ms = ttl_millis(ttl)?;
        let row: Option<LeaseRow> = on_conn!(self, writer, |conn| {
            let token = conn.draw_fence().await?;
            let upsert = diesel::insert_into(lock::table)
                .values((
                    lock::key.eq(key),
                    lock::owner.eq(worker),
                    lock::holder.eq(requested_by),
                    lock::fence.eq(token),
                    lock::acquired_at.eq(DbNow),
                    lock::renewed_at.eq(DbNow),
                    lock::expires_at.eq(DbNowPlus::millis(ms)),
                ))
                .on_conflict(lock::key)
                .do_update()
                .set((
                    lock::owner.eq(excluded(lock::owner)),
                    lock::holder.eq(excluded(lock::holder)),
                    lock::fence.eq(excluded(lock::fence)),
                    lock::acquired_at.eq(excluded(lock::acquired_at)),
                    lock::renewed_at.eq(excluded(lock::renewed_at)),
                    lock::expires_at.eq(excluded(lock::expires_at)),
                ));
            // Take over only an expired lease (the upsert's WHERE).
            diesel::query_dsl::methods::FilterDsl::filter(upsert, lock::expires_at.le(DbNow))
                .returning(COLUMNS)
                .get_result(conn)
                .await
                .optional()?
        });
        Ok(row.map(Lease::from))
    }

    /// Extends a held lease by `ttl` from now. `None` when the lease is no
    /// longer this worker's with this fence, or has already expired: the
    /// worker must stop.
    pub async fn renew_lease(
        &self,
        fence: &Fence,
        worker: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>> {
        let ms = ttl_millis(ttl)?;
        let row: Option<LeaseRow> = on_conn!(self, writer, |conn| {
            diesel::update(
                lock::table
                    .filter(lock::key.eq(&fence.key))
                    .filter(lock::owner.eq(worker))
                    .filter(lock::fence.eq(fence.token))
                    .filter(lock::expires_at.gt(DbNow)),
            )
            .set((
                lock::renewed_at.eq(DbNow),
                lock::expires_at.eq(DbNowPlus::millis(ms)),
            ))
            .returning(COLUMNS)
            .get_result(conn)
            .await
            .optional()?
        });
        Ok(row.map(Lease::from))
    }

    /// Gives a lease back; only its worker with the same fence can.
    pub async fn release_lease(&self, fence: &Fence, worker: &str) -> StoreResult<bool> {
        let deleted = on_conn!(self, writer, |conn| {
            diesel::delete(
                lock::table
                    .filter(lock::key.eq(&fence.key))
                    .filter(lock::owner.eq(worker))
                    .filter(lock::fence.eq(fence.token)),
            )
            .execute(conn)
            .await?
        });
        Ok(deleted == 1)
    }

    /// Removes a lease whoever holds it (an operator's forced release);
    /// returns what was removed. The holder's fenced writes fail from now on.
    pub async fn force_release_lease(&self, key: &str) -> StoreResult<Option<Lease>> {
        let row: Option<LeaseRow> = on_conn!(self, writer, |conn| {
            diesel::delete(lock::table.filter(lock::key.eq(key)))
                .returning(COLUMNS)
                .get_result(conn)
                .await
                .optional()?
        });
        Ok(row.map(Lease::from))
    }

    /// One lease row, live or expired.
    pub async fn get_lease(&self, key: &str) -> StoreResult<Option<Lease>> {
        let row: Option<LeaseRow> = on_conn!(self, readers, |conn| {
            lock::table
                .filter(lock::key.eq(key))
                .select(COLUMNS)
                .first(conn)
                .await
                .optional()?
        });
        Ok(row.map(Lease::from))
    }

    /// Every lease row, live or expired, by key.
    pub async fn list_leases(&self) -> StoreResult<Vec<Lease>> {
        let rows: Vec<LeaseRow> = on_conn!(self, readers, |conn| {
            lock::table
                .select(COLUMNS)
                .order(lock::key)
                .load(conn)
                .await?
        });
        Ok(rows.into_iter().map(Lease::from).collect())
    }

    /// Deletes expired leases; returns how many.
    pub async fn delete_expired_leases(&self) -> StoreResult<usize> {
        Ok(on_conn!(self, writer, |conn| {
            diesel::delete(lock::table.filter(lock::expires_at.le(DbNow)))
                .execute(conn)
                .await?
        }))
    }
}
