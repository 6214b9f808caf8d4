//! Leases: one row per key in `pricing_sync_lock`, with a fencing token from
//! a sequence that only grows. Every time is the database's.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::Serialize;
use time::OffsetDateTime;

use crate::schema::pricing_sync_lock as lock;
use crate::sql_types::{DbNow, DbNowPlus, DbTimestamp, SqlTime};
use crate::store::{checkout, on_conn, Backend};
use crate::{Store, StoreError, StoreResult};

/// What a provider's lease key starts with.
pub(crate) const PROVIDER_LEASE_PREFIX: &str = "pricing_sync:";

/// The lease key of a provider's sync: `pricing_sync:<provider>`.
pub fn provider_lease_key(provider: &str) -> String {
    format!("{PROVIDER_LEASE_PREFIX}{provider}")
}

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    /// What is leased, e.g. `pricing_sync:openrouter`.
    pub key: String,
    /// The holding process (a random id per process, never a hostname).
    pub owner: String,
    /// Who asked: `admin:<name>`, `scheduler`, …
    pub holder: String,
    /// The fencing token; larger means newer.
    pub fence: i64,
    /// When it was taken.
    #[serde(with = "time::serde::rfc3339")]
    pub acquired_at: OffsetDateTime,
    /// When it was last renewed.
    #[serde(with = "time::serde::rfc3339")]
    pub renewed_at: OffsetDateTime,
    /// When it lapses unless renewed.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Proof of a held lease, checked by fenced writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The lease key.
    pub key: String,
    /// The fencing token the holder got.
    pub token: i64,
}

impl Lease {
    /// The fence this lease gives its holder.
    pub fn fence(&self) -> Fence {
        Fence {
            key: self.key.clone(),
            token: self.fence,
        }
    }
}

#[derive(QueryableByName, Queryable)]
pub(crate) struct LeaseRow {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Text)]
    owner: String,
    #[diesel(sql_type = Text)]
    holder: String,
    #[diesel(sql_type = BigInt)]
    fence: i64,
    #[diesel(sql_type = DbTimestamp)]
    acquired_at: SqlTime,
    #[diesel(sql_type = DbTimestamp)]
    renewed_at: SqlTime,
    #[diesel(sql_type = DbTimestamp)]
    expires_at: SqlTime,
}

impl From<LeaseRow> for Lease {
    fn from(row: LeaseRow) -> Self {
        Self {
            key: row.key,
            owner: row.owner,
            holder: row.holder,
            fence: row.fence,
            acquired_at: row.acquired_at.0,
            renewed_at: row.renewed_at.0,
            expires_at: row.expires_at.0,
        }
    }
}

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

const POSTGRES_ACQUIRE: &str = "\
INSERT INTO pricing_sync_lock AS l (key, owner, holder, fence, acquired_at, renewed_at, expires_at) \
VALUES ($1, $2, $3, nextval('pricing_sync_fence_seq'), now(), now(), now() + ($4 * interval '1 millisecond')) \
ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, holder = excluded.holder, fence = excluded.fence, \
    acquired_at = excluded.acquired_at, renewed_at = excluded.renewed_at, expires_at = excluded.expires_at \
WHERE l.expires_at <= now() \
RETURNING key, owner, holder, fence, acquired_at, renewed_at, expires_at";

const SQLITE_NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ','now')";

fn sqlite_acquire() -> String {
    format!(
        "INSERT INTO pricing_sync_lock AS l (key, owner, holder, fence, acquired_at, renewed_at, expires_at) \
         VALUES (?, ?, ?, ?, {SQLITE_NOW}, {SQLITE_NOW}, strftime('%Y-%m-%dT%H:%M:%fZ','now', ?)) \
         ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, holder = excluded.holder, fence = excluded.fence, \
             acquired_at = excluded.acquired_at, renewed_at = excluded.renewed_at, expires_at = excluded.expires_at \
         WHERE l.expires_at <= {SQLITE_NOW} \
         RETURNING key, owner, holder, fence, acquired_at, renewed_at, expires_at"
    )
}

fn ttl_millis(ttl: Duration) -> StoreResult<i64> {
    match i64::try_from(ttl.as_millis()) {
        Ok(ms) if ms > 0 => Ok(ms),
        _ => Err(StoreError::InvalidArgument(format!(
            "lease TTL {ttl:?} must be at least a millisecond"
        ))),
    }
}

#[derive(QueryableByName)]
struct FenceId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

impl Store {
    /// Takes the lease `key` if it is free or expired, in one statement on
    /// the database clock; `None` when someone else holds it.
    pub async fn try_acquire_lease(
        &self,
        key: &str,
        owner: &str,
        holder: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>> {
        let ms = ttl_millis(ttl)?;
        let row: Option<LeaseRow> = match &*self.backend {
            Backend::Postgres(pool) => {
                let mut conn = checkout(pool).await?;
                diesel::sql_query(POSTGRES_ACQUIRE)
                    .bind::<Text, _>(key)
                    .bind::<Text, _>(owner)
                    .bind::<Text, _>(holder)
                    .bind::<BigInt, _>(ms)
                    .get_result(&mut conn)
                    .await
                    .optional()?
            }
            Backend::Sqlite(pools) => {
                // SQLite has no sequences: the token is the id of a row
                // inserted in the same transaction (ids never repeat).
                let mut conn = checkout(&pools.writer).await?;
                let modifier = format!("+{}.{:03} seconds", ms / 1000, ms % 1000);
                let sql = sqlite_acquire();
                conn.transaction(async |conn| -> StoreResult<Option<LeaseRow>> {
                    let token: FenceId = diesel::sql_query(
                        "INSERT INTO pricing_sync_fence_seq DEFAULT VALUES RETURNING id",
                    )
                    .get_result(conn)
                    .await?;
                    diesel::sql_query("DELETE FROM pricing_sync_fence_seq WHERE id < ?")
                        .bind::<BigInt, _>(token.id)
                        .execute(conn)
                        .await?;
                    Ok(diesel::sql_query(sql.as_str())
                        .bind::<Text, _>(key)
                        .bind::<Text, _>(owner)
                        .bind::<Text, _>(holder)
                        .bind::<BigInt, _>(token.id)
                        .bind::<Text, _>(modifier.as_str())
                        .get_result(conn)
                        .await
                        .optional()?)
                })
                .await?
            }
        };
        Ok(row.map(Lease::from))
    }

    /// Extends a held lease by `ttl` from now. `None` when the lease is no
    /// longer this owner's with this fence, or has already expired: the
    /// holder must stop.
    pub async fn renew_lease(
        &self,
        fence: &Fence,
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>> {
        let ms = ttl_millis(ttl)?;
        let row: Option<LeaseRow> = on_conn!(self, writer, |conn| {
            diesel::update(
                lock::table
                    .filter(lock::key.eq(&fence.key))
                    .filter(lock::owner.eq(owner))
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

    /// Gives a lease back; only its owner with the same fence can.
    pub async fn release_lease(&self, fence: &Fence, owner: &str) -> StoreResult<bool> {
        let deleted = on_conn!(self, writer, |conn| {
            diesel::delete(
                lock::table
                    .filter(lock::key.eq(&fence.key))
                    .filter(lock::owner.eq(owner))
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
