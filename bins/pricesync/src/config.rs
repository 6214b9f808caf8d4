//! Typed configuration, read once from environment variables at start.
//!
//! Every variable is listed with its default and meaning in `.env.example`.
//! A missing or invalid value stops start-up with a message naming the
//! variable.

use std::net::SocketAddr;
use std::time::Duration;

use crate::api::auth::{parse_admin_tokens, AdminToken};
use pricesync_domain::{Decimal, ShrinkGuard, ValidationPolicy};
use pricesync_engine::{EngineConfig, SchedulerConfig, SyncOptions};
use pricesync_providers::{known_providers, HttpPolicy};
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
    /// The error behind it, when another crate refused the value.
    #[source]
    pub source: Option<pricesync_store::StoreError>,
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
    /// `PRICESYNC_HTTP_BACKLOG`: connections the kernel queues before the
    /// server accepts them (capped by the kernel's `somaxconn`). Default
    /// 2048, so a burst of new connections is not dropped into the client's
    /// one-second SYN retry.
    pub http_backlog: u32,
    /// `PRICING_SYNC_PROVIDERS`: the providers this service syncs (on
    /// schedule and on request). Default
    /// `openrouter,featherless,nearai,alibaba-cloud`.
    pub providers: Vec<String>,
    /// The sync engine: scheduler (`PRICING_SYNC_*`), leases, jobs,
    /// validation bounds (`PRICESYNC_*`).
    pub engine: EngineConfig,
    /// Provider requests (`PRICESYNC_PROVIDER_TIMEOUT_SECS`,
    /// `PRICESYNC_PROVIDER_MAX_BODY_MB`).
    pub http: HttpPolicy,
    /// `PRICESYNC_ADMIN_TOKENS`: `name:token,name:token`. Empty: the admin
    /// API refuses every request.
    pub admin_tokens: Vec<AdminToken>,
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
                reason: "not a database URL pricesync can use".to_owned(),
                source: Some(e),
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
        let http_backlog = parse(&get, "PRICESYNC_HTTP_BACKLOG", "2048", |v| {
            positive(v, 65_535)
        })? as u32;
        let http_workers = match get("PRICESYNC_HTTP_WORKERS") {
            None => None,
            Some(value) => Some(positive(&value, 1024).map_err(|reason| ConfigError {
                variable: "PRICESYNC_HTTP_WORKERS",
                value,
                reason,
                source: None,
            })?),
        };
        let pool = PoolConfig {
            max_size: pool_size,
            wait_timeout: Duration::from_millis(wait_ms as u64),
            create_timeout: Duration::from_millis(connect_ms as u64),
            recycle_timeout: Duration::from_millis(connect_ms as u64),
            ..PoolConfig::default()
        };
        let shutdown_grace = Duration::from_secs(grace as u64);
        let providers = provider_list(&get)?;
        let engine = engine_config(&get, &providers, shutdown_grace)?;
        let http = HttpPolicy {
            request_timeout: Duration::from_secs(parse(
                &get,
                "PRICESYNC_PROVIDER_TIMEOUT_SECS",
                "60",
                |v| positive(v, 3600),
            )? as u64),
            max_body_bytes: parse(&get, "PRICESYNC_PROVIDER_MAX_BODY_MB", "64", |v| {
                positive(v, 4096)
            })? as u64
                * 1024
                * 1024,
            ..HttpPolicy::default()
        };
        let admin_tokens = match get("PRICESYNC_ADMIN_TOKENS") {
            None => Vec::new(),
            Some(value) => parse_admin_tokens(&value).map_err(|reason| ConfigError {
                variable: "PRICESYNC_ADMIN_TOKENS",
                // A secret: never echoed.
                value: "<not shown>".to_owned(),
                reason,
                source: None,
            })?,
        };
        Ok(Self {
            database_url,
            bind_addr,
            pool,
            shutdown_grace,
            http_workers,
            http_backlog,
            providers,
            engine,
            http,
            admin_tokens,
        })
    }
}

fn provider_list(
    get: &impl Fn(&'static str) -> Option<String>,
) -> Result<Vec<String>, ConfigError> {
    const VARIABLE: &str = "PRICING_SYNC_PROVIDERS";
    let value =
        get(VARIABLE).unwrap_or_else(|| "openrouter,featherless,nearai,alibaba-cloud".to_owned());
    let known = known_providers();
    let mut providers: Vec<String> = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !known.contains(&name) {
            return Err(ConfigError {
                variable: VARIABLE,
                value: value.clone(),
                reason: format!(
                    "unknown provider {name:?}; known providers: {}",
                    known.join(", ")
                ),
                source: None,
            });
        }
        if !providers.iter().any(|p| p == name) {
            providers.push(name.to_owned());
        }
    }
    if providers.is_empty() {
        return Err(ConfigError {
            variable: VARIABLE,
            value,
            reason: "name at least one provider".to_owned(),
            source: None,
        });
    }
    Ok(providers)
}

