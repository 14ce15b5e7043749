//! Monitors: typed queries where the shape is known (metric, ratio of two
//! metrics, APM latency percentile, events, composite), a checked raw query
//! otherwise; thresholds, evaluation window, no-data and re-notification
//! options typed; notifications routed by severity ([`super::Notify`]).

use std::collections::BTreeSet;

use madplan_core::{
    Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, Ref, RefreshCx, Resource,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize};

use super::routing::{Notify, check_text, message, parse_message};
use super::synthetic::SyntheticTest;
use super::{
    Datadog, all_tags, check_priority, check_tags, deleted, environment_tag, found, incomplete,
    marks, provider_error, unresolved, user_tags,
};
use crate::client::Extra;
use crate::client::monitors::{
    Aggregation, Comparator, Monitor as Wire, MonitorOptions, MonitorType,
    Thresholds as WireThresholds, check_thresholds,
};

/// A monitor's id: an output of a [`Monitor`] (and of a [`SyntheticTest`],
/// whose monitor Datadog makes), for composites and SLOs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MonitorId(pub i64);

impl IntoInput<MonitorId> for &Ref<Monitor> {
    fn into_input(self) -> Input<MonitorId> {
        self.output("id")
    }
}

impl IntoInput<MonitorId> for &Ref<SyntheticTest> {
    fn into_input(self) -> Input<MonitorId> {
        self.output("monitor_id")
    }
}

/// A trace latency percentile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Percentile {
    /// Median.
    P50,
    /// 75th.
    P75,
    /// 90th.
    P90,
    /// 95th.
    P95,
    /// 99th.
    P99,
}

impl Percentile {
    fn as_str(self) -> &'static str {
        match self {
            Percentile::P50 => "p50",
            Percentile::P75 => "p75",
            Percentile::P90 => "p90",
            Percentile::P95 => "p95",
            Percentile::P99 => "p99",
        }
    }

    fn from_text(s: &str) -> Option<Self> {
        [
            Percentile::P50,
            Percentile::P75,
            Percentile::P90,
            Percentile::P95,
            Percentile::P99,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// How a composite combines its monitors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoolOp {
    /// All alert (`&&`).
    And,
    /// Any alerts (`||`).
    Or,
}

impl BoolOp {
    fn symbol(self) -> &'static str {
        match self {
            BoolOp::And => " && ",
            BoolOp::Or => " || ",
        }
    }
}

/// What a monitor evaluates. The critical threshold is written into the
/// query by madplan from [`Thresholds::critical`], so the two cannot
/// disagree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Query {
    /// `AGG(last_W):EXPRESSION OP CRITICAL` (a query alert).
    Metric {
        /// Aggregation over the window.
        aggregation: Aggregation,
        /// The window in minutes (1-2880).
        window_minutes: u32,
        /// The metric expression.
        expression: String,
        /// The comparison.
        comparator: Comparator,
    },
    /// `AGG(last_W):(NUMERATOR) / (DENOMINATOR) [* 100] OP CRITICAL`: an
    /// error rate, a hit ratio (a query alert).
    Ratio {
        /// Aggregation over the window.
        aggregation: Aggregation,
        /// The window in minutes (1-2880).
        window_minutes: u32,
        /// The numerator's expression.
        numerator: String,
        /// The denominator's expression.
        denominator: String,
        /// Whether the ratio is multiplied by 100 (thresholds in percent).
        percent: bool,
        /// The comparison.
        comparator: Comparator,
    },
    /// `percentile(last_W):P:trace.OPERATION{env:ENV,service:SERVICE} OP
    /// CRITICAL`: an APM latency percentile, in seconds (a query alert).
    ApmLatency {
        /// The percentile.
        percentile: Percentile,
        /// The traced operation, e.g. `http.request`.
        operation: String,
        /// The APM service.
        service: String,
        /// The APM environment.
        env: String,
        /// The window in minutes (1-2880).
        window_minutes: u32,
        /// The comparison.
        comparator: Comparator,
    },
    /// `events("SEARCH").rollup("count").last("Wm") OP CRITICAL`: how many
    /// events match (an `event-v2 alert`).
    Events {
        /// The events search.
        search: String,
        /// The window in minutes (1-2880).
        window_minutes: u32,
        /// The comparison.
        comparator: Comparator,
    },
    /// `ID && ID ...` or `ID || ID ...` (a composite; no thresholds).
    Composite {
        /// How the monitors combine.
        operator: BoolOp,
        /// The monitors.
        monitors: Vec<Input<MonitorId>>,
    },
    /// Any other monitor, as Datadog takes it: its type and query, checked
    /// (brackets balanced; a trailing comparison must be the critical
    /// threshold).
    Raw {
        /// The monitor type.
        monitor_type: MonitorType,
        /// The query.
        query: String,
    },
}

