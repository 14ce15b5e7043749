//! The Datadog API client: one place that authenticates, reads rate-limit
//! headers, retries and decodes errors; one file per API area.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

use madplan_core::retry::{Attempt, with_retries};

use crate::error::{Error, messages};

#[macro_use]
mod open;
pub mod aws;
pub mod dashboards;
pub mod integrations;
pub mod monitors;
pub mod slos;
pub mod synthetics;

pub use open::Extra;

/// The most pages any list is read to: the client's own bound, whatever
/// the server's paging says.
pub(crate) const MAX_PAGES: usize = 1000;

/// The Datadog sites (regions) the API is served from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// US1, `datadoghq.com`.
    Us1,
    /// US3, `us3.datadoghq.com`.
    Us3,
    /// US5, `us5.datadoghq.com`.
    Us5,
    /// EU1, `datadoghq.eu`.
    Eu1,
    /// AP1, `ap1.datadoghq.com`.
    Ap1,
    /// AP2, `ap2.datadoghq.com`.
    Ap2,
    /// UK1, `uk1.datadoghq.com`.
    Uk1,
    /// US1-FED, `ddog-gov.com`.
    Gov,
    /// US2-FED, `us2.ddog-gov.com`.
    Gov2,
}

impl Site {
    /// Every site.
    pub const ALL: [Site; 9] = [
        Site::Us1,
        Site::Us3,
        Site::Us5,
        Site::Eu1,
        Site::Ap1,
        Site::Ap2,
        Site::Uk1,
        Site::Gov,
        Site::Gov2,
    ];

    /// The site's domain, as `DD_SITE` spells it.
    pub fn domain(self) -> &'static str {
        match self {
            Site::Us1 => "datadoghq.com",
            Site::Us3 => "us3.datadoghq.com",
            Site::Us5 => "us5.datadoghq.com",
            Site::Eu1 => "datadoghq.eu",
            Site::Ap1 => "ap1.datadoghq.com",
            Site::Ap2 => "ap2.datadoghq.com",
            Site::Uk1 => "uk1.datadoghq.com",
            Site::Gov => "ddog-gov.com",
            Site::Gov2 => "us2.ddog-gov.com",
        }
    }

    /// The site whose domain is `domain`.
    pub fn from_domain(domain: &str) -> Result<Site, Error> {
        let d = domain.trim().trim_start_matches("api.");
        Site::ALL
            .into_iter()
            .find(|s| s.domain() == d)
            .ok_or_else(|| {
                Error::config(format!(
                    "DD_SITE {domain:?} is not a Datadog site; use one of {}",
                    Site::ALL.map(Site::domain).join(", ")
                ))
            })
    }

    /// The API's base URL on this site.
    pub fn base_url(self) -> String {
        format!("https://api.{}", self.domain())
    }
}

pub use madplan_core::RetryPolicy;
pub use madplan_core::rest::Timeouts;

/// What the last answer said about the rate limit of its endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// `X-RateLimit-Limit`: requests allowed per period.
    pub limit: Option<u64>,
    /// `X-RateLimit-Period`: the period in seconds.
    pub period: Option<u64>,
    /// `X-RateLimit-Remaining`: requests left in this period.
    pub remaining: Option<u64>,
    /// `X-RateLimit-Reset`: seconds until the period ends.
    pub reset: Option<u64>,
    /// `X-RateLimit-Name`: which limit this is.
    pub name: Option<String>,
}

impl RateLimitInfo {
    fn from_headers(h: &reqwest::header::HeaderMap) -> Option<Self> {
        let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
        let num = |k: &str| get(k).and_then(|v| v.trim().parse::<u64>().ok());
        let info = Self {
            limit: num("x-ratelimit-limit"),
            period: num("x-ratelimit-period"),
            remaining: num("x-ratelimit-remaining"),
            reset: num("x-ratelimit-reset"),
            name: get("x-ratelimit-name"),
        };
        (info != Self::default()).then_some(info)
    }
}

