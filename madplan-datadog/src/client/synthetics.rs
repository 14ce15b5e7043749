//! Synthetic API tests: HTTP checks (the `/api/health` probe) and SSL
//! certificate checks. Assertions madplan models are closed Rust types;
//! anything else (another assertion, another subtype, request headers,
//! options set in the UI) is kept as Datadog sent it, so reading a test and
//! writing it back loses nothing.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::open::{Extra, writable};
use super::{Client, Keys};
use crate::error::Error;

open_enum! {
    /// An HTTP method.
    pub enum HttpMethod {
        /// GET.
        Get = "GET",
        /// HEAD.
        Head = "HEAD",
        /// POST.
        Post = "POST",
        /// PUT.
        Put = "PUT",
        /// PATCH.
        Patch = "PATCH",
        /// DELETE.
        Delete = "DELETE",
        /// OPTIONS.
        Options = "OPTIONS",
    }
}

/// What an HTTP test checks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpAssertion {
    /// The status code is this.
    StatusCodeIs(u16),
    /// The status code is not this.
    StatusCodeIsNot(u16),
    /// The response arrives within this many milliseconds.
    ResponseTimeLessThan(u32),
    /// A header contains a value.
    HeaderContains {
        /// The header's name.
        header: String,
        /// What it contains.
        value: String,
    },
    /// The body contains a text.
    BodyContains(String),
    /// Any other assertion, as Datadog sent it.
    Other(Value),
}

/// What an SSL test checks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SslAssertion {
    /// The certificate expires in more than this many days.
    CertificateExpiresInMoreThanDays(u32),
    /// The handshake completes within this many milliseconds.
    ResponseTimeLessThan(u32),
    /// Any other assertion, as Datadog sent it.
    Other(Value),
}

/// What the test probes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Check {
    /// An HTTP request.
    Http {
        /// The method.
        method: HttpMethod,
        /// The URL.
        url: String,
        /// What must hold.
        assertions: Vec<HttpAssertion>,
    },
    /// A TLS handshake.
    Ssl {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// What must hold.
        assertions: Vec<SslAssertion>,
    },
    /// Another subtype (tcp, dns, grpc...): its request is kept in
    /// [`ApiTest::request_extra`], its assertions here.
    Other {
        /// The subtype.
        subtype: String,
        /// Its assertions, as Datadog sent them.
        assertions: Vec<Value>,
    },
}

/// How a failed run is retried before it counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Retry {
    /// Retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Milliseconds between retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<f64>,
}

/// The test's monitor options.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TestMonitorOptions {
    /// Minutes between re-notifications while failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renotify_interval: Option<u32>,
    /// Every other option, as Datadog sent it.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A test's options.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TestOptions {
    /// Seconds between runs (30 to 604800).
    pub tick_every: u32,
    /// Seconds a failure must last before alerting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_failure_duration: Option<u32>,
    /// Locations that must fail before alerting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_location_failed: Option<u32>,
    /// Retries of a failed run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// Whether redirects are followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_redirects: Option<bool>,
    /// The test's monitor options (re-notification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor_options: Option<TestMonitorOptions>,
    /// The test's monitor priority, 1 (highest) to 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor_priority: Option<u8>,
    /// Every other option, as Datadog sent it.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A synthetic API test.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiTest {
    /// Its public id, e.g. `abc-def-ghi` (absent before it is created).
    pub public_id: Option<String>,
    /// The monitor Datadog made for it.
    pub monitor_id: Option<i64>,
    /// Its name.
    pub name: String,
    /// The notification message (with `@` handles).
    pub message: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Where it runs from, e.g. `aws:us-east-1`.
    pub locations: Vec<String>,
    /// Paused instead of live.
    pub paused: bool,
    /// What it probes.
    pub check: Check,
    /// Options.
    pub options: TestOptions,
    /// Fields of the request madplan does not model (headers, timeout...).
    pub request_extra: Extra,
    /// Fields of the configuration madplan does not model (variables...).
    pub config_extra: Extra,
    /// Every other field of the test, as Datadog sent it.
    pub extra: Extra,
}

impl ApiTest {
    /// A live test of `check` from `locations` every `tick_every` seconds.
    pub fn new(
        name: &str,
        check: Check,
        locations: impl IntoIterator<Item = impl Into<String>>,
        tick_every: u32,
    ) -> Self {
        ApiTest {
            public_id: None,
            monitor_id: None,
            name: name.to_string(),
            message: String::new(),
            tags: Vec::new(),
            locations: locations.into_iter().map(Into::into).collect(),
            paused: false,
            check,
            options: TestOptions {
                tick_every,
                ..TestOptions::default()
            },
            request_extra: Extra::new(),
            config_extra: Extra::new(),
            extra: Extra::new(),
        }
    }

