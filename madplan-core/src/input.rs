//! Typed references between resources: [`Ref`] handles and [`Input`] values.

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::address::Address;

/// The key under which a reference to another resource's output is stored in
/// the engine's serialized form of a spec.
pub const OUTPUT_MARKER: &str = "$output";

/// A typed handle to a resource (or data source) in an
/// [`crate::Environment`], returned by [`crate::Environment::add`] (or
/// [`crate::Environment::read`]). Builders of other resources take it where they
/// need one of its outputs, which is how the engine learns the dependency.
pub struct Ref<R> {
    address: Address,
    env_id: u64,
    _kind: PhantomData<fn() -> R>,
}

impl<R> Clone for Ref<R> {
    fn clone(&self) -> Self {
        Self {
            address: self.address.clone(),
            env_id: self.env_id,
            _kind: PhantomData,
        }
    }
}

impl<R> fmt::Debug for Ref<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ref({})", self.address)
    }
}

impl<R> Ref<R> {
    pub(crate) fn new(address: Address, env_id: u64) -> Self {
        Self {
            address,
            env_id,
            _kind: PhantomData,
        }
    }

    /// The address of the resource this handle points at.
    pub fn address(&self) -> &Address {
        &self.address
    }

    pub(crate) fn env_id(&self) -> u64 {
        self.env_id
    }

    /// A reference to the output field `output` of this resource. Provider
    /// crates wrap this in typed conversions (`From<&Ref<Vpc>> for
    /// Input<VpcId>`), so users never spell output names.
    pub fn output<T>(&self, output: &'static str) -> Input<T> {
        Input::Output(OutputRef {
            address: self.address.clone(),
            output: output.to_string(),
        })
    }
}

/// Where a value comes from when it is another resource's output.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OutputRef {
    /// The resource that yields the value.
    pub address: Address,
    /// The name of the output field.
    pub output: String,
}

impl fmt::Display for OutputRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.address, self.output)
    }
}

/// A field value that is either known now or is another resource's output,
/// known only once that resource exists. The engine resolves every `Input`
/// before it calls a provider, so provider code reads it with [`Input::get`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Input<T> {
    /// A value given directly.
    Value(T),
    /// An output of another resource.
    Output(OutputRef),
}

/// An [`Input`] was read before the engine resolved it.
#[derive(Debug, thiserror::Error)]
#[error("{0} is not known yet")]
pub struct Unresolved(pub OutputRef);

impl<T> Input<T> {
    /// The value, or the reference that was not resolved. The engine resolves
    /// every input before calling a provider, so in provider code an error
    /// here is a bug in the engine.
    pub fn get(&self) -> Result<&T, Unresolved> {
        match self {
            Input::Value(v) => Ok(v),
            Input::Output(r) => Err(Unresolved(r.clone())),
        }
    }

    /// The value if it is known.
    pub fn known(&self) -> Option<&T> {
        match self {
            Input::Value(v) => Some(v),
            Input::Output(_) => None,
        }
    }

    /// The reference, if this is one.
    pub fn reference(&self) -> Option<&OutputRef> {
        match self {
            Input::Value(_) => None,
            Input::Output(r) => Some(r),
        }
    }
}

/// Conversion into an [`Input`]: a plain value, an `Input`, or (implemented
/// by provider crates) a typed handle whose output has the right type, such
/// as `&Ref<Vpc>` for `Input<VpcId>`. Builders take `impl IntoInput<T>`.
pub trait IntoInput<T> {
    /// The input.
    fn into_input(self) -> Input<T>;
}

impl<T> IntoInput<T> for T {
    fn into_input(self) -> Input<T> {
        Input::Value(self)
    }
}

impl<T> IntoInput<T> for Input<T> {
    fn into_input(self) -> Input<T> {
        self
    }
}

impl<T: Clone> IntoInput<T> for &Input<T> {
    fn into_input(self) -> Input<T> {
        self.clone()
    }
}

impl IntoInput<String> for &str {
    fn into_input(self) -> Input<String> {
        Input::Value(self.to_string())
    }
}

impl IntoInput<crate::net::Cidr> for &str {
    fn into_input(self) -> Input<crate::net::Cidr> {
        Input::Value(crate::net::Cidr::from(self))
    }
}

impl IntoInput<crate::net::Cidr> for String {
    fn into_input(self) -> Input<crate::net::Cidr> {
        Input::Value(crate::net::Cidr::from(self))
    }
}

impl<T> From<T> for Input<T> {
    fn from(v: T) -> Self {
        Input::Value(v)
    }
}

impl From<&str> for Input<String> {
    fn from(v: &str) -> Self {
        Input::Value(v.to_string())
    }
}

#[derive(Serialize, Deserialize)]
struct Marker {
    #[serde(rename = "$output")]
    output: OutputRef,
}

impl<T: Serialize> Serialize for Input<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Input::Value(v) => v.serialize(s),
            Input::Output(r) => Marker { output: r.clone() }.serialize(s),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Input<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        if let Some(r) = marker(&v) {
            return Ok(Input::Output(r));
        }
        serde_json::from_value(v)
            .map(Input::Value)
            .map_err(serde::de::Error::custom)
    }
}

/// The reference stored in `v`, if `v` is the serialized form of an
/// unresolved [`Input`].
pub fn marker(v: &serde_json::Value) -> Option<OutputRef> {
    let obj = v.as_object()?;
    if obj.len() != 1 {
        return None;
    }
    let inner = obj.get(OUTPUT_MARKER)?;
    serde_json::from_value(inner.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_values_and_references() {
        let v: Input<String> = "vpc-1".into();
        let j = serde_json::to_value(&v).unwrap();
        assert_eq!(j, serde_json::json!("vpc-1"));
        assert_eq!(serde_json::from_value::<Input<String>>(j).unwrap(), v);

        let r: Input<String> = Input::Output(OutputRef {
            address: "aws.vpc.main".parse().unwrap(),
            output: "vpc_id".into(),
        });
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"$output": {"address": "aws.vpc.main", "output": "vpc_id"}})
        );
        assert_eq!(marker(&j).unwrap().output, "vpc_id");
        assert_eq!(serde_json::from_value::<Input<String>>(j).unwrap(), r);
        assert!(r.get().is_err());
    }
}
