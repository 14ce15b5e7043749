//! The edge of the production stack as madplan resources: the zone (read,
//! never managed), DNS records of every type, the zone's TLS and HSTS
//! settings, custom firewall rules, the managed WAF, rate limits, cache
//! rules, bot protection and an edge certificate whose CA is chosen.
//!
//! ```no_run
//! use madplan_cloudflare::resources::{
//!     Cloudflare, DnsRecord, RateLimitRule, RateLimits, Period, Zone, ZonePlan, ZoneRef, ZoneSettings,
//! };
//! use madplan_core::Environment;
//!
//! # fn main() -> Result<(), madplan_cloudflare::Error> {
//! let mut env = Environment::new("production").with_provider(Cloudflare::from_env()?);
//! let zone = ZoneRef::read(&mut env, "madplan", Zone::named("madplan.com", ZonePlan::business()));
//! env.add("api", DnsRecord::cname(&zone, "api.madplan.com", "alb-123.us-east-1.elb.amazonaws.com").proxied(true));
//! env.add("tls", ZoneSettings::production(&zone));
//! env.add("limits", RateLimits::new(&zone).rule(RateLimitRule::per_ip(
//!     "api", "starts_with(http.request.uri.path, \"/api\")", 2000, Period::FiveMinutes,
//! )));
//! # Ok(()) }
//! ```
//!
//! # Ownership
//!
//! Everything madplan makes carries its environment, its address and the
//! lineage of the state that made it, in the form the API allows: a marker
//! `madplan:<environment>/<name>/<lineage>` at the end of a DNS record's
//! comment, and as the start of the `ref` of each rule madplan puts in a
//! phase entrypoint. Records and rules without such a marker are never
//! changed or deleted; rules of others in a phase madplan writes to are
//! written back exactly as they were read. Zone settings, bot protection
//! and certificate packs cannot carry a marker: they are madplan's only
//! while its state tracks them.
//!
//! # Refresh cost
//!
//! A refresh lists the zones the token sees once per provider value (one
//! call, cached), then per zone: one DNS list filtered on madplan's marker
//! (paginated, 100 a page), one read of all settings, one read of each
//! ruleset phase madplan manages there, one bot configuration read and one
//! certificate pack list, whatever the number of resources. Settings, bot
//! protection and certificates are read only in the zones the state tracks
//! them in.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madplan_core::{
    ErrorClass, Input, IntoInput, Kinds, Provider, ProviderError, Ref, RefreshCx, TAG_ADDRESS,
    TAG_ENVIRONMENT, TAG_LINEAGE,
};
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::client::rulesets::Phase;
use crate::client::zones::Zone as ApiZone;
use crate::error::{Error, PROVIDER};

mod bots;
mod certificate;
mod dns;
mod plan;
mod restore;
mod rules;
mod settings;
mod zone;

pub use bots::{BotProtection, BotProtectionOutputs};
pub use certificate::{EdgeCertificate, EdgeCertificateOutputs};
pub use dns::{DnsRecord, DnsRecordOutputs, RecordData, RecordPurpose};
pub use plan::{PlanTier, ZonePlan};
pub use rules::{
    CacheRule, CacheRules, Characteristic, EdgeTtl, FirewallAction, FirewallRule, FirewallRules,
    ManagedWaf, OwaspCore, OwaspSensitivity, Period, RateLimitAction, RateLimitRule, RateLimits,
    RulesOutputs, WafAction,
};
pub use settings::{ZoneSettings, ZoneSettingsOutputs};
pub use zone::{Zone, ZoneLookup, ZoneOutputs, ZoneRef};

pub use crate::client::dns::Ttl;

/// A zone's id, as the API spells it (32 hex digits).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ZoneId(pub String);

impl ZoneId {
    /// The id as the API spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ZoneId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl IntoInput<ZoneId> for &Ref<Zone> {
    fn into_input(self) -> Input<ZoneId> {
        self.output("zone_id")
    }
}

impl IntoInput<ZoneId> for &ZoneRef {
    fn into_input(self) -> Input<ZoneId> {
        self.id.clone()
    }
}

impl IntoInput<ZoneId> for &str {
    fn into_input(self) -> Input<ZoneId> {
        Input::Value(ZoneId(self.to_string()))
    }
}

/// A text field that may be another resource's output: a `&str`, a
/// `String`, or an [`Input<String>`] (e.g. a load balancer's DNS name from
/// the AWS provider).
pub trait IntoText {
    /// The input.
    fn into_text(self) -> Input<String>;
}

impl IntoText for &str {
    fn into_text(self) -> Input<String> {
        Input::Value(self.to_string())
    }
}

impl IntoText for String {
    fn into_text(self) -> Input<String> {
        Input::Value(self)
    }
}

