//! The engine's type-erased view of resource kinds and providers. Type
//! erasure happens here, once: specs and outputs travel as JSON values and are
//! turned back into the typed ones right before a provider is called.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::address::Address;
use crate::error::{ErrorClass, Problem, ProviderError};
use crate::resource::{Observed, OpCx, Provider, RefreshCx, Replacement, Resource, Tracked};
use crate::validate::ValidateCx;

/// Resources of one kind, gathered for a kind-wide call.
pub(crate) type ByKind<'a> =
    std::collections::BTreeMap<&'a str, (Arc<dyn ErasedKind>, Vec<(Address, Value)>)>;

pub(crate) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A resource read back from a provider, in stored form.
#[derive(Clone, Debug)]
pub(crate) struct FoundValue {
    pub address: Address,
    pub spec: Value,
    pub outputs: Value,
}

/// One kind of resource as the engine sees it.
pub(crate) trait ErasedKind: Send + Sync {
    fn kind(&self) -> &'static str;
    fn provider_name(&self) -> &'static str;
    fn provider_type(&self) -> TypeId;
    fn forces_replacement(&self) -> &'static [&'static str];
    fn externally_owned(&self) -> &'static [&'static str];
    fn replacement(&self) -> Replacement;
    fn normalize(&self, address: &Address, spec: &Value) -> Result<Value, ProviderError>;
    fn validate(
        &self,
        address: &Address,
        spec: &Value,
        cx: &ValidateCx<'_>,
        out: &mut Vec<Problem>,
    );
    fn validate_kind(&self, all: &[(Address, Value)], cx: &ValidateCx<'_>, out: &mut Vec<Problem>);
    fn refresh<'a>(
        &'a self,
        providers: &'a Providers,
        environment: &'a str,
        tracked: Vec<(Address, Value)>,
    ) -> BoxFut<'a, Result<Vec<FoundValue>, ProviderError>>;
    fn create<'a>(
        &'a self,
        providers: &'a Providers,
        spec: Value,
        cx: &'a OpCx,
    ) -> BoxFut<'a, Result<Value, ProviderError>>;
    fn update<'a>(
        &'a self,
        providers: &'a Providers,
        spec: Value,
        prior_spec: Value,
        prior_outputs: Value,
        changed: Vec<String>,
        cx: &'a OpCx,
    ) -> BoxFut<'a, Result<Value, ProviderError>>;
    fn delete<'a>(
        &'a self,
        providers: &'a Providers,
        outputs: Value,
        cx: &'a OpCx,
    ) -> BoxFut<'a, Result<(), ProviderError>>;
}

struct KindOf<R>(PhantomData<fn() -> R>);

fn decode<T: DeserializeOwned>(what: &str, v: Value) -> Result<T, ProviderError> {
    serde_json::from_value(v).map_err(|e| {
        ProviderError::new(
            "madplan",
            ErrorClass::Fatal,
            format!("stored {what} does not match its type: {e}"),
        )
    })
}

fn encode<T: Serialize>(what: &str, v: &T) -> Result<Value, ProviderError> {
    serde_json::to_value(v).map_err(|e| {
        ProviderError::new(
            "madplan",
            ErrorClass::Fatal,
            format!("{what} cannot be serialized: {e}"),
        )
    })
}

impl<R: Resource> KindOf<R> {
    fn provider(providers: &Providers) -> Result<&R::Provider, ProviderError> {
        providers.get::<R::Provider>().ok_or_else(|| {
            ProviderError::new(
                "madplan",
                ErrorClass::Fatal,
                format!(
                    "no {} provider is registered; add it with Environment::with_provider",
                    <R::Provider as Provider>::NAME
                ),
            )
        })
    }
}

