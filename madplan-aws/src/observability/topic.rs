//! SNS topics for alerts, and their subscriptions.

use std::collections::BTreeMap;

use futures_util::{StreamExt, TryStreamExt};
use madplan_core::{
    Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::TopicArn;
use crate::Aws;
use crate::network::gone_is_done;
use crate::support::{
    READS_AT_ONCE, all_tags, aws_error, build_error, claim, claim_tracked, has_code, resolved,
    tag_changes, user_tags,
};

/// An SNS topic (standard, not FIFO).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct Topic {
    /// The topic's name (1 to 256 letters, digits, `-` and `_`).
    #[builder(setter(into))]
    pub name: String,
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// What a topic yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopicOutputs {
    /// Its ARN, which alarms name as their action.
    pub topic_arn: TopicArn,
}

fn sns_tags(map: BTreeMap<String, String>) -> Result<Vec<aws_sdk_sns::types::Tag>, ProviderError> {
    map.into_iter()
        .map(|(k, v)| {
            aws_sdk_sns::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(build_error)
        })
        .collect()
}

/// The name in a topic ARN (its last part).
fn name_of(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

impl Resource for Topic {
    const KIND: &'static str = "aws.sns_topic";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["name"];
    type Provider = Aws;
    type Outputs = TopicOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if self.name.is_empty() || self.name.len() > 256 || !self.name.chars().all(ok) {
            problems.push(problem(
                "name",
                format!("{:?} is not a topic name", self.name),
                Some("1 to 256 letters, digits, '-' and '_'"),
            ));
        }
    }

    /// One `ListTopics` page per 100 topics in the region, then the tags of
    /// each (`ListTagsForResource`), a bounded number at once.
    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let topics: Vec<aws_sdk_sns::types::Topic> = aws
            .sns()
            .list_topics()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(aws_error)?;
        let reads = topics.into_iter().filter_map(|t| {
            let arn = t.topic_arn()?.to_string();
            Some(async move {
                let tags = match aws
                    .sns()
                    .list_tags_for_resource()
                    .resource_arn(&arn)
                    .send()
                    .await
                    .map_err(aws_error)
                {
                    Ok(out) => out
                        .tags()
                        .iter()
                        .map(|t| (t.key().to_string(), t.value().to_string()))
                        .collect::<BTreeMap<_, _>>(),
                    Err(e) if e.is_not_found() => return Ok(None),
                    Err(e) => return Err(e),
                };
                let Some(claim) = claim(cx, &tags, |o| o.topic_arn.as_str() == arn) else {
                    return Ok(None);
                };
                Ok::<_, ProviderError>(Some(Found::new(
                    claim,
                    Topic {
                        name: name_of(&arn).to_string(),
                        tags: user_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                    },
                    TopicOutputs {
                        topic_arn: TopicArn(arn),
                    },
                )))
            })
        });
        let found: Vec<Option<Found<Self>>> = futures_util::stream::iter(reads)
            .buffered(READS_AT_ONCE)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<TopicOutputs, ProviderError> {
        // CreateTopic is idempotent for one name and the same tags: a
        // retried create answers the same ARN.
        let out = aws
            .sns()
            .create_topic()
            .name(&self.name)
            .set_tags(Some(sns_tags(all_tags(cx, &self.tags))?))
            .send()
            .await
            .map_err(aws_error)?;
        let arn = out
            .topic_arn()
            .ok_or_else(|| crate::network::missing("topic ARN"))?;
        let outputs = TopicOutputs {
            topic_arn: TopicArn(arn.to_string()),
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
    ) -> Result<TopicOutputs, ProviderError> {
        if changed.iter().any(|c| c == "tags") {
            let (gone, set) = tag_changes(&prior.spec.tags, &self.tags);
            let arn = prior.outputs.topic_arn.as_str();
            if !gone.is_empty() {
                aws.sns()
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(gone))
                    .send()
                    .await
                    .map_err(aws_error)?;
            }
            if !set.is_empty() {
                aws.sns()
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(sns_tags(set)?))
                    .send()
                    .await
                    .map_err(aws_error)?;
            }
        }
        Ok(prior.outputs.clone())
    }

    async fn delete(outputs: &TopicOutputs, aws: &Aws, _cx: &OpCx) -> Result<(), ProviderError> {
        gone_is_done(
            aws.sns()
                .delete_topic()
                .topic_arn(outputs.topic_arn.as_str())
                .send()
                .await
                .map_err(aws_error),
        )
    }
}

