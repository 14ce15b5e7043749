//! Rules madplan keeps in a zone's phase entrypoints: custom firewall
//! rules, the managed WAF, rate limits and cache rules. Each resource owns
//! the rules whose `ref` starts with its marker
//! (`madplan:<environment>/<name>/<lineage>/<key>`); every other rule of
//! the phase is written back exactly as it was read.

use madplan_core::{
    Address, Found, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource, ValidateCx,
    problem,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use super::{Cloudflare, Marker, ZoneId, ZonePlan, ZoneRef, unresolved, zones_to_read};
use crate::client::rulesets::{Phase, RateLimit, Rule, RuleAction};
use crate::client::strings::string_enum;
use crate::error::Error;

/// What a rules resource yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RulesOutputs {
    /// The zone.
    pub zone_id: ZoneId,
    /// The phase entrypoint's ruleset id.
    pub ruleset_id: Option<String>,
    /// The marker its rules' refs start with.
    pub owner: String,
}

/// A rule key: a short name, unique in its resource, that ends the rule's
/// `ref` and keeps its identity across edits.
fn check_key(key: &str, field: &str, problems: &mut Vec<Problem>) {
    if let Some(why) = madplan_core::Address::check_name(key) {
        problems.push(problem(field, format!("rule key: {why}"), None));
    }
}

fn check_keys<'a>(keys: impl Iterator<Item = &'a str>, problems: &mut Vec<Problem>) {
    let mut seen = std::collections::BTreeSet::new();
    for k in keys {
        check_key(k, "rules", problems);
        if !seen.insert(k) {
            problems.push(problem(
                "rules",
                format!("rule key {k:?} is used twice"),
                None,
            ));
        }
    }
}

fn check_expression(expression: &str, field: &str, problems: &mut Vec<Problem>) {
    if expression.trim().is_empty() {
        problems.push(problem(
            field,
            "the expression is empty",
            Some("`true` matches everything"),
        ));
    }
}

/// What each rules kind says about itself.
pub(crate) trait PhaseRules:
    Resource<Provider = Cloudflare, Outputs = RulesOutputs>
{
    /// The phase its rules live in.
    const PHASE: Phase;
    /// The zone and plan.
    fn zone(&self) -> &ZoneRef;
    /// Its rules as the API takes them, each `ref` = `owner` + key.
    fn api_rules(&self, owner: &str) -> Vec<Rule>;
    /// The spec of the rules found under one owner (key and rule, in order).
    fn from_api(zone: &str, rules: Vec<(String, Rule)>) -> Self;
}

/// Splits a rule's `ref` into its owner's marker and its key.
fn owner_and_key(reference: &str) -> Option<(Marker, String)> {
    let (owner, key) = reference.rsplit_once('/')?;
    Some((Marker::parse(owner)?, key.to_string()))
}

async fn refresh_phase<R: PhaseRules>(
    cf: &Cloudflare,
    cx: &RefreshCx<R>,
) -> Result<Vec<Found<R>>, ProviderError> {
    let mut found = Vec::new();
    for zone in zones_to_read(cf, cx, |o| o.zone_id.as_str(), true).await? {
        let Some(rs) = cf
            .client()
            .entrypoint(&zone, R::PHASE)
            .await
            .map_err(Error::into_provider)?
        else {
            continue;
        };
        // madplan's rules, grouped by owner in the order they appear.
        let mut groups: Vec<(Marker, Vec<(String, Rule)>)> = Vec::new();
        for rule in rs.rules() {
            let Some((marker, key)) = rule.reference.as_deref().and_then(owner_and_key) else {
                continue;
            };
            match groups.iter_mut().find(|(m, _)| *m == marker) {
                Some((_, rules)) => rules.push((key, rule)),
                None => groups.push((marker, vec![(key, rule)])),
            }
        }
        for (marker, rules) in groups {
            let owner = marker.text();
            let claim = cx.claim(
                |o| o.zone_id.as_str() == zone && o.owner == owner,
                marker.reads(R::KIND),
            );
            if let Some(claim) = claim {
                found.push(Found::new(
                    claim,
                    R::from_api(&zone, rules),
                    RulesOutputs {
                        zone_id: ZoneId(zone.clone()),
                        ruleset_id: Some(rs.id.clone()),
                        owner,
                    },
                ));
            }
        }
    }
    Ok(found)
}

/// Makes the owner's rules exactly `spec`'s, one writer per zone and phase.
async fn write_phase<R: PhaseRules>(
    spec: &R,
    cf: &Cloudflare,
    owner: String,
) -> Result<RulesOutputs, ProviderError> {
    let zone = spec.zone().id.get().map_err(unresolved)?.clone();
    let lock = cf.phase_lock(zone.as_str(), R::PHASE);
    let _held = lock.lock().await;
    let rules = spec.api_rules(&format!("{owner}/"));
    let rs = cf
        .client()
        .replace_owned_rules(zone.as_str(), R::PHASE, &format!("{owner}/"), &rules)
        .await
        .map_err(Error::into_provider)?;
    Ok(RulesOutputs {
        zone_id: zone,
        ruleset_id: Some(rs.id),
        owner,
    })
}

async fn delete_phase<R: PhaseRules>(
    o: &RulesOutputs,
    cf: &Cloudflare,
) -> Result<(), ProviderError> {
    let lock = cf.phase_lock(o.zone_id.as_str(), R::PHASE);
    let _held = lock.lock().await;
    match cf
        .client()
        .remove_owned_rules(o.zone_id.as_str(), R::PHASE, &format!("{}/", o.owner))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.into_provider()),
    }
}

