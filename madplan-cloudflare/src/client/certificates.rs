//! Advanced certificate packs: edge certificates whose certificate
//! authority is chosen (Advanced Certificate Manager). Universal SSL
//! certificates' CA is Cloudflare's choice on every plan.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Client;
use super::strings::string_enum;
use crate::error::Error;

string_enum! {
    /// A certificate authority Cloudflare orders from.
    pub enum CertificateAuthority {
        /// Let's Encrypt.
        LetsEncrypt = "lets_encrypt",
        /// Google Trust Services.
        Google = "google",
        /// SSL.com.
        SslCom = "ssl_com",
        /// DigiCert (being retired by Cloudflare).
        DigiCert = "digicert",
    }
}

string_enum! {
    /// How the CA validates control of the names.
    pub enum ValidationMethod {
        /// A TXT record (Cloudflare adds it on full-setup zones).
        Txt = "txt",
        /// An HTTP file.
        Http = "http",
        /// E-mail.
        Email = "email",
    }
}

string_enum! {
    /// Where an order is.
    pub enum PackStatus {
        /// Just ordered.
        Initializing = "initializing",
        /// Waiting for the CA's validation.
        PendingValidation = "pending_validation",
        /// Validated, waiting for the certificate.
        PendingIssuance = "pending_issuance",
        /// Issued, being deployed.
        PendingDeployment = "pending_deployment",
        /// In service.
        Active = "active",
        /// Being deleted.
        PendingDeletion = "pending_deletion",
        /// Deleted.
        Deleted = "deleted",
        /// Expired.
        Expired = "expired",
        /// Validation did not finish in time.
        ValidationTimedOut = "validation_timed_out",
        /// Issuance did not finish in time.
        IssuanceTimedOut = "issuance_timed_out",
        /// Deployment did not finish in time.
        DeploymentTimedOut = "deployment_timed_out",
    }
}

impl PackStatus {
    /// Whether the order failed or is gone for good.
    pub fn is_terminal_failure(&self) -> bool {
        matches!(
            self,
            PackStatus::Deleted
                | PackStatus::PendingDeletion
                | PackStatus::Expired
                | PackStatus::ValidationTimedOut
                | PackStatus::IssuanceTimedOut
                | PackStatus::DeploymentTimedOut
        )
    }
}

/// A certificate pack as Cloudflare returns it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct CertificatePack {
    /// Its id.
    pub id: String,
    /// `advanced`, `universal`, ...
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The names it covers.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Its state.
    pub status: PackStatus,
    /// Who issues it.
    #[serde(default)]
    pub certificate_authority: Option<CertificateAuthority>,
    /// How names are validated.
    #[serde(default)]
    pub validation_method: Option<ValidationMethod>,
    /// Validity in days.
    #[serde(default)]
    pub validity_days: Option<u32>,
    /// Whether Cloudflare's name is added to the certificate.
    #[serde(default)]
    pub cloudflare_branding: Option<bool>,
    /// What this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An order for an advanced certificate pack.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PackOrder {
    /// Always `advanced`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The names to cover.
    pub hosts: Vec<String>,
    /// How names are validated.
    pub validation_method: ValidationMethod,
    /// Validity in days (14, 30, 90 or 365).
    pub validity_days: u32,
    /// Who issues it.
    pub certificate_authority: CertificateAuthority,
    /// Whether Cloudflare's name is added (not with Let's Encrypt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloudflare_branding: Option<bool>,
}

impl Client {
    /// Every certificate pack of the zone, whatever its status. (The 2023
    /// document does not page this list; one answer is read.)
    pub async fn certificate_packs(&self, zone_id: &str) -> Result<Vec<CertificatePack>, Error> {
        self.result::<_, ()>(
            Method::GET,
            &format!("/zones/{zone_id}/ssl/certificate_packs"),
            &[("status", "all".to_string())],
            None,
        )
        .await
    }

    /// The certificate pack `id`.
    pub async fn certificate_pack(
        &self,
        zone_id: &str,
        id: &str,
    ) -> Result<CertificatePack, Error> {
        self.result::<_, ()>(
            Method::GET,
            &format!("/zones/{zone_id}/ssl/certificate_packs/{id}"),
            &[],
            None,
        )
        .await
    }

    /// Orders an advanced certificate pack.
    pub async fn order_certificate_pack(
        &self,
        zone_id: &str,
        order: &PackOrder,
    ) -> Result<CertificatePack, Error> {
        self.result(
            Method::POST,
            &format!("/zones/{zone_id}/ssl/certificate_packs/order"),
            &[],
            Some(order),
        )
        .await
    }

    /// Deletes an advanced certificate pack. Not finding it is an error
    /// unless an earlier attempt of this call, whose answer was lost,
    /// deleted it.
    pub async fn delete_certificate_pack(&self, zone_id: &str, id: &str) -> Result<(), Error> {
        self.delete(&format!("/zones/{zone_id}/ssl/certificate_packs/{id}"))
            .await
    }
}
