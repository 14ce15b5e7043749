//! What an environment demands of its AWS resources, checked by validation
//! before any API call: set it once with
//! `env.require(Baseline::production())`.
//!
//! ```
//! use madplan_aws::baseline::{Baseline, TlsVersion};
//! use madplan_core::Environment;
//!
//! let mut env = Environment::new("production");
//! env.require(Baseline::production());
//! assert_eq!(env.requirement::<Baseline>().unwrap().tls_floor, Some(TlsVersion::V1_2));
//! ```

use serde::{Deserialize, Serialize};

/// A TLS protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TlsVersion {
    /// TLS 1.0 (deprecated).
    V1_0,
    /// TLS 1.1 (deprecated).
    V1_1,
    /// TLS 1.2.
    V1_2,
    /// TLS 1.3.
    V1_3,
}

impl std::fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TlsVersion::V1_0 => "TLS 1.0",
            TlsVersion::V1_1 => "TLS 1.1",
            TlsVersion::V1_2 => "TLS 1.2",
            TlsVersion::V1_3 => "TLS 1.3",
        })
    }
}

/// The security floor of an environment's AWS resources. Each rule that is
/// on refuses, at validation, a resource that falls below it, naming the
/// resource and field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Baseline {
    /// The oldest TLS version an HTTPS listener's policy may accept.
    pub tls_floor: Option<TlsVersion>,
    /// Launch templates must require IMDSv2 session tokens.
    pub imdsv2_required: bool,
    /// Launch templates' volumes must be encrypted.
    pub encrypted_volumes: bool,
}

impl Baseline {
    /// No demands.
    pub fn none() -> Self {
        Self::default()
    }

    /// What the MadPlan deployment guide demands: TLS 1.2 and later only,
    /// IMDSv2, encryption at rest.
    pub fn production() -> Self {
        Self {
            tls_floor: Some(TlsVersion::V1_2),
            imdsv2_required: true,
            encrypted_volumes: true,
        }
    }

    /// Sets the TLS floor.
    #[must_use]
    pub fn tls_floor(mut self, floor: TlsVersion) -> Self {
        self.tls_floor = Some(floor);
        self
    }

    /// Demands IMDSv2 (or not).
    #[must_use]
    pub fn imdsv2_required(mut self, on: bool) -> Self {
        self.imdsv2_required = on;
        self
    }

    /// Demands encrypted volumes (or not).
    #[must_use]
    pub fn encrypted_volumes(mut self, on: bool) -> Self {
        self.encrypted_volumes = on;
        self
    }
}
