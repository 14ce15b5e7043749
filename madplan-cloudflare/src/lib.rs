//! Cloudflare for madplan: the edge of the production stack as resources
//! ([`resources`]: the zone, DNS records, TLS and HSTS settings, firewall
//! rules, the managed WAF, rate limits, cache rules, bot protection, an
//! edge certificate) on a typed API client ([`client`]).
//!
//! [`client`] is the Cloudflare API v4 as typed Rust: API token auth, the
//! response envelope decoded in one place (an error page that is not JSON
//! keeps its status and `cf-ray`), a request budget under Cloudflare's
//! 1200 requests per 5 minutes per user, retries of 429 and 5xx honouring
//! `retry-after`, pagination behind one call, and typed models for zones,
//! DNS records of every type, zone settings, phase entrypoint rulesets,
//! bot protection and advanced certificates. Closed sets of values (record
//! types, rule actions, setting values) keep values this version does not
//! know instead of failing to decode.
//!
//! With the `test-util` feature, `fake` serves an in-memory Cloudflare on
//! 127.0.0.1 that checks every request and every answer against the
//! official OpenAPI document.

pub mod client;
pub mod error;
#[cfg(feature = "test-util")]
pub mod fake;
pub mod resources;

pub use client::{Budget, Client, ClientConfig, RetryPolicy, SharedBudget};
pub use error::{ApiMessage, Error};
pub use resources::{
    BotProtection, CacheRule, CacheRules, Cloudflare, DnsRecord, EdgeCertificate, FirewallRule,
    FirewallRules, ManagedWaf, Period, RateLimitRule, RateLimits, Zone, ZoneId, ZonePlan, ZoneRef,
    ZoneSettings,
};
