//! The network slice: VPCs, subnets, internet gateways, route tables,
//! security groups and network ACLs, all on EC2.
//!
//! Every resource carries the `madplan:environment`, `madplan:address` and
//! `madplan:lineage` tags, and each kind is refreshed with one `Describe*`
//! call filtered on the environment tag (plus one more only when a tracked
//! resource lost its tags), whatever the number of resources. What another
//! state made under the same environment name is reported to the engine
//! with its lineage, which never touches it.
//!
//! References are typed: a subnet takes its VPC's handle,
//!
//! ```
//! use madplan_aws::network::{Subnet, Vpc};
//! use madplan_core::Environment;
//!
//! let mut env = Environment::new("staging");
//! let vpc = env.add("main", Vpc::builder().cidr("10.0.0.0/16").build());
//! env.add("a", Subnet::builder().vpc(&vpc).cidr("10.0.1.0/24").zone("us-east-1a").build());
//! ```
//!
//! and nothing else where a VPC is needed:
//!
//! ```compile_fail
//! # use madplan_aws::network::{Subnet, Vpc};
//! # use madplan_core::Environment;
//! # let mut env = Environment::new("staging");
//! # let vpc = env.add("main", Vpc::builder().cidr("10.0.0.0/16").build());
//! let a = env.add("a", Subnet::builder().vpc(&vpc).cidr("10.0.1.0/24").zone("us-east-1a").build());
//! // A subnet is not a VPC:
//! env.add("b", Subnet::builder().vpc(&a).cidr("10.0.2.0/24").zone("us-east-1a").build());
//! ```
//!
//! Required fields are checked by the compiler too: a subnet without a zone
//! does not build.
//!
//! ```compile_fail
//! # use madplan_aws::network::{Subnet, Vpc};
//! # use madplan_core::Environment;
//! # let mut env = Environment::new("staging");
//! # let vpc = env.add("main", Vpc::builder().cidr("10.0.0.0/16").build());
//! env.add("a", Subnet::builder().vpc(&vpc).cidr("10.0.1.0/24").build());
//! ```

use std::future::Future;

use aws_sdk_ec2::types::{Filter, Tag};
use madplan_core::{Claim, Input, IntoInput, Kinds, ProviderError, Ref, RefreshCx};
use serde::{Deserialize, Serialize};

use crate::tags;

mod acl;
pub mod blueprint;
mod gateway;
mod nat;
mod route_table;
mod security_group;
mod subnet;
mod vpc;

pub use acl::{AclAction, AclEntry, NetworkAcl, NetworkAclOutputs};
pub use gateway::{InternetGateway, InternetGatewayOutputs};
pub use nat::{ElasticIp, ElasticIpOutputs, NatGateway, NatGatewayOutputs};
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
    kinds.register::<ElasticIp>();
    kinds.register::<NatGateway>();
}

/// Declares a newtype around the string AWS uses to name something (an id,
/// an ARN), and the typed handle conversion from the kind that yields it.
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
id_type!(
    /// An Elastic IP's allocation id (`eipalloc-...`).
    AllocationId, ElasticIp, "allocation_id"
);
id_type!(
    /// An Elastic IP's public address (what a partner allow-lists).
    PublicIp, ElasticIp, "public_ip"
);
id_type!(
    /// A NAT gateway id (`nat-...`).
    NatGatewayId, NatGateway, "nat_gateway_id"
);
pub(crate) use id_type;

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

/// An EC2 item that has an id and tags.
pub(crate) trait Item {
    fn id(&self) -> Option<&str>;
    fn tags(&self) -> &[Tag];
}

macro_rules! item {
    ($t:ty, $id:ident) => {
        impl Item for $t {
            fn id(&self) -> Option<&str> {
                self.$id()
            }
            fn tags(&self) -> &[Tag] {
                <$t>::tags(self)
            }
        }
    };
}

item!(aws_sdk_ec2::types::Vpc, vpc_id);
item!(aws_sdk_ec2::types::Subnet, subnet_id);
item!(aws_sdk_ec2::types::InternetGateway, internet_gateway_id);
item!(aws_sdk_ec2::types::RouteTable, route_table_id);
item!(aws_sdk_ec2::types::SecurityGroup, group_id);
item!(aws_sdk_ec2::types::NetworkAcl, network_acl_id);
item!(aws_sdk_ec2::types::Address, allocation_id);
item!(aws_sdk_ec2::types::NatGateway, nat_gateway_id);
item!(aws_sdk_ec2::types::LaunchTemplate, launch_template_id);

/// Sends a paginated `Describe*` call with the given filters and collects
/// every item.
macro_rules! describe {
    ($call:expr) => {
        |filters| async move {
            $call
                .set_filters(Some(filters))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err($crate::error::sdk_error)
        }
    };
}
pub(crate) use describe;

/// Lists everything of a kind that belongs to the environment, with why
/// each item is claimed (see [`RefreshCx::claim`]) and its id: one call
/// filtered on the environment tag, plus one by id for tracked resources the
/// tag filter did not return (their tags were removed by hand).
pub(crate) async fn find_all<R, T, F, Fut>(
    cx: &RefreshCx<R>,
    id_filter: &str,
    tracked_id: impl Fn(&R::Outputs) -> &str,
    fetch: F,
) -> Result<Vec<(Claim, String, T)>, ProviderError>
where
    R: madplan_core::Resource,
    T: Item,
    F: Fn(Vec<Filter>) -> Fut,
    Fut: Future<Output = Result<Vec<T>, ProviderError>>,
{
    let mut items = fetch(vec![tags::env_filter(&cx.environment)]).await?;
    let lost: Vec<String> = cx
        .tracked
        .iter()
        .map(|t| tracked_id(&t.outputs).to_string())
        .filter(|id| !items.iter().any(|i| i.id() == Some(id.as_str())))
        .collect();
    if !lost.is_empty() {
        items.extend(fetch(vec![tags::filter(id_filter, lost)]).await?);
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let id = item.id().ok_or_else(|| missing("id"))?.to_string();
        if let Some(claim) = tags::claim(cx, item.tags(), |o| tracked_id(o) == id) {
            out.push((claim, id, item));
        }
    }
    Ok(out)
}

/// The error for a response that lacks a field AWS always sends.
pub(crate) fn missing(what: &str) -> ProviderError {
    ProviderError::new(
        "aws",
        madplan_core::ErrorClass::Fatal,
        format!("the response has no {what}"),
    )
}

/// The ids of a set of subnet inputs, all resolved by now.
pub(crate) fn subnet_ids(
    set: &std::collections::BTreeSet<Input<SubnetId>>,
) -> Result<std::collections::BTreeSet<SubnetId>, ProviderError> {
    set.iter()
        .map(|s| s.get().cloned().map_err(unresolved))
        .collect()
}

/// A removal that found nothing to remove succeeded.
pub(crate) fn gone_is_done<T>(r: Result<T, ProviderError>) -> Result<(), ProviderError> {
    match r {
        Err(e) if !e.is_not_found() => Err(e),
        _ => Ok(()),
    }
}

/// The error for an input the engine should have resolved.
pub(crate) fn unresolved(e: madplan_core::input::Unresolved) -> ProviderError {
    ProviderError::new("madplan", madplan_core::ErrorClass::Fatal, e.to_string())
}
