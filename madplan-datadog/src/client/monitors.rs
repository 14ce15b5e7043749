//! Monitors.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::open::{self, Extra};
use super::{Client, Keys};
use crate::error::Error;

open_enum! {
    /// A monitor's type.
    pub enum MonitorType {
        /// `composite`.
        Composite = "composite",
        /// `event alert` (the old event search).
        EventAlert = "event alert",
        /// `log alert`.
        LogAlert = "log alert",
        /// `metric alert`.
        MetricAlert = "metric alert",
        /// `process alert`.
        ProcessAlert = "process alert",
        /// `query alert` (metrics, including APM trace metrics).
        QueryAlert = "query alert",
        /// `rum alert`.
        RumAlert = "rum alert",
        /// `service check`.
        ServiceCheck = "service check",
        /// `synthetics alert` (made by a synthetic test).
        SyntheticsAlert = "synthetics alert",
        /// `trace-analytics alert`.
        TraceAnalyticsAlert = "trace-analytics alert",
        /// `slo alert`.
        SloAlert = "slo alert",
        /// `event-v2 alert` (events search).
        EventV2Alert = "event-v2 alert",
        /// `audit alert`.
        AuditAlert = "audit alert",
        /// `ci-pipelines alert`.
        CiPipelinesAlert = "ci-pipelines alert",
        /// `ci-tests alert`.
        CiTestsAlert = "ci-tests alert",
        /// `error-tracking alert`.
        ErrorTrackingAlert = "error-tracking alert",
        /// `database-monitoring alert`.
        DatabaseMonitoringAlert = "database-monitoring alert",
        /// `network-performance alert`.
        NetworkPerformanceAlert = "network-performance alert",
        /// `cost alert`.
        CostAlert = "cost alert",
        /// `data-quality alert`.
        DataQualityAlert = "data-quality alert",
        /// `network-path alert`.
        NetworkPathAlert = "network-path alert",
        /// `data-jobs alert`.
        DataJobsAlert = "data-jobs alert",
        /// `llm-observability alert`.
        LlmObservabilityAlert = "llm-observability alert",
    }
}

/// Alert and recovery thresholds. Every one is optional, as in the API:
/// composite monitors have none, anomaly monitors only a critical one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Alert at this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical: Option<f64>,
    /// Warn at this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<f64>,
    /// Recover from alert past this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical_recovery: Option<f64>,
    /// Recover from warning past this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning_recovery: Option<f64>,
    /// OK at this value (service checks count OK results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<f64>,
    /// Every other threshold, as Datadog sent it.
    #[serde(flatten)]
    pub extra: Extra,
}

/// How a monitor behaves and notifies. Fields left `None` are left to
/// Datadog (its default on create, their current value on update).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitorOptions {
    /// Thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Thresholds>,
    /// Notify when data stops arriving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_no_data: Option<bool>,
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
    /// Seconds to skip new groups (hosts booting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_group_delay: Option<u32>,
    /// Put the triggering tags in the notification's title (Datadog's
    /// default, `true`, unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_tags: Option<bool>,
    /// Every other option, as Datadog sent it (kept through a
    /// read-modify-write).
    #[serde(flatten)]
    pub extra: Extra,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

impl Aggregation {
    /// The aggregation as a query writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregation::Avg => "avg",
            Aggregation::Sum => "sum",
            Aggregation::Min => "min",
            Aggregation::Max => "max",
        }
    }

    /// The aggregation a query's `text` names.
    pub fn from_text(text: &str) -> Option<Self> {
        Some(match text {
            "avg" => Aggregation::Avg,
            "sum" => Aggregation::Sum,
            "min" => Aggregation::Min,
            "max" => Aggregation::Max,
            _ => return None,
        })
    }
}

/// How the value is compared with the thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
    /// The comparison a query's `symbol` writes.
    pub fn from_symbol(symbol: &str) -> Option<Self> {
        Some(match symbol {
            ">" => Comparator::Above,
            ">=" => Comparator::AboveOrEqual,
            "<" => Comparator::Below,
            "<=" => Comparator::BelowOrEqual,
            _ => return None,
        })
    }

    /// The comparison as a query writes it.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparator::Above => ">",
            Comparator::AboveOrEqual => ">=",
            Comparator::Below => "<",
            Comparator::BelowOrEqual => "<=",
        }
    }

    /// Whether alerting happens as the value rises.
    pub fn rising(self) -> bool {
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
        Ok(format!(
            "{}:{} {} {critical}",
            self.head()?,
            self.expression,
            self.comparator.symbol()
        ))
    }

    /// `avg(last_5m)`: the aggregation over the window.
    fn head(&self) -> Result<String, Error> {
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
        Ok(format!("{}({window})", self.aggregation.as_str()))
    }
}

/// A monitor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Monitor {
    /// Its id (absent before it is created).
    #[serde(default, skip_serializing)]
    pub id: Option<i64>,
    /// Its name.
    #[serde(default)]
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
    /// Every other field, as Datadog sent it (state, creator, dates...).
    #[serde(flatten, skip_serializing)]
    pub extra: Extra,
}

