//! An in-memory MongoDB Atlas on 127.0.0.1 for tests and demos.
//!
//! It issues service-account tokens at `/api/oauth/token` (with a
//! configurable lifetime) and real HTTP Digest challenges for API keys,
//! moves clusters through `CREATING` to `IDLE` and `DELETING` to gone after
//! a configurable delay, answers with Atlas's error body, can be told to
//! answer 429 or 503 for the next requests, and checks every authenticated
//! request against the official OpenAPI document
//! (`madplan-core/specs/atlas-trim.json`), including the versioned `Accept` and
//! `Content-Type`: a violation is recorded and answered 400.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use digest_auth::{AuthContext, AuthorizationHeader, HttpMethod};
use madplan_core::testkit::{Ledger, LocalServer, SpecCheck};
use serde_json::{Value, json};

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
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            service_account: ("mdb_sa_id_test".into(), "mdb_sa_sk_test-secret".into()),
            api_key: ("testpublickey".into(), "test-private-key-0000".into()),
            token_ttl: Duration::from_secs(3600),
            transition: Duration::from_millis(300),
        }
    }
}

struct ClusterRec {
    body: Value,
    state: &'static str,
    since: Instant,
}

#[derive(Default)]
struct World {
    tokens: HashMap<String, Instant>,
    token_requests: usize,
    digest_challenges: usize,
    nonce: String,
    groups: Vec<Value>,
    clusters: BTreeMap<(String, String), ClusterRec>,
    schedules: BTreeMap<(String, String), Value>,
    restores: BTreeMap<String, (Value, Instant)>,
    access: BTreeMap<String, Vec<Value>>,
    users: BTreeMap<(String, String), Value>,
    next: u64,
}

impl World {
    fn id(&mut self) -> String {
        self.next += 1;
        format!("{:024x}", self.next)
    }
}

struct Shared {
    config: FakeConfig,
    world: Mutex<World>,
    spec: SpecCheck,
    ledger: Ledger,
}

/// A running fake Atlas. Dropping it stops the server.
pub struct FakeAtlas {
    server: LocalServer,
    shared: Arc<Shared>,
}

impl FakeAtlas {
    /// Starts a fake Atlas.
    pub async fn start(config: FakeConfig) -> Self {
        let spec = SpecCheck::load("atlas-trim.json", |_| {}).unwrap_or_else(|e| panic!("{e}"));
        let world = World {
            nonce: "bm9uY2UtbWFkcGxhbi1mYWtl".into(),
            ..World::default()
        };
        let shared = Arc::new(Shared {
            config,
            world: Mutex::new(world),
            spec,
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

    /// Changes the digest nonce, so that the next request with the old one
    /// is answered with a stale challenge.
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

    /// Every spec violation seen so far.
    pub fn violations(&self) -> Vec<String> {
        self.shared.ledger.violations()
    }

    /// Every request seen so far, as `METHOD /path`.
    pub fn requests(&self) -> Vec<String> {
        self.shared.ledger.requests()
    }
}

fn error(status: StatusCode, code: &str, detail: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "error": status.as_u16(),
            "errorCode": code,
            "detail": detail,
            "reason": status.canonical_reason().unwrap_or(""),
            "parameters": [],
        })),
    )
        .into_response()
}

fn ok(status: StatusCode, v: Value, media: &str) -> Response {
    let mut r = (status, axum::Json(v)).into_response();
    if let Ok(m) = HeaderValue::from_str(media) {
        r.headers_mut().insert("content-type", m);
    }
    r
}

