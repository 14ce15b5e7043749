//! Listeners of a load balancer, with a closed set of TLS policies.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ProtocolEnum, RedirectActionConfig, RedirectActionStatusCodeEnum,
};
use madplan_core::{
    Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, Readiness, RefreshCx,
    Resource, ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::certificate::{Certificate, covers};
use super::{
    CertificateArn, ListenerArn, LoadBalancerArn, TargetGroupArn, elb_tag_list, elb_tags,
    sync_elb_tags,
};
use crate::baseline::{Baseline, TlsVersion};
use crate::error::sdk_error;
use crate::network::{gone_is_done, missing, unresolved};
use crate::{Aws, tags};

/// How often the certificate is read while waiting for it to be issued.
const POLL: Duration = Duration::from_secs(5);

macro_rules! tls_policies {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, $min:ident;)*) => {
        /// The security policies an HTTPS listener of an Application Load
        /// Balancer can use (ELB's predefined policies), each with the
        /// oldest TLS version it accepts. [`TlsPolicy::Tls12And13`] (TLS 1.2
        /// and 1.3, AWS's recommended policy) is the default.
        #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum TlsPolicy {
            $($(#[$doc])* #[serde(rename = $name)] $variant,)*
            /// A policy read back that this list does not know (set by hand,
            /// or newer than madplan); validation refuses it in a spec.
            #[serde(untagged)]
            Unlisted(String),
        }

        impl TlsPolicy {
            /// Every listed policy.
            pub const ALL: &'static [TlsPolicy] = &[$(TlsPolicy::$variant,)*];

            /// The name ELB knows it by.
            pub fn name(&self) -> &str {
                match self {
                    $(TlsPolicy::$variant => $name,)*
                    TlsPolicy::Unlisted(n) => n,
                }
            }

            /// The oldest TLS version it accepts (`None` for an unlisted one).
            pub fn min_tls(&self) -> Option<TlsVersion> {
                match self {
                    $(TlsPolicy::$variant => Some(TlsVersion::$min),)*
                    TlsPolicy::Unlisted(_) => None,
                }
            }

            /// The policy ELB names `name`.
            pub fn from_name(name: &str) -> Self {
                match name {
                    $($name => TlsPolicy::$variant,)*
                    other => TlsPolicy::Unlisted(other.to_string()),
                }
            }
        }
    };
}

