//! The error of every Atlas call.

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
    /// The request did not get an answer.
    #[error("could not reach Atlas for {method} {path}: {source}")]
    Transport {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// Authentication failed or could not be done.
    #[error("Atlas authentication failed: {0}")]
    Auth(String),
    /// The answer was not what the API documents.
    #[error("unexpected answer to {method} {path}: {message}")]
    Decode {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// A value Atlas would refuse, caught before sending.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// What is invalid.
        what: String,
        /// Why.
        message: String,
    },
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
    /// The client is not configured.
    #[error("{0}")]
    Config(String),
}

impl Error {
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
