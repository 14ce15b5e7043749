//! Elastic IP addresses and NAT gateways: the way out to the internet for
//! private subnets.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::types::{ConnectivityType, DomainType, NatGatewayState, ResourceType};
use madplan_core::{
    Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, Readiness, RefreshCx,
    Resource, ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::subnet::Subnet;
use super::{
    AllocationId, InternetGatewayId, NatGatewayId, PublicIp, SubnetId, find_all, gone_is_done,
    missing, unresolved,
};
use crate::error::sdk_error;
use crate::{Aws, tags};

/// How often a NAT gateway's state is read while waiting for it.
const POLL: Duration = Duration::from_secs(5);

/// An Elastic IP address (VPC domain), e.g. the fixed public address of a
/// NAT gateway that partners allow-list.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct ElasticIp {
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// What an Elastic IP yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ElasticIpOutputs {
    /// Its allocation id (`eipalloc-...`).
    pub allocation_id: AllocationId,
    /// The public IPv4 address.
    pub public_ip: PublicIp,
}

impl Resource for ElasticIp {
    const KIND: &'static str = "aws.elastic_ip";
    type Provider = Aws;
    type Outputs = ElasticIpOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        // DescribeAddresses is not paginated: one answer holds them all.
        let items = find_all(
            cx,
            "allocation-id",
            |o| o.allocation_id.as_str(),
            |filters| async move {
                aws.ec2()
                    .describe_addresses()
                    .set_filters(Some(filters))
                    .send()
                    .await
                    .map(|out| out.addresses().to_vec())
                    .map_err(sdk_error)
            },
        )
        .await?;
        Ok(items
            .into_iter()
            .map(|(claim, id, a)| {
                Found::new(
                    claim,
                    ElasticIp {
                        tags: tags::user(a.tags()),
                    },
                    ElasticIpOutputs {
                        allocation_id: AllocationId(id),
                        public_ip: PublicIp(a.public_ip().unwrap_or_default().to_string()),
                    },
                )
            })
            .collect())
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<ElasticIpOutputs, ProviderError> {
        let out = aws
            .ec2()
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tags::spec(ResourceType::ElasticIp, cx, &self.tags))
            .customize()
            .config_override(crate::resend::once_if_lost())
            .send()
            .await
            .map_err(sdk_error)?;
        let outputs = ElasticIpOutputs {
            allocation_id: AllocationId(
                out.allocation_id()
                    .ok_or_else(|| missing("allocation id"))?
                    .to_string(),
            ),
            public_ip: PublicIp(out.public_ip().unwrap_or_default().to_string()),
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
    ) -> Result<ElasticIpOutputs, ProviderError> {
        if changed.iter().any(|c| c == "tags") {
            tags::sync(
                aws.ec2(),
                prior.outputs.allocation_id.as_str(),
                &prior.spec.tags,
                &self.tags,
            )
            .await?;
        }
        Ok(prior.outputs.clone())
    }

    async fn delete(
        outputs: &ElasticIpOutputs,
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        // A released address answers InvalidAllocationID.NotFound.
        gone_is_done(
            aws.ec2()
                .release_address()
                .allocation_id(outputs.allocation_id.as_str())
                .send()
                .await
                .map_err(sdk_error),
        )
    }
}

/// A public NAT gateway in a public subnet, with an Elastic IP: private
/// subnets whose route table sends `0.0.0.0/0` to it reach the internet
/// without being reachable from it. Creating one waits until it is
/// `available` (a minute or two on AWS).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct NatGateway {
    /// The public subnet it lives in (its availability zone is the one it
    /// serves).
    #[builder(setter(transform = |v: impl IntoInput<SubnetId>| v.into_input()))]
    pub subnet: Input<SubnetId>,
    /// Its Elastic IP.
    #[builder(setter(transform = |v: impl IntoInput<AllocationId>| v.into_input()))]
    pub elastic_ip: Input<AllocationId>,
    /// The internet gateway its traffic leaves through. AWS fails a public
    /// NAT gateway created in a VPC without one attached, so giving it
    /// orders the NAT gateway after the gateway. The API does not report
    /// it: it is compared with what was last applied.
    #[builder(default, setter(transform = |v: impl IntoInput<InternetGatewayId>| Some(v.into_input())))]
    pub internet_gateway: Option<Input<InternetGatewayId>>,
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// What a NAT gateway yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NatGatewayOutputs {
    /// Its id.
    pub nat_gateway_id: NatGatewayId,
    /// The public address its traffic leaves from.
    #[serde(default)]
    pub public_ip: String,
}

