//! Ownership: what a state may touch (its lineage), explicit recovery of a
//! lost state, duplicate claims, deposed objects, protection that follows
//! the code, provider instances and data sources.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use madplan_core::plan::Action;
use madplan_core::{
    DataSource, Environment, Error, Input, LocalStateStore, ProviderError, StateStore,
};
use serde::{Deserialize, Serialize};
use support::*;

fn pair(world: &Shared, second: &str) -> Environment {
    let mut env = Environment::new("test").with_provider(provider(api(world), 4));
    env.add("a", thing(1, "z1"));
    env.add(second, thing(1, "z1"));
    env
}

#[tokio::test]
async fn two_states_with_one_environment_name_never_touch_each_other() {
    let world = Shared::default();
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    apply(pair(&world, "b"), &one).await.unwrap();
    apply(pair(&world, "c"), &two).await.unwrap();
    // Each state made its own `a`: the other's is not adopted.
    assert_eq!(world.lock().unwrap().things.len(), 4);
    assert_eq!(count(&world, "create test.thing.a"), 2);

    for (dir, mine, other) in [(&one, "b", "c"), (&two, "c", "b")] {
        let plan = engine(pair(&world, mine), dir).plan().await.unwrap();
        assert!(!plan.has_changes(), "{}", plan.render());
        let mut foreign: Vec<String> = plan.foreign.iter().map(|f| f.address.to_string()).collect();
        foreign.sort();
        assert_eq!(foreign, ["test.thing.a", &format!("test.thing.{other}")]);
        assert!(
            plan.render().contains("belong to another state"),
            "{}",
            plan.render()
        );
    }

    // Destroying the second leaves the first's resources alone.
    let e = engine(pair(&world, "c"), &two);
    let plan = e.plan_destroy().await.unwrap();
    assert_eq!(plan.summary().delete, 2);
    e.apply(&plan).await.unwrap();
    let left: Vec<String> = world
        .lock()
        .unwrap()
        .things
        .values()
        .map(|t| t.1.clone())
        .collect();
    assert_eq!(left, ["test.thing.a", "test.thing.b"]);
    let plan = engine(pair(&world, "b"), &one).plan().await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
}

#[tokio::test]
async fn a_lost_state_is_recovered_by_an_explicit_step_not_by_plan() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    apply(basic(&world, (1, 1, 1), "z1"), &dir).await.unwrap();
    let lineage = state_of(&dir).await.lineage;
    std::fs::remove_file(dir.path().join("state.json")).unwrap();

    // Plan does not adopt: the resources are another state's now.
    let plan = engine(basic(&world, (1, 1, 1), "z1"), &dir)
        .plan()
        .await
        .unwrap();
    assert_eq!(plan.summary().create, 3);
    assert_eq!(plan.summary().adopt, 0);
    assert_eq!(plan.foreign.len(), 3);

    let e = engine(basic(&world, (1, 1, 1), "z1"), &dir);
    let recovery = e.recover_plan(None).await.unwrap();
    assert_eq!(recovery.lineage, Some(lineage));
    let mut listed: Vec<String> = recovery
        .adopt
        .iter()
        .map(|f| f.foreign.address.to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, ["test.thing.a", "test.thing.b", "test.thing.c"]);
    assert_eq!(e.recover(&recovery).await.unwrap(), 3);
    assert_eq!(state_of(&dir).await.lineage, lineage);

    let plan = engine(basic(&world, (1, 1, 1), "z1"), &dir)
        .plan()
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    assert!(plan.foreign.is_empty());
    assert_eq!(world.lock().unwrap().things.len(), 3);
}

#[tokio::test]
async fn recovery_asks_which_state_when_several_made_resources() {
    let world = Shared::default();
    let (one, two, lost) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    apply(pair(&world, "b"), &one).await.unwrap();
    apply(pair(&world, "c"), &two).await.unwrap();
    let err = engine(pair(&world, "b"), &lost)
        .recover_plan(None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("resources of 2 states"), "{err}");
    assert!(err.contains("--lineage"), "{err}");
    let chosen = state_of(&one).await.lineage;
    let r = engine(pair(&world, "b"), &lost)
        .recover_plan(Some(chosen))
        .await
        .unwrap();
    assert_eq!(r.adopt.len(), 2);
}

#[tokio::test]
async fn two_live_objects_claiming_one_address_are_an_error_naming_both() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    apply(basic(&world, (1, 1, 1), "z1"), &dir).await.unwrap();
    let lineage = state_of(&dir).await.lineage.to_string();
    let tracked = state_of(&dir).await.resources[&"test.thing.c".parse().unwrap()].outputs["id"]
        .as_str()
        .unwrap()
        .to_string();
    {
        let mut w = world.lock().unwrap();
        w.things.insert(
            "t-99".into(),
            ("test".into(), "test.thing.c".into(), thing(1, "z1")),
        );
        w.lineages.insert("t-99".into(), lineage);
    }
    let err = engine(basic(&world, (1, 1, 1), "z1"), &dir)
        .plan()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Duplicate { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("test.thing.c is claimed by 2 live objects"),
        "{text}"
    );
    assert!(text.contains(&tracked) && text.contains("t-99"), "{text}");
}

