//! The Atlas Admin API v2 client: authentication, retries and the error body
//! in one place; one file per API area.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use digest_auth::{AuthContext, HttpMethod, WwwAuthenticateHeader};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use madplan_core::retry::{Attempt, with_retries};

use crate::error::{ApiError, Error, RateLimit};

pub mod access;
pub mod auditing;
pub mod backup;
pub mod clusters;
pub mod integrations;
pub mod media;
pub mod open;
pub mod projects;
pub mod users;

pub use open::api_path;

/// Atlas's API.
pub const DEFAULT_BASE_URL: &str = "https://cloud.mongodb.com";

/// Items per page of a list.
const PER_PAGE: usize = 500;
/// The most pages a list is read to (500 000 items): the client's own
/// bound, whatever the server's paging says.
const MAX_PAGES: usize = 1000;

/// How the client proves who it is.
pub enum Credentials {
    /// A service account: OAuth2 client credentials exchanged for a bearer
    /// token at `/api/oauth/token`.
    ServiceAccount {
        /// The client id.
        client_id: String,
        /// The client secret.
        client_secret: SecretString,
    },
    /// A programmatic API key, used with HTTP Digest authentication.
    ApiKey {
        /// The public key.
        public_key: String,
        /// The private key.
        private_key: SecretString,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::ServiceAccount { client_id, .. } => f
                .debug_struct("ServiceAccount")
                .field("client_id", client_id)
                .field("client_secret", &"[redacted]")
                .finish(),
            Credentials::ApiKey { public_key, .. } => f
                .debug_struct("ApiKey")
                .field("public_key", public_key)
                .field("private_key", &"[redacted]")
                .finish(),
        }
    }
}

impl Credentials {
    /// From `MONGODB_ATLAS_CLIENT_ID`/`_CLIENT_SECRET` (preferred) or
    /// `MONGODB_ATLAS_PUBLIC_KEY`/`_PRIVATE_KEY`.
    pub fn from_env() -> Result<Self, Error> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        if let (Some(id), Some(secret)) = (
            var("MONGODB_ATLAS_CLIENT_ID"),
            var("MONGODB_ATLAS_CLIENT_SECRET"),
        ) {
            return Ok(Credentials::ServiceAccount {
                client_id: id,
                client_secret: SecretString::from(secret),
            });
        }
        if let (Some(public), Some(private)) = (
            var("MONGODB_ATLAS_PUBLIC_KEY"),
            var("MONGODB_ATLAS_PRIVATE_KEY"),
        ) {
            return Ok(Credentials::ApiKey {
                public_key: public,
                private_key: SecretString::from(private),
            });
        }
        Err(Error::config(
            "no Atlas credentials: set MONGODB_ATLAS_CLIENT_ID and MONGODB_ATLAS_CLIENT_SECRET \
             (a service account), or MONGODB_ATLAS_PUBLIC_KEY and MONGODB_ATLAS_PRIVATE_KEY (an API key)",
        ))
    }
}

pub use madplan_core::RetryPolicy;

struct Token {
    value: SecretString,
    expires: Instant,
}

/// An Atlas Admin API client. Cheap to clone; clones share the token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    credentials: Arc<Credentials>,
    token: Arc<tokio::sync::Mutex<Option<Token>>>,
    challenge: Arc<Mutex<Option<WwwAuthenticateHeader>>>,
    rate_limit: Arc<Mutex<Option<RateLimit>>>,
    retry: RetryPolicy,
    /// A token is renewed this long before it expires.
    renew_before: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("credentials", &self.credentials)
            .finish()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

/// A page of a list.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page<T> {
    #[serde(default = "Vec::new")]
    results: Vec<T>,
    #[serde(default)]
    total_count: Option<usize>,
}

impl Client {
    /// A client from the environment: credentials as [`Credentials::from_env`],
    /// base URL from `MONGODB_ATLAS_BASE_URL` (default the Atlas cloud).
    pub fn from_env() -> Result<Self, Error> {
        let base =
            std::env::var("MONGODB_ATLAS_BASE_URL").unwrap_or_else(|_| DEFAULT_BASE_URL.into());
        Self::new(Credentials::from_env()?, &base)
    }