tls_policies! {
    /// TLS 1.3 only.
    Tls13Only = "ELBSecurityPolicy-TLS13-1-3-2021-06", V1_3;
    /// TLS 1.3 only, with post-quantum key exchange.
    Tls13OnlyPq = "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09", V1_3;
    /// TLS 1.2 and 1.3 (AWS's recommendation).
    Tls12And13 = "ELBSecurityPolicy-TLS13-1-2-2021-06", V1_2;
    /// TLS 1.2 and 1.3, with post-quantum key exchange.
    Tls12And13Pq = "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09", V1_2;
    /// TLS 1.2 and 1.3, restricted to the strongest ciphers.
    Tls12And13Restricted = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06", V1_2;
    /// TLS 1.2 and 1.3, restricted ciphers, post-quantum key exchange.
    Tls12And13RestrictedPq = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09", V1_2;
    /// TLS 1.2 and 1.3 with more ciphers for older clients.
    Tls12And13Extended1 = "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06", V1_2;
    /// The same, with post-quantum key exchange.
    Tls12And13Extended1Pq = "ELBSecurityPolicy-TLS13-1-2-Ext1-PQ-2025-09", V1_2;
    /// TLS 1.2 and 1.3 with the widest cipher list.
    Tls12And13Extended2 = "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06", V1_2;
    /// The same, with post-quantum key exchange.
    Tls12And13Extended2Pq = "ELBSecurityPolicy-TLS13-1-2-Ext2-PQ-2025-09", V1_2;
    /// TLS 1.1 to 1.3.
    Tls11To13 = "ELBSecurityPolicy-TLS13-1-1-2021-06", V1_1;
    /// TLS 1.0 to 1.3.
    Tls10To13 = "ELBSecurityPolicy-TLS13-1-0-2021-06", V1_0;
    /// TLS 1.0 to 1.3, with post-quantum key exchange.
    Tls10To13Pq = "ELBSecurityPolicy-TLS13-1-0-PQ-2025-09", V1_0;
    /// TLS 1.2 only, extended ciphers (2018).
    Tls12Extended2018 = "ELBSecurityPolicy-TLS-1-2-Ext-2018-06", V1_2;
    /// TLS 1.2 only (2017).
    Tls12Only2017 = "ELBSecurityPolicy-TLS-1-2-2017-01", V1_2;
    /// TLS 1.1 and 1.2 (2017).
    Tls11And12_2017 = "ELBSecurityPolicy-TLS-1-1-2017-01", V1_1;
    /// TLS 1.0 to 1.2 (ELB's old default).
    Tls10To12_2016 = "ELBSecurityPolicy-2016-08", V1_0;
    /// TLS 1.0 to 1.2 (2015-04).
    Tls10To12_2015_04 = "ELBSecurityPolicy-TLS-1-0-2015-04", V1_0;
    /// TLS 1.0 to 1.2 (2015-05).
    Tls10To12_2015_05 = "ELBSecurityPolicy-2015-05", V1_0;
    /// Forward secrecy, TLS 1.2, restricted ciphers (2020).
    ForwardSecrecy12Restricted2020 = "ELBSecurityPolicy-FS-1-2-Res-2020-10", V1_2;
    /// Forward secrecy, TLS 1.2, restricted ciphers (2019).
    ForwardSecrecy12Restricted2019 = "ELBSecurityPolicy-FS-1-2-Res-2019-08", V1_2;
    /// Forward secrecy, TLS 1.2 (2019).
    ForwardSecrecy12_2019 = "ELBSecurityPolicy-FS-1-2-2019-08", V1_2;
    /// Forward secrecy, TLS 1.1 and 1.2 (2019).
    ForwardSecrecy11_2019 = "ELBSecurityPolicy-FS-1-1-2019-08", V1_1;
    /// Forward secrecy, TLS 1.0 to 1.2 (2018).
    ForwardSecrecy10_2018 = "ELBSecurityPolicy-FS-2018-06", V1_0;
}

/// The protocol a listener accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenerProtocol {
    /// Plain HTTP.
    Http,
    /// HTTPS, ending TLS at the load balancer.
    Https,
}

impl ListenerProtocol {
    fn sdk(self) -> ProtocolEnum {
        match self {
            ListenerProtocol::Http => ProtocolEnum::Http,
            ListenerProtocol::Https => ProtocolEnum::Https,
        }
    }
}

/// What a listener does with a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenerAction {
    /// Redirects to HTTPS on `port`, same host, path and query.
    RedirectToHttps {
        /// The HTTPS port.
        port: i32,
        /// `true`: 301 (permanent), `false`: 302.
        permanent: bool,
    },
    /// Forwards to a target group.
    Forward {
        /// The target group.
        target_group: Input<TargetGroupArn>,
    },
    /// Something else, as read back from a listener changed by hand.
    Other {
        /// The action's type.
        kind: String,
    },
}

impl ListenerAction {
    fn sdk(&self) -> Result<Action, ProviderError> {
        Ok(match self {
            ListenerAction::RedirectToHttps { port, permanent } => Action::builder()
                .r#type(ActionTypeEnum::Redirect)
                .redirect_config(
                    RedirectActionConfig::builder()
                        .protocol("HTTPS")
                        .port(port.to_string())
                        .host("#{host}")
                        .path("/#{path}")
                        .query("#{query}")
                        .status_code(if *permanent {
                            RedirectActionStatusCodeEnum::Http301
                        } else {
                            RedirectActionStatusCodeEnum::Http302
                        })
                        .build(),
                )
                .build(),
            ListenerAction::Forward { target_group } => Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(target_group.get().map_err(unresolved)?.as_str())
                .build(),
            ListenerAction::Other { kind } => {
                return Err(ProviderError::new(
                    "madplan",
                    madplan_core::ErrorClass::Fatal,
                    format!("a listener action of type {kind} cannot be written"),
                ));
            }
        })
    }

