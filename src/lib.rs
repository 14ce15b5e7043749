//! madplan: provision and operate the MadPlan production stack from typed
//! Rust code.
//!
//! An ops binary builds an [`Environment`] from typed resources and hands it
//! to [`cli::run`], which gives it the verbs `plan`, `apply`, `destroy`,
//! `refresh`, `output`, `graph`, `state`, `unlock`, `approve` and `audit`,
//! with the state in a local file or in S3 (`--backend s3://BUCKET/PREFIX`):
//!
//! ```no_run
//! # #[cfg(feature = "aws")]
//! # async fn demo() -> miette::Result<()> {
//! use madplan::Environment;
//! use madplan::aws::{Aws, network::{Vpc, Subnet}};
//!
//! let mut env = Environment::new("staging").with_provider(Aws::from_env().await);
//! let vpc = env.add("main", Vpc::builder().cidr("10.0.0.0/16").build());
//! env.add("web-a", Subnet::builder().vpc(&vpc).cidr("10.0.1.0/24").zone("us-east-1a").build());
//! madplan::cli::run(env).await
//! # }
//! ```
//!
//! Providers are behind cargo features (`aws`, `atlas`, `cloudflare`,
//! `datadog`, all on by default), so a tool that needs one does not compile
//! the others.

pub mod cli;
#[cfg(all(
    feature = "aws",
    feature = "atlas",
    feature = "cloudflare",
    feature = "datadog"
))]
pub mod stack;

pub use madplan_core as core;
pub use madplan_core::{
    Action, Address, ApplyOptions, ApprovalPolicy, Cidr, Engine, Environment, Error, Input,
    IntoInput, LocalStateStore, Operator, Plan, Ref, Resource, State, StateStore,
};

/// AWS resources (VPC network slice), on the official SDK.
#[cfg(feature = "aws")]
pub use madplan_aws as aws;

/// MongoDB Atlas.
#[cfg(feature = "atlas")]
pub use madplan_atlas as atlas;

/// Cloudflare.
#[cfg(feature = "cloudflare")]
pub use madplan_cloudflare as cloudflare;

/// Datadog.
#[cfg(feature = "datadog")]
pub use madplan_datadog as datadog;
