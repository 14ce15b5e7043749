//! What the resource tests share: a fake Atlas with short state
//! transitions, the provider on it, and engines with fast retries.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use madplan_atlas::fake::{FakeAtlas, FakeConfig};
use madplan_atlas::{Atlas, Client, Credentials, RetryPolicy};
use madplan_core::events::{Event, EventSink};
use madplan_core::{
    ApplyOptions, ApplyReport, Engine, Environment, Error, LocalStateStore, Plan, StateStore,
};
use secrecy::SecretString;

/// The organization the tests' projects live in.
pub const ORG: &str = "5f00000000000000000000aa";

/// A fake Atlas, a client on it and a place for state.
pub struct World {
    pub fake: FakeAtlas,
    pub config: FakeConfig,
    pub client: Client,
    pub dir: tempfile::TempDir,
}

pub fn quick() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(2),
    }
}

pub async fn world() -> World {
    world_with(Duration::from_millis(40)).await
}

pub async fn world_with(transition: Duration) -> World {
    let config = FakeConfig {
        transition,
        ..FakeConfig::default()
    };
    let fake = FakeAtlas::start(config.clone()).await;
    let client = Client::new(
        Credentials::ServiceAccount {
            client_id: config.service_account.0.clone(),
            client_secret: SecretString::from(config.service_account.1.clone()),
        },
        &fake.base_url(),
    )
    .unwrap()
    .with_retry(quick());
    World {
        fake,
        config,
        client,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl World {
    /// A provider on the fake that polls every 10 ms.
    pub fn atlas(&self) -> Atlas {
        Atlas::new(self.client.clone()).with_poll_interval(Duration::from_millis(10))
    }

    /// An environment with the provider.
    pub fn env(&self, name: &str) -> Environment {
        Environment::new(name).with_provider(self.atlas())
    }

    /// A project made behind madplan's back, returning its id.
    pub async fn project(&self, name: &str) -> String {
        self.client.create_project(name, ORG).await.unwrap().id
    }

    pub fn engine(&self, env: Environment) -> Engine<LocalStateStore> {
        Engine::new(env, self.store()).with_options(ApplyOptions {
            retry: quick(),
            ..ApplyOptions::default()
        })
    }

    pub fn store(&self) -> LocalStateStore {
        LocalStateStore::new(self.dir.path().join("state.json"))
    }

    pub async fn plan(&self, env: Environment) -> Plan {
        self.engine(env).plan().await.unwrap()
    }

    pub async fn apply(&self, env: Environment) -> Result<ApplyReport, Error> {
        let e = self.engine(env);
        let plan = e.plan().await?;
        e.apply(&plan).await
    }

    pub async fn destroy(
        &self,
        env: Environment,
        allow_protected: bool,
    ) -> Result<ApplyReport, Error> {
        let mut e = self.engine(env);
        e.options_mut().allow_protected_deletion = allow_protected;
        let plan = e.plan_destroy().await?;
        e.apply(&plan).await
    }

    /// The state file's text.
    pub async fn state_text(&self) -> String {
        let s = self.store().load().await.unwrap().unwrap();
        serde_json::to_string(&s).unwrap()
    }

    /// How many requests the fake has seen.
    pub fn requests(&self) -> usize {
        self.fake.requests().len()
    }

    pub fn no_violations(&self) {
        let v = self.fake.violations();
        assert!(v.is_empty(), "requests or answers broke the spec: {v:#?}");
    }
}

/// The fields a plan changes on `address`, sorted.
pub fn fields(plan: &Plan, address: &str) -> Vec<String> {
    let mut f: Vec<String> = plan
        .change(address)
        .unwrap_or_else(|| panic!("{address} is not in the plan:\n{}", plan.render()))
        .fields
        .iter()
        .map(|f| f.field.clone())
        .collect();
    f.sort();
    f
}

/// Asserts the plan changes nothing.
pub fn clean(plan: &Plan) {
    assert!(
        !plan.has_changes(),
        "expected no changes:\n{}",
        plan.render()
    );
}

/// Collects progress messages.
#[derive(Default, Clone)]
pub struct Progress(pub Arc<Mutex<Vec<String>>>);

impl EventSink for Progress {
    fn event(&self, e: &Event) {
        if let Event::Progress { message, .. } = e {
            self.0.lock().unwrap().push(message.clone());
        }
    }
}
