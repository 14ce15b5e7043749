//! The audit trail and the approval gate, on the local store with mocked
//! providers: a record for every apply and destroy (refused and failed ones
//! too), saved plans sealed with a digest, approvals, four eyes, emergency
//! applies with a reason.

mod support;

use madplan_core::audit::Outcome;
use madplan_core::plan::Action;
use madplan_core::{
    ApprovalPolicy, Engine, Environment, Error, LocalStateStore, Operator, Plan, StateStore,
};
use support::*;

fn governed(world: &Shared, size: u32, policy: Option<ApprovalPolicy>) -> Environment {
    let mut env = basic(world, (size, 1, 1), "z1");
    if let Some(p) = policy {
        env.require_approval(p);
    }
    env
}

fn as_user(env: Environment, dir: &tempfile::TempDir, user: &str) -> Engine<LocalStateStore> {
    engine(env, dir).with_operator(Operator::named(user))
}

/// `plan --out` as `user`: the plan, sealed, through its saved form.
async fn saved_plan(env: Environment, dir: &tempfile::TempDir, user: &str) -> Plan {
    let e = as_user(env, dir, user);
    let mut plan = e.plan().await.unwrap();
    plan.seal(e.operator().clone());
    Plan::from_json(&plan.to_json()).unwrap()
}

#[tokio::test]
async fn every_apply_and_destroy_leaves_one_record() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let e = as_user(governed(&world, 1, None), &dir, "alice");
    let plan = e.plan().await.unwrap();
    let report = e.apply(&plan).await.unwrap();

    let records = e.audit().await.unwrap();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.operation, "apply");
    assert_eq!(r.environment, "test");
    assert_eq!(r.operator.user, "alice");
    assert_eq!(r.outcome, Outcome::Succeeded);
    assert_eq!(
        r.plan_digest.as_deref(),
        Some(plan.compute_digest().as_str())
    );
    let mut changed: Vec<_> = r.changes.iter().map(|c| c.address.as_str()).collect();
    changed.sort_unstable();
    assert_eq!(changed, ["test.thing.a", "test.thing.b", "test.thing.c"]);
    assert!(r.changes.iter().all(|c| c.action == Action::Create));
    assert_eq!(r.serial_before, None);
    assert_eq!(r.serial_after, Some(report.serial));
    assert!(r.error.is_none() && r.approval.is_none() && r.emergency.is_none());
    assert!(r.lock_id.is_some());

    // A failed apply is recorded as failed, with its error and the serial
    // state reached.
    world.lock().unwrap().fail_configure = Some("test.thing.a".into());
    let e = as_user(governed(&world, 5, None), &dir, "bob");
    let plan = e.plan().await.unwrap();
    let err = e.apply(&plan).await.unwrap_err();
    assert!(matches!(err, Error::Apply(_)), "{err}");
    world.lock().unwrap().fail_configure = None;

    // A stale plan is refused, and the refusal is recorded.
    let err = e.apply(&plan).await.unwrap_err();
    assert!(matches!(err, Error::StalePlan(_)), "{err}");

    let e = as_user(governed(&world, 5, None), &dir, "carol");
    let plan = e.plan_destroy().await.unwrap();
    e.apply(&plan).await.unwrap();

    let records = e.audit().await.unwrap();
    let summary: Vec<(&str, Outcome, &str)> = records
        .iter()
        .map(|r| (r.operation.as_str(), r.outcome, r.operator.user.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("apply", Outcome::Succeeded, "alice"),
            ("apply", Outcome::Failed, "bob"),
            ("apply", Outcome::Refused, "bob"),
            ("destroy", Outcome::Succeeded, "carol"),
        ]
    );
    assert!(records[1].error.as_deref().unwrap().contains("bad size"));
    assert!(records[1].serial_after.is_some());
    assert!(records[2].error.as_deref().unwrap().contains("stale"));
    assert_eq!(records[3].changes.len(), 3);
    // One file per record, beside the state.
    let files = std::fs::read_dir(dir.path().join("state.json.audit"))
        .unwrap()
        .count();
    assert_eq!(files, 4);
}

