//! The whole MadPlan stack end to end: AWS on moto, Atlas, Cloudflare and
//! Datadog on their fakes (in this process, each checking every request and
//! answer against the provider's OpenAPI document). Production applies and
//! plans clean; a drift per provider, made behind madplan's back, shows in
//! one plan and is repaired by one apply; staging applies beside it without
//! either touching the other; destroy is refused on protected resources and
//! completes with the override, leaving nothing of madplan's anywhere.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange};
use madplan::atlas::client::access::AccessEntry;
use madplan::atlas::fake::{FakeAtlas, FakeConfig};
use madplan::cloudflare::client::settings::{MinTlsVersion, TlsVersion};
use madplan::cloudflare::fake::{Allowance, FakeCloudflare, FakeZone};
use madplan::core::faults::{Answer, Counts, Fault, FaultProxy, Faults};
use madplan::core::{Engine, Environment, Error, LocalStateStore, TAG_ENVIRONMENT};
use madplan::stack::{Settings, StackConfig, Values, Versioned};
use secrecy::SecretString;

/// Every secret the stack takes.
#[derive(Clone)]
struct Keys {
    cf_token: String,
    dd_api: String,
    dd_app: String,
    atlas_secret: String,
    pagerduty: String,
    db_password: String,
    redis_token: String,
}

impl Keys {
    fn fixed() -> Self {
        Self {
            cf_token: "cf-stack-test-token-0123456789".into(),
            dd_api: "0123456789abcdef0123456789abcdef".into(),
            dd_app: "0123456789abcdef0123456789abcdef01234567".into(),
            atlas_secret: "stack-test-atlas-secret".into(),
            pagerduty: "stack-test-pagerduty-key".into(),
            db_password: "stack-test-db-password".into(),
            redis_token: "stack-test-redis-token-0000".into(),
        }
    }

    /// Unique values, each marked so that it can be searched for.
    fn canaries() -> Self {
        let hex = || uuid::Uuid::new_v4().simple().to_string();
        Self {
            cf_token: format!("CANARYcf{}", hex()),
            // Datadog keys are hexadecimal: 32 and 40 digits.
            dd_api: hex(),
            dd_app: format!("{}{}", hex(), &hex()[..8]),
            atlas_secret: format!("CANARYatlas{}", hex()),
            pagerduty: format!("CANARYpd{}", hex()),
            db_password: format!("CANARYdb{}", hex()),
            redis_token: format!("CANARYredis{}", hex()),
        }
    }

    fn all(&self) -> [(&'static str, &str); 7] {
        [
            ("Cloudflare token", &self.cf_token),
            ("Datadog API key", &self.dd_api),
            ("Datadog application key", &self.dd_app),
            ("Atlas client secret", &self.atlas_secret),
            ("PagerDuty key", &self.pagerduty),
            ("database password", &self.db_password),
            ("Redis token", &self.redis_token),
        ]
    }
}
const ORG: &str = "5f00000000000000000000aa";
const ZONE: &str = "madplan.com";

/// The three fakes of one test, and clients on them.
struct Fakes {
    atlas: FakeAtlas,
    atlas_config: FakeConfig,
    cloudflare: FakeCloudflare,
    datadog: madplan::datadog::fake::FakeDatadog,
    keys: Keys,
}

async fn fakes() -> Fakes {
    fakes_with(Keys::fixed(), Duration::from_millis(50)).await
}

/// The fakes, with Atlas's clusters taking `transition` to change state.
async fn fakes_with(keys: Keys, transition: Duration) -> Fakes {
    let mut atlas_config = FakeConfig {
        transition,
        ..FakeConfig::default()
    };
    atlas_config.service_account.1 = keys.atlas_secret.clone();
    let atlas = FakeAtlas::start(atlas_config.clone()).await;
    let cloudflare = FakeCloudflare::start_with(
        &keys.cf_token,
        &[FakeZone::new(ZONE, "business").with_advanced_certificates()],
        &Allowance::ALL,
    )
    .await;
    let datadog = madplan::datadog::fake::FakeDatadog::start(&keys.dd_api, &keys.dd_app).await;
    datadog.add_slack_account("madplan");
    Fakes {
        atlas,
        atlas_config,
        cloudflare,
        datadog,
        keys,
    }
}

fn secret(v: &str) -> Versioned {
    Versioned {
        value: SecretString::from(v.to_string()),
        version: "1".into(),
    }
}

/// Where each provider's requests go.
struct Urls {
    aws: String,
    atlas: String,
    cloudflare: String,
    datadog: String,
}

fn atlas_client_at(client_id: &str, keys: &Keys, url: &str) -> madplan::atlas::Client {
    madplan::atlas::Client::new(
        madplan::atlas::Credentials::ServiceAccount {
            client_id: client_id.to_string(),
            client_secret: SecretString::from(keys.atlas_secret.clone()),
        },
        url,
    )
    .unwrap()
}

fn cloudflare_client_at(keys: &Keys, url: &str) -> madplan::cloudflare::Client {
    madplan::cloudflare::Client::new(
        madplan::cloudflare::ClientConfig::builder()
            .token(SecretString::from(keys.cf_token.clone()))
            .base_url(url.to_string())
            .build(),
    )
    .unwrap()
}

fn datadog_client_at(keys: &Keys, url: &str) -> madplan::datadog::Client {
    madplan::datadog::Client::new(
        madplan::datadog::ClientConfig::new(
            SecretString::from(keys.dd_api.clone()),
            SecretString::from(keys.dd_app.clone()),
            madplan::datadog::Site::Us1,
        )
        .with_base_url(url),
    )
    .unwrap()
}

/// The stack's settings with every provider at `urls`; the AWS client makes
/// `aws_attempts` attempts per call (the SDK's default when `None`).
async fn settings_at(
    keys: &Keys,
    atlas_id: &str,
    urls: &Urls,
    aws_attempts: Option<u32>,
) -> Settings {
    let aws = match aws_attempts {
        Some(n) => common::aws_at_with_attempts(&urls.aws, n).await,
        None => common::aws_at(&urls.aws).await,
    };
    Settings {
        aws,
        atlas: madplan::atlas::Atlas::new(atlas_client_at(atlas_id, keys, &urls.atlas))
            .with_poll_interval(Duration::from_millis(20)),
        cloudflare: madplan::cloudflare::Cloudflare::new(cloudflare_client_at(
            keys,
            &urls.cloudflare,
        ))
        .poll_every(Duration::from_millis(20)),
        datadog: madplan::datadog::Datadog::new(datadog_client_at(keys, &urls.datadog)),
        values: Values {
            region: "us-east-1".into(),
            aws_account_id: "123456789012".into(),
            atlas_org: ORG.into(),
            zone: ZONE.into(),
            datadog_site: "datadoghq.com".into(),
            datadog_api_key: secret(&keys.dd_api),
            alert_email: "alerts@madplan.com".into(),
            pagerduty_key: secret(&keys.pagerduty),
            db_password: secret(&keys.db_password),
            redis_token: secret(&keys.redis_token),
        },
    }
}

/// A fault-injecting proxy in front of moto and of each fake.
struct Proxies {
    aws: FaultProxy,
    atlas: FaultProxy,
    cloudflare: FaultProxy,
    datadog: FaultProxy,
}

impl Proxies {
    fn urls(&self) -> Urls {
        Urls {
            aws: self.aws.url().to_string(),
            atlas: self.atlas.url().to_string(),
            cloudflare: self.cloudflare.url().to_string(),
            datadog: self.datadog.url().to_string(),
        }
    }

