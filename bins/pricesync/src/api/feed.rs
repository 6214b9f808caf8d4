//! The catalogue and its change feed, for clients that keep a copy of every
//! current card (`pricesync-client`): load `GET /v1/pricing/catalogue`,
//! then follow `GET /v1/pricing/changes?after=<its cursor>&wait=30`.
//!
//! **No gap between load and follow.** The cursor is a price history id.
//! Catalogue writes take the catalogue's row lock as their first statement
//! (`pricesync_store`'s `CatalogueWrites`), so history ids are taken in
//! commit order: once an id is visible, every smaller id that will ever
//! exist is too. The catalogue's cursor is the latest id read *before* its
//! cards, so the cards hold every change up to it; the feed sends every
//! change after it. A change committed during the load may be both in the
//! cards and in the feed: a card replaces a card, so applying it twice is
//! harmless.
//!
//! **Expired cursors.** Price history is never pruned today (only jobs are,
//! `PRICESYNC_JOB_RETENTION_DAYS`). A cursor is valid when it is 0 (the
//! beginning) or names an existing history entry; anything else, a cursor
//! of another database, of a database restored from an older backup, or of
//! entries pruned by hand, is `410 cursor_expired`: the client reloads the
//! catalogue. A pruning added later keeps this rule as it is, as long as
//! it never deletes the latest entry.

use std::time::Duration;

use actix_web::{get, web};
use pricesync_store::{CardRequest, HistoryQuery, Store};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use super::types::feed::{CatalogueAnswer, ChangePage, FeedCard};
use super::types::read::HistoryEntry;
use crate::catalogue::Catalogue;
use crate::changes::ChangeSignal;

/// The longest long poll, in seconds.
pub(crate) const MAX_WAIT_SECS: u64 = 60;
const DEFAULT_LIMIT: u32 = 1000;

/// Query of `GET /v1/pricing/changes`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ChangesParams {
    /// The `cursor` of `GET /v1/pricing/catalogue` or of the previous page;
    /// 0 for every change since the beginning.
    #[param(value_type = String, example = "1234")]
    after: Option<String>,
    /// Seconds to wait for a change when there is none yet (0 to 60;
    /// default 0: answer at once). The answer comes as soon as a change
    /// commits.
    #[param(value_type = Option<u64>, minimum = 0, maximum = 60)]
    wait: Option<String>,
    /// At most this many changes (1 to 1000; default 1000).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// An instant after every change a database can hold: the card at it is
/// the card as it is now, whatever the skew between this process's clock
/// and the database's.
const LATEST: OffsetDateTime = time::macros::datetime!(9999-12-31 23:59:59 UTC);

fn cursor_param(value: Option<&str>) -> Result<i64, ApiError> {
    let text = value.ok_or_else(|| {
        ApiError::bad_parameter(
            "after",
            "is required: pass the cursor of GET /v1/pricing/catalogue, or 0",
        )
    })?;
    match text.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n),
        _ => Err(ApiError::bad_parameter(
            "after",
            format!("{text:?} is not a cursor (a whole number, 0 or more)"),
        )),
    }
}

fn wait_param(value: Option<&str>) -> Result<Duration, ApiError> {
    match value {
        None => Ok(Duration::ZERO),
        Some(text) => match text.parse::<u64>() {
            Ok(n) if n <= MAX_WAIT_SECS => Ok(Duration::from_secs(n)),
            _ => Err(ApiError::bad_parameter(
                "wait",
                format!("{text:?} is not a whole number of seconds from 0 to {MAX_WAIT_SECS}"),
            )),
        },
    }
}

/// `GET /v1/pricing/catalogue`
#[utoipa::path(
    tag = "read",
    summary = "Every current price card, with the change feed cursor that follows it",
    description = "Every model's current price card (active and removed), as the cost function \
        reads it, from the server's in-memory copy, and `cursor`: follow \
        `GET /v1/pricing/changes?after=<cursor>` to keep the copy current. The cards hold every \
        change up to the cursor, so no change falls between the load and the feed.",
    responses(
        (status = 200, description = "The catalogue.", body = CatalogueAnswer),
    )
)]
#[get("/v1/pricing/catalogue")]
pub(crate) async fn load_catalogue(
    copy: web::Data<Catalogue>,
) -> Result<web::Json<CatalogueAnswer>, ApiError> {
    let snapshot = copy.snapshot().await?;
    let mut cards: Vec<FeedCard> = snapshot.cards().map(|c| FeedCard::from(&**c)).collect();
    cards.sort_by(|a, b| (&a.provider, &a.model_id).cmp(&(&b.provider, &b.model_id)));
    Ok(web::Json(CatalogueAnswer {
        cursor: snapshot.history_cursor().to_string(),
        cards,
    }))
}

