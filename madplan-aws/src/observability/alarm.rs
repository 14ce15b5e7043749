//! CloudWatch metric alarms as typed values: one metric with a statistic
//! or a percentile, or metric math over several; threshold, comparison,
//! periods, missing-data treatment, and actions that name SNS topics.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension as ApiDimension, Metric, MetricAlarm, MetricDataQuery,
    MetricStat, Statistic as ApiStatistic, Tag,
};
use futures_util::{StreamExt, TryStreamExt};
use madplan_core::{
    Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::TopicArn;
use crate::Aws;
use crate::lb::{LoadBalancerDimension, TargetGroupDimension};
use crate::network::gone_is_done;
use crate::support::{READS_AT_ONCE, all_tags, aws_error, claim, resolved, tag_changes, user_tags};

/// How the values of a period are summarised.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stat {
    /// The mean.
    Average,
    /// The total.
    Sum,
    /// The lowest value.
    Minimum,
    /// The highest value.
    Maximum,
    /// How many values.
    SampleCount,
    /// A percentile, e.g. `Percentile(95.0)` for p95 (CloudWatch's
    /// extended statistic).
    Percentile(f64),
}

impl Stat {
    /// p95.
    pub const P95: Stat = Stat::Percentile(95.0);

    /// How CloudWatch spells it: `Sum`, `p95`, `p99.9`.
    pub fn api_name(self) -> String {
        match self {
            Stat::Average => "Average".into(),
            Stat::Sum => "Sum".into(),
            Stat::Minimum => "Minimum".into(),
            Stat::Maximum => "Maximum".into(),
            Stat::SampleCount => "SampleCount".into(),
            Stat::Percentile(p) => format!("p{p}"),
        }
    }

    fn parse(s: &str) -> Option<Stat> {
        Some(match s {
            "Average" => Stat::Average,
            "Sum" => Stat::Sum,
            "Minimum" => Stat::Minimum,
            "Maximum" => Stat::Maximum,
            "SampleCount" => Stat::SampleCount,
            p => Stat::Percentile(p.strip_prefix('p')?.parse().ok()?),
        })
    }

    fn statistic(self) -> Option<ApiStatistic> {
        Some(match self {
            Stat::Average => ApiStatistic::Average,
            Stat::Sum => ApiStatistic::Sum,
            Stat::Minimum => ApiStatistic::Minimum,
            Stat::Maximum => ApiStatistic::Maximum,
            Stat::SampleCount => ApiStatistic::SampleCount,
            Stat::Percentile(_) => return None,
        })
    }
}

/// A metric dimension, typed where madplan knows what fills it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// `LoadBalancer` (`app/NAME/ID`).
    LoadBalancer(Input<LoadBalancerDimension>),
    /// `TargetGroup` (`targetgroup/NAME/ID`).
    TargetGroup(Input<TargetGroupDimension>),
    /// `AutoScalingGroupName`.
    AutoScalingGroup(Input<String>),
    /// Any other dimension.
    Other {
        /// Its name.
        name: String,
        /// Its value.
        value: String,
    },
}

impl Dimension {
    /// The `LoadBalancer` dimension (a handle, or a value).
    pub fn load_balancer(v: impl IntoInput<LoadBalancerDimension>) -> Self {
        Dimension::LoadBalancer(v.into_input())
    }

    /// The `TargetGroup` dimension.
    pub fn target_group(v: impl IntoInput<TargetGroupDimension>) -> Self {
        Dimension::TargetGroup(v.into_input())
    }

    fn to_api(&self) -> Result<ApiDimension, ProviderError> {
        let (name, value) = match self {
            Dimension::LoadBalancer(v) => ("LoadBalancer", resolved(v)?.as_str().to_string()),
            Dimension::TargetGroup(v) => ("TargetGroup", resolved(v)?.as_str().to_string()),
            Dimension::AutoScalingGroup(v) => ("AutoScalingGroupName", resolved(v)?.clone()),
            Dimension::Other { name, value } => (name.as_str(), value.clone()),
        };
        Ok(ApiDimension::builder().name(name).value(value).build())
    }

