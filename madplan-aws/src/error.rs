//! Turning SDK errors into [`ProviderError`]s that keep AWS's code, message
//! and request id.

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::RequestId;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use madplan_core::{ErrorClass, ProviderError};

/// Codes of failures in transit that the SDK's standard retry already
/// retried, bounded, before the error reached us: throttling (the SDK's
/// `THROTTLING_ERRORS` and `TRANSIENT_ERRORS` in `aws-runtime`) and the
/// codes AWS gives its 5xx answers.
const UNAVAILABLE: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "RequestTimeout",
    "RequestTimeoutException",
    "ServiceUnavailable",
    "Unavailable",
    "InternalError",
    "InternalFailure",
];

/// Codes of conditions of EC2 that settle with time: the engine runs the
/// whole operation again (re-reading first) after a pause.
const SETTLING: &[&str] = &[
    // Reported while detached network interfaces linger, which settles
    // within seconds.
    "DependencyViolation",
    // A resource still being changed (attaching, detaching, pending).
    "IncorrectState",
    "IncorrectInstanceState",
    "InvalidState",
    // Another request is changing the same resource's tags.
    "ConcurrentTagAccess",
    // ELB: a target group or certificate let go of by a listener deleted a
    // moment ago; Auto Scaling: a group still scaling; IAM: a role whose
    // instance profile is being deleted.
    "ResourceInUse",
    "ResourceInUseException",
    "ScalingActivityInProgress",
    "DeleteConflict",
];

/// Codes meaning "no such thing" in services whose codes do not end in
/// `NotFound`.
const NOT_FOUND: &[&str] = &["NoSuchEntity", "ResourceNotFound"];

/// Codes meaning "it exists already" besides `.Duplicate` and
/// `AlreadyExists` endings.
const CONFLICT: &[&str] = &[
    "EntityAlreadyExists",
    "DuplicateLoadBalancerName",
    "DuplicateTargetGroupName",
    "DuplicateListener",
    "AlreadyExistsException",
];

/// Classifies an AWS error code (see [`ErrorClass`] for where each kind of
/// retry lives).
fn class_of(code: &str) -> ErrorClass {
    if UNAVAILABLE.contains(&code) {
        ErrorClass::Unavailable
    } else if SETTLING.contains(&code) {
        ErrorClass::Retryable
    } else if code.ends_with("NotFound")
        || code.ends_with("NotFoundException")
        || NOT_FOUND.contains(&code)
    {
        ErrorClass::NotFound
    } else if code.ends_with(".Duplicate")
        || code.ends_with("AlreadyExists")
        || CONFLICT.contains(&code)
    {
        ErrorClass::Conflict
    } else {
        ErrorClass::Fatal
    }
}

/// The HTTP statuses the SDK's standard retry retries whatever the code.
fn is_transient_status(status: u16) -> bool {
    matches!(status, 500 | 502 | 503 | 504)
}

/// Converts an SDK error.
///
/// Failures in transit (throttling, 5xx, timeouts, dropped connections) were
/// already retried by the SDK's standard retry and come out as
/// [`ErrorClass::Unavailable`], which the engine does not repeat; conditions
/// that settle with time (`DependencyViolation`, `IncorrectState`...) come
/// out as [`ErrorClass::Retryable`].
pub fn sdk_error<E>(e: SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    SdkError<E, HttpResponse>: RequestId,
{
    let request_id = e.request_id().map(str::to_string);
    match &e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            let code = err.code().unwrap_or("Unknown").to_string();
            let message = err.message().unwrap_or("no message").to_string();
            let class = match class_of(&code) {
                ErrorClass::Fatal if is_transient_status(se.raw().status().as_u16()) => {
                    ErrorClass::Unavailable
                }
                class => class,
            };
            ProviderError::new("aws", class, message)
                .with_code(code)
                .with_request_id(request_id)
                .with_source(e)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ProviderError::new(
                "aws",
                ErrorClass::Unavailable,
                format!("{e}: {}", source_text(&e)),
            )
            .with_request_id(request_id)
            .with_source(e)
        }
        _ => ProviderError::new(
            "aws",
            ErrorClass::Fatal,
            format!("{e}: {}", source_text(&e)),
        )
        .with_request_id(request_id)
        .with_source(e),
    }
}

fn source_text(e: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push(s.to_string());
        cur = s.source();
    }
    out.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_codes() {
        assert_eq!(class_of("InvalidVpcID.NotFound"), ErrorClass::NotFound);
        assert_eq!(
            class_of("InvalidAssociationID.NotFound"),
            ErrorClass::NotFound
        );
        // Retried by the SDK already: the engine must not multiply them.
        for code in [
            "RequestLimitExceeded",
            "Throttling",
            "ThrottlingException",
            "TooManyRequestsException",
            "ServiceUnavailable",
            "Unavailable",
            "InternalError",
            "InternalFailure",
        ] {
            assert_eq!(class_of(code), ErrorClass::Unavailable, "{code}");
        }
        // Settle with time: the engine runs the operation again.
        for code in ["DependencyViolation", "IncorrectState", "InvalidState"] {
            assert_eq!(class_of(code), ErrorClass::Retryable, "{code}");
        }
        assert_eq!(class_of("InvalidGroup.Duplicate"), ErrorClass::Conflict);
        // The web tier's services.
        for code in [
            "NoSuchEntity",
            "ResourceNotFoundException",
            "LoadBalancerNotFound",
            "TargetGroupNotFound",
            "ListenerNotFound",
            "ResourceNotFound",
        ] {
            assert_eq!(class_of(code), ErrorClass::NotFound, "{code}");
        }
        for code in ["EntityAlreadyExists", "DuplicateTargetGroupName"] {
            assert_eq!(class_of(code), ErrorClass::Conflict, "{code}");
        }
        for code in ["ResourceInUse", "ResourceInUseException", "DeleteConflict"] {
            assert_eq!(class_of(code), ErrorClass::Retryable, "{code}");
        }
        assert_eq!(class_of("InvalidParameterValue"), ErrorClass::Fatal);
        assert_eq!(class_of("Resource.AlreadyAssociated"), ErrorClass::Fatal);
    }

    fn service_error(status: u16, code: &str) -> ProviderError {
        use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsError;
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;
        use aws_smithy_types::error::ErrorMetadata;
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        let err = DescribeVpcsError::generic(ErrorMetadata::builder().code(code).build());
        sdk_error(SdkError::service_error(err, raw))
    }

    #[test]
    fn a_5xx_answer_is_unavailable_whatever_its_code() {
        assert_eq!(
            service_error(503, "Whatever").class,
            ErrorClass::Unavailable
        );
        assert_eq!(service_error(400, "Whatever").class, ErrorClass::Fatal);
        assert_eq!(
            service_error(503, "RequestLimitExceeded").class,
            ErrorClass::Unavailable
        );
        assert_eq!(
            service_error(400, "DependencyViolation").class,
            ErrorClass::Retryable
        );
    }

    #[test]
    fn failures_in_transit_are_unavailable() {
        use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsError;
        let e: SdkError<DescribeVpcsError, HttpResponse> = SdkError::timeout_error("took too long");
        assert_eq!(sdk_error(e).class, ErrorClass::Unavailable);
        let e: SdkError<DescribeVpcsError, HttpResponse> = SdkError::response_error(
            "garbled",
            HttpResponse::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(200).unwrap(),
                aws_smithy_types::body::SdkBody::empty(),
            ),
        );
        assert_eq!(sdk_error(e).class, ErrorClass::Unavailable);
    }
}
