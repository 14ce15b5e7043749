//! Notification channels as resources: a PagerDuty service and Slack
//! channels of Datadog's integrations. Their handles are outputs, which is
//! how monitors route to them ([`super::Routes`]).
//!
//! Neither API has tags, a description, or (for PagerDuty) a list: these
//! are found again by what state recorded (the service's name, the channel's
//! account and name). A channel or service made by hand under the same name
//! makes the create fail with a conflict instead of being taken over. Their
//! creates are recorded before they are sent (`OpCx::creating`): one whose
//! answer was lost, or whose process died, is found by that record and
//! completed by the next apply; one refused is forgotten.

use std::collections::BTreeSet;

use madplan_core::{
    Found, Observed, OpCx, Problem, ProviderError, RefreshCx, Replacement, Resource, Secret,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize};

use super::routing::{PagerDutyHandle, SlackHandle};
use super::{Datadog, deleted, found, provider_error};
use crate::client::integrations::{SlackChannel as WireChannel, SlackDisplay};

/// A service of the PagerDuty integration (`@pagerduty-NAME`), with the
/// integration key PagerDuty gave for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PagerDutyService {
    /// The service's name in Datadog, the handle's suffix.
    pub service_name: String,
    /// The PagerDuty integration key (Datadog never answers it: compared
    /// with the version last applied; give a new version to rotate it).
    pub service_key: Option<Secret>,
}

impl PagerDutyService {
    /// The service `name` with the integration key `key`.
    pub fn new(name: &str, key: Secret) -> Self {
        Self {
            service_name: name.to_string(),
            service_key: Some(key),
        }
    }
}

/// What a PagerDuty service yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PagerDutyOutputs {
    /// Its name.
    pub service_name: String,
    /// `@pagerduty-NAME`.
    pub handle: PagerDutyHandle,
}

fn handle_name_problems(name: &str, field: &str, problems: &mut Vec<Problem>) {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c == '@' || c == '/' || c == '{' || c == '}')
    {
        problems.push(problem(
            field,
            format!("{name:?} cannot be part of a notification handle (empty, or has spaces, `@`, `/` or braces)"),
            None,
        ));
    }
}

impl Resource for PagerDutyService {
    const KIND: &'static str = "datadog.pagerduty_service";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["service_name"];
    /// A new name never collides with the old one: the new service exists
    /// before monitors move to it, and the old one goes last.
    const REPLACEMENT: Replacement = Replacement::CreateBeforeDestroy;
    /// A message naming a handle does not keep Datadog from removing it:
    /// monitors are updated in place, never replaced with it.
    const HELD_BY_DEPENDENTS: bool = false;
    const WRITE_ONLY: &'static [&'static str] = &["service_key"];
    type Provider = Datadog;
    type Outputs = PagerDutyOutputs;

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        handle_name_problems(&self.service_name, "service_name", problems);
        if self.service_key.is_none() {
            problems.push(problem(
                "service_key",
                "the PagerDuty integration key is missing",
                Some("give it with Environment::secret and PagerDutyService::new"),
            ));
        }
    }

    /// One read per service the state tracks: the API lists none.
    async fn refresh(p: &Datadog, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let mut out = Vec::new();
        let mut asked = BTreeSet::new();
        for t in &cx.tracked {
            let name = &t.outputs.service_name;
            if !asked.insert(name.clone()) {
                continue;
            }
            let Some(live) = found(p.client().pagerduty_service(name).await)? else {
                continue;
            };
            if let Some(claim) = cx.claim(|o| o.service_name == live.service_name, |_| None) {
                out.push(Found::new(
                    claim,
                    PagerDutyService {
                        service_name: live.service_name.clone(),
                        service_key: None,
                    },
                    PagerDutyOutputs {
                        handle: PagerDutyHandle::of(&live.service_name),
                        service_name: live.service_name,
                    },
                ));
            }
        }
        Ok(out)
    }

    async fn create(&self, p: &Datadog, cx: &OpCx) -> Result<PagerDutyOutputs, ProviderError> {
        let key = key_of(self, cx)?;
        // Keyed by its name, with nothing to recognise it by: recorded
        // before it is sent, so that a create whose answer is lost (or
        // whose process dies) is found and completed by the next apply.
        cx.creating(&PagerDutyOutputs {
            handle: PagerDutyHandle::of(&self.service_name),
            service_name: self.service_name.clone(),
        })
        .await?;
        let made = p
            .client()
            .create_pagerduty_service(&self.service_name, key)
            .await
            .map_err(provider_error)?;
        let outputs = PagerDutyOutputs {
            handle: PagerDutyHandle::of(&made.service_name),
            service_name: made.service_name,
        };
        cx.created(&outputs).await?;
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        _changed: &[String],
        p: &Datadog,
        cx: &OpCx,
    ) -> Result<PagerDutyOutputs, ProviderError> {
        let key = key_of(self, cx)?;
        p.client()
            .update_pagerduty_service(&prior.outputs.service_name, key)
            .await
            .map_err(provider_error)?;
        Ok(prior.outputs.clone())
    }

    async fn delete(
        outputs: &PagerDutyOutputs,
        p: &Datadog,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        deleted(
            p.client()
                .delete_pagerduty_service(&outputs.service_name)
                .await,
        )
    }
}