impl IntoText for &String {
    fn into_text(self) -> Input<String> {
        Input::Value(self.clone())
    }
}

impl IntoText for Input<String> {
    fn into_text(self) -> Input<String> {
        self
    }
}

impl IntoText for &Input<String> {
    fn into_text(self) -> Input<String> {
        self.clone()
    }
}

/// One writer at a time for a zone's phase entrypoint.
type PhaseLock = Arc<tokio::sync::Mutex<()>>;

/// Cloudflare as a madplan provider: the API client, which zones a refresh
/// looks in, and the locks that keep two writers of one ruleset phase
/// apart.
pub struct Cloudflare {
    client: Client,
    scope: Option<BTreeSet<String>>,
    zones: tokio::sync::OnceCell<Vec<ApiZone>>,
    phase_locks: Mutex<HashMap<(String, Phase), PhaseLock>>,
    poll_every: Duration,
    concurrency: usize,
}

impl std::fmt::Debug for Cloudflare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cloudflare")
            .field("client", &self.client)
            .field("scope", &self.scope)
            .finish()
    }
}

impl Cloudflare {
    /// The provider on `client`, looking in every zone the token sees.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            scope: None,
            zones: tokio::sync::OnceCell::new(),
            phase_locks: Mutex::default(),
            poll_every: Duration::from_secs(10),
            concurrency: 4,
        }
    }

    /// The provider on [`Client::from_env`].
    pub fn from_env() -> Result<Self, Error> {
        Ok(Self::new(Client::from_env()?))
    }

    /// Looks for madplan's records and rules only in these zones (by name):
    /// fewer calls per refresh in accounts with many zones. Zones the state
    /// tracks resources in are always read.
    #[must_use]
    pub fn only_zones<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.scope = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// How often a wait (a certificate being issued) polls; 10 s by default.
    #[must_use]
    pub fn poll_every(mut self, every: Duration) -> Self {
        self.poll_every = every;
        self
    }

    /// How many operations may run at once against Cloudflare (4 by
    /// default); every one of them also goes through the client's request
    /// budget.
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The API client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The ids of the zones a refresh looks in for madplan's markers: every
    /// zone the token sees (listed once per provider value), narrowed by
    /// [`Cloudflare::only_zones`].
    pub(crate) async fn scanned_zones(&self) -> Result<Vec<String>, ProviderError> {
        let zones = self
            .zones
            .get_or_try_init(|| self.client.zones())
            .await
            .map_err(Error::into_provider)?;
        Ok(zones
            .iter()
            .filter(|z| self.scope.as_ref().is_none_or(|s| s.contains(&z.name)))
            .map(|z| z.id.clone())
            .collect())
    }

    /// The lock of one zone's phase: rules are written by reading and
    /// replacing the whole entrypoint, so one writer at a time.
    pub(crate) fn phase_lock(&self, zone: &str, phase: Phase) -> PhaseLock {
        self.phase_locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((zone.to_string(), phase))
            .or_default()
            .clone()
    }
}

impl Provider for Cloudflare {
    const NAME: &'static str = "cloudflare";

    fn concurrency(&self) -> usize {
        self.concurrency
    }

    fn register(kinds: &mut Kinds) {
        kinds.register::<DnsRecord>();
        kinds.register::<ZoneSettings>();
        kinds.register::<FirewallRules>();
        kinds.register::<ManagedWaf>();
        kinds.register::<RateLimits>();
        kinds.register::<CacheRules>();
        kinds.register::<BotProtection>();
        kinds.register::<EdgeCertificate>();
        kinds.register_data::<Zone>();
    }
}

/// The marker madplan writes where Cloudflare has no tags: in a DNS
/// record's comment, at the start of a rule's `ref`.
/// `madplan:<environment>/<name>/<lineage as 32 hex digits>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Marker {
    environment: String,
    name: String,
    /// The lineage, hyphenated as the engine prints it.
    lineage: String,
}

const MARKER_PREFIX: &str = "madplan:";

impl Marker {
    /// The marker of the resource an operation is on.
    pub(crate) fn of(cx: &madplan_core::OpCx) -> Self {
        Self {
            environment: cx.environment().to_string(),
            name: cx.address().name().to_string(),
            lineage: cx.lineage().to_string(),
        }
    }

