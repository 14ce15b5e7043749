//! The MadPlan staging environment: the same stack, smaller (ASG 1/1/2,
//! M10, one NAT gateway, protection off, a week of retention), under
//! `staging.DOMAIN`, beside production in the same accounts without either
//! touching the other.

use miette::IntoDiagnostic;

#[tokio::main]
async fn main() -> miette::Result<()> {
    let settings = madplan::stack::Settings::from_env()
        .await
        .into_diagnostic()?;
    madplan::cli::run(madplan::stack::staging(settings)).await
}
