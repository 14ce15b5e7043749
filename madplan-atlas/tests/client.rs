//! The Atlas client against the fake, every authenticated request checked
//! against the official OpenAPI document (paths, versioned media types,
//! bodies).

use madplan_core::rest::HttpError;
use std::time::{Duration, Instant};

use madplan_atlas::client::access::{AccessEntry, Source};
use madplan_atlas::client::backup::{
    BackupSchedule, CopyPolicyItem, CopySetting, Frequency, Policy, PolicyItem, RestoreJob,
    RestoreState, RetentionUnit,
};
use madplan_atlas::client::clusters::{
    AdvancedConfiguration, AutoScaling, CloudProvider, Cluster, ClusterType, ComputeAutoScaling,
    DiskAutoScaling, HardwareSpec, InstanceSize, RegionConfig, ReplicationSpec, TlsProtocol,
};
use madplan_atlas::client::integrations::{Datadog, DatadogRegion};
use madplan_atlas::client::users::{Authentication, AwsIamType, DatabaseUser, Role, Scope};
use madplan_atlas::fake::{FakeAtlas, FakeConfig, RestoreOutcome};
use madplan_atlas::{Client, Credentials, Error, RetryPolicy};
use secrecy::SecretString;

fn fast() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
    }
}

fn service_account(fake: &FakeAtlas, config: &FakeConfig) -> Client {
    Client::new(
        Credentials::ServiceAccount {
            client_id: config.service_account.0.clone(),
            client_secret: SecretString::from(config.service_account.1.clone()),
        },
        &fake.base_url(),
    )
    .unwrap()
    .with_retry(fast())
}

fn api_key(fake: &FakeAtlas, config: &FakeConfig, private: &str) -> Client {
    Client::new(
        Credentials::ApiKey {
            public_key: config.api_key.0.clone(),
            private_key: SecretString::from(private),
        },
        &fake.base_url(),
    )
    .unwrap()
    .with_retry(fast())
}

async fn setup() -> (FakeAtlas, FakeConfig, Client, String) {
    let config = FakeConfig::default();
    let fake = FakeAtlas::start(config.clone()).await;
    let atlas = service_account(&fake, &config);
    let project = atlas
        .create_project("madplan-production", "5f0000000000000000000001")
        .await
        .unwrap();
    (fake, config, atlas, project.id)
}

fn role(name: &str, db: &str) -> Role {
    Role {
        role_name: name.into(),
        database_name: db.into(),
        collection_name: None,
    }
}

fn no_violations(fake: &FakeAtlas) {
    let v = fake.violations();
    assert!(v.is_empty(), "requests broke the spec: {v:#?}");
}

/// The production cluster of the deployment guide: M30, auto-scaling,
/// three electable nodes in us-east-1 and read replicas in us-west-2,
/// continuous backup with point-in-time restore, TLS 1.2 at least.
fn production(name: &str) -> Cluster {
    let m30 = HardwareSpec::new(InstanceSize::M30, 3).disk(40.0);
    let scaling = AutoScaling {
        compute: ComputeAutoScaling {
            enabled: true,
            scale_down_enabled: true,
            min_instance_size: Some(InstanceSize::M30),
            max_instance_size: Some(InstanceSize::M60),
        },
        disk_gb: DiskAutoScaling { enabled: true },
    };
    Cluster {
        name: name.into(),
        cluster_type: Some(ClusterType::Replicaset),
        replication_specs: vec![ReplicationSpec {
            region_configs: vec![
                RegionConfig {
                    provider_name: Some(CloudProvider::Aws),
                    region_name: Some("US_EAST_1".into()),
                    priority: Some(7),
                    electable_specs: Some(m30.clone()),
                    auto_scaling: Some(scaling.clone()),
                    ..RegionConfig::default()
                },
                RegionConfig {
                    provider_name: Some(CloudProvider::Aws),
                    region_name: Some("US_WEST_2".into()),
                    priority: Some(0),
                    read_only_specs: Some(HardwareSpec::new(InstanceSize::M30, 1).disk(40.0)),
                    auto_scaling: Some(scaling),
                    ..RegionConfig::default()
                },
            ],
            ..ReplicationSpec::default()
        }],
        backup_enabled: true,
        pit_enabled: true,
        termination_protection_enabled: true,
        mongodb_major_version: Some("8.0".into()),
        advanced_configuration: Some(AdvancedConfiguration {
            minimum_enabled_tls_protocol: Some(TlsProtocol::Tls12),
        }),
        ..Cluster::default()
    }
}

#[tokio::test]
async fn projects_are_found_by_name_and_created() {
    let (fake, _, atlas, id) = setup().await;
    let found = atlas
        .project_by_name("madplan-production")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, id);
    assert!(atlas.project_by_name("nope").await.unwrap().is_none());
    no_violations(&fake);
}

