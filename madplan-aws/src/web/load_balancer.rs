//! Application load balancers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_elasticloadbalancingv2::types::{
    IpAddressType, LoadBalancerAttribute, LoadBalancerSchemeEnum, LoadBalancerStateEnum,
    LoadBalancerTypeEnum,
};
use futures_util::{StreamExt, TryStreamExt};
use madplan_core::{
    Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, Readiness, RefreshCx,
    Resource, ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::{
    CanonicalHostedZoneId, LoadBalancerArn, LoadBalancerArnSuffix, LoadBalancerDnsName, arn_suffix,
    elb_name_problem, elb_tag_list, elb_tags, sync_elb_tags,
};
use crate::error::sdk_error;
use crate::network::{
    SecurityGroupId, Subnet, SubnetId, gone_is_done, missing, subnet_ids, unresolved,
};
use crate::{Aws, tags};

/// How many load balancers' attributes a refresh reads at once.
const READS_AT_ONCE: usize = 10;
/// How often a load balancer's state is read while waiting.
const POLL: Duration = Duration::from_secs(5);

const DROP_INVALID_HEADERS: &str = "routing.http.drop_invalid_header_fields.enabled";
const DELETION_PROTECTION: &str = "deletion_protection.enabled";
const IDLE_TIMEOUT: &str = "idle_timeout.timeout_seconds";

/// Who can reach a load balancer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// The internet, through public subnets.
    InternetFacing,
    /// The VPC only.
    Internal,
}

/// An Application Load Balancer. Creating one waits until it is `active`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct LoadBalancer {
    /// Its name, unique in the region (1 to 32 letters, digits, hyphens).
    #[builder(setter(into))]
    pub name: String,
    /// Internet-facing or internal.
    #[builder(default = Scheme::InternetFacing)]
    pub scheme: Scheme,
    /// Its subnets, in two zones or more (public ones when internet-facing).
    #[builder(setter(transform = |s: impl IntoIterator<Item = impl IntoInput<SubnetId>>| s.into_iter().map(IntoInput::into_input).collect()))]
    pub subnets: BTreeSet<Input<SubnetId>>,
    /// Its security groups.
    #[builder(setter(transform = |g: impl IntoIterator<Item = impl IntoInput<SecurityGroupId>>| g.into_iter().map(IntoInput::into_input).collect()))]
    pub security_groups: BTreeSet<Input<SecurityGroupId>>,
    /// Drops requests whose header names are not valid HTTP (request
    /// smuggling defence).
    #[builder(default = true)]
    pub drop_invalid_header_fields: bool,
    /// Refuses deletion (turn it off, apply, then destroy).
    #[builder(default = false)]
    pub deletion_protection: bool,
    /// Seconds an idle connection stays open (1 to 4000).
    #[builder(default = 60)]
    pub idle_timeout_seconds: i32,
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// What a load balancer yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancerOutputs {
    /// Its ARN (what a WAF web ACL is associated with).
    pub arn: LoadBalancerArn,
    /// `app/NAME/ID`: CloudWatch's `LoadBalancer` dimension value.
    pub arn_suffix: LoadBalancerArnSuffix,
    /// Its DNS name (what the API's record points at).
    pub dns_name: LoadBalancerDnsName,
    /// The hosted zone of its DNS name (for alias records).
    pub hosted_zone_id: CanonicalHostedZoneId,
    /// Its name.
    pub name: String,
}

fn outputs_of(lb: &aws_sdk_elasticloadbalancingv2::types::LoadBalancer) -> LoadBalancerOutputs {
    let arn = lb.load_balancer_arn().unwrap_or_default();
    LoadBalancerOutputs {
        arn: LoadBalancerArn(arn.to_string()),
        arn_suffix: LoadBalancerArnSuffix(arn_suffix(arn)),
        dns_name: LoadBalancerDnsName(lb.dns_name().unwrap_or_default().to_string()),
        hosted_zone_id: CanonicalHostedZoneId(
            lb.canonical_hosted_zone_id()
                .unwrap_or_default()
                .to_string(),
        ),
        name: lb.load_balancer_name().unwrap_or_default().to_string(),
    }
}

