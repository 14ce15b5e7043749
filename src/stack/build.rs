//! The stack's resources and how they are wired across providers.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use madplan_core::{Environment, Input, Ref};

use super::config::{DatabaseSize, StackConfig};
use super::settings::Values;
use crate::atlas::client::backup::Frequency;
use crate::atlas::client::clusters::CloudProvider;
use crate::atlas::resources::backup::CrossRegionCopy;
use crate::atlas::resources::{
    AccessList, AccessListEntry, AuditFilter, Auditing, BackupSchedule, Cluster, Compute,
    ConnectionString, DatabaseUser, DatadogIntegration, DbRole, Project, ProjectSettings, Region,
    Retention, Storage,
};
use crate::aws::baseline::Baseline;
use crate::aws::edge::{Edge, EdgeSpec, Redis, RedisSpec, observability, redis};
use crate::aws::iam::{PolicyDocument, Role, Statement};
use crate::aws::network::blueprint::{TwoTier, TwoTierSpec, two_tier};
use crate::aws::web::blueprint::{WebTier, WebTierSpec, web_tier};
use crate::cloudflare::{
    BotProtection, CacheRule, CacheRules, DnsRecord, EdgeCertificate, ManagedWaf, Period,
    RateLimitRule, RateLimits, Zone, ZonePlan, ZoneRef, ZoneSettings,
};
use crate::datadog::stack::{Monitoring, MonitoringSettings, add_monitoring};

/// Vercel's address for apex domains.
const VERCEL_APEX: Ipv4Addr = Ipv4Addr::new(76, 76, 21, 21);
/// Vercel's host for other names.
const VERCEL_CNAME: &str = "cname.vercel-dns.com";

/// Datadog's AWS account, which its integration role trusts.
const DATADOG_AWS_ACCOUNT: &str = "464622532012";

/// Handles to everything [`madplan`] declared, by provider.
#[derive(Clone, Debug)]
pub struct Stack {
    /// The network.
    pub network: TwoTier,
    /// The web tier.
    pub web: WebTier,
    /// Logs, flow logs, WAF, alerts and alarms.
    pub edge: Edge,
    /// The cache.
    pub redis: Redis,
    /// The Atlas project.
    pub project: Ref<Project>,
    /// The database cluster.
    pub cluster: Ref<Cluster>,
    /// The Cloudflare zone.
    pub zone: ZoneRef,
    /// The API's public record.
    pub api_record: Ref<DnsRecord>,
    /// Monitoring.
    pub monitoring: Monitoring,
    /// The role Datadog assumes to read the account (in the environment
    /// that owns what the accounts share).
    pub datadog_role: Option<Ref<Role>>,
}

/// The subnets of `cidr` (a /16): public `x.y.i.0/24`, private
/// `x.y.(100+i).0/24` for zone `i`.
fn subnets(cidr: &str, zones: &[String]) -> Vec<(String, madplan_core::Cidr, madplan_core::Cidr)> {
    let base: Vec<&str> = cidr.split('.').take(2).collect();
    let prefix = base.join(".");
    zones
        .iter()
        .enumerate()
        .map(|(i, zone)| {
            (
                zone.clone(),
                format!("{prefix}.{i}.0/24").into(),
                format!("{prefix}.{}.0/24", 100 + i).into(),
            )
        })
        .collect()
}

