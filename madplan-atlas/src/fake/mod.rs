//! An in-memory MongoDB Atlas on 127.0.0.1 for tests and demos.
//!
//! It issues service-account tokens at `/api/oauth/token` (with a
//! configurable lifetime) and real HTTP Digest challenges for API keys
//! (the digest is computed over the path the request really used, and a
//! nonce count may not be used twice), moves clusters through `CREATING`
//! and `UPDATING` to `IDLE` and `DELETING` to gone after a configurable
//! delay, has an auto-scaler that changes a cluster's effective tier,
//! answers with Atlas's error body and its `RateLimit-*` headers, can be
//! told to answer 429 or 503 for the next requests, and refuses what Atlas
//! refuses (a cluster update while it is busy, deleting a cluster under
//! termination protection, a point-in-time restore outside the window or
//! into a cluster that does not exist...).
//!
//! Every authenticated request is checked against the official OpenAPI
//! document (`madplan-core/specs/atlas-trim.json`), including the versioned
//! `Accept` and `Content-Type`: a violation is recorded and answered 400.
//! Every answer it sends is checked against the same document (status
//! documented, body fitting its schema), and a violation is recorded, so a
//! model that could not decode a real answer fails a test. Scripted 429
//! and 503 failures stand for the network around Atlas and are not
//! checked.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use digest_auth::{AuthContext, AuthorizationHeader, HttpMethod};
use madplan_core::testkit::{Ledger, LocalServer, SpecCheck};
use serde_json::{Value, json};

use crate::client::open::decode_segment;

mod routes;

/// How the fake behaves.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// Service account (client id, secret).
    pub service_account: (String, String),
    /// API key (public, private).
    pub api_key: (String, String),
    /// Lifetime of the tokens it issues.
    pub token_ttl: Duration,
    /// How long clusters stay `CREATING`/`UPDATING`/`DELETING` and restores
    /// run.
    pub transition: Duration,
    /// The `RateLimit-Limit` it announces.
    pub rate_limit: u64,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            service_account: ("mdb_sa_id_test".into(), "mdb_sa_sk_test-secret".into()),
            api_key: ("testpublickey".into(), "test-private-key-0000".into()),
            token_ttl: Duration::from_secs(3600),
            transition: Duration::from_millis(300),
            rate_limit: 100,
        }
    }
}

/// How a restore job ends, when a test says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreOutcome {
    /// It fails.
    Failed,
    /// It expires.
    Expired,
    /// It is cancelled.
    Cancelled,
}

pub(crate) struct ClusterRec {
    pub body: Value,
    pub state: &'static str,
    pub since: Instant,
    /// Seconds since the epoch when it was made.
    pub created: u64,
    pub snapshots: Vec<String>,
    /// The connection strings it gets once it is first `IDLE`.
    pub connection: Value,
}

pub(crate) struct RestoreRec {
    pub job: Value,
    pub started: Instant,
    pub outcome: Option<RestoreOutcome>,
}

/// A request body the fake received.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    /// The method.
    pub method: String,
    /// The path, decoded.
    pub path: String,
    /// The body (`null` when there was none).
    pub body: Value,
}

#[derive(Default)]
pub(crate) struct World {
    pub tokens: HashMap<String, Instant>,
    pub token_requests: usize,
    pub digest_challenges: usize,
    pub nonce: String,
    /// Nonce counts seen, by nonce.
    pub nc_seen: HashMap<String, BTreeSet<u32>>,
    pub groups: Vec<Value>,
    pub settings: BTreeMap<String, Value>,
    pub audit: BTreeMap<String, Value>,
    pub integrations: BTreeMap<(String, String), Value>,
    pub clusters: BTreeMap<(String, String), ClusterRec>,
    pub schedules: BTreeMap<(String, String), Value>,
    pub restores: BTreeMap<String, RestoreRec>,
    pub access: BTreeMap<String, Vec<Value>>,
    /// (group, database, username) -> user.
    pub users: BTreeMap<(String, String, String), Value>,
    /// The passwords users were given, by the same key.
    pub passwords: BTreeMap<(String, String, String), String>,
    pub recorded: Vec<Recorded>,
    pub answered: usize,
    /// Requests to carry out whose answers are then lost (answered 503).
    pub lose_answers: usize,
    /// The next challenge for an expired nonce leaves out `stale=true`.
    pub unflagged_stale: bool,
    pub next: u64,
}

