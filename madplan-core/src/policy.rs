//! Policies: rules over a whole environment, across kinds and providers
//! ("every internet-facing load balancer has a WAF with the rate rule",
//! "every critical monitor pages"), checked with validation, before any API
//! call, and reported like validation problems (address, field, what to
//! change).
//!
//! A policy can be waived, explicitly and with a reason
//! ([`crate::Environment::waive`]): a waived policy is still checked, its
//! findings are logged as warnings and listed by
//! [`crate::Environment::waived_findings`], but they do not stop a plan.

use std::collections::HashMap;

use serde_json::Value;

use crate::address::Address;
use crate::error::Problem;
use crate::resource::Resource;

/// What a policy sees: every resource of the environment, typed on demand.
pub struct PolicyCx<'a> {
    pub(crate) environment: &'a str,
    pub(crate) specs: &'a HashMap<Address, Value>,
    pub(crate) protected: &'a dyn Fn(&Address) -> bool,
}

impl PolicyCx<'_> {
    /// The environment's name.
    pub fn environment(&self) -> &str {
        self.environment
    }

    /// Every resource of kind `R`, in address order.
    pub fn all<R: Resource>(&self) -> Vec<(Address, R)> {
        let mut out: Vec<(Address, R)> = self
            .specs
            .iter()
            .filter(|(a, _)| a.kind() == R::KIND)
            .filter_map(|(a, v)| {
                serde_json::from_value(v.clone())
                    .ok()
                    .map(|r| (a.clone(), r))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The resource of kind `R` at `address`.
    pub fn get<R: Resource>(&self, address: &Address) -> Option<R> {
        (address.kind() == R::KIND)
            .then(|| self.specs.get(address))
            .flatten()
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// Whether `address` is protected against deletion.
    pub fn is_protected(&self, address: &Address) -> bool {
        (self.protected)(address)
    }
}

/// A rule over the whole environment.
pub trait Policy: Send + Sync {
    /// A short stable name, used to waive it (`tls-floor`, `rpo`).
    fn name(&self) -> &'static str;

    /// What it requires, in a sentence.
    fn description(&self) -> &'static str;

    /// One problem per violation, each naming the resource, the field and
    /// what to change.
    fn check(&self, cx: &PolicyCx<'_>) -> Vec<Problem>;
}

impl<P: Policy + ?Sized> Policy for Box<P> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn description(&self) -> &'static str {
        (**self).description()
    }
    fn check(&self, cx: &PolicyCx<'_>) -> Vec<Problem> {
        (**self).check(cx)
    }
}

/// A policy made of a function.
pub struct PolicyFn<F> {
    name: &'static str,
    description: &'static str,
    check: F,
}

impl<F> PolicyFn<F>
where
    F: Fn(&PolicyCx<'_>) -> Vec<Problem> + Send + Sync,
{
    /// A policy called `name`.
    pub fn new(name: &'static str, description: &'static str, check: F) -> Self {
        Self {
            name,
            description,
            check,
        }
    }
}

impl<F> Policy for PolicyFn<F>
where
    F: Fn(&PolicyCx<'_>) -> Vec<Problem> + Send + Sync,
{
    fn name(&self) -> &'static str {
        self.name
    }
    fn description(&self) -> &'static str {
        self.description
    }
    fn check(&self, cx: &PolicyCx<'_>) -> Vec<Problem> {
        (self.check)(cx)
    }
}

/// A waiver: the policy, why, and who decided (as the code says).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiver {
    /// The policy's name.
    pub policy: String,
    /// Why it is waived, and by whom.
    pub reason: String,
}
