//! The AWS integration (Datadog API v2): an AWS account Datadog reads
//! through an IAM role. Datadog generates an external id when the account
//! is added; the role's trust policy must require it. The integration is
//! created first, with the role's name (known in advance); its external id
//! is an output the AWS side's role then references, so the graph has no
//! cycle:
//!
//! ```text
//! datadog.aws_integration.main  --external_id-->  aws.iam_role.datadog (trust policy)
//!        ^ role_name: a literal ("DatadogIntegrationRole"), never the role's output
//! ```
//!
//! The v2 account has no tags of its own (its `account_tags` are added to
//! every metric of the account), so it is found again by the configuration
//! id state recorded; adding the same AWS account twice is a conflict.

use std::collections::BTreeSet;

use madplan_core::{
    Found, Input, Observed, OpCx, Problem, ProviderError, Ref, RefreshCx, Replacement, Resource,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize};

use super::{Datadog, deleted, incomplete, provider_error, unresolved};
use crate::client::aws::{AwsAccount, AwsAuth, AwsPartition};

/// An AWS account of Datadog's AWS integration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AwsIntegration {
    /// The AWS account id (12 digits); another provider's output when the
    /// account is made in the same environment.
    pub account_id: Input<String>,
    /// The name (not the ARN) of the role Datadog assumes. Give it as a
    /// literal: the role's trust policy needs this integration's external
    /// id, so the role cannot also feed this field.
    pub role_name: Input<String>,
    /// The partition.
    pub partition: AwsPartition,
    /// The regions to collect from (`None`: all).
    pub regions: Option<BTreeSet<String>>,
    /// Tags Datadog adds to every host and metric of the account.
    pub account_tags: BTreeSet<String>,
}

impl AwsIntegration {
    /// The account `account_id` reached through the role `role_name`, all
    /// regions of the commercial partition.
    pub fn new(account_id: impl Into<Input<String>>, role_name: impl Into<Input<String>>) -> Self {
        Self {
            account_id: account_id.into(),
            role_name: role_name.into(),
            partition: AwsPartition::Aws,
            regions: None,
            account_tags: BTreeSet::new(),
        }
    }

    /// Collects from these regions only.
    #[must_use]
    pub fn regions(mut self, regions: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.regions = Some(regions.into_iter().map(Into::into).collect());
        self
    }

    fn wire(&self, live: Option<AwsAccount>) -> Result<AwsAccount, ProviderError> {
        let account_id = self.account_id.get().map_err(unresolved)?.clone();
        let role_name = self.role_name.get().map_err(unresolved)?.clone();
        let mut a = live.unwrap_or_else(|| AwsAccount::with_role(&account_id, &role_name));
        a.aws_account_id = account_id;
        a.partition = self.partition.clone();
        a.auth = AwsAuth::Role {
            role_name,
            external_id: None,
        };
        a.regions = self.regions.as_ref().map(|r| r.iter().cloned().collect());
        a.account_tags = self.account_tags.iter().cloned().collect();
        Ok(a)
    }

    fn from_wire(a: &AwsAccount) -> Self {
        Self {
            account_id: Input::Value(a.aws_account_id.clone()),
            role_name: Input::Value(match &a.auth {
                AwsAuth::Role { role_name, .. } => role_name.clone(),
                AwsAuth::Other(_) => String::new(),
            }),
            partition: a.partition.clone(),
            regions: a.regions.as_ref().map(|r| r.iter().cloned().collect()),
            account_tags: a.account_tags.iter().cloned().collect(),
        }
    }
}

/// What the integration yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AwsIntegrationOutputs {
    /// Datadog's id of the account's configuration.
    pub config_id: String,
    /// The external id the role's trust policy must require
    /// (`sts:ExternalId`).
    pub external_id: String,
}

/// The external id of an AWS integration, for the IAM role's trust policy
/// on the AWS side.
pub fn external_id(integration: &Ref<AwsIntegration>) -> Input<String> {
    integration.output("external_id")
}

