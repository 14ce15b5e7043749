//! What a resource sees of its environment while it is validated.

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
}

impl<'a> ValidateCx<'a> {
    /// The environment's name.
    pub fn environment(&self) -> &str {
        self.environment
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
