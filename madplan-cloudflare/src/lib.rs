//! Cloudflare for madplan.
//!
//! This crate is a member of the workspace so that the `cloudflare` feature
//! of `madplan` has a home; it has no client or resources yet.