/// Adds the whole stack to `env`, as `config` says, with the secrets and
/// identifiers of `settings`.
pub fn madplan(env: &mut Environment, config: &StackConfig, settings: &Values) -> Stack {
    let name = config.name.as_str();
    let project_name = format!("madplan-{name}");
    env.require(Baseline::production());
    // On every taggable resource of every provider (and on the instances
    // the auto-scaling group launches, through the launch template).
    env.default_tags(default_tags(name));

    // Secrets: references in specs, values only in memory.
    let db_password = env.secret(
        "db-password",
        &settings.db_password.version,
        settings.db_password.value.clone(),
    );
    let redis_token = env.secret(
        "redis-auth-token",
        &settings.redis_token.version,
        settings.redis_token.value.clone(),
    );
    let pagerduty_key = env.secret(
        "pagerduty-key",
        &settings.pagerduty_key.version,
        settings.pagerduty_key.value.clone(),
    );
    let datadog_key = env.secret(
        "datadog-api-key",
        &settings.datadog_api_key.version,
        settings.datadog_api_key.value.clone(),
    );

    // AWS: network, web tier, edge, cache.
    let network = two_tier(
        env,
        &TwoTierSpec::builder()
            .cidr(config.vpc_cidr.as_str())
            .zones(subnets(&config.vpc_cidr, &config.zones))
            .nat(config.nat)
            .build(),
    );
    let mut web_spec = WebTierSpec::production(&project_name, &config.api_host);
    web_spec.capacity = config.capacity;
    web_spec.instance_type = config.instance_type.as_str().into();
    web_spec.deletion_protection = config.protection;
    // The environment's default tags take the blueprint's place.
    web_spec.instance_tags.clear();
    let web = web_tier(env, &network, &web_spec);
    let edge = observability(
        env,
        &EdgeSpec::builder()
            .vpc(network.vpc.clone())
            .load_balancer(&web.load_balancer)
            .load_balancer_dimension(&web.load_balancer)
            .target_group_dimension(&web.target_group)
            .alert_email(settings.alert_email.as_str())
            .retention(config.log_retention)
            .build(),
    );
    let redis = redis(
        env,
        &RedisSpec::builder()
            .vpc(network.vpc.clone())
            .private_subnets(network.private.clone())
            .app_group(network.app_group.clone())
            .auth_token(redis_token)
            .zones(config.zones.clone())
            .node_type(config.redis_node_type.clone())
            .build(),
    );
    env.export::<String>("api_url", format!("https://{}", config.api_host));
    env.export::<String>("load_balancer", web.load_balancer.output("dns_name"));
    env.export::<String>("redis_primary", redis.group.output("primary_endpoint"));
    env.export::<String>("redis_reader", redis.group.output("reader_endpoint"));

    // Atlas: the database, reachable from the NAT gateways' addresses only.
    let project = env.add(
        "main",
        Project::new(&settings.atlas_org, &project_name).settings(ProjectSettings {
            // Production data is not browsed from the Atlas UI.
            data_explorer: Some(false),
            ..ProjectSettings::default()
        }),
    );
    let compute = match &config.database {
        DatabaseSize::Fixed(size) => Compute::fixed(size.clone()),
        DatabaseSize::AutoScaled { min, max } => {
            Compute::auto_scaled(min.clone(), max.clone()).scale_down_to(min.clone())
        }
    };
    let mut cluster_spec = Cluster::new(&project, &project_name, compute)
        .storage(Storage::auto_scaled_from(40.0))
        .region(Region::electable(CloudProvider::Aws, "US_EAST_1", 7, 3))
        .termination_protection(config.protection)
        .tag("Environment", name)
        .tag("Project", "madplan")
        .tag("ManagedBy", "madplan");
    for r in &config.read_replica_regions {
        cluster_spec = cluster_spec.region(Region::read_only(CloudProvider::Aws, r, 1));
    }
    let cluster = env.add("main", cluster_spec);
    if config.protection {
        env.protect(&cluster);
    }
    let mut schedule = BackupSchedule::for_cluster(&cluster);
    schedule.daily = Some(Retention::days(config.retention_days));
    if let Some(hourly) = &mut schedule.hourly {
        hourly.keep = Retention::days(config.retention_days);
    }
    if let Some(region) = &config.backup_copy_region {
        schedule = schedule.copy_to(
            CrossRegionCopy::to(CloudProvider::Aws, region)
                .keep(Frequency::Hourly, Retention::days(config.retention_days))
                .keep(Frequency::Daily, Retention::days(config.retention_days)),
        );
    }
    env.add("main", schedule);
    let mut access = AccessList::new(&project);
    for (i, eip) in network.elastic_ips.iter().enumerate() {
        access = access.entry(
            AccessListEntry::address(eip.output::<Ipv4Addr>("public_ip"))
                .note(&format!("NAT gateway {}", i + 1)),
        );
    }
    env.add("main", access);
    env.add(
        "api",
        DatabaseUser::scram(&project, "madplan-api", db_password)
            .role(DbRole::read_write("madplan"))
            .scope(&cluster),
    );
    env.add("main", Auditing::new(&project, AuditFilter::access()));
    env.add(
        "main",
        DatadogIntegration::new(
            &project,
            datadog_key,
            settings
                .datadog_site
                .parse()
                .unwrap_or_else(|_| "datadoghq.com".parse().expect("a known site")),
        ),
    );
    env.export::<ConnectionString>("mongodb_uri", &cluster);

    // Cloudflare: the edge in front of the load balancer.
    let zone = ZoneRef::read(
        env,
        "main",
        Zone::named(
            &config.domain,
            ZonePlan::business().with_advanced_certificate_manager(),
        ),
    );
    let api_record = env.add(
        "api",
        DnsRecord::cname(
            &zone,
            config.api_host.as_str(),
            web.load_balancer.output::<String>("dns_name"),
        )
        .proxied(true),
    );
    let validation =
        crate::aws::web::Certificate::validation_record(&web.certificate, &config.api_host);
    env.add(
        "api-certificate",
        DnsRecord::certificate_validation(&zone, validation.name, validation.value),
    );
    // The frontend is on Vercel: its address at the zone's apex (a CNAME
    // cannot share a name with the CAA records), its CNAME elsewhere.
    for (i, host) in config.frontend_hosts.iter().enumerate() {
        let record = if *host == config.domain {
            DnsRecord::a(&zone, host.as_str(), VERCEL_APEX)
        } else {
            DnsRecord::cname(&zone, host.as_str(), VERCEL_CNAME)
        };
        env.add(&format!("frontend-{i}"), record);
    }
    if config.owns_shared {
        env.add(
            "caa-letsencrypt",
            DnsRecord::caa_issue(&zone, config.domain.as_str(), "letsencrypt.org"),
        );
        env.add(
            "caa-amazon",
            DnsRecord::caa_issue(&zone, config.domain.as_str(), "amazon.com"),
        );
        env.add("tls", ZoneSettings::production(&zone));
        env.add("waf", ManagedWaf::for_plan(&zone));
        env.add(
            "limits",
            RateLimits::new(&zone).rule(RateLimitRule::per_ip(
                "api",
                &format!("http.host eq \"{}\"", config.api_host),
                2000,
                Period::FiveMinutes,
            )),
        );
        env.add(
            "cache",
            CacheRules::new(&zone).rule(CacheRule::static_assets(
                "assets",
                &["js", "css", "png", "jpg", "svg", "woff2"],
                86400,
            )),
        );
        env.add("bots", BotProtection::for_plan(&zone));
        env.add("edge", EdgeCertificate::lets_encrypt(&zone, &config.domain));
    }

    // Datadog: monitors, SLOs, checks, the dashboard, and the AWS
    // integration, whose external id the integration role trusts.
    let role_name = format!("{project_name}-datadog");
    let mut monitoring_settings = MonitoringSettings::new(name, &config.api_host, pagerduty_key);
    monitoring_settings.slack_channel = config.slack_channel.clone();
    if config.owns_shared {
        monitoring_settings.aws = Some((
            Input::Value(settings.aws_account_id.clone()),
            role_name.clone(),
        ));
    }
    let monitoring = add_monitoring(env, &monitoring_settings);
    // The service's dashboard: https://app.DD_SITE/dashboard/ID
    env.export::<String>("dashboard_id", monitoring.dashboard.output("id"));
    let datadog_role = monitoring
        .aws
        .clone()
        .map(|integration| datadog_integration_role(env, &role_name, &integration));
    Stack {
        network,
        web,
        edge,
        redis,
        project,
        cluster,
        zone,
        api_record,
        monitoring,
        datadog_role,
    }
}

