//! The deployment guide's targets as policies over the whole environment,
//! checked before any API call and reported like validation problems
//! (address, field, what to change). Each can be waived, explicitly and
//! with a reason, with `Environment::waive(NAME, REASON)`.
//!
//! | policy | the guide's target |
//! |---|---|
//! | `rpo` | RPO 5 minutes: continuous backup (PITR) on every cluster, a cross-region copy with oplogs in production, snapshots and logs kept 30 days or more in production |
//! | `tls-floor` | TLS 1.2+ everywhere: Atlas minimum TLS, Cloudflare minimum TLS with SSL strict and HSTS on, Redis encrypted in transit (the load balancer's listener policy is checked by the listener against the environment's `Baseline`) |
//! | `waf` | every internet-facing load balancer has the WAF with the 2000-per-5-minutes rate rule, SQL injection, common attacks (XSS) and bot rules |
//! | `encryption` | encryption at rest on the cache (volumes: the `Baseline`); no security group open to the internet but the load balancer's 80 and 443 |
//! | `alerts` | every alert line of the guide has its monitor (or synthetic test) with the guide's severity; a critical one pages PagerDuty, warnings and info never page (the routing cannot express a page for them) |
//! | `protection` | deletion or termination protection on stateful resources in production |

use madplan_core::{Address, Environment, Policy, PolicyCx, PolicyFn, Problem, problem};

use super::config::StackConfig;
use crate::atlas::client::backup::Frequency;
use crate::atlas::client::clusters::TlsProtocol;
use crate::atlas::resources::{BackupSchedule, Cluster};
use crate::aws::cache::ReplicationGroup;
use crate::aws::network::{Peer, Protocol, SecurityGroup};
use crate::aws::observability::LogGroup;
use crate::aws::waf::{AwsManagedGroup, RuleKind, WebAcl, WebAclAssociation, Window};
use crate::aws::web::{LoadBalancer, Scheme};
use crate::cloudflare::ZoneSettings;
use crate::cloudflare::client::settings::{SslMode, TlsVersion};
use crate::datadog::resources::{Monitor, Notify, Severity, SyntheticTest};

fn at(address: &Address, field: &str, message: impl Into<String>, hint: &str) -> Problem {
    let mut p = problem(field, message, Some(hint));
    p.address = Some(address.clone());
    p
}

/// How long the guide keeps snapshots and logs in production.
pub const GUIDE_RETENTION_DAYS: u32 = 30;

/// The guide's policies for an environment `config` describes.
pub fn policies(config: &StackConfig) -> Vec<Box<dyn Policy>> {
    let production = config.protection;
    // The guide's floor, whatever the configuration says.
    let min_days = GUIDE_RETENTION_DAYS;
    vec![
        Box::new(PolicyFn::new(
            "rpo",
            "RPO 5 minutes: continuous backup, a cross-region copy with oplogs, 30-day retention",
            move |cx: &PolicyCx<'_>| rpo(cx, production, min_days),
        )),
        Box::new(PolicyFn::new(
            "tls-floor",
            "TLS 1.2 or later on every connection; HSTS on",
            |cx: &PolicyCx<'_>| tls_floor(cx),
        )),
        Box::new(PolicyFn::new(
            "waf",
            "every internet-facing load balancer has the WAF with the guide's rules",
            |cx: &PolicyCx<'_>| waf(cx),
        )),
        Box::new(PolicyFn::new(
            "encryption",
            "encryption at rest; nothing open to the internet but the load balancer's 80/443",
            |cx: &PolicyCx<'_>| encryption(cx),
        )),
        Box::new(PolicyFn::new(
            "alerts",
            "every alert line of the guide has its monitor; critical ones page, warnings and info never do",
            |cx: &PolicyCx<'_>| alerts(cx),
        )),
        Box::new(PolicyFn::new(
            "protection",
            "deletion and termination protection on stateful resources in production",
            move |cx: &PolicyCx<'_>| {
                if production {
                    protection(cx)
                } else {
                    Vec::new()
                }
            },
        )),
    ]
}

