//! The error of every Atlas call, and how the engine classes it.

use std::fmt;
use std::time::Duration;

use madplan_core::rest::HttpError;
use madplan_core::{ErrorClass, ProviderError};
use serde::Deserialize;

use crate::client::backup::RestoreState;

/// One field Atlas refused, from `badRequestDetail.fields`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct FieldViolation {
    /// The field, e.g. `replicationSpecs[0].regionConfigs[0].priority`.
    #[serde(default)]
    pub field: String,
    /// What is wrong with it.
    #[serde(default)]
    pub description: String,
}

/// Details of a 400 answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct BadRequestDetail {
    /// The fields Atlas refused.
    #[serde(default)]
    pub fields: Vec<FieldViolation>,
}

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
    /// The fields a 400 answer refused.
    #[serde(default)]
    pub bad_request_detail: Option<BadRequestDetail>,
}

impl ApiError {
    /// `detail`, then every refused field.
    fn describe(&self) -> String {
        let mut s = self.detail.clone().unwrap_or_else(|| "no detail".into());
        for f in self.bad_request_detail.iter().flat_map(|d| d.fields.iter()) {
            s.push_str(&format!("; {}: {}", f.field, f.description));
        }
        s
    }
}

/// What Atlas's `RateLimit-*` headers said on the last answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed in the current window (`RateLimit-Limit`).
    pub limit: Option<u64>,
    /// Requests left in it (`RateLimit-Remaining`).
    pub remaining: Option<u64>,
}

impl RateLimit {
    /// The headers of an answer, if it had any.
    pub fn from_headers(h: &reqwest::header::HeaderMap) -> Option<Self> {
        let num = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let r = RateLimit {
            limit: num("ratelimit-limit"),
            remaining: num("ratelimit-remaining"),
        };
        (r.limit.is_some() || r.remaining.is_some()).then_some(r)
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
        write!(
            f,
            "{} of {} requests left in the window",
            n(self.remaining),
            n(self.limit)
        )
    }
}

fn rate_suffix(r: &Option<RateLimit>) -> String {
    r.map(|r| format!("; {r}")).unwrap_or_default()
}

fn request_suffix(id: &Option<String>) -> String {
    id.as_ref()
        .map(|i| format!(" (request id {i})"))
        .unwrap_or_default()
}

/// Everything an Atlas call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Atlas answered with an error.
    #[error("Atlas answered {status} to {method} {path}: {} ({}){}", .body.error_code, .body.describe(), request_suffix(.request_id))]
    Api {
        /// The HTTP status.
        status: u16,
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// Atlas's error body.
        body: ApiError,
        /// The request id Atlas gave (`X-Request-Id`), if any.
        request_id: Option<String>,
    },
    /// Atlas kept answering 429 or 5xx after every retry.
    #[error("Atlas kept refusing {method} {path} ({status}) after {attempts} attempt(s){}", rate_suffix(.rate_limit))]
    Unavailable {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// The last status.
        status: u16,
        /// How many attempts were made.
        attempts: usize,
        /// What the rate-limit headers of the last answer said.
        rate_limit: Option<RateLimit>,
        /// Atlas's error body of the last answer.
        body: ApiError,
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
    /// A restore job ended without restoring.
    #[error("restore job {id} ended {state}{}", .detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Restore {
        /// The job.
        id: String,
        /// How it ended: failed, expired or cancelled.
        state: RestoreState,
        /// What Atlas said, if anything.
        detail: Option<String>,
    },
    /// A failure every REST call can meet: no answer, an answer that does
    /// not decode, endless paging, a value caught before sending, a client
    /// that is not configured.
    #[error(transparent)]
    Http(#[from] HttpError),
}

/// Error codes Atlas answers while a resource is still changing: the same
/// request succeeds once it settles.
pub const BUSY_CODES: &[&str] = &[
    "CLUSTER_NOT_IDLE",
    "CANNOT_UPDATE_CLUSTER_WHILE_UPDATING",
    "CLUSTER_UPDATE_IN_PROGRESS",
];

/// Error codes that mean "it exists already".
pub const DUPLICATE_CODES: &[&str] = &[
    "DUPLICATE_CLUSTER_NAME",
    "USER_ALREADY_EXISTS",
    "GROUP_ALREADY_EXISTS",
    "DUPLICATE_GROUP_NAME",
    "INTEGRATION_ALREADY_CONFIGURED",
];

madplan_core::http_error_constructors!(Error, "Atlas");

impl Error {
    /// Whether the thing asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api { status: 404, .. })
    }

    /// Atlas's error code (`DUPLICATE_CLUSTER_NAME`, `RESOURCE_NOT_FOUND`...).
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { body, .. } | Error::Unavailable { body, .. } => {
                Some(body.error_code.as_str())
            }
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

    /// The fields a 400 answer refused.
    pub fn field_violations(&self) -> &[FieldViolation] {
        match self {
            Error::Api { body, .. } => body
                .bad_request_detail
                .as_ref()
                .map(|d| d.fields.as_slice())
                .unwrap_or_default(),
            _ => &[],
        }
    }

    /// How the engine should treat it: retries exhausted in the client
    /// (429, 5xx, no answer) are `Unavailable`; 404 `NotFound`; 409 and
    /// duplicates `Conflict`, unless Atlas says the resource is still
    /// changing (`Retryable`); everything else `Fatal`.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Unavailable { .. } => ErrorClass::Unavailable,
            Error::Http(HttpError::Transport { .. }) => ErrorClass::Unavailable,
            Error::Api { status, body, .. } => {
                let code = body.error_code.as_str();
                if BUSY_CODES.contains(&code) {
                    ErrorClass::Retryable
                } else if *status == 404 {
                    ErrorClass::NotFound
                } else if *status == 409 || DUPLICATE_CODES.contains(&code) {
                    ErrorClass::Conflict
                } else {
                    ErrorClass::Fatal
                }
            }
            _ => ErrorClass::Fatal,
        }
    }
}

impl From<Error> for ProviderError {
    fn from(e: Error) -> Self {
        let class = e.class();
        let code = e.code().map(str::to_string);
        let request_id = match &e {
            Error::Api { request_id, .. } => request_id.clone(),
            _ => None,
        };
        let mut p = ProviderError::new("atlas", class, e.to_string()).with_request_id(request_id);
        if let Some(c) = code.filter(|c| !c.is_empty()) {
            p = p.with_code(c);
        }
        p.with_source(e)
    }
}
