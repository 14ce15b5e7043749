//! The web tier end to end against moto, on the two-tier network with a NAT
//! gateway per zone: apply, a plan with no changes (and its requests per
//! kind), a drift per kind made with the raw SDK, reported field by field
//! and repaired, a scale event that is not drift, a launch template change
//! that makes a new version without recreating the group, and a destroy
//! that leaves nothing tagged.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use std::fs::File;

use madplan::aws::Aws;
use madplan::aws::baseline::Baseline;
use madplan::aws::network::blueprint::{NatGateways, TwoTier, TwoTierSpec, two_tier};
use madplan::aws::web::blueprint::{Follow, WebTier, WebTierSpec, web_tier};
use madplan::aws::web::{LoadBalancerDnsName, UserData};
use madplan::core::plan::Action;
use madplan::core::{Environment, Plan, TAG_ENVIRONMENT};

const ZONES: [&str; 2] = ["us-east-1a", "us-east-1b"];

/// What a test changes in the web tier's spec.
#[derive(Clone, Default)]
struct Knobs {
    user_data: Option<&'static str>,
    follow: Follow,
    nat: Option<NatGateways>,
}

fn spec(name: &str, knobs: &Knobs) -> (TwoTierSpec, WebTierSpec) {
    let net = TwoTierSpec::builder()
        .cidr("10.0.0.0/16")
        .zones(
            ZONES
                .iter()
                .enumerate()
                .map(|(i, z)| {
                    (
                        z.to_string(),
                        format!("10.0.{i}.0/24").into(),
                        format!("10.0.{}.0/24", 100 + i).into(),
                    )
                })
                .collect(),
        )
        .nat(knobs.nat.unwrap_or(NatGateways::PerZone))
        .build();
    let mut web = WebTierSpec::production(name, &format!("api.{name}.example.com"));
    // moto does not enforce deletion protection, but a real destroy would
    // stop on it: tests run as staging would.
    web.deletion_protection = false;
    web.user_data = knobs.user_data.map(UserData::from);
    web.follow = knobs.follow;
    (net, web)
}

fn stack(name: &str, aws: &Aws, knobs: &Knobs) -> (Environment, TwoTier, WebTier) {
    let mut env = Environment::new(name).with_provider(aws.clone());
    env.set_policy(Baseline::production());
    let (net_spec, web_spec) = spec(name, knobs);
    let net = two_tier(&mut env, &net_spec);
    let web = web_tier(&mut env, &net, &web_spec);
    env.export::<LoadBalancerDnsName>("api_dns_name", &web.load_balancer);
    (env, net, web)
}

fn env(name: &str, aws: &Aws, knobs: &Knobs) -> Environment {
    stack(name, aws, knobs).0
}

fn state_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn output_of(state: &serde_json::Value, address: &str, field: &str) -> serde_json::Value {
    state["resources"][address]["outputs"][field].clone()
}

fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// The changes of a plan, as (address, action, fields).
fn changes(plan: &Plan) -> Vec<(String, Action, Vec<String>)> {
    plan.changes
        .iter()
        .filter(|c| c.action != Action::NoOp && c.action != Action::Read)
        .map(|c| {
            (
                c.address.to_string(),
                c.action,
                c.fields.iter().map(|f| f.field.clone()).collect(),
            )
        })
        .collect()
}

/// Web tests take this lock, across nextest's processes: each reads every
/// load balancer, target group and certificate of the region, so that the
/// requests of a refresh are counted with nothing else appearing meanwhile.
fn serial() -> File {
    let path = std::env::temp_dir().join("madplan-web-tests.lock");
    let f = File::create(path).unwrap();
    f.lock().unwrap();
    f
}

fn str_of(v: serde_json::Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is not a string"))
        .to_string()
}

