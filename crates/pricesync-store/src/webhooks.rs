//! Webhooks: registered endpoints and the outbox of their deliveries.
//!
//! An event is recorded by [`record_event!`] inside the transaction of what
//! it announces — a job reaching its final state ([`Store::finish_job`]), a
//! price write ([`Store::apply_price_diff`], an approved held change) — as
//! one `pending` delivery row per endpoint that wants it. Senders (the
//! engine's webhook dispatcher, on any replica) claim due rows of enabled
//! endpoints (a paused endpoint's rows wait for it to resume)
//! ([`Store::claim_due_deliveries`]) for a while, send them, and record the
//! outcome, guarded by their claim: a sender that dies loses its claim when
//! the time passes, and the delivery is sent again by another.

use diesel::backend::Backend;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType, Text};
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::jobs::{truncate_error, JobRecord, ProviderLog};
use crate::schema::{webhook_deliveries as deliveries, webhook_endpoints as endpoints};
use crate::sql_types::{DbNow, DbNowPlus, SkipLocked, SqlTime, SqlUuid};
use crate::store::on_conn;
use crate::{Store, StoreError, StoreResult};

/// The events an endpoint can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookEvent {
    /// A sync job reached its final state.
    SyncFinished,
    /// A provider's prices were written (a sync, or an approved held
    /// change).
    PricesChanged,
    /// A sync held price changes for an admin's approval.
    PriceChangeHeld,
}

impl WebhookEvent {
    /// Every event, in the order documented.
    pub const ALL: [WebhookEvent; 3] = [
        WebhookEvent::SyncFinished,
        WebhookEvent::PricesChanged,
        WebhookEvent::PriceChangeHeld,
    ];

    /// Its name on the wire (`Pricesync-Event`, the payload's `type`).
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::SyncFinished => "sync.finished",
            WebhookEvent::PricesChanged => "prices.changed",
            WebhookEvent::PriceChangeHeld => "price_change.held",
        }
    }
}

impl std::str::FromStr for WebhookEvent {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        WebhookEvent::ALL
            .into_iter()
            .find(|e| e.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "unknown webhook event {text:?}: one of {}",
                    WebhookEvent::ALL.map(WebhookEvent::as_str).join(", ")
                )
            })
    }
}

/// The state of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not delivered yet: due at `next_attempt_at`.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed; an admin may send it again.
    Failed,
}

impl DeliveryState {
    /// Its stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }
}

impl std::str::FromStr for DeliveryState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| format!("unknown delivery state {text:?}: pending, delivered or failed"))
    }
}

/// An endpoint to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEndpoint {
    /// Where deliveries are POSTed.
    pub url: String,
    /// The HMAC-SHA256 key, at least 16 characters.
    pub secret: String,
    /// The events it wants; empty for every event.
    pub events: Vec<WebhookEvent>,
    /// For people.
    pub description: String,
    /// Who registered it.
    pub created_by: String,
}

/// A change to a registered endpoint: each field given replaces the
/// stored one; `None` keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointChange {
    /// Where deliveries are POSTed from now on (pending ones included).
    pub url: Option<String>,
    /// A new signing key, at least 16 characters.
    pub secret: Option<String>,
    /// The events it wants from now on; empty for every event.
    pub events: Option<Vec<WebhookEvent>>,
    /// For people.
    pub description: Option<String>,
    /// `false` pauses sending (events are still recorded); `true` resumes.
    pub enabled: Option<bool>,
}

/// A registered endpoint (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRecord {
    /// Its id.
    pub id: Uuid,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The events it wants; empty for every event.
    pub events: Vec<WebhookEvent>,
    /// For people.
    pub description: String,
    /// Whether its deliveries are sent; a paused endpoint's events are
    /// recorded and wait.
    pub enabled: bool,
    /// Who registered it.
    pub created_by: String,
    /// When.
    pub created_at: OffsetDateTime,
}

/// A delivery claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    /// The delivery's id (`Pricesync-Delivery`).
    pub id: Uuid,
    /// The event's id (`Pricesync-Event-Id`): the same for every endpoint
    /// and every attempt, so receivers can drop duplicates.
    pub event_id: Uuid,
    /// The event's name.
    pub event_type: String,
    /// The JSON body, sent as it is.
    pub payload: String,
    /// Where to send it.
    pub url: String,
    /// The endpoint's signing key.
    pub secret: String,
    /// This attempt's number, from 1.
    pub attempt: u32,
}