fn attributes(spec: &LoadBalancer) -> Vec<LoadBalancerAttribute> {
    [
        (
            DROP_INVALID_HEADERS,
            spec.drop_invalid_header_fields.to_string(),
        ),
        (DELETION_PROTECTION, spec.deletion_protection.to_string()),
        (IDLE_TIMEOUT, spec.idle_timeout_seconds.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| LoadBalancerAttribute::builder().key(k).value(v).build())
    .collect()
}

async fn set_attributes(aws: &Aws, arn: &str, spec: &LoadBalancer) -> Result<(), ProviderError> {
    aws.elbv2()
        .modify_load_balancer_attributes()
        .load_balancer_arn(arn)
        .set_attributes(Some(attributes(spec)))
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(())
}

async fn read_attributes(aws: &Aws, arn: &str) -> Result<BTreeMap<String, String>, ProviderError> {
    let out = aws
        .elbv2()
        .describe_load_balancer_attributes()
        .load_balancer_arn(arn)
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(out
        .attributes()
        .iter()
        .filter_map(|a| Some((a.key()?.to_string(), a.value()?.to_string())))
        .collect())
}

/// The spec a described load balancer and its attributes make.
fn from_api(
    lb: &aws_sdk_elasticloadbalancingv2::types::LoadBalancer,
    attrs: &BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
) -> LoadBalancer {
    let flag = |k: &str| attrs.get(k).is_some_and(|v| v == "true");
    LoadBalancer {
        name: lb.load_balancer_name().unwrap_or_default().to_string(),
        scheme: if lb.scheme() == Some(&LoadBalancerSchemeEnum::Internal) {
            Scheme::Internal
        } else {
            Scheme::InternetFacing
        },
        subnets: lb
            .availability_zones()
            .iter()
            .filter_map(|z| z.subnet_id())
            .map(|s| Input::Value(SubnetId(s.to_string())))
            .collect(),
        security_groups: lb
            .security_groups()
            .iter()
            .map(|g| Input::Value(SecurityGroupId(g.clone())))
            .collect(),
        drop_invalid_header_fields: flag(DROP_INVALID_HEADERS),
        deletion_protection: flag(DELETION_PROTECTION),
        idle_timeout_seconds: attrs
            .get(IDLE_TIMEOUT)
            .and_then(|v| v.parse().ok())
            .unwrap_or(60),
        tags,
    }
}

async fn readiness(aws: &Aws, arn: &str) -> Result<Readiness<LoadBalancerOutputs>, ProviderError> {
    let out = aws
        .elbv2()
        .describe_load_balancers()
        .load_balancer_arns(arn)
        .send()
        .await
        .map_err(sdk_error)?;
    let Some(lb) = out.load_balancers().first() else {
        return Ok(Readiness::Waiting("not visible yet".into()));
    };
    let state = lb.state();
    match state.and_then(|s| s.code()) {
        Some(LoadBalancerStateEnum::Active) => Ok(Readiness::Ready(outputs_of(lb))),
        Some(LoadBalancerStateEnum::Failed) => Err(ProviderError::new(
            "aws",
            madplan_core::ErrorClass::Fatal,
            format!(
                "load balancer {arn} failed to provision: {}",
                state.and_then(|s| s.reason()).unwrap_or("no reason given")
            ),
        )),
        other => Ok(Readiness::Waiting(
            other
                .map_or("unknown", LoadBalancerStateEnum::as_str)
                .to_string(),
        )),
    }
}

async fn wait_active(
    aws: &Aws,
    cx: &OpCx,
    arn: &str,
) -> Result<LoadBalancerOutputs, ProviderError> {
    cx.wait_for(&format!("load balancer {arn} to be active"), POLL, || {
        readiness(aws, arn)
    })
    .await
}

impl Resource for LoadBalancer {
    const KIND: &'static str = "aws.load_balancer";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["name", "scheme"];
    const WAIT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
    type Provider = Aws;
    type Outputs = LoadBalancerOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if let Some(why) = elb_name_problem(&self.name) {
            problems.push(problem("name", why, None));
        }
        if self.name.starts_with("internal-") {
            problems.push(problem(
                "name",
                "a name cannot start with \"internal-\"",
                None,
            ));
        }
        if !(1..=4000).contains(&self.idle_timeout_seconds) {
            problems.push(problem(
                "idle_timeout_seconds",
                format!("{} s is outside 1-4000", self.idle_timeout_seconds),
                None,
            ));
        }
        if self.security_groups.is_empty() {
            problems.push(problem(
                "security_groups",
                "a load balancer needs a security group",
                Some("give it the load balancer's group (80 and 443 in)"),
            ));
        }
        let mut zones = BTreeSet::new();
        let mut vpcs = BTreeSet::new();
        for s in &self.subnets {
            if let Some((address, subnet)) = cx.referenced::<Subnet, _>(s) {
                if !zones.insert(subnet.zone.clone()) {
                    problems.push(problem(
                        "subnets",
                        format!("{address} is a second subnet in {}", subnet.zone),
                        Some("one subnet per availability zone"),
                    ));
                }
                if self.scheme == Scheme::InternetFacing && !subnet.public {
                    problems.push(problem(
                        "subnets",
                        format!("{address} is private, but the load balancer is internet-facing"),
                        Some("use the public subnets"),
                    ));
                }
                vpcs.insert(subnet.vpc);
            }
        }
        if self.subnets.len() < 2 {
            problems.push(problem(
                "subnets",
                format!(
                    "{} subnet(s): an Application Load Balancer needs subnets in two zones or more",
                    self.subnets.len()
                ),
                None,
            ));
        }
        if vpcs.len() > 1 {
            problems.push(problem(
                "subnets",
                "the subnets are in more than one VPC",
                None,
            ));
        }
    }

    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let lbs: Vec<_> = aws
            .elbv2()
            .describe_load_balancers()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk_error)?;
        let lbs: Vec<_> = lbs
            .into_iter()
            .filter(|l| l.r#type() == Some(&LoadBalancerTypeEnum::Application))
            .collect();
        let arns: Vec<String> = lbs
            .iter()
            .filter_map(|l| l.load_balancer_arn().map(str::to_string))
            .collect();
        let all_tags = elb_tags(aws, &arns).await?;
        let mut ours = Vec::new();
        for lb in lbs {
            let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
            let pairs = all_tags.get(&arn).cloned().unwrap_or_default();
            let as_str = || pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            if let Some(claim) = tags::claim_pairs(cx, as_str(), |o| o.arn.as_str() == arn) {
                ours.push((claim, lb, tags::user_pairs(as_str())));
            }
        }
        futures_util::stream::iter(ours.into_iter().map(|(claim, lb, user)| async move {
            let attrs = read_attributes(aws, lb.load_balancer_arn().unwrap_or_default()).await?;
            Ok::<_, ProviderError>(Found::new(
                claim,
                from_api(&lb, &attrs, user),
                outputs_of(&lb),
            ))
        }))
        .buffered(READS_AT_ONCE)
        .try_collect()
        .await
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<LoadBalancerOutputs, ProviderError> {
        let subnets: Vec<String> = subnet_ids(&self.subnets)?
            .into_iter()
            .map(|s| s.0)
            .collect();
        let groups: Vec<String> = self
            .security_groups
            .iter()
            .map(|g| g.get().map(|g| g.0.clone()).map_err(unresolved))
            .collect::<Result<_, _>>()?;
        let out = aws
            .elbv2()
            .create_load_balancer()
            .name(&self.name)
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(match self.scheme {
                Scheme::InternetFacing => LoadBalancerSchemeEnum::InternetFacing,
                Scheme::Internal => LoadBalancerSchemeEnum::Internal,
            })
            .ip_address_type(IpAddressType::Ipv4)
            .set_subnets(Some(subnets))
            .set_security_groups(Some(groups))
            .set_tags(Some(elb_tag_list(cx, &self.tags)))
            .send()
            .await
            .map_err(sdk_error)?;
        let lb = out
            .load_balancers()
            .first()
            .ok_or_else(|| missing("load balancer"))?;
        let outputs = outputs_of(lb);
        cx.created(&outputs).await?;
        set_attributes(aws, outputs.arn.as_str(), self).await?;
        wait_active(aws, cx, outputs.arn.as_str()).await
    }

    async fn resume(
        outputs: &LoadBalancerOutputs,
        aws: &Aws,
        cx: &OpCx,
    ) -> Result<LoadBalancerOutputs, ProviderError> {
        wait_active(aws, cx, outputs.arn.as_str()).await
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<LoadBalancerOutputs, ProviderError> {
        let arn = prior.outputs.arn.as_str();
        let has = |f: &str| changed.iter().any(|c| c == f);
        let subnets = async {
            if has("subnets") {
                let ids: Vec<String> = subnet_ids(&self.subnets)?
                    .into_iter()
                    .map(|s| s.0)
                    .collect();
                aws.elbv2()
                    .set_subnets()
                    .load_balancer_arn(arn)
                    .set_subnets(Some(ids))
                    .send()
                    .await
                    .map_err(sdk_error)?;
            }
            Ok::<_, ProviderError>(())
        };
        let groups = async {
            if has("security_groups") {
                let ids: Vec<String> = self
                    .security_groups
                    .iter()
                    .map(|g| g.get().map(|g| g.0.clone()).map_err(unresolved))
                    .collect::<Result<_, _>>()?;
                aws.elbv2()
                    .set_security_groups()
                    .load_balancer_arn(arn)
                    .set_security_groups(Some(ids))
                    .send()
                    .await
                    .map_err(sdk_error)?;
            }
            Ok(())
        };
        let attrs = async {
            if [
                "drop_invalid_header_fields",
                "deletion_protection",
                "idle_timeout_seconds",
            ]
            .iter()
            .any(|f| has(f))
            {
                set_attributes(aws, arn, self).await?;
            }
            Ok(())
        };
        let tags = async {
            if has("tags") {
                sync_elb_tags(aws, arn, &prior.spec.tags, &self.tags).await?;
            }
            Ok(())
        };
        futures_util::future::try_join4(subnets, groups, attrs, tags).await?;
        Ok(prior.outputs.clone())
    }

    async fn delete(
        outputs: &LoadBalancerOutputs,
        aws: &Aws,
        cx: &OpCx,
    ) -> Result<(), ProviderError> {
        let arn = outputs.arn.as_str();
        let sent = aws
            .elbv2()
            .delete_load_balancer()
            .load_balancer_arn(arn)
            .send()
            .await
            .map_err(sdk_error);
        if let Err(e) = &sent
            && e.code.as_deref() == Some("OperationNotPermitted")
        {
            return Err(ProviderError::new(
                "aws",
                madplan_core::ErrorClass::Fatal,
                format!(
                    "{}; the load balancer has deletion protection: set \
                     deletion_protection(false), apply, then destroy",
                    e.message
                ),
            )
            .with_code("OperationNotPermitted"));
        }
        gone_is_done(sent)?;
        // Its network interfaces leave the subnets and security groups
        // only once it is gone.
        cx.wait_for(
            &format!("load balancer {arn} to be deleted"),
            POLL,
            || async {
                let out = aws
                    .elbv2()
                    .describe_load_balancers()
                    .load_balancer_arns(arn)
                    .send()
                    .await
                    .map_err(sdk_error);
                match out {
                    Err(e) if e.is_not_found() => Ok(Readiness::Ready(())),
                    Err(e) => Err(e),
                    Ok(o) if o.load_balancers().is_empty() => Ok(Readiness::Ready(())),
                    Ok(_) => Ok(Readiness::Waiting("deleting".into())),
                }
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_sent_and_read_back() {
        let spec = LoadBalancer::builder()
            .name("prod-web")
            .subnets(["subnet-a", "subnet-b"])
            .security_groups(["sg-lb"])
            .deletion_protection(true)
            .idle_timeout_seconds(120)
            .build();
        let sent: BTreeMap<String, String> = attributes(&spec)
            .into_iter()
            .map(|a| (a.key().unwrap().to_string(), a.value().unwrap().to_string()))
            .collect();
        assert_eq!(sent[DROP_INVALID_HEADERS], "true");
        assert_eq!(sent[DELETION_PROTECTION], "true");
        assert_eq!(sent[IDLE_TIMEOUT], "120");
        let lb = aws_sdk_elasticloadbalancingv2::types::LoadBalancer::builder()
            .load_balancer_name("prod-web")
            .load_balancer_arn(
                "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/prod-web/abc",
            )
            .scheme(LoadBalancerSchemeEnum::InternetFacing)
            .availability_zones(
                aws_sdk_elasticloadbalancingv2::types::AvailabilityZone::builder()
                    .subnet_id("subnet-a")
                    .build(),
            )
            .availability_zones(
                aws_sdk_elasticloadbalancingv2::types::AvailabilityZone::builder()
                    .subnet_id("subnet-b")
                    .build(),
            )
            .security_groups("sg-lb")
            .dns_name("prod-web-1.us-east-1.elb.amazonaws.com")
            .canonical_hosted_zone_id("Z35SXDOTRQ7X7K")
            .build();
        assert_eq!(from_api(&lb, &sent, BTreeMap::new()), spec);
        let out = outputs_of(&lb);
        assert_eq!(out.arn_suffix.as_str(), "app/prod-web/abc");
        assert_eq!(out.hosted_zone_id.as_str(), "Z35SXDOTRQ7X7K");
    }
}
