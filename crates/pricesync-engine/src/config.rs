//! The engine's settings, with the defaults of DESIGN §4-§6.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::sync::SyncOptions;
pub use crate::webhooks::WebhookConfig;

/// How the engine runs. `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// This process's worker id: random, never a hostname.
    pub worker_id: String,
    /// Jobs this process runs at once. Default 1.
    pub workers: usize,
    /// Lease time to live; renewed every third of it. Default 300 s.
    pub lease_ttl: Duration,
    /// Heartbeat period of a running job. Default 5 s.
    pub heartbeat_interval: Duration,
    /// A running job whose heartbeat is older is rescued. Default 30 s.
    pub rescue_timeout: Duration,
    /// How often the janitor rescues stale jobs and cleans up. Default 10 s.
    pub janitor_interval: Duration,
    /// How often idle workers look for queued jobs when no notification
    /// wakes them. Default 2 s.
    pub poll_interval: Duration,
    /// Providers of one job synced at the same time. Default 4.
    pub provider_parallelism: usize,
    /// Attempts before a job whose workers keep dying is failed. Default 3.
    pub max_attempts: u32,
    /// On shutdown, how long the running job may finish. Default 30 s.
    pub shutdown_grace: Duration,
    /// Finished jobs older than this are pruned. Default 30 days.
    pub job_retention: Duration,
    /// Validation, shrink guard.
    pub sync: SyncOptions,
    /// The scheduler.
    pub scheduler: SchedulerConfig,
    /// The webhook dispatcher.
    pub webhooks: WebhookConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            worker_id: new_worker_id(),
            workers: 1,
            lease_ttl: Duration::from_secs(300),
            heartbeat_interval: Duration::from_secs(5),
            rescue_timeout: Duration::from_secs(30),
            janitor_interval: Duration::from_secs(10),
            poll_interval: Duration::from_secs(2),
            provider_parallelism: 4,
            max_attempts: 3,
            shutdown_grace: Duration::from_secs(30),
            job_retention: Duration::from_secs(30 * 24 * 3600),
            sync: SyncOptions::default(),
            scheduler: SchedulerConfig::default(),
            webhooks: WebhookConfig::default(),
        }
    }
}

/// A random worker id, `worker-` and 12 hex digits.
pub fn new_worker_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("worker-{}", &id[..12])
}

/// When scheduled syncs run (`PRICING_SYNC_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Whether scheduled runs happen. Default true.
    pub enabled: bool,
    /// Time between runs. Default 6 h.
    pub interval: Duration,
    /// Providers synced on schedule. Default
    /// [`pricesync_providers::DEFAULT_SYNC_PROVIDERS`].
    pub providers: Vec<String>,
    /// Providers with an interval of their own (their own schedule).
    pub provider_intervals: BTreeMap<String, Duration>,
    /// Delay of the first run after a start when a run is due. Default 30 s.
    pub startup_delay: Duration,
    /// How often each replica ticks. Default 5 s.
    pub tick_interval: Duration,
    /// After a failed run, the first retry comes this soon, doubling with
    /// each further failure, capped at the interval and at 1 h. Default 60 s.
    pub retry_base: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(6 * 3600),
            providers: pricesync_providers::DEFAULT_SYNC_PROVIDERS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            provider_intervals: BTreeMap::new(),
            startup_delay: Duration::from_secs(30),
            tick_interval: Duration::from_secs(5),
            retry_base: Duration::from_secs(60),
        }
    }
}

impl SchedulerConfig {
    /// The schedules this configuration defines: `default` for providers
    /// without an interval of their own, `provider:<name>` for each that has
    /// one. `(name, providers, interval)`.
    pub fn schedules(&self) -> Vec<(String, Vec<String>, Duration)> {
        let mut schedules = Vec::new();
        let shared: Vec<String> = self
            .providers
            .iter()
            .filter(|p| !self.provider_intervals.contains_key(*p))
            .cloned()
            .collect();
        if !shared.is_empty() {
            schedules.push(("default".to_owned(), shared, self.interval));
        }
        for (provider, interval) in &self.provider_intervals {
            if self.providers.contains(provider) {
                schedules.push((
                    format!("provider:{provider}"),
                    vec![provider.clone()],
                    *interval,
                ));
            }
        }
        schedules
    }

    /// The wait before the next attempt after `failures` failed runs in a
    /// row: `retry_base * 2^(failures-1)`, capped at the interval and 1 h.
    pub fn retry_delay(&self, failures: u32, interval: Duration) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
        self.retry_base
            .saturating_mul(factor)
            .min(interval)
            .min(Duration::from_secs(3600))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_provider_intervals_get_schedules_of_their_own() {
        let mut config = SchedulerConfig::default();
        config
            .provider_intervals
            .insert("featherless".into(), Duration::from_secs(24 * 3600));
        let schedules = config.schedules();
        assert_eq!(schedules.len(), 2);
        assert_eq!(schedules[0].0, "default");
        assert_eq!(schedules[0].1, ["openrouter", "nearai", "alibaba-cloud"]);
        assert_eq!(schedules[1].0, "provider:featherless");
    }

    #[test]
    fn retries_back_off_exponentially_with_caps() {
        let config = SchedulerConfig::default();
        let six_hours = Duration::from_secs(6 * 3600);
        assert_eq!(config.retry_delay(1, six_hours), Duration::from_secs(60));
        assert_eq!(config.retry_delay(2, six_hours), Duration::from_secs(120));
        assert_eq!(config.retry_delay(10, six_hours), Duration::from_secs(3600));
        assert_eq!(
            config.retry_delay(10, Duration::from_secs(600)),
            Duration::from_secs(600)
        );
    }

    #[test]
    fn worker_ids_are_random_and_not_hostnames() {
        let a = new_worker_id();
        assert!(a.starts_with("worker-") && a.len() == 19);
        assert_ne!(a, new_worker_id());
    }
}