    fn from_api(d: &ApiDimension) -> Dimension {
        let value = d.value().unwrap_or_default().to_string();
        match d.name().unwrap_or_default() {
            "LoadBalancer" => Dimension::LoadBalancer(Input::Value(LoadBalancerDimension(value))),
            "TargetGroup" => Dimension::TargetGroup(Input::Value(TargetGroupDimension(value))),
            "AutoScalingGroupName" => Dimension::AutoScalingGroup(Input::Value(value)),
            name => Dimension::Other {
                name: name.to_string(),
                value,
            },
        }
    }
}

/// One metric, summarised over the alarm's period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricQuery {
    /// The namespace, e.g. `AWS/ApplicationELB`.
    pub namespace: String,
    /// The metric, e.g. `TargetResponseTime`.
    pub name: String,
    /// Its dimensions.
    pub dimensions: BTreeSet<Dimension>,
    /// The statistic.
    pub stat: Stat,
}

impl MetricQuery {
    /// An `AWS/ApplicationELB` metric.
    pub fn alb(name: &str, stat: Stat, dimensions: impl IntoIterator<Item = Dimension>) -> Self {
        Self {
            namespace: "AWS/ApplicationELB".into(),
            name: name.into(),
            dimensions: dimensions.into_iter().collect(),
            stat,
        }
    }

    fn metric(&self) -> Result<Metric, ProviderError> {
        Ok(Metric::builder()
            .namespace(&self.namespace)
            .metric_name(&self.name)
            .set_dimensions(Some(
                self.dimensions
                    .iter()
                    .map(Dimension::to_api)
                    .collect::<Result<_, _>>()?,
            ))
            .build())
    }
}

/// What the alarm watches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmQuery {
    /// One metric.
    Metric(MetricQuery),
    /// Metric math: an expression over metrics named by id (`m1`...).
    Math {
        /// The expression, e.g. `100 * m1 / m2`.
        expression: String,
        /// The expression's label.
        label: String,
        /// The metrics it uses, by id.
        metrics: BTreeMap<String, MetricQuery>,
    },
}

/// How the value is compared with the threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Comparison {
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
}

impl Comparison {
    fn to_api(self) -> ComparisonOperator {
        match self {
            Comparison::GreaterThan => ComparisonOperator::GreaterThanThreshold,
            Comparison::GreaterThanOrEqual => ComparisonOperator::GreaterThanOrEqualToThreshold,
            Comparison::LessThan => ComparisonOperator::LessThanThreshold,
            Comparison::LessThanOrEqual => ComparisonOperator::LessThanOrEqualToThreshold,
        }
    }

    fn from_api(c: &ComparisonOperator) -> Option<Self> {
        Some(match c {
            ComparisonOperator::GreaterThanThreshold => Comparison::GreaterThan,
            ComparisonOperator::GreaterThanOrEqualToThreshold => Comparison::GreaterThanOrEqual,
            ComparisonOperator::LessThanThreshold => Comparison::LessThan,
            ComparisonOperator::LessThanOrEqualToThreshold => Comparison::LessThanOrEqual,
            _ => return None,
        })
    }
}

/// What a period without data counts as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingData {
    /// As breaching the threshold.
    Breaching,
    /// As within the threshold.
    NotBreaching,
    /// The alarm keeps its state.
    Ignore,
    /// As missing (CloudWatch's default).
    Missing,
}

impl MissingData {
    fn api_name(self) -> &'static str {
        match self {
            MissingData::Breaching => "breaching",
            MissingData::NotBreaching => "notBreaching",
            MissingData::Ignore => "ignore",
            MissingData::Missing => "missing",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "breaching" => MissingData::Breaching,
            "notBreaching" => MissingData::NotBreaching,
            "ignore" => MissingData::Ignore,
            "missing" => MissingData::Missing,
            _ => return None,
        })
    }
}

