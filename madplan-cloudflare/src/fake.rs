//! An in-memory Cloudflare on 127.0.0.1 for tests and demos.
//!
//! It serves the endpoints the client uses with Cloudflare's envelope and
//! error codes, checks the API token, can be told to answer 429 for the next
//! requests, and checks every request against the official OpenAPI document
//! (`madplan-core/specs/cf-trim.json`, found by
//! [`madplan_core::testkit::specs_dir`]): an unknown operation, a missing
//! bearer token, a bad query parameter or a body that breaks the schema is
//! recorded as a violation and answered with HTTP 400, so the calling test
//! fails.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use madplan_core::testkit::{Ledger, LocalServer, SpecCheck};
use serde_json::{Value, json};

/// A documented bug of the 2023 Cloudflare OpenAPI document that the
/// request check allows for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allowance {
    /// `Ruleset` and `Rule` list `id`, `version` and `last_updated` as
    /// required, but they are read-only fields of responses: requests do not
    /// send them.
    RulesetReadOnlyFieldsRequired,
    /// `RuleRequest` is a oneOf of block/execute/log/skip rules only and
    /// `RuleAction` has the pattern `^[a-z]+$`, so `set_cache_settings`
    /// (cache rules) and `managed_challenge`/`js_challenge` (rate limiting)
    /// cannot match; rules are checked against `Rule` with `^[a-z_]+$`.
    RuleRequestLacksActions,
    /// `dns-record` (used as the create/update body) requires `id`,
    /// `proxiable`, `locked`, `zone_name`, `created_on` and `modified_on`:
    /// it is the response shape. The record type's own schema (A, CNAME...)
    /// still requires `type`, `name` and `content`.
    DnsRecordRequiresResponseFields,
}

impl Allowance {
    /// Every allowance this spec needs.
    pub const ALL: [Allowance; 3] = [
        Allowance::RulesetReadOnlyFieldsRequired,
        Allowance::RuleRequestLacksActions,
        Allowance::DnsRecordRequiresResponseFields,
    ];
}