fn front(world: &Shared, zone: &str) -> Environment {
    let mut env = Environment::new("test").with_provider(provider(api(world), 4));
    let lb = env.add("front", Lb { zone: zone.into() });
    env.add(
        "app",
        Thing {
            parent: Some(lb.output("id")),
            ..thing(1, "z1")
        },
    );
    env
}

#[tokio::test]
async fn an_old_object_whose_delete_failed_stays_deposed_and_goes_next_time() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    apply(front(&world, "z1"), &dir).await.unwrap();
    let old =
        state_of(&dir).await.resources[&"test.lb.front".parse().unwrap()].outputs["id"].clone();
    world.lock().unwrap().fail_delete = Some("test.lb.front".into());
    let err = apply(front(&world, "z2"), &dir).await.unwrap_err();
    assert!(
        err.to_string().contains("delete of test.lb.front failed"),
        "{err}"
    );
    let state = state_of(&dir).await;
    let new = &state.resources[&"test.lb.front".parse().unwrap()].outputs["id"];
    assert_ne!(*new, old, "the new object is the address's");
    assert_eq!(state.deposed.len(), 1, "the old one is not forgotten");
    assert_eq!(state.deposed[0].outputs["id"], old);

    world.lock().unwrap().fail_delete = None;
    let e = engine(front(&world, "z2"), &dir);
    let plan = e.plan().await.unwrap();
    let deposed: Vec<_> = plan.changes.iter().filter(|c| c.deposed).collect();
    assert_eq!(deposed.len(), 1);
    assert_eq!(deposed[0].action, Action::Delete);
    assert!(
        plan.render()
            .contains("an old object left by a replacement")
    );
    e.apply(&plan).await.unwrap();
    assert!(state_of(&dir).await.deposed.is_empty());
    let lbs = world
        .lock()
        .unwrap()
        .things
        .values()
        .filter(|t| t.1 == "test.lb.front")
        .count();
    assert_eq!(lbs, 1);
    assert!(
        !engine(front(&world, "z2"), &dir)
            .plan()
            .await
            .unwrap()
            .has_changes()
    );
}

#[tokio::test]
async fn protection_follows_the_code() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let mut env = Environment::new("test").with_provider(provider(api(&world), 4));
    let db = env.add("db", thing(1, "z1"));
    env.protect(&db);
    apply(env, &dir).await.unwrap();

    // The protect call is removed: the resource is not protected any more.
    let mut env = Environment::new("test").with_provider(provider(api(&world), 4));
    env.add("db", thing(1, "z1"));
    let e = engine(env, &dir);
    e.apply(&e.plan().await.unwrap()).await.unwrap();
    let plan = e.plan_destroy().await.unwrap();
    assert!(!plan.changes[0].protected);
    e.apply(&plan).await.unwrap();
    assert!(world.lock().unwrap().things.is_empty());
}

#[tokio::test]
async fn a_refresh_that_finds_nothing_new_keeps_saved_plans_valid() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    apply(basic(&world, (1, 1, 1), "z1"), &dir).await.unwrap();
    let e = engine(basic(&world, (1, 1, 2), "z1"), &dir);
    let saved = e.plan().await.unwrap();
    let serial = state_of(&dir).await.serial;
    let report = e.refresh().await.unwrap();
    assert!(report.gone.is_empty());
    assert_eq!(state_of(&dir).await.serial, serial);
    e.apply(&saved).await.unwrap();
}

