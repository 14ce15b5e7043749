//! AWS resources for madplan, on the official `aws-sdk-*` crates.
//!
//! [`Aws`] is the provider: it holds the SDK clients, configured from the
//! standard AWS chain (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, ...),
//! so it works against AWS and against a local emulator alike. The
//! [`network`] module holds the VPC slice: VPCs, subnets, internet gateways,
//! route tables, security groups and network ACLs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use madplan_core::{Kinds, Provider};

mod error;
pub mod network;
mod tags;

pub use error::sdk_error;

/// The AWS provider: SDK clients for the services madplan manages.
#[derive(Clone, Debug)]
pub struct Aws {
    ec2: aws_sdk_ec2::Client,
    calls: CallCounter,
    concurrency: usize,
}

impl Aws {
    /// Clients configured from the standard AWS chain: environment
    /// variables, profiles, SSO, instance metadata.
    pub async fn from_env() -> Self {
        let conf = aws_config::load_from_env().await;
        Self::from_conf(&conf)
    }

    /// Clients built from an SDK configuration.
    pub fn from_conf(conf: &aws_config::SdkConfig) -> Self {
        let calls = CallCounter::default();
        let ec2_conf = aws_sdk_ec2::config::Builder::from(conf)
            .interceptor(calls.clone())
            .build();
        Self {
            ec2: aws_sdk_ec2::Client::from_conf(ec2_conf),
            calls,
            concurrency: 8,
        }
    }

    /// Sets how many resource operations may run at once against AWS.
    #[must_use]
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The EC2 client.
    pub fn ec2(&self) -> &aws_sdk_ec2::Client {
        &self.ec2
    }

    /// How many HTTP requests each API operation has sent so far (retries
    /// included), e.g. `{"DescribeVpcs": 1}`.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.calls.snapshot()
    }

    /// The total number of HTTP requests sent so far.
    pub fn total_calls(&self) -> u64 {
        self.calls.snapshot().values().sum()
    }
}

impl Provider for Aws {
    const NAME: &'static str = "aws";

    fn concurrency(&self) -> usize {
        self.concurrency
    }

    fn register(kinds: &mut Kinds) {
        network::register(kinds);
    }
}

/// Counts requests per operation, as an SDK interceptor.
#[derive(Clone, Debug, Default)]
struct CallCounter(Arc<Mutex<BTreeMap<String, u64>>>);

impl CallCounter {
    fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "madplan-call-counter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg
            .load::<Metadata>()
            .map_or_else(|| "unknown".to_string(), |m| m.name().to_string());
        *self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name)
            .or_default() += 1;
        Ok(())
    }
}
