//! Typed configuration, read once from environment variables at start.
//!
//! Every variable is listed with its default and meaning in `.env.example`.
//! A missing or invalid value stops start-up with a message naming the
//! variable.

use std::net::SocketAddr;
use std::time::Duration;

use crate::api::auth::{parse_admin_tokens, AdminToken};
use pricesync_domain::{Cadence, CronSchedule, Decimal, HoldPolicy, ShrinkGuard, ValidationPolicy};
use pricesync_engine::{EngineConfig, RetryBackoff, SchedulerConfig, SyncOptions, WebhookConfig};
use pricesync_providers::{env_name, known_providers, HttpPolicy};
use pricesync_store::{redact_url, DatabaseUrl, PoolConfig, DEFAULT_DATABASE_URL};

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid {variable}={value:?}: {reason}")]
pub struct ConfigError {
    /// The environment variable.
    pub variable: String,
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
    /// `PRICESYNC_PROVIDER_MAX_BODY_MB`) and their retries
    /// (`PRICESYNC_PROVIDER_MAX_ATTEMPTS`, `PRICESYNC_PROVIDER_BACKOFF_BASE_MS`,
    /// `PRICESYNC_PROVIDER_BACKOFF_MAX_MS`,
    /// `PRICESYNC_PROVIDER_RETRY_AFTER_MAX_SECS`).
    pub http: HttpPolicy,
    /// `PRICESYNC_ADMIN_TOKENS`: `name:token,name:token`. Empty: the admin
    /// API refuses every request.
    pub admin_tokens: Vec<AdminToken>,
    /// `PRICESYNC_ADMIN_CONCURRENCY`: admin requests in progress at once;
    /// one more is answered 429 `admin_overloaded` at once. Default 16.
    pub admin_concurrency: usize,
    /// `PRICESYNC_ACCESS_LOG`: log every request (method, path, status,
    /// duration, peer, request id) at INFO under the target
    /// `pricesync::access`. Default false.
    pub access_log: bool,
    /// `PRICESYNC_CATALOGUE_CHECK_SECS`: how often the server checks the
    /// database's catalogue version, to reload its in-memory copy of the
    /// current prices after a change made by another process (a replica,
    /// `pricesync sync`). Changes made by this process are seen at once.
    /// Default 5.
    pub catalogue_check: Duration,
}

impl Config {
    /// Reads the configuration from the process environment (after `.env`,
    /// when present, has been loaded by the caller).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (tests pass a map). Every
    /// default comes from the crate that owns the setting
    /// ([`EngineConfig::default`], [`PoolConfig::default`],
    /// [`HttpPolicy::default`], [`ValidationPolicy::default`]), so it is
    /// written once.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let database_url = {
            let value = env
                .get("DATABASE_URL")
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
            DatabaseUrl::parse(&value).map_err(|e| ConfigError {
                variable: "DATABASE_URL".to_owned(),
                value: redact_url(&value),
                reason: "not a database URL pricesync can use".to_owned(),
                source: Some(e),
            })?
        };
        let bind_addr = env.or("PRICESYNC_BIND_ADDR", DEFAULT_BIND_ADDR, |v| {
            v.parse::<SocketAddr>()
                .map_err(|_| "use host:port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080".to_owned())
        })?;
        let pool_defaults = PoolConfig::default();
        let connect_timeout = env.or(
            "PRICESYNC_DB_CONNECT_TIMEOUT_MS",
            pool_defaults.create_timeout,
            millis(600_000),
        )?;
        let pool = PoolConfig {
            max_size: env.or(
                "PRICESYNC_DB_POOL_SIZE",
                pool_defaults.max_size,
                positive(1000),
            )?,
            wait_timeout: env.or(
                "PRICESYNC_DB_WAIT_TIMEOUT_MS",
                pool_defaults.wait_timeout,
                millis(600_000),
            )?,
            create_timeout: connect_timeout,
            recycle_timeout: connect_timeout,
            pg_statement_timeout: env.or(
                "PRICESYNC_DB_STATEMENT_TIMEOUT_SECS",
                pool_defaults.pg_statement_timeout,
                seconds(86_400),
            )?,
            pg_lock_timeout: env.or(
                "PRICESYNC_DB_LOCK_TIMEOUT_SECS",
                pool_defaults.pg_lock_timeout,
                seconds(86_400),
            )?,
            pg_idle_in_transaction_timeout: env.or(
                "PRICESYNC_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECS",
                pool_defaults.pg_idle_in_transaction_timeout,
                seconds(86_400),
            )?,
            ..pool_defaults
        };
        let engine_defaults = EngineConfig::default();
        let shutdown_grace = env.or(
            "PRICESYNC_SHUTDOWN_GRACE_SECS",
            engine_defaults.shutdown_grace,
            seconds(3600),
        )?;
        let http_backlog = env.or("PRICESYNC_HTTP_BACKLOG", DEFAULT_HTTP_BACKLOG, |v| {
            positive(65_535)(v).map(|n| n as u32)
        })?;
        let http_workers = env.optional("PRICESYNC_HTTP_WORKERS", positive(1024))?;
        let providers = provider_list(&env)?;
        check_provider_variables(&env, &providers)?;
        let engine = engine_config(&env, engine_defaults, &providers, shutdown_grace)?;
        if pool.pg_idle_in_transaction_timeout >= engine.lease_ttl {
            return Err(ConfigError {
                variable: "PRICESYNC_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECS".to_owned(),
                value: pool.pg_idle_in_transaction_timeout.as_secs().to_string(),
                reason: format!(
                    "must be shorter than the lease TTL (PRICESYNC_LEASE_TTL_SECS = {} s): a worker frozen mid-write must lose its transaction before its lease lapses",
                    engine.lease_ttl.as_secs()
                ),
                source: None,
            });
        }
        let http = http_policy(&env)?;
        let admin_tokens = match env.get("PRICESYNC_ADMIN_TOKENS") {
            None => Vec::new(),
            Some(value) => parse_admin_tokens(&value).map_err(|reason| ConfigError {
                variable: "PRICESYNC_ADMIN_TOKENS".to_owned(),
                // A secret: never echoed.
                value: "<not shown>".to_owned(),
                reason,
                source: None,
            })?,
        };
        let admin_concurrency = env.or(
            "PRICESYNC_ADMIN_CONCURRENCY",
            DEFAULT_ADMIN_CONCURRENCY,
            positive(10_000),
        )?;
        let access_log = env.or("PRICESYNC_ACCESS_LOG", false, boolean)?;
        let catalogue_check = env.or(
            "PRICESYNC_CATALOGUE_CHECK_SECS",
            DEFAULT_CATALOGUE_CHECK,
            seconds(3600),
        )?;
        Ok(Self {
            access_log,
            admin_concurrency,
            catalogue_check,
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

/// How often the catalogue version is checked when
/// `PRICESYNC_CATALOGUE_CHECK_SECS` is not set.
const DEFAULT_CATALOGUE_CHECK: Duration = Duration::from_secs(5);

/// Where the server listens when `PRICESYNC_BIND_ADDR` is not set.
const DEFAULT_BIND_ADDR: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    8080,
));

