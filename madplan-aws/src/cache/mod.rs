//! ElastiCache for Redis: a subnet group in the private subnets and a
//! replication group with automatic failover across two zones, encryption
//! in transit and at rest, and an AUTH token given as a secret.
//!
//! ```
//! use madplan_aws::cache::{CacheSubnetGroup, RedisVersion, ReplicationGroup};
//! use madplan_aws::network::{SecurityGroupId, SubnetId};
//! use madplan_core::{Environment, Input};
//! use secrecy::SecretString;
//!
//! let mut env = Environment::new("production");
//! let token = env.secret("redis-auth", "2026-11", SecretString::from("a-long-random-token-value"));
//! let subnets = env.add("cache", CacheSubnetGroup::builder()
//!     .name("madplan-production-cache")
//!     .subnets([Input::Value(SubnetId("subnet-1".into())), Input::Value(SubnetId("subnet-2".into()))])
//!     .build());
//! let redis = env.add("main", ReplicationGroup::builder()
//!     .id("madplan-production")
//!     .node_type("cache.t4g.small")
//!     .engine_version(RedisVersion::V7_1)
//!     .zones(["us-east-1a", "us-east-1b"])
//!     .subnet_group(&subnets)
//!     .security_groups([Input::Value(SecurityGroupId("sg-0123".into()))])
//!     .auth_token(token)
//!     .build());
//! ```

use std::collections::BTreeMap;

use aws_sdk_elasticache::types::Tag;
use madplan_core::{Kinds, ProviderError};
use serde::{Deserialize, Serialize};

use crate::Aws;
use crate::support::{aws_error, tag_changes, typed_string};

mod replication_group;
mod subnet_group;

pub use replication_group::{Applied, ReplicationGroup, ReplicationGroupOutputs};
pub use subnet_group::{CacheSubnetGroup, CacheSubnetGroupOutputs};

pub(crate) fn register(kinds: &mut Kinds) {
    kinds.register::<CacheSubnetGroup>();
    kinds.register::<ReplicationGroup>();
}

typed_string!(
    /// A cache subnet group's name.
    CacheSubnetGroupName, CacheSubnetGroup, "name"
);

/// A Redis engine version ElastiCache offers for new groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RedisVersion {
    /// Redis 6.2.
    #[serde(rename = "6.2")]
    V6_2,
    /// Redis 7.0.
    #[serde(rename = "7.0")]
    V7_0,
    /// Redis 7.1.
    #[serde(rename = "7.1")]
    V7_1,
}

impl RedisVersion {
    /// How ElastiCache spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            RedisVersion::V6_2 => "6.2",
            RedisVersion::V7_0 => "7.0",
            RedisVersion::V7_1 => "7.1",
        }
    }

    /// The version of a cluster's `EngineVersion` (`7.1.0` is 7.1).
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split('.');
        Some(match (parts.next()?, parts.next().unwrap_or("0")) {
            ("6", "2") => RedisVersion::V6_2,
            ("7", "0") => RedisVersion::V7_0,
            ("7", "1") => RedisVersion::V7_1,
            _ => return None,
        })
    }
}

/// A cache node type, `cache.FAMILY.SIZE` (e.g. `cache.t4g.small`): a
/// checked newtype, since the set is long and grows; validation reports one
/// written wrong.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeType(pub String);

/// The node families ElastiCache for Redis offers in current generations.
const FAMILIES: &[&str] = &[
    "t3", "t4g", "m5", "m6g", "m7g", "r5", "r6g", "r6gd", "r7g", "c7gn",
];

impl NodeType {
    /// The type as ElastiCache spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Why this is not a node type, if it is not.
    pub fn problem(&self) -> Option<String> {
        let parts: Vec<&str> = self.0.split('.').collect();
        let [prefix, family, size] = parts.as_slice() else {
            return Some(format!("{:?} is not cache.FAMILY.SIZE", self.0));
        };
        if *prefix != "cache" {
            return Some(format!("{:?} does not start with \"cache.\"", self.0));
        }
        if !FAMILIES.contains(family) {
            return Some(format!(
                "{:?}: {family:?} is not a node family ({})",
                self.0,
                FAMILIES.join(", ")
            ));
        }
        let burstable = family.starts_with('t');
        let ok = if burstable {
            matches!(*size, "micro" | "small" | "medium")
        } else {
            *size == "large"
                || size.strip_suffix("xlarge").is_some_and(|n| {
                    n.is_empty() || matches!(n, "2" | "4" | "8" | "12" | "16" | "24")
                })
        };
        (!ok).then(|| {
            format!(
                "{:?}: {size:?} is not a size of the {family} family",
                self.0
            )
        })
    }
}

impl From<&str> for NodeType {
    fn from(s: &str) -> Self {
        NodeType(s.to_string())
    }
}

/// An ElastiCache resource's tags.
pub(crate) async fn list_tags(
    aws: &Aws,
    arn: &str,
) -> Result<BTreeMap<String, String>, ProviderError> {
    let out = aws
        .elasticache()
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(aws_error)?;
    Ok(out
        .tag_list()
        .iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect())
}

/// Brings an ElastiCache resource's user tags from `before` to `after`.
pub(crate) async fn set_tags(
    aws: &Aws,
    arn: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let (gone, set) = tag_changes(before, after);
    if !gone.is_empty() {
        aws.elasticache()
            .remove_tags_from_resource()
            .resource_name(arn)
            .set_tag_keys(Some(gone))
            .send()
            .await
            .map_err(aws_error)?;
    }
    if !set.is_empty() {
        aws.elasticache()
            .add_tags_to_resource()
            .resource_name(arn)
            .set_tags(Some(
                set.into_iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(aws_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_types_are_checked() {
        for ok in [
            "cache.t4g.small",
            "cache.r7g.large",
            "cache.m6g.2xlarge",
            "cache.r6g.xlarge",
        ] {
            assert_eq!(NodeType::from(ok).problem(), None, "{ok}");
        }
        for bad in [
            "t4g.small",
            "cache.t4g.large",
            "cache.x9.large",
            "cache.r7g.3xlarge",
            "cache.r7g",
        ] {
            assert!(NodeType::from(bad).problem().is_some(), "{bad}");
        }
    }

    #[test]
    fn redis_versions_read_from_cluster_versions() {
        assert_eq!(RedisVersion::parse("7.1.0"), Some(RedisVersion::V7_1));
        assert_eq!(RedisVersion::parse("6.2"), Some(RedisVersion::V6_2));
        assert_eq!(RedisVersion::parse("5.0.6"), None);
        assert_eq!(serde_json::to_value(RedisVersion::V7_0).unwrap(), "7.0");
    }
}