    /// A client for `base_url` with `credentials`.
    pub fn new(credentials: Credentials, base_url: &str) -> Result<Self, Error> {
        let http = madplan_core::rest::http_client(madplan_core::rest::Timeouts::default())?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            credentials: Arc::new(credentials),
            token: Arc::default(),
            challenge: Arc::default(),
            rate_limit: Arc::default(),
            retry: RetryPolicy::default(),
            renew_before: Duration::from_secs(60),
        })
    }

    /// Uses `timeouts` (to connect, and for a whole request) instead of the
    /// defaults (10 s and 60 s).
    pub fn with_timeouts(mut self, timeouts: madplan_core::rest::Timeouts) -> Result<Self, Error> {
        self.http = madplan_core::rest::http_client(timeouts)?;
        Ok(self)
    }

    /// Retries as `retry` says.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Renews service-account tokens this long before they expire.
    #[must_use]
    pub fn with_token_renewal(mut self, before_expiry: Duration) -> Self {
        self.renew_before = before_expiry;
        self
    }

    /// A bearer token for the service account, fetched once and renewed
    /// before it expires.
    async fn bearer(
        &self,
        client_id: &str,
        secret: &SecretString,
        renew: bool,
    ) -> Result<SecretString, Error> {
        let mut cached = self.token.lock().await;
        if !renew
            && let Some(t) = cached.as_ref()
            && Instant::now() + self.renew_before < t.expires
        {
            return Ok(t.value.clone());
        }
        let url = format!("{}/api/oauth/token", self.base);
        // Asking for a token changes nothing at Atlas: a request lost in
        // transit, a 429 or a 5xx is asked again (with the client's retry
        // policy); a refusal of the credentials is not.
        let resp = with_retries(
            &self.retry,
            "POST /api/oauth/token",
            || async {
                let send = self
                    .http
                    .post(&url)
                    .basic_auth(client_id, Some(secret.expose_secret()))
                    .header("accept", "application/json")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("grant_type=client_credentials")
                    .send();
                let span =
                    tracing::debug_span!("atlas", method = "POST", path = "/api/oauth/token");
                let resp = tracing::Instrument::instrument(send, span)
                    .await
                    .map_err(|e| {
                        Attempt::again(Error::Auth(format!("the token request failed: {e}")), None)
                    })?;
                let status = resp.status();
                if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                    let wait = madplan_core::rest::retry_after(resp.headers());
                    return Err(Attempt::again(
                        Error::Auth(format!("the token endpoint answered {status}")),
                        wait,
                    ));
                }
                if !status.is_success() {
                    return Err(Attempt::fatal(Error::Auth(format!(
                        "the token endpoint answered {status}; check MONGODB_ATLAS_CLIENT_ID and \
                         _CLIENT_SECRET"
                    ))));
                }
                Ok(resp)
            },
            |_, _| {},
        )
        .await
        .map_err(|f| f.last.error)?;
        let answer: TokenAnswer = resp
            .json()
            .await
            .map_err(|e| Error::Auth(format!("the token answer is not what Atlas sends: {e}")))?;
        let token = Token {
            value: SecretString::from(answer.access_token),
            expires: Instant::now() + Duration::from_secs(answer.expires_in),
        };
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    /// The `Authorization` header for a request, if one can be made now,
    /// and the digest nonce it answers (API keys).
    async fn authorization(
        &self,
        method: &Method,
        uri: &str,
        body: &[u8],
        renew: bool,
    ) -> Result<(Option<String>, Option<String>), Error> {
        match self.credentials.as_ref() {
            Credentials::ServiceAccount {
                client_id,
                client_secret,
            } => {
                let t = self.bearer(client_id, client_secret, renew).await?;
                Ok((Some(format!("Bearer {}", t.expose_secret())), None))
            }
            Credentials::ApiKey {
                public_key,
                private_key,
            } => {
                let mut challenge = self.challenge.lock().unwrap_or_else(|e| e.into_inner());
                let Some(c) = challenge.as_mut() else {
                    return Ok((None, None));
                };
                let context = AuthContext::new_with_method(
                    public_key.as_str(),
                    private_key.expose_secret(),
                    uri,
                    (!body.is_empty()).then_some(body),
                    HttpMethod(method.as_str().to_string().into()),
                );
                // `respond` counts `nc` up under the lock, so calls made at
                // once never send the same count for one nonce.
                let header = c
                    .respond(&context)
                    .map_err(|e| Error::Auth(format!("cannot answer the digest challenge: {e}")))?;
                Ok((Some(header.to_header_string()), Some(c.nonce.clone())))
            }
        }
    }

    /// What the client saw of Atlas's rate limit on its last answer.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        *self.rate_limit.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends a request with `media` as its version, retrying what may be
    /// retried, and decodes the answer (`None` for an empty one). `path`
    /// is already percent-encoded (see [`open::api_path`]).
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<serde_json::Value>,
        media: &'static str,
    ) -> Result<Option<T>, Error> {
        let mut url = Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| Error::config(format!("bad URL for {path}: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let bytes = body
            .map(|b| serde_json::to_vec(&b).unwrap_or_default())
            .unwrap_or_default();
        let tries = AtomicUsize::new(0);
        match with_retries(
            &self.retry,
            "atlas",
            || {
                let n = tries.fetch_add(1, Ordering::SeqCst);
                self.attempt::<T>(method.clone(), &url, path, &bytes, media, n)
            },
            |_, _| {},
        )
        .await
        {
            Ok(v) => Ok(v),
            Err(f) => match f.last.error {
                Error::Api { status, body, .. } if f.last.retry && unavailable(status) => {
                    Err(Error::Unavailable {
                        method: method.to_string(),
                        path: path.to_string(),
                        status,
                        attempts: f.attempts,
                        rate_limit: self.rate_limit(),
                        body,
                    })
                }
                other => Err(other),
            },
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &Url,
        path: &str,
        body: &[u8],
        media: &'static str,
        n: usize,
    ) -> Result<Option<T>, Attempt<Error>> {
        let fatal = Attempt::fatal;
        let uri = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let idempotent = madplan_core::rest::idempotent(&method);
        let mut renew = false;
        let mut resp = None;
        // At most three rounds: the first may meet a digest challenge (or
        // an expired token), the second answers it, the third answers a
        // nonce that expired in between.
        for round in 0..3 {
            let (auth, nonce) = self
                .authorization(&method, &uri, body, renew)
                .await
                .map_err(fatal)?;
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .header("accept", media);
            if !body.is_empty() {
                req = req.header("content-type", media).body(body.to_vec());
            }
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let span = tracing::debug_span!("atlas", %method, path);
            let r = match tracing::Instrument::instrument(req.send(), span).await {
                Ok(r) => r,
                Err(e) => {
                    let retry = madplan_core::rest::transport_retryable(&e, &method);
                    return Err(Attempt {
                        error: Error::transport(method.to_string(), path.to_string(), e),
                        retry,
                        wait: None,
                    });
                }
            };
            if let Some(limit) = RateLimit::from_headers(r.headers()) {
                if limit.remaining == Some(0) {
                    tracing::warn!(%limit, "Atlas's rate limit is used up for this window");
                }
                *self.rate_limit.lock().unwrap_or_else(|e| e.into_inner()) = Some(limit);
            }
            if r.status() == StatusCode::UNAUTHORIZED {
                match self.credentials.as_ref() {
                    Credentials::ApiKey { .. } => {
                        let fresh = r
                            .headers()
                            .get("www-authenticate")
                            .and_then(|v| v.to_str().ok())
                            .filter(|v| v.starts_with("Digest"))
                            .and_then(|v| WwwAuthenticateHeader::parse(v).ok());
                        let Some(fresh) = fresh else {
                            return Err(fatal(refused_key()));
                        };
                        // The nonce we answered was answered with itself and
                        // no `stale`: the key is wrong. Any other nonce (a
                        // first challenge, one another call fetched, one
                        // that expired) is answered once more.
                        if nonce.as_deref() == Some(fresh.nonce.as_str()) && !fresh.stale {
                            return Err(fatal(refused_key()));
                        }
                        if round == 2 {
                            return Err(fatal(Error::Auth(
                                "Atlas kept sending new digest challenges".into(),
                            )));
                        }
                        let mut c = self.challenge.lock().unwrap_or_else(|e| e.into_inner());
                        // Keep the count of a nonce other calls already use.
                        if c.as_ref().map(|c| c.nonce.as_str()) != Some(fresh.nonce.as_str()) {
                            *c = Some(fresh);
                        }
                        continue;
                    }
                    Credentials::ServiceAccount { .. } if !renew => {
                        renew = true;
                        continue;
                    }
                    Credentials::ServiceAccount { .. } => {
                        return Err(fatal(Error::Auth(
                            "Atlas refused a fresh service-account token".into(),
                        )));
                    }
                }
            }
            resp = Some(r);
            break;
        }
        let Some(resp) = resp else {
            return Err(fatal(Error::Auth(
                "Atlas kept asking for authentication".into(),
            )));
        };
        let status = resp.status();
        let wait = madplan_core::rest::retry_after(resp.headers());
        let request_id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = resp.bytes().await.map_err(|e| Attempt {
            error: Error::transport(method.to_string(), path.to_string(), e),
            retry: idempotent,
            wait: None,
        })?;
        if status == StatusCode::NOT_FOUND && method == Method::DELETE && n > 0 {
            // An earlier attempt of this delete may have gone through
            // before its answer was lost: gone is what was asked for.
            return Ok(None);
        }
        if !status.is_success() {
            let body: ApiError = serde_json::from_slice(&bytes).unwrap_or_else(|_| ApiError {
                error: status.as_u16(),
                error_code: status
                    .canonical_reason()
                    .unwrap_or("UNKNOWN")
                    .to_uppercase()
                    .replace(' ', "_"),
                detail: Some(String::from_utf8_lossy(&bytes).into_owned()),
                ..ApiError::default()
            });
            // 429 was not processed; a 5xx may have been, so only calls
            // that can safely repeat are retried on it.
            let retry = status == StatusCode::TOO_MANY_REQUESTS
                || (idempotent && unavailable(status.as_u16()));
            return Err(Attempt {
                error: Error::Api {
                    status: status.as_u16(),
                    method: method.to_string(),
                    path: path.to_string(),
                    body,
                    request_id,
                },
                retry,
                wait,
            });
        }
        if bytes.is_empty() {
            return Ok(None);
        }
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(&mut de)
            .map(Some)
            .map_err(|e| {
                fatal(Error::decode(
                    method.to_string(),
                    path.to_string(),
                    format!("at {}: {}", e.path(), e.inner()),
                ))
            })
    }

    /// A call whose answer must carry a body.
    pub(crate) async fn fetch<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        media: &'static str,
    ) -> Result<T, Error> {
        self.call(method.clone(), path, &[], body, media)
            .await?
            .ok_or_else(|| {
                Error::decode(method.to_string(), path.to_string(), "the answer is empty")
            })
    }

    /// Every item of a paginated list.
    pub(crate) async fn all<T: DeserializeOwned>(
        &self,
        path: &str,
        media: &'static str,
    ) -> Result<Vec<T>, Error> {
        self.all_with(path, &[], media).await
    }

    /// Every item of a paginated list, with extra query parameters.
    pub(crate) async fn all_with<T: DeserializeOwned>(
        &self,
        path: &str,
        extra: &[(&str, String)],
        media: &'static str,
    ) -> Result<Vec<T>, Error> {
        let mut seen = 0usize;
        madplan_core::rest::all_pages(
            MAX_PAGES,
            |n| {
                let mut query = vec![
                    ("pageNum", (n + 1).to_string()),
                    ("itemsPerPage", PER_PAGE.to_string()),
                ];
                query.extend(extra.iter().cloned());
                async move {
                    let p: Page<T> = self
                        .call(Method::GET, path, &query, None, media)
                        .await?
                        .unwrap_or(Page {
                            results: Vec::new(),
                            total_count: Some(0),
                        });
                    seen += p.results.len();
                    let more =
                        p.results.len() == PER_PAGE && p.total_count.is_none_or(|t| seen < t);
                    Ok(madplan_core::rest::Page {
                        items: p.results,
                        more,
                    })
                }
            },
            |pages| {
                Error::Http(madplan_core::rest::HttpError::TooManyPages {
                    api: "Atlas",
                    call: madplan_core::rest::Call::new(&Method::GET, path),
                    pages,
                })
            },
        )
        .await
    }
}

/// Statuses that say "not now": throttled, or the service unavailable.
fn unavailable(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

fn refused_key() -> Error {
    Error::Auth("Atlas refused the API key; check MONGODB_ATLAS_PUBLIC_KEY and _PRIVATE_KEY".into())
}
