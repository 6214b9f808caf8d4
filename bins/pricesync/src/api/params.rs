//! Query parameters shared by the read and admin routes: page sizes and
//! provider names, refused with a 400 that names the parameter.

use pricesync_domain::ProviderId;

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
