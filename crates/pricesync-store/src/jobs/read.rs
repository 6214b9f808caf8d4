//! Reading jobs: one, the active ones, a page of all, counts by state.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use pricesync_domain::JobState;
use uuid::Uuid;

use super::{JobRecord, JobRow};
use crate::schema::pricing_sync_jobs as jobs;
use crate::sql_types::{SqlTime, SqlUuid};
use crate::store::on_conn;
use crate::{Store, StoreError, StoreResult};

impl Store {
    /// One job.
    pub async fn get_job(&self, id: Uuid) -> StoreResult<Option<JobRecord>> {
        let row: Option<JobRow> = on_conn!(self, readers, |conn| {
            jobs::table
                .filter(jobs::id.eq(SqlUuid(id)))
                .select(JobRow::as_select())
                .first(conn)
                .await
                .optional()?
        });
        row.map(JobRecord::try_from).transpose()
    }

    /// Queued and running jobs, oldest first.
    pub async fn active_jobs(&self) -> StoreResult<Vec<JobRecord>> {
        let rows: Vec<JobRow> = on_conn!(self, readers, |conn| {
            jobs::table
                .filter(
                    jobs::state.eq_any([JobState::Queued.as_str(), JobState::InProgress.as_str()]),
                )
                .select(JobRow::as_select())
                .order((jobs::created_at, jobs::id))
                .load(conn)
                .await?
        });
        rows.into_iter().map(JobRecord::try_from).collect()
    }

    /// Jobs, newest first, optionally of one state, a page at a time:
    /// `before` is the id of the last job of the previous page.
    pub async fn list_jobs(
        &self,
        state: Option<JobState>,
        limit: u32,
        before: Option<Uuid>,
    ) -> StoreResult<Vec<JobRecord>> {
        if !(1..=10_000).contains(&limit) {
            return Err(StoreError::InvalidArgument(format!(
                "limit {limit} is out of range; use 1 to 10000"
            )));
        }
        let cursor =
            match before {
                None => None,
                Some(id) => Some(self.get_job(id).await?.ok_or_else(|| {
                    StoreError::InvalidArgument(format!("cursor {id} names no job"))
                })?),
            };
        let rows: Vec<JobRow> = on_conn!(self, readers, |conn| {
            let mut query = jobs::table
                .select(JobRow::as_select())
                .order((jobs::created_at.desc(), jobs::id.desc()))
                .limit(i64::from(limit))
                .into_boxed();
            if let Some(state) = state {
                query = query.filter(jobs::state.eq(state.as_str()));
            }
            if let Some(c) = &cursor {
                query = query.filter(
                    jobs::created_at
                        .lt(SqlTime(c.created_at))
                        .or(jobs::created_at
                            .eq(SqlTime(c.created_at))
                            .and(jobs::id.lt(SqlUuid(c.id)))),
                );
            }
            query.load(conn).await?
        });
        rows.into_iter().map(JobRecord::try_from).collect()
    }

    /// How many jobs are in each state.
    pub async fn count_jobs_by_state(&self) -> StoreResult<Vec<(JobState, usize)>> {
        let rows: Vec<(String, i64)> = on_conn!(self, readers, |conn| {
            jobs::table
                .group_by(jobs::state)
                .select((jobs::state, diesel::dsl::count_star()))
                .load(conn)
                .await?
        });
        Ok(JobState::ALL
            .into_iter()
            .map(|state| {
                let count = rows
                    .iter()
                    .find(|(s, _)| s == state.as_str())
                    .map_or(0, |(_, n)| usize::try_from(*n).unwrap_or(0));
                (state, count)
            })
            .collect())
    }
}
