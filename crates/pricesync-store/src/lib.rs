//! The pricesync repository: prices, history, jobs, leases and schedules on
//! PostgreSQL (diesel-async + deadpool) or SQLite (diesel-async's
//! `SyncConnectionWrapper`) behind one API, [`Store`].
//!
//! The backend is chosen by the database URL's scheme ([`DatabaseUrl`]).
//! One schema serves both; PostgreSQL gets native `uuid`, `timestamptz`
//! and `numeric` columns, SQLite text (`sql_types`). Migrations are
//! embedded ([`POSTGRES_MIGRATIONS`], [`SQLITE_MIGRATIONS`]) and run by
//! [`Store::migrate`]. Every time the store compares or records comes from
//! the database clock (`sql_types::DbNow`), and no statement spells that
//! clock itself.
//!
//! Connections are verified after a use that did not finish cleanly, not on
//! every checkout (`pool`). Jobs live in `jobs/`, one module per concern.
//!
//! Price writes are batched: a provider's list is loaded in one query
//! ([`Store::load_provider_prices`]), diffed in memory by
//! `pricesync_domain::diff_price_lists`, and written by
//! [`Store::apply_price_diff`] in one transaction with multi-row statements of
//! at most [`MAX_ROWS_PER_STATEMENT`] rows.

mod batch;
mod cards;
mod config;
mod error;
mod held;
mod jobs;
mod leases;
mod pool;
mod prices;
mod reads;
mod schedules;
mod schema;
mod sql_types;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod webhooks;

pub use cards::{CardRequest, CatalogueSnapshot, Listing, ModelCard, MAX_CARDS_PER_QUERY};
pub use config::{redact_url, DatabaseUrl, PoolConfig, DEFAULT_DATABASE_URL};
pub use error::{Cause, StoreError, StoreResult};
pub use held::{DecideOutcome, Decision, HeldQuery, HeldRecord, HeldStatus};
pub use jobs::{
    truncate_error, BusyProvider, CancelOutcome, EnqueueOutcome, HeartbeatOutcome, JobProgress,
    JobRecord, NewJob, NewProviderLog, PlannedRecord, ProviderLog, ReportQuery, RescueReport,
    ScheduleSlot, SkippedRecord, MAX_ERROR_CHARS, MAX_SKIP_DETAIL_CHARS,
};
pub use leases::{provider_lease_key, Fence, Lease};
pub use prices::{WriteReport, MAX_ROWS_PER_STATEMENT};
pub use reads::{
    HistoryChange, HistoryEntry, HistoryPage, HistoryQuery, ModelCursor, ModelPage, ModelQuery,
    ModelRecord, StatusFilter,
};
pub use schedules::{ScheduleRecord, TickOutcome};
pub use store::{BackendKind, PoolStatus, Store, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
pub use webhooks::{
    AttemptOutcome, DeliveryQuery, DeliveryRecord, DeliveryState, DueDelivery, EndpointChange,
    EndpointRecord, NewEndpoint, WebhookEvent,
};
