//! A ready-made two-tier network: public and private subnets in each
//! availability zone, an internet gateway for the public tier, NAT gateways
//! for the private tier's way out (one per zone, one in all, or none), and
//! security groups for a load balancer and the application behind it.

use madplan_core::{Cidr, Environment, Ref};
use typed_builder::TypedBuilder;

use super::{
    AclAction, AclEntry, ElasticIp, InternetGateway, NatGateway, NetworkAcl, Peer, PortRange,
    Protocol, Route, RouteTable, Rule, SecurityGroup, Subnet, Vpc,
};

/// How the private subnets reach the internet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NatGateways {
    /// They do not: one private route table with the VPC's local route only.
    #[default]
    None,
    /// One NAT gateway (with its Elastic IP) in the first zone's public
    /// subnet for every zone: cheaper, but a zone outage there cuts every
    /// zone off. For staging and the like.
    Single,
    /// A NAT gateway per zone, each zone's private subnet routed to its
    /// own: what production wants, so that losing a zone loses only its
    /// own way out.
    PerZone,
}

/// What the network looks like.
#[derive(Clone, Debug, TypedBuilder)]
pub struct TwoTierSpec {
    /// The VPC block, e.g. `10.0.0.0/16`.
    #[builder(setter(into))]
    pub cidr: Cidr,
    /// One entry per availability zone: (zone, public block, private block).
    pub zones: Vec<(String, Cidr, Cidr)>,
    /// The port the application listens on behind the load balancer.
    #[builder(default = 3000)]
    pub app_port: i32,
    /// How the private subnets reach the internet. With NAT gateways, each
    /// zone's private subnet gets a route table of its own
    /// (`aws.route_table.private-a`, ...) sending `0.0.0.0/0` to its NAT
    /// gateway, so that going from one NAT gateway to one per zone only
    /// changes routes in place.
    #[builder(default)]
    pub nat: NatGateways,
}

/// Handles to everything [`two_tier`] added.
#[derive(Clone, Debug)]
pub struct TwoTier {
    /// The VPC.
    pub vpc: Ref<Vpc>,
    /// One public subnet per zone.
    pub public: Vec<Ref<Subnet>>,
    /// One private subnet per zone.
    pub private: Vec<Ref<Subnet>>,
    /// The internet gateway.
    pub gateway: Ref<InternetGateway>,
    /// The public route table (default route to the gateway).
    pub public_routes: Ref<RouteTable>,
    /// The private route tables: one (VPC-local only) without NAT
    /// gateways, else one per zone, in the order of the zones.
    pub private_routes: Vec<Ref<RouteTable>>,
    /// The Elastic IPs of the NAT gateways (their public addresses are what
    /// outside services allow-list).
    pub elastic_ips: Vec<Ref<ElasticIp>>,
    /// The NAT gateways: none, one, or one per zone in the order of the
    /// zones.
    pub nat_gateways: Vec<Ref<NatGateway>>,
    /// The load balancer's group: HTTP and HTTPS from anywhere.
    pub lb_group: Ref<SecurityGroup>,
    /// The application's group: its port from the load balancer only.
    pub app_group: Ref<SecurityGroup>,
    /// The ACL of the public subnets.
    pub public_acl: Ref<NetworkAcl>,
}

