//! The engine's type-erased view of resource kinds and providers. Type
//! erasure happens here, once: specs and outputs travel as JSON values and are
//! turned back into the typed ones right before a provider is called.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::address::Address;
use crate::error::{ErrorClass, Problem, ProviderError};
use crate::paths::FieldPath;
use crate::resource::{
    Claim, DataSource, Observed, OpCx, Provider, RefreshCx, Replacement, Resource, Tracked,
};
use crate::validate::ValidateCx;
use uuid::Uuid;

/// Resources of one kind, gathered for a kind-wide call.
pub(crate) type ByKind<'a> =
    std::collections::BTreeMap<&'a str, (Arc<dyn ErasedKind>, Vec<(Address, Value)>)>;

pub(crate) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A provider instance, type-erased.
pub(crate) type AnyProvider = Arc<dyn Any + Send + Sync>;

/// A resource read back from a provider, in stored form.
#[derive(Clone, Debug)]
pub(crate) struct FoundValue {
    pub claim: Claim,
    pub spec: Value,
    pub outputs: Value,
}

/// A resource the state tracks, in stored form, as handed to a refresh.
#[derive(Clone, Debug)]
pub(crate) struct TrackedValue {
    pub address: Address,
    pub outputs: Value,
    pub deposed: bool,
}

/// What a kind declares about its fields, parsed.
#[derive(Clone, Debug, Default)]
pub(crate) struct FieldRules {
    pub forces_replacement: Vec<FieldPath>,
    pub externally_owned: Vec<FieldPath>,
    pub write_only: Vec<FieldPath>,
    pub server_defaulted: Vec<FieldPath>,
    pub outputs_change_on_update: Vec<String>,
    /// Declared paths that do not parse, with the constant that holds them.
    pub malformed: Vec<(String, &'static str)>,
}

impl FieldRules {
    fn of(
        forces: &[&str],
        owned: &[&str],
        write_only: &[&str],
        defaulted: &[&str],
        changing: &[&str],
    ) -> Self {
        let mut rules = FieldRules {
            outputs_change_on_update: changing.iter().map(|s| (*s).to_string()).collect(),
            ..FieldRules::default()
        };
        let mut parse = |list: &[&str], what: &'static str| -> Vec<FieldPath> {
            list.iter()
                .filter_map(|p| match FieldPath::parse(p) {
                    Ok(fp) => Some(fp),
                    Err(_) => {
                        rules.malformed.push(((*p).to_string(), what));
                        None
                    }
                })
                .collect()
        };
        let f = parse(forces, "FORCES_REPLACEMENT");
        let o = parse(owned, "EXTERNALLY_OWNED");
        let w = parse(write_only, "WRITE_ONLY");
        let d = parse(defaulted, "SERVER_DEFAULTED");
        rules.forces_replacement = f;
        rules.externally_owned = o;
        rules.write_only = w;
        rules.server_defaulted = d;
        rules
    }

    /// Every declared path with the constant that declares it.
    pub fn all(&self) -> impl Iterator<Item = (&FieldPath, &'static str)> {
        self.forces_replacement
            .iter()
            .map(|p| (p, "FORCES_REPLACEMENT"))
            .chain(
                self.externally_owned
                    .iter()
                    .map(|p| (p, "EXTERNALLY_OWNED")),
            )
            .chain(self.write_only.iter().map(|p| (p, "WRITE_ONLY")))
            .chain(
                self.server_defaulted
                    .iter()
                    .map(|p| (p, "SERVER_DEFAULTED")),
            )
    }
}

