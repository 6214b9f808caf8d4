//! The one mapping from errors to HTTP responses: every error is JSON
//! `{ "error": code, "message": text }` with the right status.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use pricesync_store::StoreError;
use serde::{Deserialize, Serialize};

/// How long a client should wait before retrying a 503 of an unavailable
/// database or a server that is not ready.
pub(crate) const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;
/// The `Retry-After` of an admin request refused for the admin scope's
/// concurrency limit, in seconds.
pub(crate) const ADMIN_OVERLOADED_RETRY_AFTER_SECS: u64 = 1;

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed: a bad id, query parameter or body.
    #[error("{message}")]
    BadRequest {
        /// A short machine-readable code.
        code: &'static str,
        /// What is wrong, for people.
        message: String,
    },
    /// What the request names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// What the request names does not exist, or did not at the instant
    /// asked: a 404 with its own code (`unknown_model`, `not_listed_yet`,
    /// `removed`).
    #[error("{message}")]
    NotListed {
        /// A short machine-readable code.
        code: &'static str,
        /// What is wrong, for people.
        message: String,
    },
    /// A usage that cannot be priced (the cost function's error codes).
    #[error("{message}")]
    CannotPrice {
        /// A short machine-readable code.
        code: &'static str,
        /// Why, for people.
        message: String,
    },
    /// No valid admin token.
    #[error("a valid admin bearer token is required (Authorization: Bearer <token>)")]
    Unauthorized,
    /// No admin token is configured: the admin API is closed.
    #[error(
        "the admin API is disabled: no admin token is configured (set PRICESYNC_ADMIN_TOKENS)"
    )]
    AdminDisabled,
    /// The request body is larger than the server accepts.
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// What the request names is gone for good (a change feed cursor past
    /// the retained history): a 410 with its own code.
    #[error("{message}")]
    Gone {
        /// A short machine-readable code.
        code: &'static str,
        /// What to do, for people.
        message: String,
    },
    /// More admin requests are in progress than the server takes at once:
    /// retry in a moment.
    #[error(
        "too many admin requests are in progress at once (PRICESYNC_ADMIN_CONCURRENCY); retry in a second"
    )]
    AdminOverloaded,
    /// The database is unreachable or its pool exhausted: retry later.
    #[error("the database is unavailable; retry shortly")]
    Unavailable(#[source] StoreError),
    /// A fault of the server; details are logged, not returned.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    as = Error,
    example = json!({
        "error": "invalid_parameter",
        "message": "query parameter limit: \"0\" is not a whole number from 1 to 1000"
    })
)]
pub struct ErrorBody {
    /// A short machine-readable code: `invalid_parameter`, `invalid_request`,
    /// `invalid_provider`, `invalid_sync_id`, `invalid_id`, `invalid_body`,
    /// `unknown_provider`, `not_found`, `unauthorized`, `admin_disabled`,
    /// `admin_overloaded`, `conflict`, `payload_too_large`,
    /// `request_head_too_large`, `unavailable`,
    /// `metrics_unavailable`, `internal`; the read API's `unknown_model`,
    /// `not_listed_yet`, `removed`; and the cost API's `dynamic_pricing`,
    /// `subscription_pricing`, `unknown_pricing`, `unpriced_meter`,
    /// `inconsistent_usage`, `overflow`; the change feed's `cursor_expired`.
    pub error: String,
    /// What is wrong, for people.
    pub message: String,
}

impl ErrorBody {
    /// An error body with this code and message.
    pub(crate) fn new(code: &str, message: String) -> Self {
        Self {
            error: code.to_owned(),
            message,
        }
    }
}

impl ApiError {
    /// A 400 for a query parameter, naming it.
    pub(crate) fn bad_parameter(name: &str, problem: impl std::fmt::Display) -> Self {
        Self::BadRequest {
            code: "invalid_parameter",
            message: format!("query parameter {name}: {problem}"),
        }
    }

    fn code(&self) -> &str {
        match self {
            ApiError::BadRequest { code, .. } => code,
            ApiError::NotFound(_) => "not_found",
            ApiError::NotListed { code, .. }
            | ApiError::CannotPrice { code, .. }
            | ApiError::Gone { code, .. } => code,
            ApiError::Unauthorized => "unauthorized",
            ApiError::AdminDisabled => "admin_disabled",
            ApiError::AdminOverloaded => "admin_overloaded",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) | ApiError::NotListed { .. } => StatusCode::NOT_FOUND,
            ApiError::CannotPrice { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized | ApiError::AdminDisabled => StatusCode::UNAUTHORIZED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone { .. } => StatusCode::GONE,
            ApiError::AdminOverloaded => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unavailable(_)) {
            response.insert_header((
                actix_web::http::header::RETRY_AFTER,
                UNAVAILABLE_RETRY_AFTER_SECS.to_string(),
            ));
        }
        if matches!(self, ApiError::AdminOverloaded) {
            response.insert_header((
                actix_web::http::header::RETRY_AFTER,
                ADMIN_OVERLOADED_RETRY_AFTER_SECS.to_string(),
            ));
        }
        if matches!(self, ApiError::Unauthorized | ApiError::AdminDisabled) {
            response.insert_header(("WWW-Authenticate", "Bearer realm=\"pricesync-admin\""));
        }
        response.json(ErrorBody::new(self.code(), self.to_string()))
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::InvalidArgument(message) => ApiError::BadRequest {
                code: "invalid_parameter",
                message,
            },
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::Unavailable(e)
            }
            e => {
                tracing::error!(error = %e, "store error");
                ApiError::Internal(e.into())
            }
        }
    }
}

/// Turns actix's extractor errors (bad query string, path or body) into the
/// JSON error shape instead of actix's plain-text answers.
pub(crate) fn extractor_error(message: String) -> actix_web::Error {
    ApiError::BadRequest {
        code: "invalid_request",
        message,
    }
    .into()
}
