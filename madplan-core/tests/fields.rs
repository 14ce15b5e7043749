//! What a kind says about its fields and outputs (write-only,
//! server-defaulted, owned at any depth, outputs that change on update, a
//! misspelt rule), and the engine's retries (where they live, and that a
//! retried step never repeats blindly).

mod support;

use std::collections::BTreeSet;

use madplan_core::plan::Action;
use madplan_core::{
    Environment, ErrorClass, Found, Input, Observed, OpCx, ProviderError, RefreshCx, Resource,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::*;

fn stored(p: &TestProvider, id: &str) -> serde_json::Value {
    p.kv.lock().unwrap()[id].spec.clone()
}

fn set_stored(p: &TestProvider, id: &str, spec: serde_json::Value) {
    p.kv.lock().unwrap().get_mut(id).unwrap().spec = spec;
}

fn log(p: &TestProvider, line: String) {
    p.kv_log.lock().unwrap().push(line);
}

/// A launch template: its user data is never returned by the API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Template {
    name: String,
    user_data: Option<String>,
}

impl Resource for Template {
    const KIND: &'static str = "test.template";
    const WRITE_ONLY: &'static [&'static str] = &["user_data"];
    type Provider = TestProvider;
    type Outputs = ThingOutputs;

    async fn refresh(
        p: &TestProvider,
        cx: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        let mut found = p.kv_refresh::<Self>(cx)?;
        for f in &mut found {
            f.observed.spec.user_data = None;
        }
        Ok(found)
    }
    async fn create(&self, p: &TestProvider, cx: &OpCx) -> Result<ThingOutputs, ProviderError> {
        Ok(ThingOutputs {
            id: p.kv_create(cx, json!(self)),
        })
    }
    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        p: &TestProvider,
        _: &OpCx,
    ) -> Result<ThingOutputs, ProviderError> {
        log(p, format!("update {changed:?}"));
        set_stored(p, &prior.outputs.id, json!(self));
        Ok(prior.outputs.clone())
    }
    async fn delete(_: &ThingOutputs, _: &TestProvider, _: &OpCx) -> Result<(), ProviderError> {
        Ok(())
    }
}

fn template(user_data: &str) -> Environment {
    let mut env = Environment::new("test").with_provider(provider(MockThingApi::new(), 4));
    env.add(
        "web",
        Template {
            name: "web".into(),
            user_data: Some(user_data.into()),
        },
    );
    env
}

#[tokio::test]
async fn write_only_fields_are_compared_with_what_was_applied() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(template("#!/bin/sh\necho v1"), &dir);
    e.apply(&e.plan().await.unwrap()).await.unwrap();
    let p = e.environment().provider::<TestProvider>().unwrap();
    let (kv, kv_log) = (p.kv.clone(), p.kv_log.clone());

    let with_world = |ud: &str| {
        let env = template(ud);
        let p = env.provider::<TestProvider>().unwrap();
        *p.kv.lock().unwrap() = kv.lock().unwrap().clone();
        drop(kv_log.lock());
        engine(env, &dir)
    };
    // The API returned no user data, yet nothing changed.
    let plan = with_world("#!/bin/sh\necho v1").plan().await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    // A new script is a change from the one applied.
    let plan = with_world("#!/bin/sh\necho v2").plan().await.unwrap();
    let c = plan.change("test.template.web").unwrap();
    assert_eq!(c.action, Action::Update);
    assert_eq!(c.fields[0].field, "user_data");
    assert_eq!(c.fields[0].before, Some(json!("#!/bin/sh\necho v1")));
}

/// A health check whose interval the server fills in when left out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Check {
    path: String,
    interval: Option<u32>,
}

impl Resource for Check {
    const KIND: &'static str = "test.check";
    const SERVER_DEFAULTED: &'static [&'static str] = &["interval"];
    type Provider = TestProvider;
    type Outputs = ThingOutputs;

    async fn refresh(
        p: &TestProvider,
        cx: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        p.kv_refresh::<Self>(cx)
    }
    async fn create(&self, p: &TestProvider, cx: &OpCx) -> Result<ThingOutputs, ProviderError> {
        let live = Check {
            interval: Some(self.interval.unwrap_or(30)),
            ..self.clone()
        };
        Ok(ThingOutputs {
            id: p.kv_create(cx, json!(live)),
        })
    }
    async fn update(
        &self,
        prior: &Observed<Self>,
        _: &[String],
        p: &TestProvider,
        _: &OpCx,
    ) -> Result<ThingOutputs, ProviderError> {
        set_stored(p, &prior.outputs.id, json!(self));
        Ok(prior.outputs.clone())
    }
    async fn delete(_: &ThingOutputs, _: &TestProvider, _: &OpCx) -> Result<(), ProviderError> {
        Ok(())
    }
}

