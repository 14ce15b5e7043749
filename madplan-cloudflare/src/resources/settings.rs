//! The zone's TLS and HSTS settings, as one resource read in one call.

use madplan_core::{
    Address, Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::restore::{Values, record_prior, to_restore};
use super::{Cloudflare, ZoneId, claim_zone, unresolved, zones_to_read};
use crate::client::settings::{
    AlwaysUseHttps, AutomaticHttpsRewrites, Hsts, MinTlsVersion, OnOff, SecurityHeader,
    SecurityHeaderValue, Setting, Ssl, SslMode, Tls13, Tls13Setting, TlsVersion, ZoneSettingValues,
};
use crate::error::Error;

/// One year, the `max-age` HSTS preload lists ask for.
pub const ONE_YEAR: u32 = 31_536_000;

/// The zone settings of the deployment guide's "SSL/TLS Configuration":
/// each `None` is left as it is (and a value there is not drift).
///
/// Deleting this resource gives back, for each setting madplan changed and
/// that still holds madplan's value, the value it had before madplan (see
/// the module `restore` for why); settings someone changed since are left.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZoneSettings {
    /// The zone.
    pub zone: Input<ZoneId>,
    /// Encryption between Cloudflare and the origin.
    #[serde(default)]
    pub ssl: Option<SslMode>,
    /// The oldest TLS version visitors may use.
    #[serde(default)]
    pub min_tls_version: Option<TlsVersion>,
    /// Redirect HTTP to HTTPS.
    #[serde(default)]
    pub always_use_https: Option<bool>,
    /// TLS 1.3.
    #[serde(default)]
    pub tls_1_3: Option<Tls13>,
    /// HTTP Strict Transport Security.
    #[serde(default)]
    pub hsts: Option<Hsts>,
    /// Rewrite `http://` links to `https://` where possible.
    #[serde(default)]
    pub automatic_https_rewrites: Option<bool>,
}

/// What the settings resource yields: the values it changed, before and
/// after, for its delete.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZoneSettingsOutputs {
    /// The zone.
    pub zone_id: ZoneId,
    /// Each setting's value before madplan first changed it (API ids and
    /// values).
    #[serde(default)]
    pub prior: Values,
    /// The values madplan last set.
    #[serde(default)]
    pub applied: Values,
}

impl ZoneSettings {
    /// Nothing managed yet on `zone`.
    pub fn on(zone: impl IntoInput<ZoneId>) -> Self {
        Self {
            zone: zone.into_input(),
            ssl: None,
            min_tls_version: None,
            always_use_https: None,
            tls_1_3: None,
            hsts: None,
            automatic_https_rewrites: None,
        }
    }

    /// The deployment guide's settings: SSL "Full (strict)", TLS 1.2 at
    /// least, always HTTPS, TLS 1.3 on, HSTS for a year on every subdomain
    /// with `nosniff`, automatic HTTPS rewrites. HSTS `preload` is left off:
    /// once browsers ship a preload list entry it takes months to leave it,
    /// so it is a decision to make on purpose ([`Hsts`] `preload: true`).
    pub fn production(zone: impl IntoInput<ZoneId>) -> Self {
        Self {
            ssl: Some(SslMode::Strict),
            min_tls_version: Some(TlsVersion::V1_2),
            always_use_https: Some(true),
            tls_1_3: Some(Tls13::On),
            hsts: Some(Hsts {
                enabled: true,
                max_age: ONE_YEAR,
                include_subdomains: true,
                preload: false,
                nosniff: true,
            }),
            automatic_https_rewrites: Some(true),
            ..Self::on(zone)
        }
    }

    /// With this SSL mode.
    #[must_use]
    pub fn ssl(mut self, mode: SslMode) -> Self {
        self.ssl = Some(mode);
        self
    }

    /// With this minimum TLS version.
    #[must_use]
    pub fn min_tls_version(mut self, v: TlsVersion) -> Self {
        self.min_tls_version = Some(v);
        self
    }

