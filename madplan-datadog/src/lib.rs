//! Datadog for madplan.
//!
//! [`client`] is the slice of the Datadog API that madplan needs, as typed
//! Rust: site-aware base URL, API and application keys as secrets, one error
//! type for v1 and v2 error bodies, rate-limit headers honoured before and
//! after a 429, bounded paging, and typed models for monitors, dashboards,
//! service level objectives, synthetic API tests, the PagerDuty and Slack
//! integrations and the v2 AWS integration, each keeping what it does not
//! model so a read-modify-write loses nothing.
//!
//! [`resources`] makes them madplan resources ([`Datadog`] is the provider),
//! with notifications routed by severity through declared channels;
//! [`stack`] adds the Datadog side of the production stack from the
//! deployment guide.
//!
//! With the `test-util` feature, the `fake` module serves an in-memory
//! Datadog on 127.0.0.1 that checks every request and every answer against
//! the official OpenAPI documents.

pub mod client;
pub mod error;
#[cfg(feature = "test-util")]
pub mod fake;
pub mod resources;
pub mod stack;

pub use client::{Client, ClientConfig, RateLimitInfo, RetryPolicy, Site};
pub use error::Error;
pub use resources::Datadog;
