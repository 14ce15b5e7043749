//! Engine tests on test kinds whose API is a `mockall` mock (see
//! `support`): validation, plan classification, failures, retries, budgets,
//! ordering, protection, locking, secrets, interrupts.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use madplan_core::events::{Event, EventSink};
use madplan_core::plan::Action;
use madplan_core::{Engine, Environment, Error, Input, LocalStateStore, StateStore};
use secrecy::SecretString;
use support::*;

#[tokio::test]
async fn validation_reports_every_problem_before_any_call() {
    // A mock without expectations panics on any call.
    let mut env = Environment::new("test").with_provider(provider(MockThingApi::new(), 4));
    let a = env.add("a", thing(0, "z1"));
    env.add("a", thing(1, "z1"));
    env.add("Bad Name", thing(1, "z1"));
    let x = env.reserve::<Thing>("x");
    let y = env.reserve::<Thing>("y");
    env.define(
        &x,
        Thing {
            parent: Some(y.output("id")),
            ..thing(1, "z1")
        },
    );
    env.define(
        &y,
        Thing {
            parent: Some(x.output("id")),
            ..thing(1, "z1")
        },
    );
    env.reserve::<Thing>("never");
    env.add(
        "orphan",
        Thing {
            parent: Some(Input::Output(madplan_core::OutputRef {
                address: "test.thing.elsewhere".parse().unwrap(),
                output: "id".into(),
            })),
            ..thing(1, "z1")
        },
    );
    let _ = a;
    let dir = tempfile::tempdir().unwrap();
    let err = engine(env, &dir).plan().await.unwrap_err();
    let Error::Invalid(problems) = &err else {
        panic!("expected validation errors, got {err}")
    };
    let text = err.to_string();
    for expected in [
        "test.thing.a: size: must be at least 1 (hint: give it a size)",
        "test.thing.a: this address is declared twice",
        "resource name \"Bad Name\" contains 'B'",
        "reference cycle: test.thing.x -> test.thing.y -> test.thing.x",
        "test.thing.never: reserved but never defined",
        "test.thing.orphan: refers to test.thing.elsewhere.id, which is not in this environment",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert_eq!(problems.0.len(), 6, "{text}");
    assert!(!dir.path().join("state.json").exists());
}

#[tokio::test]
async fn a_missing_provider_is_a_validation_problem() {
    let mut env = Environment::new("test");
    env.add("a", thing(1, "z1"));
    let err = env.validate().unwrap_err().to_string();
    assert!(
        err.contains("the test provider, which is not registered"),
        "{err}"
    );
}

#[tokio::test]
async fn plan_classifies_create_update_replace_delete_and_ignores_owned_fields() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();

    let e = engine(basic(&world, (1, 1, 1), "z1"), &dir);
    let plan = e.plan().await.unwrap();
    assert!(plan.changes.iter().all(|c| c.action == Action::Create));
    let text = plan.render();
    assert!(text.contains("+ parent   = (known after apply)"), "{text}");
    assert!(
        text.contains("Plan: 3 to add, 0 to change, 0 to replace, 0 to destroy."),
        "{text}"
    );
    e.apply(&plan).await.unwrap();

    // An autoscaler changes `replicas`: not drift.
    for t in world.lock().unwrap().things.values_mut() {
        t.2.replicas = 7;
    }
    let plan = engine(basic(&world, (1, 1, 1), "z1"), &dir)
        .plan()
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());

    // size of a changes in place; zone of c forces replacement; b goes.
    let mut env = Environment::new("test").with_provider(provider(api(&world), 4));
    env.add("a", thing(2, "z1"));
    env.add("c", thing(1, "z2"));
    let plan = engine(env, &dir).plan().await.unwrap();
    let action = |a: &str| plan.change(a).unwrap().action;
    assert_eq!(action("test.thing.a"), Action::Update);
    assert_eq!(action("test.thing.c"), Action::Replace);
    assert_eq!(action("test.thing.b"), Action::Delete);
    let c = plan.change("test.thing.c").unwrap();
    assert_eq!(c.fields.len(), 1);
    assert_eq!(c.fields[0].field, "zone");
    assert!(c.fields[0].forces_replacement);
    let text = plan.render();
    assert!(
        text.contains("test.thing.c must be replaced (zone forces replacement)"),
        "{text}"
    );
    assert!(text.contains("-/+ test.thing.c"), "{text}");
    assert!(text.contains("~ size = 1 -> 2"), "{text}");
    assert!(text.contains("- test.thing.b"), "{text}");
    assert!(
        text.contains("Plan: 0 to add, 1 to change, 1 to replace, 1 to destroy."),
        "{text}"
    );
    // The JSON form carries the same.
    let back: madplan_core::Plan = serde_json::from_str(&plan.to_json()).unwrap();
    assert_eq!(back, plan);
}