/// A delivery, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Its id.
    pub id: Uuid,
    /// The endpoint it goes to.
    pub endpoint_id: Uuid,
    /// The event's id.
    pub event_id: Uuid,
    /// The event's name.
    pub event_type: String,
    /// Its state.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: OffsetDateTime,
    /// The HTTP status of the last attempt, if it got an answer.
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the event happened.
    pub created_at: OffsetDateTime,
    /// When it was delivered or given up.
    pub finished_at: Option<OffsetDateTime>,
}

/// Which deliveries to list: newest first, after `before` (the last of the
/// previous page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryQuery {
    /// Only this state.
    pub state: Option<DeliveryState>,
    /// Only to this endpoint.
    pub endpoint_id: Option<Uuid>,
    /// Only older than this delivery (its creation time and id).
    pub before: Option<(OffsetDateTime, Uuid)>,
    /// At most this many (1..=1001: a page and one more).
    pub limit: usize,
}

/// How an attempt ended, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The endpoint answered 2xx.
    Delivered {
        /// The status.
        status: u16,
    },
    /// It failed; try again after `retry_in`, or never (`None`: attempts
    /// exhausted).
    Failed {
        /// The status, if the endpoint answered.
        status: Option<u16>,
        /// What went wrong, secret-free.
        error: String,
        /// When to try again.
        retry_in: Option<std::time::Duration>,
    },
}

/// `sync.finished`: the job and every provider's counts.
#[derive(Serialize)]
pub(crate) struct SyncFinished<'a> {
    sync_id: Uuid,
    status: &'a str,
    dry_run: bool,
    triggered_by: &'a str,
    schedule: Option<&'a str>,
    #[serde(with = "time::serde::rfc3339::option")]
    finished_at: Option<OffsetDateTime>,
    error: Option<&'a str>,
    providers: Vec<ProviderCounts<'a>>,
    job_url: String,
}

#[derive(Serialize)]
struct ProviderCounts<'a> {
    provider: &'a str,
    status: &'a str,
    fetched: u32,
    added: u32,
    updated: u32,
    unchanged: u32,
    skipped: u32,
    removed: u32,
    changes_held: u32,
    errors: u32,
    error: Option<&'a str>,
}

impl<'a> SyncFinished<'a> {
    pub(crate) fn new(job: &'a JobRecord, logs: &'a [ProviderLog]) -> Self {
        Self {
            sync_id: job.id,
            status: job.state.as_str(),
            dry_run: job.dry_run,
            triggered_by: &job.triggered_by,
            schedule: job.schedule_name.as_deref(),
            finished_at: job.finished_at,
            error: job.error.as_deref(),
            providers: logs
                .iter()
                .map(|log| ProviderCounts {
                    provider: &log.provider,
                    status: log.status.as_str(),
                    fetched: log.models_fetched,
                    added: log.models_added,
                    updated: log.models_updated,
                    unchanged: log.models_unchanged,
                    skipped: log.models_skipped,
                    removed: log.models_removed,
                    changes_held: log.changes_held,
                    errors: log.errors,
                    error: log.error.as_deref(),
                })
                .collect(),
            job_url: format!("/admin/pricing/sync/{}", job.id),
        }
    }
}

/// `prices.changed`: what one price write changed, and where the change
/// feed shows it.
#[derive(Serialize)]
pub(crate) struct PricesChanged<'a> {
    provider: &'a str,
    sync_id: Option<Uuid>,
    approved_by: Option<&'a str>,
    models_added: usize,
    models_updated: usize,
    models_removed: usize,
    history_entries: usize,
    /// The change feed's cursor just before this write.
    changes_after: i64,
    changes_url: String,
}

