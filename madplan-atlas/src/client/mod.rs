//! The Atlas Admin API v2 client: authentication, retries and the error body
//! in one place; one file per API area.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use digest_auth::{AuthContext, HttpMethod, WwwAuthenticateHeader};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use madplan_core::retry::{Attempt, with_retries};

use crate::error::{ApiError, Error};

pub mod access;
pub mod backup;
pub mod clusters;
pub mod media;
pub mod projects;
pub mod users;

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
            retry: RetryPolicy::default(),
            renew_before: Duration::from_secs(60),
        })
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
        let resp = self
            .http
            .post(&url)
            .basic_auth(client_id, Some(secret.expose_secret()))
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .map_err(|e| Error::Auth(format!("the token request failed: {e}")))?;
        if !resp.status().is_success() {
            return Err(Error::Auth(format!(
                "the token endpoint answered {}; check MONGODB_ATLAS_CLIENT_ID and _CLIENT_SECRET",
                resp.status()
            )));
        }
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

    /// The `Authorization` header for a request, if one can be made now.
    async fn authorization(
        &self,
        method: &Method,
        uri: &str,
        body: &[u8],
        renew: bool,
    ) -> Result<Option<String>, Error> {
        match self.credentials.as_ref() {
            Credentials::ServiceAccount {
                client_id,
                client_secret,
            } => {
                let t = self.bearer(client_id, client_secret, renew).await?;
                Ok(Some(format!("Bearer {}", t.expose_secret())))
            }
            Credentials::ApiKey {
                public_key,
                private_key,
            } => {
                let mut challenge = self.challenge.lock().unwrap_or_else(|e| e.into_inner());
                let Some(c) = challenge.as_mut() else {
                    return Ok(None);
                };
                let context = AuthContext::new_with_method(
                    public_key.as_str(),
                    private_key.expose_secret(),
                    uri,
                    (!body.is_empty()).then_some(body),
                    HttpMethod(method.as_str().to_string().into()),
                );
                c.respond(&context)
                    .map(|h| Some(h.to_header_string()))
                    .map_err(|e| Error::Auth(format!("cannot answer the digest challenge: {e}")))
            }
        }
    }

    /// Sends a request with `media` as its version, retrying what may be
    /// retried, and decodes the answer (`None` for an empty one).
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
        match with_retries(
            &self.retry,
            "atlas",
            || self.attempt::<T>(method.clone(), &url, path, &bytes, media),
            |_, _| {},
        )
        .await
        {
            Ok(v) => Ok(v),
            Err(f) => match f.last.error {
                Error::Api { status, .. } if f.last.retry && (status == 429 || status == 503) => {
                    Err(Error::Unavailable {
                        method: method.to_string(),
                        path: path.to_string(),
                        status,
                        attempts: f.attempts,
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
    ) -> Result<Option<T>, Attempt<Error>> {
        let fatal = Attempt::fatal;
        let uri = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let idempotent = method != Method::POST;
        let mut renew = false;
        let mut resp = None;
        // At most two rounds: the second answers a fresh digest challenge or
        // uses a renewed token.
        for _ in 0..2 {
            let auth = self
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
            if r.status() == StatusCode::UNAUTHORIZED {
                match self.credentials.as_ref() {
                    Credentials::ApiKey { .. } => {
                        let fresh = r
                            .headers()
                            .get("www-authenticate")
                            .and_then(|v| v.to_str().ok())
                            .filter(|v| v.starts_with("Digest"))
                            .and_then(|v| WwwAuthenticateHeader::parse(v).ok());
                        let mut c = self.challenge.lock().unwrap_or_else(|e| e.into_inner());
                        let had = c.is_some();
                        match fresh {
                            // A first challenge, or a stale nonce: answer it once.
                            Some(f) if !had || f.stale => {
                                *c = Some(f);
                                continue;
                            }
                            _ => {
                                *c = None;
                                return Err(fatal(Error::Auth(
                                    "Atlas refused the API key; check MONGODB_ATLAS_PUBLIC_KEY and _PRIVATE_KEY".into(),
                                )));
                            }
                        }
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
        let bytes = resp.bytes().await.map_err(|e| Attempt {
            error: Error::transport(method.to_string(), path.to_string(), e),
            retry: idempotent,
            wait: None,
        })?;
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
            // 429 was not processed; a 503 may have been, so only calls that
            // can safely repeat are retried on it.
            let retry = status == StatusCode::TOO_MANY_REQUESTS
                || (status == StatusCode::SERVICE_UNAVAILABLE && idempotent);
            return Err(Attempt {
                error: Error::Api {
                    status: status.as_u16(),
                    method: method.to_string(),
                    path: path.to_string(),
                    body,
                },
                retry,
                wait,
            });
        }
        if bytes.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            fatal(Error::decode(
                method.to_string(),
                path.to_string(),
                format!("{e}"),
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
        let mut seen = 0usize;
        madplan_core::rest::all_pages(
            MAX_PAGES,
            |n| {
                let query = [
                    ("pageNum", (n + 1).to_string()),
                    ("itemsPerPage", PER_PAGE.to_string()),
                ];
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
