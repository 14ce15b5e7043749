//! The web tier: what runs the API behind the load balancer.
//!
//! - [`LatestAmi`], a data source: the AMI id AWS publishes in a public SSM
//!   parameter (Amazon Linux 2023), read at plan time;
//! - [`LaunchTemplate`]: what instances are launched from; every change
//!   makes a new version, and its `latest_version` output changes with it
//!   (`OUTPUTS_CHANGE_ON_UPDATE`);
//! - [`AutoScalingGroup`]: the instances in the private subnets, registered
//!   in the target groups, following `$Latest` or a pinned version; its
//!   desired capacity belongs to the autoscaler once created;
//! - [`ScalingRule`]: one typed rule (`Scale::out().when(..).by(1)`), made
//!   of a step scaling policy and the CloudWatch alarm that triggers it;
//! - [`TargetGroup`], [`LoadBalancer`], [`Listener`] and [`Certificate`]:
//!   the Application Load Balancer in front, its HTTP-to-HTTPS redirect,
//!   its HTTPS listener with a closed set of TLS policies, and the ACM
//!   certificate (DNS validation) that listener waits for.
//!
//! [`blueprint::web_tier`] adds all of it on top of the two-tier network.

use std::collections::HashMap;

use madplan_core::{Input, IntoInput, Kinds, ProviderError, Ref};
use serde::{Deserialize, Serialize};

mod ami;
mod autoscaling;
pub mod blueprint;
mod certificate;
mod launch_template;
mod listener;
mod load_balancer;
mod scaling;
mod target_group;

pub use ami::{AmiOutputs, LatestAmi};
pub use autoscaling::{
    AutoScalingGroup, AutoScalingGroupOutputs, HealthCheckType, TemplateVersion,
};
pub use certificate::{
    Certificate, CertificateOutputs, DnsValidation, KeyAlgorithm, ValidationRecord,
};
pub use launch_template::{
    HttpTokens, InstanceType, LaunchTemplate, LaunchTemplateOutputs, MetadataOptions, RootVolume,
    UserData, VolumeType,
};
pub use listener::{Listener, ListenerAction, ListenerOutputs, ListenerProtocol, TlsPolicy};
pub use load_balancer::{LoadBalancer, LoadBalancerOutputs, Scheme};
pub use scaling::{
    Comparison, Condition, Direction, Metric, MetricSource, Minutes, PerMinute, Percent, Scale,
    ScalingRule, ScalingRuleOutputs, Seconds, Statistic, Threshold, minutes, pct, per_minute,
    seconds,
};
pub use target_group::{HealthCheck, TargetGroup, TargetGroupOutputs, TargetProtocol};

use crate::network::id_type;

pub(crate) fn register(kinds: &mut Kinds) {
    kinds.register_data::<LatestAmi>();
    kinds.register::<LaunchTemplate>();
    kinds.register::<AutoScalingGroup>();
    kinds.register::<ScalingRule>();
    kinds.register::<TargetGroup>();
    kinds.register::<LoadBalancer>();
    kinds.register::<Listener>();
    kinds.register::<Certificate>();
}

/// The load balancer's and target group's ARN and CloudWatch dimension
/// values are the types of [`crate::lb`], which the WAF and the alarms take
/// too: `&Ref<LoadBalancer>` converts into [`LoadBalancerArn`] and
/// [`LoadBalancerArnSuffix`], `&Ref<TargetGroup>` into
/// [`TargetGroupArnSuffix`].
pub use crate::lb::{
    LoadBalancerArn, LoadBalancerDimension as LoadBalancerArnSuffix,
    TargetGroupDimension as TargetGroupArnSuffix,
};

id_type!(
    /// An AMI id (`ami-...`).
    AmiId, LatestAmi, "image_id"
);
id_type!(
    /// A launch template id (`lt-...`).
    LaunchTemplateId, LaunchTemplate, "launch_template_id"
);
id_type!(
    /// An auto-scaling group's name (what CloudWatch's
    /// `AutoScalingGroupName` dimension takes).
    AutoScalingGroupName, AutoScalingGroup, "name"
);
id_type!(
    /// A target group's ARN.
    TargetGroupArn, TargetGroup, "arn"
);
id_type!(
    /// A load balancer's DNS name (what a CNAME or proxied record points at).
    LoadBalancerDnsName, LoadBalancer, "dns_name"
);
id_type!(
    /// The Route 53 hosted zone id of a load balancer's DNS name (for alias
    /// records).
    CanonicalHostedZoneId, LoadBalancer, "hosted_zone_id"
);
id_type!(
    /// A listener's ARN.
    ListenerArn, Listener, "arn"
);
id_type!(
    /// An ACM certificate's ARN.
    CertificateArn, Certificate, "arn"
);

