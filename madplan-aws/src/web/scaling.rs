//! Scaling rules as typed values: each becomes a step scaling policy on the
//! group and the CloudWatch alarm that triggers it.
//!
//! ```
//! use madplan_aws::web::{Metric, Scale, minutes, pct, per_minute};
//! # use madplan_aws::web::TargetGroupArnSuffix;
//! # let tg: madplan_core::Input<TargetGroupArnSuffix> = "targetgroup/api/1".into_input();
//! # use madplan_core::IntoInput;
//!
//! // The deployment guide's rules.
//! let cpu_out = Scale::out().when(Metric::cpu().above(pct(70)).for_(minutes(5))).by(1);
//! let memory_out = Scale::out().when(Metric::memory().above(pct(80)).for_(minutes(5))).by(1);
//! let requests_out = Scale::out()
//!     .when(Metric::requests_per_target(tg.clone()).above(per_minute(1000)).for_(minutes(1)))
//!     .by(1);
//! let cpu_in = Scale::in_().when(Metric::cpu().below(pct(20)).for_(minutes(10))).by(1);
//! assert_eq!(cpu_in.condition.evaluation_periods(), 10);
//! ```
//!
//! A threshold has the metric's unit: a percentage where CPU is compared,
//! requests per minute where requests are, so this does not compile:
//!
//! ```compile_fail
//! use madplan_aws::web::{Metric, per_minute};
//! Metric::cpu().above(per_minute(1000));
//! ```
//!
//! nor does a rule without its step:
//!
//! ```compile_fail
//! use madplan_aws::web::{Metric, Scale, ScalingRule, pct};
//! let rule: madplan_aws::web::Scale = Scale::out().when(Metric::cpu().above(pct(70)));
//! ```
//! A period CloudWatch refuses (not a multiple of 60
//! seconds, or evaluation periods times period over a day) is a validation
//! problem, before any API call.
//!
//! Requests are counted per target (`RequestCountPerTarget` of the target
//! group): "more than 1000 requests a minute" means for each instance on
//! average, so the rule holds whatever the group's size.

use std::collections::{BTreeMap, HashMap};
use std::marker::PhantomData;

use aws_sdk_autoscaling::types::StepAdjustment;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm};
use madplan_core::{
    Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource,
    TAG_ADDRESS, TAG_ENVIRONMENT, TAG_LINEAGE, ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::{AutoScalingGroupName, TargetGroupArnSuffix};
use crate::error::sdk_error;
use crate::network::{missing, unresolved};
use crate::{Aws, tags};

/// A span of time in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Seconds(pub u32);

/// `n` seconds.
pub fn seconds(n: u32) -> Seconds {
    Seconds(n)
}

/// `n` minutes.
pub fn minutes(n: u32) -> Seconds {
    Seconds(n.saturating_mul(60))
}

/// Minutes, for those who prefer the word; the same as [`minutes`].
pub type Minutes = Seconds;

/// A percentage, 0 to 100.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Percent(pub f64);

/// `n` percent.
pub fn pct(n: u32) -> Percent {
    Percent(f64::from(n))
}

/// A count per minute.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct PerMinute(pub f64);

/// `n` per minute.
pub fn per_minute(n: u32) -> PerMinute {
    PerMinute(f64::from(n))
}

/// A threshold in a metric's unit.
pub trait Threshold: sealed::Sealed {
    /// The number CloudWatch compares with.
    fn value(&self) -> f64;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Percent {}
    impl Sealed for super::PerMinute {}
}

impl Threshold for Percent {
    fn value(&self) -> f64 {
        self.0
    }
}

impl Threshold for PerMinute {
    fn value(&self) -> f64 {
        self.0
    }
}

/// How data points of a period are summarised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Statistic {
    /// The mean.
    Average,
    /// The total.
    Sum,
    /// The lowest.
    Minimum,
    /// The highest.
    Maximum,
    /// How many.
    SampleCount,
}

