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
    pub(crate) requirements: &'a HashMap<TypeId, Box<dyn Any + Send + Sync>>,
}

impl<'a> ValidateCx<'a> {
    /// The environment's name.
    pub fn environment(&self) -> &str {
        self.environment
    }

    /// What the environment requires of type `T`, if it set it
    /// ([`crate::Environment::require`]).
    pub fn requirement<T: Any>(&self) -> Option<&T> {
        self.requirements
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
    fn a_requirement_set_on_the_environment_is_seen_by_its_type() {
        let mut env = crate::Environment::new("test");
        assert!(env.requirement::<TlsFloor>().is_none());
        env.require(TlsFloor(2));
        env.require(TlsFloor(3));
        assert_eq!(env.requirement::<TlsFloor>(), Some(&TlsFloor(3)));
        let specs = HashMap::new();
        let mut requirements: HashMap<TypeId, Box<dyn Any + Send + Sync>> = HashMap::new();
        let cx = ValidateCx {
            environment: "test",
            specs: &specs,
            requirements: &requirements,
        };
        assert!(cx.requirement::<TlsFloor>().is_none());
        requirements.insert(TypeId::of::<TlsFloor>(), Box::new(TlsFloor(2)));
        let cx = ValidateCx {
            environment: "test",
            specs: &specs,
            requirements: &requirements,
        };
        assert_eq!(cx.requirement::<TlsFloor>(), Some(&TlsFloor(2)));
        assert!(cx.requirement::<u8>().is_none());
    }
}
