//! Paged listings: the one loop that follows a provider's pages (used by
//! Featherless and NEAR AI, and by any fetcher an embedder writes).
//!
//! Rules, in order, after each page:
//! 1. An empty page ends the listing.
//! 2. When the provider states its total, the listing ends once that many
//!    entries have arrived. A short page before that does not end it: the
//!    provider may cap the page size below the one asked for.
//! 3. Without a total, a page shorter than the size asked for is the last.
//!    A page *longer* than asked for means the provider ignored the limit
//!    and sent its whole list: it is the last too.
//! 4. A page with the same entries as the page before means the provider
//!    ignores the paging parameters; the listing would never end, so the
//!    fetch fails rather than return a list it cannot vouch for.
//! 5. A listing that has not ended after [`HttpPolicy::max_pages`] pages
//!    fails: a partial list would look like mass removals.
//!
//! Each page's body is dropped once parsed, so memory holds the models read
//! so far and one page, not every page's text.
//!
//! [`HttpPolicy::max_pages`]: crate::HttpPolicy::max_pages

use std::hash::{DefaultHasher, Hash, Hasher};

use url::Url;

use crate::{FetchError, FetchedList, HttpClient};

/// One page of a paged listing, as a provider module parsed it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The models read from this page and the entries skipped.
    pub list: FetchedList,
    /// How many entries the page held, readable or not: it decides whether
    /// the page was the last.
    pub entries: usize,
    /// The size of the whole listing, when the provider states it.
    pub total: Option<u64>,
}

/// How a listing asks for its pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// Numbered pages: `?{page}=first&{limit}=size`, then `first + 1`, …
    Numbered {
        /// The page number's query parameter.
        page: &'static str,
        /// The page size's query parameter.
        limit: &'static str,
        /// The number of the first page (0 or 1).
        first: u64,
        /// Entries asked for per page.
        size: u32,
    },
    /// Offsets: `?{offset}=0&{limit}=size`, then the number of entries
    /// received so far (not `size`: a provider that caps the page size
    /// would otherwise make the listing skip entries).
    Offset {
        /// The offset's query parameter.
        offset: &'static str,
        /// The page size's query parameter.
        limit: &'static str,
        /// Entries asked for per page.
        size: u32,
    },
}

impl Paging {
    /// Entries asked for per page (at least 1).
    pub fn size(&self) -> u32 {
        match *self {
            Paging::Numbered { size, .. } | Paging::Offset { size, .. } => size.max(1),
        }
    }

    /// The URL of the page with index `index` (0-based), `received` entries
    /// having arrived so far.
    fn url(&self, base: &Url, index: u32, received: u64) -> Url {
        let mut url = base.clone();
        let size = self.size().to_string();
        match *self {
            Paging::Numbered {
                page, limit, first, ..
            } => {
                let number = first.saturating_add(u64::from(index));
                url.query_pairs_mut()
                    .append_pair(page, &number.to_string())
                    .append_pair(limit, &size);
            }
            Paging::Offset { offset, limit, .. } => {
                url.query_pairs_mut()
                    .append_pair(offset, &received.to_string())
                    .append_pair(limit, &size);
            }
        }
        url
    }
}

/// Whether the page just read was the last (rules 1 to 3 of the module).
fn is_last(entries: usize, size: u32, total: Option<u64>, received: u64) -> bool {
    if entries == 0 {
        return true;
    }
    match total {
        Some(total) => received >= total,
        None => entries != size as usize,
    }
}

/// A fingerprint of a page's entries, to notice a page served twice.
fn fingerprint(page: &Page) -> u64 {
    let mut hasher = DefaultHasher::new();
    page.entries.hash(&mut hasher);
    for model in &page.list.models {
        model.provider_model_id.hash(&mut hasher);
    }
    for skipped in &page.list.skipped {
        skipped.provider_model_id.hash(&mut hasher);
    }
    hasher.finish()
}

/// GETs every page of the listing at `url` through `http` (so each page
/// gets the whole HTTP policy: retries, `Retry-After`, body cap) and joins
/// what `parse` reads from each.
pub async fn fetch_all_pages(
    http: &HttpClient,
    url: &Url,
    bearer: Option<&str>,
    paging: Paging,
    parse: impl Fn(&[u8]) -> Result<Page, FetchError>,
) -> Result<FetchedList, FetchError> {
    let max_pages = http.policy().max_pages.max(1);
    let size = paging.size();
    let mut all = FetchedList::default();
    let mut received: u64 = 0;
    let mut previous: Option<u64> = None;
    for index in 0..max_pages {
        let page = {
            let body = http
                .get_bytes(&paging.url(url, index, received), bearer)
                .await?;
            parse(&body)?
        };
        if page.entries > 0 {
            let this = fingerprint(&page);
            if previous == Some(this) {
                return Err(FetchError::Malformed(format!(
                    "page {} repeats page {index}: the provider ignores the paging parameters",
                    index + 1
                )));
            }
            previous = Some(this);
        }
        received = received.saturating_add(page.entries as u64);
        let last = is_last(page.entries, size, page.total, received);
        if last && page.entries == 0 && page.total.is_some_and(|t| received < t) {
            tracing::warn!(
                url = %url,
                received,
                total = page.total,
                "the listing ended before the total it stated"
            );
        }
        all.models.extend(page.list.models);
        all.skipped.extend(page.list.skipped);
        if last {
            return Ok(all);
        }
    }
    Err(FetchError::Malformed(format!(
        "the listing did not end within {max_pages} pages (HttpPolicy::max_pages)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_page_is_recognised() {
        // Without a total: short or oversized pages end the listing.
        assert!(!is_last(100, 100, None, 100));
        assert!(is_last(40, 100, None, 140));
        assert!(is_last(22_000, 1000, None, 22_000));
        assert!(is_last(0, 100, None, 300));
        // With a total: only reaching it (or an empty page) ends it.
        assert!(!is_last(20, 100, Some(48), 20), "capped page size");
        assert!(is_last(8, 100, Some(48), 48));
        assert!(is_last(100, 100, Some(100), 100));
        assert!(is_last(0, 100, Some(48), 40));
    }

    #[test]
    fn page_urls_carry_the_parameters() {
        let base = Url::parse("http://127.0.0.1:9/v1/models").expect("url");
        let numbered = Paging::Numbered {
            page: "page",
            limit: "limit",
            first: 1,
            size: 500,
        };
        assert_eq!(
            numbered.url(&base, 2, 1000).as_str(),
            "http://127.0.0.1:9/v1/models?page=3&limit=500"
        );
        let offset = Paging::Offset {
            offset: "offset",
            limit: "limit",
            size: 0,
        };
        assert_eq!(offset.size(), 1, "a zero size would never advance");
        assert_eq!(
            offset.url(&base, 2, 37).as_str(),
            "http://127.0.0.1:9/v1/models?offset=37&limit=1"
        );
    }
}
