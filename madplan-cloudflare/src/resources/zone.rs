//! The zone: read by name at plan time, never managed.

use madplan_core::{
    DataSource, Environment, ErrorClass, Input, Problem, ProviderError, ValidateCx, problem,
};
use serde::{Deserialize, Serialize};

use super::{Cloudflare, PlanTier, ZoneId, ZonePlan};
use crate::error::PROVIDER;

/// How a zone is found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneLookup {
    /// By its domain name, among the zones the token sees.
    Name(String),
    /// By its id (the deployment guide's `cloudflare_zone_id`).
    Id(String),
}

impl std::fmt::Display for ZoneLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ZoneLookup::Name(n) => f.write_str(n),
            ZoneLookup::Id(i) => write!(f, "with id {i}"),
        }
    }
}

/// A zone found by name (`madplan.com`) or id, with the plan the
/// environment expects it to be on: reading it fails when Cloudflare says
/// otherwise, so the plan-dependent validation of the resources on it can
/// be trusted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Zone {
    /// How it is found.
    pub lookup: ZoneLookup,
    /// The plan it is on.
    pub plan: ZonePlan,
}

impl Zone {
    /// The zone named `name`, on `plan`.
    pub fn named(name: &str, plan: ZonePlan) -> Self {
        Self {
            lookup: ZoneLookup::Name(name.to_string()),
            plan,
        }
    }

    /// The zone whose id is `id`, on `plan`.
    pub fn with_id(id: &str, plan: ZonePlan) -> Self {
        Self {
            lookup: ZoneLookup::Id(id.to_string()),
            plan,
        }
    }
}

/// What reading a zone gives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZoneOutputs {
    /// Its id.
    pub zone_id: ZoneId,
    /// Its name.
    pub name: String,
    /// Its status (`active`, `pending`...).
    pub status: String,
    /// The plan Cloudflare says it is on (`legacy_id`), if it says.
    pub plan: Option<String>,
}

impl DataSource for Zone {
    const KIND: &'static str = "cloudflare.zone";
    type Provider = Cloudflare;
    type Outputs = ZoneOutputs;

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        match &self.lookup {
            ZoneLookup::Name(n) => {
                let name = n.trim();
                if name.is_empty() || !name.contains('.') || name != n || name.ends_with('.') {
                    problems.push(problem(
                        "lookup",
                        format!("{n:?} is not a zone name"),
                        Some("the registered domain, e.g. madplan.com"),
                    ));
                }
            }
            ZoneLookup::Id(id) => {
                if id.len() != 32 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
                    problems.push(problem(
                        "lookup",
                        format!("{id:?} is not a zone id (32 hex digits)"),
                        None,
                    ));
                }
            }
        }
        if self.plan.advanced_rate_limiting && self.plan.tier != PlanTier::Enterprise {
            problems.push(problem(
                "plan",
                "Advanced Rate Limiting is only sold with the Enterprise plan",
                None,
            ));
        }
    }

    async fn read(&self, cf: &Cloudflare) -> Result<ZoneOutputs, ProviderError> {
        let found = match &self.lookup {
            ZoneLookup::Name(n) => cf.client().zone_by_name(n).await,
            ZoneLookup::Id(id) => cf.client().zone(id).await,
        };
        let zone = found.map_err(|e| e.into_provider())?;
        let live = zone.plan.as_ref().and_then(|p| p.legacy_id.clone());
        if let Some(tier) = live.as_deref().and_then(PlanTier::from_legacy_id)
            && tier != self.plan.tier
        {
            return Err(ProviderError::new(
                PROVIDER,
                ErrorClass::Fatal,
                format!(
                    "the zone {} is on the {tier} plan, but the environment declares {}; \
                     what the resources on it may do was checked against the declared plan: \
                     correct the plan given to Zone::{}",
                    zone.name,
                    self.plan.tier,
                    match self.lookup {
                        ZoneLookup::Name(_) => "named",
                        ZoneLookup::Id(_) => "with_id",
                    }
                ),
            ));
        }
        Ok(ZoneOutputs {
            zone_id: ZoneId(zone.id),
            name: zone.name,
            status: zone.status,
            plan: live,
        })
    }
}

/// A zone as the resources on it take it: its id (known once the zone is
/// read) and the plan it is on, which their validation checks against.
///
/// Cloudflare does not report add-ons with a zone, so a refresh reads the
/// plan back as unknown (`None`) and the engine compares the plan last
/// applied instead (the kinds declare `zone.plan` write-only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZoneRef {
    /// The zone's id.
    pub id: Input<ZoneId>,
    /// Its plan (`None` only as read back by a refresh).
    #[serde(default)]
    pub plan: Option<ZonePlan>,
}

impl ZoneRef {
    /// Reads `zone` into `env` under `name` and returns the reference that
    /// resources on it take: the plan is declared once, on the zone.
    pub fn read(env: &mut Environment, name: &str, zone: Zone) -> Self {
        let plan = zone.plan;
        let handle = env.read(name, zone);
        Self {
            id: handle.output("zone_id"),
            plan: Some(plan),
        }
    }

    /// A zone known by id, on `plan`.
    pub fn id(id: &str, plan: ZonePlan) -> Self {
        Self {
            id: Input::Value(ZoneId(id.to_string())),
            plan: Some(plan),
        }
    }

    /// The zone as a refresh reads it back: its id, the plan unknown.
    pub(crate) fn live(id: &str) -> Self {
        Self {
            id: Input::Value(ZoneId(id.to_string())),
            plan: None,
        }
    }

    /// The declared plan, or the problem of not having one.
    pub(crate) fn declared_plan(&self, problems: &mut Vec<Problem>) -> Option<ZonePlan> {
        if self.plan.is_none() {
            problems.push(problem(
                "zone.plan",
                "the zone's plan is not declared",
                Some("build the zone with ZoneRef::read or ZoneRef::id, which take the plan"),
            ));
        }
        self.plan
    }
}
