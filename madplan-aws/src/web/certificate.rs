//! ACM certificates, validated through DNS.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_acm::types::{CertificateStatus, Filters, ValidationMethod};
use futures_util::{StreamExt, TryStreamExt};
use madplan_core::{
    Found, Input, Observed, OpCx, OutputRef, Problem, ProviderError, Readiness, Ref, RefreshCx,
    Replacement, Resource, ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::CertificateArn;
use crate::error::sdk_error;
use crate::network::missing;
use crate::{Aws, tags};

/// How many certificates are read at once in a refresh.
const READS_AT_ONCE: usize = 10;

/// The key of a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyAlgorithm {
    /// RSA 2048 (every client).
    Rsa2048,
    /// ECDSA P-256 (smaller, faster; modern clients).
    EcPrime256v1,
    /// ECDSA P-384.
    EcSecp384r1,
}

impl KeyAlgorithm {
    fn sdk(self) -> aws_sdk_acm::types::KeyAlgorithm {
        use aws_sdk_acm::types::KeyAlgorithm as K;
        match self {
            KeyAlgorithm::Rsa2048 => K::Rsa2048,
            KeyAlgorithm::EcPrime256v1 => K::EcPrime256v1,
            KeyAlgorithm::EcSecp384r1 => K::EcSecp384r1,
        }
    }

    fn from_sdk(k: &aws_sdk_acm::types::KeyAlgorithm) -> Self {
        use aws_sdk_acm::types::KeyAlgorithm as K;
        match k {
            K::EcPrime256v1 => KeyAlgorithm::EcPrime256v1,
            K::EcSecp384r1 => KeyAlgorithm::EcSecp384r1,
            _ => KeyAlgorithm::Rsa2048,
        }
    }
}

/// A public certificate from ACM for a domain and alternative names,
/// validated through DNS: its validation records are outputs, so that a DNS
/// record (at Cloudflare, say) can be made from them. Creating it returns
/// once the records are known; an HTTPS listener using it waits until it
/// is `ISSUED`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct Certificate {
    /// The domain, e.g. `api.madplan.com` (or `*.madplan.com`).
    #[builder(setter(into))]
    pub domain: String,
    /// Other names it covers.
    #[builder(default, setter(transform = |n: impl IntoIterator<Item = impl Into<String>>| n.into_iter().map(Into::into).collect()))]
    pub alternative_names: BTreeSet<String>,
    /// Its key.
    #[builder(default = KeyAlgorithm::Rsa2048)]
    pub key_algorithm: KeyAlgorithm,
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// One DNS record that proves control of a domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationRecord {
    /// The domain it validates.
    pub domain: String,
    /// The record's name (fully qualified, with the final dot).
    pub name: String,
    /// Its type (`CNAME`).
    pub record_type: String,
    /// Its value.
    pub value: String,
}

/// What a certificate yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CertificateOutputs {
    /// Its ARN.
    pub arn: CertificateArn,
    /// Its status when last read (`PENDING_VALIDATION`, `ISSUED`...).
    #[serde(default)]
    pub status: String,
    /// The validation records, one per distinct record.
    #[serde(default)]
    pub validation_records: Vec<ValidationRecord>,
    /// The same, by domain, as top-level outputs
    /// (`validation.DOMAIN.name`, `.type`, `.value`) so that another
    /// resource can refer to one: see [`Certificate::validation_record`].
    #[serde(flatten)]
    pub validation_by_domain: BTreeMap<String, String>,
}

/// References to the validation record of one domain of a certificate,
/// for a DNS record to be built from.
#[derive(Clone, Debug)]
pub struct DnsValidation {
    /// The record's name.
    pub name: Input<String>,
    /// Its type: always `CNAME` for ACM.
    pub record_type: &'static str,
    /// Its value (the record's target).
    pub value: Input<String>,
}

