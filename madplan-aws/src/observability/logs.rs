//! CloudWatch Logs log groups, with retention as a closed type.

use std::collections::BTreeMap;

use futures_util::{StreamExt, TryStreamExt};
use madplan_core::{
    Found, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource, ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::{LogGroupArn, LogGroupName};
use crate::Aws;
use crate::network::gone_is_done;
use crate::support::{
    READS_AT_ONCE, all_tags, aws_error, claim, from_hash, tag_changes, user_tags,
};

/// How long a log group keeps its events: exactly the values CloudWatch
/// Logs accepts (`PutRetentionPolicy`), so that another cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
#[allow(missing_docs)]
pub enum Retention {
    Days1,
    Days3,
    Days5,
    Days7,
    Days14,
    Days30,
    Days60,
    Days90,
    Days120,
    Days150,
    Days180,
    Days365,
    Days400,
    Days545,
    Days731,
    Days1096,
    Days1827,
    Days2192,
    Days2557,
    Days2922,
    Days3288,
    Days3653,
    /// Events never expire (no retention policy); stored as `0`.
    Never,
}

impl Retention {
    /// Every value, shortest first.
    pub const ALL: [Retention; 23] = [
        Retention::Days1,
        Retention::Days3,
        Retention::Days5,
        Retention::Days7,
        Retention::Days14,
        Retention::Days30,
        Retention::Days60,
        Retention::Days90,
        Retention::Days120,
        Retention::Days150,
        Retention::Days180,
        Retention::Days365,
        Retention::Days400,
        Retention::Days545,
        Retention::Days731,
        Retention::Days1096,
        Retention::Days1827,
        Retention::Days2192,
        Retention::Days2557,
        Retention::Days2922,
        Retention::Days3288,
        Retention::Days3653,
        Retention::Never,
    ];

    /// The number of days, `None` for [`Retention::Never`].
    pub fn days(self) -> Option<u32> {
        Some(match self {
            Retention::Days1 => 1,
            Retention::Days3 => 3,
            Retention::Days5 => 5,
            Retention::Days7 => 7,
            Retention::Days14 => 14,
            Retention::Days30 => 30,
            Retention::Days60 => 60,
            Retention::Days90 => 90,
            Retention::Days120 => 120,
            Retention::Days150 => 150,
            Retention::Days180 => 180,
            Retention::Days365 => 365,
            Retention::Days400 => 400,
            Retention::Days545 => 545,
            Retention::Days731 => 731,
            Retention::Days1096 => 1096,
            Retention::Days1827 => 1827,
            Retention::Days2192 => 2192,
            Retention::Days2557 => 2557,
            Retention::Days2922 => 2922,
            Retention::Days3288 => 3288,
            Retention::Days3653 => 3653,
            Retention::Never => return None,
        })
    }

    /// The retention of `days` days, for a value read at run time (a
    /// setting); an error lists the accepted values.
    pub fn from_days(days: u32) -> Result<Retention, String> {
        Self::try_from(days)
    }
}

impl TryFrom<u32> for Retention {
    type Error = String;

    fn try_from(days: u32) -> Result<Self, String> {
        if days == 0 {
            return Ok(Retention::Never);
        }
        Retention::ALL
            .into_iter()
            .find(|r| r.days() == Some(days))
            .ok_or_else(|| {
                let accepted: Vec<String> = Retention::ALL
                    .iter()
                    .filter_map(|r| r.days().map(|d| d.to_string()))
                    .collect();
                format!(
                    "CloudWatch Logs does not accept a retention of {days} days; it accepts {} \
                     (or never expiring)",
                    accepted.join(", ")
                )
            })
    }
}

impl From<Retention> for u32 {
    fn from(r: Retention) -> u32 {
        r.days().unwrap_or(0)
    }
}

/// A CloudWatch Logs log group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct LogGroup {
    /// The group's name, e.g. `/aws/ec2/madplan-production`.
    #[builder(setter(into))]
    pub name: String,
    /// How long events are kept.
    pub retention: Retention,
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// What a log group yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogGroupOutputs {
    /// Its name.
    pub name: LogGroupName,
    /// Its ARN, without the `:*` suffix that `DescribeLogGroups` adds (the
    /// form WAF logging, tags and IAM policies take).
    pub arn: LogGroupArn,
    /// The pattern of its streams' ARNs (`ARN:*`), as IAM policies name
    /// them.
    pub streams_arn: String,
}

