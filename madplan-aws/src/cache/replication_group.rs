//! ElastiCache for Redis replication groups (cluster mode off: one primary
//! and its replicas).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use aws_sdk_elasticache::types::{
    AuthTokenUpdateStrategyType, AutomaticFailoverStatus, CacheCluster, MultiAzStatus,
    NodeGroupConfiguration, ReplicationGroup as ApiGroup, Tag,
};
use futures_util::{StreamExt, TryStreamExt};
use madplan_core::{
    ErrorClass, Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, Readiness,
    RefreshCx, Resource, Secret, ValidateCx, problem,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::{CacheSubnetGroupName, NodeType, RedisVersion, list_tags, set_tags};
use crate::Aws;
use crate::network::{Peer, PortRange, Protocol, SecurityGroup, SecurityGroupId};
use crate::support::{READS_AT_ONCE, all_tags, aws_error, claim, has_code, resolved, user_tags};

/// A Redis replication group: a primary and replicas spread over zones,
/// with automatic failover, encryption in transit and at rest, and an AUTH
/// token.
///
/// The AUTH token is a [`Secret`]: its value is sent to AWS and never
/// stored, planned or logged; the spec holds its name and version, so a
/// new version rotates it (`ModifyReplicationGroup` with the `ROTATE`
/// strategy: the old and the new token both work until the next rotation,
/// which gives the application time to pick the new one up).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct ReplicationGroup {
    /// The group's id (up to 40 lowercase letters, digits and hyphens).
    #[builder(setter(into))]
    pub id: String,
    /// What it is for.
    #[builder(default = "Managed by madplan".to_string(), setter(into))]
    pub description: String,
    /// The node type, e.g. `cache.t4g.small`.
    #[builder(setter(into))]
    pub node_type: NodeType,
    /// The Redis version.
    pub engine_version: RedisVersion,
    /// How many nodes: the primary and its replicas (1 to 6).
    #[builder(default = 2)]
    pub nodes: u8,
    /// The zones the nodes are spread over.
    #[builder(setter(transform = |z: impl IntoIterator<Item = impl Into<String>>| z.into_iter().map(Into::into).collect()))]
    pub zones: BTreeSet<String>,
    /// Whether a replica takes over when the primary fails.
    #[builder(default = true)]
    pub automatic_failover: bool,
    /// Whether failover crosses zones (needs automatic failover).
    #[builder(default = true)]
    pub multi_az: bool,
    /// The subnet group the nodes are placed in.
    #[builder(setter(transform = |g: impl IntoInput<CacheSubnetGroupName>| g.into_input()))]
    pub subnet_group: Input<CacheSubnetGroupName>,
    /// The security groups of the nodes: the application's group only may
    /// reach the port.
    #[builder(setter(transform = |g: impl IntoIterator<Item = Input<SecurityGroupId>>| g.into_iter().collect()))]
    pub security_groups: BTreeSet<Input<SecurityGroupId>>,
    /// The port.
    #[builder(default = 6379)]
    pub port: u16,
    /// TLS between clients and nodes.
    #[builder(default = true)]
    pub transit_encryption: bool,
    /// Encryption of the disks and backups.
    #[builder(default = true)]
    pub at_rest_encryption: bool,
    /// The AUTH token clients present (needs transit encryption).
    #[builder(default, setter(strip_option))]
    pub auth_token: Option<Secret>,
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// Values a group was last created or updated with that
/// `DescribeReplicationGroups` does not return (they are read from the
/// member clusters, `DescribeCacheClusters`); used when the members are not
/// listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    /// The Redis version.
    pub engine_version: RedisVersion,
    /// The subnet group.
    pub subnet_group: CacheSubnetGroupName,
    /// The security groups.
    pub security_groups: BTreeSet<SecurityGroupId>,
}

/// What a replication group yields: where the application connects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplicationGroupOutputs {
    /// Its id.
    pub id: String,
    /// Its ARN.
    pub arn: String,
    /// The primary's endpoint (writes), once the group is available.
    pub primary_endpoint: Option<String>,
    /// The readers' endpoint (reads, spread over the replicas).
    pub reader_endpoint: Option<String>,
    /// The port.
    pub port: u16,
    /// See [`Applied`].
    pub applied: Applied,
}

