//! Datadog for madplan.
//!
//! [`client`] is the slice of the Datadog API that madplan needs, as typed
//! Rust: site-aware base URL, API and application keys as secrets, one error
//! type for v1 and v2 error bodies, rate-limit headers honoured, and typed
//! models for monitors, dashboards, service level objectives and synthetic
//! API tests (HTTP and SSL).
//!
//! With the `test-util` feature, [`fake`] serves an in-memory Datadog on
//! 127.0.0.1 that checks every request against the official OpenAPI
//! document.

pub mod client;
pub mod error;
#[cfg(feature = "test-util")]
pub mod fake;
pub mod resources;
pub mod stack;

pub use client::{Client, ClientConfig, RateLimitInfo, RetryPolicy, Site};
pub use error::Error;
pub use resources::Datadog;