/// Counts the rules of one kind per zone across resources against the
/// plan's limit (rules of others in the phase count too, and are not
/// known before the apply).
fn check_rule_counts<R>(
    all: &[(Address, R)],
    zone: impl Fn(&R) -> &ZoneRef,
    count: impl Fn(&R) -> usize,
    limit: impl Fn(&ZonePlan) -> usize,
    what: &str,
    problems: &mut Vec<Problem>,
) {
    let mut by_zone: Vec<(&ZoneRef, usize, &Address)> = Vec::new();
    for (a, r) in all {
        let z = zone(r);
        match by_zone.iter_mut().find(|(x, ..)| x.id == z.id) {
            Some((_, n, last)) => {
                *n += count(r);
                *last = a;
            }
            None => by_zone.push((z, count(r), a)),
        }
    }
    for (z, n, a) in by_zone {
        if let Some(plan) = z.plan
            && n > limit(&plan)
        {
            problems.push(Problem {
                address: Some(a.clone()),
                field: Some("rules".into()),
                message: format!(
                    "{n} {what} in one zone; the {} plan allows {}",
                    plan.tier,
                    limit(&plan)
                ),
                hint: None,
            });
        }
    }
}

macro_rules! phase_resource {
    ($kind:ty, $name:literal) => {
        impl Resource for $kind {
            const KIND: &'static str = $name;
            const FORCES_REPLACEMENT: &'static [&'static str] = &["zone.id"];
            const WRITE_ONLY: &'static [&'static str] = &["zone.plan"];
            const HELD_BY_DEPENDENTS: bool = false;
            type Provider = Cloudflare;
            type Outputs = RulesOutputs;

            fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
                self.check(problems);
            }

            fn validate_kind(
                all: &[(Address, Self)],
                _cx: &ValidateCx<'_>,
                problems: &mut Vec<Problem>,
            ) {
                Self::check_all(all, problems);
            }

            async fn refresh(
                cf: &Cloudflare,
                cx: &RefreshCx<Self>,
            ) -> Result<Vec<Found<Self>>, ProviderError> {
                refresh_phase(cf, cx).await
            }

            async fn create(
                &self,
                cf: &Cloudflare,
                cx: &OpCx,
            ) -> Result<RulesOutputs, ProviderError> {
                write_phase(self, cf, Marker::of(cx).text()).await
            }

            async fn update(
                &self,
                prior: &Observed<Self>,
                _changed: &[String],
                cf: &Cloudflare,
                _cx: &OpCx,
            ) -> Result<RulesOutputs, ProviderError> {
                write_phase(self, cf, prior.outputs.owner.clone()).await
            }

            async fn delete(
                o: &RulesOutputs,
                cf: &Cloudflare,
                _cx: &OpCx,
            ) -> Result<(), ProviderError> {
                delete_phase::<Self>(o, cf).await
            }
        }
    };
}

// ---------------------------------------------------------------------
// Custom firewall rules.

string_enum! {
    /// What a custom firewall rule does.
    pub enum FirewallAction {
        /// Block.
        Block = "block",
        /// Managed challenge (Cloudflare picks the challenge).
        ManagedChallenge = "managed_challenge",
        /// Interactive challenge.
        Challenge = "challenge",
        /// JavaScript challenge.
        JsChallenge = "js_challenge",
        /// Log only (Enterprise).
        Log = "log",
    }
}

/// A custom firewall rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FirewallRule {
    /// Its key (unique in the resource).
    pub key: String,
    /// A note for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Which requests it matches (Cloudflare's rules language).
    pub expression: String,
    /// What it does.
    pub action: FirewallAction,
    /// Whether it is on.
    pub enabled: bool,
}

impl FirewallRule {
    /// A rule that does `action` to requests matching `expression`.
    pub fn new(key: &str, action: FirewallAction, expression: &str) -> Self {
        Self {
            key: key.to_string(),
            description: None,
            expression: expression.to_string(),
            action,
            enabled: true,
        }
    }

    /// With a description.
    #[must_use]
    pub fn description(mut self, d: &str) -> Self {
        self.description = Some(d.to_string());
        self
    }
}

/// madplan's custom firewall rules in a zone (`http_request_firewall_custom`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FirewallRules {
    /// The zone and its plan.
    pub zone: ZoneRef,
    /// The rules, in evaluation order.
    pub rules: Vec<FirewallRule>,
}

impl FirewallRules {
    /// No rules yet, on `zone`.
    pub fn new(zone: &ZoneRef) -> Self {
        Self {
            zone: zone.clone(),
            rules: Vec::new(),
        }
    }

    /// With one more rule.
    #[must_use]
    pub fn rule(mut self, rule: FirewallRule) -> Self {
        self.rules.push(rule);
        self
    }

    fn check(&self, problems: &mut Vec<Problem>) {
        let plan = self.zone.declared_plan(problems);
        if self.rules.is_empty() {
            problems.push(problem("rules", "there are no rules", None));
        }
        check_keys(self.rules.iter().map(|r| r.key.as_str()), problems);
        for r in &self.rules {
            check_expression(&r.expression, "rules", problems);
            if !r.action.is_known() {
                problems.push(problem("rules", format!("{}: unknown action", r.key), None));
            }
            if r.action == FirewallAction::Log
                && plan.is_some_and(|p| p.tier != super::PlanTier::Enterprise)
            {
                problems.push(problem(
                    "rules",
                    format!("{}: the log action is an Enterprise feature", r.key),
                    None,
                ));
            }
        }
    }

    fn check_all(all: &[(Address, Self)], problems: &mut Vec<Problem>) {
        check_rule_counts(
            all,
            |r| &r.zone,
            |r| r.rules.len(),
            ZonePlan::max_custom_rules,
            "custom rules",
            problems,
        );
    }
}

impl PhaseRules for FirewallRules {
    const PHASE: Phase = Phase::HttpRequestFirewallCustom;

    fn zone(&self) -> &ZoneRef {
        &self.zone
    }

    fn api_rules(&self, owner: &str) -> Vec<Rule> {
        self.rules
            .iter()
            .map(|r| Rule {
                description: r.description.clone(),
                enabled: r.enabled,
                ..Rule::new(
                    &format!("{owner}{}", r.key),
                    r.action.as_str().parse().unwrap_or(RuleAction::Block),
                    &r.expression,
                )
            })
            .collect()
    }

