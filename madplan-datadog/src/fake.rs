//! An in-memory Datadog on 127.0.0.1 for tests and demos.
//!
//! It serves the endpoints the client uses (monitors, dashboards, SLOs,
//! synthetic tests, the PagerDuty and Slack integrations, and the v2 AWS
//! integration), checks both keys, answers with Datadog's error shapes, and
//! behaves like the real API where madplan depends on it: `PUT` on a monitor
//! merges into it, every widget gets its own id, the server fills in its
//! defaults (`include_tags`, ...), a synthetic test makes its own monitor,
//! and each rate limit (by API area) counts requests per period and answers
//! 429 with `X-RateLimit-*` headers once spent.
//!
//! Every request is checked against the official OpenAPI document
//! (`madplan-core/specs/dd-trim.json`, `dd-v2-trim.json` for v2): a
//! violation is recorded and answered with HTTP 400, so the calling test
//! fails. Every answer the fake gives is checked too (status documented,
//! body fits the schema), so a model that could not decode a real answer
//! fails a test instead of passing against a lenient fake.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use madplan_core::testkit::{Ledger, LocalServer, SpecCheck};
use serde_json::{Value, json};

/// The requests each rate limit allows per period unless told otherwise.
const LIMIT: u64 = 1000;
/// Its period.
const PERIOD: Duration = Duration::from_secs(10);

fn v1_spec() -> Arc<SpecCheck> {
    static SPEC: OnceLock<Arc<SpecCheck>> = OnceLock::new();
    SPEC.get_or_init(|| {
        Arc::new(SpecCheck::load("dd-trim.json", |_| {}).unwrap_or_else(|e| panic!("{e}")))
    })
    .clone()
}

fn v2_spec() -> Arc<SpecCheck> {
    static SPEC: OnceLock<Arc<SpecCheck>> = OnceLock::new();
    SPEC.get_or_init(|| {
        Arc::new(SpecCheck::load("dd-v2-trim.json", |_| {}).unwrap_or_else(|e| panic!("{e}")))
    })
    .clone()
}

#[derive(Default)]
struct World {
    api_key: String,
    app_key: String,
    monitors: BTreeMap<i64, Value>,
    dashboards: BTreeMap<String, Value>,
    slos: BTreeMap<String, Value>,
    tests: BTreeMap<String, Value>,
    pagerduty: BTreeMap<String, String>,
    slack: BTreeMap<String, Vec<Value>>,
    aws: BTreeMap<String, Value>,
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

/// A rate limit's current period.
struct Period {
    started: Instant,
    count: u64,
}

struct Shared {
    world: Mutex<World>,
    ledger: Ledger,
    limit: Mutex<(u64, Duration)>,
    periods: Mutex<HashMap<String, Period>>,
    throttled: AtomicUsize,
    frozen_page: AtomicBool,
    /// Requests to carry out whose answer is then lost (a 502).
    lose: AtomicUsize,
}

/// A running fake Datadog. Dropping it stops the server.
pub struct FakeDatadog {
    server: LocalServer,
    shared: Arc<Shared>,
}

/// Which collection of the fake's world.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collection {
    /// Monitors, by id.
    Monitors,
    /// Dashboards, by id.
    Dashboards,
    /// SLOs, by id.
    Slos,
    /// Synthetic tests, by public id.
    Tests,
    /// AWS accounts (v2), by config id.
    AwsAccounts,
}

