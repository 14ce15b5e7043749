//! Long operations: checkpoints written before a wait, waits that give up
//! their budget slot, deadlines the operator can change, interrupts and
//! kills during a wait, and the next apply that continues it.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use madplan_core::plan::Action;
use madplan_core::{Environment, Error, LocalStateStore, StateStore};
use support::*;

fn slow_env(world: &Shared, gate_open: bool) -> Environment {
    let p = provider(api(world), 4);
    p.ready.store(gate_open, Ordering::SeqCst);
    let mut env = Environment::new("test").with_provider(p);
    env.add("db", Slow { zone: "z1".into() });
    env
}

fn gate(env: &Environment) -> Arc<std::sync::atomic::AtomicBool> {
    env.provider::<TestProvider>().unwrap().ready.clone()
}

/// Waits until the state file holds `address` as an unfinished create.
async fn pending_in_state(dir: &tempfile::TempDir, address: &str) -> serde_json::Value {
    let store = LocalStateStore::new(dir.path().join("state.json"));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(Some(s)) = store.load().await
            && let Some(e) = s.resources.get(&address.parse().unwrap())
            && e.pending
        {
            return e.outputs.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{address} never showed up in state"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_create_records_its_id_before_it_waits() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let env = slow_env(&world, false);
    let open = gate(&env);
    let e = engine(env, &dir);
    let plan = e.plan().await.unwrap();
    let run = tokio::spawn(async move { e.apply(&plan).await });
    // While it waits, the state already names what exists.
    let outputs = pending_in_state(&dir, "test.slow.db").await;
    let id = outputs["id"].as_str().unwrap().to_string();
    assert!(world.lock().unwrap().things.contains_key(&id));
    open.store(true, Ordering::SeqCst);
    run.await.unwrap().unwrap();
    let entry = &state_of(&dir).await.resources[&"test.slow.db".parse().unwrap()];
    assert!(!entry.pending && entry.spec.is_some());
    assert_eq!(entry.outputs["id"], id);
}

#[tokio::test]
async fn an_apply_killed_during_a_wait_is_continued_not_repeated() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let e = engine(slow_env(&world, false), &dir);
    let plan = e.plan().await.unwrap();
    // The process dies mid-wait: nothing runs after this point.
    let killed = tokio::time::timeout(Duration::from_millis(300), e.apply(&plan)).await;
    assert!(killed.is_err(), "the apply was still waiting");
    drop(e);
    let outputs = pending_in_state(&dir, "test.slow.db").await;

    // The operator unlocks, then applies again with the thing now ready.
    let store = LocalStateStore::new(dir.path().join("state.json"));
    let held = store.lock_holder().await.unwrap().unwrap();
    store.force_unlock(held.id).await.unwrap();
    let e = engine(slow_env(&world, true), &dir);
    let plan = e.plan().await.unwrap();
    let c = plan.change("test.slow.db").unwrap();
    assert_eq!((c.action, c.resume), (Action::Update, true));
    assert!(
        plan.render().contains("will be waited for"),
        "{}",
        plan.render()
    );
    e.apply(&plan).await.unwrap();
    assert_eq!(count(&world, "create test.slow.db"), 1, "no second create");
    let waits = e
        .environment()
        .provider::<TestProvider>()
        .unwrap()
        .kv_log
        .lock()
        .unwrap()
        .clone();
    assert_eq!(waits, ["wait test.slow.db"], "the wait was continued");
    let entry = &state_of(&dir).await.resources[&"test.slow.db".parse().unwrap()];
    assert!(!entry.pending);
    assert_eq!(entry.outputs, outputs);
    assert!(
        !engine(slow_env(&world, true), &dir)
            .plan()
            .await
            .unwrap()
            .has_changes()
    );
}

#[tokio::test]
async fn waits_do_not_hold_the_providers_budget() {
    // A budget of one: the waiting create must let the other resource run,
    // whose creation is what makes the first one ready.
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let p = provider(api(&world), 1);
    p.ready.store(false, Ordering::SeqCst);
    let open = p.ready.clone();
    let mut env = Environment::new("test").with_provider(p);
    env.add("db", Slow { zone: "z1".into() });
    env.add("other", thing(1, "z1"));
    let mut e = engine(env, &dir);
    e.options_mut()
        .wait_timeouts
        .insert("test.slow".into(), Duration::from_secs(3));
    let watcher = {
        let world = world.clone();
        tokio::spawn(async move {
            for _ in 0..400 {
                if count(&world, "configure test.thing.other") > 0 {
                    open.store(true, Ordering::SeqCst);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let plan = e.plan().await.unwrap();
    e.apply(&plan).await.unwrap();
    watcher.await.unwrap();
    let log = world.lock().unwrap().log.clone();
    let pos = |l: &str| log.iter().position(|x| x == l).unwrap();
    // The db waited while the other was made.
    assert!(
        pos("create test.slow.db") < pos("create test.thing.other"),
        "{log:?}"
    );
}

#[tokio::test]
async fn a_wait_gives_up_at_the_deadline_the_operator_sets() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let mut e = engine(slow_env(&world, false), &dir);
    e.options_mut()
        .wait_timeouts
        .insert("test.slow".into(), Duration::from_millis(200));
    let started = Instant::now();
    let plan = e.plan().await.unwrap();
    let err = e.apply(&plan).await.unwrap_err().to_string();
    // The kind's own default is 20 s; the operator's 200 ms applied.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.contains("gave up waiting for the thing to be ready"),
        "{err}"
    );
    assert!(err.contains("still CREATING"), "{err}");
    assert!(err.contains("--wait-timeout test.slow=DURATION"), "{err}");
    pending_in_state(&dir, "test.slow.db").await;

    let e = engine(slow_env(&world, true), &dir);
    e.apply(&e.plan().await.unwrap()).await.unwrap();
    assert_eq!(count(&world, "create test.slow.db"), 1);
}

#[tokio::test]
async fn an_interrupt_stops_a_wait_and_the_next_apply_continues_it() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let e = engine(slow_env(&world, false), &dir).with_interrupt(rx);
    let plan = e.plan().await.unwrap();
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        tx.send(true).unwrap();
        // Keep the sender alive until the apply is over.
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    let started = Instant::now();
    let err = e.apply(&plan).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, Error::Interrupted(_)), "{err}");
    assert!(err.to_string().contains("1 wait(s) stopped"), "{err}");
    stopper.abort();
    pending_in_state(&dir, "test.slow.db").await;

    let e = engine(slow_env(&world, true), &dir);
    e.apply(&e.plan().await.unwrap()).await.unwrap();
    assert_eq!(count(&world, "create test.slow.db"), 1);
}

#[tokio::test]
async fn an_interrupt_whose_sender_is_gone_stops_nothing() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    drop(tx);
    let mut p = provider(api(&world), 1);
    p.delay = Duration::from_millis(5);
    let mut env = Environment::new("test").with_provider(p);
    // A chain: each starts only after the one before it, so an apply that
    // took the gone sender for an interrupt would stop after the first.
    let mut parent = env.add("t0", thing(1, "z1"));
    for i in 1..4 {
        parent = env.add(
            &format!("t{i}"),
            Thing {
                parent: Some(parent.output("id")),
                ..thing(1, "z1")
            },
        );
    }
    let e = engine(env, &dir).with_interrupt(rx);
    let report = e.apply(&e.plan().await.unwrap()).await.unwrap();
    assert_eq!(report.created, 4);
}