fn key_of<'a>(
    s: &PagerDutyService,
    cx: &'a OpCx,
) -> Result<&'a secrecy::SecretString, ProviderError> {
    let secret = s.service_key.as_ref().ok_or_else(|| {
        ProviderError::new(
            "datadog",
            madplan_core::ErrorClass::Fatal,
            "the PagerDuty integration key is missing",
        )
    })?;
    cx.secret(secret)
}

/// A channel of the Slack integration (`@slack-ACCOUNT-CHANNEL`). The Slack
/// account itself is connected in Datadog's UI (OAuth), not through the API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlackChannel {
    /// The Slack account's name in Datadog.
    pub account: String,
    /// The channel, with its `#`.
    pub channel: String,
    /// What alerts show in it.
    pub display: SlackDisplay,
}

impl SlackChannel {
    /// The channel `channel` (`#name`) of `account`, showing what Datadog
    /// shows by default.
    pub fn new(account: &str, channel: &str) -> Self {
        Self {
            account: account.to_string(),
            channel: channel.to_string(),
            display: SlackDisplay::default(),
        }
    }

    /// A builder, for other display options.
    pub fn builder(account: &str, channel: &str) -> SlackChannelBuilder {
        SlackChannelBuilder(Self::new(account, channel))
    }
}

/// Builds a [`SlackChannel`].
#[derive(Clone, Debug)]
pub struct SlackChannelBuilder(SlackChannel);

impl SlackChannelBuilder {
    /// Whether alerts show a snapshot of the graph.
    #[must_use]
    pub fn snapshot(mut self, on: bool) -> Self {
        self.0.display.snapshot = on;
        self
    }

    /// Whether alerts show buttons to mute the monitor.
    #[must_use]
    pub fn mute_buttons(mut self, on: bool) -> Self {
        self.0.display.mute_buttons = on;
        self
    }

    /// The channel.
    pub fn build(self) -> SlackChannel {
        self.0
    }
}

/// What a Slack channel yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlackOutputs {
    /// The account.
    pub account: String,
    /// The channel, with its `#`.
    pub channel: String,
    /// `@slack-ACCOUNT-CHANNEL`.
    pub handle: SlackHandle,
}

impl SlackOutputs {
    fn of(account: &str, channel: &str) -> Self {
        Self {
            account: account.to_string(),
            channel: channel.to_string(),
            handle: SlackHandle::of(account, channel),
        }
    }
}

impl Resource for SlackChannel {
    const KIND: &'static str = "datadog.slack_channel";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["account", "channel"];
    /// As for PagerDuty services: the new channel first, monitors moved in
    /// place, the old channel last.
    const REPLACEMENT: Replacement = Replacement::CreateBeforeDestroy;
    /// Monitors naming the channel do not hold it.
    const HELD_BY_DEPENDENTS: bool = false;
    type Provider = Datadog;
    type Outputs = SlackOutputs;

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        handle_name_problems(&self.account, "account", problems);
        match self.channel.strip_prefix('#') {
            Some(name) => handle_name_problems(name, "channel", problems),
            None => problems.push(problem(
                "channel",
                format!("{:?} does not start with `#`", self.channel),
                None,
            )),
        }
    }

    /// One list per Slack account the state's channels are in.
    async fn refresh(p: &Datadog, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let accounts: BTreeSet<&str> = cx
            .tracked
            .iter()
            .map(|t| t.outputs.account.as_str())
            .collect();
        let mut out = Vec::new();
        for account in accounts {
            let Some(channels) = found(p.client().slack_channels(account).await)? else {
                continue;
            };
            for c in channels {
                let claim = cx.claim(|o| o.account == account && o.channel == c.name, |_| None);
                if let Some(claim) = claim {
                    out.push(Found::new(
                        claim,
                        SlackChannel {
                            account: account.to_string(),
                            channel: c.name.clone(),
                            display: c.display,
                        },
                        SlackOutputs::of(account, &c.name),
                    ));
                }
            }
        }
        Ok(out)
    }

    async fn create(&self, p: &Datadog, cx: &OpCx) -> Result<SlackOutputs, ProviderError> {
        // Keyed by its name, with nothing to recognise it by: recorded
        // before it is sent (see the PagerDuty service).
        cx.creating(&SlackOutputs::of(&self.account, &self.channel))
            .await?;
        p.client()
            .create_slack_channel(
                &self.account,
                &WireChannel {
                    name: self.channel.clone(),
                    display: self.display,
                },
            )
            .await
            .map_err(provider_error)?;
        let outputs = SlackOutputs::of(&self.account, &self.channel);
        cx.created(&outputs).await?;
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        _changed: &[String],
        p: &Datadog,
        _cx: &OpCx,
    ) -> Result<SlackOutputs, ProviderError> {
        p.client()
            .update_slack_channel(
                &self.account,
                &WireChannel {
                    name: self.channel.clone(),
                    display: self.display,
                },
            )
            .await
            .map_err(provider_error)?;
        Ok(prior.outputs.clone())
    }

    async fn delete(outputs: &SlackOutputs, p: &Datadog, _cx: &OpCx) -> Result<(), ProviderError> {
        deleted(
            p.client()
                .delete_slack_channel(&outputs.account, &outputs.channel)
                .await,
        )
    }
}
