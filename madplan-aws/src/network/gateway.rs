//! Internet gateways.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::ResourceType;
use madplan_core::{Found, Input, IntoInput, Observed, OpCx, ProviderError, RefreshCx, Resource};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::{InternetGatewayId, VpcId, describe, find_all, missing, unresolved};
use crate::error::sdk_error;
use crate::support::has_code;
use crate::{Aws, tags};

/// An internet gateway attached to a VPC.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct InternetGateway {
    /// The VPC it is attached to.
    #[builder(setter(transform = |v: impl IntoInput<VpcId>| v.into_input()))]
    pub vpc: Input<VpcId>,
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// What an internet gateway yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InternetGatewayOutputs {
    /// Its id.
    pub internet_gateway_id: InternetGatewayId,
}

/// Attaches the gateway `igw` to `vpc`. A gateway already attached to
/// that very VPC (the SDK sent the call again after its answer was lost)
/// is done; attached elsewhere, it is refused.
async fn attach(aws: &Aws, igw: &str, vpc: &str) -> Result<(), ProviderError> {
    let attached = aws
        .ec2()
        .attach_internet_gateway()
        .internet_gateway_id(igw)
        .vpc_id(vpc)
        .send()
        .await
        .map_err(sdk_error);
    match attached {
        Err(e) if has_code(&e, "Resource.AlreadyAssociated") => {
            let out = aws
                .ec2()
                .describe_internet_gateways()
                .internet_gateway_ids(igw)
                .send()
                .await
                .map_err(sdk_error)?;
            let here = out
                .internet_gateways()
                .iter()
                .flat_map(|g| g.attachments())
                .any(|a| a.vpc_id() == Some(vpc));
            if here { Ok(()) } else { Err(e) }
        }
        other => other.map(drop),
    }
}

async fn detach(aws: &Aws, igw: &str, vpc: &str) -> Result<(), ProviderError> {
    match aws
        .ec2()
        .detach_internet_gateway()
        .internet_gateway_id(igw)
        .vpc_id(vpc)
        .send()
        .await
        .map_err(sdk_error)
    {
        Err(e) if !e.is_not_found() && e.code.as_deref() != Some("Gateway.NotAttached") => Err(e),
        _ => Ok(()),
    }
}

impl Resource for InternetGateway {
    const KIND: &'static str = "aws.internet_gateway";
    type Provider = Aws;
    type Outputs = InternetGatewayOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let items = find_all(
            cx,
            "internet-gateway-id",
            |o| o.internet_gateway_id.as_str(),
            describe!(aws.ec2().describe_internet_gateways()),
        )
        .await?;
        Ok(items
            .into_iter()
            .map(|(claim, id, g)| {
                let vpc = g
                    .attachments()
                    .iter()
                    .find_map(|a| a.vpc_id())
                    .unwrap_or_default()
                    .to_string();
                Found::new(
                    claim,
                    InternetGateway {
                        vpc: Input::Value(VpcId(vpc)),
                        tags: tags::user(g.tags()),
                    },
                    InternetGatewayOutputs {
                        internet_gateway_id: InternetGatewayId(id),
                    },
                )
            })
            .collect())
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<InternetGatewayOutputs, ProviderError> {
        let vpc = self.vpc.get().map_err(unresolved)?;
        let out = aws
            .ec2()
            .create_internet_gateway()
            .tag_specifications(tags::spec(ResourceType::InternetGateway, cx, &self.tags))
            .customize()
            .config_override(crate::resend::once_if_lost())
            .send()
            .await
            .map_err(sdk_error)?;
        let id = out
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .ok_or_else(|| missing("internet gateway id"))?
            .to_string();
        let outputs = InternetGatewayOutputs {
            internet_gateway_id: InternetGatewayId(id.clone()),
        };
        cx.created(&outputs).await?;
        attach(aws, &id, vpc.as_str()).await?;
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<InternetGatewayOutputs, ProviderError> {
        let id = prior.outputs.internet_gateway_id.as_str();
        let vpc = async {
            if changed.iter().any(|c| c == "vpc") {
                let old = prior.spec.vpc.get().map_err(unresolved)?;
                if !old.as_str().is_empty() {
                    detach(aws, id, old.as_str()).await?;
                }
                attach(aws, id, self.vpc.get().map_err(unresolved)?.as_str()).await?;
            }
            Ok::<_, ProviderError>(())
        };
        let tags = async {
            if changed.iter().any(|c| c == "tags") {
                tags::sync(aws.ec2(), id, &prior.spec.tags, &self.tags).await?;
            }
            Ok(())
        };
        futures_util::future::try_join(vpc, tags).await?;
        Ok(prior.outputs.clone())
    }

    async fn delete(
        outputs: &InternetGatewayOutputs,
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        let id = outputs.internet_gateway_id.as_str();
        let described = aws
            .ec2()
            .describe_internet_gateways()
            .internet_gateway_ids(id)
            .send()
            .await
            .map_err(sdk_error)?;
        let detaches = described
            .internet_gateways()
            .iter()
            .flat_map(|g| g.attachments())
            .filter_map(|a| a.vpc_id())
            .map(|vpc| detach(aws, id, vpc));
        futures_util::future::try_join_all(detaches).await?;
        aws.ec2()
            .delete_internet_gateway()
            .internet_gateway_id(id)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}
