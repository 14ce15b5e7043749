//! Dedicated replica-set clusters (the advanced-cluster API).
//!
//! The instance size under compute auto-scaling, and the disk size under
//! disk auto-scaling, belong to Atlas once the cluster exists: they sit at
//! their own paths (`compute.auto_scaling.instance_size`,
//! `storage.auto_scaling.size_gb`), declared
//! [`Resource::EXTERNALLY_OWNED`], so a scale event is never drift, and an
//! update sends back what the cluster runs now (its `effective*` specs),
//! never the tier it started with. A fixed tier (`compute.instance_size`)
//! is the operator's, and changing it resizes the cluster.

use std::collections::BTreeMap;
use std::time::Duration;

use madplan_core::{
    Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, Readiness, RefreshCx,
    Resource, ValidateCx, problem,
};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Value, json};

use super::{
    Atlas, ClusterName, ConnectionString, ProjectId, all_tags, fatal, is_marker, known, lookup,
    marker_tags, tag_problems, user_tags,
};
use crate::client::clusters::{
    self, AdvancedConfiguration, AutoScaling, CloudProvider, ClusterType,
    ComputeAutoScaling as ApiComputeScaling, DiskAutoScaling as ApiDiskScaling, HardwareSpec,
    InstanceSize, RegionConfig, ReplicationSpec, TlsProtocol,
};
use crate::client::projects::Tag;

/// The tier of every electable and read-only node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compute {
    /// The fixed tier, when compute auto-scaling is off.
    pub instance_size: Option<InstanceSize>,
    /// Compute auto-scaling, when it is on.
    pub auto_scaling: Option<ComputeAutoScaling>,
}

/// Compute auto-scaling: Atlas moves the tier between bounds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeAutoScaling {
    /// The tier now: the one the cluster starts with; Atlas owns it once the
    /// cluster exists.
    pub instance_size: Option<InstanceSize>,
    /// The largest tier it may choose.
    pub max: InstanceSize,
    /// The smallest tier it may scale down to; `None`: it never scales
    /// down.
    pub scale_down_to: Option<InstanceSize>,
}

impl Compute {
    /// A fixed tier.
    pub fn fixed(size: InstanceSize) -> Self {
        Self {
            instance_size: Some(size),
            auto_scaling: None,
        }
    }

    /// Auto-scaling from `start` up to `max`, never down (see
    /// [`Compute::scale_down_to`]).
    pub fn auto_scaled(start: InstanceSize, max: InstanceSize) -> Self {
        Self {
            instance_size: None,
            auto_scaling: Some(ComputeAutoScaling {
                instance_size: Some(start),
                max,
                scale_down_to: None,
            }),
        }
    }

    /// Auto-scaling may also scale down, to `min` at the smallest.
    #[must_use]
    pub fn scale_down_to(mut self, min: InstanceSize) -> Self {
        if let Some(a) = self.auto_scaling.as_mut() {
            a.scale_down_to = Some(min);
        }
        self
    }
}

/// Storage per node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Storage {
    /// A fixed size in GB (`None`: the tier's default), when disk
    /// auto-scaling is off.
    pub size_gb: Option<f64>,
    /// Disk auto-scaling, when it is on.
    pub auto_scaling: Option<DiskAutoScaling>,
}

/// Disk auto-scaling: Atlas grows the disk as it fills.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DiskAutoScaling {
    /// The size now: the starting size (`None`: the tier's default); Atlas
    /// owns it once the cluster exists.
    pub size_gb: Option<f64>,
}

impl Storage {
    /// A fixed size.
    pub fn fixed(gb: f64) -> Self {
        Self {
            size_gb: Some(gb),
            auto_scaling: None,
        }
    }

    /// Disk auto-scaling from the tier's default size.
    pub fn auto_scaled() -> Self {
        Self {
            size_gb: None,
            auto_scaling: Some(DiskAutoScaling::default()),
        }
    }

    /// Disk auto-scaling from `gb`.
    pub fn auto_scaled_from(gb: f64) -> Self {
        Self {
            size_gb: None,
            auto_scaling: Some(DiskAutoScaling { size_gb: Some(gb) }),
        }
    }
}

