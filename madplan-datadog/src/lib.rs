//! Datadog for madplan.
//!
//! This crate is a member of the workspace so that the `datadog` feature of
//! `madplan` has a home; it has no client or resources yet.