    fn from_api(zone: &str, rules: Vec<(String, Rule)>) -> Self {
        Self {
            zone: ZoneRef::live(zone),
            rules: rules
                .into_iter()
                .map(|(key, r)| FirewallRule {
                    key,
                    description: r.description,
                    expression: r.expression,
                    action: r.action.as_str().parse().unwrap_or(FirewallAction::Block),
                    enabled: r.enabled,
                })
                .collect(),
        }
    }
}

phase_resource!(FirewallRules, "cloudflare.firewall_rules");

// ---------------------------------------------------------------------
// The managed WAF.

/// The Cloudflare Managed Ruleset's id.
pub const CLOUDFLARE_MANAGED: &str = "efb7b8c949ac4650a09736fc376e9aee";
/// The Cloudflare OWASP Core Ruleset's id.
pub const OWASP_CORE: &str = "4814384a9e5d4991b9815dcfc25d2f1f";
/// The OWASP ruleset's last rule, "949110: Inbound Anomaly Score
/// Exceeded", which carries the score threshold and the action.
pub const OWASP_SCORE_RULE: &str = "6179ae15870a4bb7b2d480d4843b323c";
/// The Cloudflare Free Managed Ruleset's id.
pub const FREE_MANAGED: &str = "77454fe2d30c4220b5701f6fdfb893ba";

string_enum! {
    /// What a managed ruleset does with what it matches.
    pub enum WafAction {
        /// Each rule's own action, as Cloudflare ships the ruleset (no
        /// override; not an action of the OWASP score rule).
        RulesetDefault = "ruleset_default",
        /// Block.
        Block = "block",
        /// Managed challenge.
        ManagedChallenge = "managed_challenge",
        /// JavaScript challenge.
        JsChallenge = "js_challenge",
        /// Log only (to try a ruleset out).
        Log = "log",
    }
}

/// How many OWASP rules must match before a request is acted on: the
/// anomaly score threshold (lower is stricter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwaspSensitivity {
    /// Score 60.
    Low,
    /// Score 40.
    Medium,
    /// Score 25.
    High,
    /// Another threshold (as read back).
    Score(u32),
}

impl OwaspSensitivity {
    /// The threshold.
    pub fn threshold(self) -> u32 {
        match self {
            OwaspSensitivity::Low => 60,
            OwaspSensitivity::Medium => 40,
            OwaspSensitivity::High => 25,
            OwaspSensitivity::Score(n) => n,
        }
    }

    fn from_threshold(n: u32) -> Self {
        match n {
            60 => OwaspSensitivity::Low,
            40 => OwaspSensitivity::Medium,
            25 => OwaspSensitivity::High,
            n => OwaspSensitivity::Score(n),
        }
    }
}

impl Serialize for OwaspSensitivity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.threshold())
    }
}

impl<'de> Deserialize<'de> for OwaspSensitivity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from_threshold(u32::deserialize(d)?))
    }
}

/// The OWASP Core Ruleset as madplan deploys it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OwaspCore {
    /// Paranoia level 1 (fewest false positives) to 4.
    pub paranoia_level: u8,
    /// The anomaly score threshold.
    pub sensitivity: OwaspSensitivity,
    /// What is done above the threshold.
    pub action: WafAction,
}

impl Default for OwaspCore {
    /// Paranoia level 1, medium sensitivity, block: the guide's SQL
    /// injection and XSS protection with few false positives.
    fn default() -> Self {
        Self {
            paranoia_level: 1,
            sensitivity: OwaspSensitivity::Medium,
            action: WafAction::Block,
        }
    }
}

/// The managed WAF in a zone (`http_request_firewall_managed`): Cloudflare's
/// managed rulesets, deployed by madplan's execute rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManagedWaf {
    /// The zone and its plan.
    pub zone: ZoneRef,
    /// The Cloudflare Managed Ruleset (Pro and up): `None` not deployed;
    /// `Some(WafAction::RulesetDefault)` with its rules' own actions;
    /// `Some(a)` with every rule doing `a`.
    #[serde(default)]
    pub cloudflare_managed: Option<WafAction>,
    /// The OWASP Core Ruleset (Pro and up).
    #[serde(default)]
    pub owasp: Option<OwaspCore>,
    /// The Cloudflare Free Managed Ruleset (every plan; the Free plan's
    /// managed protection).
    #[serde(default)]
    pub free_managed: bool,
}

impl ManagedWaf {
    /// The protection the zone's plan offers: on Pro and up the Cloudflare
    /// Managed Ruleset with its own actions and the OWASP Core Ruleset
    /// ([`OwaspCore::default`]); on Free the Free Managed Ruleset.
    pub fn for_plan(zone: &ZoneRef) -> Self {
        let managed = zone.plan.is_some_and(|p| p.managed_rulesets());
        Self {
            zone: zone.clone(),
            cloudflare_managed: managed.then_some(WafAction::RulesetDefault),
            owasp: managed.then(OwaspCore::default),
            free_managed: !managed,
        }
    }

    fn check(&self, problems: &mut Vec<Problem>) {
        let plan = self.zone.declared_plan(problems);
        if plan.is_some_and(|p| !p.managed_rulesets()) {
            for (field, on) in [
                ("cloudflare_managed", self.cloudflare_managed.is_some()),
                ("owasp", self.owasp.is_some()),
            ] {
                if on {
                    problems.push(problem(
                        field,
                        "the Free plan runs only the Cloudflare Free Managed Ruleset; the \
                         Cloudflare Managed Ruleset and the OWASP Core Ruleset need Pro or higher",
                        Some("use ManagedWaf::for_plan, or free_managed"),
                    ));
                }
            }
        }
        if self
            .cloudflare_managed
            .as_ref()
            .is_some_and(|a| !a.is_known())
        {
            problems.push(problem("cloudflare_managed", "unknown action", None));
        }
        if let Some(o) = &self.owasp {
            if !o.action.is_known() || o.action == WafAction::RulesetDefault {
                problems.push(problem(
                    "owasp.action",
                    "the OWASP score rule needs an action: block, managed_challenge, js_challenge or log",
                    None,
                ));
            }
            if !(1..=4).contains(&o.paranoia_level) {
                problems.push(problem(
                    "owasp.paranoia_level",
                    format!("{} is not a paranoia level (1 to 4)", o.paranoia_level),
                    None,
                ));
            }
            if o.sensitivity.threshold() == 0 {
                problems.push(problem(
                    "owasp.sensitivity",
                    "a threshold of 0 blocks everything",
                    None,
                ));
            }
        }
        if self.cloudflare_managed.is_none() && self.owasp.is_none() && !self.free_managed {
            problems.push(problem("zone", "no managed ruleset is deployed", None));
        }
    }

