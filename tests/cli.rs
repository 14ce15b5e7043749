//! The command line's verbs and exit codes, as an ops binary's users see
//! them, against moto.

mod common;

use common::{network, run};
use madplan::core::{Error, LocalStateStore, LockInfo, StateStore, TAG_ENVIRONMENT};

#[tokio::test]
async fn apply_without_a_terminal_needs_auto_approve_and_changes_nothing() {
    let name = common::unique("confirm");
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let (code, out) = run(network(&name, &aws, 1).0, &state, &["apply"]).await;
    let err = code.unwrap_err();
    assert!(matches!(err, Error::NotConfirmed(_)), "{err}");
    assert!(err.to_string().contains("--auto-approve"), "{err}");
    assert!(
        out.stdout().contains("Plan: 9 to add"),
        "the plan is shown first: {}",
        out.stdout()
    );
    let vpcs = common::ec2()
        .await
        .describe_vpcs()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name(format!("tag:{TAG_ENVIRONMENT}"))
                .values(&name)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(vpcs.vpcs().is_empty());
    // The lock was released.
    assert!(!dir.path().join("state.json.lock").exists());
    let (code, _) = run(network(&name, &aws, 1).0, &state, &["destroy"]).await;
    assert!(
        matches!(code, Ok(0)),
        "nothing to destroy needs no confirmation: {code:?}"
    );
}

#[tokio::test]
async fn inspection_verbs_after_an_apply() {
    let name = common::unique("verbs");
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");

    let (code, out) = run(network(&name, &aws, 1).0, &state, &["validate"]).await;
    assert_eq!(code.unwrap(), 0);
    assert!(out.stdout().contains("valid"));

    let (code, out) = run(network(&name, &aws, 1).0, &state, &["graph"]).await;
    assert_eq!(code.unwrap(), 0);
    let dot = out.stdout();
    assert!(dot.starts_with(&format!("digraph \"{name}\"")), "{dot}");
    assert!(
        dot.contains("\"aws.subnet.public-1a\" -> \"aws.vpc.main\";"),
        "{dot}"
    );
    assert!(
        dot.contains("\"aws.security_group.app\" -> \"aws.security_group.lb\";"),
        "{dot}"
    );

    let (code, out) = run(network(&name, &aws, 1).0, &state, &["output"]).await;
    assert_eq!(code.unwrap(), 0);
    assert!(
        out.stdout().contains("vpc_id = (known after apply)"),
        "{}",
        out.stdout()
    );

    let (code, _) = run(
        network(&name, &aws, 1).0,
        &state,
        &["apply", "--auto-approve"],
    )
    .await;
    assert_eq!(code.unwrap(), 0);

    let (code, out) = run(network(&name, &aws, 1).0, &state, &["output", "--json"]).await;
    assert_eq!(code.unwrap(), 0);
    let outputs: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    assert!(
        outputs["vpc_id"].as_str().unwrap().starts_with("vpc-"),
        "{outputs}"
    );

    let (code, out) = run(network(&name, &aws, 1).0, &state, &["state", "list"]).await;
    assert_eq!(code.unwrap(), 0);
    let text = out.stdout();
    let listed: Vec<&str> = text.lines().map(str::trim).collect();
    assert_eq!(listed.len(), 9, "{listed:?}");
    assert!(listed.contains(&"aws.route_table.public"));

    let (code, out) = run(
        network(&name, &aws, 1).0,
        &state,
        &["state", "show", "aws.vpc.main"],
    )
    .await;
    assert_eq!(code.unwrap(), 0);
    assert!(
        out.stdout().contains("\"vpc_id\": \"vpc-"),
        "{}",
        out.stdout()
    );
    let (code, _) = run(
        network(&name, &aws, 1).0,
        &state,
        &["state", "show", "aws.vpc.nope"],
    )
    .await;
    assert!(matches!(code, Err(Error::UnknownAddress(_))));

    let (code, out) = run(network(&name, &aws, 1).0, &state, &["refresh"]).await;
    assert_eq!(code.unwrap(), 0);
    assert!(out.stdout().contains("No drift"), "{}", out.stdout());

    let (code, out) = run(
        network(&name, &aws, 1).0,
        &state,
        &["plan", "--destroy", "--detailed-exitcode"],
    )
    .await;
    assert_eq!(code.unwrap(), 2);
    assert!(
        out.stdout()
            .contains("Plan: 0 to add, 0 to change, 0 to replace, 9 to destroy.")
    );

    // A lock left by a dead run blocks apply until `unlock`.
    let store = LocalStateStore::new(&state);
    let mut dead = LockInfo::for_this_process("apply");
    dead.pid = 999_999;
    store.lock(&dead).await.unwrap();
    let (code, _) = run(
        network(&name, &aws, 1).0,
        &state,
        &["destroy", "--auto-approve"],
    )
    .await;
    match code {
        Err(Error::Locked { holder, .. }) => assert_eq!(holder.pid, 999_999),
        other => panic!("expected a lock error, got {other:?}"),
    }
    // `unlock` needs the id the error showed; another id removes nothing.
    let wrong = uuid::Uuid::new_v4().to_string();
    let (code, _) = run(network(&name, &aws, 1).0, &state, &["unlock", &wrong]).await;
    let err = code.unwrap_err().to_string();
    assert!(err.contains(&dead.id.to_string()), "{err}");
    assert!(store.lock_holder().await.unwrap().is_some());
    let (code, out) = run(
        network(&name, &aws, 1).0,
        &state,
        &["unlock", &dead.id.to_string()],
    )
    .await;
    assert_eq!(code.unwrap(), 0);
    assert!(
        out.stdout().contains("(pid 999999) running `apply`"),
        "{}",
        out.stdout()
    );

    let (code, out) = run(
        network(&name, &aws, 1).0,
        &state,
        &["destroy", "--auto-approve"],
    )
    .await;
    assert_eq!(code.unwrap(), 0, "{}", out.stderr());
}

