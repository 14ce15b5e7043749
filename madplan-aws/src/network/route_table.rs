//! Route tables, their routes and their subnet associations.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{ResourceType, RouteOrigin};
use madplan_core::{
    Cidr, Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::subnet::Subnet;
use super::{
    InternetGatewayId, RouteTableId, SubnetId, VpcId, describe, find_all, gone_is_done, missing,
    subnet_ids, unresolved,
};
use crate::error::sdk_error;
use crate::{Aws, tags};

/// Where a route sends traffic.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RouteTarget {
    /// An internet gateway.
    InternetGateway(Input<InternetGatewayId>),
    /// A NAT gateway (`nat-...`).
    NatGateway(Input<String>),
    /// A VPC peering connection (`pcx-...`).
    PeeringConnection(String),
    /// A transit gateway (`tgw-...`).
    TransitGateway(String),
    /// A network interface (`eni-...`).
    NetworkInterface(String),
    /// Any other gateway id (a virtual private gateway, a gateway endpoint).
    Gateway(String),
}

/// A route: a destination block and a target.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Route {
    /// The destination, e.g. `0.0.0.0/0`.
    pub destination: Cidr,
    /// Where it goes.
    pub target: RouteTarget,
}

impl Route {
    /// A route to an internet gateway.
    pub fn to_internet_gateway(
        destination: impl Into<Cidr>,
        igw: impl IntoInput<InternetGatewayId>,
    ) -> Self {
        Self {
            destination: destination.into(),
            target: RouteTarget::InternetGateway(igw.into_input()),
        }
    }
}

/// A route table with its routes (the VPC's local route is implicit) and
/// the subnets it is associated with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct RouteTable {
    /// The VPC it belongs to.
    #[builder(setter(transform = |v: impl IntoInput<VpcId>| v.into_input()))]
    pub vpc: Input<VpcId>,
    /// Its routes.
    #[builder(default, setter(transform = |routes: impl IntoIterator<Item = Route>| routes.into_iter().collect()))]
    pub routes: BTreeSet<Route>,
    /// The subnets that use it.
    #[builder(default, setter(transform = |subnets: impl IntoIterator<Item = impl IntoInput<SubnetId>>| subnets.into_iter().map(IntoInput::into_input).collect()))]
    pub subnets: BTreeSet<Input<SubnetId>>,
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// What a route table yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouteTableOutputs {
    /// Its id.
    pub route_table_id: RouteTableId,
    /// The association id of each associated subnet.
    #[serde(default)]
    pub associations: BTreeMap<SubnetId, String>,
}

async fn add_route(aws: &Aws, rt: &str, r: &Route) -> Result<(), ProviderError> {
    let call = aws
        .ec2()
        .create_route()
        .route_table_id(rt)
        .destination_cidr_block(r.destination.as_str());
    let call = match &r.target {
        RouteTarget::InternetGateway(igw) => {
            call.gateway_id(igw.get().map_err(unresolved)?.as_str())
        }
        RouteTarget::NatGateway(nat) => call.nat_gateway_id(nat.get().map_err(unresolved)?),
        RouteTarget::PeeringConnection(id) => call.vpc_peering_connection_id(id),
        RouteTarget::TransitGateway(id) => call.transit_gateway_id(id),
        RouteTarget::NetworkInterface(id) => call.network_interface_id(id),
        RouteTarget::Gateway(id) => call.gateway_id(id),
    };
    call.send().await.map_err(sdk_error)?;
    Ok(())
}

async fn remove_route(aws: &Aws, rt: &str, r: &Route) -> Result<(), ProviderError> {
    gone_is_done(
        aws.ec2()
            .delete_route()
            .route_table_id(rt)
            .destination_cidr_block(r.destination.as_str())
            .send()
            .await
            .map_err(sdk_error),
    )
}

async fn associate(aws: &Aws, rt: &str, subnet: &SubnetId) -> Result<String, ProviderError> {
    let out = aws
        .ec2()
        .associate_route_table()
        .route_table_id(rt)
        .subnet_id(subnet.as_str())
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(out
        .association_id()
        .ok_or_else(|| missing("association id"))?
        .to_string())
}

async fn disassociate(aws: &Aws, association: &str) -> Result<(), ProviderError> {
    gone_is_done(
        aws.ec2()
            .disassociate_route_table()
            .association_id(association)
            .send()
            .await
            .map_err(sdk_error),
    )
}

impl Resource for RouteTable {
    const KIND: &'static str = "aws.route_table";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["vpc"];
    type Provider = Aws;
    type Outputs = RouteTableOutputs;

