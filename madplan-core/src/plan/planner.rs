//! The planner: every resource classified from the configuration, the state
//! and what a refresh found.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::diff::field_changes;
use super::{Action, ForeignObject, PLAN_FORMAT_VERSION, Plan, ResourceChange};
use crate::address::Address;
use crate::env::{Environment, has_unknown, references, resolve};
use crate::error::{Error, Result};
use crate::resource::Replacement;
use crate::state::State;

/// A live object that is this state's.
#[derive(Clone, Debug)]
pub(crate) struct LiveObject {
    pub spec: Value,
    pub outputs: Value,
    /// Found by tags of this state's lineage, not tracked in state.
    pub adopted: bool,
}

/// What a refresh found, sorted by ownership.
#[derive(Clone, Debug, Default)]
pub(crate) struct Live {
    /// The current object of each address.
    pub current: HashMap<Address, LiveObject>,
    /// Outputs of deposed objects that still exist.
    pub deposed: Vec<(Address, Value)>,
    /// Objects tagged with this environment that another state made.
    pub foreign: Vec<ForeignObject>,
    /// What each data source read.
    pub data: HashMap<Address, Value>,
}

/// Computes the plan.
pub(crate) fn make_plan(
    env: &Environment,
    state: Option<&State>,
    live: &Live,
    destroy: bool,
) -> Result<Plan> {
    let (graph, _) = env.dependency_graph();
    let order = graph
        .topo_order()
        .map_err(|_| Error::Invalid(crate::error::Problems(vec![])))?;
    let entries = state.map(|s| &s.resources);
    let mut changes = Vec::new();
    // Outputs that stay as they are through this apply.
    let mut known: HashMap<Address, Value> = HashMap::new();
    // Addresses destroyed before they are created again: what still uses
    // them must let go first, so it is replaced too.
    let mut destroyed_first: BTreeSet<Address> = BTreeSet::new();

    if !destroy {
        for i in order {
            let node = &env.nodes[i];
            let Some(spec) = &node.spec else { continue };
            let kind = &node.kind;
            if kind.is_data() {
                let outputs = live.data.get(&node.address).cloned().ok_or_else(|| {
                    Error::encoding(&node.address, "the data source was not read")
                })?;
                let mut c = ResourceChange::new(node.address.clone(), kind.kind(), Action::Read);
                c.after = Some(resolve(spec, &|a| known.get(a).cloned()));
                c.prior_outputs = Some(outputs.clone());
                c.provider = node.provider.clone();
                known.insert(node.address.clone(), outputs);
                changes.push(c);
                continue;
            }
            let desired = resolve(spec, &|a| known.get(a).cloned());
            let desired = kind
                .normalize(&node.address, &desired)
                .map_err(|e| Error::encoding(&node.address, e))?;
            let depends_on: Vec<Address> = references(spec)
                .into_iter()
                .map(|r| r.address)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let entry = entries.and_then(|e| e.get(&node.address));
            let mut change = ResourceChange::new(node.address.clone(), kind.kind(), Action::NoOp);
            change.after = Some(desired.clone());
            change.prior_depends_on = entry.map(|e| e.depends_on.clone()).unwrap_or_default();
            change.protected = node.protected;
            change.provider = node.provider.clone();
            change.last_applied = entry.and_then(|e| e.spec.clone());
            let held_by_dependency = change
                .prior_depends_on
                .iter()
                .find(|a| {
                    destroyed_first.contains(*a)
                        && depends_on.contains(a)
                        && env.node(a).is_some_and(|n| n.kind.held_by_dependents())
                })
                .cloned();
            change.depends_on = depends_on;
            match live.current.get(&node.address) {
                None => {
                    change.action = Action::Create;
                    change.reason = entry.map(|e| {
                        if e.pending {
                            "its create did not finish and it no longer exists".into()
                        } else {
                            "it was deleted outside madplan".into()
                        }
                    });
                }
                Some(obj) => {
                    if obj.adopted {
                        change.adopt = true;
                        change.reason = Some(
                            "found by this state's tags (made by a run that did not record it); \
                             it will be adopted into state"
                                .into(),
                        );
                    }
                    let cmp = field_changes(
                        kind.rules(),
                        &obj.spec,
                        &desired,
                        change.last_applied.as_ref(),
                    );
                    change.before = Some(cmp.before);
                    change.prior_outputs = Some(obj.outputs.clone());
                    let forced = cmp.fields.iter().any(|f| f.forces_replacement);
                    if forced || held_by_dependency.is_some() {
                        change.action = Action::Replace;
                        let order = match &held_by_dependency {
                            Some(dep) => {
                                change.reason = Some(format!(
                                    "it uses {dep}, which is destroyed before it is created again, \
                                     so it must let go of it first"
                                ));
                                Replacement::DestroyBeforeCreate
                            }
                            None => kind.replacement(),
                        };
                        change.replacement = Some(order);
                        if order == Replacement::DestroyBeforeCreate {
                            destroyed_first.insert(node.address.clone());
                        }
                    } else {
                        change.after = Some(cmp.after);
                        let mut outputs = obj.outputs.clone();
                        if !cmp.fields.is_empty() {
                            change.action = Action::Update;
                            if let Value::Object(o) = &mut outputs {
                                for name in &kind.rules().outputs_change_on_update {
                                    o.remove(name);
                                }
                            }
                        }
                        known.insert(node.address.clone(), outputs);
                    }
                    change.fields = cmp.fields;
                    if entry.is_some_and(|e| e.pending) {
                        change.resume = true;
                        if change.action == Action::NoOp {
                            change.action = Action::Update;
                        }
                        change.reason = Some(
                            "its create did not finish (interrupted, timed out or killed); \
                             apply waits for it and completes it"
                                .into(),
                        );
                    }
                }
            }
            if change.action == Action::NoOp && has_unknown(&desired) {
                // Cannot happen: unknown values only come from resources
                // being created or replaced, which makes this one differ.
                change.action = Action::Update;
            }
            changes.push(change);
        }
    }

    // Everything live or in state that the configuration does not declare
    // (or all of it, for destroy) is deleted, dependents first. Data sources
    // are only dropped from state.
    let mut doomed: BTreeMap<Address, ResourceChange> = BTreeMap::new();
    let declared = |a: &Address| !destroy && env.node(a).is_some_and(|n| n.spec.is_some());
    let is_data = |kind: &str| env.kinds.get(kind).is_some_and(|k| k.is_data());
    if let Some(entries) = entries {
        for (address, entry) in entries {
            if declared(address) || is_data(&entry.kind) {
                continue;
            }
            let found = live.current.get(address);
            let mut c = ResourceChange::new(address.clone(), &entry.kind, Action::Delete);
            c.reason = found
                .is_none()
                .then(|| "already gone; it is only dropped from state".into());
            c.before = found.map(|l| l.spec.clone()).or_else(|| entry.spec.clone());
            c.prior_outputs =
                Some(found.map_or_else(|| entry.outputs.clone(), |l| l.outputs.clone()));
            c.prior_depends_on = entry.depends_on.clone();
            // A resource still in the configuration is protected as the
            // configuration says; one removed from it as it was last applied.
            c.protected = match env.node(address) {
                Some(n) => n.protected,
                None => entry.protected,
            };
            c.provider = entry.provider.clone();
            doomed.insert(address.clone(), c);
        }
    }
    for (address, obj) in &live.current {
        if declared(address) || doomed.contains_key(address) {
            continue;
        }
        let mut c = ResourceChange::new(address.clone(), address.kind(), Action::Delete);
        c.reason = Some("found by this state's tags but not in state or configuration".into());
        c.before = Some(obj.spec.clone());
        c.prior_outputs = Some(obj.outputs.clone());
        c.protected = env.node(address).is_some_and(|n| n.protected);
        c.provider = env.node(address).and_then(|n| n.provider.clone());
        doomed.insert(address.clone(), c);
    }
    changes.extend(delete_order(doomed.into_values().collect()));
    for d in state.map(|s| s.deposed.as_slice()).unwrap_or_default() {
        let mut c = ResourceChange::new(d.address.clone(), &d.kind, Action::Delete);
        c.deposed = true;
        c.prior_outputs = Some(d.outputs.clone());
        c.provider = d.provider.clone();
        if !live
            .deposed
            .iter()
            .any(|(a, o)| *a == d.address && *o == d.outputs)
        {
            c.reason = Some("already gone; it is only dropped from state".into());
        }
        changes.push(c);
    }

    Ok(Plan {
        format_version: PLAN_FORMAT_VERSION,
        environment: env.name().to_string(),
        destroy,
        lineage: state.map(|s| s.lineage),
        serial: state.map(|s| s.serial),
        changes,
        foreign: live.foreign.iter().map(|f| f.foreign.clone()).collect(),
        author: None,
        created: None,
        digest: None,
    })
}

/// Sorts deletions so that a resource comes before what it depended on.
fn delete_order(mut doomed: Vec<ResourceChange>) -> Vec<ResourceChange> {
    let index: HashMap<Address, usize> = doomed
        .iter()
        .enumerate()
        .map(|(i, c)| (c.address.clone(), i))
        .collect();
    let mut g = crate::graph::Graph::new(doomed.len());
    for (i, c) in doomed.iter().enumerate() {
        for d in &c.prior_depends_on {
            if let Some(&j) = index.get(d) {
                // j (the dependency) is deleted after i
                g.depend(j, i);
            }
        }
    }
    let order = g
        .topo_order()
        .unwrap_or_else(|_| (0..doomed.len()).collect());
    let mut slots: Vec<Option<ResourceChange>> = doomed.drain(..).map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}