#[tokio::test]
async fn a_parent_destroyed_before_it_is_created_again_takes_its_users_with_it() {
    // a is replaced destroy-before-create (its zone changes); b uses a's id,
    // so a cannot go while b holds it: b is replaced too, deleted before a
    // and created after the new a. (Before, b was planned as an update after
    // a's delete, which real APIs refuse: an SG still referenced.)
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    apply(basic(&world, (1, 1, 1), "z1"), &dir).await.unwrap();
    let plan = engine(basic(&world, (1, 1, 1), "z9"), &dir)
        .plan()
        .await
        .unwrap();
    assert_eq!(plan.change("test.thing.a").unwrap().action, Action::Replace);
    let b = plan.change("test.thing.b").unwrap();
    assert_eq!(b.action, Action::Replace);
    assert!(
        b.reason
            .as_deref()
            .unwrap_or_default()
            .contains("uses test.thing.a"),
        "{:?}",
        b.reason
    );
    assert_eq!(plan.change("test.thing.c").unwrap().action, Action::NoOp);
    let text = plan.render();
    assert!(text.contains("-/+ test.thing.b"), "{text}");
    let report = engine(basic(&world, (1, 1, 1), "z9"), &dir)
        .apply(&plan)
        .await
        .unwrap();
    assert_eq!((report.created, report.updated, report.deleted), (2, 0, 2));
    let w = world.lock().unwrap();
    let b = w.things.values().find(|t| t.1 == "test.thing.b").unwrap();
    let a_id = w
        .things
        .iter()
        .find(|(_, t)| t.1 == "test.thing.a")
        .unwrap()
        .0;
    assert_eq!(b.2.parent, Some(Input::Value(a_id.clone())));
    let log: Vec<&str> = w.log.iter().map(String::as_str).collect();
    let pos = |line: &str, last: bool| {
        let f = |l: &&str| *l == line;
        if last {
            log.iter().rposition(f)
        } else {
            log.iter().position(f)
        }
        .unwrap_or_else(|| panic!("{line} not in {log:?}"))
    };
    assert!(
        pos("delete test.thing.b", false) < pos("delete test.thing.a", false),
        "{log:?}"
    );
    assert!(
        pos("delete test.thing.a", false) < pos("create test.thing.a", true),
        "{log:?}"
    );
    assert!(
        pos("create test.thing.a", true) < pos("create test.thing.b", true),
        "{log:?}"
    );
}

#[tokio::test]
async fn a_failure_keeps_state_true_and_the_next_apply_finishes_without_duplicates() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    world.lock().unwrap().fail_create = Some("test.thing.c".into());
    let err = apply(basic(&world, (1, 1, 1), "z1"), &dir)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("create of test.thing.c failed: test API error [Quota]: quota exceeded"),
        "{text}"
    );
    let state = LocalStateStore::new(dir.path().join("state.json"))
        .load()
        .await
        .unwrap()
        .unwrap();
    // State is true: it holds exactly what exists. That is a, and b if b
    // started before c's failure came in (nothing new starts after it).
    let in_state: Vec<String> = state.resources.keys().map(ToString::to_string).collect();
    let mut existing: Vec<String> = world
        .lock()
        .unwrap()
        .things
        .values()
        .map(|t| t.1.clone())
        .collect();
    existing.sort();
    assert_eq!(in_state, existing);
    assert!(in_state.contains(&"test.thing.a".to_string()));
    assert!(!in_state.contains(&"test.thing.c".to_string()));
    let missing = 3 - in_state.len();

    world.lock().unwrap().fail_create = None;
    let report = apply(basic(&world, (1, 1, 1), "z1"), &dir).await.unwrap();
    assert_eq!(report.created, missing);
    let w = world.lock().unwrap();
    for a in ["a", "b"] {
        let n = w
            .log
            .iter()
            .filter(|l| **l == format!("create test.thing.{a}"))
            .count();
        assert_eq!(n, 1, "{a} created once: {:?}", w.log);
    }
    assert_eq!(w.things.len(), 3);
}

