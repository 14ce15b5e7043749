//! The Atlas side of the production environment as the deployment guide
//! describes it, applied to the fake; what a no-op plan costs; and every
//! mistake reported at once before any call.

mod support;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use madplan_atlas::client::backup::Frequency;
use madplan_atlas::client::clusters::{CloudProvider, InstanceSize, TlsProtocol};
use madplan_atlas::resources::backup::{CrossRegionCopy, Hourly};
use madplan_atlas::resources::{
    AccessList, AccessListEntry, AuditFilter, Auditing, BackupSchedule, Cluster, Compute,
    ConnectionString, DatabaseUser, DatadogIntegration, DbRole, Project, ProjectLookup,
    ProjectSettings, Region, Retention, Storage,
};
use madplan_core::{Environment, Error};
use secrecy::SecretString;
use support::*;

const DB_PASSWORD: &str = "correct-horse-battery-staple-42";
const DD_KEY: &str = "0123456789abcdef0123456789abcdef";

/// The guide's database: M30 with compute auto-scaling (up to M60, down to
/// M30) and disk auto-scaling, three electable nodes in us-east-1, read
/// replicas in us-west-2 and eu-west-1, continuous backup kept 30 days with
/// point-in-time restore and a copy in us-west-2, access only from the
/// VPC and the NAT gateways, auditing of database access, metrics to
/// Datadog.
fn production(w: &World) -> Environment {
    let mut env = w.env("production");
    let project = env.read("main", ProjectLookup::named(ORG, "madplan-production"));
    let cluster = env.add(
        "main",
        Cluster::new(
            &project,
            "madplan-production",
            Compute::auto_scaled(InstanceSize::M30, InstanceSize::M60)
                .scale_down_to(InstanceSize::M30),
        )
        .storage(Storage::auto_scaled_from(40.0))
        .region(Region::electable(CloudProvider::Aws, "US_EAST_1", 7, 3))
        .region(Region::read_only(CloudProvider::Aws, "US_WEST_2", 1))
        .region(Region::read_only(CloudProvider::Aws, "EU_WEST_1", 1))
        .termination_protection(true)
        .tag("environment", "production"),
    );
    env.protect(&cluster);
    env.add(
        "main",
        BackupSchedule::for_cluster(&cluster).copy_to(
            CrossRegionCopy::to(CloudProvider::Aws, "US_WEST_2")
                .keep(Frequency::Hourly, Retention::days(30))
                .keep(Frequency::Daily, Retention::days(30)),
        ),
    );
    env.add(
        "main",
        AccessList::new(&project)
            .entry(AccessListEntry::cidr("10.0.0.0/16").note("VPC"))
            .entry(AccessListEntry::address(Ipv4Addr::new(203, 0, 113, 10)).note("NAT a"))
            .entry(AccessListEntry::address(Ipv4Addr::new(203, 0, 113, 11)).note("NAT b")),
    );
    let password = env.secret("db-password", "2026-01", SecretString::from(DB_PASSWORD));
    env.add(
        "api",
        DatabaseUser::scram(&project, "madplan-api", password)
            .role(DbRole::read_write("madplan"))
            .scope(&cluster),
    );
    env.add(
        "api-role",
        DatabaseUser::aws_iam_role(&project, "arn:aws:iam::123456789012:role/madplan-api")
            .role(DbRole::read_write("madplan"))
            .scope(&cluster),
    );
    env.add("main", Auditing::new(&project, AuditFilter::access()));
    let dd_key = env.secret("dd-api-key", "1", SecretString::from(DD_KEY));
    env.add(
        "main",
        DatadogIntegration::new(&project, dd_key, "datadoghq.com".parse().unwrap()),
    );
    env.export::<ConnectionString>("mongodb_uri", &cluster);
    env
}

#[tokio::test]
async fn the_production_database_applies_and_then_plans_clean() {
    let w = world().await;
    w.project("madplan-production").await;
    production(&w).validate().unwrap();
    let report = w.apply(production(&w)).await.unwrap();
    assert_eq!(report.created, 7, "{report:?}");
    let e = w.engine(production(&w));
    let before = w.requests();
    clean(&e.plan().await.unwrap());
    eprintln!(
        "no-op plan of the production Atlas side: {} requests",
        w.requests() - before
    );
    let uri = e.outputs().await.unwrap()["mongodb_uri"].clone().unwrap();
    assert!(
        uri.as_str()
            .unwrap()
            .starts_with("mongodb+srv://madplan-production.")
    );
    let state = w.state_text().await;
    assert!(!state.contains(DB_PASSWORD) && !state.contains(DD_KEY));
    // Every answer but the token endpoint's (not in the spec) was checked.
    assert_eq!(
        w.fake.answers_checked(),
        w.requests() - w.fake.token_requests()
    );
    w.no_violations();
}

/// `n` clusters, `n` users and an access list of `n` entries, plus one of
/// each per-project kind.
fn many(w: &World, group: &str, n: u32) -> Environment {
    let mut env = w.env("staging");
    let password = env.secret("pw", "1", SecretString::from(DB_PASSWORD));
    let mut list = AccessList::new(group);
    let mut first = None;
    for i in 0..n {
        let c = env.add(
            &format!("c{i}"),
            Cluster::new(group, &format!("c{i}"), Compute::fixed(InstanceSize::M10))
                .region(Region::electable(CloudProvider::Aws, "US_EAST_1", 7, 3)),
        );
        first.get_or_insert(c);
        env.add(
            &format!("u{i}"),
            DatabaseUser::scram(group, &format!("user-{i}"), password.clone())
                .role(DbRole::read("madplan")),
        );
        list = list.entry(AccessListEntry::address(Ipv4Addr::new(
            198,
            51,
            100,
            i as u8 + 1,
        )));
    }
    env.add("main", list);
    let first = first.unwrap();
    env.add("c0", BackupSchedule::for_cluster(&first));
    env.add("main", Auditing::new(group, AuditFilter::Everything));
    env
}