    /// Checks what Datadog would refuse.
    pub fn check(&self) -> Result<(), Error> {
        let bad = |message: String| {
            Err(Error::invalid(
                format!("synthetic test {:?}", self.name),
                message,
            ))
        };
        if !(30..=604_800).contains(&self.options.tick_every) {
            return bad(format!(
                "tick_every {} s is outside 30-604800",
                self.options.tick_every
            ));
        }
        if self.locations.is_empty() {
            return bad("it runs from no location".into());
        }
        if self
            .options
            .monitor_priority
            .is_some_and(|p| !(1..=5).contains(&p))
        {
            return bad("the monitor priority lies in 1-5".into());
        }
        match &self.check {
            Check::Http {
                url, assertions, ..
            } => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return bad(format!("{url:?} is not an http(s) URL"));
                }
                if assertions.is_empty() {
                    return bad("it asserts nothing".into());
                }
            }
            Check::Ssl {
                host,
                port,
                assertions,
            } => {
                if host.is_empty() || *port == 0 {
                    return bad("an SSL test needs a host and a port".into());
                }
                if assertions.is_empty() {
                    return bad("it asserts nothing".into());
                }
            }
            Check::Other { .. } => {}
        }
        Ok(())
    }
}

fn assertion(kind: &str, operator: &str, property: Option<&str>, target: Value) -> Value {
    let mut a = json!({"type": kind, "operator": operator, "target": target});
    if let Some(p) = property {
        a["property"] = json!(p);
    }
    a
}

fn http_assertion(a: &HttpAssertion) -> Value {
    match a {
        HttpAssertion::StatusCodeIs(c) => assertion("statusCode", "is", None, json!(c)),
        HttpAssertion::StatusCodeIsNot(c) => assertion("statusCode", "isNot", None, json!(c)),
        HttpAssertion::ResponseTimeLessThan(ms) => {
            assertion("responseTime", "lessThan", None, json!(ms))
        }
        HttpAssertion::HeaderContains { header, value } => {
            assertion("header", "contains", Some(header), json!(value))
        }
        HttpAssertion::BodyContains(t) => assertion("body", "contains", None, json!(t)),
        HttpAssertion::Other(v) => v.clone(),
    }
}

fn ssl_assertion(a: &SslAssertion) -> Value {
    match a {
        SslAssertion::CertificateExpiresInMoreThanDays(d) => {
            assertion("certificate", "isInMoreThan", None, json!(d))
        }
        SslAssertion::ResponseTimeLessThan(ms) => {
            assertion("responseTime", "lessThan", None, json!(ms))
        }
        SslAssertion::Other(v) => v.clone(),
    }
}

/// The parts of a simple assertion, if `v` is one with no other field.
fn simple(v: &Value) -> Option<(&str, &str, Option<&str>, &Value)> {
    let o = v.as_object()?;
    let known = ["type", "operator", "property", "target"];
    if o.keys().any(|k| !known.contains(&k.as_str())) {
        return None;
    }
    Some((
        o.get("type")?.as_str()?,
        o.get("operator")?.as_str()?,
        o.get("property").and_then(Value::as_str),
        o.get("target")?,
    ))
}

