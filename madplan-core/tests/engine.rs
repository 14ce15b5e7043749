//! Engine tests on a test kind whose API is a `mockall` mock, backed by a
//! small in-memory world so that apply, refresh and plan see each other.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madplan_core::events::{Event, EventSink};
use madplan_core::plan::Action;
use madplan_core::{
    ApplyOptions, Engine, Environment, Error, ErrorClass, Found, Input, Kinds, LocalStateStore,
    Observed, OpCx, Problem, Provider, ProviderError, RefreshCx, Resource, RetryPolicy, Secret,
    StateStore, ValidateCx, problem,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Thing {
    size: u32,
    zone: String,
    parent: Option<Input<String>>,
    replicas: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ThingOutputs {
    id: String,
}

/// The provider's API, mocked.
#[mockall::automock]
trait ThingApi: Send + Sync {
    fn list(&self, environment: &str) -> Result<Vec<(String, String, Thing)>, ProviderError>;
    fn create(&self, address: &str, environment: &str, zone: &str)
    -> Result<String, ProviderError>;
    fn configure(&self, id: &str, spec: &Thing) -> Result<(), ProviderError>;
    fn delete(&self, id: &str) -> Result<(), ProviderError>;
}

struct TestProvider {
    api: Box<dyn ThingApi>,
    budget: usize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    delay: Duration,
    /// Logins by address: (user, password as the API received it, version).
    logins: Mutex<BTreeMap<String, (String, String, Secret)>>,
}

impl Provider for TestProvider {
    const NAME: &'static str = "test";
    fn concurrency(&self) -> usize {
        self.budget
    }
    fn register(kinds: &mut Kinds) {
        kinds.register::<Thing>();
        kinds.register::<Login>();
        kinds.register::<Lb>();
    }
}

impl Resource for Thing {
    const KIND: &'static str = "test.thing";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["zone"];
    const EXTERNALLY_OWNED: &'static [&'static str] = &["replicas"];
    type Provider = TestProvider;
    type Outputs = ThingOutputs;

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if self.size == 0 {
            problems.push(problem(
                "size",
                "must be at least 1",
                Some("give it a size"),
            ));
        }
    }

    async fn refresh(
        p: &TestProvider,
        cx: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        let mut out = Vec::new();
        for (address, id, spec) in p.api.list(&cx.environment)? {
            let address = cx
                .tracked_by(|o| o.id == id)
                .cloned()
                .unwrap_or_else(|| address.parse().unwrap());
            out.push(Found {
                address,
                observed: Observed {
                    spec,
                    outputs: ThingOutputs { id },
                },
            });
        }
        Ok(out)
    }

    async fn create(&self, p: &TestProvider, cx: &OpCx) -> Result<ThingOutputs, ProviderError> {
        let now = p.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        p.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(p.delay).await;
        p.in_flight.fetch_sub(1, Ordering::SeqCst);
        let id = p
            .api
            .create(&cx.address().to_string(), cx.environment(), &self.zone)?;
        let outputs = ThingOutputs { id: id.clone() };
        cx.created(&outputs);
        p.api.configure(&id, self)?;
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        _changed: &[String],
        p: &TestProvider,
        _cx: &OpCx,
    ) -> Result<ThingOutputs, ProviderError> {
        p.api.configure(&prior.outputs.id, self)?;
        Ok(prior.outputs.clone())
    }

    async fn delete(
        outputs: &ThingOutputs,
        p: &TestProvider,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        p.api.delete(&outputs.id)
    }
}

/// What the mocked API has made, and how it misbehaves.
#[derive(Default)]
struct World {
    next: u32,
    things: BTreeMap<String, (String, String, Thing)>,
    log: Vec<String>,
    fail_create: Option<String>,
    fail_configure: Option<String>,
    retryable_failures: usize,
}

type Shared = Arc<Mutex<World>>;

fn blank() -> Thing {
    Thing {
        size: 0,
        zone: String::new(),
        parent: None,
        replicas: 0,
    }
}

