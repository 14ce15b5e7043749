//! The graph of operations a plan needs, in the order they may run.

use std::collections::HashMap;

use crate::address::Address;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::plan::{Action, Plan};
use crate::resource::Replacement;

/// What one operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum OpKind {
    Create,
    Update,
    Delete,
}

impl OpKind {
    pub fn verb(self) -> &'static str {
        match self {
            OpKind::Create => "create",
            OpKind::Update => "update",
            OpKind::Delete => "delete",
        }
    }
}

/// One operation: a change of the plan and what is done for it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Op {
    pub change: usize,
    pub kind: OpKind,
}

/// The operations of `plan` and their order: dependencies are created or
/// updated before what uses them, and what used a resource lets go of it
/// (is deleted, or changed to use something else) before it is deleted.
pub(crate) fn op_graph(plan: &Plan) -> Result<(Vec<Op>, Graph)> {
    let mut ops = Vec::new();
    let mut index: HashMap<(usize, OpKind), usize> = HashMap::new();
    // The change of each address's current object (not a deposed one).
    let mut current: HashMap<&Address, usize> = HashMap::new();
    for (i, c) in plan.changes.iter().enumerate() {
        if !c.deposed {
            current.insert(&c.address, i);
        }
        let mut push = |kind: OpKind| {
            index.insert((i, kind), ops.len());
            ops.push(Op { change: i, kind });
        };
        match c.action {
            Action::NoOp | Action::Read => {}
            Action::Create => push(OpKind::Create),
            Action::Update => push(OpKind::Update),
            Action::Delete => push(OpKind::Delete),
            Action::Replace => {
                push(OpKind::Delete);
                push(OpKind::Create);
            }
        }
    }
    let find = |a: &Address, k: OpKind| {
        current
            .get(a)
            .and_then(|&change| index.get(&(change, k)).copied())
    };
    let mut g = Graph::new(ops.len());
    for (x, op) in ops.iter().enumerate() {
        let c = &plan.changes[op.change];
        match op.kind {
            OpKind::Create | OpKind::Update => {
                for d in &c.depends_on {
                    if let Some(y) = find(d, OpKind::Create).or_else(|| find(d, OpKind::Update)) {
                        g.depend(x, y);
                    }
                }
                if op.kind == OpKind::Create
                    && c.action == Action::Replace
                    && c.replacement != Some(Replacement::CreateBeforeDestroy)
                    && let Some(&y) = index.get(&(op.change, OpKind::Delete))
                {
                    g.depend(x, y);
                }
            }
            OpKind::Delete => {
                if c.deposed {
                    continue;
                }
                let recreated_after = c.action == Action::Replace
                    && c.replacement != Some(Replacement::CreateBeforeDestroy);
                if c.action == Action::Replace
                    && !recreated_after
                    && let Some(&y) = index.get(&(op.change, OpKind::Create))
                {
                    g.depend(x, y);
                }
                for e in &plan.changes {
                    if e.deposed
                        || e.address == c.address
                        || !e.prior_depends_on.contains(&c.address)
                    {
                        continue;
                    }
                    // What used this resource lets go of it first: by being
                    // deleted, or by being changed to use something else
                    // (when it no longer uses this address, or when this
                    // address does not come back before it).
                    if let Some(y) = find(&e.address, OpKind::Delete) {
                        g.depend(x, y);
                    } else if (!recreated_after || !e.depends_on.contains(&c.address))
                        && let Some(y) = find(&e.address, OpKind::Update)
                            .or_else(|| find(&e.address, OpKind::Create))
                    {
                        g.depend(x, y);
                    }
                }
            }
        }
    }
    if let Err(cycle) = g.topo_order() {
        let names: Vec<String> = cycle
            .iter()
            .map(|&i| {
                format!(
                    "{} {}",
                    ops[i].kind.verb(),
                    plan.changes[ops[i].change].address
                )
            })
            .collect();
        return Err(Error::encoding(
            "plan",
            format!("the changes cannot be ordered: {}", names.join(" -> ")),
        ));
    }
    Ok((ops, g))
}
