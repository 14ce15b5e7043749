//! IAM: roles with their trust, managed and inline policies, and instance
//! profiles that hand a role to EC2 instances.
//!
//! ```
//! use std::collections::BTreeMap;
//! use madplan_aws::iam::{InstanceProfile, PolicyArn, PolicyDocument, Role, Statement};
//! use madplan_core::Environment;
//!
//! let mut env = Environment::new("staging");
//! let role = env.add(
//!     "app",
//!     Role::builder()
//!         .name("staging-app")
//!         .trust(PolicyDocument::trust_service("ec2.amazonaws.com"))
//!         .managed_policies([PolicyArn::cloudwatch_agent_server(), PolicyArn::ssm_managed_instance_core()])
//!         .inline_policies(BTreeMap::from([(
//!             "logs".to_string(),
//!             PolicyDocument::new([Statement::allow(["logs:PutLogEvents"]).on(["*"])]),
//!         )]))
//!         .build(),
//! );
//! env.add("app", InstanceProfile::builder().name("staging-app").role(&role).build());
//! ```
//!
//! Refresh: roles are read with their trust, policies and tags in one
//! paginated `GetAccountAuthorizationDetails` call (IAM's only way to read
//! roles with their policies without a call per role); instance profiles
//! with one paginated `ListInstanceProfiles` under the path
//! `/madplan/ENVIRONMENT/`, their markers (lineage and address) being the
//! rest of their path, since IAM's list calls do not return tags.

use madplan_core::{Input, IntoInput, Kinds, Ref};
use serde::{Deserialize, Serialize};

mod instance_profile;
mod policy;
mod role;

pub use instance_profile::{InstanceProfile, InstanceProfileOutputs};
pub use policy::{Effect, POLICY_VERSION, PolicyDocument, Statement};
pub use role::{Role, RoleOutputs};

use crate::network::id_type;

/// The role VPC flow logs deliver through: trusted by
/// `vpc-flow-logs.amazonaws.com`, allowed to write to the streams of
/// `log_group` (`ARN:*`, usually a log group's `streams_arn` output).
pub fn flow_log_delivery_role(name: &str, log_group: impl IntoInput<String>) -> Role {
    let log_group = log_group.into_input();
    Role::builder()
        .name(name)
        .trust(PolicyDocument::trust_service(FLOW_LOGS_SERVICE))
        .inline_policies(std::collections::BTreeMap::from([(
            "deliver-flow-logs".to_string(),
            PolicyDocument::new([Statement::allow([
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:DescribeLogGroups",
                "logs:DescribeLogStreams",
            ])
            .on([log_group])]),
        )]))
        .build()
}

/// The service principal of VPC flow logs.
pub const FLOW_LOGS_SERVICE: &str = "vpc-flow-logs.amazonaws.com";

pub(crate) fn register(kinds: &mut Kinds) {
    kinds.register::<Role>();
    kinds.register::<InstanceProfile>();
}

id_type!(
    /// A role's name.
    RoleName, Role, "role_name"
);
id_type!(
    /// A role's ARN.
    RoleArn, Role, "arn"
);
id_type!(
    /// An instance profile's name.
    InstanceProfileName, InstanceProfile, "name"
);
id_type!(
    /// An instance profile's ARN.
    InstanceProfileArn, InstanceProfile, "arn"
);

/// The ARN of a managed policy.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PolicyArn(pub String);

impl PolicyArn {
    /// A policy by its full ARN.
    pub fn new(arn: impl Into<String>) -> Self {
        Self(arn.into())
    }

    /// An AWS managed policy of the `aws` partition by name, e.g.
    /// `ReadOnlyAccess`.
    pub fn aws_managed(name: &str) -> Self {
        Self(format!("arn:aws:iam::aws:policy/{name}"))
    }

    /// `CloudWatchAgentServerPolicy`: what the CloudWatch agent needs to
    /// publish metrics (the memory metric scaling uses) and logs.
    pub fn cloudwatch_agent_server() -> Self {
        Self::aws_managed("CloudWatchAgentServerPolicy")
    }

    /// `AmazonSSMManagedInstanceCore`: Session Manager and the SSM agent,
    /// instead of SSH.
    pub fn ssm_managed_instance_core() -> Self {
        Self::aws_managed("AmazonSSMManagedInstanceCore")
    }

    /// The ARN.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Why it is not a policy ARN, if it is not.
    pub fn problem(&self) -> Option<String> {
        let parts: Vec<&str> = self.0.splitn(6, ':').collect();
        (parts.len() != 6
            || parts[0] != "arn"
            || parts[2] != "iam"
            || !parts[5].starts_with("policy/"))
        .then(|| {
            format!(
                "{:?} is not a policy ARN (expected arn:PARTITION:iam::ACCOUNT:policy/NAME)",
                self.0
            )
        })
    }
}

/// Why `name` is not a valid IAM role or instance profile name, if it is
/// not: 1 to `max` characters among letters, digits and `+=,.@_-`.
pub(crate) fn name_problem(name: &str, max: usize) -> Option<String> {
    if name.is_empty() || name.len() > max {
        return Some(format!(
            "{name:?} has {} characters; IAM takes 1 to {max}",
            name.len()
        ));
    }
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c)))
        .map(|c| format!("{name:?} contains {c:?}; IAM names take letters, digits and +=,.@_-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_policy_arns() {
        assert_eq!(
            PolicyArn::cloudwatch_agent_server().as_str(),
            "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"
        );
        assert_eq!(
            PolicyArn::ssm_managed_instance_core().as_str(),
            "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
        );
        assert_eq!(PolicyArn::cloudwatch_agent_server().problem(), None);
        assert!(
            PolicyArn::new("CloudWatchAgentServerPolicy")
                .problem()
                .is_some()
        );
    }

    #[test]
    fn iam_names() {
        assert_eq!(name_problem("prod-app_role.1", 64), None);
        assert!(name_problem("", 64).is_some());
        assert!(name_problem("has space", 64).is_some());
        assert!(name_problem(&"x".repeat(65), 64).is_some());
    }
}