/// Adds [`policies`] to `env`.
pub fn add_policies(env: &mut Environment, config: &StackConfig) {
    for p in policies(config) {
        env.add_policy(p);
    }
}

fn rpo(cx: &PolicyCx<'_>, production: bool, min_days: u32) -> Vec<Problem> {
    let mut out = Vec::new();
    let schedules = cx.all::<BackupSchedule>();
    for (a, c) in cx.all::<Cluster>() {
        if !c.backup || !c.continuous_backup {
            out.push(at(
                &a,
                "continuous_backup",
                "continuous backup (point-in-time restore) is off: the 5-minute RPO needs it",
                "turn backup and continuous backup on",
            ));
        }
        let has_copy = schedules.iter().any(|(_, s)| {
            s.cluster.reference().is_some_and(|r| r.address == a) && !s.copies.is_empty()
        });
        if production && !has_copy {
            out.push(at(
                &a,
                "backup",
                "no backup schedule copies its snapshots and oplogs to a second region",
                "add BackupSchedule::for_cluster(..).copy_to(CrossRegionCopy::to(..))",
            ));
        }
    }
    if production {
        for (a, s) in &schedules {
            // The guide's 30-day backups: daily snapshots kept 30 days.
            let daily = s.daily.as_ref().map_or(0, |r| r.min_days());
            if daily < min_days {
                out.push(at(
                    a,
                    "daily",
                    format!("daily snapshots are kept {daily} days, less than {min_days}"),
                    "keep daily snapshots 30 days or more (Retention::days(30))",
                ));
            }
            for c in &s.copies {
                let longest = c
                    .keep
                    .iter()
                    .filter(|k| k.frequency == Frequency::Daily)
                    .map(|k| k.keep.min_days())
                    .max()
                    .unwrap_or(0);
                if longest < min_days {
                    out.push(at(
                        a,
                        "copies",
                        format!(
                            "the copy to {} keeps daily snapshots {longest} days, less than \
                             {min_days}",
                            c.region
                        ),
                        "keep the copies of daily snapshots 30 days or more",
                    ));
                }
            }
        }
        for (a, g) in cx.all::<LogGroup>() {
            if g.retention.days().is_some_and(|d| d < min_days) {
                out.push(at(
                    &a,
                    "retention",
                    format!("logs are kept {:?}, less than {min_days} days", g.retention),
                    "keep them 30 days or more (Retention::Days30)",
                ));
            }
        }
    }
    out
}

fn tls_floor(cx: &PolicyCx<'_>) -> Vec<Problem> {
    let mut out = Vec::new();
    for (a, c) in cx.all::<Cluster>() {
        if !matches!(c.minimum_tls, TlsProtocol::Tls12 | TlsProtocol::Tls13) {
            out.push(at(
                &a,
                "minimum_tls",
                format!("accepts {:?}", c.minimum_tls),
                "TlsProtocol::Tls12 or Tls13",
            ));
        }
    }
    for (a, z) in cx.all::<ZoneSettings>() {
        if !matches!(
            z.min_tls_version,
            Some(TlsVersion::V1_2) | Some(TlsVersion::V1_3)
        ) {
            out.push(at(
                &a,
                "min_tls_version",
                format!("the zone's minimum TLS is {:?}", z.min_tls_version),
                "TlsVersion::V1_2 or later",
            ));
        }
        if z.ssl != Some(SslMode::Strict) {
            out.push(at(
                &a,
                "ssl",
                format!("SSL mode {:?} does not validate the origin", z.ssl),
                "SslMode::Strict",
            ));
        }
        if !z.hsts.as_ref().is_some_and(|h| h.enabled) {
            out.push(at(&a, "hsts", "HSTS is off", "turn HSTS on"));
        }
    }
    for (a, r) in cx.all::<ReplicationGroup>() {
        if !r.transit_encryption {
            out.push(at(
                &a,
                "transit_encryption",
                "Redis traffic is not encrypted",
                "turn transit encryption on",
            ));
        }
    }
    out
}