impl Statistic {
    fn sdk(self) -> aws_sdk_cloudwatch::types::Statistic {
        use aws_sdk_cloudwatch::types::Statistic as S;
        match self {
            Statistic::Average => S::Average,
            Statistic::Sum => S::Sum,
            Statistic::Minimum => S::Minimum,
            Statistic::Maximum => S::Maximum,
            Statistic::SampleCount => S::SampleCount,
        }
    }

    fn from_sdk(s: &aws_sdk_cloudwatch::types::Statistic) -> Option<Self> {
        use aws_sdk_cloudwatch::types::Statistic as S;
        Some(match s {
            S::Average => Statistic::Average,
            S::Sum => Statistic::Sum,
            S::Minimum => Statistic::Minimum,
            S::Maximum => Statistic::Maximum,
            S::SampleCount => Statistic::SampleCount,
            _ => return None,
        })
    }
}

/// Which side of the threshold is a breach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// Greater than the threshold.
    Above,
    /// Less than the threshold.
    Below,
}

impl Comparison {
    fn sdk(self) -> ComparisonOperator {
        match self {
            Comparison::Above => ComparisonOperator::GreaterThanThreshold,
            Comparison::Below => ComparisonOperator::LessThanThreshold,
        }
    }
}

/// The metric a rule watches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricSource {
    /// `AWS/EC2` `CPUUtilization` of the group's instances.
    Cpu,
    /// `CWAgent` `mem_used_percent` of the group's instances, which the
    /// CloudWatch agent publishes with the `AutoScalingGroupName` dimension
    /// (`append_dimensions` in its configuration).
    Memory,
    /// `AWS/ApplicationELB` `RequestCountPerTarget` of a target group.
    RequestsPerTarget {
        /// The target group's dimension value (`targetgroup/NAME/ID`).
        target_group: Input<TargetGroupArnSuffix>,
    },
    /// Something else, as read back from an alarm changed by hand.
    Other {
        /// The namespace.
        namespace: String,
        /// The metric's name.
        name: String,
    },
}

impl MetricSource {
    fn namespace_and_name(&self) -> (&str, &str) {
        match self {
            MetricSource::Cpu => ("AWS/EC2", "CPUUtilization"),
            MetricSource::Memory => ("CWAgent", "mem_used_percent"),
            MetricSource::RequestsPerTarget { .. } => {
                ("AWS/ApplicationELB", "RequestCountPerTarget")
            }
            MetricSource::Other { namespace, name } => (namespace, name),
        }
    }
}

/// A metric whose thresholds are in unit `U`.
#[derive(Clone, Debug)]
pub struct Metric<U> {
    source: MetricSource,
    statistic: Statistic,
    _unit: PhantomData<fn() -> U>,
}

impl Metric<Percent> {
    /// The group's average CPU utilisation.
    pub fn cpu() -> Self {
        Self::new(MetricSource::Cpu, Statistic::Average)
    }

    /// The group's average memory use, from the CloudWatch agent.
    pub fn memory() -> Self {
        Self::new(MetricSource::Memory, Statistic::Average)
    }
}

impl Metric<PerMinute> {
    /// Requests per target of a target group, summed over each minute.
    pub fn requests_per_target(target_group: impl IntoInput<TargetGroupArnSuffix>) -> Self {
        Self::new(
            MetricSource::RequestsPerTarget {
                target_group: target_group.into_input(),
            },
            Statistic::Sum,
        )
    }
}

impl<U: Threshold> Metric<U> {
    fn new(source: MetricSource, statistic: Statistic) -> Self {
        Self {
            source,
            statistic,
            _unit: PhantomData,
        }
    }

    /// Summarise with another statistic (e.g. `Maximum`).
    #[must_use]
    pub fn statistic(mut self, s: Statistic) -> Self {
        self.statistic = s;
        self
    }

