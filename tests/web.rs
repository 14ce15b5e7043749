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
    env.require(Baseline::production());
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

/// Web tests take the region lock: each reads every load balancer, target
/// group and certificate of the region, so that the requests of a refresh
/// are counted with nothing else appearing meanwhile.
fn serial() -> File {
    common::region_lock()
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

#[tokio::test]
async fn a_drift_per_kind_is_reported_field_by_field_and_repaired_but_not_a_scale_event() {
    let _serial = serial();
    let name = common::unique("drift");
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let knobs = Knobs::default();
    common::apply(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    let s = state_json(&state);
    let out = |address: &str, field: &str| str_of(output_of(&s, address, field));

    let conf = common::sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let asg = aws_sdk_autoscaling::Client::new(&conf);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&conf);
    let iam = aws_sdk_iam::Client::new(&conf);
    let acm = aws_sdk_acm::Client::new(&conf);
    let cw = aws_sdk_cloudwatch::Client::new(&conf);
    let hand_tag = aws_sdk_ec2::types::Tag::builder()
        .key("Owner")
        .value("someone")
        .build();

    // Elastic IP and NAT gateway: a tag added by hand.
    ec2.create_tags()
        .resources(out("aws.elastic_ip.nat-1a", "allocation_id"))
        .resources(out("aws.nat_gateway.1a", "nat_gateway_id"))
        .tags(hand_tag.clone())
        .send()
        .await
        .unwrap();
    // Role: the SSM policy detached. Instance profile: its role removed.
    let role = out("aws.iam_role.app", "role_name");
    iam.detach_role_policy()
        .role_name(&role)
        .policy_arn("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")
        .send()
        .await
        .unwrap();
    iam.remove_role_from_instance_profile()
        .instance_profile_name(out("aws.instance_profile.app", "name"))
        .role_name(&role)
        .send()
        .await
        .unwrap();
    // Launch template: a version made by hand that allows IMDSv1.
    let template = out("aws.launch_template.web", "launch_template_id");
    ec2.create_launch_template_version()
        .launch_template_id(&template)
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id("ami-12345678")
                .instance_type(aws_sdk_ec2::types::InstanceType::T3Medium)
                .metadata_options(
                    aws_sdk_ec2::types::LaunchTemplateInstanceMetadataOptionsRequest::builder()
                        .http_tokens(aws_sdk_ec2::types::LaunchTemplateHttpTokensState::Optional)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    // Group: its maximum changed by hand, and a scale event (desired 3 -> 5).
    let group = out("aws.autoscaling_group.web", "name");
    asg.update_auto_scaling_group()
        .auto_scaling_group_name(&group)
        .max_size(7)
        .send()
        .await
        .unwrap();
    asg.set_desired_capacity()
        .auto_scaling_group_name(&group)
        .desired_capacity(5)
        .send()
        .await
        .unwrap();
    // Scaling rule: the CPU alarm's threshold raised by hand.
    let alarm_name = out("aws.scaling_rule.cpu-out", "alarm_name");
    let alarm = cw
        .describe_alarms()
        .alarm_names(&alarm_name)
        .send()
        .await
        .unwrap()
        .metric_alarms()[0]
        .clone();
    cw.put_metric_alarm()
        .alarm_name(&alarm_name)
        .set_alarm_description(alarm.alarm_description().map(str::to_string))
        .set_alarm_actions(Some(alarm.alarm_actions().to_vec()))
        .set_namespace(alarm.namespace().map(str::to_string))
        .set_metric_name(alarm.metric_name().map(str::to_string))
        .set_dimensions(Some(alarm.dimensions().to_vec()))
        .set_statistic(alarm.statistic().cloned())
        .set_period(alarm.period())
        .set_evaluation_periods(alarm.evaluation_periods())
        .threshold(90.0)
        .set_comparison_operator(alarm.comparison_operator().cloned())
        .send()
        .await
        .unwrap();
    // Target group: a slower health check and a longer deregistration delay.
    let tg = out("aws.target_group.api", "arn");
    elb.modify_target_group()
        .target_group_arn(&tg)
        .health_check_interval_seconds(60)
        .send()
        .await
        .unwrap();
    elb.modify_target_group_attributes()
        .target_group_arn(&tg)
        .attributes(
            aws_sdk_elasticloadbalancingv2::types::TargetGroupAttribute::builder()
                .key("deregistration_delay.timeout_seconds")
                .value("120")
                .build(),
        )
        .send()
        .await
        .unwrap();
    // Load balancer: invalid headers let through, a longer idle timeout.
    let lb = out("aws.load_balancer.web", "arn");
    elb.modify_load_balancer_attributes()
        .load_balancer_arn(&lb)
        .attributes(
            aws_sdk_elasticloadbalancingv2::types::LoadBalancerAttribute::builder()
                .key("routing.http.drop_invalid_header_fields.enabled")
                .value("false")
                .build(),
        )
        .attributes(
            aws_sdk_elasticloadbalancingv2::types::LoadBalancerAttribute::builder()
                .key("idle_timeout.timeout_seconds")
                .value("300")
                .build(),
        )
        .send()
        .await
        .unwrap();
    // HTTPS listener: a policy that accepts TLS 1.0.
    elb.modify_listener()
        .listener_arn(out("aws.listener.https", "arn"))
        .ssl_policy("ELBSecurityPolicy-2016-08")
        .send()
        .await
        .unwrap();
    // Certificate: a tag added by hand.
    acm.add_tags_to_certificate()
        .certificate_arn(out("aws.certificate.api", "arn"))
        .tags(
            aws_sdk_acm::types::Tag::builder()
                .key("Owner")
                .value("someone")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let plan = common::plan(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    let mut got = changes(&plan);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let u = Action::Update;
    let want: Vec<(String, Action, Vec<String>)> = vec![
        ("aws.autoscaling_group.web", u, vec!["max_size"]),
        ("aws.certificate.api", u, vec!["tags"]),
        ("aws.elastic_ip.nat-1a", u, vec!["tags"]),
        ("aws.iam_role.app", u, vec!["managed_policies"]),
        ("aws.instance_profile.app", u, vec!["role"]),
        (
            "aws.launch_template.web",
            u,
            vec![
                "detailed_monitoring",
                "image",
                "instance_profile",
                "instance_tags",
                "metadata",
                "root_volume",
                "security_groups",
            ],
        ),
        ("aws.listener.https", u, vec!["tls_policy"]),
        (
            "aws.load_balancer.web",
            u,
            vec!["drop_invalid_header_fields", "idle_timeout_seconds"],
        ),
        ("aws.nat_gateway.1a", u, vec!["tags"]),
        ("aws.scaling_rule.cpu-out", u, vec!["rule"]),
        (
            "aws.target_group.api",
            u,
            vec!["deregistration_delay_seconds", "health_check"],
        ),
    ]
    .into_iter()
    .map(|(a, act, f)| {
        (
            a.to_string(),
            act,
            f.into_iter().map(str::to_string).collect(),
        )
    })
    .collect();
    assert_eq!(got, want, "{}", plan.render());
    // The desired capacity is the autoscaler's: not drift, and the plan
    // keeps 5 in what it will send.
    let group_change = plan
        .changes
        .iter()
        .find(|c| c.address.to_string() == "aws.autoscaling_group.web")
        .unwrap();
    assert_eq!(group_change.after.as_ref().unwrap()["desired_capacity"], 5);

    common::apply(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    let plan = common::plan(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    let g = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&group)
        .send()
        .await
        .unwrap()
        .auto_scaling_groups()[0]
        .clone();
    assert_eq!((g.max_size(), g.desired_capacity()), (Some(10), Some(5)));
    let lt = ec2
        .describe_launch_template_versions()
        .launch_template_id(&template)
        .versions("$Latest")
        .send()
        .await
        .unwrap();
    let latest = &lt.launch_template_versions()[0];
    assert_eq!(
        latest.version_number(),
        Some(3),
        "ours, the hand's, ours again"
    );
    assert_eq!(
        latest
            .launch_template_data()
            .and_then(|d| d.metadata_options())
            .and_then(|m| m.http_tokens()),
        Some(&aws_sdk_ec2::types::LaunchTemplateHttpTokensState::Required)
    );

    common::destroy(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    let left = leftovers(&name).await;
    assert!(nothing_left(&left), "{left:?}");
}

/// The launch template's latest version as AWS has it, and which version
/// the group launches.
async fn versions(template: &str, group: &str) -> (i64, String, String) {
    let conf = common::sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let asg = aws_sdk_autoscaling::Client::new(&conf);
    let t = ec2
        .describe_launch_templates()
        .launch_template_ids(template)
        .send()
        .await
        .unwrap()
        .launch_templates()[0]
        .clone();
    let g = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(group)
        .send()
        .await
        .unwrap()
        .auto_scaling_groups()[0]
        .clone();
    (
        t.latest_version_number().unwrap(),
        g.launch_template().unwrap().version().unwrap().to_string(),
        g.auto_scaling_group_arn().unwrap().to_string(),
    )
}

#[tokio::test]
async fn a_template_change_makes_a_version_the_group_follows_without_being_recreated() {
    let _serial = serial();
    let name = common::unique("lt");
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut knobs = Knobs {
        user_data: Some("#!/bin/sh\necho one\n"),
        // One NAT gateway for both zones, the cheaper option.
        nat: Some(NatGateways::Single),
        ..Knobs::default()
    };
    common::apply(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    let s = state_json(&state);
    let template = str_of(output_of(
        &s,
        "aws.launch_template.web",
        "launch_template_id",
    ));
    let group = str_of(output_of(&s, "aws.autoscaling_group.web", "name"));
    // Both zones leave through the one NAT gateway.
    let nat = str_of(output_of(&s, "aws.nat_gateway.1a", "nat_gateway_id"));
    for zone in ["1a", "1b"] {
        let routes = &s["resources"][format!("aws.route_table.private-{zone}")]["spec"]["routes"];
        assert_eq!(routes[0]["target"]["nat_gateway"], serde_json::json!(nat));
    }
    assert!(s["resources"].get("aws.nat_gateway.1b").is_none());
    let (v1, follows, arn) = versions(&template, &group).await;
    assert_eq!((v1, follows.as_str()), (1, "$Latest"));

    // User data is not read back: the same text is no change...
    let plan = common::plan(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    // ...and new text is a new version, the group untouched ($Latest).
    knobs.user_data = Some("#!/bin/sh\necho two\n");
    let plan = common::plan(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    assert_eq!(
        changes(&plan),
        vec![(
            "aws.launch_template.web".to_string(),
            Action::Update,
            vec!["user_data".to_string()]
        )],
        "{}",
        plan.render()
    );
    common::apply(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    let (v2, follows, arn2) = versions(&template, &group).await;
    assert_eq!((v2, follows.as_str(), &arn2), (2, "$Latest", &arn));
    let plan = common::plan(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());

    // Pinned: the group moves to the template's number, in place.
    knobs.follow = Follow::Pinned;
    let plan = common::plan(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    assert_eq!(
        changes(&plan),
        vec![(
            "aws.autoscaling_group.web".to_string(),
            Action::Update,
            vec!["version".to_string()]
        )],
        "{}",
        plan.render()
    );
    common::apply(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    assert_eq!(versions(&template, &group).await.1, "2");
    // A change of the template now changes the group in the same apply:
    // its version is known only after the template's update.
    knobs.user_data = Some("#!/bin/sh\necho three\n");
    let plan = common::plan(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    let group_change = plan
        .changes
        .iter()
        .find(|c| c.address.to_string() == "aws.autoscaling_group.web")
        .unwrap();
    assert_eq!(group_change.action, Action::Update, "{}", plan.render());
    assert!(
        plan.render().contains("known after apply"),
        "{}",
        plan.render()
    );
    common::apply(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    let (v3, follows, arn3) = versions(&template, &group).await;
    assert_eq!((v3, follows.as_str(), &arn3), (3, "3", &arn));
    let plan = common::plan(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());

    // From one NAT gateway to one per zone: a second gateway and address,
    // and the second zone's route moved in place.
    knobs.nat = Some(NatGateways::PerZone);
    let plan = common::plan(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    let mut got = changes(&plan);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            ("aws.elastic_ip.nat-1b".to_string(), Action::Create, vec![]),
            ("aws.nat_gateway.1b".to_string(), Action::Create, vec![]),
            (
                "aws.route_table.private-1b".to_string(),
                Action::Update,
                vec!["routes".to_string()]
            ),
        ],
        "{}",
        plan.render()
    );
    common::apply(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    let plan = common::plan(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());

    common::destroy(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    let left = leftovers(&name).await;
    assert!(nothing_left(&left), "{left:?}");
}

#[tokio::test]
async fn a_no_op_plan_costs_the_same_requests_whatever_the_number_of_zones() {
    let _serial = serial();
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let knobs = Knobs::default();
    let small = common::unique("two");
    let large = common::unique("three");
    let (small_state, large_state) = (dir.path().join("small.json"), dir.path().join("large.json"));
    let large_env = |aws: &Aws| {
        let mut env = Environment::new(&large).with_provider(aws.clone());
        env.require(Baseline::production());
        let (mut net_spec, web_spec) = spec(&large, &knobs);
        net_spec.zones.push((
            "us-east-1c".into(),
            "10.0.2.0/24".into(),
            "10.0.102.0/24".into(),
        ));
        let net = two_tier(&mut env, &net_spec);
        web_tier(&mut env, &net, &web_spec);
        env
    };
    common::apply(env(&small, &aws, &knobs), &small_state)
        .await
        .unwrap();
    common::apply(large_env(&aws), &large_state).await.unwrap();

    let before = aws.calls();
    let plan = common::plan(env(&small, &aws, &knobs), &small_state)
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    let two_zones = delta(&before, &aws.calls());
    let before = aws.calls();
    let plan = common::plan(large_env(&aws), &large_state).await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    let three_zones = delta(&before, &aws.calls());
    // 31 resources against 37, the same requests.
    assert_eq!(two_zones, three_zones);
    // One list call per kind of the web tier (ELB's tags and attributes
    // and the certificate's tags come in the counts of their kinds).
    for (operation, n) in [
        ("DescribeAddresses", 1),
        ("DescribeNatGateways", 1),
        ("GetAccountAuthorizationDetails", 1),
        ("ListInstanceProfiles", 1),
        ("DescribeLaunchTemplates", 1),
        ("DescribeLaunchTemplateVersions", 1),
        ("DescribeAutoScalingGroups", 1),
        ("DescribeAlarms", 1),
        ("DescribePolicies", 1),
        ("DescribeTargetGroups", 1),
        ("DescribeTargetGroupAttributes", 1),
        ("DescribeLoadBalancerAttributes", 1),
        ("DescribeListeners", 1),
        ("ListCertificates", 1),
        ("DescribeCertificate", 1),
        ("GetParameter", 1),
    ] {
        assert_eq!(
            two_zones.get(operation),
            Some(&n),
            "{operation}: {two_zones:#?}"
        );
    }
    eprintln!(
        "no-op plan: {} requests for 31 resources, {} for 37: {two_zones:#?}",
        two_zones.values().sum::<u64>(),
        three_zones.values().sum::<u64>()
    );

    common::destroy(env(&small, &aws, &knobs), &small_state)
        .await
        .unwrap();
    common::destroy(large_env(&aws), &large_state)
        .await
        .unwrap();
    for name in [&small, &large] {
        let left = leftovers(name).await;
        assert!(nothing_left(&left), "{left:?}");
    }
}

#[tokio::test]
async fn the_command_line_applies_the_web_tier_waiting_for_the_certificate_with_progress() {
    let _serial = serial();
    let name = common::unique("cli");
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let knobs = Knobs::default();

    let (code, out) = common::run(env(&name, &aws, &knobs), &state, &["validate"]).await;
    assert_eq!(code.unwrap(), 0, "{}", out.stderr());
    let (code, out) = common::run(
        env(&name, &aws, &knobs),
        &state,
        &["apply", "--auto-approve"],
    )
    .await;
    assert_eq!(code.unwrap(), 0, "{}{}", out.stdout(), out.stderr());
    // The HTTPS listener waited for ACM to issue the certificate (moto does
    // after 5 s, scripts/emulators.sh), saying so.
    let err = out.stderr();
    assert!(
        err.contains("aws.listener.https: waiting for certificate")
            && err.contains("PENDING_VALIDATION"),
        "{err}"
    );
    let (code, out) = common::run(
        env(&name, &aws, &knobs),
        &state,
        &["plan", "--detailed-exitcode"],
    )
    .await;
    assert_eq!(code.unwrap(), 0, "{}{}", out.stdout(), out.stderr());
    let (code, out) = common::run(
        env(&name, &aws, &knobs),
        &state,
        &["output", "api_dns_name"],
    )
    .await;
    assert_eq!(code.unwrap(), 0);
    assert!(out.stdout().contains("elb"), "{}", out.stdout());
    let (code, out) = common::run(
        env(&name, &aws, &knobs),
        &state,
        &["destroy", "--auto-approve"],
    )
    .await;
    assert_eq!(code.unwrap(), 0, "{}{}", out.stdout(), out.stderr());
    let left = leftovers(&name).await;
    assert!(nothing_left(&left), "{left:?}");
}