/// What still carries the environment's markers, by kind.
async fn leftovers(name: &str) -> BTreeMap<&'static str, usize> {
    let conf = common::sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let asg = aws_sdk_autoscaling::Client::new(&conf);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&conf);
    let iam = aws_sdk_iam::Client::new(&conf);
    let acm = aws_sdk_acm::Client::new(&conf);
    let cw = aws_sdk_cloudwatch::Client::new(&conf);
    let tag = || {
        aws_sdk_ec2::types::Filter::builder()
            .name(format!("tag:{TAG_ENVIRONMENT}"))
            .values(name)
            .build()
    };
    let mut out = BTreeMap::new();
    out.insert(
        "elastic_ip",
        ec2.describe_addresses()
            .filters(tag())
            .send()
            .await
            .unwrap()
            .addresses()
            .len(),
    );
    out.insert(
        "nat_gateway",
        ec2.describe_nat_gateways()
            .filter(tag())
            .send()
            .await
            .unwrap()
            .nat_gateways()
            .iter()
            .filter(|n| {
                n.tags().iter().any(|t| t.value() == Some(name))
                    && n.state() != Some(&aws_sdk_ec2::types::NatGatewayState::Deleted)
            })
            .count(),
    );
    out.insert(
        "launch_template",
        ec2.describe_launch_templates()
            .filters(tag())
            .send()
            .await
            .unwrap()
            .launch_templates()
            .len(),
    );
    out.insert(
        "vpc",
        ec2.describe_vpcs()
            .filters(tag())
            .send()
            .await
            .unwrap()
            .vpcs()
            .len(),
    );
    out.insert(
        "autoscaling_group",
        asg.describe_auto_scaling_groups()
            .filters(
                aws_sdk_autoscaling::types::Filter::builder()
                    .name(format!("tag:{TAG_ENVIRONMENT}"))
                    .values(name)
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .auto_scaling_groups()
            .len(),
    );
    let prefix = format!("{name}-");
    out.insert(
        "scaling_policy",
        asg.describe_policies()
            .send()
            .await
            .unwrap()
            .scaling_policies()
            .iter()
            .filter(|p| p.policy_name().unwrap_or_default().starts_with(&prefix))
            .count(),
    );
    out.insert(
        "alarm",
        cw.describe_alarms()
            .alarm_name_prefix(&prefix)
            .send()
            .await
            .unwrap()
            .metric_alarms()
            .len(),
    );
    let lbs = elb.describe_load_balancers().send().await.unwrap();
    out.insert(
        "load_balancer",
        lbs.load_balancers()
            .iter()
            .filter(|l| {
                l.load_balancer_name()
                    .unwrap_or_default()
                    .starts_with(&prefix)
            })
            .count(),
    );
    let tgs = elb.describe_target_groups().send().await.unwrap();
    out.insert(
        "target_group",
        tgs.target_groups()
            .iter()
            .filter(|t| {
                t.target_group_name()
                    .unwrap_or_default()
                    .starts_with(&prefix)
            })
            .count(),
    );
    let roles = iam
        .get_account_authorization_details()
        .filter(aws_sdk_iam::types::EntityType::Role)
        .send()
        .await
        .unwrap();
    out.insert(
        "iam_role",
        roles
            .role_detail_list()
            .iter()
            .filter(|r| r.tags().iter().any(|t| t.value() == name))
            .count(),
    );
    out.insert(
        "instance_profile",
        iam.list_instance_profiles()
            .send()
            .await
            .unwrap()
            .instance_profiles()
            .iter()
            .filter(|p| p.path().starts_with(&format!("/madplan/{name}/")))
            .count(),
    );
    let mut certs = 0;
    for c in acm
        .list_certificates()
        .send()
        .await
        .unwrap()
        .certificate_summary_list()
    {
        let tags = acm
            .list_tags_for_certificate()
            .certificate_arn(c.certificate_arn().unwrap())
            .send()
            .await
            .unwrap();
        if tags.tags().iter().any(|t| t.value() == Some(name)) {
            certs += 1;
        }
    }
    out.insert("certificate", certs);
    out
}

fn nothing_left(left: &BTreeMap<&'static str, usize>) -> bool {
    left.values().all(|n| *n == 0)
}

#[tokio::test]
async fn web_tier_applies_replans_clean_and_destroys_clean() {
    let _serial = serial();
    let name = common::unique("web");
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let knobs = Knobs::default();

    let plan = common::plan(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    // Network 11 + 2 Elastic IPs, 2 NAT gateways, a second private table;
    // web tier 15 (role, profile, template, group, 6 rules, target group,
    // load balancer, 2 listeners, certificate) + the AMI read.
    let creates = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Create)
        .count();
    assert_eq!(creates, 12 + 4 + 15, "{:?}", plan.summary());
    let report = common::apply(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    assert_eq!(report.deleted, 0);

    // Nothing to do right after an apply, and the refresh's requests.
    let before = aws.calls();
    let plan = common::plan(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    let noop = delta(&before, &aws.calls());
    eprintln!("no-op plan requests: {noop:#?}");

    let s = state_json(&state);
    let dns = str_of(output_of(&s, "aws.load_balancer.web", "dns_name"));
    assert!(dns.contains("elb"), "{dns}");
    assert!(str_of(output_of(&s, "aws.load_balancer.web", "arn_suffix")).starts_with("app/"));
    assert!(!str_of(output_of(&s, "aws.load_balancer.web", "hosted_zone_id")).is_empty());
    assert!(
        str_of(output_of(&s, "aws.target_group.api", "arn_suffix")).starts_with("targetgroup/")
    );
    // The certificate's validation record, for a DNS record elsewhere.
    let domain = format!("api.{name}.example.com");
    let record = str_of(output_of(
        &s,
        "aws.certificate.api",
        &format!("validation.{domain}.name"),
    ));
    assert!(record.ends_with(&format!("{domain}.")), "{record}");
    // The private subnets of each zone leave through their own NAT gateway.
    for zone in ["1a", "1b"] {
        let routes = &s["resources"][format!("aws.route_table.private-{zone}")]["spec"]["routes"];
        let nat = str_of(output_of(
            &s,
            &format!("aws.nat_gateway.{zone}"),
            "nat_gateway_id",
        ));
        assert_eq!(
            routes[0]["target"]["nat_gateway"],
            serde_json::json!(nat),
            "{routes}"
        );
    }
    let outputs = common::engine(env(&name, &aws, &knobs), &state)
        .outputs()
        .await
        .unwrap();
    assert_eq!(
        outputs["api_dns_name"].as_ref().unwrap().as_str(),
        Some(dns.as_str())
    );

    common::destroy(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    let left = leftovers(&name).await;
    assert!(nothing_left(&left), "{left:?}");
}