/// Admin requests in progress at once when `PRICESYNC_ADMIN_CONCURRENCY` is
/// not set: more than an operator team sends, few enough that a burst
/// does not queue on the database pool.
const DEFAULT_ADMIN_CONCURRENCY: usize = 16;

/// The listen backlog when `PRICESYNC_HTTP_BACKLOG` is not set.
const DEFAULT_HTTP_BACKLOG: u32 = 2048;

const MIB: u64 = 1024 * 1024;

/// The environment as the configuration reads it: an empty value is unset.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn get(&self, variable: &str) -> Option<String> {
        (self.0)(variable).filter(|v| !v.trim().is_empty())
    }

    /// The variable read with `convert`, or `default` when unset.
    fn or<T>(
        &self,
        variable: &str,
        default: T,
        convert: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        Ok(self.optional(variable, convert)?.unwrap_or(default))
    }

    /// The variable read with `convert`, or `None` when unset.
    fn optional<T>(
        &self,
        variable: &str,
        convert: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        self.get(variable)
            .map(|value| {
                convert(value.trim()).map_err(|reason| ConfigError {
                    variable: variable.to_owned(),
                    value,
                    reason,
                    source: None,
                })
            })
            .transpose()
    }
}

fn provider_list(env: &Env<'_>) -> Result<Vec<String>, ConfigError> {
    const VARIABLE: &str = "PRICING_SYNC_PROVIDERS";
    // Set but empty is a mistake (a template left blank), not "the
    // default": refused below like a list that names no provider.
    let Some(value) = (env.0)(VARIABLE) else {
        return Ok(SchedulerConfig::default().providers);
    };
    let known = known_providers();
    let mut providers: Vec<String> = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !known.contains(&name) {
            return Err(ConfigError {
                variable: VARIABLE.to_owned(),
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
            variable: VARIABLE.to_owned(),
            value,
            reason: "name at least one provider".to_owned(),
            source: None,
        });
    }
    Ok(providers)
}

/// Refuses per-provider variables that would be silently ignored (those of
/// a known provider that is not synced) and base URLs that cannot be used.
/// `<X>_API_KEY` of a name that is no provider is not ours to judge (other
/// programs use such names), so only known providers are checked.
fn check_provider_variables(env: &Env<'_>, providers: &[String]) -> Result<(), ConfigError> {
    for known in pricesync_providers::KNOWN_PROVIDERS {
        let synced = providers.iter().any(|p| p == known.name);
        let variables = [
            known.base_url_variable(),
            known.key_variable(),
            interval_variable(known.name),
            cron_variable(known.name),
        ];
        for variable in variables {
            let Some(value) = env.get(&variable) else {
                continue;
            };
            if !synced {
                return Err(ConfigError {
                    value: if variable == known.key_variable() {
                        // A key: never echoed.
                        "<not shown>".to_owned()
                    } else {
                        value
                    },
                    reason: format!(
                        "{} is not in PRICING_SYNC_PROVIDERS ({}): add it there, or unset {variable}",
                        known.name,
                        providers.join(",")
                    ),
                    variable,
                    source: None,
                });
            }
            if variable == known.base_url_variable() {
                base_url(&value).map_err(|reason| ConfigError {
                    variable: variable.clone(),
                    value: value.clone(),
                    reason,
                    source: None,
                })?;
            }
        }
    }
    Ok(())
}