impl World {
    pub fn id(&mut self) -> String {
        self.next += 1;
        format!("{:024x}", self.next)
    }
}

pub(crate) struct Shared {
    pub config: FakeConfig,
    pub world: Mutex<World>,
    pub spec: Arc<SpecCheck>,
    pub ledger: Ledger,
}

/// The official document, loaded once per process.
fn spec() -> Arc<SpecCheck> {
    static SPEC: OnceLock<Arc<SpecCheck>> = OnceLock::new();
    SPEC.get_or_init(|| {
        Arc::new(SpecCheck::load("atlas-trim.json", |_| {}).unwrap_or_else(|e| panic!("{e}")))
    })
    .clone()
}

/// A running fake Atlas. Dropping it stops the server.
pub struct FakeAtlas {
    server: LocalServer,
    shared: Arc<Shared>,
}

/// Seconds since the epoch, now.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl FakeAtlas {
    /// Starts a fake Atlas.
    pub async fn start(config: FakeConfig) -> Self {
        let world = World {
            nonce: "bm9uY2UtbWFkcGxhbi1mYWtl".into(),
            ..World::default()
        };
        let shared = Arc::new(Shared {
            config,
            world: Mutex::new(world),
            spec: spec(),
            ledger: Ledger::default(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let server = LocalServer::start(app).await;
        Self { server, shared }
    }

    /// The base URL to give the client.
    pub fn base_url(&self) -> String {
        self.server.url()
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.shared.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers the next `n` API requests with `status` (429 or 503), with
    /// `Retry-After` if given.
    pub fn fail_next(&self, n: usize, status: u16, retry_after: Option<u64>) {
        self.shared.ledger.fail_next(n, status, retry_after);
    }

    /// Carries out the next `n` API requests but answers them 503, as if
    /// the answer had been lost on the way back.
    pub fn lose_next_answers(&self, n: usize) {
        self.world().lose_answers += n;
    }

    /// The next request with an expired nonce is challenged without
    /// `stale=true` (as some servers do).
    pub fn fail_stale_flag(&self) {
        self.world().unflagged_stale = true;
    }

    /// Changes the digest nonce: the next request with the old one is
    /// answered with a stale challenge.
    pub fn rotate_nonce(&self) {
        let mut w = self.world();
        w.nonce = format!("{}x", w.nonce);
    }

    /// How many tokens were issued.
    pub fn token_requests(&self) -> usize {
        self.world().token_requests
    }

    /// How many digest challenges were sent.
    pub fn digest_challenges(&self) -> usize {
        self.world().digest_challenges
    }

    /// Every spec violation seen so far, in requests and in answers.
    pub fn violations(&self) -> Vec<String> {
        self.shared.ledger.violations()
    }

    /// Every request seen so far, as `METHOD /path`.
    pub fn requests(&self) -> Vec<String> {
        self.shared.ledger.requests()
    }

    /// How many answers were checked against the spec.
    pub fn answers_checked(&self) -> usize {
        self.world().answered
    }

    /// Every request body received, in order.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.world().recorded.clone()
    }

    /// The bodies of the `method` requests whose decoded path ends with
    /// `path_end`.
    pub fn bodies(&self, method: &str, path_end: &str) -> Vec<Value> {
        self.world()
            .recorded
            .iter()
            .filter(|r| r.method == method && r.path.ends_with(path_end))
            .map(|r| r.body.clone())
            .collect()
    }

    /// The auto-scaler: the cluster's effective tier (electable and
    /// read-only nodes, every region) becomes `size`, through `UPDATING`.
    /// The configured specs stay as the client last sent them, as Atlas's
    /// do.
    pub fn autoscale(&self, group: &str, cluster: &str, size: &str) {
        let mut w = self.world();
        let rec = w
            .clusters
            .get_mut(&(group.to_string(), cluster.to_string()))
            .expect("no such cluster");
        for spec in rec.body["replicationSpecs"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            for r in spec["regionConfigs"].as_array_mut().into_iter().flatten() {
                for k in ["effectiveElectableSpecs", "effectiveReadOnlySpecs"] {
                    if r[k].is_object() {
                        r[k]["instanceSize"] = json!(size);
                    }
                }
            }
        }
        rec.state = "UPDATING";
        rec.since = Instant::now();
    }

    /// The cluster as the fake stores it (what Atlas would answer).
    pub fn cluster_json(&self, group: &str, cluster: &str) -> Option<Value> {
        self.world()
            .clusters
            .get(&(group.to_string(), cluster.to_string()))
            .map(|r| r.body.clone())
    }

    /// Puts a cluster in place as it is (any fields, unknown ones
    /// included), `IDLE`, as if someone else had made it.
    pub fn put_cluster_json(&self, group: &str, cluster: Value) {
        let mut w = self.world();
        let name = cluster["name"].as_str().unwrap_or_default().to_string();
        let schedule = routes::default_schedule(&mut w, &name);
        w.schedules
            .insert((group.to_string(), name.clone()), schedule);
        w.clusters.insert(
            (group.to_string(), name),
            ClusterRec {
                body: cluster,
                state: "IDLE",
                since: Instant::now(),
                created: now_secs(),
                snapshots: Vec::new(),
                connection: Value::Null,
            },
        );
    }

    /// Every access list entry of the project, as stored.
    pub fn access_json(&self, group: &str) -> Vec<Value> {
        self.world().access.get(group).cloned().unwrap_or_default()
    }

    /// Every database user of the project, as stored (no passwords).
    pub fn users_json(&self, group: &str) -> Vec<Value> {
        self.world()
            .users
            .iter()
            .filter(|((g, _, _), _)| g == group)
            .map(|(_, u)| u.clone())
            .collect()
    }

    /// The password a database user was last given (to check rotations).
    pub fn user_password(&self, group: &str, database: &str, username: &str) -> Option<String> {
        self.world()
            .passwords
            .get(&(
                group.to_string(),
                database.to_string(),
                username.to_string(),
            ))
            .cloned()
    }

    /// The cluster's backup schedule, as stored.
    pub fn schedule_json(&self, group: &str, cluster: &str) -> Option<Value> {
        self.world()
            .schedules
            .get(&(group.to_string(), cluster.to_string()))
            .cloned()
    }

    /// The project's auditing configuration, as stored.
    pub fn audit_json(&self, group: &str) -> Value {
        let mut w = self.world();
        routes::audit_of(&mut w, group).clone()
    }

    /// The project's integrations, as stored (keys in clear).
    pub fn integrations_json(&self, group: &str) -> Vec<Value> {
        self.world()
            .integrations
            .iter()
            .filter(|((g, _), _)| g == group)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Every project, as stored.
    pub fn projects_json(&self) -> Vec<Value> {
        self.world().groups.clone()
    }

    /// Takes a snapshot of the cluster and returns its id.
    pub fn take_snapshot(&self, group: &str, cluster: &str) -> String {
        let mut w = self.world();
        let id = w.id();
        w.clusters
            .get_mut(&(group.to_string(), cluster.to_string()))
            .expect("no such cluster")
            .snapshots
            .push(id.clone());
        id
    }

    /// Makes the cluster look as if it was made `secs` seconds ago.
    pub fn age_cluster(&self, group: &str, cluster: &str, secs: u64) {
        let mut w = self.world();
        if let Some(rec) = w
            .clusters
            .get_mut(&(group.to_string(), cluster.to_string()))
        {
            rec.created = now_secs().saturating_sub(secs);
        }
    }

    /// Makes the restore job end as `outcome` instead of finishing.
    pub fn end_restore(&self, id: &str, outcome: RestoreOutcome) {
        if let Some(r) = self.world().restores.get_mut(id) {
            r.outcome = Some(outcome);
        }
    }
}

/// An answer before it is checked and sent.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Option<Value>,
    pub media: String,
}

pub(crate) fn error(status: StatusCode, code: &str, detail: &str) -> Answer {
    Answer {
        status,
        body: Some(json!({
            "error": status.as_u16(),
            "errorCode": code,
            "detail": detail,
            "reason": status.canonical_reason().unwrap_or(""),
            "parameters": [],
        })),
        media: "application/json".into(),
    }
}

/// A 400 naming the fields Atlas refuses (`badRequestDetail.fields`).
pub(crate) fn bad_fields(code: &str, detail: &str, fields: &[(&str, &str)]) -> Answer {
    let mut a = error(StatusCode::BAD_REQUEST, code, detail);
    if let Some(b) = a.body.as_mut() {
        b["badRequestDetail"] = json!({
            "fields": fields.iter().map(|(f, d)| json!({"field": f, "description": d})).collect::<Vec<_>>()
        });
    }
    a
}

pub(crate) fn ok(status: StatusCode, v: Value, media: &str) -> Answer {
    Answer {
        status,
        body: Some(v),
        media: media.to_string(),
    }
}

pub(crate) fn empty(status: StatusCode, media: &str) -> Answer {
    Answer {
        status,
        body: None,
        media: media.to_string(),
    }
}

impl Shared {
    /// Checks an answer against the spec, records violations, and sends it
    /// with the rate-limit headers.
    fn finish(&self, w: &mut World, method: &Method, raw: &[&str], a: Answer) -> Response {
        let bytes = a
            .body
            .as_ref()
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
            .unwrap_or_default();
        let violations =
            self.spec
                .check_answer(method.as_str(), raw, a.status.as_u16(), &a.media, &bytes);
        w.answered += 1;
        self.ledger.record_violations(violations);
        let mut r = (a.status, bytes).into_response();
        if a.body.is_some()
            && let Ok(m) = HeaderValue::from_str(&a.media)
        {
            r.headers_mut().insert("content-type", m);
        }
        self.rate_headers(w, &mut r);
        r
    }

    fn rate_headers(&self, w: &World, r: &mut Response) {
        let limit = self.config.rate_limit;
        let used = (self.ledger.requests().len() as u64) % limit.max(1);
        let _ = w;
        r.headers_mut()
            .insert("ratelimit-limit", HeaderValue::from(limit));
        r.headers_mut().insert(
            "ratelimit-remaining",
            HeaderValue::from(limit.saturating_sub(used)),
        );
    }
}

/// Who the request authenticates as, or the 401 to send.
fn authenticate(
    shared: &Shared,
    w: &mut World,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), (Answer, Option<String>)> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let refuse = |detail: &str| {
        (
            error(StatusCode::UNAUTHORIZED, "NOT_AUTHORIZED", detail),
            None,
        )
    };
    let challenge = |w: &mut World, stale: bool| {
        w.digest_challenges += 1;
        let a = error(
            StatusCode::UNAUTHORIZED,
            "NOT_AUTHORIZED",
            "You are not authorized for this resource.",
        );
        let value = format!(
            "Digest realm=\"MMS Public API\", domain=\"\", nonce=\"{}\", algorithm=MD5, qop=\"auth\", stale={stale}",
            w.nonce
        );
        (a, Some(value))
    };
    if let Some(token) = auth.strip_prefix("Bearer ") {
        return match w.tokens.get(token) {
            Some(exp) if *exp > Instant::now() => Ok(()),
            _ => Err(refuse("The access token is invalid or has expired.")),
        };
    }
    if auth.starts_with("Digest ") {
        let Ok(given) = AuthorizationHeader::parse(&auth) else {
            return Err(challenge(w, false));
        };
        let (public, private) = &shared.config.api_key;
        if given.username != *public {
            return Err(refuse("Unknown API key."));
        }
        if given.nonce != w.nonce {
            let stale = !std::mem::take(&mut w.unflagged_stale);
            return Err(challenge(w, stale));
        }
        // The digest is over the request's real target: a client that
        // signs another URI (unencoded, without its query) is refused.
        let target = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        let mut expected = given.clone();
        expected.digest(&AuthContext::new_with_method(
            public.as_str(),
            private.as_str(),
            target.as_str(),
            Option::<&[u8]>::None,
            HttpMethod(method.as_str().to_string().into()),
        ));
        if given.uri != target || expected.response != given.response {
            return Err(challenge(w, false));
        }
        // A nonce count is used once: a replayed or uncounted request is
        // refused.
        if !w
            .nc_seen
            .entry(given.nonce.clone())
            .or_default()
            .insert(given.nc)
        {
            return Err(refuse("The nonce count was used before."));
        }
        return Ok(());
    }
    Err(challenge(w, false))
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut w = shared.world.lock().unwrap_or_else(|e| e.into_inner());
    shared
        .ledger
        .record_request(format!("{method} {}", uri.path()));
    if uri.path() == "/api/oauth/token" {
        return token(&shared, &mut w, &headers, &body);
    }
    let raw: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    if let Err((answer, challenge)) = authenticate(&shared, &mut w, &method, &uri, &headers) {
        let mut r = shared.finish(&mut w, &method, &raw, answer);
        if let Some(v) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            r.headers_mut().insert("www-authenticate", v);
        }
        return r;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let violations = shared
        .spec
        .check(method.as_str(), &raw, &query, &header, &body);
    if let Some(text) = shared.ledger.record_violations(violations) {
        let a = error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            &format!("request breaks the OpenAPI spec: {text}"),
        );
        return shared.finish(&mut w, &method, &raw, a);
    }
    if let Some((status, wait)) = shared.ledger.next_failure() {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
        let a = error(
            code,
            if status == 429 {
                "RATE_LIMITED_TOKEN_BUCKET"
            } else {
                "SERVICE_UNAVAILABLE"
            },
            "Try again later.",
        );
        let bytes = serde_json::to_vec(&a.body).unwrap_or_default();
        let mut r = (code, bytes).into_response();
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        if let Some(s) = wait {
            r.headers_mut().insert("retry-after", HeaderValue::from(s));
        }
        shared.rate_headers(&w, &mut r);
        return r;
    }
    let media = header("accept").unwrap_or_default();
    let value: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let Some(decoded) = raw
        .iter()
        .map(|s| decode_segment(s))
        .collect::<Option<Vec<String>>>()
    else {
        let a = error(
            StatusCode::BAD_REQUEST,
            "INVALID_PATH",
            "a path segment is not valid percent-encoding",
        );
        return shared.finish(&mut w, &method, &raw, a);
    };
    w.recorded.push(Recorded {
        method: method.to_string(),
        path: format!("/{}", decoded.join("/")),
        body: value.clone(),
    });
    let path: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let answer = routes::route(
        &shared.config,
        &mut w,
        &method,
        &path,
        &query,
        value,
        &media,
    );
    if w.lose_answers > 0 {
        w.lose_answers -= 1;
        let mut r = (
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream connect error or disconnect/reset before headers",
        )
            .into_response();
        shared.rate_headers(&w, &mut r);
        return r;
    }
    shared.finish(&mut w, &method, &raw, answer)
}

fn token(shared: &Shared, w: &mut World, headers: &HeaderMap, body: &[u8]) -> Response {
    let (id, secret) = &shared.config.service_account;
    let expected = {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
    };
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != expected || body != b"grant_type=client_credentials" {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    w.token_requests += 1;
    let token = format!("tok-{}", w.id());
    w.tokens
        .insert(token.clone(), Instant::now() + shared.config.token_ttl);
    (
        StatusCode::OK,
        axum::Json(json!({"access_token": token, "expires_in": shared.config.token_ttl.as_secs(), "token_type": "Bearer"})),
    )
        .into_response()
}