impl FakeDatadog {
    /// Starts a fake that accepts these keys.
    pub async fn start(api_key: &str, app_key: &str) -> Self {
        // Load both documents before the first request needs them.
        let _ = (v1_spec(), v2_spec());
        let world = World {
            api_key: api_key.to_string(),
            app_key: app_key.to_string(),
            ..World::default()
        };
        let shared = Arc::new(Shared {
            world: Mutex::new(world),
            ledger: Ledger::default(),
            limit: Mutex::new((LIMIT, PERIOD)),
            periods: Mutex::default(),
            throttled: AtomicUsize::new(0),
            frozen_page: AtomicBool::new(false),
            lose: AtomicUsize::new(0),
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

    /// Carries out the next `n` requests, then answers each with a 502 as
    /// if the answer had been lost on the way back.
    pub fn lose_next_answers(&self, n: usize) {
        self.shared.lose.store(n, Ordering::SeqCst);
    }

    /// Forgets the failures still queued by [`FakeDatadog::fail_next`].
    pub fn clear_failures(&self) {
        // Bounded: the queue only shrinks here.
        while self.shared.ledger.next_failure().is_some() {}
    }

    /// Each rate limit allows `limit` requests per `period` from now on.
    pub fn rate_limit(&self, limit: u64, period: Duration) {
        *self.shared.limit.lock().unwrap_or_else(|e| e.into_inner()) = (limit, period);
        self.shared
            .periods
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// How many requests were answered 429 because a rate limit was spent.
    pub fn throttled(&self) -> usize {
        self.shared.throttled.load(Ordering::SeqCst)
    }

    /// Makes monitor search answer `page: 0` whatever page was asked for
    /// (the echo does not move), as a mock built from the spec's examples
    /// does.
    pub fn freeze_search_page(&self) {
        self.shared.frozen_page.store(true, Ordering::SeqCst);
    }

    /// Connects a Slack account (done in the Datadog UI, not through the
    /// API), so channels can be added to it.
    pub fn add_slack_account(&self, account: &str) {
        self.world().slack.entry(account.to_string()).or_default();
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.shared.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every spec violation seen so far, in requests and in answers.
    pub fn violations(&self) -> Vec<String> {
        self.shared.ledger.violations()
    }

    /// Every request seen so far, as `METHOD /path`.
    pub fn requests(&self) -> Vec<String> {
        self.shared.ledger.requests()
    }

    /// Every object of a collection, as the API would answer it.
    pub fn objects(&self, c: Collection) -> Vec<Value> {
        let w = self.world();
        match c {
            Collection::Monitors => w.monitors.values().cloned().collect(),
            Collection::Dashboards => w.dashboards.values().cloned().collect(),
            Collection::Slos => w.slos.values().cloned().collect(),
            Collection::Tests => w.tests.values().cloned().collect(),
            Collection::AwsAccounts => w.aws.values().cloned().collect(),
        }
    }

    /// Changes an object behind the API's back (as the UI would), by its
    /// id; returns whether it exists.
    pub fn edit(&self, c: Collection, id: &str, f: impl FnOnce(&mut Value)) -> bool {
        let mut w = self.world();
        let found = match c {
            Collection::Monitors => id.parse().ok().and_then(|i: i64| w.monitors.get_mut(&i)),
            Collection::Dashboards => w.dashboards.get_mut(id),
            Collection::Slos => w.slos.get_mut(id),
            Collection::Tests => w.tests.get_mut(id),
            Collection::AwsAccounts => w.aws.get_mut(id),
        };
        found.map(f).is_some()
    }

    /// The PagerDuty services configured, by name.
    pub fn pagerduty_services(&self) -> Vec<String> {
        self.world().pagerduty.keys().cloned().collect()
    }

    /// The channels of a Slack account, as answered.
    pub fn slack_channels(&self, account: &str) -> Vec<Value> {
        self.world().slack.get(account).cloned().unwrap_or_default()
    }
}

fn errors(status: StatusCode, messages: &[&str]) -> (StatusCode, Option<Value>) {
    (status, Some(json!({ "errors": messages })))
}

fn ok(v: Value) -> (StatusCode, Option<Value>) {
    (StatusCode::OK, Some(v))
}

fn not_found(what: &str) -> (StatusCode, Option<Value>) {
    errors(StatusCode::NOT_FOUND, &[&format!("{what} not found")])
}

const NOW: &str = "2026-11-25T10:00:00.000000+00:00";

/// Merges `patch` into `target` as Datadog's monitor `PUT` does: objects
/// merge key by key, anything else (null included) replaces.
fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        t.insert(k, v);
                    }
                }
            }
        }
        (t, p) => *t = p,
    }
}

/// Fills `key` of `o` with `v` when absent.
fn default(o: &mut Value, key: &str, v: Value) {
    if o.get(key).is_none_or(Value::is_null)
        && let Some(m) = o.as_object_mut()
    {
        m.insert(key.to_string(), v);
    }
}