/// A mock whose expectations act on `world`.
fn api(world: &Shared) -> MockThingApi {
    let mut m = MockThingApi::new();
    let w = world.clone();
    m.expect_list().returning(move |env| {
        let w = w.lock().unwrap();
        Ok(w.things
            .values()
            .filter(|(e, _, _)| e == env)
            .map(|(_, a, t)| {
                let id = w.things.iter().find(|(_, v)| &v.1 == a).unwrap().0.clone();
                (a.clone(), id, t.clone())
            })
            .collect())
    });
    let w = world.clone();
    m.expect_create().returning(move |address, env, zone| {
        let mut w = w.lock().unwrap();
        w.log.push(format!("create {address}"));
        if w.retryable_failures > 0 {
            w.retryable_failures -= 1;
            return Err(ProviderError::new(
                "test",
                ErrorClass::Retryable,
                "slow down",
            ));
        }
        if w.fail_create.as_deref() == Some(address) {
            return Err(
                ProviderError::new("test", ErrorClass::Fatal, "quota exceeded").with_code("Quota"),
            );
        }
        w.next += 1;
        let id = format!("t-{}", w.next);
        w.things.insert(
            id.clone(),
            (
                env.to_string(),
                address.to_string(),
                Thing {
                    zone: zone.to_string(),
                    ..blank()
                },
            ),
        );
        Ok(id)
    });
    let w = world.clone();
    m.expect_configure().returning(move |id, spec| {
        let mut w = w.lock().unwrap();
        let address = w.things.get(id).map(|t| t.1.clone()).unwrap_or_default();
        w.log.push(format!("configure {address}"));
        if w.fail_configure.as_deref() == Some(address.as_str()) {
            return Err(ProviderError::new("test", ErrorClass::Fatal, "bad size"));
        }
        match w.things.get_mut(id) {
            Some(t) => {
                t.2 = spec.clone();
                Ok(())
            }
            None => Err(ProviderError::new("test", ErrorClass::NotFound, "gone")),
        }
    });
    let w = world.clone();
    m.expect_delete().returning(move |id| {
        let mut w = w.lock().unwrap();
        match w.things.remove(id) {
            Some((_, address, _)) => {
                w.log.push(format!("delete {address}"));
                Ok(())
            }
            None => Err(ProviderError::new("test", ErrorClass::NotFound, "gone")),
        }
    });
    m
}

fn provider(api: MockThingApi, budget: usize) -> TestProvider {
    TestProvider {
        api: Box::new(api),
        budget,
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
        delay: Duration::from_millis(0),
        logins: Mutex::default(),
    }
}

fn thing(size: u32, zone: &str) -> Thing {
    Thing {
        size,
        zone: zone.into(),
        parent: None,
        replicas: 1,
    }
}

fn fast() -> ApplyOptions {
    ApplyOptions {
        retry: RetryPolicy {
            max_retries: 3,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_retry_after: Duration::from_millis(5),
        },
        allow_protected_deletion: false,
    }
}

/// a, b (child of a), c.
fn basic(world: &Shared, sizes: (u32, u32, u32), zone_a: &str) -> Environment {
    let mut env = Environment::new("test").with_provider(provider(api(world), 4));
    let a = env.add("a", thing(sizes.0, zone_a));
    env.add(
        "b",
        Thing {
            parent: Some(a.output("id")),
            ..thing(sizes.1, "z1")
        },
    );
    env.add("c", thing(sizes.2, "z1"));
    env
}

fn engine(env: Environment, dir: &tempfile::TempDir) -> Engine<LocalStateStore> {
    Engine::new(env, LocalStateStore::new(dir.path().join("state.json"))).with_options(fast())
}

async fn apply(
    env: Environment,
    dir: &tempfile::TempDir,
) -> Result<madplan_core::ApplyReport, Error> {
    let e = engine(env, dir);
    let plan = e.plan().await?;
    e.apply(&plan).await
}

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
async fn a_replaced_parent_makes_the_child_input_unknown() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    apply(basic(&world, (1, 1, 1), "z1"), &dir).await.unwrap();
    let plan = engine(basic(&world, (1, 1, 1), "z9"), &dir)
        .plan()
        .await
        .unwrap();
    assert_eq!(plan.change("test.thing.a").unwrap().action, Action::Replace);
    let b = plan.change("test.thing.b").unwrap();
    assert_eq!(b.action, Action::Update);
    assert!(
        plan.render()
            .contains("~ parent = \"t-1\" -> (known after apply)"),
        "{}",
        plan.render()
    );
    let report = engine(basic(&world, (1, 1, 1), "z9"), &dir)
        .apply(&plan)
        .await
        .unwrap();
    assert_eq!((report.created, report.updated, report.deleted), (1, 1, 1));
    let w = world.lock().unwrap();
    let b = w.things.values().find(|t| t.1 == "test.thing.b").unwrap();
    let a_id = w
        .things
        .iter()
        .find(|(_, t)| t.1 == "test.thing.a")
        .unwrap()
        .0;
    assert_eq!(b.2.parent, Some(Input::Value(a_id.clone())));
    // Destroy before create: the old a went first.
    let log: Vec<&str> = w.log.iter().map(String::as_str).collect();
    let del = log
        .iter()
        .position(|l| *l == "delete test.thing.a")
        .unwrap();
    let cre = log
        .iter()
        .rposition(|l| *l == "create test.thing.a")
        .unwrap();
    assert!(del < cre, "{log:?}");
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

#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);

