//! [`Environment`]: the desired resources of one environment, their typed
//! references, and validation.

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
use crate::registry::{ErasedKind, Kinds, Providers};
use crate::resource::{Provider, Resource};
use crate::secret::Secret;
use crate::validate::ValidateCx;

static NEXT_ENV_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) struct Node {
    pub address: Address,
    pub kind: Arc<dyn ErasedKind>,
    /// `None` while only reserved.
    pub spec: Option<Value>,
    pub protected: bool,
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
        }
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

    /// Registers a provider and all of its resource kinds.
    pub fn add_provider<P: Provider>(&mut self, provider: P) {
        P::register(&mut self.kinds);
        self.providers.insert(provider);
    }

    /// The registered provider of type `P`.
    pub fn provider<P: Provider>(&self) -> Option<&P> {
        self.providers.get::<P>()
    }

    /// Adds a resource named `name` and returns its typed handle.
    pub fn add<R: Resource>(&mut self, name: &str, spec: R) -> Ref<R> {
        let taken = self.index.contains_key(&Address::new(R::KIND, name));
        let r = self.reserve::<R>(name);
        // A duplicate is reported by reserve; the first spec stays.
        if !taken {
            self.define(&r, spec);
        }
        r
    }

    /// Declares a resource before its spec is known, so that two resources
    /// can be written that refer to each other's handles. Give its spec with
    /// [`Environment::define`]; validation reports one that never gets one.
    pub fn reserve<R: Resource>(&mut self, name: &str) -> Ref<R> {
        self.kinds.register::<R>();
        let address = Address::new(R::KIND, name);
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
                .get(R::KIND)
                .cloned()
                .expect("kind was registered above");
            self.index.insert(address.clone(), self.nodes.len());
            self.nodes.push(Node {
                address: address.clone(),
                kind,
                spec: None,
                protected: false,
            });
        }
        Ref::new(address, self.id)
    }

    /// Gives the spec of a reserved resource.
    pub fn define<R: Resource>(&mut self, handle: &Ref<R>, spec: R) {
        let Some(&i) = self
            .index
            .get(handle.address())
            .filter(|_| handle.env_id() == self.id)
        else {
            self.early_problems.push(Problem {
                address: Some(handle.address().clone()),
                field: None,
                message: "this handle belongs to another environment".into(),
                hint: None,
            });
            return;
        };
        match serde_json::to_value(&spec) {
            Ok(v) => self.nodes[i].spec = Some(v),
            Err(e) => self.early_problems.push(Problem {
                address: Some(handle.address().clone()),
                field: None,
                message: format!("the spec cannot be serialized: {e}"),
                hint: None,
            }),
        }
    }

    /// Protects a resource (the production database): the engine refuses to
    /// delete or replace it unless the operator explicitly allows it.
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
            if !self.providers.has(n.kind.provider_type()) {
                missing_providers.insert(n.kind.provider_name());
            }
        }
        for p in missing_providers {
            problems.push(Problem {
                address: None,
                field: None,
                message: format!("resources use the {p} provider, which is not registered"),
                hint: Some("add it with Environment::with_provider".into()),
            });
        }
        let specs: HashMap<Address, Value> = self
            .nodes
            .iter()
            .filter_map(|n| n.spec.clone().map(|s| (n.address.clone(), s)))
            .collect();
        let cx = ValidateCx {
            environment: &self.name,
            specs: &specs,
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
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(Problems(problems)))
        }
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