#[allow(clippy::too_many_arguments)]
async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    let spec = if path.get(1) == Some(&"v2") {
        v2_spec()
    } else {
        v1_spec()
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let violations = spec.check(method.as_str(), &path, &query, &header, &body);
    shared
        .ledger
        .record_request(format!("{method} {}", uri.path()));
    let name = path.get(2).copied().unwrap_or("api").to_string();
    let answer = |status: StatusCode, body: Option<Value>, limits: (u64, u64)| {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let wrong = spec.check_answer(
            method.as_str(),
            &path,
            status.as_u16(),
            "application/json",
            &bytes,
        );
        shared.ledger.record_violations(
            wrong
                .into_iter()
                .map(|w| format!("the fake's answer: {w}"))
                .collect(),
        );
        let mut r = if bytes.is_empty() {
            status.into_response()
        } else {
            (
                status,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                bytes,
            )
                .into_response()
        };
        let (limit, period) = *shared.limit.lock().unwrap_or_else(|e| e.into_inner());
        let h = r.headers_mut();
        h.insert("x-ratelimit-limit", HeaderValue::from(limit));
        h.insert("x-ratelimit-period", HeaderValue::from(period.as_secs()));
        h.insert("x-ratelimit-remaining", HeaderValue::from(limits.0));
        h.insert("x-ratelimit-reset", HeaderValue::from(limits.1));
        if let Ok(v) = HeaderValue::from_str(&name) {
            h.insert("x-ratelimit-name", v);
        }
        r
    };
    if let Some(text) = shared.ledger.record_violations(violations) {
        let text = format!("request breaks the OpenAPI spec: {text}");
        let (s, b) = errors(StatusCode::BAD_REQUEST, &[&text]);
        return answer(s, b, (LIMIT, 1));
    }
    let (remaining, reset, spent) = count(&shared, &name);
    if spent {
        shared.throttled.fetch_add(1, Ordering::SeqCst);
        let (s, b) = errors(StatusCode::TOO_MANY_REQUESTS, &["Rate limit exceeded"]);
        return answer(s, b, (0, reset));
    }
    let mut w = shared.world.lock().unwrap_or_else(|e| e.into_inner());
    let api_ok = header("dd-api-key").as_deref() == Some(w.api_key.as_str());
    let app_ok = header("dd-application-key").as_deref() == Some(w.app_key.as_str());
    let validate = path == ["api", "v1", "validate"];
    if !api_ok || (!validate && !app_ok) {
        let (s, b) = errors(StatusCode::FORBIDDEN, &["Forbidden"]);
        return answer(s, b, (remaining, reset));
    }
    if let Some((status, wait)) = shared.ledger.next_failure() {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
        return if status == 429 {
            let (s, b) = errors(code, &["Rate limit exceeded"]);
            answer(s, b, (0, wait.unwrap_or(1)))
        } else {
            // Datadog's 5xx pages are not its JSON; answered empty.
            answer(code, None, (remaining, reset))
        };
    }
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let frozen = shared.frozen_page.load(Ordering::SeqCst);
    let (status, out) = route(&mut w, &method, &path, &query, body, frozen);
    let lost = shared
        .lose
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if lost {
        return answer(StatusCode::BAD_GATEWAY, None, (remaining, reset));
    }
    answer(status, out, (remaining, reset))
}

/// Counts a request against its rate limit: what remains, the seconds
/// until the period ends, and whether the limit was already spent.
fn count(shared: &Shared, name: &str) -> (u64, u64, bool) {
    let (limit, period) = *shared.limit.lock().unwrap_or_else(|e| e.into_inner());
    let mut periods = shared.periods.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    let p = periods.entry(name.to_string()).or_insert(Period {
        started: now,
        count: 0,
    });
    if now.duration_since(p.started) >= period {
        *p = Period {
            started: now,
            count: 0,
        };
    }
    let left = period.saturating_sub(now.duration_since(p.started));
    // Whole seconds, rounded up, so a client that waits them is past it.
    let reset = left.as_millis().div_ceil(1000).max(1) as u64;
    if p.count >= limit {
        return (0, reset, true);
    }
    p.count += 1;
    (limit - p.count, reset, false)
}

fn has_tags(o: &Value, wanted: &[&str]) -> bool {
    wanted.iter().all(|t| {
        o["tags"]
            .as_array()
            .is_some_and(|tags| tags.iter().any(|x| x == t))
    })
}

