//! Ready-made pieces of the seed's production stack around the web tier:
//! [`observability`] (log groups, VPC flow logs, the WAF in front of the
//! load balancer, the alert topic and the alarms) and [`redis`] (the cache
//! in the private subnets).
//!
//! ```
//! use madplan_aws::edge::{EdgeSpec, RedisSpec, observability, redis};
//! use madplan_aws::network::blueprint::{TwoTierSpec, two_tier};
//! use madplan_core::Environment;
//! use secrecy::SecretString;
//!
//! let mut env = Environment::new("production");
//! let net = two_tier(&mut env, &TwoTierSpec::builder()
//!     .cidr("10.0.0.0/16")
//!     .zones(vec![
//!         ("us-east-1a".into(), "10.0.0.0/24".into(), "10.0.100.0/24".into()),
//!         ("us-east-1b".into(), "10.0.1.0/24".into(), "10.0.101.0/24".into()),
//!     ])
//!     .build());
//! let lb = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188";
//! observability(&mut env, &EdgeSpec::builder()
//!     .vpc(net.vpc.clone())
//!     .load_balancer(lb)
//!     .load_balancer_dimension("app/web/50dc6c495c0c9188")
//!     .target_group_dimension("targetgroup/web/73e2d6bc24d8a067")
//!     .alert_email("alerts@madplan.com")
//!     .build());
//! let token = env.secret("redis-auth", "1", SecretString::from("a-long-random-token-value"));
//! redis(&mut env, &RedisSpec::builder()
//!     .vpc(net.vpc.clone())
//!     .private_subnets(net.private.clone())
//!     .app_group(net.app_group.clone())
//!     .auth_token(token)
//!     .build());
//! ```

use madplan_core::{Environment, Input, IntoInput, Ref, Secret};
use typed_builder::TypedBuilder;

use crate::cache::{CacheSubnetGroup, NodeType, RedisVersion, ReplicationGroup};
use crate::iam::{Role, flow_log_delivery_role};
use crate::lb::{LoadBalancerArn, LoadBalancerDimension, TargetGroupDimension};
use crate::network::{Peer, PortRange, Rule, SecurityGroup, Subnet, Vpc};
use crate::observability::alarm::seed;
use crate::observability::{Alarm, Endpoint, FlowLog, LogGroup, Retention, Subscription, Topic};
use crate::waf::{Logging, Visibility, WebAcl, WebAclAssociation, seed_rules};

/// What [`observability`] needs.
#[derive(Clone, Debug, TypedBuilder)]
pub struct EdgeSpec {
    /// The VPC whose traffic is logged.
    pub vpc: Ref<Vpc>,
    /// The load balancer the WAF protects.
    #[builder(setter(transform = |v: impl IntoInput<LoadBalancerArn>| v.into_input()))]
    pub load_balancer: Input<LoadBalancerArn>,
    /// Its CloudWatch dimension (`app/NAME/ID`).
    #[builder(setter(transform = |v: impl IntoInput<LoadBalancerDimension>| v.into_input()))]
    pub load_balancer_dimension: Input<LoadBalancerDimension>,
    /// Its target group's dimension (`targetgroup/NAME/ID`).
    #[builder(setter(transform = |v: impl IntoInput<TargetGroupDimension>| v.into_input()))]
    pub target_group_dimension: Input<TargetGroupDimension>,
    /// Where alerts are mailed (the seed's `alert_email`).
    #[builder(setter(into))]
    pub alert_email: String,
    /// How long logs are kept (the seed: 30 days).
    #[builder(default = Retention::Days30)]
    pub retention: Retention,
}

/// Handles to what [`observability`] added.
#[derive(Clone, Debug)]
pub struct Edge {
    /// `/aws/ec2/madplan-ENV`, the application's logs.
    pub app_logs: Ref<LogGroup>,
    /// The flow logs' group.
    pub flow_logs: Ref<LogGroup>,
    /// `aws-waf-logs-madplan-ENV`, WAF's.
    pub waf_logs: Ref<LogGroup>,
    /// The flow logs' delivery role.
    pub flow_log_role: Ref<Role>,
    /// The VPC's flow log.
    pub flow_log: Ref<FlowLog>,
    /// The web ACL.
    pub web_acl: Ref<WebAcl>,
    /// Its association with the load balancer.
    pub association: Ref<WebAclAssociation>,
    /// Its logging.
    pub waf_logging: Ref<Logging>,
    /// The alert topic.
    pub alerts: Ref<Topic>,
    /// The email subscription.
    pub alert_email: Ref<Subscription>,
    /// The seed's alarms: 5xx ratio, unhealthy targets, p95 response time.
    pub alarms: Vec<Ref<Alarm>>,
}

