//! An in-memory Datadog on 127.0.0.1 for tests and demos.
//!
//! It serves the monitor, dashboard, SLO, synthetics and validate endpoints
//! the client uses, checks both keys, answers with Datadog's error shapes and
//! rate-limit headers, can be told to answer 429 or 5xx for the next
//! requests, and checks every request against the official OpenAPI document
//! (`madplan-core/specs/dd-trim.json`): a violation is recorded and answered with
//! HTTP 400, so the calling test fails.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use madplan_core::testkit::{Ledger, LocalServer, SpecCheck};
use serde_json::{Value, json};

/// The requests each rate limit allows per period, as the fake reports it.
const LIMIT: u64 = 1000;

#[derive(Default)]
struct World {
    api_key: String,
    app_key: String,
    monitors: BTreeMap<i64, Value>,
    dashboards: BTreeMap<String, Value>,
    slos: BTreeMap<String, Value>,
    tests: BTreeMap<String, Value>,
    next: u64,
}

impl World {
    fn next(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    fn public_id(&mut self) -> String {
        let n = self.next();
        format!(
            "{:03x}-{:03x}-{:03x}",
            n % 4096,
            (n * 7) % 4096,
            (n * 13) % 4096
        )
    }
}

struct Shared {
    world: Mutex<World>,
    spec: SpecCheck,
    ledger: Ledger,
}

/// A running fake Datadog. Dropping it stops the server.
pub struct FakeDatadog {
    server: LocalServer,
    shared: Arc<Shared>,
}

impl FakeDatadog {
    /// Starts a fake that accepts these keys.
    pub async fn start(api_key: &str, app_key: &str) -> Self {
        let spec = SpecCheck::load("dd-trim.json", |_| {}).unwrap_or_else(|e| panic!("{e}"));
        let world = World {
            api_key: api_key.to_string(),
            app_key: app_key.to_string(),
            ..World::default()
        };
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

    /// The base URL to give the client (as `DD_HOST` would).
    pub fn base_url(&self) -> String {
        self.server.url()
    }

    /// Answers the next `n` requests with `status`; a 429 says the limit
    /// resets in `reset` seconds.
    pub fn fail_next(&self, n: usize, status: u16, reset: u64) {
        self.shared.ledger.fail_next(n, status, Some(reset));
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

fn with_limits(mut r: Response, remaining: u64, reset: u64, name: &str) -> Response {
    let h = r.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(LIMIT));
    h.insert("x-ratelimit-period", HeaderValue::from(10u64));
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(reset));
    if let Ok(v) = HeaderValue::from_str(name) {
        h.insert("x-ratelimit-name", v);
    }
    r
}

fn ok(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

fn errors(status: StatusCode, messages: &[&str]) -> Response {
    (status, axum::Json(json!({"errors": messages}))).into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
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
    let mut w = shared.world.lock().unwrap_or_else(|e| e.into_inner());
    let seen = shared
        .ledger
        .record_request(format!("{method} {}", uri.path()));
    let name = path.get(2).copied().unwrap_or("api").to_string();
    let remaining = LIMIT.saturating_sub(seen as u64);
    if let Some(text) = shared.ledger.record_violations(violations) {
        let text = format!("request breaks the OpenAPI spec: {text}");
        return errors(StatusCode::BAD_REQUEST, &[&text]);
    }
    let api_ok = header("dd-api-key").as_deref() == Some(w.api_key.as_str());
    let app_ok = header("dd-application-key").as_deref() == Some(w.app_key.as_str());
    let validate = path == ["api", "v1", "validate"];
    if !api_ok || (!validate && !app_ok) {
        return errors(StatusCode::FORBIDDEN, &["Forbidden"]);
    }
    if let Some((status, reset)) = shared.ledger.next_failure() {
        let reset = reset.unwrap_or(1);
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
        let r = errors(
            code,
            &[if status == 429 {
                "Rate limit exceeded"
            } else {
                "Internal Server Error"
            }],
        );
        return if status == 429 {
            with_limits(r, 0, reset, &name)
        } else {
            r
        };
    }
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let r = route(&mut w, &method, &path, &query, body);
    with_limits(r, remaining, 10, &name)
}

fn route(
    w: &mut World,
    method: &Method,
    path: &[&str],
    query: &[(String, String)],
    body: Value,
) -> Response {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    match (method.as_str(), path) {
        ("GET", ["api", "v1", "validate"]) => ok(json!({"valid": true})),
        ("POST", ["api", "v1", "monitor"]) => {
            if body["query"].as_str().is_none_or(str::is_empty) {
                return errors(
                    StatusCode::BAD_REQUEST,
                    &["The value provided for parameter 'query' is invalid"],
                );
            }
            let id = w.next() as i64;
            let mut m = body;
            m["id"] = json!(id);
            m["overall_state"] = json!("No Data");
            w.monitors.insert(id, m.clone());
            ok(m)
        }
        ("GET", ["api", "v1", "monitor", "search"]) => {
            let wanted = q("query")
                .and_then(|s| {
                    s.strip_prefix("tag:")
                        .map(|t| t.trim_matches('"').to_string())
                })
                .unwrap_or_default();
            let page = q("page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(0);
            let per_page = q("per_page")
                .and_then(|p| p.parse::<usize>().ok())
                .unwrap_or(30)
                .max(1);
            let all: Vec<Value> = w
                .monitors
                .values()
                .filter(|m| m["tags"].as_array().is_some_and(|t| t.iter().any(|x| x == wanted.as_str())))
                .map(|m| json!({"id": m["id"], "name": m["name"], "tags": m["tags"], "type": m["type"]}))
                .collect();
            let total = all.len();
            let monitors: Vec<Value> = all
                .into_iter()
                .skip(page * per_page)
                .take(per_page)
                .collect();
            ok(json!({
                "monitors": monitors,
                "metadata": {"page": page, "per_page": per_page, "page_count": total.div_ceil(per_page), "total_count": total},
                "counts": {}
            }))
        }
        (m, ["api", "v1", "monitor", id]) => {
            let Some(id) = id
                .parse::<i64>()
                .ok()
                .filter(|i| w.monitors.contains_key(i))
            else {
                return errors(StatusCode::NOT_FOUND, &["Monitor not found"]);
            };
            match m {
                "GET" => ok(w.monitors[&id].clone()),
                "PUT" => {
                    let mut monitor = body;
                    monitor["id"] = json!(id);
                    w.monitors.insert(id, monitor.clone());
                    ok(monitor)
                }
                "DELETE" => {
                    w.monitors.remove(&id);
                    ok(json!({"deleted_monitor_id": id}))
                }
                _ => errors(StatusCode::METHOD_NOT_ALLOWED, &["Method not allowed"]),
            }
        }
        ("POST", ["api", "v1", "dashboard"]) => {
            let id = w.public_id();
            let mut d = body;
            d["id"] = json!(id);
            for widget in d["widgets"].as_array_mut().into_iter().flatten() {
                widget["id"] = json!(w.next);
            }
            d["url"] = json!(format!("/dashboard/{id}"));
            w.dashboards.insert(id, d.clone());
            ok(d)
        }
        (m, ["api", "v1", "dashboard", id]) => {
            let id = id.to_string();
            if !w.dashboards.contains_key(&id) {
                return errors(StatusCode::NOT_FOUND, &["Dashboard not found"]);
            }
            match m {
                "GET" => ok(w.dashboards[&id].clone()),
                "PUT" => {
                    let mut d = body;
                    d["id"] = json!(id);
                    w.dashboards.insert(id, d.clone());
                    ok(d)
                }
                "DELETE" => {
                    w.dashboards.remove(&id);
                    ok(json!({"deleted_dashboard_id": id}))
                }
                _ => errors(StatusCode::METHOD_NOT_ALLOWED, &["Method not allowed"]),
            }
        }
        ("POST", ["api", "v1", "slo"]) => {
            let id = format!("{:032x}", w.next());
            let mut s = body;
            s["id"] = json!(id);
            w.slos.insert(id, s.clone());
            ok(json!({"data": [s]}))
        }
        (m, ["api", "v1", "slo", id]) => {
            let id = id.to_string();
            if !w.slos.contains_key(&id) {
                return errors(StatusCode::NOT_FOUND, &["SLO not found"]);
            }
            match m {
                "GET" => ok(json!({"data": w.slos[&id]})),
                "PUT" => {
                    let mut s = body;
                    s["id"] = json!(id);
                    w.slos.insert(id, s.clone());
                    ok(json!({"data": [s]}))
                }
                "DELETE" => {
                    w.slos.remove(&id);
                    ok(json!({"data": [id]}))
                }
                _ => errors(StatusCode::METHOD_NOT_ALLOWED, &["Method not allowed"]),
            }
        }
        ("POST", ["api", "v1", "synthetics", "tests", "api"]) => {
            let id = w.public_id();
            let monitor = w.next();
            let mut t = body;
            t["public_id"] = json!(id);
            t["monitor_id"] = json!(monitor);
            w.tests.insert(id, t.clone());
            ok(t)
        }
        (m, ["api", "v1", "synthetics", "tests", "api", id]) => {
            let id = id.to_string();
            let Some(existing) = w.tests.get(&id).cloned() else {
                return errors(StatusCode::NOT_FOUND, &["Synthetic test not found"]);
            };
            match m {
                "GET" => ok(existing),
                "PUT" => {
                    let mut t = body;
                    t["public_id"] = json!(id);
                    t["monitor_id"] = existing["monitor_id"].clone();
                    w.tests.insert(id, t.clone());
                    ok(t)
                }
                _ => errors(StatusCode::METHOD_NOT_ALLOWED, &["Method not allowed"]),
            }
        }
        ("POST", ["api", "v1", "synthetics", "tests", "delete"]) => {
            let ids: Vec<String> = body["public_ids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            if ids.iter().any(|i| !w.tests.contains_key(i)) {
                return errors(StatusCode::NOT_FOUND, &["Synthetic test not found"]);
            }
            let deleted: Vec<Value> = ids
                .iter()
                .map(|i| {
                    w.tests.remove(i);
                    json!({"public_id": i, "deleted_at": "2026-11-25T00:00:00Z"})
                })
                .collect();
            ok(json!({"deleted_tests": deleted}))
        }
        _ => errors(StatusCode::NOT_FOUND, &["Not found"]),
    }
}
