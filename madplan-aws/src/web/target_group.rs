//! Target groups: where the load balancer sends requests, and how it checks
//! the instances' health.

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::types::{
    Matcher, ProtocolEnum, TargetGroupAttribute, TargetTypeEnum,
};
use futures_util::{StreamExt, TryStreamExt};
use madplan_core::{
    Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::{
    TargetGroupArn, TargetGroupArnSuffix, arn_suffix, elb_name_problem, elb_tag_list, elb_tags,
    sync_elb_tags,
};
use crate::error::sdk_error;
use crate::network::{VpcId, gone_is_done, missing, unresolved};
use crate::{Aws, tags};

/// How many target groups' attributes a refresh reads at once.
const READS_AT_ONCE: usize = 10;

/// The protocol the load balancer speaks to the instances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetProtocol {
    /// Plain HTTP inside the VPC (TLS ends at the load balancer).
    Http,
    /// HTTPS to the instances as well.
    Https,
}

impl TargetProtocol {
    fn sdk(self) -> ProtocolEnum {
        match self {
            TargetProtocol::Http => ProtocolEnum::Http,
            TargetProtocol::Https => ProtocolEnum::Https,
        }
    }
}

/// The health check of a target group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TypedBuilder)]
pub struct HealthCheck {
    /// The path requested, starting with `/`.
    #[builder(setter(into))]
    pub path: String,
    /// Seconds between checks (5 to 300).
    #[builder(default = 30)]
    pub interval_seconds: i32,
    /// Seconds before a check times out (2 to 120, less than the interval).
    #[builder(default = 5)]
    pub timeout_seconds: i32,
    /// Consecutive successes before a target is healthy (2 to 10).
    #[builder(default = 3)]
    pub healthy_threshold: i32,
    /// Consecutive failures before a target is unhealthy (2 to 10).
    #[builder(default = 3)]
    pub unhealthy_threshold: i32,
    /// The HTTP codes that count as healthy: `200`, `200,204`, `200-299`.
    #[builder(default = "200".into(), setter(into))]
    pub matcher: String,
}

impl HealthCheck {
    fn problems(&self, problems: &mut Vec<Problem>) {
        let f = "health_check";
        if !self.path.starts_with('/') || self.path.len() > 1024 {
            problems.push(problem(
                f,
                format!(
                    "the path {:?} must start with '/' (1024 characters at most)",
                    self.path
                ),
                Some("e.g. /api/health"),
            ));
        }
        if !(5..=300).contains(&self.interval_seconds) {
            problems.push(problem(
                f,
                format!(
                    "an interval of {} s is outside 5-300",
                    self.interval_seconds
                ),
                None,
            ));
        }
        if !(2..=120).contains(&self.timeout_seconds)
            || self.timeout_seconds >= self.interval_seconds
        {
            problems.push(problem(
                f,
                format!(
                    "a timeout of {} s must be within 2-120 and shorter than the {} s interval",
                    self.timeout_seconds, self.interval_seconds
                ),
                None,
            ));
        }
        for (name, n) in [
            ("healthy", self.healthy_threshold),
            ("unhealthy", self.unhealthy_threshold),
        ] {
            if !(2..=10).contains(&n) {
                problems.push(problem(
                    f,
                    format!("a {name} threshold of {n} is outside 2-10"),
                    None,
                ));
            }
        }
        if let Some(why) = matcher_problem(&self.matcher) {
            problems.push(problem(f, why, Some("e.g. 200, 200,204 or 200-299")));
        }
    }
}

/// Why ELB would refuse an HTTP matcher (codes 200 to 499, listed or as a
/// range).
fn matcher_problem(m: &str) -> Option<String> {
    let code = |s: &str| s.parse::<u16>().ok().filter(|c| (200..=499).contains(c));
    let ok = if let Some((a, b)) = m.split_once('-') {
        matches!((code(a), code(b)), (Some(a), Some(b)) if a < b)
    } else {
        !m.is_empty() && m.split(',').all(|c| code(c).is_some())
    };
    (!ok).then(|| format!("the matcher {m:?} is not HTTP codes between 200 and 499"))
}

/// A target group of instances, with its health check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct TargetGroup {
    /// Its name, unique in the region (1 to 32 letters, digits, hyphens).
    #[builder(setter(into))]
    pub name: String,
    /// The VPC of its targets.
    #[builder(setter(transform = |v: impl IntoInput<VpcId>| v.into_input()))]
    pub vpc: Input<VpcId>,
    /// The port the instances listen on.
    pub port: i32,
    /// The protocol to the instances.
    #[builder(default = TargetProtocol::Http)]
    pub protocol: TargetProtocol,
    /// How targets are checked.
    pub health_check: HealthCheck,
    /// Seconds a deregistering target keeps serving its requests in flight
    /// (0 to 3600).
    #[builder(default = 300)]
    pub deregistration_delay_seconds: i32,
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// What a target group yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetGroupOutputs {
    /// Its ARN.
    pub arn: TargetGroupArn,
    /// `targetgroup/NAME/ID`: CloudWatch's `TargetGroup` dimension value.
    pub arn_suffix: TargetGroupArnSuffix,
    /// Its name.
    pub name: String,
}