impl<'a> PricesChanged<'a> {
    /// `[added, updated, removed]` models and the history entries a write
    /// made after the change feed's cursor `changes_after`.
    pub(crate) fn new(
        provider: &'a str,
        sync_id: Option<Uuid>,
        approved_by: Option<&'a str>,
        [models_added, models_updated, models_removed]: [usize; 3],
        history_entries: usize,
        changes_after: i64,
    ) -> Self {
        Self {
            provider,
            sync_id,
            approved_by,
            models_added,
            models_updated,
            models_removed,
            history_entries,
            changes_after,
            changes_url: format!("/v1/pricing/changes?after={changes_after}"),
        }
    }
}

/// The change feed's cursor on `$conn`: the latest price history id, 0
/// for none. Read inside a price write after the catalogue lock, no other
/// write can move it before commit.
macro_rules! feed_cursor {
    ($conn:expr) => {{
        use $crate::schema::model_pricing_history as h;
        h::table
            .select(diesel::dsl::max(h::id))
            .first::<Option<i64>>($conn)
            .await?
            .unwrap_or(0)
    }};
}
pub(crate) use feed_cursor;

/// `price_change.held`: a write held new changes for approval.
#[derive(Serialize)]
pub(crate) struct PriceChangeHeld<'a> {
    pub(crate) provider: &'a str,
    pub(crate) sync_id: Option<Uuid>,
    pub(crate) newly_held: usize,
    pub(crate) pending: usize,
    pub(crate) held_changes_url: String,
}

/// The body of every delivery.
#[derive(Serialize)]
struct Envelope<'a, T> {
    id: Uuid,
    #[serde(rename = "type")]
    event_type: &'static str,
    data: &'a T,
}

/// Of the endpoints `(id, events)`, those that want `event`.
pub(crate) fn wanting(endpoints: Vec<(SqlUuid, String)>, event: WebhookEvent) -> Vec<SqlUuid> {
    endpoints
        .into_iter()
        .filter(|(_, events)| events_want(events, event))
        .map(|(id, _)| id)
        .collect()
}

/// One event's delivery rows `(endpoint, event id, body)`, one per
/// endpoint.
pub(crate) fn delivery_rows<T: Serialize>(
    event: WebhookEvent,
    data: &T,
    endpoints: Vec<SqlUuid>,
) -> StoreResult<Vec<(SqlUuid, SqlUuid, String)>> {
    let event_id = SqlUuid(Uuid::now_v7());
    let payload = serde_json::to_string(&Envelope {
        id: event_id.0,
        event_type: event.as_str(),
        data,
    })
    .map_err(|e| StoreError::InvalidArgument(format!("a webhook payload: {e}")))?;
    Ok(endpoints
        .into_iter()
        .map(|endpoint| (endpoint, event_id, payload.clone()))
        .collect())
}

/// Whether a stored event list (`*` or comma-separated names) holds
/// `event`.
fn events_want(events: &str, event: WebhookEvent) -> bool {
    events == "*" || events.split(',').any(|e| e == event.as_str())
}

