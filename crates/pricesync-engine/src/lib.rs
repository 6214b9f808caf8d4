//! The pricesync sync engine, embeddable in any tokio service.
//!
//! It owns what happens to prices between a provider and the store:
//! - **one provider's sync** ([`sync_price_list`]): validate, diff against
//!   the stored list, write in one fenced transaction (or report, in a dry
//!   run);
//! - **jobs**: a trigger queues a job and returns at once
//!   ([`EngineHandle::trigger`]); workers claim jobs, sync their providers
//!   with bounded parallelism under per-provider leases renewed every TTL/3,
//!   heartbeat, and end in an honest state (`completed`, `partially_failed`,
//!   `failed`, `cancelled`);
//! - **the janitor**: rescues jobs of dead workers, removes expired leases,
//!   prunes old jobs;
//! - **the scheduler**: leaderless, one job per slot across replicas, one
//!   catch-up run after downtime, faster retries after a failure;
//! - **the webhook dispatcher**: sends the store's outbox of signed
//!   deliveries, retried with capped exponential backoff.
//!
//! Start it with [`Engine::start`] over a [`pricesync_store::Store`] and any
//! [`pricesync_providers::PriceFetcher`]s; observe or pause it at
//! [`SyncPoint`]s with [`SyncHooks`]; stop it with
//! [`EngineHandle::shutdown`]. See `examples/embed.rs`.

mod config;
mod engine;
mod hooks;
mod janitor;
mod lease;
pub mod metrics;
mod provider_run;
mod scheduler;
mod state;
mod stop;
mod sync;
mod webhooks;
mod worker;

pub use config::{new_worker_id, EngineConfig, RetryBackoff, SchedulerConfig, WebhookConfig};
pub use engine::{Engine, EngineError, EngineHandle, JobView, TriggerOutcome, TriggerRequest};
pub use hooks::{NoHooks, SyncHooks, SyncPoint};
pub use sync::{
    plan_price_list, sync_price_list, write_plan, ProviderSyncSummary, SyncOptions, SyncPlan,
};
