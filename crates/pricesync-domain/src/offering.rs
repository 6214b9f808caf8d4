//! A model as one provider offers it, with its pricing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{ComponentKey, ModelId, PriceComponent};

/// How a model is priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PricingKind {
    /// Priced per unit; at least one component is non-zero.
    Metered,
    /// Every component is zero.
    Free,
    /// The price varies per request (OpenRouter's `"-1"`, routers such as
    /// `openrouter/auto`). There is no number to do arithmetic with.
    Dynamic,
    /// Billed by a subscription plan, not per unit (Featherless).
    Subscription,
    /// The provider lists the model without a price.
    Unknown,
}

impl PricingKind {
    /// Every kind.
    pub const ALL: [PricingKind; 5] = [
        PricingKind::Metered,
        PricingKind::Free,
        PricingKind::Dynamic,
        PricingKind::Subscription,
        PricingKind::Unknown,
    ];

    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            PricingKind::Metered => "metered",
            PricingKind::Free => "free",
            PricingKind::Dynamic => "dynamic",
            PricingKind::Subscription => "subscription",
            PricingKind::Unknown => "unknown",
        }
    }

    /// Whether a model of this kind carries price components.
    pub fn has_components(self) -> bool {
        matches!(self, PricingKind::Metered | PricingKind::Free)
    }
}

impl FromStr for PricingKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        PricingKind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| format!("unknown pricing kind {text:?}"))
    }
}

impl fmt::Display for PricingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a price came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PriceSource {
    /// The provider's API.
    Api,
    /// A maintained price table (providers without a price API).
    Manual,
}

impl PriceSource {
    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            PriceSource::Api => "api",
            PriceSource::Manual => "manual",
        }
    }
}

impl FromStr for PriceSource {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "api" => Ok(PriceSource::Api),
            "manual" => Ok(PriceSource::Manual),
            other => Err(format!("unknown price source {other:?}")),
        }
    }
}

/// Whether a stored model is still offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ModelStatus {
    /// In the provider's latest list.
    Active,
    /// Missing from the provider's list; kept with its last prices and history.
    Removed,
}

impl ModelStatus {
    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelStatus::Active => "active",
            ModelStatus::Removed => "removed",
        }
    }
}

impl FromStr for ModelStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "active" => Ok(ModelStatus::Active),
            "removed" => Ok(ModelStatus::Removed),
            other => Err(format!(
                "unknown model status {other:?}; known: active, removed"
            )),
        }
    }
}

/// Time-of-day prices must say which price applies at every minute: the
/// windows of one meter and band may not overlap, and without a price for
/// any time they must cover the whole week. `components` is sorted by key,
/// so one meter and band's components are adjacent, the any-time one first.
fn check_windows(components: &[PriceComponent]) -> Result<(), OfferingError> {
    for group in
        components.chunk_by(|a, b| (a.meter, a.min_prompt_tokens) == (b.meter, b.min_prompt_tokens))
    {
        let windowed: Vec<(ComponentKey, crate::TimeWindow)> = group
            .iter()
            .filter_map(|c| c.window.map(|w| (c.key(), w)))
            .collect();
        if windowed.is_empty() {
            continue;
        }
        for (i, (key_a, a)) in windowed.iter().enumerate() {
            if let Some((key_b, _)) = windowed[i + 1..].iter().find(|(_, b)| a.overlaps(*b)) {
                return Err(OfferingError::OverlappingWindows(*key_a, *key_b));
            }
        }
        let any_time = group.iter().any(|c| c.window.is_none());
        let windows: Vec<crate::TimeWindow> = windowed.iter().map(|(_, w)| *w).collect();
        if !any_time && !crate::TimeWindow::cover_the_week(&windows) {
            let key = group[0].key();
            return Err(OfferingError::UncoveredTime(ComponentKey {
                window: None,
                ..key
            }));
        }
    }
    Ok(())
}

/// The display name as stored, or `None` when it is not acceptable text
/// (see [`ModelOffering::with_display_name`]).
fn clean_display_name(name: String) -> Option<String> {
    let spaced: String = name
        .chars()
        .map(|c| {
            if matches!(c, '\t' | '\n' | '\r') {
                ' '
            } else {
                c
            }
        })
        .collect();
    let trimmed = spaced.trim();
    let acceptable = !trimmed.is_empty()
        && trimmed.len() <= ModelOffering::MAX_DISPLAY_NAME_LEN
        && !trimmed.chars().any(char::is_control);
    acceptable.then(|| trimmed.to_owned())
}

