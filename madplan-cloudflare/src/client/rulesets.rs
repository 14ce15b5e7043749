//! Rulesets of a zone's phase entrypoints (cache rules, rate limiting), with
//! a read-modify-write that only touches the rules madplan owns.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Client;
use crate::error::Error;

/// The phases madplan manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Cache rules.
    HttpRequestCacheSettings,
    /// Rate limiting rules.
    HttpRatelimit,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::HttpRequestCacheSettings => "http_request_cache_settings",
            Phase::HttpRatelimit => "http_ratelimit",
        }
    }
}

/// What a rule does when it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RuleAction {
    /// Cache rules: set cache settings.
    SetCacheSettings,
    /// Rate limiting: block.
    Block,
    /// Rate limiting: managed challenge.
    ManagedChallenge,
    /// Rate limiting: interactive challenge.
    Challenge,
    /// Rate limiting: JavaScript challenge.
    JsChallenge,
    /// Log only.
    Log,
}

/// The rate-limiting part of a `http_ratelimit` rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// What identifies a client, e.g. `["ip.src", "cf.colo.id"]`.
    pub characteristics: Vec<String>,
    /// The counting period in seconds.
    pub period: u32,
    /// Requests allowed per period.
    pub requests_per_period: u32,
    /// How long the action lasts, in seconds.
    pub mitigation_timeout: u32,
}

/// A rule of a ruleset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Cloudflare's id (absent for new rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A stable reference chosen by the owner; madplan marks its rules here.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// What the rule does.
    pub action: RuleAction,
    /// Which requests it matches.
    pub expression: String,
    /// A note for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether it is on.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The action's parameters (cache settings: `cache`, `edge_ttl`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_parameters: Option<Value>,
    /// Rate limiting rules' limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratelimit: Option<RateLimit>,
}

fn yes() -> bool {
    true
}

/// A ruleset as Cloudflare returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ruleset {
    /// Its id.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its phase.
    #[serde(default)]
    pub phase: Option<String>,
    /// Its version.
    #[serde(default)]
    pub version: Option<String>,
    /// Its rules, in evaluation order.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

#[derive(Serialize)]
struct RulesBody<'a> {
    rules: &'a [Rule],
}

impl Client {
    /// The zone's entrypoint ruleset of `phase`; `None` when the phase has
    /// none yet.
    pub async fn entrypoint(&self, zone_id: &str, phase: Phase) -> Result<Option<Ruleset>, Error> {
        match self
            .result::<Ruleset, ()>(
                Method::GET,
                &format!(
                    "/zones/{zone_id}/rulesets/phases/{}/entrypoint",
                    phase.as_str()
                ),
                &[],
                None,
            )
            .await
        {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces every rule of the phase entrypoint with `rules`. Prefer
    /// [`Client::replace_owned_rules`], which keeps rules others own.
    pub async fn replace_entrypoint(
        &self,
        zone_id: &str,
        phase: Phase,
        rules: &[Rule],
    ) -> Result<Ruleset, Error> {
        self.result(
            Method::PUT,
            &format!(
                "/zones/{zone_id}/rulesets/phases/{}/entrypoint",
                phase.as_str()
            ),
            &[],
            Some(&RulesBody { rules }),
        )
        .await
    }

    /// Makes the rules whose `ref` starts with `owner` exactly `desired`
    /// (each of which must carry such a `ref`), keeping every other rule of
    /// the phase as it is and where it is. Owned rules that stay keep their
    /// place; new ones go last.
    pub async fn replace_owned_rules(
        &self,
        zone_id: &str,
        phase: Phase,
        owner: &str,
        desired: &[Rule],
    ) -> Result<Ruleset, Error> {
        if let Some(r) = desired
            .iter()
            .find(|r| !r.reference.as_deref().is_some_and(|x| x.starts_with(owner)))
        {
            return Err(Error::invalid(
                format!("{} rule {:?}", phase.as_str(), r.expression),
                format!("its ref must start with {owner:?} to mark it as ours"),
            ));
        }
        let current = self.entrypoint(zone_id, phase).await?;
        let mut rules = Vec::new();
        let mut placed = Vec::new();
        for r in current.map(|c| c.rules).unwrap_or_default() {
            let ours = r.reference.as_deref().is_some_and(|x| x.starts_with(owner));
            if !ours {
                rules.push(r);
            } else if let Some(d) = desired.iter().find(|d| d.reference == r.reference) {
                rules.push(Rule {
                    id: r.id.clone(),
                    ..d.clone()
                });
                placed.push(d.reference.clone());
            }
        }
        rules.extend(
            desired
                .iter()
                .filter(|d| !placed.contains(&d.reference))
                .cloned(),
        );
        self.replace_entrypoint(zone_id, phase, &rules).await
    }
}
