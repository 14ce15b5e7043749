//! Creates that must not be sent twice.
//!
//! The AWS SDK sends a request again when its answer is lost in transit (a
//! connection closed or timed out after the request left). For a read or an
//! idempotent write that is right. For a create the service may already have
//! done, it makes a second object wherever the API has no idempotency key:
//! `CreateVpc`, `CreateInternetGateway` and `AllocateAddress` take none;
//! the `ClientToken` of `CreateRouteTable`, `CreateNetworkAcl`,
//! `CreateNatGateway` and `CreateFlowLogs` is not honoured by every endpoint
//! (moto ignores it), nor is the documented idempotency of ELB's
//! `CreateListener` (moto makes a second listener on the same port). Those
//! calls go out with [`once_if_lost`] (EC2) or [`elbv2_once_if_lost`]: an
//! answer lost in transit fails the create as unavailable instead, and the
//! next apply finds the object the lost call may have made by this state's
//! tags (every create here tags at creation) and adopts it. Throttling and
//! server errors are answers, so they are still retried as before.

use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};

/// The classifier: no second attempt after a failure in transit, whatever
/// the SDK's own classifiers said.
#[derive(Debug, Clone, Copy)]
struct NoResendWhenLost;

impl ClassifyRetry for NoResendWhenLost {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.output_or_error() {
            Some(Err(e))
                if e.is_connector_error() || e.is_timeout_error() || e.is_response_error() =>
            {
                RetryAction::RetryForbidden
            }
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "madplan-no-resend-when-lost"
    }

    fn priority(&self) -> RetryClassifierPriority {
        // After the SDK's transient-error classifier, which would ask for a
        // retry of exactly these failures.
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// The EC2 configuration override of a create that must not be sent twice:
/// `client.create_vpc()...customize().config_override(once_if_lost())`.
pub(crate) fn once_if_lost() -> aws_sdk_ec2::config::Builder {
    aws_sdk_ec2::config::Builder::default().retry_classifier(NoResendWhenLost)
}

/// [`once_if_lost`] for Elastic Load Balancing.
pub(crate) fn elbv2_once_if_lost() -> aws_sdk_elasticloadbalancingv2::config::Builder {
    aws_sdk_elasticloadbalancingv2::config::Builder::default().retry_classifier(NoResendWhenLost)
}
