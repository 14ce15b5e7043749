//! Zones.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::Client;
use crate::error::Error;

/// The plan a zone is on, as the zone object carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZonePlanInfo {
    /// The plan's id.
    #[serde(default)]
    pub id: String,
    /// Its name, e.g. `Free Website`.
    #[serde(default)]
    pub name: String,
    /// `free`, `pro`, `business` or `enterprise`.
    #[serde(default)]
    pub legacy_id: Option<String>,
}

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
    /// Its plan. (The 2023 OpenAPI document leaves it out of the zone
    /// object; the API sends it.)
    #[serde(default)]
    pub plan: Option<ZonePlanInfo>,
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

    /// The zone `id`.
    pub async fn zone(&self, id: &str) -> Result<Zone, Error> {
        self.result::<_, ()>(Method::GET, &format!("/zones/{id}"), &[], None)
            .await
    }

    /// Every zone the token can see, all pages (50 a page).
    pub async fn zones(&self) -> Result<Vec<Zone>, Error> {
        self.all("/zones", &[], 50).await
    }
}