/// Who the request authenticates as, or the 401 to send.
fn authenticate(
    shared: &Shared,
    w: &mut World,
    method: &Method,
    headers: &HeaderMap,
) -> Result<(), Response> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let challenge = |w: &mut World, stale: bool| {
        w.digest_challenges += 1;
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "NOT_AUTHORIZED",
            "You are not authorized for this resource.",
        );
        let value = format!(
            "Digest realm=\"MMS Public API\", domain=\"\", nonce=\"{}\", algorithm=MD5, qop=\"auth\", stale={stale}",
            w.nonce
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            r.headers_mut().insert("www-authenticate", v);
        }
        r
    };
    if let Some(token) = auth.strip_prefix("Bearer ") {
        return match w.tokens.get(token) {
            Some(exp) if *exp > Instant::now() => Ok(()),
            _ => Err(error(
                StatusCode::UNAUTHORIZED,
                "NOT_AUTHORIZED",
                "The access token is invalid or has expired.",
            )),
        };
    }
    if auth.starts_with("Digest ") {
        let Ok(given) = AuthorizationHeader::parse(&auth) else {
            return Err(challenge(w, false));
        };
        let (public, private) = &shared.config.api_key;
        if given.username != *public {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "NOT_AUTHORIZED",
                "Unknown API key.",
            ));
        }
        if given.nonce != w.nonce {
            return Err(challenge(w, true));
        }
        let mut expected = given.clone();
        expected.digest(&AuthContext::new_with_method(
            public.as_str(),
            private.as_str(),
            given.uri.as_str(),
            Option::<&[u8]>::None,
            HttpMethod(method.as_str().to_string().into()),
        ));
        return if expected.response == given.response {
            Ok(())
        } else {
            Err(error(
                StatusCode::UNAUTHORIZED,
                "NOT_AUTHORIZED",
                "The digest does not match.",
            ))
        };
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
    if let Err(r) = authenticate(&shared, &mut w, &method, &headers) {
        return r;
    }
    let path: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let violations = shared
        .spec
        .check(method.as_str(), &path, &query, &header, &body);
    if let Some(text) = shared.ledger.record_violations(violations) {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            &format!("request breaks the OpenAPI spec: {text}"),
        );
    }
    if let Some((status, wait)) = shared.ledger.next_failure() {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
        let mut r = error(
            code,
            if status == 429 {
                "RATE_LIMITED_TOKEN_BUCKET"
            } else {
                "SERVICE_UNAVAILABLE"
            },
            "Try again later.",
        );
        if let Some(s) = wait {
            r.headers_mut().insert("retry-after", HeaderValue::from(s));
        }
        return r;
    }
    let media = header("accept").unwrap_or_default();
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let path: Vec<String> = path.iter().map(|s| s.replace("%2F", "/")).collect();
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    route(&shared.config, &mut w, &method, &path, &query, body, &media)
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

/// Moves a cluster along in time; `false` once it is gone.
fn settle(rec: &mut ClusterRec, transition: Duration) -> bool {
    if rec.since.elapsed() >= transition {
        match rec.state {
            "CREATING" | "UPDATING" => rec.state = "IDLE",
            "DELETING" => return false,
            _ => {}
        }
    }
    rec.body["stateName"] = json!(rec.state);
    true
}

fn page(items: Vec<Value>, query: &[(String, String)]) -> Value {
    let get = |k: &str| {
        query
            .iter()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.parse::<usize>().ok())
    };
    let per = get("itemsPerPage").unwrap_or(100).max(1);
    let num = get("pageNum").unwrap_or(1).max(1);
    let total = items.len();
    let results: Vec<Value> = items.into_iter().skip((num - 1) * per).take(per).collect();
    json!({"results": results, "totalCount": total, "links": []})
}