/// An absolute `http` or `https` URL with a host.
fn base_url(value: &str) -> Result<(), String> {
    let usage = "use an absolute http(s) URL such as https://openrouter.ai/api/v1";
    let uri: actix_web::http::Uri = value.trim().parse().map_err(|_| usage.to_owned())?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(()),
        _ => Err(usage.to_owned()),
    }
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

/// Provider requests: time-outs, size cap, and the retries of a failed
/// request (full-jitter exponential backoff between a base and a maximum;
/// a `Retry-After` up to its own maximum is honoured instead).
fn http_policy(env: &Env<'_>) -> Result<HttpPolicy, ConfigError> {
    let defaults = HttpPolicy::default();
    let policy = HttpPolicy {
        request_timeout: env.or(
            "PRICESYNC_PROVIDER_TIMEOUT_SECS",
            defaults.request_timeout,
            seconds(3600),
        )?,
        max_body_bytes: env.or(
            "PRICESYNC_PROVIDER_MAX_BODY_MB",
            defaults.max_body_bytes,
            |v| positive(4096)(v).map(|mb| mb as u64 * MIB),
        )?,
        max_attempts: env.or(
            "PRICESYNC_PROVIDER_MAX_ATTEMPTS",
            defaults.max_attempts,
            |v| positive(10)(v).map(|n| n as u32),
        )?,
        backoff_base: env.or(
            "PRICESYNC_PROVIDER_BACKOFF_BASE_MS",
            defaults.backoff_base,
            millis(600_000),
        )?,
        backoff_max: env.or(
            "PRICESYNC_PROVIDER_BACKOFF_MAX_MS",
            defaults.backoff_max,
            millis(600_000),
        )?,
        retry_after_max: env.or(
            "PRICESYNC_PROVIDER_RETRY_AFTER_MAX_SECS",
            defaults.retry_after_max,
            seconds(3600),
        )?,
        ..defaults
    };
    if policy.backoff_max < policy.backoff_base {
        return Err(ConfigError {
            variable: "PRICESYNC_PROVIDER_BACKOFF_MAX_MS".to_owned(),
            value: policy.backoff_max.as_millis().to_string(),
            reason: format!(
                "must not be below PRICESYNC_PROVIDER_BACKOFF_BASE_MS ({} ms)",
                policy.backoff_base.as_millis()
            ),
            source: None,
        });
    }
    Ok(policy)
}

/// The variable of a provider's own sync interval:
/// `PRICING_SYNC_INTERVAL_HOURS_<PROVIDER>` (the name upper-cased, `-` as
/// `_`, like every per-provider variable).
fn interval_variable(provider: &str) -> String {
    format!("PRICING_SYNC_INTERVAL_HOURS_{}", env_name(provider))
}

/// The variable of a provider's own cron schedule:
/// `PRICING_SYNC_CRON_<PROVIDER>`, named like the interval's.
fn cron_variable(provider: &str) -> String {
    format!("PRICING_SYNC_CRON_{}", env_name(provider))
}

/// A cron expression: five fields, evaluated in UTC.
fn cron(value: &str) -> Result<Cadence, String> {
    CronSchedule::parse(value)
        .map(Cadence::Cron)
        .map_err(|e| e.to_string())
}

/// The cadence set by an interval variable or a cron variable of one scope
/// (the default schedule, or one provider's), `None` when neither is set.
/// Both at once are refused: which one wins would be a guess.
fn cadence(
    env: &Env<'_>,
    interval_variable: &str,
    cron_variable: &str,
) -> Result<Option<Cadence>, ConfigError> {
    let interval = env.optional(interval_variable, hours)?;
    let cron = env.optional(cron_variable, cron)?;
    match (interval, cron) {
        (Some(_), Some(_)) => Err(ConfigError {
            variable: cron_variable.to_owned(),
            value: env.get(cron_variable).unwrap_or_default(),
            reason: format!(
                "{interval_variable} is set too: a schedule runs by an interval or by a cron expression; unset one of {cron_variable} and {interval_variable}"
            ),
            source: None,
        }),
        (Some(interval), None) => Ok(Some(Cadence::Every(interval))),
        (None, cron) => Ok(cron),
    }
}