fn waf(cx: &PolicyCx<'_>) -> Vec<Problem> {
    let mut out = Vec::new();
    let associations = cx.all::<WebAclAssociation>();
    for (a, lb) in cx.all::<LoadBalancer>() {
        if lb.scheme != Scheme::InternetFacing {
            continue;
        }
        let acl = associations
            .iter()
            .find(|(_, s)| s.resource.reference().is_some_and(|r| r.address == a))
            .and_then(|(_, s)| s.web_acl.reference())
            .and_then(|r| cx.get::<WebAcl>(&r.address).map(|w| (r.address.clone(), w)));
        let Some((acl_address, acl)) = acl else {
            out.push(at(
                &a,
                "waf",
                "an internet-facing load balancer without a WAF web ACL",
                "associate the web ACL with it (WebAclAssociation)",
            ));
            continue;
        };
        let has_rate = acl.rules.iter().any(|r| {
            matches!(&r.kind, RuleKind::RateLimit { limit, .. }
                if limit.limit <= 2000 && limit.window == Window::FiveMinutes)
        });
        let has = |g: &dyn Fn(&AwsManagedGroup) -> bool| {
            acl.rules
                .iter()
                .any(|r| matches!(&r.kind, RuleKind::Managed(m) if g(&m.group)))
        };
        let mut missing = Vec::new();
        if !has_rate {
            missing.push("a rate limit of 2000 requests per 5 minutes per IP");
        }
        if !has(&|g| *g == AwsManagedGroup::Sqli) {
            missing.push("SQL injection (AWSManagedRulesSQLiRuleSet)");
        }
        if !has(&|g| *g == AwsManagedGroup::Common) {
            missing.push("common attacks and XSS (AWSManagedRulesCommonRuleSet)");
        }
        if !has(&|g| matches!(g, AwsManagedGroup::BotControl(_))) {
            missing.push("bot control (AWSManagedRulesBotControlRuleSet)");
        }
        if !missing.is_empty() {
            out.push(at(
                &acl_address,
                "rules",
                format!("protects {a} but lacks {}", missing.join(", ")),
                "start from waf::seed_rules",
            ));
        }
    }
    out
}

