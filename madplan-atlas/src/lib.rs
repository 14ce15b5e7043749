//! MongoDB Atlas for madplan.
//!
//! [`client`] is the Atlas Admin API v2 as typed Rust: service-account
//! (OAuth2 client credentials) and API-key (HTTP Digest) authentication,
//! the versioned media type of each operation pinned in one place
//! ([`client::media`]), Atlas's error body as a typed error, retries of 429
//! and 503, pagination behind one call, and typed models for projects,
//! clusters (with waiting for `IDLE`), backup schedules, point-in-time
//! restores, the IP access list and database users.
//!
//! [`resources`] is Atlas as madplan resources on the engine: the
//! [`Atlas`] provider, projects (made, or found by name), clusters with
//! auto-scaling owned by Atlas, backup schedules, the IP access list,
//! database users with secret passwords, auditing and the Datadog
//! integration.
//!
//! With the `test-util` feature, [`fake`] serves an in-memory Atlas on
//! 127.0.0.1 that checks every request against the official OpenAPI
//! document.

pub mod client;
pub mod error;
#[cfg(feature = "test-util")]
pub mod fake;
pub mod resources;

pub use client::{Client, Credentials, RetryPolicy};
pub use error::Error;
pub use resources::Atlas;