#[tokio::test]
async fn a_create_that_fails_after_making_something_is_recorded_and_repaired() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    world.lock().unwrap().fail_configure = Some("test.thing.c".into());
    apply(basic(&world, (1, 1, 1), "z1"), &dir)
        .await
        .unwrap_err();
    let state = LocalStateStore::new(dir.path().join("state.json"))
        .load()
        .await
        .unwrap()
        .unwrap();
    let c = &state.resources[&"test.thing.c".parse().unwrap()];
    assert!(c.spec.is_none());
    let c_id = c.outputs["id"].as_str().unwrap().to_string();
    assert_eq!(world.lock().unwrap().things[&c_id].1, "test.thing.c");

    world.lock().unwrap().fail_configure = None;
    let plan = engine(basic(&world, (1, 1, 1), "z1"), &dir)
        .plan()
        .await
        .unwrap();
    assert_eq!(plan.change("test.thing.c").unwrap().action, Action::Update);
    engine(basic(&world, (1, 1, 1), "z1"), &dir)
        .apply(&plan)
        .await
        .unwrap();
    let w = world.lock().unwrap();
    assert_eq!(
        w.log.iter().filter(|l| *l == "create test.thing.c").count(),
        1
    );
    assert_eq!(w.things[&c_id].2.size, 1);
}

#[tokio::test]
async fn retryable_errors_are_retried_and_the_retries_are_bounded() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    world.lock().unwrap().retryable_failures = 2;
    let mut env = Environment::new("test").with_provider(provider(api(&world), 4));
    env.add("a", thing(1, "z1"));
    let events = Arc::new(Recorder::default());
    let e = engine(env, &dir).with_events(events.clone());
    let plan = e.plan().await.unwrap();
    e.apply(&plan).await.unwrap();
    let retries = events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, Event::Retrying { .. }))
        .count();
    assert_eq!(retries, 2);
    assert_eq!(
        world
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|l| l.starts_with("create"))
            .count(),
        3
    );

    // Always failing: 1 attempt + 3 retries, then the error.
    world.lock().unwrap().retryable_failures = 100;
    let mut env = Environment::new("test").with_provider(provider(api(&world), 4));
    env.add("a", thing(1, "z1"));
    env.add("b", thing(1, "z1"));
    let err = apply(env, &dir).await.unwrap_err();
    assert!(err.to_string().contains("slow down"), "{err}");
    assert_eq!(
        world
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|l| *l == "create test.thing.b")
            .count(),
        4
    );
}