impl Certificate {
    /// The validation record of `domain` (the certificate's domain or one
    /// of its alternative names), as references to the certificate's
    /// outputs: known once the certificate is requested.
    pub fn validation_record(certificate: &Ref<Certificate>, domain: &str) -> DnsValidation {
        let out = |field: &str| {
            Input::Output(OutputRef {
                address: certificate.address().clone(),
                output: format!("validation.{domain}.{field}"),
            })
        };
        DnsValidation {
            name: out("name"),
            record_type: "CNAME",
            value: out("value"),
        }
    }
}

/// Whether the certificate name `pattern` (possibly `*.example.com`)
/// covers the host name `host`: a wildcard covers one label.
pub(crate) fn covers(pattern: &str, host: &str) -> bool {
    let (p, h) = (pattern.to_ascii_lowercase(), host.to_ascii_lowercase());
    let (p, h) = (p.trim_end_matches('.'), h.trim_end_matches('.'));
    match p.strip_prefix("*.") {
        Some(rest) => h
            .split_once('.')
            .is_some_and(|(label, tail)| !label.is_empty() && tail == rest),
        None => p == h,
    }
}

fn domain_problem(name: &str) -> Option<String> {
    let bare = name.strip_prefix("*.").unwrap_or(name);
    let labels: Vec<&str> = bare.split('.').collect();
    let ok = name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    (!ok).then(|| format!("{name:?} is not a domain name ACM can certify"))
}

/// Outputs from a certificate's description.
fn outputs_of(c: &aws_sdk_acm::types::CertificateDetail) -> CertificateOutputs {
    let mut records = Vec::new();
    let mut by_domain = BTreeMap::new();
    for v in c.domain_validation_options() {
        let Some(r) = v.resource_record() else {
            continue;
        };
        let record = ValidationRecord {
            domain: v.domain_name().to_string(),
            name: r.name().to_string(),
            record_type: r.r#type().as_str().to_string(),
            value: r.value().to_string(),
        };
        for (field, value) in [
            ("name", &record.name),
            ("type", &record.record_type),
            ("value", &record.value),
        ] {
            by_domain.insert(
                format!("validation.{}.{field}", record.domain),
                value.clone(),
            );
        }
        if !records
            .iter()
            .any(|x: &ValidationRecord| x.name == record.name && x.value == record.value)
        {
            records.push(record);
        }
    }
    CertificateOutputs {
        arn: CertificateArn(c.certificate_arn().unwrap_or_default().to_string()),
        status: c
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        validation_records: records,
        validation_by_domain: by_domain,
    }
}

fn from_api(
    c: &aws_sdk_acm::types::CertificateDetail,
    tags: BTreeMap<String, String>,
) -> Certificate {
    let domain = c.domain_name().unwrap_or_default().to_string();
    Certificate {
        alternative_names: c
            .subject_alternative_names()
            .iter()
            .filter(|n| **n != domain)
            .cloned()
            .collect(),
        domain,
        key_algorithm: c
            .key_algorithm()
            .map_or(KeyAlgorithm::Rsa2048, KeyAlgorithm::from_sdk),
        tags,
    }
}

async fn describe(
    aws: &Aws,
    arn: &str,
) -> Result<aws_sdk_acm::types::CertificateDetail, ProviderError> {
    aws.acm()
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .map_err(sdk_error)?
        .certificate
        .ok_or_else(|| missing("certificate"))
}