fn route(
    w: &mut World,
    method: &Method,
    path: &[&str],
    query: &[(String, String)],
    body: Value,
    frozen_page: bool,
) -> (StatusCode, Option<Value>) {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let num = |k: &str| q(k).and_then(|p| p.parse::<usize>().ok());
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
            ok(new_monitor(w, id, body))
        }
        ("GET", ["api", "v1", "monitor"]) => {
            let wanted = q("monitor_tags").unwrap_or_default();
            let wanted: Vec<&str> = wanted.split(',').filter(|t| !t.is_empty()).collect();
            let all: Vec<Value> = w
                .monitors
                .values()
                .filter(|m| has_tags(m, &wanted))
                .cloned()
                .collect();
            let page = match num("page") {
                None => all,
                Some(page) => {
                    let size = num("page_size").unwrap_or(100).max(1);
                    all.into_iter().skip(page * size).take(size).collect()
                }
            };
            ok(Value::Array(page))
        }
        ("GET", ["api", "v1", "monitor", "search"]) => {
            let wanted = q("query")
                .and_then(|s| {
                    s.strip_prefix("tag:")
                        .map(|t| t.trim_matches('"').to_string())
                })
                .unwrap_or_default();
            let page = num("page").unwrap_or(0);
            let per_page = num("per_page").unwrap_or(30).max(1);
            let all: Vec<Value> = w
                .monitors
                .values()
                .filter(|m| has_tags(m, &[wanted.as_str()]))
                .map(|m| json!({"id": m["id"], "name": m["name"], "tags": m["tags"], "type": m["type"]}))
                .collect();
            let total = all.len();
            let monitors: Vec<Value> = all
                .into_iter()
                .skip(page * per_page)
                .take(per_page)
                .collect();
            let echoed = if frozen_page { 0 } else { page };
            ok(json!({
                "monitors": monitors,
                "metadata": {"page": echoed, "per_page": per_page, "page_count": total.div_ceil(per_page), "total_count": total},
                "counts": {}
            }))
        }
        (m, ["api", "v1", "monitor", id]) => {
            let Some(id) = id
                .parse::<i64>()
                .ok()
                .filter(|i| w.monitors.contains_key(i))
            else {
                return not_found("Monitor");
            };
            match m {
                "GET" => ok(w.monitors[&id].clone()),
                "PUT" => {
                    let monitor = w.monitors.get_mut(&id).expect("checked above");
                    merge(monitor, body);
                    monitor["id"] = json!(id);
                    monitor["modified"] = json!(NOW);
                    ok(monitor.clone())
                }
                "DELETE" => {
                    w.monitors.remove(&id);
                    ok(json!({"deleted_monitor_id": id}))
                }
                _ => not_found("Operation"),
            }
        }
        ("POST", ["api", "v1", "dashboard"]) => {
            let id = w.public_id();
            let mut d = body;
            d["id"] = json!(id);
            d["url"] = json!(format!("/dashboard/{id}"));
            d["created_at"] = json!(NOW);
            d["modified_at"] = json!(NOW);
            d["author_handle"] = json!("ops@madplan.com");
            give_widgets_ids(w, &mut d);
            w.dashboards.insert(id, d.clone());
            ok(d)
        }
        ("GET", ["api", "v1", "dashboard"]) => {
            let start = num("start").unwrap_or(0);
            let count = num("count").unwrap_or(100);
            let page: Vec<Value> = w
                .dashboards
                .values()
                .skip(start)
                .take(count)
                .map(|d| {
                    json!({"id": d["id"], "title": d["title"], "description": d["description"],
                           "layout_type": d["layout_type"], "url": d["url"],
                           "created_at": d["created_at"], "modified_at": d["modified_at"],
                           "author_handle": d["author_handle"]})
                })
                .collect();
            ok(json!({ "dashboards": page }))
        }
        (m, ["api", "v1", "dashboard", id]) => {
            let id = id.to_string();
            let Some(existing) = w.dashboards.get(&id).cloned() else {
                return not_found("Dashboard");
            };
            match m {
                "GET" => ok(existing),
                "PUT" => {
                    let mut d = body;
                    for k in ["id", "url", "created_at", "author_handle"] {
                        d[k] = existing[k].clone();
                    }
                    d["modified_at"] = json!(NOW);
                    give_widgets_ids(w, &mut d);
                    w.dashboards.insert(id, d.clone());
                    ok(d)
                }
                "DELETE" => {
                    w.dashboards.remove(&id);
                    ok(json!({"deleted_dashboard_id": id}))
                }
                _ => not_found("Operation"),
            }
        }
        ("POST", ["api", "v1", "slo"]) => {
            let id = format!("{:032x}", w.next());
            let s = stored_slo(body, &id, None);
            w.slos.insert(id, s.clone());
            ok(json!({"data": [s]}))
        }
        ("GET", ["api", "v1", "slo"]) => {
            let tag = q("tags_query");
            let offset = num("offset").unwrap_or(0);
            let limit = num("limit").unwrap_or(1000);
            let all: Vec<Value> = w
                .slos
                .values()
                .filter(|s| tag.as_deref().is_none_or(|t| has_tags(s, &[t])))
                .cloned()
                .collect();
            let total = all.len();
            let page: Vec<Value> = all.into_iter().skip(offset).take(limit).collect();
            ok(json!({
                "data": page, "errors": [],
                "metadata": {"page": {"total_count": total, "total_filtered_count": total}}
            }))
        }
        (m, ["api", "v1", "slo", id]) => {
            let id = id.to_string();
            let Some(existing) = w.slos.get(&id).cloned() else {
                return not_found("SLO");
            };
            match m {
                "GET" => ok(json!({"data": existing})),
                "PUT" => {
                    let s = stored_slo(body, &id, Some(&existing));
                    w.slos.insert(id, s.clone());
                    ok(json!({"data": [s]}))
                }
                "DELETE" => {
                    w.slos.remove(&id);
                    ok(json!({"data": [id]}))
                }
                _ => not_found("Operation"),
            }
        }
        ("GET", ["api", "v1", "synthetics", "tests"]) => {
            let size = num("page_size").unwrap_or(100).max(1);
            let page = num("page_number").unwrap_or(0);
            let tests: Vec<Value> = w
                .tests
                .values()
                .skip(page * size)
                .take(size)
                .cloned()
                .collect();
            ok(json!({ "tests": tests }))
        }
        ("POST", ["api", "v1", "synthetics", "tests", "api"]) => {
            let id = w.public_id();
            let monitor = w.next() as i64;
            let mut t = body;
            t["public_id"] = json!(id);
            t["monitor_id"] = json!(monitor);
            t["creator"] = json!({"email": "ops@madplan.com", "handle": "ops@madplan.com"});
            default(&mut t, "status", json!("live"));
            // Datadog makes the test's monitor itself.
            let m = json!({
                "name": t["name"], "type": "synthetics alert", "message": t["message"],
                "tags": t["tags"], "query": format!("\"synthetics.test_run\".over(\"public_id:{id}\")"),
                "options": {"thresholds": {"critical": 1}}
            });
            new_monitor(w, monitor, m);
            w.tests.insert(id, t.clone());
            ok(t)
        }
        (m, ["api", "v1", "synthetics", "tests", "api", id])
        | (m, ["api", "v1", "synthetics", "tests", id])
            if m != "POST" =>
        {
            let id = id.to_string();
            let Some(existing) = w.tests.get(&id).cloned() else {
                return not_found("Synthetic test");
            };
            match m {
                "GET" => ok(existing),
                "PUT" => {
                    let mut t = body;
                    for k in ["public_id", "monitor_id", "creator"] {
                        t[k] = existing[k].clone();
                    }
                    default(&mut t, "status", existing["status"].clone());
                    if let Some(mon) = existing["monitor_id"]
                        .as_i64()
                        .and_then(|i| w.monitors.get_mut(&i))
                    {
                        mon["name"] = t["name"].clone();
                        mon["message"] = t["message"].clone();
                        mon["tags"] = t["tags"].clone();
                    }
                    w.tests.insert(id, t.clone());
                    ok(t)
                }
                _ => not_found("Operation"),
            }
        }
        ("PUT", ["api", "v1", "synthetics", "tests", id, "status"]) => {
            let Some(t) = w.tests.get_mut(*id) else {
                return not_found("Synthetic test");
            };
            t["status"] = body["new_status"].clone();
            ok(json!(true))
        }
        ("POST", ["api", "v1", "synthetics", "tests", "delete"]) => {
            let ids: Vec<String> = body["public_ids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            if ids.iter().any(|i| !w.tests.contains_key(i)) {
                return not_found("Synthetic test");
            }
            let deleted: Vec<Value> = ids
                .iter()
                .map(|i| {
                    if let Some(t) = w.tests.remove(i)
                        && let Some(m) = t["monitor_id"].as_i64()
                    {
                        w.monitors.remove(&m);
                    }
                    json!({"public_id": i, "deleted_at": NOW})
                })
                .collect();
            ok(json!({"deleted_tests": deleted}))
        }
        (
            "POST",
            [
                "api",
                "v1",
                "integration",
                "pagerduty",
                "configuration",
                "services",
            ],
        ) => {
            let name = body["service_name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if w.pagerduty.contains_key(&name) {
                return errors(
                    StatusCode::BAD_REQUEST,
                    &[&format!("The service {name} already exists")],
                );
            }
            let key = body["service_key"].as_str().unwrap_or_default().to_string();
            w.pagerduty.insert(name.clone(), key);
            (StatusCode::CREATED, Some(json!({ "service_name": name })))
        }
        (
            m,
            [
                "api",
                "v1",
                "integration",
                "pagerduty",
                "configuration",
                "services",
                name,
            ],
        ) => {
            let name = name.to_string();
            if !w.pagerduty.contains_key(&name) {
                return not_found("Service");
            }
            match m {
                "GET" => ok(json!({ "service_name": name })),
                "PUT" => {
                    let key = body["service_key"].as_str().unwrap_or_default().to_string();
                    w.pagerduty.insert(name, key);
                    (StatusCode::OK, None)
                }
                "DELETE" => {
                    w.pagerduty.remove(&name);
                    (StatusCode::NO_CONTENT, None)
                }
                _ => not_found("Operation"),
            }
        }
        (
            m,
            [
                "api",
                "v1",
                "integration",
                "slack",
                "configuration",
                "accounts",
                account,
                "channels",
                rest @ ..,
            ],
        ) => {
            let Some(channels) = w.slack.get_mut(*account) else {
                return not_found("Slack account");
            };
            let display = |c: &mut Value| {
                let d = &mut c["display"];
                if d.is_null() {
                    *d = json!({});
                }
                for (k, v) in [
                    ("message", true),
                    ("notified", true),
                    ("snapshot", true),
                    ("tags", true),
                    ("mute_buttons", false),
                ] {
                    default(d, k, json!(v));
                }
            };
            match (m, rest) {
                ("GET", []) => ok(Value::Array(channels.clone())),
                ("POST", []) => {
                    let mut c = body;
                    if channels.iter().any(|x| x["name"] == c["name"]) {
                        return errors(StatusCode::BAD_REQUEST, &["The channel already exists"]);
                    }
                    display(&mut c);
                    channels.push(c.clone());
                    ok(c)
                }
                (m, [name]) => {
                    let wanted = format!("#{name}");
                    let Some(i) = channels.iter().position(|x| x["name"] == wanted.as_str()) else {
                        return not_found("Channel");
                    };
                    match m {
                        "GET" => ok(channels[i].clone()),
                        "PATCH" => {
                            merge(&mut channels[i], body);
                            display(&mut channels[i]);
                            ok(channels[i].clone())
                        }
                        "DELETE" => {
                            channels.remove(i);
                            (StatusCode::NO_CONTENT, None)
                        }
                        _ => not_found("Operation"),
                    }
                }
                _ => not_found("Operation"),
            }
        }
        ("GET", ["api", "v2", "integration", "aws", "accounts"]) => {
            let wanted = q("aws_account_id");
            let data: Vec<Value> = w
                .aws
                .values()
                .filter(|a| {
                    wanted
                        .as_deref()
                        .is_none_or(|id| a["attributes"]["aws_account_id"] == id)
                })
                .cloned()
                .collect();
            ok(json!({ "data": data }))
        }
        ("POST", ["api", "v2", "integration", "aws", "accounts"]) => {
            let mut a = body["data"]["attributes"].clone();
            let account = a["aws_account_id"].clone();
            if w.aws
                .values()
                .any(|x| x["attributes"]["aws_account_id"] == account)
            {
                return errors(
                    StatusCode::CONFLICT,
                    &["Account already exists in integration"],
                );
            }
            let n = w.next();
            let id = format!("00000000-abcd-{n:04x}-0000-000000000000");
            a["auth_config"]["external_id"] = json!(format!("{:032x}", n * 7919));
            a["created_at"] = json!(NOW);
            a["modified_at"] = json!(NOW);
            default(
                &mut a,
                "metrics_config",
                json!({"enabled": true, "automute_enabled": true, "collect_cloudwatch_alarms": false,
                       "collect_custom_metrics": false,
                       "namespace_filters": {"exclude_only": ["AWS/SQS", "AWS/ElasticMapReduce", "AWS/Usage"]},
                       "tag_filters": []}),
            );
            default(
                &mut a,
                "resources_config",
                json!({"cloud_security_posture_management_collection": false, "extended_collection": true}),
            );
            let data = json!({"id": id, "type": "account", "attributes": a});
            w.aws.insert(id, data.clone());
            ok(json!({ "data": data }))
        }
        (m, ["api", "v2", "integration", "aws", "accounts", id]) => {
            let id = id.to_string();
            let Some(existing) = w.aws.get_mut(&id) else {
                return not_found("AWS account");
            };
            match m {
                "GET" => ok(json!({ "data": existing.clone() })),
                "PATCH" => {
                    // Each attribute given replaces the one stored; the
                    // external id is Datadog's, and a role change keeps it.
                    let external = existing["attributes"]["auth_config"]["external_id"].clone();
                    let a = &mut existing["attributes"];
                    for (k, v) in body["data"]["attributes"]
                        .as_object()
                        .cloned()
                        .unwrap_or_default()
                    {
                        a[k] = v;
                    }
                    if a["auth_config"].get("role_name").is_some() {
                        a["auth_config"]["external_id"] = external;
                    }
                    a["modified_at"] = json!(NOW);
                    ok(json!({ "data": existing.clone() }))
                }
                "DELETE" => {
                    w.aws.remove(&id);
                    (StatusCode::NO_CONTENT, None)
                }
                _ => not_found("Operation"),
            }
        }
        _ => not_found("Path"),
    }
}

