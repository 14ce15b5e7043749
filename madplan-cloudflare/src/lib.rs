//! Cloudflare for madplan.
//!
//! [`client`] is the Cloudflare API v4 as typed Rust: API token auth, the
//! response envelope decoded in one place, a request budget that keeps the
//! client under Cloudflare's 1200 requests per 5 minutes, retries of 429
//! and 5xx honouring `retry-after`, pagination behind one call, and typed
//! models for zones, DNS records, the zone settings madplan manages and
//! phase entrypoint rulesets.
//!
//! With the `test-util` feature, [`fake`] serves an in-memory Cloudflare on
//! 127.0.0.1 that checks every request against the official OpenAPI
//! document.

pub mod client;
pub mod error;
#[cfg(feature = "test-util")]
pub mod fake;

pub use client::{Budget, Client, ClientConfig, RetryPolicy};
pub use error::{ApiMessage, Error};
