//! The notification integrations monitors route to: PagerDuty services and
//! Slack channels. Each makes a handle (`@pagerduty-NAME`,
//! `@slack-ACCOUNT-CHANNEL`) that a monitor's message can notify.

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Client, Keys};
use crate::error::Error;

/// A PagerDuty service of the PagerDuty integration, as Datadog answers it
/// (the key is never answered).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PagerDutyService {
    /// Its name, the handle's suffix.
    pub service_name: String,
}

/// What a Slack channel of the Slack integration shows in alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackDisplay {
    /// The alert's message body.
    #[serde(default = "yes")]
    pub message: bool,
    /// The list of handles notified.
    #[serde(default = "yes")]
    pub notified: bool,
    /// A snapshot of the graph.
    #[serde(default = "yes")]
    pub snapshot: bool,
    /// The scopes that alerted.
    #[serde(default = "yes")]
    pub tags: bool,
    /// Buttons to mute the monitor.
    #[serde(default)]
    pub mute_buttons: bool,
}

fn yes() -> bool {
    true
}

impl Default for SlackDisplay {
    /// Datadog's defaults.
    fn default() -> Self {
        SlackDisplay {
            message: true,
            notified: true,
            snapshot: true,
            tags: true,
            mute_buttons: false,
        }
    }
}

/// A channel of the Slack integration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackChannel {
    /// Its name, with its `#`.
    pub name: String,
    /// What alerts show in it.
    #[serde(default)]
    pub display: SlackDisplay,
}

/// The path segment of a channel: its name without the `#`.
fn channel_segment(name: &str) -> String {
    name.trim_start_matches('#').to_string()
}

impl Client {
    /// Adds the PagerDuty service `name` with its integration key.
    pub async fn create_pagerduty_service(
        &self,
        name: &str,
        key: &SecretString,
    ) -> Result<PagerDutyService, Error> {
        self.call(
            Method::POST,
            "/api/v1/integration/pagerduty/configuration/services",
            &[],
            Some(&json!({"service_name": name, "service_key": key.expose_secret()})),
            Keys::Both,
        )
        .await
    }

    /// The PagerDuty service `name`.
    pub async fn pagerduty_service(&self, name: &str) -> Result<PagerDutyService, Error> {
        self.call::<_, ()>(
            Method::GET,
            &format!("/api/v1/integration/pagerduty/configuration/services/{name}"),
            &[],
            None,
            Keys::Both,
        )
        .await
    }

    /// Gives the PagerDuty service `name` a new integration key.
    pub async fn update_pagerduty_service(
        &self,
        name: &str,
        key: &SecretString,
    ) -> Result<(), Error> {
        let _: serde_json::Value = self
            .call(
                Method::PUT,
                &format!("/api/v1/integration/pagerduty/configuration/services/{name}"),
                &[],
                Some(&json!({"service_key": key.expose_secret()})),
                Keys::Both,
            )
            .await?;
        Ok(())
    }

    /// Removes the PagerDuty service `name`.
    pub async fn delete_pagerduty_service(&self, name: &str) -> Result<(), Error> {
        self.delete_call::<()>(
            Method::DELETE,
            &format!("/api/v1/integration/pagerduty/configuration/services/{name}"),
            None,
        )
        .await
    }

    /// Every channel of the Slack account `account`.
    pub async fn slack_channels(&self, account: &str) -> Result<Vec<SlackChannel>, Error> {
        self.call::<_, ()>(
            Method::GET,
            &format!("/api/v1/integration/slack/configuration/accounts/{account}/channels"),
            &[],
            None,
            Keys::Both,
        )
        .await
    }

    /// Adds a channel to the Slack account `account`.
    pub async fn create_slack_channel(
        &self,
        account: &str,
        channel: &SlackChannel,
    ) -> Result<SlackChannel, Error> {
        self.call(
            Method::POST,
            &format!("/api/v1/integration/slack/configuration/accounts/{account}/channels"),
            &[],
            Some(channel),
            Keys::Both,
        )
        .await
    }

    /// Changes what the channel shows.
    pub async fn update_slack_channel(
        &self,
        account: &str,
        channel: &SlackChannel,
    ) -> Result<SlackChannel, Error> {
        self.call(
            Method::PATCH,
            &format!(
                "/api/v1/integration/slack/configuration/accounts/{account}/channels/{}",
                channel_segment(&channel.name)
            ),
            &[],
            Some(channel),
            Keys::Both,
        )
        .await
    }

    /// Removes a channel from the Slack account `account`.
    pub async fn delete_slack_channel(&self, account: &str, name: &str) -> Result<(), Error> {
        self.delete_call::<()>(
            Method::DELETE,
            &format!(
                "/api/v1/integration/slack/configuration/accounts/{account}/channels/{}",
                channel_segment(name)
            ),
            None,
        )
        .await
    }
}