/// Reads a NAT gateway's state: ready once `available`, an error if it
/// failed or is gone.
async fn nat_readiness(aws: &Aws, id: &str) -> Result<Readiness<NatGatewayOutputs>, ProviderError> {
    let out = aws
        .ec2()
        .describe_nat_gateways()
        .nat_gateway_ids(id)
        .send()
        .await
        .map_err(sdk_error)?;
    let Some(n) = out.nat_gateways().first() else {
        return Ok(Readiness::Waiting("not visible yet".into()));
    };
    match n.state() {
        Some(NatGatewayState::Available) => Ok(Readiness::Ready(NatGatewayOutputs {
            nat_gateway_id: NatGatewayId(id.to_string()),
            public_ip: public_ip(n),
        })),
        Some(
            s @ (NatGatewayState::Failed | NatGatewayState::Deleting | NatGatewayState::Deleted),
        ) => Err(ProviderError::new(
            "aws",
            madplan_core::ErrorClass::Fatal,
            format!(
                "NAT gateway {id} is {} instead of becoming available: {} ({}); \
                     check that its subnet is public and its VPC has an internet gateway",
                s.as_str(),
                n.failure_message().unwrap_or("no reason given"),
                n.failure_code().unwrap_or("no code"),
            ),
        )
        .with_code(n.failure_code().unwrap_or("NatGatewayFailed"))),
        s => Ok(Readiness::Waiting(
            s.map_or("unknown", NatGatewayState::as_str).to_string(),
        )),
    }
}

fn public_ip(n: &aws_sdk_ec2::types::NatGateway) -> String {
    n.nat_gateway_addresses()
        .iter()
        .find_map(|a| a.public_ip())
        .unwrap_or_default()
        .to_string()
}

async fn wait_available(
    aws: &Aws,
    cx: &OpCx,
    id: &str,
) -> Result<NatGatewayOutputs, ProviderError> {
    cx.wait_for(&format!("NAT gateway {id} to be available"), POLL, || {
        nat_readiness(aws, id)
    })
    .await
}

