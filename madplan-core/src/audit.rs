//! Governance: who runs madplan ([`Operator`]), the audit trail of every
//! apply and destroy ([`AuditRecord`]), and approvals of saved plans
//! ([`Approval`], required by an environment's [`ApprovalPolicy`]).
//!
//! Records and approvals live beside the state, in its [`crate::StateStore`]:
//! one object per record, written once and never rewritten.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::plan::{Action, Plan};

/// Who runs a command: the user, the host, and the CI run when there is one.
///
/// The user is `MADPLAN_OPERATOR` when set, else the login name (`USER`,
/// `USERNAME`). Like the login name itself, it is what the operator's
/// machine says: approvals by "someone else" are as strong as the access
/// control on the state's bucket (see the README).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// The user.
    pub user: String,
    /// The host.
    pub host: String,
    /// The CI run, when running in CI (`GITHUB_RUN_ID`, `CI_PIPELINE_ID`,
    /// `BUILDKITE_BUILD_ID`, `CIRCLE_WORKFLOW_ID`, `CODEBUILD_BUILD_ID` or
    /// `MADPLAN_CI_RUN_ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_run: Option<String>,
}

/// The CI variables that identify a run, in the order they are looked at,
/// with a label for each.
const CI_RUN_VARIABLES: &[(&str, &str)] = &[
    ("MADPLAN_CI_RUN_ID", ""),
    ("GITHUB_RUN_ID", "github"),
    ("CI_PIPELINE_ID", "gitlab"),
    ("BUILDKITE_BUILD_ID", "buildkite"),
    ("CIRCLE_WORKFLOW_ID", "circleci"),
    ("CODEBUILD_BUILD_ID", "codebuild"),
];

impl Operator {
    /// The operator of this process, from its environment.
    pub fn current() -> Self {
        let user = std::env::var("MADPLAN_OPERATOR")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .or_else(|| std::env::var("USER").ok())
            .or_else(|| std::env::var("USERNAME").ok())
            .unwrap_or_else(|| "unknown".into());
        let ci_run = CI_RUN_VARIABLES.iter().find_map(|(var, label)| {
            let v = std::env::var(var).ok().filter(|v| !v.is_empty())?;
            Some(if label.is_empty() {
                v
            } else {
                format!("{label}:{v}")
            })
        });
        Self {
            user,
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            ci_run,
        }
    }

    /// `user` on this host (for tests and programs that know who runs them).
    pub fn named(user: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            ..Self::current()
        }
    }
}

impl std::fmt::Display for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.user, self.host)?;
        if let Some(run) = &self.ci_run {
            write!(f, " (CI run {run})")?;
        }
        Ok(())
    }
}

/// What an environment demands before a change is applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalPolicy {
    /// The plan's author may not approve it: someone else must.
    pub four_eyes: bool,
}

impl ApprovalPolicy {
    /// An approved saved plan is required; its author may approve it.
    pub fn approved_plans() -> Self {
        Self { four_eyes: false }
    }

    /// An approved saved plan is required, approved by someone other than
    /// its author.
    pub fn four_eyes() -> Self {
        Self { four_eyes: true }
    }
}

/// An approval of a saved plan, recorded beside the state by `approve`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Identifies this approval.
    pub id: Uuid,
    /// The environment.
    pub environment: String,
    /// The digest of the plan approved ([`Plan::digest`]).
    pub plan_digest: String,
    /// Who wrote the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_author: Option<Operator>,
    /// Who approved it.
    pub approver: Operator,
    /// When (RFC 3339).
    pub approved_at: String,
    /// The state's lineage the plan was made against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<Uuid>,
    /// The state's serial the plan was made against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<u64>,
}

/// One resource an apply changed (or meant to).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditChange {
    /// The resource.
    pub address: String,
    /// What was done to it.
    pub action: Action,
}

/// How an audited command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Everything in the plan was done.
    Succeeded,
    /// Some operations failed (state holds what was done).
    Failed,
    /// The operator interrupted it (state holds what was done).
    Interrupted,
    /// It was refused before anything was done (not approved, stale plan,
    /// protected resource).
    Refused,
}

