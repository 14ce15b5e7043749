//! The MadPlan stack of the deployment guide, as one typed environment
//! across the four providers:
//!
//! - AWS: the two-tier network with a NAT gateway per zone (one in
//!   staging), the web tier (instance role, launch template, auto-scaling
//!   group with the guide's six scaling rules, load balancer, listeners, ACM
//!   certificate), the WAF with the 2000-per-5-minutes rate rule and the
//!   managed rule groups, logs kept 30 days, VPC flow logs, the alert topic
//!   and alarms, Redis; the environment demands TLS 1.2, IMDSv2 and
//!   encrypted volumes ([`crate::aws::baseline::Baseline`]).
//! - Atlas: the project, the cluster (M30 auto-scaled to M60, read replicas
//!   in two more regions, continuous backup, termination protection), its
//!   backup schedule with a cross-region copy, the access list fed by the
//!   NAT gateways' addresses, the application's user, auditing, and the
//!   Datadog integration.
//! - Cloudflare: the zone, the API's proxied record pointing at the load
//!   balancer, the certificate's validation record, the frontend's records
//!   at Vercel, CAA, TLS and HSTS settings, the managed WAF, the rate limit,
//!   cache rules, bot protection and a Let's Encrypt edge certificate.
//! - Datadog: PagerDuty and Slack channels, a monitor per line of the
//!   guide's alerting rules, the SLOs, the synthetic checks, the dashboard,
//!   and the AWS integration whose external id the integration role trusts.
//!
//! An ops binary is this much:
//!
//! ```no_run
//! # async fn run() -> miette::Result<()> {
//! use miette::IntoDiagnostic;
//! let settings = madplan::stack::Settings::from_env().await.into_diagnostic()?;
//! let env = madplan::stack::production(settings);
//! madplan::cli::run(env).await
//! # }
//! ```

use madplan_core::Environment;

mod build;
mod config;
mod policies;
mod settings;

pub use build::{Stack, default_tags, madplan};
pub use config::{DatabaseSize, StackConfig};
pub use policies::{add_policies, policies};
pub use settings::{Settings, Values, Versioned};

/// The production environment: [`StackConfig::production`] on the zone the
/// settings name, with the guide's policies.
pub fn production(settings: Settings) -> Environment {
    let config = StackConfig::production(&settings.values.zone);
    environment(settings, &config)
}

/// The staging environment beside it: [`StackConfig::staging`].
pub fn staging(settings: Settings) -> Environment {
    let config = StackConfig::staging(&settings.values.zone);
    environment(settings, &config)
}

/// An environment named after `config`, with the four providers from
/// `settings`, the whole stack and the guide's policies.
pub fn environment(settings: Settings, config: &StackConfig) -> Environment {
    let mut env = Environment::new(&config.name);
    env.add_provider(settings.aws);
    env.add_provider(settings.atlas);
    env.add_provider(settings.cloudflare);
    env.add_provider(settings.datadog);
    madplan(&mut env, config, &settings.values);
    add_policies(&mut env, config);
    env
}
