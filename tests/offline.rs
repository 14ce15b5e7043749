//! Unit tests of an environment with mocked providers: what a team writes to
//! check its own ops binary offline, in a plain `cargo test` (no emulator, no
//! account). `Environment::plan_offline` validates (policies included) and
//! plans against a `MockWorld` (nothing, a state, or resources given with
//! their typed spec and outputs) without calling any provider: here every
//! provider points at a loopback listener that counts connections, and the
//! count stays zero.

mod common;

use std::sync::atomic::Ordering;

use madplan::aws::network::SubnetId;
use madplan::aws::network::{Subnet, SubnetOutputs, Vpc, VpcId, VpcOutputs};
use madplan::core::offline::MockWorld;
use madplan::core::{Action, Environment, Error};
use madplan::stack::StackConfig;

/// The answers of the stack's two data sources.
fn data_answers(world: MockWorld) -> MockWorld {
    world
        .data::<madplan::aws::web::LatestAmi>(
            "app",
            &madplan::aws::web::AmiOutputs {
                image_id: madplan::aws::web::AmiId("ami-0offline".into()),
            },
        )
        .data::<madplan::cloudflare::Zone>(
            "main",
            &madplan::cloudflare::resources::ZoneOutputs {
                zone_id: madplan::cloudflare::resources::ZoneId(
                    "0123456789abcdef0123456789abcdef".into(),
                ),
                name: "madplan.com".into(),
                status: "active".into(),
                plan: Some("business".into()),
            },
        )
}

#[tokio::test]
async fn the_production_stack_plans_offline_without_a_request() {
    let (url, hits) = common::offline::tripwire().await;
    let env = madplan::stack::production(common::offline::settings(&url).await);
    let plan = env.plan_offline(&data_answers(MockWorld::empty())).unwrap();

    let managed: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::Read)
        .collect();
    assert!(managed.len() > 80, "{}", plan.render());
    assert!(
        managed.iter().all(|c| c.action == Action::Create),
        "{}",
        plan.render()
    );
    // Every provider is in it.
    for provider in ["aws.", "atlas.", "cloudflare.", "datadog."] {
        assert!(
            managed
                .iter()
                .any(|c| c.address.to_string().starts_with(provider)),
            "no {provider} resource"
        );
    }
    // The stack's default tags are on what it creates.
    let vpc = plan.change("aws.vpc.main").unwrap();
    let tags = &vpc.after.as_ref().unwrap()["tags"];
    assert_eq!(tags["Environment"], "production");
    assert_eq!(tags["ManagedBy"], "madplan");
    let monitor = plan.change("datadog.monitor.cpu").unwrap();
    assert!(
        monitor.after.as_ref().unwrap()["tags"]
            .as_array()
            .unwrap()
            .contains(&"environment:production".into()),
        "{monitor:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a provider was called");
}

