//! Applies through injected faults: the network of the production stack,
//! with a fault-injecting proxy (`madplan_core::faults`) between the AWS SDK
//! and moto failing a fifth of the requests (throttling, server errors,
//! connections dropped before the request reached moto). Applies may fail
//! (cleanly) and are repeated; in the end the network exists exactly once, a
//! plan through the same faults is clean, and a destroy leaves nothing.
//!
//! Answers lost after moto did the work (`Fault::DropAfter`) are in the
//! suite too: the creates that have no idempotency key the emulator honours
//! (`CreateVpc`, `CreateInternetGateway`, `AllocateAddress`,
//! `CreateRouteTable`, `CreateNetworkAcl`) are not sent again by the SDK when
//! their answer is lost; the create fails, and the next apply adopts the
//! tagged object the lost call made instead of making a second one. The
//! calls the SDK does send again (a group's create and rules, an ACL entry,
//! a route) meet their own work on the second attempt, and the apply takes
//! that as done instead of failing.

mod common;

use madplan::aws::network::blueprint::{NatGateways, two_tier};
use madplan::core::Environment;
use madplan::core::faults::{Fault, FaultProxy, Faults};

/// `MADPLAN_FAULT_SEED` when set (to explore or reproduce a run), else
/// `default`.
fn seed_or(default: u64) -> u64 {
    std::env::var("MADPLAN_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

async fn converges_through(kinds: &[Fault], seed: u64) {
    let seed = seed_or(seed);
    let moto = common::moto_url();
    // The requests of the same apply without faults, for comparison.
    let clean = FaultProxy::start(&moto, Faults::none()).await.unwrap();
    let aws = common::aws_at(clean.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let base = common::unique("clean");
    let base_state = dir.path().join("clean.json");
    common::apply(common::network(&base, &aws, 2).0, &base_state)
        .await
        .unwrap();
    let fault_free = clean.counts().requests;
    common::destroy(common::network(&base, &aws, 2).0, &base_state)
        .await
        .unwrap();

    let proxy = FaultProxy::start(&moto, Faults::ec2(0.2, kinds, seed))
        .await
        .unwrap();
    let aws = common::aws_at(proxy.url()).await;
    let name = common::unique("faults");
    let state = dir.path().join("faults.json");
    let (_, applies) = common::until_ok(10, || {
        common::apply(common::network(&name, &aws, 2).0, &state)
    })
    .await;
    let applied = proxy.counts();
    for kind in kinds {
        assert!(
            applied.faults.get(kind).is_some_and(|&n| n > 0),
            "the seed drew no {kind:?}: {applied:?}"
        );
    }
    let (plan, plans) = common::until_ok(10, || {
        common::plan(common::network(&name, &aws, 2).0, &state)
    })
    .await;
    assert!(!plan.has_changes(), "{}", plan.render());
    // Exactly the declared objects, straight from moto: no duplicate, no
    // orphan.
    let ec2 = common::ec2().await;
    let tagged = common::leftovers(&ec2, &name).await;
    let expected = [
        ("internet_gateway", 1),
        ("network_acl", 1),
        ("route_table", 2),
        ("security_group", 2),
        ("subnet", 4),
        ("vpc", 1),
    ];
    for (kind, n) in expected {
        assert_eq!(tagged[kind], n, "{kind}: {tagged:?}");
    }
    let (_, destroys) = common::until_ok(10, || {
        common::destroy(common::network(&name, &aws, 2).0, &state)
    })
    .await;
    let left = common::leftovers(&ec2, &name).await;
    assert!(left.values().all(|&n| n == 0), "{left:?}");
    eprintln!(
        "{kinds:?} on 20 % of requests (seed {seed}): {applies} apply(s), {plans} plan(s), {destroys} destroy(s); \
         the applies sent {} requests ({} reached moto, faults {:?}) where a fault-free apply \
         sends {fault_free}",
        applied.requests, applied.forwarded, applied.faults
    );
}

#[tokio::test]
async fn the_network_converges_through_throttling_errors_and_lost_requests() {
    converges_through(
        &[Fault::Throttled, Fault::ServerError, Fault::DropBefore],
        7,
    )
    .await;
}

#[tokio::test]
async fn the_network_converges_when_answers_are_lost_after_the_work() {
    converges_through(
        &[
            Fault::Throttled,
            Fault::ServerError,
            Fault::DropBefore,
            Fault::DropAfter,
        ],
        17,
    )
    .await;
}

/// Creates without an idempotency key the emulator honours.
const UNKEYED: [&str; 5] = [
    "Action=CreateVpc&",
    "Action=CreateInternetGateway&",
    "Action=AllocateAddress&",
    "Action=CreateRouteTable&",
    "Action=CreateNetworkAcl&",
];

/// The network with one NAT gateway (so an Elastic IP is allocated).
fn with_nat(name: &str, aws: &madplan::aws::Aws) -> Environment {
    let mut env = Environment::new(name).with_provider(aws.clone());
    let mut spec = common::spec(2);
    spec.nat = NatGateways::Single;
    two_tier(&mut env, &spec);
    env
}

/// The answer of the first call of each unkeyed create is lost after moto
/// made the object: each is sent once (not again by the SDK), its apply
/// fails, and a later apply adopts what the lost call made. In the end each
/// object exists once and a plan is clean; on the SDK's default retry every
/// one of them would exist twice and the plan would stop on the duplicate.
#[tokio::test]
async fn a_create_whose_answer_is_lost_is_not_sent_again() {
    let moto = common::moto_url();
    let proxy = FaultProxy::start(
        &moto,
        Faults {
            share: 1.0,
            kinds: vec![Fault::DropAfter],
            max_faults: Some(UNKEYED.len()),
            only: UNKEYED.iter().map(|s| s.to_string()).collect(),
            ..Faults::none()
        },
    )
    .await
    .unwrap();
    // Five attempts per call, so that a resend would surely happen.
    let aws = common::aws_at_with_attempts(proxy.url(), 5).await;
    let dir = tempfile::tempdir().unwrap();
    let name = common::unique("lost");
    let state = dir.path().join("lost.json");
    let (_, applies) = common::until_ok(8, || common::apply(with_nat(&name, &aws), &state)).await;
    let (plan, _) = common::until_ok(3, || common::plan(with_nat(&name, &aws), &state)).await;
    assert!(!plan.has_changes(), "{}", plan.render());
    let counts = proxy.counts();
    assert_eq!(
        counts.faults.get(&Fault::DropAfter),
        Some(&UNKEYED.len()),
        "every unkeyed create lost its first answer: {counts:?}"
    );
    let ec2 = common::ec2().await;
    let tagged = common::leftovers(&ec2, &name).await;
    for (kind, n) in [
        ("vpc", 1),
        ("internet_gateway", 1),
        ("route_table", 3),
        ("network_acl", 1),
    ] {
        assert_eq!(tagged[kind], n, "{kind}: {tagged:?}");
    }
    let addresses = ec2
        .describe_addresses()
        .filters(common::env_tag(&name))
        .send()
        .await
        .unwrap();
    assert_eq!(addresses.addresses().len(), 1, "{addresses:?}");
    eprintln!("five lost create answers: {applies} apply(s) to converge");
    common::until_ok(5, || common::destroy(with_nat(&name, &aws), &state)).await;
}

/// Calls the SDK sends again when their answer is lost, and that then
/// meet their own work: a subnet's create (its block is taken), a
/// gateway's attachment (already attached), a group's create (its name is
/// taken), its rules (already authorized, already revoked), an ACL entry
/// (its number is taken), a route (its destination is taken).
const MEET_THEMSELVES: [&[&str]; 8] = [
    &["Action=CreateSubnet&"],
    &["Action=AttachInternetGateway&"],
    &["Action=CreateSecurityGroup&"],
    &["Action=AuthorizeSecurityGroupIngress&"],
    &["Action=AuthorizeSecurityGroupEgress&"],
    &["Action=RevokeSecurityGroupEgress&"],
    &["Action=CreateNetworkAclEntry&"],
    &["Action=CreateRoute&"],
];

/// The network and a group whose egress is HTTPS only: its create revokes
/// the allow-all egress AWS gives every group and authorizes its own.
fn with_egress_group(name: &str, aws: &madplan::aws::Aws) -> Environment {
    use madplan::aws::network::{Peer, PortRange, Rule, SecurityGroup};
    let (mut env, net) = common::network(name, aws, 2);
    env.add(
        "egress",
        SecurityGroup::builder()
            .name(format!("{name}-egress"))
            .description("HTTPS out only")
            .vpc(&net.vpc)
            .egress([Rule::tcp(PortRange::port(443), Peer::cidr("0.0.0.0/0"))])
            .build(),
    );
    env
}

/// For each kind of call above, the network (and a group with egress of
/// its own) is applied with the answers of the first two such calls lost
/// after moto did the work: the SDK's second attempt meets the first one's
/// work ("block taken", "already attached", "name taken", "rule already
/// there", "rule already gone", "number taken", "route already there"),
/// and the apply takes it as done (adopting the subnet or group it made by
/// its tags, sending the rules one by one, replacing the entry and the
/// route with the declared ones) instead of failing. One apply each, then
/// a clean plan.
#[tokio::test]
async fn a_call_sent_again_after_its_answer_was_lost_does_not_fail_the_apply() {
    let dir = tempfile::tempdir().unwrap();
    for calls in MEET_THEMSELVES {
        let lost = 2;
        // A proxy of its own: its fault limit counts from its start.
        let proxy = FaultProxy::start(
            &common::moto_url(),
            Faults {
                share: 1.0,
                kinds: vec![Fault::DropAfter],
                max_faults: Some(lost),
                only: calls.iter().map(|s| s.to_string()).collect(),
                ..Faults::none()
            },
        )
        .await
        .unwrap();
        let aws = common::aws_at_with_attempts(proxy.url(), 5).await;
        let name = common::unique("again");
        let state = dir.path().join(format!("{name}.json"));
        common::apply(with_egress_group(&name, &aws), &state)
            .await
            .unwrap_or_else(|e| panic!("{calls:?}: {e}"));
        let counts = proxy.counts();
        assert_eq!(
            counts.faults.get(&Fault::DropAfter),
            Some(&lost),
            "{calls:?}: {counts:?}"
        );
        let plan = common::plan(with_egress_group(&name, &aws), &state)
            .await
            .unwrap();
        assert!(!plan.has_changes(), "{calls:?}: {}", plan.render());
        common::destroy(with_egress_group(&name, &aws), &state)
            .await
            .unwrap();
    }
}