/// A CloudWatch metric alarm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct Alarm {
    /// The alarm's name, unique in the region.
    #[builder(setter(into))]
    pub name: String,
    /// What it means when it fires.
    #[builder(default, setter(into))]
    pub description: String,
    /// What it watches.
    pub query: AlarmQuery,
    /// The length of one period in seconds: a multiple of 60.
    #[builder(default = 60)]
    pub period: u32,
    /// How many periods are evaluated.
    pub evaluation_periods: u32,
    /// How many of them must breach (default: all).
    #[builder(default, setter(strip_option))]
    pub datapoints_to_alarm: Option<u32>,
    /// The comparison.
    pub comparison: Comparison,
    /// The threshold.
    pub threshold: f64,
    /// What missing data counts as.
    #[builder(default = MissingData::Missing)]
    pub missing_data: MissingData,
    /// The topics notified when the alarm fires.
    #[builder(default, setter(transform = |t: impl IntoIterator<Item = Input<TopicArn>>| t.into_iter().collect()))]
    pub alarm_actions: BTreeSet<Input<TopicArn>>,
    /// The topics notified when it recovers.
    #[builder(default, setter(transform = |t: impl IntoIterator<Item = Input<TopicArn>>| t.into_iter().collect()))]
    pub ok_actions: BTreeSet<Input<TopicArn>>,
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// What an alarm yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlarmOutputs {
    /// Its name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
}

fn check_metric(field: &str, m: &MetricQuery, problems: &mut Vec<Problem>) {
    if m.namespace.is_empty() || m.name.is_empty() {
        problems.push(problem(
            field,
            "a metric needs a namespace and a name",
            None,
        ));
    }
    if let Stat::Percentile(p) = m.stat
        && !(p > 0.0 && p < 100.0)
    {
        problems.push(problem(
            field,
            format!("p{p} is not a percentile"),
            Some("a percentile lies strictly between 0 and 100, e.g. Stat::P95"),
        ));
    }
    if m.dimensions.len() > 30 {
        problems.push(problem(field, "a metric has at most 30 dimensions", None));
    }
}

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The id of the expression of a metric-math alarm.
const EXPRESSION_ID: &str = "e1";

impl Alarm {
    fn queries(&self) -> Result<Vec<MetricDataQuery>, ProviderError> {
        let AlarmQuery::Math {
            expression,
            label,
            metrics,
        } = &self.query
        else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (id, m) in metrics {
            out.push(
                MetricDataQuery::builder()
                    .id(id)
                    .metric_stat(
                        MetricStat::builder()
                            .metric(m.metric()?)
                            .period(self.period as i32)
                            .stat(m.stat.api_name())
                            .build(),
                    )
                    .return_data(false)
                    .build(),
            );
        }
        out.push(
            MetricDataQuery::builder()
                .id(EXPRESSION_ID)
                .expression(expression)
                .label(label)
                .return_data(true)
                .build(),
        );
        Ok(out)
    }

    fn topics(set: &BTreeSet<Input<TopicArn>>) -> Result<Vec<String>, ProviderError> {
        set.iter()
            .map(|t| resolved(t).map(|a| a.0.clone()))
            .collect()
    }

    /// Sends the whole alarm (`PutMetricAlarm` creates or replaces it).
    async fn put(&self, aws: &Aws, tags: Option<Vec<Tag>>) -> Result<(), ProviderError> {
        let mut call = aws
            .cloudwatch()
            .put_metric_alarm()
            .alarm_name(&self.name)
            .alarm_description(&self.description)
            .actions_enabled(true)
            .set_alarm_actions(Some(Self::topics(&self.alarm_actions)?))
            .set_ok_actions(Some(Self::topics(&self.ok_actions)?))
            .evaluation_periods(self.evaluation_periods as i32)
            .set_datapoints_to_alarm(self.datapoints_to_alarm.map(|d| d as i32))
            .threshold(self.threshold)
            .comparison_operator(self.comparison.to_api())
            .treat_missing_data(self.missing_data.api_name())
            .set_tags(tags);
        match &self.query {
            AlarmQuery::Metric(m) => {
                let metric = m.metric()?;
                call = call
                    .namespace(&m.namespace)
                    .metric_name(&m.name)
                    .set_dimensions(Some(metric.dimensions().to_vec()))
                    .period(self.period as i32);
                call = match m.stat.statistic() {
                    Some(s) => call.statistic(s),
                    None => call.extended_statistic(m.stat.api_name()),
                };
            }
            AlarmQuery::Math { .. } => {
                call = call.set_metrics(Some(self.queries()?));
            }
        }
        call.send().await.map_err(aws_error)?;
        Ok(())
    }
}