    fn validate(&self, cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        for r in &self.routes {
            if let Err(e) = r.destination.parse() {
                problems.push(problem("routes", e, None));
            }
        }
        for s in &self.subnets {
            if let Some((address, subnet)) = cx.referenced::<Subnet, _>(s)
                && subnet.vpc != self.vpc
            {
                problems.push(problem(
                    "subnets",
                    format!("{address} is in another VPC than this route table"),
                    Some("associate route tables only with subnets of their own VPC"),
                ));
            }
        }
    }

    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let items = find_all(
            cx,
            "route-table-id",
            |o| o.route_table_id.as_str(),
            describe!(aws.ec2().describe_route_tables()),
        )
        .await?;
        let mut found = Vec::new();
        for (address, id, t) in items {
            let routes = t
                .routes()
                .iter()
                .filter(|r| r.origin() != Some(&RouteOrigin::CreateRouteTable))
                // Every target is read, so that a route added by hand shows
                // as drift.
                .filter_map(|r| {
                    let destination = Cidr::from(r.destination_cidr_block()?);
                    let target = if let Some(n) = r.nat_gateway_id() {
                        RouteTarget::NatGateway(Input::Value(n.to_string()))
                    } else if let Some(p) = r.vpc_peering_connection_id() {
                        RouteTarget::PeeringConnection(p.to_string())
                    } else if let Some(t) = r.transit_gateway_id() {
                        RouteTarget::TransitGateway(t.to_string())
                    } else if let Some(g) = r.gateway_id() {
                        if g.starts_with("igw-") {
                            RouteTarget::InternetGateway(Input::Value(InternetGatewayId(
                                g.to_string(),
                            )))
                        } else {
                            RouteTarget::Gateway(g.to_string())
                        }
                    } else {
                        RouteTarget::NetworkInterface(r.network_interface_id()?.to_string())
                    };
                    Some(Route {
                        destination,
                        target,
                    })
                })
                .collect();
            let associations: BTreeMap<SubnetId, String> = t
                .associations()
                .iter()
                .filter(|a| !a.main().unwrap_or(false))
                .filter_map(|a| {
                    Some((
                        SubnetId(a.subnet_id()?.to_string()),
                        a.route_table_association_id()?.to_string(),
                    ))
                })
                .collect();
            found.push(Found {
                address,
                observed: Observed {
                    spec: RouteTable {
                        vpc: Input::Value(VpcId(t.vpc_id().unwrap_or_default().to_string())),
                        routes,
                        subnets: associations.keys().cloned().map(Input::Value).collect(),
                        tags: tags::user(t.tags()),
                    },
                    outputs: RouteTableOutputs {
                        route_table_id: RouteTableId(id),
                        associations,
                    },
                },
            });
        }
        Ok(found)
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<RouteTableOutputs, ProviderError> {
        let out = aws
            .ec2()
            .create_route_table()
            .vpc_id(self.vpc.get().map_err(unresolved)?.as_str())
            .tag_specifications(tags::spec(ResourceType::RouteTable, cx, &self.tags))
            .send()
            .await
            .map_err(sdk_error)?;
        let id = out
            .route_table()
            .and_then(|t| t.route_table_id())
            .ok_or_else(|| missing("route table id"))?
            .to_string();
        let mut outputs = RouteTableOutputs {
            route_table_id: RouteTableId(id.clone()),
            associations: BTreeMap::new(),
        };
        cx.created(&outputs);
        for r in &self.routes {
            add_route(aws, &id, r).await?;
        }
        for s in subnet_ids(&self.subnets)? {
            let a = associate(aws, &id, &s).await?;
            outputs.associations.insert(s, a);
            cx.created(&outputs);
        }
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<RouteTableOutputs, ProviderError> {
        let id = prior.outputs.route_table_id.as_str();
        let mut outputs = prior.outputs.clone();
        if changed.iter().any(|c| c == "routes") {
            for r in prior.spec.routes.difference(&self.routes) {
                remove_route(aws, id, r).await?;
            }
            for r in self.routes.difference(&prior.spec.routes) {
                add_route(aws, id, r).await?;
            }
        }
        if changed.iter().any(|c| c == "subnets") {
            let want = subnet_ids(&self.subnets)?;
            let have: BTreeSet<SubnetId> = prior.outputs.associations.keys().cloned().collect();
            for s in have.difference(&want) {
                if let Some(a) = outputs.associations.remove(s) {
                    disassociate(aws, &a).await?;
                }
            }
            for s in want.difference(&have) {
                let a = associate(aws, id, s).await?;
                outputs.associations.insert(s.clone(), a);
            }
        }
        if changed.iter().any(|c| c == "tags") {
            tags::sync(aws.ec2(), id, &prior.spec.tags, &self.tags).await?;
        }
        Ok(outputs)
    }

    async fn delete(
        outputs: &RouteTableOutputs,
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        for a in outputs.associations.values() {
            disassociate(aws, a).await?;
        }
        aws.ec2()
            .delete_route_table()
            .route_table_id(outputs.route_table_id.as_str())
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}