    fn check_all(_all: &[(Address, Self)], _problems: &mut Vec<Problem>) {}
}

fn execute(owner: &str, key: &str, id: &str, overrides: Option<Value>, description: &str) -> Rule {
    let mut params = json!({"id": id});
    if let Some(o) = overrides {
        params["overrides"] = o;
    }
    Rule {
        description: Some(description.to_string()),
        action_parameters: Some(params),
        ..Rule::new(&format!("{owner}{key}"), RuleAction::Execute, "true")
    }
}

impl PhaseRules for ManagedWaf {
    const PHASE: Phase = Phase::HttpRequestFirewallManaged;

    fn zone(&self) -> &ZoneRef {
        &self.zone
    }

    fn api_rules(&self, owner: &str) -> Vec<Rule> {
        let mut rules = Vec::new();
        if let Some(action) = &self.cloudflare_managed {
            rules.push(execute(
                owner,
                "cloudflare-managed",
                CLOUDFLARE_MANAGED,
                (*action != WafAction::RulesetDefault).then(|| json!({"action": action.as_str()})),
                "Cloudflare Managed Ruleset",
            ));
        }
        if let Some(o) = &self.owasp {
            let categories: Vec<Value> = ((o.paranoia_level.max(1) + 1)..=4)
                .map(|l| json!({"category": format!("paranoia-level-{l}"), "enabled": false}))
                .collect();
            let mut overrides = json!({"rules": [{
                "id": OWASP_SCORE_RULE, "action": o.action.as_str(),
                "score_threshold": o.sensitivity.threshold()
            }]});
            if !categories.is_empty() {
                overrides["categories"] = Value::Array(categories);
            }
            rules.push(execute(
                owner,
                "owasp",
                OWASP_CORE,
                Some(overrides),
                "Cloudflare OWASP Core Ruleset",
            ));
        }
        if self.free_managed {
            rules.push(execute(
                owner,
                "free-managed",
                FREE_MANAGED,
                None,
                "Cloudflare Free Managed Ruleset",
            ));
        }
        rules
    }

    fn from_api(zone: &str, rules: Vec<(String, Rule)>) -> Self {
        let mut waf = Self {
            zone: ZoneRef::live(zone),
            cloudflare_managed: None,
            owasp: None,
            free_managed: false,
        };
        for (key, r) in rules {
            let params = r.action_parameters.unwrap_or(Value::Null);
            let overrides = &params["overrides"];
            match key.as_str() {
                "cloudflare-managed" => {
                    waf.cloudflare_managed = Some(
                        overrides["action"]
                            .as_str()
                            .map_or(WafAction::RulesetDefault, |a| {
                                a.parse().unwrap_or(WafAction::Block)
                            }),
                    );
                }
                "owasp" => {
                    let score = overrides["rules"]
                        .as_array()
                        .and_then(|rs| rs.iter().find(|x| x["id"] == OWASP_SCORE_RULE))
                        .cloned()
                        .unwrap_or(Value::Null);
                    let disabled: Vec<u8> = overrides["categories"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|c| c["enabled"] == false)
                        .filter_map(|c| {
                            c["category"]
                                .as_str()?
                                .strip_prefix("paranoia-level-")?
                                .parse()
                                .ok()
                        })
                        .collect();
                    let level = (1..=4u8)
                        .find(|l| disabled.contains(&(l + 1)) || *l == 4)
                        .unwrap_or(4);
                    waf.owasp = Some(OwaspCore {
                        paranoia_level: level,
                        sensitivity: OwaspSensitivity::from_threshold(
                            score["score_threshold"].as_u64().unwrap_or(0) as u32,
                        ),
                        action: score["action"]
                            .as_str()
                            .map(|a| a.parse().unwrap_or(WafAction::Block))
                            .unwrap_or(WafAction::Other(String::new())),
                    });
                }
                "free-managed" => waf.free_managed = true,
                _ => {}
            }
        }
        waf
    }
}

phase_resource!(ManagedWaf, "cloudflare.managed_waf");

// ---------------------------------------------------------------------
// Rate limits.

/// A rate-limit counting period (or mitigation timeout): one of the values
/// Cloudflare takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Period {
    /// 10 s (the Free plan's only period).
    TenSeconds,
    /// 15 s.
    FifteenSeconds,
    /// 20 s.
    TwentySeconds,
    /// 30 s.
    ThirtySeconds,
    /// 40 s.
    FortySeconds,
    /// 45 s.
    FortyFiveSeconds,
    /// 1 min (the Pro plan's longest period).
    OneMinute,
    /// 90 s.
    NinetySeconds,
    /// 2 min.
    TwoMinutes,
    /// 3 min.
    ThreeMinutes,
    /// 4 min.
    FourMinutes,
    /// 5 min (the deployment guide's window).
    FiveMinutes,
    /// 8 min.
    EightMinutes,
    /// 10 min (the Business plan's longest period).
    TenMinutes,
    /// 15 min.
    FifteenMinutes,
    /// 20 min.
    TwentyMinutes,
    /// 30 min.
    ThirtyMinutes,
    /// 40 min.
    FortyMinutes,
    /// 1 h.
    OneHour,
    /// 65535 s (Enterprise's longest period).
    Max,
    /// 1 day (mitigation timeouts only).
    OneDay,
    /// Another number of seconds (as read back; Enterprise mitigation
    /// timeouts set through the API).
    Seconds(u32),
}