#[tokio::test]
async fn the_cluster_life_cycle() {
    let (fake, _, atlas, group) = setup().await;
    let created = atlas
        .create_cluster(&group, &production("prod"))
        .await
        .unwrap();
    assert_eq!(created.state_name.as_deref(), Some("CREATING"));
    let mut seen = Vec::new();
    let idle = atlas
        .wait_for_cluster(
            &group,
            "prod",
            false,
            Duration::from_millis(50),
            Duration::from_secs(10),
            |p| seen.push(p.state.clone()),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen, ["CREATING", "IDLE"]);
    assert_eq!(
        idle.replication_specs[0].region_configs[0]
            .electable_now()
            .unwrap()
            .instance_size,
        Some(InstanceSize::M30)
    );
    assert!(idle.replication_specs[0].zone_id.is_some());

    let dup = atlas
        .create_cluster(&group, &production("prod"))
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Some("DUPLICATE_CLUSTER_NAME"));
    assert_eq!(dup.status(), Some(400));
    let missing = atlas.cluster(&group, "nope").await.unwrap_err();
    assert!(missing.is_not_found());
    assert_eq!(missing.code(), Some("CLUSTER_NOT_FOUND"));

    // Bigger disks: UPDATING, then IDLE again.
    let mut bigger = idle.clone();
    bigger.replication_specs[0].region_configs[0]
        .electable_specs
        .as_mut()
        .unwrap()
        .disk_size_gb = Some(80.0);
    // One node type alone is refused before sending: Atlas needs one size.
    let err = atlas
        .update_cluster(&group, "prod", &bigger)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("diskSizeGB differs"), "{err}");
    bigger.replication_specs[0].region_configs[1]
        .read_only_specs
        .as_mut()
        .unwrap()
        .disk_size_gb = Some(80.0);
    let updating = atlas.update_cluster(&group, "prod", &bigger).await.unwrap();
    assert_eq!(updating.state_name.as_deref(), Some("UPDATING"));
    atlas
        .wait_for_cluster(
            &group,
            "prod",
            false,
            Duration::from_millis(50),
            Duration::from_secs(10),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(atlas.clusters(&group).await.unwrap().len(), 1);

    // Termination protection refuses the delete until it is turned off.
    let refused = atlas.delete_cluster(&group, "prod").await.unwrap_err();
    assert_eq!(
        refused.code(),
        Some("CANNOT_TERMINATE_CLUSTER_WHEN_TERMINATION_PROTECTION_ENABLED")
    );
    let mut unprotected = atlas.cluster(&group, "prod").await.unwrap();
    unprotected.termination_protection_enabled = false;
    atlas
        .update_cluster(&group, "prod", &unprotected)
        .await
        .unwrap();
    atlas
        .wait_for_cluster(
            &group,
            "prod",
            false,
            Duration::from_millis(50),
            Duration::from_secs(10),
            |_| {},
        )
        .await
        .unwrap();
    atlas.delete_cluster(&group, "prod").await.unwrap();
    let mut states = Vec::new();
    let gone = atlas
        .wait_for_cluster(
            &group,
            "prod",
            true,
            Duration::from_millis(50),
            Duration::from_secs(10),
            |p| states.push(p.state.clone()),
        )
        .await
        .unwrap();
    assert!(gone.is_none());
    assert_eq!(states.last().map(String::as_str), Some("GONE"));
    assert!(states.contains(&"DELETING".to_string()), "{states:?}");
    no_violations(&fake);
}

#[tokio::test]
async fn waiting_times_out() {
    let config = FakeConfig {
        transition: Duration::from_secs(60),
        ..FakeConfig::default()
    };
    let fake = FakeAtlas::start(config.clone()).await;
    let atlas = service_account(&fake, &config);
    let group = atlas
        .create_project("p", "5f0000000000000000000001")
        .await
        .unwrap()
        .id;
    atlas
        .create_cluster(&group, &production("slow"))
        .await
        .unwrap();
    let err = atlas
        .wait_for_cluster(
            &group,
            "slow",
            false,
            Duration::from_millis(50),
            Duration::from_millis(300),
            |_| {},
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("CREATING"), "{err}");
    no_violations(&fake);
}