#[tokio::test]
async fn each_provider_instance_manages_its_own_resources() {
    let (home, east) = (Shared::default(), Shared::default());
    let dir = tempfile::tempdir().unwrap();
    let build = || {
        let mut env = Environment::new("test").with_provider(provider(api(&home), 4));
        let e = env.add_provider_instance("east", provider(api(&east), 1));
        env.add("a", thing(1, "z1"));
        env.add_on(&e, "b", thing(1, "z1"));
        env
    };
    apply(build(), &dir).await.unwrap();
    let names = |w: &Shared| -> Vec<String> {
        w.lock()
            .unwrap()
            .things
            .values()
            .map(|t| t.1.clone())
            .collect()
    };
    assert_eq!(names(&home), ["test.thing.a"]);
    assert_eq!(names(&east), ["test.thing.b"]);
    let state = state_of(&dir).await;
    assert_eq!(
        state.resources[&"test.thing.b".parse().unwrap()]
            .provider
            .as_deref(),
        Some("east")
    );
    assert!(!engine(build(), &dir).plan().await.unwrap().has_changes());
    // Destroy reaches each through its own instance.
    let e = engine(build(), &dir);
    e.apply(&e.plan_destroy().await.unwrap()).await.unwrap();
    assert!(names(&home).is_empty() && names(&east).is_empty());

    // A resource on an instance that was never registered.
    let mut other = Environment::new("test").with_provider(provider(api(&home), 4));
    let west = other.add_provider_instance("west", provider(api(&home), 4));
    let mut env = Environment::new("test").with_provider(provider(api(&home), 4));
    env.add_on(&west, "c", thing(1, "z1"));
    let err = env.validate().unwrap_err().to_string();
    assert!(err.contains("belongs to another environment"), "{err}");
    assert!(
        err.contains("instance \"west\", which is not registered"),
        "{err}"
    );
}

/// A lookup of an existing thing by name (a zone found by name).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Lookup {
    name: Input<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct LookupOutputs {
    id: String,
}

static READS: AtomicUsize = AtomicUsize::new(0);

impl DataSource for Lookup {
    const KIND: &'static str = "test.lookup";
    type Provider = TestProvider;
    type Outputs = LookupOutputs;

    async fn read(&self, _p: &TestProvider) -> Result<LookupOutputs, ProviderError> {
        READS.fetch_add(1, Ordering::SeqCst);
        let name = self.name.get().map_err(|e| {
            ProviderError::new("test", madplan_core::ErrorClass::Fatal, e.to_string())
        })?;
        Ok(LookupOutputs {
            id: format!("found-{name}"),
        })
    }
}

fn with_lookup(world: &Shared) -> Environment {
    let mut env = Environment::new("test").with_provider(provider(api(world), 4));
    let zone = env.read(
        "zone",
        Lookup {
            name: "example.com".into(),
        },
    );
    let nested = env.read(
        "nested",
        Lookup {
            name: zone.output("id"),
        },
    );
    env.add(
        "a",
        Thing {
            parent: Some(nested.output("id")),
            ..thing(1, "z1")
        },
    );
    env
}

#[tokio::test]
async fn data_sources_are_read_at_plan_time_and_feed_references() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let e = engine(with_lookup(&world), &dir);
    let plan = e.plan().await.unwrap();
    assert_eq!(
        plan.change("test.lookup.zone").unwrap().action,
        Action::Read
    );
    let a = plan.change("test.thing.a").unwrap();
    assert_eq!(a.action, Action::Create);
    assert_eq!(
        a.after.as_ref().unwrap()["parent"],
        "found-found-example.com",
        "known at plan time, not after apply"
    );
    let text = plan.render();
    assert!(text.contains(" <= test.lookup.zone was read"), "{text}");
    assert!(text.contains("Plan: 1 to add"), "{text}");
    e.apply(&plan).await.unwrap();
    let state = state_of(&dir).await;
    assert_eq!(
        state.resources[&"test.lookup.nested".parse().unwrap()].outputs["id"],
        "found-found-example.com"
    );

    let plan = engine(with_lookup(&world), &dir).plan().await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    let e = engine(with_lookup(&world), &dir);
    e.apply(&e.plan_destroy().await.unwrap()).await.unwrap();
    assert!(state_of(&dir).await.resources.is_empty());
}

#[tokio::test]
async fn a_data_source_cannot_read_what_is_only_known_after_apply() {
    let world = Shared::default();
    let mut env = Environment::new("test").with_provider(provider(api(&world), 4));
    let a = env.add("a", thing(1, "z1"));
    env.read(
        "late",
        Lookup {
            name: a.output("id"),
        },
    );
    let err = env.validate().unwrap_err().to_string();
    assert!(
        err.contains("test.lookup.late: a data source is read at plan time, but its query uses test.thing.a.id"),
        "{err}"
    );
    assert!(world.lock().unwrap().log.is_empty());
}

#[tokio::test]
async fn unlock_removes_only_the_lock_it_is_given() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let e = engine(basic(&world, (1, 1, 1), "z1"), &dir);
    let guard = e.lock("apply").await.unwrap();
    let id = guard.info().id;
    std::mem::forget(guard);
    let store = LocalStateStore::new(dir.path().join("state.json"));
    let wrong = uuid::Uuid::new_v4();
    let err = e.force_unlock(wrong).await.unwrap_err().to_string();
    assert!(err.contains(&id.to_string()), "{err}");
    assert!(store.lock_holder().await.unwrap().is_some());
    assert_eq!(e.force_unlock(id).await.unwrap().unwrap().id, id);
    assert!(store.lock_holder().await.unwrap().is_none());
}