/// Why an offering could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfferingError {
    /// A metered model needs at least one price component.
    #[error("a metered model needs at least one price component")]
    NoComponents,
    /// Two components share a meter, band and window.
    #[error("two prices for {0}")]
    DuplicateComponent(ComponentKey),
    /// Two time-of-day windows of one meter and band overlap.
    #[error("time-of-day prices overlap: {0} and {1}")]
    OverlappingWindows(ComponentKey, ComponentKey),
    /// Time-of-day windows leave part of the day without a price, and no
    /// price applies at any time.
    #[error("the time-of-day prices of {0} leave part of the day without a price")]
    UncoveredTime(ComponentKey),
    /// Only metered and free models carry components.
    #[error("a {0} model carries no price components")]
    KindWithoutComponents(PricingKind),
}

/// A model as one provider offers it. The pricing kind and the components
/// agree by construction: metered and free models have components (free
/// ones all zero), the other kinds have none. Components are sorted by key
/// and unique.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelOffering {
    model_id: ModelId,
    /// Human-readable name, when the provider gives one.
    pub display_name: Option<String>,
    /// Context window in tokens, when known.
    pub context_length: Option<u64>,
    /// Where the price came from.
    pub source: PriceSource,
    pricing_kind: PricingKind,
    components: Vec<PriceComponent>,
}

impl ModelOffering {
    /// The longest display name kept, in bytes.
    pub const MAX_DISPLAY_NAME_LEN: usize = 1024;

    /// A model priced per unit. The kind is [`PricingKind::Free`] when every
    /// component is zero, else [`PricingKind::Metered`].
    pub fn metered(
        model_id: ModelId,
        mut components: Vec<PriceComponent>,
    ) -> Result<Self, OfferingError> {
        if components.is_empty() {
            return Err(OfferingError::NoComponents);
        }
        components.sort_by_key(PriceComponent::key);
        if let Some(pair) = components.windows(2).find(|w| w[0].key() == w[1].key()) {
            return Err(OfferingError::DuplicateComponent(pair[0].key()));
        }
        check_windows(&components)?;
        let pricing_kind = if components.iter().all(|c| c.usd_per_unit.is_zero()) {
            PricingKind::Free
        } else {
            PricingKind::Metered
        };
        Ok(Self {
            model_id,
            display_name: None,
            context_length: None,
            source: PriceSource::Api,
            pricing_kind,
            components,
        })
    }

    /// A model without per-unit prices: dynamic, subscription or unknown.
    pub fn unpriced(model_id: ModelId, kind: PricingKind) -> Result<Self, OfferingError> {
        if kind.has_components() {
            return Err(OfferingError::NoComponents);
        }
        Ok(Self {
            model_id,
            display_name: None,
            context_length: None,
            source: PriceSource::Api,
            pricing_kind: kind,
            components: Vec::new(),
        })
    }

    /// Rebuilds an offering from stored parts, checking that kind and
    /// components agree. Magnitude bounds are not re-checked: they guard
    /// what comes in, not what was accepted under an earlier policy.
    pub fn from_parts(
        model_id: ModelId,
        kind: PricingKind,
        components: Vec<PriceComponent>,
    ) -> Result<Self, OfferingError> {
        if kind.has_components() {
            // Free versus metered follows the numbers, not the stored label.
            Self::metered(model_id, components)
        } else if components.is_empty() {
            Self::unpriced(model_id, kind)
        } else {
            Err(OfferingError::KindWithoutComponents(kind))
        }
    }

    /// Sets the display name, when it is acceptable text: a name is
    /// descriptive, so one that cannot be stored as it is (a NUL byte, which
    /// PostgreSQL refuses in text, or another control character; longer
    /// than [`ModelOffering::MAX_DISPLAY_NAME_LEN`] bytes; blank) is dropped
    /// rather than failing the model or its provider's list. Line breaks and
    /// tabs become spaces, surrounding whitespace is trimmed.
    pub fn with_display_name(mut self, name: Option<String>) -> Self {
        self.display_name = name.and_then(clean_display_name);
        self
    }

    /// Sets the context length.
    pub fn with_context_length(mut self, tokens: Option<u64>) -> Self {
        self.context_length = tokens;
        self
    }

    /// Sets the price source.
    pub fn with_source(mut self, source: PriceSource) -> Self {
        self.source = source;
        self
    }

    /// The provider's id of the model.
    pub fn model_id(&self) -> &ModelId {
        &self.model_id
    }

    /// How the model is priced.
    pub fn pricing_kind(&self) -> PricingKind {
        self.pricing_kind
    }

