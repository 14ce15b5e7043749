//! The Cloudflare API v4 client: one place that authenticates, budgets,
//! retries and decodes the envelope; one file per API area.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Jitter, Quota, RateLimiter};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use madplan_core::retry::{Attempt, with_retries};

use crate::error::{ApiMessage, Error};

pub mod bots;
pub mod certificates;
pub mod dns;
pub mod rulesets;
pub mod settings;
pub(crate) mod strings;
pub mod zones;

pub use strings::UnknownValue;

/// Cloudflare's API.
pub const DEFAULT_BASE_URL: &str = "https://api.cloudflare.com/client/v4";

/// The variable [`Client::from_env`] reads the request budget from: how
/// many requests per 5 minutes this process may send (default 1200).
pub const BUDGET_VARIABLE: &str = "MADPLAN_CLOUDFLARE_BUDGET";

/// How many requests a client lets itself send: never more than `requests`
/// in any window of `window`.
///
/// Cloudflare's global limit is 1200 requests per 5 minutes **per user**:
/// every API token and key of that user, in every process, counts against
/// the same 1200, and past it every call is refused for 5 minutes. A
/// client's budget only knows its own requests, so:
/// - clients of one process share one budget by cloning the client or by
///   giving each the same [`SharedBudget`] (the `shared_budget` setter of
///   [`ClientConfig::builder`], [`Client::budget`]);
/// - operators who run several processes as one user (CI and a person at
///   the same time, or several environments applied in parallel) give each
///   process its share, e.g. `MADPLAN_CLOUDFLARE_BUDGET=400` for three.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Requests per window.
    pub requests: u32,
    /// The window.
    pub window: Duration,
}

impl Default for Budget {
    fn default() -> Self {
        Self::per_five_minutes(1200)
    }
}

impl Budget {
    /// `requests` per 5 minutes, Cloudflare's own window.
    pub fn per_five_minutes(requests: u32) -> Self {
        Self {
            requests,
            window: Duration::from_secs(300),
        }
    }

    /// The limiter's quota: a burst of a sixth of the budget, refilled
    /// evenly with the rest, so that no window of `window` sees more than
    /// `requests` (burst + window / period = requests).
    pub(crate) fn quota(&self) -> Result<Quota, Error> {
        let requests = self.requests.max(2);
        let burst = (requests / 6).max(1);
        let period = self.window / (requests - burst);
        Ok(Quota::with_period(period)
            .ok_or_else(|| Error::config("the request budget's window is zero"))?
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN)))
    }

    /// A budget that several clients can share.
    pub fn share(&self) -> Result<SharedBudget, Error> {
        Ok(SharedBudget {
            limiter: Arc::new(RateLimiter::direct(self.quota()?)),
            budget: *self,
            closed_until: Arc::new(Mutex::new(None)),
        })
    }

    /// The budget `MADPLAN_CLOUDFLARE_BUDGET` asks for (requests per 5
    /// minutes), or the default.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_share(std::env::var(BUDGET_VARIABLE).ok().as_deref())
    }

    /// The budget a share of the user's limit asks for (requests per 5
    /// minutes, 2 to 1200), or the default when none is given.
    fn from_share(share: Option<&str>) -> Result<Self, Error> {
        match share {
            None => Ok(Self::default()),
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if (2..=1200).contains(&n) => Ok(Self::per_five_minutes(n)),
                _ => Err(Error::config(format!(
                    "{BUDGET_VARIABLE}={v:?} is not a number of requests per 5 minutes between 2 \
                     and 1200 (Cloudflare's limit per user)"
                ))),
            },
        }
    }
}

/// One request budget, shared by every client given it (and their clones).
#[derive(Clone)]
pub struct SharedBudget {
    limiter: Arc<DefaultDirectRateLimiter>,
    budget: Budget,
    /// Until when Cloudflare asked this budget's requests to wait (the last
    /// 429's `retry-after`).
    closed_until: Arc<Mutex<Option<Instant>>>,
}

