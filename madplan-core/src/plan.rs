//! Plans: what apply will do, resource by resource and field by field.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::address::Address;
use crate::env::{Environment, has_unknown, references, resolve};
use crate::error::{Error, Result};
use crate::input::marker;
use crate::registry::FoundValue;
use crate::resource::Replacement;
use crate::state::State;

/// The version of the saved-plan format this build writes and reads.
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// What apply will do to one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing: it matches.
    NoOp,
    /// Create it.
    Create,
    /// Change it in place.
    Update,
    /// Destroy it and create it anew (or the other way round).
    Replace,
    /// Destroy it.
    Delete,
}

impl Action {
    /// The verb, for messages.
    pub fn verb(self) -> &'static str {
        match self {
            Action::NoOp => "no change",
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
        }
    }
}

/// One field that differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The top-level field of the spec.
    pub field: String,
    /// The live value (absent when the field is not set).
    pub before: Option<Value>,
    /// The desired value; may hold values known only after apply.
    pub after: Option<Value>,
    /// Whether this change cannot be made in place.
    pub forces_replacement: bool,
}

/// The plan for one resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    /// The resource.
    pub address: Address,
    /// Its kind.
    pub kind: String,
    /// What will be done.
    pub action: Action,
    /// Why, when it is not obvious (deleted outside madplan, adopted...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The live spec, if it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The desired spec (resolved as far as known), unless it is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// The live outputs, if it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_outputs: Option<Value>,
    /// The fields that differ (updates and replacements).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// What the desired resource depends on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Address>,
    /// What the live resource depended on when last applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prior_depends_on: Vec<Address>,
    /// Whether it is protected against deletion.
    #[serde(default)]
    pub protected: bool,
    /// How a replacement is ordered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<Replacement>,
    /// Whether it exists but is missing from state (found by its address
    /// tag): apply records it in state.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt: bool,
}

/// A whole plan: the changes, and the state they were computed against.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Format of this document.
    pub format_version: u32,
    /// The environment.
    pub environment: String,
    /// Whether this plan destroys the whole environment.
    pub destroy: bool,
    /// Lineage of the state it was made against (none: no state yet).
    pub lineage: Option<Uuid>,
    /// Serial of the state it was made against.
    pub serial: Option<u64>,
    /// One entry per resource, dependencies first.
    pub changes: Vec<ResourceChange>,
}

/// Counts of a plan's actions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Resources to create.
    pub create: usize,
    /// Resources to change in place.
    pub update: usize,
    /// Resources to replace.
    pub replace: usize,
    /// Resources to delete.
    pub delete: usize,
    /// Existing resources to record in state.
    pub adopt: usize,
}

impl Plan {
    /// Whether applying it would change anything.
    pub fn has_changes(&self) -> bool {
        self.changes
            .iter()
            .any(|c| c.action != Action::NoOp || c.adopt)
    }

    /// How many resources each action touches.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            s.adopt += usize::from(c.adopt);
            match c.action {
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Replace => s.replace += 1,
                Action::Delete => s.delete += 1,
                Action::NoOp => {}
            }
        }
        s
    }

    /// The change for `address`.
    pub fn change(&self, address: &str) -> Option<&ResourceChange> {
        self.changes
            .iter()
            .find(|c| c.address.to_string() == address)
    }

    /// The plan as pretty JSON (the `--json` output and the saved-plan file).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// A saved plan.
    pub fn from_json(text: &str) -> Result<Plan> {
        let plan: Plan = serde_json::from_str(text).map_err(|e| Error::Encoding {
            address: "plan file".into(),
            message: format!("not a madplan plan: {e}"),
        })?;
        if plan.format_version != PLAN_FORMAT_VERSION {
            return Err(Error::Encoding {
                address: "plan file".into(),
                message: format!(
                    "plan format {} is not the one this build reads ({PLAN_FORMAT_VERSION})",
                    plan.format_version
                ),
            });
        }
        Ok(plan)
    }

    /// The plan in the style of `terraform plan`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if !self.has_changes() {
            let _ = writeln!(
                out,
                "No changes. The {} environment matches its configuration.",
                self.environment
            );
            return out;
        }
        let _ = writeln!(
            out,
            "madplan will perform the following actions on {}:\n",
            self.environment
        );
        for c in self.changes.iter().filter(|c| c.action != Action::NoOp) {
            render_change(&mut out, c);
        }
        for c in self
            .changes
            .iter()
            .filter(|c| c.action == Action::NoOp && c.adopt)
        {
            let _ = writeln!(
                out,
                "  # {} exists (found by its address tag) and will be recorded in state\n",
                c.address
            );
        }
        let s = self.summary();
        let _ = write!(
            out,
            "Plan: {} to add, {} to change, {} to replace, {} to destroy",
            s.create, s.update, s.replace, s.delete
        );
        if s.adopt > 0 {
            let _ = write!(out, ", {} to adopt", s.adopt);
        }
        let _ = writeln!(out, ".");
        out
    }
}

