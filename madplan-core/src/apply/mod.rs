//! Carrying out a plan:
//! - `graph`: the operations a plan needs and their order;
//! - `executor`: the concurrent walk of that graph, with a concurrency
//!   budget per provider instance, interrupts and state writes in batches;
//! - `op`: one operation, with the engine's retries (re-reading before a
//!   retried update, looking for the resource before a retried create);
//! - `book`: what each outcome changes in state.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::address::Address;
use crate::error::{Error, Result};
use crate::plan::{Action, Plan};
use crate::retry::RetryPolicy;

mod book;
mod executor;
mod graph;
mod op;

pub(crate) use executor::Executor;

/// Options of an apply.
#[derive(Clone, Debug, Default)]
pub struct ApplyOptions {
    /// Retry policy for operations that fail with
    /// [`crate::ErrorClass::Retryable`] errors (see [`crate::ErrorClass`]
    /// for where each kind of retry lives).
    pub retry: RetryPolicy,
    /// Allow deleting or replacing protected resources.
    pub allow_protected_deletion: bool,
    /// How long waits for readiness may take, by kind (e.g.
    /// `atlas.cluster`), instead of the kind's own default.
    pub wait_timeouts: BTreeMap<String, Duration>,
    /// Apply without the approval the environment requires, for this
    /// reason (kept in the audit record). Never empty when set.
    pub emergency: Option<String>,
}

impl ApplyOptions {
    /// The wait limit for `kind`, given its own default.
    pub fn wait_timeout(&self, kind: &str, default: Duration) -> Duration {
        self.wait_timeouts.get(kind).copied().unwrap_or(default)
    }
}

/// What an apply did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Resources created (replacements included).
    pub created: usize,
    /// Resources updated in place (unfinished creates completed included).
    pub updated: usize,
    /// Resources deleted (replacements included).
    pub deleted: usize,
    /// The serial of the state written last.
    pub serial: u64,
    /// How many times state was written during the apply.
    pub state_writes: usize,
}

/// Refuses a plan that deletes or replaces a protected resource, unless
/// that is allowed.
pub(crate) fn check_protection(
    plan: &Plan,
    protected_in_env: &dyn Fn(&Address) -> bool,
    allowed: bool,
) -> Result<()> {
    if allowed {
        return Ok(());
    }
    for c in &plan.changes {
        if matches!(c.action, Action::Delete | Action::Replace)
            && !c.deposed
            && (c.protected || protected_in_env(&c.address))
        {
            return Err(Error::Protected {
                address: c.address.clone(),
                hint: format!(
                    "the plan would {} it; remove its protection in code, or allow \
                     deleting protected resources explicitly (--allow-destroy-protected)",
                    c.action.verb()
                ),
            });
        }
    }
    Ok(())
}