/// One kind of resource (or data source) as the engine sees it. Methods
/// that call the provider take its instance, chosen by the engine.
pub(crate) trait ErasedKind: Send + Sync {
    fn kind(&self) -> &'static str;
    fn provider_name(&self) -> &'static str;
    fn provider_type(&self) -> TypeId;
    fn is_data(&self) -> bool {
        false
    }
    fn rules(&self) -> &FieldRules;
    fn replacement(&self) -> Replacement;
    fn held_by_dependents(&self) -> bool {
        true
    }
    fn wait_timeout(&self) -> Duration;
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
        provider: &'a AnyProvider,
        environment: &'a str,
        lineage: Option<Uuid>,
        tracked: Vec<TrackedValue>,
    ) -> BoxFut<'a, Result<Vec<FoundValue>, ProviderError>>;
    fn create<'a>(
        &'a self,
        provider: &'a AnyProvider,
        spec: Value,
        cx: &'a OpCx,
    ) -> BoxFut<'a, Result<Value, ProviderError>>;
    fn update<'a>(
        &'a self,
        provider: &'a AnyProvider,
        spec: Value,
        prior_spec: Value,
        prior_outputs: Value,
        changed: Vec<String>,
        cx: &'a OpCx,
    ) -> BoxFut<'a, Result<Value, ProviderError>>;
    fn resume<'a>(
        &'a self,
        provider: &'a AnyProvider,
        outputs: Value,
        cx: &'a OpCx,
    ) -> BoxFut<'a, Result<Value, ProviderError>>;
    fn delete<'a>(
        &'a self,
        provider: &'a AnyProvider,
        outputs: Value,
        cx: &'a OpCx,
    ) -> BoxFut<'a, Result<(), ProviderError>>;
    /// Reads a data source (data kinds only).
    fn read<'a>(
        &'a self,
        provider: &'a AnyProvider,
        spec: Value,
    ) -> BoxFut<'a, Result<Value, ProviderError>> {
        let _ = (provider, spec);
        Box::pin(async { Err(internal("this kind is not a data source")) })
    }
}

struct KindOf<R>(PhantomData<fn() -> R>, FieldRules);

struct DataKindOf<D>(PhantomData<fn() -> D>, FieldRules);

fn internal(msg: &str) -> ProviderError {
    ProviderError::new("madplan", ErrorClass::Fatal, msg)
}

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

fn downcast<P: Provider>(provider: &AnyProvider) -> Result<&P, ProviderError> {
    provider.downcast_ref::<P>().ok_or_else(|| {
        internal(&format!(
            "the provider given is not a {} provider",
            <P as Provider>::NAME
        ))
    })
}

