//! Bodies of the webhook admin API: endpoints and their deliveries.

use pricesync_store::{DeliveryRecord, EndpointRecord};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{rfc3339, take_page};

/// An endpoint to register.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where deliveries are POSTed: an `http` or `https` URL.
    #[schema(example = "https://gateway.internal/hooks/pricesync")]
    pub url: String,
    /// The events it wants: `sync.finished`, `prices.changed`,
    /// `price_change.held`. Absent or empty: every event.
    #[serde(default)]
    pub events: Vec<String>,
    /// For people.
    #[serde(default)]
    pub description: String,
    /// The signing key, 16 to 256 printable ASCII characters. Absent: one
    /// is made (244 random bits) and returned once, in the answer.
    #[serde(default)]
    pub secret: Option<String>,
}

/// A change to a registered endpoint: each field given replaces the
/// stored one.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookChange {
    /// Where deliveries are POSTed from now on, pending ones included.
    #[schema(example = "https://gateway.internal/hooks/pricesync")]
    pub url: Option<String>,
    /// The events it wants from now on; empty for every event.
    pub events: Option<Vec<String>>,
    /// For people.
    pub description: Option<String>,
    /// `false` pauses sending (events are recorded and wait); `true`
    /// resumes.
    pub enabled: Option<bool>,
    /// A new signing key, 16 to 256 printable ASCII characters; pending
    /// deliveries are signed with it. Not shown again.
    pub secret: Option<String>,
}

/// A registered endpoint. Its secret is never shown again after
/// registration.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Its id.
    pub id: Uuid,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The events it gets; `["*"]` for every event.
    #[schema(example = json!(["sync.finished", "prices.changed"]))]
    pub events: Vec<String>,
    /// For people.
    pub description: String,
    /// Whether its deliveries are sent; `false`: paused, its events are
    /// recorded and wait.
    pub enabled: bool,
    /// Who registered it (`admin:<name>`).
    pub created_by: String,
    /// When.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<EndpointRecord> for Webhook {
    fn from(record: EndpointRecord) -> Self {
        Self {
            id: record.id,
            url: record.url,
            events: if record.events.is_empty() {
                vec!["*".to_owned()]
            } else {
                record
                    .events
                    .iter()
                    .map(|e| e.as_str().to_owned())
                    .collect()
            },
            description: record.description,
            enabled: record.enabled,
            created_by: record.created_by,
            created_at: record.created_at,
        }
    }
}

/// A newly registered endpoint, with its secret: the only time it is shown.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisteredWebhook {
    /// The endpoint.
    pub webhook: Webhook,
    /// The HMAC-SHA256 key of its `Pricesync-Signature` headers. Keep it:
    /// it is not shown again.
    pub secret: String,
}

/// Every registered endpoint.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookList {
    /// Oldest first.
    pub webhooks: Vec<Webhook>,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// Its id (`Pricesync-Delivery`).
    pub id: Uuid,
    /// The endpoint.
    pub webhook_id: Uuid,
    /// The event's id (`Pricesync-Event-Id`), the same for every endpoint.
    pub event_id: Uuid,
    /// The event.
    #[schema(example = "sync.finished")]
    pub event: String,
    /// `pending` (not delivered yet), `delivered` or `failed` (gave up).
    #[schema(example = "pending")]
    pub state: String,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due; null unless pending.
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// The HTTP status of the last attempt, if the endpoint answered.
    #[schema(required = true)]
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    #[schema(required = true)]
    pub last_error: Option<String>,
    /// When the event happened.
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// When it was delivered or given up.
    #[serde(with = "rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub finished_at: Option<OffsetDateTime>,
}

impl From<DeliveryRecord> for Delivery {
    fn from(record: DeliveryRecord) -> Self {
        let pending = record.state == pricesync_store::DeliveryState::Pending;
        Self {
            id: record.id,
            webhook_id: record.endpoint_id,
            event_id: record.event_id,
            event: record.event_type,
            state: record.state.as_str().to_owned(),
            attempts: record.attempts,
            next_attempt_at: pending.then_some(record.next_attempt_at),
            last_status: record.last_status,
            last_error: record.last_error,
            created_at: record.created_at,
            finished_at: record.finished_at,
        }
    }
}

/// A page of deliveries, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryPage {
    /// The deliveries.
    pub deliveries: Vec<Delivery>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

impl DeliveryPage {
    /// A page from one more record than asked (the extra one says another
    /// page exists).
    pub(crate) fn page(mut records: Vec<DeliveryRecord>, limit: usize) -> Self {
        let next_cursor = take_page(&mut records, limit, |r| encode_cursor(r.created_at, r.id));
        Self {
            deliveries: records.into_iter().map(Delivery::from).collect(),
            next_cursor,
        }
    }
}

/// A deliveries cursor: the last delivery's creation time (unix
/// nanoseconds) and id.
fn encode_cursor(at: OffsetDateTime, id: Uuid) -> String {
    format!("{}_{id}", at.unix_timestamp_nanos())
}

/// Reads a cursor written by [`encode_cursor`].
pub(crate) fn parse_cursor(text: &str) -> Result<(OffsetDateTime, Uuid), String> {
    text.split_once('_')
        .and_then(|(nanos, id)| {
            let at = OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?).ok()?;
            Some((at, Uuid::parse_str(id).ok()?))
        })
        .ok_or_else(|| {
            format!("cursor {text:?} is not valid; pass the next_cursor of the previous page")
        })
}
