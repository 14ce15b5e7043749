//! Test support shared by the provider crates' fakes (feature `test-util`):
//! checking requests against a provider's official OpenAPI document.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// Where the trimmed official specs are: `MADPLAN_SPECS` if set, else the
/// `specs` folder of this crate (`madplan-core/specs`, shipped with it).
pub fn specs_dir() -> PathBuf {
    std::env::var_os("MADPLAN_SPECS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("specs"))
}

/// A fake's HTTP server on 127.0.0.1 (a free port), stopped when dropped.
pub struct LocalServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl LocalServer {
    /// Serves `router` on 127.0.0.1.
    pub async fn start(router: axum::Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { addr, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a fake has seen and what it was told to do, shared by the fakes:
/// the requests, the spec violations, and the failures to answer next.
#[derive(Default)]
pub struct Ledger {
    inner: Mutex<LedgerInner>,
}

#[derive(Default)]
struct LedgerInner {
    failures: std::collections::VecDeque<(u16, Option<u64>)>,
    violations: Vec<String>,
    requests: Vec<String>,
}

impl Ledger {
    fn inner(&self) -> std::sync::MutexGuard<'_, LedgerInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers the next `n` requests with `status`, with `wait` seconds of
    /// `Retry-After` (or rate-limit reset) if given.
    pub fn fail_next(&self, n: usize, status: u16, wait: Option<u64>) {
        let mut l = self.inner();
        for _ in 0..n {
            l.failures.push_back((status, wait));
        }
    }

    /// The next failure to answer with, if one is queued.
    pub fn next_failure(&self) -> Option<(u16, Option<u64>)> {
        self.inner().failures.pop_front()
    }

    /// Records a request (`METHOD /path`) and returns how many were seen.
    pub fn record_request(&self, line: String) -> usize {
        let mut l = self.inner();
        l.requests.push(line);
        l.requests.len()
    }

    /// Records spec violations; `None` when there are none, else their text
    /// joined, for the error answer.
    pub fn record_violations(&self, violations: Vec<String>) -> Option<String> {
        if violations.is_empty() {
            return None;
        }
        let text = violations.join("; ");
        self.inner().violations.extend(violations);
        Some(text)
    }

    /// Every spec violation seen so far.
    pub fn violations(&self) -> Vec<String> {
        self.inner().violations.clone()
    }

    /// Every request seen so far.
    pub fn requests(&self) -> Vec<String> {
        self.inner().requests.clone()
    }
}

/// Everything logged through `tracing` while it is alive, as text, for tests
/// that check what logs contain (or do not).
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogCapture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// Captures every event at every level on this thread until the guard
    /// is dropped.
    pub fn start() -> (tracing::subscriber::DefaultGuard, LogCapture) {
        let capture = LogCapture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        (tracing::subscriber::set_default(subscriber), capture)
    }

    /// What was logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

/// The operations of an OpenAPI 3.0 document, with their security
/// requirements, query parameters and compiled request body schemas.
pub struct SpecCheck {
    operations: Vec<Operation>,
}

/// An answer's status, media type and compiled schema.
type Answer = (String, String, Result<jsonschema::Validator, String>);

struct Operation {
    method: String,
    segments: Vec<String>,
    id: String,
    query: Vec<(String, Value)>,
    /// Request schemas by media type.
    bodies: Vec<(String, jsonschema::Validator)>,
    /// Answer schemas by status (`200`, `2XX`, `default`) and media type,
    /// compiled on first use (most tests never see most answers).
    answer_schemas: Vec<(String, String, Value)>,
    answers: std::sync::OnceLock<Vec<Answer>>,
    body_required: bool,
    /// Media types the successful answers come in.
    produces: Vec<String>,
    /// Alternatives; each a list of credentials that must all be present.
    security: Vec<Vec<Credential>>,
}

#[derive(Clone, Debug)]
enum Credential {
    Header(String),
    Query(String),
    Bearer,
    Basic,
    Digest,
}

impl SpecCheck {
    /// Loads `file` from [`specs_dir`], lets `patch` fix documented bugs of
    /// the document (each patch should be named where it is applied), and
    /// compiles every request body schema.
    pub fn load(file: &str, patch: impl FnOnce(&mut Value)) -> Result<Self, String> {
        let path = specs_dir().join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read the spec {}: {e}", path.display()))?;
        let mut spec: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        patch(&mut spec);
        Self::from_document(spec)
    }

    /// Compiles an OpenAPI 3.0 document given as JSON.
    pub fn from_document(mut spec: Value) -> Result<Self, String> {
        numbers_as_numbers(&mut spec);
        nullable(&mut spec);
        // Read-only properties are not sent in requests, so a `required`
        // that names one applies to responses only (OpenAPI 3.0, readOnly).
        let mut request_components = spec["components"].clone();
        let snapshot = spec.clone();
        drop_read_only_required(&snapshot, &mut request_components);
        // Write-only properties are never answered, so a `required` that
        // names one applies to requests only.
        let mut answer_components = spec["components"].clone();
        drop_required_where(&snapshot, &mut answer_components, &write_only);
        let schemes = spec["components"]["securitySchemes"].clone();
        let global_security = spec["security"].clone();
        let credential = |name: &str| -> Option<Credential> {
            let s = &schemes[name];
            match (s["type"].as_str(), s["in"].as_str(), s["scheme"].as_str()) {
                (Some("apiKey"), Some("header"), _) => Some(Credential::Header(
                    s["name"].as_str().unwrap_or_default().to_lowercase(),
                )),
                (Some("apiKey"), Some("query"), _) => Some(Credential::Query(
                    s["name"].as_str().unwrap_or_default().to_string(),
                )),
                (Some("http"), _, Some("bearer")) | (Some("oauth2"), _, _) => {
                    Some(Credential::Bearer)
                }
                (Some("http"), _, Some("basic")) => Some(Credential::Basic),
                (Some("http"), _, Some("digest")) => Some(Credential::Digest),
                _ => None,
            }
        };
        let mut operations = Vec::new();
        let paths = spec["paths"].as_object().cloned().unwrap_or_default();
        for (path, item) in paths {
            let common_params = item.get("parameters").cloned().unwrap_or(json!([]));
            for (m, op) in item.as_object().into_iter().flatten() {
                if !["get", "put", "post", "delete", "patch", "head", "options"]
                    .contains(&m.as_str())
                    || !op.is_object()
                {
                    continue;
                }
                let mut query = Vec::new();
                let params = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .chain(common_params.as_array().into_iter().flatten());
                for p in params {
                    let p = resolve(&spec, p);
                    if p["in"] == "query" {
                        query.push((
                            p["name"].as_str().unwrap_or_default().to_string(),
                            resolve(&spec, &p["schema"]).clone(),
                        ));
                    }
                }
                let mut bodies = Vec::new();
                for (media, content) in op["requestBody"]["content"]
                    .as_object()
                    .into_iter()
                    .flatten()
                {
                    let body_schema = &content["schema"];
                    if !body_schema.is_object() {
                        continue;
                    }
                    let doc = json!({"allOf": [body_schema], "components": request_components});
                    let v = jsonschema::options()
                        .with_draft(jsonschema::Draft::Draft4)
                        .should_validate_formats(true)
                        .build(&doc)
                        .map_err(|e| format!("{m} {path}: {e}"))?;
                    bodies.push((media.clone(), v));
                }
                let mut answers = Vec::new();
                for (code, r) in op["responses"].as_object().into_iter().flatten() {
                    let r = resolve(&spec, r);
                    for (media, content) in r["content"].as_object().into_iter().flatten() {
                        let schema = &content["schema"];
                        if !schema.is_object() {
                            continue;
                        }
                        let doc = json!({"allOf": [schema], "components": answer_components});
                        answers.push((code.clone(), media.clone(), doc));
                    }
                }
                let produces = op["responses"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(code, _)| code.starts_with('2'))
                    .flat_map(|(_, r)| {
                        r["content"]
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(|(k, _)| k.clone())
                    })
                    .collect();
                let requirements = if op["security"].is_array() {
                    &op["security"]
                } else {
                    &global_security
                };
                let security = requirements
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|alt| {
                        alt.as_object()
                            .map(|o| o.keys().map(|k| credential(k)).collect::<Option<Vec<_>>>())
                    })
                    .flatten()
                    .collect();
                operations.push(Operation {
                    method: m.to_uppercase(),
                    segments: path
                        .trim_matches('/')
                        .split('/')
                        .map(str::to_string)
                        .collect(),
                    id: op["operationId"].as_str().unwrap_or_default().to_string(),
                    query,
                    bodies,
                    answer_schemas: answers,
                    answers: std::sync::OnceLock::new(),
                    body_required: op["requestBody"]["required"].as_bool().unwrap_or(false),
                    produces,
                    security,
                });
            }
        }
        Ok(Self { operations })
    }

    /// The operation a request names (a literal segment beats a template,
    /// as `/monitor/search` beats `/monitor/{id}`).
    fn operation(&self, method: &str, path: &[&str]) -> Option<&Operation> {
        let matches = |o: &&Operation| {
            o.method == method
                && o.segments.len() == path.len()
                && o.segments
                    .iter()
                    .zip(path)
                    .all(|(s, p)| (s.starts_with('{') && s.ends_with('}')) || s == p)
        };
        self.operations
            .iter()
            .filter(matches)
            .max_by_key(|o| o.segments.iter().filter(|s| !s.starts_with('{')).count())
    }

    /// What is wrong with an answer by the spec: for the request's
    /// operation, the answer's status must be documented (exactly, by its
    /// class such as `4XX`, or by `default`) and its JSON body must fit that
    /// answer's schema for its media type. Fakes check what they send with
    /// it, so a model that could not decode a real answer fails a test.
    pub fn check_answer(
        &self,
        method: &str,
        path: &[&str],
        status: u16,
        content_type: &str,
        body: &[u8],
    ) -> Vec<String> {
        let Some(op) = self.operation(method, path) else {
            return vec![format!(
                "{method} /{} is not an operation of the spec",
                path.join("/")
            )];
        };
        let code = status.to_string();
        let class = format!("{}XX", status / 100);
        let media = content_type.split(';').next().unwrap_or_default().trim();
        let compiled = op.answers.get_or_init(|| {
            op.answer_schemas
                .iter()
                .map(|(c, m, doc)| {
                    let v = jsonschema::options()
                        .with_draft(jsonschema::Draft::Draft4)
                        .should_validate_formats(true)
                        .build(doc)
                        .map_err(|e| format!("{}: answer {c} schema: {e}", op.id));
                    (c.clone(), m.clone(), v)
                })
                .collect()
        });
        let mut candidates: Vec<&Answer> = Vec::new();
        for wanted in [code.as_str(), class.as_str(), "default"] {
            candidates = compiled
                .iter()
                .filter(|(c, _, _)| c.eq_ignore_ascii_case(wanted))
                .collect();
            if !candidates.is_empty() {
                break;
            }
        }
        if candidates.is_empty() {
            let documented = compiled.iter().any(|(c, _, _)| c == &code);
            return if documented || status == 204 || body.is_empty() {
                Vec::new()
            } else {
                vec![format!("{}: answer {status} is not documented", op.id)]
            };
        }
        let v = candidates
            .iter()
            .find(|(_, m, _)| m == media)
            .unwrap_or(&candidates[0]);
        let v = match &v.2 {
            Ok(v) => v,
            Err(e) => return vec![e.clone()],
        };
        let mut out = Vec::new();
        match serde_json::from_slice::<Value>(body) {
            Ok(instance) => {
                for e in v.iter_errors(&instance) {
                    out.push(format!(
                        "{}: answer {status} {}: {e}",
                        op.id,
                        e.instance_path()
                    ));
                }
            }
            Err(e) => out.push(format!("{}: answer {status} is not JSON: {e}", op.id)),
        }
        out
    }

    /// What is wrong with a request by the spec: the operation must exist,
    /// one of its security requirements must be met, its query parameters
    /// must be known and fit their schemas, and the body must fit the
    /// request schema. `header` looks a header up by lower-case name.
    pub fn check(
        &self,
        method: &str,
        path: &[&str],
        query: &[(String, String)],
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
    ) -> Vec<String> {
        let Some(op) = self.operation(method, path) else {
            return vec![format!(
                "{method} /{} is not an operation of the spec",
                path.join("/")
            )];
        };
        let mut out = Vec::new();
        let present = |c: &Credential| match c {
            Credential::Header(h) => header(h).is_some(),
            Credential::Query(q) => query.iter().any(|(k, _)| k == q),
            Credential::Bearer => header("authorization").is_some_and(|v| v.starts_with("Bearer ")),
            Credential::Basic => header("authorization").is_some_and(|v| v.starts_with("Basic ")),
            Credential::Digest => header("authorization").is_some_and(|v| v.starts_with("Digest ")),
        };
        if !op.security.is_empty() && !op.security.iter().any(|alt| alt.iter().all(present)) {
            out.push(format!(
                "{}: no credentials meet its security requirements {:?}",
                op.id, op.security
            ));
        }
        for (k, v) in query {
            match op.query.iter().find(|(n, _)| n == k) {
                None => out.push(format!("{}: unknown query parameter {k:?}", op.id)),
                Some((_, schema)) => {
                    if let Some(e) = check_scalar(schema, v) {
                        out.push(format!("{}: query parameter {k}: {e}", op.id));
                    }
                }
            }
        }
        let media =
            |h: &str| header(h).map(|v| v.split(';').next().unwrap_or_default().trim().to_string());
        if let Some(accept) = media("accept")
            && !op.produces.is_empty()
            && accept != "*/*"
            && !op.produces.contains(&accept)
        {
            out.push(format!(
                "{}: Accept {accept} is not one of {:?}",
                op.id, op.produces
            ));
        }
        let chosen = if op.bodies.is_empty() {
            None
        } else {
            let content_type = media("content-type").unwrap_or_default();
            match op.bodies.iter().find(|(m, _)| *m == content_type) {
                Some((_, v)) => Some(v),
                None if body.is_empty() => op.bodies.first().map(|(_, v)| v),
                None => {
                    out.push(format!(
                        "{}: Content-Type {content_type:?} is not one of {:?}",
                        op.id,
                        op.bodies.iter().map(|(m, _)| m).collect::<Vec<_>>()
                    ));
                    return out;
                }
            }
        };
        match (chosen, body.is_empty()) {
            (Some(_), true) if op.body_required => {
                out.push(format!("{}: the body is required", op.id))
            }
            (Some(v), false) => match serde_json::from_slice::<Value>(body) {
                Ok(instance) => {
                    for e in v.iter_errors(&instance) {
                        out.push(format!("{}: body {}: {e}", op.id, e.instance_path()));
                    }
                }
                Err(e) => out.push(format!("{}: the body is not JSON: {e}", op.id)),
            },
            (None, false) => out.push(format!("{}: takes no body", op.id)),
            _ => {}
        }
        out
    }
}

/// The trimmed specs were converted from YAML by PyYAML, which reads `9e+07`
/// (no dot) as a string: schema bounds written that way become numbers again.
fn numbers_as_numbers(v: &mut Value) {
    const NUMERIC: [&str; 8] = [
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "maxItems",
    ];
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if NUMERIC.contains(&k.as_str()) {
                    if let Some(n) = x.as_str().and_then(|s| s.parse::<f64>().ok()) {
                        *x = json!(n);
                    }
                } else {
                    numbers_as_numbers(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(numbers_as_numbers),
        _ => {}
    }
}

/// Whether the property schema `p` is read-only (directly, through `$ref`,
/// or in one of its `allOf` parts).
fn read_only(spec: &Value, p: &Value) -> bool {
    let p = resolve(spec, p);
    p["readOnly"] == true
        || p["allOf"]
            .as_array()
            .is_some_and(|parts| parts.iter().any(|x| read_only(spec, x)))
}

/// OpenAPI 3.0's `nullable: true` as JSON Schema says it (the check compiles
/// schemas as JSON Schema, which does not know `nullable`): the schema also
/// accepts `null`. Read-only and write-only flags stay where the check looks
/// for them.
fn nullable(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for x in o.values_mut() {
                nullable(x);
            }
            if o.get("nullable") == Some(&Value::Bool(true)) {
                o.remove("nullable");
                let inner = Value::Object(std::mem::take(o));
                for flag in ["readOnly", "writeOnly"] {
                    if inner[flag] == true {
                        o.insert(flag.into(), json!(true));
                    }
                }
                o.insert("anyOf".into(), json!([{"type": "null"}, inner]));
            }
        }
        Value::Array(a) => a.iter_mut().for_each(nullable),
        _ => {}
    }
}

/// Whether the property schema `p` is write-only (directly, through
/// `$ref`, or in one of its `allOf` parts).
fn write_only(spec: &Value, p: &Value) -> bool {
    let p = resolve(spec, p);
    p["writeOnly"] == true
        || p["allOf"]
            .as_array()
            .is_some_and(|parts| parts.iter().any(|x| write_only(spec, x)))
}

/// Removes read-only properties from every `required` list of `v`.
fn drop_read_only_required(spec: &Value, v: &mut Value) {
    drop_required_where(spec, v, &read_only);
}

/// Removes the properties `drop` picks from every `required` list of `v`.
fn drop_required_where(spec: &Value, v: &mut Value, drop: &dyn Fn(&Value, &Value) -> bool) {
    match v {
        Value::Object(o) => {
            if let (Some(Value::Array(required)), Some(props)) =
                (o.get("required").cloned(), o.get("properties").cloned())
            {
                let kept: Vec<Value> = required
                    .into_iter()
                    .filter(|r| {
                        r.as_str()
                            .and_then(|name| props.get(name))
                            .is_none_or(|p| !drop(spec, p))
                    })
                    .collect();
                o.insert("required".into(), Value::Array(kept));
            }
            for x in o.values_mut() {
                drop_required_where(spec, x, drop);
            }
        }
        Value::Array(a) => a
            .iter_mut()
            .for_each(|x| drop_required_where(spec, x, drop)),
        _ => {}
    }
}

fn resolve<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => spec.pointer(r.trim_start_matches('#')).unwrap_or(v),
        None => v,
    }
}

