//! The read API for the gateway: current prices and their history.
//!
//! Answers carry a weak `ETag` computed from the body and
//! `Cache-Control: no-cache`, so caches revalidate and get `304 Not Modified`
//! while prices are unchanged.

use std::hash::{Hash, Hasher};

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use pricesync_domain::ProviderId;
use pricesync_store::{HistoryQuery, ModelCursor, ModelQuery, StatusFilter, Store};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::ApiError;

const DEFAULT_LIMIT: u32 = 100;

/// Query of `GET /v1/pricing/models`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsParams {
    provider: Option<String>,
    model: Option<String>,
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// Query of `GET /v1/pricing/history`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    provider: Option<String>,
    model: Option<String>,
    since: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

fn provider_param(value: Option<&str>) -> Result<Option<ProviderId>, ApiError> {
    value
        .map(|v| ProviderId::parse(v).map_err(|e| ApiError::bad_parameter("provider", e)))
        .transpose()
}

fn limit_param(value: Option<&str>) -> Result<u32, ApiError> {
    match value {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_parameter(
                "limit",
                format!("{text:?} is not a whole number from 1 to 1000"),
            )),
        },
    }
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

/// Answers `value` as JSON with an ETag, or 304 when the client has it.
fn cached_json<T: Serialize>(request: &HttpRequest, value: &T) -> Result<HttpResponse, ApiError> {
    let body = serde_json::to_vec(value).map_err(|e| {
        tracing::error!(error = %e, "cannot serialise a response");
        ApiError::Internal
    })?;
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
        Ok(response.finish())
    } else {
        Ok(response.content_type("application/json").body(body))
    }
}

/// `GET /v1/pricing/models?provider=&model=&status=&limit=&cursor=`
#[get("/v1/pricing/models")]
pub async fn list_models(
    request: HttpRequest,
    store: web::Data<Store>,
    params: web::Query<ModelsParams>,
) -> Result<HttpResponse, ApiError> {
    let status = match params.status.as_deref() {
        None => StatusFilter::Active,
        Some(text) => text
            .parse()
            .map_err(|e: String| ApiError::bad_parameter("status", e))?,
    };
    let after = params
        .cursor
        .as_deref()
        .map(|c| ModelCursor::parse(c).map_err(|e| ApiError::bad_parameter("cursor", e)))
        .transpose()?;
    let page = store
        .list_models(&ModelQuery {
            provider: provider_param(params.provider.as_deref())?,
            model: model_param(params.model.as_deref())?,
            status,
            limit: limit_param(params.limit.as_deref())?,
            after,
        })
        .await?;
    cached_json(&request, &page)
}

/// `GET /v1/pricing/models/{provider}/{model_id}`; the model id may hold
/// slashes (`anthropic/claude-sonnet-4.5`).
#[get("/v1/pricing/models/{provider}/{model_id:.+}")]
pub async fn get_model(
    request: HttpRequest,
    store: web::Data<Store>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (provider, model_id) = path.into_inner();
    let provider = ProviderId::parse(&provider).map_err(|e| ApiError::BadRequest {
        code: "invalid_provider",
        message: format!("provider in the path: {e}"),
    })?;
    let model = store
        .get_model(&provider, &model_id)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no model {model_id:?} is known for provider {provider}"
            ))
        })?;
    cached_json(&request, &model)
}

/// `GET /v1/pricing/history?provider=&model=&since=&limit=&cursor=`
#[get("/v1/pricing/history")]
pub async fn history(
    request: HttpRequest,
    store: web::Data<Store>,
    params: web::Query<HistoryParams>,
) -> Result<HttpResponse, ApiError> {
    let since = params
        .since
        .as_deref()
        .map(|text| {
            OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
                ApiError::bad_parameter(
                    "since",
                    format!("{text:?} is not an RFC 3339 time such as 2026-01-31T12:00:00Z"),
                )
            })
        })
        .transpose()?;
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
            provider: provider_param(params.provider.as_deref())?,
            model: model_param(params.model.as_deref())?,
            since,
            limit: limit_param(params.limit.as_deref())?,
            after_id,
        })
        .await?;
    cached_json(&request, &page)
}
