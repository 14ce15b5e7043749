//! What each event of an apply changes in state: what a refresh found,
//! checkpoints of creates, finished and failed operations.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::address::Address;
use crate::plan::{Action, Plan, ResourceChange};
use crate::registry::Kinds;
use crate::resource::Replacement;
use crate::state::{Deposed, State, StateEntry};

/// Records what the plan's refresh found (adopted resources, new outputs,
/// data sources read) and drops data sources no longer read. Returns
/// whether state changed.
pub(crate) fn record_found(plan: &Plan, state: &mut State, kinds: &Kinds) -> bool {
    let mut touched = false;
    let mut read = BTreeSet::new();
    for c in &plan.changes {
        if c.action == Action::Read {
            read.insert(c.address.clone());
            let outputs = c.prior_outputs.clone().unwrap_or(Value::Null);
            let entry = StateEntry {
                spec: c.after.clone(),
                provider: c.provider.clone(),
                ..StateEntry::new(c.kind.clone(), outputs)
            };
            if state.resources.get(&c.address) != Some(&entry) {
                state.resources.insert(c.address.clone(), entry);
                touched = true;
            }
            continue;
        }
        let (Some(outputs), Some(before)) = (&c.prior_outputs, &c.before) else {
            continue;
        };
        if c.action == Action::Delete {
            continue;
        }
        let entry = state
            .resources
            .entry(c.address.clone())
            .or_insert_with(|| StateEntry {
                spec: Some(before.clone()),
                depends_on: c.prior_depends_on.clone(),
                protected: c.protected,
                provider: c.provider.clone(),
                ..StateEntry::new(c.kind.clone(), outputs.clone())
            });
        if entry.outputs != *outputs || c.action == Action::NoOp {
            entry.outputs = outputs.clone();
            if c.action == Action::NoOp {
                entry.spec = c.after.clone();
                entry.depends_on = c.depends_on.clone();
                entry.protected = c.protected;
            }
            touched = true;
        }
    }
    let stale: Vec<Address> = state
        .resources
        .iter()
        .filter(|(a, e)| kinds.get(&e.kind).is_some_and(|k| k.is_data()) && !read.contains(*a))
        .map(|(a, _)| a.clone())
        .collect();
    for a in stale {
        state.resources.remove(&a);
        touched = true;
    }
    touched
}

/// Whether a create replaces an object that must stay until its own
/// delete (create before destroy).
fn replaces_first(c: &ResourceChange) -> bool {
    c.action == Action::Replace && c.replacement == Some(Replacement::CreateBeforeDestroy)
}

/// Moves the object now at `c`'s address aside as deposed, for a create
/// before destroy, unless that was done for this operation already.
fn depose_old(state: &mut State, c: &ResourceChange, done: &mut bool) {
    if *done || !replaces_first(c) {
        return;
    }
    *done = true;
    if let Some(old) = state.resources.get(&c.address)
        && Some(&old.outputs) == c.prior_outputs.as_ref()
    {
        state.deposed.push(Deposed {
            address: c.address.clone(),
            kind: old.kind.clone(),
            outputs: old.outputs.clone(),
            provider: old.provider.clone(),
        });
    }
}

/// A create reported an id: the resource exists from now on, unfinished.
/// With `intent`, the create is about to be sent: recorded only when the
/// address holds no live object (never over a replacement's old one).
pub(crate) fn checkpoint(
    state: &mut State,
    c: &ResourceChange,
    outputs: Value,
    intent: bool,
    deposed: &mut bool,
) {
    if intent {
        if state.resources.get(&c.address).is_some_and(|e| !e.pending) {
            return;
        }
    } else {
        depose_old(state, c, deposed);
    }
    state.resources.insert(
        c.address.clone(),
        StateEntry {
            depends_on: c.depends_on.clone(),
            protected: c.protected,
            provider: c.provider.clone(),
            pending: true,
            ..StateEntry::new(c.kind.clone(), outputs)
        },
    );
}

/// A create or update finished.
pub(crate) fn written(
    state: &mut State,
    c: &ResourceChange,
    spec: Option<Value>,
    outputs: Value,
    deposed: &mut bool,
) {
    depose_old(state, c, deposed);
    state.resources.insert(
        c.address.clone(),
        StateEntry {
            spec,
            depends_on: c.depends_on.clone(),
            protected: c.protected,
            provider: c.provider.clone(),
            ..StateEntry::new(c.kind.clone(), outputs)
        },
    );
}

/// A delete finished.
pub(crate) fn deleted(state: &mut State, c: &ResourceChange) {
    let old = c.prior_outputs.as_ref();
    if c.deposed || replaces_first(c) {
        // The old object of a create-before-destroy: the address's entry
        // (if any) is the new object's.
        state
            .deposed
            .retain(|d| !(d.address == c.address && Some(&d.outputs) == old));
        return;
    }
    state.resources.remove(&c.address);
}

/// A create failed after it made something: keep it, unfinished.
pub(crate) fn failed_with_partial(
    state: &mut State,
    c: &ResourceChange,
    outputs: Value,
    deposed: &mut bool,
) {
    checkpoint(state, c, outputs, false, deposed);
}

/// A create recorded before it was sent was refused: it made nothing, so
/// the record goes (a live object at the address stays).
pub(crate) fn refused(state: &mut State, c: &ResourceChange) {
    if state.resources.get(&c.address).is_some_and(|e| e.pending) {
        state.resources.remove(&c.address);
    }
}