const PERIODS: [(Period, u32); 21] = [
    (Period::TenSeconds, 10),
    (Period::FifteenSeconds, 15),
    (Period::TwentySeconds, 20),
    (Period::ThirtySeconds, 30),
    (Period::FortySeconds, 40),
    (Period::FortyFiveSeconds, 45),
    (Period::OneMinute, 60),
    (Period::NinetySeconds, 90),
    (Period::TwoMinutes, 120),
    (Period::ThreeMinutes, 180),
    (Period::FourMinutes, 240),
    (Period::FiveMinutes, 300),
    (Period::EightMinutes, 480),
    (Period::TenMinutes, 600),
    (Period::FifteenMinutes, 900),
    (Period::TwentyMinutes, 1200),
    (Period::ThirtyMinutes, 1800),
    (Period::FortyMinutes, 2400),
    (Period::OneHour, 3600),
    (Period::Max, 65535),
    (Period::OneDay, 86400),
];

impl Period {
    /// Seconds.
    pub fn seconds(self) -> u32 {
        match self {
            Period::Seconds(n) => n,
            p => PERIODS.iter().find(|(q, _)| *q == p).map_or(0, |(_, s)| *s),
        }
    }

    /// The period of `seconds`.
    pub fn from_seconds(seconds: u32) -> Self {
        PERIODS
            .iter()
            .find(|(_, s)| *s == seconds)
            .map_or(Period::Seconds(seconds), |(p, _)| *p)
    }

    fn is_standard(self) -> bool {
        !matches!(self, Period::Seconds(_))
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.seconds())
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from_seconds(u32::deserialize(d)?))
    }
}

/// What a rate limit counts by (Cloudflare's data centre, `cf.colo.id`, is
/// always added: the API requires it).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Characteristic {
    /// The client's IP address (`ip.src`), every plan.
    Ip,
    /// IP with NAT support (`cf.unique_visitor_id`), Business and up.
    IpWithNat,
    /// A request header's value (Advanced Rate Limiting).
    Header(String),
    /// A cookie's value (Advanced Rate Limiting).
    Cookie(String),
    /// A query parameter's value (Advanced Rate Limiting).
    Query(String),
    /// The host (Advanced Rate Limiting).
    Host,
    /// The client's ASN (Advanced Rate Limiting).
    Asn,
    /// The client's country (Advanced Rate Limiting).
    Country,
    /// The path (Advanced Rate Limiting).
    Path,
    /// Anything else, as the API spells it (Advanced Rate Limiting).
    Other(String),
}

impl Characteristic {
    /// As the API spells it.
    pub fn api_name(&self) -> String {
        match self {
            Characteristic::Ip => "ip.src".into(),
            Characteristic::IpWithNat => "cf.unique_visitor_id".into(),
            Characteristic::Header(h) => format!("http.request.headers[\"{}\"]", h.to_lowercase()),
            Characteristic::Cookie(c) => format!("http.request.cookies[\"{c}\"]"),
            Characteristic::Query(q) => format!("http.request.uri.args[\"{q}\"]"),
            Characteristic::Host => "http.host".into(),
            Characteristic::Asn => "ip.src.asnum".into(),
            Characteristic::Country => "ip.src.country".into(),
            Characteristic::Path => "http.request.uri.path".into(),
            Characteristic::Other(s) => s.clone(),
        }
    }

    /// The characteristic the API's name stands for.
    pub fn from_api_name(s: &str) -> Self {
        let inner = |prefix: &str| {
            s.strip_prefix(prefix)
                .and_then(|r| r.strip_suffix("\"]"))
                .map(str::to_string)
        };
        match s {
            "ip.src" => Characteristic::Ip,
            "cf.unique_visitor_id" => Characteristic::IpWithNat,
            "http.host" => Characteristic::Host,
            "ip.src.asnum" => Characteristic::Asn,
            "ip.src.country" => Characteristic::Country,
            "http.request.uri.path" => Characteristic::Path,
            _ => {
                if let Some(h) = inner("http.request.headers[\"") {
                    Characteristic::Header(h)
                } else if let Some(c) = inner("http.request.cookies[\"") {
                    Characteristic::Cookie(c)
                } else if let Some(q) = inner("http.request.uri.args[\"") {
                    Characteristic::Query(q)
                } else {
                    Characteristic::Other(s.to_string())
                }
            }
        }
    }
}

impl Serialize for Characteristic {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.api_name())
    }
}

impl<'de> Deserialize<'de> for Characteristic {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from_api_name(&String::deserialize(d)?))
    }
}

string_enum! {
    /// What a rate limit does once the rate is exceeded.
    pub enum RateLimitAction {
        /// Block for the mitigation timeout.
        Block = "block",
        /// Managed challenge.
        ManagedChallenge = "managed_challenge",
        /// Interactive challenge.
        Challenge = "challenge",
        /// JavaScript challenge.
        JsChallenge = "js_challenge",
        /// Log only (Enterprise).
        Log = "log",
    }
}

/// A rate limiting rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateLimitRule {
    /// Its key (unique in the resource).
    pub key: String,
    /// A note for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Which requests it applies to.
    pub expression: String,
    /// What identifies a client (besides the data centre).
    pub characteristics: Vec<Characteristic>,
    /// The counting period.
    pub period: Period,
    /// Requests allowed per period and client.
    pub requests_per_period: u32,
    /// How long the action lasts.
    pub mitigation_timeout: Period,
    /// What is done.
    pub action: RateLimitAction,
    /// Count only requests matching this (Business and up).
    #[serde(default)]
    pub counting_expression: Option<String>,
    /// Count only requests that reach the origin, not cached ones
    /// (Business and up).
    #[serde(default)]
    pub origin_only: bool,
    /// Whether it is on.
    pub enabled: bool,
}