    /// Breached when greater than `t`.
    pub fn above(self, t: U) -> Condition {
        self.condition(Comparison::Above, t)
    }

    /// Breached when less than `t`.
    pub fn below(self, t: U) -> Condition {
        self.condition(Comparison::Below, t)
    }

    fn condition(self, comparison: Comparison, t: U) -> Condition {
        Condition {
            metric: self.source,
            statistic: self.statistic,
            comparison,
            threshold: t.value(),
            period: minutes(1),
            duration: minutes(1),
        }
    }
}

/// When a rule fires: a metric beyond a threshold for a while.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// The metric.
    pub metric: MetricSource,
    /// Its statistic.
    pub statistic: Statistic,
    /// Which side is a breach.
    pub comparison: Comparison,
    /// The threshold, in the metric's unit.
    pub threshold: f64,
    /// The length of one evaluation period (a multiple of 60 s).
    pub period: Seconds,
    /// How long the breach must last (a multiple of the period, a day at
    /// most).
    pub duration: Seconds,
}

impl Condition {
    /// For this long (every period of it breaching).
    #[must_use]
    pub fn for_(mut self, d: Seconds) -> Self {
        self.duration = d;
        self
    }

    /// Evaluated every `p` (one minute unless said otherwise).
    #[must_use]
    pub fn every(mut self, p: Seconds) -> Self {
        self.period = p;
        self
    }

    /// How many periods the duration spans.
    pub fn evaluation_periods(&self) -> i32 {
        i32::try_from(self.duration.0 / self.period.0.max(1)).unwrap_or(i32::MAX)
    }

    /// Why CloudWatch would refuse this condition, if it would.
    pub fn problem(&self) -> Option<String> {
        let (p, d) = (self.period.0, self.duration.0);
        if p == 0 || p % 60 != 0 {
            return Some(format!(
                "a period of {p} s: CloudWatch takes multiples of 60 s for these metrics"
            ));
        }
        if d < p || d % p != 0 {
            return Some(format!("{d} s is not a whole number of {p}-second periods"));
        }
        if d > 86_400 {
            return Some(format!(
                "{} periods of {p} s span {d} s; CloudWatch evaluates at most one day",
                d / p
            ));
        }
        if !self.threshold.is_finite() {
            return Some("the threshold is not a number".into());
        }
        match &self.metric {
            MetricSource::Cpu | MetricSource::Memory
                if !(0.0..=100.0).contains(&self.threshold) =>
            {
                Some(format!("{}% is not a percentage", self.threshold))
            }
            MetricSource::RequestsPerTarget { .. } if p != 60 => Some(format!(
                "requests are counted per minute, so the period must be 60 s, not {p} s"
            )),
            MetricSource::Other { .. } => Some("the metric is not one a rule can name".into()),
            _ => None,
        }
    }
}

/// Which way a rule scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Adds instances.
    Out,
    /// Removes instances.
    In,
}

/// A scaling rule: when a condition holds, add or remove instances.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scale {
    /// Out or in.
    pub direction: Direction,
    /// When.
    pub condition: Condition,
    /// How many instances.
    pub by: i32,
    /// Seconds a new instance takes before its metrics count
    /// (`EstimatedInstanceWarmup`), when not the group's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<Seconds>,
}

/// A rule that knows its direction; give its condition with
/// [`ScaleDirection::when`].
#[derive(Clone, Copy, Debug)]
pub struct ScaleDirection(Direction);

/// A rule that knows its direction and condition; give its step with
/// [`ScaleWhen::by`].
#[derive(Clone, Debug)]
pub struct ScaleWhen(Direction, Condition);

impl Scale {
    /// Adds instances.
    pub fn out() -> ScaleDirection {
        ScaleDirection(Direction::Out)
    }

    /// Removes instances (`in` is a keyword).
    pub fn in_() -> ScaleDirection {
        ScaleDirection(Direction::In)
    }

