//! VPC flow logs delivered to a CloudWatch Logs group through an IAM role.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{
    FlowLogsResourceType, LogDestinationType, ResourceType, Tag, TrafficType,
};
use madplan_core::{
    Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::{LogGroup, LogGroupName};
use crate::iam::{FLOW_LOGS_SERVICE, Role, RoleArn};
use crate::network::{Item, VpcId, find_all, missing};
use crate::support::resolved;
use crate::{Aws, tags};

/// Which traffic is logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Traffic {
    /// Accepted and rejected (the seed: "VPC Flow Logs enabled").
    All,
    /// Accepted only.
    Accept,
    /// Rejected only.
    Reject,
}

impl Traffic {
    fn to_api(self) -> TrafficType {
        match self {
            Traffic::All => TrafficType::All,
            Traffic::Accept => TrafficType::Accept,
            Traffic::Reject => TrafficType::Reject,
        }
    }

    fn from_api(t: &TrafficType) -> Traffic {
        match t {
            TrafficType::Accept => Traffic::Accept,
            TrafficType::Reject => Traffic::Reject,
            _ => Traffic::All,
        }
    }
}

/// How long flows are aggregated into one record: the two values EC2
/// accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregationInterval {
    /// 60 seconds.
    OneMinute,
    /// 600 seconds (EC2's default).
    TenMinutes,
}

impl AggregationInterval {
    fn seconds(self) -> i32 {
        match self {
            AggregationInterval::OneMinute => 60,
            AggregationInterval::TenMinutes => 600,
        }
    }
}

/// A VPC flow log to CloudWatch Logs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct FlowLog {
    /// The VPC whose traffic is logged.
    #[builder(setter(transform = |v: impl IntoInput<VpcId>| v.into_input()))]
    pub vpc: Input<VpcId>,
    /// Which traffic.
    #[builder(default = Traffic::All)]
    pub traffic: Traffic,
    /// The log group records go to.
    #[builder(setter(transform = |g: impl IntoInput<LogGroupName>| g.into_input()))]
    pub log_group: Input<LogGroupName>,
    /// The role the flow logs service assumes to write there.
    #[builder(setter(transform = |r: impl IntoInput<RoleArn>| r.into_input()))]
    pub role: Input<RoleArn>,
    /// How long flows are aggregated.
    #[builder(default = AggregationInterval::TenMinutes)]
    pub aggregation: AggregationInterval,
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// What a flow log yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowLogOutputs {
    /// Its id (`fl-...`).
    pub flow_log_id: String,
}

impl Item for aws_sdk_ec2::types::FlowLog {
    fn id(&self) -> Option<&str> {
        self.flow_log_id()
    }
    fn tags(&self) -> &[Tag] {
        aws_sdk_ec2::types::FlowLog::tags(self)
    }
}

impl Resource for FlowLog {
    const KIND: &'static str = "aws.flow_log";
    const FORCES_REPLACEMENT: &'static [&'static str] =
        &["vpc", "traffic", "log_group", "role", "aggregation"];
    type Provider = Aws;
    type Outputs = FlowLogOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if let Some((address, role)) = cx.referenced::<Role, _>(&self.role)
            && !role.trust.trusted_services().contains(FLOW_LOGS_SERVICE)
        {
            problems.push(problem(
                "role",
                format!("{address} does not trust vpc-flow-logs.amazonaws.com"),
                Some("use iam::flow_log_delivery_role"),
            ));
        }
        if let Some((address, group)) = cx.referenced::<LogGroup, _>(&self.log_group)
            && group.name.starts_with("aws-waf-logs-")
        {
            problems.push(problem(
                "log_group",
                format!("{address} is WAF's log group"),
                Some("give flow logs a log group of their own"),
            ));
        }
    }

    /// One `DescribeFlowLogs` filtered on the environment tag.
    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let items = find_all(
            cx,
            "flow-log-id",
            |o| o.flow_log_id.as_str(),
            |filters| async move {
                aws.ec2()
                    .describe_flow_logs()
                    .set_filter(Some(filters))
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .map_err(crate::error::sdk_error)
            },
        )
        .await?;
        Ok(items
            .into_iter()
            .map(|(claim, id, f)| {
                Found::new(
                    claim,
                    FlowLog {
                        vpc: Input::Value(VpcId(f.resource_id().unwrap_or_default().to_string())),
                        traffic: f.traffic_type().map_or(Traffic::All, Traffic::from_api),
                        log_group: Input::Value(LogGroupName(
                            f.log_group_name().unwrap_or_default().to_string(),
                        )),
                        role: Input::Value(RoleArn(
                            f.deliver_logs_permission_arn()
                                .unwrap_or_default()
                                .to_string(),
                        )),
                        aggregation: if f.max_aggregation_interval() == Some(60) {
                            AggregationInterval::OneMinute
                        } else {
                            AggregationInterval::TenMinutes
                        },
                        tags: tags::user(f.tags()),
                    },
                    FlowLogOutputs { flow_log_id: id },
                )
            })
            .collect())
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<FlowLogOutputs, ProviderError> {
        let out = aws
            .ec2()
            .create_flow_logs()
            .resource_ids(resolved(&self.vpc)?.as_str())
            .resource_type(FlowLogsResourceType::Vpc)
            .traffic_type(self.traffic.to_api())
            .log_destination_type(LogDestinationType::CloudWatchLogs)
            .log_group_name(resolved(&self.log_group)?.as_str())
            .deliver_logs_permission_arn(resolved(&self.role)?.as_str())
            .max_aggregation_interval(self.aggregation.seconds())
            .client_token(cx.client_token())
            .tag_specifications(tags::spec(ResourceType::VpcFlowLog, cx, &self.tags))
            .customize()
            .config_override(crate::resend::once_if_lost())
            .send()
            .await
            .map_err(crate::error::sdk_error)?;
        if let Some(u) = out.unsuccessful().first() {
            let (code, message) = u
                .error()
                .map(|e| (e.code().unwrap_or("Unknown"), e.message().unwrap_or("")))
                .unwrap_or(("Unknown", ""));
            return Err(ProviderError::new(
                "aws",
                madplan_core::ErrorClass::Fatal,
                format!("the flow log was refused: {message}"),
            )
            .with_code(code));
        }
        let id = out
            .flow_log_ids()
            .first()
            .ok_or_else(|| missing("flow log id"))?
            .to_string();
        let outputs = FlowLogOutputs { flow_log_id: id };
        cx.created(&outputs).await?;
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<FlowLogOutputs, ProviderError> {
        if changed.iter().any(|c| c == "tags") {
            tags::sync(
                aws.ec2(),
                &prior.outputs.flow_log_id,
                &prior.spec.tags,
                &self.tags,
            )
            .await?;
        }
        Ok(prior.outputs.clone())
    }

    async fn delete(outputs: &FlowLogOutputs, aws: &Aws, _cx: &OpCx) -> Result<(), ProviderError> {
        let out = aws
            .ec2()
            .delete_flow_logs()
            .flow_log_ids(&outputs.flow_log_id)
            .send()
            .await
            .map_err(crate::error::sdk_error)?;
        // Failures come back as items, not as an error.
        match out.unsuccessful().first().and_then(|u| u.error()) {
            Some(e) if e.code() != Some("InvalidFlowLogId.NotFound") => Err(ProviderError::new(
                "aws",
                madplan_core::ErrorClass::Fatal,
                format!(
                    "the flow log was not deleted: {}",
                    e.message().unwrap_or_default()
                ),
            )
            .with_code(e.code().unwrap_or("Unknown"))),
            _ => Ok(()),
        }
    }
}