fn load_spec(allowances: &[Allowance]) -> SpecCheck {
    SpecCheck::load("cf-trim.json", |spec| {
        let schemas = &mut spec["components"]["schemas"];
        if allowances.contains(&Allowance::RulesetReadOnlyFieldsRequired) {
            for name in ["Ruleset", "Rule"] {
                if let Some(o) = schemas[name].as_object_mut() {
                    o.remove("required");
                }
            }
        }
        if allowances.contains(&Allowance::RuleRequestLacksActions) {
            schemas["RuleRequest"] = json!({"$ref": "#/components/schemas/Rule"});
            schemas["RuleAction"]["pattern"] = json!("^[a-z_]+$");
        }
        if allowances.contains(&Allowance::DnsRecordRequiresResponseFields)
            && let Some(o) = schemas["dns-record"].as_object_mut()
        {
            o.remove("required");
        }
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

#[derive(Default)]
struct World {
    token: String,
    zones: Vec<(String, String)>,
    records: BTreeMap<String, Vec<Value>>,
    settings: BTreeMap<(String, String), Value>,
    rulesets: BTreeMap<(String, String), Value>,
    next: u64,
}

impl World {
    fn id(&mut self) -> String {
        self.next += 1;
        format!("{:032x}", self.next)
    }
}

struct Shared {
    world: Mutex<World>,
    spec: SpecCheck,
    ledger: Ledger,
}

/// A running fake Cloudflare. Dropping it stops the server.
pub struct FakeCloudflare {
    server: LocalServer,
    shared: Arc<Shared>,
}

impl FakeCloudflare {
    /// Starts a fake that accepts `token` and holds the zones `zones`, with
    /// request checks against `cf-trim.json` in
    /// [`madplan_core::testkit::specs_dir`] and the given
    /// allowances for its documented bugs.
    pub async fn start(token: &str, zones: &[&str], allowances: &[Allowance]) -> Self {
        let spec = load_spec(allowances);
        let mut world = World {
            token: token.to_string(),
            ..World::default()
        };
        for z in zones {
            let id = world.id();
            for (k, v) in [
                ("ssl", json!("flexible")),
                ("min_tls_version", json!("1.0")),
                ("always_use_https", json!("off")),
                ("tls_1_3", json!("on")),
                (
                    "security_header",
                    json!({"strict_transport_security": {"enabled": false, "max_age": 0, "include_subdomains": false, "preload": false, "nosniff": false}}),
                ),
            ] {
                world.settings.insert((id.clone(), k.to_string()), v);
            }
            world.zones.push((id, z.to_string()));
        }
        let shared = Arc::new(Shared {
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
        format!("{}/client/v4", self.server.url())
    }

    /// The id of the zone named `name`.
    pub fn zone_id(&self, name: &str) -> String {
        let w = self.shared.world.lock().unwrap_or_else(|e| e.into_inner());
        w.zones
            .iter()
            .find(|(_, n)| n == name)
            .map(|(id, _)| id.clone())
            .unwrap_or_default()
    }

    /// Answers the next `n` requests with `status` (429 or 5xx), with a
    /// `retry-after` of `retry_after` seconds if given.
    pub fn fail_next(&self, n: usize, status: u16, retry_after: Option<u64>) {
        self.shared.ledger.fail_next(n, status, retry_after);
    }

    /// Every spec violation seen so far.
    pub fn violations(&self) -> Vec<String> {
        self.shared.ledger.violations()
    }

    /// Every request seen so far, as `METHOD /path`.
    pub fn requests(&self) -> Vec<String> {
        self.shared.ledger.requests()
    }

    /// Puts a rule in a phase entrypoint behind the client's back, as
    /// another team or the dashboard would.
    pub fn add_foreign_rule(&self, zone_id: &str, phase: &str, rule: Value) {
        let mut w = self.shared.world.lock().unwrap_or_else(|e| e.into_inner());
        let id = w.id();
        let rule_id = w.id();
        let key = (zone_id.to_string(), phase.to_string());
        let rs = w.rulesets.entry(key).or_insert_with(|| {
            json!({"id": id, "name": "default", "kind": "zone", "phase": phase, "version": "1", "rules": []})
        });
        let mut rule = rule;
        rule["id"] = json!(rule_id);
        rs["rules"].as_array_mut().expect("rules").push(rule);
    }
}

fn envelope(status: StatusCode, result: Value, info: Option<Value>) -> Response {
    let mut body = json!({"success": true, "errors": [], "messages": [], "result": result});
    if let Some(i) = info {
        body["result_info"] = i;
    }
    (status, axum::Json(body)).into_response()
}

fn error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null})),
    )
        .into_response()
}

fn paged(items: Vec<Value>, query: &[(String, String)]) -> Response {
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
    let info = json!({
        "page": page, "per_page": per_page, "count": slice.len(),
        "total_count": total, "total_pages": total.div_ceil(per_page).max(1)
    });
    envelope(StatusCode::OK, Value::Array(slice), Some(info))
}

