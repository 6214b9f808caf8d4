//! Identifiers of providers and of the models they offer.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an identifier was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The identifier is empty.
    #[error("{what} is empty")]
    Empty {
        /// Which kind of identifier.
        what: &'static str,
    },
    /// The identifier is longer than allowed.
    #[error("{what} is {len} bytes long; the limit is {max}")]
    TooLong {
        /// Which kind of identifier.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The identifier holds a character it may not hold.
    #[error("{what} contains {found:?}; {allowed}")]
    BadCharacter {
        /// Which kind of identifier.
        what: &'static str,
        /// The first offending character.
        found: char,
        /// What is allowed, in words.
        allowed: &'static str,
    },
}

/// A provider's name, as used in configuration, lease keys and the database:
/// lowercase ASCII letters, digits and `-`, 1 to 64 bytes (`openrouter`,
/// `alibaba-cloud`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ProviderId(String);

impl ProviderId {
    /// The longest accepted provider name.
    pub const MAX_LEN: usize = 64;

    /// Parses a provider name.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        const WHAT: &str = "provider name";
        if text.is_empty() {
            return Err(IdError::Empty { what: WHAT });
        }
        if text.len() > Self::MAX_LEN {
            return Err(IdError::TooLong {
                what: WHAT,
                len: text.len(),
                max: Self::MAX_LEN,
            });
        }
        if let Some(found) = text
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(IdError::BadCharacter {
                what: WHAT,
                found,
                allowed: "use lowercase letters, digits and '-'",
            });
        }
        Ok(Self(text.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as used in environment variables: upper-cased, `-` as `_`
    /// (`alibaba-cloud` → `ALIBABA_CLOUD`).
    pub fn env_prefix(&self) -> String {
        self.0.to_ascii_uppercase().replace('-', "_")
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ProviderId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A model's id as its provider names it (`anthropic/claude-sonnet-4.5`,
/// `openai/gpt-4o:free`). Unique within one provider. 1 to 512 bytes, no
/// whitespace or control characters; slashes, colons and dots are common and
/// allowed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ModelId(String);

impl ModelId {
    /// The longest accepted model id.
    pub const MAX_LEN: usize = 512;

    /// Parses a provider's model id.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        const WHAT: &str = "model id";
        if text.is_empty() {
            return Err(IdError::Empty { what: WHAT });
        }
        if text.len() > Self::MAX_LEN {
            return Err(IdError::TooLong {
                what: WHAT,
                len: text.len(),
                max: Self::MAX_LEN,
            });
        }
        if let Some(found) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(IdError::BadCharacter {
                what: WHAT,
                found,
                allowed: "whitespace and control characters are not allowed",
            });
        }
        Ok(Self(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ModelId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_are_lowercase_slugs() {
        assert!(ProviderId::parse("alibaba-cloud").is_ok());
        assert_eq!(
            ProviderId::parse("alibaba-cloud").map(|p| p.env_prefix()),
            Ok("ALIBABA_CLOUD".to_owned())
        );
        assert!(matches!(
            ProviderId::parse("OpenRouter"),
            Err(IdError::BadCharacter { found: 'O', .. })
        ));
        assert!(matches!(ProviderId::parse(""), Err(IdError::Empty { .. })));
        assert!(matches!(
            ProviderId::parse(&"a".repeat(65)),
            Err(IdError::TooLong { len: 65, .. })
        ));
    }

    #[test]
    fn model_ids_keep_slashes_and_colons() {
        let id = ModelId::parse("anthropic/claude-sonnet-4.5:free");
        assert_eq!(
            id.as_ref().map(ModelId::as_str),
            Ok("anthropic/claude-sonnet-4.5:free")
        );
        assert!(matches!(
            ModelId::parse("bad id"),
            Err(IdError::BadCharacter { found: ' ', .. })
        ));
        assert!(matches!(
            ModelId::parse("bad\nid"),
            Err(IdError::BadCharacter { .. })
        ));
    }

    #[test]
    fn deserialising_checks_the_rules() {
        let ok: Result<ProviderId, _> = serde_json::from_str("\"nearai\"");
        assert!(ok.is_ok());
        let bad: Result<ProviderId, _> = serde_json::from_str("\"Near AI\"");
        assert!(bad.is_err());
    }
}
