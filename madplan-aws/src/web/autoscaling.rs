//! Auto-scaling groups.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_autoscaling::types::{Filter, LaunchTemplateSpecification, Tag};
use madplan_core::{
    Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, Readiness, RefreshCx,
    Resource, TAG_ENVIRONMENT, ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::target_group::TargetGroup;
use super::{AutoScalingGroupName, LaunchTemplate, LaunchTemplateId, TargetGroupArn};
use crate::error::sdk_error;
use crate::network::{Subnet, SubnetId, subnet_ids, unresolved};
use crate::{Aws, tags};

/// The group metrics granularity CloudWatch takes (the only one).
const GRANULARITY: &str = "1Minute";

/// The group metrics collected: all of them but the warm pool's. Named
/// rather than left out (which means "all" to AWS), since moto collects
/// nothing when none is named.
const GROUP_METRICS: &[&str] = &[
    "GroupMinSize",
    "GroupMaxSize",
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupPendingInstances",
    "GroupStandbyInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
    "GroupInServiceCapacity",
    "GroupPendingCapacity",
    "GroupStandbyCapacity",
    "GroupTerminatingCapacity",
    "GroupTotalCapacity",
];

/// Which version of its launch template a group launches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateVersion {
    /// `$Latest`: every new version is used for the next launches, without
    /// touching the group.
    Latest,
    /// `$Default`: the version marked default (madplan marks each new
    /// version default).
    Default,
    /// One version, e.g. the template's `latest_version` output
    /// ([`TemplateVersion::pinned_to`]): the group is updated, in the same
    /// apply, to each new version madplan makes.
    Pinned(Input<i64>),
}

impl TemplateVersion {
    /// The newest version of `template`, as a reference: the plan shows the
    /// group's version as known after apply whenever the template changes.
    pub fn pinned_to(template: &madplan_core::Ref<LaunchTemplate>) -> Self {
        TemplateVersion::Pinned(template.output("latest_version"))
    }

    fn to_api(&self) -> Result<String, ProviderError> {
        Ok(match self {
            TemplateVersion::Latest => "$Latest".into(),
            TemplateVersion::Default => "$Default".into(),
            TemplateVersion::Pinned(v) => v.get().map_err(unresolved)?.to_string(),
        })
    }

    fn from_api(v: &str) -> Self {
        match v {
            "$Latest" => TemplateVersion::Latest,
            "$Default" | "" => TemplateVersion::Default,
            n => n.parse().map_or(TemplateVersion::Default, |n| {
                TemplateVersion::Pinned(Input::Value(n))
            }),
        }
    }
}

/// How the group decides an instance is unhealthy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthCheckType {
    /// EC2 status checks only.
    Ec2,
    /// The load balancer's health checks too: an instance whose
    /// application stops answering is replaced.
    Elb,
}

/// An auto-scaling group in the private subnets, launching from a launch
/// template and registering its instances in target groups.
///
/// Its desired capacity is set when it is created and then belongs to the
/// autoscaler (`EXTERNALLY_OWNED`): a scale event is never drift, and an
/// update never sends it back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct AutoScalingGroup {
    /// Its name, unique in the region.
    #[builder(setter(into))]
    pub name: String,
    /// The launch template.
    #[builder(setter(transform = |v: impl IntoInput<LaunchTemplateId>| v.into_input()))]
    pub launch_template: Input<LaunchTemplateId>,
    /// Which of its versions.
    #[builder(default = TemplateVersion::Latest)]
    pub version: TemplateVersion,
    /// The fewest instances.
    pub min_size: i32,
    /// The most instances.
    pub max_size: i32,
    /// How many instances it starts with; the autoscaler's afterwards.
    pub desired_capacity: i32,
    /// The subnets it launches into (the private tier).
    #[builder(setter(transform = |s: impl IntoIterator<Item = impl IntoInput<SubnetId>>| s.into_iter().map(IntoInput::into_input).collect()))]
    pub subnets: BTreeSet<Input<SubnetId>>,
    /// The target groups its instances are registered in.
    #[builder(default, setter(transform = |t: impl IntoIterator<Item = impl IntoInput<TargetGroupArn>>| t.into_iter().map(IntoInput::into_input).collect()))]
    pub target_groups: BTreeSet<Input<TargetGroupArn>>,
    /// EC2 or ELB health checks.
    #[builder(default = HealthCheckType::Elb)]
    pub health_check: HealthCheckType,
    /// Seconds after launch before health checks count.
    #[builder(default = 300)]
    pub health_check_grace_seconds: i32,
    /// Whether the group's metrics (in-service, pending, desired...) are
    /// sent to CloudWatch every minute.
    #[builder(default = true)]
    pub metrics_collection: bool,
    /// Tags of the group, each also given to the instances it launches.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// What an auto-scaling group yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AutoScalingGroupOutputs {
    /// Its name.
    pub name: AutoScalingGroupName,
    /// Its ARN.
    #[serde(default)]
    pub arn: String,
}