/// What a [`Client`] is built from.
pub struct ClientConfig {
    /// `DD-API-KEY`.
    pub api_key: SecretString,
    /// `DD-APPLICATION-KEY`.
    pub app_key: SecretString,
    /// The API's base URL (from the site, or an explicit host).
    pub base_url: String,
    /// Retries.
    pub retry: RetryPolicy,
    /// Connect and total timeouts of each request.
    pub timeouts: Timeouts,
}

impl ClientConfig {
    /// Keys for `site`.
    pub fn new(api_key: SecretString, app_key: SecretString, site: Site) -> Self {
        Self {
            api_key,
            app_key,
            base_url: site.base_url(),
            retry: RetryPolicy::default(),
            timeouts: Timeouts::default(),
        }
    }

    /// Talks to `base_url` instead of the site's (a proxy, a test server).
    #[must_use]
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// Retries as `retry` says.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Gives up connecting after `timeouts.connect` and on the whole
    /// request after `timeouts.total`.
    #[must_use]
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }
}

/// A Datadog API client. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    api_key: SecretString,
    app_key: SecretString,
    retry: RetryPolicy,
    last_limit: Arc<Mutex<Option<RateLimitInfo>>>,
    /// What each rate limit (by the path family it covers) said last:
    /// requests left and when its period ends.
    windows: Arc<Mutex<HashMap<String, Window>>>,
}

/// A rate limit's state as its last answer told it.
#[derive(Clone, Copy, Debug)]
struct Window {
    remaining: u64,
    reset_at: Instant,
}

/// The rate limit a path falls under, as far as the client can tell before
/// asking: Datadog names its limits per API area (`/api/v1/monitor`,
/// `/api/v1/slo`...), so requests are grouped by their first three path
/// segments.
fn family(path: &str) -> String {
    path.split('/')
        .filter(|s| !s.is_empty())
        .take(3)
        .collect::<Vec<_>>()
        .join("/")
}

/// How a call treats its answers beyond the status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An ordinary call.
    Plain,
    /// A delete (by any method): safe to repeat, and a 404 to a repeated
    /// attempt means an earlier attempt whose answer was lost did it.
    Delete,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("api_key", &"[redacted]")
            .field("app_key", &"[redacted]")
            .finish()
    }
}

/// Which keys a call sends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keys {
    /// The API key only (`/api/v1/validate`).
    Api,
    /// Both keys.
    Both,
}

impl Client {
    /// A client from `DD_API_KEY` and `DD_APP_KEY` (required), `DD_SITE`
    /// (default `datadoghq.com`) and `DD_HOST` (a full base URL that wins
    /// over the site, for proxies and tests).
    pub fn from_env() -> Result<Self, Error> {
        let key = |name: &str| {
            std::env::var(name).map(SecretString::from).map_err(|_| {
                Error::config(format!("{name} is not set; export your Datadog {name}"))
            })
        };
        let site = match std::env::var("DD_SITE") {
            Ok(s) => Site::from_domain(&s)?,
            Err(_) => Site::Us1,
        };
        let mut config = ClientConfig::new(key("DD_API_KEY")?, key("DD_APP_KEY")?, site);
        if let Ok(host) = std::env::var("DD_HOST") {
            config.base_url = host;
        }
        Self::new(config)
    }