/// The role Datadog assumes to read the account: trusted by Datadog's
/// account when it presents the integration's external id.
fn datadog_integration_role(
    env: &mut Environment,
    role_name: &str,
    integration: &Ref<crate::datadog::resources::AwsIntegration>,
) -> Ref<Role> {
    env.add(
        "datadog",
        Role::builder()
            .name(role_name.to_string())
            .trust(PolicyDocument::new([Statement::allow(["sts:AssumeRole"])
                .principal("AWS", format!("arn:aws:iam::{DATADOG_AWS_ACCOUNT}:root"))
                .when(
                    "StringEquals",
                    "sts:ExternalId",
                    [integration.output::<String>("external_id")],
                )]))
            .inline_policies(BTreeMap::from([(
                "datadog-read".to_string(),
                PolicyDocument::new([Statement::allow([
                    "cloudwatch:Get*",
                    "cloudwatch:List*",
                    "ec2:Describe*",
                    "elasticache:Describe*",
                    "elasticache:List*",
                    "elasticloadbalancing:Describe*",
                    "autoscaling:Describe*",
                    "logs:Describe*",
                    "logs:Get*",
                    "tag:GetResources",
                ])
                .on(["*"])]),
            )]))
            .build(),
    )
}

/// The default tags of the stack ([`Environment::default_tags`]), beside
/// madplan's own: what the guide's runbook filters on
/// (`describe-instances --filters Name=tag:Environment,Values=production`).
pub fn default_tags(environment: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("Environment".to_string(), environment.to_string()),
        ("Project".to_string(), "madplan".to_string()),
        ("ManagedBy".to_string(), "madplan".to_string()),
    ])
}
