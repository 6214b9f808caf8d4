//! Webhooks (admin scope): register, read, change (pause, resume, move,
//! re-key) and remove endpoints, see every delivery and send a failed one
//! again. Deliveries themselves are sent by
//! the engine's dispatcher (see docs/webhooks.md).

use actix_web::http::header;
use actix_web::web::Json;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use pricesync_engine::EngineHandle;
use pricesync_store::{DeliveryQuery, DeliveryState, EndpointChange, NewEndpoint, WebhookEvent};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::auth::Admin;
use super::error::{ApiError, ErrorBody};
use super::params::path_id;
use super::types::webhooks::{
    parse_cursor, Delivery, DeliveryPage, NewWebhook, RegisteredWebhook, Webhook, WebhookChange,
    WebhookList,
};

const DEFAULT_LIMIT: u32 = 100;
/// The longest URL accepted.
const MAX_URL_CHARS: usize = 2048;

fn invalid_body(message: String) -> ApiError {
    ApiError::BadRequest {
        code: "invalid_body",
        message,
    }
}

/// Where the endpoint `id` is read and changed.
fn webhook_path(id: Uuid) -> String {
    format!("{}/webhooks/{id}", super::admin::SCOPE)
}

/// A URL's scheme, host and port, for logs.
fn host_of(url: &str) -> String {
    url::Url::parse(url).map_or_else(
        |_| "?".to_owned(),
        |u| {
            format!(
                "{}://{}{}",
                u.scheme(),
                u.host_str().unwrap_or("?"),
                u.port().map(|p| format!(":{p}")).unwrap_or_default()
            )
        },
    )
}

/// Checks an endpoint's URL: http or https, with a host.
fn checked_url(text: &str) -> Result<String, ApiError> {
    if text.chars().count() > MAX_URL_CHARS {
        return Err(invalid_body(format!(
            "url: longer than {MAX_URL_CHARS} characters"
        )));
    }
    let url = url::Url::parse(text)
        .map_err(|e| invalid_body(format!("url: {text:?} is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid_body(format!(
            "url: {text:?} is not an http or https URL with a host"
        )));
    }
    Ok(url.to_string())
}

/// Parses event names, dropping repeats.
fn checked_events(names: &[String]) -> Result<Vec<WebhookEvent>, ApiError> {
    let mut events = Vec::new();
    for name in names {
        let event: WebhookEvent = name
            .parse()
            .map_err(|e: String| invalid_body(format!("events: {e}")))?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    Ok(events)
}

fn checked_secret(secret: String) -> Result<String, ApiError> {
    let length = secret.chars().count();
    if !(16..=256).contains(&length) || !secret.chars().all(|c| c.is_ascii_graphic()) {
        return Err(invalid_body(
            "secret: use 16 to 256 printable ASCII characters without spaces".to_owned(),
        ));
    }
    Ok(secret)
}

fn checked_description(description: String) -> Result<String, ApiError> {
    if description.chars().count() > 500 || description.contains('\0') {
        return Err(invalid_body(
            "description: at most 500 characters, no NUL".to_owned(),
        ));
    }
    Ok(description)
}

/// Checks a new endpoint; makes its secret when none is given.
fn new_endpoint(body: NewWebhook, by: String) -> Result<NewEndpoint, ApiError> {
    let url = checked_url(&body.url)?;
    let events = checked_events(&body.events)?;
    let secret = match body.secret {
        Some(secret) => checked_secret(secret)?,
        // Two version-4 UUIDs: 244 random bits from the system's secure
        // source.
        None => format!(
            "whsec_{}{}",
            Uuid::new_v4().simple(),
            Uuid::new_v4().simple()
        ),
    };
    Ok(NewEndpoint {
        url,
        secret,
        events,
        description: checked_description(body.description)?,
        created_by: by,
    })
}

/// Checks a change to an endpoint.
fn endpoint_change(body: WebhookChange) -> Result<EndpointChange, ApiError> {
    Ok(EndpointChange {
        url: body.url.as_deref().map(checked_url).transpose()?,
        secret: body.secret.map(checked_secret).transpose()?,
        events: body.events.as_deref().map(checked_events).transpose()?,
        description: body.description.map(checked_description).transpose()?,
        enabled: body.enabled,
    })
}

/// `POST /admin/pricing/webhooks`
#[utoipa::path(
    tag = "admin",
    summary = "Register a webhook endpoint",
    description = "Events are POSTed to the URL as JSON, signed with HMAC-SHA256 (`Pricesync-Signature: t=<unix seconds>,v1=<hex>` over `<t>.<body>`); see docs/webhooks.md for the events and how to verify. The secret is in this answer only.",
    request_body = NewWebhook,
    responses(
        (status = 201, description = "Registered.", body = RegisteredWebhook,
            headers(("Location" = String, description = "The endpoint's URL."))),
        (status = 400, description = "A bad URL, event name or secret.", body = ErrorBody),
    )
)]
#[post("/webhooks")]
pub(crate) async fn create_webhook(
    engine: web::Data<EngineHandle>,
    admin: Admin,
    body: Json<NewWebhook>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = new_endpoint(body.into_inner(), admin.label())?;
    let record = engine.store().create_webhook_endpoint(&endpoint).await?;
    // The host only: a webhook URL's path or query often carries a token.
    tracing::warn!(webhook = %record.id, host = %host_of(&record.url), by = %admin.label(),
        "webhook endpoint registered");
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, webhook_path(record.id)))
        .json(RegisteredWebhook {
            webhook: Webhook::from(record),
            secret: endpoint.secret,
        }))
}

