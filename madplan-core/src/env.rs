//! [`Environment`]: the desired resources of one environment, their typed
//! references, and validation.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;

use crate::address::Address;
use crate::error::{Error, Problem, Problems, Result};
use crate::graph::Graph;
use crate::input::{IntoInput, OutputRef, Ref, marker};
use crate::policy::{Policy, PolicyCx, Waiver};
use crate::registry::{ErasedKind, Kinds, Providers};
use crate::resource::{DataSource, Provider, Resource};
use crate::secret::Secret;
use crate::validate::ValidateCx;

static NEXT_ENV_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) struct Node {
    pub address: Address,
    pub kind: Arc<dyn ErasedKind>,
    /// `None` while only reserved.
    pub spec: Option<Value>,
    pub protected: bool,
    /// The provider instance it is managed through (`None`: the default).
    pub provider: Option<String>,
}

/// A typed handle to one instance of a provider registered with
/// [`Environment::add_provider_instance`] (a second AWS region or account,
/// an Atlas organisation): resources added with [`Environment::add_on`]
/// are managed through it.
pub struct ProviderRef<P> {
    instance: String,
    env_id: u64,
    _provider: std::marker::PhantomData<fn() -> P>,
}

impl<P> Clone for ProviderRef<P> {
    fn clone(&self) -> Self {
        Self {
            instance: self.instance.clone(),
            env_id: self.env_id,
            _provider: std::marker::PhantomData,
        }
    }
}

impl<P> std::fmt::Debug for ProviderRef<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProviderRef({})", self.instance)
    }
}

impl<P> ProviderRef<P> {
    /// The instance's name.
    pub fn name(&self) -> &str {
        &self.instance
    }
}

/// The desired state of one environment (`production`, `staging`...): its
/// resources, the providers that manage them, and the values it exports.
pub struct Environment {
    name: String,
    id: u64,
    pub(crate) nodes: Vec<Node>,
    index: HashMap<Address, usize>,
    early_problems: Vec<Problem>,
    pub(crate) kinds: Kinds,
    pub(crate) providers: Providers,
    pub(crate) exports: BTreeMap<String, Value>,
    pub(crate) secrets: Arc<BTreeMap<String, SecretString>>,
    policies: Vec<Arc<dyn Policy>>,
    waivers: Vec<Waiver>,
    /// What the environment demands of its resources, one value per type.
    requirements: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
    approval: Option<crate::audit::ApprovalPolicy>,
    /// Tags every taggable resource added from now on carries.
    default_tags: BTreeMap<String, String>,
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment")
            .field("name", &self.name)
            .field("resources", &self.nodes.len())
            .finish()
    }
}