/// `GET /v1/pricing/changes?after=&wait=&limit=`
#[utoipa::path(
    tag = "read",
    summary = "Price changes after a cursor (long poll)",
    description = "Price changes (history entries: provider, model, component, old and new \
        price, time, sync) committed after `after`, in commit order, with the current card of \
        each model they name. With `wait`, when there is no change yet, the answer waits up to \
        that many seconds and comes as soon as one commits, on this replica or another. Pass \
        the answer's `cursor` as the next `after`. A cursor that names no retained history \
        entry is `410 cursor_expired`: reload `GET /v1/pricing/catalogue`.",
    params(ChangesParams),
    responses(
        (status = 200, description = "The changes (none when `wait` ran out).", body = ChangePage),
        (status = 400, description = "A missing or bad `after`, or a bad `wait` or `limit`.",
            body = ErrorBody),
        (status = 410, description = "`cursor_expired`: the cursor is past the retained \
            history; reload the catalogue.", body = ErrorBody),
    )
)]
#[get("/v1/pricing/changes")]
pub(crate) async fn changes(
    store: web::Data<Store>,
    signal: web::Data<ChangeSignal>,
    params: web::Query<ChangesParams>,
) -> Result<web::Json<ChangePage>, ApiError> {
    let after = cursor_param(params.after.as_deref())?;
    let wait = wait_param(params.wait.as_deref())?;
    let limit = super::params::limit(params.limit.as_deref(), DEFAULT_LIMIT)?;
    if after != 0 && !store.history_entry_exists(after).await? {
        return Err(ApiError::Gone {
            code: "cursor_expired",
            message: format!(
                "cursor {after} names no retained price change (another database, a restore, \
                 or pruned history): reload GET /v1/pricing/catalogue and follow its cursor"
            ),
        });
    }
    let deadline = tokio::time::Instant::now() + wait;
    // Subscribed before the first read: a commit between the read and the
    // wait still wakes it.
    let mut ticks = signal.subscribe();
    let page = loop {
        ticks.borrow_and_update();
        let page = store
            .price_history(&HistoryQuery {
                after_id: Some(after),
                limit,
                ..HistoryQuery::default()
            })
            .await?;
        if !page.entries.is_empty() || tokio::time::Instant::now() >= deadline {
            break page;
        }
        tokio::select! {
            changed = ticks.changed() => {
                if changed.is_err() {
                    tokio::time::sleep_until(deadline).await;
                }
            }
            _ = tokio::time::sleep_until(deadline) => {}
            _ = signal.stopping().cancelled() => break page,
        }
    };
    let more = page.next_cursor.is_some();
    let Some(last) = page.entries.last().map(|e| e.id) else {
        return Ok(web::Json(ChangePage {
            changes: Vec::new(),
            cards: Vec::new(),
            cursor: after.to_string(),
            more: false,
        }));
    };
    // The current cards of the models the page names, read now in one
    // query (they hold every change up to `last`; a later one they may
    // hold too is sent again with its entry, and a card replaces a card).
    // Not from the in-memory catalogue: waiting for its reload of every
    // model would delay each change by that reload.
    let mut seen = std::collections::HashSet::new();
    let named: Vec<(&str, &str)> = page
        .entries
        .iter()
        .map(|entry| (entry.provider.as_str(), entry.model_id.as_str()))
        .filter(|name| seen.insert(*name))
        .collect();
    let asked: Vec<CardRequest<'_>> = named
        .iter()
        .map(|(provider, model_id)| CardRequest {
            provider,
            model_id,
            at: LATEST,
        })
        .collect();
    let cards = store
        .cards_at(&asked)
        .await?
        .into_iter()
        .flatten()
        .map(|card| FeedCard {
            provider: card.provider.clone(),
            model_id: card.model_id.clone(),
            card: card.price_card(),
        })
        .collect();
    Ok(web::Json(ChangePage {
        changes: page.entries.into_iter().map(HistoryEntry::from).collect(),
        cards,
        cursor: last.to_string(),
        more,
    }))
}
