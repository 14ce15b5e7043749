//! Synthetic API tests: HTTP checks (the `/api/health` probe) and SSL
//! certificate checks. Assertions are closed Rust types, so only
//! combinations Datadog accepts can be written.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Client, Keys};
use crate::error::Error;

/// An HTTP method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET.
    Get,
    /// HEAD.
    Head,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// OPTIONS.
    Options,
}

/// What an HTTP test checks.
#[derive(Clone, Debug, PartialEq, Eq)]
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
}

/// What an SSL test checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SslAssertion {
    /// The certificate expires in more than this many days.
    CertificateExpiresInMoreThanDays(u32),
    /// The handshake completes within this many milliseconds.
    ResponseTimeLessThan(u32),
}

/// What the test probes.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// Seconds between runs (30 to 604800).
    pub tick_every: u32,
    /// Seconds a failure must last before alerting.
    pub min_failure_duration: Option<u32>,
    /// Locations that must fail before alerting.
    pub min_location_failed: Option<u32>,
}

impl ApiTest {
    /// Checks what Datadog would refuse.
    pub fn check(&self) -> Result<(), Error> {
        let bad = |message: String| {
            Err(Error::invalid(
                format!("synthetic test {:?}", self.name),
                message,
            ))
        };
        if !(30..=604_800).contains(&self.tick_every) {
            return bad(format!(
                "tick_every {} s is outside 30-604800",
                self.tick_every
            ));
        }
        if self.locations.is_empty() {
            return bad("it runs from no location".into());
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
        }
        Ok(())
    }
}

#[derive(Clone, Serialize, Deserialize)]
struct WireAssertion {
    #[serde(rename = "type")]
    kind: String,
    operator: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    property: Option<String>,
    target: Value,
}

#[derive(Clone, Serialize, Deserialize)]
struct WireConfig {
    request: Value,
    #[serde(default)]
    assertions: Vec<WireAssertion>,
}