/// `GET /admin/pricing/webhooks`
#[utoipa::path(
    tag = "admin",
    summary = "Registered webhook endpoints",
    description = "Every endpoint, oldest first, without secrets.",
    responses(
        (status = 200, description = "The endpoints.", body = WebhookList),
    )
)]
#[get("/webhooks")]
pub(crate) async fn list_webhooks(
    engine: web::Data<EngineHandle>,
) -> Result<Json<WebhookList>, ApiError> {
    let webhooks = engine.store().list_webhook_endpoints().await?;
    Ok(Json(WebhookList {
        webhooks: webhooks.into_iter().map(Webhook::from).collect(),
    }))
}

/// `GET /admin/pricing/webhooks/{id}`
#[utoipa::path(
    tag = "admin",
    summary = "A webhook endpoint",
    description = "One endpoint, without its secret.",
    params(("id" = String, Path, format = Uuid, description = "The endpoint's id.")),
    responses(
        (status = 200, description = "The endpoint.", body = Webhook),
        (status = 400, description = "The id is not a UUID.", body = ErrorBody),
        (status = 404, description = "No such endpoint.", body = ErrorBody),
    )
)]
#[get("/webhooks/{id}")]
pub(crate) async fn get_webhook(
    engine: web::Data<EngineHandle>,
    path: web::Path<String>,
) -> Result<Json<Webhook>, ApiError> {
    let id = path_id(&path, "webhook")?;
    let record = engine
        .store()
        .webhook_endpoint(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no webhook {id}")))?;
    Ok(Json(Webhook::from(record)))
}

/// `PATCH /admin/pricing/webhooks/{id}`
#[utoipa::path(
    tag = "admin",
    summary = "Change, pause or resume a webhook endpoint",
    description = "Each field given replaces the stored one. `enabled: false` pauses sending: events are still recorded for the endpoint and wait, without using attempts, until `enabled: true` resumes it. Pending deliveries go to the new `url`, signed with the new `secret`; new `events` apply to events recorded from now on. An empty object changes nothing.",
    params(("id" = String, Path, format = Uuid, description = "The endpoint's id.")),
    request_body = WebhookChange,
    responses(
        (status = 200, description = "The endpoint as changed.", body = Webhook),
        (status = 400, description = "The id is not a UUID, or a bad URL, event name or secret.", body = ErrorBody),
        (status = 404, description = "No such endpoint.", body = ErrorBody),
    )
)]
#[patch("/webhooks/{id}")]
pub(crate) async fn update_webhook(
    engine: web::Data<EngineHandle>,
    admin: Admin,
    path: web::Path<String>,
    body: Json<WebhookChange>,
) -> Result<Json<Webhook>, ApiError> {
    let id = path_id(&path, "webhook")?;
    let change = endpoint_change(body.into_inner())?;
    let record = engine
        .store()
        .update_webhook_endpoint(id, &change)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no webhook {id}")))?;
    // The names of the fields changed, never their values.
    let changed: Vec<&str> = [
        ("url", change.url.is_some()),
        ("secret", change.secret.is_some()),
        ("events", change.events.is_some()),
        ("description", change.description.is_some()),
        ("enabled", change.enabled.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, given)| given.then_some(field))
    .collect();
    if !changed.is_empty() {
        tracing::warn!(webhook = %id, host = %host_of(&record.url), enabled = record.enabled,
            changed = %changed.join(","), by = %admin.label(), "webhook endpoint changed");
    }
    Ok(Json(Webhook::from(record)))
}

