//! IAM roles.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iam::types::{EntityType, Tag};
use futures_util::future::{try_join_all, try_join4};
use madplan_core::{
    Found, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource, ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::{PolicyArn, PolicyDocument, RoleArn, RoleName, name_problem};
use crate::error::sdk_error;
use crate::network::{gone_is_done, missing};
use crate::{Aws, tags};

/// An IAM role: who may assume it (its trust policy), the managed policies
/// attached to it by ARN, and inline policies as typed documents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct Role {
    /// Its name, unique in the account (1 to 64 characters).
    #[builder(setter(into))]
    pub name: String,
    /// Who may assume it, e.g. `PolicyDocument::trust_service("ec2.amazonaws.com")`.
    pub trust: PolicyDocument,
    /// Managed policies attached to it.
    #[builder(default, setter(transform = |p: impl IntoIterator<Item = PolicyArn>| p.into_iter().collect()))]
    pub managed_policies: BTreeSet<PolicyArn>,
    /// Inline policies, by name.
    #[builder(default)]
    pub inline_policies: BTreeMap<String, PolicyDocument>,
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// What a role yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoleOutputs {
    /// Its name.
    pub role_name: RoleName,
    /// Its ARN.
    pub arn: RoleArn,
}

fn iam_tags(cx: &OpCx, user: &BTreeMap<String, String>) -> Result<Vec<Tag>, ProviderError> {
    tags::pairs(cx, user)
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| missing(&e.to_string()))
        })
        .collect()
}

async fn attach(aws: &Aws, role: &str, arn: &PolicyArn) -> Result<(), ProviderError> {
    aws.iam()
        .attach_role_policy()
        .role_name(role)
        .policy_arn(arn.as_str())
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(())
}

async fn detach(aws: &Aws, role: &str, arn: &str) -> Result<(), ProviderError> {
    gone_is_done(
        aws.iam()
            .detach_role_policy()
            .role_name(role)
            .policy_arn(arn)
            .send()
            .await
            .map_err(sdk_error),
    )
}

async fn put_inline(
    aws: &Aws,
    role: &str,
    name: &str,
    doc: &PolicyDocument,
) -> Result<(), ProviderError> {
    aws.iam()
        .put_role_policy()
        .role_name(role)
        .policy_name(name)
        .policy_document(doc.to_json_string())
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(())
}

async fn delete_inline(aws: &Aws, role: &str, name: &str) -> Result<(), ProviderError> {
    gone_is_done(
        aws.iam()
            .delete_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .map_err(sdk_error),
    )
}

/// Brings managed and inline policies from `before` to `after`, all at once.
async fn sync_policies(
    aws: &Aws,
    role: &str,
    before: &Role,
    after: &Role,
) -> Result<(), ProviderError> {
    let detaches = before
        .managed_policies
        .difference(&after.managed_policies)
        .map(|p| detach(aws, role, p.as_str()));
    let attaches = after
        .managed_policies
        .difference(&before.managed_policies)
        .map(|p| attach(aws, role, p));
    let removed = before
        .inline_policies
        .keys()
        .filter(|k| !after.inline_policies.contains_key(*k))
        .map(|k| delete_inline(aws, role, k));
    let put = after
        .inline_policies
        .iter()
        .filter(|(k, d)| before.inline_policies.get(*k) != Some(*d))
        .map(|(k, d)| put_inline(aws, role, k, d));
    try_join4(
        try_join_all(detaches),
        try_join_all(attaches),
        try_join_all(removed),
        try_join_all(put),
    )
    .await?;
    Ok(())
}

/// A document read back from IAM; one that cannot be read shows as a
/// statement saying so, which differs from anything written and so is
/// reported and rewritten.
fn read_document(text: Option<&str>) -> PolicyDocument {
    PolicyDocument::parse(text.unwrap_or_default()).unwrap_or_else(|why| {
        PolicyDocument::new([super::Statement {
            sid: Some(format!("unreadable: {why}")),
            ..super::Statement::default()
        }])
    })
}