fn window(minutes: u32) -> String {
    if minutes.is_multiple_of(60) {
        format!("last_{}h", minutes / 60)
    } else {
        format!("last_{minutes}m")
    }
}

fn parse_window(s: &str) -> Option<u32> {
    let n = s.strip_prefix("last_")?;
    if let Some(m) = n.strip_suffix('m') {
        m.parse().ok()
    } else if let Some(h) = n.strip_suffix('h') {
        h.parse::<u32>().ok().map(|h| h * 60)
    } else if let Some(d) = n.strip_suffix('d') {
        d.parse::<u32>().ok().map(|d| d * 1440)
    } else {
        None
    }
}

/// A number as a query writes it (`80`, `0.5`).
fn number(n: f64) -> String {
    format!("{n}")
}

/// Splits `BODY OP NUMBER` at its trailing comparison.
fn split_tail(q: &str) -> Option<(&str, Comparator, f64)> {
    let (rest, n) = q.trim_end().rsplit_once(' ')?;
    let (body, op) = rest.trim_end().rsplit_once(' ')?;
    Some((body, Comparator::from_symbol(op)?, n.parse().ok()?))
}

/// Splits `AGG(last_W):REST`.
fn split_head(q: &str) -> Option<(&str, u32, &str)> {
    let (agg, rest) = q.split_once('(')?;
    let (w, rest) = rest.split_once("):")?;
    Some((agg, parse_window(w)?, rest))
}

impl Query {
    /// The Datadog monitor type this query is.
    pub fn monitor_type(&self) -> MonitorType {
        match self {
            Query::Metric { .. } | Query::Ratio { .. } | Query::ApmLatency { .. } => {
                MonitorType::QueryAlert
            }
            Query::Events { .. } => MonitorType::EventV2Alert,
            Query::Composite { .. } => MonitorType::Composite,
            Query::Raw { monitor_type, .. } => monitor_type.clone(),
        }
    }

    fn comparator(&self) -> Option<Comparator> {
        match self {
            Query::Metric { comparator, .. }
            | Query::Ratio { comparator, .. }
            | Query::ApmLatency { comparator, .. }
            | Query::Events { comparator, .. } => Some(*comparator),
            Query::Raw { query, .. } => split_tail(query).map(|(_, c, _)| c),
            Query::Composite { .. } => None,
        }
    }

    fn window_minutes(&self) -> Option<u32> {
        match self {
            Query::Metric { window_minutes, .. }
            | Query::Ratio { window_minutes, .. }
            | Query::ApmLatency { window_minutes, .. }
            | Query::Events { window_minutes, .. } => Some(*window_minutes),
            _ => None,
        }
    }

