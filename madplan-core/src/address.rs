//! Stable resource addresses such as `aws.vpc.main`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The stable name of a resource: its kind (`aws.vpc`) and the name it was
/// given in its environment (`main`), printed as `aws.vpc.main`. It names the
/// resource in plans, state, errors and tags.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    kind: String,
    name: String,
}

impl Address {
    /// An address of `kind` named `name`.
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            name: name.into(),
        }
    }

    /// The kind, e.g. `aws.vpc`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The name within the environment, e.g. `main`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Why `name` cannot be a resource name, if it cannot.
    pub fn check_name(name: &str) -> Option<String> {
        if name.is_empty() {
            return Some("a resource name must not be empty".into());
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
        {
            return Some(format!(
                "resource name {name:?} contains {c:?}; use lower-case letters, digits, '-' and '_'"
            ));
        }
        None
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.name)
    }
}

/// An address string that is not `provider.kind.name`.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a resource address (expected e.g. aws.vpc.main)")]
pub struct BadAddress(String);

impl FromStr for Address {
    type Err = BadAddress;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.rsplit_once('.') {
            Some((kind, name)) if kind.contains('.') && !name.is_empty() => {
                Ok(Address::new(kind, name))
            }
            _ => Err(BadAddress(s.to_string())),
        }
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let a: Address = "aws.security_group.web".parse().unwrap();
        assert_eq!(a.kind(), "aws.security_group");
        assert_eq!(a.name(), "web");
        assert_eq!(a.to_string(), "aws.security_group.web");
        assert!("vpc".parse::<Address>().is_err());
        assert!("aws.vpc.".parse::<Address>().is_err());
    }

    #[test]
    fn names_are_checked() {
        assert!(Address::check_name("web-a_1").is_none());
        assert!(Address::check_name("Web").is_some());
        assert!(Address::check_name("").is_some());
        assert!(Address::check_name("a.b").is_some());
    }
}
