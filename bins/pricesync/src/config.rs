//! Typed configuration, read once from environment variables at start.
//!
//! Every variable is listed with its default and meaning in `.env.example`.
//! A missing or invalid value stops start-up with a message naming the
//! variable.

use std::net::SocketAddr;
use std::time::Duration;

use pricesync_store::{redact_url, DatabaseUrl, PoolConfig, DEFAULT_DATABASE_URL};

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid {variable}={value:?}: {reason}")]
pub struct ConfigError {
    /// The environment variable.
    pub variable: &'static str,
    /// Its value (never a secret: secrets are reported without their value).
    pub value: String,
    /// What is wrong and what to use instead.
    pub reason: String,
}

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`: `postgres://…` or `sqlite://path`. Default
    /// `sqlite://data/pricesync.db`.
    pub database_url: DatabaseUrl,
    /// `PRICESYNC_BIND_ADDR`: where the HTTP server listens. Default
    /// `127.0.0.1:8080`; port 0 picks a free port.
    pub bind_addr: SocketAddr,
    /// `PRICESYNC_DB_POOL_SIZE` (default 10), `PRICESYNC_DB_WAIT_TIMEOUT_MS`
    /// (default 5000), `PRICESYNC_DB_CONNECT_TIMEOUT_MS` (default 5000).
    pub pool: PoolConfig,
    /// `PRICESYNC_SHUTDOWN_GRACE_SECS`: how long in-flight requests may
    /// finish after SIGINT/SIGTERM. Default 30.
    pub shutdown_grace: Duration,
    /// `PRICESYNC_HTTP_WORKERS`: HTTP worker threads. Default: the number of
    /// cores.
    pub http_workers: Option<usize>,
}

impl Config {
    /// Reads the configuration from the process environment (after `.env`,
    /// when present, has been loaded by the caller).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let database_url = {
            let value = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
            DatabaseUrl::parse(&value).map_err(|e| ConfigError {
                variable: "DATABASE_URL",
                value: redact_url(&value),
                reason: e.to_string(),
            })?
        };
        let bind_addr = parse(&get, "PRICESYNC_BIND_ADDR", "127.0.0.1:8080", |v| {
            v.parse::<SocketAddr>()
                .map_err(|_| "use host:port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080".to_owned())
        })?;
        let pool_size = parse(&get, "PRICESYNC_DB_POOL_SIZE", "10", |v| positive(v, 1000))?;
        let wait_ms = parse(&get, "PRICESYNC_DB_WAIT_TIMEOUT_MS", "5000", |v| {
            positive(v, 600_000)
        })?;
        let connect_ms = parse(&get, "PRICESYNC_DB_CONNECT_TIMEOUT_MS", "5000", |v| {
            positive(v, 600_000)
        })?;
        let grace = parse(&get, "PRICESYNC_SHUTDOWN_GRACE_SECS", "30", |v| {
            positive(v, 3600)
        })?;
        let http_workers = match get("PRICESYNC_HTTP_WORKERS") {
            None => None,
            Some(value) => Some(positive(&value, 1024).map_err(|reason| ConfigError {
                variable: "PRICESYNC_HTTP_WORKERS",
                value,
                reason,
            })?),
        };
        let pool = PoolConfig {
            max_size: pool_size,
            wait_timeout: Duration::from_millis(wait_ms as u64),
            create_timeout: Duration::from_millis(connect_ms as u64),
            recycle_timeout: Duration::from_millis(connect_ms as u64),
            ..PoolConfig::default()
        };
        Ok(Self {
            database_url,
            bind_addr,
            pool,
            shutdown_grace: Duration::from_secs(grace as u64),
            http_workers,
        })
    }
}

fn parse<T>(
    get: &impl Fn(&'static str) -> Option<String>,
    variable: &'static str,
    default: &str,
    convert: impl Fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    let value = get(variable).unwrap_or_else(|| default.to_owned());
    convert(value.trim()).map_err(|reason| ConfigError {
        variable,
        value,
        reason,
    })
}

fn positive(value: &str, max: usize) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("use a whole number from 1 to {max}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_need_no_database_server() {
        let c = config(&[]).expect("defaults are valid");
        assert_eq!(
            c.database_url,
            DatabaseUrl::Sqlite("data/pricesync.db".into())
        );
        assert_eq!(c.bind_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.pool.max_size, 10);
        assert_eq!(c.shutdown_grace, Duration::from_secs(30));
    }

    #[test]
    fn errors_name_the_variable() {
        let e = config(&[("PRICESYNC_BIND_ADDR", "localhost")]).expect_err("invalid");
        assert_eq!(e.variable, "PRICESYNC_BIND_ADDR");
        assert!(e.to_string().contains("PRICESYNC_BIND_ADDR"));
        let e = config(&[("DATABASE_URL", "mysql://root:pw@db/x")]).expect_err("invalid");
        assert_eq!(e.variable, "DATABASE_URL");
        assert!(!e.to_string().contains("pw@"), "{e}");
        let e = config(&[("PRICESYNC_DB_POOL_SIZE", "0")]).expect_err("invalid");
        assert_eq!(e.variable, "PRICESYNC_DB_POOL_SIZE");
        let e = config(&[("PRICESYNC_HTTP_WORKERS", "many")]).expect_err("invalid");
        assert_eq!(e.variable, "PRICESYNC_HTTP_WORKERS");
    }

    #[test]
    fn empty_values_mean_the_default() {
        let c = config(&[("DATABASE_URL", " ")]).expect("valid");
        assert!(matches!(c.database_url, DatabaseUrl::Sqlite(_)));
    }
}
