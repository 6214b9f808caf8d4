//! The webhook dispatcher: sends the deliveries the store's outbox holds.
//!
//! Each replica runs one. It keeps up to `batch` sends going, claiming due
//! deliveries as places free up, so a slow endpoint holds one place, not a
//! whole round. A claim lasts the send time-out plus a margin: a replica
//! that dies mid-send loses it and another sends again (delivery is at
//! least once; receivers drop duplicates by `Pricesync-Event-Id`). Each
//! outcome is recorded. A failed attempt is retried after a capped
//! exponential backoff with jitter (or the endpoint's `Retry-After`,
//! between the backoff's base and maximum) until `max_attempts`; then the
//! delivery is `failed`, and an admin may send it again. Syncs never wait
//! for any of this: the outbox row is written in their transaction, and
//! sending happens here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use pricesync_domain::webhook::{sign, SIGNATURE_HEADER};
use pricesync_providers::http::{error_text, retry_after};
use pricesync_store::{AttemptOutcome, DueDelivery};

use crate::metrics;
use crate::state::Shared;
use crate::RetryBackoff;

/// How webhooks are sent. `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Whether this process sends deliveries. Default true.
    pub enabled: bool,
    /// How often an idle dispatcher looks for due deliveries. Default 1 s.
    pub poll_interval: Duration,
    /// One attempt's time-out (connect, send, answer). Default 10 s.
    pub timeout: Duration,
    /// Attempts before a delivery is failed. Default 12.
    pub max_attempts: u32,
    /// The wait after a failed attempt: 10 s after the first, doubling
    /// with each further failure, at most 1 h, by default.
    pub retry: RetryBackoff,
    /// Deliveries sent at the same time. Default 16.
    pub batch: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            max_attempts: 12,
            retry: RetryBackoff {
                base: Duration::from_secs(10),
                factor: 2,
                max: Duration::from_secs(3600),
            },
            batch: 16,
        }
    }
}

/// The dispatcher's loop, until the engine stops.
pub(crate) async fn dispatcher_loop(shared: Arc<Shared>) {
    let config = &shared.config.webhooks;
    let client = match reqwest::Client::builder()
        .timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(pricesync_providers::USER_AGENT)
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook HTTP client: webhooks are not sent");
            return;
        }
    };
    // A claim outlives an attempt, so no other sender takes a delivery
    // that is still being sent.
    let claim_for = config.timeout + Duration::from_secs(5);
    // Up to `batch` sends at once; a free place is filled as soon as a send
    // ends, so one slow endpoint holds one place, not the whole round.
    let mut sending = FuturesUnordered::new();
    loop {
        let free = config.batch.saturating_sub(sending.len());
        if free > 0 && !shared.stop_claiming.is_cancelled() {
            match shared
                .store
                .claim_due_deliveries(&shared.config.worker_id, free, claim_for)
                .await
            {
                Ok(due) => sending.extend(due.into_iter().map(|d| send(&shared, &client, d))),
                Err(e) => tracing::warn!(error = %e, "cannot claim webhook deliveries"),
            }
        }
        if sending.is_empty() {
            tokio::select! {
                _ = shared.stop_claiming.cancelled() => return,
                _ = tokio::time::sleep(config.poll_interval) => {}
            }
            continue;
        }
        // Claim again when a send ends, or at the next poll (deliveries
        // may have fallen due meanwhile); on shutdown, let the sends end.
        tokio::select! {
            _ = sending.next() => {}
            _ = tokio::time::sleep(config.poll_interval), if free > 0 => {}
        }
        if shared.stop_claiming.is_cancelled() {
            while sending.next().await.is_some() {}
            return;
        }
    }
}

/// One attempt at one delivery, recorded.
async fn send(shared: &Shared, client: &reqwest::Client, delivery: DueDelivery) {
    let config = &shared.config.webhooks;
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = sign(
        delivery.secret.as_bytes(),
        timestamp,
        delivery.payload.as_bytes(),
    );
    let started = Instant::now();
    let answer = client
        .post(&delivery.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Pricesync-Event", &delivery.event_type)
        .header("Pricesync-Event-Id", delivery.event_id.to_string())
        .header("Pricesync-Delivery", delivery.id.to_string())
        .header("Pricesync-Attempt", delivery.attempt.to_string())
        .header(SIGNATURE_HEADER, signature)
        .body(delivery.payload.clone())
        .send()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    // An endpoint's Retry-After is honoured between the backoff's base and
    // its maximum: a `Retry-After: 0` must not spend every attempt at once.
    let retry_in = |asked: Option<Duration>| {
        (delivery.attempt < config.max_attempts).then(|| {
            asked.map_or_else(
                || jitter(config.retry.wait(delivery.attempt)),
                |asked| asked.clamp(config.retry.base, config.retry.max),
            )
        })
    };
    let outcome = match answer {
        Ok(response) if response.status().is_success() => AttemptOutcome::Delivered {
            status: response.status().as_u16(),
        },
        Ok(response) => {
            let status = response.status();
            AttemptOutcome::Failed {
                status: Some(status.as_u16()),
                error: format!("the endpoint answered {status}"),
                retry_in: retry_in(retry_after(response.headers())),
            }
        }
        Err(e) => AttemptOutcome::Failed {
            status: None,
            error: error_text(&e),
            retry_in: retry_in(None),
        },
    };
    let label = match &outcome {
        AttemptOutcome::Delivered { .. } => "delivered",
        AttemptOutcome::Failed {
            retry_in: Some(_), ..
        } => "retry",
        AttemptOutcome::Failed { retry_in: None, .. } => "failed",
    };
    metrics::webhook_attempt(&delivery.event_type, label, seconds);
    match &outcome {
        AttemptOutcome::Delivered { .. } => {}
        AttemptOutcome::Failed {
            error, retry_in, ..
        } => tracing::warn!(delivery = %delivery.id, event = %delivery.event_type,
            attempt = delivery.attempt, error = %error, retry_in_s = retry_in.map(|d| d.as_secs()),
            "webhook delivery failed"),
    }
    match shared
        .store
        .record_delivery_attempt(delivery.id, &shared.config.worker_id, &outcome)
        .await
    {
        Ok(true) => {}
        Ok(false) => tracing::warn!(delivery = %delivery.id,
            "webhook delivery outcome not recorded: its claim ran out and another sender took it"),
        Err(e) => tracing::warn!(delivery = %delivery.id, error = %e,
            "cannot record a webhook delivery's outcome; it is sent again when its claim runs out"),
    }
}

/// `wait` spread by ±20 %, so that deliveries failed together are not all
/// retried at the same instant.
fn jitter(wait: Duration) -> Duration {
    wait.mul_f64(0.8 + 0.4 * fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_backoff_doubles_from_10_s_up_to_an_hour_with_jitter() {
        let retry = WebhookConfig::default().retry;
        let waits: Vec<u64> = (1..=10).map(|n| retry.wait(n).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]);
        assert_eq!(retry.wait(1000), Duration::from_secs(3600));
        for _ in 0..100 {
            let spread = jitter(Duration::from_secs(100));
            assert!(spread >= Duration::from_secs(80) && spread <= Duration::from_secs(120));
        }
    }
}