fn setting_ok(id: &str, v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    match id {
        "ssl" => ["off", "flexible", "full", "strict"].contains(&s),
        "min_tls_version" => ["1.0", "1.1", "1.2", "1.3"].contains(&s),
        "always_use_https" => ["on", "off"].contains(&s),
        "tls_1_3" => ["on", "off", "zrt"].contains(&s),
        "security_header" => v["strict_transport_security"].is_object(),
        _ => false,
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(rest) = uri.path().strip_prefix("/client/v4/") else {
        return error(StatusCode::NOT_FOUND, 7000, "No route for that URI");
    };
    let path: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let violations = shared
        .spec
        .check(method.as_str(), &path, &query, &header, &body);
    let mut w = shared.world.lock().unwrap_or_else(|e| e.into_inner());
    shared
        .ledger
        .record_request(format!("{method} /{}", path.join("/")));
    if let Some(text) = shared.ledger.record_violations(violations) {
        return error(
            StatusCode::BAD_REQUEST,
            9999,
            &format!("request breaks the OpenAPI spec: {text}"),
        );
    }
    let token_ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {}", w.token));
    if !token_ok {
        return error(StatusCode::FORBIDDEN, 10000, "Authentication error");
    }
    if let Some((status, wait)) = shared.ledger.next_failure() {
        let mut r = error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::TOO_MANY_REQUESTS),
            if status == 429 { 971 } else { 10001 },
            if status == 429 {
                "Please wait and consider throttling your request speed"
            } else {
                "Service unavailable"
            },
        );
        if let Some(s) = wait {
            r.headers_mut().insert("retry-after", s.into());
        }
        return r;
    }
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    route(&mut w, &method, &path, &query, body)
}

