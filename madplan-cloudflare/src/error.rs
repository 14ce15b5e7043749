//! The error of every Cloudflare call.

use madplan_core::rest::{Call, HttpError};

/// The API's name in messages.
const API: &str = "Cloudflare";
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One entry of the envelope's `errors` (or `messages`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiMessage {
    /// Cloudflare's numeric code, e.g. 81057 ("record already exists").
    pub code: u32,
    /// Its message.
    pub message: String,
}

/// Everything a Cloudflare call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Cloudflare answered with `success: false` or an error status.
    #[error("Cloudflare answered {status} to {method} {path}: {}{}", list(.errors), ray(.ray_id))]
    Api {
        /// The HTTP status.
        status: u16,
        /// The request's method.
        method: String,
        /// The request's path (no query).
        path: String,
        /// The envelope's errors, with their codes.
        errors: Vec<ApiMessage>,
        /// The `cf-ray` id, for support cases.
        ray_id: Option<String>,
    },
    /// Cloudflare kept answering 429 after every retry.
    #[error(
        "Cloudflare rate-limited {method} {path} {attempts} time(s); the last answer asked to wait {retry_after:?}"
    )]
    RateLimited {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// How many attempts were made.
        attempts: usize,
        /// What the last `retry-after` said.
        retry_after: Option<Duration>,
    },
    /// A failure every REST call can meet: no answer, an answer that does
    /// not decode, endless paging, a value caught before sending, a client
    /// that is not configured.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// No zone has that name in the token's account.
    #[error("no zone named {0:?} is visible to this API token")]
    ZoneNotFound(String),
}

fn list(errors: &[ApiMessage]) -> String {
    if errors.is_empty() {
        return "no error detail".into();
    }
    errors
        .iter()
        .map(|e| format!("[{}] {}", e.code, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

fn ray(id: &Option<String>) -> String {
    id.as_ref()
        .map(|r| format!(" (cf-ray {r})"))
        .unwrap_or_default()
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
        matches!(
            self,
            Error::Api { status: 404, .. } | Error::ZoneNotFound(_)
        )
    }

    /// Cloudflare's error codes, if it answered.
    pub fn codes(&self) -> Vec<u32> {
        match self {
            Error::Api { errors, .. } => errors.iter().map(|e| e.code).collect(),
            _ => Vec::new(),
        }
    }

    /// The HTTP status, if Cloudflare answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            Error::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// Whether it says a DNS record like this one already exists.
    pub fn is_duplicate_record(&self) -> bool {
        self.codes()
            .iter()
            .any(|c| matches!(c, 81053 | 81057 | 81058))
    }
}