    /// The query as Datadog takes it, with `critical` written in.
    pub fn render(&self, critical: Option<f64>) -> Result<String, ProviderError> {
        let crit = || {
            critical.map(number).ok_or_else(|| {
                ProviderError::new(
                    "datadog",
                    madplan_core::ErrorClass::Fatal,
                    "the query needs a critical threshold",
                )
            })
        };
        Ok(match self {
            Query::Metric {
                aggregation,
                window_minutes,
                expression,
                comparator,
            } => format!(
                "{}({}):{expression} {} {}",
                aggregation.as_str(),
                window(*window_minutes),
                comparator.symbol(),
                crit()?
            ),
            Query::Ratio {
                aggregation,
                window_minutes,
                numerator,
                denominator,
                percent,
                comparator,
            } => format!(
                "{}({}):({numerator}) / ({denominator}){} {} {}",
                aggregation.as_str(),
                window(*window_minutes),
                if *percent { " * 100" } else { "" },
                comparator.symbol(),
                crit()?
            ),
            Query::ApmLatency {
                percentile,
                operation,
                service,
                env,
                window_minutes,
                comparator,
            } => format!(
                "percentile({}):{}:trace.{operation}{{env:{env},service:{service}}} {} {}",
                window(*window_minutes),
                percentile.as_str(),
                comparator.symbol(),
                crit()?
            ),
            Query::Events {
                search,
                window_minutes,
                comparator,
            } => format!(
                "events(\"{search}\").rollup(\"count\").last(\"{window_minutes}m\") {} {}",
                comparator.symbol(),
                crit()?
            ),
            Query::Composite { operator, monitors } => monitors
                .iter()
                .map(|m| m.get().map(|id| id.0.to_string()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(unresolved)?
                .join(operator.symbol()),
            Query::Raw { query, .. } => query.clone(),
        })
    }

    /// Reads a live monitor's query back into the typed shape that renders
    /// it exactly, or [`Query::Raw`].
    fn parse(kind: &MonitorType, q: &str) -> Query {
        let raw = || Query::Raw {
            monitor_type: kind.clone(),
            query: q.to_string(),
        };
        let candidate = match kind {
            MonitorType::Composite => Self::parse_composite(q),
            MonitorType::EventV2Alert => Self::parse_events(q),
            MonitorType::QueryAlert => Self::parse_apm(q)
                .or_else(|| Self::parse_ratio(q))
                .or_else(|| Self::parse_metric(q)),
            _ => None,
        };
        let critical = split_tail(q).map(|(_, _, n)| n);
        match candidate {
            Some(c) if c.render(critical).is_ok_and(|r| r == q) => c,
            _ => raw(),
        }
    }

    fn parse_composite(q: &str) -> Option<Query> {
        let operator = if q.contains("||") {
            BoolOp::Or
        } else {
            BoolOp::And
        };
        let monitors = q
            .split(operator.symbol().trim())
            .map(|id| id.trim().parse().ok().map(|i| Input::Value(MonitorId(i))))
            .collect::<Option<Vec<_>>>()?;
        Some(Query::Composite { operator, monitors })
    }

    fn parse_events(q: &str) -> Option<Query> {
        let (body, comparator, _) = split_tail(q)?;
        let rest = body.strip_prefix("events(\"")?;
        let (search, rest) = rest.split_once("\").rollup(\"count\").last(\"")?;
        let minutes = rest.strip_suffix("m\")")?.parse().ok()?;
        Some(Query::Events {
            search: search.to_string(),
            window_minutes: minutes,
            comparator,
        })
    }

    fn parse_apm(q: &str) -> Option<Query> {
        let (body, comparator, _) = split_tail(q)?;
        let (agg, minutes, rest) = split_head(body)?;
        if agg != "percentile" {
            return None;
        }
        let (p, rest) = rest.split_once(':')?;
        let rest = rest.strip_prefix("trace.")?;
        let (operation, scope) = rest.split_once('{')?;
        let scope = scope.strip_suffix('}')?;
        let (env, service) = scope.split_once(',')?;
        Some(Query::ApmLatency {
            percentile: Percentile::from_text(p)?,
            operation: operation.to_string(),
            service: service.strip_prefix("service:")?.to_string(),
            env: env.strip_prefix("env:")?.to_string(),
            window_minutes: minutes,
            comparator,
        })
    }

    fn parse_ratio(q: &str) -> Option<Query> {
        let (body, comparator, _) = split_tail(q)?;
        let (agg, minutes, rest) = split_head(body)?;
        let (rest, percent) = match rest.strip_suffix(" * 100") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let inner = rest.strip_prefix('(')?.strip_suffix(')')?;
        let (numerator, denominator) = inner.split_once(") / (")?;
        Some(Query::Ratio {
            aggregation: Aggregation::from_text(agg)?,
            window_minutes: minutes,
            numerator: numerator.to_string(),
            denominator: denominator.to_string(),
            percent,
            comparator,
        })
    }

    fn parse_metric(q: &str) -> Option<Query> {
        let (body, comparator, _) = split_tail(q)?;
        let (agg, minutes, expression) = split_head(body)?;
        Some(Query::Metric {
            aggregation: Aggregation::from_text(agg)?,
            window_minutes: minutes,
            expression: expression.to_string(),
            comparator,
        })
    }

    fn validate(&self, thresholds: &Thresholds, problems: &mut Vec<Problem>) {
        if let Some(w) = self.window_minutes()
            && !(1..=2880).contains(&w)
        {
            problems.push(problem(
                "query",
                format!("the window of {w} minutes is outside 1-2880"),
                None,
            ));
        }
        let empty = |what: &str, s: &str, problems: &mut Vec<Problem>| {
            if s.trim().is_empty() {
                problems.push(problem("query", format!("the {what} is empty"), None));
            }
        };
        match self {
            Query::Metric { expression, .. } => empty("expression", expression, problems),
            Query::Ratio {
                numerator,
                denominator,
                ..
            } => {
                empty("numerator", numerator, problems);
                empty("denominator", denominator, problems);
            }
            Query::ApmLatency {
                operation,
                service,
                env,
                ..
            } => {
                for (what, s) in [("operation", operation), ("service", service), ("env", env)] {
                    empty(what, s, problems);
                    if s.contains([',', '{', '}', ' ']) {
                        problems.push(problem(
                            "query",
                            format!("the {what} {s:?} cannot hold `,`, braces or spaces"),
                            None,
                        ));
                    }
                }
            }
            Query::Events { search, .. } => {
                empty("events search", search, problems);
                if search.contains('"') {
                    problems.push(problem("query", "the events search cannot hold `\"`", None));
                }
            }
            Query::Composite { monitors, .. } => {
                if monitors.len() < 2 {
                    problems.push(problem(
                        "query",
                        "a composite combines two monitors or more",
                        None,
                    ));
                }
            }
            Query::Raw {
                monitor_type,
                query,
            } => check_raw(monitor_type, query, thresholds, problems),
        }
        let has_threshold_in_query = !matches!(
            self,
            Query::Composite { .. }
                | Query::Raw {
                    monitor_type: MonitorType::ServiceCheck | MonitorType::Composite,
                    ..
                }
        );
        if has_threshold_in_query && thresholds.critical.is_none() {
            problems.push(problem(
                "thresholds",
                "this monitor needs a critical threshold",
                None,
            ));
        }
        if matches!(self, Query::Composite { .. }) && *thresholds != Thresholds::default() {
            problems.push(problem(
                "thresholds",
                "a composite has no thresholds; its monitors do",
                None,
            ));
        }
        if let Some(c) = self.comparator()
            && let Err(why) = check_thresholds(c, &thresholds.wire(Extra::new()))
        {
            problems.push(problem("thresholds", why, None));
        }
    }
}

/// Checks a raw query: brackets and quotes balanced, and a trailing
/// comparison (when the monitor type writes its threshold into the query)
/// that names the critical threshold.
fn check_raw(
    monitor_type: &MonitorType,
    query: &str,
    thresholds: &Thresholds,
    problems: &mut Vec<Problem>,
) {
    if query.trim().is_empty() {
        problems.push(problem("query", "the query is empty", None));
        return;
    }
    if let MonitorType::Other(t) = monitor_type {
        problems.push(problem(
            "query",
            format!("{t:?} is not a monitor type this version of madplan knows"),
            None,
        ));
    }
    let mut depth: Vec<char> = Vec::new();
    let mut quoted = false;
    for c in query.chars() {
        match c {
            '"' => quoted = !quoted,
            '(' | '{' | '[' if !quoted => depth.push(c),
            ')' | '}' | ']' if !quoted => {
                let open = match c {
                    ')' => '(',
                    '}' => '{',
                    _ => '[',
                };
                if depth.pop() != Some(open) {
                    problems.push(problem(
                        "query",
                        format!("unbalanced `{c}` in {query:?}"),
                        None,
                    ));
                    return;
                }
            }
            _ => {}
        }
    }
    if quoted || !depth.is_empty() {
        problems.push(problem(
            "query",
            format!("unclosed brackets or quotes in {query:?}"),
            None,
        ));
        return;
    }
    let writes_threshold = matches!(
        monitor_type,
        MonitorType::QueryAlert
            | MonitorType::MetricAlert
            | MonitorType::EventV2Alert
            | MonitorType::LogAlert
            | MonitorType::TraceAnalyticsAlert
            | MonitorType::RumAlert
            | MonitorType::SloAlert
    );
    if writes_threshold {
        match (split_tail(query), thresholds.critical) {
            (Some((_, _, n)), Some(c)) if n == c => {}
            (Some((_, _, n)), Some(c)) => problems.push(problem(
                "query",
                format!("the query alerts at {n} but the critical threshold is {c}"),
                Some("write the same number in both"),
            )),
            (None, _) => problems.push(problem(
                "query",
                format!("{query:?} does not end with a comparison to the critical threshold"),
                None,
            )),
            (Some(_), None) => {}
        }
    }
}

/// Alert and recovery thresholds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Alert at this value (written into the query).
    pub critical: Option<f64>,
    /// Warn at this value.
    pub warning: Option<f64>,
    /// Recover from alert past this value.
    pub critical_recovery: Option<f64>,
    /// Recover from warning past this value.
    pub warning_recovery: Option<f64>,
    /// OK at this value (service checks).
    pub ok: Option<f64>,
}

impl Thresholds {
    /// Alert at `critical`.
    pub fn critical(critical: f64) -> Self {
        Self {
            critical: Some(critical),
            ..Self::default()
        }
    }

