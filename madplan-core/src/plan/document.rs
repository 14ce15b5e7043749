//! The plan as a versioned JSON document, for CI systems (`plan --json`).
//!
//! The document is stable within a `format_version`: fields may be added,
//! none is renamed or removed without a new version. Its shape:
//!
//! ```json
//! {
//!   "format": "madplan-plan",
//!   "format_version": 1,
//!   "environment": "production",
//!   "destroy": false,
//!   "has_changes": true,
//!   "summary": {"create": 1, "update": 0, "replace": 0, "delete": 0, "adopt": 0, "read": 0},
//!   "resources": [{
//!     "address": "aws.subnet.web-a",
//!     "kind": "aws.subnet",
//!     "action": "create",
//!     "provider": null,
//!     "reason": null,
//!     "replacement": null,
//!     "protected": false, "adopt": false, "deposed": false, "resume": false,
//!     "depends_on": ["aws.vpc.main"],
//!     "before": null,
//!     "after": {"cidr": "10.0.1.0/24", "vpc": null},
//!     "after_unknown": ["vpc"],
//!     "fields": []
//!   }],
//!   "foreign": []
//! }
//! ```
//!
//! - `action`: `no_op`, `read`, `create`, `update`, `replace`, `delete`;
//!   `replacement`: `destroy_before_create` or `create_before_destroy`.
//! - `after` is the desired spec with every value known only after apply
//!   written as `null`; `after_unknown` lists those places as paths
//!   (`routes[0].target`).
//! - `fields`: for updates and replacements, each differing top-level field
//!   with `before`, `after` (unknowns as `null`), `after_unknown` and
//!   `forces_replacement`.
//! - `foreign`: resources tagged with this environment that another state
//!   made (`address`, `lineage`, `outputs`); madplan never touches them.

use serde::Serialize;
use serde_json::Value;

use super::{Action, Foreign, Plan, ResourceChange, Summary};
use crate::address::Address;
use crate::input::marker;
use crate::resource::Replacement;

/// The `format` value of the document.
pub const FORMAT: &str = "madplan-plan";
/// The version of the document's shape this build writes.
pub const FORMAT_VERSION: u32 = 1;

/// The plan document (see the module documentation).
#[derive(Clone, Debug, Serialize)]
pub struct PlanDocument {
    /// Always [`FORMAT`].
    pub format: &'static str,
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The environment.
    pub environment: String,
    /// Whether the plan destroys everything.
    pub destroy: bool,
    /// Whether applying it changes anything.
    pub has_changes: bool,
    /// Counts per action.
    pub summary: Summary,
    /// One entry per resource and data source.
    pub resources: Vec<DocumentChange>,
    /// Resources of other states that carry this environment's tags.
    pub foreign: Vec<Foreign>,
}

/// One resource in the document.
#[derive(Clone, Debug, Serialize)]
pub struct DocumentChange {
    /// Its address.
    pub address: Address,
    /// Its kind.
    pub kind: String,
    /// What apply does.
    pub action: Action,
    /// The provider instance (`null`: the default).
    pub provider: Option<String>,
    /// Why, when it is not obvious.
    pub reason: Option<String>,
    /// Replacement order, for replacements.
    pub replacement: Option<Replacement>,
    /// Protected against deletion.
    pub protected: bool,
    /// Exists, will be recorded in state.
    pub adopt: bool,
    /// An old object left by a replacement.
    pub deposed: bool,
    /// An unfinished create that apply completes.
    pub resume: bool,
    /// What it depends on.
    pub depends_on: Vec<Address>,
    /// The live spec.
    pub before: Option<Value>,
    /// The desired spec, unknowns as `null`.
    pub after: Option<Value>,
    /// Paths in `after` known only after apply.
    pub after_unknown: Vec<String>,
    /// The fields that differ.
    pub fields: Vec<DocumentField>,
}

/// One differing field in the document.
#[derive(Clone, Debug, Serialize)]
pub struct DocumentField {
    /// The top-level field.
    pub name: String,
    /// Its live value.
    pub before: Option<Value>,
    /// Its desired value, unknowns as `null`.
    pub after: Option<Value>,
    /// Paths in `after` known only after apply (`""`: all of it).
    pub after_unknown: Vec<String>,
    /// Whether the change forces a replacement.
    pub forces_replacement: bool,
}

impl PlanDocument {
    /// The document of `plan`.
    pub fn of(plan: &Plan) -> Self {
        Self {
            format: FORMAT,
            format_version: FORMAT_VERSION,
            environment: plan.environment.clone(),
            destroy: plan.destroy,
            has_changes: plan.has_changes(),
            summary: plan.summary(),
            resources: plan.changes.iter().map(change).collect(),
            foreign: plan.foreign.clone(),
        }
    }

    /// The document as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

fn change(c: &ResourceChange) -> DocumentChange {
    let (after, after_unknown) = match &c.after {
        Some(v) => {
            let (v, unknown) = known_part(v);
            (Some(v), unknown)
        }
        None => (None, Vec::new()),
    };
    DocumentChange {
        address: c.address.clone(),
        kind: c.kind.clone(),
        action: c.action,
        provider: c.provider.clone(),
        reason: c.reason.clone(),
        replacement: c.replacement,
        protected: c.protected,
        adopt: c.adopt,
        deposed: c.deposed,
        resume: c.resume,
        depends_on: c.depends_on.clone(),
        before: c.before.clone(),
        after,
        after_unknown,
        fields: c
            .fields
            .iter()
            .map(|f| {
                let (after, after_unknown) = match &f.after {
                    Some(v) => {
                        let (v, u) = known_part(v);
                        (Some(v), u)
                    }
                    None => (None, Vec::new()),
                };
                DocumentField {
                    name: f.field.clone(),
                    before: f.before.clone(),
                    after,
                    after_unknown,
                    forces_replacement: f.forces_replacement,
                }
            })
            .collect(),
    }
}

/// `v` with unknown values as `null`, and the paths where they were.
fn known_part(v: &Value) -> (Value, Vec<String>) {
    fn walk(v: &Value, path: &str, unknown: &mut Vec<String>) -> Value {
        if marker(v).is_some() {
            unknown.push(path.to_string());
            return Value::Null;
        }
        match v {
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| {
                        let p = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        (k.clone(), walk(x, &p, unknown))
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, x)| walk(x, &format!("{path}[{i}]"), unknown))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    let mut unknown = Vec::new();
    let v = walk(v, "", &mut unknown);
    (v, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_values_are_null_with_their_paths() {
        let m = json!({"$output": {"address": "aws.vpc.main", "output": "vpc_id"}});
        let (v, unknown) = known_part(&json!({"vpc": m, "routes": [{"to": "x", "via": m}]}));
        assert_eq!(
            v,
            json!({"vpc": null, "routes": [{"to": "x", "via": null}]})
        );
        assert_eq!(unknown, vec!["routes[0].via", "vpc"]);
    }
}
