//! A catalogue of 40 bad inputs across the four providers and the guide's
//! policies: a production stack whose configuration is wrong in many ways
//! at once, extra resources each wrong in one way, and malformed settings.
//! Every mistake is reported in one run, each naming the resource (or the
//! variable), the field and what to do, and no request reaches any
//! provider: all four point at a loopback port that counts connections.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use madplan::core::{Error, IntoInput, Problem};
use madplan::stack::{Settings, StackConfig};
use secrecy::SecretString;

fn show(p: &Problem) -> String {
    format!(
        "{} | {} | {} | {}",
        p.address
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        p.field.clone().unwrap_or_default(),
        p.message,
        p.hint.clone().unwrap_or_default()
    )
}

/// What the catalogue expects: (address or variable, field, a fragment of
/// the message).
type Expected = (&'static str, &'static str, &'static str);

/// The mistakes of the configuration and of the extra resources.
const RESOURCE_MISTAKES: &[Expected] = &[
    // AWS
    ("aws.vpc.main", "cidr", "/8 is outside the sizes AWS allows"),
    (
        "aws.launch_template.web",
        "instance_type",
        "\"t3.enormous\" is not an EC2 instance type",
    ),
    (
        "aws.autoscaling_group.web",
        "desired_capacity",
        "min 5 <= desired 3 <= max 10 does not hold",
    ),
    (
        "aws.elasticache_replication_group.main",
        "node_type",
        "\"t4g.medium\" is not cache.FAMILY.SIZE",
    ),
    // Atlas
    (
        "atlas.cluster.main",
        "regions",
        "AWS US_EAST_1 is listed twice",
    ),
    (
        "atlas.cluster.main",
        "compute",
        "production runs on M30 or larger",
    ),
    (
        "atlas.backup_schedule.main",
        "hourly",
        "hourly snapshots are kept 7 days",
    ),
    (
        "atlas.backup_schedule.main",
        "daily",
        "daily snapshots are kept 7 days; the deployment guide keeps 30 days",
    ),
    (
        "atlas.backup_schedule.main",
        "copies",
        "production copies its backups, with the oplogs, to a second region",
    ),
    (
        "atlas.access_list.debug",
        "entries",
        "0.0.0.0/0 lets the whole internet in",
    ),
    (
        "atlas.database_user.nobody",
        "roles",
        "a user needs at least one role",
    ),
    // Cloudflare
    (
        "cloudflare.dns_record.frontend-0",
        "name",
        "\"not a host\" is not a full DNS name",
    ),
    // Datadog
    (
        "datadog.slack_channel.alerts",
        "channel",
        "\"no-hash\" does not start with `#`",
    ),
    // Policies
    (
        "atlas.cluster.main",
        "backup",
        "policy rpo: no backup schedule copies its snapshots and oplogs",
    ),
    (
        "atlas.backup_schedule.main",
        "daily",
        "policy rpo: daily snapshots are kept 7 days, less than 30",
    ),
    (
        "aws.log_group.app",
        "retention",
        "policy rpo: logs are kept Days7, less than 30 days",
    ),
    (
        "aws.log_group.flow",
        "retention",
        "policy rpo: logs are kept Days7, less than 30 days",
    ),
    (
        "aws.log_group.waf",
        "retention",
        "policy rpo: logs are kept Days7, less than 30 days",
    ),
    ("aws.security_group.debug", "ingress", "policy encryption"),
    // Extra resources, each wrong in one way.
    (
        "aws.subnet.stray",
        "cidr",
        "192.168.0.0/24 is not inside aws.vpc.main's block",
    ),
    (
        "aws.waf_web_acl.bad",
        "rules[0]",
        "a rate limit of 9 is outside what WAF accepts",
    ),
    (
        "aws.waf_logging.to-an-arn",
        "destination",
        "WAF only logs to a log group whose name starts with \"aws-waf-logs-\"",
    ),
    (
        "aws.cloudwatch_alarm.slow",
        "period",
        "a period of 90 s is not a multiple of 60",
    ),
    (
        "atlas.database_user.robot",
        "username",
        "\"not-an-arn\" is not an IAM ARN",
    ),
    (
        "atlas.access_list.twice",
        "project",
        "manages this project's access list already",
    ),
];

/// The mistakes of the settings read from the environment's variables.
const SETTINGS_MISTAKES: &[Expected] = &[
    ("", "AWS_REGION", "no AWS region is configured"),
    (
        "",
        "MADPLAN_AWS_ACCOUNT_ID",
        "\"12345\" is not a 12-digit AWS account id",
    ),
    ("", "MONGODB_ATLAS_CLIENT_ID", "no Atlas credentials"),
    (
        "",
        "MONGODB_ATLAS_ORG_ID",
        "\"org\" is not an Atlas organization id",
    ),
    (
        "",
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_API_TOKEN is not set",
    ),
    ("", "CLOUDFLARE_ZONE", "\"madplan com\" is not a zone name"),
    ("", "DD_SITE", "\"datadoghq.moon\" is not a Datadog site"),
    ("", "DD_API_KEY", "is too short (7 characters, at least 32)"),
    ("", "DD_API_KEY", "is not hexadecimal"),
    (
        "",
        "MADPLAN_ALERT_EMAIL",
        "\"alerts-at-madplan\" is not an e-mail address",
    ),
    (
        "",
        "MADPLAN_PAGERDUTY_KEY",
        "is too short (5 characters, at least 20)",
    ),
    (
        "",
        "MADPLAN_DB_PASSWORD",
        "is too short (5 characters, at least 12)",
    ),
    (
        "",
        "MADPLAN_REDIS_TOKEN",
        "ElastiCache refuses it: 7 character(s)",
    ),
    ("", "MADPLAN_POLL_INTERVAL", "is not a duration"),
    (
        "",
        "DD_APP_KEY",
        "is not a Datadog application key (40 hexadecimal digits; this one has 5",
    ),
];

fn problems_of(err: &Error) -> Vec<String> {
    let Error::Invalid(problems) = err else {
        panic!("not a validation error: {err}")
    };
    problems.0.iter().map(show).collect()
}

/// Each expected mistake is among `found`, with a hint (what to do) when
/// the catalogue's message has none of its own.
fn check(expected: &[Expected], found: &[String]) {
    for (at, field, fragment) in expected {
        let hit = found.iter().find(|line| {
            let parts: Vec<&str> = line.splitn(4, " | ").collect();
            parts[0] == *at && parts[1] == *field && parts[2].contains(fragment)
        });
        assert!(
            hit.is_some(),
            "{at} {field}: no problem saying {fragment:?}; found:\n{}",
            found.join("\n")
        );
    }
}

#[tokio::test]
async fn every_bad_input_is_reported_at_once_without_a_request() {
    let (url, hits) = common::offline::tripwire().await;

    // The production stack, wrong in many ways at once.
    let mut config = StackConfig::production("madplan.com");
    config.vpc_cidr = "10.0.0.0/8".into();
    config.capacity.min = 5;
    config.capacity.desired = 3;
    config.instance_type = "t3.enormous".into();
    config.retention_days = 7;
    config.log_retention = madplan::aws::observability::Retention::Days7;
    config.read_replica_regions = vec!["US_EAST_1".into()];
    config.backup_copy_region = None;
    config.database =
        madplan::stack::DatabaseSize::Fixed(madplan::atlas::client::clusters::InstanceSize::M10);
    config.frontend_hosts = vec!["not a host".into()];
    config.slack_channel = "no-hash".into();
    config.redis_node_type = madplan::aws::cache::NodeType::from("t4g.medium");
    let (mut env, stack) = common::offline::stack_at(&url, &config).await;
    // Extra resources, each wrong in one way.
    env.add(
        "debug",
        madplan::aws::network::SecurityGroup::builder()
            .name("debug")
            .vpc(&stack.network.vpc)
            .ingress([madplan::aws::network::Rule::tcp(
                madplan::aws::network::PortRange::port(22),
                madplan::aws::network::Peer::cidr("0.0.0.0/0"),
            )])
            .build(),
    );
    env.add(
        "debug",
        madplan::atlas::resources::AccessList::new(&stack.project).entry(
            madplan::atlas::resources::AccessListEntry::cidr("0.0.0.0/0"),
        ),
    );
    let password = env.secret(
        "nobody-password",
        "1",
        SecretString::from("nobody-password-0123".to_string()),
    );
    env.add(
        "nobody",
        madplan::atlas::resources::DatabaseUser::scram(&stack.project, "nobody", password),
    );
    env.add(
        "stray",
        madplan::aws::network::Subnet::builder()
            .vpc(&stack.network.vpc)
            .cidr("192.168.0.0/24")
            .zone("us-east-1a")
            .build(),
    );
    let bad_acl = env.add(
        "bad",
        madplan::aws::waf::WebAcl::builder()
            .name("bad")
            .rules(vec![madplan::aws::waf::WafRule::new(
                "too-low",
                1,
                madplan::aws::waf::RuleKind::RateLimit {
                    limit: madplan::aws::waf::RateLimit::per_ip(9)
                        .per(madplan::aws::waf::Window::FiveMinutes),
                    action: madplan::aws::waf::RuleAction::Block,
                },
            )])
            .visibility(madplan::aws::waf::Visibility::on("bad"))
            .build(),
    );
    env.add(
        "to-an-arn",
        madplan::aws::waf::Logging::builder()
            .web_acl(&bad_acl)
            .destination("arn:aws:logs:us-east-1:123456789012:log-group:waf")
            .build(),
    );
    let mut slow = madplan::aws::observability::alarm::seed::response_time_p95(
        "slow",
        "app/web/1",
        "arn:aws:sns:us-east-1:123456789012:alerts".into_input(),
    );
    slow.period = 90;
    env.add("slow", slow);
    env.add(
        "robot",
        madplan::atlas::resources::DatabaseUser::aws_iam_role(&stack.project, "not-an-arn")
            .role(madplan::atlas::resources::DbRole::read_write("madplan")),
    );
    env.add(
        "twice",
        madplan::atlas::resources::AccessList::new(&stack.project)
            .entry(madplan::atlas::resources::AccessListEntry::cidr(
                "203.0.113.0/24",
            ))
            .entry(madplan::atlas::resources::AccessListEntry::cidr(
                "203.0.113.0/24",
            )),
    );
    let found = problems_of(&env.validate().unwrap_err());

    // The settings, from malformed variables.
    let vars = BTreeMap::from([
        ("MADPLAN_AWS_ACCOUNT_ID", "12345"),
        ("MADPLAN_ALERT_EMAIL", "alerts-at-madplan"),
        ("CLOUDFLARE_ZONE", "madplan com"),
        ("DD_API_KEY", "not-hex"),
        ("DD_SITE", "datadoghq.moon"),
        ("MONGODB_ATLAS_ORG_ID", "org"),
        ("MADPLAN_PAGERDUTY_KEY", "short"),
        ("MADPLAN_DB_PASSWORD", "short"),
        ("MADPLAN_REDIS_TOKEN", "has spaces and @ at /"),
        ("MADPLAN_POLL_INTERVAL", "soon"),
        ("DD_APP_KEY", "short"),
    ]);
    let settings_found = problems_of(
        &Settings::read(
            &|k| vars.get(k).map(|v| v.to_string()),
            common::aws_at(&url).await,
            None,
        )
        .map(|_| ())
        .unwrap_err(),
    );

    check(RESOURCE_MISTAKES, &found);
    check(SETTINGS_MISTAKES, &settings_found);
    let total = RESOURCE_MISTAKES.len() + SETTINGS_MISTAKES.len();
    assert!(total >= 40, "the catalogue holds {total} mistakes");
    // Every problem says what to do, in its message or its hint, and every
    // resource problem names its resource and field.
    for line in found.iter().chain(&settings_found) {
        let parts: Vec<&str> = line.splitn(4, " | ").collect();
        assert!(!parts[1].is_empty(), "no field: {line}");
    }
    assert!(
        found.iter().all(|l| !l.starts_with(" | ")),
        "a resource problem without its address:\n{}",
        found.join("\n")
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a provider was called");
    eprintln!(
        "{} problems reported in one validation, {} in one reading of the settings, 0 requests",
        found.len(),
        settings_found.len()
    );
}