impl SharedBudget {
    /// What it allows.
    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// Whether two handles are the same budget.
    pub fn same_as(&self, other: &SharedBudget) -> bool {
        Arc::ptr_eq(&self.limiter, &other.limiter)
    }

    /// Records that Cloudflare asked to wait `wait` before any request.
    fn close_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut closed = self.closed_until.lock().unwrap_or_else(|e| e.into_inner());
        if closed.is_none_or(|u| u < until) {
            *closed = Some(until);
        }
    }

    /// What is left of the last wait Cloudflare asked for, if anything.
    fn closed_for(&self) -> Option<Duration> {
        let closed = self.closed_until.lock().unwrap_or_else(|e| e.into_inner());
        closed
            .and_then(|u| u.checked_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }
}

impl fmt::Debug for SharedBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBudget")
            .field("budget", &self.budget)
            .finish()
    }
}

pub use madplan_core::RetryPolicy;
pub use madplan_core::rest::Timeouts;

/// What a [`Client`] is built from.
#[derive(TypedBuilder)]
pub struct ClientConfig {
    /// The API token.
    token: SecretString,
    /// The API's base URL.
    #[builder(default = DEFAULT_BASE_URL.to_string(), setter(into))]
    base_url: String,
    /// The client's own request budget (ignored when a shared one is given).
    #[builder(default)]
    budget: Budget,
    /// A budget shared with other clients of this process.
    #[builder(default, setter(strip_option))]
    shared_budget: Option<SharedBudget>,
    /// Retries.
    #[builder(default)]
    retry: RetryPolicy,
    /// Connect and total timeouts of each request.
    #[builder(default)]
    timeouts: Timeouts,
}

/// A Cloudflare API client. Cheap to clone; clones share the request budget.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: SecretString,
    budget: SharedBudget,
    retry: RetryPolicy,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &"[redacted]")
            .field("budget", &self.budget.budget)
            .field("retry", &self.retry)
            .finish()
    }
}

/// The envelope every answer comes in.
#[derive(Debug, Deserialize)]
struct Envelope<T> {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<ApiMessage>,
    result: Option<T>,
    result_info: Option<ResultInfo>,
}

/// Only the envelope's error part, for answers whose result does not matter.
#[derive(Debug, Deserialize)]
struct ErrorEnvelope {
    #[serde(default)]
    errors: Vec<ApiMessage>,
}

/// Paging information of a list answer.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub struct ResultInfo {
    /// This page.
    #[serde(default)]
    pub page: u32,
    /// Items per page.
    #[serde(default)]
    pub per_page: u32,
    /// Items on this page.
    #[serde(default)]
    pub count: u32,
    /// Items in all.
    #[serde(default)]
    pub total_count: u32,
    /// Pages in all.
    #[serde(default)]
    pub total_pages: u32,
}

/// The most pages a list is read to: the client's own bound, whatever the
/// server's paging says.
const MAX_PAGES: usize = 1000;

/// How much of an answer that is not Cloudflare's JSON envelope an error
/// keeps (an HTML error page from the edge, a proxy's text).
const PAGE_EXCERPT: usize = 200;

/// What a call did when it did not fail.
enum Outcome<T> {
    /// The answer's result and paging.
    Answered(Option<T>, Option<ResultInfo>),
    /// A DELETE answered 404 after an earlier attempt whose answer was lost:
    /// that attempt deleted it.
    AlreadyDeleted,
}