    /// With an instance warm-up.
    #[must_use]
    pub fn warmup(mut self, s: Seconds) -> Self {
        self.warmup = Some(s);
        self
    }

    /// The step adjustment the policy gets: the breach side comes from the
    /// comparison, the sign from the direction.
    fn step(&self) -> StepAdjustment {
        let n = match self.direction {
            Direction::Out => self.by,
            Direction::In => -self.by,
        };
        let b = StepAdjustment::builder().scaling_adjustment(n);
        match self.condition.comparison {
            Comparison::Above => b.metric_interval_lower_bound(0.0),
            Comparison::Below => b.metric_interval_upper_bound(0.0),
        }
        .build()
    }
}

impl ScaleDirection {
    /// When `condition` holds.
    pub fn when(self, condition: Condition) -> ScaleWhen {
        ScaleWhen(self.0, condition)
    }
}

impl ScaleWhen {
    /// By `n` instances.
    pub fn by(self, n: i32) -> Scale {
        Scale {
            direction: self.0,
            condition: self.1,
            by: n,
            warmup: None,
        }
    }
}

/// One scaling rule of a group: a step scaling policy and the CloudWatch
/// alarm that triggers it, both named `name`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct ScalingRule {
    /// The name of the policy and of its alarm (unique among the region's
    /// alarms).
    #[builder(setter(into))]
    pub name: String,
    /// The group it scales.
    #[builder(setter(transform = |v: impl IntoInput<AutoScalingGroupName>| v.into_input()))]
    pub group: Input<AutoScalingGroupName>,
    /// The rule.
    pub rule: Scale,
    /// Tags of the alarm, besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// What a scaling rule yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScalingRuleOutputs {
    /// The policy's ARN (what the alarm triggers).
    pub policy_arn: String,
    /// The group the policy belongs to.
    pub group: String,
    /// The alarm's name.
    pub alarm_name: String,
    /// The alarm's ARN.
    #[serde(default)]
    pub alarm_arn: String,
}

/// The marker madplan writes at the end of an alarm's description: the
/// alarm list does not return tags, and reading them is a call per alarm.
fn marker(environment: &str, address: &str, lineage: &str) -> String {
    format!("[{TAG_ENVIRONMENT}={environment} {TAG_ADDRESS}={address} {TAG_LINEAGE}={lineage}]")
}

/// The value of `key` in a description's marker.
fn marker_value<'a>(description: &'a str, key: &str) -> Option<&'a str> {
    let start = description.rfind(&format!("[{TAG_ENVIRONMENT}="))?;
    description[start + 1..]
        .trim_end_matches(']')
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

fn describe_rule(rule: &Scale) -> String {
    let c = &rule.condition;
    let (ns, name) = c.metric.namespace_and_name();
    format!(
        "Scale {} by {} when {ns} {name} is {} {} for {} s",
        match rule.direction {
            Direction::Out => "out",
            Direction::In => "in",
        },
        rule.by,
        match c.comparison {
            Comparison::Above => "above",
            Comparison::Below => "below",
        },
        c.threshold,
        c.duration.0,
    )
}

fn dimensions(spec: &ScalingRule) -> Result<Vec<Dimension>, ProviderError> {
    Ok(match &spec.rule.condition.metric {
        MetricSource::Cpu | MetricSource::Memory => vec![
            Dimension::builder()
                .name("AutoScalingGroupName")
                .value(spec.group.get().map_err(unresolved)?.as_str())
                .build(),
        ],
        MetricSource::RequestsPerTarget { target_group } => vec![
            Dimension::builder()
                .name("TargetGroup")
                .value(target_group.get().map_err(unresolved)?.as_str())
                .build(),
        ],
        MetricSource::Other { .. } => vec![],
    })
}