/// A number target, which Datadog may send as a number or a string.
fn number(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

fn read_http(v: &Value) -> HttpAssertion {
    let parsed = simple(v).and_then(|(kind, op, property, target)| {
        Some(match (kind, op, property) {
            ("statusCode", "is", None) => {
                HttpAssertion::StatusCodeIs(u16::try_from(number(target)?).ok()?)
            }
            ("statusCode", "isNot", None) => {
                HttpAssertion::StatusCodeIsNot(u16::try_from(number(target)?).ok()?)
            }
            ("responseTime", "lessThan", None) => {
                HttpAssertion::ResponseTimeLessThan(u32::try_from(number(target)?).ok()?)
            }
            ("header", "contains", Some(h)) => HttpAssertion::HeaderContains {
                header: h.to_string(),
                value: target.as_str()?.to_string(),
            },
            ("body", "contains", None) => HttpAssertion::BodyContains(target.as_str()?.to_string()),
            _ => return None,
        })
    });
    parsed.unwrap_or_else(|| HttpAssertion::Other(v.clone()))
}

fn read_ssl(v: &Value) -> SslAssertion {
    let parsed = simple(v).and_then(|(kind, op, property, target)| {
        Some(match (kind, op, property) {
            ("certificate", "isInMoreThan", None) => {
                SslAssertion::CertificateExpiresInMoreThanDays(u32::try_from(number(target)?).ok()?)
            }
            ("responseTime", "lessThan", None) => {
                SslAssertion::ResponseTimeLessThan(u32::try_from(number(target)?).ok()?)
            }
            _ => return None,
        })
    });
    parsed.unwrap_or_else(|| SslAssertion::Other(v.clone()))
}

/// Fields of a test that Datadog answers but does not take back.
const READ_ONLY: &[&str] = &[
    "public_id",
    "monitor_id",
    "creator",
    "created_at",
    "modified_at",
];

impl Serialize for ApiTest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut request = self.request_extra.clone();
        let (subtype, assertions): (&str, Vec<Value>) = match &self.check {
            Check::Http {
                method,
                url,
                assertions,
            } => {
                request.insert("method".into(), json!(method));
                request.insert("url".into(), json!(url));
                ("http", assertions.iter().map(http_assertion).collect())
            }
            Check::Ssl {
                host,
                port,
                assertions,
            } => {
                request.insert("host".into(), json!(host));
                request.insert("port".into(), json!(port));
                ("ssl", assertions.iter().map(ssl_assertion).collect())
            }
            Check::Other {
                subtype,
                assertions,
            } => (subtype.as_str(), assertions.clone()),
        };
        let mut config = self.config_extra.clone();
        config.insert("request".into(), Value::Object(request));
        config.insert("assertions".into(), Value::Array(assertions));
        let mut o = writable(&self.extra, READ_ONLY);
        o.insert("name".into(), json!(self.name));
        o.insert("message".into(), json!(self.message));
        o.insert("tags".into(), json!(self.tags));
        o.insert("locations".into(), json!(self.locations));
        o.insert(
            "status".into(),
            json!(if self.paused { "paused" } else { "live" }),
        );
        o.insert("type".into(), json!("api"));
        o.insert("subtype".into(), json!(subtype));
        o.insert("config".into(), Value::Object(config));
        o.insert(
            "options".into(),
            serde_json::to_value(&self.options).map_err(serde::ser::Error::custom)?,
        );
        Value::Object(o).serialize(s)
    }
}

impl<'de> Deserialize<'de> for ApiTest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut o = Map::<String, Value>::deserialize(d)?;
        let mut take = |k: &str| o.remove(k).unwrap_or(Value::Null);
        let text = |v: Value| v.as_str().unwrap_or_default().to_string();
        let public_id = take("public_id").as_str().map(str::to_string);
        let monitor_id = take("monitor_id").as_i64();
        let name = text(take("name"));
        let message = text(take("message"));
        let tags: Vec<String> = serde_json::from_value(take("tags")).unwrap_or_default();
        let locations: Vec<String> = serde_json::from_value(take("locations")).unwrap_or_default();
        let paused = take("status").as_str() == Some("paused");
        let subtype = text(take("subtype"));
        let options: TestOptions = match take("options") {
            // The list may leave options out.
            Value::Null => TestOptions::default(),
            o => {
                serde_json::from_value(o).map_err(|e| D::Error::custom(format!("options: {e}")))?
            }
        };
        let mut config = match take("config") {
            Value::Object(c) => c,
            _ => Map::new(),
        };
        let mut request = match config.remove("request") {
            Some(Value::Object(r)) => r,
            _ => Map::new(),
        };
        let assertions = match config.remove("assertions") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        let check = match subtype.as_str() {
            "http" => Check::Http {
                method: request
                    .remove("method")
                    .and_then(|m| m.as_str().map(HttpMethod::from))
                    .unwrap_or(HttpMethod::Get),
                url: request.remove("url").map(text).unwrap_or_default(),
                assertions: assertions.iter().map(read_http).collect(),
            },
            "ssl" => Check::Ssl {
                host: request.remove("host").map(text).unwrap_or_default(),
                port: request
                    .remove("port")
                    .and_then(|p| number(&p))
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or(443),
                assertions: assertions.iter().map(read_ssl).collect(),
            },
            _ => Check::Other {
                subtype,
                assertions,
            },
        };
        o.remove("type");
        Ok(ApiTest {
            public_id,
            monitor_id,
            name,
            message,
            tags,
            locations,
            paused,
            check,
            options,
            request_extra: request,
            config_extra: config,
            extra: o,
        })
    }
}

#[derive(Deserialize)]
struct TestList {
    #[serde(default)]
    tests: Vec<Value>,
}

/// Tests per page when listing.
const PAGE_SIZE: usize = 100;

impl Client {
    /// Creates an API test.
    pub async fn create_api_test(&self, test: &ApiTest) -> Result<ApiTest, Error> {
        test.check()?;
        self.call(
            Method::POST,
            "/api/v1/synthetics/tests/api",
            &[],
            Some(test),
            Keys::Both,
        )
        .await
    }