    fn set_all(&self, faults: Faults) {
        for p in [&self.aws, &self.atlas, &self.cloudflare, &self.datadog] {
            p.set(faults.clone());
        }
    }

    /// The requests every proxy saw so far.
    fn requests(&self) -> usize {
        self.counts().iter().map(|(_, c)| c.requests).sum()
    }

    fn counts(&self) -> Vec<(&'static str, Counts)> {
        vec![
            ("aws", self.aws.counts()),
            ("atlas", self.atlas.counts()),
            ("cloudflare", self.cloudflare.counts()),
            ("datadog", self.datadog.counts()),
        ]
    }
}

impl Fakes {
    fn atlas_client(&self) -> madplan::atlas::Client {
        atlas_client_at(
            &self.atlas_config.service_account.0,
            &self.keys,
            &self.atlas.base_url(),
        )
    }

    fn cloudflare_client(&self) -> madplan::cloudflare::Client {
        cloudflare_client_at(&self.keys, &self.cloudflare.base_url())
    }

    fn datadog_client(&self) -> madplan::datadog::Client {
        datadog_client_at(&self.keys, &self.datadog.base_url())
    }

    /// Proxies in front of moto and the fakes, with no fault yet.
    async fn proxies(&self) -> Proxies {
        let none = Faults::none;
        Proxies {
            aws: FaultProxy::start(&common::moto_url(), none())
                .await
                .unwrap(),
            atlas: FaultProxy::start(&self.atlas.base_url(), none())
                .await
                .unwrap(),
            cloudflare: FaultProxy::start(&self.cloudflare.base_url(), none())
                .await
                .unwrap(),
            datadog: FaultProxy::start(&self.datadog.base_url(), none())
                .await
                .unwrap(),
        }
    }

    async fn settings(&self) -> Settings {
        self.settings_via(None).await
    }

    /// Settings whose providers talk to the fakes directly, or through
    /// `proxies`.
    async fn settings_via(&self, proxies: Option<&Proxies>) -> Settings {
        let atlas_id = &self.atlas_config.service_account.0;
        match proxies {
            None => {
                let urls = Urls {
                    aws: common::moto_url(),
                    atlas: self.atlas.base_url(),
                    cloudflare: self.cloudflare.base_url(),
                    datadog: self.datadog.base_url(),
                };
                settings_at(&self.keys, atlas_id, &urls, None).await
            }
            // Through the proxies: 5 attempts per AWS call, as a team on a
            // bad network would set with AWS_MAX_ATTEMPTS (the REST clients
            // make 5 by default).
            Some(p) => settings_at(&self.keys, atlas_id, &p.urls(), Some(5)).await,
        }
    }

    /// An environment of `config`, named uniquely for this run.
    async fn env(&self, config: &StackConfig) -> Environment {
        madplan::stack::environment(self.settings().await, config)
    }

    /// The same, through `proxies`.
    async fn env_via(&self, config: &StackConfig, proxies: &Proxies) -> Environment {
        madplan::stack::environment(self.settings_via(Some(proxies)).await, config)
    }