/// Puts the policy, then the alarm pointing at it (both calls create or
/// replace, so a create and an update are the same steps).
async fn put(
    spec: &ScalingRule,
    aws: &Aws,
    cx: &OpCx,
    checkpoint: bool,
) -> Result<ScalingRuleOutputs, ProviderError> {
    let group = spec.group.get().map_err(unresolved)?.as_str().to_string();
    let mut policy = aws
        .autoscaling()
        .put_scaling_policy()
        .auto_scaling_group_name(&group)
        .policy_name(&spec.name)
        .policy_type("StepScaling")
        .adjustment_type("ChangeInCapacity")
        .metric_aggregation_type("Average")
        .step_adjustments(spec.rule.step());
    if let Some(w) = spec.rule.warmup {
        policy = policy.estimated_instance_warmup(i32::try_from(w.0).unwrap_or(i32::MAX));
    }
    let out = policy.send().await.map_err(sdk_error)?;
    let policy_arn = match out.policy_arn() {
        Some(a) => a.to_string(),
        // moto answers without it; DescribePolicies has it.
        None => aws
            .autoscaling()
            .describe_policies()
            .auto_scaling_group_name(&group)
            .policy_names(&spec.name)
            .send()
            .await
            .map_err(sdk_error)?
            .scaling_policies()
            .first()
            .and_then(|p| p.policy_arn())
            .ok_or_else(|| missing("policy ARN"))?
            .to_string(),
    };
    let mut outputs = ScalingRuleOutputs {
        policy_arn: policy_arn.clone(),
        group,
        alarm_name: spec.name.clone(),
        alarm_arn: String::new(),
    };
    if checkpoint {
        cx.created(&outputs).await?;
    }
    let c = &spec.rule.condition;
    let (namespace, metric) = c.metric.namespace_and_name();
    let tags = tags::pairs(cx, &spec.tags)
        .into_iter()
        .map(|(k, v)| {
            aws_sdk_cloudwatch::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
        })
        .collect();
    aws.cloudwatch()
        .put_metric_alarm()
        .alarm_name(&spec.name)
        .alarm_description(format!(
            "{} {}",
            describe_rule(&spec.rule),
            marker(
                cx.environment(),
                &cx.address().to_string(),
                &cx.lineage().to_string()
            )
        ))
        .namespace(namespace)
        .metric_name(metric)
        .set_dimensions(Some(dimensions(spec)?))
        .statistic(c.statistic.sdk())
        .period(i32::try_from(c.period.0).unwrap_or(i32::MAX))
        .evaluation_periods(c.evaluation_periods())
        .datapoints_to_alarm(c.evaluation_periods())
        .threshold(c.threshold)
        .comparison_operator(c.comparison.sdk())
        .treat_missing_data("missing")
        .actions_enabled(true)
        .alarm_actions(&policy_arn)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(sdk_error)?;
    let described = aws
        .cloudwatch()
        .describe_alarms()
        .alarm_names(&spec.name)
        .send()
        .await
        .map_err(sdk_error)?;
    outputs.alarm_arn = described
        .metric_alarms()
        .first()
        .and_then(|a| a.alarm_arn())
        .unwrap_or_default()
        .to_string();
    Ok(outputs)
}

