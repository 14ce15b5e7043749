//! The network slice: VPCs, subnets, internet gateways, route tables,
//! security groups and network ACLs, all on EC2.
//!
//! Every resource carries the `madplan:environment` and `madplan:address`
//! tags, and each kind is refreshed with one `Describe*` call filtered on the
//! environment tag (plus one more only when a tracked resource lost its tags),
//! whatever the number of resources.

use std::future::Future;

use aws_sdk_ec2::types::Filter;
use madplan_core::{Input, IntoInput, Kinds, ProviderError, Ref};
use serde::{Deserialize, Serialize};

use crate::tags;

mod acl;
pub mod blueprint;
mod gateway;
mod route_table;
mod security_group;
mod subnet;
mod vpc;

pub use acl::{AclAction, AclEntry, NetworkAcl, NetworkAclOutputs};
pub use gateway::{InternetGateway, InternetGatewayOutputs};
pub use route_table::{Route, RouteTable, RouteTableOutputs, RouteTarget};
pub use security_group::{Peer, Protocol, Rule, SecurityGroup, SecurityGroupOutputs};
pub use subnet::{Subnet, SubnetOutputs};
pub use vpc::{Vpc, VpcOutputs};

pub(crate) fn register(kinds: &mut Kinds) {
    kinds.register::<Vpc>();
    kinds.register::<Subnet>();
    kinds.register::<InternetGateway>();
    kinds.register::<RouteTable>();
    kinds.register::<SecurityGroup>();
    kinds.register::<NetworkAcl>();
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $res:ty, $output:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The id as AWS spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl IntoInput<$name> for &Ref<$res> {
            fn into_input(self) -> Input<$name> {
                self.output($output)
            }
        }

        impl IntoInput<$name> for &str {
            fn into_input(self) -> Input<$name> {
                Input::Value($name(self.to_string()))
            }
        }
    };
}

id_type!(
    /// A VPC id (`vpc-...`).
    VpcId, Vpc, "vpc_id"
);
id_type!(
    /// A subnet id (`subnet-...`).
    SubnetId, Subnet, "subnet_id"
);
id_type!(
    /// An internet gateway id (`igw-...`).
    InternetGatewayId, InternetGateway, "internet_gateway_id"
);
id_type!(
    /// A route table id (`rtb-...`).
    RouteTableId, RouteTable, "route_table_id"
);
id_type!(
    /// A security group id (`sg-...`).
    SecurityGroupId, SecurityGroup, "security_group_id"
);
id_type!(
    /// A network ACL id (`acl-...`).
    NetworkAclId, NetworkAcl, "network_acl_id"
);

/// An inclusive range of ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PortRange {
    /// The first port.
    pub from: i32,
    /// The last port.
    pub to: i32,
}

impl PortRange {
    /// A single port.
    pub fn port(p: i32) -> Self {
        Self { from: p, to: p }
    }

    /// `from` to `to`, inclusive.
    pub fn range(from: i32, to: i32) -> Self {
        Self { from, to }
    }

    /// Why the range is not valid, if it is not.
    pub fn problem(&self) -> Option<String> {
        if !(0..=65535).contains(&self.from) || !(0..=65535).contains(&self.to) {
            Some(format!(
                "port range {}-{} is outside 0-65535",
                self.from, self.to
            ))
        } else if self.from > self.to {
            Some(format!(
                "port range {}-{} starts after it ends",
                self.from, self.to
            ))
        } else {
            None
        }
    }
}

/// Lists everything a kind has in the environment: one filtered call, plus one
/// by id for tracked resources that the tag filter did not return (their tags
/// were removed by hand).
pub(crate) async fn find_all<T, F, Fut>(
    environment: &str,
    tracked_ids: Vec<String>,
    id_filter: &str,
    id_of: impl Fn(&T) -> Option<&str>,
    fetch: F,
) -> Result<Vec<T>, ProviderError>
where
    F: Fn(Vec<Filter>) -> Fut,
    Fut: Future<Output = Result<Vec<T>, ProviderError>>,
{
    let mut items = fetch(vec![tags::env_filter(environment)]).await?;
    let missing: Vec<String> = tracked_ids
        .into_iter()
        .filter(|id| !items.iter().any(|i| id_of(i) == Some(id.as_str())))
        .collect();
    if !missing.is_empty() {
        items.extend(fetch(vec![tags::filter(id_filter, missing)]).await?);
    }
    Ok(items)
}

/// The error for a response that lacks a field AWS always sends.
pub(crate) fn missing(what: &str) -> ProviderError {
    ProviderError::new(
        "aws",
        madplan_core::ErrorClass::Fatal,
        format!("the response has no {what}"),
    )
}

/// The error for an input the engine should have resolved.
pub(crate) fn unresolved(e: madplan_core::input::Unresolved) -> ProviderError {
    ProviderError::new("madplan", madplan_core::ErrorClass::Fatal, e.to_string())
}
