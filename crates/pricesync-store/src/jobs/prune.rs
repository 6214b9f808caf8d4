//! Pruning finished jobs.

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::schema::pricing_sync_jobs as jobs;
use crate::sql_types::DbNowPlus;
use crate::store::on_conn;
use crate::{Store, StoreResult};

impl Store {
    /// Deletes jobs (and their log rows) finished `retention` or more ago
    /// (with a zero retention, every finished job: the clock has
    /// millisecond steps on SQLite, so "before now" would miss a job that
    /// finished in the current millisecond).
    pub async fn prune_finished_jobs(&self, retention: Duration) -> StoreResult<usize> {
        Ok(on_conn!(self, writer, |conn| {
            diesel::delete(
                jobs::table.filter(jobs::finished_at.le(DbNowPlus::before(retention).nullable())),
            )
            .execute(conn)
            .await?
        }))
    }
}
