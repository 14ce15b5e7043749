//! The zone's plan, as a typed attribute of the resources whose valid
//! values depend on it, so that what the plan does not offer is a
//! validation error before any API call, not a refusal halfway through an
//! apply.
//!
//! The limits are Cloudflare's published ones (rate limiting rules
//! "Availability", WAF managed rules, Super Bot Fight Mode plans,
//! Advanced Certificate Manager).

use serde::{Deserialize, Serialize};

/// A plan tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanTier {
    /// Free.
    Free,
    /// Pro.
    Pro,
    /// Business.
    Business,
    /// Enterprise.
    Enterprise,
}

impl PlanTier {
    /// The plan's `legacy_id` in the zone object.
    pub fn legacy_id(self) -> &'static str {
        match self {
            PlanTier::Free => "free",
            PlanTier::Pro => "pro",
            PlanTier::Business => "business",
            PlanTier::Enterprise => "enterprise",
        }
    }

    /// The tier a zone object's `legacy_id` names.
    pub fn from_legacy_id(id: &str) -> Option<Self> {
        Some(match id {
            "free" => PlanTier::Free,
            "pro" => PlanTier::Pro,
            "business" => PlanTier::Business,
            "enterprise" => PlanTier::Enterprise,
            _ => return None,
        })
    }
}

impl std::fmt::Display for PlanTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PlanTier::Free => "Free",
            PlanTier::Pro => "Pro",
            PlanTier::Business => "Business",
            PlanTier::Enterprise => "Enterprise",
        })
    }
}

/// A zone's plan and the add-ons that change what it may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ZonePlan {
    /// The tier.
    pub tier: PlanTier,
    /// Advanced Rate Limiting (Enterprise): more characteristics, periods
    /// up to 65535 s, complexity-based limits.
    #[serde(default)]
    pub advanced_rate_limiting: bool,
    /// Advanced Certificate Manager (any plan): certificates whose CA is
    /// chosen.
    #[serde(default)]
    pub advanced_certificate_manager: bool,
}

impl ZonePlan {
    /// A tier without add-ons.
    pub fn new(tier: PlanTier) -> Self {
        Self {
            tier,
            advanced_rate_limiting: false,
            advanced_certificate_manager: false,
        }
    }

    /// Free.
    pub fn free() -> Self {
        Self::new(PlanTier::Free)
    }

    /// Pro.
    pub fn pro() -> Self {
        Self::new(PlanTier::Pro)
    }

    /// Business.
    pub fn business() -> Self {
        Self::new(PlanTier::Business)
    }

    /// Enterprise.
    pub fn enterprise() -> Self {
        Self::new(PlanTier::Enterprise)
    }

    /// With Advanced Rate Limiting (only sold with Enterprise).
    #[must_use]
    pub fn with_advanced_rate_limiting(mut self) -> Self {
        self.advanced_rate_limiting = true;
        self
    }

    /// With Advanced Certificate Manager.
    #[must_use]
    pub fn with_advanced_certificate_manager(mut self) -> Self {
        self.advanced_certificate_manager = true;
        self
    }

    /// The longest rate-limit counting period, in seconds.
    pub fn max_rate_period(&self) -> u32 {
        match self.tier {
            PlanTier::Free => 10,
            PlanTier::Pro => 60,
            PlanTier::Business => 600,
            PlanTier::Enterprise => 65535,
        }
    }

    /// The longest rate-limit mitigation timeout, in seconds (Free: only
    /// 10 s).
    pub fn max_mitigation_timeout(&self) -> u32 {
        match self.tier {
            PlanTier::Free => 10,
            PlanTier::Pro => 3600,
            PlanTier::Business | PlanTier::Enterprise => 86400,
        }
    }

    /// How many rate limiting rules the zone may have.
    pub fn max_rate_limit_rules(&self) -> usize {
        match self.tier {
            PlanTier::Free => 1,
            PlanTier::Pro => 2,
            PlanTier::Business => 5,
            PlanTier::Enterprise if self.advanced_rate_limiting => 100,
            PlanTier::Enterprise => 5,
        }
    }

    /// How many custom firewall rules the zone may have.
    pub fn max_custom_rules(&self) -> usize {
        match self.tier {
            PlanTier::Free => 5,
            PlanTier::Pro => 20,
            PlanTier::Business => 100,
            PlanTier::Enterprise => 1000,
        }
    }

    /// How many cache rules the zone may have.
    pub fn max_cache_rules(&self) -> usize {
        match self.tier {
            PlanTier::Free => 10,
            PlanTier::Pro => 25,
            PlanTier::Business => 50,
            PlanTier::Enterprise => 300,
        }
    }

    /// Whether rate limits may count by IP with NAT support
    /// (`cf.unique_visitor_id`).
    pub fn counts_by_ip_with_nat(&self) -> bool {
        self.tier >= PlanTier::Business
    }

    /// Whether rate limits may count by headers, cookies, query, host, ASN,
    /// country or path.
    pub fn counts_by_anything(&self) -> bool {
        self.tier == PlanTier::Enterprise && self.advanced_rate_limiting
    }

    /// Whether a rate limit may have its own counting expression, or count
    /// only requests that reach the origin.
    pub fn custom_counting(&self) -> bool {
        self.tier >= PlanTier::Business
    }

    /// Whether the Cloudflare Managed Ruleset and the OWASP Core Ruleset may
    /// be deployed (Pro and up; Free runs the Free Managed Ruleset only).
    pub fn managed_rulesets(&self) -> bool {
        self.tier >= PlanTier::Pro
    }

    /// Whether Super Bot Fight Mode is offered (Pro and up; Free has Bot
    /// Fight Mode).
    pub fn super_bot_fight_mode(&self) -> bool {
        self.tier >= PlanTier::Pro
    }

    /// Whether Super Bot Fight Mode acts on "likely automated" traffic
    /// (Business and up).
    pub fn likely_automated(&self) -> bool {
        self.tier >= PlanTier::Business
    }
}

impl std::fmt::Display for ZonePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.tier)?;
        if self.advanced_rate_limiting {
            f.write_str(" with Advanced Rate Limiting")?;
        }
        if self.advanced_certificate_manager {
            f.write_str(" with Advanced Certificate Manager")?;
        }
        Ok(())
    }
}
