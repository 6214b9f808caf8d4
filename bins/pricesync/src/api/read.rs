//! The read API for the gateway: current prices and their history.
//!
//! Answers carry a weak `ETag` computed from the body and
//! `Cache-Control: no-cache`, so caches revalidate and get `304 Not Modified`
//! while prices are unchanged.

use std::hash::{Hash, Hasher};

use actix_web::body::BoxBody;
use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse, Responder};
use pricesync_domain::ProviderId;
use pricesync_store::{HistoryQuery, ModelQuery, Store};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use super::types::read::{parse_model_cursor, HistoryPage, Model, ModelPage, StatusParam};

const DEFAULT_LIMIT: u32 = 100;

/// Query of `GET /v1/pricing/models`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ModelsParams {
    /// Only this provider's models.
    #[param(example = "openrouter")]
    provider: Option<String>,
    /// Only the model with this provider model id.
    #[param(example = "anthropic/claude-sonnet-4.5")]
    model: Option<String>,
    /// `active` (the default), `removed` or `all`.
    #[param(value_type = Option<StatusParam>, inline)]
    status: Option<String>,
    /// At most this many models (1 to 1000; default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Query of `GET /v1/pricing/history`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryParams {
    /// Only this provider's changes.
    #[param(example = "openrouter")]
    provider: Option<String>,
    /// Only this model's changes (its provider model id).
    model: Option<String>,
    /// Only changes at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime, example = "2026-01-31T12:00:00Z")]
    since: Option<String>,
    /// At most this many entries (1 to 1000; default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Query of `GET /v1/pricing/models/{provider}/{model_id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ModelParams {
    /// The card as of this instant (RFC 3339), rebuilt from the price
    /// history: prices, pricing kind and status in force then, each price
    /// with the instant since when. Absent: the current card.
    #[param(value_type = Option<String>, format = DateTime, example = "2026-11-24T09:15:02Z")]
    at: Option<String>,
}

fn time_param(name: &str, value: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    value
        .map(|text| {
            OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
                ApiError::bad_parameter(
                    name,
                    format!("{text:?} is not an RFC 3339 time such as 2026-01-31T12:00:00Z"),
                )
            })
        })
        .transpose()
}

fn rfc3339_text(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

fn model_param(value: Option<&str>) -> Result<Option<String>, ApiError> {
    match value {
        Some("") => Err(ApiError::bad_parameter("model", "is empty")),
        Some(v) if v.len() > 512 => {
            Err(ApiError::bad_parameter("model", "is longer than 512 bytes"))
        }
        other => Ok(other.map(str::to_owned)),
    }
}

/// The conditional-request header of the read API (the handlers read it
/// from the request; this only documents it).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // Never built: it documents a header read by `Cached`.
pub(crate) struct IfNoneMatch {
    /// The ETag of an earlier answer: 304 while it still matches.
    #[param(rename = "If-None-Match", nullable = false)]
    if_none_match: Option<String>,
}

/// A JSON answer with a weak ETag computed from the body, or 304 when the
/// client's `If-None-Match` holds it.
pub(crate) struct Cached<T>(pub(crate) T);

impl<T: Serialize> Responder for Cached<T> {
    type Body = BoxBody;

    fn respond_to(self, request: &HttpRequest) -> HttpResponse {
        use actix_web::ResponseError;
        let body = match serde_json::to_vec(&self.0) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialise a response");
                return ApiError::Internal(e.into()).error_response();
            }
        };
        // SipHash with fixed keys: the same body gives the same tag on every
        // replica running the same build.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        body.hash(&mut hasher);
        let etag = format!("W/\"{:016x}\"", hasher.finish());
        let matches = request
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|tag| tag.trim() == etag || tag.trim() == "*")
            });
        let mut response = if matches {
            HttpResponse::NotModified()
        } else {
            HttpResponse::Ok()
        };
        response
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, "no-cache"));
        if matches {
            response.finish()
        } else {
            response.content_type("application/json").body(body)
        }
    }
}

/// `GET /v1/pricing/models?provider=&model=&status=&limit=&cursor=`
#[utoipa::path(
    tag = "read",
    summary = "Current prices of the models",
    description = "Models with their current prices, ordered by provider then model id, a page at a time.",
    params(ModelsParams, IfNoneMatch),
    responses(
        (status = 200, description = "A page of models.", body = ModelPage, headers(
            ("ETag" = String, description = "Weak tag of the body."),
            ("Cache-Control" = String, description = "`no-cache`: revalidate with If-None-Match."))),
        (status = 304, description = "Unchanged since the tag sent in If-None-Match."),
        (status = 400, description = "A bad or unknown query parameter.", body = ErrorBody),
    )
)]
#[get("/v1/pricing/models")]
pub(crate) async fn list_models(
    store: web::Data<Store>,
    params: web::Query<ModelsParams>,
) -> Result<Cached<ModelPage>, ApiError> {
    let status = match params.status.as_deref() {
        None => StatusParam::default(),
        Some(text) => text
            .parse::<StatusParam>()
            .map_err(|e| ApiError::bad_parameter("status", e))?,
    };
    let after = params
        .cursor
        .as_deref()
        .map(|c| parse_model_cursor(c).map_err(|e| ApiError::bad_parameter("cursor", e)))
        .transpose()?;
    let page = store
        .list_models(&ModelQuery {
            provider: super::params::provider(params.provider.as_deref())?,
            model: model_param(params.model.as_deref())?,
            status: status.into(),
            limit: super::params::limit(params.limit.as_deref(), DEFAULT_LIMIT)?,
            after,
        })
        .await?;
    Ok(Cached(page.into()))
}