fn events_column(events: &[WebhookEvent]) -> String {
    if events.is_empty() {
        "*".to_owned()
    } else {
        events
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The endpoints that want `$event`, read on `$conn`. Paused ones too:
/// their events wait for them to resume.
macro_rules! endpoints_wanting {
    ($conn:expr, $event:expr) => {{
        use $crate::schema::webhook_endpoints as e;
        let endpoints: Vec<($crate::sql_types::SqlUuid, String)> =
            e::table.select((e::id, e::events)).load($conn).await?;
        $crate::webhooks::wanting(endpoints, $event)
    }};
}
pub(crate) use endpoints_wanting;

/// Records `$event` with `$data` (a `Serialize` payload) as a pending
/// delivery for each of `$endpoints`, on `$conn`.
macro_rules! insert_deliveries {
    ($conn:expr, $event:expr, $endpoints:expr, $data:expr) => {{
        use $crate::schema::webhook_deliveries as d;
        for (endpoint, event_id, payload) in
            $crate::webhooks::delivery_rows($event, $data, $endpoints)?
        {
            diesel::insert_into(d::table)
                .values((
                    d::id.eq($crate::sql_types::SqlUuid(uuid::Uuid::now_v7())),
                    d::endpoint_id.eq(endpoint),
                    d::event_id.eq(event_id),
                    d::event_type.eq($event.as_str()),
                    d::payload.eq(payload),
                    d::state.eq("pending"),
                    d::next_attempt_at.eq($crate::sql_types::DbNow),
                ))
                .execute($conn)
                .await?;
        }
    }};
}
pub(crate) use insert_deliveries;

/// Records `$event` with `$data` as a pending delivery for every
/// endpoint that wants it, on `$conn`: call it inside the transaction of
/// what the event announces. Without such an endpoint, it costs one read.
macro_rules! record_event {
    ($conn:expr, $event:expr, $data:expr) => {{
        let endpoints = $crate::webhooks::endpoints_wanting!($conn, $event);
        if !endpoints.is_empty() {
            $crate::webhooks::insert_deliveries!($conn, $event, endpoints, $data);
        }
    }};
}
pub(crate) use record_event;

/// A signing key is at least 16 characters long.
fn check_secret(secret: &str) -> StoreResult<()> {
    if secret.chars().count() < 16 {
        return Err(StoreError::InvalidArgument(
            "a webhook secret has at least 16 characters".to_owned(),
        ));
    }
    Ok(())
}

/// The columns an [`EndpointChange`] sets; `None` fields are left alone.
#[derive(AsChangeset, Default, PartialEq, Eq)]
#[diesel(table_name = endpoints)]
struct EndpointChangeset<'a> {
    url: Option<&'a str>,
    secret: Option<&'a str>,
    events: Option<String>,
    description: Option<&'a str>,
    enabled: Option<bool>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = endpoints)]
struct EndpointRow {
    id: SqlUuid,
    url: String,
    events: String,
    description: String,
    enabled: bool,
    created_by: String,
    created_at: SqlTime,
}

impl TryFrom<EndpointRow> for EndpointRecord {
    type Error = StoreError;