    /// The API test `public_id`.
    pub async fn api_test(&self, public_id: &str) -> Result<ApiTest, Error> {
        self.call::<_, ()>(
            Method::GET,
            &format!("/api/v1/synthetics/tests/api/{public_id}"),
            &[],
            None,
            Keys::Both,
        )
        .await
    }

    /// Every API test of the organisation (browser and mobile tests are
    /// left out), whole, page by page.
    pub async fn api_tests(&self) -> Result<Vec<ApiTest>, Error> {
        const PATH: &str = "/api/v1/synthetics/tests";
        let all = self
            .pages(PATH, |n| {
                let query = [
                    ("page_size", PAGE_SIZE.to_string()),
                    ("page_number", n.to_string()),
                ];
                async move {
                    let r: TestList = self
                        .call::<_, ()>(Method::GET, PATH, &query, None, Keys::Both)
                        .await?;
                    let more = r.tests.len() >= PAGE_SIZE;
                    Ok(madplan_core::rest::Page {
                        items: r.tests,
                        more,
                    })
                }
            })
            .await?;
        all.into_iter()
            .filter(|t| t["type"] == "api")
            .map(|t| {
                serde_json::from_value(t)
                    .map_err(|e| Error::decode("GET", PATH, format!("an API test: {e}")))
            })
            .collect()
    }

    /// Replaces API test `public_id` with `test` (what it does not model is
    /// sent back as it was read).
    pub async fn update_api_test(&self, public_id: &str, test: &ApiTest) -> Result<ApiTest, Error> {
        test.check()?;
        self.call(
            Method::PUT,
            &format!("/api/v1/synthetics/tests/api/{public_id}"),
            &[],
            Some(test),
            Keys::Both,
        )
        .await
    }

    /// Pauses or starts the test `public_id`.
    pub async fn set_test_paused(&self, public_id: &str, paused: bool) -> Result<(), Error> {
        let status = if paused { "paused" } else { "live" };
        let _: Value = self
            .call(
                Method::PUT,
                &format!("/api/v1/synthetics/tests/{public_id}/status"),
                &[],
                Some(&json!({"new_status": status})),
                Keys::Both,
            )
            .await?;
        Ok(())
    }

    /// Deletes the test `public_id`.
    pub async fn delete_api_test(&self, public_id: &str) -> Result<(), Error> {
        self.delete_call(
            Method::POST,
            "/api/v1/synthetics/tests/delete",
            Some(&json!({"public_ids": [public_id]})),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_madplan_does_not_model_survives_a_round_trip() {
        let v = json!({
            "public_id": "abc-def-ghi", "monitor_id": 7, "name": "health", "message": "m",
            "tags": [], "locations": ["aws:us-east-1"], "status": "live", "type": "api",
            "subtype": "http",
            "config": {
                "request": {"method": "GET", "url": "https://x/api/health", "timeout": 10,
                            "headers": {"x-probe": "1"}},
                "assertions": [
                    {"type": "statusCode", "operator": "is", "target": 200},
                    {"type": "body", "operator": "validatesJSONPath",
                     "target": {"jsonPath": "$.status", "operator": "is", "targetValue": "ok"}}
                ],
                "configVariables": [{"name": "X", "type": "text", "pattern": "y"}]
            },
            "options": {"tick_every": 60, "retry": {"count": 2, "interval": 300.0},
                        "follow_redirects": true, "monitor_priority": 2,
                        "monitor_options": {"renotify_interval": 120, "escalation_message": "again"},
                        "httpVersion": "http2"},
            "creator": {"email": "someone@example.com"}
        });
        let t: ApiTest = serde_json::from_value(v.clone()).unwrap();
        let Check::Http { assertions, .. } = &t.check else {
            panic!()
        };
        assert_eq!(assertions[0], HttpAssertion::StatusCodeIs(200));
        assert!(matches!(assertions[1], HttpAssertion::Other(_)));
        assert_eq!(t.options.retry.as_ref().unwrap().count, Some(2));
        let back = serde_json::to_value(&t).unwrap();
        for path in [
            "/config/request/timeout",
            "/config/request/headers",
            "/config/assertions/1/target/jsonPath",
            "/config/configVariables",
            "/options/retry/interval",
            "/options/follow_redirects",
            "/options/monitor_priority",
            "/options/monitor_options/escalation_message",
            "/options/httpVersion",
        ] {
            assert_eq!(back.pointer(path), v.pointer(path), "{path}");
        }
        // What is only answered is not sent back.
        assert!(back.get("public_id").is_none() && back.get("creator").is_none());
    }
}
