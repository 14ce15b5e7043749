//! Zone settings madplan manages, each a closed Rust type.

use std::fmt::Debug;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::Client;
use crate::error::Error;

/// A zone setting: its id in the API and the type of its value.
pub trait Setting {
    /// The setting's id, e.g. `ssl`.
    const ID: &'static str;
    /// Its value.
    type Value: Serialize + DeserializeOwned + Clone + Debug + PartialEq + Send + Sync;
}

/// The SSL/TLS encryption mode between Cloudflare and the origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SslMode {
    /// No encryption.
    Off,
    /// Encrypted to Cloudflare only.
    Flexible,
    /// Encrypted end to end, any origin certificate.
    Full,
    /// Encrypted end to end, origin certificate validated ("Full (strict)").
    Strict,
}

/// A TLS protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TlsVersion {
    /// TLS 1.0.
    #[serde(rename = "1.0")]
    V1_0,
    /// TLS 1.1.
    #[serde(rename = "1.1")]
    V1_1,
    /// TLS 1.2.
    #[serde(rename = "1.2")]
    V1_2,
    /// TLS 1.3.
    #[serde(rename = "1.3")]
    V1_3,
}

/// On or off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnOff {
    /// On.
    On,
    /// Off.
    Off,
}

/// TLS 1.3 support.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls13 {
    /// Enabled.
    On,
    /// Disabled.
    Off,
    /// Enabled with 0-RTT.
    Zrt,
}

/// HTTP Strict Transport Security as Cloudflare sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hsts {
    /// Whether the header is sent.
    pub enabled: bool,
    /// `max-age` in seconds.
    pub max_age: u32,
    /// `includeSubDomains`.
    pub include_subdomains: bool,
    /// `preload`. (The 2023 OpenAPI document lacks this field; Cloudflare's
    /// current documentation has it.)
    #[serde(default)]
    pub preload: bool,
    /// Also send `X-Content-Type-Options: nosniff`.
    pub nosniff: bool,
}

/// The `security_header` setting's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityHeaderValue {
    /// HSTS.
    pub strict_transport_security: Hsts,
}

macro_rules! setting {
    ($(#[$doc:meta])* $name:ident, $id:literal, $value:ty) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name;
        impl Setting for $name {
            const ID: &'static str = $id;
            type Value = $value;
        }
    };
}

setting!(
    /// `ssl`: the encryption mode.
    Ssl, "ssl", SslMode
);
setting!(
    /// `min_tls_version`: the oldest TLS version accepted from visitors.
    MinTlsVersion, "min_tls_version", TlsVersion
);
setting!(
    /// `always_use_https`: redirect HTTP to HTTPS.
    AlwaysUseHttps, "always_use_https", OnOff
);
setting!(
    /// `tls_1_3`: TLS 1.3 support.
    Tls13Setting, "tls_1_3", Tls13
);
setting!(
    /// `security_header`: HSTS.
    SecurityHeader, "security_header", SecurityHeaderValue
);

#[derive(Deserialize)]
struct SettingResult<V> {
    value: V,
}

#[derive(Serialize)]
struct SettingBody<'a, V> {
    value: &'a V,
}

impl Client {
    /// The current value of setting `S` of the zone.
    pub async fn setting<S: Setting>(&self, zone_id: &str) -> Result<S::Value, Error> {
        let r: SettingResult<S::Value> = self
            .result::<_, ()>(
                Method::GET,
                &format!("/zones/{zone_id}/settings/{}", S::ID),
                &[],
                None,
            )
            .await?;
        Ok(r.value)
    }

    /// Sets setting `S` of the zone and returns the value Cloudflare reports.
    pub async fn set_setting<S: Setting>(
        &self,
        zone_id: &str,
        value: &S::Value,
    ) -> Result<S::Value, Error> {
        let r: SettingResult<S::Value> = self
            .result(
                Method::PATCH,
                &format!("/zones/{zone_id}/settings/{}", S::ID),
                &[],
                Some(&SettingBody { value }),
            )
            .await?;
        Ok(r.value)
    }
}