/// The rule an alarm and its policy describe, or `None` when they no longer
/// make one (the alarm does not trigger the policy, the policy is not a
/// step policy): the rule is then missing, and apply puts both again.
fn from_api(
    alarm: &MetricAlarm,
    policy: &aws_sdk_autoscaling::types::ScalingPolicy,
) -> Option<ScalingRule> {
    let policy_arn = policy.policy_arn()?;
    if !alarm.alarm_actions().iter().any(|a| a == policy_arn) {
        return None;
    }
    let step = policy.step_adjustments().first()?;
    let n = step.scaling_adjustment()?;
    let dimension = |name: &str| {
        alarm
            .dimensions()
            .iter()
            .find(|d| d.name() == Some(name))
            .and_then(|d| d.value())
            .map(str::to_string)
    };
    let metric = match (alarm.namespace()?, alarm.metric_name()?) {
        ("AWS/EC2", "CPUUtilization") => MetricSource::Cpu,
        ("CWAgent", "mem_used_percent") => MetricSource::Memory,
        ("AWS/ApplicationELB", "RequestCountPerTarget") => MetricSource::RequestsPerTarget {
            target_group: Input::Value(TargetGroupArnSuffix(dimension("TargetGroup")?)),
        },
        (namespace, name) => MetricSource::Other {
            namespace: namespace.to_string(),
            name: name.to_string(),
        },
    };
    let comparison = match alarm.comparison_operator()? {
        ComparisonOperator::GreaterThanThreshold
        | ComparisonOperator::GreaterThanOrEqualToThreshold => Comparison::Above,
        _ => Comparison::Below,
    };
    let period = u32::try_from(alarm.period()?).ok()?;
    let periods = u32::try_from(alarm.evaluation_periods()?).ok()?;
    Some(ScalingRule {
        name: alarm.alarm_name()?.to_string(),
        group: Input::Value(AutoScalingGroupName(
            policy.auto_scaling_group_name()?.to_string(),
        )),
        rule: Scale {
            direction: if n >= 0 {
                Direction::Out
            } else {
                Direction::In
            },
            condition: Condition {
                metric,
                statistic: alarm
                    .statistic()
                    .and_then(Statistic::from_sdk)
                    .unwrap_or(Statistic::Average),
                comparison,
                threshold: alarm.threshold()?,
                period: Seconds(period),
                duration: Seconds(period.saturating_mul(periods)),
            },
            by: n.abs(),
            warmup: policy
                .estimated_instance_warmup()
                .and_then(|w| u32::try_from(w).ok())
                .map(Seconds),
        },
        tags: BTreeMap::new(),
    })
}