    /// The price components, sorted by key.
    pub fn components(&self) -> &[PriceComponent] {
        &self.components
    }

    /// The component for a key, if any.
    pub fn component(&self, key: ComponentKey) -> Option<&PriceComponent> {
        self.components
            .binary_search_by_key(&key, PriceComponent::key)
            .ok()
            .map(|i| &self.components[i])
    }

    /// Whether the prices (kind and every component) are exactly equal.
    pub fn same_prices(&self, other: &Self) -> bool {
        self.pricing_kind == other.pricing_kind && self.components == other.components
    }

    /// Whether the descriptive fields (name, context, source) are equal.
    pub fn same_metadata(&self, other: &Self) -> bool {
        self.display_name == other.display_name
            && self.context_length == other.context_length
            && self.source == other.source
    }
}

/// A model as stored: its last known offering and whether it is still listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOffering {
    /// The last known offering (for a removed model, its prices when it was
    /// removed).
    pub offering: ModelOffering,
    /// Active or removed.
    pub status: ModelStatus,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Meter, UsdPerUnit};

    fn id(text: &str) -> ModelId {
        ModelId::parse(text).expect("test id")
    }

    fn price(meter: Meter, text: &str) -> PriceComponent {
        PriceComponent::base(meter, text.parse::<UsdPerUnit>().expect("test price"))
    }

    #[test]
    fn display_names_that_cannot_be_stored_are_dropped() {
        let named = |name: &str| {
            ModelOffering::unpriced(id("m"), PricingKind::Unknown)
                .expect("valid")
                .with_display_name(Some(name.to_owned()))
                .display_name
        };
        assert_eq!(named("Claude\0 Sonnet"), None);
        assert_eq!(named("bell\u{7}"), None);
        assert_eq!(named("   "), None);
        assert_eq!(
            named(&"x".repeat(ModelOffering::MAX_DISPLAY_NAME_LEN + 1)),
            None
        );
        assert_eq!(
            named(&"x".repeat(ModelOffering::MAX_DISPLAY_NAME_LEN)).map(|n| n.len()),
            Some(ModelOffering::MAX_DISPLAY_NAME_LEN)
        );
        assert_eq!(
            named(" Llama 3.1\n405B\tInstruct "),
            Some("Llama 3.1 405B Instruct".to_owned())
        );
        assert_eq!(named("Qwen3 — 思考"), Some("Qwen3 — 思考".to_owned()));
    }

    #[test]
    fn kind_follows_the_components() {
        let free = ModelOffering::metered(
            id("a:free"),
            vec![
                price(Meter::InputTokens, "0"),
                price(Meter::OutputTokens, "0"),
            ],
        )
        .expect("valid");
        assert_eq!(free.pricing_kind(), PricingKind::Free);
        let paid = ModelOffering::metered(
            id("a"),
            vec![
                price(Meter::OutputTokens, "0.000015"),
                price(Meter::InputTokens, "0"),
            ],
        )
        .expect("valid");
        assert_eq!(paid.pricing_kind(), PricingKind::Metered);
        assert_eq!(
            paid.components()[0].meter,
            Meter::InputTokens,
            "sorted by key"
        );
    }

    #[test]
    fn invalid_combinations_are_refused() {
        assert_eq!(
            ModelOffering::metered(id("a"), vec![]),
            Err(OfferingError::NoComponents)
        );
        let dup = ModelOffering::metered(
            id("a"),
            vec![
                price(Meter::InputTokens, "1"),
                price(Meter::InputTokens, "2"),
            ],
        );
        assert!(matches!(dup, Err(OfferingError::DuplicateComponent(_))));
        assert!(ModelOffering::unpriced(id("a"), PricingKind::Metered).is_err());
        assert_eq!(
            ModelOffering::from_parts(
                id("a"),
                PricingKind::Dynamic,
                vec![price(Meter::InputTokens, "1")]
            ),
            Err(OfferingError::KindWithoutComponents(PricingKind::Dynamic))
        );
    }

    #[test]
    fn bands_are_separate_components() {
        let mut band = price(Meter::InputTokens, "0.000006");
        band.min_prompt_tokens = 200_000;
        let offering = ModelOffering::metered(
            id("anthropic/claude-sonnet-4.5"),
            vec![band, price(Meter::InputTokens, "0.000003")],
        )
        .expect("valid");
        let key = ComponentKey::band(Meter::InputTokens, 200_000);
        assert_eq!(
            offering.component(key).map(|c| c.usd_per_unit),
            Some(band.usd_per_unit)
        );
    }
}