fn metric_query(m: &Metric, stat: Option<Stat>) -> MetricQuery {
    MetricQuery {
        namespace: m.namespace().unwrap_or_default().to_string(),
        name: m.metric_name().unwrap_or_default().to_string(),
        dimensions: m.dimensions().iter().map(Dimension::from_api).collect(),
        stat: stat.unwrap_or(Stat::SampleCount),
    }
}

/// The spec an alarm read back has (tags filled in by the caller).
fn from_api(a: &MetricAlarm) -> Alarm {
    let (query, period) = if a.metrics().is_empty() {
        let stat = a
            .statistic()
            .map(|s| s.as_str().to_string())
            .or_else(|| a.extended_statistic().map(str::to_string))
            .and_then(|s| Stat::parse(&s));
        let metric = Metric::builder()
            .set_namespace(a.namespace().map(str::to_string))
            .set_metric_name(a.metric_name().map(str::to_string))
            .set_dimensions(Some(a.dimensions().to_vec()))
            .build();
        (
            AlarmQuery::Metric(metric_query(&metric, stat)),
            a.period().unwrap_or(0),
        )
    } else {
        let mut metrics = BTreeMap::new();
        let (mut expression, mut label, mut period) = (String::new(), String::new(), 0);
        for q in a.metrics() {
            match (q.metric_stat(), q.expression()) {
                (Some(ms), _) => {
                    period = ms.period().unwrap_or(period);
                    if let Some(m) = ms.metric() {
                        metrics.insert(
                            q.id().unwrap_or_default().to_string(),
                            metric_query(m, ms.stat().and_then(Stat::parse)),
                        );
                    }
                }
                (None, Some(e)) => {
                    expression = e.to_string();
                    label = q.label().unwrap_or_default().to_string();
                }
                (None, None) => {}
            }
        }
        (
            AlarmQuery::Math {
                expression,
                label,
                metrics,
            },
            period,
        )
    };
    let topics = |v: &[String]| -> BTreeSet<Input<TopicArn>> {
        v.iter()
            .map(|a| Input::Value(TopicArn(a.clone())))
            .collect()
    };
    Alarm {
        name: a.alarm_name().unwrap_or_default().to_string(),
        description: a.alarm_description().unwrap_or_default().to_string(),
        query,
        period: period.max(0) as u32,
        evaluation_periods: a.evaluation_periods().unwrap_or(0).max(0) as u32,
        datapoints_to_alarm: a.datapoints_to_alarm().map(|d| d.max(0) as u32),
        comparison: a
            .comparison_operator()
            .and_then(Comparison::from_api)
            .unwrap_or(Comparison::GreaterThan),
        threshold: a.threshold().unwrap_or(0.0),
        missing_data: a
            .treat_missing_data()
            .and_then(MissingData::parse)
            .unwrap_or(MissingData::Missing),
        alarm_actions: topics(a.alarm_actions()),
        ok_actions: topics(a.ok_actions()),
        tags: BTreeMap::new(),
    }
}

/// Brings an alarm's tags from `before` to `after` (`PutMetricAlarm` sets
/// tags only when it creates the alarm).
pub(crate) async fn retag(
    aws: &Aws,
    arn: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let (gone, set) = tag_changes(before, after);
    if !gone.is_empty() {
        aws.cloudwatch()
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(gone))
            .send()
            .await
            .map_err(aws_error)?;
    }
    if !set.is_empty() {
        aws.cloudwatch()
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(
                set.into_iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(aws_error)?;
    }
    Ok(())
}