/// The part of an ELB ARN after `loadbalancer/` or before nothing: the value
/// CloudWatch dimensions take (`app/NAME/ID`, `targetgroup/NAME/ID`).
pub(crate) fn arn_suffix(arn: &str) -> String {
    match arn.split_once(":loadbalancer/") {
        Some((_, rest)) => rest.to_string(),
        None => arn
            .rsplit_once(':')
            .map_or_else(|| arn.to_string(), |(_, rest)| rest.to_string()),
    }
}

/// The tags of ELB resources by ARN, read 20 ARNs a call (the API's limit),
/// the batches at once.
pub(crate) async fn elb_tags(
    aws: &crate::Aws,
    arns: &[String],
) -> Result<HashMap<String, Vec<(String, String)>>, ProviderError> {
    let calls = arns.chunks(20).map(|batch| async move {
        aws.elbv2()
            .describe_tags()
            .set_resource_arns(Some(batch.to_vec()))
            .send()
            .await
            .map_err(crate::error::sdk_error)
    });
    let mut out = HashMap::new();
    for answer in futures_util::future::try_join_all(calls).await? {
        for d in answer.tag_descriptions() {
            let Some(arn) = d.resource_arn() else {
                continue;
            };
            out.insert(
                arn.to_string(),
                d.tags()
                    .iter()
                    .filter_map(|t| {
                        Some((t.key()?.to_string(), t.value().unwrap_or("").to_string()))
                    })
                    .collect(),
            );
        }
    }
    Ok(out)
}

/// ELB tags for a create call: madplan's and the user's.
pub(crate) fn elb_tag_list(
    cx: &madplan_core::OpCx,
    user: &std::collections::BTreeMap<String, String>,
) -> Vec<aws_sdk_elasticloadbalancingv2::types::Tag> {
    crate::tags::pairs(cx, user)
        .into_iter()
        .map(|(k, v)| {
            aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
        })
        .collect()
}

/// Brings the user tags of an ELB resource from `before` to `after`.
pub(crate) async fn sync_elb_tags(
    aws: &crate::Aws,
    arn: &str,
    before: &std::collections::BTreeMap<String, String>,
    after: &std::collections::BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let (stale, set) = crate::tags::changes(before, after);
    if !stale.is_empty() {
        aws.elbv2()
            .remove_tags()
            .resource_arns(arn)
            .set_tag_keys(Some(stale))
            .send()
            .await
            .map_err(crate::error::sdk_error)?;
    }
    if !set.is_empty() {
        aws.elbv2()
            .add_tags()
            .resource_arns(arn)
            .set_tags(Some(
                set.into_iter()
                    .map(|(k, v)| {
                        aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                            .key(k)
                            .value(v)
                            .build()
                    })
                    .collect(),
            ))
            .send()
            .await
            .map_err(crate::error::sdk_error)?;
    }
    Ok(())
}

/// Why `name` is not a valid load balancer or target group name: 1 to 32
/// letters, digits and hyphens, not starting or ending with a hyphen.
pub(crate) fn elb_name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 32 {
        return Some(format!(
            "{name:?} has {} characters; ELB names take 1 to 32",
            name.len()
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Some(format!("{name:?} starts or ends with a hyphen"));
    }
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        .map(|c| format!("{name:?} contains {c:?}; ELB names take letters, digits and hyphens"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_suffixes_are_the_cloudwatch_dimension_values() {
        assert_eq!(
            arn_suffix(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/prod-web/50dc6c495c0c9188"
            ),
            "app/prod-web/50dc6c495c0c9188"
        );
        assert_eq!(
            arn_suffix(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/prod-api/73e2d6bc24d8a067"
            ),
            "targetgroup/prod-api/73e2d6bc24d8a067"
        );
    }

    #[test]
    fn elb_names() {
        assert_eq!(elb_name_problem("prod-web-1"), None);
        assert!(elb_name_problem("-web").is_some());
        assert!(elb_name_problem("web_1").is_some());
        assert!(elb_name_problem(&"a".repeat(33)).is_some());
    }
}