#[tokio::test]
async fn a_policy_breach_is_refused_offline() {
    let (url, hits) = common::offline::tripwire().await;
    let mut config = StackConfig::production("madplan.com");
    config.retention_days = 7;
    let env = madplan::stack::environment(common::offline::settings(&url).await, &config);
    let err = env
        .plan_offline(&data_answers(MockWorld::empty()))
        .map(|p| p.summary())
        .unwrap_err();
    let Error::Invalid(problems) = &err else {
        panic!("{err}")
    };
    let text = err.to_string();
    assert!(
        problems.0.iter().any(|p| p
            .address
            .as_ref()
            .is_some_and(|a| a.to_string() == "atlas.backup_schedule.main")),
        "{text}"
    );
    assert!(
        text.contains("daily snapshots are kept 7 days, less than 30"),
        "{text}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_given_world_shows_drift_and_what_is_gone() {
    let (url, hits) = common::offline::tripwire().await;
    let mut env = Environment::new("staging").with_provider(common::aws_at(&url).await);
    env.default_tags([("Project", "madplan"), ("Environment", "staging")]);
    let vpc = env.add(
        "main",
        Vpc::builder()
            .cidr("10.0.0.0/16")
            .tags([("Environment".to_string(), "staging-blue".to_string())].into())
            .build(),
    );
    env.add(
        "web-a",
        Subnet::builder()
            .vpc(&vpc)
            .cidr("10.0.1.0/24")
            .zone("us-east-1a")
            .build(),
    );

    // The world as last applied: the VPC and its subnet exist...
    let live_vpc = Vpc::builder()
        .cidr("10.0.0.0/16")
        .tags(
            [
                ("Environment".to_string(), "staging-blue".to_string()),
                ("Project".to_string(), "madplan".to_string()),
            ]
            .into(),
        )
        .build();
    let live_subnet = Subnet::builder()
        .vpc("vpc-0a")
        .cidr("10.0.1.0/24")
        .zone("us-east-1a")
        .tags([("Project".to_string(), "madplan".to_string())].into())
        .build();
    let world = MockWorld::empty()
        .exists(
            "main",
            &live_vpc,
            &VpcOutputs {
                vpc_id: VpcId("vpc-0a".into()),
            },
        )
        .exists(
            "web-a",
            &live_subnet,
            &SubnetOutputs {
                subnet_id: SubnetId("subnet-0a".into()),
                arn: "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-0a".into(),
            },
        );
    // ...and nothing changed: no change, only the missing default tag
    // (`Environment` on the subnet; the VPC's own tag wins over the
    // default).
    let plan = env.plan_offline(&world).unwrap();
    let changed: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.is_change())
        .map(|c| format!("{} {:?}", c.address, c.action))
        .collect();
    assert_eq!(changed, ["aws.subnet.web-a Update"], "{}", plan.render());

    // Someone turned DNS host names off and deleted the subnet.
    let world = world
        .drift("aws.vpc.main", "/dns_hostnames", false)
        .gone("aws.subnet.web-a");
    let plan = env.plan_offline(&world).unwrap();
    let vpc = plan.change("aws.vpc.main").unwrap();
    assert_eq!(vpc.action, Action::Update, "{}", plan.render());
    assert!(vpc.fields.iter().any(|f| f.field == "dns_hostnames"));
    assert_eq!(
        plan.change("aws.subnet.web-a").unwrap().action,
        Action::Create
    );

    // A mistake in the world is named.
    let err = env
        .plan_offline(&MockWorld::empty().drift("aws.vpc.other", "/cidr", "10.1.0.0/16"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("aws.vpc.other"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a provider was called");
}

#[test]
fn madplan_keys_are_not_default_tags() {
    let mut env = Environment::new("staging");
    env.default_tags([("madplan:environment", "x")]);
    let err = env.validate().unwrap_err().to_string();
    assert!(err.contains("madplan:environment"), "{err}");
}

#[tokio::test]
async fn an_environment_without_the_guides_monitors_is_refused() {
    let (url, _) = common::offline::tripwire().await;
    let s = common::offline::settings(&url).await;
    let mut env = Environment::new("production").with_provider(s.datadog);
    madplan::stack::add_policies(&mut env, &StackConfig::production("madplan.com"));
    let err = env.validate().unwrap_err();
    let Error::Invalid(problems) = &err else {
        panic!("{err}")
    };
    let missing: Vec<_> = problems
        .0
        .iter()
        .filter(|p| p.message.contains("has no monitor"))
        .collect();
    assert_eq!(missing.len(), 13, "{err}");
    assert!(
        err.to_string()
            .contains("\"Database connection failures\" has no monitor"),
        "{err}"
    );
}

/// Each of the guide's policies refuses a production stack that breaks it,
/// naming the resource and the field, before any request: a second,
/// unprotected load balancer without the WAF (`waf`, `protection`),
/// Cloudflare settings left at their defaults (`tls-floor`), an SSH rule
/// open to the internet (`encryption`) and a week of log retention
/// (`rpo`); `alerts` has its own test below.
#[tokio::test]
async fn each_policy_refuses_a_stack_that_breaks_it() {
    let (url, hits) = common::offline::tripwire().await;
    let mut config = StackConfig::production("madplan.com");
    config.log_retention = madplan::aws::observability::Retention::Days7;
    let (mut env, stack) = common::offline::stack_at(&url, &config).await;
    env.add(
        "side",
        madplan::aws::web::LoadBalancer::builder()
            .name("side")
            .subnets([&stack.network.public[0], &stack.network.public[1]])
            .security_groups([&stack.network.lb_group])
            .build(),
    );
    env.add(
        "loose",
        madplan::cloudflare::ZoneSettings::on("0123456789abcdef0123456789abcdef"),
    );
    env.add(
        "ssh",
        madplan::aws::network::SecurityGroup::builder()
            .name("ssh")
            .vpc(&stack.network.vpc)
            .ingress([madplan::aws::network::Rule::tcp(
                madplan::aws::network::PortRange::port(22),
                madplan::aws::network::Peer::cidr("0.0.0.0/0"),
            )])
            .build(),
    );
    let err = env.validate().unwrap_err();
    let Error::Invalid(problems) = &err else {
        panic!("{err}")
    };
    let found = |address: &str, field: &str, policy: &str| {
        problems.0.iter().any(|p| {
            p.address.as_ref().is_some_and(|a| a.to_string() == address)
                && p.field.as_deref() == Some(field)
                && p.message.starts_with(&format!("policy {policy}:"))
        })
    };
    for (address, field, policy) in [
        ("aws.load_balancer.side", "waf", "waf"),
        (
            "aws.load_balancer.side",
            "deletion_protection",
            "protection",
        ),
        ("cloudflare.zone_settings.loose", "ssl", "tls-floor"),
        ("cloudflare.zone_settings.loose", "hsts", "tls-floor"),
        ("aws.security_group.ssh", "ingress", "encryption"),
        ("aws.log_group.app", "retention", "rpo"),
    ] {
        assert!(
            found(address, field, policy),
            "no `{policy}` problem at {address} {field}:\n{err}"
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}