    fn from_sdk(a: &Action) -> Self {
        match a.r#type() {
            Some(ActionTypeEnum::Forward) => {
                let tg = a.target_group_arn().map(str::to_string).or_else(|| {
                    a.forward_config()
                        .and_then(|f| f.target_groups().first())
                        .and_then(|t| t.target_group_arn())
                        .map(str::to_string)
                });
                ListenerAction::Forward {
                    target_group: Input::Value(TargetGroupArn(tg.unwrap_or_default())),
                }
            }
            Some(ActionTypeEnum::Redirect) => match a.redirect_config() {
                Some(r) if r.protocol() == Some("HTTPS") => ListenerAction::RedirectToHttps {
                    port: r.port().and_then(|p| p.parse().ok()).unwrap_or(443),
                    permanent: r.status_code() == Some(&RedirectActionStatusCodeEnum::Http301),
                },
                _ => ListenerAction::Other {
                    kind: "redirect".into(),
                },
            },
            other => ListenerAction::Other {
                kind: other.map_or("none", ActionTypeEnum::as_str).to_string(),
            },
        }
    }
}

/// A listener of a load balancer. An HTTPS listener waits, when it is
/// created or its certificate changes, until the certificate is `ISSUED`
/// (DNS validation takes as long as the validation record takes to appear).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct Listener {
    /// The load balancer.
    #[builder(setter(transform = |v: impl IntoInput<LoadBalancerArn>| v.into_input()))]
    pub load_balancer: Input<LoadBalancerArn>,
    /// The port.
    pub port: i32,
    /// HTTP or HTTPS.
    pub protocol: ListenerProtocol,
    /// The certificate (HTTPS).
    #[builder(default, setter(transform = |v: impl IntoInput<CertificateArn>| Some(v.into_input())))]
    pub certificate: Option<Input<CertificateArn>>,
    /// The TLS policy (HTTPS).
    #[builder(default, setter(strip_option))]
    pub tls_policy: Option<TlsPolicy>,
    /// What it does with requests.
    pub action: ListenerAction,
    /// The names clients reach it by (the DNS records that will point at
    /// the load balancer): validation checks that the certificate covers
    /// each. Not sent to AWS, so compared with what was last applied (the
    /// live side reads `None`).
    #[builder(default, setter(transform = |n: impl IntoIterator<Item = impl Into<String>>| Some(n.into_iter().map(Into::into).collect())))]
    pub host_names: Option<BTreeSet<String>>,
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

impl Listener {
    /// Port 80, redirecting every request to HTTPS on 443 with a 301.
    pub fn redirect_http_to_https(load_balancer: impl IntoInput<LoadBalancerArn>) -> Self {
        Listener::builder()
            .load_balancer(load_balancer)
            .port(80)
            .protocol(ListenerProtocol::Http)
            .action(ListenerAction::RedirectToHttps {
                port: 443,
                permanent: true,
            })
            .build()
    }

    /// Port 443, HTTPS with `certificate` and the recommended TLS 1.2/1.3
    /// policy, forwarding to `target_group`; clients reach it by
    /// `host_names`.
    pub fn https(
        load_balancer: impl IntoInput<LoadBalancerArn>,
        certificate: impl IntoInput<CertificateArn>,
        target_group: impl IntoInput<TargetGroupArn>,
        host_names: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Listener::builder()
            .load_balancer(load_balancer)
            .port(443)
            .protocol(ListenerProtocol::Https)
            .certificate(certificate)
            .tls_policy(TlsPolicy::Tls12And13)
            .action(ListenerAction::Forward {
                target_group: target_group.into_input(),
            })
            .host_names(host_names)
            .build()
    }

    /// The same listener with another TLS policy.
    #[must_use]
    pub fn with_tls_policy(mut self, policy: TlsPolicy) -> Self {
        self.tls_policy = Some(policy);
        self
    }
}

/// What a listener yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListenerOutputs {
    /// Its ARN.
    pub arn: ListenerArn,
    /// Its load balancer's ARN.
    pub load_balancer_arn: String,
}

/// Waits until the certificate is `ISSUED`.
async fn wait_issued(aws: &Aws, cx: &OpCx, arn: &str) -> Result<(), ProviderError> {
    cx.wait_for(&format!("certificate {arn} to be issued"), POLL, || async {
        let out = aws
            .acm()
            .describe_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(sdk_error)?;
        let c = out.certificate().ok_or_else(|| missing("certificate"))?;
        use aws_sdk_acm::types::CertificateStatus as S;
        match c.status() {
            Some(S::Issued) => Ok(Readiness::Ready(())),
            Some(s @ (S::Failed | S::ValidationTimedOut | S::Revoked | S::Expired | S::Inactive)) => {
                Err(ProviderError::new(
                    "aws",
                    madplan_core::ErrorClass::Fatal,
                    format!(
                        "certificate {arn} is {}{}; request a new one (change its domain or replace it)",
                        s.as_str(),
                        c.failure_reason()
                            .map(|r| format!(" ({})", r.as_str()))
                            .unwrap_or_default()
                    ),
                ))
            }
            s => Ok(Readiness::Waiting(format!(
                "{} (the DNS validation record must exist)",
                s.map_or("unknown", |s| s.as_str())
            ))),
        }
    })
    .await
}