    /// Also warn at `warning`.
    #[must_use]
    pub fn warning(mut self, warning: f64) -> Self {
        self.warning = Some(warning);
        self
    }

    fn wire(&self, extra: Extra) -> WireThresholds {
        WireThresholds {
            critical: self.critical,
            warning: self.warning,
            critical_recovery: self.critical_recovery,
            warning_recovery: self.warning_recovery,
            ok: self.ok,
            extra,
        }
    }

    fn from_wire(t: Option<&WireThresholds>) -> Self {
        t.map(|t| Thresholds {
            critical: t.critical,
            warning: t.warning,
            critical_recovery: t.critical_recovery,
            warning_recovery: t.warning_recovery,
            ok: t.ok,
        })
        .unwrap_or_default()
    }
}

/// How a monitor evaluates and re-notifies. `None` leaves a field to
/// Datadog: its default on create; a value set in the UI is then not drift
/// for `include_tags` and `require_full_window`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// Notify when data stops arriving.
    pub notify_no_data: bool,
    /// Minutes without data before that notification.
    pub no_data_timeframe: Option<u32>,
    /// Minutes between re-notifications while still alerting.
    pub renotify_interval: Option<u32>,
    /// Whether a full window of data is needed to evaluate.
    pub require_full_window: Option<bool>,
    /// Seconds to wait for late data (CloudWatch metrics arrive late).
    pub evaluation_delay: Option<u32>,
    /// Seconds to skip new groups (hosts booting).
    pub new_group_delay: Option<u32>,
    /// Triggering tags in the notification title (Datadog: yes).
    pub include_tags: Option<bool>,
}

