//! Plumbing shared by the REST clients (Atlas, Cloudflare, Datadog), feature
//! `rest`: the HTTP client with its timeouts, which failed requests may be
//! sent again, `Retry-After`, paging bounded by the client's own counter,
//! and the errors every REST call can end in.
//!
//! What stays in each client: its authentication, its error envelope, its
//! rate-limit headers, and its retry decisions on status codes.

use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

use reqwest::Method;

/// How long a REST call may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// To open the connection (a host that does not answer fails fast).
    pub connect: Duration,
    /// For the whole request, answer included.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            total: Duration::from_secs(60),
        }
    }
}

/// The HTTP client every REST client uses: rustls, madplan's user agent,
/// separate connect and total timeouts.
pub fn http_client(timeouts: Timeouts) -> Result<reqwest::Client, HttpError> {
    reqwest::Client::builder()
        .user_agent(concat!("madplan/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.total)
        .build()
        .map_err(|e| HttpError::Config(format!("cannot build the HTTP client: {e}")))
}

/// Whether sending `method` twice has the effect of sending it once.
pub fn idempotent(method: &Method) -> bool {
    !matches!(*method, Method::POST | Method::PATCH)
}

/// Whether a request that failed in transit may be sent again: a connection
/// that was never made cannot have changed anything; after that, only an
/// idempotent request may be repeated.
pub fn transport_retryable(e: &reqwest::Error, method: &Method) -> bool {
    e.is_connect() || (idempotent(method) && (e.is_timeout() || e.is_request() || e.is_body()))
}

/// The wait a `Retry-After` header asks for: seconds, or an HTTP date.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

/// A request, named in errors: method and path (never the query, which may
/// carry secrets on some APIs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The method.
    pub method: String,
    /// The path.
    pub path: String,
}

impl Call {
    /// `method path`.
    pub fn new(method: &Method, path: &str) -> Self {
        Self {
            method: method.to_string(),
            path: path.to_string(),
        }
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// What every REST call can fail with, whatever the API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The request did not get an answer.
    #[error("could not reach {api} for {call}: {source}")]
    Transport {
        /// The API (`Atlas`, `Cloudflare`, `Datadog`).
        api: &'static str,
        /// The request.
        call: Call,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The answer was not what the API documents.
    #[error("unexpected answer from {api} to {call}: {message}")]
    Decode {
        /// The API.
        api: &'static str,
        /// The request.
        call: Call,
        /// What was wrong.
        message: String,
    },
    /// A list went on for more pages than the client allows itself.
    #[error(
        "{api} kept answering {call} with more pages after {pages}; stopped (the client's limit)"
    )]
    TooManyPages {
        /// The API.
        api: &'static str,
        /// The request.
        call: Call,
        /// Pages read.
        pages: usize,
    },
    /// A value that the API would refuse, caught before sending.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// What is invalid.
        what: String,
        /// Why.
        message: String,
    },
    /// The client is not configured.
    #[error("{0}")]
    Config(String),
}

impl HttpError {
    /// An invalid value.
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }
}

/// Gives a REST client's error type (an enum with an
/// `Http(HttpError)` variant) the constructors of the shared failures:
/// `transport`, `decode` and `config` for the client's own use, `invalid`
/// for everyone. `api` names the API in messages.
#[macro_export]
macro_rules! http_error_constructors {
    ($error:ident, $api:literal) => {
        impl $error {
            /// The request got no answer.
            #[allow(dead_code)]
            pub(crate) fn transport(
                method: impl Into<String>,
                path: impl Into<String>,
                source: reqwest::Error,
            ) -> Self {
                $error::Http($crate::rest::HttpError::Transport {
                    api: $api,
                    call: $crate::rest::Call {
                        method: method.into(),
                        path: path.into(),
                    },
                    source,
                })
            }

            /// The answer was not what the API documents.
            #[allow(dead_code)]
            pub(crate) fn decode(
                method: impl Into<String>,
                path: impl Into<String>,
                message: impl Into<String>,
            ) -> Self {
                $error::Http($crate::rest::HttpError::Decode {
                    api: $api,
                    call: $crate::rest::Call {
                        method: method.into(),
                        path: path.into(),
                    },
                    message: message.into(),
                })
            }

            /// A value the API would refuse, caught before sending.
            pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
                $error::Http($crate::rest::HttpError::invalid(what, message))
            }

            /// The client is not configured.
            #[allow(dead_code)]
            pub(crate) fn config(message: impl Into<String>) -> Self {
                $error::Http($crate::rest::HttpError::Config(message.into()))
            }
        }
    };
}

/// One page of a list: its items, and whether the server says more follow.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Whether another page should be asked for.
    pub more: bool,
}

/// Reads a list page by page: `fetch(n)` gets page `n` (from 0). Paging
/// ends when a page says no more follow or comes back empty; the client's
/// own counter bounds it at `max_pages`, whatever the server answers (a
/// server whose paging metadata does not move cannot keep it going).
pub async fn all_pages<T, E, F, Fut>(
    max_pages: usize,
    mut fetch: F,
    too_many: impl FnOnce(usize) -> E,
) -> Result<Vec<T>, E>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<Page<T>, E>>,
{
    let mut out = Vec::new();
    for n in 0..max_pages {
        let page = fetch(n).await?;
        let empty = page.items.is_empty();
        out.extend(page.items);
        if !page.more || empty {
            return Ok(out);
        }
    }
    Err(too_many(max_pages))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let later = SystemTime::now() + Duration::from_secs(120);
        h.insert(
            "retry-after",
            httpdate::fmt_http_date(later).parse().unwrap(),
        );
        let d = retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn only_idempotent_methods_are_repeated_after_the_connection_was_made() {
        assert!(
            idempotent(&Method::GET) && idempotent(&Method::PUT) && idempotent(&Method::DELETE)
        );
        assert!(!idempotent(&Method::POST) && !idempotent(&Method::PATCH));
    }

    #[tokio::test]
    async fn paging_stops_at_the_clients_own_limit() {
        // A server whose every page says "more": bounded, and an error.
        let mut asked = 0;
        let r: Result<Vec<u32>, String> = all_pages(
            5,
            |n| {
                asked += 1;
                async move {
                    Ok(Page {
                        items: vec![n as u32],
                        more: true,
                    })
                }
            },
            |p| format!("stopped after {p}"),
        )
        .await;
        assert_eq!(r.unwrap_err(), "stopped after 5");
        assert_eq!(asked, 5);
        // An honest server: every item, one call per page.
        let r: Result<Vec<u32>, String> = all_pages(
            100,
            |n| async move {
                Ok(Page {
                    items: vec![n as u32],
                    more: n < 2,
                })
            },
            |p| format!("{p}"),
        )
        .await;
        assert_eq!(r.unwrap(), [0, 1, 2]);
    }
}
