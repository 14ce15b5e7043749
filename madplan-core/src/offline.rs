//! Plans without any provider: unit tests of an environment with mocked
//! providers, in the spirit of Pulumi's `setMocks` and Terraform's
//! `mock_provider`.
//!
//! A [`MockWorld`] says what exists: nothing ([`MockWorld::empty`]: the plan
//! creates everything), what a state recorded ([`MockWorld::from_state`]), or
//! resources given one by one with their typed spec and outputs
//! ([`MockWorld::exists`]), changed behind madplan's back
//! ([`MockWorld::drift`]) or gone ([`MockWorld::gone`]); data sources answer
//! what [`MockWorld::data`] says. [`Environment::plan_offline`] then
//! validates (every problem, the policies included) and computes the plan
//! the engine would compute against that world, without a single request:
//! the providers registered with the environment are never called.
//!
//! ```
//! use madplan_core::offline::MockWorld;
//! # fn environment() -> madplan_core::Environment { madplan_core::Environment::new("staging") }
//! let env = environment();
//! let plan = env.plan_offline(&MockWorld::empty()).unwrap();
//! assert_eq!(plan.summary().create, plan.changes.len());
//! ```

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use crate::address::Address;
use crate::env::Environment;
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::plan::{Live, LiveObject, make_plan};
use crate::resource::{DataSource, Resource};
use crate::state::{State, StateEntry};

/// What exists, for an offline plan (see the [module](self) docs).
#[derive(Clone, Debug, Default)]
pub struct MockWorld {
    state: Option<State>,
    live: HashMap<Address, LiveObject>,
    data: HashMap<Address, Value>,
    mistakes: Vec<String>,
}

impl MockWorld {
    /// Nothing exists and there is no state: every resource is to create.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The world as `state` recorded it: each resource it holds exists as
    /// last applied (e.g. a state file kept as a test fixture, or one read
    /// with `state show`).
    pub fn from_state(state: State) -> Self {
        let live = state
            .resources
            .iter()
            .map(|(address, e)| {
                (
                    address.clone(),
                    LiveObject {
                        spec: e.spec.clone().unwrap_or(Value::Null),
                        outputs: e.outputs.clone(),
                        adopted: false,
                    },
                )
            })
            .collect();
        Self {
            state: Some(state),
            live,
            data: HashMap::new(),
            mistakes: Vec::new(),
        }
    }

    /// The resource `R` named `name` exists, tracked in state, with this
    /// (live) spec and these outputs. The spec's inputs must be literal
    /// values (what a refresh reads back), not references.
    pub fn exists<R: Resource>(mut self, name: &str, spec: &R, outputs: &R::Outputs) -> Self {
        let address = Address::new(R::KIND, name);
        let (spec, outputs) = match (serde_json::to_value(spec), serde_json::to_value(outputs)) {
            (Ok(s), Ok(o)) => (s, o),
            (Err(e), _) | (_, Err(e)) => {
                self.mistakes
                    .push(format!("{address}: cannot encode it: {e}"));
                return self;
            }
        };
        let state = self.state.get_or_insert_with(|| State::new("offline"));
        let mut entry = StateEntry::new(R::KIND, outputs.clone());
        entry.spec = Some(spec.clone());
        state.resources.insert(address.clone(), entry);
        self.live.insert(
            address,
            LiveObject {
                spec,
                outputs,
                adopted: false,
            },
        );
        self
    }

    /// The field at `pointer` (a JSON pointer into the spec, e.g.
    /// `/min_tls_version` or `/ingress/0/from_port`) of the live resource at
    /// `address` was changed to `value` behind madplan's back.
    pub fn drift(mut self, address: &str, pointer: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        let target = address
            .parse::<Address>()
            .ok()
            .and_then(|a| self.live.get_mut(&a))
            .and_then(|o| o.spec.pointer_mut(pointer));
        match target {
            Some(field) => *field = value,
            None => self.mistakes.push(format!(
                "{address}: no live resource with a field at {pointer:?} to drift; make it exist \
                 first (MockWorld::exists or from_state)"
            )),
        }
        self
    }

    /// The resource at `address` was deleted behind madplan's back: the
    /// state still holds it, the world does not.
    pub fn gone(mut self, address: &str) -> Self {
        let removed = address
            .parse::<Address>()
            .ok()
            .and_then(|a| self.live.remove(&a));
        if removed.is_none() {
            self.mistakes.push(format!(
                "{address}: no live resource there to delete; make it exist first"
            ));
        }
        self
    }

    /// The data source `D` named `name` answers `outputs`.
    pub fn data<D: DataSource>(mut self, name: &str, outputs: &D::Outputs) -> Self {
        let address = Address::new(D::KIND, name);
        match serde_json::to_value(outputs) {
            Ok(v) => {
                self.data.insert(address, v);
            }
            Err(e) => self
                .mistakes
                .push(format!("{address}: cannot encode it: {e}")),
        }
        self
    }
}

impl Environment {
    /// Validates (every problem, policies included) and computes the plan
    /// against `world` instead of the providers: no request is made. See
    /// [`crate::offline`].
    pub fn plan_offline(&self, world: &MockWorld) -> Result<Plan> {
        if let Some(m) = world.mistakes.first() {
            return Err(Error::encoding(
                Address::new("offline", "world"),
                format!("the mock world is wrong: {m}"),
            ));
        }
        self.validate()?;
        let mut live = Live {
            current: world.live.clone(),
            ..Live::default()
        };
        for n in self.nodes.iter().filter(|n| n.kind.is_data()) {
            let outputs = world.data.get(&n.address).cloned().ok_or_else(|| {
                Error::encoding(
                    &n.address,
                    "an offline plan needs this data source's answer: give it with \
                     MockWorld::data",
                )
            })?;
            live.data.insert(n.address.clone(), outputs);
        }
        let state = world.state.clone().map(|mut s| {
            s.environment = self.name().to_string();
            s
        });
        make_plan(self, state.as_ref(), &live, false)
    }
}
