//! The Cloudflare API v4 client: one place that authenticates, budgets,
//! retries and decodes the envelope; one file per API area.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Jitter, Quota, RateLimiter};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use madplan_core::retry::{Attempt, with_retries};

use crate::error::{ApiMessage, Error};

pub mod dns;
pub mod rulesets;
pub mod settings;
pub mod zones;

/// Cloudflare's API.
pub const DEFAULT_BASE_URL: &str = "https://api.cloudflare.com/client/v4";

/// How many requests the client lets itself send: never more than
/// `requests` in any window of `window`. Cloudflare allows 1200 per 5 minutes
/// per token and blocks every call for 5 minutes past that, so the default
/// is exactly that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Requests per window.
    pub requests: u32,
    /// The window.
    pub window: Duration,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            requests: 1200,
            window: Duration::from_secs(300),
        }
    }
}

impl Budget {
    /// The limiter: a burst of a sixth of the budget, refilled evenly with
    /// the rest, so that no window of `window` sees more than `requests`
    /// (burst + window / period = requests).
    fn limiter(&self) -> Result<DefaultDirectRateLimiter, Error> {
        let requests = self.requests.max(2);
        let burst = (requests / 6).max(1);
        let period = self.window / (requests - burst);
        let quota = Quota::with_period(period)
            .ok_or_else(|| Error::config("the request budget's window is zero"))?
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        Ok(RateLimiter::direct(quota))
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
    /// The client's own request budget.
    #[builder(default)]
    budget: Budget,
    /// Retries.
    #[builder(default)]
    retry: RetryPolicy,
    /// Connect and total timeouts of each request.
    #[builder(default)]
    timeouts: Timeouts,
}

/// A Cloudflare API client. Cheap to clone; clones share the request budget,
/// so one token should have one client (and its clones).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: SecretString,
    limiter: Arc<DefaultDirectRateLimiter>,
    retry: RetryPolicy,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &"[redacted]")
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

impl Client {
    /// A client from `CLOUDFLARE_API_TOKEN` (required) and
    /// `CLOUDFLARE_BASE_URL` (optional).
    pub fn from_env() -> Result<Self, Error> {
        let token = std::env::var("CLOUDFLARE_API_TOKEN").map_err(|_| {
            Error::config(
                "CLOUDFLARE_API_TOKEN is not set; create an API token with Zone:Edit, DNS:Edit and \
                 Zone Settings:Edit permissions and export it",
            )
        })?;
        let mut config = ClientConfig::builder()
            .token(SecretString::from(token))
            .build();
        if let Ok(base) = std::env::var("CLOUDFLARE_BASE_URL") {
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
        Ok(Self {
            http,
            base: config.base_url.trim_end_matches('/').to_string(),
            token: config.token,
            limiter: Arc::new(config.budget.limiter()?),
            retry: config.retry,
        })
    }

    /// Sends one request and decodes the envelope, retrying what may be
    /// retried. Returns the result and the paging information.
    async fn call<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<(Option<T>, Option<ResultInfo>), Error> {
        match with_retries(
            &self.retry,
            "cloudflare",
            || self.attempt::<T, B>(method.clone(), path, query, body),
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
    ) -> Result<(Option<T>, Option<ResultInfo>), Attempt<Error>> {
        self.limiter
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
        let envelope: Result<Envelope<T>, _> = serde_json::from_slice(&bytes);
        let api_error = |errors: Vec<ApiMessage>| Error::Api {
            status: status.as_u16(),
            method: method.to_string(),
            path: path.to_string(),
            errors,
            ray_id: ray_id.clone(),
        };
        if status == StatusCode::TOO_MANY_REQUESTS {
            // Not processed: safe to send again, even a POST.
            let errors = envelope.map(|e| e.errors).unwrap_or_default();
            return Err(Attempt {
                error: api_error(errors),
                retry: true,
                wait,
            });
        }
        if status.is_server_error() {
            let errors = envelope.map(|e| e.errors).unwrap_or_default();
            return Err(Attempt {
                error: api_error(errors),
                retry: idempotent,
                wait,
            });
        }
        let envelope = envelope.map_err(|e| Attempt {
            error: Error::decode(
                method.to_string(),
                path.to_string(),
                format!("{e} (HTTP {status})"),
            ),
            retry: false,
            wait: None,
        })?;
        if !status.is_success() || !envelope.success {
            return Err(Attempt {
                error: api_error(envelope.errors),
                retry: false,
                wait: None,
            });
        }
        Ok((envelope.result, envelope.result_info))
    }

    /// A call whose answer must carry a result.
    pub(crate) async fn result<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T, Error> {
        let (result, _) = self.call::<T, B>(method.clone(), path, query, body).await?;
        result.ok_or_else(|| {
            Error::decode(
                method.to_string(),
                path.to_string(),
                "the envelope has no result",
            )
        })
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
                        self.call::<Vec<T>, ()>(Method::GET, path, &q, None).await?;
                    let items = items.unwrap_or_default();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_budget_never_exceeds_cloudflare_s_limit() {
        let b = Budget::default();
        let burst = b.requests / 6;
        let period = b.window / (b.requests - burst);
        // burst + refills within the window
        let worst = burst + (b.window.as_millis() / period.as_millis()) as u32;
        assert!(worst <= 1200, "{worst}");
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
}