    fn no_violations(&self) {
        let all: Vec<String> = self
            .atlas
            .violations()
            .into_iter()
            .chain(self.cloudflare.violations())
            .chain(self.datadog.violations())
            .collect();
        assert!(all.is_empty(), "spec violations: {all:#?}");
    }
}

/// A unique production-shaped config (moto is shared by the tests).
fn production(tag: &str) -> StackConfig {
    let mut c = StackConfig::production(ZONE);
    // Short: ELB names take 32 characters, `madplan-NAME-web` included.
    let _ = tag;
    c.name = common::unique("p");
    c
}

fn staging(tag: &str) -> StackConfig {
    let mut c = StackConfig::staging(ZONE);
    let _ = tag;
    c.name = common::unique("s");
    c
}

fn engine(env: Environment, dir: &tempfile::TempDir, name: &str) -> Engine<LocalStateStore> {
    let mut e = Engine::new(
        env,
        LocalStateStore::new(dir.path().join(format!("{name}.json"))),
    );
    e.options_mut().retry.min_delay = Duration::from_millis(10);
    e.options_mut().retry.max_delay = Duration::from_millis(50);
    // moto never finishes deleting a replication group: the destroy below
    // gives up on it after a second instead of the kind's 60 minutes.
    e.options_mut().wait_timeouts.insert(
        "aws.elasticache_replication_group".into(),
        Duration::from_secs(1),
    );
    e
}

async fn apply(e: &Engine<LocalStateStore>) -> madplan::core::ApplyReport {
    let plan = e.plan().await.unwrap();
    e.apply(&plan).await.unwrap()
}

/// The stack's default tags (`Environment`, `Project`, `ManagedBy`) are on
/// what it made in every provider that tags, the instances the auto-scaling
/// group launched included: the guide's runbook finds them with
/// `aws ec2 describe-instances --filters Name=tag:Environment,Values=NAME`.
async fn default_tags_are_everywhere(f: &Fakes, env_name: &str, state: &madplan::core::State) {
    let ec2 = common::ec2().await;
    let by_env = |name: &str| {
        Filter::builder()
            .name(format!("tag:{name}"))
            .values(env_name)
            .build()
    };
    let reservations = ec2
        .describe_instances()
        .filters(by_env("Environment"))
        .send()
        .await
        .unwrap();
    let instances: Vec<_> = reservations
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .collect();
    assert!(
        instances.len() >= 3,
        "the runbook's filter finds the auto-scaling group's instances: {instances:?}"
    );
    for (kind, found) in [
        (
            "vpc",
            ec2.describe_vpcs()
                .filters(by_env("Environment"))
                .send()
                .await
                .unwrap()
                .vpcs()
                .len(),
        ),
        (
            "subnet",
            ec2.describe_subnets()
                .filters(by_env("Environment"))
                .send()
                .await
                .unwrap()
                .subnets()
                .len(),
        ),
        (
            "security group",
            ec2.describe_security_groups()
                .filters(by_env("Environment"))
                .send()
                .await
                .unwrap()
                .security_groups()
                .len(),
        ),
    ] {
        assert!(found > 0, "no {kind} carries Environment={env_name}");
    }
    let project = state.resources[&"atlas.project.main".parse().unwrap()].outputs["project_id"]
        .as_str()
        .unwrap()
        .to_string();
    let tags = f.atlas_client().project(&project).await.unwrap().tags;
    assert!(
        tags.iter()
            .any(|t| t.key == "Environment" && t.value == env_name),
        "{tags:?}"
    );
    let cpu = state.resources[&"datadog.monitor.cpu".parse().unwrap()].outputs["id"]
        .as_i64()
        .unwrap();
    let monitor = f.datadog_client().monitor(cpu).await.unwrap();
    for tag in [
        format!("environment:{env_name}"),
        "project:madplan".to_string(),
        "managedby:madplan".to_string(),
    ] {
        assert!(
            monitor.tags.contains(&tag),
            "{tag} missing: {:?}",
            monitor.tags
        );
    }
}

/// The requests of a no-op plan, per provider: a constant number of list
/// calls per kind, whatever the number of resources.
async fn no_op_plan_cost(f: &Fakes, e: &Engine<LocalStateStore>) {
    let aws = e
        .environment()
        .provider::<madplan::aws::Aws>()
        .unwrap()
        .clone();
    let counts = || {
        [
            aws.total_calls() as usize,
            f.atlas.requests().len(),
            f.cloudflare.requests().len(),
            f.datadog.requests().len(),
        ]
    };
    let before = counts();
    let ops_before = aws.calls();
    let plan = e.plan().await.unwrap();
    let after = counts();
    let ops: BTreeMap<String, u64> = aws
        .calls()
        .into_iter()
        .map(|(op, n)| (op.clone(), n - ops_before.get(&op).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    eprintln!("aws requests: {ops:?}");
    // CloudWatch alarms, log groups, SNS topics and ACM certificates are
    // listed without their tags: one tag read per object in the region,
    // this environment's or not.
    let tag_reads = (ops.get("ListTagsForResource").copied().unwrap_or(0)
        + ops.get("ListTagsForCertificate").copied().unwrap_or(0)) as usize;
    assert!(!plan.has_changes());
    let used: Vec<usize> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    let total: usize = used.iter().sum();
    let kinds: std::collections::BTreeSet<&str> =
        plan.changes.iter().map(|c| c.kind.as_str()).collect();
    let resources = plan.changes.len();
    eprintln!(
        "no-op plan of {resources} resources and data sources of {} kinds: {total} requests \
         ({tag_reads} of them per-object tag reads; aws {}, atlas {}, cloudflare {}, datadog {})",
        kinds.len(),
        used[0],
        used[1],
        used[2],
        used[3]
    );
    // Besides those tag reads, a constant number of list calls per kind
    // (some need a second: the VPC's attributes, the target groups'
    // attributes, the launch templates' versions).
    assert!(
        total - tag_reads <= kinds.len() + 25,
        "{total} requests ({tag_reads} tag reads) for {} kinds",
        kinds.len()
    );
}

async fn vpcs(env_name: &str) -> usize {
    common::ec2()
        .await
        .describe_vpcs()
        .filters(
            Filter::builder()
                .name(format!("tag:{TAG_ENVIRONMENT}"))
                .values(env_name)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .vpcs()
        .len()
}

#[tokio::test]
async fn the_production_stack_applies_drifts_are_repaired_and_destroy_leaves_nothing() {
    let _serial = common::region_lock();
    let f = fakes().await;
    let dir = tempfile::tempdir().unwrap();
    let prod = production("e2e");
    let stg = staging("e2e");

    let e = engine(f.env(&prod).await, &dir, "prod");
    e.environment().validate().unwrap();
    let report = apply(&e).await;
    assert!(report.created > 80, "{report:?}");
    let plan = e.plan().await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    let outputs = e.outputs().await.unwrap();
    for name in [
        "api_url",
        "load_balancer",
        "mongodb_uri",
        "redis_primary",
        "dashboard_id",
    ] {
        assert!(outputs[name].is_some(), "{name} is not known: {outputs:?}");
    }
    let uri = outputs["mongodb_uri"].clone().unwrap();
    assert!(
        uri.as_str().unwrap().starts_with("mongodb+srv://") && !uri.as_str().unwrap().contains('@'),
        "{uri}"
    );

    let state = e.load_state().await.unwrap().unwrap();
    default_tags_are_everywhere(&f, &prod.name, &state).await;
    no_op_plan_cost(&f, &e).await;

    // One drift per provider, behind madplan's back.
    let out = |a: &str, k: &str| {
        state.resources[&a.parse().unwrap()].outputs[k]
            .as_str()
            .unwrap()
            .to_string()
    };
    let app_group = out("aws.security_group.app", "security_group_id");
    common::ec2()
        .await
        .authorize_security_group_ingress()
        .group_id(&app_group)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let project = out("atlas.project.main", "project_id");
    f.atlas_client()
        .add_access(&project, &[AccessEntry::cidr("198.51.100.0/24")])
        .await
        .unwrap();
    // ...and the daily snapshots' retention, cut from 30 to 14 days.
    let cluster = out("atlas.cluster.main", "name");
    let mut schedule = f
        .atlas_client()
        .backup_schedule(&project, &cluster)
        .await
        .unwrap();
    let daily = schedule
        .policies
        .iter_mut()
        .flat_map(|p| p.policy_items.iter_mut())
        .find(|i| i.frequency_type == madplan::atlas::client::backup::Frequency::Daily)
        .unwrap();
    daily.retention_value = 14;
    f.atlas_client()
        .update_backup_schedule(&project, &cluster, &schedule)
        .await
        .unwrap();
    let cf = f.cloudflare_client();
    let zone = cf.zone_by_name(ZONE).await.unwrap();
    cf.set_setting::<MinTlsVersion>(&zone.id, &TlsVersion::V1_0)
        .await
        .unwrap();
    let dd = f.datadog_client();
    let cpu: i64 = state.resources[&"datadog.monitor.cpu".parse().unwrap()].outputs["id"]
        .as_i64()
        .unwrap();
    let mut monitor = dd.monitor(cpu).await.unwrap();
    let thresholds = monitor.options.thresholds.get_or_insert_default();
    thresholds.critical = Some(99.0);
    dd.update_monitor(cpu, &monitor).await.unwrap();

    let plan = e.plan().await.unwrap();
    let mut drifted: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.is_change())
        .map(|c| format!("{} {:?}", c.address, c.action))
        .collect();
    drifted.sort();
    assert_eq!(
        drifted,
        [
            "atlas.access_list.main Update",
            "atlas.backup_schedule.main Update",
            "aws.security_group.app Update",
            "cloudflare.zone_settings.tls Update",
            "datadog.monitor.cpu Update",
        ],
        "{}",
        plan.render()
    );
    let report = e.apply(&plan).await.unwrap();
    assert_eq!(report.updated, 5, "{report:?}");
    let plan = e.plan().await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());

    // Staging beside production in the same accounts.
    let s = engine(f.env(&stg).await, &dir, "staging");
    apply(&s).await;
    assert!(!s.plan().await.unwrap().has_changes());
    no_op_plan_cost(&f, &s).await;
    let plan = e.plan().await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());

    // Destroy: the protected database and load balancer are refused...
    let plan = e.plan_destroy().await.unwrap();
    let err = e.apply(&plan).await.unwrap_err();
    assert!(matches!(err, Error::Protected { .. }), "{err}");
    assert_eq!(vpcs(&prod.name).await, 1);
    // ...unless the operator allows it (the cluster's termination protection
    // and the load balancer's deletion protection are turned off first, as
    // an operator retiring production would).
    let mut config = prod.clone();
    config.protection = false;
    let mut e = engine(f.env(&config).await, &dir, "prod");
    apply(&e).await;
    e.options_mut().allow_protected_deletion = true;
    for engine in [&e, &s] {
        let plan = engine.plan_destroy().await.unwrap();
        // Everything goes but the cache, which moto never finishes deleting
        // (and what it still holds: its subnet group, its security group,
        // the subnets and the VPC).
        let err = engine.apply(&plan).await.unwrap_err().to_string();
        assert!(
            err.contains("aws.elasticache_replication_group.main") && err.contains("deleting"),
            "{err}"
        );
        let left = engine.load_state().await.unwrap().unwrap();
        let mut kinds: Vec<&str> = left.resources.keys().map(|a| a.kind()).collect();
        kinds.dedup();
        assert!(
            kinds.iter().all(|k| k.starts_with("aws.")),
            "only AWS resources held by the cache are left: {kinds:?}"
        );
        assert!(
            kinds.contains(&"aws.elasticache_replication_group"),
            "{kinds:?}"
        );
    }

    // Nothing of madplan's is left at Atlas, Cloudflare or Datadog.
    let atlas = f.atlas_client();
    for p in atlas.projects().await.unwrap() {
        assert!(
            !p.name.contains(&prod.name) && !p.name.contains(&stg.name),
            "{p:?} is left"
        );
    }
    let records = cf
        .dns_records(
            &zone.id,
            &madplan::cloudflare::client::dns::RecordFilter::default(),
        )
        .await
        .unwrap();
    assert!(
        records.iter().all(|r| !r
            .comment
            .as_deref()
            .unwrap_or_default()
            .contains("madplan:")),
        "{records:#?}"
    );
    for env_name in [&prod.name, &stg.name] {
        let left = dd
            .monitors_tagged(&format!("madplan:{env_name}"))
            .await
            .unwrap();
        assert!(left.is_empty(), "{left:?}");
    }
    f.no_violations();
}

#[tokio::test]
async fn a_stack_that_breaks_the_policies_is_refused_before_any_call() {
    let f = fakes().await;
    let mut config = production("policy");
    config.log_retention = madplan::aws::observability::Retention::Days7;
    config.read_replica_regions.clear();
    config.backup_copy_region = None;
    let env = f.env(&config).await;
    let err = env.validate().unwrap_err().to_string();
    assert!(err.contains("policy rpo"), "{err}");
    assert!(
        err.contains("no backup schedule copies its snapshots"),
        "{err}"
    );
    assert!(err.contains("logs are kept"), "{err}");
    // Waived explicitly, with a reason, the same stack validates.
    let mut env = f.env(&config).await;
    env.waive("rpo", "a cheaper test environment (ops, 2026-11-25)");
    assert!(env.waived_findings().len() >= 3);
    assert_eq!(f.atlas.requests().len(), 0);
    assert_eq!(f.cloudflare.requests().len(), 0);
}

/// A canary in every secret the stack takes (Atlas's client secret, the
/// Cloudflare token, both Datadog keys, the PagerDuty key, the database
/// password, the Redis token): through `plan --out`, `plan --json`, `apply`
/// of the saved plan, `output`, `refresh`, `state show` and `destroy`
/// (which ends in an error), with every log event at trace level captured,
/// none appears in what was printed, logged, or written (state, its
/// backups, the plan file, the audit trail).
#[tokio::test]
async fn no_secret_is_printed_logged_or_stored() {
    let _serial = common::region_lock();
    let (_guard, logs) = madplan::core::testkit::LogCapture::start();
    let f = fakes_with(Keys::canaries(), Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("staging.json");
    let plan_file = dir.path().join("staging.plan");
    let config = staging("secrets");
    let mut printed = String::new();
    let commands: [&[&str]; 8] = [
        &["plan", "--out", plan_file.to_str().unwrap()],
        &["plan", "--json"],
        &["apply", plan_file.to_str().unwrap()],
        &["output", "--json"],
        &["refresh"],
        &["state", "show", "aws.elasticache_replication_group.main"],
        &["audit", "--json"],
        &[
            "destroy",
            "--auto-approve",
            "--wait-timeout",
            "aws.elasticache_replication_group=1s",
        ],
    ];
    for args in commands {
        let (code, out) = common::run(f.env(&config).await, &state, args).await;
        let code = match code {
            Ok(c) => c.to_string(),
            Err(e) => format!("{e} {e:?}"),
        };
        printed.push_str(&format!(
            "$ {}\n{code}\n{}{}\n",
            args.join(" "),
            out.stdout(),
            out.stderr()
        ));
    }
    // The run did what it says: applied, and destroyed all it could.
    assert!(
        printed.contains("aws.elasticache_replication_group.main"),
        "{printed}"
    );
    let logged = logs.text();
    assert!(logged.contains("TRACE"), "trace events were captured");
    let mut written = String::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            written.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    assert!(written.contains("\"serial\""), "the state was written");
    let settings = format!("{:?}", f.settings().await.values);
    for (what, value) in f.keys.all() {
        for (place, text) in [
            ("output", &printed),
            ("logs", &logged),
            ("files", &written),
            ("settings' Debug", &settings),
        ] {
            assert!(!text.contains(value), "the {what} appears in the {place}");
        }
    }
    f.no_violations();
}

/// A staging of its own beside another in the same zone and accounts: its
/// own host names and Slack channel.
fn apart(mut c: StackConfig) -> StackConfig {
    c.api_host = format!("api.{}.{ZONE}", c.name);
    c.frontend_hosts = vec![format!("{}.{ZONE}", c.name)];
    c.slack_channel = format!("#{}", c.name);
    c
}

/// Faults for a REST API: throttling answered with `status` and `body` and
/// the API's own wait header, and server errors.
fn rest_faults(share: f64, kinds: &[Fault], seed: u64, throttled: Answer) -> Faults {
    Faults {
        share,
        kinds: kinds.to_vec(),
        latency: Duration::ZERO,
        answers: BTreeMap::from([
            (Fault::Throttled, throttled),
            (
                Fault::ServerError,
                Answer::new(500, "application/json", "{}"),
            ),
        ]),
        seed,
        max_faults: None,
        only: Vec::new(),
    }
}

/// The whole staging stack through 20 % faults on every provider (AWS:
/// EC2-style throttling, server errors; Atlas, Cloudflare and Datadog: 429
/// with each API's envelope and wait header, 500; everywhere: connections
/// dropped before the request reached the emulator, and after it did the
/// work): applies may fail cleanly and are repeated until one succeeds;
/// then a plan through the same faults is clean (a duplicate would be an
/// error naming both objects), the emulators hold exactly what the state
/// does, and the requests are counted against a fault-free apply.
#[tokio::test]
async fn the_stack_converges_through_faults_on_every_provider() {
    let _serial = common::region_lock();
    let f = fakes().await;
    let dir = tempfile::tempdir().unwrap();
    let proxies = f.proxies().await;

    // Fault-free first, for the request counts.
    let clean = apart(staging("clean"));
    let e = engine(f.env_via(&clean, &proxies).await, &dir, "clean");
    apply(&e).await;
    let fault_free = proxies.requests();

    // Answers lost after the work was done (`Fault::DropAfter`) included:
    // a create whose answer is lost fails its apply (the AWS creates without
    // a key moto honours are not sent again, the REST clients never resend
    // a POST), and the next apply adopts what it made by its tags.
    let kinds = [
        Fault::Throttled,
        Fault::ServerError,
        Fault::DropBefore,
        Fault::DropAfter,
    ];
    proxies.aws.set(Faults::ec2(0.2, &kinds, 3));
    proxies.atlas.set(rest_faults(
        0.2,
        &kinds,
        5,
        Answer::new(
            429,
            "application/json",
            r#"{"detail":"Too many requests.","error":429,"errorCode":"RATE_LIMITED","reason":"Too Many Requests"}"#,
        ),
    ));
    proxies.cloudflare.set(rest_faults(
        0.2,
        &kinds,
        7,
        Answer::new(
            429,
            "application/json",
            r#"{"success":false,"errors":[{"code":971,"message":"Please wait and consider throttling your request speed"}],"messages":[],"result":null}"#,
        )
        .header("Retry-After", "1"),
    ));
    proxies.datadog.set(rest_faults(
        0.2,
        &kinds,
        9,
        Answer::new(
            429,
            "application/json",
            r#"{"errors":["Rate limit exceeded"]}"#,
        )
        .header("X-RateLimit-Limit", "100")
        .header("X-RateLimit-Period", "10")
        .header("X-RateLimit-Remaining", "0")
        .header("X-RateLimit-Reset", "1"),
    ));
    let before = proxies.requests();
    let config = apart(staging("faults"));
    let (_, applies) = common::until_ok(20, || async {
        let e = engine(f.env_via(&config, &proxies).await, &dir, "faults");
        let plan = e.plan().await?;
        e.apply(&plan).await
    })
    .await;
    let after = proxies.counts();
    let sent: usize = after.iter().map(|(_, c)| c.requests).sum::<usize>() - before;
    let (plan, plans) = common::until_ok(10, || async {
        engine(f.env_via(&config, &proxies).await, &dir, "faults")
            .plan()
            .await
    })
    .await;
    assert!(!plan.has_changes(), "{}", plan.render());
    // Straight from the emulators: no duplicate and no orphan.
    emulators_hold_the_state(
        &f,
        &config,
        &engine(f.env_via(&config, &proxies).await, &dir, "faults"),
    )
    .await;
    // The no-op plan under 50 ms per request on every provider, against one
    // round trip: how much of the refresh runs at once.
    proxies.set_all(Faults {
        latency: Duration::from_millis(50),
        ..Faults::none()
    });
    let started = std::time::Instant::now();
    let plan = engine(f.env_via(&config, &proxies).await, &dir, "faults")
        .plan()
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(!plan.has_changes(), "{}", plan.render());
    eprintln!(
        "no-op plan of staging at 50 ms per request: {} ms, {:.1} round trips",
        took.as_millis(),
        took.as_secs_f64() / 0.05
    );
    eprintln!(
        "staging through 20 % faults: {applies} apply(s) and {plans} plan(s); {sent} requests \
         where a fault-free apply sends {fault_free}; faults by provider: {:?}",
        after
            .iter()
            .map(|(p, c)| (p, c.faults.clone()))
            .collect::<Vec<_>>()
    );
    f.no_violations();
}

/// Cloudflare's limit holds over the whole stack: with a budget of 3
/// requests a second (the same mechanism as the default 1200 per 5
/// minutes, scaled so that the apply's few Cloudflare requests cross
/// several windows), no second of the apply sees more than 3 requests at
/// the proxy. Then Cloudflare
/// locks the user out (429, `retry-after: 300`): the plan stops within
/// seconds with the lockout named, and the requests that were not yet sent
/// are not sent into it.
#[tokio::test]
async fn cloudflare_s_budget_holds_and_a_lockout_is_not_sent_into() {
    let _serial = common::region_lock();
    let f = fakes().await;
    let dir = tempfile::tempdir().unwrap();
    let proxies = f.proxies().await;
    let budget = madplan::cloudflare::Budget {
        requests: 3,
        window: Duration::from_secs(1),
    };
    let client = madplan::cloudflare::Client::new(
        madplan::cloudflare::ClientConfig::builder()
            .token(SecretString::from(f.keys.cf_token.clone()))
            .base_url(proxies.cloudflare.url().to_string())
            .budget(budget)
            .build(),
    )
    .unwrap();
    let config = apart(staging("budget"));
    let env = || async {
        let mut s = f.settings_via(Some(&proxies)).await;
        s.cloudflare = madplan::cloudflare::Cloudflare::new(client.clone())
            .poll_every(Duration::from_millis(20));
        madplan::stack::environment(s, &config)
    };
    apply(&engine(env().await, &dir, "budget")).await;
    let arrivals = proxies.cloudflare.counts().arrivals;
    // (50 ms of slack for the proxy's own scheduling.)
    let window = budget.window - Duration::from_millis(50);
    let busiest = arrivals
        .iter()
        .map(|t| {
            arrivals
                .iter()
                .filter(|u| *u >= t && **u - *t < window)
                .count()
        })
        .max()
        .unwrap_or(0);
    assert!(
        arrivals.len() >= 2 * budget.requests as usize,
        "the apply must outlast several windows: {} requests",
        arrivals.len()
    );
    assert!(
        busiest <= budget.requests as usize,
        "{busiest} requests within one window of {window:?}"
    );

    proxies.cloudflare.set(rest_faults(
        1.0,
        &[Fault::Throttled],
        1,
        Answer::new(
            429,
            "application/json",
            r#"{"success":false,"errors":[{"code":10000,"message":"Rate limited. Please wait and consider throttling your request speed"}],"messages":[],"result":null}"#,
        )
        .header("Retry-After", "300"),
    ));
    let before = proxies.cloudflare.counts().requests;
    let started = std::time::Instant::now();
    let err = engine(env().await, &dir, "budget")
        .plan()
        .await
        .unwrap_err();
    let took = started.elapsed();
    let sent = proxies.cloudflare.counts().requests - before;
    let text = err.to_string();
    assert!(text.contains("300s"), "{text}");
    assert!(took < Duration::from_secs(10), "the plan took {took:?}");
    eprintln!(
        "budget {budget:?}: {} requests in the apply, at most {busiest} in one window; \
         the lockout: {sent} request(s) sent, the plan stopped after {} ms: {text}",
        arrivals.len(),
        took.as_millis()
    );
}

/// What the emulators hold of `config`'s environment is exactly what its
/// state holds, kind by kind: the EC2 network, Atlas clusters and database
/// users, Cloudflare records, Datadog monitors, SLOs, dashboards and
/// synthetic tests (no duplicate, no orphan).
async fn emulators_hold_the_state(f: &Fakes, config: &StackConfig, e: &Engine<LocalStateStore>) {
    let state = e.load_state().await.unwrap().unwrap();
    let in_state = |kind: &str| state.resources.keys().filter(|a| a.kind() == kind).count();
    // As many live as in state, and some: a filter that matched nothing
    // would prove nothing.
    let same = |kind: &str, live: usize, what: &dyn std::fmt::Debug| {
        assert!(in_state(kind) > 0, "no {kind} in state");
        assert_eq!(live, in_state(kind), "{kind}: {what:?}");
    };
    let ec2 = common::ec2().await;
    let tagged = common::leftovers(&ec2, &config.name).await;
    for (kind, n) in &tagged {
        assert_eq!(*n, in_state(&format!("aws.{kind}")), "{kind}: {tagged:?}");
    }
    assert_eq!(vpcs(&config.name).await, 1);
    let env_tag = format!("environment:{}", config.name);
    // (Synthetic tests have monitors of their own, with their address.)
    let monitors: Vec<_> = f
        .datadog_client()
        .monitors_tagged(&env_tag)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| {
            m.tags
                .iter()
                .any(|t| t.starts_with("madplan-address:datadog.monitor."))
        })
        .collect();
    same("datadog.monitor", monitors.len(), &monitors);
    let slos = f.datadog_client().slos_tagged(&env_tag).await.unwrap();
    same("datadog.slo", slos.len(), &slos);
    let project = state.resources[&"atlas.project.main".parse().unwrap()].outputs["project_id"]
        .as_str()
        .unwrap()
        .to_string();
    let users = f.atlas_client().database_users(&project).await.unwrap();
    same("atlas.database_user", users.len(), &users);
    let clusters = f.atlas_client().clusters(&project).await.unwrap();
    same("atlas.cluster", clusters.len(), &clusters);
    // Cloudflare's records carry madplan's marker in their comment.
    let marker = format!("madplan:{}/", config.name);
    let records: Vec<_> = f
        .cloudflare
        .records(&f.cloudflare.zone_id(ZONE))
        .into_iter()
        .filter(|r| r["comment"].as_str().is_some_and(|c| c.contains(&marker)))
        .collect();
    same("cloudflare.dns_record", records.len(), &records);
    // Dashboards end their description with madplan's marker line;
    // synthetic tests carry the environment's tag.
    let dashboards: Vec<_> = f
        .datadog_client()
        .dashboards()
        .await
        .unwrap()
        .into_iter()
        .filter(|d| {
            d.description
                .as_deref()
                .is_some_and(|t| t.contains(&format!("madplan:{} ", config.name)))
        })
        .collect();
    same("datadog.dashboard", dashboards.len(), &dashboards);
    let tests: Vec<_> = f
        .datadog_client()
        .api_tests()
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.tags.contains(&env_tag))
        .collect();
    same("datadog.synthetic_test", tests.len(), &tests);
}

