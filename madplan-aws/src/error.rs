//! Turning SDK errors into [`ProviderError`]s that keep AWS's code, message
//! and request id.

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::RequestId;
use madplan_core::{ErrorClass, ProviderError};

/// Classifies an AWS error code.
fn class_of(code: &str) -> ErrorClass {
    if code.ends_with(".NotFound")
        || code.ends_with("NotFound")
        || code == "InvalidAssociationID.NotFound"
    {
        ErrorClass::NotFound
    } else if matches!(
        code,
        "RequestLimitExceeded"
            | "Throttling"
            | "ThrottlingException"
            | "TooManyRequestsException"
            | "ServiceUnavailable"
            | "Unavailable"
            | "InternalError"
            | "InternalFailure"
            // EC2 reports this while detached network interfaces linger,
            // which settles within seconds.
            | "DependencyViolation"
    ) {
        ErrorClass::Retryable
    } else if code.ends_with(".Duplicate") || code.ends_with("AlreadyExists") {
        ErrorClass::Conflict
    } else {
        ErrorClass::Fatal
    }
}

/// Converts an SDK error.
pub fn sdk_error<E, R>(e: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
    SdkError<E, R>: RequestId,
{
    let request_id = e.request_id().map(str::to_string);
    match &e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            let code = err.code().unwrap_or("Unknown").to_string();
            let message = err.message().unwrap_or("no message").to_string();
            ProviderError::new("aws", class_of(&code), message)
                .with_code(code)
                .with_request_id(request_id)
                .with_source(e)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ProviderError::new(
                "aws",
                ErrorClass::Retryable,
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
        assert_eq!(class_of("RequestLimitExceeded"), ErrorClass::Retryable);
        assert_eq!(class_of("DependencyViolation"), ErrorClass::Retryable);
        assert_eq!(class_of("InvalidGroup.Duplicate"), ErrorClass::Conflict);
        assert_eq!(class_of("InvalidParameterValue"), ErrorClass::Fatal);
    }
}
