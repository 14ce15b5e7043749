//! Every other Atlas kind through the engine against the fake: apply, a
//! clean plan, a drift made with the client reported field by field and
//! repaired, destroy leaving nothing of madplan's and everything foreign as
//! it was.

mod support;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use madplan_atlas::client::access::AccessEntry;
use madplan_atlas::client::auditing::AuditLog;
use madplan_atlas::client::backup::{Frequency, RetentionUnit};
use madplan_atlas::client::clusters::{CloudProvider, InstanceSize};
use madplan_atlas::client::integrations::{Datadog, DatadogRegion};
use madplan_atlas::client::projects::{self as api_projects, Tag};
use madplan_atlas::client::users::{DatabaseUser as ApiUser, Role};
use madplan_atlas::resources::backup::CrossRegionCopy;
use madplan_atlas::resources::{
    AccessList, AccessListEntry, AuditFilter, Auditing, BackupSchedule, Cluster, Compute,
    DatabaseUser, DatadogIntegration, DbRole, Project, ProjectLookup, ProjectSettings, Region,
    Retention,
};
use madplan_core::{
    Environment, Found, Kinds, Observed, OpCx, Provider, ProviderError, RefreshCx, Resource,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support::*;

// ---------------------------------------------------------------- projects

fn project_env(w: &World) -> Environment {
    let mut env = w.env("staging");
    env.add(
        "main",
        Project::new(ORG, "madplan-staging")
            .settings(ProjectSettings {
                data_explorer: Some(false),
                performance_advisor: Some(true),
                ..ProjectSettings::default()
            })
            .tag("team", "platform"),
    );
    env
}

#[tokio::test]
async fn a_project_is_made_tagged_repaired_and_destroyed_leaving_others() {
    let w = world().await;
    let foreign = w
        .client
        .create_tagged_project("someone-elses", ORG, &[Tag::new("owner", "data-team")])
        .await
        .unwrap();
    w.apply(project_env(&w)).await.unwrap();
    let made = w
        .fake
        .projects_json()
        .into_iter()
        .find(|p| p["name"] == "madplan-staging")
        .unwrap();
    let id = made["id"].as_str().unwrap().to_string();
    let keys: Vec<&str> = made["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&"madplan:lineage") && keys.contains(&"team"),
        "{keys:?}"
    );
    assert_eq!(
        w.client
            .project_settings(&id)
            .await
            .unwrap()
            .is_data_explorer_enabled,
        Some(false)
    );
    clean(&w.plan(project_env(&w)).await);

    // Drift: the Data Explorer turned on and a tag changed by hand.
    w.client
        .update_project_settings(
            &id,
            &api_projects::ProjectSettings {
                is_data_explorer_enabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut tags = w.client.project(&id).await.unwrap().tags;
    tags.retain(|t| t.key != "team");
    tags.push(Tag::new("team", "someone"));
    w.client
        .update_project(&id, None, Some(&tags))
        .await
        .unwrap();
    let plan = w.plan(project_env(&w)).await;
    assert_eq!(fields(&plan, "atlas.project.main"), ["settings", "tags"]);
    w.apply(project_env(&w)).await.unwrap();
    assert_eq!(
        w.client
            .project_settings(&id)
            .await
            .unwrap()
            .is_data_explorer_enabled,
        Some(false)
    );
    let tags = w.client.project(&id).await.unwrap().tags;
    assert!(tags.contains(&Tag::new("team", "platform")));
    assert!(
        tags.iter().any(|t| t.key == "madplan:lineage"),
        "markers kept: {tags:?}"
    );
    clean(&w.plan(project_env(&w)).await);

    let before = w
        .fake
        .projects_json()
        .into_iter()
        .find(|p| p["id"] == foreign.id.as_str());
    w.destroy(project_env(&w), false).await.unwrap();
    let after = w.fake.projects_json();
    assert!(
        !after.iter().any(|p| p["id"] == id.as_str()),
        "madplan's project is gone"
    );
    assert_eq!(
        after.into_iter().find(|p| p["id"] == foreign.id.as_str()),
        before
    );
    w.no_violations();
}

#[tokio::test]
async fn an_existing_project_is_found_by_name_in_its_organization() {
    let w = world().await;
    let id = w.project("madplan-production").await;
    w.client
        .create_project("madplan-production-old", ORG)
        .await
        .unwrap();
    w.client
        .create_project("madplan-production", "5f00000000000000000000bb")
        .await
        .unwrap();
    let env = || {
        let mut env = w.env("staging");
        let p = env.read("prod", ProjectLookup::named(ORG, "madplan-production"));
        env.add("audit", Auditing::new(&p, AuditFilter::access()));
        env
    };
    let plan = w.plan(env()).await;
    let read = plan.change("atlas.project_lookup.prod").unwrap();
    assert_eq!(
        read.prior_outputs.as_ref().unwrap()["project_id"],
        id.as_str()
    );
    w.apply(env()).await.unwrap();
    assert_eq!(w.fake.audit_json(&id)["enabled"], true);

    let mut missing = w.env("staging");
    missing.read("nope", ProjectLookup::named(ORG, "madplan-nowhere"));
    let err = w.engine(missing).plan().await.unwrap_err().to_string();
    assert!(
        err.contains("no project named \"madplan-nowhere\""),
        "{err}"
    );
    w.no_violations();
}

// --------------------------------------------------------- backup schedules

fn cluster_spec(group: &str) -> Cluster {
    Cluster::new(
        group,
        "prod",
        Compute::auto_scaled(InstanceSize::M30, InstanceSize::M60),
    )
    .region(Region::electable(CloudProvider::Aws, "US_EAST_1", 7, 3))
    .region(Region::read_only(CloudProvider::Aws, "US_WEST_2", 1))
}

fn schedule_env(w: &World, group: &str) -> Environment {
    let mut env = w.env("staging");
    let c = env.add("main", cluster_spec(group));
    env.add(
        "main",
        BackupSchedule::for_cluster(&c).copy_to(
            CrossRegionCopy::to(CloudProvider::Aws, "US_WEST_2")
                .keep(Frequency::Daily, Retention::days(30))
                .keep(Frequency::Hourly, Retention::days(30)),
        ),
    );
    env
}

#[tokio::test]
async fn a_backup_schedule_is_written_repaired_and_reset_by_delete() {
    let w = world().await;
    let group = w.project("madplan-staging").await;
    w.apply(schedule_env(&w, &group)).await.unwrap();
    let s = w.fake.schedule_json(&group, "prod").unwrap();
    let items = s["policies"][0]["policyItems"].as_array().unwrap();
    let daily = items
        .iter()
        .find(|i| i["frequencyType"] == "daily")
        .unwrap();
    assert_eq!(
        (
            daily["retentionValue"].clone(),
            daily["retentionUnit"].clone()
        ),
        (json!(30), json!("days"))
    );
    assert_eq!(s["restoreWindowDays"], 7);
    assert_eq!(s["copyPolicyItemsEnabled"], true);
    let zone =
        w.fake.cluster_json(&group, "prod").unwrap()["replicationSpecs"][0]["zoneId"].clone();
    assert_eq!(s["copySettings"][0]["zoneId"], zone);
    assert_eq!(s["copySettings"][0]["shouldCopyOplogs"], true);
    assert!(
        s["copySettings"][0].get("frequencies").is_none(),
        "the deprecated form is not sent"
    );
    clean(&w.plan(schedule_env(&w, &group)).await);

    // Drift: daily retention lowered to 7 days by hand.
    let mut live = w.client.backup_schedule(&group, "prod").await.unwrap();
    for i in &mut live.policies[0].policy_items {
        if i.frequency_type == Frequency::Daily {
            i.retention_value = 7;
        }
    }
    w.client
        .update_backup_schedule(&group, "prod", &live)
        .await
        .unwrap();
    let plan = w.plan(schedule_env(&w, &group)).await;
    assert_eq!(fields(&plan, "atlas.backup_schedule.main"), ["daily"]);
    let f = &plan.change("atlas.backup_schedule.main").unwrap().fields[0];
    assert_eq!(f.before, Some(json!({"value": 7, "unit": "days"})));
    assert_eq!(f.after, Some(json!({"value": 30, "unit": "days"})));
    w.apply(schedule_env(&w, &group)).await.unwrap();
    let live = w.client.backup_schedule(&group, "prod").await.unwrap();
    let daily = live.policies[0]
        .policy_items
        .iter()
        .find(|i| i.frequency_type == Frequency::Daily)
        .unwrap();
    assert_eq!(
        (daily.retention_value, &daily.retention_unit),
        (30, &RetentionUnit::Days)
    );
    clean(&w.plan(schedule_env(&w, &group)).await);

    // Taken out of the configuration: the cluster gets Atlas's default
    // schedule back, and lives on.
    let mut env = w.env("staging");
    env.add("main", cluster_spec(&group));
    let plan = w.plan(env).await;
    assert_eq!(plan.summary().delete, 1, "{}", plan.render());
    let mut env = w.env("staging");
    env.add("main", cluster_spec(&group));
    w.apply(env).await.unwrap();
    let reset = w.fake.schedule_json(&group, "prod").unwrap();
    assert_eq!(reset["restoreWindowDays"], 2);
    assert_eq!(reset["copySettings"], json!([]));
    assert!(w.fake.cluster_json(&group, "prod").is_some());
    w.no_violations();
}

// ------------------------------------------------------------ access lists

/// A stand-in for an AWS elastic IP: another provider's resource whose
/// output the access list takes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Eip {
    zone: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct EipOutputs {
    id: String,
    public_ip: Ipv4Addr,
}

type Eips = Arc<Mutex<BTreeMap<String, (Eip, Ipv4Addr)>>>;

struct Net(Eips);

impl Provider for Net {
    const NAME: &'static str = "net";
    fn register(kinds: &mut Kinds) {
        kinds.register::<Eip>();
    }
}

impl Resource for Eip {
    const KIND: &'static str = "net.eip";
    type Provider = Net;
    type Outputs = EipOutputs;

    async fn refresh(net: &Net, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let all = net.0.lock().unwrap().clone();
        Ok(all
            .into_iter()
            .filter_map(|(id, (spec, ip))| {
                let claim = cx.claim(|o| o.id == id, |_| None)?;
                Some(Found::new(claim, spec, EipOutputs { id, public_ip: ip }))
            })
            .collect())
    }
    async fn create(&self, net: &Net, _: &OpCx) -> Result<EipOutputs, ProviderError> {
        let mut all = net.0.lock().unwrap();
        let n = all.len() as u8 + 10;
        let ip = Ipv4Addr::new(203, 0, 113, n);
        let id = format!("eipalloc-{n}");
        all.insert(id.clone(), (self.clone(), ip));
        Ok(EipOutputs { id, public_ip: ip })
    }
    async fn update(
        &self,
        p: &Observed<Self>,
        _: &[String],
        _: &Net,
        _: &OpCx,
    ) -> Result<EipOutputs, ProviderError> {
        Ok(p.outputs.clone())
    }
    async fn delete(o: &EipOutputs, net: &Net, _: &OpCx) -> Result<(), ProviderError> {
        net.0.lock().unwrap().remove(&o.id);
        Ok(())
    }
}

fn access_env(w: &World, eips: &Eips, group: &str) -> Environment {
    let mut env = w.env("staging").with_provider(Net(eips.clone()));
    let nat = env.add(
        "nat-a",
        Eip {
            zone: "us-east-1a".into(),
        },
    );
    env.add(
        "main",
        AccessList::new(group)
            .entry(AccessListEntry::cidr("10.0.0.0/16").note("VPC"))
            .entry(AccessListEntry::address(nat.output::<Ipv4Addr>("public_ip")).note("NAT a"))
            .entry(AccessListEntry::security_group("sg-0123456789abcdef0")),
    );
    env
}

fn entry_with<'a>(list: &'a [Value], value: &str) -> Option<&'a Value> {
    list.iter().find(|e| {
        [&e["cidrBlock"], &e["ipAddress"], &e["awsSecurityGroup"]]
            .iter()
            .any(|v| *v == value)
    })
}

#[tokio::test]
async fn the_access_list_takes_other_outputs_removes_hand_made_entries_and_keeps_other_states() {
    let w = world().await;
    let group = w.project("madplan-staging").await;
    let eips = Eips::default();
    // Another state's entry, and a hand-made one, before madplan's.
    w.client
        .add_access(
            &group,
            &[
                AccessEntry::cidr("192.0.2.0/24").comment("[madplan staging/main 0badc0de] theirs"),
                AccessEntry::address("198.51.100.1").comment("office VPN"),
            ],
        )
        .await
        .unwrap();
    let theirs = entry_with(&w.fake.access_json(&group), "192.0.2.0/24")
        .unwrap()
        .clone();

    let plan = w.plan(access_env(&w, &eips, &group)).await;
    assert!(
        plan.render().contains("known after apply"),
        "{}",
        plan.render()
    );
    w.apply(access_env(&w, &eips, &group)).await.unwrap();
    let list = w.fake.access_json(&group);
    let nat = entry_with(&list, "203.0.113.10").expect("the NAT's address from its output");
    assert!(
        nat["comment"]
            .as_str()
            .unwrap()
            .starts_with("[madplan staging/main ")
            && nat["comment"].as_str().unwrap().ends_with("] NAT a"),
        "{nat}"
    );
    assert!(entry_with(&list, "sg-0123456789abcdef0").is_some());
    // The hand-made entry was not in the plan: it is still there, and the
    // next plan shows it as drift.
    assert!(entry_with(&list, "198.51.100.1").is_some());
    let plan = w.plan(access_env(&w, &eips, &group)).await;
    assert_eq!(fields(&plan, "atlas.access_list.main"), ["entries"]);
    w.apply(access_env(&w, &eips, &group)).await.unwrap();
    clean(&w.plan(access_env(&w, &eips, &group)).await);

    // Drift: an entry added behind madplan's back, reported and removed.
    w.client
        .add_access(&group, &[AccessEntry::cidr("0.0.0.0/0")])
        .await
        .unwrap();
    let plan = w.plan(access_env(&w, &eips, &group)).await;
    assert_eq!(fields(&plan, "atlas.access_list.main"), ["entries"]);
    assert!(plan.render().contains("anywhere"), "{}", plan.render());
    w.apply(access_env(&w, &eips, &group)).await.unwrap();
    let list = w.fake.access_json(&group);
    assert!(entry_with(&list, "0.0.0.0/0").is_none());
    assert_eq!(
        entry_with(&list, "192.0.2.0/24"),
        Some(&theirs),
        "the other state's entry"
    );
    clean(&w.plan(access_env(&w, &eips, &group)).await);

    // Destroy: madplan's entries go; the other state's and one added by
    // hand since stay exactly as they were.
    w.client
        .add_access(
            &group,
            &[AccessEntry::address("198.51.100.2").comment("added later")],
        )
        .await
        .unwrap();
    let later = entry_with(&w.fake.access_json(&group), "198.51.100.2")
        .unwrap()
        .clone();
    w.destroy(access_env(&w, &eips, &group), false)
        .await
        .unwrap();
    let list = w.fake.access_json(&group);
    assert_eq!(list.len(), 2, "{list:#?}");
    assert_eq!(entry_with(&list, "192.0.2.0/24"), Some(&theirs));
    assert_eq!(entry_with(&list, "198.51.100.2"), Some(&later));
    w.no_violations();
}

#[tokio::test]
async fn opening_the_list_to_the_internet_must_be_said_explicitly() {
    let w = world().await;
    let mut env = w.env("staging");
    env.add(
        "main",
        AccessList::new("5f00000000000000000000cc").entry(AccessListEntry::cidr("0.0.0.0/0")),
    );
    let err = env.validate().unwrap_err().to_string();
    assert!(err.contains("lets the whole internet in"), "{err}");
    assert!(err.contains("AccessListEntry::anywhere()"), "{err}");
    let mut env = w.env("staging");
    env.add(
        "main",
        AccessList::new("5f00000000000000000000cc").entry(AccessListEntry::anywhere()),
    );
    env.validate().unwrap();
    assert_eq!(w.requests(), 0);
}

// ---------------------------------------------------------- database users

fn users_env(w: &World, group: &str, version: &str, password: &str) -> Environment {
    let mut env = w.env("staging");
    let secret = env.secret(
        "app-db-password",
        version,
        SecretString::from(password.to_string()),
    );
    env.add(
        "api",
        DatabaseUser::scram(group, "madplan-api", secret)
            .role(DbRole::read_write("madplan"))
            .role(DbRole::read("analytics").collection("events"))
            .scope("prod")
            .description("the NestJS API"),
    );
    env.add(
        "app-role",
        DatabaseUser::aws_iam_role(group, "arn:aws:iam::123456789012:role/madplan-api")
            .role(DbRole::read_write("madplan")),
    );
    env
}

const FIRST: &str = "first-password-0123456789";
const SECOND: &str = "second-password-9876543210";

#[tokio::test]
async fn database_users_are_repaired_and_passwords_rotate_by_version_only() {
    let w = world().await;
    let group = w.project("madplan-staging").await;
    w.client
        .create_database_user(
            &group,
            &ApiUser::scram(
                "analyst",
                SecretString::from("their-own-password"),
                vec![Role {
                    role_name: "read".into(),
                    database_name: "madplan".into(),
                    collection_name: None,
                }],
            ),
        )
        .await
        .unwrap();
    let foreign = w
        .fake
        .users_json(&group)
        .into_iter()
        .find(|u| u["username"] == "analyst");
    w.apply(users_env(&w, &group, "v1", FIRST)).await.unwrap();
    assert_eq!(
        w.fake
            .user_password(&group, "admin", "madplan-api")
            .as_deref(),
        Some(FIRST)
    );
    let iam = w
        .client
        .database_user(
            &group,
            "$external",
            "arn:aws:iam::123456789012:role/madplan-api",
        )
        .await
        .unwrap();
    assert!(
        iam.labels
            .iter()
            .any(|l| l.key == "madplan:address" && l.value == "atlas.database_user.app-role")
    );
    clean(&w.plan(users_env(&w, &group, "v1", FIRST)).await);

    // Drift: a role changed by hand.
    let mut changed = ApiUser::scram(
        "madplan-api",
        SecretString::from("unused-unused"),
        vec![Role {
            role_name: "dbAdmin".into(),
            database_name: "madplan".into(),
            collection_name: None,
        }],
    );
    changed.labels = w
        .client
        .database_user(&group, "admin", "madplan-api")
        .await
        .unwrap()
        .labels;
    w.client
        .update_database_user(&group, &changed, false)
        .await
        .unwrap();
    let plan = w.plan(users_env(&w, &group, "v1", FIRST)).await;
    assert_eq!(
        fields(&plan, "atlas.database_user.api"),
        ["roles", "scopes"]
    );
    w.apply(users_env(&w, &group, "v1", FIRST)).await.unwrap();
    let body = w
        .fake
        .bodies("PATCH", "/databaseUsers/admin/madplan-api")
        .pop()
        .unwrap();
    assert!(
        body.get("password").is_none(),
        "a repair does not send the password: {body}"
    );
    assert_eq!(
        w.fake
            .user_password(&group, "admin", "madplan-api")
            .as_deref(),
        Some(FIRST)
    );
    clean(&w.plan(users_env(&w, &group, "v1", FIRST)).await);

    // A new value under the same version is not seen: rotation is by
    // version.
    clean(&w.plan(users_env(&w, &group, "v1", SECOND)).await);
    let plan = w.plan(users_env(&w, &group, "v2", SECOND)).await;
    assert_eq!(fields(&plan, "atlas.database_user.api"), ["password"]);
    let text = format!("{}{}", plan.render(), plan.to_json());
    assert!(
        !text.contains(FIRST) && !text.contains(SECOND),
        "a password leaked into the plan"
    );
    w.apply(users_env(&w, &group, "v2", SECOND)).await.unwrap();
    assert_eq!(
        w.fake
            .user_password(&group, "admin", "madplan-api")
            .as_deref(),
        Some(SECOND)
    );
    clean(&w.plan(users_env(&w, &group, "v2", SECOND)).await);
    let state = w.state_text().await;
    assert!(
        !state.contains(FIRST) && !state.contains(SECOND),
        "a password leaked into state"
    );

    w.destroy(users_env(&w, &group, "v2", SECOND), false)
        .await
        .unwrap();
    let left = w.fake.users_json(&group);
    assert_eq!(left.len(), 1, "{left:#?}");
    assert_eq!(left.into_iter().next(), foreign, "the analyst is untouched");
    w.no_violations();
}

// ---------------------------------------------------------------- auditing

fn audit_env(w: &World, group: &str) -> Environment {
    let mut env = w.env("staging");
    env.add("main", Auditing::new(group, AuditFilter::access()));
    env
}

#[tokio::test]
async fn auditing_is_turned_on_repaired_and_off_on_delete() {
    let w = world().await;
    let group = w.project("madplan-staging").await;
    w.apply(audit_env(&w, &group)).await.unwrap();
    let a = w.fake.audit_json(&group);
    assert_eq!(a["enabled"], true);
    let filter: Value = serde_json::from_str(a["auditFilter"].as_str().unwrap()).unwrap();
    assert!(
        filter["atype"]["$in"]
            .as_array()
            .unwrap()
            .contains(&json!("authenticate"))
    );
    clean(&w.plan(audit_env(&w, &group)).await);

    w.client
        .update_audit_log(
            &group,
            &AuditLog {
                enabled: false,
                audit_authorization_success: false,
                audit_filter: Some(r#"{"atype":"authenticate"}"#.into()),
                configuration_type: None,
            },
        )
        .await
        .unwrap();
    let plan = w.plan(audit_env(&w, &group)).await;
    assert_eq!(fields(&plan, "atlas.auditing.main"), ["enabled", "filter"]);
    w.apply(audit_env(&w, &group)).await.unwrap();
    assert_eq!(w.fake.audit_json(&group)["enabled"], true);
    clean(&w.plan(audit_env(&w, &group)).await);

    w.destroy(audit_env(&w, &group), false).await.unwrap();
    let a = w.fake.audit_json(&group);
    assert_eq!(
        (a["enabled"].clone(), a["auditFilter"].clone()),
        (json!(false), json!("{}"))
    );
    w.no_violations();
}

// ------------------------------------------------------------------ Datadog

const DD_KEY_1: &str = "0123456789abcdef0123456789abcdef";
const DD_KEY_2: &str = "fedcba9876543210fedcba9876543210";

fn dd_env(w: &World, group: &str, version: &str, key: &str) -> Environment {
    let mut env = w.env("staging");
    let secret = env.secret("dd-api-key", version, SecretString::from(key.to_string()));
    env.add(
        "main",
        DatadogIntegration::new(group, secret, "datadoghq.eu".parse().unwrap()),
    );
    env
}

#[tokio::test]
async fn the_datadog_integration_follows_the_site_and_rotates_its_key_by_version() {
    let w = world().await;
    let group = w.project("madplan-staging").await;
    w.apply(dd_env(&w, &group, "v1", DD_KEY_1)).await.unwrap();
    let dd = w.fake.integrations_json(&group).pop().unwrap();
    assert_eq!(
        (dd["region"].clone(), dd["apiKey"].clone()),
        (json!("EU"), json!(DD_KEY_1))
    );
    clean(&w.plan(dd_env(&w, &group, "v1", DD_KEY_1)).await);

    // Drift: database metrics turned off by hand.
    let off = Datadog {
        api_key: SecretString::from(DD_KEY_1),
        region: DatadogRegion::Eu,
        send_database_metrics: false,
        send_collection_latency_metrics: false,
        send_query_stats_metrics: false,
        send_user_provided_resource_tags: true,
    };
    w.client.set_datadog(&group, &off, true).await.unwrap();
    let plan = w.plan(dd_env(&w, &group, "v1", DD_KEY_1)).await;
    assert_eq!(fields(&plan, "atlas.datadog.main"), ["database_metrics"]);
    w.apply(dd_env(&w, &group, "v1", DD_KEY_1)).await.unwrap();
    assert_eq!(
        w.fake.integrations_json(&group)[0]["sendDatabaseMetrics"],
        true
    );

    // Rotation: a new version of the key.
    let plan = w.plan(dd_env(&w, &group, "v2", DD_KEY_2)).await;
    assert_eq!(fields(&plan, "atlas.datadog.main"), ["api_key"]);
    w.apply(dd_env(&w, &group, "v2", DD_KEY_2)).await.unwrap();
    assert_eq!(w.fake.integrations_json(&group)[0]["apiKey"], DD_KEY_2);
    assert!(!w.state_text().await.contains(DD_KEY_2));
    clean(&w.plan(dd_env(&w, &group, "v2", DD_KEY_2)).await);

    // A key Datadog refuses: the error names the field, not the key.
    let err = w
        .apply(dd_env(&w, &group, "v3", "not-a-datadog-key"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("apiKey: must be a Datadog API key"), "{err}");
    assert!(!err.contains("not-a-datadog-key"), "{err}");

    w.destroy(dd_env(&w, &group, "v2", DD_KEY_2), false)
        .await
        .unwrap();
    assert!(w.fake.integrations_json(&group).is_empty());
    w.no_violations();
}

#[tokio::test]
async fn an_integration_made_by_someone_else_is_not_taken_over() {
    let w = world().await;
    let group = w.project("madplan-staging").await;
    let theirs = Datadog {
        api_key: SecretString::from(DD_KEY_2),
        region: DatadogRegion::Us,
        send_database_metrics: false,
        send_collection_latency_metrics: false,
        send_query_stats_metrics: false,
        send_user_provided_resource_tags: false,
    };
    w.client.set_datadog(&group, &theirs, false).await.unwrap();
    let before = w.fake.integrations_json(&group);
    let err = w
        .apply(dd_env(&w, &group, "v1", DD_KEY_1))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("has a Datadog integration already"), "{err}");
    assert_eq!(w.fake.integrations_json(&group), before);
}