#[tokio::test]
async fn each_provider_has_its_own_concurrency_budget() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let mut p = provider(api(&world), 2);
    p.delay = Duration::from_millis(30);
    let mut env = Environment::new("test").with_provider(p);
    for i in 0..6 {
        env.add(&format!("t{i}"), thing(1, "z1"));
    }
    let e = engine(env, &dir);
    let plan = e.plan().await.unwrap();
    e.apply(&plan).await.unwrap();
    let p = e.environment().provider::<TestProvider>().unwrap();
    assert_eq!(p.max_in_flight.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn destroy_deletes_dependents_first() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let mut env = Environment::new("test").with_provider(provider(api(&world), 4));
    let a = env.add("a", thing(1, "z1"));
    let b = env.add(
        "b",
        Thing {
            parent: Some(a.output("id")),
            ..thing(1, "z1")
        },
    );
    env.add(
        "c",
        Thing {
            parent: Some(b.output("id")),
            ..thing(1, "z1")
        },
    );
    let e = engine(env, &dir);
    e.apply(&e.plan().await.unwrap()).await.unwrap();
    let plan = e.plan_destroy().await.unwrap();
    let order: Vec<String> = plan.changes.iter().map(|c| c.address.to_string()).collect();
    assert_eq!(order, ["test.thing.c", "test.thing.b", "test.thing.a"]);
    e.apply(&plan).await.unwrap();
    let w = world.lock().unwrap();
    let deletes: Vec<&str> = w
        .log
        .iter()
        .filter(|l| l.starts_with("delete"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        deletes,
        [
            "delete test.thing.c",
            "delete test.thing.b",
            "delete test.thing.a"
        ]
    );
    assert!(w.things.is_empty());
}

#[tokio::test]
async fn protected_resources_are_not_deleted_unless_allowed() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let mut env = Environment::new("test").with_provider(provider(api(&world), 4));
    let db = env.add("db", thing(1, "z1"));
    env.protect(&db);
    apply(env, &dir).await.unwrap();

    let env = Environment::new("test").with_provider(provider(api(&world), 4));
    let e = engine(env, &dir);
    let plan = e.plan_destroy().await.unwrap();
    let err = e.apply(&plan).await.unwrap_err();
    assert!(matches!(err, Error::Protected { .. }), "{err}");
    assert_eq!(world.lock().unwrap().things.len(), 1);

    let env = Environment::new("test").with_provider(provider(api(&world), 4));
    let mut e = engine(env, &dir);
    e.options_mut().allow_protected_deletion = true;
    let plan = e.plan_destroy().await.unwrap();
    e.apply(&plan).await.unwrap();
    assert!(world.lock().unwrap().things.is_empty());
}

#[tokio::test]
async fn a_stale_saved_plan_is_refused() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let saved = engine(basic(&world, (1, 1, 1), "z1"), &dir)
        .plan()
        .await
        .unwrap();
    apply(basic(&world, (1, 1, 1), "z1"), &dir).await.unwrap();
    let err = engine(basic(&world, (1, 1, 1), "z1"), &dir)
        .apply(&saved)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StalePlan(_)), "{err}");
    assert_eq!(
        world.lock().unwrap().things.len(),
        3,
        "nothing was created twice"
    );
}

#[tokio::test]
async fn apply_fails_at_once_while_another_run_holds_the_lock() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let holder = engine(basic(&world, (1, 1, 1), "z1"), &dir);
    let guard = holder.lock("apply").await.unwrap();
    let e = engine(basic(&world, (1, 1, 1), "z1"), &dir);
    let plan = e.plan().await.unwrap();
    let err = e.apply(&plan).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!("(pid {}) running `apply`", std::process::id())),
        "{text}"
    );
    assert!(world.lock().unwrap().log.is_empty());
    guard.release().await.unwrap();
    e.apply(&plan).await.unwrap();
}