impl TargetGroupOutputs {
    fn of(arn: &str, name: &str) -> Self {
        Self {
            arn: TargetGroupArn(arn.to_string()),
            arn_suffix: TargetGroupArnSuffix(arn_suffix(arn)),
            name: name.to_string(),
        }
    }
}

async fn set_delay(aws: &Aws, arn: &str, seconds: i32) -> Result<(), ProviderError> {
    aws.elbv2()
        .modify_target_group_attributes()
        .target_group_arn(arn)
        .attributes(
            TargetGroupAttribute::builder()
                .key("deregistration_delay.timeout_seconds")
                .value(seconds.to_string())
                .build(),
        )
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(())
}

async fn read_delay(aws: &Aws, arn: &str) -> Result<i32, ProviderError> {
    let out = aws
        .elbv2()
        .describe_target_group_attributes()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(out
        .attributes()
        .iter()
        .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
        .and_then(|a| a.value()?.parse().ok())
        .unwrap_or(300))
}

/// The spec a described target group has (the delay is read apart).
fn from_api(
    t: &aws_sdk_elasticloadbalancingv2::types::TargetGroup,
    delay: i32,
    tags: BTreeMap<String, String>,
) -> TargetGroup {
    TargetGroup {
        name: t.target_group_name().unwrap_or_default().to_string(),
        vpc: Input::Value(VpcId(t.vpc_id().unwrap_or_default().to_string())),
        port: t.port().unwrap_or_default(),
        protocol: if t.protocol() == Some(&ProtocolEnum::Https) {
            TargetProtocol::Https
        } else {
            TargetProtocol::Http
        },
        health_check: HealthCheck {
            path: t.health_check_path().unwrap_or_default().to_string(),
            interval_seconds: t.health_check_interval_seconds().unwrap_or_default(),
            timeout_seconds: t.health_check_timeout_seconds().unwrap_or_default(),
            healthy_threshold: t.healthy_threshold_count().unwrap_or_default(),
            unhealthy_threshold: t.unhealthy_threshold_count().unwrap_or_default(),
            matcher: t
                .matcher()
                .and_then(|m| m.http_code())
                .unwrap_or_default()
                .to_string(),
        },
        deregistration_delay_seconds: delay,
        tags,
    }
}