async fn tags_of(aws: &Aws, arn: &str) -> Result<Vec<(String, String)>, ProviderError> {
    Ok(aws
        .acm()
        .list_tags_for_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .map_err(sdk_error)?
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

impl Resource for Certificate {
    const KIND: &'static str = "aws.certificate";
    const FORCES_REPLACEMENT: &'static [&'static str] =
        &["domain", "alternative_names", "key_algorithm"];
    // A new certificate is requested (and validated) before listeners move
    // to it and the old one is deleted.
    const REPLACEMENT: Replacement = Replacement::CreateBeforeDestroy;
    const WAIT_TIMEOUT: Duration = Duration::from_secs(5 * 60);
    type Provider = Aws;
    type Outputs = CertificateOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if let Some(why) = domain_problem(&self.domain) {
            problems.push(problem("domain", why, None));
        }
        for n in &self.alternative_names {
            if let Some(why) = domain_problem(n) {
                problems.push(problem("alternative_names", why, None));
            }
        }
        if self.alternative_names.contains(&self.domain) {
            problems.push(problem(
                "alternative_names",
                format!("{} is the domain already", self.domain),
                None,
            ));
        }
        if self.alternative_names.len() + 1 > 10 {
            problems.push(problem(
                "alternative_names",
                format!(
                    "{} names; ACM's default quota is 10 per certificate",
                    self.alternative_names.len() + 1
                ),
                None,
            ));
        }
    }

    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        use aws_sdk_acm::types::KeyAlgorithm as K;
        // Every key type: the list shows only RSA 2048 unless asked.
        let summaries: Vec<_> = aws
            .acm()
            .list_certificates()
            .includes(
                Filters::builder()
                    .key_types(K::Rsa2048)
                    .key_types(K::EcPrime256v1)
                    .key_types(K::EcSecp384r1)
                    .build(),
            )
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk_error)?;
        // ACM lists no tags: tracked certificates are known by their ARN;
        // the others' tags are read one call each, a few at once.
        let reads = summaries.into_iter().filter_map(|s| {
            let arn = s.certificate_arn()?.to_string();
            Some(async move {
                let pairs = tags_of(aws, &arn).await.or_else(|e| {
                    if e.is_not_found() {
                        Ok(Vec::new())
                    } else {
                        Err(e)
                    }
                })?;
                let as_str = || pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()));
                let Some(claim) = tags::claim_pairs(cx, as_str(), |o| o.arn.as_str() == arn) else {
                    return Ok::<_, ProviderError>(None);
                };
                let detail = match describe(aws, &arn).await {
                    Err(e) if e.is_not_found() => return Ok(None),
                    other => other?,
                };
                Ok(Some(Found::new(
                    claim,
                    from_api(&detail, tags::user_pairs(as_str())),
                    outputs_of(&detail),
                )))
            })
        });
        let found: Vec<Option<Found<Self>>> = futures_util::stream::iter(reads)
            .buffered(READS_AT_ONCE)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<CertificateOutputs, ProviderError> {
        let tags = tags::pairs(cx, &self.tags)
            .into_iter()
            .map(|(k, v)| aws_sdk_acm::types::Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| missing(&e.to_string()))?;
        // ACM's idempotency token takes 32 word characters.
        let token: String = cx
            .client_token()
            .replace('-', "")
            .chars()
            .take(32)
            .collect();
        let out = aws
            .acm()
            .request_certificate()
            .domain_name(&self.domain)
            .set_subject_alternative_names(
                (!self.alternative_names.is_empty())
                    .then(|| self.alternative_names.iter().cloned().collect()),
            )
            .validation_method(ValidationMethod::Dns)
            .key_algorithm(self.key_algorithm.sdk())
            .idempotency_token(token)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(sdk_error)?;
        let arn = out
            .certificate_arn()
            .ok_or_else(|| missing("certificate ARN"))?
            .to_string();
        cx.created(&CertificateOutputs {
            arn: CertificateArn(arn.clone()),
            status: CertificateStatus::PendingValidation.as_str().to_string(),
            validation_records: Vec::new(),
            validation_by_domain: BTreeMap::new(),
        })
        .await?;
        wait_for_records(aws, cx, &arn, 1 + self.alternative_names.len()).await
    }

    async fn resume(
        outputs: &CertificateOutputs,
        aws: &Aws,
        cx: &OpCx,
    ) -> Result<CertificateOutputs, ProviderError> {
        wait_for_records(aws, cx, outputs.arn.as_str(), 1).await
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<CertificateOutputs, ProviderError> {
        let arn = prior.outputs.arn.as_str();
        if changed.iter().any(|c| c == "tags") {
            let (stale, set) = tags::changes(&prior.spec.tags, &self.tags);
            if !stale.is_empty() {
                aws.acm()
                    .remove_tags_from_certificate()
                    .certificate_arn(arn)
                    .set_tags(Some(
                        stale
                            .into_iter()
                            .map(|k| aws_sdk_acm::types::Tag::builder().key(k).build())
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|e| missing(&e.to_string()))?,
                    ))
                    .send()
                    .await
                    .map_err(sdk_error)?;
            }
            if !set.is_empty() {
                aws.acm()
                    .add_tags_to_certificate()
                    .certificate_arn(arn)
                    .set_tags(Some(
                        set.into_iter()
                            .map(|(k, v)| {
                                aws_sdk_acm::types::Tag::builder().key(k).value(v).build()
                            })
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|e| missing(&e.to_string()))?,
                    ))
                    .send()
                    .await
                    .map_err(sdk_error)?;
            }
        }
        Ok(prior.outputs.clone())
    }

    async fn delete(
        outputs: &CertificateOutputs,
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        crate::network::gone_is_done(
            aws.acm()
                .delete_certificate()
                .certificate_arn(outputs.arn.as_str())
                .send()
                .await
                .map_err(sdk_error),
        )
    }
}