    /// Parses `madplan:<env>/<name>/<32 hex>` exactly.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix(MARKER_PREFIX)?;
        let mut parts = rest.split('/');
        let (environment, name, hex) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some()
            || madplan_core::Address::check_name(environment).is_some()
            || madplan_core::Address::check_name(name).is_some()
            || hex.len() != 32
            || !hex
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        {
            return None;
        }
        Some(Self {
            environment: environment.to_string(),
            name: name.to_string(),
            lineage: format!(
                "{}-{}-{}-{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..]
            ),
        })
    }

    /// How it is written.
    pub(crate) fn text(&self) -> String {
        format!(
            "{MARKER_PREFIX}{}/{}/{}",
            self.environment,
            self.name,
            self.lineage.replace('-', "")
        )
    }

    /// The markers the engine asks for ([`RefreshCx::claim`]), for a
    /// resource of `kind`.
    pub(crate) fn reads(&self, kind: &'static str) -> impl Fn(&str) -> Option<String> + '_ {
        move |key| match key {
            TAG_ENVIRONMENT => Some(self.environment.clone()),
            TAG_ADDRESS => Some(format!("{kind}.{}", self.name)),
            TAG_LINEAGE => Some(self.lineage.clone()),
            _ => None,
        }
    }
}

/// The zones a kind's refresh reads: those its tracked resources are in,
/// and, for kinds found again by markers, those the provider scans.
pub(crate) async fn zones_to_read<R: madplan_core::Resource>(
    cf: &Cloudflare,
    cx: &RefreshCx<R>,
    tracked_zone: impl Fn(&R::Outputs) -> &str,
    scan: bool,
) -> Result<Vec<String>, ProviderError> {
    let mut zones: BTreeSet<String> = cx
        .tracked
        .iter()
        .map(|t| tracked_zone(&t.outputs).to_string())
        .collect();
    if scan {
        zones.extend(cf.scanned_zones().await?);
    }
    Ok(zones.into_iter().collect())
}

/// For a kind that is one object per zone (its settings, its bot
/// protection): `live` read from `zone` is what every tracked resource of
/// that zone observes.
pub(crate) fn claim_zone<R: madplan_core::Resource>(
    cx: &RefreshCx<R>,
    zone: &str,
    tracked_zone: impl Fn(&R::Outputs) -> &str,
    live: &R,
    found: &mut Vec<madplan_core::Found<R>>,
) where
    R::Outputs: PartialEq,
{
    for t in cx
        .tracked
        .iter()
        .filter(|t| tracked_zone(&t.outputs) == zone)
    {
        if let Some(claim) = cx.claim(|o| o == &t.outputs, |_| None) {
            found.push(madplan_core::Found::new(
                claim,
                live.clone(),
                t.outputs.clone(),
            ));
        }
    }
}

/// The error for an input the engine should have resolved.
pub(crate) fn unresolved(e: madplan_core::input::Unresolved) -> ProviderError {
    ProviderError::new("madplan", ErrorClass::Fatal, e.to_string())
}

/// A value read back that madplan cannot make sense of.
pub(crate) fn unreadable(what: impl std::fmt::Display) -> ProviderError {
    ProviderError::new(PROVIDER, ErrorClass::Fatal, what.to_string())
}

/// A removal that found nothing to remove succeeded.
pub(crate) fn gone_is_done(r: Result<(), Error>) -> Result<(), ProviderError> {
    match r {
        Err(e) if !e.is_not_found() => Err(e.into_provider()),
        _ => Ok(()),
    }
}

/// Host names as Cloudflare stores them: lower case, without the final dot.
/// Applied when a spec is (de)serialized, so that `_x.madplan.com.` as ACM
/// gives it and `_x.madplan.com` as Cloudflare answers are one value.
pub(crate) mod hostname {
    use madplan_core::Input;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn normal(name: &str) -> String {
        name.trim().trim_end_matches('.').to_lowercase()
    }

    fn normalised(v: &Input<String>) -> Input<String> {
        match v {
            Input::Value(s) => Input::Value(normal(s)),
            other => other.clone(),
        }
    }

    pub(crate) fn serialize<S: Serializer>(v: &Input<String>, s: S) -> Result<S::Ok, S::Error> {
        normalised(v).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Input<String>, D::Error> {
        Ok(normalised(&Input::<String>::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_nothing_else_parses() {
        let m = Marker {
            environment: "production".into(),
            name: "api".into(),
            lineage: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into(),
        };
        let text = m.text();
        assert_eq!(
            text,
            "madplan:production/api/0f1e2d3c4b5a69788796a5b4c3d2e1f0"
        );
        assert_eq!(Marker::parse(&text), Some(m.clone()));
        let reads = m.reads("cloudflare.dns_record");
        assert_eq!(
            reads(TAG_ADDRESS).as_deref(),
            Some("cloudflare.dns_record.api")
        );
        assert_eq!(
            reads(TAG_LINEAGE).as_deref(),
            Some("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
        );
        for bad in [
            "madplan:production/api",
            "madplan:Production/api/0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            "madplan:production/api/0f1e2d3c4b5a69788796a5b4c3d2e1f",
            "madplan:production/api/0f1e2d3c4b5a69788796a5b4c3d2e1f0/x",
            "web-team:production/api/0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        ] {
            assert_eq!(Marker::parse(bad), None, "{bad}");
        }
    }
}
