//! What the resource tests share: the fake, a provider on it, the engine
//! on a temporary state, and a stand-in for the AWS load balancer whose DNS
//! name the API's record points at.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use madplan_cloudflare::fake::{Allowance, FakeCloudflare, FakeZone};
use madplan_cloudflare::resources::{Cloudflare, Zone, ZonePlan, ZoneRef};
use madplan_cloudflare::{Budget, Client, ClientConfig, RetryPolicy};
use madplan_core::plan::{Action, Plan};
use madplan_core::{
    ApplyOptions, Engine, Environment, Found, Input, Kinds, LocalStateStore, Observed, OpCx,
    Provider, ProviderError, RefreshCx, Resource,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

pub const TOKEN: &str = "cf-test-token-0123456789abcdef";
pub const ZONE: &str = "madplan.com";
/// A second zone nobody here manages.
pub const OTHER_ZONE: &str = "madplan.dev";

/// A fake holding madplan.com on `plan` (with Advanced Certificate
/// Manager) and madplan.dev.
pub async fn fake(plan: &str) -> FakeCloudflare {
    FakeCloudflare::start_with(
        TOKEN,
        &[
            FakeZone::new(ZONE, plan).with_advanced_certificates(),
            FakeZone::new(OTHER_ZONE, "free"),
        ],
        &Allowance::ALL,
    )
    .await
}

pub fn client(fake: &FakeCloudflare) -> Client {
    Client::new(
        ClientConfig::builder()
            .token(SecretString::from(TOKEN))
            .base_url(fake.base_url())
            .budget(Budget {
                requests: 100_000,
                window: Duration::from_secs(1),
            })
            .retry(RetryPolicy {
                max_retries: 2,
                min_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(20),
                max_retry_after: Duration::from_secs(1),
            })
            .build(),
    )
    .unwrap()
}

/// A provider on the fake; certificates are polled every 10 ms.
pub fn provider(fake: &FakeCloudflare) -> Cloudflare {
    Cloudflare::new(client(fake)).poll_every(Duration::from_millis(10))
}

/// An environment with the provider and the zone read as `plan`.
pub fn env(fake: &FakeCloudflare, plan: ZonePlan) -> (Environment, ZoneRef) {
    let mut env = Environment::new("production").with_provider(provider(fake));
    let zone = ZoneRef::read(&mut env, "madplan", Zone::named(ZONE, plan));
    (env, zone)
}

pub fn engine(env: Environment, dir: &tempfile::TempDir) -> Engine<LocalStateStore> {
    Engine::new(env, LocalStateStore::new(dir.path().join("state.json"))).with_options(
        ApplyOptions {
            retry: RetryPolicy {
                max_retries: 2,
                min_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(5),
                max_retry_after: Duration::from_millis(5),
            },
            ..ApplyOptions::default()
        },
    )
}

/// Plans and applies.
pub async fn apply(env: Environment, dir: &tempfile::TempDir) -> Plan {
    let e = engine(env, dir);
    let plan = e.plan().await.unwrap();
    e.apply(&plan).await.unwrap();
    plan
}

/// Plans, and asserts there is nothing to do.
pub async fn assert_clean(env: Environment, dir: &tempfile::TempDir) -> Plan {
    let plan = engine(env, dir).plan().await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    plan
}

/// Plans the destroy and applies it.
pub async fn destroy(env: Environment, dir: &tempfile::TempDir) {
    let e = engine(env, dir);
    let plan = e.plan_destroy().await.unwrap();
    e.apply(&plan).await.unwrap();
}

/// The update planned for `address`, with its changed fields.
pub fn update<'a>(plan: &'a Plan, address: &str) -> &'a madplan_core::ResourceChange {
    let c = plan
        .change(address)
        .unwrap_or_else(|| panic!("{address} is not in the plan:\n{}", plan.render()));
    assert_eq!(c.action, Action::Update, "{}", plan.render());
    c
}

pub fn no_violations(fake: &FakeCloudflare) {
    let v = fake.violations();
    assert!(v.is_empty(), "requests or answers broke the spec: {v:#?}");
}

/// Requests made since `before` (an index into `fake.requests()`).
pub fn requests_since(fake: &FakeCloudflare, before: usize) -> Vec<String> {
    fake.requests()[before..].to_vec()
}

/// The resources a state holds, by address.
pub fn state(dir: &tempfile::TempDir) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.path().join("state.json")).unwrap()).unwrap()
}

// ---------------------------------------------------------------------
// A stand-in for the AWS load balancer: another provider, whose output the
// API's DNS record takes.

/// Clones share what was made, across environments built anew.
#[derive(Clone, Default)]
pub struct Elb {
    pub made: std::sync::Arc<Mutex<BTreeMap<String, String>>>,
}

impl Provider for Elb {
    const NAME: &'static str = "elb";
    fn register(kinds: &mut Kinds) {
        kinds.register::<Alb>();
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alb {
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlbOutputs {
    pub arn: String,
    pub dns_name: String,
}

impl Alb {
    /// Its DNS name, as a typed input for another resource.
    pub fn dns_name(handle: &madplan_core::Ref<Alb>) -> Input<String> {
        handle.output("dns_name")
    }
}

impl Resource for Alb {
    const KIND: &'static str = "elb.alb";
    type Provider = Elb;
    type Outputs = AlbOutputs;

    async fn refresh(p: &Elb, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let made = p.made.lock().unwrap();
        Ok(made
            .iter()
            .filter_map(|(arn, name)| {
                let claim = cx.claim(|o| o.arn == *arn, |_| None)?;
                Some(Found::new(
                    claim,
                    Alb { name: name.clone() },
                    AlbOutputs {
                        arn: arn.clone(),
                        dns_name: format!("{name}-1234567890.us-east-1.elb.amazonaws.com"),
                    },
                ))
            })
            .collect())
    }

    async fn create(&self, p: &Elb, cx: &OpCx) -> Result<AlbOutputs, ProviderError> {
        let arn = format!(
            "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/{}",
            self.name
        );
        p.made
            .lock()
            .unwrap()
            .insert(arn.clone(), self.name.clone());
        let outputs = AlbOutputs {
            arn,
            dns_name: format!("{}-1234567890.us-east-1.elb.amazonaws.com", self.name),
        };
        cx.created(&outputs).await?;
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        _: &[String],
        _: &Elb,
        _: &OpCx,
    ) -> Result<AlbOutputs, ProviderError> {
        Ok(prior.outputs.clone())
    }

    async fn delete(o: &AlbOutputs, p: &Elb, _: &OpCx) -> Result<(), ProviderError> {
        p.made.lock().unwrap().remove(&o.arn);
        Ok(())
    }
}