fn validate_typed<T: DeserializeOwned>(
    address: &Address,
    spec: &Value,
    out: &mut Vec<Problem>,
    check: impl FnOnce(T, &mut Vec<Problem>),
) {
    match serde_json::from_value::<T>(spec.clone()) {
        Ok(typed) => {
            let mut found = Vec::new();
            check(typed, &mut found);
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
    fn rules(&self) -> &FieldRules {
        &self.1
    }
    fn replacement(&self) -> Replacement {
        R::REPLACEMENT
    }
    fn held_by_dependents(&self) -> bool {
        R::HELD_BY_DEPENDENTS
    }
    fn wait_timeout(&self) -> Duration {
        R::WAIT_TIMEOUT
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
        validate_typed::<R>(address, spec, out, |typed, found| typed.validate(cx, found));
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
        provider: &'a AnyProvider,
        environment: &'a str,
        lineage: Option<Uuid>,
        tracked: Vec<TrackedValue>,
    ) -> BoxFut<'a, Result<Vec<FoundValue>, ProviderError>> {
        Box::pin(async move {
            let provider = downcast::<R::Provider>(provider)?;
            let mut typed = Vec::with_capacity(tracked.len());
            for t in tracked {
                let outputs = decode(&format!("outputs of {}", t.address), t.outputs)?;
                typed.push(Tracked {
                    address: t.address,
                    outputs,
                    deposed: t.deposed,
                });
            }
            let cx = RefreshCx::<R> {
                environment: environment.to_string(),
                lineage,
                tracked: typed,
            };
            let found = R::refresh(provider, &cx).await?;
            found
                .into_iter()
                .map(|f| {
                    Ok(FoundValue {
                        spec: encode("spec", &f.observed.spec)?,
                        outputs: encode("outputs", &f.observed.outputs)?,
                        claim: f.claim,
                    })
                })
                .collect()
        })
    }
    fn create<'a>(
        &'a self,
        provider: &'a AnyProvider,
        spec: Value,
        cx: &'a OpCx,
    ) -> BoxFut<'a, Result<Value, ProviderError>> {
        Box::pin(async move {
            let provider = downcast::<R::Provider>(provider)?;
            let spec: R = decode("spec", spec)?;
            let outputs = spec.create(provider, cx).await?;
            encode("outputs", &outputs)
        })
    }
    fn update<'a>(
        &'a self,
        provider: &'a AnyProvider,
        spec: Value,
        prior_spec: Value,
        prior_outputs: Value,
        changed: Vec<String>,
        cx: &'a OpCx,
    ) -> BoxFut<'a, Result<Value, ProviderError>> {
        Box::pin(async move {
            let provider = downcast::<R::Provider>(provider)?;
            let spec: R = decode("spec", spec)?;
            let prior = Observed::<R> {
                spec: decode("prior spec", prior_spec)?,
                outputs: decode("prior outputs", prior_outputs)?,
            };
            let outputs = spec.update(&prior, &changed, provider, cx).await?;
            encode("outputs", &outputs)
        })
    }
    fn resume<'a>(
        &'a self,
        provider: &'a AnyProvider,
        outputs: Value,
        cx: &'a OpCx,
    ) -> BoxFut<'a, Result<Value, ProviderError>> {
        Box::pin(async move {
            let provider = downcast::<R::Provider>(provider)?;
            let outputs: R::Outputs = decode("outputs", outputs)?;
            let outputs = R::resume(&outputs, provider, cx).await?;
            encode("outputs", &outputs)
        })
    }
    fn delete<'a>(
        &'a self,
        provider: &'a AnyProvider,
        outputs: Value,
        cx: &'a OpCx,
    ) -> BoxFut<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let provider = downcast::<R::Provider>(provider)?;
            let outputs: R::Outputs = decode("outputs", outputs)?;
            R::delete(&outputs, provider, cx).await
        })
    }
}