/// `PRICING_SYNC_PRIORITY`: providers that start first in a job, in this
/// order. Each must be a synced provider, named once.
fn provider_priority(env: &Env<'_>, providers: &[String]) -> Result<Vec<String>, ConfigError> {
    const VARIABLE: &str = "PRICING_SYNC_PRIORITY";
    let Some(value) = env.get(VARIABLE) else {
        return Ok(Vec::new());
    };
    let refuse = |reason: String| ConfigError {
        variable: VARIABLE.to_owned(),
        value: value.clone(),
        reason,
        source: None,
    };
    let mut priority: Vec<String> = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !providers.iter().any(|p| p == name) {
            let known = if known_providers().contains(&name) {
                format!("{name} is not in PRICING_SYNC_PROVIDERS")
            } else {
                format!("unknown provider {name:?}")
            };
            return Err(refuse(format!(
                "{known}; name providers of PRICING_SYNC_PROVIDERS ({})",
                providers.join(",")
            )));
        }
        if priority.iter().any(|p| p == name) {
            return Err(refuse(format!("{name} is named twice")));
        }
        priority.push(name.to_owned());
    }
    Ok(priority)
}

/// `PRICESYNC_<SCOPE>_RETRY_{BASE_SECS,FACTOR,MAX_SECS}`: how soon a
/// failure is retried (`SCHEDULE`: a failed scheduled run; `WEBHOOK`: a
/// failed webhook delivery).
fn retry_backoff(
    env: &Env<'_>,
    scope: &str,
    defaults: RetryBackoff,
) -> Result<RetryBackoff, ConfigError> {
    let base_variable = format!("PRICESYNC_{scope}_RETRY_BASE_SECS");
    let max_variable = format!("PRICESYNC_{scope}_RETRY_MAX_SECS");
    let backoff = RetryBackoff {
        base: env.or(&base_variable, defaults.base, seconds(86_400))?,
        factor: env.or(
            &format!("PRICESYNC_{scope}_RETRY_FACTOR"),
            defaults.factor,
            |v| positive(10)(v).map(|n| n as u32),
        )?,
        max: env.or(&max_variable, defaults.max, seconds(7 * 86_400))?,
    };
    if backoff.max < backoff.base {
        return Err(ConfigError {
            variable: max_variable,
            value: backoff.max.as_secs().to_string(),
            reason: format!(
                "must not be below {base_variable} ({} s)",
                backoff.base.as_secs()
            ),
            source: None,
        });
    }
    Ok(backoff)
}

fn engine_config(
    env: &Env<'_>,
    defaults: EngineConfig,
    providers: &[String],
    shutdown_grace: Duration,
) -> Result<EngineConfig, ConfigError> {
    // A provider's own interval or cron beats the default schedule's.
    let mut provider_cadences = std::collections::BTreeMap::new();
    for provider in providers {
        let own = cadence(env, &interval_variable(provider), &cron_variable(provider))?;
        if let Some(own) = own {
            provider_cadences.insert(provider.clone(), own);
        }
    }
    let default_cadence = cadence(env, "PRICING_SYNC_INTERVAL_HOURS", "PRICING_SYNC_CRON")?
        .unwrap_or_else(|| defaults.scheduler.cadence.clone());
    let bounds = defaults.sync.validation.per_token;
    let validation = ValidationPolicy {
        per_token: pricesync_domain::MagnitudeBounds {
            min_nonzero: env.or("PRICESYNC_MIN_TOKEN_PRICE_USD", bounds.min_nonzero, usd)?,
            max: env.or("PRICESYNC_MAX_TOKEN_PRICE_USD", bounds.max, usd)?,
        },
        ..defaults.sync.validation
    };
    if validation.per_token.min_nonzero >= validation.per_token.max {
        return Err(ConfigError {
            variable: "PRICESYNC_MIN_TOKEN_PRICE_USD".to_owned(),
            value: validation.per_token.min_nonzero.to_string(),
            reason: "must be below PRICESYNC_MAX_TOKEN_PRICE_USD".to_owned(),
            source: None,
        });
    }
    let shrink = env.or(
        "PRICESYNC_SHRINK_GUARD_PERCENT",
        defaults.sync.shrink_guard.min_listed_percent,
        |v| match v.parse::<u8>() {
            Ok(n) if n <= 100 => Ok(n),
            _ => Err("use a whole percentage from 0 to 100".to_owned()),
        },
    )?;
    let hold = env.or("PRICESYNC_HOLD_FACTOR", defaults.sync.hold, |v| {
        v.parse::<HoldPolicy>().map_err(|e| e.to_string())
    })?;
    let lease_ttl = env.or(
        "PRICESYNC_LEASE_TTL_SECS",
        defaults.lease_ttl,
        seconds(86_400),
    )?;
    let heartbeat = env.or(
        "PRICESYNC_HEARTBEAT_SECS",
        defaults.heartbeat_interval,
        seconds(3600),
    )?;
    let rescue = env.or(
        "PRICESYNC_RESCUE_TIMEOUT_SECS",
        defaults.rescue_timeout,
        seconds(86_400),
    )?;
    if rescue <= heartbeat {
        return Err(ConfigError {
            variable: "PRICESYNC_RESCUE_TIMEOUT_SECS".to_owned(),
            value: rescue.as_secs().to_string(),
            reason: "must be longer than PRICESYNC_HEARTBEAT_SECS, or live jobs would be rescued"
                .into(),
            source: None,
        });
    }
    let scheduler = SchedulerConfig {
        enabled: env.or("PRICING_SYNC_ENABLED", defaults.scheduler.enabled, boolean)?,
        cadence: default_cadence,
        providers: providers.to_vec(),
        provider_cadences,
        retry: retry_backoff(env, "SCHEDULE", defaults.scheduler.retry)?,
        startup_delay: env.or(
            "PRICING_SYNC_STARTUP_DELAY_SECS",
            defaults.scheduler.startup_delay,
            |v| {
                v.parse::<u64>()
                    .map(Duration::from_secs)
                    .map_err(|_| "use a whole number of seconds".to_owned())
            },
        )?,
        ..defaults.scheduler.clone()
    };
    Ok(EngineConfig {
        workers: env.or("PRICESYNC_WORKERS", defaults.workers, positive(64))?,
        lease_ttl,
        heartbeat_interval: heartbeat,
        rescue_timeout: rescue,
        // The janitor looks often enough that a dead worker's job is
        // rescued soon after the rescue timeout.
        janitor_interval: (rescue / 6).max(Duration::from_secs(1)),
        provider_parallelism: env.or(
            "PRICESYNC_PROVIDER_PARALLELISM",
            defaults.provider_parallelism,
            positive(64),
        )?,
        provider_priority: provider_priority(env, providers)?,
        max_attempts: env.or("PRICESYNC_MAX_ATTEMPTS", defaults.max_attempts, |v| {
            positive(100)(v).map(|n| n as u32)
        })?,
        shutdown_grace,
        job_retention: env.or(
            "PRICESYNC_JOB_RETENTION_DAYS",
            defaults.job_retention,
            |v| positive(3650)(v).map(|days| Duration::from_secs(days as u64 * 86_400)),
        )?,
        sync: SyncOptions {
            validation,
            shrink_guard: ShrinkGuard {
                min_listed_percent: shrink,
            },
            hold,
            ..defaults.sync
        },
        scheduler,
        webhooks: webhook_config(env, &defaults.webhooks)?,
        ..defaults
    })
}