/// One line a killed child prints per engine event, for its parent.
const KILL_LINE: &str = "madplan-kill";

/// Prints the start, progress and end of every operation on stdout.
struct PrintEvents;

impl madplan::core::EventSink for PrintEvents {
    fn event(&self, event: &madplan::core::Event) {
        use std::io::Write;
        let line = match event {
            madplan::core::Event::Started { address, .. } => format!("start {address}"),
            madplan::core::Event::Progress { address, .. } => format!("wait {address}"),
            madplan::core::Event::Finished { address, .. }
            | madplan::core::Event::Failed { address, .. } => format!("end {address}"),
            _ => return,
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{KILL_LINE} {line}");
        let _ = out.flush();
    }
}

/// The kill test's environment: staging named `name`, every provider at
/// the URLs the parent passes.
async fn kill_env(name: &str, urls: &Urls) -> Environment {
    let settings = settings_at(
        &Keys::fixed(),
        &FakeConfig::default().service_account.0,
        urls,
        None,
    )
    .await;
    madplan::stack::environment(settings, &kill_config(name))
}

/// The kill test's configuration: staging named `name`.
fn kill_config(name: &str) -> StackConfig {
    let mut config = StackConfig::staging(ZONE);
    config.name = name.to_string();
    apart(config)
}

/// The child: one apply of the stack, printing its operations, until it is
/// killed.
#[tokio::test]
#[ignore = "run by the_stack_killed_inside_operations_of_every_kind_converges as a child process"]
async fn child_stack_apply() {
    let var = |k: &str| std::env::var(k).unwrap();
    let urls = Urls {
        aws: var("MADPLAN_KILL_AWS"),
        atlas: var("MADPLAN_KILL_ATLAS"),
        cloudflare: var("MADPLAN_KILL_CLOUDFLARE"),
        datadog: var("MADPLAN_KILL_DATADOG"),
    };
    let env = kill_env(&var("MADPLAN_KILL_ENV"), &urls).await;
    let mut e = Engine::new(env, LocalStateStore::new(var("MADPLAN_KILL_STATE")))
        .with_events(std::sync::Arc::new(PrintEvents));
    e.options_mut().retry.min_delay = Duration::from_millis(10);
    e.options_mut().retry.max_delay = Duration::from_millis(50);
    let result = match e.plan().await {
        Ok(plan) => e.apply(&plan).await.map(|_| ()),
        Err(err) => Err(err),
    };
    match result {
        Ok(()) => println!("{KILL_LINE} done"),
        Err(err) => println!(
            "{KILL_LINE} failed {}",
            err.to_string().replace('\n', " | ")
        ),
    }
}

/// Where the kill rounds aim.
#[derive(Clone, Copy, PartialEq)]
enum KillAt {
    /// Just after an operation of a kind not yet caught starts (and inside
    /// a wait of a kind not yet killed in one, should a wait report).
    EveryKind,
    /// Only inside waits (an operation that reported progress), once per
    /// kind.
    Waits,
}

/// What the kill rounds did.
#[derive(Default)]
struct Kills {
    /// The kinds with an operation open at a kill.
    caught: std::collections::BTreeSet<String>,
    /// The operations killed inside their wait.
    in_a_wait: Vec<String>,
    /// Each kill: its round and the operations open.
    rounds: Vec<(usize, Vec<String>)>,
}

impl Kills {
    /// The kinds killed inside their wait.
    fn waited(&self) -> std::collections::BTreeSet<String> {
        self.in_a_wait.iter().map(|a| kind_of(a)).collect()
    }
}

/// The kind of an operation's address.
fn kind_of(address: &str) -> String {
    address
        .parse::<madplan::core::Address>()
        .map_or_else(|_| address.to_string(), |a| a.kind().to_string())
}

/// Applies staging `name` in a child process through the proxies at
/// `urls`, killing it where `at` says, taking the lock over and starting
/// again after each kill, until an apply finishes (at most 60 rounds).
async fn kill_until_done(name: &str, state: &std::path::Path, urls: &Urls, at: KillAt) -> Kills {
    use std::collections::BTreeMap as Map;
    use std::io::BufRead;

    let mut kills = Kills::default();
    for round in 0..60 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["child_stack_apply", "--exact", "--ignored", "--nocapture"])
            .env("MADPLAN_KILL_ENV", name)
            .env("MADPLAN_KILL_STATE", state)
            .env("MADPLAN_KILL_AWS", &urls.aws)
            .env("MADPLAN_KILL_ATLAS", &urls.atlas)
            .env("MADPLAN_KILL_CLOUDFLARE", &urls.cloudflare)
            .env("MADPLAN_KILL_DATADOG", &urls.datadog)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.strip_prefix(KILL_LINE) {
                    let _ = tx.send(rest.trim().to_string());
                }
            }
        });
        // Operations started and not ended: address -> in a wait.
        let mut open: Map<String, bool> = Map::new();
        let track = |open: &mut Map<String, bool>, line: &str| {
            if let Some(a) = line.strip_prefix("start ") {
                open.insert(a.to_string(), false);
            } else if let Some(a) = line.strip_prefix("wait ") {
                open.insert(a.to_string(), true);
            } else if let Some(a) = line.strip_prefix("end ") {
                open.remove(a);
            }
        };
        let mut outcome = None;
        let mut killed = false;
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while let Ok(Some(line)) = tokio::time::timeout_at(deadline.into(), rx.recv()).await {
            track(&mut open, &line);
            if line == "done" || line.starts_with("failed") {
                outcome = Some(line);
                break;
            }
            let due = match (at, line.split_once(' ')) {
                (KillAt::EveryKind, Some(("start", a))) => !kills.caught.contains(&kind_of(a)),
                (_, Some(("wait", a))) => !kills.waited().contains(&kind_of(a)),
                _ => false,
            };
            if due {
                // A few milliseconds in: the operation's first request is
                // on its way (each takes 30 ms at least), or its wait is
                // sleeping between two polls.
                // 0 to 14 ms, varied from kill to kill.
                let pause = Duration::from_millis((kills.rounds.len() as u64 * 7) % 15);
                tokio::time::sleep(pause).await;
                child.kill().unwrap(); // SIGKILL
                killed = true;
                break;
            }
        }
        if !killed && outcome.is_none() {
            // The deadline passed with the child still silent: it goes, and
            // the round fails below.
            let _ = child.kill();
        }
        child.wait().unwrap();
        reader.join().unwrap();
        // What the child printed before it died settles what was open.
        while let Ok(line) = rx.try_recv() {
            track(&mut open, &line);
            if line == "done" || line.starts_with("failed") {
                outcome = Some(line);
            }
        }
        if !killed {
            match outcome.as_deref() {
                Some("done") => return kills,
                other => panic!("round {round}: the apply ended without a kill: {other:?}"),
            }
        }
        let inside: Vec<String> = open.keys().cloned().collect();
        for (address, waiting) in &open {
            kills.caught.insert(kind_of(address));
            if *waiting {
                kills.in_a_wait.push(address.clone());
            }
        }
        kills.rounds.push((round, inside));
        // Requests in flight at the kill still land (as they would at the
        // providers); an operator re-runs after that.
        tokio::time::sleep(Duration::from_millis(700)).await;
        let store = LocalStateStore::new(state);
        if let Some(holder) = madplan::core::StateStore::lock_holder(&store)
            .await
            .unwrap()
        {
            madplan::core::StateStore::force_unlock(&store, holder.id)
                .await
                .unwrap();
        }
    }
    panic!("no apply finished in 60 rounds: {:?}", kills.rounds);
}

