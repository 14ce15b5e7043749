//! Clusters: the model of the `2024-10-23` API (one replication spec per
//! shard or zone, a region config per region, hardware per node kind), and
//! waiting for a cluster to settle.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::open::open_enum;
use super::projects::Tag;
use super::{Client, api_path, media};
use crate::error::Error;

open_enum!(
    /// An instance size of a dedicated general-purpose cluster. Other
    /// tiers (R-series, NVMe, tenant `M0`/`M2`/`M5`, Flex) are read as
    /// [`InstanceSize::Other`].
    InstanceSize {
        /// M10.
        M10 = "M10",
        /// M20.
        M20 = "M20",
        /// M30.
        M30 = "M30",
        /// M40.
        M40 = "M40",
        /// M50.
        M50 = "M50",
        /// M60.
        M60 = "M60",
        /// M80.
        M80 = "M80",
        /// M140.
        M140 = "M140",
        /// M200.
        M200 = "M200",
        /// M300.
        M300 = "M300",
        /// M400.
        M400 = "M400",
        /// M700.
        M700 = "M700",
    }
);

open_enum!(
    /// A cloud provider (tenant and Flex clusters say `TENANT` or `FLEX`,
    /// read as [`CloudProvider::Other`]).
    CloudProvider {
        /// Amazon Web Services.
        Aws = "AWS",
        /// Google Cloud.
        Gcp = "GCP",
        /// Microsoft Azure.
        Azure = "AZURE",
    }
);

open_enum!(
    /// The cluster's topology.
    ClusterType {
        /// A replica set.
        Replicaset = "REPLICASET",
        /// A sharded cluster.
        Sharded = "SHARDED",
        /// A global cluster.
        Geosharded = "GEOSHARDED",
    }
);

open_enum!(
    /// The minimum TLS version a cluster accepts. (The deployment guide
    /// asks for 1.2 or later; the older ones exist so that any cluster can
    /// be read.)
    TlsProtocol {
        /// TLS 1.0.
        Tls10 = "TLS1_0",
        /// TLS 1.1.
        Tls11 = "TLS1_1",
        /// TLS 1.2.
        Tls12 = "TLS1_2",
        /// TLS 1.3.
        Tls13 = "TLS1_3",
    }
);

/// Nodes of one kind in one region. Every field is optional, as in the
/// spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HardwareSpec {
    /// The instance size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_size: Option<InstanceSize>,
    /// How many nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_count: Option<u32>,
    /// Storage per node, in GB.
    #[serde(
        rename = "diskSizeGB",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub disk_size_gb: Option<f64>,
}

impl HardwareSpec {
    /// `count` nodes of `size`.
    pub fn new(size: InstanceSize, count: u32) -> Self {
        Self {
            instance_size: Some(size),
            node_count: Some(count),
            disk_size_gb: None,
        }
    }

    /// With `gb` of storage per node.
    #[must_use]
    pub fn disk(mut self, gb: f64) -> Self {
        self.disk_size_gb = Some(gb);
        self
    }

    /// How many nodes (0 when not said).
    pub fn nodes(&self) -> u32 {
        self.node_count.unwrap_or(0)
    }
}

/// Compute auto-scaling: Atlas changes the instance size between bounds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputeAutoScaling {
    /// Whether it is on.
    #[serde(default)]
    pub enabled: bool,
    /// Whether it may also scale down.
    #[serde(default)]
    pub scale_down_enabled: bool,
    /// The smallest size it may choose (needed only to scale down).
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
    #[serde(default)]
    pub enabled: bool,
}

/// Auto-scaling of a region's nodes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionConfig {
    /// The cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_name: Option<CloudProvider>,
    /// The region, e.g. `US_EAST_1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_name: Option<String>,
    /// Election priority, 7 (highest) to 0 (read-only regions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    /// Voting nodes that can become primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub electable_specs: Option<HardwareSpec>,
    /// Read-only nodes (read replicas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_specs: Option<HardwareSpec>,
    /// Analytics nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics_specs: Option<HardwareSpec>,
    /// Auto-scaling of electable and read-only nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_scaling: Option<AutoScaling>,
    /// Auto-scaling of analytics nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics_auto_scaling: Option<AutoScaling>,
    /// What the electable nodes are now, auto-scaling included (read-only).
    #[serde(default, skip_serializing)]
    pub effective_electable_specs: Option<HardwareSpec>,
    /// What the read-only nodes are now (read-only).
    #[serde(default, skip_serializing)]
    pub effective_read_only_specs: Option<HardwareSpec>,
    /// What the analytics nodes are now (read-only).
    #[serde(default, skip_serializing)]
    pub effective_analytics_specs: Option<HardwareSpec>,
    /// The cloud under a tenant cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backing_provider_name: Option<String>,
}

impl RegionConfig {
    /// The electable nodes as they are now: the effective spec where Atlas
    /// gives one (it differs from the configured one once auto-scaling
    /// acted), else the configured one.
    pub fn electable_now(&self) -> Option<&HardwareSpec> {
        self.effective_electable_specs
            .as_ref()
            .or(self.electable_specs.as_ref())
    }

    /// The read-only nodes as they are now (see [`Self::electable_now`]).
    pub fn read_only_now(&self) -> Option<&HardwareSpec> {
        self.effective_read_only_specs
            .as_ref()
            .or(self.read_only_specs.as_ref())
    }
}

/// One shard (or zone) and its regions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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
    #[serde(default)]
    pub region_configs: Vec<RegionConfig>,
}

/// Advanced settings madplan manages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdvancedConfiguration {
    /// The minimum TLS version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_enabled_tls_protocol: Option<TlsProtocol>,
}