impl RateLimitRule {
    /// At most `requests` per `period` from one IP address to what
    /// `expression` matches; over that, blocked for as long as the period.
    /// The deployment guide's: `per_ip("api", "starts_with(http.request.uri.path, \"/api\")",
    /// 2000, Period::FiveMinutes)` (a Business plan period).
    pub fn per_ip(key: &str, expression: &str, requests: u32, period: Period) -> Self {
        Self {
            key: key.to_string(),
            description: Some(format!(
                "{requests} requests per {} s per IP",
                period.seconds()
            )),
            expression: expression.to_string(),
            characteristics: vec![Characteristic::Ip],
            period,
            requests_per_period: requests,
            mitigation_timeout: period,
            action: RateLimitAction::Block,
            counting_expression: None,
            origin_only: false,
            enabled: true,
        }
    }

    /// With another action.
    #[must_use]
    pub fn action(mut self, action: RateLimitAction) -> Self {
        self.action = action;
        self
    }

    /// With another mitigation timeout.
    #[must_use]
    pub fn mitigation_timeout(mut self, t: Period) -> Self {
        self.mitigation_timeout = t;
        self
    }

    fn check(&self, plan: Option<ZonePlan>, problems: &mut Vec<Problem>) {
        let at = |field: &str| format!("rules.{}.{field}", self.key);
        check_expression(&self.expression, &at("expression"), problems);
        if self.requests_per_period == 0 {
            problems.push(problem(
                &at("requests_per_period"),
                "must be at least 1",
                None,
            ));
        }
        if !self.period.is_standard() || self.period == Period::OneDay {
            problems.push(problem(
                &at("period"),
                format!(
                    "{} s is not a counting period Cloudflare offers",
                    self.period.seconds()
                ),
                Some("one of the Period values up to Period::Max"),
            ));
        }
        if self.characteristics.is_empty() {
            problems.push(problem(
                &at("characteristics"),
                "a rate limit needs something to count by",
                Some("Characteristic::Ip"),
            ));
        }
        if !self.action.is_known() {
            problems.push(problem(&at("action"), "unknown action", None));
        }
        let Some(plan) = plan else { return };
        let tier = plan.tier;
        if self.period.seconds() > plan.max_rate_period() {
            let per_longest = u64::from(self.requests_per_period)
                * u64::from(plan.max_rate_period())
                / u64::from(self.period.seconds().max(1));
            problems.push(problem(
                &at("period"),
                format!(
                    "the {tier} plan counts over at most {} s, not {} s",
                    plan.max_rate_period(),
                    self.period.seconds()
                ),
                Some(&format!(
                    "the same rate over {} s is about {per_longest} requests, or move to a plan \
                     with longer periods",
                    plan.max_rate_period()
                )),
            ));
        }
        let timeout = self.mitigation_timeout.seconds();
        let custom_timeout_ok = tier == super::PlanTier::Enterprise;
        if (tier == super::PlanTier::Free && timeout != 10)
            || timeout > plan.max_mitigation_timeout()
            || (!self.mitigation_timeout.is_standard() && !custom_timeout_ok)
        {
            problems.push(problem(
                &at("mitigation_timeout"),
                format!(
                    "a mitigation timeout of {timeout} s is not offered on the {tier} plan (at most {} s{})",
                    plan.max_mitigation_timeout(),
                    if tier == super::PlanTier::Free { ", and only 10 s" } else { "" }
                ),
                None,
            ));
        }
        for c in &self.characteristics {
            let allowed = match c {
                Characteristic::Ip => true,
                Characteristic::IpWithNat => plan.counts_by_ip_with_nat(),
                _ => plan.counts_by_anything(),
            };
            if !allowed {
                problems.push(problem(
                    &at("characteristics"),
                    format!(
                        "counting by {} is not offered on the {plan} plan",
                        c.api_name()
                    ),
                    Some(match c {
                        Characteristic::IpWithNat => "IP with NAT support needs Business or higher",
                        _ => "this characteristic needs Enterprise with Advanced Rate Limiting",
                    }),
                ));
            }
        }
        if (self.counting_expression.is_some() || self.origin_only) && !plan.custom_counting() {
            problems.push(problem(
                &at("counting_expression"),
                format!("custom counting is not offered on the {tier} plan (Business and up)"),
                None,
            ));
        }
        if self.action == RateLimitAction::Log && tier != super::PlanTier::Enterprise {
            problems.push(problem(
                &at("action"),
                "the log action is an Enterprise feature",
                None,
            ));
        }
    }

    fn to_api(&self, owner: &str) -> Rule {
        let mut characteristics = vec!["cf.colo.id".to_string()];
        characteristics.extend(self.characteristics.iter().map(Characteristic::api_name));
        Rule {
            description: self.description.clone(),
            enabled: self.enabled,
            ratelimit: Some(RateLimit {
                characteristics,
                period: self.period.seconds(),
                requests_per_period: Some(self.requests_per_period),
                mitigation_timeout: Some(self.mitigation_timeout.seconds()),
                counting_expression: self.counting_expression.clone(),
                requests_to_origin: self.origin_only.then_some(true),
                score_per_period: None,
                score_response_header_name: None,
                extra: Map::new(),
            }),
            ..Rule::new(
                &format!("{owner}{}", self.key),
                self.action.as_str().parse().unwrap_or(RuleAction::Block),
                &self.expression,
            )
        }
    }

    fn from_api(key: String, r: Rule) -> Self {
        let rl = r.ratelimit.unwrap_or(RateLimit {
            characteristics: Vec::new(),
            period: 0,
            requests_per_period: None,
            mitigation_timeout: None,
            counting_expression: None,
            requests_to_origin: None,
            score_per_period: None,
            score_response_header_name: None,
            extra: Map::new(),
        });
        Self {
            key,
            description: r.description,
            expression: r.expression,
            characteristics: rl
                .characteristics
                .iter()
                .filter(|c| *c != "cf.colo.id")
                .map(|c| Characteristic::from_api_name(c))
                .collect(),
            period: Period::from_seconds(rl.period),
            requests_per_period: rl.requests_per_period.unwrap_or(0),
            mitigation_timeout: Period::from_seconds(rl.mitigation_timeout.unwrap_or(0)),
            action: r.action.as_str().parse().unwrap_or(RateLimitAction::Block),
            counting_expression: rl.counting_expression,
            origin_only: rl.requests_to_origin.unwrap_or(false),
            enabled: r.enabled,
        }
    }
}