fn route(
    w: &mut World,
    method: &Method,
    path: &[&str],
    query: &[(String, String)],
    body: Value,
) -> Response {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    match path {
        ["zones"] if method == Method::GET => {
            let zones: Vec<Value> = w
                .zones
                .iter()
                .filter(|(_, n)| q("name").is_none_or(|want| &want == n))
                .map(|(id, n)| json!({"id": id, "name": n, "status": "active"}))
                .collect();
            paged(zones, query)
        }
        ["zones", z, ..] if !w.zones.iter().any(|(id, _)| id == z) => error(
            StatusCode::NOT_FOUND,
            7003,
            &format!("Could not route to /zones/{z}, perhaps your object identifier is invalid?"),
        ),
        ["zones", z] if method == Method::GET => {
            let name = w
                .zones
                .iter()
                .find(|(id, _)| id == z)
                .map(|(_, n)| n.clone());
            envelope(
                StatusCode::OK,
                json!({"id": z, "name": name, "status": "active"}),
                None,
            )
        }
        ["zones", z, "dns_records"] if method == Method::GET => {
            let items: Vec<Value> = w
                .records
                .get(*z)
                .into_iter()
                .flatten()
                .filter(|r| q("name").is_none_or(|n| r["name"] == n.as_str()))
                .filter(|r| q("type").is_none_or(|t| r["type"] == t.as_str()))
                .cloned()
                .collect();
            paged(items, query)
        }
        ["zones", z, "dns_records"] if method == Method::POST => {
            let z = z.to_string();
            if let Some(resp) = record_conflict(w, &z, &body, None) {
                return resp;
            }
            let mut record = body;
            let id = w.id();
            record["id"] = json!(id);
            record["zone_id"] = json!(z);
            w.records.entry(z).or_default().push(record.clone());
            envelope(StatusCode::OK, record, None)
        }
        ["zones", z, "dns_records", id] => {
            let (z, id) = (z.to_string(), id.to_string());
            let Some(pos) = w
                .records
                .get(&z)
                .and_then(|rs| rs.iter().position(|r| r["id"] == id.as_str()))
            else {
                return error(StatusCode::NOT_FOUND, 81044, "Record does not exist.");
            };
            match *method {
                Method::GET => envelope(StatusCode::OK, w.records[&z][pos].clone(), None),
                Method::DELETE => {
                    w.records.get_mut(&z).map(|rs| rs.remove(pos));
                    envelope(StatusCode::OK, json!({"id": id}), None)
                }
                Method::PUT | Method::PATCH => {
                    if let Some(resp) = record_conflict(w, &z, &body, Some(&id)) {
                        return resp;
                    }
                    let rs = w.records.get_mut(&z).expect("zone records");
                    let mut record = if *method == Method::PATCH {
                        rs[pos].clone()
                    } else {
                        json!({})
                    };
                    for (k, v) in body.as_object().into_iter().flatten() {
                        record[k] = v.clone();
                    }
                    record["id"] = json!(id);
                    record["zone_id"] = json!(z);
                    rs[pos] = record.clone();
                    envelope(StatusCode::OK, record, None)
                }
                _ => error(StatusCode::METHOD_NOT_ALLOWED, 10405, "Method not allowed"),
            }
        }
        ["zones", z, "settings", id] => {
            let key = (z.to_string(), id.to_string());
            match *method {
                Method::GET => match w.settings.get(&key) {
                    Some(v) => envelope(
                        StatusCode::OK,
                        json!({"id": id, "value": v, "editable": true}),
                        None,
                    ),
                    None => error(
                        StatusCode::NOT_FOUND,
                        1006,
                        "Unrecognized zone setting name",
                    ),
                },
                Method::PATCH => {
                    let v = body["value"].clone();
                    if !setting_ok(id, &v) {
                        return error(
                            StatusCode::BAD_REQUEST,
                            1007,
                            &format!("Invalid value for zone setting {id}"),
                        );
                    }
                    w.settings.insert(key, v.clone());
                    envelope(
                        StatusCode::OK,
                        json!({"id": id, "value": v, "editable": true}),
                        None,
                    )
                }
                _ => error(StatusCode::METHOD_NOT_ALLOWED, 10405, "Method not allowed"),
            }
        }
        ["zones", z, "rulesets", "phases", phase, "entrypoint"] => {
            let key = (z.to_string(), phase.to_string());
            match *method {
                Method::GET => match w.rulesets.get(&key) {
                    Some(rs) => envelope(StatusCode::OK, rs.clone(), None),
                    None => error(
                        StatusCode::NOT_FOUND,
                        10003,
                        &format!("could not find entrypoint ruleset in the {phase} phase"),
                    ),
                },
                Method::PUT => {
                    let mut rules = body["rules"].as_array().cloned().unwrap_or_default();
                    for r in &mut rules {
                        if r["id"].is_null() {
                            r["id"] = json!(w.id());
                        }
                        r["version"] = json!("1");
                        r["last_updated"] = json!("2026-11-25T00:00:00Z");
                    }
                    let id = w.id();
                    let previous = w.rulesets.get(&key).cloned();
                    let version = previous
                        .as_ref()
                        .and_then(|p| p["version"].as_str().and_then(|v| v.parse::<u64>().ok()))
                        .unwrap_or(0)
                        + 1;
                    let rs = json!({
                        "id": previous.as_ref().map_or_else(|| json!(id), |p| p["id"].clone()),
                        "name": "default", "kind": "zone", "phase": phase,
                        "version": version.to_string(), "last_updated": "2026-11-25T00:00:00Z",
                        "rules": rules,
                    });
                    w.rulesets.insert(key, rs.clone());
                    envelope(StatusCode::OK, rs, None)
                }
                _ => error(StatusCode::METHOD_NOT_ALLOWED, 10405, "Method not allowed"),
            }
        }
        _ => error(StatusCode::NOT_FOUND, 7000, "No route for that URI"),
    }
}

/// Cloudflare's duplicate checks: the same record twice (81057), or a CNAME
/// beside another record of the same name (81053).
fn record_conflict(w: &World, zone: &str, body: &Value, except: Option<&str>) -> Option<Response> {
    let others = w
        .records
        .get(zone)
        .into_iter()
        .flatten()
        .filter(|r| except.is_none_or(|id| r["id"] != id));
    for r in others {
        if r["name"] != body["name"] {
            continue;
        }
        if r["type"] == body["type"] && r["content"] == body["content"] {
            return Some(error(
                StatusCode::BAD_REQUEST,
                81057,
                "Record already exists.",
            ));
        }
        if r["type"] == "CNAME" || body["type"] == "CNAME" {
            return Some(error(
                StatusCode::BAD_REQUEST,
                81053,
                "An A, AAAA, or CNAME record with that host already exists.",
            ));
        }
    }
    None
}