impl Environment {
    /// An empty environment called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        let mut early_problems = Vec::new();
        if let Some(why) = Address::check_name(&name) {
            early_problems.push(Problem {
                address: None,
                field: Some("environment".into()),
                message: why,
                hint: None,
            });
        }
        Self {
            name,
            id: NEXT_ENV_ID.fetch_add(1, Ordering::Relaxed),
            nodes: Vec::new(),
            index: HashMap::new(),
            early_problems,
            kinds: Kinds::default(),
            providers: Providers::default(),
            exports: BTreeMap::new(),
            secrets: Arc::new(BTreeMap::new()),
            policies: Vec::new(),
            waivers: Vec::new(),
            requirements: HashMap::new(),
            approval: None,
            default_tags: BTreeMap::new(),
        }
    }

    /// Requires an approved saved plan for every apply and destroy (`plan
    /// --out`, then `approve`, then `apply FILE`), approved by someone other
    /// than its author under [`ApprovalPolicy::four_eyes`]. An emergency
    /// apply without approval needs an explicit reason, kept in the audit
    /// trail.
    ///
    /// [`ApprovalPolicy::four_eyes`]: crate::audit::ApprovalPolicy::four_eyes
    pub fn require_approval(&mut self, policy: crate::audit::ApprovalPolicy) {
        self.approval = Some(policy);
    }

    /// The approval this environment requires, if any.
    pub fn approval_policy(&self) -> Option<crate::audit::ApprovalPolicy> {
        self.approval
    }

    /// The environment's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Registers a provider and all of its resource kinds.
    #[must_use]
    pub fn with_provider<P: Provider>(mut self, provider: P) -> Self {
        self.add_provider(provider);
        self
    }

    /// Registers a provider as the default instance of its type, and all
    /// of its resource kinds.
    pub fn add_provider<P: Provider>(&mut self, provider: P) {
        P::register(&mut self.kinds);
        self.providers.insert(None, provider);
    }

    /// Registers another instance of a provider under `name` (a second
    /// region or account) and returns the handle that
    /// [`Environment::add_on`] takes. Each instance has its own concurrency
    /// budget.
    pub fn add_provider_instance<P: Provider>(
        &mut self,
        name: &str,
        provider: P,
    ) -> ProviderRef<P> {
        if let Some(why) = Address::check_name(name) {
            self.early_problems.push(Problem {
                address: None,
                field: Some(format!("provider instance {name:?}")),
                message: why,
                hint: None,
            });
        }
        P::register(&mut self.kinds);
        self.providers.insert(Some(name.to_string()), provider);
        ProviderRef {
            instance: name.to_string(),
            env_id: self.id,
            _provider: std::marker::PhantomData,
        }
    }

    /// The registered default provider of type `P`.
    pub fn provider<P: Provider>(&self) -> Option<&P> {
        self.providers.get::<P>()
    }

    /// Tags every taggable resource added after this call carries, in every
    /// provider, beside its own (like the AWS provider's `default_tags`):
    /// `Environment`, `Project`, `ManagedBy`... A resource's own tag of the
    /// same key wins; each kind decides how a tag is written (AWS and Atlas
    /// keep `Key = value`, Datadog writes `key:value`), see
    /// [`Resource::take_default_tags`]. Calling it again adds to (or
    /// overrides) the tags set before. Keys under `madplan:` are madplan's
    /// own and refused.
    pub fn default_tags<K: Into<String>, V: Into<String>>(
        &mut self,
        tags: impl IntoIterator<Item = (K, V)>,
    ) -> &mut Self {
        for (k, v) in tags {
            let (k, v) = (k.into(), v.into());
            if k.starts_with("madplan:") || k.trim().is_empty() {
                self.early_problems.push(Problem {
                    address: None,
                    field: Some(format!("default_tags.{k}")),
                    message: "this key is empty or under `madplan:`, which madplan keeps for its own tags".into(),
                    hint: Some("choose another key".into()),
                });
                continue;
            }
            self.default_tags.insert(k, v);
        }
        self
    }

    /// The default tags set so far (see [`Environment::default_tags`]).
    pub fn default_tag_values(&self) -> &BTreeMap<String, String> {
        &self.default_tags
    }

    /// Adds a resource named `name` and returns its typed handle.
    pub fn add<R: Resource>(&mut self, name: &str, spec: R) -> Ref<R> {
        self.add_node::<R>(name, None, spec)
    }

    /// Adds a resource managed through the provider instance `on`.
    pub fn add_on<R: Resource>(
        &mut self,
        on: &ProviderRef<R::Provider>,
        name: &str,
        spec: R,
    ) -> Ref<R> {
        let instance = self.instance_of(on);
        self.add_node::<R>(name, instance, spec)
    }

    /// Adds a data source named `name`: a lookup read at plan time whose
    /// outputs feed references like a resource's (a zone found by name, an
    /// AMI id). Its query can only use literal values and other data
    /// sources' outputs.
    pub fn read<D: DataSource>(&mut self, name: &str, query: D) -> Ref<D> {
        self.add_data::<D>(name, None, query)
    }

    /// Adds a data source read through the provider instance `on`.
    pub fn read_on<D: DataSource>(
        &mut self,
        on: &ProviderRef<D::Provider>,
        name: &str,
        query: D,
    ) -> Ref<D> {
        let instance = self.instance_of(on);
        self.add_data::<D>(name, instance, query)
    }

    fn instance_of<P>(&mut self, on: &ProviderRef<P>) -> Option<String> {
        if on.env_id != self.id {
            self.early_problems.push(Problem {
                address: None,
                field: Some(format!("provider instance {:?}", on.instance)),
                message: "this provider handle belongs to another environment".into(),
                hint: Some("register the provider instance with this environment".into()),
            });
        }
        Some(on.instance.clone())
    }

    fn add_node<R: Resource>(
        &mut self,
        name: &str,
        instance: Option<String>,
        mut spec: R,
    ) -> Ref<R> {
        if !self.default_tags.is_empty() {
            spec.take_default_tags(&self.default_tags);
        }
        self.kinds.register::<R>();
        let taken = self.index.contains_key(&Address::new(R::KIND, name));
        let r = self.reserve_node::<R>(R::KIND, name, instance);
        // A duplicate is reported by reserve; the first spec stays.
        if !taken {
            self.define(&r, spec);
        }
        r
    }

    fn add_data<D: DataSource>(
        &mut self,
        name: &str,
        instance: Option<String>,
        query: D,
    ) -> Ref<D> {
        self.kinds.register_data::<D>();
        let taken = self.index.contains_key(&Address::new(D::KIND, name));
        let r = self.reserve_node::<D>(D::KIND, name, instance);
        if !taken {
            self.set_spec(r.address(), r.env_id(), &query);
        }
        r
    }

    /// Declares a resource before its spec is known, so that two resources
    /// can be written that refer to each other's handles. Give its spec with
    /// [`Environment::define`]; validation reports one that never gets one.
    pub fn reserve<R: Resource>(&mut self, name: &str) -> Ref<R> {
        self.kinds.register::<R>();
        self.reserve_node::<R>(R::KIND, name, None)
    }

    fn reserve_node<R>(
        &mut self,
        kind: &'static str,
        name: &str,
        instance: Option<String>,
    ) -> Ref<R> {
        let address = Address::new(kind, name);
        if let Some(why) = Address::check_name(name) {
            self.early_problems.push(Problem {
                address: Some(address.clone()),
                field: None,
                message: why,
                hint: None,
            });
        }
        if self.index.contains_key(&address) {
            self.early_problems.push(Problem {
                address: Some(address.clone()),
                field: None,
                message: "this address is declared twice".into(),
                hint: Some("give each resource of a kind its own name".into()),
            });
        } else {
            let kind = self
                .kinds
                .get(kind)
                .cloned()
                .expect("kind was registered before");
            self.index.insert(address.clone(), self.nodes.len());
            self.nodes.push(Node {
                address: address.clone(),
                kind,
                spec: None,
                protected: false,
                provider: instance,
            });
        }
        Ref::new(address, self.id)
    }

    /// Gives the spec of a reserved resource.
    pub fn define<R: Resource>(&mut self, handle: &Ref<R>, spec: R) {
        self.set_spec(handle.address(), handle.env_id(), &spec);
    }

    fn set_spec<T: Serialize>(&mut self, address: &Address, env_id: u64, spec: &T) {
        let Some(&i) = self.index.get(address).filter(|_| env_id == self.id) else {
            self.early_problems.push(Problem {
                address: Some(address.clone()),
                field: None,
                message: "this handle belongs to another environment".into(),
                hint: None,
            });
            return;
        };
        match serde_json::to_value(spec) {
            Ok(v) => self.nodes[i].spec = Some(v),
            Err(e) => self.early_problems.push(Problem {
                address: Some(address.clone()),
                field: None,
                message: format!("the spec cannot be serialized: {e}"),
                hint: None,
            }),
        }
    }

    /// Protects a resource (the production database): the engine refuses to
    /// delete or replace it unless the operator explicitly allows it.
    /// Protection follows the code: a resource whose `protect` call is
    /// removed is no longer protected.
    pub fn protect<R: Resource>(&mut self, handle: &Ref<R>) {
        if let Some(&i) = self.index.get(handle.address()) {
            self.nodes[i].protected = true;
        }
    }

    /// Gives the environment a secret, under `name`, and returns the
    /// reference to put in specs. `version` is the operator's label for this
    /// value (a date, a counter): change it when the value changes, so that
    /// the plan updates what uses it.
    pub fn secret(&mut self, name: &str, version: &str, value: SecretString) -> Secret {
        Arc::make_mut(&mut self.secrets).insert(name.to_string(), value);
        Secret::new(name, version)
    }

    /// Adds a policy: a rule over the whole environment, checked with
    /// validation before any API call.
    pub fn add_policy(&mut self, policy: impl Policy + 'static) {
        self.policies.push(Arc::new(policy));
    }

    /// Waives the policy `name`, explicitly: it is still checked, and what
    /// it finds is logged as a warning and listed by
    /// [`Environment::waived_findings`], but it does not stop a plan.
    /// `reason` says why and who decided; it is logged with every finding.
    pub fn waive(&mut self, name: &str, reason: &str) {
        if !self.policies.iter().any(|p| p.name() == name) {
            self.early_problems.push(Problem {
                address: None,
                field: Some(format!("waiver {name:?}")),
                message: "there is no policy of that name to waive".into(),
                hint: Some(format!(
                    "the policies are: {}",
                    self.policies
                        .iter()
                        .map(|p| p.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            });
            return;
        }
        self.waivers.push(Waiver {
            policy: name.to_string(),
            reason: reason.to_string(),
        });
    }

    /// The policies and what each found (waived ones included), with the
    /// waiver that applies, if any.
    pub fn policy_findings(&self) -> Vec<(String, Option<Waiver>, Vec<Problem>)> {
        let specs = self.spec_map();
        let protected = |a: &Address| self.node(a).is_some_and(|n| n.protected);
        let cx = PolicyCx {
            environment: &self.name,
            specs: &specs,
            protected: &protected,
        };
        self.policies
            .iter()
            .map(|p| {
                let waiver = self.waivers.iter().find(|w| w.policy == p.name()).cloned();
                let found = p
                    .check(&cx)
                    .into_iter()
                    .map(|mut pr| {
                        pr.message = format!("policy {}: {}", p.name(), pr.message);
                        pr
                    })
                    .collect();
                (p.name().to_string(), waiver, found)
            })
            .collect()
    }

    /// What waived policies found, with their waivers.
    pub fn waived_findings(&self) -> Vec<(Waiver, Problem)> {
        self.policy_findings()
            .into_iter()
            .filter_map(|(_, w, found)| w.map(|w| (w, found)))
            .flat_map(|(w, found)| found.into_iter().map(move |p| (w.clone(), p)))
            .collect()
    }

    fn spec_map(&self) -> HashMap<Address, Value> {
        self.nodes
            .iter()
            .filter_map(|n| n.spec.clone().map(|s| (n.address.clone(), s)))
            .collect()
    }

    /// Sets what this environment demands of its resources: a typed value
    /// (one per type; a second call replaces the first) that resources read
    /// while they are validated, through [`ValidateCx::requirement`], to
    /// refuse what the environment does not allow (a TLS floor, "instance
    /// metadata must require tokens"). Provider crates define the types.
    /// (Rules over several resources are [`Policy`]s instead.)
    pub fn require<T: Any + Send + Sync>(&mut self, requirement: T) {
        self.requirements
            .insert(TypeId::of::<T>(), Box::new(requirement));
    }

    /// The requirement of type `T` set with [`Environment::require`].
    pub fn requirement<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.requirements
            .get(&TypeId::of::<T>())
            .and_then(|p| p.downcast_ref::<T>())
    }

    /// Exports a value under `name`, shown by the `output` command once
    /// known (e.g. a load balancer's DNS name):
    /// `env.export::<VpcId>("vpc_id", &vpc)`.
    pub fn export<T: Serialize>(&mut self, name: &str, value: impl IntoInput<T>) {
        let v = serde_json::to_value(value.into_input()).unwrap_or(Value::Null);
        self.exports.insert(name.to_string(), v);
    }

    /// The addresses of all resources, in the order they were added.
    pub fn addresses(&self) -> impl Iterator<Item = &Address> {
        self.nodes.iter().map(|n| &n.address)
    }

    pub(crate) fn node(&self, address: &Address) -> Option<&Node> {
        self.index.get(address).map(|&i| &self.nodes[i])
    }

    /// What each resource depends on, by index, and its references.
    pub(crate) fn dependency_graph(&self) -> (Graph, Vec<Problem>) {
        let mut g = Graph::new(self.nodes.len());
        let mut problems = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let Some(spec) = &n.spec else { continue };
            for r in references(spec) {
                match self.index.get(&r.address) {
                    Some(&j) if j == i => problems.push(Problem {
                        address: Some(n.address.clone()),
                        field: None,
                        message: "the resource refers to its own output".into(),
                        hint: None,
                    }),
                    Some(&j) => g.depend(i, j),
                    None => problems.push(Problem {
                        address: Some(n.address.clone()),
                        field: None,
                        message: format!("refers to {r}, which is not in this environment"),
                        hint: Some("add that resource to the same environment".into()),
                    }),
                }
            }
        }
        (g, problems)
    }

    /// Checks every resource and every rule between resources, without any
    /// API call, and reports all problems at once.
    pub fn validate(&self) -> Result<()> {
        let mut problems = self.early_problems.clone();
        for n in &self.nodes {
            if n.spec.is_none() {
                problems.push(Problem {
                    address: Some(n.address.clone()),
                    field: None,
                    message: "reserved but never defined".into(),
                    hint: Some("call Environment::define with its spec".into()),
                });
            }
        }
        let (g, ref_problems) = self.dependency_graph();
        problems.extend(ref_problems);
        if let Err(cycle) = g.topo_order() {
            let mut names: Vec<String> = cycle
                .iter()
                .map(|&i| self.nodes[i].address.to_string())
                .collect();
            names.push(names[0].clone());
            problems.push(Problem {
                address: Some(self.nodes[cycle[0]].address.clone()),
                field: None,
                message: format!("reference cycle: {}", names.join(" -> ")),
                hint: Some(
                    "a resource cannot need an output of something that needs its own; \
                     split one of them (for example move a rule into its own resource)"
                        .into(),
                ),
            });
        }
        for n in &self.nodes {
            let mut used = Vec::new();
            if let Some(spec) = &n.spec {
                crate::secret::names(spec, &mut used);
            }
            for name in used {
                if !self.secrets.contains_key(&name) {
                    problems.push(Problem {
                        address: Some(n.address.clone()),
                        field: None,
                        message: format!(
                            "uses the secret {name:?}, which the environment was not given"
                        ),
                        hint: Some("give it with Environment::secret".into()),
                    });
                }
            }
        }
        let mut missing_providers = BTreeSet::new();
        for n in &self.nodes {
            if !self
                .providers
                .has(n.kind.provider_type(), n.provider.as_deref())
            {
                missing_providers.insert((n.kind.provider_name(), n.provider.clone()));
            }
        }
        for (p, instance) in missing_providers {
            problems.push(Problem {
                address: None,
                field: None,
                message: match &instance {
                    None => format!("resources use the {p} provider, which is not registered"),
                    Some(i) => format!(
                        "resources use the {p} provider instance {i:?}, which is not registered"
                    ),
                },
                hint: Some(match instance {
                    None => "add it with Environment::with_provider".into(),
                    Some(_) => "add it with Environment::add_provider_instance".into(),
                }),
            });
        }
        problems.extend(self.data_input_problems());
        problems.extend(self.field_rule_problems());
        let specs = self.spec_map();
        let cx = ValidateCx {
            environment: &self.name,
            specs: &specs,
            requirements: &self.requirements,
        };
        let mut by_kind = crate::registry::ByKind::new();
        for n in &self.nodes {
            let Some(spec) = &n.spec else { continue };
            n.kind.validate(&n.address, spec, &cx, &mut problems);
            by_kind
                .entry(n.kind.kind())
                .or_insert_with(|| (n.kind.clone(), Vec::new()))
                .1
                .push((n.address.clone(), spec.clone()));
        }
        for (kind, all) in by_kind.values() {
            kind.validate_kind(all, &cx, &mut problems);
        }
        for (name, waiver, found) in self.policy_findings() {
            match waiver {
                Some(w) => {
                    for p in &found {
                        tracing::warn!(policy = %name, reason = %w.reason, finding = %p, "waived policy");
                    }
                }
                None => problems.extend(found),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(Problems(problems)))
        }
    }

    /// A data source is read before anything is applied, so its query can
    /// only use other data sources' outputs.
    fn data_input_problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        for n in self.nodes.iter().filter(|n| n.kind.is_data()) {
            let Some(spec) = &n.spec else { continue };
            for r in references(spec) {
                if self.node(&r.address).is_some_and(|d| !d.kind.is_data()) {
                    problems.push(Problem {
                        address: Some(n.address.clone()),
                        field: None,
                        message: format!(
                            "a data source is read at plan time, but its query uses {r}, \
                             an output of a managed resource known only after apply"
                        ),
                        hint: Some(
                            "give the value directly, or read it with another data source".into(),
                        ),
                    });
                }
            }
        }
        problems
    }

    /// Field paths a kind declares (owned, write-only, ...) that are
    /// malformed or name a field its spec does not have.
    fn field_rule_problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut seen = BTreeSet::new();
        for n in &self.nodes {
            let Some(spec) = &n.spec else { continue };
            let rules = n.kind.rules();
            for (path, constant) in &rules.malformed {
                if seen.insert((n.kind.kind(), path.clone())) {
                    problems.push(kind_problem(n, constant, path, "is not a field path"));
                }
            }
            for (path, constant) in rules.all() {
                if !path.fits(spec) && seen.insert((n.kind.kind(), path.as_str().to_string())) {
                    problems.push(kind_problem(
                        n,
                        constant,
                        path.as_str(),
                        "names a field its spec does not have",
                    ));
                }
            }
        }
        problems
    }

    /// The dependency graph in Graphviz DOT.
    pub fn to_dot(&self) -> String {
        let (g, _) = self.dependency_graph();
        let mut out = format!("digraph \"{}\" {{\n  rankdir = \"RL\";\n", self.name);
        for n in &self.nodes {
            out.push_str(&format!("  \"{}\";\n", n.address));
        }
        for (i, n) in self.nodes.iter().enumerate() {
            for &d in g.deps(i) {
                out.push_str(&format!(
                    "  \"{}\" -> \"{}\";\n",
                    n.address, self.nodes[d].address
                ));
            }
        }
        out.push_str("}\n");
        out
    }
}