/// The nodes of one region.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Region {
    /// Election priority: 7 for the primary's region, lower for the other
    /// electable regions, 0 for regions with read-only nodes only.
    pub priority: u8,
    /// The cloud.
    pub provider: CloudProvider,
    /// Atlas's name of the region, e.g. `US_EAST_1`.
    pub region: String,
    /// Voting nodes that can become primary.
    pub electable_nodes: u32,
    /// Read-only nodes (read replicas).
    pub read_only_nodes: u32,
}

impl Region {
    /// `nodes` electable nodes in `region` with `priority`.
    pub fn electable(provider: CloudProvider, region: &str, priority: u8, nodes: u32) -> Self {
        Self {
            priority,
            provider,
            region: region.into(),
            electable_nodes: nodes,
            read_only_nodes: 0,
        }
    }

    /// `nodes` read-only nodes in `region` (priority 0).
    pub fn read_only(provider: CloudProvider, region: &str, nodes: u32) -> Self {
        Self {
            priority: 0,
            provider,
            region: region.into(),
            electable_nodes: 0,
            read_only_nodes: nodes,
        }
    }

    /// With `n` read-only nodes as well.
    #[must_use]
    pub fn with_read_only(mut self, n: u32) -> Self {
        self.read_only_nodes = n;
        self
    }
}

/// Regions in their canonical order: highest priority first, then by name.
fn sorted_regions<S: Serializer>(regions: &[Region], s: S) -> Result<S::Ok, S::Error> {
    let mut v = regions.to_vec();
    v.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then_with(|| (&a.provider, &a.region).cmp(&(&b.provider, &b.region)))
    });
    v.serialize(s)
}

/// A dedicated replica-set cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// Its project.
    pub project: Input<ProjectId>,
    /// Its name.
    pub name: String,
    /// The MongoDB major version, e.g. `8.0`.
    pub mongodb_major_version: String,
    /// The tier.
    pub compute: Compute,
    /// The disk.
    pub storage: Storage,
    /// Its regions.
    #[serde(serialize_with = "sorted_regions")]
    pub regions: Vec<Region>,
    /// Cloud backups.
    pub backup: bool,
    /// Continuous cloud backup: point-in-time restore (needs `backup`).
    pub continuous_backup: bool,
    /// Atlas refuses to delete it while this is on.
    pub termination_protection: bool,
    /// The oldest TLS version it accepts.
    pub minimum_tls: TlsProtocol,
    /// Its tags (madplan's own markers are kept apart).
    pub tags: BTreeMap<String, String>,
}

/// What a cluster yields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterOutputs {
    /// Its project.
    pub project_id: ProjectId,
    /// Its name.
    pub name: ClusterName,
    /// Atlas's id.
    pub cluster_id: String,
    /// The standard SRV connection string, without credentials (known once
    /// the cluster is ready).
    pub connection_string: Option<ConnectionString>,
}

impl Cluster {
    /// A cluster `name` in `project`: MongoDB 8.0, backups with
    /// point-in-time restore, TLS 1.2 at least; give its tier and regions.
    pub fn new(project: impl IntoInput<ProjectId>, name: &str, compute: Compute) -> Self {
        Self {
            project: project.into_input(),
            name: name.into(),
            mongodb_major_version: "8.0".into(),
            compute,
            storage: Storage::default(),
            regions: Vec::new(),
            backup: true,
            continuous_backup: true,
            termination_protection: false,
            minimum_tls: TlsProtocol::Tls12,
            tags: BTreeMap::new(),
        }
    }

    /// With a region.
    #[must_use]
    pub fn region(mut self, r: Region) -> Self {
        self.regions.push(r);
        self
    }

    /// With this storage.
    #[must_use]
    pub fn storage(mut self, s: Storage) -> Self {
        self.storage = s;
        self
    }

    /// With termination protection on or off.
    #[must_use]
    pub fn termination_protection(mut self, on: bool) -> Self {
        self.termination_protection = on;
        self
    }

    /// With this MongoDB major version.
    #[must_use]
    pub fn mongodb(mut self, major: &str) -> Self {
        self.mongodb_major_version = major.into();
        self
    }

