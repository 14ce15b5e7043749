//! Clusters: the model of the `2024-10-23` API (one replication spec per
//! shard or zone, a region config per region, hardware per node kind), and
//! waiting for a cluster to settle.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{Client, media};
use crate::error::Error;

/// An instance size of a dedicated cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum InstanceSize {
    M10,
    M20,
    M30,
    M40,
    M50,
    M60,
    M80,
    M140,
    M200,
    M300,
    M400,
    M700,
}

/// A cloud provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CloudProvider {
    /// Amazon Web Services.
    Aws,
    /// Google Cloud.
    Gcp,
    /// Microsoft Azure.
    Azure,
}

/// The cluster's topology.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ClusterType {
    /// A replica set.
    Replicaset,
    /// A sharded cluster.
    Sharded,
    /// A global cluster.
    Geosharded,
}

/// Nodes of one kind in one region.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HardwareSpec {
    /// The instance size.
    pub instance_size: InstanceSize,
    /// How many nodes.
    pub node_count: u32,
    /// Storage per node, in GB.
    #[serde(
        rename = "diskSizeGB",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub disk_size_gb: Option<f64>,
}

/// Compute auto-scaling: Atlas changes the instance size between bounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputeAutoScaling {
    /// Whether it is on.
    pub enabled: bool,
    /// Whether it may also scale down.
    #[serde(default)]
    pub scale_down_enabled: bool,
    /// The smallest size it may choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_instance_size: Option<InstanceSize>,
    /// The largest size it may choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_instance_size: Option<InstanceSize>,
}

/// Disk auto-scaling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskAutoScaling {
    /// Whether it is on.
    pub enabled: bool,
}

/// Auto-scaling of a region's nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoScaling {
    /// Compute.
    #[serde(default)]
    pub compute: ComputeAutoScaling,
    /// Disk.
    #[serde(rename = "diskGB", default)]
    pub disk_gb: DiskAutoScaling,
}

/// The nodes of one region.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionConfig {
    /// The cloud.
    pub provider_name: CloudProvider,
    /// The region, e.g. `US_EAST_1`.
    pub region_name: String,
    /// Election priority, 7 (highest) to 0 (read-only regions).
    pub priority: u8,
    /// Voting nodes that can become primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub electable_specs: Option<HardwareSpec>,
    /// Read-only nodes (read replicas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_specs: Option<HardwareSpec>,
    /// Auto-scaling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_scaling: Option<AutoScaling>,
}

/// One shard (or zone) and its regions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationSpec {
    /// Atlas's id of the spec (read-only).
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    /// The zone's id (read-only): backup copy settings are keyed by it.
    #[serde(default, skip_serializing)]
    pub zone_id: Option<String>,
    /// The zone's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_name: Option<String>,
    /// Its regions, highest priority first.
    pub region_configs: Vec<RegionConfig>,
}

/// The minimum TLS version a cluster accepts. (The deployment guide asks
/// for 1.2 or later; the older ones exist so that any cluster can be read.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TlsProtocol {
    /// TLS 1.0.
    #[serde(rename = "TLS1_0")]
    Tls10,
    /// TLS 1.1.
    #[serde(rename = "TLS1_1")]
    Tls11,
    /// TLS 1.2.
    #[serde(rename = "TLS1_2")]
    Tls12,
    /// TLS 1.3.
    #[serde(rename = "TLS1_3")]
    Tls13,
}

/// Advanced settings madplan manages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdvancedConfiguration {
    /// The minimum TLS version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_enabled_tls_protocol: Option<TlsProtocol>,
}

/// A cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    /// Its name.
    pub name: String,
    /// Its topology.
    pub cluster_type: ClusterType,
    /// Its shards or zones.
    pub replication_specs: Vec<ReplicationSpec>,
    /// Cloud backups.
    #[serde(default)]
    pub backup_enabled: bool,
    /// Continuous cloud backup with point-in-time restore.
    #[serde(default)]
    pub pit_enabled: bool,
    /// Refuse deletion until this is turned off.
    #[serde(default)]
    pub termination_protection_enabled: bool,
    /// The MongoDB major version, e.g. `8.0`.
    #[serde(
        rename = "mongoDBMajorVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mongodb_major_version: Option<String>,
    /// Advanced settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advanced_configuration: Option<AdvancedConfiguration>,
    /// Atlas's id (read-only).
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    /// `CREATING`, `IDLE`, `UPDATING`, `DELETING`... (read-only).
    #[serde(default, skip_serializing)]
    pub state_name: Option<String>,
}

