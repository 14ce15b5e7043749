//! Helpers shared by the end-to-end tests: a moto endpoint, unique
//! environment names, running the command line in-process, and the engine
//! on a local state file.

#![allow(dead_code)]

pub mod critical;
pub mod offline;

use std::collections::BTreeMap;
use std::path::Path;

use aws_config::BehaviorVersion;
use aws_sdk_ec2::config::{Credentials, Region};
use aws_sdk_ec2::types::Filter;
use madplan::aws::Aws;
use madplan::aws::network::VpcId;
use madplan::aws::network::blueprint::{TwoTier, TwoTierSpec, two_tier};
use madplan::cli::{Captured, Console, execute};
use madplan::core::{ApplyReport, Engine, LocalStateStore, Plan, TAG_ENVIRONMENT};
use madplan::{Environment, Error};

/// The moto server the test command started.
pub fn moto_url() -> String {
    std::env::var("MADPLAN_TEST_MOTO_URL").unwrap_or_else(|_| {
        panic!(
            "MADPLAN_TEST_MOTO_URL is not set: run the suite with scripts/test.sh, \
             which installs and starts moto on 127.0.0.1"
        )
    })
}

/// SDK configuration for moto.
pub async fn sdk_config() -> aws_config::SdkConfig {
    sdk_config_at(&moto_url()).await
}

/// SDK configuration for an endpoint on loopback (moto, or a proxy in
/// front of it).
pub async fn sdk_config_at(url: &str) -> aws_config::SdkConfig {
    assert!(
        url.starts_with("http://127.0.0.1:") || url.starts_with("http://localhost:"),
        "tests only talk to loopback, not {url}"
    );
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await
}

/// The AWS provider, pointed at moto.
pub async fn aws() -> Aws {
    Aws::from_conf(&sdk_config().await)
}

/// The AWS provider, pointed at `url` on loopback.
pub async fn aws_at(url: &str) -> Aws {
    Aws::from_conf(&sdk_config_at(url).await)
}

/// The AWS provider, pointed at `url` on loopback, its SDK making up to
/// `attempts` attempts per call (what `AWS_MAX_ATTEMPTS` sets) instead of
/// the standard 3.
pub async fn aws_at_with_attempts(url: &str, attempts: u32) -> Aws {
    let conf = sdk_config_at(url)
        .await
        .into_builder()
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(attempts))
        .build();
    Aws::from_conf(&conf)
}

/// A raw EC2 client on moto, for changes behind madplan's back.
pub async fn ec2() -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&sdk_config().await)
}

/// An environment name no other test uses (they share one moto).
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..12])
}

/// Runs one CLI command on `env` with state at `state`, as an ops binary
/// would, and returns its exit code (or error) and what it printed.
pub async fn run(
    env: Environment,
    state: &Path,
    args: &[&str],
) -> (Result<i32, madplan::Error>, Captured) {
    let (console, captured) = Console::captured();
    let mut argv = vec![
        "madplan".to_string(),
        "--state".into(),
        state.display().to_string(),
    ];
    argv.extend(args.iter().map(|s| s.to_string()));
    (execute(env, argv, &console).await, captured)
}

/// The engine for `env` with its state in the file `state`.
pub fn engine(env: Environment, state: &Path) -> Engine<LocalStateStore> {
    Engine::new(env, LocalStateStore::new(state))
}

/// Plans `env` against the state at `state`.
pub async fn plan(env: Environment, state: &Path) -> Result<Plan, Error> {
    engine(env, state).plan().await
}

/// Plans and applies `env` with its state at `state`, as `apply
/// --auto-approve` does.
pub async fn apply(env: Environment, state: &Path) -> Result<ApplyReport, Error> {
    let engine = engine(env, state);
    let plan = engine.plan().await?;
    engine.apply(&plan).await
}

/// Destroys everything the state at `state` holds, as `destroy
/// --auto-approve` does.
pub async fn destroy(env: Environment, state: &Path) -> Result<ApplyReport, Error> {
    let engine = engine(env, state);
    let plan = engine.plan_destroy().await?;
    engine.apply(&plan).await
}

/// A two-tier network over `zones` availability zones.
pub fn spec(zones: usize) -> TwoTierSpec {
    let letters = ["a", "b", "c", "d", "e", "f"];
    TwoTierSpec::builder()
        .cidr("10.0.0.0/16")
        .zones(
            (0..zones)
                .map(|i| {
                    (
                        format!("us-east-1{}", letters[i]),
                        format!("10.0.{i}.0/24").into(),
                        format!("10.0.{}.0/24", 100 + i).into(),
                    )
                })
                .collect(),
        )
        .build()
}

/// The network environment `name`, exporting its VPC id.
pub fn network(name: &str, aws: &Aws, zones: usize) -> (Environment, TwoTier) {
    let mut env = Environment::new(name).with_provider(aws.clone());
    let net = two_tier(&mut env, &spec(zones));
    env.export::<VpcId>("vpc_id", &net.vpc);
    (env, net)
}

/// A lock across nextest's processes for the tests that create or count
/// load balancers, target groups and certificates: they read every one of
/// the region's, so that a refresh's requests are counted with nothing else
/// appearing meanwhile.
pub fn region_lock() -> std::fs::File {
    let path = std::env::temp_dir().join("madplan-web-tests.lock");
    let f = std::fs::File::create(path).unwrap();
    f.lock().unwrap();
    f
}

/// The filter on madplan's environment tag.
pub fn env_tag(env: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{TAG_ENVIRONMENT}"))
        .values(env)
        .build()
}

/// Counts what still carries the environment's tag, by kind.
pub async fn leftovers(ec2: &aws_sdk_ec2::Client, env: &str) -> BTreeMap<&'static str, usize> {
    let f = || env_tag(env);
    let mut out = BTreeMap::new();
    out.insert(
        "vpc",
        ec2.describe_vpcs()
            .filters(f())
            .send()
            .await
            .unwrap()
            .vpcs()
            .len(),
    );
    out.insert(
        "subnet",
        ec2.describe_subnets()
            .filters(f())
            .send()
            .await
            .unwrap()
            .subnets()
            .len(),
    );
    out.insert(
        "internet_gateway",
        ec2.describe_internet_gateways()
            .filters(f())
            .send()
            .await
            .unwrap()
            .internet_gateways()
            .len(),
    );
    out.insert(
        "route_table",
        ec2.describe_route_tables()
            .filters(f())
            .send()
            .await
            .unwrap()
            .route_tables()
            .len(),
    );
    out.insert(
        "security_group",
        ec2.describe_security_groups()
            .filters(f())
            .send()
            .await
            .unwrap()
            .security_groups()
            .len(),
    );
    out.insert(
        "network_acl",
        ec2.describe_network_acls()
            .filters(f())
            .send()
            .await
            .unwrap()
            .network_acls()
            .len(),
    );
    out
}

/// Repeats `op` until it succeeds, at most `limit` times; how many it took.
pub async fn until_ok<T, F, Fut>(limit: usize, mut op: F) -> (T, usize)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, madplan::Error>>,
{
    for attempt in 1..=limit {
        match op().await {
            Ok(v) => return (v, attempt),
            Err(e) => eprintln!("attempt {attempt} failed: {e}"),
        }
    }
    panic!("did not succeed in {limit} attempts");
}