impl Resource for ScalingRule {
    const KIND: &'static str = "aws.scaling_rule";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["name", "group"];
    // The alarm list does not return tags (a call per alarm would): they
    // are compared with what was last applied.
    const WRITE_ONLY: &'static [&'static str] = &["tags"];
    type Provider = Aws;
    type Outputs = ScalingRuleOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if self.name.is_empty()
            || self.name.len() > 255
            || self
                .name
                .chars()
                .any(|c| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        {
            problems.push(problem(
                "name",
                format!(
                    "{:?}: use 1 to 255 letters, digits, '-', '_' and '.'",
                    self.name
                ),
                None,
            ));
        }
        if let Some(why) = self.rule.condition.problem() {
            problems.push(problem("rule", why, None));
        }
        if self.rule.by < 1 {
            problems.push(problem(
                "rule",
                format!("scaling by {} instances does nothing", self.rule.by),
                Some("scale by 1 or more"),
            ));
        }
    }

    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let alarms: Vec<MetricAlarm> = aws
            .cloudwatch()
            .describe_alarms()
            .alarm_types(aws_sdk_cloudwatch::types::AlarmType::MetricAlarm)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(sdk_error)?
            .into_iter()
            .flat_map(|page| page.metric_alarms.unwrap_or_default())
            .collect();
        let mut ours = Vec::new();
        for a in alarms {
            let name = a.alarm_name().unwrap_or_default().to_string();
            let description = a.alarm_description().unwrap_or_default().to_string();
            let claim = cx.claim(
                |o| o.alarm_name == name,
                |key| marker_value(&description, key).map(str::to_string),
            );
            if let Some(claim) = claim {
                ours.push((claim, a));
            }
        }
        if ours.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<String> = ours
            .iter()
            .filter_map(|(_, a)| a.alarm_name().map(str::to_string))
            .collect();
        let calls = names.chunks(50).map(|batch| async move {
            aws.autoscaling()
                .describe_policies()
                .set_policy_names(Some(batch.to_vec()))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(sdk_error)
        });
        let policies: HashMap<String, aws_sdk_autoscaling::types::ScalingPolicy> =
            futures_util::future::try_join_all(calls)
                .await?
                .into_iter()
                .flatten()
                .filter_map(|p: aws_sdk_autoscaling::types::ScalingPolicy| {
                    Some((p.policy_arn()?.to_string(), p))
                })
                .collect();
        let mut found = Vec::new();
        for (claim, alarm) in ours {
            let Some(policy) = alarm
                .alarm_actions()
                .iter()
                .find_map(|arn| policies.get(arn))
            else {
                continue;
            };
            let Some(mut spec) = from_api(&alarm, policy) else {
                continue;
            };
            // Tags are not read (a call per alarm); they are set on create.
            spec.tags = BTreeMap::new();
            found.push(Found::new(
                claim,
                spec,
                ScalingRuleOutputs {
                    policy_arn: policy.policy_arn().unwrap_or_default().to_string(),
                    group: policy
                        .auto_scaling_group_name()
                        .unwrap_or_default()
                        .to_string(),
                    alarm_name: alarm.alarm_name().unwrap_or_default().to_string(),
                    alarm_arn: alarm.alarm_arn().unwrap_or_default().to_string(),
                },
            ));
        }
        Ok(found)
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<ScalingRuleOutputs, ProviderError> {
        put(self, aws, cx, true).await
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        aws: &Aws,
        cx: &OpCx,
    ) -> Result<ScalingRuleOutputs, ProviderError> {
        // PutMetricAlarm ignores tags on an existing alarm.
        let outputs = if changed.iter().any(|c| c != "tags") {
            put(self, aws, cx, false).await?
        } else {
            prior.outputs.clone()
        };
        if changed.iter().any(|c| c == "tags") {
            crate::observability::alarm::retag(
                aws,
                &outputs.alarm_arn,
                &prior.spec.tags,
                &self.tags,
            )
            .await?;
        }
        Ok(outputs)
    }

    async fn delete(
        outputs: &ScalingRuleOutputs,
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        // Deleting alarms that do not exist succeeds.
        aws.cloudwatch()
            .delete_alarms()
            .alarm_names(&outputs.alarm_name)
            .send()
            .await
            .map_err(sdk_error)?;
        let gone = aws
            .autoscaling()
            .delete_policy()
            .auto_scaling_group_name(&outputs.group)
            .policy_name(&outputs.alarm_name)
            .send()
            .await
            .map_err(sdk_error);
        match gone {
            Err(e)
                if e.is_not_found()
                    || (e.code.as_deref() == Some("ValidationError")
                        && e.message.contains("not found")) =>
            {
                Ok(())
            }
            other => other.map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tg() -> Input<TargetGroupArnSuffix> {
        "targetgroup/api/1".into_input()
    }

    #[test]
    fn the_seeds_rules_are_what_cloudwatch_gets() {
        let cpu = Scale::out()
            .when(Metric::cpu().above(pct(70)).for_(minutes(5)))
            .by(1);
        assert_eq!(cpu.condition.period, Seconds(60));
        assert_eq!(cpu.condition.evaluation_periods(), 5);
        assert_eq!(cpu.condition.threshold, 70.0);
        assert_eq!(
            cpu.condition.comparison.sdk(),
            ComparisonOperator::GreaterThanThreshold
        );
        assert_eq!(cpu.condition.problem(), None);
        let step = cpu.step();
        assert_eq!(step.scaling_adjustment(), Some(1));
        assert_eq!(step.metric_interval_lower_bound(), Some(0.0));
        assert_eq!(step.metric_interval_upper_bound(), None);

        let mem_in = Scale::in_()
            .when(Metric::memory().below(pct(40)).for_(minutes(10)))
            .by(1);
        assert_eq!(
            mem_in.condition.metric.namespace_and_name(),
            ("CWAgent", "mem_used_percent")
        );
        assert_eq!(mem_in.condition.evaluation_periods(), 10);
        let step = mem_in.step();
        assert_eq!(step.scaling_adjustment(), Some(-1));
        assert_eq!(step.metric_interval_upper_bound(), Some(0.0));

        let req = Scale::out()
            .when(Metric::requests_per_target(tg()).above(per_minute(1000)))
            .by(2);
        assert_eq!(req.condition.statistic, Statistic::Sum);
        assert_eq!(req.condition.evaluation_periods(), 1);
        assert_eq!(req.condition.problem(), None);
    }

    #[test]
    fn periods_cloudwatch_refuses_are_problems() {
        let c = Metric::cpu().above(pct(70));
        assert!(
            c.clone()
                .every(seconds(90))
                .for_(seconds(180))
                .problem()
                .unwrap()
                .contains("multiples of 60")
        );
        assert!(c.clone().every(seconds(30)).problem().is_some());
        assert!(
            c.clone()
                .for_(seconds(90))
                .problem()
                .unwrap()
                .contains("whole number")
        );
        assert!(
            c.clone()
                .every(minutes(5))
                .for_(minutes(24 * 60 + 5))
                .problem()
                .unwrap()
                .contains("one day")
        );
        assert_eq!(
            c.clone().every(minutes(5)).for_(minutes(24 * 60)).problem(),
            None
        );
        assert!(
            Metric::cpu()
                .above(pct(170))
                .problem()
                .unwrap()
                .contains("percentage")
        );
        assert!(
            Metric::requests_per_target(tg())
                .above(per_minute(1000))
                .every(minutes(5))
                .for_(minutes(5))
                .problem()
                .unwrap()
                .contains("per minute")
        );
    }

    #[test]
    fn the_marker_is_read_back_from_the_description() {
        let d = format!(
            "Scale out by 1 when ... {}",
            marker("prod", "aws.scaling_rule.cpu-out", "1234")
        );
        assert_eq!(marker_value(&d, TAG_ENVIRONMENT), Some("prod"));
        assert_eq!(
            marker_value(&d, TAG_ADDRESS),
            Some("aws.scaling_rule.cpu-out")
        );
        assert_eq!(marker_value(&d, TAG_LINEAGE), Some("1234"));
        assert_eq!(marker_value("set by hand", TAG_ENVIRONMENT), None);
    }

    #[test]
    fn an_alarm_and_its_policy_map_back_to_the_rule() {
        let spec = ScalingRule::builder()
            .name("prod-cpu-in")
            .group("prod-web")
            .rule(
                Scale::in_()
                    .when(Metric::cpu().below(pct(20)).for_(minutes(10)))
                    .by(1)
                    .warmup(seconds(120)),
            )
            .build();
        let policy = aws_sdk_autoscaling::types::ScalingPolicy::builder()
            .policy_arn("arn:policy")
            .auto_scaling_group_name("prod-web")
            .policy_name("prod-cpu-in")
            .step_adjustments(spec.rule.step())
            .estimated_instance_warmup(120)
            .build();
        let c = &spec.rule.condition;
        let alarm = MetricAlarm::builder()
            .alarm_name("prod-cpu-in")
            .alarm_actions("arn:policy")
            .namespace("AWS/EC2")
            .metric_name("CPUUtilization")
            .dimensions(dimensions(&spec).unwrap()[0].clone())
            .statistic(c.statistic.sdk())
            .period(60)
            .evaluation_periods(c.evaluation_periods())
            .threshold(20.0)
            .comparison_operator(c.comparison.sdk())
            .build();
        assert_eq!(from_api(&alarm, &policy), Some(spec));
        // An alarm that no longer triggers the policy is no rule.
        let unhooked = MetricAlarm::builder()
            .alarm_name("prod-cpu-in")
            .namespace("AWS/EC2")
            .metric_name("CPUUtilization")
            .build();
        assert_eq!(from_api(&unhooked, &policy), None);
    }
}