#[derive(Clone, Serialize, Deserialize)]
struct WireOptions {
    tick_every: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_failure_duration: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_location_failed: Option<u32>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Wire {
    #[serde(default, skip_serializing)]
    public_id: Option<String>,
    #[serde(default, skip_serializing)]
    monitor_id: Option<i64>,
    name: String,
    message: String,
    #[serde(default)]
    tags: Vec<String>,
    locations: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    subtype: String,
    config: WireConfig,
    options: WireOptions,
}

fn wire(kind: &str, operator: &str, property: Option<&str>, target: Value) -> WireAssertion {
    WireAssertion {
        kind: kind.into(),
        operator: operator.into(),
        property: property.map(str::to_string),
        target,
    }
}

impl Serialize for ApiTest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (subtype, request, assertions) = match &self.check {
            Check::Http {
                method,
                url,
                assertions,
            } => (
                "http",
                json!({"method": method, "url": url}),
                assertions
                    .iter()
                    .map(|a| match a {
                        HttpAssertion::StatusCodeIs(c) => wire("statusCode", "is", None, json!(c)),
                        HttpAssertion::StatusCodeIsNot(c) => {
                            wire("statusCode", "isNot", None, json!(c))
                        }
                        HttpAssertion::ResponseTimeLessThan(ms) => {
                            wire("responseTime", "lessThan", None, json!(ms))
                        }
                        HttpAssertion::HeaderContains { header, value } => {
                            wire("header", "contains", Some(header), json!(value))
                        }
                        HttpAssertion::BodyContains(t) => wire("body", "contains", None, json!(t)),
                    })
                    .collect::<Vec<_>>(),
            ),
            Check::Ssl {
                host,
                port,
                assertions,
            } => (
                "ssl",
                json!({"host": host, "port": port}),
                assertions
                    .iter()
                    .map(|a| match a {
                        SslAssertion::CertificateExpiresInMoreThanDays(d) => {
                            wire("certificate", "isInMoreThan", None, json!(d))
                        }
                        SslAssertion::ResponseTimeLessThan(ms) => {
                            wire("responseTime", "lessThan", None, json!(ms))
                        }
                    })
                    .collect(),
            ),
        };
        Wire {
            public_id: None,
            monitor_id: None,
            name: self.name.clone(),
            message: self.message.clone(),
            tags: self.tags.clone(),
            locations: self.locations.clone(),
            status: Some(if self.paused { "paused" } else { "live" }.into()),
            kind: "api".into(),
            subtype: subtype.into(),
            config: WireConfig {
                request,
                assertions,
            },
            options: WireOptions {
                tick_every: self.tick_every,
                min_failure_duration: self.min_failure_duration,
                min_location_failed: self.min_location_failed,
            },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ApiTest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let w = Wire::deserialize(d)?;
        let unexpected = |a: &WireAssertion| {
            D::Error::custom(format!(
                "assertion {} {} is not one madplan models",
                a.kind, a.operator
            ))
        };
        let num = |a: &WireAssertion| a.target.as_u64().ok_or_else(|| unexpected(a));
        let check = match w.subtype.as_str() {
            "http" => Check::Http {
                method: serde_json::from_value(w.config.request["method"].clone())
                    .map_err(D::Error::custom)?,
                url: w.config.request["url"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                assertions: w
                    .config
                    .assertions
                    .iter()
                    .map(|a| {
                        Ok(match (a.kind.as_str(), a.operator.as_str()) {
                            ("statusCode", "is") => HttpAssertion::StatusCodeIs(num(a)? as u16),
                            ("statusCode", "isNot") => {
                                HttpAssertion::StatusCodeIsNot(num(a)? as u16)
                            }
                            ("responseTime", "lessThan") => {
                                HttpAssertion::ResponseTimeLessThan(num(a)? as u32)
                            }
                            ("header", "contains") => HttpAssertion::HeaderContains {
                                header: a.property.clone().unwrap_or_default(),
                                value: a.target.as_str().unwrap_or_default().to_string(),
                            },
                            ("body", "contains") => HttpAssertion::BodyContains(
                                a.target.as_str().unwrap_or_default().to_string(),
                            ),
                            _ => return Err(unexpected(a)),
                        })
                    })
                    .collect::<Result<_, D::Error>>()?,
            },
            "ssl" => Check::Ssl {
                host: w.config.request["host"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                port: w.config.request["port"].as_u64().unwrap_or(443) as u16,
                assertions: w
                    .config
                    .assertions
                    .iter()
                    .map(|a| {
                        Ok(match (a.kind.as_str(), a.operator.as_str()) {
                            ("certificate", "isInMoreThan") => {
                                SslAssertion::CertificateExpiresInMoreThanDays(num(a)? as u32)
                            }
                            ("responseTime", "lessThan") => {
                                SslAssertion::ResponseTimeLessThan(num(a)? as u32)
                            }
                            _ => return Err(unexpected(a)),
                        })
                    })
                    .collect::<Result<_, D::Error>>()?,
            },
            other => {
                return Err(D::Error::custom(format!(
                    "API test subtype {other:?} is not modelled"
                )));
            }
        };
        Ok(ApiTest {
            public_id: w.public_id,
            monitor_id: w.monitor_id,
            name: w.name,
            message: w.message,
            tags: w.tags,
            locations: w.locations,
            paused: w.status.as_deref() == Some("paused"),
            check,
            tick_every: w.options.tick_every,
            min_failure_duration: w.options.min_failure_duration,
            min_location_failed: w.options.min_location_failed,
        })
    }
}

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

    /// Replaces API test `public_id` with `test`.
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

    /// Deletes the test `public_id`.
    pub async fn delete_api_test(&self, public_id: &str) -> Result<(), Error> {
        self.call::<Value, _>(
            Method::POST,
            "/api/v1/synthetics/tests/delete",
            &[],
            Some(&json!({"public_ids": [public_id]})),
            Keys::Both,
        )
        .await
        .map(|_| ())
    }
}
