//! An in-memory Cloudflare on 127.0.0.1 for tests and demos.
//!
//! It serves the endpoints madplan uses with Cloudflare's envelope, error
//! codes and rules (record conflicts, name normalisation, what each plan
//! allows), checks the API token, and can be told to fail the next
//! requests (429, 5xx, an HTML page from the edge, an answer lost after
//! the request was carried out).
//!
//! Every request is checked against the official OpenAPI document
//! (`madplan-core/specs/cf-trim.json`, found by
//! [`madplan_core::testkit::specs_dir`]): an unknown operation, a missing
//! bearer token, a bad query parameter or a body that breaks the schema is
//! recorded as a violation and answered with HTTP 400, so the calling test
//! fails. Every answer the fake gives is checked too (status documented,
//! body fits its schema), so a model that could not decode what Cloudflare
//! documents fails a test. Scripted failures are not checked: they stand
//! for answers from outside the API (the edge, a proxy).
//!
//! Where the 2023 document is wrong or lacks something Cloudflare has, the
//! check allows for it by name ([`Allowance`]), each as narrowly as the
//! documented behaviour permits.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use madplan_core::testkit::{Ledger, LocalServer, SpecCheck};
use serde_json::{Map, Value, json};

/// A documented defect of the 2023 Cloudflare OpenAPI document, or an
/// operation newer than it, that the checks allow for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Allowance {
    /// `RuleRequest` is a oneOf of block, execute, log and skip rules only,
    /// and `RuleAction` has the pattern `^[a-z]+$`, so the actions
    /// Cloudflare documents for other phases (`set_cache_settings`,
    /// `managed_challenge`, `js_challenge`, `challenge`) match nothing.
    /// Narrowed: one more branch per such action (the generic `Rule` with
    /// that action), and the pattern `^[a-z_]+$`; block, execute, log and
    /// skip rules are still checked against their own schemas.
    RuleRequestLacksActions,
    /// `dns-record`, the create/update body, requires `id`, `proxiable`,
    /// `locked`, `zone_name`, `created_on`, `modified_on` and `content`:
    /// that is the answer's shape (and `content` is read-only for records
    /// written with `data`, such as CAA). Narrowed: those fields are marked
    /// read-only, so requests need not send them and answers must still
    /// carry every one.
    DnsRecordRequiresResponseFields,
    /// Failure answers of the DNS and certificate operations are
    /// `allOf: [<success schema>, api-response-common-failure]`, which no
    /// answer can fit (`success` must be both `true` and `false`). They are
    /// checked against `api-response-common-failure` alone.
    FailureAnswersMergedWithSuccess,
    /// Cloudflare added the OPENPGPKEY record type after the 2023 document:
    /// `dns-record` gets one more branch for it (`content` a string, the
    /// common record fields), so a zone holding one lists; no other type is
    /// let through.
    RecordTypesNewerThanSpec,
    /// `GET`/`PUT /zones/{zone_id}/bot_management` is newer than the 2023
    /// document: the fake serves it as Cloudflare's current API reference
    /// describes it, without a spec check of its requests or answers.
    BotManagementNotInSpec,
}

impl Allowance {
    /// Every allowance this spec needs.
    pub const ALL: [Allowance; 5] = [
        Allowance::RuleRequestLacksActions,
        Allowance::DnsRecordRequiresResponseFields,
        Allowance::FailureAnswersMergedWithSuccess,
        Allowance::RecordTypesNewerThanSpec,
        Allowance::BotManagementNotInSpec,
    ];
}

/// The actions `RuleRequest` lacks a branch for.
const MISSING_ACTIONS: [&str; 4] = [
    "set_cache_settings",
    "managed_challenge",
    "js_challenge",
    "challenge",
];

fn patch_spec(spec: &mut Value, allowances: &[Allowance]) {
    if allowances.contains(&Allowance::RuleRequestLacksActions) {
        let schemas = &mut spec["components"]["schemas"];
        schemas["RuleAction"]["pattern"] = json!("^[a-z_]+$");
        if let Some(branches) = schemas["RuleRequest"]["oneOf"].as_array_mut() {
            for action in MISSING_ACTIONS {
                branches.push(json!({"allOf": [
                    {"$ref": "#/components/schemas/Rule"},
                    {"properties": {"action": {"enum": [action]}}}
                ]}));
            }
        }
    }
    if allowances.contains(&Allowance::DnsRecordRequiresResponseFields)
        && let Some(o) = spec["components"]["schemas"]["dns-record"].as_object_mut()
    {
        let mut props = Map::new();
        for f in [
            "id",
            "proxiable",
            "locked",
            "zone_name",
            "created_on",
            "modified_on",
            "content",
        ] {
            props.insert(f.into(), json!({"readOnly": true}));
        }
        o.insert("properties".into(), Value::Object(props));
    }
    if allowances.contains(&Allowance::RecordTypesNewerThanSpec) {
        let schemas = &mut spec["components"]["schemas"];
        // The common fields every record type shares (TXT's second part).
        let common = schemas["TXTRecord"]["allOf"][1].clone();
        schemas["OPENPGPKEYRecord"] = json!({
            "allOf": [
                {"properties": {
                    "content": {"type": "string"},
                    "name": {"type": "string", "maxLength": 255},
                    "type": {"type": "string", "enum": ["OPENPGPKEY"]}
                }},
                common
            ],
            "required": ["type", "name", "content"]
        });
        if let Some(branches) = schemas["dns-record"]["oneOf"].as_array_mut() {
            branches.push(json!({"$ref": "#/components/schemas/OPENPGPKEYRecord"}));
        }
    }
    if allowances.contains(&Allowance::FailureAnswersMergedWithSuccess) {
        let failure = "#/components/schemas/api-response-common-failure";
        for item in spec["paths"]
            .as_object_mut()
            .into_iter()
            .flat_map(|p| p.values_mut())
        {
            for op in item
                .as_object_mut()
                .into_iter()
                .flat_map(|o| o.values_mut())
            {
                for (code, r) in op["responses"]
                    .as_object_mut()
                    .into_iter()
                    .flat_map(|r| r.iter_mut())
                {
                    if !code.starts_with('4') {
                        continue;
                    }
                    let schema = &mut r["content"]["application/json"]["schema"];
                    let merged = schema["allOf"]
                        .as_array()
                        .is_some_and(|parts| parts.iter().any(|p| p["$ref"] == failure));
                    if merged {
                        *schema = json!({"$ref": failure});
                    }
                }
            }
        }
    }
}