#[tokio::test]
async fn secrets_reach_the_provider_but_never_state_plans_or_logs() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = Environment::new("test").with_provider(provider(MockThingApi::new(), 4));
    let pw = env.secret("db-password", "2026-11", SecretString::from(PASSWORD));
    env.add(
        "app",
        Login {
            user: "app".into(),
            password: pw.clone(),
        },
    );
    let debug = format!("{env:?} {pw:?}");
    let events = Arc::new(Lines::default());
    let e = engine(env, &dir).with_events(events.clone());
    let plan = e.plan().await.unwrap();
    let rendered = format!("{}{}{:?}", plan.render(), plan.to_json(), plan);
    e.apply(&plan).await.unwrap();

    let p = e.environment().provider::<TestProvider>().unwrap();
    assert_eq!(p.logins.lock().unwrap()["test.login.app"].1, PASSWORD);
    let state = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
    assert!(
        state.contains("db-password"),
        "the state names the secret: {state}"
    );
    for (what, text) in [
        ("state", state.as_str()),
        ("plan", rendered.as_str()),
        ("debug", debug.as_str()),
        ("events", events.0.lock().unwrap().as_str()),
    ] {
        assert!(
            !text.contains(PASSWORD),
            "the password leaked into the {what}"
        );
    }

    // Same version: nothing to do. New version: the login is updated.
    let again = |version: &str, value: &str| {
        let mut env = Environment::new("test").with_provider(provider(MockThingApi::new(), 4));
        let pw = env.secret("db-password", version, SecretString::from(value));
        env.add(
            "app",
            Login {
                user: "app".into(),
                password: pw,
            },
        );
        env
    };
    let e2 = engine(again("2026-11", PASSWORD), &dir);
    // The provider's memory lives in the first engine's provider; carry it over.
    let remembered = p.logins.lock().unwrap().clone();
    *e2.environment()
        .provider::<TestProvider>()
        .unwrap()
        .logins
        .lock()
        .unwrap() = remembered.clone();
    assert!(!e2.plan().await.unwrap().has_changes());
    let e3 = engine(again("2026-12", "rotated-password"), &dir);
    *e3.environment()
        .provider::<TestProvider>()
        .unwrap()
        .logins
        .lock()
        .unwrap() = remembered;
    let plan = e3.plan().await.unwrap();
    assert_eq!(
        plan.change("test.login.app").unwrap().action,
        Action::Update
    );
    e3.apply(&plan).await.unwrap();
    let p3 = e3.environment().provider::<TestProvider>().unwrap();
    assert_eq!(
        p3.logins.lock().unwrap()["test.login.app"].1,
        "rotated-password"
    );
}

#[tokio::test]
async fn a_secret_that_was_not_given_is_a_validation_problem() {
    let mut other = Environment::new("other");
    let pw = other.secret("db-password", "1", SecretString::from(PASSWORD));
    let mut env = Environment::new("test").with_provider(provider(MockThingApi::new(), 4));
    env.add(
        "app",
        Login {
            user: "app".into(),
            password: pw,
        },
    );
    let err = env.validate().unwrap_err().to_string();
    assert!(
        err.contains(
            "test.login.app: uses the secret \"db-password\", which the environment was not given"
        ),
        "{err}"
    );
}

/// Pulls the interrupt as soon as one resource is done.
struct StopAfterFirst(tokio::sync::watch::Sender<bool>);

impl EventSink for StopAfterFirst {
    fn event(&self, e: &Event) {
        if matches!(e, Event::Finished { .. }) {
            let _ = self.0.send(true);
        }
    }
}

#[tokio::test]
async fn an_interrupted_apply_finishes_what_is_in_flight_and_saves_it() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let mut env = Environment::new("test").with_provider(provider(api(&world), 4));
    let a = env.add("a", thing(1, "z1"));
    let b = env.add(
        "b",
        Thing {
            parent: Some(a.output("id")),
            ..thing(1, "z1")
        },
    );
    env.add(
        "c",
        Thing {
            parent: Some(b.output("id")),
            ..thing(1, "z1")
        },
    );
    let (tx, rx) = tokio::sync::watch::channel(false);
    let e = engine(env, &dir)
        .with_events(Arc::new(StopAfterFirst(tx)))
        .with_interrupt(rx);
    let plan = e.plan().await.unwrap();
    let err = e.apply(&plan).await.unwrap_err();
    assert!(matches!(err, Error::Interrupted(_)), "{err}");
    assert!(err.to_string().contains("1 of 3 changes"), "{err}");
    let state = LocalStateStore::new(dir.path().join("state.json"))
        .load()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.resources.len(), 1);
    assert_eq!(world.lock().unwrap().things.len(), 1);
    // The lock was released: the next apply carries on.
    let report = apply(
        {
            let mut env = Environment::new("test").with_provider(provider(api(&world), 4));
            let a = env.add("a", thing(1, "z1"));
            let b = env.add(
                "b",
                Thing {
                    parent: Some(a.output("id")),
                    ..thing(1, "z1")
                },
            );
            env.add(
                "c",
                Thing {
                    parent: Some(b.output("id")),
                    ..thing(1, "z1")
                },
            );
            env
        },
        &dir,
    )
    .await
    .unwrap();
    assert_eq!(report.created, 2);
}