/// The webhook dispatcher's settings (`PRICESYNC_WEBHOOK*`).
fn webhook_config(env: &Env<'_>, defaults: &WebhookConfig) -> Result<WebhookConfig, ConfigError> {
    Ok(WebhookConfig {
        enabled: env.or("PRICESYNC_WEBHOOKS_ENABLED", defaults.enabled, boolean)?,
        poll_interval: env.or(
            "PRICESYNC_WEBHOOK_POLL_MS",
            defaults.poll_interval,
            millis(60_000),
        )?,
        timeout: env.or(
            "PRICESYNC_WEBHOOK_TIMEOUT_SECS",
            defaults.timeout,
            seconds(300),
        )?,
        max_attempts: env.or(
            "PRICESYNC_WEBHOOK_MAX_ATTEMPTS",
            defaults.max_attempts,
            |v| positive(100)(v).map(|n| n as u32),
        )?,
        retry: retry_backoff(env, "WEBHOOK", defaults.retry)?,
        ..defaults.clone()
    })
}

/// A whole number from 1 to `max`.
fn positive(max: usize) -> impl Fn(&str) -> Result<usize, String> {
    move |value| match value.trim().parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("use a whole number from 1 to {max}")),
    }
}

/// A whole number of seconds from 1 to `max`.
fn seconds(max: usize) -> impl Fn(&str) -> Result<Duration, String> {
    move |value| positive(max)(value).map(|s| Duration::from_secs(s as u64))
}

