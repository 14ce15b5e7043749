//! A two-AZ public/private network on AWS, driven by the madplan command line.
//!
//! ```text
//! cargo run --example network -- plan
//! cargo run --example network -- apply --auto-approve
//! ```
//!
//! AWS settings come from the standard chain (`AWS_REGION`, `AWS_PROFILE`,
//! `AWS_ENDPOINT_URL` for a local emulator, ...). `MADPLAN_ENVIRONMENT` names
//! the environment (default `network-demo`).

use madplan::Environment;
use madplan::aws::Aws;
use madplan::aws::network::blueprint::{TwoTierSpec, two_tier};
use madplan::aws::network::{SecurityGroupId, SubnetId, VpcId};

#[tokio::main]
async fn main() -> miette::Result<()> {
    let name = std::env::var("MADPLAN_ENVIRONMENT").unwrap_or_else(|_| "network-demo".into());
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let mut env = Environment::new(name).with_provider(Aws::from_env().await);
    let net = two_tier(
        &mut env,
        &TwoTierSpec::builder()
            .cidr("10.0.0.0/16")
            .zones(vec![
                (
                    format!("{region}a"),
                    "10.0.0.0/24".into(),
                    "10.0.10.0/24".into(),
                ),
                (
                    format!("{region}b"),
                    "10.0.1.0/24".into(),
                    "10.0.11.0/24".into(),
                ),
            ])
            .build(),
    );
    env.export::<VpcId>("vpc_id", &net.vpc);
    env.export::<SubnetId>("public_subnet_a", &net.public[0]);
    env.export::<SubnetId>("public_subnet_b", &net.public[1]);
    env.export::<SecurityGroupId>("app_security_group", &net.app_group);
    madplan::cli::run(env).await
}
