//! A ready-made two-tier network: public and private subnets in each
//! availability zone, an internet gateway for the public tier, and security
//! groups for a load balancer and the application behind it.

use madplan_core::{Cidr, Environment, Ref};
use typed_builder::TypedBuilder;

use super::{
    AclAction, AclEntry, InternetGateway, NetworkAcl, Peer, PortRange, Protocol, Route, RouteTable,
    Rule, SecurityGroup, Subnet, Vpc,
};

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
    /// The private route table (VPC-local only).
    pub private_routes: Ref<RouteTable>,
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
    let private_routes = env.add(
        "private",
        RouteTable::builder()
            .vpc(&vpc)
            .subnets(private.iter())
            .build(),
    );
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
        lb_group,
        app_group,
        public_acl,
    }
}