/// A monitor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Monitor {
    /// Its name.
    pub name: String,
    /// What it evaluates.
    pub query: Query,
    /// Its thresholds.
    pub thresholds: Thresholds,
    /// The message's own text (no `@`: notifications come from `notify`).
    pub text: String,
    /// Who it notifies, by severity.
    pub notify: Notify,
    /// Priority, 1 (highest) to 5.
    pub priority: Option<u8>,
    /// Tags (`key:value`), besides madplan's.
    pub tags: BTreeSet<String>,
    /// Options.
    pub options: Options,
}

impl Monitor {
    /// A monitor called `name` on `query`, alerting at `thresholds`,
    /// notifying as `notify` says.
    pub fn new(name: &str, query: Query, thresholds: Thresholds, notify: Notify) -> Self {
        Monitor {
            name: name.to_string(),
            query,
            thresholds,
            text: String::new(),
            notify,
            priority: None,
            tags: BTreeSet::new(),
            options: Options::default(),
        }
    }

    /// With this text in its message.
    #[must_use]
    pub fn text(mut self, text: &str) -> Self {
        self.text = text.to_string();
        self
    }

    /// With a priority, 1 (highest) to 5.
    #[must_use]
    pub fn priority(mut self, p: u8) -> Self {
        self.priority = Some(p);
        self
    }

    /// With a tag.
    #[must_use]
    pub fn tag(mut self, t: &str) -> Self {
        self.tags.insert(t.to_string());
        self
    }

