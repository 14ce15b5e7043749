//! Bot protection: Bot Fight Mode on Free, Super Bot Fight Mode on Pro and
//! up, as the zone's plan offers.

use madplan_core::{
    Address, Found, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource, ValidateCx,
    problem,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::restore::{Values, record_prior, to_restore};
use super::{Cloudflare, ZoneId, ZoneRef, claim_zone, unresolved, zones_to_read};
use crate::client::bots::{BotManagement, SbfmAction};
use crate::error::Error;

/// The zone's bot protection. Each `None` is left as it is (and a value
/// there is not drift). Deleting it gives back the values it changed that
/// still hold madplan's value, as [`super::ZoneSettings`] does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BotProtection {
    /// The zone and its plan.
    pub zone: ZoneRef,
    /// Bot Fight Mode (Free plan).
    #[serde(default)]
    pub fight_mode: Option<bool>,
    /// Super Bot Fight Mode, definitely automated traffic (Pro and up).
    #[serde(default)]
    pub definitely_automated: Option<SbfmAction>,
    /// Super Bot Fight Mode, likely automated traffic (Business and up).
    #[serde(default)]
    pub likely_automated: Option<SbfmAction>,
    /// Super Bot Fight Mode, verified bots (allow or block; Pro and up).
    #[serde(default)]
    pub verified_bots: Option<SbfmAction>,
    /// Super Bot Fight Mode also on static resources (Pro and up).
    #[serde(default)]
    pub static_resource_protection: Option<bool>,
    /// JavaScript detections.
    #[serde(default)]
    pub javascript_detections: Option<bool>,
}

/// What bot protection yields: the values it changed, before and after.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BotProtectionOutputs {
    /// The zone.
    pub zone_id: ZoneId,
    /// Each field's value before madplan first changed it.
    #[serde(default)]
    pub prior: Values,
    /// The values madplan last set.
    #[serde(default)]
    pub applied: Values,
}

impl BotProtection {
    /// The protection the zone's plan offers: Bot Fight Mode on Free;
    /// definitely automated traffic blocked and verified bots let through
    /// on Pro; likely automated traffic challenged too on Business and up;
    /// JavaScript detections on.
    pub fn for_plan(zone: &ZoneRef) -> Self {
        let plan = zone.plan.unwrap_or_else(super::ZonePlan::free);
        let base = Self {
            zone: zone.clone(),
            fight_mode: None,
            definitely_automated: None,
            likely_automated: None,
            verified_bots: None,
            static_resource_protection: None,
            javascript_detections: Some(true),
        };
        if !plan.super_bot_fight_mode() {
            return Self {
                fight_mode: Some(true),
                ..base
            };
        }
        Self {
            definitely_automated: Some(SbfmAction::Block),
            verified_bots: Some(SbfmAction::Allow),
            likely_automated: plan
                .likely_automated()
                .then_some(SbfmAction::ManagedChallenge),
            ..base
        }
    }

    fn config(&self) -> BotManagement {
        BotManagement {
            fight_mode: self.fight_mode,
            enable_js: self.javascript_detections,
            sbfm_definitely_automated: self.definitely_automated.clone(),
            sbfm_likely_automated: self.likely_automated.clone(),
            sbfm_verified_bots: self.verified_bots.clone(),
            sbfm_static_resource_protection: self.static_resource_protection,
            optimize_wordpress: None,
            extra: Default::default(),
        }
    }

    fn from_live(zone: &str, b: BotManagement) -> Self {
        Self {
            zone: ZoneRef::live(zone),
            fight_mode: b.fight_mode,
            definitely_automated: b.sbfm_definitely_automated,
            likely_automated: b.sbfm_likely_automated,
            verified_bots: b.sbfm_verified_bots,
            static_resource_protection: b.sbfm_static_resource_protection,
            javascript_detections: b.enable_js,
        }
    }
}

/// A configuration's set fields, as the API spells them.
fn values(b: &BotManagement) -> Values {
    match serde_json::to_value(b) {
        Ok(Value::Object(o)) => o.into_iter().collect(),
        _ => Values::new(),
    }
}

fn from_values(v: &Values) -> Result<BotManagement, ProviderError> {
    serde_json::from_value(Value::Object(v.clone().into_iter().collect()))
        .map_err(|e| super::unreadable(format!("bot configuration: {e}")))
}

