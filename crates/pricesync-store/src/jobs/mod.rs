//! Sync jobs, one concern per module: the records and their rows
//! ([`record`]), reading them ([`read`]), race-free enqueue ([`enqueue`]),
//! the worker's guarded transitions ([`worker`]), cancel ([`cancel`]),
//! rescue of jobs whose worker died ([`rescue`]), the per-provider log
//! ([`provider_log`]) with the skips and dry-run diff it reports
//! ([`report`]), and pruning ([`prune`]).
//!
//! Every transition of a running job is guarded in SQL by
//! `state = 'in_progress' AND worker = $me AND attempt = $n`, so a worker
//! whose job was rescued cannot complete it. The primary key of
//! `pricing_sync_active_providers` makes a second queued or running job for a
//! provider impossible, across replicas, without a check-then-insert race.

mod cancel;
mod enqueue;
mod provider_log;
mod prune;
mod read;
mod record;
mod report;
mod rescue;
mod worker;

pub use cancel::CancelOutcome;
pub(crate) use enqueue::{insert_queued, EnqueueAbort, QueuedJob, Refusal};
pub use enqueue::{BusyProvider, EnqueueOutcome};
pub(crate) use provider_log::LogRow;
pub use provider_log::{NewProviderLog, ProviderLog};
pub(crate) use record::JobRow;
pub use record::{truncate_error, JobRecord, NewJob, ScheduleSlot, MAX_ERROR_CHARS};
pub use report::{PlannedRecord, ReportQuery, SkippedRecord, MAX_SKIP_DETAIL_CHARS};
pub use rescue::RescueReport;
pub use worker::{HeartbeatOutcome, JobProgress};

/// A job just reached its final state on `$conn` (inside the transaction
/// that moved it there): its providers are freed and `sync.finished` is
/// recorded for the webhooks that want it, with the job and its
/// per-provider results (read only when one does).
macro_rules! job_ended {
    ($conn:expr, $id:expr) => {{
        use $crate::schema::{
            pricing_sync_active_providers as a, pricing_sync_jobs as j, pricing_sync_log as l,
        };
        let id: $crate::sql_types::SqlUuid = $id;
        diesel::delete(a::table.filter(a::job_id.eq(id)))
            .execute($conn)
            .await?;
        let event = $crate::webhooks::WebhookEvent::SyncFinished;
        let endpoints = $crate::webhooks::endpoints_wanting!($conn, event);
        if !endpoints.is_empty() {
            let job = $crate::jobs::JobRecord::try_from(
                j::table
                    .filter(j::id.eq(id))
                    .select($crate::jobs::JobRow::as_select())
                    .first::<$crate::jobs::JobRow>($conn)
                    .await?,
            )?;
            let logs = l::table
                .filter(l::job_id.eq(id))
                .select($crate::jobs::LogRow::as_select())
                .order(l::provider)
                .load::<$crate::jobs::LogRow>($conn)
                .await?
                .into_iter()
                .map($crate::jobs::ProviderLog::try_from)
                .collect::<$crate::StoreResult<Vec<_>>>()?;
            $crate::webhooks::insert_deliveries!(
                $conn,
                event,
                endpoints,
                &$crate::webhooks::SyncFinished::new(&job, &logs)
            );
        }
    }};
}
pub(crate) use job_ended;