/// Stores a new monitor as Datadog answers it: its id, dates, state, and
/// the options the server fills in.
fn new_monitor(w: &mut World, id: i64, body: Value) -> Value {
    let mut m = body;
    m["id"] = json!(id);
    m["created"] = json!(NOW);
    m["modified"] = json!(NOW);
    m["overall_state"] = json!("No Data");
    m["creator"] = json!({"email": "ops@madplan.com", "handle": "ops@madplan.com", "name": "Ops"});
    m["multi"] = json!(false);
    default(&mut m, "priority", Value::Null);
    default(&mut m, "tags", json!([]));
    default(&mut m, "message", json!(""));
    default(&mut m, "options", json!({}));
    let o = &mut m["options"];
    default(o, "include_tags", json!(true));
    default(o, "notify_no_data", json!(false));
    default(o, "notify_audit", json!(false));
    default(o, "new_host_delay", json!(300));
    w.monitors.insert(id, m.clone());
    m
}

/// Each widget its own id (nested group widgets too), keeping ids given.
fn give_widgets_ids(w: &mut World, d: &mut Value) {
    fn walk(next: &mut dyn FnMut() -> u64, widgets: Option<&mut Value>) {
        for widget in widgets.and_then(Value::as_array_mut).into_iter().flatten() {
            if widget["id"].as_i64().is_none() {
                widget["id"] = json!(next());
            }
            walk(
                next,
                widget
                    .get_mut("definition")
                    .and_then(|d| d.get_mut("widgets")),
            );
        }
    }
    let mut next = || w.next();
    walk(&mut next, d.get_mut("widgets"));
}

