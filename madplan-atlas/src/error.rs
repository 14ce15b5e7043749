//! The error of every Atlas call.

use madplan_core::rest::{Call, HttpError};

/// The API's name in messages.
const API: &str = "Atlas";
use std::time::Duration;

use serde::Deserialize;

/// Atlas's error body.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    /// The HTTP status, as Atlas repeats it.
    #[serde(default)]
    pub error: u16,
    /// The error code, e.g. `DUPLICATE_CLUSTER_NAME`.
    #[serde(default)]
    pub error_code: String,
    /// What went wrong.
    #[serde(default)]
    pub detail: Option<String>,
    /// The HTTP reason phrase.
    #[serde(default)]
    pub reason: Option<String>,
    /// Values the message refers to.
    #[serde(default)]
    pub parameters: Vec<serde_json::Value>,
}

/// Everything an Atlas call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Atlas answered with an error.
    #[error("Atlas answered {status} to {method} {path}: {} ({})", .body.error_code, .body.detail.as_deref().unwrap_or("no detail"))]
    Api {
        /// The HTTP status.
        status: u16,
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// Atlas's error body.
        body: ApiError,
    },
    /// Atlas kept answering 429 or 503 after every retry.
    #[error("Atlas kept refusing {method} {path} ({status}) after {attempts} attempt(s)")]
    Unavailable {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// The last status.
        status: u16,
        /// How many attempts were made.
        attempts: usize,
    },
    /// Authentication failed or could not be done.
    #[error("Atlas authentication failed: {0}")]
    Auth(String),
    /// Waiting for a state took too long.
    #[error("{what} did not reach {state} within {waited:?} (last seen: {last})")]
    Timeout {
        /// What was waited for.
        what: String,
        /// The state waited for.
        state: String,
        /// The last state seen.
        last: String,
        /// How long it waited.
        waited: Duration,
    },
    /// A failure every REST call can meet: no answer, an answer that does
    /// not decode, endless paging, a value caught before sending, a client
    /// that is not configured.
    #[error(transparent)]
    Http(#[from] HttpError),
}

impl Error {
    /// The request got no answer.
    pub(crate) fn transport(
        method: impl Into<String>,
        path: impl Into<String>,
        source: reqwest::Error,
    ) -> Self {
        Error::Http(HttpError::Transport {
            api: API,
            call: Call {
                method: method.into(),
                path: path.into(),
            },
            source,
        })
    }

    /// The answer was not what the API documents.
    pub(crate) fn decode(
        method: impl Into<String>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Http(HttpError::Decode {
            api: API,
            call: Call {
                method: method.into(),
                path: path.into(),
            },
            message: message.into(),
        })
    }

    /// A value the API would refuse, caught before sending.
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Http(HttpError::invalid(what, message))
    }

    /// The client is not configured.
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::Http(HttpError::Config(message.into()))
    }

    /// Whether the thing asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api { status: 404, .. })
    }

    /// Atlas's error code (`DUPLICATE_CLUSTER_NAME`, `RESOURCE_NOT_FOUND`...).
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { body, .. } => Some(body.error_code.as_str()),
            _ => None,
        }
    }

    /// The HTTP status, if Atlas answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::Unavailable { status, .. } => Some(*status),
            _ => None,
        }
    }
}
