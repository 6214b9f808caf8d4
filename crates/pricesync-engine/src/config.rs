//! The engine's settings, with the defaults of DESIGN §4-§6.

use std::collections::BTreeMap;
use std::time::Duration;

use pricesync_domain::Cadence;

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
    /// The order in which a job's providers start: those listed here first,
    /// in this order, then the others in the order of
    /// [`SchedulerConfig::providers`], then any left in the job's order.
    /// With `provider_parallelism` below the job's size, it decides which
    /// wait. Default empty (the configured order).
    pub provider_priority: Vec<String>,
    /// Attempts before a job whose workers keep dying is failed. Default 3.
    pub max_attempts: u32,
    /// On shutdown, how long the running job may finish. Default 30 s.
    pub shutdown_grace: Duration,
    /// Finished jobs, and webhook deliveries that ended, older than this
    /// are pruned. Default 30 days.
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
            provider_priority: Vec::new(),
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

impl EngineConfig {
    /// `providers` in the order they start ([`Self::provider_priority`]).
    pub fn start_order(&self, providers: &[String]) -> Vec<String> {
        let rank = |name: &String| {
            let listed = |list: &[String]| list.iter().position(|p| p == name);
            match (
                listed(&self.provider_priority),
                listed(&self.scheduler.providers),
            ) {
                (Some(i), _) => (0, i),
                (None, Some(i)) => (1, i),
                (None, None) => (2, 0),
            }
        };
        let mut ordered = providers.to_vec();
        // Stable: providers of neither list keep the job's order.
        ordered.sort_by_key(rank);
        ordered
    }
}

/// When scheduled syncs run (`PRICING_SYNC_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Whether scheduled runs happen. Default true.
    pub enabled: bool,
    /// When the `default` schedule runs: every interval, or at the slots of
    /// a cron expression in UTC. Default every 6 h.
    pub cadence: Cadence,
    /// Providers synced on schedule. Default
    /// [`pricesync_providers::DEFAULT_SYNC_PROVIDERS`].
    pub providers: Vec<String>,
    /// Providers with a cadence of their own (their own schedule), which
    /// beats [`Self::cadence`].
    pub provider_cadences: BTreeMap<String, Cadence>,
    /// Delay of the first run after a start when a run is due. Default 30 s.
    pub startup_delay: Duration,
    /// How often each replica ticks. Default 5 s.
    pub tick_interval: Duration,
    /// How soon a failed scheduled run is retried.
    pub retry: RetryBackoff,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            cadence: Cadence::Every(Duration::from_secs(6 * 3600)),
            providers: pricesync_providers::DEFAULT_SYNC_PROVIDERS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            provider_cadences: BTreeMap::new(),
            startup_delay: Duration::from_secs(30),
            tick_interval: Duration::from_secs(5),
            retry: RetryBackoff::default(),
        }
    }
}

/// The exponential backoff of a failed scheduled run's retries:
/// `base × factor^(failures − 1)`, capped at `max` and, for an interval
/// schedule, at its interval. A cron schedule's retry is never later than
/// its next slot (the store never pushes a run later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBackoff {
    /// The first retry. Default 60 s.
    pub base: Duration,
    /// What each further failure in a row multiplies the wait by (1: the
    /// same wait every time). Default 2.
    pub factor: u32,
    /// The longest wait. Default 1 h.
    pub max: Duration,
}

impl Default for RetryBackoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(60),
            factor: 2,
            max: Duration::from_secs(3600),
        }
    }
}

impl RetryBackoff {
    /// The wait after `failures` failures in a row (from 1):
    /// `base × factor^(failures − 1)`, capped at `max`.
    pub fn wait(&self, failures: u32) -> Duration {
        let mut wait = self.base;
        for _ in 1..failures {
            if wait >= self.max {
                break;
            }
            wait = wait.saturating_mul(self.factor);
        }
        wait.min(self.max)
    }

    /// Whether it can work: a base above zero, a factor of at least 1, a
    /// maximum not below the base.
    pub fn is_valid(&self) -> bool {
        !self.base.is_zero() && self.factor >= 1 && self.max >= self.base
    }

    /// The wait before the next attempt after `failures` failed runs in a
    /// row of a schedule that runs by `cadence`.
    pub fn delay(&self, failures: u32, cadence: &Cadence) -> Duration {
        let wait = self.wait(failures);
        match cadence {
            Cadence::Every(interval) => wait.min(*interval),
            Cadence::Cron(_) => wait,
        }
    }
}