    /// With these options.
    #[must_use]
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// The monitor as the API takes it, tagged for `cx`, keeping the
    /// unknown options and thresholds of `live` (a read-modify-write).
    fn wire(&self, cx: &OpCx, live: Option<&Wire>) -> Result<Wire, ProviderError> {
        let options_extra = live.map(|l| l.options.extra.clone()).unwrap_or_default();
        let thresholds_extra = live
            .and_then(|l| l.options.thresholds.as_ref())
            .map(|t| t.extra.clone())
            .unwrap_or_default();
        let thresholds = (self.thresholds != Thresholds::default())
            .then(|| self.thresholds.wire(thresholds_extra));
        Ok(Wire {
            id: None,
            name: self.name.clone(),
            kind: self.query.monitor_type(),
            query: self.query.render(self.thresholds.critical)?,
            message: message(&self.text, &self.notify).map_err(unresolved)?,
            tags: all_tags(&self.tags, cx),
            priority: self.priority,
            options: MonitorOptions {
                thresholds,
                notify_no_data: Some(self.options.notify_no_data),
                no_data_timeframe: self.options.no_data_timeframe,
                renotify_interval: self.options.renotify_interval,
                require_full_window: self.options.require_full_window,
                evaluation_delay: self.options.evaluation_delay,
                new_group_delay: self.options.new_group_delay,
                include_tags: self.options.include_tags,
                extra: options_extra,
            },
            extra: Extra::new(),
        })
    }

    /// The spec a live monitor has.
    fn from_wire(m: &Wire) -> Self {
        let (text, notify) = parse_message(&m.message);
        let o = &m.options;
        Monitor {
            name: m.name.clone(),
            query: Query::parse(&m.kind, &m.query),
            thresholds: Thresholds::from_wire(o.thresholds.as_ref()),
            text,
            notify,
            priority: m.priority,
            tags: user_tags(&m.tags),
            options: Options {
                notify_no_data: o.notify_no_data.unwrap_or(false),
                no_data_timeframe: o.no_data_timeframe,
                renotify_interval: o.renotify_interval,
                require_full_window: o.require_full_window,
                evaluation_delay: o.evaluation_delay,
                new_group_delay: o.new_group_delay,
                include_tags: o.include_tags,
            },
        }
    }
}

/// What a monitor yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorOutputs {
    /// Its id.
    pub id: MonitorId,
}