impl Resource for Alarm {
    const KIND: &'static str = "aws.cloudwatch_alarm";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["name"];
    type Provider = Aws;
    type Outputs = AlarmOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if self.name.is_empty() || self.name.len() > 255 {
            problems.push(problem(
                "name",
                "an alarm name has 1 to 255 characters",
                None,
            ));
        }
        if self.period == 0 || !self.period.is_multiple_of(60) {
            problems.push(problem(
                "period",
                format!("a period of {} s is not a multiple of 60", self.period),
                Some("give the period in whole minutes: 60, 300, 3600..."),
            ));
        }
        if self.evaluation_periods == 0 {
            problems.push(problem(
                "evaluation_periods",
                "at least one period is evaluated",
                None,
            ));
        }
        if let Some(d) = self.datapoints_to_alarm
            && (d == 0 || d > self.evaluation_periods)
        {
            problems.push(problem(
                "datapoints_to_alarm",
                format!(
                    "{d} breaching datapoints out of {} evaluated periods",
                    self.evaluation_periods
                ),
                Some("between 1 and evaluation_periods"),
            ));
        }
        if u64::from(self.period) * u64::from(self.evaluation_periods) > 7 * 86_400 {
            problems.push(problem(
                "evaluation_periods",
                "the periods evaluated span more than 7 days",
                None,
            ));
        }
        if !self.threshold.is_finite() {
            problems.push(problem("threshold", "the threshold is not a number", None));
        }
        match &self.query {
            AlarmQuery::Metric(m) => check_metric("query", m, problems),
            AlarmQuery::Math {
                expression,
                metrics,
                ..
            } => {
                if expression.trim().is_empty() {
                    problems.push(problem("query", "the expression is empty", None));
                }
                if metrics.is_empty() {
                    problems.push(problem("query", "metric math needs metrics", None));
                }
                for (id, m) in metrics {
                    if !valid_id(id) || id == EXPRESSION_ID {
                        problems.push(problem(
                            "query",
                            format!("{id:?} is not a metric id"),
                            Some("ids start with a lowercase letter (e.g. m1); e1 is the expression's"),
                        ));
                    } else if !expression.contains(id.as_str()) {
                        problems.push(problem(
                            "query",
                            format!("the expression does not use {id}"),
                            None,
                        ));
                    }
                    check_metric("query", m, problems);
                }
            }
        }
    }

    /// One `DescribeAlarms` page per 100 alarms in the region, then the
    /// tags of each (`ListTagsForResource`), a bounded number at once.
    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let pages: Vec<_> = aws
            .cloudwatch()
            .describe_alarms()
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(aws_error)?;
        let alarms: Vec<MetricAlarm> = pages
            .iter()
            .flat_map(|p| p.metric_alarms().iter().cloned())
            .collect();
        let reads = alarms.into_iter().map(|a| async move {
            let arn = a.alarm_arn().unwrap_or_default().to_string();
            let tags: BTreeMap<String, String> = match aws
                .cloudwatch()
                .list_tags_for_resource()
                .resource_arn(&arn)
                .send()
                .await
                .map_err(aws_error)
            {
                Ok(out) => out
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                    .collect(),
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e),
            };
            let name = a.alarm_name().unwrap_or_default().to_string();
            let Some(claim) = claim(cx, &tags, |o| o.name == name) else {
                return Ok(None);
            };
            let mut spec = from_api(&a);
            spec.tags = user_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            Ok::<_, ProviderError>(Some(Found::new(claim, spec, AlarmOutputs { name, arn })))
        });
        let found: Vec<Option<Found<Self>>> = futures_util::stream::iter(reads)
            .buffered(READS_AT_ONCE)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<AlarmOutputs, ProviderError> {
        let tags = all_tags(cx, &self.tags)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        self.put(aws, Some(tags)).await?;
        // PutMetricAlarm answers nothing: the ARN is read back.
        let out = aws
            .cloudwatch()
            .describe_alarms()
            .alarm_names(&self.name)
            .send()
            .await
            .map_err(aws_error)?;
        let arn = out
            .metric_alarms()
            .first()
            .and_then(|a| a.alarm_arn())
            .ok_or_else(|| crate::network::missing("alarm ARN"))?
            .to_string();
        let outputs = AlarmOutputs {
            name: self.name.clone(),
            arn,
        };
        cx.created(&outputs).await?;
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<AlarmOutputs, ProviderError> {
        // PutMetricAlarm replaces the whole definition (tags aside, which
        // it only sets on creation).
        if changed.iter().any(|c| c != "tags") {
            self.put(aws, None).await?;
        }
        if changed.iter().any(|c| c == "tags") {
            retag(aws, &prior.outputs.arn, &prior.spec.tags, &self.tags).await?;
        }
        Ok(prior.outputs.clone())
    }

    async fn delete(outputs: &AlarmOutputs, aws: &Aws, _cx: &OpCx) -> Result<(), ProviderError> {
        // DeleteAlarms answers success for a name that does not exist.
        gone_is_done(
            aws.cloudwatch()
                .delete_alarms()
                .alarm_names(&outputs.name)
                .send()
                .await
                .map_err(aws_error),
        )
    }
}