    /// With a tag.
    #[must_use]
    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// The tier it starts with (or has, when fixed).
    fn starting_size(&self) -> Option<&InstanceSize> {
        self.compute.instance_size.as_ref().or(self
            .compute
            .auto_scaling
            .as_ref()
            .and_then(|a| a.instance_size.as_ref()))
    }

    fn api_auto_scaling(&self) -> AutoScaling {
        AutoScaling {
            compute: match &self.compute.auto_scaling {
                Some(a) => ApiComputeScaling {
                    enabled: true,
                    scale_down_enabled: a.scale_down_to.is_some(),
                    min_instance_size: a.scale_down_to.clone(),
                    max_instance_size: Some(a.max.clone()),
                },
                None => ApiComputeScaling::default(),
            },
            disk_gb: ApiDiskScaling {
                enabled: self.storage.auto_scaling.is_some(),
            },
        }
    }

    /// The replication spec Atlas takes, with `now` (the tier and disk the
    /// cluster runs, from its effective specs) where Atlas owns them.
    fn api_specs(&self, now: Option<&Running>, zone_name: Option<String>) -> Vec<ReplicationSpec> {
        let size = match (&self.compute.instance_size, &self.compute.auto_scaling) {
            (Some(fixed), _) => Some(fixed.clone()),
            (None, Some(a)) => now
                .and_then(|n| n.size.clone())
                .or_else(|| a.instance_size.clone()),
            (None, None) => None,
        };
        let disk = match &self.storage.auto_scaling {
            None => self.storage.size_gb.or(now.and_then(|n| n.disk)),
            Some(a) => now.and_then(|n| n.disk).or(a.size_gb),
        };
        let scaling = self.api_auto_scaling();
        let mut regions = self.regions.clone();
        regions.sort_by_key(|r| std::cmp::Reverse(r.priority));
        let hw = |nodes: u32| {
            (nodes > 0).then(|| HardwareSpec {
                instance_size: size.clone(),
                node_count: Some(nodes),
                disk_size_gb: disk,
            })
        };
        vec![ReplicationSpec {
            zone_name,
            region_configs: regions
                .iter()
                .map(|r| RegionConfig {
                    provider_name: Some(r.provider.clone()),
                    region_name: Some(r.region.clone()),
                    priority: Some(r.priority),
                    electable_specs: hw(r.electable_nodes),
                    read_only_specs: hw(r.read_only_nodes),
                    auto_scaling: Some(scaling.clone()),
                    ..RegionConfig::default()
                })
                .collect(),
            ..ReplicationSpec::default()
        }]
    }

    fn api_cluster(&self, tags: Vec<Tag>) -> clusters::Cluster {
        clusters::Cluster {
            name: self.name.clone(),
            cluster_type: Some(ClusterType::Replicaset),
            replication_specs: self.api_specs(None, None),
            backup_enabled: self.backup,
            pit_enabled: self.continuous_backup,
            termination_protection_enabled: self.termination_protection,
            mongodb_major_version: Some(self.mongodb_major_version.clone()),
            advanced_configuration: Some(AdvancedConfiguration {
                minimum_enabled_tls_protocol: Some(self.minimum_tls.clone()),
            }),
            tags: Some(tags),
            ..clusters::Cluster::default()
        }
    }
}

/// What a cluster runs now, from its effective specs.
struct Running {
    size: Option<InstanceSize>,
    disk: Option<f64>,
}

fn running(c: &clusters::Cluster) -> Running {
    let node = c
        .replication_specs
        .iter()
        .flat_map(|s| &s.region_configs)
        .find_map(|r| {
            r.electable_now()
                .filter(|e| e.nodes() > 0)
                .or(r.read_only_now().filter(|e| e.nodes() > 0))
        });
    Running {
        size: node.and_then(|n| n.instance_size.clone()),
        disk: node.and_then(|n| n.disk_size_gb),
    }
}