/// Checks a log group name against CloudWatch Logs' rules.
pub(crate) fn check_name(field: &str, name: &str, problems: &mut Vec<Problem>) {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "_-/.#".contains(c);
    if name.is_empty() || name.len() > 512 || !name.chars().all(ok_char) {
        problems.push(problem(
            field,
            format!("{name:?} is not a log group name"),
            Some("1 to 512 characters: letters, digits, '_', '-', '/', '.', '#'"),
        ));
    }
}

fn arn_of(group: &aws_sdk_cloudwatchlogs::types::LogGroup) -> String {
    group.log_group_arn().map_or_else(
        || {
            group
                .arn()
                .unwrap_or_default()
                .trim_end_matches(":*")
                .to_string()
        },
        str::to_string,
    )
}

async fn set_retention(aws: &Aws, name: &str, r: Retention) -> Result<(), ProviderError> {
    match r.days() {
        Some(days) => {
            aws.logs()
                .put_retention_policy()
                .log_group_name(name)
                .retention_in_days(days as i32)
                .send()
                .await
                .map_err(aws_error)?;
        }
        None => {
            gone_is_done(
                aws.logs()
                    .delete_retention_policy()
                    .log_group_name(name)
                    .send()
                    .await
                    .map_err(aws_error),
            )?;
        }
    }
    Ok(())
}