fn encryption(cx: &PolicyCx<'_>) -> Vec<Problem> {
    let mut out = Vec::new();
    for (a, r) in cx.all::<ReplicationGroup>() {
        if !r.at_rest_encryption {
            out.push(at(
                &a,
                "at_rest_encryption",
                "the cache is not encrypted at rest",
                "turn encryption at rest on",
            ));
        }
    }
    let lb_groups: Vec<Address> = cx
        .all::<LoadBalancer>()
        .iter()
        .filter(|(_, lb)| lb.scheme == Scheme::InternetFacing)
        .flat_map(|(_, lb)| {
            lb.security_groups
                .iter()
                .filter_map(|g| g.reference().map(|r| r.address.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    for (a, g) in cx.all::<SecurityGroup>() {
        for rule in &g.ingress {
            let open = matches!(&rule.peer, Peer::Cidr(c) if c.as_str() == "0.0.0.0/0")
                || matches!(&rule.peer, Peer::Ipv6(c) if c == "::/0");
            if !open {
                continue;
            }
            let web_port = rule.protocol == Protocol::Tcp
                && rule
                    .ports
                    .is_some_and(|p| p.from == p.to && (p.from == 80 || p.from == 443));
            if !(lb_groups.contains(&a) && web_port) {
                out.push(at(
                    &a,
                    "ingress",
                    format!(
                        "open to the internet on {:?} {}",
                        rule.protocol,
                        rule.ports.map_or("(all ports)".to_string(), |p| format!(
                            "{}-{}",
                            p.from, p.to
                        ))
                    ),
                    "only the internet-facing load balancer's group takes 80 and 443 from anywhere",
                ));
            }
        }
    }
    out
}

fn protection(cx: &PolicyCx<'_>) -> Vec<Problem> {
    let mut out = Vec::new();
    for (a, c) in cx.all::<Cluster>() {
        if !c.termination_protection {
            out.push(at(
                &a,
                "termination_protection",
                "termination protection is off in production",
                "termination_protection(true)",
            ));
        }
        if !cx.is_protected(&a) {
            out.push(at(
                &a,
                "protect",
                "the production database is not protected against deletion by madplan",
                "env.protect(&cluster)",
            ));
        }
    }
    for (a, lb) in cx.all::<LoadBalancer>() {
        if !lb.deletion_protection {
            out.push(at(
                &a,
                "deletion_protection",
                "deletion protection is off in production",
                "deletion_protection: true",
            ));
        }
    }
    out
}

/// The guide's alerting rules: each line, the monitor (or synthetic test)
/// that carries it, and how it notifies.
const GUIDE_ALERTS: &[(&str, &str, Severity)] = &[
    (
        "Application down (5xx errors > 1%)",
        "datadog.monitor.app-down",
        Severity::Critical,
    ),
    (
        "Database connection failures",
        "datadog.monitor.db-connection",
        Severity::Critical,
    ),
    (
        "Load balancer unhealthy targets > 50%",
        "datadog.monitor.unhealthy-targets",
        Severity::Critical,
    ),
    (
        "High error rate (>1% for 5 minutes)",
        "datadog.monitor.error-rate",
        Severity::Critical,
    ),
    (
        "SSL certificate expiry (< 30 days)",
        "datadog.synthetic_test.certificate",
        Severity::Critical,
    ),
    (
        "High response time (>500ms P95)",
        "datadog.monitor.p95-latency",
        Severity::Warning,
    ),
    (
        "Memory usage > 80%",
        "datadog.monitor.memory",
        Severity::Warning,
    ),
    ("CPU usage > 80%", "datadog.monitor.cpu", Severity::Warning),
    (
        "Disk usage > 85%",
        "datadog.monitor.disk",
        Severity::Warning,
    ),
    (
        "Cache hit rate < 90%",
        "datadog.monitor.cache-hit-rate",
        Severity::Warning,
    ),
    (
        "Deployment completed",
        "datadog.monitor.deployments",
        Severity::Info,
    ),
    (
        "Auto-scaling events",
        "datadog.monitor.scaling",
        Severity::Info,
    ),
    (
        "Backup completed",
        "datadog.monitor.backups",
        Severity::Info,
    ),
];

fn alerts(cx: &PolicyCx<'_>) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut severities: Vec<(Address, Option<Severity>, bool)> = cx
        .all::<Monitor>()
        .into_iter()
        .map(|(a, m)| {
            let pages =
                matches!(&m.notify, Notify::Critical { pagerduty, .. } if !pagerduty.is_empty());
            (a, m.notify.severity(), pages)
        })
        .collect();
    severities.extend(cx.all::<SyntheticTest>().into_iter().map(|(a, t)| {
        let pages =
            matches!(&t.notify, Notify::Critical { pagerduty, .. } if !pagerduty.is_empty());
        (a, t.notify.severity(), pages)
    }));
    for (line, address, severity) in GUIDE_ALERTS {
        let found = severities
            .iter()
            .find(|(a, _, _)| a.to_string() == *address);
        match found {
            None => out.push(problem(
                "monitors",
                format!("the guide's alert \"{line}\" has no monitor ({address} is missing)"),
                Some("add it (madplan::datadog::stack::add_monitoring adds every line)"),
            )),
            Some((a, s, _)) if s.as_ref() != Some(severity) => out.push(at(
                a,
                "notify",
                format!("the guide's alert \"{line}\" is {severity:?}, but this notifies as {s:?}"),
                "route it with Routes::notify(Severity::...) as the guide says",
            )),
            _ => {}
        }
    }
    // Whatever the guide says: a critical monitor pages, nothing else does.
    for (a, s, pages) in &severities {
        if *s == Some(Severity::Critical) && !pages {
            out.push(at(
                a,
                "notify",
                "a critical alert pages no one",
                "add the PagerDuty service",
            ));
        }
    }
    out
}