/// The live cluster in the spec's shape.
fn observed(c: &clusters::Cluster, project: &str) -> Cluster {
    let now = running(c);
    let configs: Vec<&RegionConfig> = c
        .replication_specs
        .iter()
        .flat_map(|s| &s.region_configs)
        .collect();
    let scaling = configs
        .first()
        .and_then(|r| r.auto_scaling.clone())
        .unwrap_or_default();
    let compute = if scaling.compute.enabled {
        Compute {
            instance_size: None,
            auto_scaling: Some(ComputeAutoScaling {
                instance_size: now.size.clone(),
                max: scaling
                    .compute
                    .max_instance_size
                    .clone()
                    .or(now.size.clone())
                    .unwrap_or(InstanceSize::Other(String::new())),
                scale_down_to: scaling
                    .compute
                    .scale_down_enabled
                    .then(|| scaling.compute.min_instance_size.clone())
                    .flatten(),
            }),
        }
    } else {
        Compute {
            instance_size: now.size.clone(),
            auto_scaling: None,
        }
    };
    let storage = if scaling.disk_gb.enabled {
        Storage {
            size_gb: None,
            auto_scaling: Some(DiskAutoScaling { size_gb: now.disk }),
        }
    } else {
        Storage {
            size_gb: now.disk,
            auto_scaling: None,
        }
    };
    let regions = configs
        .iter()
        .map(|r| Region {
            priority: r.priority.unwrap_or(0),
            provider: r
                .provider_name
                .clone()
                .unwrap_or(CloudProvider::Other(String::new())),
            region: r.region_name.clone().unwrap_or_default(),
            electable_nodes: r.electable_now().map_or(0, HardwareSpec::nodes),
            read_only_nodes: r.read_only_now().map_or(0, HardwareSpec::nodes),
        })
        .collect();
    Cluster {
        project: Input::Value(ProjectId(project.to_string())),
        name: c.name.clone(),
        mongodb_major_version: c.mongodb_major_version.clone().unwrap_or_default(),
        compute,
        storage,
        regions,
        backup: c.backup_enabled,
        continuous_backup: c.pit_enabled,
        termination_protection: c.termination_protection_enabled,
        minimum_tls: c
            .advanced_configuration
            .as_ref()
            .and_then(|a| a.minimum_enabled_tls_protocol.clone())
            .unwrap_or(TlsProtocol::Tls12),
        tags: user_tags(c.tags.as_deref().unwrap_or_default()),
    }
}

fn outputs_of(c: &clusters::Cluster, project: &str) -> ClusterOutputs {
    ClusterOutputs {
        project_id: ProjectId(project.to_string()),
        name: ClusterName(c.name.clone()),
        cluster_id: c.id.clone().unwrap_or_default(),
        connection_string: c
            .connection_strings
            .as_ref()
            .and_then(|s| s.standard_srv.clone())
            .map(ConnectionString),
    }
}

/// Polls the cluster until it is `IDLE`, releasing the provider's budget
/// while it waits, and returns it.
async fn wait_idle(
    atlas: &Atlas,
    cx: &OpCx,
    group: &str,
    name: &str,
    what: &str,
) -> Result<clusters::Cluster, ProviderError> {
    cx.wait_for(what, atlas.poll_every(), || async {
        let c = atlas.client().cluster(group, name).await?;
        Ok(match c.state_name.as_deref() {
            Some("IDLE") => Readiness::Ready(c),
            state => Readiness::Waiting(state.unwrap_or("UNKNOWN").to_string()),
        })
    })
    .await
}

fn rank(s: &InstanceSize) -> Option<usize> {
    s.rank()
}

