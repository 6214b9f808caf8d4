//! Pure price types and rules of pricesync. No I/O lives here.
//!
//! This crate owns what a price *is* and the rules about it:
//! - identifiers ([`ProviderId`], [`ModelId`]);
//! - exact prices ([`UsdPerUnit`], never a float), [`Meter`]s and
//!   long-context bands ([`PriceComponent::min_prompt_tokens`]);
//! - the one place that converts provider units to the canonical
//!   "USD per single unit" ([`PriceUnit`]);
//! - validation of a fetched list with magnitude bounds that catch unit
//!   mix-ups ([`ValidationPolicy`], [`SkipReason`]);
//! - the diff of a stored list against a fetched one ([`diff_price_lists`]),
//!   with the shrink guard that refuses mass removals, and the hold on
//!   implausible price moves ([`HoldPolicy`]);
//! - UTC time-of-day windows of a price ([`TimeWindow`]);
//! - what a request cost, exactly, at the time it ran ([`cost`]);
//! - when a schedule runs: an interval or a cron expression in UTC
//!   ([`Cadence`], [`CronSchedule`]);
//! - the states of a sync job ([`JobState`]);
//! - how a webhook delivery is signed and verified ([`webhook`]).
//!
//! Every constructor that takes outside data returns a `Result`; nothing in
//! this crate panics on bad input.

mod cost;
mod diff;
mod hold;
mod ids;
mod job;
mod offering;
mod price;
mod schedule;
mod units;
mod validation;
pub mod webhook;
mod window;

pub use cost::{
    cost, CardComponent, CostBreakdown, CostError, CostErrorKind, CostLine, PriceCard, Usage,
};
pub use diff::{
    apply_diff, component_diff, diff_price_lists, ComponentChange, ComponentChangeKind,
    DiffComponent, DiffEntry, ModelChange, ModelChangeKind, PriceDiff, ShrinkGuard,
    SuppressedRemoval,
};
pub use hold::{hold_implausible_changes, HeldChange, HoldFactorError, HoldPolicy};
pub use ids::{IdError, ModelId, ProviderId};
pub use job::{JobState, ParseStateError, ProviderRunStatus};
pub use offering::{
    ModelOffering, ModelStatus, OfferingError, PriceSource, PricingKind, StoredOffering,
};
pub use price::{ComponentKey, Meter, MeterUnit, PriceComponent, PriceError, UsdPerUnit};
pub use schedule::{Cadence, CronSchedule, CronScheduleError};
pub use units::{parse_decimal, scale_down, PriceUnit, UnitError};
pub use validation::{
    validate_offering, validate_price_list, MagnitudeBounds, RawOffering, RawPricing, SkipReason,
    SkippedModel, ValidatedList, ValidationPolicy,
};
pub use window::{day_and_minute, TimeWindow, WindowError, MINUTES_PER_DAY};

/// Re-exported so users of the domain name the same decimal type.
pub use rust_decimal::Decimal;