fn boolean(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("use true or false".to_owned()),
    }
}

/// Hours as a decimal (`6`, `0.5`), at least one minute, at most a year.
fn hours(value: &str) -> Result<Duration, String> {
    let parsed = pricesync_domain::parse_decimal(value)
        .map_err(|_| "use a number of hours, e.g. 6 or 0.5".to_owned())?;
    let seconds = (parsed * Decimal::from(3600)).round();
    match u64::try_from(seconds) {
        Ok(s) if (60..=366 * 24 * 3600).contains(&s) => Ok(Duration::from_secs(s)),
        _ => Err("use a number of hours from 1/60 (one minute) to 8784 (a year)".to_owned()),
    }
}

fn usd(value: &str) -> Result<Decimal, String> {
    match pricesync_domain::parse_decimal(value) {
        Ok(d) if d > Decimal::ZERO => Ok(d),
        _ => Err("use a positive decimal number of USD, e.g. 0.01 or 1e-12".to_owned()),
    }
}

fn engine_config(
    get: &impl Fn(&'static str) -> Option<String>,
    providers: &[String],
    shutdown_grace: Duration,
) -> Result<EngineConfig, ConfigError> {
    let secs =
        |variable: &'static str, default: &str, max: usize| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(
                parse(get, variable, default, |v| positive(v, max))? as u64,
            ))
        };
    let mut provider_intervals = std::collections::BTreeMap::new();
    for provider in providers {
        let variable: &'static str = match provider.as_str() {
            "openrouter" => "PRICING_SYNC_INTERVAL_HOURS_OPENROUTER",
            "featherless" => "PRICING_SYNC_INTERVAL_HOURS_FEATHERLESS",
            "nearai" => "PRICING_SYNC_INTERVAL_HOURS_NEARAI",
            "alibaba-cloud" => "PRICING_SYNC_INTERVAL_HOURS_ALIBABA_CLOUD",
            "together" => "PRICING_SYNC_INTERVAL_HOURS_TOGETHER",
            "deepinfra" => "PRICING_SYNC_INTERVAL_HOURS_DEEPINFRA",
            "cerebras" => "PRICING_SYNC_INTERVAL_HOURS_CEREBRAS",
            "novita" => "PRICING_SYNC_INTERVAL_HOURS_NOVITA",
            "xai" => "PRICING_SYNC_INTERVAL_HOURS_XAI",
            "groq" => "PRICING_SYNC_INTERVAL_HOURS_GROQ",
            "fireworks" => "PRICING_SYNC_INTERVAL_HOURS_FIREWORKS",
            _ => continue,
        };
        if let Some(value) = get(variable) {
            let interval = hours(&value).map_err(|reason| ConfigError {
                variable,
                value,
                reason,
                source: None,
            })?;
            provider_intervals.insert(provider.clone(), interval);
        }
    }
    let validation = ValidationPolicy {
        per_token: pricesync_domain::MagnitudeBounds {
            min_nonzero: parse(get, "PRICESYNC_MIN_TOKEN_PRICE_USD", "1e-12", usd)?,
            max: parse(get, "PRICESYNC_MAX_TOKEN_PRICE_USD", "0.01", usd)?,
        },
        ..ValidationPolicy::default()
    };
    if validation.per_token.min_nonzero >= validation.per_token.max {
        return Err(ConfigError {
            variable: "PRICESYNC_MIN_TOKEN_PRICE_USD",
            value: validation.per_token.min_nonzero.to_string(),
            reason: "must be below PRICESYNC_MAX_TOKEN_PRICE_USD".to_owned(),
            source: None,
        });
    }
    let shrink = parse(get, "PRICESYNC_SHRINK_GUARD_PERCENT", "50", |v| {
        match v.parse::<u8>() {
            Ok(n) if n <= 100 => Ok(n),
            _ => Err("use a whole percentage from 0 to 100".to_owned()),
        }
    })?;
    let lease_ttl = secs("PRICESYNC_LEASE_TTL_SECS", "300", 86_400)?;
    let heartbeat = secs("PRICESYNC_HEARTBEAT_SECS", "5", 3600)?;
    let rescue = secs("PRICESYNC_RESCUE_TIMEOUT_SECS", "30", 86_400)?;
    if rescue <= heartbeat {
        return Err(ConfigError {
            variable: "PRICESYNC_RESCUE_TIMEOUT_SECS",
            value: rescue.as_secs().to_string(),
            reason: "must be longer than PRICESYNC_HEARTBEAT_SECS, or live jobs would be rescued"
                .into(),
            source: None,
        });
    }
    Ok(EngineConfig {
        workers: parse(get, "PRICESYNC_WORKERS", "1", |v| positive(v, 64))?,
        lease_ttl,
        heartbeat_interval: heartbeat,
        rescue_timeout: rescue,
        janitor_interval: (rescue / 6).max(Duration::from_secs(1)),
        provider_parallelism: parse(get, "PRICESYNC_PROVIDER_PARALLELISM", "4", |v| {
            positive(v, 64)
        })?,
        max_attempts: parse(get, "PRICESYNC_MAX_ATTEMPTS", "3", |v| positive(v, 100))? as u32,
        shutdown_grace,
        job_retention: Duration::from_secs(
            parse(get, "PRICESYNC_JOB_RETENTION_DAYS", "30", |v| {
                positive(v, 3650)
            })? as u64
                * 86_400,
        ),
        sync: SyncOptions {
            validation,
            shrink_guard: ShrinkGuard {
                min_listed_percent: shrink,
            },
            dry_run: false,
        },
        scheduler: SchedulerConfig {
            enabled: parse(get, "PRICING_SYNC_ENABLED", "true", boolean)?,
            interval: parse(get, "PRICING_SYNC_INTERVAL_HOURS", "6", hours)?,
            providers: providers.to_vec(),
            provider_intervals,
            startup_delay: Duration::from_secs(parse(
                get,
                "PRICING_SYNC_STARTUP_DELAY_SECS",
                "30",
                |v| {
                    v.parse::<u64>()
                        .map_err(|_| "use a whole number of seconds".to_owned())
                },
            )?),
            ..SchedulerConfig::default()
        },
        ..EngineConfig::default()
    })
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
        source: None,
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
        let e = config(&[("PRICESYNC_HTTP_BACKLOG", "0")]).expect_err("invalid");
        assert_eq!(e.variable, "PRICESYNC_HTTP_BACKLOG");
        let e = config(&[("PRICESYNC_HTTP_BACKLOG", "70000")]).expect_err("invalid");
        assert_eq!(e.variable, "PRICESYNC_HTTP_BACKLOG");
        assert_eq!(config(&[]).expect("defaults").http_backlog, 2048);
    }

    #[test]
    fn scheduler_settings_follow_the_replaced_system() {
        let c = config(&[]).expect("defaults");
        assert!(c.engine.scheduler.enabled);
        assert_eq!(c.engine.scheduler.interval, Duration::from_secs(6 * 3600));
        assert_eq!(
            c.providers,
            ["openrouter", "featherless", "nearai", "alibaba-cloud"]
        );
        let c = config(&[
            ("PRICING_SYNC_ENABLED", "false"),
            ("PRICING_SYNC_INTERVAL_HOURS", "0.5"),
            ("PRICING_SYNC_PROVIDERS", "openrouter, groq"),
            ("PRICING_SYNC_INTERVAL_HOURS_GROQ", "24"),
        ])
        .expect("valid");
        assert!(!c.engine.scheduler.enabled);
        assert_eq!(c.engine.scheduler.interval, Duration::from_secs(1800));
        assert_eq!(c.providers, ["openrouter", "groq"]);
        assert_eq!(
            c.engine.scheduler.provider_intervals.get("groq"),
            Some(&Duration::from_secs(24 * 3600))
        );
        for (variable, value) in [
            ("PRICING_SYNC_ENABLED", "maybe"),
            ("PRICING_SYNC_INTERVAL_HOURS", "0"),
            ("PRICING_SYNC_INTERVAL_HOURS", "six"),
            ("PRICING_SYNC_PROVIDERS", "openrouter,nosuch"),
            ("PRICING_SYNC_PROVIDERS", ","),
            ("PRICESYNC_MAX_TOKEN_PRICE_USD", "-1"),
            ("PRICESYNC_RESCUE_TIMEOUT_SECS", "2"),
        ] {
            let e = config(&[(variable, value)]).expect_err(value);
            assert_eq!(e.variable, variable, "{e}");
        }
        let e = config(&[("PRICING_SYNC_PROVIDERS", "nosuch")]).expect_err("unknown");
        assert!(
            e.to_string().contains("openrouter"),
            "lists the known ones: {e}"
        );
    }

    #[test]
    fn admin_tokens_are_parsed_and_never_echoed() {
        let c = config(&[("PRICESYNC_ADMIN_TOKENS", "ops:0123456789abcdef")]).expect("valid");
        assert_eq!(c.admin_tokens.len(), 1);
        let e = config(&[("PRICESYNC_ADMIN_TOKENS", "ops:tooshortsecret")]).expect_err("short");
        assert_eq!(e.variable, "PRICESYNC_ADMIN_TOKENS");
        assert!(!e.to_string().contains("tooshortsecret"), "{e}");
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn empty_values_mean_the_default() {
        let c = config(&[("DATABASE_URL", " ")]).expect("valid");
        assert!(matches!(c.database_url, DatabaseUrl::Sqlite(_)));
    }
}