impl Resource for TargetGroup {
    const KIND: &'static str = "aws.target_group";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["name", "vpc", "port", "protocol"];
    type Provider = Aws;
    type Outputs = TargetGroupOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if let Some(why) = elb_name_problem(&self.name) {
            problems.push(problem("name", why, None));
        }
        if !(1..=65535).contains(&self.port) {
            problems.push(problem(
                "port",
                format!("{} is not a port", self.port),
                None,
            ));
        }
        if !(0..=3600).contains(&self.deregistration_delay_seconds) {
            problems.push(problem(
                "deregistration_delay_seconds",
                format!("{} s is outside 0-3600", self.deregistration_delay_seconds),
                None,
            ));
        }
        self.health_check.problems(problems);
    }

    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        // No tag filter in ELB: every target group of the region, then
        // their tags 20 at a time.
        let groups: Vec<_> = aws
            .elbv2()
            .describe_target_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk_error)?;
        let arns: Vec<String> = groups
            .iter()
            .filter_map(|g| g.target_group_arn().map(str::to_string))
            .collect();
        let all_tags = elb_tags(aws, &arns).await?;
        let mut ours = Vec::new();
        for g in groups {
            let arn = g.target_group_arn().unwrap_or_default().to_string();
            let pairs = all_tags.get(&arn).cloned().unwrap_or_default();
            let claim = tags::claim_pairs(
                cx,
                pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                |o| o.arn.as_str() == arn,
            );
            if let Some(claim) = claim {
                ours.push((
                    claim,
                    g,
                    tags::user_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                ));
            }
        }
        // The deregistration delay is an attribute, read per group (ours
        // only), a few at once.
        futures_util::stream::iter(ours.into_iter().map(|(claim, g, user)| async move {
            let arn = g.target_group_arn().unwrap_or_default();
            let delay = read_delay(aws, arn).await?;
            Ok::<_, ProviderError>(Found::new(
                claim,
                from_api(&g, delay, user),
                TargetGroupOutputs::of(arn, g.target_group_name().unwrap_or_default()),
            ))
        }))
        .buffered(READS_AT_ONCE)
        .try_collect()
        .await
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<TargetGroupOutputs, ProviderError> {
        let h = &self.health_check;
        let out = aws
            .elbv2()
            .create_target_group()
            .name(&self.name)
            .protocol(self.protocol.sdk())
            .port(self.port)
            .vpc_id(self.vpc.get().map_err(unresolved)?.as_str())
            .target_type(TargetTypeEnum::Instance)
            .health_check_enabled(true)
            .health_check_protocol(self.protocol.sdk())
            .health_check_port("traffic-port")
            .health_check_path(&h.path)
            .health_check_interval_seconds(h.interval_seconds)
            .health_check_timeout_seconds(h.timeout_seconds)
            .healthy_threshold_count(h.healthy_threshold)
            .unhealthy_threshold_count(h.unhealthy_threshold)
            .matcher(Matcher::builder().http_code(&h.matcher).build())
            .set_tags(Some(elb_tag_list(cx, &self.tags)))
            .send()
            .await
            .map_err(sdk_error)?;
        let arn = out
            .target_groups()
            .first()
            .and_then(|g| g.target_group_arn())
            .ok_or_else(|| missing("target group ARN"))?
            .to_string();
        let outputs = TargetGroupOutputs::of(&arn, &self.name);
        cx.created(&outputs).await?;
        if self.deregistration_delay_seconds != 300 {
            set_delay(aws, &arn, self.deregistration_delay_seconds).await?;
        }
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<TargetGroupOutputs, ProviderError> {
        let arn = prior.outputs.arn.as_str();
        let has = |f: &str| changed.iter().any(|c| c == f);
        let health = async {
            if has("health_check") {
                let h = &self.health_check;
                aws.elbv2()
                    .modify_target_group()
                    .target_group_arn(arn)
                    .health_check_path(&h.path)
                    .health_check_interval_seconds(h.interval_seconds)
                    .health_check_timeout_seconds(h.timeout_seconds)
                    .healthy_threshold_count(h.healthy_threshold)
                    .unhealthy_threshold_count(h.unhealthy_threshold)
                    .matcher(Matcher::builder().http_code(&h.matcher).build())
                    .send()
                    .await
                    .map_err(sdk_error)?;
            }
            Ok::<_, ProviderError>(())
        };
        let delay = async {
            if has("deregistration_delay_seconds") {
                set_delay(aws, arn, self.deregistration_delay_seconds).await?;
            }
            Ok(())
        };
        let tags = async {
            if has("tags") {
                sync_elb_tags(aws, arn, &prior.spec.tags, &self.tags).await?;
            }
            Ok(())
        };
        futures_util::future::try_join3(health, delay, tags).await?;
        Ok(prior.outputs.clone())
    }

    async fn delete(
        outputs: &TargetGroupOutputs,
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        gone_is_done(
            aws.elbv2()
                .delete_target_group()
                .target_group_arn(outputs.arn.as_str())
                .send()
                .await
                .map_err(sdk_error),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers() {
        for ok in ["200", "200,204", "200-299", "499"] {
            assert_eq!(matcher_problem(ok), None, "{ok}");
        }
        for bad in ["", "500", "299-200", "ok", "200,", "100"] {
            assert!(matcher_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn health_check_rules() {
        let mut problems = Vec::new();
        HealthCheck::builder()
            .path("api/health")
            .interval_seconds(4)
            .timeout_seconds(5)
            .healthy_threshold(1)
            .unhealthy_threshold(11)
            .matcher("600")
            .build()
            .problems(&mut problems);
        let messages: Vec<_> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(problems.len(), 6, "{messages:#?}");
        let mut none = Vec::new();
        HealthCheck::builder()
            .path("/api/health")
            .build()
            .problems(&mut none);
        assert!(none.is_empty(), "{none:?}");
    }

    #[test]
    fn a_described_group_maps_back_to_its_spec() {
        let spec = TargetGroup::builder()
            .name("prod-api")
            .vpc("vpc-1")
            .port(3000)
            .health_check(HealthCheck::builder().path("/api/health").build())
            .deregistration_delay_seconds(30)
            .build();
        let g = aws_sdk_elasticloadbalancingv2::types::TargetGroup::builder()
            .target_group_name("prod-api")
            .vpc_id("vpc-1")
            .port(3000)
            .protocol(ProtocolEnum::Http)
            .health_check_path("/api/health")
            .health_check_interval_seconds(30)
            .health_check_timeout_seconds(5)
            .healthy_threshold_count(3)
            .unhealthy_threshold_count(3)
            .matcher(Matcher::builder().http_code("200").build())
            .build();
        assert_eq!(from_api(&g, 30, BTreeMap::new()), spec);
    }
}