/// Where a subscription delivers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// An email address (the seed's `alert_email`); AWS mails a
    /// confirmation link, and the subscription is pending until it is
    /// followed.
    Email(String),
    /// An HTTPS URL (a chat webhook relay); confirmed by the receiver.
    Https(String),
    /// An SQS queue, by ARN.
    Sqs(String),
}

impl Endpoint {
    fn protocol(&self) -> &'static str {
        match self {
            Endpoint::Email(_) => "email",
            Endpoint::Https(_) => "https",
            Endpoint::Sqs(_) => "sqs",
        }
    }

    fn address(&self) -> &str {
        match self {
            Endpoint::Email(a) | Endpoint::Https(a) | Endpoint::Sqs(a) => a,
        }
    }

    fn parse(protocol: &str, address: &str) -> Option<Self> {
        Some(match protocol {
            "email" => Endpoint::Email(address.to_string()),
            "https" => Endpoint::Https(address.to_string()),
            "sqs" => Endpoint::Sqs(address.to_string()),
            _ => return None,
        })
    }
}

/// A subscription of an endpoint to a topic.
///
/// SNS subscriptions carry no tags: a refresh finds the ones the state
/// tracks (one `ListSubscriptions` for all of them). `Subscribe` is
/// idempotent for one topic, protocol and endpoint, so a create retried
/// after a lost answer does not subscribe twice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct Subscription {
    /// The topic.
    #[builder(setter(transform = |t: impl IntoInput<TopicArn>| t.into_input()))]
    pub topic: Input<TopicArn>,
    /// Where messages go.
    pub endpoint: Endpoint,
}

/// What a subscription yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionOutputs {
    /// Its ARN (AWS gives one at once, also while confirmation is pending).
    pub subscription_arn: String,
    /// The topic's ARN.
    pub topic_arn: TopicArn,
    /// The protocol, e.g. `email`.
    pub protocol: String,
    /// The address.
    pub endpoint: String,
}

/// What `ListSubscriptions` shows instead of an ARN while the endpoint has
/// not confirmed.
const PENDING: &str = "PendingConfirmation";

/// Maps one listed subscription to the spec it has and the ARN it shows
/// (`None` while pending, which is not drift: the spec is the same).
fn from_listed(s: &aws_sdk_sns::types::Subscription) -> Option<(Subscription, Option<String>)> {
    let endpoint = Endpoint::parse(s.protocol()?, s.endpoint()?)?;
    let arn = s
        .subscription_arn()
        .filter(|a| *a != PENDING && a.starts_with("arn:"));
    Some((
        Subscription {
            topic: Input::Value(TopicArn(s.topic_arn()?.to_string())),
            endpoint,
        },
        arn.map(str::to_string),
    ))
}