/// The seed's alarms on the load balancer ("Alerting Rules"), each
/// notifying `topic` when it fires and when it recovers.
pub mod seed {
    use super::*;

    fn actions(topic: &Input<TopicArn>) -> [Input<TopicArn>; 1] {
        [topic.clone()]
    }

    /// Critical: 5xx answers above 1 % of requests for 5 minutes (metric
    /// math over the targets' and the load balancer's own 5xx counts and
    /// the request count, each summed per minute).
    pub fn alb_5xx_ratio(
        name: &str,
        lb: impl IntoInput<LoadBalancerDimension>,
        topic: impl IntoInput<TopicArn>,
    ) -> Alarm {
        let lb = Dimension::LoadBalancer(lb.into_input());
        let topic = topic.into_input();
        let sum = |metric: &str| MetricQuery::alb(metric, Stat::Sum, [lb.clone()]);
        Alarm::builder()
            .name(name)
            .description("Critical: more than 1% of requests answered 5xx for 5 minutes")
            .query(AlarmQuery::Math {
                expression: "100 * (m1 + m2) / m3".into(),
                label: "5xx ratio (%)".into(),
                metrics: [
                    ("m1".to_string(), sum("HTTPCode_Target_5XX_Count")),
                    ("m2".to_string(), sum("HTTPCode_ELB_5XX_Count")),
                    ("m3".to_string(), sum("RequestCount")),
                ]
                .into(),
            })
            .period(60)
            .evaluation_periods(5)
            .datapoints_to_alarm(5)
            .comparison(Comparison::GreaterThan)
            .threshold(1.0)
            .missing_data(MissingData::NotBreaching)
            .alarm_actions(actions(&topic))
            .ok_actions(actions(&topic))
            .build()
    }

    /// Critical: more than half of the target group's targets unhealthy
    /// (metric math over the healthy and unhealthy host counts), for 2
    /// minutes.
    pub fn unhealthy_targets(
        name: &str,
        lb: impl IntoInput<LoadBalancerDimension>,
        target_group: impl IntoInput<TargetGroupDimension>,
        topic: impl IntoInput<TopicArn>,
    ) -> Alarm {
        let dims = [
            Dimension::LoadBalancer(lb.into_input()),
            Dimension::TargetGroup(target_group.into_input()),
        ];
        let topic = topic.into_input();
        let max = |metric: &str| MetricQuery::alb(metric, Stat::Maximum, dims.clone());
        Alarm::builder()
            .name(name)
            .description("Critical: more than 50% of the load balancer's targets unhealthy")
            .query(AlarmQuery::Math {
                expression: "100 * m1 / (m1 + m2)".into(),
                label: "unhealthy targets (%)".into(),
                metrics: [
                    ("m1".to_string(), max("UnHealthyHostCount")),
                    ("m2".to_string(), max("HealthyHostCount")),
                ]
                .into(),
            })
            .period(60)
            .evaluation_periods(2)
            .comparison(Comparison::GreaterThan)
            .threshold(50.0)
            .missing_data(MissingData::Breaching)
            .alarm_actions(actions(&topic))
            .ok_actions(actions(&topic))
            .build()
    }