impl Cluster {
    /// What Atlas would refuse, checked before sending: region priorities
    /// (7 first, descending, unique), an odd number (3, 5 or 7) of electable
    /// nodes per replication spec, point-in-time restore without backups,
    /// auto-scaling bounds that exclude the instance size.
    pub fn check(&self) -> Result<(), Error> {
        let bad = |message: String| Err(Error::invalid(format!("cluster {}", self.name), message));
        if self.pit_enabled && !self.backup_enabled {
            return bad("point-in-time restore needs backupEnabled".into());
        }
        if self.replication_specs.is_empty() {
            return bad("it has no replication spec".into());
        }
        for spec in &self.replication_specs {
            let priorities: Vec<u8> = spec.region_configs.iter().map(|r| r.priority).collect();
            let electable: Vec<u8> = spec
                .region_configs
                .iter()
                .filter(|r| r.electable_specs.is_some_and(|e| e.node_count > 0))
                .map(|r| r.priority)
                .collect();
            if electable.first() != Some(&7) {
                return bad("the first region with electable nodes must have priority 7".into());
            }
            if electable.windows(2).any(|w| w[0] <= w[1]) {
                return bad(format!(
                    "region priorities {priorities:?} must descend without repeats"
                ));
            }
            let nodes: u32 = spec
                .region_configs
                .iter()
                .filter_map(|r| r.electable_specs.map(|e| e.node_count))
                .sum();
            if ![3, 5, 7].contains(&nodes) {
                return bad(format!(
                    "{nodes} electable nodes; a replica set has 3, 5 or 7"
                ));
            }
            for r in &spec.region_configs {
                if let (Some(a), Some(e)) = (r.auto_scaling, r.electable_specs)
                    && a.compute.enabled
                {
                    let (Some(min), Some(max)) =
                        (a.compute.min_instance_size, a.compute.max_instance_size)
                    else {
                        return bad(
                            "compute auto-scaling needs a minimum and a maximum size".into()
                        );
                    };
                    if !(min <= e.instance_size && e.instance_size <= max) {
                        return bad(format!(
                            "{:?} lies outside auto-scaling's {min:?}..{max:?}",
                            e.instance_size
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A change in a cluster's state seen while waiting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The cluster.
    pub cluster: String,
    /// Its state now (`GONE` once deleted).
    pub state: String,
    /// How long the wait has lasted.
    pub waited: Duration,
}

impl Client {
    fn cluster_path(group: &str, name: &str) -> String {
        format!("/api/atlas/v2/groups/{group}/clusters/{name}")
    }

    /// Creates a cluster (it starts `CREATING`; see [`Client::wait_for_cluster`]).
    pub async fn create_cluster(&self, group: &str, cluster: &Cluster) -> Result<Cluster, Error> {
        cluster.check()?;
        let body = serde_json::to_value(cluster).map_err(|e| Error::config(e.to_string()))?;
        self.fetch(
            Method::POST,
            &format!("/api/atlas/v2/groups/{group}/clusters"),
            Some(body),
            media::CLUSTER_WRITE,
        )
        .await
    }

    /// The cluster `name`.
    pub async fn cluster(&self, group: &str, name: &str) -> Result<Cluster, Error> {
        self.fetch(
            Method::GET,
            &Self::cluster_path(group, name),
            None,
            media::CLUSTER_READ,
        )
        .await
    }

    /// Every cluster of the project.
    pub async fn clusters(&self, group: &str) -> Result<Vec<Cluster>, Error> {
        self.all(
            &format!("/api/atlas/v2/groups/{group}/clusters"),
            media::CLUSTER_READ,
        )
        .await
    }

    /// Changes the cluster `name` to `cluster`.
    pub async fn update_cluster(
        &self,
        group: &str,
        name: &str,
        cluster: &Cluster,
    ) -> Result<Cluster, Error> {
        cluster.check()?;
        let body = serde_json::to_value(cluster).map_err(|e| Error::config(e.to_string()))?;
        self.fetch(
            Method::PATCH,
            &Self::cluster_path(group, name),
            Some(body),
            media::CLUSTER_WRITE,
        )
        .await
    }

    /// Starts deleting the cluster `name`.
    pub async fn delete_cluster(&self, group: &str, name: &str) -> Result<(), Error> {
        self.call::<serde_json::Value>(
            Method::DELETE,
            &Self::cluster_path(group, name),
            &[],
            None,
            media::CLUSTER_DELETE,
        )
        .await
        .map(|_| ())
    }

    /// Polls the cluster every `every` until it is `IDLE` (or, with
    /// `gone`, until it no longer exists), reporting each state change to
    /// `progress`; fails after `timeout`.
    pub async fn wait_for_cluster(
        &self,
        group: &str,
        name: &str,
        gone: bool,
        every: Duration,
        timeout: Duration,
        mut progress: impl FnMut(&Progress),
    ) -> Result<Option<Cluster>, Error> {
        let started = Instant::now();
        let mut last = String::new();
        loop {
            let (state, cluster) = match self.cluster(group, name).await {
                Ok(c) => (c.state_name.clone().unwrap_or_default(), Some(c)),
                Err(e) if e.is_not_found() => ("GONE".to_string(), None),
                Err(e) => return Err(e),
            };
            if state != last {
                progress(&Progress {
                    cluster: name.to_string(),
                    state: state.clone(),
                    waited: started.elapsed(),
                });
                last = state.clone();
            }
            let done = if gone {
                cluster.is_none()
            } else {
                state == "IDLE"
            };
            if done {
                return Ok(cluster);
            }
            if !gone && cluster.is_none() {
                return Err(Error::Api {
                    status: 404,
                    method: "GET".into(),
                    path: Self::cluster_path(group, name),
                    body: crate::error::ApiError {
                        error: 404,
                        error_code: "CLUSTER_NOT_FOUND".into(),
                        detail: Some("the cluster disappeared while waiting for IDLE".into()),
                        ..Default::default()
                    },
                });
            }
            if started.elapsed() >= timeout {
                return Err(Error::Timeout {
                    what: format!("cluster {name}"),
                    state: if gone {
                        "deletion".into()
                    } else {
                        "IDLE".into()
                    },
                    last,
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(every).await;
        }
    }
}