/// Where the deletion of a group stands: done once the group is not
/// found any more; a group still listed (`deleting`) is waited for.
fn deletion(found: Option<&ApiGroup>) -> Readiness<()> {
    match found {
        None => Readiness::Ready(()),
        Some(g) => Readiness::Waiting(g.status().unwrap_or("unknown").to_string()),
    }
}

/// The statuses a group passes through that are not an end.
fn settled(status: &str) -> bool {
    status == "available"
}

/// Checks an AUTH token against ElastiCache's rules without showing it.
pub(crate) fn check_token(token: &str) -> Result<(), String> {
    let len = token.chars().count();
    if !(16..=128).contains(&len) {
        return Err(format!("an AUTH token has 16 to 128 characters, not {len}"));
    }
    if let Some(c) = token
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '"' | '/' | '@'))
    {
        return Err(format!(
            "an AUTH token is printable ASCII without spaces, '\"', '/' or '@' (it holds {})",
            if c.is_ascii_graphic() {
                format!("{c:?}")
            } else {
                "a space or a non-ASCII character".into()
            }
        ));
    }
    Ok(())
}

impl ReplicationGroup {
    fn token(&self, cx: &OpCx) -> Result<Option<String>, ProviderError> {
        let Some(secret) = &self.auth_token else {
            return Ok(None);
        };
        let value = cx.secret(secret)?.expose_secret().to_string();
        check_token(&value).map_err(|why| {
            ProviderError::new(
                "madplan",
                ErrorClass::Fatal,
                format!("the secret {:?}: {why}", secret.name()),
            )
        })?;
        Ok(Some(value))
    }

    fn applied(&self) -> Result<Applied, ProviderError> {
        Ok(Applied {
            engine_version: self.engine_version,
            subnet_group: resolved(&self.subnet_group)?.clone(),
            security_groups: self.group_ids()?.into_iter().collect(),
        })
    }

    fn group_ids(&self) -> Result<Vec<SecurityGroupId>, ProviderError> {
        self.security_groups
            .iter()
            .map(|g| resolved(g).cloned())
            .collect()
    }

    /// The zones each node goes to, primary first: the zones in turn.
    fn node_zones(&self) -> Vec<String> {
        self.zones
            .iter()
            .cycle()
            .take(usize::from(self.nodes))
            .cloned()
            .collect()
    }

    /// The one node group: the primary in the first zone, the replicas in
    /// the zones in turn.
    fn node_group(&self) -> NodeGroupConfiguration {
        let zones = self.node_zones();
        NodeGroupConfiguration::builder()
            .node_group_id("0001")
            .replica_count(i32::from(self.nodes) - 1)
            .set_primary_availability_zone(zones.first().cloned())
            .set_replica_availability_zones(Some(zones.into_iter().skip(1).collect()))
            .build()
    }

    /// Waits until the group is available and returns its outputs.
    async fn wait_available(
        aws: &Aws,
        cx: &OpCx,
        mut outputs: ReplicationGroupOutputs,
    ) -> Result<ReplicationGroupOutputs, ProviderError> {
        let id = outputs.id.clone();
        let g = cx
            .wait_for(
                "the replication group to be available",
                Duration::from_secs(15),
                || {
                    let id = id.clone();
                    async move {
                        let g = describe(aws, &id).await?.ok_or_else(|| {
                            ProviderError::new(
                                "aws",
                                ErrorClass::NotFound,
                                format!("the replication group {id} disappeared"),
                            )
                        })?;
                        let status = g.status().unwrap_or("unknown").to_string();
                        Ok(if settled(&status) {
                            Readiness::Ready(g)
                        } else {
                            Readiness::Waiting(status)
                        })
                    }
                },
            )
            .await?;
        let (primary, reader) = endpoints(&g);
        outputs.primary_endpoint = primary;
        outputs.reader_endpoint = reader;
        Ok(outputs)
    }
}