impl Resource for AwsIntegration {
    const KIND: &'static str = "datadog.aws_integration";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["account_id", "partition"];
    /// Another account never collides with the old one: the new one is
    /// added (and its role trusted) before the old one goes.
    const REPLACEMENT: Replacement = Replacement::CreateBeforeDestroy;
    /// A role trusting the external id does not hold the integration.
    const HELD_BY_DEPENDENTS: bool = false;
    type Provider = Datadog;
    type Outputs = AwsIntegrationOutputs;

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if let Some(id) = self.account_id.known()
            && !(id.len() == 12 && id.chars().all(|c| c.is_ascii_digit()))
        {
            problems.push(problem(
                "account_id",
                format!("{id:?} is not a 12-digit AWS account id"),
                None,
            ));
        }
        if let Some(role) = self.role_name.known() {
            if role.starts_with("arn:") {
                problems.push(problem(
                    "role_name",
                    "give the role's name, not its ARN",
                    None,
                ));
            } else if role.is_empty()
                || role.len() > 64
                || !role
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
            {
                problems.push(problem(
                    "role_name",
                    format!("{role:?} is not an IAM role name"),
                    None,
                ));
            }
        }
        if let AwsPartition::Other(p) = &self.partition {
            problems.push(problem(
                "partition",
                format!("{p:?} is not a partition"),
                None,
            ));
        }
        if self.regions.as_ref().is_some_and(BTreeSet::is_empty) {
            problems.push(problem(
                "regions",
                "no region: give some, or None for all",
                None,
            ));
        }
    }

    /// One list of the integration's accounts, kept when state tracks them.
    async fn refresh(p: &Datadog, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        if cx.tracked.is_empty() {
            return Ok(Vec::new());
        }
        let all = p.client().aws_accounts().await.map_err(provider_error)?;
        let mut out = Vec::new();
        for a in all {
            let Some(id) = a.id.clone() else { continue };
            if let Some(claim) = cx.claim(|o| o.config_id == id, |_| None) {
                out.push(Found::new(
                    claim,
                    AwsIntegration::from_wire(&a),
                    AwsIntegrationOutputs {
                        config_id: id,
                        external_id: a.external_id().unwrap_or_default().to_string(),
                    },
                ));
            }
        }
        Ok(out)
    }

    async fn create(&self, p: &Datadog, cx: &OpCx) -> Result<AwsIntegrationOutputs, ProviderError> {
        let made = p
            .client()
            .create_aws_account(&self.wire(None)?)
            .await
            .map_err(provider_error)?;
        let (Some(config_id), Some(external_id)) =
            (made.id.clone(), made.external_id().map(str::to_string))
        else {
            return Err(incomplete("the AWS account's id and external id"));
        };
        let outputs = AwsIntegrationOutputs {
            config_id,
            external_id,
        };
        cx.created(&outputs).await?;
        Ok(outputs)
    }

    /// Reads the account's configuration, then writes madplan's fields over
    /// it (metrics, logs and resource collection set elsewhere stay).
    async fn update(
        &self,
        prior: &Observed<Self>,
        _changed: &[String],
        p: &Datadog,
        _cx: &OpCx,
    ) -> Result<AwsIntegrationOutputs, ProviderError> {
        let id = &prior.outputs.config_id;
        let live = p.client().aws_account(id).await.map_err(provider_error)?;
        let updated = p
            .client()
            .update_aws_account(id, &self.wire(Some(live))?)
            .await
            .map_err(provider_error)?;
        Ok(AwsIntegrationOutputs {
            config_id: id.clone(),
            external_id: updated
                .external_id()
                .map(str::to_string)
                .unwrap_or_else(|| prior.outputs.external_id.clone()),
        })
    }

    async fn delete(
        outputs: &AwsIntegrationOutputs,
        p: &Datadog,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        deleted(p.client().delete_aws_account(&outputs.config_id).await)
    }
}
