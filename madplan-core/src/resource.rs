//! The traits a provider crate implements: [`Provider`] once, [`Resource`]
//! once per managed kind.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::{Arc, Mutex};

use secrecy::SecretString;
use serde::Serialize;
use serde::de::DeserializeOwned;

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

/// A resource found while refreshing a kind.
#[derive(Clone, Debug)]
pub struct Found<R: Resource> {
    /// The address it belongs to: from state for tracked resources, from its
    /// address tag for others.
    pub address: Address,
    /// What was read.
    pub observed: Observed<R>,
}

/// A resource the state knows about.
#[derive(Clone, Debug)]
pub struct Tracked<R: Resource> {
    /// Its address.
    pub address: Address,
    /// Its outputs as last recorded.
    pub outputs: R::Outputs,
}

/// What a kind's refresh is asked to look for.
#[derive(Clone, Debug)]
pub struct RefreshCx<R: Resource> {
    /// The environment's name; resources carry it in [`TAG_ENVIRONMENT`].
    pub environment: String,
    /// The resources of this kind that the state knows.
    pub tracked: Vec<Tracked<R>>,
}

impl<R: Resource> RefreshCx<R> {
    /// The tracked resource whose outputs satisfy `matches`, if any.
    pub fn tracked_by(&self, matches: impl Fn(&R::Outputs) -> bool) -> Option<&Address> {
        self.tracked
            .iter()
            .find(|t| matches(&t.outputs))
            .map(|t| &t.address)
    }
}

/// What a create, update or delete call knows about where it runs.
pub struct OpCx {
    environment: String,
    address: Address,
    partial: Mutex<Option<serde_json::Value>>,
    events: Arc<dyn EventSink>,
    secrets: Arc<BTreeMap<String, SecretString>>,
}

impl OpCx {
    pub(crate) fn new(
        environment: String,
        address: Address,
        events: Arc<dyn EventSink>,
        secrets: Arc<BTreeMap<String, SecretString>>,
    ) -> Self {
        Self {
            environment,
            address,
            partial: Mutex::new(None),
            events,
            secrets,
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

    /// The address of the resource being changed.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The tags that mark a resource as this environment's and this address's.
    /// Provider code puts them on everything it creates, where the API allows.
    pub fn tags(&self) -> [(&'static str, String); 2] {
        [
            (TAG_ENVIRONMENT, self.environment.clone()),
            (TAG_ADDRESS, self.address.to_string()),
        ]
    }

    /// Records what a create has made so far. Call it as soon as the provider
    /// has returned an id: if a later step of the create fails, the engine
    /// writes these outputs to state, so the resource is not forgotten, and the
    /// next plan repairs it in place instead of creating it again.
    pub fn created<O: Serialize>(&self, outputs: &O) {
        if let Ok(v) = serde_json::to_value(outputs) {
            *self.partial.lock().unwrap_or_else(|e| e.into_inner()) = Some(v);
        }
    }

    pub(crate) fn has_partial(&self) -> bool {
        self.partial
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    pub(crate) fn take_partial(&self) -> Option<serde_json::Value> {
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
    /// Top-level fields whose change cannot be applied in place.
    const FORCES_REPLACEMENT: &'static [&'static str] = &[];
    /// Top-level fields that something else owns at run time (an autoscaler):
    /// their live value is never reported as drift nor reverted.
    const EXTERNALLY_OWNED: &'static [&'static str] = &[];
    /// How a replacement is ordered.
    const REPLACEMENT: Replacement = Replacement::DestroyBeforeCreate;

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

    /// Checks rules that span all resources of this kind (e.g. overlapping
    /// subnets). `all` holds every resource of the kind in the environment.
    fn validate_kind(all: &[(Address, Self)], cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        let _ = (all, cx, problems);
    }

    /// Reads every resource of this kind that belongs to the environment:
    /// the tracked ones (matched by their outputs) and untracked ones carrying
    /// this environment's address tags. Implementations should use a constant
    /// number of list calls, not one call per resource. A tracked resource
    /// missing from the answer is taken as deleted.
    fn refresh(
        provider: &Self::Provider,
        cx: &RefreshCx<Self>,
    ) -> impl Future<Output = Result<Vec<Found<Self>>, ProviderError>> + Send;

    /// Creates the resource and returns its outputs. Every input is resolved.
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

    /// Deletes the resource. Answering not-found counts as success.
    fn delete(
        outputs: &Self::Outputs,
        provider: &Self::Provider,
        cx: &OpCx,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;
}
