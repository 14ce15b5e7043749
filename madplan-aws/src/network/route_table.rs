//! Route tables, their routes and their subnet associations.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{ResourceType, RouteOrigin};
use futures_util::future::{join_all, try_join_all};
use madplan_core::{
    Cidr, Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::subnet::Subnet;
use super::{
    InternetGatewayId, NatGatewayId, RouteTableId, SubnetId, VpcId, describe, find_all,
    gone_is_done, missing, subnet_ids, unresolved,
};
use crate::error::sdk_error;
use crate::support::has_code;
use crate::{Aws, tags};

/// Where a route sends traffic.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RouteTarget {
    /// An internet gateway.
    InternetGateway(Input<InternetGatewayId>),
    /// A NAT gateway.
    NatGateway(Input<NatGatewayId>),
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

    /// A route to a NAT gateway (private subnets' way out).
    pub fn to_nat_gateway(destination: impl Into<Cidr>, nat: impl IntoInput<NatGatewayId>) -> Self {
        Self {
            destination: destination.into(),
            target: RouteTarget::NatGateway(nat.into_input()),
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

/// Sends a `CreateRoute` or `ReplaceRoute` call for a route: the two take
/// the same destination and target fields.
macro_rules! route_call {
    ($call:expr, $route:expr) => {{
        let route: &Route = $route;
        let call = $call.destination_cidr_block(route.destination.as_str());
        let call = match &route.target {
            RouteTarget::InternetGateway(igw) => {
                call.gateway_id(igw.get().map_err(unresolved)?.as_str())
            }
            RouteTarget::NatGateway(nat) => {
                call.nat_gateway_id(nat.get().map_err(unresolved)?.as_str())
            }
            RouteTarget::PeeringConnection(id) => call.vpc_peering_connection_id(id),
            RouteTarget::TransitGateway(id) => call.transit_gateway_id(id),
            RouteTarget::NetworkInterface(id) => call.network_interface_id(id),
            RouteTarget::Gateway(id) => call.gateway_id(id),
        };
        call.send().await.map_err(sdk_error)?;
        Ok(())
    }};
}

/// Creates the route `r`. When its destination already has a route made
/// by `CreateRoute` (the SDK sent the create again after its answer was
/// lost, or someone added one since the refresh), that route is pointed at
/// `r`'s target: the destination is this spec's, and the next plan would
/// do the same. A route the table was made with (the VPC's `local` route)
/// is AWS's: the clash is refused, never replaced.
async fn add_route(aws: &Aws, rt: &str, r: &Route) -> Result<(), ProviderError> {
    let created: Result<(), ProviderError> =
        async { route_call!(aws.ec2().create_route().route_table_id(rt), r) }.await;
    match created {
        Err(err) if has_code(&err, "RouteAlreadyExists") => {
            let out = aws
                .ec2()
                .describe_route_tables()
                .route_table_ids(rt)
                .send()
                .await
                .map_err(sdk_error)?;
            let made_by_create_route = out
                .route_tables()
                .iter()
                .flat_map(|t| t.routes())
                .find(|live| live.destination_cidr_block() == Some(r.destination.as_str()))
                .is_some_and(|live| live.origin() == Some(&RouteOrigin::CreateRoute));
            if made_by_create_route {
                replace_route(aws, rt, r).await
            } else {
                Err(err)
            }
        }
        other => other,
    }
}

/// Points an existing route at another target in one call, so that there
/// is no moment without a route for its destination.
async fn replace_route(aws: &Aws, rt: &str, r: &Route) -> Result<(), ProviderError> {
    route_call!(aws.ec2().replace_route().route_table_id(rt), r)
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

/// Brings the routes from `before` to `after`: a destination whose target
/// changed is replaced in place, the others are deleted or created; all at
/// once, since each call is about its own destination.
async fn sync_routes(
    aws: &Aws,
    rt: &str,
    before: &BTreeSet<Route>,
    after: &BTreeSet<Route>,
) -> Result<(), ProviderError> {
    let by_destination = |routes: &'_ BTreeSet<Route>| -> BTreeMap<Cidr, Route> {
        routes
            .iter()
            .map(|r| (r.destination.clone(), r.clone()))
            .collect()
    };
    let (before, after) = (by_destination(before), by_destination(after));
    let gone = before
        .iter()
        .filter(|(d, _)| !after.contains_key(*d))
        .map(|(_, r)| remove_route(aws, rt, r));
    let changed = after
        .iter()
        .filter(|(d, r)| before.get(*d).is_some_and(|old| old != *r))
        .map(|(_, r)| replace_route(aws, rt, r));
    let new = after
        .iter()
        .filter(|(d, _)| !before.contains_key(*d))
        .map(|(_, r)| add_route(aws, rt, r));
    futures_util::future::try_join3(try_join_all(gone), try_join_all(changed), try_join_all(new))
        .await?;
    Ok(())
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

async fn reassociate(aws: &Aws, rt: &str, association: &str) -> Result<String, ProviderError> {
    let out = aws
        .ec2()
        .replace_route_table_association()
        .association_id(association)
        .route_table_id(rt)
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(out
        .new_association_id()
        .ok_or_else(|| missing("new association id"))?
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

/// Where each subnet is explicitly associated now: its route table and the
/// association id.
async fn current_associations(
    aws: &Aws,
    subnets: impl IntoIterator<Item = &SubnetId>,
) -> Result<BTreeMap<SubnetId, (String, String)>, ProviderError> {
    let ids: Vec<String> = subnets.into_iter().map(|s| s.0.clone()).collect();
    let filter = crate::tags::filter("association.subnet-id", ids.iter().cloned());
    let tables: Vec<aws_sdk_ec2::types::RouteTable> =
        describe!(aws.ec2().describe_route_tables())(vec![filter]).await?;
    let mut out = BTreeMap::new();
    for t in &tables {
        for a in t.associations() {
            if let (Some(subnet), Some(table), Some(association)) = (
                a.subnet_id(),
                t.route_table_id(),
                a.route_table_association_id(),
            ) && ids.iter().any(|i| i == subnet)
            {
                out.insert(
                    SubnetId(subnet.to_string()),
                    (table.to_string(), association.to_string()),
                );
            }
        }
    }
    Ok(out)
}

/// Makes `rt` the route table of `subnet`, which is associated with
/// `current` (table, association) if any: a subnet has one explicit
/// association, so one held by another table is moved
/// (`ReplaceRouteTableAssociation`; a second `AssociateRouteTable` fails
/// with `Resource.AlreadyAssociated`). If the other table lets go, or takes
/// it, at the same moment, the subnet is looked up once more.
async fn take_subnet(
    aws: &Aws,
    rt: &str,
    subnet: &SubnetId,
    mut current: Option<(String, String)>,
) -> Result<String, ProviderError> {
    let mut looked_again = false;
    loop {
        let result = match &current {
            Some((table, association)) if table == rt => return Ok(association.clone()),
            Some((_, association)) => reassociate(aws, rt, association).await,
            None => associate(aws, rt, subnet).await,
        };
        match result {
            Err(e)
                if !looked_again
                    && (e.is_not_found()
                        || e.code.as_deref() == Some("Resource.AlreadyAssociated")) =>
            {
                looked_again = true;
                current = current_associations(aws, [subnet]).await?.remove(subnet);
            }
            other => return other,
        }
    }
}

/// What [`take_subnets`] did for each subnet: its association id, or why it
/// failed.
type Taken = Vec<(SubnetId, Result<String, ProviderError>)>;

/// Makes `rt` the route table of every subnet in `subnets`, all at once.
async fn take_subnets(
    aws: &Aws,
    rt: &str,
    subnets: &BTreeSet<SubnetId>,
) -> Result<Taken, ProviderError> {
    if subnets.is_empty() {
        return Ok(Vec::new());
    }
    let mut current = current_associations(aws, subnets).await?;
    let takes = subnets.iter().map(|s| {
        let now = current.remove(s);
        async move { (s.clone(), take_subnet(aws, rt, s, now).await) }
    });
    Ok(join_all(takes).await)
}

/// Records the associations `taken` made in `outputs`, and returns the
/// first failure among them.
fn record_taken(
    outputs: &mut RouteTableOutputs,
    taken: Result<Taken, ProviderError>,
) -> Result<(), ProviderError> {
    let mut failed = None;
    for (subnet, result) in taken? {
        match result {
            Ok(association) => {
                outputs.associations.insert(subnet, association);
            }
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
    }
    failed.map_or(Ok(()), Err)
}

impl Resource for RouteTable {
    const KIND: &'static str = "aws.route_table";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["vpc"];
    type Provider = Aws;
    type Outputs = RouteTableOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        let mut destinations = BTreeSet::new();
        for r in &self.routes {
            if let Err(e) = r.destination.parse() {
                problems.push(problem("routes", e, None));
            }
            if !destinations.insert(&r.destination) {
                problems.push(problem(
                    "routes",
                    format!("{} has more than one route", r.destination),
                    Some("a route table has one route per destination"),
                ));
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
        for (claim, id, t) in items {
            let routes = t
                .routes()
                .iter()
                .filter(|r| r.origin() != Some(&RouteOrigin::CreateRouteTable))
                // Every target is read, so that a route added by hand shows
                // as drift.
                .filter_map(|r| {
                    let destination = Cidr::from(r.destination_cidr_block()?);
                    let target = if let Some(n) = r.nat_gateway_id() {
                        RouteTarget::NatGateway(Input::Value(NatGatewayId(n.to_string())))
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
            found.push(Found::new(
                claim,
                RouteTable {
                    vpc: Input::Value(VpcId(t.vpc_id().unwrap_or_default().to_string())),
                    routes,
                    subnets: associations.keys().cloned().map(Input::Value).collect(),
                    tags: tags::user(t.tags()),
                },
                RouteTableOutputs {
                    route_table_id: RouteTableId(id),
                    associations,
                },
            ));
        }
        Ok(found)
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<RouteTableOutputs, ProviderError> {
        let out = aws
            .ec2()
            .create_route_table()
            .vpc_id(self.vpc.get().map_err(unresolved)?.as_str())
            .tag_specifications(tags::spec(ResourceType::RouteTable, cx, &self.tags))
            .client_token(cx.client_token())
            .customize()
            .config_override(crate::resend::once_if_lost())
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
        cx.created(&outputs).await?;
        // Routes and associations are independent: they go at once, and
        // every association made is recorded even if another step failed.
        let subnets = subnet_ids(&self.subnets)?;
        let (routes, taken) = futures_util::future::join(
            try_join_all(self.routes.iter().map(|r| add_route(aws, &id, r))),
            take_subnets(aws, &id, &subnets),
        )
        .await;
        let taken = record_taken(&mut outputs, taken);
        if let Err(e) = routes.map(drop).and(taken) {
            if !outputs.associations.is_empty() {
                cx.created(&outputs).await?;
            }
            return Err(e);
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
        let has = |field: &str| changed.iter().any(|c| c == field);
        let routes = async {
            if has("routes") {
                sync_routes(aws, id, &prior.spec.routes, &self.routes).await?;
            }
            Ok::<_, ProviderError>(())
        };
        let subnets = async {
            let mut outputs = prior.outputs.clone();
            if has("subnets") {
                let want = subnet_ids(&self.subnets)?;
                let have: BTreeSet<SubnetId> = prior.outputs.associations.keys().cloned().collect();
                let released: Vec<String> = have
                    .difference(&want)
                    .filter_map(|s| outputs.associations.remove(s))
                    .collect();
                let added: BTreeSet<SubnetId> = want.difference(&have).cloned().collect();
                let (gone, taken) = futures_util::future::join(
                    try_join_all(released.iter().map(|a| disassociate(aws, a))),
                    take_subnets(aws, id, &added),
                )
                .await;
                gone?;
                record_taken(&mut outputs, taken)?;
            }
            Ok(outputs)
        };
        let tags = async {
            if has("tags") {
                tags::sync(aws.ec2(), id, &prior.spec.tags, &self.tags).await?;
            }
            Ok(())
        };
        let ((), outputs, ()) = futures_util::future::try_join3(routes, subnets, tags).await?;
        Ok(outputs)
    }

    async fn delete(
        outputs: &RouteTableOutputs,
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        try_join_all(outputs.associations.values().map(|a| disassociate(aws, a))).await?;
        aws.ec2()
            .delete_route_table()
            .route_table_id(outputs.route_table_id.as_str())
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}
