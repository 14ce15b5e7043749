//! The AMI id AWS publishes in a public SSM parameter.

use madplan_core::{DataSource, Problem, ProviderError, ValidateCx, problem};
use serde::{Deserialize, Serialize};

use super::AmiId;
use crate::Aws;
use crate::error::sdk_error;

/// The image id a public SSM parameter holds, read at plan time, e.g. the
/// latest Amazon Linux 2023. A new AMI published there shows in the next
/// plan as a change of the launch templates that use it (a new version);
/// give a fixed id instead to move only when you say so.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatestAmi {
    /// The parameter's name, under `/aws/service/`.
    pub parameter: String,
}

/// What the parameter holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmiOutputs {
    /// The AMI id.
    pub image_id: AmiId,
}

impl LatestAmi {
    /// The latest Amazon Linux 2023 (kernel 6.1) for x86-64.
    pub fn amazon_linux_2023() -> Self {
        Self::parameter("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-x86_64")
    }

    /// The latest Amazon Linux 2023 (kernel 6.1) for Graviton (arm64).
    pub fn amazon_linux_2023_arm64() -> Self {
        Self::parameter("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-arm64")
    }

    /// Any public parameter holding an AMI id.
    pub fn parameter(name: impl Into<String>) -> Self {
        Self {
            parameter: name.into(),
        }
    }
}

impl DataSource for LatestAmi {
    const KIND: &'static str = "aws.latest_ami";
    type Provider = Aws;
    type Outputs = AmiOutputs;

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if !self.parameter.starts_with("/aws/service/") {
            problems.push(problem(
                "parameter",
                format!("{:?} is not a public AWS parameter", self.parameter),
                Some("public AMI parameters live under /aws/service/"),
            ));
        }
    }

    async fn read(&self, aws: &Aws) -> Result<AmiOutputs, ProviderError> {
        let out = aws
            .ssm()
            .get_parameter()
            .name(&self.parameter)
            .send()
            .await
            .map_err(sdk_error)?;
        let value = out
            .parameter()
            .and_then(|p| p.value())
            .filter(|v| v.starts_with("ami-"))
            .ok_or_else(|| {
                ProviderError::new(
                    "aws",
                    madplan_core::ErrorClass::Fatal,
                    format!("the parameter {} holds no AMI id", self.parameter),
                )
            })?;
        Ok(AmiOutputs {
            image_id: AmiId(value.to_string()),
        })
    }
}
