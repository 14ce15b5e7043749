//! Policies over a whole environment: reported with validation before any
//! call, waivable only explicitly and by name, never silently.

mod support;

use madplan_core::{Environment, PolicyFn, problem};
use support::*;

fn big_enough()
-> PolicyFn<impl Fn(&madplan_core::PolicyCx<'_>) -> Vec<madplan_core::Problem> + Send + Sync> {
    PolicyFn::new("big-enough", "every thing has a size of 2 or more", |cx| {
        cx.all::<Thing>()
            .into_iter()
            .filter(|(_, t)| t.size < 2)
            .map(|(a, t)| {
                let mut p = problem(
                    "size",
                    format!("{} is below 2", t.size),
                    Some("give it a size of 2 or more"),
                );
                p.address = Some(a);
                p
            })
            .collect()
    })
}

fn env(world: &Shared) -> Environment {
    let mut env = Environment::new("test").with_provider(provider(api(world), 4));
    env.add("a", thing(1, "z1"));
    env.add("b", thing(3, "z1"));
    env.add("c", thing(1, "z1"));
    env.add_policy(big_enough());
    env
}

#[tokio::test]
async fn a_policy_finding_stops_the_plan_before_any_call() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let err = engine(env(&world), &dir)
        .plan()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("test.thing.a: size: policy big-enough: 1 is below 2 (hint: give it a size of 2 or more)"),
        "{err}"
    );
    assert!(
        err.contains("test.thing.c: size: policy big-enough"),
        "{err}"
    );
    assert!(!err.contains("test.thing.b"), "{err}");
    assert!(world.lock().unwrap().log.is_empty());
}

#[tokio::test]
async fn a_waived_policy_is_still_checked_and_listed_but_does_not_stop() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let mut e = env(&world);
    e.waive("big-enough", "staging runs small things (ops, 2026-11-25)");
    let waived = e.waived_findings();
    assert_eq!(waived.len(), 2);
    assert_eq!(
        waived[0].0.reason,
        "staging runs small things (ops, 2026-11-25)"
    );
    apply(e, &dir).await.unwrap();
    assert_eq!(world.lock().unwrap().things.len(), 3);
}

#[tokio::test]
async fn a_waiver_must_name_a_policy() {
    let world = Shared::default();
    let mut e = env(&world);
    e.waive("big-enuogh", "typo");
    let err = e.validate().unwrap_err().to_string();
    assert!(
        err.contains("waiver \"big-enuogh\": there is no policy of that name"),
        "{err}"
    );
    assert!(err.contains("the policies are: big-enough"), "{err}");
}
