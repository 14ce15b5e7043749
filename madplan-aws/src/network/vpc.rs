//! VPCs.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, VpcAttributeName};
use futures_util::{StreamExt, TryStreamExt};
use madplan_core::{
    Cidr, Found, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource, ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::{VpcId, describe, find_all, missing};
use crate::error::sdk_error;
use crate::{Aws, tags};

/// How many VPCs a refresh reads the DNS attributes of at once (two
/// requests each), so that an account with many VPCs is not throttled.
const VPC_READS_AT_ONCE: usize = 10;

/// A VPC.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct Vpc {
    /// The VPC's IPv4 block, /16 to /28.
    #[builder(setter(into))]
    pub cidr: Cidr,
    /// Whether the Amazon DNS server answers in the VPC.
    #[builder(default = true)]
    pub dns_support: bool,
    /// Whether instances get public DNS host names.
    #[builder(default = true)]
    pub dns_hostnames: bool,
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// What a VPC yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VpcOutputs {
    /// Its id.
    pub vpc_id: VpcId,
}

pub(crate) fn check_block(
    field: &str,
    cidr: &Cidr,
    problems: &mut Vec<Problem>,
) -> Option<ipnet::Ipv4Net> {
    match cidr.parse() {
        Ok(net) if (16..=28).contains(&net.prefix_len()) => Some(net),
        Ok(net) => {
            problems.push(problem(
                field,
                format!("/{} is outside the sizes AWS allows", net.prefix_len()),
                Some("use a block from /16 to /28"),
            ));
            None
        }
        Err(e) => {
            problems.push(problem(field, e, None));
            None
        }
    }
}

async fn read_attr(aws: &Aws, id: &str, attr: VpcAttributeName) -> Result<bool, ProviderError> {
    let out = aws
        .ec2()
        .describe_vpc_attribute()
        .vpc_id(id)
        .attribute(attr.clone())
        .send()
        .await
        .map_err(sdk_error)?;
    let v = match attr {
        VpcAttributeName::EnableDnsSupport => out.enable_dns_support(),
        _ => out.enable_dns_hostnames(),
    };
    Ok(v.and_then(AttributeBooleanValue::value).unwrap_or(false))
}

async fn set_attr(
    aws: &Aws,
    id: &str,
    attr: VpcAttributeName,
    on: bool,
) -> Result<(), ProviderError> {
    let v = AttributeBooleanValue::builder().value(on).build();
    let call = aws.ec2().modify_vpc_attribute().vpc_id(id);
    let call = match attr {
        VpcAttributeName::EnableDnsSupport => call.enable_dns_support(v),
        _ => call.enable_dns_hostnames(v),
    };
    call.send().await.map_err(sdk_error)?;
    Ok(())
}

impl Resource for Vpc {
    const KIND: &'static str = "aws.vpc";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["cidr"];
    type Provider = Aws;
    type Outputs = VpcOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        check_block("cidr", &self.cidr, problems);
        if self.dns_hostnames && !self.dns_support {
            problems.push(problem(
                "dns_hostnames",
                "DNS host names need DNS support",
                Some("set dns_support(true) or dns_hostnames(false)"),
            ));
        }
    }

    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let items = find_all(
            cx,
            "vpc-id",
            |o| o.vpc_id.as_str(),
            describe!(aws.ec2().describe_vpcs()),
        )
        .await?;
        // DescribeVpcs does not return the DNS attributes and AWS has no
        // batch call for them: both of a VPC are read at once, and VPCs
        // concurrently with each other (a bounded number at a time).
        let reads = items.into_iter().map(|(claim, id, v)| async move {
            let (dns_support, dns_hostnames) = futures_util::future::try_join(
                read_attr(aws, &id, VpcAttributeName::EnableDnsSupport),
                read_attr(aws, &id, VpcAttributeName::EnableDnsHostnames),
            )
            .await?;
            Ok::<_, ProviderError>(Found::new(
                claim,
                Vpc {
                    cidr: Cidr::from(v.cidr_block().unwrap_or_default()),
                    dns_support,
                    dns_hostnames,
                    tags: tags::user(v.tags()),
                },
                VpcOutputs { vpc_id: VpcId(id) },
            ))
        });
        futures_util::stream::iter(reads)
            .buffered(VPC_READS_AT_ONCE)
            .try_collect()
            .await
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<VpcOutputs, ProviderError> {
        let out = aws
            .ec2()
            .create_vpc()
            .cidr_block(self.cidr.as_str())
            .tag_specifications(tags::spec(ResourceType::Vpc, cx, &self.tags))
            .customize()
            .config_override(crate::resend::once_if_lost())
            .send()
            .await
            .map_err(sdk_error)?;
        let id = out
            .vpc()
            .and_then(|v| v.vpc_id())
            .ok_or_else(|| missing("VPC id"))?
            .to_string();
        let outputs = VpcOutputs {
            vpc_id: VpcId(id.clone()),
        };
        cx.created(&outputs).await?;
        // New VPCs have DNS support on and host names off.
        if !self.dns_support {
            set_attr(aws, &id, VpcAttributeName::EnableDnsSupport, false).await?;
        }
        if self.dns_hostnames {
            set_attr(aws, &id, VpcAttributeName::EnableDnsHostnames, true).await?;
        }
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<VpcOutputs, ProviderError> {
        let id = prior.outputs.vpc_id.as_str();
        let dns = async {
            // Support must be on before host names can be, and host names
            // off before support can go: these go one after the other.
            if changed.iter().any(|c| c == "dns_support") && self.dns_support {
                set_attr(aws, id, VpcAttributeName::EnableDnsSupport, true).await?;
            }
            if changed.iter().any(|c| c == "dns_hostnames") {
                set_attr(
                    aws,
                    id,
                    VpcAttributeName::EnableDnsHostnames,
                    self.dns_hostnames,
                )
                .await?;
            }
            if changed.iter().any(|c| c == "dns_support") && !self.dns_support {
                set_attr(aws, id, VpcAttributeName::EnableDnsSupport, false).await?;
            }
            Ok::<_, ProviderError>(())
        };
        let tags = async {
            if changed.iter().any(|c| c == "tags") {
                tags::sync(aws.ec2(), id, &prior.spec.tags, &self.tags).await?;
            }
            Ok(())
        };
        futures_util::future::try_join(dns, tags).await?;
        Ok(prior.outputs.clone())
    }

    async fn delete(outputs: &VpcOutputs, aws: &Aws, _cx: &OpCx) -> Result<(), ProviderError> {
        aws.ec2()
            .delete_vpc()
            .vpc_id(outputs.vpc_id.as_str())
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}
