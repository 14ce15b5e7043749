//! Zone settings madplan manages, each a Rust type whose closed set of
//! values still decodes a value this version does not know.

use std::fmt::Debug;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Client;
use super::strings::string_enum;
use crate::error::Error;

/// A zone setting: its id in the API and the type of its value.
pub trait Setting {
    /// The setting's id, e.g. `ssl`.
    const ID: &'static str;
    /// Its value.
    type Value: Serialize + DeserializeOwned + Clone + Debug + PartialEq + Send + Sync;
}

string_enum! {
    /// The SSL/TLS encryption mode between Cloudflare and the origin.
    pub enum SslMode {
        /// No encryption.
        Off = "off",
        /// Encrypted to Cloudflare only.
        Flexible = "flexible",
        /// Encrypted end to end, any origin certificate.
        Full = "full",
        /// Encrypted end to end, origin certificate validated ("Full (strict)").
        Strict = "strict",
        /// Strict, and only Cloudflare may connect to the origin (Enterprise).
        OriginPull = "origin_pull",
    }
}

string_enum! {
    /// A TLS protocol version.
    pub enum TlsVersion {
        /// TLS 1.0.
        V1_0 = "1.0",
        /// TLS 1.1.
        V1_1 = "1.1",
        /// TLS 1.2.
        V1_2 = "1.2",
        /// TLS 1.3.
        V1_3 = "1.3",
    }
}

string_enum! {
    /// On or off.
    pub enum OnOff {
        /// On.
        On = "on",
        /// Off.
        Off = "off",
    }
}

impl From<bool> for OnOff {
    fn from(on: bool) -> Self {
        if on { OnOff::On } else { OnOff::Off }
    }
}

string_enum! {
    /// TLS 1.3 support.
    pub enum Tls13 {
        /// Enabled.
        On = "on",
        /// Disabled.
        Off = "off",
        /// Enabled with 0-RTT.
        Zrt = "zrt",
    }
}

/// HTTP Strict Transport Security as Cloudflare sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hsts {
    /// Whether the header is sent.
    #[serde(default)]
    pub enabled: bool,
    /// `max-age` in seconds.
    #[serde(default)]
    pub max_age: u32,
    /// `includeSubDomains`.
    #[serde(default)]
    pub include_subdomains: bool,
    /// `preload`. (The 2023 OpenAPI document lacks this field; Cloudflare's
    /// current documentation has it.)
    #[serde(default)]
    pub preload: bool,
    /// Also send `X-Content-Type-Options: nosniff`.
    #[serde(default)]
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
setting!(
    /// `automatic_https_rewrites`: rewrite `http://` links in HTML to
    /// `https://` where the target supports it.
    AutomaticHttpsRewrites, "automatic_https_rewrites", OnOff
);

/// One setting as the all-settings read returns it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct SettingEntry {
    /// Its id.
    pub id: String,
    /// Its value, as sent.
    pub value: Value,
    /// Whether the zone's plan lets it be changed.
    #[serde(default = "yes")]
    pub editable: bool,
}

fn yes() -> bool {
    true
}

/// Every setting of a zone, read in one call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZoneSettingValues {
    /// The entries, as Cloudflare listed them.
    pub entries: Vec<SettingEntry>,
}

impl ZoneSettingValues {
    /// The entry of setting `id`.
    pub fn entry(&self, id: &str) -> Option<&SettingEntry> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// The value of `S`: `None` when the zone does not list it, an error
    /// when its value does not decode as `S::Value`.
    pub fn get<S: Setting>(&self) -> Result<Option<S::Value>, Error> {
        self.entry(S::ID)
            .map(|e| {
                serde_json::from_value(e.value.clone()).map_err(|err| {
                    Error::decode(
                        "GET",
                        "/zones/{zone_id}/settings",
                        format!("setting {}: {err}", S::ID),
                    )
                })
            })
            .transpose()
    }
}

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

    /// Every setting of the zone, in one call (`GET /zones/{id}/settings`).
    pub async fn settings(&self, zone_id: &str) -> Result<ZoneSettingValues, Error> {
        let entries = self
            .result::<Vec<SettingEntry>, ()>(
                Method::GET,
                &format!("/zones/{zone_id}/settings"),
                &[],
                None,
            )
            .await?;
        Ok(ZoneSettingValues { entries })
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn setting_values_this_version_does_not_know_still_decode() {
        let all = ZoneSettingValues {
            entries: serde_json::from_value(json!([
                {"id": "ssl", "value": "strict_plus", "editable": true},
                {"id": "min_tls_version", "value": "1.2"},
                {"id": "security_header", "value": {"strict_transport_security": {"enabled": true, "max_age": 600, "include_subdomains": false, "nosniff": true}}},
                {"id": "brotli", "value": "on"}
            ]))
            .unwrap(),
        };
        assert_eq!(
            all.get::<Ssl>().unwrap(),
            Some(SslMode::Other("strict_plus".into()))
        );
        assert_eq!(all.get::<MinTlsVersion>().unwrap(), Some(TlsVersion::V1_2));
        let hsts = all.get::<SecurityHeader>().unwrap().unwrap();
        assert!(!hsts.strict_transport_security.preload, "absent means off");
        assert_eq!(all.get::<Tls13Setting>().unwrap(), None);
    }
}