/// madplan's rate limits in a zone (`http_ratelimit`), checked against the
/// zone's plan: a period, timeout or characteristic the plan does not
/// offer is a validation error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateLimits {
    /// The zone and its plan.
    pub zone: ZoneRef,
    /// The rules, in evaluation order.
    pub rules: Vec<RateLimitRule>,
}

impl RateLimits {
    /// No rules yet, on `zone`.
    pub fn new(zone: &ZoneRef) -> Self {
        Self {
            zone: zone.clone(),
            rules: Vec::new(),
        }
    }

    /// With one more rule.
    #[must_use]
    pub fn rule(mut self, rule: RateLimitRule) -> Self {
        self.rules.push(rule);
        self
    }

    fn check(&self, problems: &mut Vec<Problem>) {
        let plan = self.zone.declared_plan(problems);
        if self.rules.is_empty() {
            problems.push(problem("rules", "there are no rules", None));
        }
        check_keys(self.rules.iter().map(|r| r.key.as_str()), problems);
        for r in &self.rules {
            r.check(plan, problems);
        }
    }

    fn check_all(all: &[(Address, Self)], problems: &mut Vec<Problem>) {
        check_rule_counts(
            all,
            |r| &r.zone,
            |r| r.rules.len(),
            ZonePlan::max_rate_limit_rules,
            "rate limiting rules",
            problems,
        );
    }
}

impl PhaseRules for RateLimits {
    const PHASE: Phase = Phase::HttpRatelimit;

    fn zone(&self) -> &ZoneRef {
        &self.zone
    }

    fn api_rules(&self, owner: &str) -> Vec<Rule> {
        self.rules.iter().map(|r| r.to_api(owner)).collect()
    }

    fn from_api(zone: &str, rules: Vec<(String, Rule)>) -> Self {
        Self {
            zone: ZoneRef::live(zone),
            rules: rules
                .into_iter()
                .map(|(k, r)| RateLimitRule::from_api(k, r))
                .collect(),
        }
    }
}

phase_resource!(RateLimits, "cloudflare.rate_limits");

// ---------------------------------------------------------------------
// Cache rules.

/// How long Cloudflare's edge keeps what a cache rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", content = "seconds", rename_all = "snake_case")]
pub enum EdgeTtl {
    /// As the origin's `Cache-Control` says.
    RespectOrigin,
    /// This many seconds, whatever the origin says.
    OverrideOrigin(u32),
    /// Not cached unless the origin says so.
    BypassByDefault,
}

/// A cache rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheRule {
    /// Its key (unique in the resource).
    pub key: String,
    /// A note for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Which requests it applies to.
    pub expression: String,
    /// Whether matching requests are eligible for cache.
    pub cache: bool,
    /// The edge TTL, when set.
    #[serde(default)]
    pub edge_ttl: Option<EdgeTtl>,
    /// The browser TTL in seconds, when overridden.
    #[serde(default)]
    pub browser_ttl: Option<u32>,
    /// Whether it is on.
    pub enabled: bool,
}

impl CacheRule {
    /// Caches the frontend's static assets (by file extension) at the edge
    /// for `edge_ttl` seconds.
    pub fn static_assets(key: &str, extensions: &[&str], edge_ttl: u32) -> Self {
        let list: Vec<String> = extensions.iter().map(|e| format!("\"{e}\"")).collect();
        Self {
            key: key.to_string(),
            description: Some("static assets".into()),
            expression: format!("http.request.uri.path.extension in {{{}}}", list.join(" ")),
            cache: true,
            edge_ttl: Some(EdgeTtl::OverrideOrigin(edge_ttl)),
            browser_ttl: None,
            enabled: true,
        }
    }

    /// Never caches what `expression` matches.
    pub fn bypass(key: &str, expression: &str) -> Self {
        Self {
            key: key.to_string(),
            description: None,
            expression: expression.to_string(),
            cache: false,
            edge_ttl: None,
            browser_ttl: None,
            enabled: true,
        }
    }

    fn to_api(&self, owner: &str) -> Rule {
        let mut params = json!({"cache": self.cache});
        match self.edge_ttl {
            Some(EdgeTtl::RespectOrigin) => params["edge_ttl"] = json!({"mode": "respect_origin"}),
            Some(EdgeTtl::OverrideOrigin(s)) => {
                params["edge_ttl"] = json!({"mode": "override_origin", "default": s});
            }
            Some(EdgeTtl::BypassByDefault) => {
                params["edge_ttl"] = json!({"mode": "bypass_by_default"});
            }
            None => {}
        }
        if let Some(s) = self.browser_ttl {
            params["browser_ttl"] = json!({"mode": "override_origin", "default": s});
        }
        Rule {
            description: self.description.clone(),
            enabled: self.enabled,
            action_parameters: Some(params),
            ..Rule::new(
                &format!("{owner}{}", self.key),
                RuleAction::SetCacheSettings,
                &self.expression,
            )
        }
    }

    fn from_api(key: String, r: Rule) -> Self {
        let p = r.action_parameters.unwrap_or(Value::Null);
        let edge = &p["edge_ttl"];
        let edge_ttl = match edge["mode"].as_str() {
            Some("respect_origin") => Some(EdgeTtl::RespectOrigin),
            Some("override_origin") => Some(EdgeTtl::OverrideOrigin(
                edge["default"].as_u64().unwrap_or(0) as u32,
            )),
            Some("bypass_by_default") => Some(EdgeTtl::BypassByDefault),
            _ => None,
        };
        Self {
            key,
            description: r.description,
            expression: r.expression,
            cache: p["cache"].as_bool().unwrap_or(false),
            edge_ttl,
            browser_ttl: (p["browser_ttl"]["mode"] == "override_origin")
                .then(|| p["browser_ttl"]["default"].as_u64().unwrap_or(0) as u32),
            enabled: r.enabled,
        }
    }
}