impl Resource for BotProtection {
    const KIND: &'static str = "cloudflare.bot_protection";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["zone.id"];
    const WRITE_ONLY: &'static [&'static str] = &["zone.plan"];
    const SERVER_DEFAULTED: &'static [&'static str] = &[
        "fight_mode",
        "definitely_automated",
        "likely_automated",
        "verified_bots",
        "static_resource_protection",
        "javascript_detections",
    ];
    const HELD_BY_DEPENDENTS: bool = false;
    type Provider = Cloudflare;
    type Outputs = BotProtectionOutputs;

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        let Some(plan) = self.zone.declared_plan(problems) else {
            return;
        };
        let sbfm = [
            ("definitely_automated", self.definitely_automated.is_some()),
            ("likely_automated", self.likely_automated.is_some()),
            ("verified_bots", self.verified_bots.is_some()),
            (
                "static_resource_protection",
                self.static_resource_protection.is_some(),
            ),
        ];
        if !plan.super_bot_fight_mode() {
            for (field, set) in sbfm {
                if set {
                    problems.push(problem(
                        field,
                        format!(
                            "Super Bot Fight Mode is not offered on the {} plan",
                            plan.tier
                        ),
                        Some("the Free plan has Bot Fight Mode: fight_mode"),
                    ));
                }
            }
        } else {
            if self.fight_mode == Some(true) {
                problems.push(problem(
                    "fight_mode",
                    format!(
                        "Bot Fight Mode is the Free plan's; the {} plan has Super Bot Fight Mode",
                        plan.tier
                    ),
                    Some("set definitely_automated and the other Super Bot Fight Mode fields"),
                ));
            }
            if self.likely_automated.is_some() && !plan.likely_automated() {
                problems.push(problem(
                    "likely_automated",
                    format!(
                        "\"likely automated\" traffic is a Business plan feature; the zone is on {}",
                        plan.tier
                    ),
                    None,
                ));
            }
            if self
                .verified_bots
                .as_ref()
                .is_some_and(|a| *a == SbfmAction::ManagedChallenge)
            {
                problems.push(problem(
                    "verified_bots",
                    "verified bots are allowed or blocked, not challenged",
                    None,
                ));
            }
        }
        if values(&self.config()).is_empty() {
            problems.push(problem(
                "zone",
                "nothing is managed",
                Some("start from BotProtection::for_plan"),
            ));
        }
    }

    fn validate_kind(all: &[(Address, Self)], _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        for (i, (a, s)) in all.iter().enumerate() {
            if let Some((b, _)) = all[..i].iter().find(|(_, t)| t.zone.id == s.zone.id) {
                problems.push(Problem {
                    address: Some(a.clone()),
                    field: Some("zone".into()),
                    message: format!("{b} already manages this zone's bot protection"),
                    hint: None,
                });
            }
        }
    }

    async fn refresh(
        cf: &Cloudflare,
        cx: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        let mut found = Vec::new();
        for zone in zones_to_read(cf, cx, |o| o.zone_id.as_str(), false).await? {
            let live = cf
                .client()
                .bot_management(&zone)
                .await
                .map_err(Error::into_provider)?;
            let spec = Self::from_live(&zone, live);
            claim_zone(cx, &zone, |o| o.zone_id.as_str(), &spec, &mut found);
        }
        Ok(found)
    }

    async fn create(
        &self,
        cf: &Cloudflare,
        cx: &OpCx,
    ) -> Result<BotProtectionOutputs, ProviderError> {
        let zone = self.zone.id.get().map_err(unresolved)?.clone();
        let live = cf
            .client()
            .bot_management(zone.as_str())
            .await
            .map_err(Error::into_provider)?;
        let desired = values(&self.config());
        let mut outputs = BotProtectionOutputs {
            zone_id: zone.clone(),
            prior: Values::new(),
            applied: Values::new(),
        };
        record_prior(&mut outputs.prior, &desired, &values(&live));
        cx.created(&outputs).await?;
        cf.client()
            .set_bot_management(zone.as_str(), &self.config())
            .await
            .map_err(Error::into_provider)?;
        outputs.applied = desired;
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        _changed: &[String],
        cf: &Cloudflare,
        _cx: &OpCx,
    ) -> Result<BotProtectionOutputs, ProviderError> {
        let desired = values(&self.config());
        let mut outputs = prior.outputs.clone();
        record_prior(&mut outputs.prior, &desired, &values(&prior.spec.config()));
        cf.client()
            .set_bot_management(outputs.zone_id.as_str(), &self.config())
            .await
            .map_err(Error::into_provider)?;
        outputs.applied.extend(desired);
        Ok(outputs)
    }

    async fn delete(
        o: &BotProtectionOutputs,
        cf: &Cloudflare,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        let live = match cf.client().bot_management(o.zone_id.as_str()).await {
            Ok(l) => l,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e.into_provider()),
        };
        let back = to_restore(&o.prior, &o.applied, &values(&live));
        if !back.is_empty() {
            cf.client()
                .set_bot_management(o.zone_id.as_str(), &from_values(&back)?)
                .await
                .map_err(Error::into_provider)?;
        }
        Ok(())
    }
}