/// The requests of a no-op plan, by what they read.
async fn noop_plan_requests(n: u32) -> BTreeMap<String, usize> {
    let w = world().await;
    let group = w.project("madplan-staging").await;
    w.apply(many(&w, &group, n)).await.unwrap();
    let before = w.fake.requests().len();
    clean(&w.plan(many(&w, &group, n)).await);
    let mut by_kind = BTreeMap::new();
    for r in &w.fake.requests()[before..] {
        let what = [
            "schedule",
            "clusters",
            "databaseUsers",
            "accessList",
            "auditLog",
            "integrations",
            "settings",
        ]
        .into_iter()
        .find(|k| r.contains(&format!("/{k}")))
        .unwrap_or("groups")
        .to_string();
        *by_kind.entry(what).or_insert(0) += 1;
    }
    w.no_violations();
    by_kind
}

#[tokio::test]
async fn a_no_op_plan_costs_the_same_for_3_or_10_of_a_kind() {
    let three = noop_plan_requests(3).await;
    let ten = noop_plan_requests(10).await;
    eprintln!("no-op plan requests (3 of each kind): {three:?}");
    assert_eq!(
        three, ten,
        "the refresh cost grows with the number of resources"
    );
    // One list per kind per project, one read per singleton, one list of
    // projects per listing kind.
    assert_eq!(three.get("clusters"), Some(&1), "{three:?}");
    assert_eq!(three.get("databaseUsers"), Some(&1), "{three:?}");
    assert_eq!(three.get("accessList"), Some(&1), "{three:?}");
    assert_eq!(three.get("groups"), Some(&3), "{three:?}");
    assert_eq!(three.get("schedule"), Some(&1), "{three:?}");
    assert_eq!(three.get("auditLog"), Some(&1), "{three:?}");
    assert_eq!(three.values().sum::<usize>(), 8, "{three:?}");
}

#[tokio::test]
async fn every_mistake_is_reported_at_once_before_any_call() {
    let w = world().await;
    let mut env = w.env("production");
    let project = env.add(
        "main",
        Project::new(ORG, "madplan-production").settings(ProjectSettings {
            data_explorer: Some(true),
            ..ProjectSettings::default()
        }),
    );
    let mut bad = Cluster::new(&project, "-prod", Compute::fixed(InstanceSize::M10))
        .region(Region::electable(CloudProvider::Aws, "US_EAST_1", 6, 2))
        .region(Region::read_only(CloudProvider::Aws, "us-west-2", 1));
    bad.minimum_tls = TlsProtocol::Tls11;
    bad.backup = false;
    let cluster = env.add("main", bad);
    let mut schedule = BackupSchedule::for_cluster(&cluster);
    schedule.daily = Some(Retention::days(7));
    schedule.hourly = Some(Hourly {
        every_hours: 5,
        keep: Retention::weeks(1),
    });
    schedule.restore_window_days = 2;
    env.add("main", schedule);
    env.add(
        "main",
        AccessList::new(&project).entry(AccessListEntry::cidr("0.0.0.0/0")),
    );
    let mut user = DatabaseUser::aws_iam_role(&project, "madplan-api");
    user.password = Some(env.secret("pw", "1", SecretString::from("x")));
    env.add(
        "api",
        user.role(DbRole::custom("readAnyDatabase", "madplan")),
    );
    let mut audit = Auditing::new(&project, AuditFilter::access());
    audit.enabled = false;
    env.add("main", audit);
    let err = env.validate().unwrap_err();
    let Error::Invalid(problems) = &err else {
        panic!("{err}")
    };
    let text = err.to_string();
    for expected in [
        "atlas.project.main: settings.data_explorer",
        "atlas.cluster.main: name",
        "atlas.cluster.main: regions: the primary's region",
        "atlas.cluster.main: regions: 2 electable nodes",
        "atlas.cluster.main: regions: \"us-west-2\" is not an Atlas region name",
        "atlas.cluster.main: continuous_backup: continuous backup (point-in-time restore) needs backup",
        "atlas.cluster.main: minimum_tls",
        "atlas.cluster.main: compute: production runs on M30 or larger",
        "atlas.cluster.main: termination_protection",
        "atlas.backup_schedule.main: hourly: Atlas does not keep hourly snapshots for 1 weeks",
        "atlas.backup_schedule.main: hourly.every_hours",
        "atlas.backup_schedule.main: daily: daily snapshots are kept 7 days",
        "atlas.backup_schedule.main: restore_window_days",
        "atlas.backup_schedule.main: copies: production copies its backups",
        "atlas.backup_schedule.main: cluster: atlas.cluster.main has backup off",
        "atlas.access_list.main: entries: 0.0.0.0/0 lets the whole internet in",
        "atlas.database_user.api: password: an AWS IAM user has no password",
        "atlas.database_user.api: username",
        "atlas.database_user.api: roles: readAnyDatabase@madplan exists only on admin",
        "atlas.auditing.main: filter: production logs database access",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(problems.0.len() >= 20, "{text}");
    assert_eq!(w.requests(), 0, "validation made no call");
}