/// How to connect to a cluster (read-only; never holds credentials).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionStrings {
    /// `mongodb://` with every host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard: Option<String>,
    /// `mongodb+srv://` through DNS SRV records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard_srv: Option<String>,
    /// Through network peering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_srv: Option<String>,
}

/// A cluster (the `2024-10-23` write / `2024-08-05` read model). Fields the
/// spec leaves optional are optional here.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its topology.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_type: Option<ClusterType>,
    /// Its shards or zones.
    #[serde(default)]
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
    /// Tags (`None`: leave them as they are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    /// Atlas's id (read-only).
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    /// `CREATING`, `IDLE`, `UPDATING`, `DELETING`... (read-only).
    #[serde(default, skip_serializing)]
    pub state_name: Option<String>,
    /// How to connect (read-only).
    #[serde(default, skip_serializing)]
    pub connection_strings: Option<ConnectionStrings>,
    /// When it was made (read-only).
    #[serde(default, skip_serializing)]
    pub create_date: Option<String>,
    /// The exact MongoDB version (read-only).
    #[serde(rename = "mongoDBVersion", default, skip_serializing)]
    pub mongodb_version: Option<String>,
}

impl Cluster {
    /// What Atlas would refuse, checked before sending: region priorities
    /// (7 first, descending, unique), an odd number (3, 5 or 7) of electable
    /// nodes per replication spec, point-in-time restore without backups,
    /// disk sizes that differ between node types, auto-scaling that differs
    /// between regions, auto-scaling without a maximum (or, scaling down,
    /// without a minimum), and bounds that exclude the instance size.
    pub fn check(&self) -> Result<(), Error> {
        let bad = |message: String| Err(Error::invalid(format!("cluster {}", self.name), message));
        if self.pit_enabled && !self.backup_enabled {
            return bad("point-in-time restore needs backupEnabled".into());
        }
        if self.replication_specs.is_empty() {
            return bad("it has no replication spec".into());
        }
        let regions = || {
            self.replication_specs
                .iter()
                .flat_map(|s| s.region_configs.iter())
        };
        let disks: Vec<f64> = regions()
            .flat_map(|r| [&r.electable_specs, &r.read_only_specs, &r.analytics_specs])
            .filter_map(|h| h.as_ref().and_then(|h| h.disk_size_gb))
            .collect();
        if disks.windows(2).any(|w| w[0] != w[1]) {
            return bad(format!(
                "diskSizeGB differs between node types or regions ({disks:?}); Atlas needs one size"
            ));
        }
        let scalings: Vec<&Option<AutoScaling>> = regions().map(|r| &r.auto_scaling).collect();
        if scalings.windows(2).any(|w| w[0] != w[1]) {
            return bad("auto-scaling differs between regions; Atlas needs it identical".into());
        }
        for spec in &self.replication_specs {
            let priorities: Vec<u8> = spec
                .region_configs
                .iter()
                .map(|r| r.priority.unwrap_or(0))
                .collect();
            let electable: Vec<u8> = spec
                .region_configs
                .iter()
                .filter(|r| r.electable_specs.as_ref().is_some_and(|e| e.nodes() > 0))
                .map(|r| r.priority.unwrap_or(0))
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
                .filter_map(|r| r.electable_specs.as_ref().map(HardwareSpec::nodes))
                .sum();
            if ![3, 5, 7].contains(&nodes) {
                return bad(format!(
                    "{nodes} electable nodes; a replica set has 3, 5 or 7"
                ));
            }
            for r in &spec.region_configs {
                let Some(a) = &r.auto_scaling else { continue };
                let c = &a.compute;
                if !c.enabled {
                    continue;
                }
                let Some(max) = &c.max_instance_size else {
                    return bad("compute auto-scaling needs a maximum size".into());
                };
                if c.scale_down_enabled && c.min_instance_size.is_none() {
                    return bad("compute auto-scaling that scales down needs a minimum size".into());
                }
                for size in [&r.electable_specs, &r.read_only_specs]
                    .into_iter()
                    .flatten()
                    .filter_map(|h| h.instance_size.as_ref())
                {
                    let rank = |s: &InstanceSize| s.rank();
                    let (Some(s), Some(hi)) = (rank(size), rank(max)) else {
                        continue;
                    };
                    let lo = c.min_instance_size.as_ref().and_then(rank).unwrap_or(0);
                    if s < lo || s > hi {
                        return bad(format!(
                            "{size} lies outside auto-scaling's {}..{max}",
                            c.min_instance_size
                                .as_ref()
                                .map_or("any".to_string(), |m| m.to_string())
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
        api_path(&["groups", group, "clusters", name])
    }

    /// Creates a cluster (it starts `CREATING`; see [`Client::wait_for_cluster`]).
    pub async fn create_cluster(&self, group: &str, cluster: &Cluster) -> Result<Cluster, Error> {
        cluster.check()?;
        let body = serde_json::to_value(cluster).map_err(|e| Error::config(e.to_string()))?;
        self.fetch(
            Method::POST,
            &api_path(&["groups", group, "clusters"]),
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
            &api_path(&["groups", group, "clusters"]),
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

    /// Changes only the fields given (the cluster's JSON names): what is
    /// left out stays as it is. Replication specs given are checked as
    /// [`Cluster::check`] does before sending.
    pub async fn patch_cluster(
        &self,
        group: &str,
        name: &str,
        fields: serde_json::Value,
    ) -> Result<Cluster, Error> {
        if fields.get("replicationSpecs").is_some() {
            let mut c: Cluster = serde_json::from_value(fields.clone())
                .map_err(|e| Error::invalid(format!("cluster {name}"), e.to_string()))?;
            c.name = name.to_string();
            c.check()?;
        }
        self.fetch(
            Method::PATCH,
            &Self::cluster_path(group, name),
            Some(fields),
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
                    request_id: None,
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