#[tokio::test]
async fn server_defaults_are_not_drift_unless_the_spec_sets_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = Environment::new("test").with_provider(provider(MockThingApi::new(), 4));
    env.add(
        "h",
        Check {
            path: "/api/health".into(),
            interval: None,
        },
    );
    let e = engine(env, &dir);
    e.apply(&e.plan().await.unwrap()).await.unwrap();
    let kv = e
        .environment()
        .provider::<TestProvider>()
        .unwrap()
        .kv
        .clone();
    let again = |interval: Option<u32>| {
        let mut env = Environment::new("test").with_provider(provider(MockThingApi::new(), 4));
        *env.provider::<TestProvider>().unwrap().kv.lock().unwrap() = kv.lock().unwrap().clone();
        env.add(
            "h",
            Check {
                path: "/api/health".into(),
                interval,
            },
        );
        engine(env, &dir)
    };
    let plan = again(None).plan().await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    let plan = again(Some(10)).plan().await.unwrap();
    assert_eq!(plan.change("test.check.h").unwrap().action, Action::Update);
}

/// A cluster whose instance size an autoscaler owns, deep inside its spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Cluster {
    regions: Vec<Region>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Region {
    name: String,
    size: String,
    disk: u32,
}

impl Resource for Cluster {
    const KIND: &'static str = "test.cluster";
    const EXTERNALLY_OWNED: &'static [&'static str] = &["regions[].size"];
    type Provider = TestProvider;
    type Outputs = ThingOutputs;

    async fn refresh(
        p: &TestProvider,
        cx: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        p.kv_refresh::<Self>(cx)
    }
    async fn create(&self, p: &TestProvider, cx: &OpCx) -> Result<ThingOutputs, ProviderError> {
        Ok(ThingOutputs {
            id: p.kv_create(cx, json!(self)),
        })
    }
    async fn update(
        &self,
        prior: &Observed<Self>,
        _: &[String],
        p: &TestProvider,
        _: &OpCx,
    ) -> Result<ThingOutputs, ProviderError> {
        let sizes: Vec<&str> = self.regions.iter().map(|r| r.size.as_str()).collect();
        log(p, format!("update sizes {sizes:?}"));
        set_stored(p, &prior.outputs.id, json!(self));
        Ok(prior.outputs.clone())
    }
    async fn delete(_: &ThingOutputs, _: &TestProvider, _: &OpCx) -> Result<(), ProviderError> {
        Ok(())
    }
}

fn cluster(disk: u32) -> Cluster {
    Cluster {
        regions: ["us-east-1", "us-west-2"]
            .iter()
            .map(|n| Region {
                name: (*n).into(),
                size: "M30".into(),
                disk,
            })
            .collect(),
    }
}

#[tokio::test]
async fn owned_fields_at_any_depth_are_never_drift_nor_sent_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = Environment::new("test").with_provider(provider(MockThingApi::new(), 4));
    env.add("db", cluster(40));
    let e = engine(env, &dir);
    e.apply(&e.plan().await.unwrap()).await.unwrap();
    let p = e.environment().provider::<TestProvider>().unwrap();
    let id = state_of(&dir).await.resources[&"test.cluster.db".parse().unwrap()].outputs["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The autoscaler moves the first region to M40.
    let mut live = stored(p, &id);
    live["regions"][0]["size"] = json!("M40");
    set_stored(p, &id, live);
    let (kv, kv_log) = (p.kv.clone(), p.kv_log.clone());
    let again = |disk: u32| {
        let mut env = Environment::new("test").with_provider(provider(MockThingApi::new(), 4));
        let q = env.provider::<TestProvider>().unwrap();
        *q.kv.lock().unwrap() = kv.lock().unwrap().clone();
        env.add("db", cluster(disk));
        engine(env, &dir)
    };
    let plan = again(40).plan().await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    // Another change: the update gets the autoscaler's M40, not M30.
    let e = again(80);
    let plan = e.plan().await.unwrap();
    assert_eq!(
        plan.change("test.cluster.db").unwrap().action,
        Action::Update
    );
    e.apply(&plan).await.unwrap();
    let q = e.environment().provider::<TestProvider>().unwrap();
    let updates: Vec<String> = q
        .kv_log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("update"))
        .cloned()
        .collect();
    assert_eq!(updates, ["update sizes [\"M40\", \"M30\"]"]);
    drop(kv_log);
}

