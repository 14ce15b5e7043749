//! The traits a provider crate implements: [`Provider`] once, [`Resource`]
//! once per managed kind.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use uuid::Uuid;

use crate::address::Address;
use crate::error::{Problem, ProviderError};
use crate::events::{Event, EventSink};
use crate::registry::Kinds;
use crate::secret::Secret;
use crate::validate::ValidateCx;

/// The tag key under which every resource records its environment.
pub const TAG_ENVIRONMENT: &str = "madplan:environment";
/// The tag key under which every resource records its address.
pub const TAG_ADDRESS: &str = "madplan:address";
/// The tag key under which every resource records the lineage of the state
/// that made it: only that state's runs change or delete it.
pub const TAG_LINEAGE: &str = "madplan:lineage";

/// A provider: holds the API clients its resources use, and states how many
/// calls may run at once against its API.
pub trait Provider: Send + Sync + 'static {
    /// Short name, e.g. `aws`.
    const NAME: &'static str;

    /// How many resource operations may run at once against this provider.
    fn concurrency(&self) -> usize {
        4
    }

    /// Registers every resource kind of this provider, so that the engine can
    /// delete resources of a kind the environment no longer declares.
    fn register(kinds: &mut Kinds)
    where
        Self: Sized;
}

/// In which order a resource that must be replaced is destroyed and created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Replacement {
    /// Delete the old one, then create the new one (names or addresses that
    /// must be unique).
    DestroyBeforeCreate,
    /// Create the new one, move dependents over, then delete the old one.
    CreateBeforeDestroy,
}

/// A resource as it was read from the provider: the spec it has now and the
/// outputs it yields.
#[derive(Clone, Debug)]
pub struct Observed<R: Resource> {
    /// The live configuration, in the same shape as the desired one.
    pub spec: R,
    /// The live outputs (ids, ARNs).
    pub outputs: R::Outputs,
}

/// Which tracked resource a [`Claim::Tracked`] is: an index into
/// [`RefreshCx::tracked`], made only by [`RefreshCx::claim`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrackedId(pub(crate) usize);

/// Why a live resource found by a refresh belongs to this environment.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Claim {
    /// The state tracks it: its outputs match a tracked resource's.
    Tracked(TrackedId),
    /// It carries this environment's tags, naming `address`; `lineage` is
    /// the state history that made it, when it says. The engine only treats
    /// it as its own when the lineage is the state's; anything else belongs
    /// to another state and is never changed or deleted.
    Tagged {
        /// The address its tags name.
        address: Address,
        /// The lineage its tags name.
        lineage: Option<String>,
    },
}

/// A resource found while refreshing a kind.
#[derive(Clone, Debug)]
pub struct Found<R: Resource> {
    /// Why it is this environment's (from [`RefreshCx::claim`]).
    pub claim: Claim,
    /// What was read.
    pub observed: Observed<R>,
}

impl<R: Resource> Found<R> {
    /// A found resource.
    pub fn new(claim: Claim, spec: R, outputs: R::Outputs) -> Self {
        Self {
            claim,
            observed: Observed { spec, outputs },
        }
    }
}

/// A resource the state knows about.
#[derive(Clone, Debug)]
pub struct Tracked<R: Resource> {
    /// Its address.
    pub address: Address,
    /// Its outputs as last recorded.
    pub outputs: R::Outputs,
    /// Whether it is an old object left by a replacement, waiting to be
    /// deleted (a create-before-destroy whose delete failed).
    pub deposed: bool,
}

/// What a kind's refresh is asked to look for.
#[derive(Clone, Debug)]
pub struct RefreshCx<R: Resource> {
    /// The environment's name; resources carry it in [`TAG_ENVIRONMENT`].
    pub environment: String,
    /// The state's lineage, once there is a state; resources carry it in
    /// [`TAG_LINEAGE`].
    pub lineage: Option<Uuid>,
    /// The resources of this kind that the state knows.
    pub tracked: Vec<Tracked<R>>,
}