fn kind_problem(n: &Node, constant: &str, path: &str, what: &str) -> Problem {
    Problem {
        address: Some(n.address.clone()),
        field: Some(path.to_string()),
        message: format!(
            "the kind {} declares {constant} `{path}`, which {what}",
            n.kind.kind()
        ),
        hint: Some(format!("fix the path in {}'s {constant}", n.kind.kind())),
    }
}

/// Every reference to another resource's output inside a stored spec.
pub(crate) fn references(v: &Value) -> BTreeSet<OutputRef> {
    let mut out = BTreeSet::new();
    collect_refs(v, &mut out);
    out
}

fn collect_refs(v: &Value, out: &mut BTreeSet<OutputRef>) {
    if let Some(r) = marker(v) {
        out.insert(r);
        return;
    }
    match v {
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// Replaces every reference whose output is known by its value. Unknown
/// references are left in place.
pub(crate) fn resolve(v: &Value, known: &dyn Fn(&Address) -> Option<Value>) -> Value {
    if let Some(r) = marker(v) {
        return known(&r.address)
            .and_then(|outs| outs.get(&r.output).cloned())
            .unwrap_or_else(|| v.clone());
    }
    match v {
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve(x, known)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), resolve(x, known)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether a stored value still holds an unresolved reference.
pub(crate) fn has_unknown(v: &Value) -> bool {
    !references(v).is_empty()
}
