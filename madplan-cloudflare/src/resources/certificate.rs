//! The edge certificate, issued by a chosen certificate authority.
//!
//! Cloudflare chooses the CA of Universal SSL certificates on every plan
//! ("For Universal SSL certificates, Cloudflare chooses the certificate
//! authority", Universal SSL limitations; the 2023 API's Universal SSL
//! settings take only `enabled`). The deployment guide's Let's Encrypt
//! edge certificate is therefore an advanced certificate, which needs the
//! Advanced Certificate Manager add-on: validation says so when the zone's
//! plan does not declare it.

use madplan_core::{
    Found, Observed, OpCx, Problem, ProviderError, Readiness, RefreshCx, Replacement, Resource,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize};

use super::{Cloudflare, ZoneId, ZoneRef, gone_is_done, unresolved, zones_to_read};
use crate::client::certificates::{CertificateAuthority, PackOrder, PackStatus, ValidationMethod};
use crate::error::Error;

/// An advanced edge certificate (a certificate pack) for names of a zone,
/// from a chosen CA.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EdgeCertificate {
    /// The zone and its plan.
    pub zone: ZoneRef,
    /// The names it covers.
    pub hosts: Vec<String>,
    /// Who issues it.
    pub authority: CertificateAuthority,
    /// How the CA checks control of the names (Cloudflare answers TXT
    /// challenges itself on zones whose DNS it serves).
    pub validation: ValidationMethod,
    /// Validity in days (14, 30, 90 or 365).
    pub validity_days: u32,
}

/// What an edge certificate yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EdgeCertificateOutputs {
    /// The zone.
    pub zone_id: ZoneId,
    /// The certificate pack's id.
    pub pack_id: String,
}

impl EdgeCertificate {
    /// The deployment guide's certificate: Let's Encrypt for the zone and
    /// its wildcard (the only hosts Let's Encrypt orders take), TXT
    /// validation, 90 days.
    pub fn lets_encrypt(zone: &ZoneRef, zone_name: &str) -> Self {
        Self {
            zone: zone.clone(),
            hosts: vec![zone_name.to_string(), format!("*.{zone_name}")],
            authority: CertificateAuthority::LetsEncrypt,
            validation: ValidationMethod::Txt,
            validity_days: 90,
        }
    }
}