/// Checks a query value against a simple schema (type, enum, bounds).
fn check_scalar(schema: &Value, v: &str) -> Option<String> {
    if let Some(options) = schema["enum"].as_array()
        && !options
            .iter()
            .any(|o| o.as_str() == Some(v) || o.to_string().as_str() == v)
    {
        return Some(format!("{v:?} is not one of {options:?}"));
    }
    match schema["type"].as_str() {
        Some("number") | Some("integer") => {
            let Ok(n) = v.parse::<f64>() else {
                return Some(format!("{v:?} is not a number"));
            };
            if schema["minimum"].as_f64().is_some_and(|m| n < m)
                || schema["maximum"].as_f64().is_some_and(|m| n > m)
            {
                return Some(format!("{n} is out of range"));
            }
            None
        }
        Some("boolean") if v != "true" && v != "false" => Some(format!("{v:?} is not a boolean")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SpecCheck {
        SpecCheck::from_document(json!({
            "openapi": "3.0.0",
            "paths": {"/things/{id}": {"get": {
                "operationId": "getThing",
                "responses": {
                    "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                    "4XX": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                }
            }}},
            "components": {"schemas": {
                "Thing": {"type": "object", "required": ["id", "secret"], "properties": {
                    "id": {"type": "string"},
                    "note": {"type": "string", "nullable": true},
                    "size": {"type": "integer"},
                    "secret": {"type": "string", "writeOnly": true}
                }},
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "integer"}}}
            }}
        }))
        .unwrap()
    }

    #[test]
    fn answers_are_checked_against_their_status_and_schema() {
        let s = spec();
        let path = ["things", "t1"];
        // A good answer; a write-only field is not required in answers.
        assert!(
            s.check_answer(
                "GET",
                &path,
                200,
                "application/json",
                br#"{"id":"t1","size":3}"#
            )
            .is_empty()
        );
        let bad = s.check_answer(
            "GET",
            &path,
            200,
            "application/json",
            br#"{"id":"t1","size":"big"}"#,
        );
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(bad[0].contains("getThing: answer 200 /size"), "{bad:?}");
        // OpenAPI 3.0 `nullable` lets null through, and only null.
        assert!(
            s.check_answer(
                "GET",
                &path,
                200,
                "application/json",
                br#"{"id":"t1","note":null}"#
            )
            .is_empty()
        );
        assert_eq!(
            s.check_answer(
                "GET",
                &path,
                200,
                "application/json",
                br#"{"id":"t1","note":3}"#
            )
            .len(),
            1
        );
        // 404 falls under 4XX.
        assert!(
            s.check_answer("GET", &path, 404, "application/json", br#"{"error":404}"#)
                .is_empty()
        );
        assert_eq!(
            s.check_answer("GET", &path, 404, "application/json", br#"{}"#)
                .len(),
            1
        );
        // An undocumented status with a body is a violation.
        assert_eq!(
            s.check_answer("GET", &path, 500, "application/json", br#"{}"#)
                .len(),
            1
        );
        assert_eq!(
            s.check_answer("GET", &path, 200, "application/json", b"<html>")
                .len(),
            1
        );
    }
}
