//! `POST /v1/pricing/cost`: what one usage, or up to 1000, cost.
//!
//! Public like the read API. The body is one usage or `{items: [...]}`
//! (see [`CostRequest`]); usages without `at` are priced now from the
//! in-memory catalogue, usages with `at` from the price history in one
//! query per request ([`crate::pricing`]).

use actix_web::{post, web};
use futures_util::StreamExt;
use pricesync_store::Store;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use super::types::cost::{
    CostBatchAnswer, CostItemResult, CostRequest, CostResponse, MAX_COST_ITEMS,
};
use crate::catalogue::Catalogue;
use crate::pricing::{Pricer, Pricing, PricingError};

/// The largest body the cost route reads: a batch of 1000 usages with every
/// counter set fits with room to spare.
pub(crate) const MAX_COST_BODY_BYTES: usize = 1024 * 1024;

/// The most decimal places `round` takes.
const MAX_ROUND: u32 = 18;

/// Query of `POST /v1/pricing/cost`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct CostParams {
    /// Also give each total rounded to this many decimal places (0 to 18),
    /// half away from zero, as `total_usd_rounded`. `total_usd` stays exact.
    #[param(value_type = Option<u32>, minimum = 0, maximum = 18, example = 6)]
    round: Option<String>,
}

fn round_param(value: Option<&str>) -> Result<Option<u32>, ApiError> {
    value
        .map(|text| match text.parse::<u32>() {
            Ok(n) if n <= MAX_ROUND => Ok(n),
            _ => Err(ApiError::bad_parameter(
                "round",
                format!("{text:?} is not a whole number from 0 to {MAX_ROUND}"),
            )),
        })
        .transpose()
}

fn bad_body(message: String) -> ApiError {
    ApiError::BadRequest {
        code: "invalid_body",
        message,
    }
}

/// Reads the body up to [`MAX_COST_BODY_BYTES`] (413 beyond).
async fn read_body(mut payload: web::Payload) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| bad_body(format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > MAX_COST_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge(MAX_COST_BODY_BYTES));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl From<PricingError> for ApiError {
    fn from(error: PricingError) -> Self {
        let code = error.code();
        match error {
            PricingError::UnknownModel(message) => ApiError::NotListed { code, message },
            PricingError::Cost(e) => ApiError::CannotPrice {
                code,
                message: e.to_string(),
            },
        }
    }
}

/// `POST /v1/pricing/cost?round=`
#[utoipa::path(
    tag = "read",
    summary = "What usages cost",
    description = "Prices one usage (`{provider, model, usage, at?}`), or up to 1000 \
        (`{items: [...]}`) answered in order, each with its own result. A usage without `at` \
        is priced now with the server's in-memory copy of the current prices; with `at`, with \
        the price card of that instant from the price history. Amounts are exact decimal \
        strings. One usage's error (unknown model, dynamic, subscription or unknown pricing, \
        not listed at `at`, a count without a price, inconsistent counts) never fails the \
        others; for a single usage it is the answer's status (404 `unknown_model`, 422 with \
        the cost error's code). Body at most 1 MiB.",
    params(CostParams),
    request_body(content = CostRequest, description = "One usage, or `items` with 1 to 1000."),
    responses(
        (status = 200, description = "The cost of the usage, or the results of a batch (one \
            per usage, in order: `{\"ok\": ...}` or `{\"error\", \"message\"}`).",
            body = CostResponse),
        (status = 400, description = "A malformed body (`invalid_body`: not JSON, an unknown \
            field, a bad `at`, more than 1000 items) or query parameter.", body = ErrorBody),
        (status = 404, description = "One usage: the model is not known (`unknown_model`).",
            body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB.", body = ErrorBody),
        (status = 422, description = "One usage that cannot be priced: `dynamic_pricing`, \
            `subscription_pricing`, `unknown_pricing`, `not_listed_yet`, `removed`, \
            `unpriced_meter`, `inconsistent_usage`, `overflow`.", body = ErrorBody),
    )
)]
#[post("/v1/pricing/cost")]
pub(crate) async fn cost(
    store: web::Data<Store>,
    catalogue: web::Data<Catalogue>,
    params: web::Query<CostParams>,
    payload: web::Payload,
) -> Result<web::Json<CostResponse>, ApiError> {
    let round = round_param(params.round.as_deref())?;
    let body = read_body(payload).await?;
    let request: CostRequest =
        serde_json::from_slice(&body).map_err(|e| bad_body(format!("invalid JSON body: {e}")))?;
    let pricer = Pricer {
        store: &store,
        catalogue: Some(&catalogue),
        round,
    };
    match request {
        CostRequest::One(item) => {
            let usage = Pricing::from_item(&item).map_err(bad_body)?;
            let result = pricer
                .price(std::slice::from_ref(&usage))
                .await?
                .pop()
                .ok_or_else(|| ApiError::Internal("no answer for the usage".into()))?;
            Ok(web::Json(CostResponse::One(result?)))
        }
        CostRequest::Batch(batch) => {
            if batch.items.is_empty() {
                return Err(bad_body("items is empty: send 1 to 1000 usages".to_owned()));
            }
            if batch.items.len() > MAX_COST_ITEMS {
                return Err(bad_body(format!(
                    "too many items: {}; at most {MAX_COST_ITEMS} per request",
                    batch.items.len()
                )));
            }
            let usages = batch
                .items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    Pricing::from_item(item).map_err(|e| bad_body(format!("items[{i}].{e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let items = pricer
                .price(&usages)
                .await?
                .into_iter()
                .map(|result| match result {
                    Ok(ok) => CostItemResult::Ok { ok },
                    Err(e) => CostItemResult::Error(ErrorBody::new(e.code(), e.to_string())),
                })
                .collect();
            Ok(web::Json(CostResponse::Batch(CostBatchAnswer { items })))
        }
    }
}
