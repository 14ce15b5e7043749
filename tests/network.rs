//! The network slice end to end against moto, through the engine: apply, an
//! empty plan, drift detected and repaired, partial failures, locking, saved
//! plans, a lost state recovered explicitly, two states under one
//! environment name, in-place edits of routes, ACL entries and subnet
//! associations, the refresh's requests, and a destroy that leaves nothing
//! behind.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, Ipv6Range};
use common::network;
use madplan::aws::Aws;
use madplan::aws::network::{
    AclAction, AclEntry, InternetGateway, NetworkAcl, PortRange, Protocol, Route, RouteTable,
    RouteTarget, Subnet, Vpc,
};
use madplan::core::plan::Action;
use madplan::core::{Environment, Error, Plan};

fn state_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn output_of(state: &serde_json::Value, address: &str, field: &str) -> String {
    state["resources"][address]["outputs"][field]
        .as_str()
        .unwrap_or_else(|| panic!("{address}.{field} not in state"))
        .to_string()
}

use common::{env_tag, leftovers};

/// The ids of the VPCs that carry the environment's tag.
async fn tagged_vpcs(ec2: &aws_sdk_ec2::Client, env: &str) -> Vec<String> {
    let mut ids: Vec<String> = ec2
        .describe_vpcs()
        .filters(env_tag(env))
        .send()
        .await
        .unwrap()
        .vpcs()
        .iter()
        .filter_map(|v| v.vpc_id().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

/// The requests made between two snapshots of [`Aws::calls`].
fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

fn foreign(plan: &Plan) -> Vec<String> {
    let mut out: Vec<String> = plan.foreign.iter().map(|f| f.address.to_string()).collect();
    out.sort();
    out
}

#[tokio::test]
async fn apply_plan_drift_repair_destroy() {
    let name = common::unique("e2e");
    let aws = common::aws().await;
    let ec2 = common::ec2().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");

    let report = common::apply(network(&name, &aws, 2).0, &state)
        .await
        .unwrap();
    assert_eq!((report.created, report.updated, report.deleted), (11, 0, 0));
    let outputs = common::engine(network(&name, &aws, 2).0, &state)
        .outputs()
        .await
        .unwrap();
    let vpc_id = outputs["vpc_id"].as_ref().unwrap().as_str().unwrap();
    assert!(vpc_id.starts_with("vpc-"), "{outputs:?}");

    // Nothing to do right after an apply.
    let plan = common::plan(network(&name, &aws, 2).0, &state)
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    assert!(plan.foreign.is_empty());

    // Someone opens SSH on the app group and removes the load balancer's rule.
    let s = state_json(&state);
    let app = output_of(&s, "aws.security_group.app", "security_group_id");
    let lb = output_of(&s, "aws.security_group.lb", "security_group_id");
    ec2.authorize_security_group_ingress()
        .group_id(&app)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    ec2.revoke_security_group_ingress()
        .group_id(&app)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(3000)
                .to_port(3000)
                .user_id_group_pairs(
                    aws_sdk_ec2::types::UserIdGroupPair::builder()
                        .group_id(&lb)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    // The plan reports exactly that drift.
    let plan = common::plan(network(&name, &aws, 2).0, &state)
        .await
        .unwrap();
    let changed: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .collect();
    assert_eq!(changed.len(), 1, "{:#?}", changed);
    assert_eq!(changed[0].address.to_string(), "aws.security_group.app");
    assert_eq!(changed[0].action, Action::Update);
    assert_eq!(changed[0].fields.len(), 1);
    assert_eq!(changed[0].fields[0].field, "ingress");
    let human = plan.render();
    assert!(human.contains("~ aws.security_group.app"), "{human}");
    assert!(human.contains("\"from\":22"), "{human}");
    assert!(
        human.contains("\"ipv6\":\"::/0\""),
        "SSH from any IPv6 address is drift too: {human}"
    );
    assert!(
        human.contains("Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy."),
        "{human}"
    );

    // Apply repairs it.
    let report = common::apply(network(&name, &aws, 2).0, &state)
        .await
        .unwrap();
    assert_eq!((report.created, report.updated, report.deleted), (0, 1, 0));
    let live = ec2
        .describe_security_groups()
        .group_ids(&app)
        .send()
        .await
        .unwrap();
    let perms = live.security_groups()[0].ip_permissions();
    assert_eq!(perms.len(), 1, "{perms:?}");
    assert!(perms[0].ipv6_ranges().is_empty(), "{perms:?}");
    assert_eq!(perms[0].from_port(), Some(3000));
    assert_eq!(
        perms[0].user_id_group_pairs()[0].group_id(),
        Some(lb.as_str())
    );
    let plan = common::plan(network(&name, &aws, 2).0, &state)
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());

    // Destroy leaves nothing with the environment's tag.
    assert!(leftovers(&ec2, &name).await.values().all(|&n| n > 0));
    let report = common::destroy(network(&name, &aws, 2).0, &state)
        .await
        .unwrap();
    assert_eq!(report.deleted, 11);
    let left = leftovers(&ec2, &name).await;
    assert!(left.values().all(|&n| n == 0), "left behind: {left:?}");
    assert_eq!(state_json(&state)["resources"], serde_json::json!({}));
}

#[tokio::test]
async fn refresh_calls_do_not_grow_with_resources() {
    let aws = common::aws().await;
    let mut per_size = Vec::new();
    for zones in [1, 4] {
        let name = common::unique("calls");
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        common::apply(network(&name, &aws, zones).0, &state)
            .await
            .unwrap();
        // A provider of its own for the plan, so that its counters hold
        // the plan's requests only.
        let reader = common::aws().await;
        let plan = common::plan(network(&name, &reader, zones).0, &state)
            .await
            .unwrap();
        assert!(!plan.has_changes(), "{}", plan.render());
        let calls = reader.calls();
        println!("refresh of {} resources: {calls:?}", 7 + 2 * zones);
        // The VPC's two DNS attributes are read at once.
        assert_eq!(
            reader.peak_in_flight().get("DescribeVpcAttribute"),
            Some(&2),
            "{:?}",
            reader.peak_in_flight()
        );
        per_size.push(calls);
        common::destroy(network(&name, &aws, zones).0, &state)
            .await
            .unwrap();
    }
    assert_eq!(
        per_size[0], per_size[1],
        "refresh calls grew with the number of subnets"
    );
    let total: u64 = per_size[1].values().sum();
    // One Describe per kind, plus the VPC's two DNS attributes.
    assert_eq!(total, 8, "{:?}", per_size[1]);
    assert_eq!(per_size[1].get("DescribeVpcAttribute"), Some(&2));
}

#[tokio::test]
async fn every_vpc_is_read_at_once() {
    let name = common::unique("vpcs");
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let three = |aws: &Aws| {
        let mut env = Environment::new(&name).with_provider(aws.clone());
        for i in 0..3 {
            env.add(
                &format!("v{i}"),
                Vpc::builder().cidr(format!("10.{i}.0.0/16")).build(),
            );
        }
        env
    };
    common::apply(three(&aws), &state).await.unwrap();
    let reader = common::aws().await;
    let plan = common::plan(three(&reader), &state).await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    // As many requests as one after the other: one list, two attributes
    // per VPC...
    let calls = reader.calls();
    assert_eq!(calls.get("DescribeVpcs"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("DescribeVpcAttribute"), Some(&6), "{calls:?}");
    // ...but more than one VPC's worth in flight at once.
    let peak = reader.peak_in_flight();
    assert!(
        peak.get("DescribeVpcAttribute").copied().unwrap_or(0) > 2,
        "{peak:?}"
    );
    common::destroy(three(&aws), &state).await.unwrap();
}

#[tokio::test]
async fn a_create_that_fails_half_way_is_kept_and_finished_later() {
    let name = common::unique("partial");
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");

    // A route table whose route names a gateway that does not exist: the
    // table gets created, then adding the route fails.
    let broken = |aws: &Aws, igw_ok: bool| {
        let (mut env, net) = network(&name, aws, 2);
        let route = if igw_ok {
            Route::to_internet_gateway("10.9.0.0/16", &net.gateway)
        } else {
            Route::to_internet_gateway("10.9.0.0/16", "igw-0000000000000000")
        };
        env.add(
            "extra",
            RouteTable::builder().vpc(&net.vpc).routes([route]).build(),
        );
        env
    };
    let err = common::apply(broken(&aws, false), &state)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Apply(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("aws.route_table.extra"), "{text}");
    assert!(text.contains("InvalidInternetGatewayID.NotFound"), "{text}");
    let s = state_json(&state);
    // The half-made table is in state, without a spec (its create did not
    // finish). Whatever else had started before the failure finished and is
    // in state too; nothing new started after it.
    let recorded = s["resources"].as_object().unwrap().len();
    assert!((2..=12).contains(&recorded), "{s:#}");
    assert!(s["resources"]["aws.vpc.main"]["outputs"]["vpc_id"].is_string());
    assert!(s["resources"]["aws.route_table.extra"]["outputs"]["route_table_id"].is_string());
    assert!(
        s["resources"]["aws.route_table.extra"]
            .get("spec")
            .is_none()
    );

    // With the configuration fixed, the next apply finishes the table in
    // place and creates only what was never started.
    let before = aws.calls();
    let report = common::apply(broken(&aws, true), &state).await.unwrap();
    assert_eq!((report.created, report.updated), (12 - recorded, 1));
    let made = delta(&before, &aws.calls());
    let creates: u64 = [
        "CreateVpc",
        "CreateSubnet",
        "CreateInternetGateway",
        "CreateRouteTable",
        "CreateSecurityGroup",
        "CreateNetworkAcl",
    ]
    .iter()
    .map(|op| made.get(*op).copied().unwrap_or(0))
    .sum();
    assert_eq!(creates as usize, 12 - recorded, "calls: {made:?}");
    assert_eq!(made.get("CreateVpc"), None);
    let tagged = leftovers(&common::ec2().await, &name).await;
    assert_eq!(
        tagged["route_table"], 3,
        "no route table was made twice: {tagged:?}"
    );
    let ec2 = common::ec2().await;
    let rtb = output_of(
        &state_json(&state),
        "aws.route_table.extra",
        "route_table_id",
    );
    let tables = ec2
        .describe_route_tables()
        .route_table_ids(&rtb)
        .send()
        .await
        .unwrap();
    assert!(
        tables.route_tables()[0]
            .routes()
            .iter()
            .any(|r| r.destination_cidr_block() == Some("10.9.0.0/16"))
    );

    common::destroy(broken(&aws, true), &state).await.unwrap();
}

#[tokio::test]
async fn two_concurrent_applies_cannot_both_proceed() {
    let name = common::unique("lock");
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let one = common::engine(network(&name, &aws, 2).0, &state);
    let two = common::engine(network(&name, &aws, 2).0, &state);
    let (p1, p2) = (one.plan().await.unwrap(), two.plan().await.unwrap());
    let (a, b) = tokio::join!(one.apply(&p1), two.apply(&p2));
    let results = [a, b];
    let ok: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(ok.len(), 1, "exactly one apply proceeds: {results:?}");
    assert_eq!(ok[0].created, 11);
    let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    match loser {
        Error::Locked { holder, .. } => {
            assert_eq!(holder.operation, "apply");
            assert_eq!(holder.pid, std::process::id());
            let text = loser.to_string();
            assert!(text.contains("running `apply` since"), "{text}");
            assert!(text.contains("unlock"), "{text}");
        }
        other => panic!("expected a lock error, got {other}"),
    }
    // The lock is released afterwards, and everything exists once.
    let plan = common::plan(network(&name, &aws, 2).0, &state)
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    assert_eq!(tagged_vpcs(&common::ec2().await, &name).await.len(), 1);
    common::destroy(network(&name, &aws, 2).0, &state)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_saved_plan_is_applied_exactly_and_refused_once_stale() {
    let name = common::unique("saved");
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");

    let saved = common::plan(network(&name, &aws, 1).0, &state)
        .await
        .unwrap()
        .to_json();
    let plan = Plan::from_json(&saved).unwrap();
    // The configuration grows after the plan was saved: the saved plan is
    // still applied as it was made (one zone).
    let report = common::engine(network(&name, &aws, 2).0, &state)
        .apply(&plan)
        .await
        .unwrap();
    assert_eq!(report.created, 9);
    // Applying it again is refused: the state moved on.
    let err = common::engine(network(&name, &aws, 1).0, &state)
        .apply(&plan)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StalePlan(_)), "{err}");
    assert!(err.to_string().contains("run `plan` again"), "{err}");

    common::destroy(network(&name, &aws, 1).0, &state)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_lost_state_is_recovered_explicitly_not_adopted_by_a_plan() {
    let name = common::unique("adopt");
    let aws = common::aws().await;
    let ec2 = common::ec2().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    common::apply(network(&name, &aws, 2).0, &state)
        .await
        .unwrap();
    let lineage = state_json(&state)["lineage"].as_str().unwrap().to_string();
    std::fs::remove_file(&state).unwrap();

    // Without a state, what is there belongs to another state: a plan
    // would create everything anew and adopts nothing.
    let plan = common::plan(network(&name, &aws, 2).0, &state)
        .await
        .unwrap();
    let summary = plan.summary();
    assert_eq!(
        (summary.create, summary.adopt),
        (11, 0),
        "{}",
        plan.render()
    );
    assert_eq!(plan.foreign.len(), 11, "{}", plan.render());
    assert!(
        plan.foreign
            .iter()
            .all(|f| f.lineage.as_deref() == Some(lineage.as_str())),
        "{:?}",
        plan.foreign
    );
    assert!(plan.render().contains("belong to another state"));

    // Recovery is the explicit step: it finds the one lineage and adopts
    // its resources.
    let before = aws.calls();
    let engine = common::engine(network(&name, &aws, 2).0, &state);
    let recovery = engine.recover_plan(None).await.unwrap();
    assert_eq!(
        recovery.lineage.map(|l| l.to_string()),
        Some(lineage.clone())
    );
    assert_eq!(recovery.adopt.len(), 11);
    assert_eq!(engine.recover(&recovery).await.unwrap(), 11);
    assert_eq!(state_json(&state)["lineage"], lineage.as_str());
    assert_eq!(
        state_json(&state)["resources"].as_object().unwrap().len(),
        11
    );

    // The next plan is clean: nothing to create, nothing foreign.
    let plan = common::plan(network(&name, &aws, 2).0, &state)
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    assert!(plan.foreign.is_empty(), "{:?}", plan.foreign);
    let made = delta(&before, &aws.calls());
    assert!(
        made.keys().all(|k| !k.starts_with("Create")),
        "nothing is created again: {made:?}"
    );
    assert_eq!(tagged_vpcs(&ec2, &name).await.len(), 1);

    common::destroy(network(&name, &aws, 2).0, &state)
        .await
        .unwrap();
    assert!(leftovers(&ec2, &name).await.values().all(|&n| n == 0));
}

#[tokio::test]
async fn two_states_with_one_environment_name_leave_each_other_alone() {
    let name = common::unique("twin");
    let aws = common::aws().await;
    let ec2 = common::ec2().await;
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (
        dir.path().join("first.json"),
        dir.path().join("second.json"),
    );
    // The second program calls its environment the same, and declares a
    // lone VPC.
    let lone = |aws: &Aws| {
        let mut env = Environment::new(&name).with_provider(aws.clone());
        env.add("other", Vpc::builder().cidr("10.1.0.0/16").build());
        env
    };

    assert_eq!(
        common::apply(network(&name, &aws, 1).0, &first)
            .await
            .unwrap()
            .created,
        9
    );
    assert_eq!(common::apply(lone(&aws), &second).await.unwrap().created, 1);
    let mine = output_of(&state_json(&second), "aws.vpc.other", "vpc_id");
    assert_eq!(tagged_vpcs(&ec2, &name).await.len(), 2);

    // Each plan is clean and lists the other's as another state's.
    let plan = common::plan(network(&name, &aws, 1).0, &first)
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    assert_eq!(foreign(&plan), ["aws.vpc.other"]);
    let plan = common::plan(lone(&aws), &second).await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    assert_eq!(foreign(&plan), ["aws.vpc.main"]);

    // Destroying the network leaves the lone VPC alone.
    let engine = common::engine(network(&name, &aws, 1).0, &first);
    let plan = engine.plan_destroy().await.unwrap();
    assert_eq!(plan.summary().delete, 9);
    assert!(
        plan.changes
            .iter()
            .all(|c| c.address.to_string() != "aws.vpc.other"),
        "{}",
        plan.render()
    );
    assert_eq!(engine.apply(&plan).await.unwrap().deleted, 9);
    assert_eq!(tagged_vpcs(&ec2, &name).await, [mine]);
    let plan = common::plan(lone(&aws), &second).await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    assert!(plan.foreign.is_empty());

    assert_eq!(
        common::destroy(lone(&aws), &second).await.unwrap().deleted,
        1
    );
    assert!(tagged_vpcs(&ec2, &name).await.is_empty());
}

/// A VPC with subnets `a` and `b`, an internet gateway, route tables `one`
/// and `two` holding the subnets named in `one` and `two`, and an ACL on
/// the subnets of `one`. Table `one` sends 10.9.0.0/16 to the gateway, or
/// to the network interface `eni`; the ACL lets in TCP on `port`.
fn tables(
    name: &str,
    aws: &Aws,
    one: &[&str],
    two: &[&str],
    eni: Option<&str>,
    port: i32,
) -> Environment {
    let mut env = Environment::new(name).with_provider(aws.clone());
    let vpc = env.add("main", Vpc::builder().cidr("10.0.0.0/16").build());
    let subnet = |env: &mut Environment, n: &str, cidr: &str| {
        env.add(
            n,
            Subnet::builder()
                .vpc(&vpc)
                .cidr(cidr)
                .zone("us-east-1a")
                .build(),
        )
    };
    let a = subnet(&mut env, "a", "10.0.1.0/24");
    let b = subnet(&mut env, "b", "10.0.2.0/24");
    let pick = |names: &[&str]| -> Vec<_> {
        names
            .iter()
            .map(|n| if *n == "a" { a.clone() } else { b.clone() })
            .collect()
    };
    let igw = env.add("main", InternetGateway::builder().vpc(&vpc).build());
    let route = match eni {
        Some(id) => Route {
            destination: "10.9.0.0/16".into(),
            target: RouteTarget::NetworkInterface(id.to_string()),
        },
        None => Route::to_internet_gateway("10.9.0.0/16", &igw),
    };
    env.add(
        "one",
        RouteTable::builder()
            .vpc(&vpc)
            .routes([route])
            .subnets(pick(one).iter())
            .build(),
    );
    env.add(
        "two",
        RouteTable::builder()
            .vpc(&vpc)
            .subnets(pick(two).iter())
            .build(),
    );
    env.add(
        "edge",
        NetworkAcl::builder()
            .vpc(&vpc)
            .entries([
                AclEntry::ingress(
                    100,
                    AclAction::Allow,
                    Protocol::Tcp,
                    Some(PortRange::port(port)),
                    "0.0.0.0/0",
                ),
                AclEntry::egress(100, AclAction::Allow, Protocol::All, None, "0.0.0.0/0"),
            ])
            .subnets(pick(one).iter())
            .build(),
    );
    env
}

/// The route table `subnet` is explicitly associated with, and the
/// association.
async fn table_of(ec2: &aws_sdk_ec2::Client, subnet: &str) -> Option<(String, String)> {
    let out = ec2
        .describe_route_tables()
        .filters(
            Filter::builder()
                .name("association.subnet-id")
                .values(subnet)
                .build(),
        )
        .send()
        .await
        .unwrap();
    out.route_tables().iter().find_map(|t| {
        t.associations()
            .iter()
            .find(|a| a.subnet_id() == Some(subnet))
            .map(|a| {
                (
                    t.route_table_id().unwrap().to_string(),
                    a.route_table_association_id().unwrap().to_string(),
                )
            })
    })
}

#[tokio::test]
async fn a_subnet_moves_from_one_route_table_to_another() {
    let name = common::unique("move");
    let aws = common::aws().await;
    let ec2 = common::ec2().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let report = common::apply(tables(&name, &aws, &["a", "b"], &[], None, 80), &state)
        .await
        .unwrap();
    assert_eq!(report.created, 7);
    let s = state_json(&state);
    let subnet_b = output_of(&s, "aws.subnet.b", "subnet_id");
    let one = output_of(&s, "aws.route_table.one", "route_table_id");
    let two = output_of(&s, "aws.route_table.two", "route_table_id");
    assert_eq!(table_of(&ec2, &subnet_b).await.unwrap().0, one);

    // `b` moves from `one` to `two`.
    let moved = || tables(&name, &aws, &["a"], &["b"], None, 80);
    let report = common::apply(moved(), &state).await.unwrap();
    assert_eq!(report.updated, 3, "both tables and the ACL");
    assert_eq!(table_of(&ec2, &subnet_b).await.unwrap().0, two);
    let plan = common::plan(moved(), &state).await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());

    // Someone moves it to a table of their own; the next apply takes it
    // back to `two`, although AWS refuses a second association of a subnet
    // (`Resource.AlreadyAssociated`).
    let vpc = output_of(&s, "aws.vpc.main", "vpc_id");
    let theirs = ec2
        .create_route_table()
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .route_table()
        .unwrap()
        .route_table_id()
        .unwrap()
        .to_string();
    let (_, association) = table_of(&ec2, &subnet_b).await.unwrap();
    ec2.replace_route_table_association()
        .association_id(&association)
        .route_table_id(&theirs)
        .send()
        .await
        .unwrap();
    let plan = common::plan(moved(), &state).await.unwrap();
    assert_eq!(
        plan.change("aws.route_table.two").unwrap().action,
        Action::Update,
        "{}",
        plan.render()
    );
    let before = aws.calls();
    common::apply(moved(), &state).await.unwrap();
    let made = delta(&before, &aws.calls());
    assert_eq!(
        table_of(&ec2, &subnet_b).await.unwrap().0,
        two,
        "calls: {made:?}"
    );
    assert_eq!(
        made.get("ReplaceRouteTableAssociation"),
        Some(&1),
        "{made:?}"
    );
    let plan = common::plan(moved(), &state).await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());

    ec2.delete_route_table()
        .route_table_id(&theirs)
        .send()
        .await
        .unwrap();
    common::destroy(moved(), &state).await.unwrap();
    assert!(tagged_vpcs(&ec2, &name).await.is_empty());
}

#[tokio::test]
async fn a_route_target_and_an_acl_entry_change_in_place() {
    let name = common::unique("inplace");
    let aws = common::aws().await;
    let ec2 = common::ec2().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    common::apply(tables(&name, &aws, &["a"], &["b"], None, 80), &state)
        .await
        .unwrap();
    let s = state_json(&state);
    let one = output_of(&s, "aws.route_table.one", "route_table_id");
    let acl = output_of(&s, "aws.network_acl.edge", "network_acl_id");
    let eni = ec2
        .create_network_interface()
        .subnet_id(output_of(&s, "aws.subnet.a", "subnet_id"))
        .send()
        .await
        .unwrap()
        .network_interface()
        .unwrap()
        .network_interface_id()
        .unwrap()
        .to_string();

    // The route to 10.9.0.0/16 goes to the interface instead of the
    // gateway, and entry 100 lets in 8080 instead of 80.
    let changed = || tables(&name, &aws, &["a"], &["b"], Some(&eni), 8080);
    let before = aws.calls();
    let report = common::apply(changed(), &state).await.unwrap();
    assert_eq!((report.created, report.updated, report.deleted), (0, 2, 0));
    let made = delta(&before, &aws.calls());
    assert_eq!(made.get("ReplaceRoute"), Some(&1), "{made:?}");
    assert_eq!(made.get("ReplaceNetworkAclEntry"), Some(&1), "{made:?}");
    for op in [
        "DeleteRoute",
        "CreateRoute",
        "DeleteNetworkAclEntry",
        "CreateNetworkAclEntry",
    ] {
        assert_eq!(made.get(op), None, "no {op}: {made:?}");
    }

    let table = ec2
        .describe_route_tables()
        .route_table_ids(&one)
        .send()
        .await
        .unwrap();
    let route = table.route_tables()[0]
        .routes()
        .iter()
        .find(|r| r.destination_cidr_block() == Some("10.9.0.0/16"))
        .expect("the route is still there");
    assert_eq!(route.network_interface_id(), Some(eni.as_str()));
    assert_eq!(route.gateway_id(), None);
    let acls = ec2
        .describe_network_acls()
        .network_acl_ids(&acl)
        .send()
        .await
        .unwrap();
    let entry = acls.network_acls()[0]
        .entries()
        .iter()
        .find(|e| e.rule_number() == Some(100) && e.egress() == Some(false))
        .expect("entry 100 is still there");
    let ports = entry.port_range().unwrap();
    assert_eq!((ports.from(), ports.to()), (Some(8080), Some(8080)));
    let plan = common::plan(changed(), &state).await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());

    ec2.delete_network_interface()
        .network_interface_id(&eni)
        .send()
        .await
        .unwrap();
    common::destroy(changed(), &state).await.unwrap();
    assert!(tagged_vpcs(&ec2, &name).await.is_empty());
}