fn route(
    config: &FakeConfig,
    w: &mut World,
    method: &Method,
    path: &[&str],
    query: &[(String, String)],
    body: Value,
    media: &str,
) -> Response {
    let m = method.as_str();
    match path {
        ["api", "atlas", "v2", "groups", "byName", name] => {
            match w.groups.iter().find(|g| g["name"] == *name) {
                Some(g) => ok(StatusCode::OK, g.clone(), media),
                None => error(
                    StatusCode::NOT_FOUND,
                    "GROUP_NAME_NOT_FOUND",
                    &format!("No group with name {name} exists."),
                ),
            }
        }
        ["api", "atlas", "v2", "groups"] if m == "POST" => {
            if w.groups.iter().any(|g| g["name"] == body["name"]) {
                return error(
                    StatusCode::CONFLICT,
                    "GROUP_ALREADY_EXISTS",
                    "A group with this name already exists.",
                );
            }
            let id = w.id();
            let g = json!({"id": id, "name": body["name"], "orgId": body["orgId"], "clusterCount": 0, "created": "2026-11-25T00:00:00Z"});
            w.groups.push(g.clone());
            ok(StatusCode::OK, g, media)
        }
        ["api", "atlas", "v2", "groups", group, ..]
            if !w.groups.iter().any(|g| g["id"] == *group) =>
        {
            error(
                StatusCode::NOT_FOUND,
                "RESOURCE_NOT_FOUND",
                &format!("Cannot find resource group {group}."),
            )
        }
        ["api", "atlas", "v2", "groups", group, "clusters"] => {
            let group = group.to_string();
            match m {
                "GET" => {
                    let mut items = Vec::new();
                    let keys: Vec<_> = w
                        .clusters
                        .keys()
                        .filter(|(g, _)| *g == group)
                        .cloned()
                        .collect();
                    for k in keys {
                        let alive = w
                            .clusters
                            .get_mut(&k)
                            .is_some_and(|r| settle(r, config.transition));
                        if alive {
                            items.push(w.clusters[&k].body.clone());
                        } else {
                            w.clusters.remove(&k);
                        }
                    }
                    ok(StatusCode::OK, page(items, query), media)
                }
                "POST" => {
                    let name = body["name"].as_str().unwrap_or_default().to_string();
                    if w.clusters.contains_key(&(group.clone(), name.clone())) {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "DUPLICATE_CLUSTER_NAME",
                            &format!("A cluster named {name} is already present in group {group}."),
                        );
                    }
                    let mut c = body;
                    c["id"] = json!(w.id());
                    c["groupId"] = json!(group);
                    c["stateName"] = json!("CREATING");
                    for spec in c["replicationSpecs"].as_array_mut().into_iter().flatten() {
                        w.next += 1;
                        spec["id"] = json!(format!("{:024x}", w.next));
                        w.next += 1;
                        spec["zoneId"] = json!(format!("{:024x}", w.next));
                        if spec["zoneName"].is_null() {
                            spec["zoneName"] = json!("Zone 1");
                        }
                    }
                    let policy_id = w.id();
                    let item_id = w.id();
                    w.schedules.insert(
                        (group.clone(), name.clone()),
                        json!({
                            "clusterName": name,
                            "policies": [{"id": policy_id, "policyItems": [
                                {"id": item_id, "frequencyType": "hourly", "frequencyInterval": 6, "retentionUnit": "days", "retentionValue": 7}
                            ]}],
                            "restoreWindowDays": 7,
                            "referenceHourOfDay": 3,
                            "copySettings": []
                        }),
                    );
                    w.clusters.insert(
                        (group, name),
                        ClusterRec {
                            body: c.clone(),
                            state: "CREATING",
                            since: Instant::now(),
                        },
                    );
                    ok(StatusCode::CREATED, c, media)
                }
                _ => error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "METHOD_NOT_ALLOWED",
                    "Method not allowed",
                ),
            }
        }
        [
            "api",
            "atlas",
            "v2",
            "groups",
            group,
            "clusters",
            name,
            rest @ ..,
        ] => {
            let key = (group.to_string(), name.to_string());
            let alive = w
                .clusters
                .get_mut(&key)
                .is_some_and(|r| settle(r, config.transition));
            if !alive {
                w.clusters.remove(&key);
                return error(
                    StatusCode::NOT_FOUND,
                    "CLUSTER_NOT_FOUND",
                    &format!("No cluster named {name} exists in group {group}."),
                );
            }
            match (m, rest) {
                ("GET", []) => ok(StatusCode::OK, w.clusters[&key].body.clone(), media),
                ("PATCH", []) => {
                    let rec = w.clusters.get_mut(&key).expect("cluster");
                    if rec.state != "IDLE" {
                        return error(
                            StatusCode::CONFLICT,
                            "CLUSTER_NOT_IDLE",
                            "The cluster is busy; try again when it is IDLE.",
                        );
                    }
                    for (k, v) in body.as_object().into_iter().flatten() {
                        if k == "replicationSpecs" {
                            // Keep the ids Atlas assigned.
                            let old = rec.body["replicationSpecs"].clone();
                            let mut specs = v.clone();
                            for (i, s) in specs.as_array_mut().into_iter().flatten().enumerate() {
                                s["id"] = old[i]["id"].clone();
                                s["zoneId"] = old[i]["zoneId"].clone();
                                if s["zoneName"].is_null() {
                                    s["zoneName"] = old[i]["zoneName"].clone();
                                }
                            }
                            rec.body[k] = specs;
                        } else {
                            rec.body[k] = v.clone();
                        }
                    }
                    rec.state = "UPDATING";
                    rec.since = Instant::now();
                    rec.body["stateName"] = json!("UPDATING");
                    ok(StatusCode::OK, rec.body.clone(), media)
                }
                ("DELETE", []) => {
                    let rec = w.clusters.get_mut(&key).expect("cluster");
                    if rec.body["terminationProtectionEnabled"] == true {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "CANNOT_TERMINATE_CLUSTER_WHEN_TERMINATION_PROTECTION_ENABLED",
                            "Turn termination protection off first.",
                        );
                    }
                    rec.state = "DELETING";
                    rec.since = Instant::now();
                    (StatusCode::ACCEPTED, "").into_response()
                }
                ("GET", ["backup", "schedule"]) => {
                    ok(StatusCode::OK, w.schedules[&key].clone(), media)
                }
                ("PATCH", ["backup", "schedule"]) => {
                    let zones: Vec<Value> = w.clusters[&key].body["replicationSpecs"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|s| s["zoneId"].clone())
                        .collect();
                    for c in body["copySettings"].as_array().into_iter().flatten() {
                        if !zones.contains(&c["zoneId"]) {
                            return error(
                                StatusCode::BAD_REQUEST,
                                "INVALID_ZONE_ID",
                                "A copy setting names a zone the cluster does not have.",
                            );
                        }
                    }
                    let schedule = w.schedules.get_mut(&key).expect("schedule");
                    for (k, v) in body.as_object().into_iter().flatten() {
                        schedule[k] = v.clone();
                    }
                    ok(StatusCode::OK, schedule.clone(), media)
                }
                ("POST", ["backup", "restoreJobs"]) => {
                    if body["deliveryType"] == "pointInTime"
                        && w.clusters[&key].body["pitEnabled"] != true
                    {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "CLUSTER_PIT_NOT_ENABLED",
                            "Point-in-time restore is not enabled on this cluster.",
                        );
                    }
                    let id = w.id();
                    let mut job = body;
                    job["id"] = json!(id);
                    w.restores.insert(id, (job.clone(), Instant::now()));
                    ok(StatusCode::OK, job, media)
                }
                ("GET", ["backup", "restoreJobs", id]) => match w.restores.get(*id) {
                    Some((job, started)) => {
                        let mut job = job.clone();
                        if started.elapsed() >= config.transition {
                            job["finishedAt"] = json!("2026-11-25T00:10:00Z");
                        }
                        ok(StatusCode::OK, job, media)
                    }
                    None => error(
                        StatusCode::NOT_FOUND,
                        "RESTORE_JOB_NOT_FOUND",
                        "No such restore job.",
                    ),
                },
                _ => error(
                    StatusCode::NOT_FOUND,
                    "RESOURCE_NOT_FOUND",
                    "No such resource.",
                ),
            }
        }
        [
            "api",
            "atlas",
            "v2",
            "groups",
            group,
            "accessList",
            rest @ ..,
        ] => {
            let list = w.access.entry(group.to_string()).or_default();
            match (m, rest) {
                ("GET", []) => ok(StatusCode::OK, page(list.clone(), query), media),
                ("POST", []) => {
                    for e in body.as_array().into_iter().flatten() {
                        let mut e = e.clone();
                        if let Some(ip) = e["ipAddress"].as_str() {
                            e["cidrBlock"] = json!(format!("{ip}/32"));
                        }
                        list.retain(|x| x["cidrBlock"] != e["cidrBlock"]);
                        list.push(e);
                    }
                    ok(StatusCode::OK, page(list.clone(), query), media)
                }
                ("DELETE", [value]) => {
                    let before = list.len();
                    list.retain(|x| x["cidrBlock"] != *value && x["ipAddress"] != *value);
                    if list.len() == before {
                        return error(
                            StatusCode::NOT_FOUND,
                            "ATLAS_NETWORK_PERMISSION_ENTRY_NOT_FOUND",
                            "No such access list entry.",
                        );
                    }
                    (StatusCode::NO_CONTENT, "").into_response()
                }
                _ => error(
                    StatusCode::NOT_FOUND,
                    "RESOURCE_NOT_FOUND",
                    "No such resource.",
                ),
            }
        }
        [
            "api",
            "atlas",
            "v2",
            "groups",
            group,
            "databaseUsers",
            rest @ ..,
        ] => {
            let group = group.to_string();
            let public = |u: &Value| {
                let mut u = u.clone();
                if let Some(o) = u.as_object_mut() {
                    o.remove("password");
                }
                u
            };
            match (m, rest) {
                ("POST", []) => {
                    let key = (
                        group,
                        body["username"].as_str().unwrap_or_default().to_string(),
                    );
                    if w.users.contains_key(&key) {
                        return error(
                            StatusCode::CONFLICT,
                            "USER_ALREADY_EXISTS",
                            "The specified database user already exists.",
                        );
                    }
                    let u = public(&body);
                    w.users.insert(key, u.clone());
                    ok(StatusCode::CREATED, u, media)
                }
                (_, ["admin", username]) => {
                    let key = (group, username.to_string());
                    if !w.users.contains_key(&key) {
                        return error(
                            StatusCode::NOT_FOUND,
                            "USERNAME_NOT_FOUND",
                            &format!("No user with username {username} exists."),
                        );
                    }
                    match m {
                        "GET" => ok(StatusCode::OK, w.users[&key].clone(), media),
                        "PATCH" => {
                            let u = public(&body);
                            w.users.insert(key, u.clone());
                            ok(StatusCode::OK, u, media)
                        }
                        "DELETE" => {
                            w.users.remove(&key);
                            (StatusCode::NO_CONTENT, "").into_response()
                        }
                        _ => error(
                            StatusCode::METHOD_NOT_ALLOWED,
                            "METHOD_NOT_ALLOWED",
                            "Method not allowed",
                        ),
                    }
                }
                _ => error(
                    StatusCode::NOT_FOUND,
                    "RESOURCE_NOT_FOUND",
                    "No such resource.",
                ),
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_FOUND",
            "No such resource.",
        ),
    }
}
