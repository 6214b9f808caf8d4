//! How to reach the database: the URL and the pool's limits.

use std::path::PathBuf;
use std::time::Duration;

use crate::StoreError;

/// The default database: a SQLite file under `data/`, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/pricesync.db";

/// Which database, as chosen by the URL's scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `postgres://…` or `postgresql://…`: the URL as given.
    Postgres(String),
    /// `sqlite://path` (relative), `sqlite:///abs/path` (absolute) or
    /// `sqlite:path`: the file path.
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    /// Parses a database URL. The error names the accepted forms.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            if url.split_once("://").map(|(_, rest)| rest.is_empty()) == Some(true) {
                return Err(StoreError::InvalidUrl(
                    "the PostgreSQL URL has no host (postgres://user@host:port/database)".into(),
                ));
            }
            return Ok(Self::Postgres(url.to_owned()));
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() || path == ":memory:" {
                return Err(StoreError::InvalidUrl(format!(
                    "{url:?} names no SQLite file; use sqlite://path/to/file.db"
                )));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        let scheme = url.split(':').next().unwrap_or_default();
        Err(StoreError::InvalidUrl(format!(
            "unsupported scheme {scheme:?} in {}; use postgres://user@host:port/database or sqlite://path/to/file.db",
            redact_url(url)
        )))
    }

    /// The URL with any password replaced, safe to log.
    pub fn redacted(&self) -> String {
        match self {
            Self::Postgres(url) => redact_url(url),
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
        }
    }
}

/// Hides the password of `scheme://user:password@host`, for logs and errors.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Pool sizes and timeouts. A pool without a wait timeout hangs for ever
/// when exhausted, so every timeout is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Connections at most (PostgreSQL; SQLite readers). Default 10.
    pub max_size: usize,
    /// How long a caller waits for a free connection. Default 5 s.
    pub wait_timeout: Duration,
    /// How long opening a connection may take. Default 5 s.
    pub create_timeout: Duration,
    /// How long checking a returned connection may take. Default 5 s.
    pub recycle_timeout: Duration,
    /// SQLite: how long a writer waits for another writer's lock. Default 5 s.
    pub sqlite_busy_timeout: Duration,
    /// PostgreSQL `statement_timeout` of every session: a statement running
    /// longer is cancelled. Default 120 s (a batch statement writes at most
    /// 1,000 rows).
    pub pg_statement_timeout: Duration,
    /// PostgreSQL `lock_timeout`: a statement waiting longer for a row or
    /// table lock fails instead of queueing behind a stalled transaction.
    /// Default 15 s.
    pub pg_lock_timeout: Duration,
    /// PostgreSQL `idle_in_transaction_session_timeout`: a session idle
    /// inside an open transaction longer than this (a worker frozen or cut
    /// off mid-write) is terminated, its transaction rolled back and its
    /// locks freed. Default 60 s, well inside the default lease TTL (300 s).
    pub pg_idle_in_transaction_timeout: Duration,
}

impl PoolConfig {
    /// The `SET` statements that give a PostgreSQL session its limits.
    pub fn pg_session_settings(&self) -> String {
        format!(
            "SET statement_timeout = {}; SET lock_timeout = {}; \
             SET idle_in_transaction_session_timeout = {};",
            self.pg_statement_timeout.as_millis(),
            self.pg_lock_timeout.as_millis(),
            self.pg_idle_in_transaction_timeout.as_millis()
        )
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_size: 10,
            wait_timeout: Duration::from_secs(5),
            create_timeout: Duration::from_secs(5),
            recycle_timeout: Duration::from_secs(5),
            sqlite_busy_timeout: Duration::from_secs(5),
            pg_statement_timeout: Duration::from_secs(120),
            pg_lock_timeout: Duration::from_secs(15),
            pg_idle_in_transaction_timeout: Duration::from_secs(60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_choose_the_backend() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/pricesync.db").ok(),
            Some(DatabaseUrl::Sqlite(PathBuf::from("data/pricesync.db")))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/p.db").ok(),
            Some(DatabaseUrl::Sqlite(PathBuf::from("/var/lib/p.db")))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:p.db").ok(),
            Some(DatabaseUrl::Sqlite(PathBuf::from("p.db")))
        );
        assert!(matches!(
            DatabaseUrl::parse("postgres://u@localhost/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(matches!(
            DatabaseUrl::parse("postgresql://u@localhost/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
    }

    #[test]
    fn bad_urls_say_what_to_use() {
        for bad in [
            "mysql://x",
            "data/pricesync.db",
            "",
            "sqlite://",
            "sqlite::memory:",
            "postgres://",
        ] {
            let err = DatabaseUrl::parse(bad).expect_err(bad).to_string();
            assert!(
                err.contains("sqlite://") || err.contains("postgres://"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn passwords_are_redacted() {
        let url = DatabaseUrl::parse("postgres://app:s3cret@db:5432/prices").expect("valid");
        assert_eq!(url.redacted(), "postgres://app:***@db:5432/prices");
        let err = DatabaseUrl::parse("mysql://app:s3cret@db/prices").expect_err("bad scheme");
        assert!(!err.to_string().contains("s3cret"));
    }
}
