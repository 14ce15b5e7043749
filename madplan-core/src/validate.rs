//! What a resource sees of its environment while it is validated.

use std::any::{Any, TypeId};
use std::collections::HashMap;

use serde_json::Value;

use crate::address::Address;
use crate::error::Problem;
use crate::input::Input;
use crate::resource::Resource;

/// Read access to the other resources of the environment during validation.
pub struct ValidateCx<'a> {
    pub(crate) environment: &'a str,
    pub(crate) specs: &'a HashMap<Address, Value>,
    pub(crate) policies: &'a HashMap<TypeId, Box<dyn Any + Send + Sync>>,
}

impl<'a> ValidateCx<'a> {
    /// The environment's name.
    pub fn environment(&self) -> &str {
        self.environment
    }

    /// The environment-wide policy of type `T`, if the environment set one
    /// ([`crate::Environment::set_policy`]).
    pub fn policy<T: Any>(&self) -> Option<&T> {
        self.policies
            .get(&TypeId::of::<T>())
            .and_then(|p| p.downcast_ref::<T>())
    }

    /// The spec of the resource that `input` refers to, when it refers to a
    /// resource of kind `R` in this environment.
    pub fn referenced<R: Resource, T>(&self, input: &Input<T>) -> Option<(Address, R)> {
        let r = input.reference()?;
        if r.address.kind() != R::KIND {
            return None;
        }
        let spec = self.specs.get(&r.address)?;
        serde_json::from_value(spec.clone())
            .ok()
            .map(|s| (r.address.clone(), s))
    }
}

/// Shorthand to build a [`Problem`] on a field.
pub fn problem(field: &str, message: impl Into<String>, hint: Option<&str>) -> Problem {
    Problem {
        address: None,
        field: Some(field.to_string()),
        message: message.into(),
        hint: hint.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct TlsFloor(u8);

    #[test]
    fn a_policy_set_on_the_environment_is_seen_by_its_type() {
        let mut env = crate::Environment::new("test");
        assert!(env.policy::<TlsFloor>().is_none());
        env.set_policy(TlsFloor(2));
        env.set_policy(TlsFloor(3));
        assert_eq!(env.policy::<TlsFloor>(), Some(&TlsFloor(3)));
        let specs = HashMap::new();
        let mut policies: HashMap<TypeId, Box<dyn Any + Send + Sync>> = HashMap::new();
        let cx = ValidateCx {
            environment: "test",
            specs: &specs,
            policies: &policies,
        };
        assert!(cx.policy::<TlsFloor>().is_none());
        policies.insert(TypeId::of::<TlsFloor>(), Box::new(TlsFloor(2)));
        let cx = ValidateCx {
            environment: "test",
            specs: &specs,
            policies: &policies,
        };
        assert_eq!(cx.policy::<TlsFloor>(), Some(&TlsFloor(2)));
        assert!(cx.policy::<u8>().is_none());
    }
}
