//! Typed handles of the web tier's load balancer and target group, as the
//! WAF association and the CloudWatch alarms take them.
//!
//! Each is an [`madplan_core::Input`] of a newtype, so a WAF association
//! cannot be given a target group's ARN by mistake, nor an alarm an ARN
//! where CloudWatch wants the `app/NAME/ID` dimension value. They convert
//! from plain strings, and from the web tier's handles:
//! `&Ref<LoadBalancer>` into [`LoadBalancerArn`] and
//! [`LoadBalancerDimension`], `&Ref<TargetGroup>` into
//! [`TargetGroupDimension`].

use crate::support::typed_string;

typed_string!(
    /// A load balancer's ARN
    /// (`arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID`),
    /// which a WAF web ACL is associated with.
    LoadBalancerArn, crate::web::LoadBalancer, "arn"
);

typed_string!(
    /// The `LoadBalancer` dimension of the `AWS/ApplicationELB` metrics:
    /// the ARN's part after `loadbalancer/` (`app/NAME/ID`).
    LoadBalancerDimension, crate::web::LoadBalancer, "arn_suffix"
);

typed_string!(
    /// The `TargetGroup` dimension of the `AWS/ApplicationELB` metrics:
    /// the ARN's part from `targetgroup/` on (`targetgroup/NAME/ID`).
    TargetGroupDimension, crate::web::TargetGroup, "arn_suffix"
);

impl LoadBalancerDimension {
    /// The dimension value of a load balancer ARN, when it is one.
    pub fn from_arn(arn: &str) -> Option<Self> {
        arn.split_once(":loadbalancer/")
            .map(|(_, rest)| Self(rest.to_string()))
            .filter(|d| d.0.starts_with("app/") || d.0.starts_with("net/"))
    }
}

impl TargetGroupDimension {
    /// The dimension value of a target group ARN, when it is one.
    pub fn from_arn(arn: &str) -> Option<Self> {
        arn.find("targetgroup/").map(|i| Self(arn[i..].to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimensions_come_from_arns() {
        assert_eq!(
            LoadBalancerDimension::from_arn(
                "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/50dc6c495c0c9188"
            ),
            Some(LoadBalancerDimension("app/web/50dc6c495c0c9188".into()))
        );
        assert_eq!(
            TargetGroupDimension::from_arn(
                "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/app/73e2d6bc24d8a067"
            ),
            Some(TargetGroupDimension(
                "targetgroup/app/73e2d6bc24d8a067".into()
            ))
        );
        assert_eq!(LoadBalancerDimension::from_arn("arn:aws:sns:x"), None);
    }
}