impl Resource for NatGateway {
    const KIND: &'static str = "aws.nat_gateway";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["subnet", "elastic_ip"];
    const WRITE_ONLY: &'static [&'static str] = &["internet_gateway"];
    // A route to a deleted NAT gateway becomes a blackhole; AWS does not
    // refuse the delete, so route tables need not let go first.
    const HELD_BY_DEPENDENTS: bool = false;
    const WAIT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
    type Provider = Aws;
    type Outputs = NatGatewayOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if let Some((address, subnet)) = cx.referenced::<Subnet, _>(&self.subnet)
            && !subnet.public
        {
            problems.push(problem(
                "subnet",
                format!("{address} is private: a public NAT gateway must sit in a public subnet"),
                Some("put it in the zone's public subnet (the one routed to the internet gateway)"),
            ));
        }
    }

    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let items = find_all(
            cx,
            "nat-gateway-id",
            |o| o.nat_gateway_id.as_str(),
            // This one call names its filters `Filter`, not `Filters`.
            |filters| async move {
                aws.ec2()
                    .describe_nat_gateways()
                    .set_filter(Some(filters))
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .map_err(sdk_error)
            },
        )
        .await?;
        Ok(items
            .into_iter()
            // A deleted NAT gateway stays listed for about an hour.
            .filter(|(_, _, n)| {
                !matches!(
                    n.state(),
                    Some(
                        NatGatewayState::Deleted
                            | NatGatewayState::Deleting
                            | NatGatewayState::Failed
                    )
                )
            })
            .map(|(claim, id, n)| {
                let allocation = n
                    .nat_gateway_addresses()
                    .iter()
                    .find(|a| a.is_primary().unwrap_or(true))
                    .and_then(|a| a.allocation_id())
                    .unwrap_or_default()
                    .to_string();
                Found::new(
                    claim,
                    NatGateway {
                        subnet: Input::Value(SubnetId(n.subnet_id().unwrap_or_default().into())),
                        elastic_ip: Input::Value(AllocationId(allocation)),
                        internet_gateway: None,
                        tags: tags::user(n.tags()),
                    },
                    NatGatewayOutputs {
                        public_ip: public_ip(&n),
                        nat_gateway_id: NatGatewayId(id),
                    },
                )
            })
            .collect())
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<NatGatewayOutputs, ProviderError> {
        let out = aws
            .ec2()
            .create_nat_gateway()
            .subnet_id(self.subnet.get().map_err(unresolved)?.as_str())
            .allocation_id(self.elastic_ip.get().map_err(unresolved)?.as_str())
            .connectivity_type(ConnectivityType::Public)
            .client_token(cx.client_token())
            .tag_specifications(tags::spec(ResourceType::Natgateway, cx, &self.tags))
            .customize()
            .config_override(crate::resend::once_if_lost())
            .send()
            .await
            .map_err(sdk_error)?;
        let id = out
            .nat_gateway()
            .and_then(|n| n.nat_gateway_id())
            .ok_or_else(|| missing("NAT gateway id"))?
            .to_string();
        cx.created(&NatGatewayOutputs {
            nat_gateway_id: NatGatewayId(id.clone()),
            public_ip: String::new(),
        })
        .await?;
        wait_available(aws, cx, &id).await
    }

    async fn resume(
        outputs: &NatGatewayOutputs,
        aws: &Aws,
        cx: &OpCx,
    ) -> Result<NatGatewayOutputs, ProviderError> {
        wait_available(aws, cx, outputs.nat_gateway_id.as_str()).await
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<NatGatewayOutputs, ProviderError> {
        // `internet_gateway` only orders the create: nothing to send.
        if changed.iter().any(|c| c == "tags") {
            tags::sync(
                aws.ec2(),
                prior.outputs.nat_gateway_id.as_str(),
                &prior.spec.tags,
                &self.tags,
            )
            .await?;
        }
        Ok(prior.outputs.clone())
    }

    async fn delete(
        outputs: &NatGatewayOutputs,
        aws: &Aws,
        cx: &OpCx,
    ) -> Result<(), ProviderError> {
        let id = outputs.nat_gateway_id.as_str();
        let sent = aws
            .ec2()
            .delete_nat_gateway()
            .nat_gateway_id(id)
            .send()
            .await
            .map_err(sdk_error);
        if let Err(e) = sent {
            return if e.is_not_found() { Ok(()) } else { Err(e) };
        }
        // Its Elastic IP stays in use, and its interface in the subnet,
        // until the gateway is `deleted`: wait, so that what it used can go.
        cx.wait_for(&format!("NAT gateway {id} to be deleted"), POLL, || async {
            let out = aws
                .ec2()
                .describe_nat_gateways()
                .nat_gateway_ids(id)
                .send()
                .await
                .map_err(sdk_error);
            match out {
                Err(e) if e.is_not_found() => Ok(Readiness::Ready(())),
                Err(e) => Err(e),
                Ok(out) => match out.nat_gateways().first().and_then(|n| n.state()) {
                    None | Some(NatGatewayState::Deleted | NatGatewayState::Failed) => {
                        Ok(Readiness::Ready(()))
                    }
                    Some(s) => Ok(Readiness::Waiting(s.as_str().to_string())),
                },
            }
        })
        .await
    }
}
