//! WAF in front of the load balancer: the web ACL with the seed's rules
//! ([`WebAcl`], [`seed_rules`]), its association with the load balancer
//! ([`WebAclAssociation`]) and its logging to CloudWatch Logs
//! ([`Logging`]).
//!
//! The association is a kind of its own rather than a field of the ACL:
//! the ACL and the load balancer live and change independently (the ACL can
//! exist before the load balancer, and a replaced load balancer must not
//! replace the ACL), WAF answers for an association with its own calls
//! (`AssociateWebACL`, `GetWebACLForResource`, `DisassociateWebACL`), and
//! one ACL may protect several load balancers. Pointing an association at
//! another ACL is an in-place update (`AssociateWebACL` replaces the
//! association); pointing it at another load balancer replaces it.
//!
//! ```
//! use madplan_aws::waf::{Logging, Visibility, WebAcl, WebAclAssociation, seed_rules};
//! use madplan_aws::observability::{LogGroup, Retention};
//! use madplan_core::Environment;
//!
//! let mut env = Environment::new("production");
//! let acl = env.add("main", WebAcl::builder()
//!     .name("madplan-production")
//!     .rules(seed_rules("madplan-production"))
//!     .visibility(Visibility::on("madplan-production"))
//!     .build());
//! env.add("alb", WebAclAssociation::builder()
//!     .web_acl(&acl)
//!     .resource("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188")
//!     .build());
//! let logs = env.add("waf", LogGroup::builder().name("aws-waf-logs-madplan-production").retention(Retention::Days30).build());
//! env.add("main", Logging::builder().web_acl(&acl).destination(&logs).build());
//! ```

use madplan_core::Kinds;

use crate::support::typed_string;

mod association;
mod logging;
mod web_acl;

pub use association::{WebAclAssociation, WebAclAssociationOutputs};
pub use logging::{Logging, LoggingOutputs, RedactedField, WAF_LOG_GROUP_PREFIX};
pub use web_acl::{
    AggregateKey, AwsManagedGroup, BotInspection, DefaultAction, Fallback, MAX_RATE_LIMIT,
    MIN_RATE_LIMIT, ManagedRules, RateLimit, RuleAction, RuleKind, Visibility, WafRule, WebAcl,
    WebAclOutputs, Window, seed_rules,
};

pub(crate) fn register(kinds: &mut Kinds) {
    kinds.register::<WebAcl>();
    kinds.register::<WebAclAssociation>();
    kinds.register::<Logging>();
}

typed_string!(
    /// A web ACL's ARN.
    WebAclArn, WebAcl, "arn"
);