/// `GET /v1/pricing/models/{provider}/{model_id}`; the model id may hold
/// slashes (`anthropic/claude-sonnet-4.5`).
#[utoipa::path(
    tag = "read",
    summary = "One model's prices, now or at an instant",
    description = "One model, active or removed, with its current prices. With `at`, its price \
        card as of that instant, rebuilt from the price history in one query: the prices, \
        pricing kind and status in force then, each price with `since`. A model not listed at \
        that instant is a 404: `not_listed_yet` (before its first listing) or `removed` (after \
        a removal, before a relisting). The model id may hold slashes.",
    params(
        ("provider" = String, Path, description = "The provider.", example = "openrouter",
            pattern = r"^[a-z0-9-]{1,64}$"),
        ("model_id" = String, Path, description = "The provider's model id; may hold slashes.",
            example = "anthropic/claude-sonnet-4.5", pattern = r"^.+$"),
        ModelParams,
        IfNoneMatch,
    ),
    responses(
        (status = 200, description = "The model.", body = Model, headers(
            ("ETag" = String, description = "Weak tag of the body."),
            ("Cache-Control" = String, description = "`no-cache`: revalidate with If-None-Match."))),
        (status = 304, description = "Unchanged since the tag sent in If-None-Match."),
        (status = 400, description = "A malformed provider name, or a bad or unknown query \
            parameter.", body = ErrorBody),
        (status = 404, description = "No such model (`not_found`), or, with `at`, not listed \
            then (`not_listed_yet`, `removed`).", body = ErrorBody),
    )
)]
#[get("/v1/pricing/models/{provider}/{model_id:.+}")]
pub(crate) async fn get_model(
    store: web::Data<Store>,
    path: web::Path<(String, String)>,
    params: web::Query<ModelParams>,
) -> Result<Cached<Model>, ApiError> {
    let (provider, model_id) = path.into_inner();
    let provider = ProviderId::parse(&provider).map_err(|e| ApiError::BadRequest {
        code: "invalid_provider",
        message: format!("provider in the path: {e}"),
    })?;
    if let Some(at) = time_param("at", params.at.as_deref())? {
        return model_at(&store, &provider, &model_id, at).await.map(Cached);
    }
    let model = store
        .get_model(&provider, &model_id)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no model {model_id:?} is known for provider {provider}"
            ))
        })?;
    Ok(Cached(model.into()))
}

/// The card of a model at `at`, or why there is none.
async fn model_at(
    store: &Store,
    provider: &ProviderId,
    model_id: &str,
    at: OffsetDateTime,
) -> Result<Model, ApiError> {
    use pricesync_store::Listing;
    let card = store
        .card_at(provider.as_str(), model_id, at)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no model {model_id:?} is known for provider {provider}"
            ))
        })?;
    let name = card.name();
    match card.listing {
        Listing::NotYet { listed_from } => Err(ApiError::NotListed {
            code: "not_listed_yet",
            message: format!(
                "{name} was not listed yet at {}: it is listed from {}",
                rfc3339_text(at),
                rfc3339_text(listed_from)
            ),
        }),
        Listing::Removed { removed_at, .. } => Err(ApiError::NotListed {
            code: "removed",
            message: format!(
                "{name} was not listed at {}: it was removed at {}",
                rfc3339_text(at),
                rfc3339_text(removed_at)
            ),
        }),
        Listing::Listed { .. } => Ok(Model::at_instant(card, at)),
    }
}

/// `GET /v1/pricing/history?provider=&model=&since=&limit=&cursor=`
#[utoipa::path(
    tag = "read",
    summary = "Price history",
    description = "Changes of price components, oldest first, a page at a time.",
    params(HistoryParams, IfNoneMatch),
    responses(
        (status = 200, description = "A page of changes.", body = HistoryPage, headers(
            ("ETag" = String, description = "Weak tag of the body."),
            ("Cache-Control" = String, description = "`no-cache`: revalidate with If-None-Match."))),
        (status = 304, description = "Unchanged since the tag sent in If-None-Match."),
        (status = 400, description = "A bad or unknown query parameter.", body = ErrorBody),
    )
)]
#[get("/v1/pricing/history")]
pub(crate) async fn history(
    store: web::Data<Store>,
    params: web::Query<HistoryParams>,
) -> Result<Cached<HistoryPage>, ApiError> {
    let since = time_param("since", params.since.as_deref())?;
    let after_id = params
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                ApiError::bad_parameter(
                    "cursor",
                    format!("{c:?} is not valid; pass the next_cursor of the previous page"),
                )
            })
        })
        .transpose()?;
    let page = store
        .price_history(&HistoryQuery {
            provider: super::params::provider(params.provider.as_deref())?,
            model: model_param(params.model.as_deref())?,
            since,
            limit: super::params::limit(params.limit.as_deref(), DEFAULT_LIMIT)?,
            after_id,
        })
        .await?;
    Ok(Cached(page.into()))
}