    /// A client from explicit configuration.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        if config.api_key.expose_secret().trim().is_empty()
            || config.app_key.expose_secret().trim().is_empty()
        {
            return Err(Error::config("a Datadog key is empty"));
        }
        let http = madplan_core::rest::http_client(config.timeouts)?;
        Ok(Self {
            http,
            base: config.base_url.trim_end_matches('/').to_string(),
            api_key: config.api_key,
            app_key: config.app_key,
            retry: config.retry,
            last_limit: Arc::default(),
            windows: Arc::default(),
        })
    }

    /// The base URL in use.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// What the last answer's rate-limit headers said.
    pub fn last_rate_limit(&self) -> Option<RateLimitInfo> {
        self.last_limit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sends one request, retrying what may be retried, and decodes the
    /// answer.
    pub(crate) async fn call<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        keys: Keys,
    ) -> Result<T, Error> {
        self.call_as(Kind::Plain, method, path, query, body, keys)
            .await
            .map(|v| v.unwrap_or_else(|| unreachable!("only deletes end without an answer")))
    }

    /// Sends a delete, retrying it (a delete is safe to repeat, whatever
    /// its method). A 404 to the first attempt is an error (nothing of that
    /// id existed); a 404 to a later one means an earlier attempt went
    /// through and only its answer was lost: the delete is done.
    pub(crate) async fn delete_call<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(), Error> {
        self.call_as::<serde_json::Value, B>(Kind::Delete, method, path, &[], body, Keys::Both)
            .await
            .map(|_| ())
    }

    async fn call_as<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        kind: Kind,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        keys: Keys,
    ) -> Result<Option<T>, Error> {
        let attempts = AtomicUsize::new(0);
        match with_retries(
            &self.retry,
            "datadog",
            || {
                let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
                self.attempt::<T, B>(kind, n, method.clone(), path, query, body, keys)
            },
            |_, _| {},
        )
        .await
        {
            Ok(v) => Ok(v),
            // Refused before sending: the limit is spent for longer than
            // the policy waits.
            Err(f) if matches!(f.last.error, Error::RateLimited { .. }) => Err(f.last.error),
            Err(f) if f.last.error.status() == Some(429) => Err(Error::RateLimited {
                method: method.to_string(),
                path: path.to_string(),
                attempts: f.attempts,
                name: self.last_rate_limit().and_then(|l| l.name),
                reset: f.last.wait,
            }),
            Err(f) => Err(f.last.error),
        }
    }

    /// Waits, before sending, while the rate limit `path` falls under has
    /// no request left in its period (as its last answer said), so that a
    /// burst spreads over the periods instead of collecting 429s. A wait
    /// longer than the policy allows fails at once.
    async fn respect_limit(&self, method: &Method, path: &str) -> Result<(), Attempt<Error>> {
        let key = family(path);
        let wait = {
            let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            match windows.get_mut(&key) {
                Some(w) if now >= w.reset_at => {
                    windows.remove(&key);
                    None
                }
                Some(w) if w.remaining > 0 => {
                    w.remaining -= 1;
                    None
                }
                Some(w) => Some(w.reset_at - now),
                None => None,
            }
        };
        let Some(wait) = wait else { return Ok(()) };
        if wait > self.retry.max_retry_after {
            return Err(Attempt::fatal(Error::RateLimited {
                method: method.to_string(),
                path: path.to_string(),
                attempts: 0,
                name: self.last_rate_limit().and_then(|l| l.name),
                reset: Some(wait),
            }));
        }
        tracing::debug!(
            path,
            ?wait,
            "rate limit spent for this period; waiting for its reset"
        );
        tokio::time::sleep(wait).await;
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows
            .get(&key)
            .is_some_and(|w| Instant::now() >= w.reset_at)
        {
            windows.remove(&key);
        }
        Ok(())
    }

    fn record_limit(&self, path: &str, limit: &RateLimitInfo) {
        if let (Some(remaining), Some(reset)) = (limit.remaining, limit.reset) {
            self.windows
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(
                    family(path),
                    Window {
                        remaining,
                        reset_at: Instant::now() + Duration::from_secs(reset),
                    },
                );
        }
        *self.last_limit.lock().unwrap_or_else(|e| e.into_inner()) = Some(limit.clone());
    }

    #[allow(clippy::too_many_arguments)]
    async fn attempt<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        kind: Kind,
        attempt: usize,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        keys: Keys,
    ) -> Result<Option<T>, Attempt<Error>> {
        let idempotent = kind == Kind::Delete || madplan_core::rest::idempotent(&method);
        self.respect_limit(&method, path).await?;
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("DD-API-KEY", self.api_key.expose_secret())
            .header("accept", "application/json");
        if keys == Keys::Both {
            req = req.header("DD-APPLICATION-KEY", self.app_key.expose_secret());
        }
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let fail = |error: Error, retry: bool| Attempt {
            error,
            retry,
            wait: None,
        };
        let span = tracing::debug_span!("datadog", %method, path, attempt);
        let resp = match tracing::Instrument::instrument(req.send(), span).await {
            Ok(r) => r,
            Err(e) => {
                let retry = e.is_connect()
                    || (idempotent && (e.is_timeout() || e.is_request() || e.is_body()));
                return Err(fail(
                    Error::transport(method.to_string(), path.to_string(), e),
                    retry,
                ));
            }
        };
        let status = resp.status();
        let limit = RateLimitInfo::from_headers(resp.headers());
        let retry_after = madplan_core::rest::retry_after(resp.headers());
        if let Some(l) = &limit {
            self.record_limit(path, l);
        }
        let bytes = resp.bytes().await.map_err(|e| {
            fail(
                Error::transport(method.to_string(), path.to_string(), e),
                idempotent,
            )
        })?;
        let api_error = || Error::Api {
            status: status.as_u16(),
            method: method.to_string(),
            path: path.to_string(),
            messages: messages(&bytes),
        };
        if status == StatusCode::TOO_MANY_REQUESTS {
            // Rejected, not processed: safe to repeat once the period resets.
            // The rate limit's reset, else a `Retry-After`, else a second.
            let wait = limit
                .as_ref()
                .and_then(|l| l.reset)
                .map(Duration::from_secs)
                .or(retry_after)
                .unwrap_or(Duration::from_secs(1));
            return Err(Attempt::again(api_error(), Some(wait)));
        }
        if kind == Kind::Delete && status == StatusCode::NOT_FOUND && attempt > 1 {
            tracing::debug!(
                path,
                "a repeated delete found nothing: an earlier attempt did it"
            );
            return Ok(None);
        }
        if status.is_server_error() {
            return Err(fail(api_error(), idempotent));
        }
        if !status.is_success() {
            return Err(fail(api_error(), false));
        }
        // 204 and some 200s come without a body.
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &bytes
        };
        let mut de = serde_json::Deserializer::from_slice(bytes);
        serde_path_to_error::deserialize(&mut de)
            .map(Some)
            .map_err(|e| {
                fail(
                    Error::decode(
                        method.to_string(),
                        path.to_string(),
                        format!("{} at {} (HTTP {status})", e.inner(), e.path()),
                    ),
                    false,
                )
            })
    }

    /// Reads a list page by page with [`madplan_core::rest::all_pages`]:
    /// `fetch(n)` asks for page `n`; the client's own counter drives and
    /// bounds the paging.
    pub(crate) async fn pages<T, F, Fut>(&self, path: &str, fetch: F) -> Result<Vec<T>, Error>
    where
        F: FnMut(usize) -> Fut,
        Fut: std::future::Future<Output = Result<madplan_core::rest::Page<T>, Error>>,
    {
        madplan_core::rest::all_pages(MAX_PAGES, fetch, |pages| {
            Error::Http(madplan_core::rest::HttpError::TooManyPages {
                api: "Datadog",
                call: madplan_core::rest::Call::new(&Method::GET, path),
                pages,
            })
        })
        .await
    }

    /// Checks the API key (`GET /api/v1/validate`).
    pub async fn validate(&self) -> Result<bool, Error> {
        #[derive(serde::Deserialize)]
        struct Valid {
            valid: bool,
        }
        let v: Valid = self
            .call::<Valid, ()>(Method::GET, "/api/v1/validate", &[], None, Keys::Api)
            .await?;
        Ok(v.valid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_give_their_api_host() {
        assert_eq!(
            Site::from_domain("datadoghq.eu").unwrap().base_url(),
            "https://api.datadoghq.eu"
        );
        assert_eq!(Site::from_domain("us5.datadoghq.com").unwrap(), Site::Us5);
        assert_eq!(
            Site::from_domain("ddog-gov.com").unwrap().base_url(),
            "https://api.ddog-gov.com"
        );
        let e = Site::from_domain("datadoghq.org").unwrap_err().to_string();
        assert!(e.contains("us3.datadoghq.com"), "{e}");
    }

    #[test]
    fn debug_redacts_both_keys() {
        let c = Client::new(ClientConfig::new(
            SecretString::from("dd-api-key-secret"),
            SecretString::from("dd-app-key-secret"),
            Site::Us1,
        ))
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("dd-api-key-secret") && !shown.contains("dd-app-key-secret"),
            "{shown}"
        );
    }
}