    /// Warning: the targets' p95 response time above 500 ms for 5
    /// minutes.
    pub fn response_time_p95(
        name: &str,
        lb: impl IntoInput<LoadBalancerDimension>,
        topic: impl IntoInput<TopicArn>,
    ) -> Alarm {
        let topic = topic.into_input();
        Alarm::builder()
            .name(name)
            .description("Warning: p95 response time above 500 ms for 5 minutes")
            .query(AlarmQuery::Metric(MetricQuery::alb(
                "TargetResponseTime",
                Stat::P95,
                [Dimension::LoadBalancer(lb.into_input())],
            )))
            .period(60)
            .evaluation_periods(5)
            .comparison(Comparison::GreaterThan)
            // TargetResponseTime is in seconds.
            .threshold(0.5)
            .missing_data(MissingData::NotBreaching)
            .alarm_actions(actions(&topic))
            .ok_actions(actions(&topic))
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "arn:aws:sns:us-east-1:1:alerts";

    #[test]
    fn percentiles_are_extended_statistics() {
        assert_eq!(Stat::P95.api_name(), "p95");
        assert_eq!(Stat::Percentile(99.9).api_name(), "p99.9");
        assert_eq!(Stat::parse("p95"), Some(Stat::P95));
        assert_eq!(Stat::parse("Sum"), Some(Stat::Sum));
        assert!(Stat::P95.statistic().is_none());
        assert_eq!(Stat::Sum.statistic(), Some(ApiStatistic::Sum));
    }

    #[test]
    fn the_5xx_ratio_is_metric_math_returning_only_the_expression() {
        let a = seed::alb_5xx_ratio("x", "app/web/1", TOPIC);
        let q = a.queries().unwrap();
        assert_eq!(q.len(), 4);
        let returned: Vec<_> = q.iter().filter(|q| q.return_data() == Some(true)).collect();
        assert_eq!(returned.len(), 1);
        assert_eq!(returned[0].expression(), Some("100 * (m1 + m2) / m3"));
        let m3 = q.iter().find(|q| q.id() == Some("m3")).unwrap();
        let ms = m3.metric_stat().unwrap();
        assert_eq!(ms.period(), Some(60));
        assert_eq!(ms.stat(), Some("Sum"));
        let m = ms.metric().unwrap();
        assert_eq!(m.metric_name(), Some("RequestCount"));
        assert_eq!(m.dimensions()[0].name(), Some("LoadBalancer"));
        assert_eq!(m.dimensions()[0].value(), Some("app/web/1"));
        assert_eq!((a.threshold, a.evaluation_periods, a.period), (1.0, 5, 60));
    }

    #[test]
    fn what_is_sent_reads_back_as_the_same_spec() {
        for a in [
            seed::alb_5xx_ratio("a", "app/web/1", TOPIC),
            seed::unhealthy_targets("b", "app/web/1", "targetgroup/app/2", TOPIC),
            seed::response_time_p95("c", "app/web/1", TOPIC),
        ] {
            // What DescribeAlarms would answer for what put sends.
            let mut b = MetricAlarm::builder()
                .alarm_name(&a.name)
                .alarm_description(&a.description)
                .set_alarm_actions(Some(Alarm::topics(&a.alarm_actions).unwrap()))
                .set_ok_actions(Some(Alarm::topics(&a.ok_actions).unwrap()))
                .evaluation_periods(a.evaluation_periods as i32)
                .set_datapoints_to_alarm(a.datapoints_to_alarm.map(|d| d as i32))
                .threshold(a.threshold)
                .comparison_operator(a.comparison.to_api())
                .treat_missing_data(a.missing_data.api_name());
            match &a.query {
                AlarmQuery::Metric(m) => {
                    b = b
                        .namespace(&m.namespace)
                        .metric_name(&m.name)
                        .set_dimensions(Some(m.metric().unwrap().dimensions().to_vec()))
                        .period(a.period as i32)
                        .extended_statistic(m.stat.api_name());
                }
                AlarmQuery::Math { .. } => b = b.set_metrics(Some(a.queries().unwrap())),
            }
            assert_eq!(from_api(&b.build()), a, "{}", a.name);
        }
    }

    #[test]
    fn p95_response_time_sends_an_extended_statistic_in_seconds() {
        let a = seed::response_time_p95("c", "app/web/1", TOPIC);
        let AlarmQuery::Metric(m) = &a.query else {
            panic!()
        };
        assert_eq!(m.stat, Stat::P95);
        assert_eq!(a.threshold, 0.5);
    }
}