fn symbol(c: &ResourceChange) -> &'static str {
    match (c.action, c.replacement) {
        (Action::Create, _) => "+",
        (Action::Update, _) => "~",
        (Action::Replace, Some(Replacement::CreateBeforeDestroy)) => "+/-",
        (Action::Replace, _) => "-/+",
        (Action::Delete, _) => "-",
        (Action::NoOp, _) => " ",
    }
}

fn render_change(out: &mut String, c: &ResourceChange) {
    let what = match c.action {
        Action::Create => "will be created".to_string(),
        Action::Update => "will be updated in place".to_string(),
        Action::Replace => {
            let forcing: Vec<&str> = c
                .fields
                .iter()
                .filter(|f| f.forces_replacement)
                .map(|f| f.field.as_str())
                .collect();
            format!(
                "must be replaced ({} forces replacement)",
                forcing.join(", ")
            )
        }
        Action::Delete => "will be destroyed".to_string(),
        Action::NoOp => "is unchanged".to_string(),
    };
    let _ = writeln!(out, "  # {} {what}", c.address);
    if let Some(r) = &c.reason {
        let _ = writeln!(out, "  # ({r})");
    }
    let _ = writeln!(out, "  {} {} {{", symbol(c), c.address);
    match c.action {
        Action::Create => {
            if let Some(Value::Object(o)) = &c.after {
                let width = o.keys().map(String::len).max().unwrap_or(0);
                for (k, v) in o {
                    match v {
                        Value::Array(items) if items.iter().any(|x| x.is_object()) => {
                            let _ = writeln!(out, "      + {k:<width$} = [");
                            for x in items {
                                let _ = writeln!(out, "          {},", show(x));
                            }
                            let _ = writeln!(out, "        ]");
                        }
                        _ => {
                            let _ = writeln!(out, "      + {k:<width$} = {}", show(v));
                        }
                    }
                }
            }
            let _ = writeln!(out, "      + (outputs known after apply)");
        }
        Action::Update | Action::Replace => {
            for f in &c.fields {
                render_field(out, f);
            }
        }
        Action::Delete => {
            if let Some(Value::Object(o)) = &c.prior_outputs {
                for (k, v) in o {
                    let _ = writeln!(out, "      - {k} = {}", show(v));
                }
            }
        }
        Action::NoOp => {}
    }
    let _ = writeln!(out, "    }}\n");
}

fn render_field(out: &mut String, f: &FieldChange) {
    let note = if f.forces_replacement {
        " # forces replacement"
    } else {
        ""
    };
    match (&f.before, &f.after) {
        (Some(Value::Array(b)), Some(Value::Array(a))) => {
            let _ = writeln!(out, "      ~ {} = [{note}", f.field);
            for x in b.iter().filter(|x| !a.contains(x)) {
                let _ = writeln!(out, "          - {}", show(x));
            }
            for x in a.iter().filter(|x| !b.contains(x)) {
                let _ = writeln!(out, "          + {}", show(x));
            }
            let _ = writeln!(out, "        ]");
        }
        (before, after) => {
            let b = before.as_ref().map(show).unwrap_or_else(|| "null".into());
            let a = after.as_ref().map(show).unwrap_or_else(|| "null".into());
            let _ = writeln!(out, "      ~ {} = {b} -> {a}{note}", f.field);
        }
    }
}