fn endpoints(g: &ApiGroup) -> (Option<String>, Option<String>) {
    let ng = g.node_groups().first();
    (
        ng.and_then(|n| n.primary_endpoint())
            .and_then(|e| e.address())
            .map(str::to_string),
        ng.and_then(|n| n.reader_endpoint())
            .and_then(|e| e.address())
            .map(str::to_string),
    )
}

async fn describe(aws: &Aws, id: &str) -> Result<Option<ApiGroup>, ProviderError> {
    match aws
        .elasticache()
        .describe_replication_groups()
        .replication_group_id(id)
        .send()
        .await
        .map_err(aws_error)
    {
        Ok(o) => Ok(o.replication_groups().first().cloned()),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The spec a group has, from the group, its primary's cluster (when
/// listed) and what was applied last (when not).
fn from_api(
    g: &ApiGroup,
    primary: Option<&CacheCluster>,
    applied: Option<&Applied>,
) -> Option<ReplicationGroup> {
    let members = g
        .node_groups()
        .first()
        .map(|n| n.node_group_members())
        .unwrap_or_default();
    let (engine_version, subnet_group, security_groups) = match (primary, applied) {
        (Some(c), _) => (
            c.engine_version().and_then(RedisVersion::parse)?,
            CacheSubnetGroupName(c.cache_subnet_group_name().unwrap_or_default().to_string()),
            c.security_groups()
                .iter()
                .filter_map(|s| s.security_group_id())
                .map(|id| SecurityGroupId(id.to_string()))
                .collect::<BTreeSet<_>>(),
        ),
        (None, Some(a)) => (
            a.engine_version,
            a.subnet_group.clone(),
            a.security_groups.clone(),
        ),
        (None, None) => return None,
    };
    Some(ReplicationGroup {
        id: g.replication_group_id().unwrap_or_default().to_string(),
        description: g.description().unwrap_or_default().to_string(),
        node_type: NodeType(g.cache_node_type().unwrap_or_default().to_string()),
        engine_version,
        nodes: g.member_clusters().len() as u8,
        zones: members
            .iter()
            .filter_map(|m| m.preferred_availability_zone())
            .map(str::to_string)
            .collect(),
        automatic_failover: matches!(
            g.automatic_failover(),
            Some(AutomaticFailoverStatus::Enabled | AutomaticFailoverStatus::Enabling)
        ),
        multi_az: matches!(g.multi_az(), Some(MultiAzStatus::Enabled)),
        subnet_group: Input::Value(subnet_group),
        security_groups: security_groups.into_iter().map(Input::Value).collect(),
        port: g
            .node_groups()
            .first()
            .and_then(|n| n.primary_endpoint())
            .and_then(|e| e.port())
            .map_or(6379, |p| p as u16),
        transit_encryption: g.transit_encryption_enabled().unwrap_or(false),
        at_rest_encryption: g.at_rest_encryption_enabled().unwrap_or(false),
        auth_token: None,
        tags: BTreeMap::new(),
    })
}

/// What is wrong with a cache security group: anything but TCP on `port`
/// from one security group (the application's) gets in.
fn check_access(address: &str, group: &SecurityGroup, port: u16, problems: &mut Vec<Problem>) {
    let mut sources = BTreeSet::new();
    if group.ingress.is_empty() {
        problems.push(problem(
            "security_groups",
            format!("{address} lets nothing in: the application cannot reach Redis"),
            Some("allow TCP on the Redis port from the application's group"),
        ));
    }
    for r in &group.ingress {
        let right_port =
            r.protocol == Protocol::Tcp && r.ports == Some(PortRange::port(i32::from(port)));
        match (&r.peer, right_port) {
            (Peer::SecurityGroup(g), true) => {
                sources.insert(g.clone());
            }
            (peer, _) => problems.push(problem(
                "security_groups",
                format!(
                    "{address} lets {} in on {:?} {}: a Redis group admits only the application's group on port {port}",
                    match peer {
                        Peer::Cidr(c) => format!("the block {}", c.as_str()),
                        Peer::Ipv6(c) => format!("the block {c}"),
                        Peer::PrefixList(p) => format!("the prefix list {p}"),
                        Peer::SecurityGroup(g) => g.reference().map_or_else(|| format!("{g:?}"), |r| r.address.to_string()),
                    },
                    r.protocol,
                    r.ports.map_or_else(|| "every port".to_string(), |p| format!("ports {}-{}", p.from, p.to)),
                ),
                None,
            )),
        }
    }
    if sources.len() > 1 {
        problems.push(problem(
            "security_groups",
            format!(
                "{address} lets {} groups in: a Redis group admits only the application's group",
                sources.len()
            ),
            None,
        ));
    }
}

impl Resource for ReplicationGroup {
    const KIND: &'static str = "aws.elasticache_replication_group";
    const FORCES_REPLACEMENT: &'static [&'static str] = &[
        "id",
        "nodes",
        "zones",
        "subnet_group",
        "port",
        "transit_encryption",
        "at_rest_encryption",
    ];
    /// AWS never returns the token; the secret's name and version are
    /// compared with what was last applied.
    const WRITE_ONLY: &'static [&'static str] = &["auth_token"];
    /// A group in a zone pair fails over; a fresh one takes ten minutes or
    /// more.
    const WAIT_TIMEOUT: Duration = Duration::from_secs(60 * 60);
    type Provider = Aws;
    type Outputs = ReplicationGroupOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        super::subnet_group::check_name("id", &self.id, 40, problems);
        if let Some(why) = self.node_type.problem() {
            problems.push(problem(
                "node_type",
                why,
                Some("e.g. cache.t4g.small or cache.r7g.large"),
            ));
        }
        if !(1..=6).contains(&self.nodes) {
            problems.push(problem(
                "nodes",
                format!("{} nodes: a group has 1 to 6", self.nodes),
                None,
            ));
        }
        if self.automatic_failover && self.nodes < 2 {
            problems.push(problem(
                "automatic_failover",
                "automatic failover needs a replica (2 nodes or more)",
                None,
            ));
        }
        if self.multi_az && !self.automatic_failover {
            problems.push(problem(
                "multi_az",
                "Multi-AZ needs automatic failover",
                None,
            ));
        }
        if self.automatic_failover && self.zones.len() < 2 {
            problems.push(problem(
                "zones",
                "automatic failover across zones needs two zones or more",
                None,
            ));
        }
        if self.zones.len() > usize::from(self.nodes) {
            problems.push(problem(
                "zones",
                format!("{} zones for {} nodes", self.zones.len(), self.nodes),
                None,
            ));
        }
        if self.auth_token.is_some() && !self.transit_encryption {
            problems.push(problem(
                "auth_token",
                "an AUTH token needs encryption in transit",
                Some("keep transit_encryption(true)"),
            ));
        }
        if self.port == 0 {
            problems.push(problem("port", "port 0", None));
        }
        if self.security_groups.is_empty() {
            problems.push(problem(
                "security_groups",
                "without a security group the nodes get the VPC's default group",
                Some("give the group that lets the application in"),
            ));
        }
        for g in &self.security_groups {
            if let Some((address, group)) = cx.referenced::<SecurityGroup, _>(g) {
                check_access(&address.to_string(), &group, self.port, problems);
            }
        }
    }

    /// One `DescribeReplicationGroups` and one `DescribeCacheClusters` (for
    /// the version, subnet group and security groups of the members) per
    /// 100 items, then each group's tags, a bounded number at once.
    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let groups: Vec<ApiGroup> = aws
            .elasticache()
            .describe_replication_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(aws_error)?;
        // A group being deleted is going away: not there to manage.
        let groups: Vec<ApiGroup> = groups
            .into_iter()
            .filter(|g| g.status() != Some("deleting"))
            .collect();
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let clusters: Vec<CacheCluster> = aws
            .elasticache()
            .describe_cache_clusters()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(aws_error)?;
        let clusters: HashMap<String, CacheCluster> = clusters
            .into_iter()
            .filter_map(|c| Some((c.cache_cluster_id()?.to_string(), c)))
            .collect();
        let clusters = &clusters;
        let reads = groups.into_iter().map(|g| async move {
            let arn = g.arn().unwrap_or_default().to_string();
            let tags = match list_tags(aws, &arn).await {
                Ok(t) => t,
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e),
            };
            let id = g.replication_group_id().unwrap_or_default().to_string();
            let Some(claim) = claim(cx, &tags, |o| o.id == id) else {
                return Ok(None);
            };
            let applied = cx
                .tracked
                .iter()
                .find(|t| t.outputs.id == id)
                .map(|t| t.outputs.applied.clone());
            let primary = g
                .node_groups()
                .first()
                .and_then(|n| {
                    n.node_group_members()
                        .iter()
                        .find(|m| m.current_role() == Some("primary"))
                        .or_else(|| n.node_group_members().first())
                })
                .and_then(|m| m.cache_cluster_id())
                .and_then(|c| clusters.get(c));
            let Some(mut spec) = from_api(&g, primary, applied.as_ref()) else {
                return Ok(None);
            };
            spec.tags = user_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let (primary_endpoint, reader_endpoint) = endpoints(&g);
            let outputs = ReplicationGroupOutputs {
                id,
                arn,
                primary_endpoint,
                reader_endpoint,
                port: spec.port,
                applied: Applied {
                    engine_version: spec.engine_version,
                    subnet_group: spec
                        .subnet_group
                        .known()
                        .cloned()
                        .unwrap_or_else(|| CacheSubnetGroupName(String::new())),
                    security_groups: spec
                        .security_groups
                        .iter()
                        .filter_map(|g| g.known().cloned())
                        .collect(),
                },
            };
            Ok::<_, ProviderError>(Some(Found::new(claim, spec, outputs)))
        });
        let found: Vec<Option<Found<Self>>> = futures_util::stream::iter(reads)
            .buffered(READS_AT_ONCE)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<ReplicationGroupOutputs, ProviderError> {
        let token = self.token(cx)?;
        // Recorded before it is sent: a group is tagged, but a refresh can
        // only describe it once its member clusters are listed (moto never
        // lists them), so a group whose create's answer was lost (or whose
        // process died) is found by its id instead, and completed.
        cx.creating(&ReplicationGroupOutputs {
            id: self.id.clone(),
            arn: String::new(),
            primary_endpoint: None,
            reader_endpoint: None,
            port: self.port,
            applied: self.applied()?,
        })
        .await?;
        let out = aws
            .elasticache()
            .create_replication_group()
            .replication_group_id(&self.id)
            .replication_group_description(&self.description)
            .engine("redis")
            .engine_version(self.engine_version.as_str())
            .cache_node_type(self.node_type.as_str())
            // One node group (cluster mode off) with its replicas and their
            // zones; the same as NumCacheClusters with
            // PreferredCacheClusterAZs for AWS, and the form moto 5.2
            // honours (it ignores NumCacheClusters).
            .num_node_groups(1)
            .replicas_per_node_group(i32::from(self.nodes) - 1)
            .node_group_configuration(self.node_group())
            .automatic_failover_enabled(self.automatic_failover)
            .multi_az_enabled(self.multi_az)
            .cache_subnet_group_name(resolved(&self.subnet_group)?.as_str())
            .set_security_group_ids(Some(self.group_ids()?.into_iter().map(|g| g.0).collect()))
            .port(i32::from(self.port))
            .transit_encryption_enabled(self.transit_encryption)
            .at_rest_encryption_enabled(self.at_rest_encryption)
            .set_auth_token(token)
            .set_tags(Some(
                all_tags(cx, &self.tags)
                    .into_iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(aws_error)?;
        let g = out
            .replication_group()
            .ok_or_else(|| crate::network::missing("replication group"))?;
        let outputs = ReplicationGroupOutputs {
            id: self.id.clone(),
            arn: g.arn().unwrap_or_default().to_string(),
            primary_endpoint: None,
            reader_endpoint: None,
            port: self.port,
            applied: self.applied()?,
        };
        cx.created(&outputs).await?;
        Self::wait_available(aws, cx, outputs).await
    }

    async fn resume(
        outputs: &ReplicationGroupOutputs,
        aws: &Aws,
        cx: &OpCx,
    ) -> Result<ReplicationGroupOutputs, ProviderError> {
        Self::wait_available(aws, cx, outputs.clone()).await
    }

    /// One `ModifyReplicationGroup` for what changed (applied at once),
    /// then, when the token's version changed, a second one that rotates
    /// it once the first is done (ElastiCache refuses a modification while
    /// another is in progress).
    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        aws: &Aws,
        cx: &OpCx,
    ) -> Result<ReplicationGroupOutputs, ProviderError> {
        let has = |f: &str| changed.iter().any(|c| c == f);
        let mut outputs = prior.outputs.clone();
        let settings = [
            "description",
            "node_type",
            "engine_version",
            "automatic_failover",
            "multi_az",
            "security_groups",
        ];
        if settings.iter().any(|f| has(f)) {
            let mut call = aws
                .elasticache()
                .modify_replication_group()
                .replication_group_id(&self.id)
                .apply_immediately(true);
            if has("description") {
                call = call.replication_group_description(&self.description);
            }
            if has("node_type") {
                call = call.cache_node_type(self.node_type.as_str());
            }
            if has("engine_version") {
                call = call.engine_version(self.engine_version.as_str());
            }
            if has("automatic_failover") || has("multi_az") {
                call = call
                    .automatic_failover_enabled(self.automatic_failover)
                    .multi_az_enabled(self.multi_az);
            }
            if has("security_groups") {
                call = call.set_security_group_ids(Some(
                    self.group_ids()?.into_iter().map(|g| g.0).collect(),
                ));
            }
            call.send().await.map_err(aws_error)?;
            outputs = Self::wait_available(aws, cx, outputs).await?;
        }
        if has("auth_token") {
            let token = self.token(cx)?.ok_or_else(|| {
                ProviderError::new(
                    "madplan",
                    ErrorClass::Fatal,
                    "removing the AUTH token of a group is not supported; give a new version of the secret instead",
                )
            })?;
            aws.elasticache()
                .modify_replication_group()
                .replication_group_id(&self.id)
                .apply_immediately(true)
                .auth_token(token)
                .auth_token_update_strategy(AuthTokenUpdateStrategyType::Rotate)
                .send()
                .await
                .map_err(aws_error)?;
            outputs = Self::wait_available(aws, cx, outputs).await?;
        }
        if has("tags") {
            set_tags(aws, &prior.outputs.arn, &prior.spec.tags, &self.tags).await?;
        }
        outputs.applied = self.applied()?;
        Ok(outputs)
    }

    /// Deletes the group and waits until it is gone: its subnet group and
    /// security groups cannot be deleted before.
    async fn delete(
        outputs: &ReplicationGroupOutputs,
        aws: &Aws,
        cx: &OpCx,
    ) -> Result<(), ProviderError> {
        match aws
            .elasticache()
            .delete_replication_group()
            .replication_group_id(&outputs.id)
            .send()
            .await
            .map_err(aws_error)
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(()),
            // Already being deleted (a run that stopped while waiting).
            Err(e) if has_code(&e, "InvalidReplicationGroupState") => {}
            Err(e) => return Err(e),
        }
        let id = outputs.id.clone();
        cx.wait_for(
            "the replication group to be deleted",
            Duration::from_secs(15),
            || {
                let id = id.clone();
                async move { Ok(deletion(describe(aws, &id).await?.as_ref())) }
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_elasticache_rules_and_are_never_echoed() {
        assert!(check_token("correct-horse-battery-staple").is_ok());
        assert!(check_token("short").unwrap_err().contains("16 to 128"));
        let e = check_token("has a space in it!!").unwrap_err();
        assert!(!e.contains("has a space"), "{e}");
        assert!(check_token("abcdefghijklmnop@").is_err());
        assert!(check_token("abcdefghijklmnop/").is_err());
        assert!(check_token(&"x".repeat(129)).is_err());
    }

    #[test]
    fn a_deletion_is_done_only_once_the_group_is_gone() {
        let deleting = ApiGroup::builder().status("deleting").build();
        assert_eq!(
            deletion(Some(&deleting)),
            Readiness::Waiting("deleting".into())
        );
        assert_eq!(deletion(None), Readiness::Ready(()));
    }

    #[test]
    fn nodes_go_to_the_zones_in_turn_primary_first() {
        let g = ReplicationGroup::builder()
            .id("cache")
            .node_type("cache.t4g.small")
            .engine_version(RedisVersion::V7_1)
            .nodes(3)
            .zones(["us-east-1b", "us-east-1a"])
            .subnet_group("cache")
            .security_groups([Input::Value(SecurityGroupId("sg-1".into()))])
            .build();
        assert_eq!(g.node_zones(), ["us-east-1a", "us-east-1b", "us-east-1a"]);
        let ng = g.node_group();
        assert_eq!(ng.replica_count(), Some(2));
        assert_eq!(ng.primary_availability_zone(), Some("us-east-1a"));
        assert_eq!(
            ng.replica_availability_zones(),
            ["us-east-1b", "us-east-1a"]
        );
    }

    #[test]
    fn a_group_reads_back_from_the_api_and_its_primary() {
        use aws_sdk_elasticache::types::{
            Endpoint, NodeGroup, NodeGroupMember, SecurityGroupMembership,
        };
        let member = |id: &str, zone: &str, role: &str| {
            NodeGroupMember::builder()
                .cache_cluster_id(id)
                .preferred_availability_zone(zone)
                .current_role(role)
                .build()
        };
        let g = ApiGroup::builder()
            .replication_group_id("cache")
            .description("d")
            .status("available")
            .cache_node_type("cache.t4g.small")
            .member_clusters("cache-001")
            .member_clusters("cache-002")
            .automatic_failover(AutomaticFailoverStatus::Enabled)
            .multi_az(MultiAzStatus::Enabled)
            .transit_encryption_enabled(true)
            .at_rest_encryption_enabled(true)
            .node_groups(
                NodeGroup::builder()
                    .primary_endpoint(Endpoint::builder().address("master.x").port(6379).build())
                    .reader_endpoint(Endpoint::builder().address("replica.x").port(6379).build())
                    .node_group_members(member("cache-001", "us-east-1a", "primary"))
                    .node_group_members(member("cache-002", "us-east-1b", "replica"))
                    .build(),
            )
            .build();
        let primary = CacheCluster::builder()
            .cache_cluster_id("cache-001")
            .engine_version("7.1.0")
            .cache_subnet_group_name("cache")
            .security_groups(
                SecurityGroupMembership::builder()
                    .security_group_id("sg-1")
                    .build(),
            )
            .build();
        let spec = from_api(&g, Some(&primary), None).unwrap();
        assert_eq!(spec.engine_version, RedisVersion::V7_1);
        assert_eq!(spec.nodes, 2);
        assert_eq!(spec.zones.len(), 2);
        assert!(spec.automatic_failover && spec.multi_az);
        assert_eq!(spec.security_groups.len(), 1);
        assert_eq!(
            endpoints(&g),
            (Some("master.x".into()), Some("replica.x".into()))
        );
        // Failover off by hand reads as such.
        let off = g.clone().to_builder_failover_off();
        assert!(
            !from_api(&off, Some(&primary), None)
                .unwrap()
                .automatic_failover
        );
        // Without the member listed, nor anything applied, nothing is claimed.
        assert!(from_api(&g, None, None).is_none());
    }

    trait FailoverOff {
        fn to_builder_failover_off(self) -> ApiGroup;
    }

    impl FailoverOff for ApiGroup {
        fn to_builder_failover_off(self) -> ApiGroup {
            ApiGroup::builder()
                .set_replication_group_id(self.replication_group_id().map(str::to_string))
                .set_member_clusters(Some(self.member_clusters().to_vec()))
                .set_node_groups(Some(self.node_groups().to_vec()))
                .automatic_failover(AutomaticFailoverStatus::Disabled)
                .build()
        }
    }
}