#[test]
fn clusters_atlas_would_refuse_are_caught() {
    let mut c = production("x");
    c.backup_enabled = false;
    assert!(c.check().is_err(), "PIT without backups");
    let mut c = production("x");
    c.replication_specs[0].region_configs[0]
        .electable_specs
        .as_mut()
        .unwrap()
        .node_count = Some(2);
    assert!(c.check().is_err(), "two electable nodes");
    let mut c = production("x");
    c.replication_specs[0].region_configs[0].priority = Some(6);
    assert!(c.check().is_err(), "no priority 7");
    let mut c = production("x");
    c.replication_specs[0].region_configs[0]
        .auto_scaling
        .as_mut()
        .unwrap()
        .compute
        .min_instance_size = Some(InstanceSize::M40);
    assert!(c.check().is_err(), "M30 below the auto-scaling minimum");
    let mut c = production("x");
    c.replication_specs[0].region_configs[1]
        .auto_scaling
        .as_mut()
        .unwrap()
        .compute
        .max_instance_size = Some(InstanceSize::M80);
    let e = c.check().unwrap_err().to_string();
    assert!(e.contains("auto-scaling differs between regions"), "{e}");
    let mut c = production("x");
    c.replication_specs[0].region_configs[0].read_only_specs =
        Some(HardwareSpec::new(InstanceSize::M30, 1).disk(50.0));
    let e = c.check().unwrap_err().to_string();
    assert!(e.contains("diskSizeGB differs"), "{e}");
    // Only the maximum is needed unless it scales down.
    let mut c = production("x");
    for r in &mut c.replication_specs[0].region_configs {
        let compute = &mut r.auto_scaling.as_mut().unwrap().compute;
        compute.scale_down_enabled = false;
        compute.min_instance_size = None;
    }
    assert!(c.check().is_ok(), "{:?}", c.check());
    for r in &mut c.replication_specs[0].region_configs {
        r.auto_scaling.as_mut().unwrap().compute.scale_down_enabled = true;
    }
    let e = c.check().unwrap_err().to_string();
    assert!(e.contains("scales down needs a minimum"), "{e}");
    for r in &mut c.replication_specs[0].region_configs {
        r.auto_scaling.as_mut().unwrap().compute.max_instance_size = None;
    }
    let e = c.check().unwrap_err().to_string();
    assert!(e.contains("needs a maximum"), "{e}");
    assert!(production("x").check().is_ok());
}

#[tokio::test]
async fn backup_schedule_copies_keyed_by_the_zone_id_read_back() {
    let (fake, _, atlas, group) = setup().await;
    atlas
        .create_cluster(&group, &production("prod"))
        .await
        .unwrap();
    let cluster = atlas.cluster(&group, "prod").await.unwrap();
    let zone = cluster.replication_specs[0].zone_id.clone().unwrap();
    let current = atlas.backup_schedule(&group, "prod").await.unwrap();
    let policy_id = current.policies[0].id.clone();

    let item = |f, i, u, v| PolicyItem {
        id: None,
        frequency_type: f,
        frequency_interval: i,
        retention_unit: u,
        retention_value: v,
    };
    let wanted = BackupSchedule {
        policies: vec![Policy {
            id: policy_id,
            policy_items: vec![
                item(Frequency::Hourly, 6, RetentionUnit::Days, 7),
                item(Frequency::Daily, 1, RetentionUnit::Days, 30),
            ],
        }],
        restore_window_days: Some(7),
        reference_hour_of_day: Some(3),
        reference_minute_of_hour: None,
        copy_policy_items_enabled: Some(true),
        copy_settings: vec![CopySetting {
            cloud_provider: Some(CloudProvider::Aws),
            region_name: Some("US_WEST_2".into()),
            zone_id: zone.clone(),
            copy_policy_items: vec![CopyPolicyItem {
                id: None,
                frequency_type: Frequency::Daily,
                retention_unit: Some(RetentionUnit::Days),
                retention_value: Some(30),
            }],
            frequencies: vec![],
            should_copy_oplogs: true,
        }],
        cluster_id: None,
        next_snapshot: None,
    };
    let updated = atlas
        .update_backup_schedule(&group, "prod", &wanted)
        .await
        .unwrap();
    assert_eq!(
        updated.copy_settings[0].copy_policy_items[0].retention_value,
        Some(30)
    );
    assert!(updated.copy_settings[0].copy_policy_items[0].id.is_some());
    let read = atlas.backup_schedule(&group, "prod").await.unwrap();
    assert_eq!(read.policies[0].policy_items[1].retention_value, 30);
    assert_eq!(read.restore_window_days, Some(7));

    let mut wrong = wanted.clone();
    wrong.copy_settings[0].zone_id = "000000000000000000000000".into();
    let err = atlas
        .update_backup_schedule(&group, "prod", &wrong)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("INVALID_ZONE_ID"));
    no_violations(&fake);
}

