//! The error of every Datadog call.

use madplan_core::rest::HttpError;

use std::time::Duration;

use serde_json::Value;

/// Everything a Datadog call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Datadog answered with an error status.
    #[error("Datadog answered {status} to {method} {path}: {}", .messages.join("; "))]
    Api {
        /// The HTTP status.
        status: u16,
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// The messages of the error body (v1 strings, or v2 `title: detail`).
        messages: Vec<String>,
    },
    /// Datadog kept answering 429 after every retry.
    #[error(
        "Datadog rate-limited {method} {path} {attempts} time(s) (limit {name:?}); the last answer asked to wait {reset:?}"
    )]
    RateLimited {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// How many attempts were made.
        attempts: usize,
        /// The rate limit's name (`X-RateLimit-Name`).
        name: Option<String>,
        /// What `X-RateLimit-Reset` said last.
        reset: Option<Duration>,
    },
    /// A failure every REST call can meet: no answer, an answer that does
    /// not decode, endless paging, a value caught before sending, a client
    /// that is not configured.
    #[error(transparent)]
    Http(#[from] HttpError),
}

madplan_core::http_error_constructors!(Error, "Datadog");

impl Error {
    /// Whether the thing asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api { status: 404, .. })
    }

    /// The HTTP status, if Datadog answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            Error::RateLimited { .. } => Some(429),
            _ => None,
        }
    }
}

/// The messages of an error body, whichever API version wrote it: v1
/// `{"errors": ["..."]}` or v2 (JSON:API) `{"errors": [{"status", "title",
/// "detail"}]}`.
pub fn messages(body: &[u8]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body).trim().to_string();
        return if text.is_empty() {
            Vec::new()
        } else {
            vec![text]
        };
    };
    v["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| match e {
            Value::String(s) => s.clone(),
            Value::Object(o) => {
                let title = o.get("title").and_then(Value::as_str).unwrap_or_default();
                match o.get("detail").and_then(Value::as_str) {
                    Some(d) if !title.is_empty() => format!("{title}: {d}"),
                    Some(d) => d.to_string(),
                    None => title.to_string(),
                }
            }
            other => other.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_v1_and_v2_error_bodies() {
        assert_eq!(
            messages(br#"{"errors": ["Monitor not found"]}"#),
            vec!["Monitor not found".to_string()]
        );
        assert_eq!(
            messages(br#"{"errors": [{"status": "400", "title": "Bad Request", "detail": "invalid query"}]}"#),
            vec!["Bad Request: invalid query".to_string()]
        );
        assert_eq!(
            messages(b"upstream timeout"),
            vec!["upstream timeout".to_string()]
        );
        assert!(messages(b"").is_empty());
    }
}
