//! Secrets that resources need (database passwords, API tokens). Their values
//! stay in memory: specs, plans, state and logs only ever hold a secret's
//! name and version.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A reference to a secret given to the environment with
/// [`crate::Environment::secret`]. Put it in a spec field; provider code
/// reads the value with [`crate::OpCx::secret`].
///
/// A provider cannot read a secret back to compare it, so a changed value is
/// not seen as drift: rotate a secret by giving it a new version, which
/// changes the spec and makes the plan update the resource.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Secret {
    #[serde(rename = "$secret")]
    name: String,
    version: String,
}

impl Secret {
    pub(crate) fn new(name: &str, version: &str) -> Self {
        Self {
            name: name.to_string(),
            version: version.to_string(),
        }
    }

    /// The secret's name in its environment.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version the operator gave it.
    pub fn version(&self) -> &str {
        &self.version
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({}, version {})", self.name, self.version)
    }
}

/// Every secret name a stored spec refers to.
pub(crate) fn names(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(o) => {
            if let Some(serde_json::Value::String(n)) = o.get("$secret") {
                out.push(n.clone());
            }
            o.values().for_each(|x| names(x, out));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| names(x, out)),
        _ => {}
    }
}
