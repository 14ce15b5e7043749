//! Subnets.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType};
use madplan_core::{
    Address, Cidr, Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, RefreshCx,
    Resource, ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::vpc::{Vpc, check_block};
use super::{SubnetId, VpcId, describe, find_all, missing, unresolved};
use crate::error::sdk_error;
use crate::support::has_code;
use crate::{Aws, tags};

/// A subnet of a VPC in one availability zone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct Subnet {
    /// The VPC it belongs to.
    #[builder(setter(transform = |v: impl IntoInput<VpcId>| v.into_input()))]
    pub vpc: Input<VpcId>,
    /// Its IPv4 block, inside the VPC's.
    #[builder(setter(into))]
    pub cidr: Cidr,
    /// The availability zone, e.g. `us-east-1a`.
    #[builder(setter(into))]
    pub zone: String,
    /// Whether instances launched in it get a public IPv4 address.
    #[builder(default)]
    pub public: bool,
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// What a subnet yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubnetOutputs {
    /// Its id.
    pub subnet_id: SubnetId,
    /// Its ARN.
    pub arn: String,
}

/// The subnet of `cidr` in `vpc` if it carries the tags of `cx`'s
/// resource: one this resource made.
async fn made_by(
    aws: &Aws,
    cx: &OpCx,
    vpc: &str,
    cidr: &str,
) -> Result<Option<aws_sdk_ec2::types::Subnet>, ProviderError> {
    let out = aws
        .ec2()
        .describe_subnets()
        .filters(tags::filter("vpc-id", [vpc.to_string()]))
        .filters(tags::filter("cidr-block", [cidr.to_string()]))
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(out
        .subnets()
        .iter()
        .find(|s| tags::made_by(cx, s.tags()))
        .cloned())
}

async fn set_public(aws: &Aws, id: &str, on: bool) -> Result<(), ProviderError> {
    aws.ec2()
        .modify_subnet_attribute()
        .subnet_id(id)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(on).build())
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(())
}

impl Resource for Subnet {
    const KIND: &'static str = "aws.subnet";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["vpc", "cidr", "zone"];
    type Provider = Aws;
    type Outputs = SubnetOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        let net = check_block("cidr", &self.cidr, problems);
        if self.zone.trim().is_empty() {
            problems.push(problem(
                "zone",
                "the availability zone is empty",
                Some("e.g. us-east-1a"),
            ));
        }
        if let (Some(net), Some((vpc_address, vpc))) = (net, cx.referenced::<Vpc, _>(&self.vpc))
            && let Ok(vpc_net) = vpc.cidr.parse()
            && !madplan_core::net::contains(&vpc_net, &net)
        {
            problems.push(problem(
                "cidr",
                format!(
                    "{} is not inside {vpc_address}'s block {}",
                    self.cidr, vpc.cidr
                ),
                Some("pick a block within the VPC's"),
            ));
        }
    }

    fn validate_kind(all: &[(Address, Self)], _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        for (i, (a, s)) in all.iter().enumerate() {
            for (b, t) in &all[i + 1..] {
                if s.vpc != t.vpc {
                    continue;
                }
                if let (Ok(x), Ok(y)) = (s.cidr.parse(), t.cidr.parse())
                    && madplan_core::net::overlaps(&x, &y)
                {
                    problems.push(Problem {
                        address: Some(b.clone()),
                        field: Some("cidr".into()),
                        message: format!(
                            "{} overlaps {a}'s block {} in the same VPC",
                            t.cidr, s.cidr
                        ),
                        hint: Some("give every subnet of a VPC its own block".into()),
                    });
                }
            }
        }
    }

    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let items = find_all(
            cx,
            "subnet-id",
            |o| o.subnet_id.as_str(),
            describe!(aws.ec2().describe_subnets()),
        )
        .await?;
        Ok(items
            .into_iter()
            .map(|(claim, id, s)| {
                Found::new(
                    claim,
                    Subnet {
                        vpc: Input::Value(VpcId(s.vpc_id().unwrap_or_default().to_string())),
                        cidr: Cidr::from(s.cidr_block().unwrap_or_default()),
                        zone: s.availability_zone().unwrap_or_default().to_string(),
                        public: s.map_public_ip_on_launch().unwrap_or(false),
                        tags: tags::user(s.tags()),
                    },
                    SubnetOutputs {
                        subnet_id: SubnetId(id),
                        arn: s.subnet_arn().unwrap_or_default().to_string(),
                    },
                )
            })
            .collect())
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<SubnetOutputs, ProviderError> {
        let vpc = self.vpc.get().map_err(unresolved)?;
        let created = aws
            .ec2()
            .create_subnet()
            .vpc_id(vpc.as_str())
            .cidr_block(self.cidr.as_str())
            .availability_zone(&self.zone)
            .tag_specifications(tags::spec(ResourceType::Subnet, cx, &self.tags))
            .send()
            .await
            .map_err(sdk_error);
        let s = match created {
            Ok(out) => out.subnet().ok_or_else(|| missing("subnet"))?.clone(),
            // The block is taken in the VPC: by this very create when the
            // SDK sent it again after its answer was lost (the subnet then
            // carries this resource's tags), or by another subnet (refused).
            Err(e) if has_code(&e, "InvalidSubnet.Conflict") => {
                match made_by(aws, cx, vpc.as_str(), self.cidr.as_str()).await? {
                    Some(s) if s.availability_zone() == Some(self.zone.as_str()) => s,
                    _ => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        let outputs = SubnetOutputs {
            subnet_id: SubnetId(
                s.subnet_id()
                    .ok_or_else(|| missing("subnet id"))?
                    .to_string(),
            ),
            arn: s.subnet_arn().unwrap_or_default().to_string(),
        };
        // A new subnet answers whether it maps public addresses; set it
        // when that is not what the spec says (a subnet a region takes as
        // its zone's default starts public: moto does so for the first
        // subnet of a zone).
        let starts_public = s.map_public_ip_on_launch().unwrap_or(false);
        cx.created(&outputs).await?;
        if self.public != starts_public {
            set_public(aws, outputs.subnet_id.as_str(), self.public).await?;
        }
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<SubnetOutputs, ProviderError> {
        let id = prior.outputs.subnet_id.as_str();
        let public = async {
            if changed.iter().any(|c| c == "public") {
                set_public(aws, id, self.public).await?;
            }
            Ok::<_, ProviderError>(())
        };
        let tags = async {
            if changed.iter().any(|c| c == "tags") {
                tags::sync(aws.ec2(), id, &prior.spec.tags, &self.tags).await?;
            }
            Ok(())
        };
        futures_util::future::try_join(public, tags).await?;
        Ok(prior.outputs.clone())
    }

    async fn delete(outputs: &SubnetOutputs, aws: &Aws, _cx: &OpCx) -> Result<(), ProviderError> {
        aws.ec2()
            .delete_subnet()
            .subnet_id(outputs.subnet_id.as_str())
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}
