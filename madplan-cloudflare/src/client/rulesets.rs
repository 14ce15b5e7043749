//! Rulesets of a zone's phase entrypoints (custom and managed firewall
//! rules, rate limiting, cache rules), with a read-modify-write that only
//! changes the rules madplan owns and writes every other rule back exactly
//! as it was read, fields this version does not know included.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Client;
use super::strings::string_enum;
use crate::error::Error;

/// The phases madplan manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Custom firewall rules (WAF custom rules).
    HttpRequestFirewallCustom,
    /// Managed rulesets (Cloudflare Managed Ruleset, OWASP).
    HttpRequestFirewallManaged,
    /// Rate limiting rules.
    HttpRatelimit,
    /// Cache rules.
    HttpRequestCacheSettings,
}

impl Phase {
    /// The phase as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::HttpRequestFirewallCustom => "http_request_firewall_custom",
            Phase::HttpRequestFirewallManaged => "http_request_firewall_managed",
            Phase::HttpRatelimit => "http_ratelimit",
            Phase::HttpRequestCacheSettings => "http_request_cache_settings",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

string_enum! {
    /// What a rule does when it matches.
    pub enum RuleAction {
        /// Block the request.
        Block = "block",
        /// Interactive challenge.
        Challenge = "challenge",
        /// JavaScript challenge.
        JsChallenge = "js_challenge",
        /// Managed challenge.
        ManagedChallenge = "managed_challenge",
        /// Log only.
        Log = "log",
        /// Run another ruleset (managed rulesets).
        Execute = "execute",
        /// Skip other rules, phases or products.
        Skip = "skip",
        /// Cache rules: set cache settings.
        SetCacheSettings = "set_cache_settings",
        /// Configuration rules.
        SetConfig = "set_config",
        /// Transform rules.
        Rewrite = "rewrite",
        /// Redirect rules.
        Redirect = "redirect",
        /// Origin rules.
        Route = "route",
        /// Custom error rules.
        ServeError = "serve_error",
    }
}

/// The rate-limiting part of a `http_ratelimit` rule. Every field of the
/// API is here or, if this version does not know it, kept in `extra`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    /// What identifies a client, e.g. `["cf.colo.id", "ip.src"]`
    /// (`cf.colo.id` is mandatory through the API).
    #[serde(default)]
    pub characteristics: Vec<String>,
    /// The counting period in seconds.
    pub period: u32,
    /// Requests allowed per period (absent for complexity-based rules,
    /// which set `score_per_period`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_period: Option<u32>,
    /// How long the action lasts, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mitigation_timeout: Option<u32>,
    /// Which requests are counted, when not the rule's expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counting_expression: Option<String>,
    /// Count only requests that reach the origin (not cached ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_to_origin: Option<bool>,
    /// Complexity-based limit (Enterprise with Advanced Rate Limiting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_per_period: Option<u32>,
    /// The origin's header carrying each request's score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_response_header_name: Option<String>,
    /// Fields this version does not know, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A rule of a ruleset. Fields this version does not model (`logging`,
/// `version`, `last_updated`, `categories`, anything new) are kept in
/// `extra` and written back.
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
    #[serde(default)]
    pub expression: String,
    /// A note for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether it is on.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The action's parameters (cache settings, the ruleset to execute...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_parameters: Option<Value>,
    /// Rate limiting rules' limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratelimit: Option<RateLimit>,
    /// Fields this version does not model, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn yes() -> bool {
    true
}

impl Rule {
    /// A rule with this ref, action and expression, enabled.
    pub fn new(reference: &str, action: RuleAction, expression: &str) -> Self {
        Self {
            id: None,
            reference: Some(reference.to_string()),
            action,
            expression: expression.to_string(),
            description: None,
            enabled: true,
            action_parameters: None,
            ratelimit: None,
            extra: Map::new(),
        }
    }
}

/// A ruleset as Cloudflare returns it. Its rules are kept as they were
/// read; [`Ruleset::rules`] decodes them.
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
    /// Its rules in evaluation order, exactly as read.
    #[serde(rename = "rules", default)]
    pub raw_rules: Vec<Value>,
}

impl Ruleset {
    /// The rules, decoded; a rule that does not decode (no action) is left
    /// out here, and still written back by [`Client::replace_owned_rules`].
    pub fn rules(&self) -> Vec<Rule> {
        self.raw_rules
            .iter()
            .filter_map(|r| serde_json::from_value(r.clone()).ok())
            .collect()
    }
}

#[derive(Serialize)]
struct RulesBody<'a, R: Serialize> {
    rules: &'a [R],
}

fn reference(raw: &Value) -> Option<&str> {
    raw.get("ref").and_then(Value::as_str)
}