#[tokio::test]
async fn an_environment_that_requires_approval_applies_only_approved_saved_plans() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let policy = Some(ApprovalPolicy::four_eyes());

    // A plan made on the spot is refused before anything happens.
    let e = as_user(governed(&world, 1, policy), &dir, "alice");
    let err = e.check_approval(None).await.unwrap_err();
    assert!(matches!(err, Error::NotApproved(_)), "{err}");
    let fresh = e.plan().await.unwrap();
    let err = e.apply(&fresh).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("applies only approved saved plans"), "{text}");
    assert!(
        text.contains("plan --out") && text.contains("approve"),
        "{text}"
    );
    assert!(world.lock().unwrap().log.is_empty(), "nothing was created");

    // A saved but unapproved plan is refused.
    let plan = saved_plan(governed(&world, 1, policy), &dir, "alice").await;
    assert_eq!(plan.author.as_ref().unwrap().user, "alice");
    let digest = plan.digest.clone().unwrap();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 7 + 64,
        "{digest}"
    );
    let err = e.apply(&plan).await.unwrap_err();
    assert!(err.to_string().contains("has not been approved"), "{err}");

    // Four eyes: its author cannot approve it.
    let err = e.approve(&plan).await.unwrap_err();
    assert!(matches!(err, Error::NotApproved(_)), "{err}");
    assert!(err.to_string().contains("alice wrote this plan"), "{err}");
    assert!(e.store().approval(&digest).await.unwrap().is_none());

    // Someone else can, once.
    let bob = as_user(governed(&world, 1, policy), &dir, "bob");
    let approval = bob.approve(&plan).await.unwrap();
    assert_eq!(approval.approver.user, "bob");
    assert_eq!(approval.plan_digest, digest);
    assert_eq!(approval.plan_author.as_ref().unwrap().user, "alice");
    let err = bob.approve(&plan).await.unwrap_err();
    assert!(
        err.to_string().contains("approved already, by bob"),
        "{err}"
    );

    // A plan changed after its approval no longer matches its digest.
    let mut tampered: serde_json::Value = serde_json::from_str(&plan.to_json()).unwrap();
    tampered["changes"][0]["after"]["size"] = 99.into();
    let err = Plan::from_json(&tampered.to_string()).unwrap_err();
    assert!(
        err.to_string().contains("does not match its digest"),
        "{err}"
    );

    // The approved plan applies, and its record names the approval.
    e.apply(&plan).await.unwrap();
    assert_eq!(world.lock().unwrap().things.len(), 3);
    let records = e.audit().await.unwrap();
    let last = records.last().unwrap();
    assert_eq!(last.outcome, Outcome::Succeeded);
    assert_eq!(last.approval.as_ref().unwrap().approver.user, "bob");
    assert_eq!(last.plan_digest.as_deref(), Some(digest.as_str()));

    // The state moved on: the same approved plan is stale now, and a plan
    // made against the old serial cannot be approved either.
    let err = e.apply(&plan).await.unwrap_err();
    assert!(matches!(err, Error::StalePlan(_)), "{err}");
    let carol = as_user(governed(&world, 1, policy), &dir, "carol");
    let mut old = plan.clone();
    old.serial = Some(0);
    old.seal(Operator::named("alice"));
    let err = carol.approve(&old).await.unwrap_err();
    assert!(matches!(err, Error::StalePlan(_)), "{err}");
    // Only a saved (sealed) plan can be approved.
    let err = carol.approve(&e.plan().await.unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("plan --out"), "{err}");

    let outcomes: Vec<Outcome> = e.audit().await.unwrap().iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Refused,
            Outcome::Refused,
            Outcome::Succeeded,
            Outcome::Refused
        ]
    );
}

#[tokio::test]
async fn without_four_eyes_the_author_may_approve() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let policy = Some(ApprovalPolicy::approved_plans());
    let plan = saved_plan(governed(&world, 1, policy), &dir, "alice").await;
    let e = as_user(governed(&world, 1, policy), &dir, "alice");
    e.approve(&plan).await.unwrap();
    e.apply(&plan).await.unwrap();
}

#[tokio::test]
async fn an_approval_by_the_author_is_refused_at_apply_too() {
    // An approval written by other means (or before four eyes was turned
    // on) by the plan's author does not pass the gate.
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let plan = saved_plan(governed(&world, 1, None), &dir, "alice").await;
    as_user(governed(&world, 1, None), &dir, "alice")
        .approve(&plan)
        .await
        .unwrap();
    let e = as_user(
        governed(&world, 1, Some(ApprovalPolicy::four_eyes())),
        &dir,
        "alice",
    );
    let err = e.apply(&plan).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("approved by its own author alice@"),
        "{err}"
    );
    assert!(world.lock().unwrap().things.is_empty());
}

#[tokio::test]
async fn an_emergency_apply_needs_a_reason_and_is_recorded() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let policy = Some(ApprovalPolicy::four_eyes());
    let mut e = as_user(governed(&world, 1, policy), &dir, "alice");
    e.options_mut().emergency = Some("  ".into());
    let err = e.check_approval(None).await.unwrap_err();
    assert!(err.to_string().contains("needs a reason"), "{err}");

    e.options_mut().emergency = Some("INC-42: the API is down".into());
    assert!(e.check_approval(None).await.unwrap().is_none());
    let plan = e.plan().await.unwrap();
    e.apply(&plan).await.unwrap();
    let records = e.audit().await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].emergency.as_deref(),
        Some("INC-42: the API is down")
    );
    assert!(records[0].approval.is_none());
    assert!(records[0].summary().contains("EMERGENCY: INC-42"));
}

#[tokio::test]
async fn a_record_that_cannot_be_written_is_an_error_that_says_what_was_done() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    // A file where the audit folder should be.
    std::fs::write(dir.path().join("state.json.audit"), "").unwrap();
    let e = as_user(governed(&world, 1, None), &dir, "alice");
    let plan = e.plan().await.unwrap();
    let err = e.apply(&plan).await.unwrap_err().to_string();
    assert!(err.contains("the apply finished (3 changes"), "{err}");
    assert!(err.contains("audit record could not be written"), "{err}");
    assert_eq!(world.lock().unwrap().things.len(), 3);
}

#[tokio::test]
async fn the_local_store_keeps_no_history() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let e = as_user(governed(&world, 1, None), &dir, "alice");
    let err = e.history().await.unwrap_err().to_string();
    assert!(err.contains("keeps no history"), "{err}");
}