type SpecCache = Mutex<Vec<(Vec<Allowance>, Arc<SpecCheck>)>>;

/// The spec, compiled once per process for each set of allowances.
fn spec(allowances: &[Allowance]) -> Arc<SpecCheck> {
    static CACHE: OnceLock<SpecCache> = OnceLock::new();
    let mut key = allowances.to_vec();
    key.sort();
    key.dedup();
    let cache = CACHE.get_or_init(Mutex::default);
    let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, s)) = c.iter().find(|(k, _)| *k == key) {
        return s.clone();
    }
    let s = Arc::new(
        SpecCheck::load("cf-trim.json", |spec| patch_spec(spec, &key))
            .unwrap_or_else(|e| panic!("{e}")),
    );
    c.push((key, s.clone()));
    s
}

/// A zone the fake holds and the plan it is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeZone {
    /// Its name.
    pub name: String,
    /// `free`, `pro`, `business` or `enterprise`.
    pub plan: String,
    /// Whether it has Advanced Certificate Manager.
    pub advanced_certificates: bool,
}

impl FakeZone {
    /// A zone on `plan` without add-ons.
    pub fn new(name: &str, plan: &str) -> Self {
        Self {
            name: name.to_string(),
            plan: plan.to_string(),
            advanced_certificates: false,
        }
    }

    /// With Advanced Certificate Manager.
    #[must_use]
    pub fn with_advanced_certificates(mut self) -> Self {
        self.advanced_certificates = true;
        self
    }
}

struct ZoneRec {
    id: String,
    zone: FakeZone,
}

#[derive(Default)]
struct World {
    token: String,
    zones: Vec<ZoneRec>,
    records: BTreeMap<String, Vec<Value>>,
    settings: BTreeMap<String, BTreeMap<String, Value>>,
    rulesets: BTreeMap<(String, String), Value>,
    bots: BTreeMap<String, Value>,
    packs: BTreeMap<String, Vec<Value>>,
    next: u64,
    tick: u64,
}

impl World {
    fn id(&mut self) -> String {
        self.next += 1;
        format!("{:032x}", self.next)
    }

    /// A timestamp that moves forward with every change.
    fn now(&mut self) -> String {
        self.tick += 1;
        format!(
            "2026-11-25T{:02}:{:02}:{:02}.000000Z",
            (self.tick / 3600) % 24,
            (self.tick / 60) % 60,
            self.tick % 60
        )
    }

    fn zone(&self, id: &str) -> Option<&ZoneRec> {
        self.zones.iter().find(|z| z.id == id)
    }
}

struct Shared {
    world: Mutex<World>,
    spec: Arc<SpecCheck>,
    unchecked_bots: bool,
    ledger: Ledger,
    lose_answers: AtomicUsize,
    pages: Mutex<Vec<u16>>,
    rays: AtomicUsize,
    write_delay: Mutex<std::time::Duration>,
}

/// A running fake Cloudflare. Dropping it stops the server.
pub struct FakeCloudflare {
    server: LocalServer,
    shared: Arc<Shared>,
}