impl Resource for Subscription {
    const KIND: &'static str = "aws.sns_subscription";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["topic", "endpoint"];
    type Provider = Aws;
    type Outputs = SubscriptionOutputs;

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        match &self.endpoint {
            Endpoint::Email(a) => {
                let ok = a
                    .split_once('@')
                    .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.contains('@'));
                if !ok {
                    problems.push(problem(
                        "endpoint",
                        format!("{a:?} is not an email address"),
                        None,
                    ));
                }
            }
            Endpoint::Https(u) if !u.starts_with("https://") => problems.push(problem(
                "endpoint",
                format!("{u:?} is not an https:// URL"),
                None,
            )),
            Endpoint::Sqs(a) if !a.starts_with("arn:") => problems.push(problem(
                "endpoint",
                format!("{a:?} is not a queue ARN"),
                None,
            )),
            _ => {}
        }
    }

    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        if cx.tracked.is_empty() {
            return Ok(Vec::new());
        }
        let all: Vec<aws_sdk_sns::types::Subscription> = aws
            .sns()
            .list_subscriptions()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(aws_error)?;
        let mut out = Vec::new();
        for s in &all {
            let Some((spec, arn)) = from_listed(s) else {
                continue;
            };
            let topic = spec
                .topic
                .known()
                .cloned()
                .unwrap_or_else(|| TopicArn(String::new()));
            let (protocol, address) = (spec.endpoint.protocol(), spec.endpoint.address());
            let is_it = |o: &SubscriptionOutputs| {
                o.topic_arn == topic && o.protocol == protocol && o.endpoint == address
            };
            let Some(claim) = claim_tracked(cx, is_it) else {
                continue;
            };
            let tracked_arn = cx
                .tracked
                .iter()
                .find(|t| is_it(&t.outputs))
                .map(|t| t.outputs.subscription_arn.clone())
                .unwrap_or_default();
            out.push(Found::new(
                claim,
                spec.clone(),
                SubscriptionOutputs {
                    subscription_arn: arn.unwrap_or(tracked_arn),
                    topic_arn: topic.clone(),
                    protocol: protocol.to_string(),
                    endpoint: address.to_string(),
                },
            ));
        }
        Ok(out)
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<SubscriptionOutputs, ProviderError> {
        let topic = resolved(&self.topic)?;
        let out = aws
            .sns()
            .subscribe()
            .topic_arn(topic.as_str())
            .protocol(self.endpoint.protocol())
            .endpoint(self.endpoint.address())
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(aws_error)?;
        let outputs = SubscriptionOutputs {
            subscription_arn: out.subscription_arn().unwrap_or(PENDING).to_string(),
            topic_arn: topic.clone(),
            protocol: self.endpoint.protocol().to_string(),
            endpoint: self.endpoint.address().to_string(),
        };
        cx.created(&outputs).await?;
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        _changed: &[String],
        _aws: &Aws,
        _cx: &OpCx,
    ) -> Result<SubscriptionOutputs, ProviderError> {
        // Every field forces a replacement: nothing changes in place.
        Ok(prior.outputs.clone())
    }

    /// Unsubscribes. A subscription still pending confirmation cannot be
    /// removed by its owner (AWS answers `InvalidParameter`); AWS drops it
    /// by itself after three days, and deleting the topic drops it at once,
    /// so that counts as done.
    async fn delete(
        outputs: &SubscriptionOutputs,
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        if !outputs.subscription_arn.starts_with("arn:") {
            return Ok(());
        }
        match aws
            .sns()
            .unsubscribe()
            .subscription_arn(&outputs.subscription_arn)
            .send()
            .await
            .map_err(aws_error)
        {
            Err(e) if has_code(&e, "InvalidParameter") => Ok(()),
            other => gone_is_done(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_subscription_has_the_same_spec_as_a_confirmed_one() {
        let listed = |arn: &str| {
            aws_sdk_sns::types::Subscription::builder()
                .subscription_arn(arn)
                .protocol("email")
                .endpoint("alerts@madplan.com")
                .topic_arn("arn:aws:sns:us-east-1:1:alerts")
                .build()
        };
        let (pending, no_arn) = from_listed(&listed(PENDING)).unwrap();
        let (confirmed, arn) = from_listed(&listed("arn:aws:sns:us-east-1:1:alerts:abc")).unwrap();
        assert_eq!(pending, confirmed);
        assert_eq!(no_arn, None);
        assert_eq!(arn.as_deref(), Some("arn:aws:sns:us-east-1:1:alerts:abc"));
        assert_eq!(
            pending.endpoint,
            Endpoint::Email("alerts@madplan.com".into())
        );
    }

    #[test]
    fn topic_names_come_from_the_arn() {
        assert_eq!(name_of("arn:aws:sns:us-east-1:1:alerts"), "alerts");
    }
}