/// A kind whose owned field is misspelt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Typo {
    replicas: u32,
}

impl Resource for Typo {
    const KIND: &'static str = "test.typo";
    const EXTERNALLY_OWNED: &'static [&'static str] = &["replicaz"];
    const FORCES_REPLACEMENT: &'static [&'static str] = &["zone[x]"];
    type Provider = TestProvider;
    type Outputs = ThingOutputs;

    async fn refresh(
        _: &TestProvider,
        _: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        Ok(Vec::new())
    }
    async fn create(&self, _: &TestProvider, _: &OpCx) -> Result<ThingOutputs, ProviderError> {
        unreachable!("validation stops it")
    }
    async fn update(
        &self,
        _: &Observed<Self>,
        _: &[String],
        _: &TestProvider,
        _: &OpCx,
    ) -> Result<ThingOutputs, ProviderError> {
        unreachable!("validation stops it")
    }
    async fn delete(_: &ThingOutputs, _: &TestProvider, _: &OpCx) -> Result<(), ProviderError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_misspelt_field_rule_is_a_validation_problem() {
    let mut env = Environment::new("test").with_provider(provider(MockThingApi::new(), 4));
    env.add("a", Typo { replicas: 1 });
    env.add("b", Typo { replicas: 2 });
    let err = env.validate().unwrap_err().to_string();
    assert!(
        err.contains("the kind test.typo declares EXTERNALLY_OWNED `replicaz`, which names a field its spec does not have"),
        "{err}"
    );
    assert!(
        err.contains("FORCES_REPLACEMENT `zone[x]`, which is not a field path"),
        "{err}"
    );
    assert_eq!(
        err.matches("replicaz").count(),
        2,
        "once per kind, not per resource: {err}"
    );
}

/// A template whose version changes on every update; dependents use it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Versioned {
    content: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct VersionedOutputs {
    id: String,
    version: String,
}

impl Resource for Versioned {
    const KIND: &'static str = "test.versioned";
    const OUTPUTS_CHANGE_ON_UPDATE: &'static [&'static str] = &["version"];
    type Provider = TestProvider;
    type Outputs = VersionedOutputs;

    async fn refresh(
        p: &TestProvider,
        cx: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        let kv = p.kv.lock().unwrap();
        Ok(kv
            .iter()
            .filter(|(_, o)| o.address.starts_with("test.versioned."))
            .filter_map(|(id, o)| {
                let claim = cx.claim(|out| out.id == *id, |_| None)?;
                Some(Found::new(
                    claim,
                    Versioned {
                        content: o.spec["content"].as_str()?.into(),
                    },
                    VersionedOutputs {
                        id: id.clone(),
                        version: o.spec["version"].to_string(),
                    },
                ))
            })
            .collect())
    }
    async fn create(&self, p: &TestProvider, cx: &OpCx) -> Result<VersionedOutputs, ProviderError> {
        let id = p.kv_create(cx, json!({"content": self.content, "version": 1}));
        Ok(VersionedOutputs {
            id,
            version: "1".into(),
        })
    }
    async fn update(
        &self,
        prior: &Observed<Self>,
        _: &[String],
        p: &TestProvider,
        _: &OpCx,
    ) -> Result<VersionedOutputs, ProviderError> {
        let old = stored(p, &prior.outputs.id);
        let version = old["version"].as_u64().unwrap() + 1;
        set_stored(
            p,
            &prior.outputs.id,
            json!({"content": self.content, "version": version}),
        );
        Ok(VersionedOutputs {
            id: prior.outputs.id.clone(),
            version: version.to_string(),
        })
    }
    async fn delete(_: &VersionedOutputs, _: &TestProvider, _: &OpCx) -> Result<(), ProviderError> {
        Ok(())
    }
}

#[tokio::test]
async fn outputs_that_change_on_update_are_known_after_apply_for_dependents() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    let kv = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
    let build = |content: &str| {
        let mut p = provider(api(&world), 4);
        p.kv = kv.clone();
        let mut env = Environment::new("test").with_provider(p);
        let t = env.add(
            "lt",
            Versioned {
                content: content.into(),
            },
        );
        env.add(
            "asg",
            Thing {
                parent: Some(t.output("version")),
                ..thing(1, "z1")
            },
        );
        env
    };
    apply(build("v1"), &dir).await.unwrap();
    let plan = engine(build("v1"), &dir).plan().await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    let plan = engine(build("v2"), &dir).plan().await.unwrap();
    assert_eq!(
        plan.change("test.versioned.lt").unwrap().action,
        Action::Update
    );
    let asg = plan.change("test.thing.asg").unwrap();
    assert_eq!(asg.action, Action::Update);
    assert!(
        plan.render()
            .contains("~ parent = \"1\" -> (known after apply)"),
        "{}",
        plan.render()
    );
    engine(build("v2"), &dir).apply(&plan).await.unwrap();
    let w = world.lock().unwrap();
    let asg = w.things.values().find(|t| t.1 == "test.thing.asg").unwrap();
    assert_eq!(asg.2.parent, Some(Input::Value("2".into())));
}