impl<D: DataSource> ErasedKind for DataKindOf<D> {
    fn kind(&self) -> &'static str {
        D::KIND
    }
    fn provider_name(&self) -> &'static str {
        <D::Provider as Provider>::NAME
    }
    fn provider_type(&self) -> TypeId {
        TypeId::of::<D::Provider>()
    }
    fn is_data(&self) -> bool {
        true
    }
    fn rules(&self) -> &FieldRules {
        &self.1
    }
    fn replacement(&self) -> Replacement {
        Replacement::DestroyBeforeCreate
    }
    fn wait_timeout(&self) -> Duration {
        Duration::from_secs(60)
    }
    fn normalize(&self, address: &Address, spec: &Value) -> Result<Value, ProviderError> {
        let typed: D = decode(&format!("query of {address}"), spec.clone())?;
        encode("query", &typed)
    }
    fn validate(
        &self,
        address: &Address,
        spec: &Value,
        cx: &ValidateCx<'_>,
        out: &mut Vec<Problem>,
    ) {
        validate_typed::<D>(address, spec, out, |typed, found| typed.validate(cx, found));
    }
    fn validate_kind(&self, _: &[(Address, Value)], _: &ValidateCx<'_>, _: &mut Vec<Problem>) {}
    fn refresh<'a>(
        &'a self,
        _: &'a AnyProvider,
        _: &'a str,
        _: Option<Uuid>,
        _: Vec<TrackedValue>,
    ) -> BoxFut<'a, Result<Vec<FoundValue>, ProviderError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn create<'a>(
        &'a self,
        provider: &'a AnyProvider,
        spec: Value,
        _: &'a OpCx,
    ) -> BoxFut<'a, Result<Value, ProviderError>> {
        self.read(provider, spec)
    }
    fn update<'a>(
        &'a self,
        provider: &'a AnyProvider,
        spec: Value,
        _: Value,
        _: Value,
        _: Vec<String>,
        _: &'a OpCx,
    ) -> BoxFut<'a, Result<Value, ProviderError>> {
        self.read(provider, spec)
    }
    fn resume<'a>(
        &'a self,
        _: &'a AnyProvider,
        outputs: Value,
        _: &'a OpCx,
    ) -> BoxFut<'a, Result<Value, ProviderError>> {
        Box::pin(async move { Ok(outputs) })
    }
    fn delete<'a>(
        &'a self,
        _: &'a AnyProvider,
        _: Value,
        _: &'a OpCx,
    ) -> BoxFut<'a, Result<(), ProviderError>> {
        Box::pin(async { Ok(()) })
    }
    fn read<'a>(
        &'a self,
        provider: &'a AnyProvider,
        spec: Value,
    ) -> BoxFut<'a, Result<Value, ProviderError>> {
        Box::pin(async move {
            let provider = downcast::<D::Provider>(provider)?;
            let query: D = decode("query", spec)?;
            let outputs = query.read(provider).await?;
            encode("outputs", &outputs)
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
        self.map.entry(R::KIND).or_insert_with(|| {
            Arc::new(KindOf::<R>(
                PhantomData,
                FieldRules::of(
                    R::FORCES_REPLACEMENT,
                    R::EXTERNALLY_OWNED,
                    R::WRITE_ONLY,
                    R::SERVER_DEFAULTED,
                    R::OUTPUTS_CHANGE_ON_UPDATE,
                ),
            ))
        });
    }

    /// Registers the data source kind `D`.
    pub fn register_data<D: DataSource>(&mut self) {
        self.map
            .entry(D::KIND)
            .or_insert_with(|| Arc::new(DataKindOf::<D>(PhantomData, FieldRules::default())));
    }

    pub(crate) fn get(&self, kind: &str) -> Option<&Arc<dyn ErasedKind>> {
        self.map.get(kind)
    }
}

/// The providers registered with an environment: by type, and within a
/// type by instance name (`None` for the default instance).
#[derive(Clone, Default)]
pub struct Providers {
    map: HashMap<(TypeId, Option<String>), (AnyProvider, &'static str, usize)>,
}

impl Providers {
    pub(crate) fn insert<P: Provider>(&mut self, instance: Option<String>, provider: P) {
        let budget = provider.concurrency().max(1);
        self.map.insert(
            (TypeId::of::<P>(), instance),
            (Arc::new(provider), P::NAME, budget),
        );
    }

    /// The registered default provider of type `P`.
    pub fn get<P: Provider>(&self) -> Option<&P> {
        self.instance::<P>(None)
    }

    /// The registered provider of type `P` named `instance` (`None`: the
    /// default one).
    pub fn instance<P: Provider>(&self, instance: Option<&str>) -> Option<&P> {
        self.map
            .get(&(TypeId::of::<P>(), instance.map(str::to_string)))
            .and_then(|(p, _, _)| p.downcast_ref::<P>())
    }

    pub(crate) fn erased(&self, id: TypeId, instance: Option<&str>) -> Option<&AnyProvider> {
        self.map
            .get(&(id, instance.map(str::to_string)))
            .map(|(p, _, _)| p)
    }

    pub(crate) fn has(&self, id: TypeId, instance: Option<&str>) -> bool {
        self.erased(id, instance).is_some()
    }

    /// The concurrency budget of one provider instance.
    pub(crate) fn concurrency(&self, id: TypeId, instance: Option<&str>) -> usize {
        self.map
            .get(&(id, instance.map(str::to_string)))
            .map_or(1, |(_, _, b)| *b)
    }

    /// A name for a provider instance in messages and budget keys:
    /// `aws`, or `aws[us-west-2]`.
    pub(crate) fn label(name: &str, instance: Option<&str>) -> String {
        match instance {
            Some(i) => format!("{name}[{i}]"),
            None => name.to_string(),
        }
    }
}