#[tokio::test]
async fn a_failed_state_write_does_not_abandon_work_in_flight() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let mut p = provider(api(&world), 4);
    p.delay = Duration::from_millis(20);
    let mut env = Environment::new("test").with_provider(p);
    for i in 0..6 {
        env.add(&format!("t{i}"), thing(1, "z1"));
    }
    let store = FlakyStore {
        inner: LocalStateStore::new(dir.path().join("state.json")),
        saves: AtomicUsize::new(0),
    };
    let e = Engine::new(env, store).with_options(fast());
    let plan = e.plan().await.unwrap();
    let err = e.apply(&plan).await.unwrap_err();
    assert!(err.to_string().contains("no space left on device"), "{err}");
    // Everything that was created is in the state written afterwards.
    let state = LocalStateStore::new(dir.path().join("state.json"))
        .load()
        .await
        .unwrap()
        .unwrap();
    let created = world.lock().unwrap().things.len();
    assert!(created >= 4, "work in flight finished: {created}");
    assert_eq!(state.resources.len(), created);
}

#[tokio::test]
async fn nothing_queued_behind_the_budget_starts_after_a_failure() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    world.lock().unwrap().fail_create = Some("test.thing.a".into());
    let mut p = provider(api(&world), 1);
    p.delay = Duration::from_millis(10);
    let mut env = Environment::new("test").with_provider(p);
    for name in ["a", "b", "c"] {
        env.add(name, thing(1, "z1"));
    }
    let err = apply(env, &dir).await.unwrap_err();
    assert!(err.to_string().contains("test.thing.a"), "{err}");
    let w = world.lock().unwrap();
    assert_eq!(
        w.log,
        ["create test.thing.a"],
        "b and c waited for the budget and must not start"
    );
    assert!(w.things.is_empty());
}

#[tokio::test]
async fn create_before_destroy_moves_dependents_before_the_old_one_goes() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let build = |zone: &str| {
        let mut env = Environment::new("test").with_provider(provider(api(&world), 4));
        let lb = env.add("front", Lb { zone: zone.into() });
        env.add(
            "app",
            Thing {
                parent: Some(lb.output("id")),
                ..thing(1, "z1")
            },
        );
        env
    };
    apply(build("z1"), &dir).await.unwrap();
    let old_lb = world
        .lock()
        .unwrap()
        .things
        .iter()
        .find(|(_, t)| t.1 == "test.lb.front")
        .unwrap()
        .0
        .clone();

    let plan = engine(build("z2"), &dir).plan().await.unwrap();
    let lb = plan.change("test.lb.front").unwrap();
    assert_eq!(lb.action, Action::Replace);
    assert!(
        plan.render().contains("+/- test.lb.front"),
        "{}",
        plan.render()
    );
    engine(build("z2"), &dir).apply(&plan).await.unwrap();

    let new_lb = {
        let w = world.lock().unwrap();
        let pos = |line: &str| {
            w.log
                .iter()
                .position(|l| l == line)
                .unwrap_or_else(|| panic!("{line} not in {:?}", w.log))
        };
        let created_again = w
            .log
            .iter()
            .rposition(|l| l == "create test.lb.front")
            .unwrap();
        let app_moved = w
            .log
            .iter()
            .rposition(|l| l == "configure test.thing.app")
            .unwrap();
        let old_deleted = pos("delete test.lb.front");
        assert!(
            created_again < app_moved && app_moved < old_deleted,
            "{:?}",
            w.log
        );
        let new_lb = w
            .things
            .iter()
            .find(|(_, t)| t.1 == "test.lb.front")
            .unwrap()
            .0
            .clone();
        assert_ne!(new_lb, old_lb);
        let app = w.things.values().find(|t| t.1 == "test.thing.app").unwrap();
        assert_eq!(app.2.parent, Some(Input::Value(new_lb.clone())));
        new_lb
    };
    let state = LocalStateStore::new(dir.path().join("state.json"))
        .load()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        state.resources[&"test.lb.front".parse().unwrap()].outputs["id"],
        new_lb.as_str()
    );
}