    /// With this HSTS.
    #[must_use]
    pub fn hsts(mut self, hsts: Hsts) -> Self {
        self.hsts = Some(hsts);
        self
    }

    /// The managed settings as the API spells them.
    fn values(&self) -> Values {
        let mut v = Values::new();
        let on_off = |b: bool| json!(OnOff::from(b).as_str());
        if let Some(x) = &self.ssl {
            v.insert(Ssl::ID.into(), json!(x.as_str()));
        }
        if let Some(x) = &self.min_tls_version {
            v.insert(MinTlsVersion::ID.into(), json!(x.as_str()));
        }
        if let Some(x) = self.always_use_https {
            v.insert(AlwaysUseHttps::ID.into(), on_off(x));
        }
        if let Some(x) = &self.tls_1_3 {
            v.insert(Tls13Setting::ID.into(), json!(x.as_str()));
        }
        if let Some(x) = self.hsts {
            v.insert(
                SecurityHeader::ID.into(),
                json!({"strict_transport_security": x}),
            );
        }
        if let Some(x) = self.automatic_https_rewrites {
            v.insert(AutomaticHttpsRewrites::ID.into(), on_off(x));
        }
        v
    }

    /// The spec of what a zone's settings are.
    fn from_live(zone: &str, all: &ZoneSettingValues) -> Result<Self, ProviderError> {
        let get = |e: Error| e.into_provider();
        let on = |v: Option<OnOff>| v.map(|x| x == OnOff::On);
        Ok(Self {
            zone: Input::Value(ZoneId(zone.to_string())),
            ssl: all.get::<Ssl>().map_err(get)?,
            min_tls_version: all.get::<MinTlsVersion>().map_err(get)?,
            always_use_https: on(all.get::<AlwaysUseHttps>().map_err(get)?),
            tls_1_3: all.get::<Tls13Setting>().map_err(get)?,
            hsts: all
                .get::<SecurityHeader>()
                .map_err(get)?
                .map(|h| h.strict_transport_security),
            automatic_https_rewrites: on(all.get::<AutomaticHttpsRewrites>().map_err(get)?),
        })
    }
}

/// The live values of the settings madplan manages, as the API spells them.
fn live_values(all: &ZoneSettingValues) -> Values {
    [
        Ssl::ID,
        MinTlsVersion::ID,
        AlwaysUseHttps::ID,
        Tls13Setting::ID,
        SecurityHeader::ID,
        AutomaticHttpsRewrites::ID,
    ]
    .into_iter()
    .filter_map(|id| all.entry(id).map(|e| (id.to_string(), e.value.clone())))
    .collect()
}

/// Sets one setting from its API value.
async fn set(cf: &Cloudflare, zone: &str, id: &str, value: &Value) -> Result<(), ProviderError> {
    fn typed<S: Setting>(v: &Value) -> Result<S::Value, ProviderError> {
        serde_json::from_value(v.clone())
            .map_err(|e| super::unreadable(format!("setting {}: {e}", S::ID)))
    }
    let c = cf.client();
    let r = match id {
        "ssl" => c
            .set_setting::<Ssl>(zone, &typed::<Ssl>(value)?)
            .await
            .map(drop),
        "min_tls_version" => c
            .set_setting::<MinTlsVersion>(zone, &typed::<MinTlsVersion>(value)?)
            .await
            .map(drop),
        "always_use_https" => c
            .set_setting::<AlwaysUseHttps>(zone, &typed::<AlwaysUseHttps>(value)?)
            .await
            .map(drop),
        "tls_1_3" => c
            .set_setting::<Tls13Setting>(zone, &typed::<Tls13Setting>(value)?)
            .await
            .map(drop),
        "security_header" => {
            let v: SecurityHeaderValue = typed::<SecurityHeader>(value)?;
            c.set_setting::<SecurityHeader>(zone, &v).await.map(drop)
        }
        "automatic_https_rewrites" => c
            .set_setting::<AutomaticHttpsRewrites>(zone, &typed::<AutomaticHttpsRewrites>(value)?)
            .await
            .map(drop),
        other => return Err(super::unreadable(format!("unknown setting {other}"))),
    };
    r.map_err(Error::into_provider)
}