impl Client {
    /// The zone's entrypoint ruleset of `phase`; `None` when the phase has
    /// none yet.
    pub async fn entrypoint(&self, zone_id: &str, phase: Phase) -> Result<Option<Ruleset>, Error> {
        match self
            .result::<Ruleset, ()>(
                Method::GET,
                &format!("/zones/{zone_id}/rulesets/phases/{phase}/entrypoint"),
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

    /// Replaces every rule of the phase entrypoint with `rules` (creating
    /// the entrypoint if there is none). Prefer
    /// [`Client::replace_owned_rules`], which keeps rules others own.
    pub async fn replace_entrypoint<R: Serialize + Sync>(
        &self,
        zone_id: &str,
        phase: Phase,
        rules: &[R],
    ) -> Result<Ruleset, Error> {
        self.result(
            Method::PUT,
            &format!("/zones/{zone_id}/rulesets/phases/{phase}/entrypoint"),
            &[],
            Some(&RulesBody { rules }),
        )
        .await
    }

    /// Makes the rules whose `ref` starts with `owner` exactly `desired`
    /// (each of which must carry such a `ref`), keeping every other rule of
    /// the phase where it is and exactly as it was read, every field
    /// included. Owned rules that stay keep their place and id; new ones go
    /// last.
    ///
    /// This reads then writes the whole entrypoint: two writers of one phase
    /// at once would undo each other, so callers serialise writes per zone
    /// and phase (the resources do).
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
                format!("{phase} rule {:?}", r.expression),
                format!("its ref must start with {owner:?} to mark it as ours"),
            ));
        }
        let current = self.entrypoint(zone_id, phase).await?;
        let mut rules: Vec<Value> = Vec::new();
        let mut placed = Vec::new();
        for raw in current.map(|c| c.raw_rules).unwrap_or_default() {
            let ours = reference(&raw).is_some_and(|x| x.starts_with(owner));
            if !ours {
                rules.push(raw);
            } else if let Some(d) = desired
                .iter()
                .find(|d| d.reference.as_deref() == reference(&raw))
            {
                let mut mine = d.clone();
                mine.id = raw.get("id").and_then(Value::as_str).map(str::to_string);
                rules.push(to_value(&mine)?);
                placed.push(d.reference.clone());
            }
        }
        for d in desired.iter().filter(|d| !placed.contains(&d.reference)) {
            rules.push(to_value(d)?);
        }
        self.replace_entrypoint(zone_id, phase, &rules).await
    }

    /// Removes the rules whose `ref` starts with `owner`, keeping every
    /// other rule exactly as it was read. Writes nothing (one read only)
    /// when there is none; answers whether it removed any.
    pub async fn remove_owned_rules(
        &self,
        zone_id: &str,
        phase: Phase,
        owner: &str,
    ) -> Result<bool, Error> {
        let Some(current) = self.entrypoint(zone_id, phase).await? else {
            return Ok(false);
        };
        let (ours, others): (Vec<Value>, Vec<Value>) = current
            .raw_rules
            .into_iter()
            .partition(|r| reference(r).is_some_and(|x| x.starts_with(owner)));
        if ours.is_empty() {
            return Ok(false);
        }
        self.replace_entrypoint(zone_id, phase, &others).await?;
        Ok(true)
    }
}

fn to_value(rule: &Rule) -> Result<Value, Error> {
    serde_json::to_value(rule).map_err(|e| Error::invalid("rule", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rule_keeps_fields_it_does_not_model_and_rate_limits_without_a_request_count_decode() {
        let raw = json!({
            "id": "2c0fc9fa6f424e3e8d2f1a4b2a4f6e71", "ref": "team-login", "action": "block",
            "expression": "http.request.uri.path eq \"/login\"", "enabled": true,
            "version": "3", "last_updated": "2026-01-01T00:00:00Z", "logging": {"enabled": false},
            "ratelimit": {
                "characteristics": ["cf.colo.id", "ip.src"], "period": 60,
                "score_per_period": 400, "score_response_header_name": "x-score",
                "counting_expression": "http.response.code eq 401",
                "requests_to_origin": true, "mitigation_timeout": 600,
                "brand_new_knob": {"x": 1}
            },
            "exposed_credential_check": {"username_expression": "a", "password_expression": "b"}
        });
        let rule: Rule = serde_json::from_value(raw.clone()).unwrap();
        let limit = rule.ratelimit.as_ref().unwrap();
        assert_eq!(limit.requests_per_period, None);
        assert_eq!(limit.score_per_period, Some(400));
        assert_eq!(serde_json::to_value(&rule).unwrap(), raw);
    }

    #[test]
    fn unknown_actions_decode() {
        let rule: Rule =
            serde_json::from_value(json!({"action": "quantum_block", "expression": "true"}))
                .unwrap();
        assert_eq!(rule.action, RuleAction::Other("quantum_block".into()));
        assert!(rule.enabled);
    }
}
