//! Prices inside the gateway: a copy of every pricesync price card in
//! memory, kept current from the server's change feed, priced with the
//! domain's [`pricesync_domain::cost`] — the same function the server uses,
//! so the same answer to the last decimal, with no network on the hot path.
//!
//! [`Client::connect`] loads the catalogue once (`GET
//! /v1/pricing/catalogue`, every current card with its feed cursor) and
//! starts a background task that long-polls `GET
//! /v1/pricing/changes?after=<cursor>&wait=30` and swaps in a new copy for
//! each page (readers keep the copy they hold; a change replaces only the
//! cards it names). When the server is unreachable, the last good copy
//! keeps answering and [`Client::status`] / [`Client::is_stale`] say so;
//! the task retries and follows again when the server is back. When the
//! server says the cursor expired (`410 cursor_expired`), it reloads the
//! catalogue.
//!
//! # A gateway pricing a request
//!
//! ```no_run
//! use pricesync_client::{Client, ClientOptions, PriceError};
//! use pricesync_domain::Usage;
//! use time::OffsetDateTime;
//!
//! # async fn gateway() -> Result<(), Box<dyn std::error::Error>> {
//! // Once, at start.
//! let prices = Client::connect("http://pricesync:8080", ClientOptions::default()).await?;
//!
//! // Per request, after the provider answered: OpenAI-style usage counts.
//! let usage = Usage {
//!     cache_read_tokens: 1_200,
//!     ..Usage::tokens(3_000, 450)
//! };
//! match prices.cost("openrouter", "anthropic/claude-sonnet-4.5", &usage, OffsetDateTime::now_utc()) {
//!     Ok(breakdown) => println!("bill {} USD", breakdown.total_usd),
//!     // Never a silent zero: dynamic or unknown prices, a removed model…
//!     Err(PriceError::UnknownModel { .. }) => eprintln!("not a model pricesync knows"),
//!     Err(e) => eprintln!("cannot price it ({}): {e}", e.code()),
//! }
//! if prices.is_stale() {
//!     // Still the last good prices; alert on it.
//!     eprintln!("pricesync prices are {:?} old: {:?}", prices.staleness(), prices.status().last_error);
//! }
//! # Ok(())
//! # }
//! ```

mod client;
mod copy;
mod error;
mod wire;

pub use client::{Client, ClientOptions, SyncStatus};
pub use error::{ClientError, PriceError};
pub use pricesync_domain::{CostBreakdown, Usage};
