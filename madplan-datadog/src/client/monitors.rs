//! Monitors.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{Client, Keys};
use crate::error::Error;

/// The most pages a search is read to: the client's own bound, whatever the
/// server's paging says.
const MAX_PAGES: usize = 1000;
/// A monitor's type (the closed list of the API).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum MonitorType {
    #[serde(rename = "composite")]
    Composite,
    #[serde(rename = "event alert")]
    EventAlert,
    #[serde(rename = "log alert")]
    LogAlert,
    #[serde(rename = "metric alert")]
    MetricAlert,
    #[serde(rename = "process alert")]
    ProcessAlert,
    #[serde(rename = "query alert")]
    QueryAlert,
    #[serde(rename = "rum alert")]
    RumAlert,
    #[serde(rename = "service check")]
    ServiceCheck,
    #[serde(rename = "synthetics alert")]
    SyntheticsAlert,
    #[serde(rename = "trace-analytics alert")]
    TraceAnalyticsAlert,
    #[serde(rename = "slo alert")]
    SloAlert,
    #[serde(rename = "event-v2 alert")]
    EventV2Alert,
    #[serde(rename = "audit alert")]
    AuditAlert,
    #[serde(rename = "ci-pipelines alert")]
    CiPipelinesAlert,
    #[serde(rename = "ci-tests alert")]
    CiTestsAlert,
    #[serde(rename = "error-tracking alert")]
    ErrorTrackingAlert,
    #[serde(rename = "database-monitoring alert")]
    DatabaseMonitoringAlert,
    #[serde(rename = "network-performance alert")]
    NetworkPerformanceAlert,
    #[serde(rename = "cost alert")]
    CostAlert,
    #[serde(rename = "data-quality alert")]
    DataQualityAlert,
    #[serde(rename = "network-path alert")]
    NetworkPathAlert,
    #[serde(rename = "data-jobs alert")]
    DataJobsAlert,
    #[serde(rename = "llm-observability alert")]
    LlmObservabilityAlert,
}

/// Alert and recovery thresholds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Alert at this value.
    pub critical: f64,
    /// Warn at this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<f64>,
    /// Recover from alert past this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical_recovery: Option<f64>,
    /// Recover from warning past this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning_recovery: Option<f64>,
}

/// How a monitor behaves and notifies.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitorOptions {
    /// Thresholds.
    pub thresholds: Thresholds,
    /// Notify when data stops arriving.
    #[serde(default)]
    pub notify_no_data: bool,
    /// Minutes without data before that notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_data_timeframe: Option<u32>,
    /// Minutes between re-notifications while still alerting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renotify_interval: Option<u32>,
    /// Whether a full window of data is needed to evaluate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_full_window: Option<bool>,
    /// Seconds to wait for late data before evaluating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_delay: Option<u32>,
    /// Put the triggering tags in the notification's title.
    #[serde(default)]
    pub include_tags: bool,
}

/// Where a notification goes: rendered as an `@` handle in the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handle {
    /// A Slack channel of the Slack integration.
    Slack(String),
    /// A PagerDuty service of the PagerDuty integration.
    PagerDuty(String),
    /// An e-mail address.
    Email(String),
    /// A webhook of the webhooks integration.
    Webhook(String),
}

impl Handle {
    fn render(&self) -> Result<String, Error> {
        let (prefix, name) = match self {
            Handle::Slack(c) => ("slack-", c),
            Handle::PagerDuty(s) => ("pagerduty-", s),
            Handle::Email(a) => ("", a),
            Handle::Webhook(w) => ("webhook-", w),
        };
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            return Err(Error::invalid(
                "notification handle",
                format!("{name:?} is empty or has spaces"),
            ));
        }
        Ok(format!("@{prefix}{name}"))
    }
}

/// A monitor's message: text and the handles it notifies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    text: String,
    handles: Vec<Handle>,
}