/// Adds the seed's logging, flow logs, WAF, alert topic and alarms to
/// `env`, named after the environment.
pub fn observability(env: &mut Environment, spec: &EdgeSpec) -> Edge {
    let name = format!("madplan-{}", env.name());
    let group = |env: &mut Environment, address: &str, group: String| {
        env.add(
            address,
            LogGroup::builder()
                .name(group)
                .retention(spec.retention)
                .build(),
        )
    };
    let app_logs = group(env, "app", format!("/aws/ec2/{name}"));
    let flow_logs = group(env, "flow", format!("/aws/vpc/flow-logs/{name}"));
    let waf_logs = group(env, "waf", format!("aws-waf-logs-{name}"));
    let flow_log_role = env.add(
        "flow-logs",
        flow_log_delivery_role(
            &format!("{name}-flow-logs"),
            flow_logs.output::<String>("streams_arn"),
        ),
    );
    let flow_log = env.add(
        "main",
        FlowLog::builder()
            .vpc(&spec.vpc)
            .log_group(&flow_logs)
            .role(&flow_log_role)
            .build(),
    );
    let web_acl = env.add(
        "main",
        WebAcl::builder()
            .name(name.clone())
            .description("MadPlan API: rate limit, managed rules, bot control")
            .rules(seed_rules(&name))
            .visibility(Visibility::on(name.clone()))
            .build(),
    );
    let association = env.add(
        "alb",
        WebAclAssociation::builder()
            .web_acl(&web_acl)
            .resource(spec.load_balancer.clone())
            .build(),
    );
    let waf_logging = env.add(
        "main",
        Logging::builder()
            .web_acl(&web_acl)
            .destination(&waf_logs)
            .build(),
    );
    let alerts = env.add(
        "alerts",
        Topic::builder().name(format!("{name}-alerts")).build(),
    );
    let alert_email = env.add(
        "alerts-email",
        Subscription::builder()
            .topic(&alerts)
            .endpoint(Endpoint::Email(spec.alert_email.clone()))
            .build(),
    );
    let lb = &spec.load_balancer_dimension;
    let alarms = vec![
        env.add(
            "alb-5xx",
            seed::alb_5xx_ratio(&format!("{name}-alb-5xx"), lb.clone(), &alerts),
        ),
        env.add(
            "unhealthy-targets",
            seed::unhealthy_targets(
                &format!("{name}-unhealthy-targets"),
                lb.clone(),
                spec.target_group_dimension.clone(),
                &alerts,
            ),
        ),
        env.add(
            "p95",
            seed::response_time_p95(&format!("{name}-p95"), lb.clone(), &alerts),
        ),
    ];
    Edge {
        app_logs,
        flow_logs,
        waf_logs,
        flow_log_role,
        flow_log,
        web_acl,
        association,
        waf_logging,
        alerts,
        alert_email,
        alarms,
    }
}

/// What [`redis`] needs.
#[derive(Clone, Debug, TypedBuilder)]
pub struct RedisSpec {
    /// The VPC.
    pub vpc: Ref<Vpc>,
    /// The private subnets, in two zones or more.
    pub private_subnets: Vec<Ref<Subnet>>,
    /// The application's security group, the only one let in.
    pub app_group: Ref<SecurityGroup>,
    /// The AUTH token.
    pub auth_token: Secret,
    /// The zones of the primary and its replica.
    #[builder(default = vec!["us-east-1a".into(), "us-east-1b".into()])]
    pub zones: Vec<String>,
    /// The node type.
    #[builder(default = NodeType::from("cache.t4g.small"))]
    pub node_type: NodeType,
    /// The Redis version.
    #[builder(default = RedisVersion::V7_1)]
    pub engine_version: RedisVersion,
}

/// Handles to what [`redis`] added.
#[derive(Clone, Debug)]
pub struct Redis {
    /// The cache's security group: 6379 from the application only.
    pub security_group: Ref<SecurityGroup>,
    /// The subnet group over the private subnets.
    pub subnet_group: Ref<CacheSubnetGroup>,
    /// The replication group; its outputs hold the primary and reader
    /// endpoints.
    pub group: Ref<ReplicationGroup>,
}

/// Adds the seed's Redis cache to `env`: a security group that lets the
/// application's group in on 6379 and nothing else, a subnet group over the
/// private subnets, and a replication group of a primary and a replica in
/// two zones with automatic failover, Multi-AZ, encryption in transit and at
/// rest and the AUTH token.
pub fn redis(env: &mut Environment, spec: &RedisSpec) -> Redis {
    let name = format!("madplan-{}", env.name());
    let security_group = env.add(
        "redis",
        SecurityGroup::builder()
            .name(format!("{name}-redis"))
            .description("Redis: 6379 from the application only")
            .vpc(&spec.vpc)
            .ingress([Rule::tcp(
                PortRange::port(6379),
                Peer::group(&spec.app_group),
            )])
            .build(),
    );
    let subnet_group = env.add(
        "cache",
        CacheSubnetGroup::builder()
            .name(format!("{name}-cache"))
            .subnets(spec.private_subnets.iter().map(|s| s.into_input()))
            .build(),
    );
    let group = env.add(
        "main",
        ReplicationGroup::builder()
            .id(name
                .chars()
                .take(40)
                .collect::<String>()
                .trim_end_matches('-'))
            .description("MadPlan cache")
            .node_type(spec.node_type.clone())
            .engine_version(spec.engine_version)
            .zones(spec.zones.iter().map(String::as_str))
            .subnet_group(&subnet_group)
            .security_groups([(&security_group).into_input()])
            .auth_token(spec.auth_token.clone())
            .build(),
    );
    Redis {
        security_group,
        subnet_group,
        group,
    }
}