/// Sets each of `desired` whose live value differs.
async fn apply(
    cf: &Cloudflare,
    zone: &str,
    desired: &Values,
    live: &Values,
) -> Result<(), ProviderError> {
    let changes = desired.iter().filter(|(id, v)| live.get(*id) != Some(*v));
    set_each(cf, zone, changes, Order::ModeFirst).await
}

/// Where the encryption mode goes among the other settings.
#[derive(Clone, Copy, PartialEq)]
enum Order {
    /// Applying: the mode first, so that a setting that only makes sense
    /// over HTTPS (HSTS, always HTTPS) is not switched on before the zone
    /// serves it.
    ModeFirst,
    /// Giving back: the mode last, so that such a setting is not left on
    /// after it stopped.
    ModeLast,
}

/// Sets `changes` in order, one after another.
async fn set_in_order(
    cf: &Cloudflare,
    zone: &str,
    changes: &[(&String, &Value)],
) -> Result<(), ProviderError> {
    for (id, v) in changes {
        set(cf, zone, id, v).await?;
    }
    Ok(())
}

/// Sets `changes`. Each setting is its own endpoint, so they go at once,
/// except two orders kept: the encryption mode (`ssl`) goes on its own,
/// before or after the others; and TLS 1.3 is turned on before the oldest
/// version accepted rises, the oldest version lowered before TLS 1.3 is
/// turned off, so that the zone never asks for TLS 1.3 without it.
async fn set_each<'a>(
    cf: &Cloudflare,
    zone: &str,
    changes: impl Iterator<Item = (&'a String, &'a Value)>,
    order: Order,
) -> Result<(), ProviderError> {
    let (mut mode, mut tls, mut others) = (Vec::new(), Vec::new(), Vec::new());
    for (id, v) in changes {
        match id.as_str() {
            "ssl" => mode.push((id, v)),
            "tls_1_3" | "min_tls_version" => tls.push((id, v)),
            _ => others.push((id, v)),
        }
    }
    let tls_1_3_off = tls
        .iter()
        .any(|(id, v)| id.as_str() == "tls_1_3" && v.as_str() == Some("off"));
    // `min_tls_version` sorts before `tls_1_3`.
    tls.sort_by_key(|(id, _)| id.as_str());
    if !tls_1_3_off {
        tls.reverse();
    }
    if order == Order::ModeFirst {
        set_in_order(cf, zone, &mode).await?;
    }
    futures_util::future::try_join(
        futures_util::future::try_join_all(others.iter().map(|(id, v)| set(cf, zone, id, v))),
        set_in_order(cf, zone, &tls),
    )
    .await?;
    if order == Order::ModeLast {
        set_in_order(cf, zone, &mode).await?;
    }
    Ok(())
}