#[tokio::test]
async fn a_route_added_by_hand_is_drift_and_is_removed() {
    let name = common::unique("route");
    let aws = common::aws().await;
    let ec2 = common::ec2().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    common::apply(network(&name, &aws, 1).0, &state)
        .await
        .unwrap();
    let s = state_json(&state);
    let private = output_of(&s, "aws.route_table.private", "route_table_id");
    let public_subnet = output_of(&s, "aws.subnet.public-1a", "subnet_id");

    // Someone sends 10.99.0.0/16 through a NAT gateway of their own.
    let eip = ec2.allocate_address().send().await.unwrap();
    let nat = ec2
        .create_nat_gateway()
        .subnet_id(&public_subnet)
        .allocation_id(eip.allocation_id().unwrap())
        .send()
        .await
        .unwrap();
    let nat_id = nat
        .nat_gateway()
        .unwrap()
        .nat_gateway_id()
        .unwrap()
        .to_string();
    ec2.create_route()
        .route_table_id(&private)
        .destination_cidr_block("10.99.0.0/16")
        .nat_gateway_id(&nat_id)
        .send()
        .await
        .unwrap();

    let plan = common::plan(network(&name, &aws, 1).0, &state)
        .await
        .unwrap();
    let text = plan.render();
    assert!(text.contains("~ aws.route_table.private"), "{text}");
    assert!(text.contains(&nat_id), "{text}");
    assert!(text.contains("Plan: 0 to add, 1 to change"), "{text}");
    common::apply(network(&name, &aws, 1).0, &state)
        .await
        .unwrap();
    let tables = ec2
        .describe_route_tables()
        .route_table_ids(&private)
        .send()
        .await
        .unwrap();
    assert!(
        tables.route_tables()[0]
            .routes()
            .iter()
            .all(|r| r.destination_cidr_block() != Some("10.99.0.0/16")),
        "the route is gone"
    );

    ec2.delete_nat_gateway()
        .nat_gateway_id(&nat_id)
        .send()
        .await
        .unwrap();
    ec2.release_address()
        .allocation_id(eip.allocation_id().unwrap())
        .send()
        .await
        .unwrap();
    common::destroy(network(&name, &aws, 1).0, &state)
        .await
        .unwrap();
}

/// The network's apply from nothing with 100 ms added to every request (a
/// proxy in front of moto), against its critical path: the longest chain
/// of operations through the dependency graph, each weighing its own
/// duration, and within it the requests each operation makes one after
/// another. A measurement (printed), not a timed test: what it asserts is
/// that the measurement is whole, every request of the apply attributed to
/// the operation that made it.
#[tokio::test]
async fn the_network_s_apply_against_its_critical_path() {
    use madplan::core::faults::{FaultProxy, Faults};
    let latency = std::time::Duration::from_millis(100);
    let proxy = FaultProxy::start(
        &common::moto_url(),
        Faults {
            latency,
            ..Faults::none()
        },
    )
    .await
    .unwrap();
    let aws = common::aws_at(proxy.url()).await;
    let name = common::unique("critical");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    common::critical::Recorder::default()
        .measure(
            common::engine(network(&name, &aws, 2).0, &state),
            latency,
            "network, 2 zones, 100 ms per request",
            || proxy.counts().requests,
        )
        .await;
    common::destroy(network(&name, &aws, 2).0, &state)
        .await
        .unwrap();
}
