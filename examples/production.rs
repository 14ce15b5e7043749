//! The MadPlan production environment: the whole stack of the deployment
//! guide across AWS, MongoDB Atlas, Cloudflare and Datadog, configured from
//! the variables each ecosystem uses (see `madplan::stack::Settings`), with
//! the guide's policies. Every verb of the command line:
//!
//! ```sh
//! cargo run --example production -- plan
//! cargo run --example production -- apply
//! ```

use miette::IntoDiagnostic;

#[tokio::main]
async fn main() -> miette::Result<()> {
    let settings = madplan::stack::Settings::from_env()
        .await
        .into_diagnostic()?;
    madplan::cli::run(madplan::stack::production(settings)).await
}
