//! The Atlas client against the fake, every authenticated request checked
//! against the official OpenAPI document (paths, versioned media types,
//! bodies).

use madplan_core::rest::HttpError;
use std::time::{Duration, Instant};

use madplan_atlas::client::access::AccessEntry;
use madplan_atlas::client::backup::{
    BackupSchedule, CopySetting, Frequency, Policy, PolicyItem, RestoreJob, RetentionUnit,
};
use madplan_atlas::client::clusters::{
    AdvancedConfiguration, AutoScaling, CloudProvider, Cluster, ClusterType, ComputeAutoScaling,
    DiskAutoScaling, HardwareSpec, InstanceSize, RegionConfig, ReplicationSpec, TlsProtocol,
};
use madplan_atlas::client::users::{DatabaseUser, Role, Scope};
use madplan_atlas::fake::{FakeAtlas, FakeConfig};
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

fn no_violations(fake: &FakeAtlas) {
    let v = fake.violations();
    assert!(v.is_empty(), "requests broke the spec: {v:#?}");
}

/// The production cluster of the deployment guide: M30, auto-scaling,
/// three electable nodes in us-east-1 and read replicas in us-west-2,
/// continuous backup with point-in-time restore, TLS 1.2 at least.
fn production(name: &str) -> Cluster {
    let m30 = HardwareSpec {
        instance_size: InstanceSize::M30,
        node_count: 3,
        disk_size_gb: Some(40.0),
    };
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
        cluster_type: ClusterType::Replicaset,
        replication_specs: vec![ReplicationSpec {
            id: None,
            zone_id: None,
            zone_name: None,
            region_configs: vec![
                RegionConfig {
                    provider_name: CloudProvider::Aws,
                    region_name: "US_EAST_1".into(),
                    priority: 7,
                    electable_specs: Some(m30),
                    read_only_specs: None,
                    auto_scaling: Some(scaling),
                },
                RegionConfig {
                    provider_name: CloudProvider::Aws,
                    region_name: "US_WEST_2".into(),
                    priority: 0,
                    electable_specs: None,
                    read_only_specs: Some(HardwareSpec {
                        node_count: 1,
                        ..m30
                    }),
                    auto_scaling: Some(scaling),
                },
            ],
        }],
        backup_enabled: true,
        pit_enabled: true,
        termination_protection_enabled: true,
        mongodb_major_version: Some("8.0".into()),
        advanced_configuration: Some(AdvancedConfiguration {
            minimum_enabled_tls_protocol: Some(TlsProtocol::Tls12),
        }),
        id: None,
        state_name: None,
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
            .electable_specs
            .unwrap()
            .instance_size,
        InstanceSize::M30
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
        .node_count = 2;
    assert!(c.check().is_err(), "two electable nodes");
    let mut c = production("x");
    c.replication_specs[0].region_configs[0].priority = 6;
    assert!(c.check().is_err(), "no priority 7");
    let mut c = production("x");
    c.replication_specs[0].region_configs[0]
        .auto_scaling
        .as_mut()
        .unwrap()
        .compute
        .min_instance_size = Some(InstanceSize::M40);
    assert!(c.check().is_err(), "M30 below the auto-scaling minimum");
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
        copy_settings: vec![CopySetting {
            cloud_provider: CloudProvider::Aws,
            region_name: "US_WEST_2".into(),
            zone_id: zone.clone(),
            frequencies: vec![Frequency::Hourly, Frequency::Daily],
            should_copy_oplogs: true,
        }],
    };
    let updated = atlas
        .update_backup_schedule(&group, "prod", &wanted)
        .await
        .unwrap();
    assert_eq!(updated.copy_settings, wanted.copy_settings);
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

#[tokio::test]
async fn point_in_time_restore_runs_to_the_end() {
    let (fake, _, atlas, group) = setup().await;
    atlas
        .create_cluster(&group, &production("prod"))
        .await
        .unwrap();
    let five_minutes_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 300;
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
    assert_eq!(done.point_in_time_utc_seconds, Some(five_minutes_ago));
    no_violations(&fake);
}

#[tokio::test]
async fn the_ip_access_list() {
    let (fake, _, atlas, group) = setup().await;
    atlas
        .add_access(
            &group,
            &[
                AccessEntry::Cidr {
                    cidr_block: "10.0.0.0/16".into(),
                    comment: Some("production VPC".into()),
                },
                AccessEntry::Address {
                    ip_address: "203.0.113.7".into(),
                    comment: None,
                },
            ],
        )
        .await
        .unwrap();
    let list = atlas.access_list(&group).await.unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.contains(&AccessEntry::Address {
        ip_address: "203.0.113.7".into(),
        comment: None
    }));
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
        .map(|i| AccessEntry::Address {
            ip_address: format!("198.51.{}.{}", i / 250, i % 250),
            comment: None,
        })
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
    let user = DatabaseUser {
        username: "madplan-api".into(),
        password: SecretString::from("a-long-enough-password"),
        roles: vec![Role {
            role_name: "readWrite".into(),
            database_name: "madplan".into(),
        }],
        scopes: vec![Scope::cluster("prod")],
    };
    let created = atlas.create_database_user(&group, &user).await.unwrap();
    assert_eq!(created.roles, user.roles);
    let dup = atlas.create_database_user(&group, &user).await.unwrap_err();
    assert_eq!(dup.code(), Some("USER_ALREADY_EXISTS"));
    let mut more = user.clone();
    more.roles.push(Role {
        role_name: "read".into(),
        database_name: "analytics".into(),
    });
    let updated = atlas.update_database_user(&group, &more).await.unwrap();
    assert_eq!(updated.roles.len(), 2);
    assert_eq!(
        atlas
            .database_user(&group, "madplan-api")
            .await
            .unwrap()
            .roles
            .len(),
        2
    );
    atlas
        .delete_database_user(&group, "madplan-api")
        .await
        .unwrap();
    assert!(
        atlas
            .database_user(&group, "madplan-api")
            .await
            .unwrap_err()
            .is_not_found()
    );

    let before = fake.requests().len();
    let short = DatabaseUser {
        password: SecretString::from("short"),
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
        .add_access(
            &group,
            &[AccessEntry::Address {
                ip_address: "203.0.113.9".into(),
                comment: None,
            }],
        )
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
        .add_access(
            &group,
            &[AccessEntry::Address {
                ip_address: "203.0.113.1".into(),
                comment: None,
            }],
        )
        .await
        .unwrap();
    // A 503 is retried for a GET...
    fake.fail_next(1, 503, None);
    atlas.access_list(&group).await.unwrap();
    // ...but a POST that may have been carried out is not.
    fake.fail_next(1, 503, None);
    let err = atlas
        .add_access(
            &group,
            &[AccessEntry::Address {
                ip_address: "203.0.113.2".into(),
                comment: None,
            }],
        )
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
    let user = DatabaseUser {
        username: "u".into(),
        password: SecretString::from("hunter2-hunter2-hunter2"),
        roles: vec![Role {
            role_name: "read".into(),
            database_name: "x".into(),
        }],
        scopes: vec![],
    };
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
