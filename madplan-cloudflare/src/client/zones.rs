//! Zones.

use serde::{Deserialize, Serialize};

use super::Client;
use crate::error::Error;

/// A zone (a domain on Cloudflare).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zone {
    /// Its id, used in every zone-level path.
    pub id: String,
    /// Its domain name.
    pub name: String,
    /// `active`, `pending`, ...
    #[serde(default)]
    pub status: String,
}

impl Client {
    /// The zone named `name` (e.g. `madplan.com`).
    pub async fn zone_by_name(&self, name: &str) -> Result<Zone, Error> {
        let zones: Vec<Zone> = self
            .all("/zones", &[("name", name.to_string())], 50)
            .await?;
        zones
            .into_iter()
            .find(|z| z.name == name)
            .ok_or_else(|| Error::ZoneNotFound(name.to_string()))
    }
}