impl Message {
    /// A message with `text`.
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_string(),
            handles: Vec::new(),
        }
    }

    /// Also notifies `handle`.
    #[must_use]
    pub fn notify(mut self, handle: Handle) -> Self {
        self.handles.push(handle);
        self
    }

    /// The message as Datadog takes it.
    pub fn render(&self) -> Result<String, Error> {
        let handles = self
            .handles
            .iter()
            .map(Handle::render)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(if handles.is_empty() {
            self.text.clone()
        } else {
            format!("{}\n\n{}", self.text, handles.join(" "))
        })
    }
}

/// How values are aggregated over the evaluation window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregation {
    /// Average.
    Avg,
    /// Sum.
    Sum,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
}

/// How the value is compared with the thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparator {
    /// Alert above.
    Above,
    /// Alert at or above.
    AboveOrEqual,
    /// Alert below.
    Below,
    /// Alert at or below.
    BelowOrEqual,
}

impl Comparator {
    fn symbol(self) -> &'static str {
        match self {
            Comparator::Above => ">",
            Comparator::AboveOrEqual => ">=",
            Comparator::Below => "<",
            Comparator::BelowOrEqual => "<=",
        }
    }

    fn rising(self) -> bool {
        matches!(self, Comparator::Above | Comparator::AboveOrEqual)
    }
}

/// A metric query alert: `avg(last_5m):<expr> > <critical>`.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricQuery {
    /// Aggregation over the window.
    pub aggregation: Aggregation,
    /// The evaluation window in minutes (1 to 2880).
    pub window_minutes: u32,
    /// The metric expression, e.g. `avg:aws.ec2.cpuutilization{env:production}`.
    pub expression: String,
    /// The comparison.
    pub comparator: Comparator,
}

impl MetricQuery {
    fn render(&self, critical: f64) -> Result<String, Error> {
        if !(1..=2880).contains(&self.window_minutes) {
            return Err(Error::invalid(
                "evaluation window",
                format!("{} minutes is outside 1-2880", self.window_minutes),
            ));
        }
        let window = if self.window_minutes.is_multiple_of(60) {
            format!("last_{}h", self.window_minutes / 60)
        } else {
            format!("last_{}m", self.window_minutes)
        };
        let agg = match self.aggregation {
            Aggregation::Avg => "avg",
            Aggregation::Sum => "sum",
            Aggregation::Min => "min",
            Aggregation::Max => "max",
        };
        Ok(format!(
            "{agg}({window}):{} {} {critical}",
            self.expression,
            self.comparator.symbol()
        ))
    }
}

/// A monitor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Monitor {
    /// Its id (absent before it is created).
    #[serde(default, skip_serializing)]
    pub id: Option<i64>,
    /// Its name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: MonitorType,
    /// The query it evaluates.
    pub query: String,
    /// The notification message with its `@` handles.
    #[serde(default)]
    pub message: String,
    /// Tags (`key:value`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Priority, 1 (highest) to 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    /// Options and thresholds.
    #[serde(default)]
    pub options: MonitorOptions,
}

impl Monitor {
    /// A metric query alert whose query, thresholds and message are
    /// consistent by construction: thresholds must lie on the alerting side
    /// of each other (for "above": warning < critical, recoveries below what
    /// they recover from).
    pub fn query_alert(
        name: &str,
        query: &MetricQuery,
        thresholds: Thresholds,
        message: &Message,
    ) -> Result<Monitor, Error> {
        let bad = |message: String| Err(Error::invalid(format!("monitor {name:?}"), message));
        // `a` must be strictly before `b` on the way to alerting.
        let before = |a: f64, b: f64| {
            if query.comparator.rising() {
                a < b
            } else {
                a > b
            }
        };
        if let Some(w) = thresholds.warning
            && !before(w, thresholds.critical)
        {
            return bad(format!(
                "warning {w} does not come before critical {}",
                thresholds.critical
            ));
        }
        if let Some(r) = thresholds.critical_recovery
            && !before(r, thresholds.critical)
        {
            return bad(format!(
                "critical recovery {r} does not lie before critical {}",
                thresholds.critical
            ));
        }
        if let (Some(r), Some(w)) = (thresholds.warning_recovery, thresholds.warning)
            && !before(r, w)
        {
            return bad(format!(
                "warning recovery {r} does not lie before warning {w}"
            ));
        }
        Ok(Monitor {
            id: None,
            name: name.to_string(),
            kind: MonitorType::QueryAlert,
            query: query.render(thresholds.critical)?,
            message: message.render()?,
            tags: Vec::new(),
            priority: None,
            options: MonitorOptions {
                thresholds,
                ..MonitorOptions::default()
            },
        })
    }