impl SchedulerConfig {
    /// The schedules this configuration defines: `default` for providers
    /// without a cadence of their own, `provider:<name>` for each that has
    /// one. `(name, providers, cadence)`.
    pub fn schedules(&self) -> Vec<(String, Vec<String>, Cadence)> {
        let mut schedules = Vec::new();
        let shared: Vec<String> = self
            .providers
            .iter()
            .filter(|p| !self.provider_cadences.contains_key(*p))
            .cloned()
            .collect();
        if !shared.is_empty() {
            schedules.push(("default".to_owned(), shared, self.cadence.clone()));
        }
        for (provider, cadence) in &self.provider_cadences {
            if self.providers.contains(provider) {
                schedules.push((
                    format!("provider:{provider}"),
                    vec![provider.clone()],
                    cadence.clone(),
                ));
            }
        }
        schedules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use pricesync_domain::CronSchedule;

    fn every(seconds: u64) -> Cadence {
        Cadence::Every(Duration::from_secs(seconds))
    }

    #[test]
    fn per_provider_cadences_get_schedules_of_their_own() {
        let mut config = SchedulerConfig::default();
        config
            .provider_cadences
            .insert("featherless".into(), every(24 * 3600));
        let nightly = Cadence::Cron(CronSchedule::parse("0 3 * * *").expect("cron"));
        config
            .provider_cadences
            .insert("nearai".into(), nightly.clone());
        let schedules = config.schedules();
        assert_eq!(schedules.len(), 3);
        assert_eq!(schedules[0].0, "default");
        assert_eq!(schedules[0].1, ["openrouter", "alibaba-cloud"]);
        assert_eq!(schedules[0].2, every(6 * 3600));
        assert_eq!(schedules[1].0, "provider:featherless");
        assert_eq!(
            schedules[2],
            ("provider:nearai".into(), vec!["nearai".into()], nightly)
        );
    }

    #[test]
    fn retries_back_off_exponentially_with_caps() {
        let backoff = RetryBackoff::default();
        let six_hours = every(6 * 3600);
        assert_eq!(backoff.delay(1, &six_hours), Duration::from_secs(60));
        assert_eq!(backoff.delay(2, &six_hours), Duration::from_secs(120));
        assert_eq!(backoff.delay(10, &six_hours), Duration::from_secs(3600));
        assert_eq!(
            backoff.delay(u32::MAX, &six_hours),
            Duration::from_secs(3600)
        );
        assert_eq!(backoff.delay(10, &every(600)), Duration::from_secs(600));
        // A cron schedule is capped by the maximum only (its next slot is
        // the store's cap).
        let nightly = Cadence::Cron(CronSchedule::parse("0 3 * * *").expect("cron"));
        assert_eq!(backoff.delay(10, &nightly), Duration::from_secs(3600));
    }

    #[test]
    fn configured_backoff_is_honoured() {
        let backoff = RetryBackoff {
            base: Duration::from_secs(10),
            factor: 3,
            max: Duration::from_secs(200),
        };
        let day = every(24 * 3600);
        let waits: Vec<u64> = (1..=5).map(|n| backoff.delay(n, &day).as_secs()).collect();
        assert_eq!(waits, [10, 30, 90, 200, 200]);
        let constant = RetryBackoff {
            factor: 1,
            ..backoff
        };
        assert_eq!(constant.delay(7, &day), Duration::from_secs(10));
    }

    #[test]
    fn priority_providers_start_first_then_the_configured_order() {
        let config = EngineConfig {
            provider_priority: vec!["nearai".into(), "openrouter".into()],
            ..EngineConfig::default()
        };
        let job: Vec<String> = [
            "zeta",
            "alibaba-cloud",
            "openrouter",
            "featherless",
            "nearai",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            config.start_order(&job),
            [
                "nearai",
                "openrouter",
                "featherless",
                "alibaba-cloud",
                "zeta"
            ]
        );
        assert_eq!(
            EngineConfig::default().start_order(&job),
            [
                "openrouter",
                "featherless",
                "nearai",
                "alibaba-cloud",
                "zeta"
            ]
        );
    }

    #[test]
    fn worker_ids_are_random_and_not_hostnames() {
        let a = new_worker_id();
        assert!(a.starts_with("worker-") && a.len() == 19);
        assert_ne!(a, new_worker_id());
    }
}