#[tokio::test]
async fn usage_errors_and_help() {
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let (code, out) = run(network("help", &aws, 1).0, &state, &["--help"]).await;
    assert_eq!(code.unwrap(), 0);
    for verb in [
        "plan", "apply", "destroy", "refresh", "output", "graph", "state", "unlock",
    ] {
        assert!(out.stdout().contains(verb), "{verb} missing from help");
    }
    let (code, out) = run(network("help", &aws, 1).0, &state, &["frobnicate"]).await;
    assert_eq!(code.unwrap(), 2);
    assert!(
        out.stderr().contains("unrecognized subcommand"),
        "{}",
        out.stderr()
    );
    assert_eq!(aws.total_calls(), 0);
}

#[tokio::test]
async fn protected_resources_are_refused_before_anyone_is_asked() {
    let name = common::unique("protect");
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let protected = || {
        let (mut env, net) = network(&name, &aws, 1);
        env.protect(&net.vpc);
        env
    };
    let (code, _) = run(protected(), &state, &["apply", "--auto-approve"]).await;
    assert_eq!(code.unwrap(), 0);
    // No --auto-approve and no terminal: the protection error comes first,
    // not the request for confirmation.
    let (code, _) = run(protected(), &state, &["destroy"]).await;
    match code {
        Err(Error::Protected { address, hint }) => {
            assert_eq!(address.to_string(), "aws.vpc.main");
            assert!(hint.contains("--allow-destroy-protected"), "{hint}");
        }
        other => panic!("expected a protection error, got {other:?}"),
    }
    let (code, out) = run(
        protected(),
        &state,
        &["destroy", "--auto-approve", "--allow-destroy-protected"],
    )
    .await;
    assert_eq!(code.unwrap(), 0, "{}", out.stderr());
    assert!(out.stdout().contains("9 destroyed"), "{}", out.stdout());
}

#[tokio::test]
async fn plan_json_is_the_documented_versioned_document() {
    let name = common::unique("json");
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let (code, out) = run(network(&name, &aws, 1).0, &state, &["plan", "--json"]).await;
    assert_eq!(code.unwrap(), 0);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(doc["format"], "madplan-plan");
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["has_changes"], true);
    assert_eq!(doc["summary"]["create"], 9);
    let subnet = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "aws.subnet")
        .unwrap();
    assert_eq!(subnet["action"], "create");
    // The VPC id is not known yet: null, and listed as unknown.
    assert_eq!(subnet["after"]["vpc"], serde_json::Value::Null);
    assert!(
        subnet["after_unknown"]
            .as_array()
            .unwrap()
            .contains(&"vpc".into()),
        "{subnet}"
    );
    // No engine internals leak into it.
    assert!(!out.stdout().contains("$output"), "{}", out.stdout());
}

#[tokio::test]
async fn a_lost_state_is_recovered_with_state_recover() {
    let name = common::unique("recover");
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let (code, out) = run(
        network(&name, &aws, 1).0,
        &state,
        &["apply", "--auto-approve"],
    )
    .await;
    assert_eq!(code.unwrap(), 0, "{}", out.stderr());
    std::fs::remove_file(&state).unwrap();

    // The plan does not adopt what another state's lineage made.
    let (code, out) = run(network(&name, &aws, 1).0, &state, &["plan"]).await;
    assert_eq!(code.unwrap(), 0);
    assert!(out.stdout().contains("Plan: 9 to add"), "{}", out.stdout());
    assert!(
        out.stdout().contains("9 resource(s) carry the"),
        "{}",
        out.stdout()
    );
    assert!(out.stdout().contains("state recover"), "{}", out.stdout());

    // Without a terminal, recovery lists what it would adopt and asks for
    // --auto-approve.
    let (code, out) = run(network(&name, &aws, 1).0, &state, &["state", "recover"]).await;
    assert!(matches!(code, Err(Error::NotConfirmed(_))), "{code:?}");
    assert!(out.stdout().contains("+ aws.vpc.main"), "{}", out.stdout());
    assert!(!state.exists());
    let (code, out) = run(
        network(&name, &aws, 1).0,
        &state,
        &["state", "recover", "--auto-approve"],
    )
    .await;
    assert_eq!(code.unwrap(), 0, "{:?}", out.stderr());
    assert!(
        out.stdout().contains("Recovered 9 resource(s)"),
        "{}",
        out.stdout()
    );
    let (code, out) = run(
        network(&name, &aws, 1).0,
        &state,
        &["plan", "--detailed-exitcode"],
    )
    .await;
    assert_eq!(code.unwrap(), 0, "{}", out.stdout());
    let (code, _) = run(
        network(&name, &aws, 1).0,
        &state,
        &["destroy", "--auto-approve"],
    )
    .await;
    assert_eq!(code.unwrap(), 0);
}

#[tokio::test]
async fn a_wait_timeout_must_name_a_kind_and_a_duration() {
    let aws = common::aws().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    for bad in ["90m", "atlas=90m", "atlas.cluster=soon"] {
        let (code, out) = run(
            network("wait", &aws, 1).0,
            &state,
            &["apply", "--wait-timeout", bad],
        )
        .await;
        assert_eq!(code.unwrap(), 2, "{bad}");
        assert!(out.stderr().contains("--wait-timeout"), "{}", out.stderr());
    }
    assert_eq!(aws.total_calls(), 0);
}
