//! [`Client`]: the copy, the task that follows the change feed, and the
//! status it reports.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use pricesync_domain::{cost, CostBreakdown, PriceCard, Usage};
use time::OffsetDateTime;

use crate::copy::PriceCopy;
use crate::error::{ClientError, PriceError};
use crate::wire::{CatalogueAnswer, ChangePage, ErrorBody};

/// How a [`Client`] follows the server.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// How long one long poll of the change feed waits for a change (the
    /// server takes 0 to 60 s). Default 30 s.
    pub wait: Duration,
    /// The copy is [stale](Client::is_stale) when the last answer of the
    /// server is older than this, or the last request failed. Default
    /// 45 s: on a quiet feed an answer comes every `wait`.
    pub stale_after: Duration,
    /// The first wait before retrying a failed request; it doubles up to
    /// [`ClientOptions::max_retry_delay`]. Default 100 ms.
    pub retry_delay: Duration,
    /// The longest wait between retries. Default 5 s.
    pub max_retry_delay: Duration,
    /// How long loading the catalogue may take. Default 60 s.
    pub load_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            wait: Duration::from_secs(30),
            stale_after: Duration::from_secs(45),
            retry_delay: Duration::from_millis(100),
            max_retry_delay: Duration::from_secs(5),
            load_timeout: Duration::from_secs(60),
        }
    }
}

/// Where the copy stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStatus {
    /// When the server last answered (the copy was current then).
    pub last_synced_at: OffsetDateTime,
    /// Whether the last request to the server succeeded. While it is
    /// `false` the client keeps pricing from the last good copy.
    pub connected: bool,
    /// Why the last request failed, while it is failing.
    pub last_error: Option<String>,
    /// The change feed cursor the copy holds every change up to.
    pub cursor: i64,
    /// How many models the copy holds.
    pub models: usize,
    /// How many times the catalogue was loaded (1 at connect; one more per
    /// expired cursor).
    pub loads: u64,
}

#[derive(Debug)]
struct Health {
    synced_at: Instant,
    status: SyncStatus,
}

#[derive(Debug)]
struct Shared {
    base: String,
    http: reqwest::Client,
    options: ClientOptions,
    copy: RwLock<Arc<PriceCopy>>,
    health: Mutex<Health>,
}

/// Ends the following task when the last [`Client`] clone is dropped.
#[derive(Debug)]
struct Follower(tokio::task::JoinHandle<()>);

impl Drop for Follower {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// pricesync's price cards in memory, kept current from the server's change
/// feed by a background task; see the [crate docs](crate). Clones share the
/// copy and the task.
#[derive(Debug, Clone)]
pub struct Client {
    shared: Arc<Shared>,
    _follower: Arc<Follower>,
}

impl Client {
    /// Loads every current card from the pricesync server at `base_url`
    /// (`GET /v1/pricing/catalogue`) and starts following its change feed
    /// in a background task on the current tokio runtime.
    pub async fn connect(base_url: &str, options: ClientOptions) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|source| ClientError::Http {
                url: base_url.to_owned(),
                source,
            })?;
        let base = base_url.trim_end_matches('/').to_owned();
        let copy = load(&http, &base, options.load_timeout).await?;
        let status = SyncStatus {
            last_synced_at: OffsetDateTime::now_utc(),
            connected: true,
            last_error: None,
            cursor: copy.cursor,
            models: copy.len(),
            loads: 1,
        };
        let shared = Arc::new(Shared {
            base,
            http,
            options,
            copy: RwLock::new(Arc::new(copy)),
            health: Mutex::new(Health {
                synced_at: Instant::now(),
                status,
            }),
        });
        let follower = tokio::spawn(follow(shared.clone()));
        Ok(Self {
            shared,
            _follower: Arc::new(Follower(follower)),
        })
    }

    /// What a request of `model` of `provider` with `usage`, run at `at`,
    /// cost, from the copy in memory (no network): the domain's
    /// [`pricesync_domain::cost`], so the same answer as the server's to
    /// the last decimal.
    pub fn cost(
        &self,
        provider: &str,
        model_id: &str,
        usage: &Usage,
        at: OffsetDateTime,
    ) -> Result<CostBreakdown, PriceError> {
        let copy = self.copy();
        let card = copy
            .card(provider, model_id)
            .ok_or_else(|| PriceError::UnknownModel {
                provider: provider.to_owned(),
                model_id: model_id.to_owned(),
            })?;
        Ok(cost(card, usage, at)?)
    }

    /// The current card of a model, if the copy has it.
    pub fn card(&self, provider: &str, model_id: &str) -> Option<PriceCard> {
        self.copy().card(provider, model_id).cloned()
    }

    fn copy(&self) -> Arc<PriceCopy> {
        // A poisoned lock only means a panic while swapping an `Arc`.
        match self.shared.copy.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Where the copy stands.
    pub fn status(&self) -> SyncStatus {
        self.shared.health().status.clone()
    }

    /// When the server last answered: the copy was current then.
    pub fn last_synced_at(&self) -> OffsetDateTime {
        self.shared.health().status.last_synced_at
    }

    /// How long ago the server last answered. On a quiet feed this grows up
    /// to [`ClientOptions::wait`] between answers.
    pub fn staleness(&self) -> Duration {
        self.shared.health().synced_at.elapsed()
    }

    /// Whether the copy may be out of date: the last request failed (the
    /// server is unreachable) or the server last answered longer ago than
    /// [`ClientOptions::stale_after`]. The copy keeps answering either way.
    pub fn is_stale(&self) -> bool {
        let health = self.shared.health();
        !health.status.connected || health.synced_at.elapsed() > self.shared.options.stale_after
    }
}