impl<R: Resource> ErasedKind for KindOf<R> {
    fn kind(&self) -> &'static str {
        R::KIND
    }
    fn provider_name(&self) -> &'static str {
        <R::Provider as Provider>::NAME
    }
    fn provider_type(&self) -> TypeId {
        TypeId::of::<R::Provider>()
    }
    fn forces_replacement(&self) -> &'static [&'static str] {
        R::FORCES_REPLACEMENT
    }
    fn externally_owned(&self) -> &'static [&'static str] {
        R::EXTERNALLY_OWNED
    }
    fn replacement(&self) -> Replacement {
        R::REPLACEMENT
    }
    fn normalize(&self, address: &Address, spec: &Value) -> Result<Value, ProviderError> {
        let typed: R = decode(&format!("spec of {address}"), spec.clone())?;
        encode("spec", &typed)
    }
    fn validate(
        &self,
        address: &Address,
        spec: &Value,
        cx: &ValidateCx<'_>,
        out: &mut Vec<Problem>,
    ) {
        match serde_json::from_value::<R>(spec.clone()) {
            Ok(typed) => {
                let mut found = Vec::new();
                typed.validate(cx, &mut found);
                for mut p in found {
                    p.address.get_or_insert_with(|| address.clone());
                    out.push(p);
                }
            }
            Err(e) => out.push(Problem {
                address: Some(address.clone()),
                field: None,
                message: format!("spec does not round-trip through its type: {e}"),
                hint: None,
            }),
        }
    }
    fn validate_kind(&self, all: &[(Address, Value)], cx: &ValidateCx<'_>, out: &mut Vec<Problem>) {
        let typed: Vec<(Address, R)> = all
            .iter()
            .filter_map(|(a, v)| {
                serde_json::from_value(v.clone())
                    .ok()
                    .map(|r| (a.clone(), r))
            })
            .collect();
        R::validate_kind(&typed, cx, out);
    }
    fn refresh<'a>(
        &'a self,
        providers: &'a Providers,
        environment: &'a str,
        tracked: Vec<(Address, Value)>,
    ) -> BoxFut<'a, Result<Vec<FoundValue>, ProviderError>> {
        Box::pin(async move {
            let provider = Self::provider(providers)?;
            let mut typed = Vec::with_capacity(tracked.len());
            for (address, outputs) in tracked {
                let outputs = decode(&format!("outputs of {address}"), outputs)?;
                typed.push(Tracked { address, outputs });
            }
            let cx = RefreshCx::<R> {
                environment: environment.to_string(),
                tracked: typed,
            };
            let found = R::refresh(provider, &cx).await?;
            found
                .into_iter()
                .map(|f| {
                    Ok(FoundValue {
                        spec: encode("spec", &f.observed.spec)?,
                        outputs: encode("outputs", &f.observed.outputs)?,
                        address: f.address,
                    })
                })
                .collect()
        })
    }
    fn create<'a>(
        &'a self,
        providers: &'a Providers,
        spec: Value,
        cx: &'a OpCx,
    ) -> BoxFut<'a, Result<Value, ProviderError>> {
        Box::pin(async move {
            let provider = Self::provider(providers)?;
            let spec: R = decode("spec", spec)?;
            let outputs = spec.create(provider, cx).await?;
            encode("outputs", &outputs)
        })
    }
    fn update<'a>(
        &'a self,
        providers: &'a Providers,
        spec: Value,
        prior_spec: Value,
        prior_outputs: Value,
        changed: Vec<String>,
        cx: &'a OpCx,
    ) -> BoxFut<'a, Result<Value, ProviderError>> {
        Box::pin(async move {
            let provider = Self::provider(providers)?;
            let spec: R = decode("spec", spec)?;
            let prior = Observed::<R> {
                spec: decode("prior spec", prior_spec)?,
                outputs: decode("prior outputs", prior_outputs)?,
            };
            let outputs = spec.update(&prior, &changed, provider, cx).await?;
            encode("outputs", &outputs)
        })
    }
    fn delete<'a>(
        &'a self,
        providers: &'a Providers,
        outputs: Value,
        cx: &'a OpCx,
    ) -> BoxFut<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let provider = Self::provider(providers)?;
            let outputs: R::Outputs = decode("outputs", outputs)?;
            R::delete(&outputs, provider, cx).await
        })
    }
}

/// The resource kinds an environment can handle, by kind name.
#[derive(Clone, Default)]
pub struct Kinds {
    map: BTreeMap<&'static str, Arc<dyn ErasedKind>>,
}

impl Kinds {
    /// Registers the kind `R`.
    pub fn register<R: Resource>(&mut self) {
        self.map
            .entry(R::KIND)
            .or_insert_with(|| Arc::new(KindOf::<R>(PhantomData)));
    }

    pub(crate) fn get(&self, kind: &str) -> Option<&Arc<dyn ErasedKind>> {
        self.map.get(kind)
    }
}

/// The providers registered with an environment, by type.
#[derive(Clone, Default)]
pub struct Providers {
    map: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    concurrency: HashMap<&'static str, usize>,
}

impl Providers {
    pub(crate) fn insert<P: Provider>(&mut self, provider: P) {
        self.concurrency
            .insert(P::NAME, provider.concurrency().max(1));
        self.map.insert(TypeId::of::<P>(), Arc::new(provider));
    }

    /// The registered provider of type `P`.
    pub fn get<P: Provider>(&self) -> Option<&P> {
        self.map
            .get(&TypeId::of::<P>())
            .and_then(|p| p.downcast_ref::<P>())
    }

    pub(crate) fn has(&self, id: TypeId) -> bool {
        self.map.contains_key(&id)
    }

    pub(crate) fn concurrency(&self, name: &str) -> usize {
        self.concurrency.get(name).copied().unwrap_or(1)
    }
}
