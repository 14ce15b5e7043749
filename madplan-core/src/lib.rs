//! The madplan engine: resources with typed specs and outputs, typed
//! references between them, validation, plans, a concurrent apply, and state
//! with locking.
//!
//! Provider crates implement [`Provider`] once and [`Resource`] once per kind.
//! Ops code builds an [`Environment`], and hands it to an [`Engine`] (or to
//! `madplan::cli::run`).

pub mod address;
pub mod apply;
pub mod audit;
pub mod engine;
pub mod env;
pub mod error;
pub mod events;
#[cfg(feature = "test-util")]
pub mod faults;
pub mod graph;
pub mod input;
pub mod net;
pub mod offline;
pub mod paths;
pub mod plan;
pub mod policy;
pub mod registry;
pub mod resource;
#[cfg(feature = "rest")]
pub mod rest;
pub mod retry;
pub mod secret;
pub mod state;
#[cfg(feature = "test-util")]
pub mod testkit;
pub mod validate;

pub use address::Address;
pub use apply::{ApplyOptions, ApplyReport};
pub use audit::{Approval, ApprovalPolicy, AuditChange, AuditRecord, Operator, Outcome};
pub use engine::{Engine, LockGuard, Recovery, RefreshReport};
pub use env::{Environment, ProviderRef};
pub use error::{Error, ErrorClass, Problem, Problems, ProviderError, Result};
pub use events::{Event, EventSink, TracingEvents};
pub use input::{Input, IntoInput, OutputRef, Ref};
pub use net::Cidr;
pub use plan::{Action, FieldChange, Foreign, ForeignObject, Plan, ResourceChange, Summary};
pub use policy::{Policy, PolicyCx, PolicyFn, Waiver};
pub use registry::{Kinds, Providers};
pub use resource::{
    Claim, DataSource, Found, Observed, OpCx, Provider, Readiness, RefreshCx, Replacement,
    Resource, TAG_ADDRESS, TAG_ENVIRONMENT, TAG_LINEAGE, Tracked, TrackedId,
    merge_default_tag_strings, merge_default_tags,
};
pub use retry::RetryPolicy;
pub use secret::Secret;
pub use state::{Deposed, LocalStateStore, LockInfo, State, StateEntry, StateStore, StateVersion};
pub use validate::{ValidateCx, problem};
