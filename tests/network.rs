//! The network slice end to end against moto: apply, an empty plan, drift
//! detected and repaired, partial failures, locking, saved plans, lost
//! state, and a destroy that leaves nothing behind.

mod common;

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, Ipv6Range};
use common::network;
use madplan::Plan;
use madplan::aws::Aws;
use madplan::aws::network::{Route, RouteTable};
use madplan::core::plan::Action;
use madplan::core::{Error, TAG_ENVIRONMENT};

fn state_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn output_of(state: &serde_json::Value, address: &str, field: &str) -> String {
    state["resources"][address]["outputs"][field]
        .as_str()
        .unwrap_or_else(|| panic!("{address}.{field} not in state"))
        .to_string()
}

/// Counts what still carries the environment's tag, by kind.
async fn leftovers(ec2: &aws_sdk_ec2::Client, env: &str) -> BTreeMap<&'static str, usize> {
    let f = || {
        Filter::builder()
            .name(format!("tag:{TAG_ENVIRONMENT}"))
            .values(env)
            .build()
    };
    let mut out = BTreeMap::new();
    out.insert(
        "vpc",
        ec2.describe_vpcs()
            .filters(f())
            .send()
            .await
            .unwrap()
            .vpcs()
            .len(),
    );
    out.insert(
        "subnet",
        ec2.describe_subnets()
            .filters(f())
            .send()
            .await
            .unwrap()
            .subnets()
            .len(),
    );
    out.insert(
        "internet_gateway",
        ec2.describe_internet_gateways()
            .filters(f())
            .send()
            .await
            .unwrap()
            .internet_gateways()
            .len(),
    );
    out.insert(
        "route_table",
        ec2.describe_route_tables()
            .filters(f())
            .send()
            .await
            .unwrap()
            .route_tables()
            .len(),
    );
    out.insert(
        "security_group",
        ec2.describe_security_groups()
            .filters(f())
            .send()
            .await
            .unwrap()
            .security_groups()
            .len(),
    );
    out.insert(
        "network_acl",
        ec2.describe_network_acls()
            .filters(f())
            .send()
            .await
            .unwrap()
            .network_acls()
            .len(),
    );
    out
}

