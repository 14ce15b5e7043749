//! Test kinds for the engine tests, whose API is a `mockall` mock backed by
//! a small in-memory world so that apply, refresh and plan see each other.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madplan_core::events::{Event, EventSink};
use madplan_core::{
    ApplyOptions, Claim, Engine, Environment, Error, ErrorClass, Found, Input, Kinds,
    LocalStateStore, Observed, OpCx, Problem, Provider, ProviderError, Readiness, RefreshCx,
    Resource, RetryPolicy, Secret, StateStore, TAG_ADDRESS, TAG_ENVIRONMENT, TAG_LINEAGE,
    ValidateCx, problem,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thing {
    pub size: u32,
    pub zone: String,
    pub parent: Option<Input<String>>,
    pub replicas: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThingOutputs {
    pub id: String,
}

/// One live object of the mocked API.
#[derive(Clone, Debug, PartialEq)]
pub struct Listed {
    pub address: String,
    pub lineage: String,
    pub id: String,
    pub spec: Thing,
}

/// The provider's API, mocked.
#[mockall::automock]
pub trait ThingApi: Send + Sync {
    fn list(&self, environment: &str) -> Result<Vec<Listed>, ProviderError>;
    fn create(
        &self,
        address: &str,
        environment: &str,
        lineage: &str,
        zone: &str,
    ) -> Result<String, ProviderError>;
    fn configure(&self, id: &str, spec: &Thing) -> Result<(), ProviderError>;
    fn delete(&self, id: &str) -> Result<(), ProviderError>;
}

pub struct TestProvider {
    pub api: Box<dyn ThingApi>,
    pub budget: usize,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    pub delay: Duration,
    /// Logins by address: (user, password as the API received it, version).
    pub logins: Mutex<BTreeMap<String, (String, String, Secret)>>,
    /// Opens the gate that `Slow` resources wait for.
    pub ready: Arc<AtomicBool>,
    /// Free-form objects of the other test kinds: id -> object.
    pub kv: Arc<Mutex<BTreeMap<String, KvObject>>>,
    /// Calls the free-form kinds made, in order.
    pub kv_log: Arc<Mutex<Vec<String>>>,
}

/// A free-form object: its address, lineage, environment and JSON spec.
#[derive(Clone, Debug)]
pub struct KvObject {
    pub environment: String,
    pub address: String,
    pub lineage: String,
    pub spec: serde_json::Value,
}

impl TestProvider {
    /// Stores a new free-form object for the operation `cx`, returning its id.
    pub fn kv_create(&self, cx: &OpCx, spec: serde_json::Value) -> String {
        let mut kv = self.kv.lock().unwrap();
        let id = format!("kv-{}", kv.len() + 1);
        kv.insert(
            id.clone(),
            KvObject {
                environment: cx.environment().to_string(),
                address: cx.address().to_string(),
                lineage: cx.lineage().to_string(),
                spec,
            },
        );
        self.kv_log
            .lock()
            .unwrap()
            .push(format!("create {}", cx.address()));
        id
    }

    /// Every free-form object of kind `R`, claimed.
    pub fn kv_refresh<R: Resource<Outputs = ThingOutputs>>(
        &self,
        cx: &RefreshCx<R>,
    ) -> Result<Vec<Found<R>>, ProviderError> {
        let kv = self.kv.lock().unwrap();
        let mut out = Vec::new();
        for (id, o) in kv.iter() {
            if o.environment != cx.environment || !o.address.starts_with(&format!("{}.", R::KIND)) {
                continue;
            }
            let marks = |key: &str| match key {
                TAG_ENVIRONMENT => Some(o.environment.clone()),
                TAG_ADDRESS => Some(o.address.clone()),
                TAG_LINEAGE => Some(o.lineage.clone()),
                _ => None,
            };
            if let Some(claim) = cx.claim(|out| out.id == *id, marks) {
                let spec = serde_json::from_value(o.spec.clone())
                    .map_err(|e| ProviderError::new("test", ErrorClass::Fatal, e.to_string()))?;
                out.push(Found::new(claim, spec, ThingOutputs { id: id.clone() }));
            }
        }
        Ok(out)
    }
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
        kinds.register::<Slow>();
    }
}

/// The markers of a listed object, as its tags would give them.
pub fn marks<'a>(environment: &'a str, l: &'a Listed) -> impl Fn(&str) -> Option<String> + 'a {
    move |key| match key {
        TAG_ENVIRONMENT => Some(environment.to_string()),
        TAG_ADDRESS => Some(l.address.clone()),
        TAG_LINEAGE => Some(l.lineage.clone()),
        _ => None,
    }
}

/// Every listed object of `R` with its claim.
pub fn claimed<R: Resource<Outputs = ThingOutputs>>(
    p: &TestProvider,
    cx: &RefreshCx<R>,
    spec: impl Fn(&Listed) -> R,
) -> Result<Vec<Found<R>>, ProviderError> {
    let mut out = Vec::new();
    for l in p.api.list(&cx.environment)? {
        if let Some(claim) = cx.claim(|o| o.id == l.id, marks(&cx.environment, &l)) {
            out.push(Found::new(
                claim,
                spec(&l),
                ThingOutputs { id: l.id.clone() },
            ));
        }
    }
    Ok(out)
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
        claimed(p, cx, |l| l.spec.clone())
    }

    async fn create(&self, p: &TestProvider, cx: &OpCx) -> Result<ThingOutputs, ProviderError> {
        let now = p.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        p.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(p.delay).await;
        p.in_flight.fetch_sub(1, Ordering::SeqCst);
        let id = p.api.create(
            &cx.address().to_string(),
            cx.environment(),
            &cx.lineage().to_string(),
            &self.zone,
        )?;
        let outputs = ThingOutputs { id: id.clone() };
        cx.created(&outputs).await?;
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
pub struct World {
    pub next: u32,
    /// id -> (environment, address, thing)
    pub things: BTreeMap<String, (String, String, Thing)>,
    /// id -> lineage tag
    pub lineages: BTreeMap<String, String>,
    pub log: Vec<String>,
    pub fail_create: Option<String>,
    pub fail_configure: Option<String>,
    pub fail_delete: Option<String>,
    /// Creates that go through but answer with a retryable error.
    pub lost_answers: usize,
    pub retryable_failures: usize,
    pub unavailable: usize,
}

pub type Shared = Arc<Mutex<World>>;

pub fn blank() -> Thing {
    Thing {
        size: 0,
        zone: String::new(),
        parent: None,
        replicas: 0,
    }
}

/// A mock whose expectations act on `world`.
pub fn api(world: &Shared) -> MockThingApi {
    let mut m = MockThingApi::new();
    let w = world.clone();
    m.expect_list().returning(move |env| {
        let w = w.lock().unwrap();
        Ok(w.things
            .iter()
            .filter(|(_, (e, _, _))| e == env)
            .map(|(id, (_, a, t))| Listed {
                address: a.clone(),
                lineage: w.lineages.get(id).cloned().unwrap_or_default(),
                id: id.clone(),
                spec: t.clone(),
            })
            .collect())
    });
    let w = world.clone();
    m.expect_create()
        .returning(move |address, env, lineage, zone| {
            let mut w = w.lock().unwrap();
            w.log.push(format!("create {address}"));
            if w.unavailable > 0 {
                w.unavailable -= 1;
                return Err(ProviderError::new(
                    "test",
                    ErrorClass::Unavailable,
                    "throttled through the client's retries",
                ));
            }
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
                    ProviderError::new("test", ErrorClass::Fatal, "quota exceeded")
                        .with_code("Quota"),
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
            w.lineages.insert(id.clone(), lineage.to_string());
            if w.lost_answers > 0 {
                w.lost_answers -= 1;
                return Err(ProviderError::new(
                    "test",
                    ErrorClass::Retryable,
                    "connection reset after the request was sent",
                ));
            }
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
        let address = w.things.get(id).map(|t| t.1.clone());
        if address.is_some() && w.fail_delete == address {
            w.log
                .push(format!("delete {} refused", address.unwrap_or_default()));
            return Err(ProviderError::new("test", ErrorClass::Fatal, "in use"));
        }
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

pub fn provider(api: MockThingApi, budget: usize) -> TestProvider {
    TestProvider {
        api: Box::new(api),
        budget,
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
        delay: Duration::from_millis(0),
        logins: Mutex::default(),
        ready: Arc::new(AtomicBool::new(true)),
        kv: Arc::default(),
        kv_log: Arc::default(),
    }
}

pub fn thing(size: u32, zone: &str) -> Thing {
    Thing {
        size,
        zone: zone.into(),
        parent: None,
        replicas: 1,
    }
}

pub fn fast() -> ApplyOptions {
    ApplyOptions {
        retry: RetryPolicy {
            max_retries: 3,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_retry_after: Duration::from_millis(5),
        },
        ..ApplyOptions::default()
    }
}

/// a, b (child of a), c.
pub fn basic(world: &Shared, sizes: (u32, u32, u32), zone_a: &str) -> Environment {
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

pub fn engine(env: Environment, dir: &tempfile::TempDir) -> Engine<LocalStateStore> {
    engine_at(env, &dir.path().join("state.json"))
}

pub fn engine_at(env: Environment, path: &std::path::Path) -> Engine<LocalStateStore> {
    Engine::new(env, LocalStateStore::new(path)).with_options(fast())
}

pub async fn apply(
    env: Environment,
    dir: &tempfile::TempDir,
) -> Result<madplan_core::ApplyReport, Error> {
    let e = engine(env, dir);
    let plan = e.plan().await?;
    e.apply(&plan).await
}

pub async fn state_of(dir: &tempfile::TempDir) -> madplan_core::State {
    LocalStateStore::new(dir.path().join("state.json"))
        .load()
        .await
        .unwrap()
        .unwrap()
}

/// How many log lines are exactly `line`.
pub fn count(world: &Shared, line: &str) -> usize {
    world
        .lock()
        .unwrap()
        .log
        .iter()
        .filter(|l| *l == line)
        .count()
}

#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<Event>>);

impl EventSink for Recorder {
    fn event(&self, e: &Event) {
        self.0.lock().unwrap().push(e.clone());
    }
}

/// A database login: its password is a secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Login {
    pub user: String,
    pub password: Secret,
}

impl Resource for Login {
    const KIND: &'static str = "test.login";
    type Provider = TestProvider;
    type Outputs = ThingOutputs;

    async fn refresh(
        p: &TestProvider,
        cx: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        // Like a real API, the password is never read back; the version
        // last applied is what the provider remembers.
        Ok(p.logins
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(a, (user, _, version))| {
                let claim = cx.claim(|o| o.id == *a, |_| None)?;
                Some(Found::new(
                    claim,
                    Login {
                        user: user.clone(),
                        password: version.clone(),
                    },
                    ThingOutputs { id: a.clone() },
                ))
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

pub const PASSWORD: &str = "correct-horse-battery-staple-42";

#[derive(Default)]
pub struct Lines(pub Mutex<String>);

impl EventSink for Lines {
    fn event(&self, e: &Event) {
        self.0.lock().unwrap().push_str(&format!("{e:?}\n"));
    }
}

/// A local store whose second write fails, as a full disk would.
pub struct FlakyStore {
    pub inner: LocalStateStore,
    pub saves: AtomicUsize,
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
    async fn lock(
        &self,
        info: &madplan_core::LockInfo,
    ) -> madplan_core::Result<Option<madplan_core::LockInfo>> {
        self.inner.lock(info).await
    }
    async fn unlock(&self, id: uuid::Uuid) -> madplan_core::Result<()> {
        self.inner.unlock(id).await
    }
    async fn lock_holder(&self) -> madplan_core::Result<Option<madplan_core::LockInfo>> {
        self.inner.lock_holder().await
    }
    async fn force_unlock(
        &self,
        id: uuid::Uuid,
    ) -> madplan_core::Result<Option<madplan_core::LockInfo>> {
        self.inner.force_unlock(id).await
    }
    async fn append_audit(&self, record: &madplan_core::AuditRecord) -> madplan_core::Result<()> {
        self.inner.append_audit(record).await
    }
    async fn audit_records(&self) -> madplan_core::Result<Vec<madplan_core::AuditRecord>> {
        self.inner.audit_records().await
    }
    async fn put_approval(&self, approval: &madplan_core::Approval) -> madplan_core::Result<()> {
        self.inner.put_approval(approval).await
    }
    async fn approval(&self, digest: &str) -> madplan_core::Result<Option<madplan_core::Approval>> {
        self.inner.approval(digest).await
    }
}

/// A kind replaced create-before-destroy (a load balancer whose dependents
/// must always have one to point at).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lb {
    pub zone: String,
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
        claimed(p, cx, |l| Lb {
            zone: l.spec.zone.clone(),
        })
    }

    async fn create(&self, p: &TestProvider, cx: &OpCx) -> Result<ThingOutputs, ProviderError> {
        let id = p.api.create(
            &cx.address().to_string(),
            cx.environment(),
            &cx.lineage().to_string(),
            &self.zone,
        )?;
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

/// A kind that takes a while to become ready after it exists (a database
/// cluster): its create reports the id, then waits for the provider's gate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slow {
    pub zone: String,
}

impl Resource for Slow {
    const KIND: &'static str = "test.slow";
    const WAIT_TIMEOUT: Duration = Duration::from_secs(20);
    type Provider = TestProvider;
    type Outputs = ThingOutputs;

    async fn refresh(
        p: &TestProvider,
        cx: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        Ok(claimed(p, cx, |l| Slow {
            zone: l.spec.zone.clone(),
        })?
        .into_iter()
        .filter(|f| match &f.claim {
            Claim::Tagged { address, .. } => address.kind() == Self::KIND,
            _ => true,
        })
        .collect())
    }

    async fn create(&self, p: &TestProvider, cx: &OpCx) -> Result<ThingOutputs, ProviderError> {
        let id = p.api.create(
            &cx.address().to_string(),
            cx.environment(),
            &cx.lineage().to_string(),
            &self.zone,
        )?;
        let outputs = ThingOutputs { id };
        cx.created(&outputs).await?;
        Self::resume(&outputs, p, cx).await
    }

    async fn resume(
        outputs: &ThingOutputs,
        p: &TestProvider,
        cx: &OpCx,
    ) -> Result<ThingOutputs, ProviderError> {
        p.kv_log
            .lock()
            .unwrap()
            .push(format!("wait {}", cx.address()));
        let gate = p.ready.clone();
        cx.wait_for("the thing to be ready", Duration::from_millis(10), || {
            let open = gate.load(Ordering::SeqCst);
            async move {
                Ok(if open {
                    Readiness::Ready(())
                } else {
                    Readiness::Waiting("CREATING".into())
                })
            }
        })
        .await?;
        Ok(outputs.clone())
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