/// After the kill rounds of staging `name`: a plan is clean, nothing is
/// left pending, and the emulators hold exactly what the state does.
/// Returns the plan.
async fn converged_after_kills(
    f: &Fakes,
    name: &str,
    state: &std::path::Path,
    urls: &Urls,
) -> madplan::core::Plan {
    let config = kill_config(name);
    let e = Engine::new(kill_env(name, urls).await, LocalStateStore::new(state));
    let plan = e.plan().await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render());
    emulators_hold_the_state(f, &config, &e).await;
    let s = e.load_state().await.unwrap().unwrap();
    assert!(s.resources.values().all(|r| !r.pending));
    plan
}

/// SIGKILL inside operations of every kind of the stack. Every request of
/// every provider takes 30 ms more (the proxies' latency), so operations
/// last; a child process applies staging and prints each operation's start,
/// progress and end; the parent kills it a few milliseconds after an
/// operation of a kind not yet caught starts (or reports progress in a
/// wait, for a kind not yet killed in one), waits for the requests in
/// flight to land, takes the lock over and starts the apply again, until
/// one finishes. Every kind of the stack is caught inside one of its
/// operations; in the end a plan is clean and the emulators hold exactly
/// what the state does. Then a second staging is applied the same way but
/// killed only inside waits (a fresh apply reaches them: the listener waits
/// for its certificate, which moto issues 5 s after the request), once per
/// kind that reports one, and converges too.
#[tokio::test]
async fn the_stack_killed_inside_operations_of_every_kind_converges() {
    use std::collections::BTreeSet;

    let _serial = common::region_lock();
    let f = fakes().await;
    let dir = tempfile::tempdir().unwrap();
    let proxies = f.proxies().await;
    let latency = Duration::from_millis(30);
    let slow = || Faults {
        latency,
        ..Faults::none()
    };
    proxies.set_all(slow());
    let urls = proxies.urls();

    let name = common::unique("k");
    let state = dir.path().join("kill.json");
    let kills = kill_until_done(&name, &state, &urls, KillAt::EveryKind).await;
    proxies.set_all(Faults::none());
    let plan = converged_after_kills(&f, &name, &state, &urls).await;
    // (Data sources are read at plan time: no operation to kill.)
    let kinds: BTreeSet<String> = plan
        .changes
        .iter()
        .filter(|c| c.action != madplan::core::Action::Read)
        .map(|c| c.kind.clone())
        .collect();
    let missed: Vec<_> = kinds.difference(&kills.caught).collect();
    assert!(
        missed.is_empty(),
        "kinds never caught inside an operation: {missed:?}"
    );
    eprintln!(
        "{} kills ({} to {} operations open at each), every one of the {} kinds caught inside an \
         operation, {} kill(s) inside a wait ({:?}); operations open at each kill: {:?}",
        kills.rounds.len(),
        kills.rounds.iter().map(|(_, o)| o.len()).min().unwrap_or(0),
        kills.rounds.iter().map(|(_, o)| o.len()).max().unwrap_or(0),
        kinds.len(),
        kills.in_a_wait.len(),
        kills.in_a_wait,
        kills.rounds
    );

    f.no_violations();

    // Inside waits: a second staging, from nothing, with Atlas's clusters
    // taking a second to become ready.
    let f = fakes_with(Keys::fixed(), Duration::from_secs(1)).await;
    let proxies = f.proxies().await;
    proxies.set_all(slow());
    let urls = proxies.urls();
    let waits = common::unique("w");
    let waits_state = dir.path().join("waits.json");
    let kills = kill_until_done(&waits, &waits_state, &urls, KillAt::Waits).await;
    proxies.set_all(Faults::none());
    converged_after_kills(&f, &waits, &waits_state, &urls).await;
    for kind in ["aws.listener", "atlas.cluster"] {
        assert!(
            kills.waited().contains(kind),
            "no kill landed inside the wait of {kind}: {:?}",
            kills.rounds
        );
    }
    eprintln!(
        "inside waits: {} kills, in the waits of {:?} (operations open at each kill: {:?})",
        kills.rounds.len(),
        kills.waited(),
        kills.rounds
    );
    f.no_violations();
}

