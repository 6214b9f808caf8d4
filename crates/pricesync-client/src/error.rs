//! The client's errors: talking to the server, and pricing a usage.

use pricesync_domain::CostError;

/// A failure to load or follow the server's prices.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached, or its answer not read.
    #[error(
        "cannot get {url} from the pricesync server; check that it runs and the address is right"
    )]
    Http {
        /// The request.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error.
    #[error("the pricesync server answered {status} ({code}) to {url}: {message}")]
    Status {
        /// The request.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The error code of the answer.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server's answer does not make sense.
    #[error("unexpected answer of the pricesync server to {url}: {message}")]
    Answer {
        /// The request.
        url: String,
        /// What is wrong.
        message: String,
    },
}

/// Why a usage could not be priced.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    /// The copy has no such model (not listed by pricesync, or the name is
    /// wrong): the caller's lookup, like the server's `unknown_model`.
    #[error("no model {model_id:?} of provider {provider:?} is known to pricesync")]
    UnknownModel {
        /// The provider asked.
        provider: String,
        /// The model asked.
        model_id: String,
    },
    /// The cost function refused the usage (dynamic or unknown pricing, not
    /// listed at that instant, an unpriced meter, …); see
    /// [`CostError::kind`](pricesync_domain::CostError) for the code.
    #[error(transparent)]
    Cost(#[from] CostError),
}

impl PriceError {
    /// The error's code, as the server's cost API says it
    /// (`unknown_model`, `dynamic_pricing`, `removed`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownModel { .. } => "unknown_model",
            Self::Cost(e) => e.kind.code(),
        }
    }
}
