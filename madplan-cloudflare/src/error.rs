//! The error of every Cloudflare call, and how the engine sees it.

use std::time::Duration;

use madplan_core::rest::HttpError;
use madplan_core::{ErrorClass, ProviderError};
use serde::{Deserialize, Serialize};

/// The provider's name in [`ProviderError`]s.
pub(crate) const PROVIDER: &str = "cloudflare";

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
    #[error("Cloudflare answered {status} to {method} {path}: {}{}{}", list(.errors), page_text(.page), ray(.ray_id))]
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
        /// The start of the answer when it was not Cloudflare's JSON
        /// envelope (an HTML error page from the edge or a proxy).
        page: Option<String>,
    },
    /// Cloudflare kept answering 429 after every retry.
    #[error(
        "Cloudflare rate-limited {method} {path} {attempts} time(s); {}",
        wait_text(.retry_after)
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
    /// Not sent: Cloudflare answered an earlier request of this budget with
    /// 429 and a wait longer than the retry policy waits for (its 5-minute
    /// lockout of a user past the limit), and that wait is not over.
    /// Requests sent into a lockout are refused anyway.
    #[error(
        "{method} {path} was not sent: Cloudflare asked to wait {wait:?} more before any request \
         (its rate-limit lockout); run again after that, and if several processes use this \
         Cloudflare user, give each a share with MADPLAN_CLOUDFLARE_BUDGET"
    )]
    LockedOut {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// How much of the wait was left.
        wait: Duration,
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

fn wait_text(wait: &Option<Duration>) -> String {
    match wait {
        Some(w) => format!("the last answer asked to wait {w:?}"),
        None => "the answers did not say how long to wait".into(),
    }
}

fn page_text(page: &Option<String>) -> String {
    page.as_ref()
        .map(|p| format!(" (the answer was not JSON: {p})"))
        .unwrap_or_default()
}

fn ray(id: &Option<String>) -> String {
    id.as_ref()
        .map(|r| format!(" (cf-ray {r})"))
        .unwrap_or_default()
}

madplan_core::http_error_constructors!(Error, "Cloudflare");

impl Error {
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

    /// The `cf-ray` id of the answer, if there was one.
    pub fn ray_id(&self) -> Option<&str> {
        match self {
            Error::Api { ray_id, .. } => ray_id.as_deref(),
            _ => None,
        }
    }

    /// Whether it says a DNS record like this one already exists.
    pub fn is_duplicate_record(&self) -> bool {
        self.codes()
            .iter()
            .any(|c| matches!(c, 81053 | 81057 | 81058))
    }

    /// How the engine should treat it: the client's own retries are spent
    /// for 429, 5xx and lost connections (`Unavailable`); 404 is
    /// `NotFound`; 409 and duplicate records are `Conflict`; the rest is
    /// `Fatal`.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::RateLimited { .. } | Error::LockedOut { .. } => ErrorClass::Unavailable,
            Error::Api { status, .. } if *status == 429 || *status >= 500 => {
                ErrorClass::Unavailable
            }
            Error::Api { status: 404, .. } | Error::ZoneNotFound(_) => ErrorClass::NotFound,
            Error::Api { status: 409, .. } => ErrorClass::Conflict,
            e if e.is_duplicate_record() => ErrorClass::Conflict,
            Error::Http(HttpError::Transport { .. }) => ErrorClass::Unavailable,
            _ => ErrorClass::Fatal,
        }
    }

    /// The error as the engine takes it, keeping Cloudflare's codes (e.g.
    /// `81057`), message and `cf-ray` as the request id.
    pub fn into_provider(self) -> ProviderError {
        let codes = self.codes();
        let wait = match &self {
            Error::RateLimited { retry_after, .. } => *retry_after,
            Error::LockedOut { wait, .. } => Some(*wait),
            _ => None,
        };
        let request_id = self.ray_id().map(str::to_string);
        let mut e = ProviderError::new(PROVIDER, self.class(), self.to_string())
            .with_request_id(request_id)
            .with_retry_after(wait);
        if !codes.is_empty() {
            e = e.with_code(
                codes
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        e.with_source(self)
    }
}

impl From<Error> for ProviderError {
    fn from(e: Error) -> Self {
        e.into_provider()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, codes: &[u32]) -> Error {
        Error::Api {
            status,
            method: "PUT".into(),
            path: "/zones/z/dns_records/r".into(),
            errors: codes
                .iter()
                .map(|c| ApiMessage {
                    code: *c,
                    message: format!("code {c}"),
                })
                .collect(),
            ray_id: Some("8f1c2b3a4d5e6f70-AMS".into()),
            page: None,
        }
    }

    #[test]
    fn errors_map_to_the_engine_s_classes_keeping_code_and_ray() {
        let e = api(400, &[81057]).into_provider();
        assert_eq!(e.class, ErrorClass::Conflict);
        assert_eq!(e.code.as_deref(), Some("81057"));
        assert_eq!(e.request_id.as_deref(), Some("8f1c2b3a4d5e6f70-AMS"));
        assert!(e.message.contains("[81057] code 81057"), "{}", e.message);
        assert_eq!(api(404, &[81044]).class(), ErrorClass::NotFound);
        assert_eq!(api(409, &[]).class(), ErrorClass::Conflict);
        assert_eq!(api(503, &[]).class(), ErrorClass::Unavailable);
        assert_eq!(api(400, &[1004]).class(), ErrorClass::Fatal);
        let limited = Error::RateLimited {
            method: "GET".into(),
            path: "/zones".into(),
            attempts: 4,
            retry_after: Some(Duration::from_secs(30)),
        }
        .into_provider();
        assert_eq!(limited.class, ErrorClass::Unavailable);
        assert_eq!(limited.retry_after, Some(Duration::from_secs(30)));
        assert_eq!(
            Error::invalid("x", "y").into_provider().class,
            ErrorClass::Fatal
        );
    }
}
