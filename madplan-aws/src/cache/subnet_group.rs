//! ElastiCache subnet groups.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_elasticache::types::Tag;
use futures_util::{StreamExt, TryStreamExt};
use madplan_core::{
    Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::{CacheSubnetGroupName, list_tags, set_tags};
use crate::Aws;
use crate::network::{Subnet, SubnetId, gone_is_done};
use crate::support::{READS_AT_ONCE, all_tags, aws_error, claim, resolved, user_tags};

/// The subnets an ElastiCache group's nodes are placed in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct CacheSubnetGroup {
    /// Its name (lowercase letters, digits and hyphens).
    #[builder(setter(into))]
    pub name: String,
    /// What it is for.
    #[builder(default = "Managed by madplan".to_string(), setter(into))]
    pub description: String,
    /// The subnets: private ones, in two zones or more.
    #[builder(setter(transform = |s: impl IntoIterator<Item = Input<SubnetId>>| s.into_iter().collect()))]
    pub subnets: BTreeSet<Input<SubnetId>>,
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

impl CacheSubnetGroup {
    /// Subnets from handles.
    pub fn subnets_of<'a>(
        handles: impl IntoIterator<Item = &'a madplan_core::Ref<Subnet>>,
    ) -> Vec<Input<SubnetId>> {
        handles.into_iter().map(|h| h.into_input()).collect()
    }
}

/// What a subnet group yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheSubnetGroupOutputs {
    /// Its name, which a replication group takes.
    pub name: CacheSubnetGroupName,
    /// Its ARN.
    pub arn: String,
}

pub(crate) fn check_name(field: &str, name: &str, max: usize, problems: &mut Vec<Problem>) {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if !ok {
        problems.push(problem(
            field,
            format!("{name:?} is not an ElastiCache name"),
            Some("a lowercase letter, then up to the limit lowercase letters, digits and single hyphens, not ending in one"),
        ));
    }
}

fn subnet_ids(set: &BTreeSet<Input<SubnetId>>) -> Result<Vec<String>, ProviderError> {
    set.iter()
        .map(|s| resolved(s).map(|id| id.0.clone()))
        .collect()
}

impl Resource for CacheSubnetGroup {
    const KIND: &'static str = "aws.elasticache_subnet_group";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["name"];
    type Provider = Aws;
    type Outputs = CacheSubnetGroupOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        check_name("name", &self.name, 255, problems);
        if self.subnets.is_empty() {
            problems.push(problem("subnets", "a subnet group needs subnets", None));
        }
        let mut zones = BTreeSet::new();
        let mut known = 0;
        for s in &self.subnets {
            if let Some((address, subnet)) = cx.referenced::<Subnet, _>(s) {
                known += 1;
                zones.insert(subnet.zone.clone());
                if subnet.public {
                    problems.push(problem(
                        "subnets",
                        format!("{address} is public: the cache belongs in private subnets"),
                        None,
                    ));
                }
            }
        }
        if known == self.subnets.len() && known > 0 && zones.len() < 2 {
            problems.push(problem(
                "subnets",
                format!(
                    "every subnet is in {}: failover needs two zones",
                    zones.into_iter().next().unwrap_or_default()
                ),
                Some("add a private subnet of another zone"),
            ));
        }
    }

    /// One `DescribeCacheSubnetGroups` per 100 groups, then each group's
    /// tags, a bounded number at once.
    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let groups: Vec<aws_sdk_elasticache::types::CacheSubnetGroup> = aws
            .elasticache()
            .describe_cache_subnet_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(aws_error)?;
        let reads = groups.into_iter().map(|g| async move {
            let arn = g.arn().unwrap_or_default().to_string();
            let tags = match list_tags(aws, &arn).await {
                Ok(t) => t,
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e),
            };
            let name = g.cache_subnet_group_name().unwrap_or_default().to_string();
            let Some(claim) = claim(cx, &tags, |o| o.name.as_str() == name) else {
                return Ok(None);
            };
            Ok::<_, ProviderError>(Some(Found::new(
                claim,
                CacheSubnetGroup {
                    name: name.clone(),
                    description: g
                        .cache_subnet_group_description()
                        .unwrap_or_default()
                        .to_string(),
                    subnets: g
                        .subnets()
                        .iter()
                        .filter_map(|s| s.subnet_identifier())
                        .map(|id| Input::Value(SubnetId(id.to_string())))
                        .collect(),
                    tags: user_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                },
                CacheSubnetGroupOutputs {
                    name: CacheSubnetGroupName(name),
                    arn,
                },
            )))
        });
        let found: Vec<Option<Found<Self>>> = futures_util::stream::iter(reads)
            .buffered(READS_AT_ONCE)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<CacheSubnetGroupOutputs, ProviderError> {
        let out = aws
            .elasticache()
            .create_cache_subnet_group()
            .cache_subnet_group_name(&self.name)
            .cache_subnet_group_description(&self.description)
            .set_subnet_ids(Some(subnet_ids(&self.subnets)?))
            .set_tags(Some(
                all_tags(cx, &self.tags)
                    .into_iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(aws_error)?;
        let outputs = CacheSubnetGroupOutputs {
            name: CacheSubnetGroupName(self.name.clone()),
            arn: out
                .cache_subnet_group()
                .and_then(|g| g.arn())
                .ok_or_else(|| crate::network::missing("subnet group ARN"))?
                .to_string(),
        };
        cx.created(&outputs).await?;
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<CacheSubnetGroupOutputs, ProviderError> {
        if changed.iter().any(|c| c == "subnets" || c == "description") {
            aws.elasticache()
                .modify_cache_subnet_group()
                .cache_subnet_group_name(&self.name)
                .cache_subnet_group_description(&self.description)
                .set_subnet_ids(Some(subnet_ids(&self.subnets)?))
                .send()
                .await
                .map_err(aws_error)?;
        }
        if changed.iter().any(|c| c == "tags") {
            set_tags(aws, &prior.outputs.arn, &prior.spec.tags, &self.tags).await?;
        }
        Ok(prior.outputs.clone())
    }

    async fn delete(
        outputs: &CacheSubnetGroupOutputs,
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        gone_is_done(
            aws.elasticache()
                .delete_cache_subnet_group()
                .cache_subnet_group_name(outputs.name.as_str())
                .send()
                .await
                .map_err(aws_error),
        )
    }
}
