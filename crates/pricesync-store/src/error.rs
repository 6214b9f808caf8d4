//! The store's error type.
//!
//! Each variant that wraps a failure of a dependency keeps it as its
//! `source()`; its message also carries the cause's text, so that logging
//! the message alone still says what went wrong.

use std::path::PathBuf;

/// A dependency's error kept as the cause of a [`StoreError`].
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong in the store. Messages say what to fix where they can.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `DATABASE_URL` (or the URL given) is not one the store understands.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// The database could not be reached or opened.
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] Cause),
    /// The directory of a SQLite database could not be created.
    #[error("cannot create the directory {} for the SQLite database: {source}", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Running the migrations failed.
    #[error("database migration failed: {0}")]
    Migration(#[source] Cause),
    /// No connection could be had from the pool in time.
    #[error(
        "no database connection available ({0}); the pool may be exhausted or the database unreachable"
    )]
    Pool(#[source] Cause),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// A stored row breaks an invariant the code relies on.
    #[error("stored data is inconsistent: {what}{}", caused_by(.source))]
    Corrupt {
        /// Which row, and what is wrong with it.
        what: String,
        /// The parse error that found it, if one did.
        #[source]
        source: Option<Cause>,
    },
    /// A fenced write found its lease gone, expired or taken over: nothing
    /// was written.
    #[error("lease {key} no longer carries fence {token}; the write was rejected")]
    FenceRejected {
        /// The lease key.
        key: String,
        /// The stale fencing token.
        token: i64,
    },
    /// An enqueue kept finding the job in its way gone by the time it looked
    /// (jobs finishing as fast as they were refused): nothing was enqueued;
    /// worth a retry.
    #[error(
        "the providers' jobs kept changing during the enqueue ({attempts} attempts); try again"
    )]
    Contended {
        /// How many times the enqueue tried.
        attempts: usize,
    },
    /// The caller passed a value the store cannot use.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

fn caused_by(source: &Option<Cause>) -> String {
    source
        .as_ref()
        .map(|cause| format!(": {cause}"))
        .unwrap_or_default()
}

impl StoreError {
    /// Stored data breaks an invariant, found without a parse error.
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        StoreError::Corrupt {
            what: what.into(),
            source: None,
        }
    }

    /// Stored data breaks an invariant, found by `cause`.
    pub(crate) fn corrupt_because(
        what: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Corrupt {
            what: what.into(),
            source: Some(Box::new(cause)),
        }
    }

    /// Whether the error comes from the database being unavailable or
    /// contended rather than from the request (worth a retry, a 503 rather
    /// than a 500).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Connect(_)
                | StoreError::CreateDir { .. }
                | StoreError::Pool(_)
                | StoreError::Contended { .. }
        )
    }
}

/// The store's result type.
pub type StoreResult<T> = Result<T, StoreError>;
