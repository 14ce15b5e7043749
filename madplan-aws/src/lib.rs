//! AWS resources for madplan, on the official `aws-sdk-*` crates.
//!
//! [`Aws`] is the provider: it holds the SDK clients (one per service, all
//! counting their requests in one place), configured from the
//! standard AWS chain (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, ...),
//! so it works against AWS and against a local emulator alike. The
//! [`network`] module holds the VPC slice: VPCs, subnets, internet gateways,
//! route tables, security groups and network ACLs. [`waf`] holds the web
//! ACL with the seed's rules, its association with the load balancer and
//! its logging; [`observability`] the log groups, VPC flow logs, the alert
//! topic and the CloudWatch alarms; [`cache`] the Redis replication group;
//! [`iam`] roles and instance profiles; [`web`] the web tier (launch
//! template, auto-scaling group and its scaling rules, load balancer,
//! listeners, certificate); [`lb`] the typed handles of the load balancer
//! the WAF and alarms take; [`edge`] ready-made sets of them for the seed's
//! production stack. [`S3StateStore`] keeps an environment's state, lock,
//! audit trail and approvals in S3.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use madplan_core::{Kinds, Provider};

pub mod baseline;
pub mod cache;
pub mod edge;
mod error;
pub mod iam;
pub mod lb;
pub mod network;
pub mod observability;
mod resend;
pub mod state;
mod support;
mod tags;
pub mod waf;
pub mod web;

pub use error::sdk_error;
pub use state::S3StateStore;

/// The AWS provider: SDK clients for the services madplan manages.
#[derive(Clone, Debug)]
pub struct Aws {
    ec2: aws_sdk_ec2::Client,
    autoscaling: aws_sdk_autoscaling::Client,
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    iam: aws_sdk_iam::Client,
    acm: aws_sdk_acm::Client,
    ssm: aws_sdk_ssm::Client,
    wafv2: aws_sdk_wafv2::Client,
    sns: aws_sdk_sns::Client,
    elasticache: aws_sdk_elasticache::Client,
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
        Self {
            ec2: aws_sdk_ec2::Client::from_conf(
                aws_sdk_ec2::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
            autoscaling: aws_sdk_autoscaling::Client::from_conf(
                aws_sdk_autoscaling::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::from_conf(
                aws_sdk_elasticloadbalancingv2::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
            cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(
                aws_sdk_cloudwatchlogs::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
            acm: aws_sdk_acm::Client::from_conf(
                aws_sdk_acm::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
            ssm: aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
            wafv2: aws_sdk_wafv2::Client::from_conf(
                aws_sdk_wafv2::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
            sns: aws_sdk_sns::Client::from_conf(
                aws_sdk_sns::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
            elasticache: aws_sdk_elasticache::Client::from_conf(
                aws_sdk_elasticache::config::Builder::from(conf)
                    .interceptor(calls.clone())
                    .build(),
            ),
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

    /// The Auto Scaling client (groups and scaling policies).
    pub fn autoscaling(&self) -> &aws_sdk_autoscaling::Client {
        &self.autoscaling
    }

    /// The Elastic Load Balancing v2 client (load balancers, target groups, listeners).
    pub fn elbv2(&self) -> &aws_sdk_elasticloadbalancingv2::Client {
        &self.elbv2
    }

    /// The CloudWatch client (alarms).
    pub fn cloudwatch(&self) -> &aws_sdk_cloudwatch::Client {
        &self.cloudwatch
    }

    /// The CloudWatch Logs client (log groups).
    pub fn logs(&self) -> &aws_sdk_cloudwatchlogs::Client {
        &self.logs
    }

    /// The IAM client (roles, policies, instance profiles).
    pub fn iam(&self) -> &aws_sdk_iam::Client {
        &self.iam
    }

    /// The Certificate Manager client (certificates).
    pub fn acm(&self) -> &aws_sdk_acm::Client {
        &self.acm
    }

    /// The Systems Manager client (public parameters (AMI ids)).
    pub fn ssm(&self) -> &aws_sdk_ssm::Client {
        &self.ssm
    }

    /// The WAFv2 client (web ACLs).
    pub fn wafv2(&self) -> &aws_sdk_wafv2::Client {
        &self.wafv2
    }

    /// The SNS client (alert topics).
    pub fn sns(&self) -> &aws_sdk_sns::Client {
        &self.sns
    }

    /// The ElastiCache client (Redis).
    pub fn elasticache(&self) -> &aws_sdk_elasticache::Client {
        &self.elasticache
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

    /// The most HTTP requests of each API operation that were in flight at
    /// once so far, e.g. `{"DescribeVpcAttribute": 2}` when a VPC's two
    /// attributes were read concurrently.
    pub fn peak_in_flight(&self) -> BTreeMap<String, u64> {
        self.calls.peaks()
    }
}

impl Provider for Aws {
    const NAME: &'static str = "aws";

    fn concurrency(&self) -> usize {
        self.concurrency
    }

    fn register(kinds: &mut Kinds) {
        network::register(kinds);
        iam::register(kinds);
        observability::register(kinds);
        waf::register(kinds);
        cache::register(kinds);
        web::register(kinds);
    }
}

/// Counts requests per operation, and how many were in flight at once, as
/// an SDK interceptor.
#[derive(Clone, Debug, Default)]
struct CallCounter(Arc<Mutex<Counts>>);

#[derive(Debug, Default)]
struct Counts {
    sent: BTreeMap<String, u64>,
    in_flight: BTreeMap<String, u64>,
    peak: BTreeMap<String, u64>,
}

/// Marks an attempt whose request was sent and is counted in flight.
#[derive(Clone, Debug)]
struct InFlight(String);

impl Storable for InFlight {
    type Storer = StoreReplace<Self>;
}

impl CallCounter {
    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts().sent.clone()
    }

    fn peaks(&self) -> BTreeMap<String, u64> {
        self.counts().peak.clone()
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
        {
            let mut counts = self.counts();
            *counts.sent.entry(name.clone()).or_default() += 1;
            let now = counts.in_flight.entry(name.clone()).or_default();
            *now += 1;
            let now = *now;
            let peak = counts.peak.entry(name.clone()).or_default();
            *peak = (*peak).max(now);
        }
        cfg.interceptor_state().store_put(InFlight(name));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(InFlight(name)) = cfg.load::<InFlight>().cloned() {
            if let Some(n) = self.counts().in_flight.get_mut(&name) {
                *n = n.saturating_sub(1);
            }
            cfg.interceptor_state().unset::<InFlight>();
        }
        Ok(())
    }
}
