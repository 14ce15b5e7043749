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
    let (code, out) = run(network(&name, &aws, 1).0, &state, &["unlock"]).await;
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
