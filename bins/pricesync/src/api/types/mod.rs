//! Every body the HTTP API reads or writes, one module per area. Each type
//! derives `Serialize` and `ToSchema`, so the JSON the server sends and the
//! OpenAPI document are written once, here; each is built from store or
//! engine values with `From`. The CLI's `--json` output uses the same types.

pub mod admin;
pub mod cost;
pub mod feed;
pub mod ops;
pub mod read;
pub mod review;
pub mod webhooks;

/// RFC 3339 times, as every API time is written.
pub(crate) use time::serde::rfc3339;

pub use crate::api::error::ErrorBody;

/// Cuts `records`, read with one more than `limit` (the extra one says
/// another page exists), to the page, and gives the page's `next_cursor`:
/// `cursor` of its last record, or `None` on the last page.
pub(crate) fn take_page<T, C>(
    records: &mut Vec<T>,
    limit: usize,
    cursor: impl FnOnce(&T) -> C,
) -> Option<C> {
    if records.len() <= limit {
        return None;
    }
    records.truncate(limit);
    records.last().map(cursor)
}