fn epoch_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn point_in_time_restore_runs_to_the_end() {
    let (fake, _, atlas, group) = setup().await;
    atlas
        .create_cluster(&group, &production("prod"))
        .await
        .unwrap();
    let mut target = production("prod-restore");
    target.termination_protection_enabled = false;
    atlas.create_cluster(&group, &target).await.unwrap();
    fake.age_cluster(&group, "prod", 3600);
    let five_minutes_ago = epoch_now() - 300;
    let job = atlas
        .create_restore_job(
            &group,
            "prod",
            &RestoreJob::point_in_time(five_minutes_ago, "prod-restore", &group),
        )
        .await
        .unwrap();
    let id = job.id.unwrap();
    let done = atlas
        .wait_for_restore(
            &group,
            "prod",
            &id,
            Duration::from_millis(50),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(done.finished_at.is_some());
    assert_eq!(done.state(), RestoreState::Finished);
    assert_eq!(done.point_in_time_utc_seconds, Some(five_minutes_ago));

    // To an oplog position, and from a snapshot.
    let oplog = atlas
        .create_restore_job(
            &group,
            "prod",
            &RestoreJob::oplog(five_minutes_ago, 3, "prod-restore", &group),
        )
        .await
        .unwrap();
    assert_eq!(
        (oplog.oplog_ts, oplog.oplog_inc),
        (Some(five_minutes_ago), Some(3))
    );
    let snapshot = fake.take_snapshot(&group, "prod");
    let from_snapshot = atlas
        .create_restore_job(
            &group,
            "prod",
            &RestoreJob::snapshot(&snapshot, "prod-restore", &group),
        )
        .await
        .unwrap();
    assert_eq!(
        from_snapshot.snapshot_id.as_deref(),
        Some(snapshot.as_str())
    );
    no_violations(&fake);
}

#[tokio::test]
async fn restores_atlas_would_refuse_are_refused_and_endings_are_named() {
    let (fake, _, atlas, group) = setup().await;
    atlas
        .create_cluster(&group, &production("prod"))
        .await
        .unwrap();
    let mut target = production("copy");
    target.termination_protection_enabled = false;
    atlas.create_cluster(&group, &target).await.unwrap();
    fake.age_cluster(&group, "prod", 3600);
    let now = epoch_now();

    // Into a cluster that does not exist.
    let err = atlas
        .create_restore_job(
            &group,
            "prod",
            &RestoreJob::point_in_time(now - 60, "nope", &group),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("TARGET_CLUSTER_NOT_FOUND"), "{err}");
    assert_eq!(err.field_violations()[0].field, "targetClusterName");
    // Before the cluster existed.
    let err = atlas
        .create_restore_job(
            &group,
            "prod",
            &RestoreJob::point_in_time(now - 7200, "copy", &group),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("INVALID_POINT_IN_TIME"), "{err}");
    // Outside the (default, two-day) restore window of an old cluster.
    fake.age_cluster(&group, "prod", 30 * 86_400);
    let err = atlas
        .create_restore_job(
            &group,
            "prod",
            &RestoreJob::point_in_time(now - 3 * 86_400, "copy", &group),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("INVALID_POINT_IN_TIME"), "{err}");
    assert!(
        err.to_string()
            .contains("pointInTimeUTCSeconds: outside the restore window"),
        "{err}"
    );
    // In the future.
    let err = atlas
        .create_restore_job(
            &group,
            "prod",
            &RestoreJob::point_in_time(now + 600, "copy", &group),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("INVALID_POINT_IN_TIME"), "{err}");

    // A job that fails, and one that expires, are reported as such.
    for (outcome, state) in [
        (RestoreOutcome::Failed, RestoreState::Failed),
        (RestoreOutcome::Expired, RestoreState::Expired),
    ] {
        let job = atlas
            .create_restore_job(
                &group,
                "prod",
                &RestoreJob::point_in_time(now - 60, "copy", &group),
            )
            .await
            .unwrap();
        let id = job.id.unwrap();
        fake.end_restore(&id, outcome);
        let err = atlas
            .wait_for_restore(
                &group,
                "prod",
                &id,
                Duration::from_millis(10),
                Duration::from_secs(5),
            )
            .await
            .unwrap_err();
        match &err {
            Error::Restore { state: s, .. } => assert_eq!(*s, state, "{err}"),
            other => panic!("expected a restore error, got {other}"),
        }
        assert!(err.to_string().contains(&format!("ended {state}")), "{err}");
    }
    no_violations(&fake);
}

#[tokio::test]
async fn the_ip_access_list() {
    let (fake, _, atlas, group) = setup().await;
    atlas
        .add_access(
            &group,
            &[
                AccessEntry::cidr("10.0.0.0/16").comment("production VPC"),
                AccessEntry::address("203.0.113.7"),
                AccessEntry::security_group("sg-0123456789abcdef0"),
            ],
        )
        .await
        .unwrap();
    let list = atlas.access_list(&group).await.unwrap();
    assert_eq!(list.len(), 3);
    assert!(list.contains(&AccessEntry::address("203.0.113.7")));
    // A security-group entry decodes as one.
    assert!(
        list.iter()
            .any(|e| e.source == Source::SecurityGroup("sg-0123456789abcdef0".into()))
    );
    atlas
        .remove_access(&group, "sg-0123456789abcdef0")
        .await
        .unwrap();
    atlas.remove_access(&group, "10.0.0.0/16").await.unwrap();
    assert!(
        atlas
            .remove_access(&group, "10.0.0.0/16")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(atlas.access_list(&group).await.unwrap().len(), 1);

    // 600 entries come back through two pages of 500.
    let many: Vec<AccessEntry> = (0..600)
        .map(|i| AccessEntry::address(format!("198.51.{}.{}", i / 250, i % 250)))
        .collect();
    atlas.add_access(&group, &many).await.unwrap();
    let before = fake.requests().len();
    assert_eq!(atlas.access_list(&group).await.unwrap().len(), 601);
    assert_eq!(fake.requests().len() - before, 2);
    no_violations(&fake);
}

#[tokio::test]
async fn database_users() {
    let (fake, _, atlas, group) = setup().await;
    let mut user = DatabaseUser::scram(
        "madplan-api",
        SecretString::from("a-long-enough-password"),
        vec![role("readWrite", "madplan")],
    );
    user.scopes = vec![Scope::cluster("prod")];
    let created = atlas.create_database_user(&group, &user).await.unwrap();
    assert_eq!(created.roles, user.roles);
    let dup = atlas.create_database_user(&group, &user).await.unwrap_err();
    assert_eq!(dup.code(), Some("USER_ALREADY_EXISTS"));
    let mut more = user.clone();
    more.roles.push(role("read", "analytics"));
    let updated = atlas
        .update_database_user(&group, &more, false)
        .await
        .unwrap();
    assert_eq!(updated.roles.len(), 2);
    assert_eq!(
        atlas
            .database_user(&group, "admin", "madplan-api")
            .await
            .unwrap()
            .roles
            .len(),
        2
    );
    atlas
        .delete_database_user(&group, "admin", "madplan-api")
        .await
        .unwrap();
    assert!(
        atlas
            .database_user(&group, "admin", "madplan-api")
            .await
            .unwrap_err()
            .is_not_found()
    );

    let before = fake.requests().len();
    let short = DatabaseUser {
        auth: Authentication::Password(SecretString::from("short")),
        ..user.clone()
    };
    assert!(matches!(
        atlas.create_database_user(&group, &short).await,
        Err(Error::Http(HttpError::Invalid { .. }))
    ));
    assert_eq!(fake.requests().len(), before);
    no_violations(&fake);
}

#[tokio::test]
async fn a_service_account_token_is_fetched_once_and_renewed_before_expiry() {
    let config = FakeConfig {
        token_ttl: Duration::from_secs(2),
        ..FakeConfig::default()
    };
    let fake = FakeAtlas::start(config.clone()).await;
    let atlas = service_account(&fake, &config).with_token_renewal(Duration::from_secs(1));
    let group = atlas
        .create_project("p", "5f0000000000000000000001")
        .await
        .unwrap()
        .id;
    for _ in 0..5 {
        atlas.access_list(&group).await.unwrap();
    }
    assert_eq!(fake.token_requests(), 1);
    // Within a second of expiry, the next call fetches a new token first.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    atlas.access_list(&group).await.unwrap();
    assert_eq!(fake.token_requests(), 2);

    // Without the margin, an expired token is refused once and renewed.
    let late = service_account(&fake, &config).with_token_renewal(Duration::ZERO);
    late.access_list(&group).await.unwrap();
    assert_eq!(fake.token_requests(), 3);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    late.access_list(&group).await.unwrap();
    assert_eq!(fake.token_requests(), 4);

    let wrong = Client::new(
        Credentials::ServiceAccount {
            client_id: config.service_account.0.clone(),
            client_secret: SecretString::from("not-the-secret"),
        },
        &fake.base_url(),
    )
    .unwrap();
    assert!(matches!(
        wrong.access_list(&group).await,
        Err(Error::Auth(_))
    ));
    no_violations(&fake);
}

#[tokio::test]
async fn api_keys_answer_a_real_digest_challenge() {
    let config = FakeConfig::default();
    let fake = FakeAtlas::start(config.clone()).await;
    let atlas = api_key(&fake, &config, &config.api_key.1);
    let group = atlas
        .create_project("p", "5f0000000000000000000001")
        .await
        .unwrap()
        .id;
    atlas
        .add_access(&group, &[AccessEntry::address("203.0.113.9")])
        .await
        .unwrap();
    assert_eq!(atlas.access_list(&group).await.unwrap().len(), 1);
    // One challenge, then the nonce is reused.
    assert_eq!(fake.digest_challenges(), 1);
    // A new nonce: the stale challenge is answered once more.
    fake.rotate_nonce();
    atlas.access_list(&group).await.unwrap();
    assert_eq!(fake.digest_challenges(), 2);

    let wrong = api_key(&fake, &config, "not-the-private-key");
    let err = wrong.access_list(&group).await.unwrap_err();
    assert!(matches!(err, Error::Auth(_)), "{err}");
    no_violations(&fake);
}

#[tokio::test]
async fn answers_429_and_503_are_retried_as_told_and_bounded() {
    let (fake, _, atlas, group) = setup().await;
    fake.fail_next(2, 429, Some(1));
    let started = Instant::now();
    atlas.access_list(&group).await.unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "{took:?}"
    );

    // No Retry-After: the backoff's own pauses.
    fake.fail_next(2, 429, None);
    atlas.access_list(&group).await.unwrap();
    // 429 means "not processed": a POST is repeated too.
    fake.fail_next(1, 429, None);
    atlas
        .add_access(&group, &[AccessEntry::address("203.0.113.1")])
        .await
        .unwrap();
    // A 503 is retried for a GET...
    fake.fail_next(1, 503, None);
    atlas.access_list(&group).await.unwrap();
    // ...but a POST that may have been carried out is not.
    fake.fail_next(1, 503, None);
    let err = atlas
        .add_access(&group, &[AccessEntry::address("203.0.113.2")])
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.code(), Some("SERVICE_UNAVAILABLE"));
    // Bounded: 1 + 3 attempts.
    fake.fail_next(10, 429, Some(0));
    let before = fake.requests().len();
    match atlas.access_list(&group).await {
        Err(Error::Unavailable {
            attempts, status, ..
        }) => {
            assert_eq!((attempts, status), (4, 429));
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(fake.requests().len() - before, 4);
    no_violations(&fake);
}

#[tokio::test]
async fn a_wrong_media_version_breaks_the_spec() {
    let (fake, config, atlas, group) = setup().await;
    drop(atlas);
    // Get a token the way the client does, then ask for a cluster list in
    // the wrong version.
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{}/api/oauth/token", fake.base_url()))
        .basic_auth(&config.service_account.0, Some(&config.service_account.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resp = http
        .get(format!(
            "{}/api/atlas/v2/groups/{group}/clusters",
            fake.base_url()
        ))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .header("accept", "application/vnd.atlas.2023-01-01+json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v = fake.violations();
    assert!(
        v.iter()
            .any(|x| x.contains("listClusters: Accept application/vnd.atlas.2023-01-01+json")),
        "{v:?}"
    );
}

#[tokio::test]
async fn credentials_never_show_in_debug_errors_or_logs() {
    let (_guard, logs) = madplan_core::testkit::LogCapture::start();
    let (fake, config, atlas, group) = setup().await;
    fake.fail_next(1, 429, Some(0));
    atlas.access_list(&group).await.unwrap();
    let keyed = api_key(&fake, &config, &config.api_key.1);
    keyed.access_list(&group).await.unwrap();
    let user = DatabaseUser::scram(
        "u",
        SecretString::from("hunter2-hunter2-hunter2"),
        vec![role("read", "x")],
    );
    atlas.create_database_user(&group, &user).await.unwrap();
    let err = api_key(&fake, &config, "wrong-private-key-xyz")
        .access_list(&group)
        .await
        .unwrap_err();
    let seen = format!("{atlas:?} {keyed:?} {user:?} {err} {err:?} {}", logs.text());
    assert!(seen.contains("retrying a call"), "logs captured: {seen}");
    for secret in [
        config.service_account.1.as_str(),
        config.api_key.1.as_str(),
        "hunter2-hunter2-hunter2",
        "wrong-private-key-xyz",
    ] {
        assert!(!seen.contains(secret), "a secret leaked: {seen}");
    }
    assert!(!seen.contains("tok-"), "a bearer token leaked: {seen}");
}

#[tokio::test]
async fn connection_errors_are_retried_and_bounded() {
    // A port on loopback where nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let atlas = Client::new(
        Credentials::ApiKey {
            public_key: "k".into(),
            private_key: SecretString::from("p-0000000000"),
        },
        &format!("http://127.0.0.1:{port}"),
    )
    .unwrap()
    .with_retry(fast());
    let (_guard, logs) = madplan_core::testkit::LogCapture::start();
    let err = atlas
        .access_list("0123456789abcdef01234567")
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Http(HttpError::Transport { .. })),
        "{err}"
    );
    let retries = logs.text().matches("retrying a call").count();
    assert_eq!(retries, 3, "1 attempt + 3 retries");
}

#[tokio::test]
async fn many_calls_at_once_with_no_cached_challenge_all_succeed() {
    let config = FakeConfig::default();
    let fake = FakeAtlas::start(config.clone()).await;
    let sa = service_account(&fake, &config);
    let group = sa
        .create_project("p", "5f0000000000000000000001")
        .await
        .unwrap()
        .id;
    // A fresh client: no challenge cached; 16 calls meet one each.
    let atlas = api_key(&fake, &config, &config.api_key.1);
    let calls = (0..16).map(|_| {
        let atlas = atlas.clone();
        let group = group.clone();
        tokio::spawn(async move { atlas.access_list(&group).await })
    });
    for r in futures_join(calls).await {
        r.unwrap();
    }
    // Later calls reuse the nonce with counts never seen before.
    for _ in 0..3 {
        atlas.access_list(&group).await.unwrap();
    }
    assert!(
        fake.digest_challenges() <= 16,
        "{}",
        fake.digest_challenges()
    );

    // A nonce that expired without `stale=true` is answered again once.
    {
        let before = fake.digest_challenges();
        fake.rotate_nonce();
        fake.fail_stale_flag();
        atlas.access_list(&group).await.unwrap();
        assert_eq!(fake.digest_challenges(), before + 1);
    }
    // IAM user names and `$external` travel percent-encoded, and the digest
    // is computed over that real path.
    let arn = "arn:aws:iam::123456789012:role/madplan-api";
    let iam = DatabaseUser {
        username: arn.into(),
        auth: Authentication::AwsIam(AwsIamType::Role),
        roles: vec![role("readWrite", "madplan")],
        scopes: vec![],
        labels: vec![],
        description: None,
    };
    atlas.create_database_user(&group, &iam).await.unwrap();
    let read = atlas.database_user(&group, "$external", arn).await.unwrap();
    assert_eq!(read.aws_iam_type, Some(AwsIamType::Role));
    atlas
        .delete_database_user(&group, "$external", arn)
        .await
        .unwrap();
    assert!(
        fake.requests().iter().any(|r| r.contains(
            "/databaseUsers/%24external/arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fmadplan-api"
        )),
        "{:?}",
        fake.requests()
    );
    no_violations(&fake);
}

async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn the_fake_refuses_a_digest_over_another_uri_or_a_reused_count() {
    let config = FakeConfig::default();
    let fake = FakeAtlas::start(config.clone()).await;
    let group = service_account(&fake, &config)
        .create_project("p", "5f0000000000000000000001")
        .await
        .unwrap()
        .id;
    let http = reqwest::Client::new();
    let path = format!("/api/atlas/v2/groups/{group}/accessList");
    let url = format!("{}{path}", fake.base_url());
    let first = http.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 401);
    let prompt = first.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    let mut challenge = digest_auth::parse(&prompt).unwrap();
    let sign = |challenge: &mut digest_auth::WwwAuthenticateHeader, uri: &str| {
        let cx = digest_auth::AuthContext::new_with_method(
            config.api_key.0.as_str(),
            config.api_key.1.as_str(),
            uri,
            Option::<&[u8]>::None,
            digest_auth::HttpMethod::GET,
        );
        challenge.respond(&cx).unwrap()
    };
    let get = |auth: String| {
        http.get(&url)
            .header("authorization", auth)
            .header("accept", "application/vnd.atlas.2023-01-01+json")
            .send()
    };
    // Signed over the real path: accepted.
    let good = sign(&mut challenge, &path);
    assert_eq!(get(good.to_header_string()).await.unwrap().status(), 200);
    // The same count again (a replay, or a client that does not count).
    assert_eq!(get(good.to_header_string()).await.unwrap().status(), 401);
    // Signed over another URI.
    let wrong = sign(&mut challenge, "/api/atlas/v2/groups");
    assert_eq!(get(wrong.to_header_string()).await.unwrap().status(), 401);
    let next = sign(&mut challenge, &path);
    assert_eq!(get(next.to_header_string()).await.unwrap().status(), 200);
}

#[tokio::test]
async fn unknown_tiers_providers_and_fields_do_not_break_listing() {
    let (fake, _, atlas, group) = setup().await;
    atlas
        .create_cluster(&group, &production("prod"))
        .await
        .unwrap();
    // Someone else's clusters of kinds madplan does not model.
    fake.put_cluster_json(
        &group,
        serde_json::json!({
            "name": "analytics-r", "clusterType": "REPLICASET", "stateName": "IDLE",
            "someFutureField": {"nested": [1, 2]},
            "replicationSpecs": [{"regionConfigs": [{
                "providerName": "AWS", "regionName": "EU_WEST_1", "priority": 7,
                "electableSpecs": {"instanceSize": "R40", "nodeCount": 3},
                "effectiveElectableSpecs": {"instanceSize": "M40_NVME", "nodeCount": 3}
            }]}]
        }),
    );
    fake.put_cluster_json(
        &group,
        serde_json::json!({
            "name": "sandbox", "stateName": "IDLE",
            "replicationSpecs": [{"regionConfigs": [{
                "providerName": "TENANT", "backingProviderName": "AWS", "regionName": "US_EAST_1",
                "electableSpecs": {"instanceSize": "M0"}
            }]}]
        }),
    );
    fake.put_cluster_json(
        &group,
        serde_json::json!({"name": "flex-one", "clusterType": "FLEX"}),
    );
    let all = atlas.clusters(&group).await.unwrap();
    assert_eq!(all.len(), 4);
    let r = all.iter().find(|c| c.name == "analytics-r").unwrap();
    assert_eq!(
        r.replication_specs[0].region_configs[0]
            .electable_now()
            .unwrap()
            .instance_size,
        Some(InstanceSize::Other("M40_NVME".into()))
    );
    let sandbox = all.iter().find(|c| c.name == "sandbox").unwrap();
    assert_eq!(
        sandbox.replication_specs[0].region_configs[0].provider_name,
        Some(CloudProvider::Other("TENANT".into()))
    );
    let flex = all.iter().find(|c| c.name == "flex-one").unwrap();
    assert_eq!(flex.cluster_type, Some(ClusterType::Other("FLEX".into())));
    assert!(fake.answers_checked() > 0);
    no_violations(&fake);
}

#[tokio::test]
async fn the_fake_checks_its_answers_against_the_spec() {
    let (fake, _, atlas, group) = setup().await;
    // A stored cluster whose disk size is text: its answer breaks the spec.
    fake.put_cluster_json(
        &group,
        serde_json::json!({"name": "bad", "replicationSpecs": [{"regionConfigs": [{
            "electableSpecs": {"instanceSize": "M30", "diskSizeGB": "forty"}
        }]}]}),
    );
    let _ = atlas.cluster(&group, "bad").await;
    let v = fake.violations();
    assert!(
        v.iter()
            .any(|x| x.contains("getCluster: answer 200") && x.contains("diskSizeGB")),
        "{v:?}"
    );
}

#[tokio::test]
async fn refused_fields_rate_limits_and_lost_delete_answers() {
    let (fake, _, atlas, group) = setup().await;
    // badRequestDetail.fields are kept in the error.
    let datadog = Datadog {
        api_key: SecretString::from("not-a-datadog-key"),
        region: DatadogRegion::Eu,
        send_database_metrics: true,
        send_collection_latency_metrics: false,
        send_query_stats_metrics: false,
        send_user_provided_resource_tags: false,
    };
    let err = atlas
        .set_datadog(&group, &datadog, false)
        .await
        .unwrap_err();
    assert_eq!(err.field_violations().len(), 1, "{err}");
    assert_eq!(err.field_violations()[0].field, "apiKey");
    assert!(
        err.to_string()
            .contains("apiKey: must be a Datadog API key"),
        "{err}"
    );
    assert!(!err.to_string().contains("not-a-datadog-key"), "{err}");
    // RateLimit-* headers are read.
    let limit = atlas.rate_limit().unwrap();
    assert_eq!(limit.limit, Some(100));
    assert!(limit.remaining.is_some());

    // A delete whose answer was lost is sent again; the 404 it meets then
    // means it is done.
    atlas
        .add_access(&group, &[AccessEntry::cidr("10.1.0.0/16")])
        .await
        .unwrap();
    fake.lose_next_answers(1);
    atlas.remove_access(&group, "10.1.0.0/16").await.unwrap();
    assert!(atlas.access_list(&group).await.unwrap().is_empty());
    let deletes = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("DELETE") && r.contains("accessList"))
        .count();
    assert_eq!(deletes, 2);
    // A first attempt's 404 is still an error.
    assert!(
        atlas
            .remove_access(&group, "10.1.0.0/16")
            .await
            .unwrap_err()
            .is_not_found()
    );
    no_violations(&fake);
}