/// The group's tags: the user's propagate to instances, madplan's stay on
/// the group (instances are the group's, not madplan's, to manage).
fn group_tags(name: &str, cx: &OpCx, user: &BTreeMap<String, String>) -> Vec<Tag> {
    let ours = cx
        .tags()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v, false));
    let theirs = user.iter().map(|(k, v)| (k.clone(), v.clone(), true));
    ours.chain(theirs)
        .map(|(k, v, propagate)| tag(name, &k, &v, propagate))
        .collect()
}

fn tag(group: &str, key: &str, value: &str, propagate: bool) -> Tag {
    Tag::builder()
        .resource_id(group)
        .resource_type("auto-scaling-group")
        .key(key)
        .value(value)
        .propagate_at_launch(propagate)
        .build()
}

fn zone_identifier(spec: &AutoScalingGroup) -> Result<String, ProviderError> {
    Ok(subnet_ids(&spec.subnets)?
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(","))
}

fn template_spec(spec: &AutoScalingGroup) -> Result<LaunchTemplateSpecification, ProviderError> {
    Ok(LaunchTemplateSpecification::builder()
        .launch_template_id(spec.launch_template.get().map_err(unresolved)?.as_str())
        .version(spec.version.to_api()?)
        .build())
}

fn health_check_api(h: HealthCheckType) -> &'static str {
    match h {
        HealthCheckType::Ec2 => "EC2",
        HealthCheckType::Elb => "ELB",
    }
}

/// Auto Scaling answers a missing group with a `ValidationError`.
fn group_gone(e: &ProviderError) -> bool {
    e.is_not_found()
        || (e.code.as_deref() == Some("ValidationError") && e.message.contains("not found"))
}

/// The spec a described group has.
pub(crate) fn from_api(g: &aws_sdk_autoscaling::types::AutoScalingGroup) -> AutoScalingGroup {
    let lt = g.launch_template();
    AutoScalingGroup {
        name: g.auto_scaling_group_name().unwrap_or_default().to_string(),
        launch_template: Input::Value(LaunchTemplateId(
            lt.and_then(|t| t.launch_template_id())
                .unwrap_or_default()
                .to_string(),
        )),
        version: TemplateVersion::from_api(lt.and_then(|t| t.version()).unwrap_or_default()),
        min_size: g.min_size().unwrap_or_default(),
        max_size: g.max_size().unwrap_or_default(),
        desired_capacity: g.desired_capacity().unwrap_or_default(),
        subnets: g
            .vpc_zone_identifier()
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| Input::Value(SubnetId(s.trim().to_string())))
            .collect(),
        target_groups: g
            .target_group_arns()
            .iter()
            .map(|a| Input::Value(TargetGroupArn(a.clone())))
            .collect(),
        health_check: if g.health_check_type() == Some("ELB") {
            HealthCheckType::Elb
        } else {
            HealthCheckType::Ec2
        },
        health_check_grace_seconds: g.health_check_grace_period().unwrap_or_default(),
        metrics_collection: !g.enabled_metrics().is_empty(),
        tags: tags::user_pairs(
            g.tags()
                .iter()
                .filter_map(|t| Some((t.key()?, t.value().unwrap_or("")))),
        ),
    }
}

async fn set_metrics(aws: &Aws, name: &str, on: bool) -> Result<(), ProviderError> {
    if on {
        aws.autoscaling()
            .enable_metrics_collection()
            .auto_scaling_group_name(name)
            .set_metrics(Some(GROUP_METRICS.iter().map(|m| m.to_string()).collect()))
            .granularity(GRANULARITY)
            .send()
            .await
            .map_err(sdk_error)?;
    } else {
        aws.autoscaling()
            .disable_metrics_collection()
            .auto_scaling_group_name(name)
            .send()
            .await
            .map_err(sdk_error)?;
    }
    Ok(())
}