impl Resource for Role {
    const KIND: &'static str = "aws.iam_role";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["name"];
    type Provider = Aws;
    type Outputs = RoleOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if let Some(why) = name_problem(&self.name, 64) {
            problems.push(problem("name", why, None));
        }
        if let Some(why) = self.trust.problem(true) {
            problems.push(problem(
                "trust",
                why,
                Some("e.g. PolicyDocument::trust_service(\"ec2.amazonaws.com\")"),
            ));
        }
        for p in &self.managed_policies {
            if let Some(why) = p.problem() {
                problems.push(problem("managed_policies", why, None));
            }
        }
        if self.managed_policies.len() > 20 {
            problems.push(problem(
                "managed_policies",
                format!(
                    "{} managed policies; IAM attaches at most 20 to a role",
                    self.managed_policies.len()
                ),
                None,
            ));
        }
        for (name, doc) in &self.inline_policies {
            if let Some(why) = name_problem(name, 128) {
                problems.push(problem("inline_policies", why, None));
            }
            if let Some(why) = doc.problem(false) {
                problems.push(problem("inline_policies", format!("{name}: {why}"), None));
            }
        }
    }

    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let pages: Vec<_> = aws
            .iam()
            .get_account_authorization_details()
            .filter(EntityType::Role)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(sdk_error)?;
        let mut found = Vec::new();
        for r in pages.iter().flat_map(|p| p.role_detail_list()) {
            let name = r.role_name().unwrap_or_default();
            let pairs = r.tags().iter().map(|t| (t.key(), t.value()));
            let Some(claim) =
                tags::claim_pairs(cx, pairs.clone(), |o| o.role_name.as_str() == name)
            else {
                continue;
            };
            found.push(Found::new(
                claim,
                Role {
                    name: name.to_string(),
                    trust: read_document(r.assume_role_policy_document()),
                    managed_policies: r
                        .attached_managed_policies()
                        .iter()
                        .filter_map(|p| p.policy_arn())
                        .map(PolicyArn::new)
                        .collect(),
                    inline_policies: r
                        .role_policy_list()
                        .iter()
                        .filter_map(|p| {
                            Some((
                                p.policy_name()?.to_string(),
                                read_document(p.policy_document()),
                            ))
                        })
                        .collect(),
                    tags: tags::user_pairs(pairs),
                },
                RoleOutputs {
                    role_name: RoleName(name.to_string()),
                    arn: RoleArn(r.arn().unwrap_or_default().to_string()),
                },
            ));
        }
        Ok(found)
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<RoleOutputs, ProviderError> {
        let out = aws
            .iam()
            .create_role()
            .role_name(&self.name)
            .assume_role_policy_document(self.trust.to_json_string())
            .set_tags(Some(iam_tags(cx, &self.tags)?))
            .send()
            .await
            .map_err(sdk_error)?;
        let role = out.role().ok_or_else(|| missing("role"))?;
        let outputs = RoleOutputs {
            role_name: RoleName(role.role_name().to_string()),
            arn: RoleArn(role.arn().to_string()),
        };
        cx.created(&outputs).await?;
        let empty = Role {
            managed_policies: BTreeSet::new(),
            inline_policies: BTreeMap::new(),
            ..self.clone()
        };
        sync_policies(aws, &self.name, &empty, self).await?;
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<RoleOutputs, ProviderError> {
        let role = prior.outputs.role_name.as_str();
        let has = |f: &str| changed.iter().any(|c| c == f);
        let trust = async {
            if has("trust") {
                aws.iam()
                    .update_assume_role_policy()
                    .role_name(role)
                    .policy_document(self.trust.to_json_string())
                    .send()
                    .await
                    .map_err(sdk_error)?;
            }
            Ok::<_, ProviderError>(())
        };
        let policies = async {
            if has("managed_policies") || has("inline_policies") {
                sync_policies(aws, role, &prior.spec, self).await?;
            }
            Ok(())
        };
        let tags = async {
            if has("tags") {
                let (stale, set) = tags::changes(&prior.spec.tags, &self.tags);
                if !stale.is_empty() {
                    aws.iam()
                        .untag_role()
                        .role_name(role)
                        .set_tag_keys(Some(stale))
                        .send()
                        .await
                        .map_err(sdk_error)?;
                }
                if !set.is_empty() {
                    let set = set
                        .into_iter()
                        .map(|(k, v)| Tag::builder().key(k).value(v).build())
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| missing(&e.to_string()))?;
                    aws.iam()
                        .tag_role()
                        .role_name(role)
                        .set_tags(Some(set))
                        .send()
                        .await
                        .map_err(sdk_error)?;
                }
            }
            Ok(())
        };
        futures_util::future::try_join3(trust, policies, tags).await?;
        Ok(prior.outputs.clone())
    }

    async fn delete(outputs: &RoleOutputs, aws: &Aws, _cx: &OpCx) -> Result<(), ProviderError> {
        let role = outputs.role_name.as_str();
        // IAM deletes a role only once nothing is attached to it.
        let attached = async {
            aws.iam()
                .list_attached_role_policies()
                .role_name(role)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(sdk_error)
        };
        let inline = async {
            aws.iam()
                .list_role_policies()
                .role_name(role)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(sdk_error)
        };
        let profiles = async {
            aws.iam()
                .list_instance_profiles_for_role()
                .role_name(role)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(sdk_error)
        };
        let (attached, inline, profiles) =
            match futures_util::future::try_join3(attached, inline, profiles).await {
                Ok(all) => all,
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(e),
            };
        let detaches = attached
            .iter()
            .filter_map(|p| p.policy_arn())
            .map(|arn| detach(aws, role, arn));
        let deletes = inline.iter().map(|name| delete_inline(aws, role, name));
        let removals = profiles.iter().map(|p| async move {
            gone_is_done(
                aws.iam()
                    .remove_role_from_instance_profile()
                    .instance_profile_name(p.instance_profile_name())
                    .role_name(role)
                    .send()
                    .await
                    .map_err(sdk_error),
            )
        });
        futures_util::future::try_join3(
            try_join_all(detaches),
            try_join_all(deletes),
            try_join_all(removals),
        )
        .await?;
        gone_is_done(
            aws.iam()
                .delete_role()
                .role_name(role)
                .send()
                .await
                .map_err(sdk_error),
        )
    }
}