/// An SLO as Datadog stores and answers it.
fn stored_slo(body: Value, id: &str, existing: Option<&Value>) -> Value {
    let mut s = body;
    s["id"] = json!(id);
    s["created_at"] = existing.map_or(json!(1_764_064_800), |e| e["created_at"].clone());
    s["modified_at"] = json!(1_764_064_800);
    s["creator"] = json!({"email": "ops@madplan.com", "handle": "ops@madplan.com", "name": "Ops"});
    default(&mut s, "tags", json!([]));
    default(&mut s, "description", Value::Null);
    if s["type"] == "monitor" {
        s["monitor_tags"] = json!([]);
    }
    for t in s["thresholds"].as_array_mut().into_iter().flatten() {
        let shown = |v: &Value| v.as_f64().map(|x| format!("{x:.1}"));
        if let Some(d) = shown(&t["target"]) {
            t["target_display"] = json!(d);
        }
        if let Some(d) = shown(&t["warning"]) {
            t["warning_display"] = json!(d);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_merges_objects_and_null_clears() {
        let mut m = json!({"name": "a", "options": {"thresholds": {"critical": 1, "warning": 0.5}, "x": 1}});
        merge(
            &mut m,
            json!({"options": {"thresholds": {"warning": null}}, "priority": 2}),
        );
        assert_eq!(
            m,
            json!({"name": "a", "priority": 2, "options": {"thresholds": {"critical": 1, "warning": null}, "x": 1}})
        );
    }
}
