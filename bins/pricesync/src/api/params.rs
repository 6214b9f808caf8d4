//! Parameters shared by the read and admin routes: page sizes, provider
//! names and ids, refused with a 400 that names the parameter (or, for an
//! id in the path, `invalid_id`).

use pricesync_domain::ProviderId;
use uuid::Uuid;

use super::error::ApiError;

/// `limit`: a whole number from 1 to 1000, `default` when absent.
pub(crate) fn limit(value: Option<&str>, default: u32) -> Result<u32, ApiError> {
    match value {
        None => Ok(default),
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_parameter(
                "limit",
                format!("{text:?} is not a whole number from 1 to 1000"),
            )),
        },
    }
}

/// `provider`: a provider name, if given.
pub(crate) fn provider(value: Option<&str>) -> Result<Option<ProviderId>, ApiError> {
    value
        .map(|v| ProviderId::parse(v).map_err(|e| ApiError::bad_parameter("provider", e)))
        .transpose()
}

/// A query parameter that is a UUID, if given.
pub(crate) fn uuid(name: &str, value: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    value
        .map(|v| {
            Uuid::parse_str(v)
                .map_err(|_| ApiError::bad_parameter(name, format!("{v:?} is not a UUID")))
        })
        .transpose()
}

/// The id in a path of a `what` (`"held change"`, `"webhook"`, …): a UUID,
/// or a 400 `invalid_id`.
pub(crate) fn path_id(text: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::BadRequest {
        code: "invalid_id",
        message: format!("{text:?} is not a {what} id (a UUID)"),
    })
}