impl Client {
    /// A client from `CLOUDFLARE_API_TOKEN` (required), `CLOUDFLARE_BASE_URL`
    /// (optional) and `MADPLAN_CLOUDFLARE_BUDGET` (optional: this process's
    /// share of the user's 1200 requests per 5 minutes).
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Client::from_env`] reading variables through `var`.
    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let token = var("CLOUDFLARE_API_TOKEN").ok_or_else(|| {
            Error::config(
                "CLOUDFLARE_API_TOKEN is not set; create an API token with Zone:Read, DNS:Edit, \
                 Zone Settings:Edit, Zone WAF:Edit, SSL and Certificates:Edit and Bot \
                 Management:Edit permissions and export it",
            )
        })?;
        let budget = Budget::from_share(var(BUDGET_VARIABLE).as_deref())?;
        let mut config = ClientConfig::builder()
            .token(SecretString::from(token))
            .budget(budget)
            .build();
        if let Some(base) = var("CLOUDFLARE_BASE_URL") {
            config.base_url = base;
        }
        Self::new(config)
    }

    /// A client from explicit configuration.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        if config.token.expose_secret().trim().is_empty() {
            return Err(Error::config("the Cloudflare API token is empty"));
        }
        let http = madplan_core::rest::http_client(config.timeouts)?;
        let budget = match config.shared_budget {
            Some(b) => b,
            None => config.budget.share()?,
        };
        Ok(Self {
            http,
            base: config.base_url.trim_end_matches('/').to_string(),
            token: config.token,
            budget,
            retry: config.retry,
        })
    }

    /// This client's request budget, to give to another client of this
    /// process (the `shared_budget` setter of [`ClientConfig::builder`]) so
    /// that both count against
    /// one limit.
    pub fn budget(&self) -> SharedBudget {
        self.budget.clone()
    }

    /// Sends one request and decodes the envelope, retrying what may be
    /// retried.
    async fn call<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<Outcome<T>, Error> {
        let attempts = AtomicUsize::new(0);
        match with_retries(
            &self.retry,
            "cloudflare",
            || {
                let n = attempts.fetch_add(1, Ordering::SeqCst);
                self.attempt::<T, B>(method.clone(), path, query, body, n > 0)
            },
            |_, _| {},
        )
        .await
        {
            Ok(v) => Ok(v),
            Err(f) if f.last.error.status() == Some(429) => Err(Error::RateLimited {
                method: method.to_string(),
                path: path.to_string(),
                attempts: f.attempts,
                retry_after: f.last.wait,
            }),
            Err(f) => Err(f.last.error),
        }
    }

    async fn attempt<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        retried: bool,
    ) -> Result<Outcome<T>, Attempt<Error>> {
        // Cloudflare asked every request to wait: a short wait is waited
        // out, a lockout longer than the policy waits for fails the call
        // without sending it.
        if let Some(left) = self.budget.closed_for() {
            if left > self.retry.max_retry_after {
                return Err(Attempt::fatal(Error::LockedOut {
                    method: method.to_string(),
                    path: path.to_string(),
                    wait: left,
                }));
            }
            tokio::time::sleep(left).await;
        }
        self.budget
            .limiter
            .until_ready_with_jitter(Jitter::up_to(Duration::from_millis(20)))
            .await;
        let idempotent = madplan_core::rest::idempotent(&method);
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(self.token.expose_secret())
            .header("accept", "application/json");
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let span = tracing::debug_span!("cloudflare", %method, path);
        let resp = match tracing::Instrument::instrument(req.send(), span).await {
            Ok(r) => r,
            Err(e) => {
                // A connection that was never made cannot have changed
                // anything; anything else is retried only if idempotent.
                let retry = madplan_core::rest::transport_retryable(&e, &method);
                return Err(Attempt {
                    error: Error::transport(method.to_string(), path.to_string(), e),
                    retry,
                    wait: None,
                });
            }
        };
        let status = resp.status();
        let ray_id = resp
            .headers()
            .get("cf-ray")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let wait = madplan_core::rest::retry_after(resp.headers());
        let bytes = resp.bytes().await.map_err(|e| Attempt {
            error: Error::transport(method.to_string(), path.to_string(), e),
            retry: idempotent,
            wait: None,
        })?;
        if !status.is_success() {
            // An error answer: Cloudflare's envelope, or a page from the
            // edge or a proxy that is not JSON at all. Either way the
            // status and cf-ray are kept.
            let (errors, page) = match serde_json::from_slice::<ErrorEnvelope>(&bytes) {
                Ok(e) => (e.errors, None),
                Err(_) => (Vec::new(), Some(excerpt(&bytes))),
            };
            if method == Method::DELETE && status == StatusCode::NOT_FOUND && retried {
                // An earlier attempt's answer was lost; it deleted it.
                return Ok(Outcome::AlreadyDeleted);
            }
            let error = Error::Api {
                status: status.as_u16(),
                method: method.to_string(),
                path: path.to_string(),
                errors,
                ray_id,
                page,
            };
            return Err(if status == StatusCode::TOO_MANY_REQUESTS {
                // Every request of the budget waits as asked.
                if let Some(w) = wait {
                    self.budget.close_for(w);
                }
                // Not processed: safe to send again, even a POST.
                Attempt {
                    error,
                    retry: true,
                    wait,
                }
            } else if status.is_server_error() {
                Attempt {
                    error,
                    retry: idempotent,
                    wait,
                }
            } else {
                Attempt::fatal(error)
            });
        }
        let envelope: Envelope<T> = serde_json::from_slice(&bytes).map_err(|e| {
            Attempt::fatal(Error::decode(
                method.to_string(),
                path.to_string(),
                format!(
                    "{e} (HTTP {status}{}){}",
                    ray_id
                        .as_ref()
                        .map(|r| format!(", cf-ray {r}"))
                        .unwrap_or_default(),
                    serde_json::from_slice::<serde_json::Value>(&bytes)
                        .err()
                        .map(|_| format!(": {}", excerpt(&bytes)))
                        .unwrap_or_default()
                ),
            ))
        })?;
        if !envelope.success {
            return Err(Attempt::fatal(Error::Api {
                status: status.as_u16(),
                method: method.to_string(),
                path: path.to_string(),
                errors: envelope.errors,
                ray_id,
                page: None,
            }));
        }
        Ok(Outcome::Answered(envelope.result, envelope.result_info))
    }

    /// A call whose answer must carry a result.
    pub(crate) async fn result<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T, Error> {
        match self.call::<T, B>(method.clone(), path, query, body).await? {
            Outcome::Answered(Some(r), _) => Ok(r),
            _ => Err(Error::decode(
                method.to_string(),
                path.to_string(),
                "the envelope has no result",
            )),
        }
    }

    /// A DELETE. A 404 to the first attempt is an error
    /// ([`Error::is_not_found`]); a 404 after an attempt whose answer was
    /// lost is success, since that attempt deleted it.
    pub(crate) async fn delete(&self, path: &str) -> Result<(), Error> {
        self.call::<serde_json::Value, ()>(Method::DELETE, path, &[], None)
            .await
            .map(|_| ())
    }

    /// Every item of a paginated list, fetched page by page.
    pub(crate) async fn all<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        per_page: u32,
    ) -> Result<Vec<T>, Error> {
        madplan_core::rest::all_pages(
            MAX_PAGES,
            |n| {
                let mut q = query.to_vec();
                q.push(("page", (n + 1).to_string()));
                q.push(("per_page", per_page.to_string()));
                async move {
                    let (items, info) =
                        match self.call::<Vec<T>, ()>(Method::GET, path, &q, None).await? {
                            Outcome::Answered(items, info) => (items.unwrap_or_default(), info),
                            Outcome::AlreadyDeleted => (Vec::new(), None),
                        };
                    // The client's own page number decides, not the
                    // server's echo of it.
                    let more = info.is_some_and(|i| (n as u32) + 1 < i.total_pages);
                    Ok(madplan_core::rest::Page { items, more })
                }
            },
            |pages| {
                Error::Http(madplan_core::rest::HttpError::TooManyPages {
                    api: "Cloudflare",
                    call: madplan_core::rest::Call::new(&Method::GET, path),
                    pages,
                })
            },
        )
        .await
    }
}

/// The start of an answer that is not JSON, on one line.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(PAGE_EXCERPT) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;
    use std::collections::HashMap;

    /// Takes every request the budget allows, as soon as it allows it, for
    /// `windows` windows of a fake clock, and returns the most requests any
    /// window of the budget's length saw.
    fn busiest_window(budget: Budget, windows: u32) -> u32 {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::direct_with_clock(budget.quota().unwrap(), clock.clone());
        let step = Duration::from_millis(1);
        let end = budget.window * windows;
        let mut granted = Vec::new();
        let mut now = Duration::ZERO;
        while now < end {
            while limiter.check().is_ok() {
                granted.push(now);
            }
            clock.advance(step);
            now += step;
        }
        granted
            .iter()
            .map(|start| {
                granted
                    .iter()
                    .filter(|t| **t >= *start && **t < *start + budget.window)
                    .count() as u32
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn no_window_sees_more_requests_than_the_budget() {
        for requests in [6, 12, 100] {
            let b = Budget {
                requests,
                window: Duration::from_millis(600),
            };
            let busiest = busiest_window(b, 4);
            assert!(busiest <= requests, "{requests}: {busiest} in one window");
            // And it is a budget, not a trickle: all of it is usable (but
            // the request that would land exactly on the window's end).
            assert!(busiest + 1 >= requests, "{requests}: only {busiest}");
        }
    }

    #[test]
    fn the_budget_is_configurable_per_process() {
        let vars = |pairs: &[(&str, &str)]| {
            let m: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            move |k: &str| m.get(k).cloned()
        };
        let c = Client::from_vars(vars(&[
            ("CLOUDFLARE_API_TOKEN", "t"),
            (BUDGET_VARIABLE, "400"),
        ]))
        .unwrap();
        assert_eq!(c.budget().budget(), Budget::per_five_minutes(400));
        let c = Client::from_vars(vars(&[("CLOUDFLARE_API_TOKEN", "t")])).unwrap();
        assert_eq!(c.budget().budget(), Budget::default());
        let err = Client::from_vars(vars(&[
            ("CLOUDFLARE_API_TOKEN", "t"),
            (BUDGET_VARIABLE, "5000"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains(BUDGET_VARIABLE), "{err}");
    }

    #[test]
    fn from_env_needs_a_token() {
        let err = Client::from_vars(|_| None).unwrap_err();
        assert!(
            matches!(&err, Error::Http(madplan_core::rest::HttpError::Config(m)) if m.contains("CLOUDFLARE_API_TOKEN")),
            "{err}"
        );
        let err = Client::from_vars(|k| (k == "CLOUDFLARE_API_TOKEN").then(|| "  ".to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        let ok = Client::from_vars(|k| match k {
            "CLOUDFLARE_API_TOKEN" => Some("cf-token".into()),
            "CLOUDFLARE_BASE_URL" => Some("http://127.0.0.1:9/client/v4/".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(ok.base, "http://127.0.0.1:9/client/v4");
    }

    #[test]
    fn clients_given_one_budget_share_it() {
        let shared = Budget::per_five_minutes(600).share().unwrap();
        let a = Client::new(
            ClientConfig::builder()
                .token(SecretString::from("a"))
                .shared_budget(shared.clone())
                .build(),
        )
        .unwrap();
        let b = Client::new(
            ClientConfig::builder()
                .token(SecretString::from("b"))
                .shared_budget(a.budget())
                .build(),
        )
        .unwrap();
        assert!(a.budget().same_as(&b.budget()) && b.budget().same_as(&shared));
        let c = Client::new(
            ClientConfig::builder()
                .token(SecretString::from("c"))
                .build(),
        )
        .unwrap();
        assert!(!c.budget().same_as(&a.budget()));
        assert!(c.clone().budget().same_as(&c.budget()));
    }

    #[test]
    fn debug_does_not_print_the_token() {
        let c = Client::new(
            ClientConfig::builder()
                .token(SecretString::from("cf-very-secret-token"))
                .build(),
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("cf-very-secret-token"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn pages_that_are_not_json_are_cut_to_one_line() {
        let page = format!("<html>\n<body>{}</body></html>", "x".repeat(500));
        let e = excerpt(page.as_bytes());
        assert!(e.starts_with("<html> <body>xx"), "{e}");
        assert_eq!(e.chars().count(), PAGE_EXCERPT + 1);
    }
}