fn certificate_list(
    spec: &Listener,
) -> Result<Option<Vec<aws_sdk_elasticloadbalancingv2::types::Certificate>>, ProviderError> {
    spec.certificate
        .as_ref()
        .map(|c| {
            Ok(vec![
                aws_sdk_elasticloadbalancingv2::types::Certificate::builder()
                    .certificate_arn(c.get().map_err(unresolved)?.as_str())
                    .build(),
            ])
        })
        .transpose()
}

/// Checks the TLS policy against what the environment demands.
fn check_tls_floor(spec: &Listener, baseline: &Baseline, problems: &mut Vec<Problem>) {
    let (Some(floor), Some(policy)) = (baseline.tls_floor, &spec.tls_policy) else {
        return;
    };
    if let Some(min) = policy.min_tls()
        && min < floor
    {
        problems.push(problem(
            "tls_policy",
            format!(
                "{} accepts {min}, below this environment's floor of {floor}",
                policy.name()
            ),
            Some("use TlsPolicy::Tls12And13 (TLS 1.2 and 1.3)"),
        ));
    }
}

impl Resource for Listener {
    const KIND: &'static str = "aws.listener";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["load_balancer"];
    const WRITE_ONLY: &'static [&'static str] = &["host_names"];
    // A listener waits for its certificate; DNS validation can be slow.
    const WAIT_TIMEOUT: Duration = Duration::from_secs(45 * 60);
    type Provider = Aws;
    type Outputs = ListenerOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if !(1..=65535).contains(&self.port) {
            problems.push(problem(
                "port",
                format!("{} is not a port", self.port),
                None,
            ));
        }
        match self.protocol {
            ListenerProtocol::Https => {
                if self.certificate.is_none() {
                    problems.push(problem(
                        "certificate",
                        "an HTTPS listener needs a certificate",
                        Some("give it the ACM certificate's handle"),
                    ));
                }
                match &self.tls_policy {
                    None => problems.push(problem(
                        "tls_policy",
                        "an HTTPS listener needs a TLS policy",
                        Some("TlsPolicy::Tls12And13"),
                    )),
                    Some(TlsPolicy::Unlisted(name)) => problems.push(problem(
                        "tls_policy",
                        format!("{name:?} is not one of ELB's security policies"),
                        Some("pick one of TlsPolicy::ALL"),
                    )),
                    Some(_) => {}
                }
            }
            ListenerProtocol::Http => {
                if self.certificate.is_some() || self.tls_policy.is_some() {
                    problems.push(problem(
                        "protocol",
                        "a plain HTTP listener takes no certificate or TLS policy",
                        None,
                    ));
                }
            }
        }
        if let ListenerAction::Other { kind } = &self.action {
            problems.push(problem(
                "action",
                format!("madplan does not write {kind} actions"),
                None,
            ));
        }
        if let ListenerAction::RedirectToHttps { port, .. } = &self.action
            && !(1..=65535).contains(port)
        {
            problems.push(problem("action", format!("{port} is not a port"), None));
        }
        if let Some(baseline) = cx.requirement::<Baseline>() {
            check_tls_floor(self, baseline, problems);
        }
        if let Some((address, cert)) = self
            .certificate
            .as_ref()
            .and_then(|c| cx.referenced::<Certificate, _>(c))
        {
            for host in self.host_names.iter().flatten() {
                let names = std::iter::once(&cert.domain).chain(&cert.alternative_names);
                if !names.clone().any(|n| covers(n, host)) {
                    problems.push(problem(
                        "host_names",
                        format!(
                            "{host} is not covered by {address} ({})",
                            names.cloned().collect::<Vec<_>>().join(", ")
                        ),
                        Some("add the name to the certificate's domain or alternative names"),
                    ));
                }
            }
        }
    }

    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        // Listeners are listed per load balancer: this environment's (by
        // their tags) and those of tracked listeners.
        let lbs: Vec<_> = aws
            .elbv2()
            .describe_load_balancers()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk_error)?;
        let lb_arns: Vec<String> = lbs
            .iter()
            .filter_map(|l| l.load_balancer_arn().map(str::to_string))
            .collect();
        let lb_tags = elb_tags(aws, &lb_arns).await?;
        let env_tag = (
            madplan_core::TAG_ENVIRONMENT.to_string(),
            cx.environment.clone(),
        );
        let mut ours: BTreeSet<String> = lb_arns
            .iter()
            .filter(|a| lb_tags.get(*a).is_some_and(|t| t.contains(&env_tag)))
            .cloned()
            .collect();
        ours.extend(
            cx.tracked
                .iter()
                .map(|t| t.outputs.load_balancer_arn.clone())
                .filter(|a| lb_arns.contains(a)),
        );
        let calls = ours.iter().map(|lb| async move {
            aws.elbv2()
                .describe_listeners()
                .load_balancer_arn(lb)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(sdk_error)
        });
        let listeners: Vec<_> = futures_util::future::try_join_all(calls)
            .await?
            .into_iter()
            .flatten()
            .collect();
        let arns: Vec<String> = listeners
            .iter()
            .filter_map(|l| l.listener_arn().map(str::to_string))
            .collect();
        let all_tags = elb_tags(aws, &arns).await?;
        let mut found = Vec::new();
        for l in listeners {
            let arn = l.listener_arn().unwrap_or_default().to_string();
            let pairs = all_tags.get(&arn).cloned().unwrap_or_default();
            let as_str = || pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            let Some(claim) = tags::claim_pairs(cx, as_str(), |o| o.arn.as_str() == arn) else {
                continue;
            };
            let lb = l.load_balancer_arn().unwrap_or_default().to_string();
            let https = l.protocol() == Some(&ProtocolEnum::Https);
            found.push(Found::new(
                claim,
                Listener {
                    load_balancer: Input::Value(LoadBalancerArn(lb.clone())),
                    port: l.port().unwrap_or_default(),
                    protocol: if https {
                        ListenerProtocol::Https
                    } else {
                        ListenerProtocol::Http
                    },
                    // Certificates and policies mean nothing on plain HTTP
                    // (moto reports its default policy there).
                    certificate: l
                        .certificates()
                        .iter()
                        .find(|c| c.is_default().unwrap_or(true))
                        .and_then(|c| c.certificate_arn())
                        .filter(|_| https)
                        .map(|a| Input::Value(CertificateArn(a.to_string()))),
                    tls_policy: l.ssl_policy().filter(|_| https).map(TlsPolicy::from_name),
                    action: l.default_actions().first().map_or(
                        ListenerAction::Other {
                            kind: "none".into(),
                        },
                        ListenerAction::from_sdk,
                    ),
                    host_names: None,
                    tags: tags::user_pairs(as_str()),
                },
                ListenerOutputs {
                    arn: ListenerArn(arn),
                    load_balancer_arn: lb,
                },
            ));
        }
        Ok(found)
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<ListenerOutputs, ProviderError> {
        if let Some(c) = &self.certificate {
            wait_issued(aws, cx, c.get().map_err(unresolved)?.as_str()).await?;
        }
        let lb = self
            .load_balancer
            .get()
            .map_err(unresolved)?
            .as_str()
            .to_string();
        let out = aws
            .elbv2()
            .create_listener()
            .load_balancer_arn(&lb)
            .port(self.port)
            .protocol(self.protocol.sdk())
            .set_certificates(certificate_list(self)?)
            .set_ssl_policy(self.tls_policy.as_ref().map(|p| p.name().to_string()))
            .default_actions(self.action.sdk()?)
            .set_tags(Some(elb_tag_list(cx, &self.tags)))
            .customize()
            .config_override(crate::resend::elbv2_once_if_lost())
            .send()
            .await
            .map_err(sdk_error)?;
        let arn = out
            .listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .ok_or_else(|| missing("listener ARN"))?;
        let outputs = ListenerOutputs {
            arn: ListenerArn(arn.to_string()),
            load_balancer_arn: lb,
        };
        cx.created(&outputs).await?;
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        aws: &Aws,
        cx: &OpCx,
    ) -> Result<ListenerOutputs, ProviderError> {
        let arn = prior.outputs.arn.as_str();
        let has = |f: &str| changed.iter().any(|c| c == f);
        if has("certificate")
            && let Some(c) = &self.certificate
        {
            wait_issued(aws, cx, c.get().map_err(unresolved)?.as_str()).await?;
        }
        if ["port", "protocol", "certificate", "tls_policy", "action"]
            .iter()
            .any(|f| has(f))
        {
            aws.elbv2()
                .modify_listener()
                .listener_arn(arn)
                .port(self.port)
                .protocol(self.protocol.sdk())
                .set_certificates(certificate_list(self)?)
                .set_ssl_policy(self.tls_policy.as_ref().map(|p| p.name().to_string()))
                .default_actions(self.action.sdk()?)
                .send()
                .await
                .map_err(sdk_error)?;
        }
        if has("tags") {
            sync_elb_tags(aws, arn, &prior.spec.tags, &self.tags).await?;
        }
        Ok(prior.outputs.clone())
    }

    async fn delete(outputs: &ListenerOutputs, aws: &Aws, _cx: &OpCx) -> Result<(), ProviderError> {
        gone_is_done(
            aws.elbv2()
                .delete_listener()
                .listener_arn(outputs.arn.as_str())
                .send()
                .await
                .map_err(sdk_error),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_round_trips_by_name_and_serde() {
        for p in TlsPolicy::ALL {
            assert_eq!(&TlsPolicy::from_name(p.name()), p);
            let j = serde_json::to_value(p).unwrap();
            assert_eq!(j, serde_json::json!(p.name()));
            assert_eq!(&serde_json::from_value::<TlsPolicy>(j).unwrap(), p);
        }
        let odd = TlsPolicy::from_name("ELBSecurityPolicy-Custom");
        assert_eq!(odd, TlsPolicy::Unlisted("ELBSecurityPolicy-Custom".into()));
        assert_eq!(
            serde_json::from_value::<TlsPolicy>(serde_json::json!("ELBSecurityPolicy-Custom"))
                .unwrap(),
            odd
        );
        assert_eq!(TlsPolicy::Tls12And13.min_tls(), Some(TlsVersion::V1_2));
        assert_eq!(TlsPolicy::Tls10To12_2016.min_tls(), Some(TlsVersion::V1_0));
    }

    #[test]
    fn a_tls_floor_refuses_policies_below_it() {
        let lb: Input<LoadBalancerArn> = "arn:lb".into_input();
        let l = Listener::https(lb, "arn:cert", "arn:tg", ["api.example.com"]);
        for (policy, refused) in [
            (TlsPolicy::Tls12And13, false),
            (TlsPolicy::Tls13Only, false),
            (TlsPolicy::Tls11To13, true),
            (TlsPolicy::Tls10To12_2016, true),
            (TlsPolicy::ForwardSecrecy11_2019, true),
        ] {
            let mut problems = Vec::new();
            check_tls_floor(
                &l.clone().with_tls_policy(policy.clone()),
                &Baseline::production(),
                &mut problems,
            );
            assert_eq!(!problems.is_empty(), refused, "{policy:?}");
            let mut none = Vec::new();
            check_tls_floor(
                &l.clone().with_tls_policy(policy),
                &Baseline::none(),
                &mut none,
            );
            assert!(none.is_empty());
        }
    }

    #[test]
    fn actions_map_both_ways() {
        for a in [
            ListenerAction::RedirectToHttps {
                port: 443,
                permanent: true,
            },
            ListenerAction::Forward {
                target_group: Input::Value(TargetGroupArn("arn:tg".into())),
            },
        ] {
            assert_eq!(ListenerAction::from_sdk(&a.sdk().unwrap()), a);
        }
        let redirect = ListenerAction::RedirectToHttps {
            port: 443,
            permanent: true,
        }
        .sdk()
        .unwrap();
        let r = redirect.redirect_config().unwrap();
        assert_eq!(
            r.status_code(),
            Some(&RedirectActionStatusCodeEnum::Http301)
        );
        assert_eq!(r.protocol(), Some("HTTPS"));
        assert_eq!(r.port(), Some("443"));
    }
}
