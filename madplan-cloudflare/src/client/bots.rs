//! Bot protection: Bot Fight Mode (Free), Super Bot Fight Mode (Pro and
//! Business) and the fields of Bot Management (Enterprise), all in one
//! zone object.
//!
//! `GET`/`PUT /zones/{zone_id}/bot_management` is newer than the 2023
//! OpenAPI document madplan's specs are cut from; the model follows
//! Cloudflare's current API reference and the fake serves it without a
//! spec check (named as an allowance there).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Client;
use super::strings::string_enum;
use crate::error::Error;

string_enum! {
    /// What Super Bot Fight Mode does with a class of bots.
    pub enum SbfmAction {
        /// Let them through.
        Allow = "allow",
        /// Block them.
        Block = "block",
        /// Managed challenge.
        ManagedChallenge = "managed_challenge",
    }
}

/// A zone's bot configuration. Only the fields that are `Some` are sent;
/// fields this version does not model are kept in `extra` when read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BotManagement {
    /// Bot Fight Mode (Free plan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fight_mode: Option<bool>,
    /// JavaScript detections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_js: Option<bool>,
    /// Super Bot Fight Mode: definitely automated traffic (Pro and up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbfm_definitely_automated: Option<SbfmAction>,
    /// Super Bot Fight Mode: likely automated traffic (Business and up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbfm_likely_automated: Option<SbfmAction>,
    /// Super Bot Fight Mode: verified bots (`allow` or `block`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbfm_verified_bots: Option<SbfmAction>,
    /// Super Bot Fight Mode also on static resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbfm_static_resource_protection: Option<bool>,
    /// Let WordPress's own automation through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimize_wordpress: Option<bool>,
    /// Fields this version does not model (read-only ones such as
    /// `using_latest_model`, newer settings).
    #[serde(flatten, skip_serializing)]
    pub extra: Map<String, Value>,
}

impl Client {
    /// The zone's bot configuration.
    pub async fn bot_management(&self, zone_id: &str) -> Result<BotManagement, Error> {
        self.result::<_, ()>(
            Method::GET,
            &format!("/zones/{zone_id}/bot_management"),
            &[],
            None,
        )
        .await
    }

    /// Sets the fields of `config` that are `Some`, leaving the others as
    /// they are, and returns the configuration Cloudflare reports.
    pub async fn set_bot_management(
        &self,
        zone_id: &str,
        config: &BotManagement,
    ) -> Result<BotManagement, Error> {
        self.result(
            Method::PUT,
            &format!("/zones/{zone_id}/bot_management"),
            &[],
            Some(config),
        )
        .await
    }
}