impl Resource for AutoScalingGroup {
    const KIND: &'static str = "aws.autoscaling_group";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["name"];
    const EXTERNALLY_OWNED: &'static [&'static str] = &["desired_capacity"];
    // Deleting a group terminates its instances first (minutes on AWS).
    const WAIT_TIMEOUT: Duration = Duration::from_secs(20 * 60);
    type Provider = Aws;
    type Outputs = AutoScalingGroupOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if self.name.is_empty() || self.name.len() > 255 {
            problems.push(problem(
                "name",
                "a group name has 1 to 255 characters",
                None,
            ));
        }
        if self.min_size < 0 || self.max_size < 1 {
            problems.push(problem(
                "max_size",
                format!(
                    "min {} and max {}: sizes are at least 0 and 1",
                    self.min_size, self.max_size
                ),
                None,
            ));
        }
        if !(self.min_size <= self.desired_capacity && self.desired_capacity <= self.max_size) {
            problems.push(problem(
                "desired_capacity",
                format!(
                    "min {} <= desired {} <= max {} does not hold",
                    self.min_size, self.desired_capacity, self.max_size
                ),
                Some("the desired capacity must lie between the minimum and the maximum"),
            ));
        }
        if !(0..=86_400).contains(&self.health_check_grace_seconds) {
            problems.push(problem(
                "health_check_grace_seconds",
                format!("{} s is outside 0-86400", self.health_check_grace_seconds),
                None,
            ));
        }
        if self.subnets.is_empty() {
            problems.push(problem(
                "subnets",
                "a group needs at least one subnet",
                Some("give it the private subnets"),
            ));
        }
        if self.health_check == HealthCheckType::Elb && self.target_groups.is_empty() {
            problems.push(problem(
                "health_check",
                "ELB health checks need a target group",
                Some("register the group in a target group, or use HealthCheckType::Ec2"),
            ));
        }
        // Subnets: private, in one VPC; target groups in that VPC.
        let mut vpcs = BTreeSet::new();
        for s in &self.subnets {
            if let Some((address, subnet)) = cx.referenced::<Subnet, _>(s) {
                if subnet.public {
                    problems.push(problem(
                        "subnets",
                        format!(
                            "{address} is public: instances belong in the private tier, \
                             behind the load balancer"
                        ),
                        Some("use the private subnets"),
                    ));
                }
                vpcs.insert(subnet.vpc);
            }
        }
        if vpcs.len() > 1 {
            problems.push(problem(
                "subnets",
                "the subnets are in more than one VPC",
                Some("a group's subnets share one VPC"),
            ));
        }
        if let Some(vpc) = vpcs.iter().next().filter(|_| vpcs.len() == 1) {
            for t in &self.target_groups {
                if let Some((address, tg)) = cx.referenced::<TargetGroup, _>(t)
                    && &tg.vpc != vpc
                {
                    problems.push(problem(
                        "target_groups",
                        format!("{address} is in another VPC than the group's subnets"),
                        Some("a target group registers instances of its own VPC only"),
                    ));
                }
            }
        }
    }

    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let describe = |filters: Vec<Filter>, names: Vec<String>| async move {
            aws.autoscaling()
                .describe_auto_scaling_groups()
                .set_filters((!filters.is_empty()).then_some(filters))
                .set_auto_scaling_group_names((!names.is_empty()).then_some(names))
                .max_records(100)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(sdk_error)
        };
        let mut groups = describe(
            vec![
                Filter::builder()
                    .name(format!("tag:{TAG_ENVIRONMENT}"))
                    .values(&cx.environment)
                    .build(),
            ],
            vec![],
        )
        .await?;
        // Tracked groups whose tags were removed by hand.
        let lost: Vec<String> = cx
            .tracked
            .iter()
            .map(|t| t.outputs.name.0.clone())
            .filter(|n| {
                !groups
                    .iter()
                    .any(|g| g.auto_scaling_group_name() == Some(n))
            })
            .collect();
        if !lost.is_empty() {
            groups.extend(describe(vec![], lost).await?);
        }
        let mut found = Vec::new();
        for g in &groups {
            // A group being deleted is as good as gone.
            if g.status().is_some_and(|s| s.starts_with("Delete")) {
                continue;
            }
            let name = g.auto_scaling_group_name().unwrap_or_default();
            let pairs = g
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?, t.value().unwrap_or(""))));
            let Some(claim) = tags::claim_pairs(cx, pairs, |o| o.name.as_str() == name) else {
                continue;
            };
            found.push(Found::new(
                claim,
                from_api(g),
                AutoScalingGroupOutputs {
                    name: AutoScalingGroupName(name.to_string()),
                    arn: g.auto_scaling_group_arn().unwrap_or_default().to_string(),
                },
            ));
        }
        Ok(found)
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<AutoScalingGroupOutputs, ProviderError> {
        let target_groups: Vec<String> = self
            .target_groups
            .iter()
            .map(|t| t.get().map(|a| a.0.clone()).map_err(unresolved))
            .collect::<Result<_, _>>()?;
        aws.autoscaling()
            .create_auto_scaling_group()
            .auto_scaling_group_name(&self.name)
            .launch_template(template_spec(self)?)
            .min_size(self.min_size)
            .max_size(self.max_size)
            .desired_capacity(self.desired_capacity)
            .vpc_zone_identifier(zone_identifier(self)?)
            .set_target_group_arns(Some(target_groups))
            .health_check_type(health_check_api(self.health_check))
            .health_check_grace_period(self.health_check_grace_seconds)
            .set_tags(Some(group_tags(&self.name, cx, &self.tags)))
            .send()
            .await
            .map_err(sdk_error)?;
        let mut outputs = AutoScalingGroupOutputs {
            name: AutoScalingGroupName(self.name.clone()),
            arn: String::new(),
        };
        cx.created(&outputs).await?;
        if self.metrics_collection {
            set_metrics(aws, &self.name, true).await?;
        }
        // CreateAutoScalingGroup answers without the ARN.
        let described = aws
            .autoscaling()
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&self.name)
            .send()
            .await
            .map_err(sdk_error)?;
        outputs.arn = described
            .auto_scaling_groups()
            .first()
            .and_then(|g| g.auto_scaling_group_arn())
            .unwrap_or_default()
            .to_string();
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<AutoScalingGroupOutputs, ProviderError> {
        let name = prior.outputs.name.as_str();
        let has = |f: &str| changed.iter().any(|c| c == f);
        let settings = [
            "launch_template",
            "version",
            "min_size",
            "max_size",
            "subnets",
            "health_check",
            "health_check_grace_seconds",
        ];
        if settings.iter().any(|f| has(f)) {
            // Never the desired capacity: it is the autoscaler's. A new
            // minimum above it raises it, as AWS does.
            aws.autoscaling()
                .update_auto_scaling_group()
                .auto_scaling_group_name(name)
                .launch_template(template_spec(self)?)
                .min_size(self.min_size)
                .max_size(self.max_size)
                .vpc_zone_identifier(zone_identifier(self)?)
                .health_check_type(health_check_api(self.health_check))
                .health_check_grace_period(self.health_check_grace_seconds)
                .send()
                .await
                .map_err(sdk_error)?;
        }
        let target_groups = async {
            if has("target_groups") {
                let want: BTreeSet<String> = self
                    .target_groups
                    .iter()
                    .map(|t| t.get().map(|a| a.0.clone()).map_err(unresolved))
                    .collect::<Result<_, _>>()?;
                let have: BTreeSet<String> = prior
                    .spec
                    .target_groups
                    .iter()
                    .filter_map(|t| t.known().map(|a| a.0.clone()))
                    .collect();
                let attach: Vec<String> = want.difference(&have).cloned().collect();
                let detach: Vec<String> = have.difference(&want).cloned().collect();
                if !attach.is_empty() {
                    aws.autoscaling()
                        .attach_load_balancer_target_groups()
                        .auto_scaling_group_name(name)
                        .set_target_group_arns(Some(attach))
                        .send()
                        .await
                        .map_err(sdk_error)?;
                }
                if !detach.is_empty() {
                    aws.autoscaling()
                        .detach_load_balancer_target_groups()
                        .auto_scaling_group_name(name)
                        .set_target_group_arns(Some(detach))
                        .send()
                        .await
                        .map_err(sdk_error)?;
                }
            }
            Ok::<_, ProviderError>(())
        };
        let metrics = async {
            if has("metrics_collection") {
                set_metrics(aws, name, self.metrics_collection).await?;
            }
            Ok(())
        };
        let tags = async {
            if has("tags") {
                let (stale, set) = tags::changes(&prior.spec.tags, &self.tags);
                if !stale.is_empty() {
                    aws.autoscaling()
                        .delete_tags()
                        .set_tags(Some(
                            stale.iter().map(|k| tag(name, k, "", false)).collect(),
                        ))
                        .send()
                        .await
                        .map_err(sdk_error)?;
                }
                if !set.is_empty() {
                    aws.autoscaling()
                        .create_or_update_tags()
                        .set_tags(Some(
                            set.iter().map(|(k, v)| tag(name, k, v, true)).collect(),
                        ))
                        .send()
                        .await
                        .map_err(sdk_error)?;
                }
            }
            Ok(())
        };
        futures_util::future::try_join3(target_groups, metrics, tags).await?;
        Ok(prior.outputs.clone())
    }

    async fn delete(
        outputs: &AutoScalingGroupOutputs,
        aws: &Aws,
        cx: &OpCx,
    ) -> Result<(), ProviderError> {
        let name = outputs.name.as_str();
        let sent = aws
            .autoscaling()
            .delete_auto_scaling_group()
            .auto_scaling_group_name(name)
            .force_delete(true)
            .send()
            .await
            .map_err(sdk_error);
        match sent {
            Err(e) if group_gone(&e) => return Ok(()),
            other => {
                other?;
            }
        }
        // The group goes once its instances are terminated; until then
        // their interfaces keep the subnets and security groups in use.
        cx.wait_for(
            &format!("auto-scaling group {name} to be deleted"),
            Duration::from_secs(10),
            || async {
                let out = aws
                    .autoscaling()
                    .describe_auto_scaling_groups()
                    .auto_scaling_group_names(name)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                Ok(match out.auto_scaling_groups().first() {
                    None => Readiness::Ready(()),
                    Some(g) => Readiness::Waiting(format!(
                        "{} ({} instances)",
                        g.status().unwrap_or("deleting"),
                        g.instances().len()
                    )),
                })
            },
        )
        .await
        .or_else(|e| if group_gone(&e) { Ok(()) } else { Err(e) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_versions_map_to_what_auto_scaling_takes() {
        assert_eq!(TemplateVersion::Latest.to_api().unwrap(), "$Latest");
        assert_eq!(TemplateVersion::Default.to_api().unwrap(), "$Default");
        assert_eq!(
            TemplateVersion::Pinned(Input::Value(4)).to_api().unwrap(),
            "4"
        );
        for v in [
            TemplateVersion::Latest,
            TemplateVersion::Default,
            TemplateVersion::Pinned(Input::Value(7)),
        ] {
            assert_eq!(TemplateVersion::from_api(&v.to_api().unwrap()), v);
        }
    }

    #[test]
    fn the_desired_capacity_is_the_autoscalers() {
        assert_eq!(AutoScalingGroup::EXTERNALLY_OWNED, &["desired_capacity"]);
    }

    #[test]
    fn a_described_group_maps_back_to_its_spec() {
        let g = aws_sdk_autoscaling::types::AutoScalingGroup::builder()
            .auto_scaling_group_name("prod-web")
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_id("lt-1")
                    .version("$Latest")
                    .build(),
            )
            .min_size(2)
            .max_size(10)
            .desired_capacity(5)
            .vpc_zone_identifier("subnet-b,subnet-a")
            .target_group_arns("arn:tg")
            .health_check_type("ELB")
            .health_check_grace_period(300)
            .enabled_metrics(
                aws_sdk_autoscaling::types::EnabledMetric::builder()
                    .metric("GroupInServiceInstances")
                    .granularity(GRANULARITY)
                    .build(),
            )
            .tags(
                aws_sdk_autoscaling::types::TagDescription::builder()
                    .key("Environment")
                    .value("production")
                    .propagate_at_launch(true)
                    .build(),
            )
            .tags(
                aws_sdk_autoscaling::types::TagDescription::builder()
                    .key("madplan:environment")
                    .value("production")
                    .build(),
            )
            .build();
        let spec = from_api(&g);
        assert_eq!(
            spec,
            AutoScalingGroup::builder()
                .name("prod-web")
                .launch_template("lt-1")
                .min_size(2)
                .max_size(10)
                .desired_capacity(5)
                .subnets(["subnet-a", "subnet-b"])
                .target_groups(["arn:tg"])
                .tags(BTreeMap::from([(
                    "Environment".into(),
                    "production".into()
                )]))
                .build()
        );
    }
}