impl Resource for LogGroup {
    const KIND: &'static str = "aws.log_group";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["name"];
    type Provider = Aws;
    type Outputs = LogGroupOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        check_name("name", &self.name, problems);
    }

    fn validate_kind(
        all: &[(madplan_core::Address, Self)],
        _cx: &ValidateCx<'_>,
        problems: &mut Vec<Problem>,
    ) {
        for (i, (a, g)) in all.iter().enumerate() {
            if let Some((b, _)) = all[..i].iter().find(|(_, h)| h.name == g.name) {
                let mut p = problem(
                    "name",
                    format!("{b} already has the log group name {:?}", g.name),
                    Some("log group names are unique in a region"),
                );
                p.address = Some(a.clone());
                problems.push(p);
            }
        }
    }

    /// One `DescribeLogGroups` page per 50 groups in the region, then the
    /// tags of each group (`ListTagsForResource`, which has no batch form),
    /// a bounded number at once.
    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let groups: Vec<aws_sdk_cloudwatchlogs::types::LogGroup> = aws
            .logs()
            .describe_log_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(aws_error)?;
        let reads = groups.into_iter().map(|g| async move {
            let arn = arn_of(&g);
            let tags = aws
                .logs()
                .list_tags_for_resource()
                .resource_arn(&arn)
                .send()
                .await
                .map_err(aws_error);
            let tags = match tags {
                Ok(t) => from_hash(t.tags()),
                // Deleted between the list and the tag read.
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e),
            };
            let name = g.log_group_name().unwrap_or_default().to_string();
            let Some(claim) = claim(cx, &tags, |o| o.name.as_str() == name) else {
                return Ok(None);
            };
            let retention = match g.retention_in_days() {
                None => Retention::Never,
                Some(d) => Retention::try_from(d.max(0) as u32)
                    .map_err(|e| ProviderError::new("aws", madplan_core::ErrorClass::Fatal, e))?,
            };
            Ok::<_, ProviderError>(Some(Found::new(
                claim,
                LogGroup {
                    name: name.clone(),
                    retention,
                    tags: user_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                },
                LogGroupOutputs {
                    name: LogGroupName(name),
                    streams_arn: format!("{arn}:*"),
                    arn: LogGroupArn(arn),
                },
            )))
        });
        let found: Vec<Option<Found<Self>>> = futures_util::stream::iter(reads)
            .buffered(READS_AT_ONCE)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<LogGroupOutputs, ProviderError> {
        aws.logs()
            .create_log_group()
            .log_group_name(&self.name)
            .set_tags(Some(all_tags(cx, &self.tags).into_iter().collect()))
            .send()
            .await
            .map_err(aws_error)?;
        // CreateLogGroup answers nothing: the ARN is read back.
        let arn = read_arn(aws, &self.name).await?;
        let outputs = LogGroupOutputs {
            name: LogGroupName(self.name.clone()),
            streams_arn: format!("{arn}:*"),
            arn: LogGroupArn(arn),
        };
        cx.created(&outputs).await?;
        if self.retention != Retention::Never {
            set_retention(aws, &self.name, self.retention).await?;
        }
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<LogGroupOutputs, ProviderError> {
        let has = |f: &str| changed.iter().any(|c| c == f);
        let retention = async {
            if has("retention") {
                set_retention(aws, &self.name, self.retention).await?;
            }
            Ok::<_, ProviderError>(())
        };
        let tags = async {
            if has("tags") {
                let (gone, set) = tag_changes(&prior.spec.tags, &self.tags);
                let arn = prior.outputs.arn.as_str();
                if !gone.is_empty() {
                    aws.logs()
                        .untag_resource()
                        .resource_arn(arn)
                        .set_tag_keys(Some(gone))
                        .send()
                        .await
                        .map_err(aws_error)?;
                }
                if !set.is_empty() {
                    aws.logs()
                        .tag_resource()
                        .resource_arn(arn)
                        .set_tags(Some(set.into_iter().collect()))
                        .send()
                        .await
                        .map_err(aws_error)?;
                }
            }
            Ok(())
        };
        futures_util::future::try_join(retention, tags).await?;
        Ok(prior.outputs.clone())
    }

    async fn delete(outputs: &LogGroupOutputs, aws: &Aws, _cx: &OpCx) -> Result<(), ProviderError> {
        gone_is_done(
            aws.logs()
                .delete_log_group()
                .log_group_name(outputs.name.as_str())
                .send()
                .await
                .map_err(aws_error),
        )
    }
}

async fn read_arn(aws: &Aws, name: &str) -> Result<String, ProviderError> {
    let out = aws
        .logs()
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .map_err(aws_error)?;
    out.log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name))
        .map(arn_of)
        .ok_or_else(|| {
            ProviderError::new(
                "aws",
                madplan_core::ErrorClass::NotFound,
                format!("the log group {name} was created but is not listed"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_is_the_closed_set_the_api_accepts() {
        assert_eq!(Retention::from_days(30), Ok(Retention::Days30));
        assert_eq!(Retention::from_days(0), Ok(Retention::Never));
        let e = Retention::from_days(31).unwrap_err();
        assert!(e.contains("31 days"), "{e}");
        assert!(e.contains("30, 60"), "{e}");
        assert_eq!(serde_json::to_value(Retention::Days30).unwrap(), 30);
        assert!(serde_json::from_value::<Retention>(serde_json::json!(31)).is_err());
        for r in Retention::ALL {
            assert_eq!(Retention::try_from(u32::from(r)), Ok(r));
        }
    }

    #[test]
    fn the_arn_drops_the_star() {
        let g = aws_sdk_cloudwatchlogs::types::LogGroup::builder()
            .log_group_name("x")
            .arn("arn:aws:logs:us-east-1:1:log-group:x:*")
            .build();
        assert_eq!(arn_of(&g), "arn:aws:logs:us-east-1:1:log-group:x");
    }
}