impl Resource for Monitor {
    const KIND: &'static str = "datadog.monitor";
    const SERVER_DEFAULTED: &'static [&'static str] =
        &["options.include_tags", "options.require_full_window"];
    type Provider = Datadog;
    type Outputs = MonitorOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tag_strings(&mut self.tags, defaults);
    }

    fn validate(&self, cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if self.name.trim().is_empty() {
            problems.push(problem("name", "a monitor needs a name", None));
        }
        self.query.validate(&self.thresholds, problems);
        check_text(&self.text, problems);
        self.notify.validate(cx, problems);
        check_priority(self.priority, "priority", problems);
        check_tags(&self.tags, problems);
        if self.options.renotify_interval == Some(0) {
            problems.push(problem(
                "options",
                "renotify_interval 0 never re-notifies; leave it None",
                None,
            ));
        }
        if let Query::Composite { monitors, .. } = &self.query {
            for m in monitors {
                match m.reference() {
                    Some(r) if r.address.kind() == Monitor::KIND && r.output == "id" => {}
                    Some(r)
                        if r.address.kind() == SyntheticTest::KIND && r.output == "monitor_id" => {}
                    _ => problems.push(problem(
                        "query",
                        "a composite combines monitors declared in this environment",
                        Some("pass their handles: &monitor or &synthetic_test"),
                    )),
                }
            }
        }
    }

    /// One paginated list of the monitors tagged `madplan:ENV`, plus a read
    /// of any tracked monitor it did not return (its tags edited by hand;
    /// none in the steady state).
    async fn refresh(p: &Datadog, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let mut live = p
            .client()
            .monitors_with_tags(&environment_tag(&cx.environment))
            .await
            .map_err(provider_error)?;
        let seen: BTreeSet<i64> = live.iter().filter_map(|m| m.id).collect();
        for t in &cx.tracked {
            if !seen.contains(&t.outputs.id.0)
                && let Some(m) = found(p.client().monitor(t.outputs.id.0).await)?
            {
                live.push(m);
            }
        }
        let mut out = Vec::new();
        for m in live {
            let Some(id) = m.id else { continue };
            if let Some(claim) = cx.claim(|o| o.id.0 == id, marks(&m.tags)) {
                out.push(Found::new(
                    claim,
                    Monitor::from_wire(&m),
                    MonitorOutputs { id: MonitorId(id) },
                ));
            }
        }
        Ok(out)
    }

    async fn create(&self, p: &Datadog, cx: &OpCx) -> Result<MonitorOutputs, ProviderError> {
        let made = p
            .client()
            .create_monitor(&self.wire(cx, None)?)
            .await
            .map_err(provider_error)?;
        let id = made.id.ok_or_else(|| incomplete("the monitor's id"))?;
        let outputs = MonitorOutputs { id: MonitorId(id) };
        cx.created(&outputs).await?;
        Ok(outputs)
    }

    /// Reads the monitor, then writes every field madplan models (unset
    /// ones cleared with `null`) and sends back the options it does not.
    async fn update(
        &self,
        prior: &Observed<Self>,
        _changed: &[String],
        p: &Datadog,
        cx: &OpCx,
    ) -> Result<MonitorOutputs, ProviderError> {
        let id = prior.outputs.id.0;
        let live = p.client().monitor(id).await.map_err(provider_error)?;
        p.client()
            .update_monitor(id, &self.wire(cx, Some(&live))?)
            .await
            .map_err(provider_error)?;
        Ok(prior.outputs.clone())
    }

    async fn delete(
        outputs: &MonitorOutputs,
        p: &Datadog,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        deleted(p.client().delete_monitor(outputs.id.0).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(q: Query, critical: Option<f64>) {
        let text = q.render(critical).unwrap();
        assert_eq!(Query::parse(&q.monitor_type(), &text), q, "{text}");
    }

    #[test]
    fn typed_queries_render_and_read_back() {
        round_trip(
            Query::Metric {
                aggregation: Aggregation::Avg,
                window_minutes: 5,
                expression: "avg:aws.ec2.cpuutilization{env:production}".into(),
                comparator: Comparator::Above,
            },
            Some(80.0),
        );
        round_trip(
            Query::Ratio {
                aggregation: Aggregation::Sum,
                window_minutes: 15,
                numerator: "sum:redis.stats.keyspace_hits{*}.as_count()".into(),
                denominator: "sum:redis.stats.keyspace_hits{*}.as_count() + sum:redis.stats.keyspace_misses{*}.as_count()".into(),
                percent: true,
                comparator: Comparator::Below,
            },
            Some(90.0),
        );
        round_trip(
            Query::ApmLatency {
                percentile: Percentile::P95,
                operation: "http.request".into(),
                service: "madplan-api".into(),
                env: "production".into(),
                window_minutes: 60,
                comparator: Comparator::Above,
            },
            Some(0.5),
        );
        round_trip(
            Query::Events {
                search: "source:github env:production deployment".into(),
                window_minutes: 5,
                comparator: Comparator::Above,
            },
            Some(0.0),
        );
        round_trip(
            Query::Composite {
                operator: BoolOp::And,
                monitors: vec![Input::Value(MonitorId(1)), Input::Value(MonitorId(22))],
            },
            None,
        );
        // A query no typed shape writes stays raw.
        let q = "change(avg(last_5m),last_5m):avg:system.cpu.user{*} > 10";
        assert_eq!(
            Query::parse(&MonitorType::QueryAlert, q),
            Query::Raw {
                monitor_type: MonitorType::QueryAlert,
                query: q.into()
            }
        );
    }

    #[test]
    fn raw_queries_are_checked() {
        let t = Thresholds::critical(1.0);
        let check = |ty: MonitorType, q: &str, t: &Thresholds| {
            let mut p = Vec::new();
            check_raw(&ty, q, t, &mut p);
            p
        };
        assert!(check(MonitorType::QueryAlert, "avg(last_5m):avg:x{*} > 1", &t).is_empty());
        assert_eq!(
            check(MonitorType::QueryAlert, "avg(last_5m):avg:x{*} > 2", &t).len(),
            1
        );
        assert_eq!(
            check(MonitorType::QueryAlert, "avg(last_5m:avg:x{*} > 1", &t).len(),
            1
        );
        assert_eq!(
            check(MonitorType::QueryAlert, "avg(last_5m):avg:x{*}", &t).len(),
            1
        );
        assert!(
            check(
                MonitorType::ServiceCheck,
                "\"mongodb.can_connect\".over(\"env:production\").by(\"host\").last(3).count_by_status()",
                &Thresholds::default()
            )
            .is_empty()
        );
    }
}