/// `DELETE /admin/pricing/webhooks/{id}`
#[utoipa::path(
    tag = "admin",
    summary = "Remove a webhook endpoint",
    description = "The endpoint and its deliveries, pending ones included, are removed.",
    params(("id" = String, Path, format = Uuid, description = "The endpoint's id.")),
    responses(
        (status = 204, description = "Removed."),
        (status = 400, description = "The id is not a UUID.", body = ErrorBody),
        (status = 404, description = "No such endpoint.", body = ErrorBody),
    )
)]
#[delete("/webhooks/{id}")]
pub(crate) async fn delete_webhook(
    engine: web::Data<EngineHandle>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "webhook")?;
    if !engine.store().delete_webhook_endpoint(id).await? {
        return Err(ApiError::NotFound(format!("no webhook {id}")));
    }
    tracing::warn!(webhook = %id, by = %admin.label(), "webhook endpoint removed");
    Ok(HttpResponse::NoContent().finish())
}

/// Query of `GET /admin/pricing/webhooks/deliveries`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveryParams {
    /// Only deliveries in this state: `pending`, `delivered` or `failed`.
    state: Option<String>,
    /// Only deliveries to this endpoint.
    #[param(format = Uuid)]
    webhook_id: Option<String>,
    /// At most this many (1 to 1000; default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// `GET /admin/pricing/webhooks/deliveries`
#[utoipa::path(
    tag = "admin",
    summary = "Webhook deliveries",
    description = "Every event's delivery to every endpoint, newest first: its state, attempts, the last answer or error and, while pending, when the next attempt is due.",
    params(DeliveryParams),
    responses(
        (status = 200, description = "A page of deliveries.", body = DeliveryPage),
        (status = 400, description = "A bad or unknown query parameter.", body = ErrorBody),
    )
)]
#[get("/webhooks/deliveries")]
pub(crate) async fn list_deliveries(
    engine: web::Data<EngineHandle>,
    params: web::Query<DeliveryParams>,
) -> Result<Json<DeliveryPage>, ApiError> {
    let limit = super::params::limit(params.limit.as_deref(), DEFAULT_LIMIT)?;
    let state = params
        .state
        .as_deref()
        .map(|s| {
            s.parse::<DeliveryState>()
                .map_err(|e| ApiError::bad_parameter("state", e))
        })
        .transpose()?;
    let endpoint_id = super::params::uuid("webhook_id", params.webhook_id.as_deref())?;
    let before = params
        .cursor
        .as_deref()
        .map(|c| parse_cursor(c).map_err(|e| ApiError::bad_parameter("cursor", e)))
        .transpose()?;
    let records = engine
        .store()
        .list_webhook_deliveries(&DeliveryQuery {
            state,
            endpoint_id,
            before,
            limit: limit as usize + 1,
        })
        .await?;
    Ok(Json(DeliveryPage::page(records, limit as usize)))
}

/// `POST /admin/pricing/webhooks/deliveries/{id}/retry`
#[utoipa::path(
    tag = "admin",
    summary = "Send a failed delivery again",
    description = "A delivery that used every attempt goes back to pending, due now, with its attempts counted from zero.",
    params(("id" = String, Path, format = Uuid, description = "The delivery's id.")),
    responses(
        (status = 200, description = "Pending again.", body = Delivery),
        (status = 400, description = "The id is not a UUID.", body = ErrorBody),
        (status = 404, description = "No such delivery.", body = ErrorBody),
        (status = 409, description = "The delivery has not failed.", body = ErrorBody),
    )
)]
#[post("/webhooks/deliveries/{id}/retry")]
pub(crate) async fn retry_delivery(
    engine: web::Data<EngineHandle>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<Json<Delivery>, ApiError> {
    let id = path_id(&path, "delivery")?;
    let store = engine.store();
    let Some(record) = store.retry_webhook_delivery(id).await? else {
        return Err(match store.webhook_delivery(id).await? {
            None => ApiError::NotFound(format!("no delivery {id}")),
            Some(record) => ApiError::Conflict(format!(
                "delivery {id} is {}: only a failed delivery is sent again",
                record.state.as_str()
            )),
        });
    };
    tracing::warn!(delivery = %id, by = %admin.label(), "failed webhook delivery sent again");
    Ok(Json(Delivery::from(record)))
}