/// Adds a two-tier network to `env`.
pub fn two_tier(env: &mut Environment, spec: &TwoTierSpec) -> TwoTier {
    let vpc = env.add("main", Vpc::builder().cidr(spec.cidr.clone()).build());
    let mut public = Vec::new();
    let mut private = Vec::new();
    for (zone, pub_cidr, priv_cidr) in &spec.zones {
        let suffix = zone.rsplit('-').next().unwrap_or(zone);
        public.push(
            env.add(
                &format!("public-{suffix}"),
                Subnet::builder()
                    .vpc(&vpc)
                    .cidr(pub_cidr.clone())
                    .zone(zone.clone())
                    .public(true)
                    .build(),
            ),
        );
        private.push(
            env.add(
                &format!("private-{suffix}"),
                Subnet::builder()
                    .vpc(&vpc)
                    .cidr(priv_cidr.clone())
                    .zone(zone.clone())
                    .build(),
            ),
        );
    }
    let gateway = env.add("main", InternetGateway::builder().vpc(&vpc).build());
    let public_routes = env.add(
        "public",
        RouteTable::builder()
            .vpc(&vpc)
            .routes([Route::to_internet_gateway("0.0.0.0/0", &gateway)])
            .subnets(public.iter())
            .build(),
    );
    let mut elastic_ips = Vec::new();
    let mut nat_gateways = Vec::new();
    let nat_zones = match spec.nat {
        NatGateways::None => 0,
        NatGateways::Single => 1.min(spec.zones.len()),
        NatGateways::PerZone => spec.zones.len(),
    };
    for (i, (zone, _, _)) in spec.zones.iter().enumerate().take(nat_zones) {
        let suffix = zone.rsplit('-').next().unwrap_or(zone);
        let eip = env.add(&format!("nat-{suffix}"), ElasticIp::builder().build());
        nat_gateways.push(
            env.add(
                suffix,
                NatGateway::builder()
                    .subnet(&public[i])
                    .elastic_ip(&eip)
                    .internet_gateway(&gateway)
                    .build(),
            ),
        );
        elastic_ips.push(eip);
    }
    let private_routes = if nat_gateways.is_empty() {
        vec![
            env.add(
                "private",
                RouteTable::builder()
                    .vpc(&vpc)
                    .subnets(private.iter())
                    .build(),
            ),
        ]
    } else {
        spec.zones
            .iter()
            .zip(&private)
            .enumerate()
            .map(|(i, ((zone, _, _), subnet))| {
                let suffix = zone.rsplit('-').next().unwrap_or(zone);
                let nat = &nat_gateways[i.min(nat_gateways.len() - 1)];
                env.add(
                    &format!("private-{suffix}"),
                    RouteTable::builder()
                        .vpc(&vpc)
                        .routes([Route::to_nat_gateway("0.0.0.0/0", nat)])
                        .subnets([subnet])
                        .build(),
                )
            })
            .collect()
    };
    let env_name = env.name().to_string();
    let lb_group = env.add(
        "lb",
        SecurityGroup::builder()
            .name(format!("{env_name}-lb"))
            .description("Load balancer: HTTP and HTTPS from anywhere")
            .vpc(&vpc)
            .ingress([
                Rule::tcp(PortRange::port(80), Peer::cidr("0.0.0.0/0")),
                Rule::tcp(PortRange::port(443), Peer::cidr("0.0.0.0/0")),
            ])
            .build(),
    );
    let app_group = env.add(
        "app",
        SecurityGroup::builder()
            .name(format!("{env_name}-app"))
            .description("Application: its port from the load balancer only")
            .vpc(&vpc)
            .ingress([Rule::tcp(
                PortRange::port(spec.app_port),
                Peer::group(&lb_group),
            )])
            .build(),
    );
    let public_acl = env.add(
        "public",
        NetworkAcl::builder()
            .vpc(&vpc)
            .entries([
                AclEntry::ingress(
                    100,
                    AclAction::Allow,
                    Protocol::Tcp,
                    Some(PortRange::port(80)),
                    "0.0.0.0/0",
                ),
                AclEntry::ingress(
                    110,
                    AclAction::Allow,
                    Protocol::Tcp,
                    Some(PortRange::port(443)),
                    "0.0.0.0/0",
                ),
                // Replies to connections the instances opened.
                AclEntry::ingress(
                    120,
                    AclAction::Allow,
                    Protocol::Tcp,
                    Some(PortRange::range(1024, 65535)),
                    "0.0.0.0/0",
                ),
                AclEntry::ingress(
                    130,
                    AclAction::Allow,
                    Protocol::All,
                    None,
                    spec.cidr.clone(),
                ),
                AclEntry::egress(100, AclAction::Allow, Protocol::All, None, "0.0.0.0/0"),
            ])
            .subnets(public.iter())
            .build(),
    );
    TwoTier {
        vpc,
        public,
        private,
        gateway,
        public_routes,
        private_routes,
        elastic_ips,
        nat_gateways,
        lb_group,
        app_group,
        public_acl,
    }
}