#[tokio::test]
async fn a_server_that_accepts_but_never_answers_fails_at_the_total_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            open.push(s);
        }
    });
    let atlas = Client::new(
        Credentials::ApiKey {
            public_key: "k".into(),
            private_key: SecretString::from("p-0000000000"),
        },
        &format!("http://{addr}"),
    )
    .unwrap()
    .with_timeouts(madplan_core::rest::Timeouts {
        connect: Duration::from_secs(5),
        total: Duration::from_millis(200),
    })
    .unwrap()
    .with_retry(RetryPolicy {
        max_retries: 1,
        ..fast()
    });
    let started = Instant::now();
    let err = atlas
        .access_list("0123456789abcdef01234567")
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Http(HttpError::Transport { .. })),
        "{err}"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "{took:?}"
    );
    held.abort();
}

#[tokio::test]
async fn a_token_request_lost_in_transit_is_asked_again() {
    use madplan_core::faults::{Fault, FaultProxy, Faults};
    let config = FakeConfig::default();
    let fake = FakeAtlas::start(config.clone()).await;
    // The first two connections are closed before reaching Atlas.
    let proxy = FaultProxy::start(
        &fake.base_url(),
        Faults {
            share: 1.0,
            kinds: vec![Fault::DropBefore],
            max_faults: Some(2),
            only: Vec::new(),
            ..Faults::none()
        },
    )
    .await
    .unwrap();
    let atlas = Client::new(
        Credentials::ServiceAccount {
            client_id: config.service_account.0.clone(),
            client_secret: SecretString::from(config.service_account.1.clone()),
        },
        proxy.url(),
    )
    .unwrap()
    .with_retry(fast());
    atlas
        .create_project("p", "5f0000000000000000000001")
        .await
        .unwrap();
    assert_eq!(proxy.counts().faults[&Fault::DropBefore], 2);
    assert_eq!(fake.token_requests(), 1);
    no_violations(&fake);
}