/// The settings every zone starts with (Cloudflare's defaults), plus two
/// madplan does not manage.
fn default_settings() -> BTreeMap<String, Value> {
    [
        ("ssl", json!("flexible")),
        ("min_tls_version", json!("1.0")),
        ("always_use_https", json!("off")),
        ("tls_1_3", json!("on")),
        (
            "security_header",
            json!({"strict_transport_security": {"enabled": false, "max_age": 0, "include_subdomains": false, "preload": false, "nosniff": false}}),
        ),
        ("automatic_https_rewrites", json!("off")),
        ("brotli", json!("on")),
        ("always_online", json!("off")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn default_bots(plan: &str) -> Value {
    match plan {
        "free" => json!({"fight_mode": false, "enable_js": false, "using_latest_model": true}),
        "pro" => json!({
            "sbfm_definitely_automated": "allow", "sbfm_verified_bots": "allow",
            "sbfm_static_resource_protection": false, "optimize_wordpress": false,
            "enable_js": false, "using_latest_model": true
        }),
        _ => json!({
            "sbfm_definitely_automated": "allow", "sbfm_likely_automated": "allow",
            "sbfm_verified_bots": "allow", "sbfm_static_resource_protection": false,
            "optimize_wordpress": false, "enable_js": false, "using_latest_model": true
        }),
    }
}

impl FakeCloudflare {
    /// Starts a fake that accepts `token` and holds the zones `zones` (on
    /// the Business plan), with checks against `cf-trim.json` in
    /// [`madplan_core::testkit::specs_dir`] and the given allowances.
    pub async fn start(token: &str, zones: &[&str], allowances: &[Allowance]) -> Self {
        let zones: Vec<FakeZone> = zones.iter().map(|z| FakeZone::new(z, "business")).collect();
        Self::start_with(token, &zones, allowances).await
    }

    /// Starts a fake holding `zones`, each on its plan.
    pub async fn start_with(token: &str, zones: &[FakeZone], allowances: &[Allowance]) -> Self {
        let mut world = World {
            token: token.to_string(),
            ..World::default()
        };
        for z in zones {
            let id = world.id();
            world.settings.insert(id.clone(), default_settings());
            world.bots.insert(id.clone(), default_bots(&z.plan));
            world.zones.push(ZoneRec {
                id,
                zone: z.clone(),
            });
        }
        let shared = Arc::new(Shared {
            world: Mutex::new(world),
            spec: spec(allowances),
            unchecked_bots: allowances.contains(&Allowance::BotManagementNotInSpec),
            ledger: Ledger::default(),
            lose_answers: AtomicUsize::new(0),
            pages: Mutex::default(),
            rays: AtomicUsize::new(0),
            write_delay: Mutex::default(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let server = LocalServer::start(app).await;
        Self { server, shared }
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.shared.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The base URL to give the client.
    pub fn base_url(&self) -> String {
        format!("{}/client/v4", self.server.url())
    }

    /// The id of the zone named `name`.
    pub fn zone_id(&self, name: &str) -> String {
        self.world()
            .zones
            .iter()
            .find(|z| z.zone.name == name)
            .map(|z| z.id.clone())
            .unwrap_or_default()
    }

    /// Answers the next `n` requests with `status` (429 or 5xx) in
    /// Cloudflare's JSON envelope, with a `retry-after` of `retry_after`
    /// seconds if given. The requests are not carried out.
    pub fn fail_next(&self, n: usize, status: u16, retry_after: Option<u64>) {
        self.shared.ledger.fail_next(n, status, retry_after);
    }

    /// Answers the next request with an HTML error page of `status`, as
    /// Cloudflare's edge or a proxy does, with a `cf-ray` header. The
    /// request is not carried out.
    pub fn answer_page_next(&self, status: u16) {
        self.shared
            .pages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(status);
    }

    /// Carries out the next `n` requests but loses their answers: each is
    /// answered 502 with an HTML page, as when a connection drops after the
    /// API acted.
    pub fn lose_next_answers(&self, n: usize) {
        self.shared.lose_answers.fetch_add(n, Ordering::SeqCst);
    }

    /// Holds every write (POST, PUT, PATCH, DELETE) for `delay` before
    /// carrying it out, so that concurrent writers overlap.
    pub fn delay_writes(&self, delay: std::time::Duration) {
        *self
            .shared
            .write_delay
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = delay;
    }

    /// Every spec violation seen so far (requests and answers).
    pub fn violations(&self) -> Vec<String> {
        self.shared.ledger.violations()
    }

    /// Every request seen so far, as `METHOD /path` (without
    /// `/client/v4`).
    pub fn requests(&self) -> Vec<String> {
        self.shared.ledger.requests()
    }

    /// The records of a zone, as the API would answer them.
    pub fn records(&self, zone_id: &str) -> Vec<Value> {
        self.world()
            .records
            .get(zone_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Adds a record behind the client's back (another team, the
    /// dashboard), kept exactly as given plus the fields Cloudflare adds;
    /// returns its id.
    pub fn add_record(&self, zone_id: &str, record: Value) -> String {
        let mut w = self.world();
        let id = w.id();
        let now = w.now();
        let zone_name = w
            .zone(zone_id)
            .map(|z| z.zone.name.clone())
            .unwrap_or_default();
        let mut r = record;
        r["id"] = json!(id);
        r["zone_id"] = json!(zone_id);
        r["zone_name"] = json!(zone_name);
        for (k, v) in [
            ("proxiable", json!(false)),
            ("proxied", json!(false)),
            ("locked", json!(false)),
            ("ttl", json!(1)),
            ("tags", json!([])),
            ("meta", json!({"auto_added": false, "source": "primary"})),
            ("created_on", json!(now)),
            ("modified_on", json!(now)),
        ] {
            if r.get(k).is_none() {
                r[k] = v;
            }
        }
        w.records.entry(zone_id.to_string()).or_default().push(r);
        id
    }

    /// Changes a record behind the client's back.
    pub fn edit_record(&self, zone_id: &str, id: &str, edit: impl FnOnce(&mut Value)) {
        let mut w = self.world();
        let now = w.now();
        if let Some(r) = w
            .records
            .get_mut(zone_id)
            .and_then(|rs| rs.iter_mut().find(|r| r["id"] == id))
        {
            edit(r);
            r["modified_on"] = json!(now);
        }
    }

    /// A zone setting's value.
    pub fn setting(&self, zone_id: &str, id: &str) -> Value {
        self.world()
            .settings
            .get(zone_id)
            .and_then(|s| s.get(id))
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// Sets a zone setting behind the client's back.
    pub fn set_setting(&self, zone_id: &str, id: &str, value: Value) {
        self.world()
            .settings
            .entry(zone_id.to_string())
            .or_default()
            .insert(id.to_string(), value);
    }

    /// The zone's bot configuration.
    pub fn bots(&self, zone_id: &str) -> Value {
        self.world()
            .bots
            .get(zone_id)
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// Changes the zone's bot configuration behind the client's back.
    pub fn edit_bots(&self, zone_id: &str, edit: impl FnOnce(&mut Value)) {
        if let Some(b) = self.world().bots.get_mut(zone_id) {
            edit(b);
        }
    }

    /// The rules of a phase entrypoint, exactly as stored.
    pub fn rules(&self, zone_id: &str, phase: &str) -> Vec<Value> {
        self.world()
            .rulesets
            .get(&(zone_id.to_string(), phase.to_string()))
            .and_then(|r| r["rules"].as_array().cloned())
            .unwrap_or_default()
    }

    /// Puts a rule in a phase entrypoint behind the client's back, as
    /// another team or the dashboard would; returns its id.
    pub fn add_foreign_rule(&self, zone_id: &str, phase: &str, rule: Value) -> String {
        let mut w = self.world();
        let id = w.id();
        let rule_id = w.id();
        let now = w.now();
        let key = (zone_id.to_string(), phase.to_string());
        let rs = w.rulesets.entry(key).or_insert_with(|| {
            json!({"id": id, "name": "default", "kind": "zone", "phase": phase, "version": "1",
                   "last_updated": now, "rules": []})
        });
        let mut rule = rule;
        rule["id"] = json!(rule_id);
        for (k, v) in [("version", json!("1")), ("last_updated", json!(now))] {
            if rule.get(k).is_none() {
                rule[k] = v;
            }
        }
        if rule.get("ref").is_none() {
            rule["ref"] = json!(rule_id);
        }
        rs["rules"].as_array_mut().expect("rules").push(rule);
        rule_id
    }

    /// Changes the rule whose `ref` is `reference` behind the client's back.
    pub fn edit_rule(
        &self,
        zone_id: &str,
        phase: &str,
        reference: &str,
        edit: impl FnOnce(&mut Value),
    ) {
        let mut w = self.world();
        if let Some(r) = w
            .rulesets
            .get_mut(&(zone_id.to_string(), phase.to_string()))
            .and_then(|rs| rs["rules"].as_array_mut())
            .and_then(|rules| rules.iter_mut().find(|r| r["ref"] == reference))
        {
            edit(r);
        }
    }

    /// The zone's certificate packs.
    pub fn certificate_packs(&self, zone_id: &str) -> Vec<Value> {
        self.world().packs.get(zone_id).cloned().unwrap_or_default()
    }
}

/// An answer before it is sent (and checked).
struct Answer {
    status: StatusCode,
    body: Value,
}

fn ok(result: Value) -> Answer {
    Answer {
        status: StatusCode::OK,
        body: json!({"success": true, "errors": [], "messages": [], "result": result}),
    }
}

fn fail(status: StatusCode, code: u32, message: &str) -> Answer {
    Answer {
        status,
        body: json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null}),
    }
}

fn paged(items: Vec<Value>, query: &[(String, String)]) -> Answer {
    let get = |k: &str| {
        query
            .iter()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.parse::<usize>().ok())
    };
    let per_page = get("per_page").unwrap_or(20).max(1);
    let page = get("page").unwrap_or(1).max(1);
    let total = items.len();
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut a = ok(Value::Array(slice.clone()));
    a.body["result_info"] = json!({
        "page": page, "per_page": per_page, "count": slice.len(),
        "total_count": total, "total_pages": total.div_ceil(per_page).max(1)
    });
    a
}

fn html_page(status: u16, ray: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html><head><title>{status} | Cloudflare</title></head>\n<body><h1>Error {status}</h1>\n<p>Ray ID: {ray}</p></body></html>"
    );
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        body,
    )
        .into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/html"));
    r
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ray = format!(
        "{:016x}-AMS",
        0x8f00_0000_0000_0000u64 + shared.rays.fetch_add(1, Ordering::SeqCst) as u64
    );
    // Recorded on arrival: a request whose client gave up waiting still
    // arrived.
    if let Some(rest) = uri.path().strip_prefix("/client/v4/") {
        let path: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        shared
            .ledger
            .record_request(format!("{method} /{}", path.join("/")));
    }
    if method != Method::GET {
        let delay = *shared.write_delay.lock().unwrap_or_else(|e| e.into_inner());
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
    let mut response = answer(&shared, &method, &uri, &query, &headers, &body, &ray);
    if let Ok(v) = HeaderValue::from_str(&ray) {
        response.headers_mut().insert("cf-ray", v);
    }
    response
}

fn answer(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &Bytes,
    ray: &str,
) -> Response {
    let Some(rest) = uri.path().strip_prefix("/client/v4/") else {
        let a = fail(StatusCode::NOT_FOUND, 7000, "No route for that URI");
        return (a.status, axum::Json(a.body)).into_response();
    };
    let path: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let unchecked =
        shared.unchecked_bots && matches!(path.as_slice(), ["zones", _, "bot_management"]);
    if !unchecked {
        let violations = shared
            .spec
            .check(method.as_str(), &path, query, &header, body);
        if let Some(text) = shared.ledger.record_violations(violations) {
            let a = fail(
                StatusCode::BAD_REQUEST,
                9999,
                &format!("request breaks the OpenAPI spec: {text}"),
            );
            return (a.status, axum::Json(a.body)).into_response();
        }
    }
    let page = {
        let mut pages = shared.pages.lock().unwrap_or_else(|e| e.into_inner());
        (!pages.is_empty()).then(|| pages.remove(0))
    };
    if let Some(status) = page {
        return html_page(status, ray);
    }
    if let Some((status, wait)) = shared.ledger.next_failure() {
        let a = if status == 429 {
            fail(
                StatusCode::TOO_MANY_REQUESTS,
                971,
                "Please wait and consider throttling your request speed",
            )
        } else {
            fail(
                StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                10001,
                "Service unavailable",
            )
        };
        let mut r = (a.status, axum::Json(a.body)).into_response();
        if let Some(s) = wait {
            r.headers_mut().insert("retry-after", s.into());
        }
        return r;
    }
    let a = {
        let mut w = shared.world.lock().unwrap_or_else(|e| e.into_inner());
        let token_ok = header("authorization").is_some_and(|v| v == format!("Bearer {}", w.token));
        if token_ok {
            let body: Value = if body.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(body).unwrap_or(Value::Null)
            };
            route(&mut w, method, &path, query, body)
        } else {
            fail(StatusCode::FORBIDDEN, 10000, "Authentication error")
        }
    };
    if shared
        .lose_answers
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return html_page(502, ray);
    }
    let bytes = serde_json::to_vec(&a.body).unwrap_or_default();
    if !unchecked {
        let violations = shared.spec.check_answer(
            method.as_str(),
            &path,
            a.status.as_u16(),
            "application/json",
            &bytes,
        );
        shared.ledger.record_violations(
            violations
                .into_iter()
                .map(|v| format!("the fake's answer: {v}"))
                .collect(),
        );
    }
    let mut r = (a.status, bytes).into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

fn route(
    w: &mut World,
    method: &Method,
    path: &[&str],
    query: &[(String, String)],
    body: Value,
) -> Answer {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    match path {
        ["zones"] if method == Method::GET => {
            let zones: Vec<Value> = w
                .zones
                .iter()
                .filter(|z| q("name").is_none_or(|want| want == z.zone.name))
                .map(zone_json)
                .collect();
            paged(zones, query)
        }
        ["zones", z, ..] if w.zone(z).is_none() => fail(
            StatusCode::NOT_FOUND,
            7003,
            &format!("Could not route to /zones/{z}, perhaps your object identifier is invalid?"),
        ),
        ["zones", z] if method == Method::GET => ok(zone_json(w.zone(z).expect("zone"))),
        ["zones", z, "dns_records"] if method == Method::GET => {
            let contains = q("comment.contains").map(|c| c.to_lowercase());
            let items: Vec<Value> = w
                .records
                .get(*z)
                .into_iter()
                .flatten()
                .filter(|r| q("name").is_none_or(|n| r["name"] == n.as_str()))
                .filter(|r| q("type").is_none_or(|t| r["type"] == t.as_str()))
                .filter(|r| {
                    contains.as_ref().is_none_or(|c| {
                        r["comment"]
                            .as_str()
                            .is_some_and(|x| x.to_lowercase().contains(c.as_str()))
                    })
                })
                .cloned()
                .collect();
            paged(items, query)
        }
        ["zones", z, "dns_records"] if method == Method::POST => {
            let z = z.to_string();
            write_record(w, &z, None, body)
        }
        ["zones", z, "dns_records", id] => {
            let (z, id) = (z.to_string(), id.to_string());
            let Some(pos) = w
                .records
                .get(&z)
                .and_then(|rs| rs.iter().position(|r| r["id"] == id.as_str()))
            else {
                return fail(StatusCode::NOT_FOUND, 81044, "Record does not exist.");
            };
            match *method {
                Method::GET => ok(w.records[&z][pos].clone()),
                Method::DELETE => {
                    w.records.get_mut(&z).map(|rs| rs.remove(pos));
                    ok(json!({"id": id}))
                }
                Method::PUT => write_record(w, &z, Some(pos), body),
                _ => fail(StatusCode::METHOD_NOT_ALLOWED, 10405, "Method not allowed"),
            }
        }
        ["zones", z, "settings"] if method == Method::GET => {
            let items: Vec<Value> = w
                .settings
                .get(*z)
                .into_iter()
                .flatten()
                .map(|(id, v)| json!({"id": id, "value": v, "editable": true, "modified_on": null}))
                .collect();
            ok(Value::Array(items))
        }
        ["zones", z, "settings", id] => {
            let (z, id) = (z.to_string(), id.to_string());
            match *method {
                Method::GET => match w.settings.get(&z).and_then(|s| s.get(&id)) {
                    Some(v) => {
                        ok(json!({"id": id, "value": v, "editable": true, "modified_on": null}))
                    }
                    None => fail(
                        StatusCode::NOT_FOUND,
                        1006,
                        "Unrecognized zone setting name",
                    ),
                },
                Method::PATCH => {
                    let v = body["value"].clone();
                    if !setting_ok(&id, &v) {
                        return fail(
                            StatusCode::BAD_REQUEST,
                            1007,
                            &format!("Invalid value for zone setting {id}"),
                        );
                    }
                    let now = w.now();
                    w.settings
                        .entry(z)
                        .or_default()
                        .insert(id.clone(), v.clone());
                    ok(json!({"id": id, "value": v, "editable": true, "modified_on": now}))
                }
                _ => fail(StatusCode::METHOD_NOT_ALLOWED, 10405, "Method not allowed"),
            }
        }
        ["zones", z, "bot_management"] => {
            let plan = w.zone(z).map(|r| r.zone.plan.clone()).unwrap_or_default();
            match *method {
                Method::GET => ok(w.bots.get(*z).cloned().unwrap_or_else(|| json!({}))),
                Method::PUT => {
                    let allowed: &[&str] = match plan.as_str() {
                        "free" => &["fight_mode", "enable_js", "ai_bots_protection"],
                        "pro" => &[
                            "sbfm_definitely_automated",
                            "sbfm_verified_bots",
                            "sbfm_static_resource_protection",
                            "optimize_wordpress",
                            "enable_js",
                            "ai_bots_protection",
                        ],
                        _ => &[
                            "sbfm_definitely_automated",
                            "sbfm_likely_automated",
                            "sbfm_verified_bots",
                            "sbfm_static_resource_protection",
                            "optimize_wordpress",
                            "enable_js",
                            "ai_bots_protection",
                        ],
                    };
                    let Some(fields) = body.as_object() else {
                        return fail(StatusCode::BAD_REQUEST, 1004, "the body is not an object");
                    };
                    if let Some(k) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
                        return fail(
                            StatusCode::BAD_REQUEST,
                            1004,
                            &format!("{k} is not available on the zone's {plan} plan"),
                        );
                    }
                    let b = w.bots.entry(z.to_string()).or_insert_with(|| json!({}));
                    for (k, v) in fields {
                        b[k] = v.clone();
                    }
                    ok(b.clone())
                }
                _ => fail(StatusCode::METHOD_NOT_ALLOWED, 10405, "Method not allowed"),
            }
        }
        ["zones", z, "rulesets", "phases", phase, "entrypoint"] => {
            let key = (z.to_string(), phase.to_string());
            match *method {
                Method::GET => match w.rulesets.get(&key) {
                    Some(rs) => ok(rs.clone()),
                    None => fail(
                        StatusCode::NOT_FOUND,
                        10003,
                        &format!("could not find entrypoint ruleset in the {phase} phase"),
                    ),
                },
                Method::PUT => put_entrypoint(w, z, phase, body),
                _ => fail(StatusCode::METHOD_NOT_ALLOWED, 10405, "Method not allowed"),
            }
        }
        ["zones", z, "ssl", "certificate_packs"] if method == Method::GET => {
            ok(Value::Array(w.packs.get(*z).cloned().unwrap_or_default()))
        }
        ["zones", z, "ssl", "certificate_packs", "order"] if method == Method::POST => {
            order_pack(w, z, body)
        }
        ["zones", z, "ssl", "certificate_packs", id] => {
            let (z, id) = (z.to_string(), id.to_string());
            let Some(pos) = w
                .packs
                .get(&z)
                .and_then(|ps| ps.iter().position(|p| p["id"] == id.as_str()))
            else {
                return fail(StatusCode::NOT_FOUND, 1401, "Certificate pack not found.");
            };
            match *method {
                Method::GET => {
                    // Each read moves an order one step towards active.
                    let p = &mut w.packs.get_mut(&z).expect("packs")[pos];
                    let next = match p["status"].as_str() {
                        Some("initializing") => "pending_validation",
                        Some("pending_validation") => "pending_issuance",
                        Some(_) => "active",
                        None => "active",
                    };
                    let shown = p.clone();
                    p["status"] = json!(next);
                    ok(shown)
                }
                Method::DELETE => {
                    w.packs.get_mut(&z).map(|ps| ps.remove(pos));
                    ok(json!({"id": id}))
                }
                _ => fail(StatusCode::METHOD_NOT_ALLOWED, 10405, "Method not allowed"),
            }
        }
        _ => fail(StatusCode::NOT_FOUND, 7000, "No route for that URI"),
    }
}

fn zone_json(z: &ZoneRec) -> Value {
    let (plan_id, plan_name) = match z.zone.plan.as_str() {
        "free" => ("0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "Free Website"),
        "pro" => ("94f3b7b768b0458b56d2cac4fe5ec0f9", "Pro Website"),
        "business" => ("6c1a6bbf0b0a4fa6b6b0c1b1b1b1b1b1", "Business Website"),
        _ => ("1a2b3c4d5e6f708192a3b4c5d6e7f809", "Enterprise Website"),
    };
    json!({
        "id": z.id, "name": z.zone.name, "status": "active", "paused": false, "type": "full",
        "development_mode": 0,
        "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
        "original_name_servers": null, "original_registrar": null, "original_dnshost": null,
        "created_on": "2024-01-01T00:00:00.000000Z", "modified_on": "2026-11-25T00:00:00.000000Z",
        "activated_on": "2024-01-01T00:10:00.000000Z",
        "owner": {"id": "7c5dae5552338874e5053f2534d2767a", "type": "organization", "name": "MadPlan"},
        "account": {"id": "7c5dae5552338874e5053f2534d2767a", "name": "MadPlan"},
        "meta": {"step": 2, "custom_certificate_quota": 0, "page_rule_quota": 3, "phishing_detected": false},
        "plan": {"id": plan_id, "name": plan_name, "price": 0, "currency": "USD", "frequency": "",
                 "is_subscribed": true, "can_subscribe": false, "legacy_id": z.zone.plan,
                 "legacy_discount": false, "externally_managed": false}
    })
}

fn setting_ok(id: &str, v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    match id {
        "ssl" => ["off", "flexible", "full", "strict"].contains(&s),
        "min_tls_version" => ["1.0", "1.1", "1.2", "1.3"].contains(&s),
        "always_use_https" | "automatic_https_rewrites" | "brotli" | "always_online" => {
            ["on", "off"].contains(&s)
        }
        "tls_1_3" => ["on", "off", "zrt"].contains(&s),
        "security_header" => v["strict_transport_security"].is_object(),
        _ => false,
    }
}

/// The text Cloudflare shows as `content` for a record written with
/// `data`.
fn data_content(kind: &str, d: &Value) -> String {
    let s = |k: &str| match &d[k] {
        Value::String(x) => x.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    match kind {
        "CAA" => format!("{} {} \"{}\"", s("flags"), s("tag"), s("value")),
        "SRV" => format!("{} {} {}", s("weight"), s("port"), s("target")),
        "HTTPS" | "SVCB" => format!("{} {} {}", s("priority"), s("target"), s("value")),
        "URI" => format!("{} \"{}\"", s("weight"), s("content")),
        "DS" => format!(
            "{} {} {} {}",
            s("key_tag"),
            s("algorithm"),
            s("digest_type"),
            s("digest")
        ),
        "TLSA" | "SMIMEA" => format!(
            "{} {} {} {}",
            s("usage"),
            s("selector"),
            s("matching_type"),
            s("certificate")
        ),
        "SSHFP" => format!("{} {} {}", s("algorithm"), s("type"), s("fingerprint")),
        _ => d.to_string(),
    }
}

const DATA_TYPES: [&str; 13] = [
    "CAA", "CERT", "DNSKEY", "DS", "HTTPS", "LOC", "NAPTR", "SMIMEA", "SRV", "SSHFP", "SVCB",
    "TLSA", "URI",
];
const CONTENT_TYPES: [&str; 8] = ["A", "AAAA", "CNAME", "MX", "NS", "OPENPGPKEY", "PTR", "TXT"];

/// Creates (`at` = None) or replaces a record with Cloudflare's checks.
fn write_record(w: &mut World, zone: &str, at: Option<usize>, body: Value) -> Answer {
    let zone_name = w
        .zone(zone)
        .map(|z| z.zone.name.clone())
        .unwrap_or_default();
    let kind = body["type"].as_str().unwrap_or_default().to_string();
    if !DATA_TYPES.contains(&kind.as_str()) && !CONTENT_TYPES.contains(&kind.as_str()) {
        return fail(
            StatusCode::BAD_REQUEST,
            1004,
            "DNS Validation Error: unknown record type",
        );
    }
    // Names are stored lower-case, without the final dot, under the zone.
    let mut name = body["name"]
        .as_str()
        .unwrap_or_default()
        .trim_end_matches('.')
        .to_lowercase();
    if name == "@" || name.is_empty() {
        name = zone_name.clone();
    } else if name != zone_name && !name.ends_with(&format!(".{zone_name}")) {
        name = format!("{name}.{zone_name}");
    }
    let proxiable = ["A", "AAAA", "CNAME"].contains(&kind.as_str());
    let proxied = body["proxied"].as_bool().unwrap_or(false);
    if proxied && !proxiable {
        return fail(
            StatusCode::BAD_REQUEST,
            9004,
            "This record type cannot be proxied.",
        );
    }
    let ttl = body["ttl"].as_u64().unwrap_or(1);
    if ttl != 1 && !(60..=86400).contains(&ttl) {
        return fail(
            StatusCode::BAD_REQUEST,
            9021,
            "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.",
        );
    }
    if proxied && ttl != 1 {
        return fail(
            StatusCode::BAD_REQUEST,
            9021,
            "A proxied record's TTL must be automatic.",
        );
    }
    let comment = body["comment"].as_str().map(str::to_string);
    if comment.as_deref().is_some_and(|c| c.contains('\n')) {
        return fail(
            StatusCode::BAD_REQUEST,
            9100,
            "Comments cannot contain line breaks.",
        );
    }
    let content = if DATA_TYPES.contains(&kind.as_str()) {
        if !body["data"].is_object() {
            return fail(
                StatusCode::BAD_REQUEST,
                9101,
                &format!("{kind} records take their value in data"),
            );
        }
        data_content(&kind, &body["data"])
    } else {
        let c = body["content"].as_str().unwrap_or_default().to_string();
        if c.is_empty() {
            return fail(StatusCode::BAD_REQUEST, 9007, "Content is required.");
        }
        match kind.as_str() {
            "A" if c.parse::<std::net::Ipv4Addr>().is_err() => {
                return fail(
                    StatusCode::BAD_REQUEST,
                    9005,
                    "Content for A record must be a valid IPv4 address.",
                );
            }
            "AAAA" if c.parse::<std::net::Ipv6Addr>().is_err() => {
                return fail(
                    StatusCode::BAD_REQUEST,
                    9006,
                    "Content for AAAA record must be a valid IPv6 address.",
                );
            }
            "CNAME" | "MX" | "NS" | "PTR" => c.trim_end_matches('.').to_lowercase(),
            _ => c,
        }
    };
    let except = at.and_then(|p| {
        w.records
            .get(zone)
            .and_then(|rs| rs.get(p))
            .map(|r| r["id"].clone())
    });
    for r in w.records.get(zone).into_iter().flatten() {
        if Some(&r["id"]) == except.as_ref() || r["name"] != name.as_str() {
            continue;
        }
        if r["type"] == kind.as_str() && r["content"] == content.as_str() {
            return fail(StatusCode::BAD_REQUEST, 81057, "Record already exists.");
        }
        if r["type"] == "CNAME" || kind == "CNAME" {
            return fail(
                StatusCode::BAD_REQUEST,
                81053,
                "An A, AAAA, or CNAME record with that host already exists.",
            );
        }
    }
    let now = w.now();
    let (id, created) = match at {
        Some(p) => {
            let old = &w.records[zone][p];
            (old["id"].clone(), old["created_on"].clone())
        }
        None => (json!(w.id()), json!(now)),
    };
    let mut record = json!({
        "id": id, "zone_id": zone, "zone_name": zone_name, "name": name, "type": kind,
        "content": content, "proxiable": proxiable, "proxied": proxied, "ttl": ttl,
        "locked": false, "meta": {"auto_added": false, "source": "primary"},
        "tags": body["tags"].as_array().cloned().unwrap_or_default(),
        "created_on": created, "modified_on": now,
    });
    // A record without a comment has none in the answer (the 2023
    // document's `comment` is a string, not nullable).
    if let Some(c) = comment {
        record["comment"] = json!(c);
    }
    if body["data"].is_object() {
        record["data"] = body["data"].clone();
    }
    if let Some(p) = body["priority"].as_u64() {
        record["priority"] = json!(p);
    }
    let rs = w.records.entry(zone.to_string()).or_default();
    match at {
        Some(p) => rs[p] = record.clone(),
        None => rs.push(record.clone()),
    }
    ok(record)
}

/// What a plan allows in a phase: (rules, longest rate-limit period,
/// longest mitigation timeout, characteristics beyond `cf.colo.id`,
/// counting expressions, managed rulesets).
struct PlanLimits {
    custom_rules: usize,
    ratelimit_rules: usize,
    cache_rules: usize,
    max_period: u64,
    max_timeout: u64,
    characteristics: &'static [&'static str],
    counting_expression: bool,
    managed: bool,
}

fn plan_limits(plan: &str) -> PlanLimits {
    match plan {
        "free" => PlanLimits {
            custom_rules: 5,
            ratelimit_rules: 1,
            cache_rules: 10,
            max_period: 10,
            max_timeout: 10,
            characteristics: &["ip.src"],
            counting_expression: false,
            managed: false,
        },
        "pro" => PlanLimits {
            custom_rules: 20,
            ratelimit_rules: 2,
            cache_rules: 25,
            max_period: 60,
            max_timeout: 3600,
            characteristics: &["ip.src"],
            counting_expression: false,
            managed: true,
        },
        "business" => PlanLimits {
            custom_rules: 100,
            ratelimit_rules: 5,
            cache_rules: 50,
            max_period: 600,
            max_timeout: 86400,
            characteristics: &["ip.src", "cf.unique_visitor_id"],
            counting_expression: true,
            managed: true,
        },
        _ => PlanLimits {
            custom_rules: 1000,
            ratelimit_rules: 100,
            cache_rules: 300,
            max_period: 65535,
            max_timeout: 86400,
            characteristics: &["ip.src", "cf.unique_visitor_id"],
            counting_expression: true,
            managed: true,
        },
    }
}

/// The period values Cloudflare takes for rate limits.
const PERIODS: [u64; 21] = [
    10, 15, 20, 30, 40, 45, 60, 90, 120, 180, 240, 300, 480, 600, 900, 1200, 1800, 2400, 3600,
    65535, 86400,
];

fn put_entrypoint(w: &mut World, zone: &str, phase: &str, body: Value) -> Answer {
    let plan = w
        .zone(zone)
        .map(|z| z.zone.plan.clone())
        .unwrap_or_default();
    let limits = plan_limits(&plan);
    let mut rules = body["rules"].as_array().cloned().unwrap_or_default();
    let max_rules = match phase {
        "http_request_firewall_custom" => limits.custom_rules,
        "http_ratelimit" => limits.ratelimit_rules,
        "http_request_cache_settings" => limits.cache_rules,
        _ => usize::MAX,
    };
    let refuse = |message: String| fail(StatusCode::BAD_REQUEST, 20021, &message);
    if rules.len() > max_rules {
        return refuse(format!(
            "exceeded maximum number of rules in the phase {phase}: {max_rules} on the {plan} plan"
        ));
    }
    for r in &rules {
        if r["action"].as_str().is_none() || r["expression"].as_str().is_none_or(str::is_empty) {
            return refuse("a rule needs an action and an expression".into());
        }
        if phase == "http_ratelimit" {
            let rl = &r["ratelimit"];
            let period = rl["period"].as_u64().unwrap_or(0);
            let timeout = rl["mitigation_timeout"].as_u64().unwrap_or(0);
            let chars: Vec<&str> = rl["characteristics"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !PERIODS.contains(&period) || period > limits.max_period {
                return refuse(format!(
                    "'ratelimit.period' {period} is not allowed on the {plan} plan"
                ));
            }
            if timeout > limits.max_timeout || (plan == "free" && timeout != 10) {
                return refuse(format!(
                    "'ratelimit.mitigation_timeout' {timeout} is not allowed on the {plan} plan"
                ));
            }
            if !chars.contains(&"cf.colo.id") {
                return refuse("'ratelimit.characteristics' must include cf.colo.id".into());
            }
            if let Some(c) = chars
                .iter()
                .find(|c| **c != "cf.colo.id" && !limits.characteristics.contains(c))
            {
                return refuse(format!(
                    "'ratelimit.characteristics' {c} is not allowed on the {plan} plan"
                ));
            }
            if rl["counting_expression"].is_string() && !limits.counting_expression {
                return refuse(format!(
                    "'ratelimit.counting_expression' is not allowed on the {plan} plan"
                ));
            }
            if rl["requests_per_period"].as_u64().is_none()
                && rl["score_per_period"].as_u64().is_none()
            {
                return refuse("'ratelimit' needs requests_per_period or score_per_period".into());
            }
        }
        if phase == "http_request_firewall_managed" && r["action"] == "execute" {
            let free_ruleset = r["action_parameters"]["id"] == "77454fe2d30c4220b5701f6fdfb893ba";
            if !limits.managed && !free_ruleset {
                return fail(
                    StatusCode::FORBIDDEN,
                    20120,
                    &format!("the {plan} plan is not entitled to this managed ruleset"),
                );
            }
        }
    }
    let key = (zone.to_string(), phase.to_string());
    let previous = w.rulesets.get(&key).cloned();
    let old_rules: Vec<Value> = previous
        .as_ref()
        .and_then(|p| p["rules"].as_array().cloned())
        .unwrap_or_default();
    let now = w.now();
    for r in &mut rules {
        let old = r["id"]
            .as_str()
            .and_then(|id| old_rules.iter().find(|o| o["id"] == id))
            .cloned();
        match old {
            // Unchanged (read-only fields aside): kept as it was.
            Some(o) if same_rule(&o, r) => *r = o,
            Some(o) => {
                let v = o["version"]
                    .as_str()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
                    + 1;
                r["version"] = json!(v.to_string());
                r["last_updated"] = json!(now);
            }
            None => {
                let id = w.id();
                r["id"] = json!(id);
                r["version"] = json!("1");
                r["last_updated"] = json!(now);
                if r.get("ref").is_none() {
                    r["ref"] = json!(id);
                }
            }
        }
        if r.get("enabled").is_none() {
            r["enabled"] = json!(true);
        }
    }
    let version = previous
        .as_ref()
        .and_then(|p| p["version"].as_str().and_then(|v| v.parse::<u64>().ok()))
        .unwrap_or(0)
        + 1;
    let id = match &previous {
        Some(p) => p["id"].clone(),
        None => json!(w.id()),
    };
    let rs = json!({
        "id": id, "name": "default", "description": "", "kind": "zone", "phase": phase,
        "version": version.to_string(), "last_updated": now, "rules": rules,
    });
    w.rulesets.insert(key, rs.clone());
    ok(rs)
}

/// Whether two rules are the same but for the fields Cloudflare sets.
fn same_rule(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("version");
            o.remove("last_updated");
            o.entry("enabled").or_insert(json!(true));
        }
        v
    };
    strip(a) == strip(b)
}

fn order_pack(w: &mut World, zone: &str, body: Value) -> Answer {
    let Some(z) = w.zone(zone) else {
        return fail(StatusCode::NOT_FOUND, 7003, "Could not route");
    };
    let zone_name = z.zone.name.clone();
    if !z.zone.advanced_certificates {
        return fail(
            StatusCode::FORBIDDEN,
            1450,
            "Advanced Certificate Manager is required to order certificate packs.",
        );
    }
    let hosts: Vec<String> = body["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h.as_str().map(str::to_string))
        .collect();
    if body["certificate_authority"] == "lets_encrypt" {
        let wildcard = format!("*.{zone_name}");
        let mut want = vec![zone_name.clone(), wildcard];
        let mut got = hosts.clone();
        want.sort();
        got.sort();
        if body["validation_method"] != "txt"
            || body["validity_days"] != 90
            || body.get("cloudflare_branding").is_some()
            || got != want
        {
            return fail(
                StatusCode::BAD_REQUEST,
                1210,
                "Let's Encrypt orders need validation_method txt, validity_days 90, no branding \
                 and exactly the zone and its wildcard as hosts.",
            );
        }
    }
    let id = w.id();
    let pack = json!({
        "id": id, "type": "advanced", "hosts": hosts, "status": "initializing",
        "certificate_authority": body["certificate_authority"],
        "validation_method": body["validation_method"], "validity_days": body["validity_days"],
        "cloudflare_branding": body["cloudflare_branding"].as_bool().unwrap_or(false),
    });
    w.packs
        .entry(zone.to_string())
        .or_default()
        .push(pack.clone());
    ok(pack)
}