/// Fields of a monitor's options that Datadog answers but does not take.
const READ_ONLY_OPTIONS: &[&str] = &["device_ids"];

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
        let Some(critical) = thresholds.critical else {
            return bad("a query alert needs a critical threshold".into());
        };
        if let Err(why) = check_thresholds(query.comparator, &thresholds) {
            return bad(why);
        }
        Ok(Monitor {
            id: None,
            name: name.to_string(),
            kind: MonitorType::QueryAlert,
            query: query.render(critical)?,
            message: message.render()?,
            tags: Vec::new(),
            priority: None,
            options: MonitorOptions {
                thresholds: Some(thresholds),
                ..MonitorOptions::default()
            },
            extra: Extra::new(),
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

    /// The body of a `PUT`: Datadog merges it into the monitor, so every
    /// field this model names is sent, the optional ones that are unset as
    /// `null` (which clears them); the options Datadog answered that the
    /// model does not name are sent back as they were, so they survive
    /// whether the API merges options or replaces them.
    pub fn update_body(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["priority"] = serde_json::json!(self.priority);
        let o = &mut v["options"];
        for (k, x) in open::writable(&self.options.extra, READ_ONLY_OPTIONS) {
            o[k] = x;
        }
        for (k, x) in [
            ("no_data_timeframe", self.options.no_data_timeframe),
            ("renotify_interval", self.options.renotify_interval),
            ("evaluation_delay", self.options.evaluation_delay),
            ("new_group_delay", self.options.new_group_delay),
        ] {
            o[k] = serde_json::json!(x);
        }
        if let Some(t) = &self.options.thresholds {
            let th = &mut o["thresholds"];
            for (k, x) in [
                ("warning", t.warning),
                ("critical_recovery", t.critical_recovery),
                ("warning_recovery", t.warning_recovery),
                ("ok", t.ok),
            ] {
                th[k] = serde_json::json!(x);
            }
        }
        v
    }
}

/// Whether thresholds lie on the alerting side of each other for
/// `comparator` (for "above": warning < critical, recoveries below what
/// they recover from).
pub fn check_thresholds(comparator: Comparator, t: &Thresholds) -> Result<(), String> {
    // `a` must be strictly before `b` on the way to alerting.
    let before = |a: f64, b: f64| {
        if comparator.rising() { a < b } else { a > b }
    };
    if let (Some(w), Some(c)) = (t.warning, t.critical)
        && !before(w, c)
    {
        return Err(format!("warning {w} does not come before critical {c}"));
    }
    if let (Some(r), Some(c)) = (t.critical_recovery, t.critical)
        && !before(r, c)
    {
        return Err(format!(
            "critical recovery {r} does not lie before critical {c}"
        ));
    }
    if let (Some(r), Some(w)) = (t.warning_recovery, t.warning)
        && !before(r, w)
    {
        return Err(format!(
            "warning recovery {r} does not lie before warning {w}"
        ));
    }
    Ok(())
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

/// Monitors per page when listing.
const PAGE_SIZE: usize = 100;

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

    /// Updates monitor `id` to what `monitor` says, with
    /// [`Monitor::update_body`]: the fields the model names, unset ones
    /// cleared, unknown options kept.
    pub async fn update_monitor(&self, id: i64, monitor: &Monitor) -> Result<Monitor, Error> {
        self.call(
            Method::PUT,
            &format!("/api/v1/monitor/{id}"),
            &[],
            Some(&monitor.update_body()),
            Keys::Both,
        )
        .await
    }

    /// Deletes monitor `id`.
    pub async fn delete_monitor(&self, id: i64) -> Result<(), Error> {
        self.delete_call::<()>(Method::DELETE, &format!("/api/v1/monitor/{id}"), None)
            .await
    }

    /// Every monitor carrying all of `tags` (comma-separated `key:value`
    /// custom tags), whole, page by page (`GET /api/v1/monitor`).
    pub async fn monitors_with_tags(&self, tags: &str) -> Result<Vec<Monitor>, Error> {
        const PATH: &str = "/api/v1/monitor";
        self.pages(PATH, |n| {
            let query = [
                ("monitor_tags", tags.to_string()),
                ("page", n.to_string()),
                ("page_size", PAGE_SIZE.to_string()),
            ];
            async move {
                let items: Vec<Monitor> = self
                    .call::<_, ()>(Method::GET, PATH, &query, None, Keys::Both)
                    .await?;
                let more = items.len() >= PAGE_SIZE;
                Ok(madplan_core::rest::Page { items, more })
            }
        })
        .await
    }

    /// Every monitor carrying `tag` (`key:value`), all pages of the search.
    pub async fn monitors_tagged(&self, tag: &str) -> Result<Vec<MonitorSummary>, Error> {
        const PATH: &str = "/api/v1/monitor/search";
        self.pages(PATH, |n| {
            let query = [
                ("query", format!("tag:\"{tag}\"")),
                ("page", n.to_string()),
                ("per_page", PAGE_SIZE.to_string()),
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
        })
        .await
    }
}