impl Shared {
    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        match self.health.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn replace(&self, copy: PriceCopy, reloaded: bool) {
        let (cursor, models) = (copy.cursor, copy.len());
        match self.copy.write() {
            Ok(mut guard) => *guard = Arc::new(copy),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(copy),
        }
        let mut health = self.health();
        health.status.cursor = cursor;
        health.status.models = models;
        if reloaded {
            health.status.loads += 1;
        }
    }

    fn answered(&self) {
        let mut health = self.health();
        health.synced_at = Instant::now();
        health.status.last_synced_at = OffsetDateTime::now_utc();
        health.status.connected = true;
        health.status.last_error = None;
    }

    fn failed(&self, error: &ClientError) {
        let mut health = self.health();
        health.status.connected = false;
        health.status.last_error = Some(error.to_string());
    }

    fn current(&self) -> Arc<PriceCopy> {
        match self.copy.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// What one request of the feed brought.
enum Step {
    /// Changes (or none, after the wait); `more` when a next page waits.
    Page { more: bool },
    /// The cursor expired: the catalogue was reloaded.
    Reloaded,
}

/// Follows the change feed until the client is dropped: long polls, applies
/// each page, reloads on an expired cursor, retries with a doubling delay
/// while the server is unreachable (the copy keeps answering).
async fn follow(shared: Arc<Shared>) {
    let mut delay = shared.options.retry_delay;
    loop {
        match step(&shared).await {
            Ok(Step::Page { more }) => {
                shared.answered();
                delay = shared.options.retry_delay;
                if more {
                    continue;
                }
            }
            Ok(Step::Reloaded) => {
                shared.answered();
                delay = shared.options.retry_delay;
            }
            Err(error) => {
                tracing::warn!(%error, "pricesync change feed: keeping the last good copy");
                shared.failed(&error);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(shared.options.max_retry_delay);
            }
        }
    }
}

async fn step(shared: &Shared) -> Result<Step, ClientError> {
    let current = shared.current();
    let url = format!(
        "{}/v1/pricing/changes?after={}&wait={}",
        shared.base,
        current.cursor,
        shared.options.wait.as_secs()
    );
    let response = shared
        .http
        .get(&url)
        // The server answers by `wait`; the margin covers a slow answer.
        .timeout(shared.options.wait + Duration::from_secs(15))
        .send()
        .await
        .map_err(|source| ClientError::Http {
            url: url.clone(),
            source,
        })?;
    if response.status() == reqwest::StatusCode::GONE {
        let error: Option<ErrorBody> = response.json().await.ok();
        tracing::info!(
            reason = error.as_ref().map(|e| e.message.as_str()).unwrap_or(""),
            "pricesync change feed cursor expired; reloading the catalogue"
        );
        let copy = load(&shared.http, &shared.base, shared.options.load_timeout).await?;
        shared.replace(copy, true);
        return Ok(Step::Reloaded);
    }
    let page: ChangePage = decode(response, &url).await?;
    let cursor = parse_cursor(&page.cursor, &url)?;
    let more = page.more;
    if !page.cards.is_empty() || cursor != current.cursor {
        shared.replace(current.with(page.cards, cursor), false);
    }
    Ok(Step::Page { more })
}

async fn load(
    http: &reqwest::Client,
    base: &str,
    timeout: Duration,
) -> Result<PriceCopy, ClientError> {
    let url = format!("{base}/v1/pricing/catalogue");
    let response = http
        .get(&url)
        .timeout(timeout)
        .send()
        .await
        .map_err(|source| ClientError::Http {
            url: url.clone(),
            source,
        })?;
    let answer: CatalogueAnswer = decode(response, &url).await?;
    let cursor = parse_cursor(&answer.cursor, &url)?;
    Ok(PriceCopy::new(answer.cards, cursor))
}

fn parse_cursor(text: &str, url: &str) -> Result<i64, ClientError> {
    text.parse().map_err(|_| ClientError::Answer {
        url: url.to_owned(),
        message: format!("the cursor {text:?} is not a whole number"),
    })
}

async fn decode<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    url: &str,
) -> Result<T, ClientError> {
    let status = response.status();
    if !status.is_success() {
        let body: Option<ErrorBody> = response.json().await.ok();
        return Err(ClientError::Status {
            url: url.to_owned(),
            status: status.as_u16(),
            code: body.as_ref().map(|b| b.error.clone()).unwrap_or_default(),
            message: body.map(|b| b.message).unwrap_or_default(),
        });
    }
    response.json().await.map_err(|source| ClientError::Http {
        url: url.to_owned(),
        source,
    })
}