impl Resource for Cluster {
    const KIND: &'static str = "atlas.cluster";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["name", "project"];
    const EXTERNALLY_OWNED: &'static [&'static str] = &[
        "compute.auto_scaling.instance_size",
        "storage.auto_scaling.size_gb",
    ];
    const SERVER_DEFAULTED: &'static [&'static str] = &["storage.size_gb"];
    const WAIT_TIMEOUT: Duration = Duration::from_secs(60 * 60);
    type Provider = Atlas;
    type Outputs = ClusterOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        let mut p = |field: &str, message: String, hint: Option<&str>| {
            problems.push(problem(field, message, hint));
        };
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !name_ok {
            p(
                "name",
                format!("{:?} is not a cluster name Atlas accepts", self.name),
                Some("1 to 64 letters, digits and '-', starting with a letter or digit"),
            );
        }
        let version_ok = self
            .mongodb_major_version
            .split_once('.')
            .is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && a.chars().chain(b.chars()).all(|c| c.is_ascii_digit())
            });
        if !version_ok {
            p(
                "mongodb_major_version",
                format!(
                    "{:?} is not a major version such as 8.0",
                    self.mongodb_major_version
                ),
                None,
            );
        }
        // Regions and their priorities.
        if self.regions.is_empty() {
            p(
                "regions",
                "a cluster needs at least one region".into(),
                None,
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for r in &self.regions {
            if !seen.insert((&r.provider, &r.region)) {
                p(
                    "regions",
                    format!("{} {} is listed twice", r.provider, r.region),
                    None,
                );
            }
            if r.electable_nodes + r.read_only_nodes == 0 {
                p("regions", format!("{} has no nodes", r.region), None);
            }
            if r.region.is_empty()
                || !r
                    .region
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                p(
                    "regions",
                    format!(
                        "{:?} is not an Atlas region name such as US_EAST_1",
                        r.region
                    ),
                    None,
                );
            }
            if !r.provider.is_known() {
                p(
                    "regions",
                    format!("unknown cloud provider {}", r.provider),
                    None,
                );
            }
            if r.electable_nodes == 0 && r.priority != 0 {
                p(
                    "regions",
                    format!(
                        "{} has only read-only nodes: its priority must be 0",
                        r.region
                    ),
                    None,
                );
            }
        }
        let mut electable: Vec<&Region> = self
            .regions
            .iter()
            .filter(|r| r.electable_nodes > 0)
            .collect();
        electable.sort_by_key(|r| std::cmp::Reverse(r.priority));
        if !self.regions.is_empty() && electable.first().map(|r| r.priority) != Some(7) {
            p(
                "regions",
                "the primary's region (the highest priority with electable nodes) must have priority 7"
                    .into(),
                Some("give the region the primary lives in priority 7"),
            );
        }
        let priorities: Vec<u8> = electable.iter().map(|r| r.priority).collect();
        if priorities.windows(2).any(|w| w[0] == w[1]) || priorities.contains(&0) {
            p(
                "regions",
                format!(
                    "electable regions need distinct priorities from 7 down to 1 (got {priorities:?})"
                ),
                None,
            );
        }
        let nodes: u32 = electable.iter().map(|r| r.electable_nodes).sum();
        if !self.regions.is_empty() && ![3, 5, 7].contains(&nodes) {
            p(
                "regions",
                format!("{nodes} electable nodes; a replica set has 3, 5 or 7"),
                None,
            );
        }
        // The tier.
        match (&self.compute.instance_size, &self.compute.auto_scaling) {
            (Some(_), Some(_)) | (None, None) => p(
                "compute",
                "give either a fixed tier or compute auto-scaling".into(),
                Some("Compute::fixed(..) or Compute::auto_scaled(..)"),
            ),
            (None, Some(a)) => match &a.instance_size {
                None => p(
                    "compute.auto_scaling.instance_size",
                    "auto-scaling needs the tier the cluster starts with".into(),
                    None,
                ),
                Some(start) => {
                    let (s, hi) = (rank(start), rank(&a.max));
                    let lo = a.scale_down_to.as_ref().and_then(rank);
                    if s.is_none() || hi.is_none() || (a.scale_down_to.is_some() && lo.is_none()) {
                        p(
                            "compute.auto_scaling",
                            "auto-scaling bounds must be general-purpose tiers (M10 to M700)"
                                .into(),
                            None,
                        );
                    } else if s > hi || lo.is_some_and(|lo| Some(lo) > s) {
                        p(
                            "compute.auto_scaling",
                            format!(
                                "the starting tier {start} must lie within {}..{}",
                                a.scale_down_to
                                    .as_ref()
                                    .map_or("any".to_string(), |m| m.to_string()),
                                a.max
                            ),
                            None,
                        );
                    }
                }
            },
            (Some(size), None) => {
                if !size.is_known() {
                    p(
                        "compute.instance_size",
                        format!("{size} is not a tier madplan manages"),
                        None,
                    );
                }
            }
        }
        if self.storage.size_gb.is_some() && self.storage.auto_scaling.is_some() {
            p(
                "storage",
                "give a fixed size or disk auto-scaling, not both".into(),
                Some("Storage::auto_scaled_from(gb) starts auto-scaling at a size"),
            );
        }
        let sizes = [
            self.storage.size_gb,
            self.storage.auto_scaling.as_ref().and_then(|a| a.size_gb),
        ];
        if sizes.iter().flatten().any(|&g| g.is_nan() || g <= 0.0) {
            p("storage", "a disk size must be positive".into(), None);
        }
        if self.continuous_backup && !self.backup {
            p(
                "continuous_backup",
                "continuous backup (point-in-time restore) needs backup".into(),
                Some("turn backup on"),
            );
        }
        if self.minimum_tls.rank().is_none_or(|r| r < 2) {
            p(
                "minimum_tls",
                format!(
                    "{} is older than TLS 1.2, which the deployment guide requires",
                    self.minimum_tls
                ),
                Some("TlsProtocol::Tls12 or Tls13"),
            );
        }
        tag_problems(&self.tags, problems);
        if cx.environment() == "production" {
            self.production_problems(problems);
        }
    }

    async fn refresh(
        atlas: &Atlas,
        cx: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        let tracked = cx.tracked.iter().map(|t| t.outputs.project_id.0.clone());
        let mut found = Vec::new();
        for group in atlas.project_ids(tracked).await? {
            let listed = match atlas.client().clusters(&group).await {
                Ok(l) => l,
                // A tracked project that is gone has no clusters.
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            for c in listed {
                let tags = c.tags.clone().unwrap_or_default();
                let marks = lookup(tags.iter().map(|t| (t.key.as_str(), t.value.as_str())));
                let Some(claim) =
                    cx.claim(|o| o.project_id.0 == group && o.name.0 == c.name, marks)
                else {
                    continue;
                };
                found.push(Found::new(
                    claim,
                    observed(&c, &group),
                    outputs_of(&c, &group),
                ));
            }
        }
        Ok(found)
    }

    async fn create(&self, atlas: &Atlas, cx: &OpCx) -> Result<ClusterOutputs, ProviderError> {
        let group = known(&self.project)?.0.clone();
        let made = atlas
            .client()
            .create_cluster(
                &group,
                &self.api_cluster(all_tags(&self.tags, marker_tags(cx))),
            )
            .await?;
        let outputs = outputs_of(&made, &group);
        cx.created(&outputs).await?;
        Self::resume(&outputs, atlas, cx).await
    }

    async fn resume(
        outputs: &ClusterOutputs,
        atlas: &Atlas,
        cx: &OpCx,
    ) -> Result<ClusterOutputs, ProviderError> {
        let group = &outputs.project_id.0;
        let c = wait_idle(atlas, cx, group, &outputs.name.0, "the cluster to be IDLE").await?;
        Ok(outputs_of(&c, group))
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        atlas: &Atlas,
        cx: &OpCx,
    ) -> Result<ClusterOutputs, ProviderError> {
        let group = prior.outputs.project_id.0.clone();
        let name = prior.outputs.name.0.clone();
        // Read-modify-write on the cluster as it is once it settled (an
        // auto-scaling event may be under way).
        let live = wait_idle(
            atlas,
            cx,
            &group,
            &name,
            "the cluster to be IDLE before changing it",
        )
        .await?;
        let has = |f: &str| changed.iter().any(|c| c == f);
        let mut body = serde_json::Map::new();
        if has("compute") || has("storage") || has("regions") {
            let zone = live
                .replication_specs
                .first()
                .and_then(|s| s.zone_name.clone());
            let specs = self.api_specs(Some(&running(&live)), zone);
            body.insert("clusterType".into(), json!(ClusterType::Replicaset));
            body.insert("replicationSpecs".into(), json!(specs));
        }
        if has("mongodb_major_version") {
            body.insert(
                "mongoDBMajorVersion".into(),
                json!(self.mongodb_major_version),
            );
        }
        if has("backup") || has("continuous_backup") {
            body.insert("backupEnabled".into(), json!(self.backup));
            body.insert("pitEnabled".into(), json!(self.continuous_backup));
        }
        if has("termination_protection") {
            body.insert(
                "terminationProtectionEnabled".into(),
                json!(self.termination_protection),
            );
        }
        if has("minimum_tls") {
            body.insert(
                "advancedConfiguration".into(),
                json!({"minimumEnabledTlsProtocol": self.minimum_tls}),
            );
        }
        if has("tags") {
            let markers: Vec<Tag> = live
                .tags
                .clone()
                .unwrap_or_default()
                .into_iter()
                .filter(|t| is_marker(&t.key))
                .collect();
            body.insert("tags".into(), json!(all_tags(&self.tags, markers)));
        }
        if body.is_empty() {
            return Ok(outputs_of(&live, &group));
        }
        atlas
            .client()
            .patch_cluster(&group, &name, Value::Object(body))
            .await?;
        let c = wait_idle(atlas, cx, &group, &name, "the cluster to be IDLE").await?;
        Ok(outputs_of(&c, &group))
    }

    async fn delete(
        outputs: &ClusterOutputs,
        atlas: &Atlas,
        cx: &OpCx,
    ) -> Result<(), ProviderError> {
        let (group, name) = (&outputs.project_id.0, &outputs.name.0);
        let live = match atlas.client().cluster(group, name).await {
            Ok(c) => c,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if live.termination_protection_enabled {
            return Err(fatal(format!(
                "the cluster {name} has termination protection on, and Atlas refuses to delete \
                 it; to really delete it, turn it off first (set termination_protection to false \
                 and apply, or, in production where the code must keep it on, in Atlas), then \
                 destroy again; madplan never turns it off by itself"
            ))
            .with_code("TERMINATION_PROTECTION_ENABLED"));
        }
        match atlas.client().delete_cluster(group, name).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        cx.wait_for("the cluster to be deleted", atlas.poll_every(), || async {
            match atlas.client().cluster(group, name).await {
                Ok(c) => Ok(Readiness::Waiting(
                    c.state_name.unwrap_or_else(|| "DELETING".into()),
                )),
                Err(e) if e.is_not_found() => Ok(Readiness::Ready(())),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }
}

impl Cluster {
    /// The deployment guide's rules for production: M30 or larger,
    /// termination protection, continuous backup, read replicas outside
    /// the primary's region.
    fn production_problems(&self, problems: &mut Vec<Problem>) {
        let m30 = InstanceSize::M30.rank();
        let small = |s: Option<&InstanceSize>| s.and_then(rank) < m30;
        let floor = self
            .compute
            .auto_scaling
            .as_ref()
            .and_then(|a| a.scale_down_to.as_ref());
        if small(self.starting_size()) || (floor.is_some() && small(floor)) {
            problems.push(problem(
                "compute",
                "production runs on M30 or larger (the deployment guide), scaled down to M30 at the least",
                None,
            ));
        }
        if !self.termination_protection {
            problems.push(problem(
                "termination_protection",
                "the production cluster must have termination protection on",
                Some(
                    ".termination_protection(true); to retire it, turn protection off in Atlas, \
                     then destroy with --allow-destroy-protected",
                ),
            ));
        }
        if !(self.backup && self.continuous_backup) {
            problems.push(problem(
                "continuous_backup",
                "production needs continuous backup with point-in-time restore (the deployment guide)",
                None,
            ));
        }
        let primary = self.regions.iter().find(|r| r.priority == 7);
        let replicas = self
            .regions
            .iter()
            .filter(|r| r.read_only_nodes > 0 && Some(*r) != primary)
            .count();
        if replicas == 0 {
            problems.push(problem(
                "regions",
                "production keeps read replicas in other regions than the primary's (the deployment guide)",
                Some("add Region::read_only(..) in a second region"),
            ));
        }
    }
}
