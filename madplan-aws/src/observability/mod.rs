//! What watches the stack: CloudWatch Logs log groups, VPC flow logs, the
//! SNS alert topic and its subscriptions, and CloudWatch alarms.
//!
//! ```
//! use madplan_aws::observability::{LogGroup, Retention, Topic, Subscription, Endpoint, alarm::seed};
//! use madplan_core::Environment;
//!
//! let mut env = Environment::new("production");
//! env.add("app", LogGroup::builder().name("/aws/ec2/madplan-production").retention(Retention::Days30).build());
//! let topic = env.add("alerts", Topic::builder().name("madplan-production-alerts").build());
//! env.add("alerts-email", Subscription::builder().topic(&topic).endpoint(Endpoint::Email("alerts@madplan.com".into())).build());
//! env.add("alb-5xx", seed::alb_5xx_ratio("madplan-production-alb-5xx", "app/web/50dc6c495c0c9188", &topic));
//! ```
//!
//! A retention the API does not accept cannot be written:
//!
//! ```compile_fail
//! # use madplan_aws::observability::{LogGroup, Retention};
//! LogGroup::builder().name("x").retention(Retention::Days31).build();
//! ```

use madplan_core::Kinds;

use crate::support::typed_string;

pub mod alarm;
mod flow_log;
mod logs;
mod topic;

pub use alarm::{
    Alarm, AlarmOutputs, AlarmQuery, Comparison, Dimension, MetricQuery, MissingData, Stat,
};
pub use flow_log::{AggregationInterval, FlowLog, FlowLogOutputs, Traffic};
pub use logs::{LogGroup, LogGroupOutputs, Retention};
pub use topic::{Endpoint, Subscription, SubscriptionOutputs, Topic, TopicOutputs};

pub(crate) fn register(kinds: &mut Kinds) {
    kinds.register::<LogGroup>();
    kinds.register::<FlowLog>();
    kinds.register::<Topic>();
    kinds.register::<Subscription>();
    kinds.register::<Alarm>();
}

typed_string!(
    /// A log group's name.
    LogGroupName, LogGroup, "name"
);
typed_string!(
    /// A log group's ARN, without `:*` (what WAF logging takes).
    LogGroupArn, LogGroup, "arn"
);
typed_string!(
    /// An SNS topic's ARN.
    TopicArn, Topic, "topic_arn"
);