impl<R: Resource> RefreshCx<R> {
    /// Whether a live resource is this environment's, and why: a tracked
    /// resource whose outputs satisfy `is_it`, or one whose markers (read
    /// through `marker`, e.g. its tags: `marker(TAG_ADDRESS)`) name this
    /// environment and an address of this kind. `None`: not ours to see.
    pub fn claim(
        &self,
        is_it: impl Fn(&R::Outputs) -> bool,
        marker: impl Fn(&str) -> Option<String>,
    ) -> Option<Claim> {
        if let Some(i) = self.tracked.iter().position(|t| is_it(&t.outputs)) {
            return Some(Claim::Tracked(TrackedId(i)));
        }
        if marker(TAG_ENVIRONMENT).as_deref() != Some(self.environment.as_str()) {
            return None;
        }
        let address = marker(TAG_ADDRESS)?.parse::<Address>().ok()?;
        (address.kind() == R::KIND).then(|| Claim::Tagged {
            address,
            lineage: marker(TAG_LINEAGE),
        })
    }
}

/// What a poll of a long operation saw: done, or still waiting (with the
/// provider's word for the state it is in, e.g. `CREATING`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness<T> {
    /// Ready, with what the wait produced.
    Ready(T),
    /// Not yet; the state the provider reports.
    Waiting(String),
}

/// A create's outputs handed to the engine by [`OpCx::created`], and the
/// answer once they are written to state.
pub(crate) struct Checkpoint {
    pub op: usize,
    pub outputs: serde_json::Value,
    /// Recorded before the create was sent ([`OpCx::creating`]).
    pub intent: bool,
    pub ack: oneshot::Sender<Result<(), String>>,
}

/// The executor's side of an operation: where checkpoints go, the budget
/// the operation holds, and the interrupt.
#[derive(Default)]
pub(crate) struct OpLinks {
    pub op: usize,
    pub checkpoints: Option<mpsc::UnboundedSender<Checkpoint>>,
    pub budget: Option<(Arc<Semaphore>, OwnedSemaphorePermit)>,
    pub interrupt: Option<watch::Receiver<bool>>,
}

/// What a create, update or delete call knows about where it runs.
pub struct OpCx {
    environment: String,
    lineage: Uuid,
    address: Address,
    client_token: String,
    wait_timeout: Duration,
    /// The outputs last recorded, and whether they were recorded before the
    /// create was sent ([`OpCx::creating`]) and not confirmed since.
    partial: Mutex<Option<(serde_json::Value, bool)>>,
    events: Arc<dyn EventSink>,
    secrets: Arc<BTreeMap<String, SecretString>>,
    links: Mutex<OpLinks>,
    interrupt: Option<watch::Receiver<bool>>,
}

/// Everything an [`OpCx`] is made from.
pub(crate) struct OpCxParts {
    pub environment: String,
    pub lineage: Uuid,
    pub address: Address,
    pub generation: u64,
    pub wait_timeout: Duration,
    pub events: Arc<dyn EventSink>,
    pub secrets: Arc<BTreeMap<String, SecretString>>,
    pub links: OpLinks,
}

impl OpCx {
    pub(crate) fn new(parts: OpCxParts) -> Self {
        let client_token = Uuid::new_v5(
            &parts.lineage,
            format!("{}@{}", parts.address, parts.generation).as_bytes(),
        )
        .to_string();
        let interrupt = parts.links.interrupt.clone();
        Self {
            environment: parts.environment,
            lineage: parts.lineage,
            address: parts.address,
            client_token,
            wait_timeout: parts.wait_timeout,
            partial: Mutex::new(None),
            events: parts.events,
            secrets: parts.secrets,
            links: Mutex::new(parts.links),
            interrupt,
        }
    }

