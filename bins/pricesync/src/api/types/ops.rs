//! Bodies of the operations endpoints: liveness, readiness and the pool.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use pricesync_store as store;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::error::ErrorBody;

/// The one value of [`Health::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Alive {
    /// The process answers.
    Ok,
}

/// The process is alive.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Always `ok`.
    pub status: Alive,
}

/// The one value of [`Ready::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadyStatus {
    /// The server can serve.
    Ready,
}

/// The server can serve.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ready {
    /// Always `ready`.
    pub status: ReadyStatus,
}

/// The one value of [`NotReady::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnavailableStatus {
    /// The server cannot serve.
    Unavailable,
}

/// Why the server cannot serve (503).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotReadyReason {
    /// The database does not answer.
    DatabaseUnreachable,
    /// Migrations are pending.
    MigrationsPending,
    /// The migration state cannot be read.
    MigrationsUnknown,
}

/// The server cannot serve (503): the body of `GET /ready` when not ready.
#[derive(Debug, Serialize, Deserialize, ToSchema, thiserror::Error)]
#[serde(deny_unknown_fields)]
#[error("{message}")]
pub struct NotReady {
    /// Always `unavailable`.
    pub status: UnavailableStatus,
    /// What is wrong.
    pub error: NotReadyReason,
    /// What is wrong, for people.
    pub message: String,
}

impl From<NotReadyReason> for NotReady {
    fn from(reason: NotReadyReason) -> Self {
        Self {
            status: UnavailableStatus::Unavailable,
            error: reason,
            message: match reason {
                NotReadyReason::DatabaseUnreachable => "the database does not answer",
                NotReadyReason::MigrationsPending => {
                    "database migrations are pending; run `pricesync migrate`"
                }
                NotReadyReason::MigrationsUnknown => "cannot read the migration state",
            }
            .to_owned(),
        }
    }
}

impl ResponseError for NotReady {
    fn status_code(&self) -> StatusCode {
        StatusCode::SERVICE_UNAVAILABLE
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .insert_header((
                actix_web::http::header::RETRY_AFTER,
                crate::api::error::UNAVAILABLE_RETRY_AFTER_SECS.to_string(),
            ))
            .json(self)
    }
}

/// The metrics recorder could not be installed (503 of `GET /metrics`):
/// nothing a retry would change, so no `Retry-After`.
#[derive(Debug, thiserror::Error)]
#[error("the metrics recorder could not be installed")]
pub struct MetricsUnavailable;

impl ResponseError for MetricsUnavailable {
    fn status_code(&self) -> StatusCode {
        StatusCode::SERVICE_UNAVAILABLE
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .json(ErrorBody::new("metrics_unavailable", self.to_string()))
    }
}

/// Whether the database pool has room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PoolHealth {
    /// Connections are free or can be opened.
    Healthy,
    /// Every connection is in use and callers wait.
    Exhausted,
}

/// The database connection pool.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolStatus {
    /// Open connections.
    size: usize,
    /// The most connections it opens.
    max_size: usize,
    /// Connections in use.
    in_use: usize,
    /// Idle connections.
    idle: usize,
    /// Callers waiting for a connection.
    waiting: usize,
    /// Healthy or exhausted.
    status: PoolHealth,
}

impl From<store::PoolStatus> for PoolStatus {
    fn from(pool: store::PoolStatus) -> Self {
        Self {
            size: pool.size,
            max_size: pool.max_size,
            in_use: pool.in_use,
            idle: pool.idle,
            waiting: pool.waiting,
            status: if pool.is_exhausted() {
                PoolHealth::Exhausted
            } else {
                PoolHealth::Healthy
            },
        }
    }
}