/// Production applied from nothing with 50 ms added to every request of
/// every provider, against its critical path: the longest chain of
/// operations through the plan's dependency graph, each weighing its own
/// duration, and within it the requests each operation makes one after
/// another. A measurement (printed, quoted in the README), not a timed
/// test: it asserts that the measurement is whole (every operation ended,
/// every request of the apply attributed to the operation that made it).
#[tokio::test]
async fn production_s_apply_against_its_critical_path() {
    let _serial = common::region_lock();
    let f = fakes().await;
    let dir = tempfile::tempdir().unwrap();
    let proxies = f.proxies().await;
    let latency = Duration::from_millis(50);
    proxies.set_all(Faults {
        latency,
        ..Faults::none()
    });
    let config = production("critical");
    let figures = common::critical::Recorder::default()
        .measure(
            engine(f.env_via(&config, &proxies).await, &dir, "critical"),
            latency,
            "production from nothing, 50 ms per request",
            || proxies.requests(),
        )
        .await;
    // The zone's settings, each its own endpoint, are sent at once after
    // the encryption mode: the read, the mode, then the other five.
    let tls = &figures.ops["cloudflare.zone_settings.tls"];
    assert!(
        tls.calls >= 6 && tls.chain <= 3,
        "the zone settings' requests went one after another: {tls:?}"
    );
    f.no_violations();
}