/// A whole number of milliseconds from 1 to `max`.
fn millis(max: usize) -> impl Fn(&str) -> Result<Duration, String> {
    move |value| positive(max)(value).map(|ms| Duration::from_millis(ms as u64))
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
    fn webhook_settings_are_read_and_checked() {
        let c = config(&[]).expect("defaults");
        assert_eq!(c.engine.webhooks, WebhookConfig::default());
        let c = config(&[
            ("PRICESYNC_WEBHOOK_RETRY_BASE_SECS", "2"),
            ("PRICESYNC_WEBHOOK_RETRY_FACTOR", "3"),
            ("PRICESYNC_WEBHOOK_RETRY_MAX_SECS", "60"),
            ("PRICESYNC_WEBHOOK_MAX_ATTEMPTS", "3"),
            ("PRICESYNC_WEBHOOK_TIMEOUT_SECS", "2"),
            ("PRICESYNC_WEBHOOK_POLL_MS", "100"),
            ("PRICESYNC_WEBHOOKS_ENABLED", "false"),
        ])
        .expect("valid");
        let w = &c.engine.webhooks;
        assert_eq!(
            (
                w.retry,
                w.max_attempts,
                w.timeout,
                w.poll_interval,
                w.enabled
            ),
            (
                RetryBackoff {
                    base: Duration::from_secs(2),
                    factor: 3,
                    max: Duration::from_secs(60)
                },
                3,
                Duration::from_secs(2),
                Duration::from_millis(100),
                false
            )
        );
        for (variable, value) in [
            ("PRICESYNC_WEBHOOK_MAX_ATTEMPTS", "0"),
            ("PRICESYNC_WEBHOOK_TIMEOUT_SECS", "ten"),
            ("PRICESYNC_WEBHOOK_RETRY_MAX_SECS", "5"),
        ] {
            let e = config(&[(variable, value)]).expect_err(variable);
            assert_eq!(e.variable, variable);
        }
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
        assert_eq!(c.catalogue_check, Duration::from_secs(5));
        let e = config(&[("PRICESYNC_CATALOGUE_CHECK_SECS", "0")]).expect_err("invalid");
        assert_eq!(e.variable, "PRICESYNC_CATALOGUE_CHECK_SECS");
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
        // Variables that would be silently ignored, or unusable.
        for (vars, variable) in [
            (
                vec![
                    ("PRICING_SYNC_PROVIDERS", "openrouter"),
                    ("TOGETHER_API_KEY", "tg-secret-1"),
                ],
                "TOGETHER_API_KEY",
            ),
            (
                vec![
                    ("PRICING_SYNC_PROVIDERS", "openrouter"),
                    ("NEARAI_BASE_URL", "https://x.test"),
                ],
                "NEARAI_BASE_URL",
            ),
            (
                vec![
                    ("PRICING_SYNC_PROVIDERS", "openrouter"),
                    ("PRICING_SYNC_INTERVAL_HOURS_XAI", "2"),
                ],
                "PRICING_SYNC_INTERVAL_HOURS_XAI",
            ),
            (
                vec![("OPENROUTER_BASE_URL", "not a url")],
                "OPENROUTER_BASE_URL",
            ),
            (
                vec![("OPENROUTER_BASE_URL", "ftp://host/x")],
                "OPENROUTER_BASE_URL",
            ),
            (
                vec![("OPENROUTER_BASE_URL", "/relative")],
                "OPENROUTER_BASE_URL",
            ),
            (
                vec![("PRICING_SYNC_PROVIDERS", " , ")],
                "PRICING_SYNC_PROVIDERS",
            ),
            (
                vec![("PRICING_SYNC_PROVIDERS", "")],
                "PRICING_SYNC_PROVIDERS",
            ),
        ] {
            let e = config(&vars).expect_err(variable);
            assert_eq!(e.variable, variable, "{e}");
            assert!(!e.to_string().contains("tg-secret-1"), "{e}");
        }
        config(&[
            ("PRICING_SYNC_PROVIDERS", "openrouter,together"),
            ("TOGETHER_API_KEY", "tg-secret-1"),
            ("OPENROUTER_BASE_URL", "http://127.0.0.1:9/api"),
        ])
        .expect("synced providers' variables are fine");
        let e = config(&[
            ("PRICESYNC_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECS", "600"),
            ("PRICESYNC_LEASE_TTL_SECS", "300"),
        ])
        .expect_err("longer than the lease");
        assert_eq!(e.variable, "PRICESYNC_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECS");
        let c = config(&[("PRICESYNC_DB_LOCK_TIMEOUT_SECS", "3")]).expect("valid");
        assert_eq!(c.pool.pg_lock_timeout, Duration::from_secs(3));
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
        assert_eq!(
            c.engine.scheduler.cadence,
            Cadence::Every(Duration::from_secs(6 * 3600))
        );
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
        assert_eq!(
            c.engine.scheduler.cadence,
            Cadence::Every(Duration::from_secs(1800))
        );
        assert_eq!(c.providers, ["openrouter", "groq"]);
        assert_eq!(
            c.engine.scheduler.provider_cadences.get("groq"),
            Some(&Cadence::Every(Duration::from_secs(24 * 3600)))
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
    fn defaults_are_the_owning_crates_defaults() {
        let c = config(&[]).expect("defaults");
        let engine = EngineConfig::default();
        assert_eq!(c.engine.lease_ttl, engine.lease_ttl);
        assert_eq!(c.engine.heartbeat_interval, engine.heartbeat_interval);
        assert_eq!(c.engine.rescue_timeout, engine.rescue_timeout);
        assert_eq!(c.engine.max_attempts, engine.max_attempts);
        assert_eq!(c.engine.job_retention, engine.job_retention);
        assert_eq!(c.engine.sync, engine.sync);
        assert_eq!(c.engine.scheduler, engine.scheduler);
        assert_eq!(c.shutdown_grace, engine.shutdown_grace);
        assert_eq!(c.pool, PoolConfig::default());
        assert_eq!(c.http, HttpPolicy::default());
        assert_eq!(c.providers, pricesync_providers::DEFAULT_SYNC_PROVIDERS);
    }

    #[test]
    fn per_provider_intervals_follow_the_provider_name() {
        let c = config(&[
            ("PRICING_SYNC_PROVIDERS", "alibaba-cloud,together"),
            ("PRICING_SYNC_INTERVAL_HOURS_ALIBABA_CLOUD", "12"),
            ("PRICING_SYNC_INTERVAL_HOURS_TOGETHER", "1"),
        ])
        .expect("valid");
        assert_eq!(
            c.engine.scheduler.provider_cadences.get("alibaba-cloud"),
            Some(&Cadence::Every(Duration::from_secs(12 * 3600)))
        );
        assert_eq!(
            c.engine.scheduler.provider_cadences.get("together"),
            Some(&Cadence::Every(Duration::from_secs(3600)))
        );
        let e = config(&[
            ("PRICING_SYNC_PROVIDERS", "alibaba-cloud"),
            ("PRICING_SYNC_INTERVAL_HOURS_ALIBABA_CLOUD", "soon"),
        ])
        .expect_err("invalid");
        assert_eq!(e.variable, "PRICING_SYNC_INTERVAL_HOURS_ALIBABA_CLOUD");
    }

    fn cron_of(expression: &str) -> Cadence {
        Cadence::Cron(CronSchedule::parse(expression).expect("cron"))
    }

    #[test]
    fn cron_schedules_by_default_and_per_provider() {
        let c = config(&[
            (
                "PRICING_SYNC_PROVIDERS",
                "openrouter,alibaba-cloud,together,nearai",
            ),
            ("PRICING_SYNC_CRON", "0 3 * * *"),
            ("PRICING_SYNC_CRON_ALIBABA_CLOUD", "30 4 * * MON-FRI"),
            ("PRICING_SYNC_INTERVAL_HOURS_TOGETHER", "1"),
        ])
        .expect("valid");
        let scheduler = &c.engine.scheduler;
        assert_eq!(scheduler.cadence, cron_of("0 3 * * *"));
        // A provider's own cron or interval beats the default.
        assert_eq!(
            scheduler.provider_cadences.get("alibaba-cloud"),
            Some(&cron_of("30 4 * * MON-FRI"))
        );
        assert_eq!(
            scheduler.provider_cadences.get("together"),
            Some(&Cadence::Every(Duration::from_secs(3600)))
        );
        let schedules = scheduler.schedules();
        assert_eq!(
            schedules[0],
            (
                "default".to_owned(),
                vec!["openrouter".to_owned(), "nearai".to_owned()],
                cron_of("0 3 * * *")
            )
        );
        assert_eq!(schedules.len(), 3);
        // A provider's own cron under a default interval.
        let c = config(&[
            ("PRICING_SYNC_INTERVAL_HOURS", "2"),
            ("PRICING_SYNC_CRON_FEATHERLESS", "@daily"),
        ])
        .expect("valid");
        assert_eq!(
            c.engine.scheduler.cadence,
            Cadence::Every(Duration::from_secs(7200))
        );
        assert_eq!(
            c.engine.scheduler.provider_cadences.get("featherless"),
            Some(&cron_of("@daily"))
        );
    }

    #[test]
    fn bad_or_conflicting_cron_settings_stop_start_up_naming_the_variables() {
        for (vars, variable, mentions) in [
            (
                vec![("PRICING_SYNC_CRON", "0 3 * *")],
                "PRICING_SYNC_CRON",
                "five fields",
            ),
            (
                vec![("PRICING_SYNC_CRON", "0 0 30 2 *")],
                "PRICING_SYNC_CRON",
                "never matches",
            ),
            (
                vec![("PRICING_SYNC_CRON", "0 0 3 * * *")],
                "PRICING_SYNC_CRON",
                "five fields",
            ),
            (
                vec![("PRICING_SYNC_CRON_NEARAI", "at night")],
                "PRICING_SYNC_CRON_NEARAI",
                "at night",
            ),
            (
                vec![
                    ("PRICING_SYNC_CRON", "0 3 * * *"),
                    ("PRICING_SYNC_INTERVAL_HOURS", "6"),
                ],
                "PRICING_SYNC_CRON",
                "PRICING_SYNC_INTERVAL_HOURS",
            ),
            (
                vec![
                    ("PRICING_SYNC_CRON_ALIBABA_CLOUD", "0 3 * * *"),
                    ("PRICING_SYNC_INTERVAL_HOURS_ALIBABA_CLOUD", "6"),
                ],
                "PRICING_SYNC_CRON_ALIBABA_CLOUD",
                "PRICING_SYNC_INTERVAL_HOURS_ALIBABA_CLOUD",
            ),
            (
                vec![
                    ("PRICING_SYNC_PROVIDERS", "openrouter"),
                    ("PRICING_SYNC_CRON_XAI", "0 3 * * *"),
                ],
                "PRICING_SYNC_CRON_XAI",
                "not in PRICING_SYNC_PROVIDERS",
            ),
        ] {
            let e = config(&vars).expect_err(variable);
            assert_eq!(e.variable, variable, "{e}");
            let text = e.to_string();
            assert!(text.contains(variable) && text.contains(mentions), "{text}");
        }
    }

    #[test]
    fn retry_backoffs_are_configurable_and_checked() {
        let c = config(&[]).expect("defaults");
        assert_eq!(c.engine.scheduler.retry, RetryBackoff::default());
        let c = config(&[
            ("PRICESYNC_SCHEDULE_RETRY_BASE_SECS", "30"),
            ("PRICESYNC_SCHEDULE_RETRY_FACTOR", "3"),
            ("PRICESYNC_SCHEDULE_RETRY_MAX_SECS", "900"),
            ("PRICESYNC_PROVIDER_MAX_ATTEMPTS", "6"),
            ("PRICESYNC_PROVIDER_BACKOFF_BASE_MS", "250"),
            ("PRICESYNC_PROVIDER_BACKOFF_MAX_MS", "4000"),
            ("PRICESYNC_PROVIDER_RETRY_AFTER_MAX_SECS", "20"),
        ])
        .expect("valid");
        assert_eq!(
            c.engine.scheduler.retry,
            RetryBackoff {
                base: Duration::from_secs(30),
                factor: 3,
                max: Duration::from_secs(900),
            }
        );
        let day = Cadence::Every(Duration::from_secs(86_400));
        let waits: Vec<u64> = (1..=5)
            .map(|n| c.engine.scheduler.retry.delay(n, &day).as_secs())
            .collect();
        assert_eq!(waits, [30, 90, 270, 810, 900]);
        assert_eq!(c.http.max_attempts, 6);
        assert_eq!(c.http.backoff_base, Duration::from_millis(250));
        assert_eq!(c.http.backoff_max, Duration::from_millis(4000));
        assert_eq!(c.http.retry_after_max, Duration::from_secs(20));
        for (vars, variable) in [
            (
                vec![("PRICESYNC_SCHEDULE_RETRY_BASE_SECS", "0")],
                "PRICESYNC_SCHEDULE_RETRY_BASE_SECS",
            ),
            (
                vec![("PRICESYNC_SCHEDULE_RETRY_FACTOR", "0")],
                "PRICESYNC_SCHEDULE_RETRY_FACTOR",
            ),
            (
                vec![("PRICESYNC_SCHEDULE_RETRY_FACTOR", "1.5")],
                "PRICESYNC_SCHEDULE_RETRY_FACTOR",
            ),
            (
                vec![
                    ("PRICESYNC_SCHEDULE_RETRY_BASE_SECS", "600"),
                    ("PRICESYNC_SCHEDULE_RETRY_MAX_SECS", "60"),
                ],
                "PRICESYNC_SCHEDULE_RETRY_MAX_SECS",
            ),
            (
                vec![("PRICESYNC_PROVIDER_MAX_ATTEMPTS", "0")],
                "PRICESYNC_PROVIDER_MAX_ATTEMPTS",
            ),
            (
                vec![("PRICESYNC_PROVIDER_BACKOFF_MAX_MS", "100")],
                "PRICESYNC_PROVIDER_BACKOFF_MAX_MS",
            ),
        ] {
            let e = config(&vars).expect_err(variable);
            assert_eq!(e.variable, variable, "{e}");
        }
    }

    #[test]
    fn provider_priority_names_synced_providers_once() {
        assert!(config(&[])
            .expect("defaults")
            .engine
            .provider_priority
            .is_empty());
        let c = config(&[("PRICING_SYNC_PRIORITY", "nearai, openrouter")]).expect("valid");
        assert_eq!(c.engine.provider_priority, ["nearai", "openrouter"]);
        assert_eq!(
            c.engine.start_order(&c.providers),
            ["nearai", "openrouter", "featherless", "alibaba-cloud"]
        );
        for (value, mentions) in [
            ("openrouter,nosuch", "unknown provider"),
            ("xai", "not in PRICING_SYNC_PROVIDERS"),
            ("nearai,nearai", "twice"),
        ] {
            let e = config(&[("PRICING_SYNC_PRIORITY", value)]).expect_err(value);
            assert_eq!(e.variable, "PRICING_SYNC_PRIORITY");
            assert!(e.to_string().contains(mentions), "{e}");
        }
    }

    #[test]
    fn admin_tokens_are_parsed_and_never_echoed() {
        let c = config(&[("PRICESYNC_ADMIN_TOKENS", "ops:0123456789abcdef")]).expect("valid");
        assert_eq!(c.admin_tokens.len(), 1);
        let e = config(&[("PRICESYNC_ADMIN_TOKENS", "ops:tooshortsecret")]).expect_err("short");
        assert_eq!(e.variable, "PRICESYNC_ADMIN_TOKENS");
        assert!(!e.to_string().contains("tooshortsecret"), "{e}");
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
        let e = config(&[(
            "PRICESYNC_ADMIN_TOKENS",
            "ops:0123456789abcdef,ci:0123456789abcdef",
        )])
        .expect_err("one token under two names");
        assert_eq!(e.variable, "PRICESYNC_ADMIN_TOKENS");
        assert!(e.to_string().contains("same token"), "{e}");
        assert!(!e.to_string().contains("0123456789abcdef"), "{e}");
    }

    #[test]
    fn empty_values_mean_the_default() {
        let c = config(&[("DATABASE_URL", " ")]).expect("valid");
        assert!(matches!(c.database_url, DatabaseUrl::Sqlite(_)));
    }
}
