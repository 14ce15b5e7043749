//! Instance profiles: how EC2 instances get a role.

use std::collections::BTreeMap;

use aws_sdk_iam::types::Tag;
use madplan_core::{
    Address, Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource,
    TAG_ADDRESS, TAG_ENVIRONMENT, TAG_LINEAGE, ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::{InstanceProfileArn, InstanceProfileName, RoleName, name_problem};
use crate::error::sdk_error;
use crate::network::{gone_is_done, missing, unresolved};
use crate::{Aws, tags};

/// An instance profile holding one role, for a launch template to give
/// its instances.
///
/// IAM's list calls do not return tags, so madplan's markers are also
/// written into the profile's path, `/madplan/ENVIRONMENT/LINEAGE/ADDRESS/`:
/// the refresh lists that environment's profiles in one call and reads
/// them from there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct InstanceProfile {
    /// Its name, unique in the account (1 to 128 characters).
    #[builder(setter(into))]
    pub name: String,
    /// The role it gives instances.
    #[builder(setter(transform = |v: impl IntoInput<RoleName>| v.into_input()))]
    pub role: Input<RoleName>,
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// What an instance profile yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceProfileOutputs {
    /// Its name.
    pub name: InstanceProfileName,
    /// Its ARN.
    pub arn: InstanceProfileArn,
}

/// The path that carries madplan's markers.
fn marker_path(environment: &str, lineage: &str, address: &Address) -> String {
    format!("/madplan/{environment}/{lineage}/{address}/")
}

/// The markers a path carries: environment, lineage, address.
fn markers(path: &str) -> Option<(&str, &str, &str)> {
    let rest = path.strip_prefix("/madplan/")?.strip_suffix('/')?;
    let mut parts = rest.split('/');
    let (env, lineage, address) = (parts.next()?, parts.next()?, parts.next()?);
    parts.next().is_none().then_some((env, lineage, address))
}

async fn add_role(aws: &Aws, profile: &str, role: &str) -> Result<(), ProviderError> {
    aws.iam()
        .add_role_to_instance_profile()
        .instance_profile_name(profile)
        .role_name(role)
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(())
}

async fn remove_role(aws: &Aws, profile: &str, role: &str) -> Result<(), ProviderError> {
    gone_is_done(
        aws.iam()
            .remove_role_from_instance_profile()
            .instance_profile_name(profile)
            .role_name(role)
            .send()
            .await
            .map_err(sdk_error),
    )
}

impl Resource for InstanceProfile {
    const KIND: &'static str = "aws.instance_profile";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["name"];
    type Provider = Aws;
    type Outputs = InstanceProfileOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if let Some(why) = name_problem(&self.name, 128) {
            problems.push(problem("name", why, None));
        }
    }

    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let prefix = format!("/madplan/{}/", cx.environment);
        let profiles: Vec<_> = aws
            .iam()
            .list_instance_profiles()
            .path_prefix(&prefix)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk_error)?;
        let mut found = Vec::new();
        // The prefix is filtered again here: it is only a hint to some
        // implementations of the API.
        for p in profiles.iter().filter(|p| p.path().starts_with(&prefix)) {
            let name = p.instance_profile_name();
            let marked = markers(p.path());
            let claim = cx.claim(
                |o| o.name.as_str() == name,
                |key| {
                    let (env, lineage, address) = marked?;
                    let value = match key {
                        TAG_ENVIRONMENT => env,
                        TAG_LINEAGE => lineage,
                        TAG_ADDRESS => address,
                        _ => return None,
                    };
                    Some(value.to_string())
                },
            );
            let Some(claim) = claim else { continue };
            let role = p
                .roles()
                .first()
                .map(|r| r.role_name().to_string())
                .unwrap_or_default();
            found.push(Found::new(
                claim,
                InstanceProfile {
                    name: name.to_string(),
                    role: Input::Value(RoleName(role)),
                    tags: tags::user_pairs(p.tags().iter().map(|t| (t.key(), t.value()))),
                },
                InstanceProfileOutputs {
                    name: InstanceProfileName(name.to_string()),
                    arn: InstanceProfileArn(p.arn().to_string()),
                },
            ));
        }
        Ok(found)
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<InstanceProfileOutputs, ProviderError> {
        let tags = tags::pairs(cx, &self.tags)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| missing(&e.to_string()))?;
        let out = aws
            .iam()
            .create_instance_profile()
            .instance_profile_name(&self.name)
            .path(marker_path(
                cx.environment(),
                &cx.lineage().to_string(),
                cx.address(),
            ))
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(sdk_error)?;
        let p = out
            .instance_profile()
            .ok_or_else(|| missing("instance profile"))?;
        let outputs = InstanceProfileOutputs {
            name: InstanceProfileName(p.instance_profile_name().to_string()),
            arn: InstanceProfileArn(p.arn().to_string()),
        };
        cx.created(&outputs).await?;
        add_role(
            aws,
            &self.name,
            self.role.get().map_err(unresolved)?.as_str(),
        )
        .await?;
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<InstanceProfileOutputs, ProviderError> {
        let name = prior.outputs.name.as_str();
        if changed.iter().any(|c| c == "role") {
            // A profile holds one role: the old one goes first.
            let old = prior.spec.role.get().map_err(unresolved)?;
            if !old.as_str().is_empty() {
                remove_role(aws, name, old.as_str()).await?;
            }
            add_role(aws, name, self.role.get().map_err(unresolved)?.as_str()).await?;
        }
        if changed.iter().any(|c| c == "tags") {
            let (stale, set) = tags::changes(&prior.spec.tags, &self.tags);
            if !stale.is_empty() {
                aws.iam()
                    .untag_instance_profile()
                    .instance_profile_name(name)
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
                    .tag_instance_profile()
                    .instance_profile_name(name)
                    .set_tags(Some(set))
                    .send()
                    .await
                    .map_err(sdk_error)?;
            }
        }
        Ok(prior.outputs.clone())
    }

    async fn delete(
        outputs: &InstanceProfileOutputs,
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        let name = outputs.name.as_str();
        let got = aws
            .iam()
            .get_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
            .map_err(sdk_error);
        let profile = match got {
            Err(e) if e.is_not_found() => return Ok(()),
            other => other?,
        };
        let roles = profile
            .instance_profile()
            .map(|p| p.roles().to_vec())
            .unwrap_or_default();
        futures_util::future::try_join_all(
            roles.iter().map(|r| remove_role(aws, name, r.role_name())),
        )
        .await?;
        gone_is_done(
            aws.iam()
                .delete_instance_profile()
                .instance_profile_name(name)
                .send()
                .await
                .map_err(sdk_error),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_through_the_path() {
        let a: Address = "aws.instance_profile.app".parse().unwrap();
        let path = marker_path("production", "2f1c0b7e-0000-4000-8000-000000000000", &a);
        assert_eq!(
            path,
            "/madplan/production/2f1c0b7e-0000-4000-8000-000000000000/aws.instance_profile.app/"
        );
        assert_eq!(
            markers(&path),
            Some((
                "production",
                "2f1c0b7e-0000-4000-8000-000000000000",
                "aws.instance_profile.app"
            ))
        );
        assert_eq!(markers("/"), None);
        assert_eq!(markers("/madplan/production/"), None);
    }
}
