//! Webhooks (admin scope): register, list and remove endpoints, see every
//! delivery and send a failed one again. Deliveries themselves are sent by
//! the engine's dispatcher (see docs/webhooks.md).

use actix_web::web::Json;
use actix_web::{delete, get, post, web, HttpResponse};
use pricesync_engine::EngineHandle;
use pricesync_store::{DeliveryQuery, DeliveryState, NewEndpoint, WebhookEvent};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::auth::Admin;
use super::error::{ApiError, ErrorBody};
use super::types::webhooks::{
    parse_cursor, Delivery, DeliveryPage, NewWebhook, RegisteredWebhook, Webhook, WebhookList,
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

fn webhook_id(text: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::BadRequest {
        code: "invalid_id",
        message: format!("{text:?} is not a {what} id (a UUID)"),
    })
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

/// Checks a new endpoint; makes its secret when none is given.
fn new_endpoint(body: NewWebhook, by: String) -> Result<NewEndpoint, ApiError> {
    if body.url.chars().count() > MAX_URL_CHARS {
        return Err(invalid_body(format!(
            "url: longer than {MAX_URL_CHARS} characters"
        )));
    }
    let url = url::Url::parse(&body.url)
        .map_err(|e| invalid_body(format!("url: {:?} is not a URL ({e})", body.url)))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid_body(format!(
            "url: {:?} is not an http or https URL with a host",
            body.url
        )));
    }
    let mut events = Vec::new();
    for name in &body.events {
        let event: WebhookEvent = name
            .parse()
            .map_err(|e: String| invalid_body(format!("events: {e}")))?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    let secret = match body.secret {
        Some(secret) => {
            let length = secret.chars().count();
            if !(16..=256).contains(&length) || !secret.chars().all(|c| c.is_ascii_graphic()) {
                return Err(invalid_body(
                    "secret: use 16 to 256 printable ASCII characters without spaces".to_owned(),
                ));
            }
            secret
        }
        // Two version-4 UUIDs: 244 random bits from the system's secure
        // source.
        None => format!(
            "whsec_{}{}",
            Uuid::new_v4().simple(),
            Uuid::new_v4().simple()
        ),
    };
    if body.description.chars().count() > 500 || body.description.contains('\0') {
        return Err(invalid_body(
            "description: at most 500 characters, no NUL".to_owned(),
        ));
    }
    Ok(NewEndpoint {
        url: url.to_string(),
        secret,
        events,
        description: body.description,
        created_by: by,
    })
}

/// `POST /admin/pricing/webhooks`
#[utoipa::path(
    tag = "admin",
    summary = "Register a webhook endpoint",
    description = "Events are POSTed to the URL as JSON, signed with HMAC-SHA256 (`Pricesync-Signature: t=<unix seconds>,v1=<hex>` over `<t>.<body>`); see docs/webhooks.md for the events and how to verify. The secret is in this answer only.",
    request_body = NewWebhook,
    responses(
        (status = 201, description = "Registered.", body = RegisteredWebhook),
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
    Ok(HttpResponse::Created().json(RegisteredWebhook {
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

/// `DELETE /admin/pricing/webhooks/{id}`
#[utoipa::path(
    tag = "admin",
    summary = "Remove a webhook endpoint",
    description = "The endpoint and its deliveries, pending ones included, are removed.",
    params(("id" = String, Path, format = Uuid, pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        description = "The endpoint's id.")),
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
    let id = webhook_id(&path, "webhook")?;
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
    let endpoint_id = params
        .webhook_id
        .as_deref()
        .map(|v| {
            Uuid::parse_str(v)
                .map_err(|_| ApiError::bad_parameter("webhook_id", format!("{v:?} is not a UUID")))
        })
        .transpose()?;
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
    params(("id" = String, Path, format = Uuid, pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        description = "The delivery's id.")),
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
    let id = webhook_id(&path, "delivery")?;
    let store = engine.store();
    if !store.retry_webhook_delivery(id).await? {
        return Err(match store.webhook_delivery(id).await? {
            None => ApiError::NotFound(format!("no delivery {id}")),
            Some(record) => ApiError::Conflict(format!(
                "delivery {id} is {}: only a failed delivery is sent again",
                record.state.as_str()
            )),
        });
    }
    tracing::warn!(delivery = %id, by = %admin.label(), "failed webhook delivery sent again");
    let record = store
        .webhook_delivery(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no delivery {id}")))?;
    Ok(Json(Delivery::from(record)))
}