/// madplan's cache rules in a zone (`http_request_cache_settings`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheRules {
    /// The zone and its plan.
    pub zone: ZoneRef,
    /// The rules, in evaluation order.
    pub rules: Vec<CacheRule>,
}

impl CacheRules {
    /// No rules yet, on `zone`.
    pub fn new(zone: &ZoneRef) -> Self {
        Self {
            zone: zone.clone(),
            rules: Vec::new(),
        }
    }

    /// With one more rule.
    #[must_use]
    pub fn rule(mut self, rule: CacheRule) -> Self {
        self.rules.push(rule);
        self
    }

    fn check(&self, problems: &mut Vec<Problem>) {
        let plan = self.zone.declared_plan(problems);
        if self.rules.is_empty() {
            problems.push(problem("rules", "there are no rules", None));
        }
        check_keys(self.rules.iter().map(|r| r.key.as_str()), problems);
        // The shortest edge TTL an override may set, by plan.
        let min_edge = |p: &ZonePlan| match p.tier {
            super::PlanTier::Free => 7200,
            super::PlanTier::Pro => 3600,
            _ => 1,
        };
        for r in &self.rules {
            check_expression(&r.expression, "rules", problems);
            if let (Some(EdgeTtl::OverrideOrigin(s)), Some(p)) = (r.edge_ttl, plan)
                && s < min_edge(&p)
            {
                problems.push(problem(
                    &format!("rules.{}.edge_ttl", r.key),
                    format!(
                        "an edge TTL of {s} s is shorter than the {} plan allows ({} s)",
                        p.tier,
                        min_edge(&p)
                    ),
                    None,
                ));
            }
            if !r.cache && r.edge_ttl.is_some() {
                problems.push(problem(
                    &format!("rules.{}.edge_ttl", r.key),
                    "an edge TTL only applies to what is cached",
                    None,
                ));
            }
        }
    }

    fn check_all(all: &[(Address, Self)], problems: &mut Vec<Problem>) {
        check_rule_counts(
            all,
            |r| &r.zone,
            |r| r.rules.len(),
            ZonePlan::max_cache_rules,
            "cache rules",
            problems,
        );
    }
}

impl PhaseRules for CacheRules {
    const PHASE: Phase = Phase::HttpRequestCacheSettings;

    fn zone(&self) -> &ZoneRef {
        &self.zone
    }

    fn api_rules(&self, owner: &str) -> Vec<Rule> {
        self.rules.iter().map(|r| r.to_api(owner)).collect()
    }

    fn from_api(zone: &str, rules: Vec<(String, Rule)>) -> Self {
        Self {
            zone: ZoneRef::live(zone),
            rules: rules
                .into_iter()
                .map(|(k, r)| CacheRule::from_api(k, r))
                .collect(),
        }
    }
}

phase_resource!(CacheRules, "cloudflare.cache_rules");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_rules_round_trip_through_the_api_form() {
        let owner = "madplan:production/edge/0f1e2d3c4b5a69788796a5b4c3d2e1f0/";
        let limit = RateLimitRule::per_ip("api", "true", 2000, Period::FiveMinutes);
        let api = limit.to_api(owner);
        assert_eq!(api.reference.as_deref(), Some(&*format!("{owner}api")));
        let rl = api.ratelimit.as_ref().unwrap();
        assert_eq!(rl.characteristics, ["cf.colo.id", "ip.src"]);
        assert_eq!((rl.period, rl.requests_per_period), (300, Some(2000)));
        assert_eq!(RateLimitRule::from_api("api".into(), api), limit);

        let cache = CacheRule::static_assets("assets", &["js", "css"], 86400);
        assert_eq!(
            cache.expression,
            "http.request.uri.path.extension in {\"js\" \"css\"}"
        );
        assert_eq!(
            CacheRule::from_api("assets".into(), cache.to_api(owner)),
            cache
        );

        let zone = ZoneRef::id("z", ZonePlan::business());
        let waf = ManagedWaf::for_plan(&zone);
        let back = ManagedWaf::from_api(
            "z",
            waf.api_rules(owner)
                .into_iter()
                .map(|r| {
                    let key = r
                        .reference
                        .clone()
                        .unwrap()
                        .rsplit_once('/')
                        .unwrap()
                        .1
                        .to_string();
                    (key, r)
                })
                .collect(),
        );
        assert_eq!(back.cloudflare_managed, waf.cloudflare_managed);
        assert_eq!(back.owasp, waf.owasp);
        for level in 1..=4 {
            let w = ManagedWaf {
                owasp: Some(OwaspCore {
                    paranoia_level: level,
                    ..OwaspCore::default()
                }),
                ..waf.clone()
            };
            let rules: Vec<(String, Rule)> = w
                .api_rules(owner)
                .into_iter()
                .filter(|r| r.reference.as_deref().unwrap().ends_with("owasp"))
                .map(|r| ("owasp".to_string(), r))
                .collect();
            assert_eq!(
                ManagedWaf::from_api("z", rules)
                    .owasp
                    .unwrap()
                    .paranoia_level,
                level
            );
        }
    }

    #[test]
    fn characteristics_and_periods_read_back() {
        for c in [
            Characteristic::Ip,
            Characteristic::IpWithNat,
            Characteristic::Header("X-Api-Key".into()),
            Characteristic::Cookie("session".into()),
            Characteristic::Query("q".into()),
            Characteristic::Host,
            Characteristic::Asn,
            Characteristic::Country,
            Characteristic::Path,
        ] {
            let back = Characteristic::from_api_name(&c.api_name());
            match c {
                Characteristic::Header(h) => {
                    assert_eq!(back, Characteristic::Header(h.to_lowercase()))
                }
                c => assert_eq!(back, c),
            }
        }
        for (p, s) in PERIODS {
            assert_eq!(Period::from_seconds(s), p);
            assert_eq!(p.seconds(), s);
        }
        assert_eq!(Period::from_seconds(7), Period::Seconds(7));
    }
}
