//! Plans: what apply will do, resource by resource and field by field.
//!
//! - this module: the plan's model and its saved form (`plan --out`);
//! - [`render`]: the text a person reads, in the style of `terraform plan`;
//! - [`document`]: the versioned JSON document `plan --json` prints for CI;
//! - `diff`: field-by-field comparison under each kind's field rules;
//! - `planner`: the classification of every resource from configuration,
//!   state and what a refresh found.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::address::Address;
use crate::audit::Operator;
use crate::error::{Error, Result};
use crate::resource::Replacement;

mod diff;
pub mod document;
mod planner;
pub mod render;

pub(crate) use diff::field_changes;
pub(crate) use planner::{Live, LiveObject, make_plan};

/// The version of the saved-plan format this build writes and reads.
pub const PLAN_FORMAT_VERSION: u32 = 2;

/// What apply will do to one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing: it matches.
    NoOp,
    /// Read a data source (at plan time; apply records what was read).
    Read,
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
            Action::Read => "read",
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
    /// The live outputs, if it exists (for a data source: what was read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_outputs: Option<Value>,
    /// The spec last applied, as state has it (write-only fields are
    /// compared against it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied: Option<Value>,
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
    /// Whether it exists but is missing from state (found by tags of this
    /// state's lineage, e.g. made by a run that died before recording it):
    /// apply records it in state.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt: bool,
    /// The provider instance that manages it (`None`: the default one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Whether this is an old object left by a create-before-destroy
    /// (deleted by this change), not the current one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deposed: bool,
    /// Whether its create was cut short (the process died, a wait timed
    /// out): apply waits for it and completes it instead of creating again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resume: bool,
}

impl ResourceChange {
    pub(crate) fn new(address: Address, kind: &str, action: Action) -> Self {
        Self {
            address,
            kind: kind.to_string(),
            action,
            reason: None,
            before: None,
            after: None,
            prior_outputs: None,
            last_applied: None,
            fields: Vec::new(),
            depends_on: Vec::new(),
            prior_depends_on: Vec::new(),
            protected: false,
            replacement: None,
            adopt: false,
            provider: None,
            deposed: false,
            resume: false,
        }
    }

    /// Whether apply does anything for it.
    pub fn is_change(&self) -> bool {
        !matches!(self.action, Action::NoOp | Action::Read) || self.adopt || self.resume
    }
}

/// A live resource tagged with this environment's name but made by another
/// state (another lineage, or none): it is shown, never changed or deleted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Foreign {
    /// The address its tags name.
    pub address: Address,
    /// The lineage its tags name, if any.
    pub lineage: Option<String>,
    /// Its outputs (ids).
    pub outputs: Value,
}

/// A live resource that another state made, as a refresh found it.
#[derive(Clone, Debug)]
pub struct ForeignObject {
    /// Its address, lineage and outputs.
    pub foreign: Foreign,
    /// Its live spec.
    pub spec: Value,
    /// The provider instance it was found through.
    pub provider: Option<String>,
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
    /// Resources of another state that carry this environment's tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign: Vec<Foreign>,
    /// Who saved it ([`Plan::seal`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Operator>,
    /// When it was saved (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// `sha256:` and the hex SHA-256 of the plan's JSON without this field,
    /// set by [`Plan::seal`]: what an approval names, and what is checked
    /// when the plan is read back (a plan edited since does not match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Counts of a plan's actions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Data sources read.
    pub read: usize,
}

impl Plan {
    /// Whether applying it would change anything.
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(ResourceChange::is_change)
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
                Action::Read => s.read += 1,
                Action::NoOp => {}
            }
        }
        s
    }

    /// The change for `address` (the current object's, not a deposed one's).
    pub fn change(&self, address: &str) -> Option<&ResourceChange> {
        self.changes
            .iter()
            .find(|c| !c.deposed && c.address.to_string() == address)
    }

    /// The plan as saved by `plan --out` and read back by `apply FILE`: the
    /// engine's own form, with every value it needs to apply exactly this.
    /// For a stable document to parse in CI, use [`document::PlanDocument`].
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The digest of this plan's content: `sha256:` and the hex SHA-256 of
    /// its JSON with the `digest` field left out.
    pub fn compute_digest(&self) -> String {
        use sha2::Digest as _;
        let mut unsealed = self.clone();
        unsealed.digest = None;
        let bytes = serde_json::to_vec(&unsealed).unwrap_or_default();
        let hash = sha2::Sha256::digest(&bytes);
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }

    /// Marks the plan as saved by `author` now, and sets its digest.
    pub fn seal(&mut self, author: Operator) {
        self.author = Some(author);
        self.created = Some(crate::audit::now_rfc3339());
        self.digest = None;
        self.digest = Some(self.compute_digest());
    }

    /// Checks that the plan's content still matches its digest (a plan
    /// without a digest passes: it was never sealed).
    pub fn verify_digest(&self) -> Result<()> {
        match &self.digest {
            Some(d) if *d != self.compute_digest() => Err(Error::Encoding {
                address: "plan file".into(),
                message: format!(
                    "its content does not match its digest {d}: it was changed after it was \
                     saved; make the plan again"
                ),
            }),
            _ => Ok(()),
        }
    }

    /// A saved plan; a sealed one must still match its digest.
    pub fn from_json(text: &str) -> Result<Plan> {
        let plan: Plan = serde_json::from_str(text).map_err(|e| Error::Encoding {
            address: "plan file".into(),
            message: format!("not a madplan plan: {e}"),
        })?;
        if plan.format_version != PLAN_FORMAT_VERSION {
            return Err(Error::Encoding {
                address: "plan file".into(),
                message: format!(
                    "plan format {} is not the one this build reads ({PLAN_FORMAT_VERSION}); \
                     make the plan again",
                    plan.format_version
                ),
            });
        }
        plan.verify_digest()?;
        Ok(plan)
    }

    /// The plan in the style of `terraform plan`.
    pub fn render(&self) -> String {
        render::render(self)
    }
}
