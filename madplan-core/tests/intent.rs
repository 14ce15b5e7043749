//! `OpCx::creating`: a create recorded before it is sent. A kind keyed by a
//! name, with nothing to recognise its maker by, records its outputs first;
//! when the answer is lost the record stays (the next apply finds the object
//! by it and completes it instead of failing on "already exists"), when the
//! provider refuses the create the record goes (an object someone else made
//! under that name is never taken over).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use madplan_core::{
    Engine, Environment, ErrorClass, Found, Kinds, LocalStateStore, Observed, OpCx, Provider,
    ProviderError, RefreshCx, Resource, StateStore,
};
use serde::{Deserialize, Serialize};

/// What the provider does with the next create.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Next {
    /// Makes the object and answers.
    Make,
    /// Makes the object; the answer is lost.
    MakeAndLose,
    /// Refuses: the name is taken by someone else.
    Refuse,
}

/// Names that exist, and what the next create does.
#[derive(Clone)]
struct Names {
    made: Arc<Mutex<BTreeMap<String, u32>>>,
    next: Arc<Mutex<Next>>,
}

impl Provider for Names {
    const NAME: &'static str = "names";
    fn register(kinds: &mut Kinds) {
        kinds.register::<Named>();
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Named {
    name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct NamedOutputs {
    name: String,
}

impl Resource for Named {
    const KIND: &'static str = "names.named";
    type Provider = Names;
    type Outputs = NamedOutputs;

    async fn refresh(p: &Names, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let made = p.made.lock().unwrap().clone();
        Ok(made
            .keys()
            .filter_map(|name| {
                let claim = cx.claim(|o| &o.name == name, |_| None)?;
                Some(Found::new(
                    claim,
                    Named { name: name.clone() },
                    NamedOutputs { name: name.clone() },
                ))
            })
            .collect())
    }

    async fn create(&self, p: &Names, cx: &OpCx) -> Result<NamedOutputs, ProviderError> {
        let outputs = NamedOutputs {
            name: self.name.clone(),
        };
        cx.creating(&outputs).await?;
        let next = *p.next.lock().unwrap();
        match next {
            Next::Refuse => Err(ProviderError::new(
                "names",
                ErrorClass::Conflict,
                format!("{} already exists", self.name),
            )),
            Next::Make | Next::MakeAndLose => {
                *p.made.lock().unwrap().entry(self.name.clone()).or_default() += 1;
                if next == Next::MakeAndLose {
                    return Err(ProviderError::new(
                        "names",
                        ErrorClass::Unavailable,
                        "connection closed before the answer",
                    ));
                }
                cx.created(&outputs).await?;
                Ok(outputs)
            }
        }
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        _: &[String],
        _: &Names,
        _: &OpCx,
    ) -> Result<NamedOutputs, ProviderError> {
        Ok(prior.outputs.clone())
    }

    async fn delete(o: &NamedOutputs, p: &Names, _: &OpCx) -> Result<(), ProviderError> {
        p.made.lock().unwrap().remove(&o.name);
        Ok(())
    }
}

fn setup(next: Next) -> (Names, tempfile::TempDir) {
    let p = Names {
        made: Arc::default(),
        next: Arc::new(Mutex::new(next)),
    };
    (p, tempfile::tempdir().unwrap())
}

fn engine(p: &Names, dir: &tempfile::TempDir) -> Engine<LocalStateStore> {
    let mut env = Environment::new("intent").with_provider(p.clone());
    env.add(
        "oncall",
        Named {
            name: "oncall".into(),
        },
    );
    Engine::new(env, LocalStateStore::new(dir.path().join("state.json")))
}

async fn apply(e: &Engine<LocalStateStore>) -> Result<(), madplan_core::Error> {
    let plan = e.plan().await?;
    e.apply(&plan).await.map(|_| ())
}

async fn entries(dir: &tempfile::TempDir) -> Vec<(String, bool)> {
    LocalStateStore::new(dir.path().join("state.json"))
        .load()
        .await
        .unwrap()
        .map(|s| {
            s.resources
                .iter()
                .map(|(a, e)| (a.to_string(), e.pending))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_is_found_by_its_record_and_completed() {
    let (p, dir) = setup(Next::MakeAndLose);
    let e = engine(&p, &dir);
    apply(&e).await.unwrap_err();
    assert_eq!(
        entries(&dir).await,
        [("names.named.oncall".to_string(), true)],
        "the record stays, unfinished"
    );
    *p.next.lock().unwrap() = Next::Make;
    let plan = e.plan().await.unwrap();
    assert!(
        plan.changes.iter().all(|c| c.resume),
        "completed, not created again: {}",
        plan.render()
    );
    e.apply(&plan).await.unwrap();
    assert_eq!(p.made.lock().unwrap()["oncall"], 1, "made once");
    assert_eq!(
        entries(&dir).await,
        [("names.named.oncall".to_string(), false)]
    );
    assert!(!e.plan().await.unwrap().has_changes());
}

#[tokio::test]
async fn a_refused_create_leaves_no_record_and_never_takes_over_the_name() {
    let (p, dir) = setup(Next::Refuse);
    // Someone else's object under the name.
    p.made.lock().unwrap().insert("oncall".into(), 1);
    let e = engine(&p, &dir);
    let err = apply(&e).await.unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert!(entries(&dir).await.is_empty(), "{:?}", entries(&dir).await);
    // The next plan still does not treat it as its own.
    let plan = e.plan().await.unwrap();
    assert!(plan.changes.iter().all(|c| !c.resume), "{}", plan.render());
}

#[tokio::test]
async fn a_record_whose_create_never_landed_is_created_again() {
    let (p, dir) = setup(Next::MakeAndLose);
    let e = engine(&p, &dir);
    apply(&e).await.unwrap_err();
    // The object the lost call made is gone before the next apply (or the
    // request never reached the provider).
    p.made.lock().unwrap().clear();
    *p.next.lock().unwrap() = Next::Make;
    apply(&e).await.unwrap();
    assert_eq!(p.made.lock().unwrap()["oncall"], 1);
    assert!(!e.plan().await.unwrap().has_changes());
}
