//! The association of a web ACL with a load balancer.

use futures_util::{StreamExt, TryStreamExt};
use madplan_core::{Found, Input, IntoInput, Observed, OpCx, ProviderError, RefreshCx, Resource};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::WebAclArn;
use crate::Aws;
use crate::lb::LoadBalancerArn;
use crate::network::gone_is_done;
use crate::support::{READS_AT_ONCE, aws_error, claim_tracked, resolved};

/// A web ACL protecting a load balancer.
///
/// Associations carry no tags: a refresh asks WAF which ACL protects each
/// tracked load balancer (`GetWebACLForResource`, a bounded number at
/// once). `AssociateWebACL` is idempotent, so a create retried after a lost
/// answer does no harm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct WebAclAssociation {
    /// The ACL.
    #[builder(setter(transform = |a: impl IntoInput<WebAclArn>| a.into_input()))]
    pub web_acl: Input<WebAclArn>,
    /// The load balancer it protects.
    #[builder(setter(transform = |r: impl IntoInput<LoadBalancerArn>| r.into_input()))]
    pub resource: Input<LoadBalancerArn>,
}

/// What an association yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebAclAssociationOutputs {
    /// The load balancer's ARN.
    pub resource_arn: LoadBalancerArn,
    /// The ACL's ARN.
    pub web_acl_arn: WebAclArn,
}

async fn associate(
    aws: &Aws,
    spec: &WebAclAssociation,
) -> Result<WebAclAssociationOutputs, ProviderError> {
    let (acl, lb) = (resolved(&spec.web_acl)?, resolved(&spec.resource)?);
    aws.wafv2()
        .associate_web_acl()
        .web_acl_arn(acl.as_str())
        .resource_arn(lb.as_str())
        .send()
        .await
        .map_err(aws_error)?;
    Ok(WebAclAssociationOutputs {
        resource_arn: lb.clone(),
        web_acl_arn: acl.clone(),
    })
}

impl Resource for WebAclAssociation {
    const KIND: &'static str = "aws.waf_web_acl_association";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["resource"];
    type Provider = Aws;
    type Outputs = WebAclAssociationOutputs;

    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let tracked: Vec<LoadBalancerArn> = cx
            .tracked
            .iter()
            .map(|t| t.outputs.resource_arn.clone())
            .collect();
        let reads = tracked.into_iter().map(|lb| async move {
            let got = aws
                .wafv2()
                .get_web_acl_for_resource()
                .resource_arn(lb.as_str())
                .send()
                .await
                .map_err(aws_error);
            let acl = match got {
                Ok(o) => o.web_acl().map(|a| a.arn().to_string()),
                // The load balancer is gone, and the association with it.
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e),
            };
            let Some(acl) = acl else { return Ok(None) };
            let Some(claim) = claim_tracked(cx, |o| o.resource_arn == lb) else {
                return Ok(None);
            };
            Ok(Some(Found::new(
                claim,
                WebAclAssociation {
                    web_acl: Input::Value(WebAclArn(acl.clone())),
                    resource: Input::Value(lb.clone()),
                },
                WebAclAssociationOutputs {
                    resource_arn: lb,
                    web_acl_arn: WebAclArn(acl),
                },
            )))
        });
        let found: Vec<Option<Found<Self>>> = futures_util::stream::iter(reads)
            .buffered(READS_AT_ONCE)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(
        &self,
        aws: &Aws,
        cx: &OpCx,
    ) -> Result<WebAclAssociationOutputs, ProviderError> {
        let outputs = associate(aws, self).await?;
        cx.created(&outputs).await?;
        Ok(outputs)
    }

    /// Another ACL for the same load balancer: `AssociateWebACL` replaces
    /// the association in place.
    async fn update(
        &self,
        _prior: &Observed<Self>,
        _changed: &[String],
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<WebAclAssociationOutputs, ProviderError> {
        associate(aws, self).await
    }

    async fn delete(
        outputs: &WebAclAssociationOutputs,
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        gone_is_done(
            aws.wafv2()
                .disassociate_web_acl()
                .resource_arn(outputs.resource_arn.as_str())
                .send()
                .await
                .map_err(aws_error),
        )
    }
}
