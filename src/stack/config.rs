//! What differs between the MadPlan environments, as typed values.

use crate::atlas::client::clusters::InstanceSize;
use crate::aws::cache::NodeType;
use crate::aws::network::blueprint::NatGateways;
use crate::aws::observability::Retention;
use crate::aws::web::blueprint::Capacity;

/// The database's size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseSize {
    /// A fixed tier.
    Fixed(InstanceSize),
    /// Compute auto-scaling between two tiers (Atlas owns the tier between
    /// them: never drift, never reverted).
    AutoScaled {
        /// The tier it starts at and never goes below.
        min: InstanceSize,
        /// The highest tier it may grow to.
        max: InstanceSize,
    },
}

/// Everything that differs between production and staging.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// The environment's name (`production`, `staging`): in every resource
    /// name and tag.
    pub name: String,
    /// The public domain (`madplan.com`).
    pub domain: String,
    /// The API's host name (`api.madplan.com`).
    pub api_host: String,
    /// The frontend's host names, which point at Vercel.
    pub frontend_hosts: Vec<String>,
    /// The AWS availability zones (two or more).
    pub zones: Vec<String>,
    /// The VPC's block; subnets are carved from it.
    pub vpc_cidr: String,
    /// One NAT gateway per zone, or a single one.
    pub nat: NatGateways,
    /// The auto-scaling group's sizes (the guide: 2/3/10).
    pub capacity: Capacity,
    /// The application instances' type.
    pub instance_type: String,
    /// The database's size (the guide: M30 with auto-scaling).
    pub database: DatabaseSize,
    /// Regions of Atlas read-only replicas (the guide: "read replicas in
    /// multiple regions"), e.g. `US_WEST_2`.
    pub read_replica_regions: Vec<String>,
    /// The region the backups are copied to, with oplogs.
    pub backup_copy_region: Option<String>,
    /// How long snapshots and logs are kept (the guide: 30 days).
    pub retention_days: u32,
    /// Deletion and termination protection on stateful resources.
    pub protection: bool,
    /// How long logs are kept.
    pub log_retention: Retention,
    /// The Redis node type.
    pub redis_node_type: NodeType,
    /// Whether this environment owns what is shared by every environment in
    /// the accounts: the zone's settings, WAF, bot protection, edge
    /// certificate and CAA records at Cloudflare, and Datadog's integration
    /// of the AWS account. Production does; staging beside it does not.
    pub owns_shared: bool,
    /// The Slack channel alerts go to.
    pub slack_channel: String,
}

impl StackConfig {
    /// The deployment guide's production: ASG 2/3/10, M30 auto-scaled to
    /// M60 with read replicas in two more regions, a NAT gateway per zone,
    /// protection on, 30-day retention everywhere.
    pub fn production(domain: &str) -> Self {
        Self {
            name: "production".into(),
            domain: domain.to_string(),
            api_host: format!("api.{domain}"),
            frontend_hosts: vec![domain.to_string(), format!("www.{domain}")],
            zones: vec!["us-east-1a".into(), "us-east-1b".into()],
            vpc_cidr: "10.0.0.0/16".into(),
            nat: NatGateways::PerZone,
            capacity: Capacity {
                min: 2,
                desired: 3,
                max: 10,
            },
            instance_type: "t3.medium".into(),
            database: DatabaseSize::AutoScaled {
                min: InstanceSize::M30,
                max: InstanceSize::M60,
            },
            read_replica_regions: vec!["US_WEST_2".into(), "EU_WEST_1".into()],
            backup_copy_region: Some("US_WEST_2".into()),
            retention_days: 30,
            protection: true,
            log_retention: Retention::Days30,
            redis_node_type: NodeType::from("cache.t4g.medium"),
            owns_shared: true,
            slack_channel: "#madplan-alerts".into(),
        }
    }

    /// A smaller staging beside it: ASG 1/1/2, M10, one NAT gateway,
    /// protection off, a week of retention, under `staging.DOMAIN`.
    pub fn staging(domain: &str) -> Self {
        Self {
            name: "staging".into(),
            domain: domain.to_string(),
            api_host: format!("api.staging.{domain}"),
            frontend_hosts: vec![format!("staging.{domain}")],
            zones: vec!["us-east-1a".into(), "us-east-1b".into()],
            vpc_cidr: "10.1.0.0/16".into(),
            nat: NatGateways::Single,
            capacity: Capacity {
                min: 1,
                desired: 1,
                max: 2,
            },
            instance_type: "t3.small".into(),
            database: DatabaseSize::Fixed(InstanceSize::M10),
            read_replica_regions: Vec::new(),
            backup_copy_region: None,
            retention_days: 7,
            protection: false,
            log_retention: Retention::Days7,
            redis_node_type: NodeType::from("cache.t4g.small"),
            owns_shared: false,
            slack_channel: "#madplan-staging-alerts".into(),
        }
    }
}