#[tokio::test]
async fn apply_plan_drift_repair_destroy() {
    let name = common::unique("e2e");
    let aws = common::aws().await;
    let ec2 = common::ec2().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");

    let (code, out) = common::run(
        network(&name, &aws, 2).0,
        &state,
        &["apply", "--auto-approve"],
    )
    .await;
    assert_eq!(code.unwrap(), 0, "{}", out.stderr());
    assert!(
        out.stdout().contains("11 added, 0 changed, 0 destroyed"),
        "{}",
        out.stdout()
    );
    assert!(out.stdout().contains("vpc_id = \"vpc-"), "{}", out.stdout());

    // Nothing to do right after an apply.
    let (code, out) = common::run(
        network(&name, &aws, 2).0,
        &state,
        &["plan", "--detailed-exitcode"],
    )
    .await;
    assert_eq!(code.unwrap(), 0, "{}", out.stdout());
    assert!(out.stdout().contains("No changes"));

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
    let (code, out) = common::run(
        network(&name, &aws, 2).0,
        &state,
        &["plan", "--detailed-exitcode", "--json"],
    )
    .await;
    assert_eq!(code.unwrap(), 2);
    let plan: Plan = serde_json::from_str(&out.stdout()).unwrap();
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
    let human = common::run(network(&name, &aws, 2).0, &state, &["plan"])
        .await
        .1
        .stdout();
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
    let (code, out) = common::run(
        network(&name, &aws, 2).0,
        &state,
        &["apply", "--auto-approve"],
    )
    .await;
    assert_eq!(code.unwrap(), 0, "{}", out.stderr());
    assert!(
        out.stdout().contains("0 added, 1 changed, 0 destroyed"),
        "{}",
        out.stdout()
    );
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
    let (code, _) = common::run(
        network(&name, &aws, 2).0,
        &state,
        &["plan", "--detailed-exitcode"],
    )
    .await;
    assert_eq!(code.unwrap(), 0);

    // Destroy leaves nothing with the environment's tag.
    assert!(leftovers(&ec2, &name).await.values().all(|&n| n > 0));
    let (code, out) = common::run(
        network(&name, &aws, 2).0,
        &state,
        &["destroy", "--auto-approve"],
    )
    .await;
    assert_eq!(code.unwrap(), 0, "{}", out.stderr());
    assert!(out.stdout().contains("11 destroyed"), "{}", out.stdout());
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
        let (code, out) = common::run(
            network(&name, &aws, zones).0,
            &state,
            &["apply", "--auto-approve"],
        )
        .await;
        assert_eq!(code.unwrap(), 0, "{}", out.stderr());
        let before = aws.calls();
        let (code, _) = common::run(
            network(&name, &aws, zones).0,
            &state,
            &["plan", "--detailed-exitcode"],
        )
        .await;
        assert_eq!(code.unwrap(), 0);
        let after = aws.calls();
        let delta: BTreeMap<String, u64> = after
            .iter()
            .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
            .filter(|(_, v)| *v > 0)
            .collect();
        println!("refresh of {} resources: {delta:?}", 7 + 2 * zones);
        per_size.push(delta);
        let (code, _) = common::run(
            network(&name, &aws, zones).0,
            &state,
            &["destroy", "--auto-approve"],
        )
        .await;
        assert_eq!(code.unwrap(), 0);
    }
    assert_eq!(
        per_size[0], per_size[1],
        "refresh calls grew with the number of subnets"
    );
    let total: u64 = per_size[1].values().sum();
    // One Describe per kind, plus the VPC's two DNS attributes.
    assert_eq!(total, 8, "{:?}", per_size[1]);
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
    let (code, out) = common::run(broken(&aws, false), &state, &["apply", "--auto-approve"]).await;
    let err = code.unwrap_err();
    assert!(matches!(err, Error::Apply(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("aws.route_table.extra"), "{text}");
    assert!(text.contains("InvalidInternetGatewayID.NotFound"), "{text}");
    assert!(
        out.stderr()
            .contains("aws.route_table.extra: create failed"),
        "{}",
        out.stderr()
    );
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
    let (code, out) = common::run(broken(&aws, true), &state, &["apply", "--auto-approve"]).await;
    assert_eq!(code.unwrap(), 0, "{}", out.stderr());
    assert!(
        out.stdout()
            .contains(&format!("{} added, 1 changed", 12 - recorded)),
        "{}",
        out.stdout()
    );
    let after = aws.calls();
    let made =
        |op: &str| after.get(op).copied().unwrap_or(0) - before.get(op).copied().unwrap_or(0);
    let creates: u64 = [
        "CreateVpc",
        "CreateSubnet",
        "CreateInternetGateway",
        "CreateRouteTable",
        "CreateSecurityGroup",
        "CreateNetworkAcl",
    ]
    .iter()
    .map(|op| made(op))
    .sum();
    assert_eq!(creates as usize, 12 - recorded, "calls: {after:?}");
    assert_eq!(made("CreateVpc"), 0);
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

    let (code, _) = common::run(broken(&aws, true), &state, &["destroy", "--auto-approve"]).await;
    assert_eq!(code.unwrap(), 0);
}

#[tokio::test]
async fn two_concurrent_applies_cannot_both_proceed() {
    let name = common::unique("lock");
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let (a, b) = tokio::join!(
        common::run(
            network(&name, &aws, 2).0,
            &state,
            &["apply", "--auto-approve"]
        ),
        common::run(
            network(&name, &aws, 2).0,
            &state,
            &["apply", "--auto-approve"]
        ),
    );
    let results = [a.0, b.0];
    let ok = results.iter().filter(|r| matches!(r, Ok(0))).count();
    assert_eq!(ok, 1, "exactly one apply proceeds: {results:?}");
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
    let (code, _) = common::run(
        network(&name, &aws, 2).0,
        &state,
        &["plan", "--detailed-exitcode"],
    )
    .await;
    assert_eq!(code.unwrap(), 0);
    let (code, _) = common::run(
        network(&name, &aws, 2).0,
        &state,
        &["destroy", "--auto-approve"],
    )
    .await;
    assert_eq!(code.unwrap(), 0);
}

#[tokio::test]
async fn a_saved_plan_is_applied_exactly_and_refused_once_stale() {
    let name = common::unique("saved");
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let planfile = dir.path().join("net.plan");
    let planfile = planfile.to_str().unwrap();

    let (code, _) = common::run(
        network(&name, &aws, 1).0,
        &state,
        &["plan", "--out", planfile],
    )
    .await;
    assert_eq!(code.unwrap(), 0);
    // The configuration grows after the plan was saved: the saved plan is
    // still applied as it was made (one zone).
    let (code, out) = common::run(network(&name, &aws, 2).0, &state, &["apply", planfile]).await;
    assert_eq!(code.unwrap(), 0, "{}", out.stderr());
    assert!(out.stdout().contains("9 added"), "{}", out.stdout());
    // Applying it again is refused: the state moved on.
    let (code, _) = common::run(network(&name, &aws, 1).0, &state, &["apply", planfile]).await;
    let err = code.unwrap_err();
    assert!(matches!(err, Error::StalePlan(_)), "{err}");
    assert!(err.to_string().contains("run `plan` again"), "{err}");

    let (code, _) = common::run(
        network(&name, &aws, 1).0,
        &state,
        &["destroy", "--auto-approve"],
    )
    .await;
    assert_eq!(code.unwrap(), 0);
}

#[tokio::test]
async fn lost_state_is_rebuilt_from_tags_without_duplicates() {
    let name = common::unique("adopt");
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let (code, _) = common::run(
        network(&name, &aws, 2).0,
        &state,
        &["apply", "--auto-approve"],
    )
    .await;
    assert_eq!(code.unwrap(), 0);
    std::fs::remove_file(&state).unwrap();

    let (code, out) = common::run(
        network(&name, &aws, 2).0,
        &state,
        &["plan", "--detailed-exitcode"],
    )
    .await;
    assert_eq!(code.unwrap(), 2, "{}", out.stdout());
    assert!(
        out.stdout()
            .contains("Plan: 0 to add, 0 to change, 0 to replace, 0 to destroy, 11 to adopt."),
        "{}",
        out.stdout()
    );
    let before = aws.calls();
    let (code, out) = common::run(
        network(&name, &aws, 2).0,
        &state,
        &["apply", "--auto-approve"],
    )
    .await;
    assert_eq!(code.unwrap(), 0, "{}", out.stderr());
    let after = aws.calls();
    assert!(
        after
            .iter()
            .all(|(k, v)| !k.starts_with("Create") || before.get(k) == Some(v)),
        "nothing is created again: {after:?}"
    );
    assert_eq!(
        state_json(&state)["resources"].as_object().unwrap().len(),
        11
    );
    let (code, _) = common::run(
        network(&name, &aws, 2).0,
        &state,
        &["destroy", "--auto-approve"],
    )
    .await;
    assert_eq!(code.unwrap(), 0);
    let ec2 = common::ec2().await;
    assert!(leftovers(&ec2, &name).await.values().all(|&n| n == 0));
}

#[tokio::test]
async fn a_route_added_by_hand_is_drift_and_is_removed() {
    let name = common::unique("route");
    let aws = common::aws().await;
    let ec2 = common::ec2().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let (code, _) = common::run(
        network(&name, &aws, 1).0,
        &state,
        &["apply", "--auto-approve"],
    )
    .await;
    assert_eq!(code.unwrap(), 0);
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

    let (code, out) = common::run(
        network(&name, &aws, 1).0,
        &state,
        &["plan", "--detailed-exitcode"],
    )
    .await;
    assert_eq!(code.unwrap(), 2);
    let text = out.stdout();
    assert!(text.contains("~ aws.route_table.private"), "{text}");
    assert!(text.contains(&nat_id), "{text}");
    assert!(text.contains("Plan: 0 to add, 1 to change"), "{text}");
    let (code, _) = common::run(
        network(&name, &aws, 1).0,
        &state,
        &["apply", "--auto-approve"],
    )
    .await;
    assert_eq!(code.unwrap(), 0);
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
    let (code, out) = common::run(
        network(&name, &aws, 1).0,
        &state,
        &["destroy", "--auto-approve"],
    )
    .await;
    assert_eq!(code.unwrap(), 0, "{}", out.stderr());
}
