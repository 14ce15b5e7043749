//! The network and the web tier of the deployment guide on AWS, driven by
//! the madplan command line: a two-AZ VPC with a NAT gateway per zone, the
//! API's instances in an auto-scaling group (2 to 10, 3 to start with, the
//! guide's scaling rules) behind an internet-facing Application Load
//! Balancer that redirects HTTP to HTTPS, with an ACM certificate.
//!
//! ```text
//! cargo run --example web -- plan
//! cargo run --example web -- apply --auto-approve
//! cargo run --example web -- output
//! cargo run --example web -- destroy --auto-approve
//! ```
//!
//! AWS settings come from the standard chain (`AWS_REGION`, `AWS_PROFILE`,
//! `AWS_ENDPOINT_URL` for a local emulator, ...). `MADPLAN_ENVIRONMENT` names
//! the environment (default `web-demo`), `MADPLAN_DOMAIN` the API's name
//! (default `api.example.com`). The environment demands TLS 1.2 or later,
//! IMDSv2 and encrypted volumes ([`Baseline::production`]). Deletion
//! protection of the load balancer is on unless `MADPLAN_DELETION_PROTECTION=false`.

use madplan::Environment;
use madplan::aws::Aws;
use madplan::aws::baseline::Baseline;
use madplan::aws::network::VpcId;
use madplan::aws::network::blueprint::{NatGateways, TwoTierSpec, two_tier};
use madplan::aws::web::blueprint::{WebTierSpec, web_tier};
use madplan::aws::web::{CanonicalHostedZoneId, LoadBalancerArn, LoadBalancerDnsName, UserData};

#[tokio::main]
async fn main() -> miette::Result<()> {
    let name = std::env::var("MADPLAN_ENVIRONMENT").unwrap_or_else(|_| "web-demo".into());
    let domain = std::env::var("MADPLAN_DOMAIN").unwrap_or_else(|_| "api.example.com".into());
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let mut env = Environment::new(&name).with_provider(Aws::from_env().await);
    env.require(Baseline::production());
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
            .nat(NatGateways::PerZone)
            .build(),
    );
    let mut spec = WebTierSpec::production(&name, &domain);
    spec.deletion_protection =
        std::env::var("MADPLAN_DELETION_PROTECTION").as_deref() != Ok("false");
    spec.user_data = Some(UserData::new(
        "#!/bin/bash\ndnf install -y amazon-cloudwatch-agent nodejs\n",
    ));
    let web = web_tier(&mut env, &net, &spec);
    env.export::<VpcId>("vpc_id", &net.vpc);
    env.export::<LoadBalancerDnsName>("api_dns_name", &web.load_balancer);
    env.export::<CanonicalHostedZoneId>("api_hosted_zone_id", &web.load_balancer);
    env.export::<LoadBalancerArn>("load_balancer_arn", &web.load_balancer);
    let validation = madplan::aws::web::Certificate::validation_record(&web.certificate, &domain);
    env.export::<String>("certificate_validation_name", validation.name);
    env.export::<String>("certificate_validation_value", validation.value);
    madplan::cli::run(env).await
}