    /// The value of a secret the spec refers to. Never log or store it.
    pub fn secret(&self, secret: &Secret) -> Result<&SecretString, ProviderError> {
        self.secrets.get(secret.name()).ok_or_else(|| {
            ProviderError::new(
                "madplan",
                crate::error::ErrorClass::Fatal,
                format!(
                    "the secret {:?} was not given to this environment; give it with Environment::secret",
                    secret.name()
                ),
            )
        })
    }

    /// The environment's name.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// The lineage of the state this operation records into.
    pub fn lineage(&self) -> Uuid {
        self.lineage
    }

    /// The address of the resource being changed.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The tags that mark a resource as this environment's, this state's
    /// and this address's. Provider code puts them on everything it
    /// creates, where the API allows (a marker in a comment elsewhere), and
    /// finds resources again with [`RefreshCx::claim`].
    pub fn tags(&self) -> [(&'static str, String); 3] {
        [
            (TAG_ENVIRONMENT, self.environment.clone()),
            (TAG_ADDRESS, self.address.to_string()),
            (TAG_LINEAGE, self.lineage.to_string()),
        ]
    }

    /// An idempotency token for this create (36 ASCII characters): the same
    /// for every attempt of this operation in this apply, different for any
    /// other create. Pass it where the API takes one (EC2 `ClientToken`,
    /// `Idempotency-Key` headers), so that a retried create whose first
    /// attempt went through does not make a second resource.
    pub fn client_token(&self) -> &str {
        &self.client_token
    }

    /// How long [`OpCx::wait_for`] waits before giving up: the kind's
    /// [`Resource::WAIT_TIMEOUT`] unless the operator changed it.
    pub fn wait_timeout(&self) -> Duration {
        self.wait_timeout
    }

    /// Records what a create has made so far. Call it as soon as the
    /// provider has returned an id, before any wait or further step: the
    /// engine writes these outputs to state (marked as an unfinished create)
    /// before this returns, so that if the process dies, the wait times out
    /// or a later step fails, the resource is not forgotten: the next apply
    /// waits for it ([`Resource::resume`]) and repairs it in place instead
    /// of creating another.
    ///
    /// Fails only when the state cannot be written; stop then, the engine
    /// records the outputs when it can.
    pub async fn created<O: Serialize>(&self, outputs: &O) -> Result<(), ProviderError> {
        self.checkpoint(outputs, false).await
    }

    /// Records what a create is about to make, before it is sent: for kinds
    /// whose outputs are known beforehand (an object keyed by a name the
    /// spec gives) and that carry no mark of their owner (no tags, no
    /// description) by which a later refresh could recognise an object the
    /// create made after all. If the process dies or the answer is lost
    /// after the request left, the next apply finds the object by these
    /// outputs and completes it instead of failing on "already exists". If
    /// the provider answers with a refusal (any failure but
    /// [`ErrorClass::Unavailable`](crate::ErrorClass) or an interrupt), the
    /// create did not happen and the record is dropped, so that an object
    /// someone else made under that name is never taken over. Call
    /// [`OpCx::created`] with the answer's outputs once it succeeds.
    ///
    /// When the address already holds a live object (a replacement), this
    /// records nothing.
    pub async fn creating<O: Serialize>(&self, outputs: &O) -> Result<(), ProviderError> {
        self.checkpoint(outputs, true).await
    }

    async fn checkpoint<O: Serialize>(
        &self,
        outputs: &O,
        intent: bool,
    ) -> Result<(), ProviderError> {
        let v = serde_json::to_value(outputs).map_err(|e| {
            ProviderError::new(
                "madplan",
                crate::error::ErrorClass::Fatal,
                format!("outputs cannot be serialized: {e}"),
            )
        })?;
        *self.partial.lock().unwrap_or_else(|e| e.into_inner()) = Some((v.clone(), intent));
        let (tx, op) = {
            let links = self.links.lock().unwrap_or_else(|e| e.into_inner());
            (links.checkpoints.clone(), links.op)
        };
        let Some(tx) = tx else { return Ok(()) };
        let (ack, answer) = oneshot::channel();
        if tx
            .send(Checkpoint {
                op,
                outputs: v,
                intent,
                ack,
            })
            .is_err()
        {
            return Ok(());
        }
        match answer.await {
            Ok(Err(why)) => Err(ProviderError::new(
                "madplan",
                crate::error::ErrorClass::Fatal,
                format!(
                    "the resource exists but state could not be written ({why}); \
                     stopping before going further"
                ),
            )),
            _ => Ok(()),
        }
    }

    pub(crate) fn has_partial(&self) -> bool {
        self.partial
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// The outputs last recorded, and whether they are only an intent.
    pub(crate) fn take_partial(&self) -> Option<(serde_json::Value, bool)> {
        self.partial
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Reports progress of a long operation (waiting for readiness).
    pub fn progress(&self, message: impl Into<String>) {
        self.events.event(&Event::Progress {
            address: self.address.clone(),
            message: message.into(),
        });
    }

    fn interrupted(&self) -> bool {
        self.interrupt.as_ref().is_some_and(|rx| *rx.borrow())
    }

    /// Waits for a long operation (a cluster becoming `IDLE`, a load
    /// balancer `active`, a certificate `ISSUED`): calls `poll` every
    /// `every` until it answers [`Readiness::Ready`], reporting each new
    /// state through [`OpCx::progress`].
    ///
    /// While it waits, the operation gives its slot of the provider's
    /// concurrency budget to other work (polls are light reads), and takes
    /// one again before returning. It gives up after
    /// [`OpCx::wait_timeout`], or as soon as the operator interrupts the
    /// apply; either way the resource stays in state as an unfinished
    /// create (call [`OpCx::created`] first) and the next apply continues
    /// the wait instead of creating again.
    pub async fn wait_for<T, F, Fut>(
        &self,
        what: &str,
        every: Duration,
        mut poll: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<Readiness<T>, ProviderError>> + Send,
        T: Send,
    {
        let started = Instant::now();
        let deadline = started + self.wait_timeout;
        let budget = self.release_budget();
        let mut last = String::new();
        let mut interrupt = self.interrupt.clone();
        let result = loop {
            if self.interrupted() {
                break Err(self.wait_interrupted(what, &last));
            }
            match poll().await {
                Ok(Readiness::Ready(t)) => break Ok(t),
                Ok(Readiness::Waiting(state)) => {
                    if state != last {
                        self.progress(format!("waiting for {what}: {state}"));
                        last = state;
                    }
                }
                Err(e) => break Err(e),
            }
            let now = Instant::now();
            if now >= deadline {
                break Err(ProviderError::new(
                    "madplan",
                    crate::error::ErrorClass::Fatal,
                    format!(
                        "gave up waiting for {what} after {}s (still {last}); it stays in state \
                         and the next apply continues the wait; allow longer with \
                         --wait-timeout {}=DURATION",
                        self.wait_timeout.as_secs(),
                        self.address.kind()
                    ),
                )
                .with_code("madplan.WaitTimeout"));
            }
            let nap = every.min(deadline - now);
            match interrupt.as_mut() {
                Some(rx) => {
                    tokio::select! {
                        () = tokio::time::sleep(nap) => {}
                        changed = rx.changed() => {
                            // A sender that is gone cannot interrupt.
                            if changed.is_err() {
                                interrupt = None;
                            }
                        }
                    }
                }
                None => tokio::time::sleep(nap).await,
            }
        };
        self.take_budget(budget).await;
        result
    }

    fn wait_interrupted(&self, what: &str, last: &str) -> ProviderError {
        ProviderError::new(
            "madplan",
            crate::error::ErrorClass::Interrupted,
            format!(
                "stopped waiting for {what} (last seen: {}); the next apply continues the wait",
                if last.is_empty() { "nothing yet" } else { last }
            ),
        )
    }

    fn release_budget(&self) -> Option<Arc<Semaphore>> {
        let mut links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        links.budget.take().map(|(sem, permit)| {
            drop(permit);
            sem
        })
    }

    async fn take_budget(&self, budget: Option<Arc<Semaphore>>) {
        let Some(sem) = budget else { return };
        if let Ok(permit) = sem.clone().acquire_owned().await {
            self.links.lock().unwrap_or_else(|e| e.into_inner()).budget = Some((sem, permit));
        }
    }
}

/// One kind of thing that is read, never managed: a zone found by name, an
/// AMI id from a public parameter, an existing project. It is read at plan
/// time (shown in the plan as a read) and its outputs feed references like a
/// resource's. Its inputs can only be literal values or other data
/// sources' outputs, since it is read before anything is applied.
pub trait DataSource: Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The kind, `provider.kind`, e.g. `cloudflare.zone_lookup`.
    const KIND: &'static str;
    /// The provider whose clients this kind uses.
    type Provider: Provider;
    /// What the read yields.
    type Outputs: Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static;

    /// Checks the query without any API call.
    fn validate(&self, cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        let _ = (cx, problems);
    }

    /// Reads the thing. Not finding it is an error that says what was
    /// looked for.
    fn read(
        &self,
        provider: &Self::Provider,
    ) -> impl Future<Output = Result<Self::Outputs, ProviderError>> + Send;
}

/// One kind of managed thing. The implementing type is the desired
/// configuration (the spec); its fields that need another resource's output
/// hold an [`crate::Input`].
///
/// The engine serializes specs to compare them field by field with what
/// [`Resource::refresh`] reads back, so the serialized form of a spec must
/// be canonical: sets as sorted collections, defaults filled in.
pub trait Resource: Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The kind, `provider.kind`, e.g. `aws.vpc`.
    const KIND: &'static str;
    /// Fields (paths, see [`crate::paths`]) whose change cannot be applied
    /// in place.
    const FORCES_REPLACEMENT: &'static [&'static str] = &[];
    /// Fields (paths at any depth, e.g.
    /// `replication_specs[].region_configs[].electable_specs.instance_size`)
    /// that something else owns once the resource exists (an autoscaler):
    /// their live value is never reported as drift nor reverted. `update`
    /// must not send them back either.
    const EXTERNALLY_OWNED: &'static [&'static str] = &[];
    /// Fields the API never returns (a password version, user data): the
    /// live spec is read without them, and the engine compares the value
    /// last applied instead.
    const WRITE_ONLY: &'static [&'static str] = &[];
    /// Fields the server fills in when the spec leaves them out (`None`): a
    /// live value there is not drift unless the spec gives one.
    const SERVER_DEFAULTED: &'static [&'static str] = &[];
    /// Outputs that change when the resource is updated in place (a launch
    /// template's latest version, a lock token): resources that use them are
    /// planned with "known after apply" when this one changes.
    const OUTPUTS_CHANGE_ON_UPDATE: &'static [&'static str] = &[];
    /// How a replacement is ordered.
    const REPLACEMENT: Replacement = Replacement::DestroyBeforeCreate;
    /// Whether a resource that still refers to this one keeps it from being
    /// deleted (a security group named in another group's rules, a VPC
    /// with subnets). When a resource of such a kind is replaced
    /// destroy-before-create, what still uses it is replaced too (deleted
    /// first, created after), since it cannot be pointed at the new one
    /// before that exists. Kinds whose API lets go of references by itself
    /// may say `false`.
    const HELD_BY_DEPENDENTS: bool = true;
    /// How long [`OpCx::wait_for`] waits for this kind by default.
    const WAIT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

    /// The provider whose clients this kind uses.
    type Provider: Provider;
    /// What the resource yields once it exists (ids, ARNs, names).
    type Outputs: Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static;

    /// Checks this resource's configuration, and its relations to the
    /// resources it references (reachable through `cx`), without any API
    /// call. Push one [`Problem`] per mistake.
    fn validate(&self, cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        let _ = (cx, problems);
    }

    /// Takes the environment's default tags ([`crate::Environment::default_tags`])
    /// into this spec when it is added: a taggable kind adds each tag its own
    /// tags do not already set (see [`merge_default_tags`]), in the form its
    /// API takes. Kinds without tags keep the default, which ignores them.
    fn take_default_tags(&mut self, defaults: &BTreeMap<String, String>) {
        let _ = defaults;
    }

    /// Checks rules that span all resources of this kind (e.g. overlapping
    /// subnets). `all` holds every resource of the kind in the environment.
    fn validate_kind(all: &[(Address, Self)], cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        let _ = (all, cx, problems);
    }

    /// Reads every resource of this kind that belongs to the environment:
    /// the tracked ones (matched by their outputs) and untracked ones carrying
    /// this environment's tags, each with its [`Claim`] from
    /// [`RefreshCx::claim`]. Implementations should use a constant number of
    /// list calls, not one call per resource. A tracked resource missing from
    /// the answer is taken as deleted.
    fn refresh(
        provider: &Self::Provider,
        cx: &RefreshCx<Self>,
    ) -> impl Future<Output = Result<Vec<Found<Self>>, ProviderError>> + Send;

    /// Creates the resource and returns its outputs. Every input is resolved.
    /// Call [`OpCx::created`] as soon as an id exists, and wait for
    /// readiness with [`OpCx::wait_for`].
    fn create(
        &self,
        provider: &Self::Provider,
        cx: &OpCx,
    ) -> impl Future<Output = Result<Self::Outputs, ProviderError>> + Send;

    /// Changes the live resource `prior` to match `self`, for the top-level
    /// fields named in `changed` (none of which forces replacement).
    fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        provider: &Self::Provider,
        cx: &OpCx,
    ) -> impl Future<Output = Result<Self::Outputs, ProviderError>> + Send;

    /// Finishes a create that was cut short after [`OpCx::created`] (the
    /// process died, the wait timed out or was interrupted): waits for the
    /// resource to be ready and returns its outputs. Kinds without a wait
    /// keep the default, which returns the outputs as they are.
    fn resume(
        outputs: &Self::Outputs,
        provider: &Self::Provider,
        cx: &OpCx,
    ) -> impl Future<Output = Result<Self::Outputs, ProviderError>> + Send {
        let _ = (provider, cx);
        let outputs = outputs.clone();
        async move { Ok(outputs) }
    }

    /// Deletes the resource. Answering not-found counts as success.
    fn delete(
        outputs: &Self::Outputs,
        provider: &Self::Provider,
        cx: &OpCx,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;
}

/// Adds to `own` every default tag whose key it does not set: what a kind
/// whose tags are a key-value map does in [`Resource::take_default_tags`].
pub fn merge_default_tags(own: &mut BTreeMap<String, String>, defaults: &BTreeMap<String, String>) {
    for (k, v) in defaults {
        own.entry(k.clone()).or_insert_with(|| v.clone());
    }
}

/// Adds to `own` each default tag as `key:value` (key in lower case, the
/// form Datadog stores) unless a tag with that key is already there: what a
/// kind whose tags are `key:value` strings does in
/// [`Resource::take_default_tags`].
pub fn merge_default_tag_strings(
    own: &mut std::collections::BTreeSet<String>,
    defaults: &BTreeMap<String, String>,
) {
    for (k, v) in defaults {
        let key = k.to_lowercase();
        let taken = own
            .iter()
            .any(|t| t.split_once(':').map_or(t.as_str(), |(k, _)| k) == key);
        if !taken {
            own.insert(format!("{key}:{v}"));
        }
    }
}