/// A value for display: references not known yet read `(known after apply)`.
fn show(v: &Value) -> String {
    fn strip(v: &Value) -> Value {
        if let Some(r) = marker(v) {
            return Value::String(format!("(known after apply: {r})"));
        }
        match v {
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, x)| (k.clone(), strip(x))).collect())
            }
            other => other.clone(),
        }
    }
    match v {
        v if marker(v).is_some() => "(known after apply)".into(),
        other => strip(other).to_string(),
    }
}

/// The fields that differ between a live spec and a desired one.
pub(crate) fn diff(
    before: &Value,
    after: &Value,
    forces: &[&str],
    ignored: &[&str],
) -> Vec<FieldChange> {
    let empty = serde_json::Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| !ignored.contains(&k.as_str()))
        .filter_map(|k| {
            let (bv, av) = (b.get(k), a.get(k));
            let same = match (bv, av) {
                (Some(x), Some(y)) => x == y,
                (None, Some(Value::Null)) | (Some(Value::Null), None) | (None, None) => true,
                _ => false,
            };
            (!same).then(|| FieldChange {
                field: k.clone(),
                before: bv.cloned(),
                after: av.cloned(),
                forces_replacement: forces.contains(&k.as_str()),
            })
        })
        .collect()
}

/// Computes the plan from the environment, the state and what a refresh
/// found.
pub(crate) fn make_plan(
    env: &Environment,
    state: Option<&State>,
    found: &HashMap<Address, FoundValue>,
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

    if !destroy {
        for i in order {
            let node = &env.nodes[i];
            let Some(spec) = &node.spec else { continue };
            let kind = &node.kind;
            let desired = resolve(spec, &|a| known.get(a).cloned());
            let desired = kind
                .normalize(&node.address, &desired)
                .map_err(|e| Error::encoding(&node.address, e))?;
            let depends_on: Vec<Address> = {
                let mut d: Vec<Address> = references(spec).into_iter().map(|r| r.address).collect();
                d.dedup();
                d
            };
            let entry = entries.and_then(|e| e.get(&node.address));
            let prior_depends_on = entry.map(|e| e.depends_on.clone()).unwrap_or_default();
            let mut change = ResourceChange {
                address: node.address.clone(),
                kind: kind.kind().to_string(),
                action: Action::NoOp,
                reason: None,
                before: None,
                after: Some(desired.clone()),
                prior_outputs: None,
                fields: Vec::new(),
                depends_on,
                prior_depends_on,
                protected: node.protected || entry.is_some_and(|e| e.protected),
                replacement: None,
                adopt: false,
            };
            match found.get(&node.address) {
                None => {
                    change.action = Action::Create;
                    if entry.is_some() {
                        change.reason = Some("it was deleted outside madplan".into());
                    }
                }
                Some(live) => {
                    if entry.is_none() {
                        change.adopt = true;
                        change.reason =
                            Some("found by its address tag; it will be adopted into state".into());
                    }
                    let fields = diff(
                        &live.spec,
                        &desired,
                        kind.forces_replacement(),
                        kind.externally_owned(),
                    );
                    change.before = Some(live.spec.clone());
                    change.prior_outputs = Some(live.outputs.clone());
                    if fields.is_empty() {
                        change.action = Action::NoOp;
                        known.insert(node.address.clone(), live.outputs.clone());
                    } else if fields.iter().any(|f| f.forces_replacement) {
                        change.action = Action::Replace;
                        change.replacement = Some(kind.replacement());
                    } else {
                        change.action = Action::Update;
                        known.insert(node.address.clone(), live.outputs.clone());
                    }
                    change.fields = fields;
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
    // (or all of it, for destroy) is deleted, dependents first.
    let mut doomed: BTreeMap<Address, ResourceChange> = BTreeMap::new();
    let declared = |a: &Address| !destroy && env.node(a).is_some_and(|n| n.spec.is_some());
    if let Some(entries) = entries {
        for (address, entry) in entries {
            if declared(address) {
                continue;
            }
            let live = found.get(address);
            doomed.insert(
                address.clone(),
                ResourceChange {
                    address: address.clone(),
                    kind: entry.kind.clone(),
                    action: Action::Delete,
                    reason: live
                        .is_none()
                        .then(|| "already gone; it is only dropped from state".into()),
                    before: live.map(|l| l.spec.clone()).or_else(|| entry.spec.clone()),
                    after: None,
                    prior_outputs: Some(
                        live.map_or_else(|| entry.outputs.clone(), |l| l.outputs.clone()),
                    ),
                    fields: Vec::new(),
                    depends_on: Vec::new(),
                    prior_depends_on: entry.depends_on.clone(),
                    protected: entry.protected || env.node(address).is_some_and(|n| n.protected),
                    replacement: None,
                    adopt: false,
                },
            );
        }
    }
    for (address, live) in found {
        if declared(address) || doomed.contains_key(address) {
            continue;
        }
        doomed.insert(
            address.clone(),
            ResourceChange {
                address: address.clone(),
                kind: address.kind().to_string(),
                action: Action::Delete,
                reason: Some("found by its address tag but not in state or configuration".into()),
                before: Some(live.spec.clone()),
                after: None,
                prior_outputs: Some(live.outputs.clone()),
                fields: Vec::new(),
                depends_on: Vec::new(),
                prior_depends_on: Vec::new(),
                protected: env.node(address).is_some_and(|n| n.protected),
                replacement: None,
                adopt: false,
            },
        );
    }
    changes.extend(delete_order(doomed.into_values().collect()));

    Ok(Plan {
        format_version: PLAN_FORMAT_VERSION,
        environment: env.name().to_string(),
        destroy,
        lineage: state.map(|s| s.lineage),
        serial: state.map(|s| s.serial),
        changes,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_reports_changed_added_and_removed_fields() {
        let before = json!({"cidr": "10.0.0.0/16", "dns": true, "tags": {"a": "1"}, "desired": 3});
        let after = json!({"cidr": "10.1.0.0/16", "dns": true, "tags": {"a": "2"}, "desired": 5, "extra": 1});
        let d = diff(&before, &after, &["cidr"], &["desired"]);
        let fields: Vec<_> = d
            .iter()
            .map(|f| (f.field.as_str(), f.forces_replacement))
            .collect();
        assert_eq!(
            fields,
            vec![("cidr", true), ("extra", false), ("tags", false)]
        );
    }

    #[test]
    fn null_and_missing_are_the_same() {
        assert!(diff(&json!({"a": null}), &json!({}), &[], &[]).is_empty());
    }

    #[test]
    fn lists_of_objects_print_one_per_line() {
        let c = ResourceChange {
            address: "aws.security_group.web".parse().unwrap(),
            kind: "aws.security_group".into(),
            action: Action::Create,
            reason: None,
            before: None,
            after: Some(json!({"name": "web", "ingress": [{"port": 80}, {"port": 443}]})),
            prior_outputs: None,
            fields: vec![],
            depends_on: vec![],
            prior_depends_on: vec![],
            protected: false,
            replacement: None,
            adopt: false,
        };
        let mut out = String::new();
        render_change(&mut out, &c);
        assert!(
            out.contains(
                "+ ingress = [\n          {\"port\":80},\n          {\"port\":443},\n        ]"
            ),
            "{out}"
        );
        assert!(out.contains("+ name    = \"web\""), "{out}");
    }

    #[test]
    fn show_hides_unknown_values() {
        let v = json!({"$output": {"address": "aws.vpc.main", "output": "vpc_id"}});
        assert_eq!(show(&v), "(known after apply)");
        let nested = json!([{"target": v}]);
        assert!(show(&nested).contains("known after apply: aws.vpc.main.vpc_id"));
    }
}