/// One apply, destroy or state restore, as the audit trail keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Identifies this record.
    pub id: Uuid,
    /// `apply`, `destroy` or `state restore`.
    pub operation: String,
    /// The environment.
    pub environment: String,
    /// Who ran it.
    pub operator: Operator,
    /// When it started (RFC 3339, milliseconds).
    pub started: String,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// The digest of the plan applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_digest: Option<String>,
    /// What it changed (or meant to), by address.
    #[serde(default)]
    pub changes: Vec<AuditChange>,
    /// How it ended.
    pub outcome: Outcome,
    /// The error, when it did not succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The state's lineage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<Uuid>,
    /// The state's serial before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_before: Option<u64>,
    /// The state's serial after (when it finished).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_after: Option<u64>,
    /// The approval it was applied under, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// Why it was applied without the approval the environment requires
    /// (an emergency, as the operator stated it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency: Option<String>,
    /// The lock it ran under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_id: Option<Uuid>,
    /// More about it (a state restore names the version restored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl AuditRecord {
    /// The changes of `plan`, as a record lists them.
    pub fn changes_of(plan: &Plan) -> Vec<AuditChange> {
        plan.changes
            .iter()
            .filter(|c| c.is_change())
            .map(|c| AuditChange {
                address: if c.deposed {
                    format!("{} (deposed)", c.address)
                } else {
                    c.address.to_string()
                },
                action: c.action,
            })
            .collect()
    }

    /// A name that sorts records by start time and never collides:
    /// `20261125T220101.123Z-<id>.json`.
    pub fn object_name(&self) -> String {
        let compact: String = self
            .started
            .chars()
            .filter(|c| !matches!(c, '-' | ':'))
            .collect();
        format!("{compact}-{}.json", self.id)
    }

    /// One line for `madplan audit`.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "{}  {:<13} {:<11} by {}  {} change(s)  {:.1}s",
            self.started,
            self.operation,
            format!("{:?}", self.outcome).to_lowercase(),
            self.operator,
            self.changes.len(),
            Duration::from_millis(self.duration_ms).as_secs_f64()
        );
        if let Some(d) = &self.plan_digest {
            line.push_str(&format!("  plan {}", &d[..d.len().min(19)]));
        }
        if let Some(a) = &self.approval {
            line.push_str(&format!("  approved by {}", a.approver.user));
        }
        if let Some(d) = &self.detail {
            line.push_str(&format!("  {d}"));
        }
        if let Some(r) = &self.emergency {
            line.push_str(&format!("  EMERGENCY: {r}"));
        }
        if let Some(e) = &self.error {
            line.push_str(&format!("\n    error: {}", e.lines().next().unwrap_or("")));
        }
        line
    }
}

/// Now, in RFC 3339 with milliseconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_names_sort_by_time() {
        let mut r = AuditRecord {
            id: Uuid::nil(),
            operation: "apply".into(),
            environment: "prod".into(),
            operator: Operator::named("alice"),
            started: "2026-11-25T22:01:01.123Z".into(),
            duration_ms: 1500,
            plan_digest: Some("sha256:abc".into()),
            changes: Vec::new(),
            outcome: Outcome::Succeeded,
            error: None,
            lineage: None,
            serial_before: None,
            serial_after: None,
            approval: None,
            emergency: Some("pager".into()),
            lock_id: None,
            detail: None,
        };
        let a = r.object_name();
        assert_eq!(a, format!("20261125T220101.123Z-{}.json", Uuid::nil()));
        r.started = "2026-11-25T22:01:02.000Z".into();
        assert!(r.object_name() > a);
        let s = r.summary();
        assert!(
            s.contains("alice@") && s.contains("EMERGENCY: pager"),
            "{s}"
        );
    }

    #[test]
    fn the_operator_shows_its_ci_run() {
        let o = Operator {
            user: "ci".into(),
            host: "runner-1".into(),
            ci_run: Some("github:42".into()),
        };
        assert_eq!(o.to_string(), "ci@runner-1 (CI run github:42)");
    }
}
