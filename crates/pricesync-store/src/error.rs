//! The store's error type.

/// What went wrong in the store. Messages say what to fix where they can.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `DATABASE_URL` (or the URL given) is not one the store understands.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// The database could not be reached or opened.
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// Running the migrations failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// No connection could be had from the pool in time.
    #[error("no database connection available: {0}")]
    Pool(String),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// A stored row breaks an invariant the code relies on.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
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

impl StoreError {
    /// Whether the error comes from the database being unavailable or
    /// contended rather than from the request (worth a retry, a 503 rather
    /// than a 500).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Connect(_) | StoreError::Pool(_) | StoreError::Contended { .. }
        )
    }
}

/// The store's result type.
pub type StoreResult<T> = Result<T, StoreError>;