    fn try_from(row: EndpointRow) -> Result<Self, StoreError> {
        let events = if row.events == "*" {
            Vec::new()
        } else {
            row.events
                .split(',')
                .map(|e| {
                    e.parse().map_err(|why: String| {
                        StoreError::corrupt(format!("webhook endpoint {}: {why}", row.id.0))
                    })
                })
                .collect::<StoreResult<_>>()?
        };
        Ok(Self {
            id: row.id.0,
            url: row.url,
            events,
            description: row.description,
            enabled: row.enabled,
            created_by: row.created_by,
            created_at: row.created_at.0,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = deliveries)]
struct DeliveryRow {
    id: SqlUuid,
    endpoint_id: SqlUuid,
    event_id: SqlUuid,
    event_type: String,
    state: String,
    attempts: i32,
    next_attempt_at: SqlTime,
    last_status: Option<i32>,
    last_error: Option<String>,
    created_at: SqlTime,
    finished_at: Option<SqlTime>,
}

impl TryFrom<DeliveryRow> for DeliveryRecord {
    type Error = StoreError;

    fn try_from(row: DeliveryRow) -> Result<Self, StoreError> {
        Ok(Self {
            state: row.state.parse().map_err(|why: String| {
                StoreError::corrupt(format!("webhook delivery {}: {why}", row.id.0))
            })?,
            id: row.id.0,
            endpoint_id: row.endpoint_id.0,
            event_id: row.event_id.0,
            event_type: row.event_type,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            next_attempt_at: row.next_attempt_at.0,
            last_status: row.last_status.and_then(|s| u16::try_from(s).ok()),
            last_error: row.last_error,
            created_at: row.created_at.0,
            finished_at: row.finished_at.map(|t| t.0),
        })
    }
}

impl Store {
    /// Registers an endpoint.
    pub async fn create_webhook_endpoint(
        &self,
        endpoint: &NewEndpoint,
    ) -> StoreResult<EndpointRecord> {
        check_secret(&endpoint.secret)?;
        let id = SqlUuid(Uuid::now_v7());
        let row: EndpointRow = on_conn!(self, writer, |conn| {
            diesel::insert_into(endpoints::table)
                .values((
                    endpoints::id.eq(id),
                    endpoints::url.eq(&endpoint.url),
                    endpoints::secret.eq(&endpoint.secret),
                    endpoints::events.eq(events_column(&endpoint.events)),
                    endpoints::description.eq(&endpoint.description),
                    endpoints::enabled.eq(true),
                    endpoints::created_by.eq(&endpoint.created_by),
                    endpoints::created_at.eq(DbNow),
                ))
                .returning(EndpointRow::as_returning())
                .get_result(conn)
                .await?
        });
        row.try_into()
    }

    /// The endpoint `id`, if registered.
    pub async fn webhook_endpoint(&self, id: Uuid) -> StoreResult<Option<EndpointRecord>> {
        let row: Option<EndpointRow> = on_conn!(self, readers, |conn| {
            endpoints::table
                .filter(endpoints::id.eq(SqlUuid(id)))
                .select(EndpointRow::as_select())
                .first(conn)
                .await
                .optional()?
        });
        row.map(EndpointRecord::try_from).transpose()
    }

    /// Applies `change` to the endpoint `id`; `None` when there is none.
    /// Pending deliveries go to the new URL, signed with the new secret;
    /// a new event list applies to events recorded from now on.
    pub async fn update_webhook_endpoint(
        &self,
        id: Uuid,
        change: &EndpointChange,
    ) -> StoreResult<Option<EndpointRecord>> {
        if let Some(secret) = &change.secret {
            check_secret(secret)?;
        }
        let changeset = EndpointChangeset {
            url: change.url.as_deref(),
            secret: change.secret.as_deref(),
            events: change.events.as_deref().map(events_column),
            description: change.description.as_deref(),
            enabled: change.enabled,
        };
        if changeset == EndpointChangeset::default() {
            return self.webhook_endpoint(id).await;
        }
        let row: Option<EndpointRow> = on_conn!(self, writer, |conn| {
            diesel::update(endpoints::table.filter(endpoints::id.eq(SqlUuid(id))))
                .set(&changeset)
                .returning(EndpointRow::as_returning())
                .get_result(conn)
                .await
                .optional()?
        });
        row.map(EndpointRecord::try_from).transpose()
    }

    /// Every registered endpoint, oldest first.
    pub async fn list_webhook_endpoints(&self) -> StoreResult<Vec<EndpointRecord>> {
        let rows: Vec<EndpointRow> = on_conn!(self, readers, |conn| {
            endpoints::table
                .select(EndpointRow::as_select())
                .order((endpoints::created_at, endpoints::id))
                .load(conn)
                .await?
        });
        rows.into_iter().map(EndpointRecord::try_from).collect()
    }

    /// Removes an endpoint and its deliveries; `false` when there was none.
    pub async fn delete_webhook_endpoint(&self, id: Uuid) -> StoreResult<bool> {
        let deleted = on_conn!(self, writer, |conn| {
            conn.transaction(async |conn| -> StoreResult<usize> {
                diesel::delete(deliveries::table.filter(deliveries::endpoint_id.eq(SqlUuid(id))))
                    .execute(conn)
                    .await?;
                Ok(
                    diesel::delete(endpoints::table.filter(endpoints::id.eq(SqlUuid(id))))
                        .execute(conn)
                        .await?,
                )
            })
            .await?
        });
        Ok(deleted == 1)
    }

    /// Claims up to `limit` due pending deliveries for `sender` for
    /// `claim_for` (`FOR UPDATE SKIP LOCKED` on PostgreSQL: senders never
    /// wait on each other), counting the attempt, oldest due first.
    pub async fn claim_due_deliveries(
        &self,
        sender: &str,
        limit: usize,
        claim_for: std::time::Duration,
    ) -> StoreResult<Vec<DueDelivery>> {
        let limit = i64::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        let rows: Vec<(SqlUuid, SqlUuid, String, String, i32, String, String)> =
            on_conn!(self, writer, |conn| {
                let claimed: Vec<SqlUuid> = ClaimDue {
                    sender,
                    limit,
                    until: DbNowPlus::after(claim_for),
                }
                .load::<ClaimedId>(conn)
                .await?
                .into_iter()
                .map(|c| c.id)
                .collect();
                if claimed.is_empty() {
                    Vec::new()
                } else {
                    let rows: Vec<(SqlUuid, SqlUuid, String, String, i32, String, String)> =
                        deliveries::table
                            .inner_join(
                                endpoints::table.on(endpoints::id.eq(deliveries::endpoint_id)),
                            )
                            .filter(deliveries::id.eq_any(&claimed))
                            .select((
                                deliveries::id,
                                deliveries::event_id,
                                deliveries::event_type,
                                deliveries::payload,
                                deliveries::attempts,
                                endpoints::url,
                                endpoints::secret,
                            ))
                            .order((deliveries::next_attempt_at, deliveries::id))
                            .load(conn)
                            .await?;
                    // A delivery recorded while its endpoint was being
                    // removed has no endpoint: dropped.
                    if rows.len() < claimed.len() {
                        let found: Vec<SqlUuid> = rows.iter().map(|r| r.0).collect();
                        let orphans: Vec<&SqlUuid> =
                            claimed.iter().filter(|id| !found.contains(id)).collect();
                        diesel::delete(deliveries::table.filter(deliveries::id.eq_any(orphans)))
                            .execute(conn)
                            .await?;
                    }
                    rows
                }
            });
        Ok(rows
            .into_iter()
            .map(
                |(id, event_id, event_type, payload, attempts, url, secret)| DueDelivery {
                    id: id.0,
                    event_id: event_id.0,
                    event_type,
                    payload,
                    url,
                    secret,
                    attempt: u32::try_from(attempts).unwrap_or(0),
                },
            )
            .collect())
    }

    /// Records how `sender`'s attempt at delivery `id` ended; `false` when
    /// the delivery is no longer its claim (the claim ran out and another
    /// sender took it, or an endpoint was removed).
    pub async fn record_delivery_attempt(
        &self,
        id: Uuid,
        sender: &str,
        outcome: &AttemptOutcome,
    ) -> StoreResult<bool> {
        let mine = deliveries::table
            .filter(deliveries::id.eq(SqlUuid(id)))
            .filter(deliveries::state.eq(DeliveryState::Pending.as_str()))
            .filter(deliveries::claimed_by.eq(sender));
        let (status, error, retry_in) = match outcome {
            AttemptOutcome::Delivered { status } => (Some(*status), None, None),
            AttemptOutcome::Failed {
                status,
                error,
                retry_in,
            } => (*status, Some(truncate_error(error)), *retry_in),
        };
        // The attempt's answer, and the claim released.
        let answer = (
            deliveries::last_status.eq(status.map(i32::from)),
            deliveries::last_error.eq(error),
            deliveries::claimed_by.eq(None::<String>),
            deliveries::claimed_until.eq(None::<SqlTime>),
        );
        let ended = match outcome {
            AttemptOutcome::Delivered { .. } => DeliveryState::Delivered,
            AttemptOutcome::Failed { .. } => DeliveryState::Failed,
        };
        let updated = on_conn!(self, writer, |conn| {
            match retry_in {
                Some(retry_in) => {
                    diesel::update(mine)
                        .set((
                            deliveries::next_attempt_at.eq(DbNowPlus::after(retry_in)),
                            answer,
                        ))
                        .execute(conn)
                        .await?
                }
                None => {
                    diesel::update(mine)
                        .set((
                            deliveries::state.eq(ended.as_str()),
                            deliveries::finished_at.eq(DbNow.nullable()),
                            answer,
                        ))
                        .execute(conn)
                        .await?
                }
            }
        });
        Ok(updated == 1)
    }

    /// Deliveries, newest first.
    pub async fn list_webhook_deliveries(
        &self,
        query: &DeliveryQuery,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        // 1001: a page of 1000 and the row that says another page exists.
        let limit = i64::try_from(query.limit.clamp(1, 1001)).unwrap_or(1001);
        let rows: Vec<DeliveryRow> = on_conn!(self, readers, |conn| {
            let mut select = deliveries::table
                .select(DeliveryRow::as_select())
                .order((deliveries::created_at.desc(), deliveries::id.desc()))
                .limit(limit)
                .into_boxed();
            if let Some(state) = query.state {
                select = select.filter(deliveries::state.eq(state.as_str()));
            }
            if let Some(endpoint) = query.endpoint_id {
                select = select.filter(deliveries::endpoint_id.eq(SqlUuid(endpoint)));
            }
            if let Some((at, id)) = query.before {
                select = select.filter(
                    deliveries::created_at
                        .lt(SqlTime(at))
                        .or(deliveries::created_at
                            .eq(SqlTime(at))
                            .and(deliveries::id.lt(SqlUuid(id)))),
                );
            }
            select.load(conn).await?
        });
        rows.into_iter().map(DeliveryRecord::try_from).collect()
    }

    /// One delivery.
    pub async fn webhook_delivery(&self, id: Uuid) -> StoreResult<Option<DeliveryRecord>> {
        let row: Option<DeliveryRow> = on_conn!(self, readers, |conn| {
            deliveries::table
                .filter(deliveries::id.eq(SqlUuid(id)))
                .select(DeliveryRow::as_select())
                .first(conn)
                .await
                .optional()?
        });
        row.map(DeliveryRecord::try_from).transpose()
    }

    /// Sends a failed delivery again (its attempts start over); the
    /// delivery as it now is, or `None` when it is not a failed delivery.
    pub async fn retry_webhook_delivery(&self, id: Uuid) -> StoreResult<Option<DeliveryRecord>> {
        let row: Option<DeliveryRow> = on_conn!(self, writer, |conn| {
            diesel::update(
                deliveries::table
                    .filter(deliveries::id.eq(SqlUuid(id)))
                    .filter(deliveries::state.eq(DeliveryState::Failed.as_str())),
            )
            .set((
                deliveries::state.eq(DeliveryState::Pending.as_str()),
                deliveries::attempts.eq(0),
                deliveries::next_attempt_at.eq(DbNow),
                deliveries::finished_at.eq(None::<SqlTime>),
            ))
            .returning(DeliveryRow::as_returning())
            .get_result(conn)
            .await
            .optional()?
        });
        row.map(DeliveryRecord::try_from).transpose()
    }

    /// Deletes deliveries that ended (delivered, or failed for good)
    /// `retention` or more ago; how many. Pending ones are kept, however
    /// old.
    pub async fn prune_finished_deliveries(
        &self,
        retention: std::time::Duration,
    ) -> StoreResult<usize> {
        Ok(on_conn!(self, writer, |conn| {
            diesel::delete(
                deliveries::table
                    .filter(deliveries::finished_at.le(DbNowPlus::before(retention).nullable())),
            )
            .execute(conn)
            .await?
        }))
    }

    /// Deliveries not delivered yet.
    pub async fn count_pending_deliveries(&self) -> StoreResult<u64> {
        let count: i64 = on_conn!(self, readers, |conn| {
            deliveries::table
                .filter(deliveries::state.eq(DeliveryState::Pending.as_str()))
                .count()
                .get_result(conn)
                .await?
        });
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

#[derive(QueryableByName)]
struct ClaimedId {
    #[diesel(sql_type = crate::sql_types::DbUuid)]
    id: SqlUuid,
}

/// Claims due deliveries in one statement.
struct ClaimDue<'a> {
    sender: &'a str,
    limit: i64,
    until: DbNowPlus,
}

crate::sql_types::raw_statement!(ClaimDue<'_>);

impl<DB> QueryFragment<DB> for ClaimDue<'_>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<BigInt>,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    DbNow: QueryFragment<DB>,
    DbNowPlus: QueryFragment<DB>,
    SkipLocked: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE webhook_deliveries SET claimed_by = ");
        out.push_bind_param::<Text, str>(self.sender)?;
        out.push_sql(", claimed_until = ");
        self.until.walk_ast(out.reborrow())?;
        out.push_sql(
            ", attempts = attempts + 1 WHERE id IN (SELECT id FROM webhook_deliveries \
             WHERE state = 'pending' AND endpoint_id IN \
             (SELECT id FROM webhook_endpoints WHERE enabled) AND next_attempt_at <= ",
        );
        DbNow.walk_ast(out.reborrow())?;
        out.push_sql(" AND (claimed_until IS NULL OR claimed_until <= ");
        DbNow.walk_ast(out.reborrow())?;
        out.push_sql(") ORDER BY next_attempt_at, id LIMIT ");
        out.push_bind_param::<BigInt, i64>(&self.limit)?;
        SkipLocked.walk_ast(out.reborrow())?;
        out.push_sql(") RETURNING id");
        Ok(())
    }
}