/// ACM adds the validation records a few seconds after the request: waits
/// until every name has one.
async fn wait_for_records(
    aws: &Aws,
    cx: &OpCx,
    arn: &str,
    names: usize,
) -> Result<CertificateOutputs, ProviderError> {
    cx.wait_for(
        &format!("the DNS validation records of {arn}"),
        Duration::from_secs(2),
        || async {
            let c = describe(aws, arn).await?;
            let options = c.domain_validation_options();
            let ready =
                options.len() >= names && options.iter().all(|o| o.resource_record().is_some());
            Ok(if ready {
                Readiness::Ready(outputs_of(&c))
            } else {
                Readiness::Waiting(format!(
                    "{} of {names} records known",
                    options
                        .iter()
                        .filter(|o| o.resource_record().is_some())
                        .count()
                ))
            })
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_certificate_covers() {
        assert!(covers("api.madplan.com", "api.madplan.com"));
        assert!(covers("API.madplan.com", "api.madplan.com."));
        assert!(covers("*.madplan.com", "api.madplan.com"));
        assert!(!covers("*.madplan.com", "madplan.com"));
        assert!(!covers("*.madplan.com", "a.b.madplan.com"));
        assert!(!covers("madplan.com", "api.madplan.com"));
    }

    #[test]
    fn domain_names() {
        for ok in ["api.madplan.com", "*.madplan.com", "a-b.example.org"] {
            assert_eq!(domain_problem(ok), None, "{ok}");
        }
        for bad in ["localhost", "api..com", "-a.com", "a b.com", "*.*.com"] {
            assert!(domain_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn validation_records_are_outputs_by_domain() {
        use aws_sdk_acm::types::{DomainValidation, RecordType, ResourceRecord};
        let record = |d: &str| {
            DomainValidation::builder()
                .domain_name(d)
                .resource_record(
                    ResourceRecord::builder()
                        .name(format!("_x.{}.", d.trim_start_matches("*.")))
                        .r#type(RecordType::Cname)
                        .value("_y.acm-validations.aws.")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap()
        };
        let c = aws_sdk_acm::types::CertificateDetail::builder()
            .certificate_arn("arn:cert")
            .domain_name("madplan.com")
            .subject_alternative_names("madplan.com")
            .subject_alternative_names("*.madplan.com")
            .domain_validation_options(record("madplan.com"))
            .domain_validation_options(record("*.madplan.com"))
            .status(CertificateStatus::PendingValidation)
            .build();
        let out = outputs_of(&c);
        // One record validates both names.
        assert_eq!(out.validation_records.len(), 1);
        assert_eq!(
            out.validation_by_domain["validation.*.madplan.com.name"],
            "_x.madplan.com."
        );
        assert_eq!(
            out.validation_by_domain["validation.madplan.com.type"],
            "CNAME"
        );
        let flat = serde_json::to_value(&out).unwrap();
        assert_eq!(
            flat["validation.madplan.com.value"],
            "_y.acm-validations.aws."
        );
        assert_eq!(
            from_api(&c, BTreeMap::new()),
            Certificate::builder()
                .domain("madplan.com")
                .alternative_names(["*.madplan.com"])
                .build()
        );
    }
}