#[tokio::test]
async fn failures_the_client_already_retried_are_not_retried_again() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    world.lock().unwrap().unavailable = 1;
    let mut env = Environment::new("test").with_provider(provider(api(&world), 4));
    env.add("a", thing(1, "z1"));
    let err = apply(env, &dir).await.unwrap_err().to_string();
    assert!(
        err.contains("throttled through the client's retries"),
        "{err}"
    );
    assert_eq!(count(&world, "create test.thing.a"), 1);
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_found_and_not_made_twice() {
    let world = Shared::default();
    let dir = tempfile::tempdir().unwrap();
    world.lock().unwrap().lost_answers = 1;
    let mut env = Environment::new("test").with_provider(provider(api(&world), 4));
    env.add("a", thing(3, "z1"));
    apply(env, &dir).await.unwrap();
    let state = state_of(&dir).await;
    assert_eq!(state.resources.len(), 1);
    let w = world.lock().unwrap();
    assert_eq!(
        w.log.iter().filter(|l| *l == "create test.thing.a").count(),
        1
    );
    assert_eq!(w.things.len(), 1);
    // It was brought to its spec after it was found.
    assert_eq!(w.things.values().next().unwrap().2.size, 3);
}

/// A firewall whose update adds rules one call at a time; adding a rule
/// that exists is an error, as EC2's `InvalidPermission.Duplicate` is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Fw {
    rules: BTreeSet<String>,
}

impl Resource for Fw {
    const KIND: &'static str = "test.fw";
    type Provider = TestProvider;
    type Outputs = ThingOutputs;

    async fn refresh(
        p: &TestProvider,
        cx: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        p.kv_refresh::<Self>(cx)
    }
    async fn create(&self, p: &TestProvider, cx: &OpCx) -> Result<ThingOutputs, ProviderError> {
        Ok(ThingOutputs {
            id: p.kv_create(cx, json!(self)),
        })
    }
    async fn update(
        &self,
        prior: &Observed<Self>,
        _: &[String],
        p: &TestProvider,
        _: &OpCx,
    ) -> Result<ThingOutputs, ProviderError> {
        for rule in self.rules.difference(&prior.spec.rules) {
            let mut live: Fw = serde_json::from_value(stored(p, &prior.outputs.id)).unwrap();
            if live.rules.contains(rule) {
                return Err(ProviderError::new(
                    "test",
                    ErrorClass::Fatal,
                    format!("rule {rule} exists"),
                )
                .with_code("Duplicate"));
            }
            let n = p
                .kv_log
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.starts_with("add"))
                .count();
            log(p, format!("add {rule}"));
            if n == 1 {
                // The second add is throttled, after the first went through.
                return Err(ProviderError::new("test", ErrorClass::Retryable, "busy"));
            }
            live.rules.insert(rule.clone());
            set_stored(p, &prior.outputs.id, json!(live));
        }
        Ok(prior.outputs.clone())
    }
    async fn delete(_: &ThingOutputs, _: &TestProvider, _: &OpCx) -> Result<(), ProviderError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_retried_update_reads_the_resource_again_first() {
    let dir = tempfile::tempdir().unwrap();
    let kv = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
    let log_ = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let build = |rules: &[&str]| {
        let mut p = provider(MockThingApi::new(), 4);
        p.kv = kv.clone();
        p.kv_log = log_.clone();
        let mut env = Environment::new("test").with_provider(p);
        env.add(
            "sg",
            Fw {
                rules: rules.iter().map(|r| (*r).to_string()).collect(),
            },
        );
        env
    };
    apply(build(&["ssh"]), &dir).await.unwrap();
    apply(build(&["ssh", "http", "https"]), &dir).await.unwrap();
    assert_eq!(
        *log_.lock().unwrap(),
        ["create test.fw.sg", "add http", "add https", "add https"],
        "http was added once; the retry saw it and added only https"
    );
    let plan = engine(build(&["ssh", "http", "https"]), &dir)
        .plan()
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
}