impl EventSink for Recorder {
    fn event(&self, e: &Event) {
        self.0.lock().unwrap().push(e.clone());
    }
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

/// A database login: its password is a secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Login {
    user: String,
    password: Secret,
}

impl Resource for Login {
    const KIND: &'static str = "test.login";
    type Provider = TestProvider;
    type Outputs = ThingOutputs;

    async fn refresh(
        p: &TestProvider,
        _cx: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        // Like a real API, the password is never read back; the version
        // last applied is what the provider remembers.
        Ok(p.logins
            .lock()
            .unwrap()
            .iter()
            .map(|(a, (user, _, version))| Found {
                address: a.parse().unwrap(),
                observed: Observed {
                    spec: Login {
                        user: user.clone(),
                        password: version.clone(),
                    },
                    outputs: ThingOutputs { id: a.clone() },
                },
            })
            .collect())
    }

    async fn create(&self, p: &TestProvider, cx: &OpCx) -> Result<ThingOutputs, ProviderError> {
        let password = cx.secret(&self.password)?.expose_secret().to_string();
        let a = cx.address().to_string();
        p.logins.lock().unwrap().insert(
            a.clone(),
            (self.user.clone(), password, self.password.clone()),
        );
        Ok(ThingOutputs { id: a })
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        _changed: &[String],
        p: &TestProvider,
        cx: &OpCx,
    ) -> Result<ThingOutputs, ProviderError> {
        let password = cx.secret(&self.password)?.expose_secret().to_string();
        p.logins.lock().unwrap().insert(
            prior.outputs.id.clone(),
            (self.user.clone(), password, self.password.clone()),
        );
        Ok(prior.outputs.clone())
    }

    async fn delete(
        outputs: &ThingOutputs,
        p: &TestProvider,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        p.logins.lock().unwrap().remove(&outputs.id);
        Ok(())
    }
}

const PASSWORD: &str = "correct-horse-battery-staple-42";

#[derive(Default)]
struct Lines(Mutex<String>);

impl EventSink for Lines {
    fn event(&self, e: &Event) {
        self.0.lock().unwrap().push_str(&format!("{e:?}\n"));
    }
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

/// A local store whose second write fails, as a full disk would.
struct FlakyStore {
    inner: LocalStateStore,
    saves: AtomicUsize,
}

impl StateStore for FlakyStore {
    fn location(&self) -> String {
        self.inner.location()
    }
    async fn load(&self) -> madplan_core::Result<Option<madplan_core::State>> {
        self.inner.load().await
    }
    async fn save(&self, state: &madplan_core::State) -> madplan_core::Result<()> {
        if self.saves.fetch_add(1, Ordering::SeqCst) == 1 {
            return Err(madplan_core::Error::State {
                store: self.location(),
                message: "no space left on device".into(),
                source: None,
            });
        }
        self.inner.save(state).await
    }
    async fn lock(&self, info: &madplan_core::LockInfo) -> madplan_core::Result<()> {
        self.inner.lock(info).await
    }
    async fn unlock(&self, id: uuid::Uuid) -> madplan_core::Result<()> {
        self.inner.unlock(id).await
    }
    async fn force_unlock(&self) -> madplan_core::Result<Option<madplan_core::LockInfo>> {
        self.inner.force_unlock().await
    }
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

/// A kind replaced create-before-destroy (a load balancer whose dependents
/// must always have one to point at).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Lb {
    zone: String,
}

impl Resource for Lb {
    const KIND: &'static str = "test.lb";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["zone"];
    const REPLACEMENT: madplan_core::Replacement = madplan_core::Replacement::CreateBeforeDestroy;
    type Provider = TestProvider;
    type Outputs = ThingOutputs;

    async fn refresh(
        p: &TestProvider,
        cx: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        Ok(p.api
            .list(&cx.environment)?
            .into_iter()
            .filter(|(a, _, _)| a.starts_with("test.lb."))
            .map(|(a, id, t)| Found {
                address: a.parse().unwrap(),
                observed: Observed {
                    spec: Lb { zone: t.zone },
                    outputs: ThingOutputs { id },
                },
            })
            .collect())
    }

    async fn create(&self, p: &TestProvider, cx: &OpCx) -> Result<ThingOutputs, ProviderError> {
        let id = p
            .api
            .create(&cx.address().to_string(), cx.environment(), &self.zone)?;
        Ok(ThingOutputs { id })
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        _: &[String],
        _: &TestProvider,
        _: &OpCx,
    ) -> Result<ThingOutputs, ProviderError> {
        Ok(prior.outputs.clone())
    }

    async fn delete(o: &ThingOutputs, p: &TestProvider, _: &OpCx) -> Result<(), ProviderError> {
        p.api.delete(&o.id)
    }
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