    /// With tags.
    #[must_use]
    pub fn tags(mut self, tags: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// With a priority, 1 (highest) to 5.
    pub fn priority(mut self, p: u8) -> Result<Self, Error> {
        if !(1..=5).contains(&p) {
            return Err(Error::invalid(
                format!("monitor {:?}", self.name),
                format!("priority {p} is outside 1-5"),
            ));
        }
        self.priority = Some(p);
        Ok(self)
    }
}

/// A monitor as monitor search returns it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MonitorSummary {
    /// Its id.
    pub id: i64,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Deserialize)]
struct SearchPage {
    #[serde(default)]
    monitors: Vec<MonitorSummary>,
    #[serde(default)]
    metadata: SearchMeta,
}

/// The search's paging: only the page count is used; the `page` the
/// server echoes is not trusted to move.
#[derive(Default, Deserialize)]
struct SearchMeta {
    #[serde(default)]
    page_count: u32,
}

impl Client {
    /// Creates a monitor.
    pub async fn create_monitor(&self, monitor: &Monitor) -> Result<Monitor, Error> {
        self.call(
            Method::POST,
            "/api/v1/monitor",
            &[],
            Some(monitor),
            Keys::Both,
        )
        .await
    }

    /// The monitor `id`.
    pub async fn monitor(&self, id: i64) -> Result<Monitor, Error> {
        self.call::<_, ()>(
            Method::GET,
            &format!("/api/v1/monitor/{id}"),
            &[],
            None,
            Keys::Both,
        )
        .await
    }

    /// Replaces monitor `id` with `monitor`.
    pub async fn update_monitor(&self, id: i64, monitor: &Monitor) -> Result<Monitor, Error> {
        self.call(
            Method::PUT,
            &format!("/api/v1/monitor/{id}"),
            &[],
            Some(monitor),
            Keys::Both,
        )
        .await
    }

    /// Deletes monitor `id`.
    pub async fn delete_monitor(&self, id: i64) -> Result<(), Error> {
        self.call::<serde_json::Value, ()>(
            Method::DELETE,
            &format!("/api/v1/monitor/{id}"),
            &[],
            None,
            Keys::Both,
        )
        .await
        .map(|_| ())
    }

    /// Every monitor carrying `tag` (`key:value`), all pages.
    pub async fn monitors_tagged(&self, tag: &str) -> Result<Vec<MonitorSummary>, Error> {
        const PATH: &str = "/api/v1/monitor/search";
        madplan_core::rest::all_pages(
            MAX_PAGES,
            |n| {
                let query = [
                    ("query", format!("tag:\"{tag}\"")),
                    ("page", n.to_string()),
                    ("per_page", "100".to_string()),
                ];
                async move {
                    let p: SearchPage = self
                        .call::<_, ()>(Method::GET, PATH, &query, None, Keys::Both)
                        .await?;
                    // The client's own page counter decides how far to go;
                    // the server's `page` echo is not trusted.
                    let more = (n as u32) + 1 < p.metadata.page_count;
                    Ok(madplan_core::rest::Page {
                        items: p.monitors,
                        more,
                    })
                }
            },
            |pages| {
                Error::Http(madplan_core::rest::HttpError::TooManyPages {
                    api: "Datadog",
                    call: madplan_core::rest::Call::new(&Method::GET, PATH),
                    pages,
                })
            },
        )
        .await
    }
}