impl Resource for EdgeCertificate {
    const KIND: &'static str = "cloudflare.edge_certificate";
    const FORCES_REPLACEMENT: &'static [&'static str] = &[
        "zone.id",
        "hosts",
        "authority",
        "validation",
        "validity_days",
    ];
    const WRITE_ONLY: &'static [&'static str] = &["zone.plan"];
    const REPLACEMENT: Replacement = Replacement::CreateBeforeDestroy;
    const HELD_BY_DEPENDENTS: bool = false;
    const WAIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);
    type Provider = Cloudflare;
    type Outputs = EdgeCertificateOutputs;

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if let Some(plan) = self.zone.declared_plan(problems)
            && !plan.advanced_certificate_manager
        {
            problems.push(problem(
                "authority",
                format!(
                    "choosing the certificate authority needs Advanced Certificate Manager, \
                     which the zone's plan ({plan}) does not declare; Universal SSL \
                     certificates' authority is Cloudflare's choice on every plan"
                ),
                Some(
                    "add it with ZonePlan::with_advanced_certificate_manager once the zone has \
                     it, or drop this resource and keep Universal SSL",
                ),
            ));
        }
        if !self.authority.is_known() || self.authority == CertificateAuthority::DigiCert {
            problems.push(problem(
                "authority",
                format!("{} is not a CA Cloudflare orders from", self.authority),
                None,
            ));
        }
        if ![14, 30, 90, 365].contains(&self.validity_days) {
            problems.push(problem(
                "validity_days",
                format!("{} is not 14, 30, 90 or 365", self.validity_days),
                None,
            ));
        }
        if self.hosts.is_empty() {
            problems.push(problem("hosts", "no host names", None));
        }
        if self.authority == CertificateAuthority::LetsEncrypt {
            let apex: Vec<&String> = self.hosts.iter().filter(|h| !h.starts_with("*.")).collect();
            let fits = self.hosts.len() == 2
                && apex.len() == 1
                && self.hosts.contains(&format!("*.{}", apex[0]));
            if !fits {
                problems.push(problem(
                    "hosts",
                    "a Let's Encrypt order covers exactly the zone and its wildcard \
                     (e.g. madplan.com and *.madplan.com)",
                    Some("use EdgeCertificate::lets_encrypt"),
                ));
            }
            if self.validation != ValidationMethod::Txt || self.validity_days != 90 {
                problems.push(problem(
                    "validation",
                    "a Let's Encrypt order is validated by TXT record and lasts 90 days",
                    None,
                ));
            }
        }
    }

    async fn refresh(
        cf: &Cloudflare,
        cx: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        let mut found = Vec::new();
        for zone in zones_to_read(cf, cx, |o| o.zone_id.as_str(), false).await? {
            let packs = cf
                .client()
                .certificate_packs(&zone)
                .await
                .map_err(Error::into_provider)?;
            for p in packs {
                if p.status.is_terminal_failure() {
                    continue;
                }
                let outputs = EdgeCertificateOutputs {
                    zone_id: ZoneId(zone.clone()),
                    pack_id: p.id.clone(),
                };
                let Some(claim) = cx.claim(|o| *o == outputs, |_| None) else {
                    continue;
                };
                let spec = Self {
                    zone: ZoneRef::live(&zone),
                    hosts: p.hosts,
                    authority: p
                        .certificate_authority
                        .unwrap_or(CertificateAuthority::Other(String::new())),
                    validation: p
                        .validation_method
                        .unwrap_or(ValidationMethod::Other(String::new())),
                    validity_days: p.validity_days.unwrap_or(0),
                };
                found.push(Found::new(claim, spec, outputs));
            }
        }
        Ok(found)
    }

    async fn create(
        &self,
        cf: &Cloudflare,
        cx: &OpCx,
    ) -> Result<EdgeCertificateOutputs, ProviderError> {
        let zone = self.zone.id.get().map_err(unresolved)?.clone();
        let order = PackOrder {
            kind: "advanced",
            hosts: self.hosts.clone(),
            validation_method: self.validation.clone(),
            validity_days: self.validity_days,
            certificate_authority: self.authority.clone(),
            cloudflare_branding: None,
        };
        let pack = cf
            .client()
            .order_certificate_pack(zone.as_str(), &order)
            .await
            .map_err(Error::into_provider)?;
        let outputs = EdgeCertificateOutputs {
            zone_id: zone,
            pack_id: pack.id,
        };
        cx.created(&outputs).await?;
        Self::resume(&outputs, cf, cx).await
    }

    async fn resume(
        outputs: &EdgeCertificateOutputs,
        cf: &Cloudflare,
        cx: &OpCx,
    ) -> Result<EdgeCertificateOutputs, ProviderError> {
        let client = cf.client().clone();
        let (zone, id) = (outputs.zone_id.0.clone(), outputs.pack_id.clone());
        cx.wait_for("the certificate to be issued", cf.poll_every, move || {
            let (client, zone, id) = (client.clone(), zone.clone(), id.clone());
            async move {
                let p = client
                    .certificate_pack(&zone, &id)
                    .await
                    .map_err(Error::into_provider)?;
                match p.status {
                    PackStatus::Active => Ok(Readiness::Ready(())),
                    s if s.is_terminal_failure() => Err(super::unreadable(format!(
                        "certificate pack {id} ended {s}; delete it and apply again"
                    ))),
                    s => Ok(Readiness::Waiting(s.to_string())),
                }
            }
        })
        .await?;
        Ok(outputs.clone())
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        _changed: &[String],
        _cf: &Cloudflare,
        _cx: &OpCx,
    ) -> Result<EdgeCertificateOutputs, ProviderError> {
        // Every field forces a new order; only the declared plan can differ.
        Ok(prior.outputs.clone())
    }

    async fn delete(
        o: &EdgeCertificateOutputs,
        cf: &Cloudflare,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        gone_is_done(
            cf.client()
                .delete_certificate_pack(o.zone_id.as_str(), &o.pack_id)
                .await,
        )
    }
}