impl Resource for ZoneSettings {
    const KIND: &'static str = "cloudflare.zone_settings";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["zone"];
    const SERVER_DEFAULTED: &'static [&'static str] = &[
        "ssl",
        "min_tls_version",
        "always_use_https",
        "tls_1_3",
        "hsts",
        "automatic_https_rewrites",
    ];
    const HELD_BY_DEPENDENTS: bool = false;
    type Provider = Cloudflare;
    type Outputs = ZoneSettingsOutputs;

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if let Some(h) = &self.hsts {
            if h.preload && !(h.enabled && h.include_subdomains && h.max_age >= ONE_YEAR) {
                problems.push(problem(
                    "hsts",
                    "HSTS preload needs HSTS on, includeSubDomains and a max-age of at least a \
                     year (31536000 s)",
                    None,
                ));
            }
            if h.enabled && matches!(self.ssl, Some(SslMode::Off)) {
                problems.push(problem(
                    "hsts",
                    "HSTS tells browsers to use only HTTPS, but SSL is off",
                    None,
                ));
            }
        }
        if self.always_use_https == Some(true) && matches!(self.ssl, Some(SslMode::Off)) {
            problems.push(problem(
                "always_use_https",
                "always using HTTPS needs SSL on",
                None,
            ));
        }
        if self.min_tls_version == Some(TlsVersion::V1_3) && self.tls_1_3 == Some(Tls13::Off) {
            problems.push(problem(
                "tls_1_3",
                "the minimum TLS version is 1.3 but TLS 1.3 is off",
                None,
            ));
        }
        for (field, unknown) in [
            ("ssl", self.ssl.as_ref().is_some_and(|v| !v.is_known())),
            (
                "min_tls_version",
                self.min_tls_version.as_ref().is_some_and(|v| !v.is_known()),
            ),
            (
                "tls_1_3",
                self.tls_1_3.as_ref().is_some_and(|v| !v.is_known()),
            ),
        ] {
            if unknown {
                problems.push(problem(field, "not a value madplan knows", None));
            }
        }
        if self.values().is_empty() {
            problems.push(problem(
                "zone",
                "no setting is managed",
                Some("start from ZoneSettings::production"),
            ));
        }
    }

    fn validate_kind(all: &[(Address, Self)], _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        for (i, (a, s)) in all.iter().enumerate() {
            if let Some((b, _)) = all[..i].iter().find(|(_, t)| t.zone == s.zone) {
                problems.push(Problem {
                    address: Some(a.clone()),
                    field: Some("zone".into()),
                    message: format!("{b} already manages this zone's settings"),
                    hint: Some("keep one settings resource per zone".into()),
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
            let all = cf
                .client()
                .settings(&zone)
                .await
                .map_err(Error::into_provider)?;
            let spec = Self::from_live(&zone, &all)?;
            claim_zone(cx, &zone, |o| o.zone_id.as_str(), &spec, &mut found);
        }
        Ok(found)
    }

    async fn create(
        &self,
        cf: &Cloudflare,
        cx: &OpCx,
    ) -> Result<ZoneSettingsOutputs, ProviderError> {
        let zone = self.zone.get().map_err(unresolved)?.clone();
        let all = cf
            .client()
            .settings(zone.as_str())
            .await
            .map_err(Error::into_provider)?;
        let live = live_values(&all);
        let desired = self.values();
        let mut outputs = ZoneSettingsOutputs {
            zone_id: zone.clone(),
            prior: Values::new(),
            applied: Values::new(),
        };
        record_prior(&mut outputs.prior, &desired, &live);
        // The values to give back are in state before anything changes.
        cx.created(&outputs).await?;
        apply(cf, zone.as_str(), &desired, &live).await?;
        outputs.applied = desired;
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        _changed: &[String],
        cf: &Cloudflare,
        _cx: &OpCx,
    ) -> Result<ZoneSettingsOutputs, ProviderError> {
        let zone = prior.outputs.zone_id.clone();
        let live = prior.spec.values();
        let desired = self.values();
        let mut outputs = prior.outputs.clone();
        record_prior(&mut outputs.prior, &desired, &live);
        apply(cf, zone.as_str(), &desired, &live).await?;
        outputs.applied.extend(desired);
        Ok(outputs)
    }

    async fn delete(
        o: &ZoneSettingsOutputs,
        cf: &Cloudflare,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        let all = match cf.client().settings(o.zone_id.as_str()).await {
            Ok(a) => a,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e.into_provider()),
        };
        let back = to_restore(&o.prior, &o.applied, &live_values(&all));
        set_each(cf, o.zone_id.as_str(), back.iter(), Order::ModeLast).await
    }
}
