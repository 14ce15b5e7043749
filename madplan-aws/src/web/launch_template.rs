//! Launch templates: what the auto-scaling group launches.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_ec2::types::{
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest,
    LaunchTemplateHttpTokensState, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateTagSpecificationRequest, LaunchTemplatesMonitoringRequest,
    RequestLaunchTemplateData, ResourceType, ResponseLaunchTemplateData, Tag,
};
use madplan_core::{
    Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::{AmiId, LaunchTemplateId};
use crate::baseline::Baseline;
use crate::error::sdk_error;
use crate::iam::InstanceProfileArn;
use crate::network::{SecurityGroupId, find_all, missing, unresolved};
use crate::{Aws, tags};

/// An EC2 instance type, e.g. `t3.small`, checked against the types the SDK
/// knows.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceType(pub String);

impl InstanceType {
    /// The type named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// Why EC2 would not know it, if it would not.
    pub fn problem(&self) -> Option<String> {
        let known = aws_sdk_ec2::types::InstanceType::values();
        (!known.contains(&self.0.as_str())).then(|| {
            format!(
                "{:?} is not an EC2 instance type (expected e.g. t3.small or m7g.large)",
                self.0
            )
        })
    }
}

impl From<&str> for InstanceType {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

/// The user data instances run at first boot (a cloud-init script), given as
/// text; it is sent base64-encoded. It is compared with what was last
/// applied rather than read back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserData(pub String);

impl UserData {
    /// User data from text.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }
}

impl From<&str> for UserData {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

/// Whether the instance metadata service requires session tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpTokens {
    /// IMDSv2 only: a stolen request cannot read credentials.
    Required,
    /// IMDSv1 allowed too.
    Optional,
}

/// The instance metadata service's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TypedBuilder)]
pub struct MetadataOptions {
    /// Session tokens required (IMDSv2) or not.
    #[builder(default = HttpTokens::Required)]
    pub http_tokens: HttpTokens,
    /// How many network hops a metadata answer may take: 1 keeps it on the
    /// instance (containers with their own network namespace cannot reach
    /// it).
    #[builder(default = 1)]
    pub hop_limit: i32,
}

impl Default for MetadataOptions {
    fn default() -> Self {
        Self::builder().build()
    }
}

/// The EBS volume type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VolumeType {
    /// General purpose SSD, the current generation.
    Gp3,
    /// General purpose SSD, the previous generation.
    Gp2,
    /// Provisioned IOPS SSD.
    Io2,
}

impl VolumeType {
    fn sdk(self) -> aws_sdk_ec2::types::VolumeType {
        match self {
            VolumeType::Gp3 => aws_sdk_ec2::types::VolumeType::Gp3,
            VolumeType::Gp2 => aws_sdk_ec2::types::VolumeType::Gp2,
            VolumeType::Io2 => aws_sdk_ec2::types::VolumeType::Io2,
        }
    }

    fn from_sdk(v: &aws_sdk_ec2::types::VolumeType) -> Option<Self> {
        match v {
            aws_sdk_ec2::types::VolumeType::Gp3 => Some(VolumeType::Gp3),
            aws_sdk_ec2::types::VolumeType::Gp2 => Some(VolumeType::Gp2),
            aws_sdk_ec2::types::VolumeType::Io2 => Some(VolumeType::Io2),
            _ => None,
        }
    }
}

/// The root volume of the instances.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TypedBuilder)]
pub struct RootVolume {
    /// The device name the AMI boots from (`/dev/xvda` for Amazon Linux).
    #[builder(default = "/dev/xvda".into(), setter(into))]
    pub device_name: String,
    /// Its size in GiB.
    #[builder(default = 20)]
    pub size_gib: i32,
    /// Its type.
    #[builder(default = VolumeType::Gp3)]
    pub volume_type: VolumeType,
    /// Whether it is encrypted at rest.
    #[builder(default = true)]
    pub encrypted: bool,
    /// Provisioned IOPS (gp3: 3000 to 16000; AWS's default 3000 when left out).
    #[builder(default, setter(strip_option))]
    pub iops: Option<i32>,
    /// Throughput in MiB/s (gp3: 125 to 1000; AWS's default 125 when left out).
    #[builder(default, setter(strip_option))]
    pub throughput: Option<i32>,
}

impl Default for RootVolume {
    fn default() -> Self {
        Self::builder().build()
    }
}

/// A launch template. Every change but its own tags makes a new version,
/// which becomes the default; its `latest_version` output changes with it,
/// so what pins a version is planned "known after apply".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct LaunchTemplate {
    /// Its name, unique in the region.
    #[builder(setter(into))]
    pub name: String,
    /// The AMI (a [`super::LatestAmi`] handle, or a fixed id).
    #[builder(setter(transform = |v: impl IntoInput<AmiId>| v.into_input()))]
    pub image: Input<AmiId>,
    /// The instance type.
    #[builder(setter(into))]
    pub instance_type: InstanceType,
    /// The instances' security groups.
    #[builder(default, setter(transform = |g: impl IntoIterator<Item = impl IntoInput<SecurityGroupId>>| g.into_iter().map(IntoInput::into_input).collect()))]
    pub security_groups: BTreeSet<Input<SecurityGroupId>>,
    /// The instance profile giving the instances their role.
    #[builder(default, setter(transform = |v: impl IntoInput<InstanceProfileArn>| Some(v.into_input())))]
    pub instance_profile: Option<Input<InstanceProfileArn>>,
    /// What the instances run at first boot.
    #[builder(default, setter(transform = |v: impl Into<UserData>| Some(v.into())))]
    pub user_data: Option<UserData>,
    /// The instance metadata service (IMDSv2 with a hop limit of 1 unless
    /// said otherwise).
    #[builder(default)]
    pub metadata: MetadataOptions,
    /// The root volume (encrypted gp3 unless said otherwise).
    #[builder(default)]
    pub root_volume: RootVolume,
    /// Detailed (1-minute) CloudWatch monitoring.
    #[builder(default = true)]
    pub detailed_monitoring: bool,
    /// Tags the instances and their volumes get at launch.
    #[builder(default)]
    pub instance_tags: BTreeMap<String, String>,
    /// Tags of the template itself, besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// What a launch template yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaunchTemplateOutputs {
    /// Its id.
    pub launch_template_id: LaunchTemplateId,
    /// Its name.
    pub name: String,
    /// Its newest version, which is also its default.
    pub latest_version: i64,
}

impl LaunchTemplate {
    /// The version data this spec describes.
    pub(crate) fn data(&self) -> Result<RequestLaunchTemplateData, ProviderError> {
        let mut ebs = LaunchTemplateEbsBlockDeviceRequest::builder()
            .volume_size(self.root_volume.size_gib)
            .volume_type(self.root_volume.volume_type.sdk())
            .encrypted(self.root_volume.encrypted)
            .delete_on_termination(true);
        if let Some(iops) = self.root_volume.iops {
            ebs = ebs.iops(iops);
        }
        if let Some(t) = self.root_volume.throughput {
            ebs = ebs.throughput(t);
        }
        let mut d = RequestLaunchTemplateData::builder()
            .image_id(self.image.get().map_err(unresolved)?.as_str())
            .instance_type(aws_sdk_ec2::types::InstanceType::from(
                self.instance_type.0.as_str(),
            ))
            .metadata_options(
                LaunchTemplateInstanceMetadataOptionsRequest::builder()
                    .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                    .http_tokens(match self.metadata.http_tokens {
                        HttpTokens::Required => LaunchTemplateHttpTokensState::Required,
                        HttpTokens::Optional => LaunchTemplateHttpTokensState::Optional,
                    })
                    .http_put_response_hop_limit(self.metadata.hop_limit)
                    .build(),
            )
            .block_device_mappings(
                LaunchTemplateBlockDeviceMappingRequest::builder()
                    .device_name(&self.root_volume.device_name)
                    .ebs(ebs.build())
                    .build(),
            )
            .monitoring(
                LaunchTemplatesMonitoringRequest::builder()
                    .enabled(self.detailed_monitoring)
                    .build(),
            );
        for g in &self.security_groups {
            d = d.security_group_ids(g.get().map_err(unresolved)?.as_str());
        }
        if let Some(p) = &self.instance_profile {
            d = d.iam_instance_profile(
                LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                    .arn(p.get().map_err(unresolved)?.as_str())
                    .build(),
            );
        }
        if let Some(u) = &self.user_data {
            d = d.user_data(aws_smithy_types::base64::encode(u.0.as_bytes()));
        }
        if !self.instance_tags.is_empty() {
            for rt in [ResourceType::Instance, ResourceType::Volume] {
                d = d.tag_specifications(
                    LaunchTemplateTagSpecificationRequest::builder()
                        .resource_type(rt)
                        .set_tags(Some(
                            self.instance_tags
                                .iter()
                                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                                .collect(),
                        ))
                        .build(),
                );
            }
        }
        Ok(d.build())
    }

    /// The spec a version's data describes (user data is left out: it is
    /// compared with what was last applied).
    pub(crate) fn from_data(
        name: &str,
        d: &ResponseLaunchTemplateData,
        tags: BTreeMap<String, String>,
    ) -> Self {
        let ebs = d
            .block_device_mappings()
            .first()
            .and_then(|m| Some((m.device_name()?, m.ebs()?)));
        let root_volume = match ebs {
            Some((device, ebs)) => RootVolume {
                device_name: device.to_string(),
                size_gib: ebs.volume_size().unwrap_or_default(),
                volume_type: ebs
                    .volume_type()
                    .and_then(VolumeType::from_sdk)
                    .unwrap_or(VolumeType::Gp2),
                encrypted: ebs.encrypted().unwrap_or(false),
                iops: ebs.iops(),
                throughput: ebs.throughput(),
            },
            // No mapping: what the AMI has, unencrypted unless the account
            // encrypts by default. Shown as an empty volume, which differs
            // from any spec.
            None => RootVolume {
                device_name: String::new(),
                size_gib: 0,
                volume_type: VolumeType::Gp2,
                encrypted: false,
                iops: None,
                throughput: None,
            },
        };
        let metadata = d.metadata_options();
        let instance_tags = d
            .tag_specifications()
            .iter()
            .find(|t| t.resource_type() == Some(&ResourceType::Instance))
            .map(|t| {
                t.tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        LaunchTemplate {
            name: name.to_string(),
            image: Input::Value(AmiId(d.image_id().unwrap_or_default().to_string())),
            instance_type: InstanceType(
                d.instance_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
            ),
            security_groups: d
                .security_group_ids()
                .iter()
                .map(|g| Input::Value(SecurityGroupId(g.clone())))
                .collect(),
            instance_profile: d
                .iam_instance_profile()
                .and_then(|p| p.arn())
                .map(|a| Input::Value(InstanceProfileArn(a.to_string()))),
            user_data: None,
            metadata: MetadataOptions {
                http_tokens: match metadata.and_then(|m| m.http_tokens()) {
                    Some(LaunchTemplateHttpTokensState::Required) => HttpTokens::Required,
                    _ => HttpTokens::Optional,
                },
                hop_limit: metadata
                    .and_then(|m| m.http_put_response_hop_limit())
                    .unwrap_or(1),
            },
            root_volume,
            detailed_monitoring: d.monitoring().and_then(|m| m.enabled()).unwrap_or(false),
            instance_tags,
            tags,
        }
    }
}

/// Checks `spec` against what the environment demands.
fn check_baseline(spec: &LaunchTemplate, baseline: &Baseline, problems: &mut Vec<Problem>) {
    if baseline.imdsv2_required && spec.metadata.http_tokens != HttpTokens::Required {
        problems.push(problem(
            "metadata",
            "this environment requires IMDSv2, but the template allows IMDSv1",
            Some("leave metadata at its default, or set http_tokens: HttpTokens::Required"),
        ));
    }
    if baseline.encrypted_volumes && !spec.root_volume.encrypted {
        problems.push(problem(
            "root_volume",
            "this environment requires encrypted volumes, but the root volume is not encrypted",
            Some("set encrypted: true"),
        ));
    }
}

/// The newest version of every launch template in the region, by template
/// id: one paginated call, whatever the number of templates.
async fn latest_versions(
    aws: &Aws,
) -> Result<HashMap<String, ResponseLaunchTemplateData>, ProviderError> {
    let versions: Vec<_> = aws
        .ec2()
        .describe_launch_template_versions()
        .versions("$Latest")
        .max_results(200)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(sdk_error)?;
    Ok(versions
        .into_iter()
        .filter_map(|v| Some((v.launch_template_id()?.to_string(), v.launch_template_data?)))
        .collect())
}

impl Resource for LaunchTemplate {
    const KIND: &'static str = "aws.launch_template";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["name"];
    const WRITE_ONLY: &'static [&'static str] = &["user_data"];
    const OUTPUTS_CHANGE_ON_UPDATE: &'static [&'static str] = &["latest_version"];
    // An auto-scaling group does not keep a template from being deleted.
    const HELD_BY_DEPENDENTS: bool = false;
    type Provider = Aws;
    type Outputs = LaunchTemplateOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.instance_tags, defaults);
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if self.name.len() < 3 || self.name.len() > 128 {
            problems.push(problem(
                "name",
                format!(
                    "{:?} has {} characters; EC2 takes 3 to 128",
                    self.name,
                    self.name.len()
                ),
                None,
            ));
        }
        if let Some(why) = self.instance_type.problem() {
            problems.push(problem("instance_type", why, None));
        }
        if let Some(AmiId(id)) = self.image.known()
            && !id.starts_with("ami-")
        {
            problems.push(problem(
                "image",
                format!("{id:?} is not an AMI id (ami-...)"),
                None,
            ));
        }
        if !(1..=64).contains(&self.metadata.hop_limit) {
            problems.push(problem(
                "metadata",
                format!("hop limit {} is outside 1-64", self.metadata.hop_limit),
                Some("1 keeps metadata on the instance"),
            ));
        }
        let v = &self.root_volume;
        if !(1..=16384).contains(&v.size_gib) {
            problems.push(problem(
                "root_volume",
                format!("{} GiB is outside 1-16384", v.size_gib),
                None,
            ));
        }
        match v.volume_type {
            VolumeType::Gp3 => {
                if let Some(iops) = v.iops
                    && !(3000..=16000).contains(&iops)
                {
                    problems.push(problem(
                        "root_volume",
                        format!("gp3 takes 3000 to 16000 IOPS, not {iops}"),
                        None,
                    ));
                }
                if let Some(t) = v.throughput
                    && !(125..=1000).contains(&t)
                {
                    problems.push(problem(
                        "root_volume",
                        format!("gp3 takes 125 to 1000 MiB/s, not {t}"),
                        None,
                    ));
                }
            }
            VolumeType::Gp2 | VolumeType::Io2 => {
                if v.throughput.is_some() {
                    problems.push(problem(
                        "root_volume",
                        "only gp3 volumes take a throughput",
                        None,
                    ));
                }
                if v.volume_type == VolumeType::Gp2 && v.iops.is_some() {
                    problems.push(problem(
                        "root_volume",
                        "gp2 volumes take no IOPS (they follow the size)",
                        None,
                    ));
                }
            }
        }
        if let Some(u) = &self.user_data
            && u.0.len() > 16 * 1024
        {
            problems.push(problem(
                "user_data",
                format!("{} bytes; EC2 takes at most 16 KiB", u.0.len()),
                Some("fetch a larger script from S3 at boot"),
            ));
        }
        if let Some(baseline) = cx.requirement::<Baseline>() {
            check_baseline(self, baseline, problems);
        }
    }

    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let templates = find_all(
            cx,
            "launch-template-id",
            |o| o.launch_template_id.as_str(),
            |filters| async move {
                aws.ec2()
                    .describe_launch_templates()
                    .set_filters(Some(filters))
                    .max_results(200)
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .map_err(sdk_error)
            },
        )
        .await?;
        if templates.is_empty() {
            return Ok(Vec::new());
        }
        let versions = latest_versions(aws).await?;
        let mut found = Vec::new();
        for (claim, id, t) in templates {
            let name = t.launch_template_name().unwrap_or_default();
            let Some(data) = versions.get(&id) else {
                // Deleted between the two calls.
                continue;
            };
            found.push(Found::new(
                claim,
                LaunchTemplate::from_data(name, data, tags::user(t.tags())),
                LaunchTemplateOutputs {
                    launch_template_id: LaunchTemplateId(id),
                    name: name.to_string(),
                    latest_version: t.latest_version_number().unwrap_or(1),
                },
            ));
        }
        Ok(found)
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<LaunchTemplateOutputs, ProviderError> {
        let out = aws
            .ec2()
            .create_launch_template()
            .launch_template_name(&self.name)
            .launch_template_data(self.data()?)
            .client_token(cx.client_token())
            .tag_specifications(tags::spec(ResourceType::LaunchTemplate, cx, &self.tags))
            .send()
            .await
            .map_err(sdk_error)?;
        let t = out
            .launch_template()
            .ok_or_else(|| missing("launch template"))?;
        let outputs = LaunchTemplateOutputs {
            launch_template_id: LaunchTemplateId(
                t.launch_template_id()
                    .ok_or_else(|| missing("launch template id"))?
                    .to_string(),
            ),
            name: self.name.clone(),
            latest_version: t.latest_version_number().unwrap_or(1),
        };
        cx.created(&outputs).await?;
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        aws: &Aws,
        cx: &OpCx,
    ) -> Result<LaunchTemplateOutputs, ProviderError> {
        let id = prior.outputs.launch_template_id.as_str();
        let mut outputs = prior.outputs.clone();
        if changed.iter().any(|c| c == "tags") {
            tags::sync(aws.ec2(), id, &prior.spec.tags, &self.tags).await?;
        }
        if changed.iter().any(|c| c != "tags") {
            let out = aws
                .ec2()
                .create_launch_template_version()
                .launch_template_id(id)
                .launch_template_data(self.data()?)
                .client_token(cx.client_token())
                .send()
                .await
                .map_err(sdk_error)?;
            let version = out
                .launch_template_version()
                .and_then(|v| v.version_number())
                .ok_or_else(|| missing("version number"))?;
            aws.ec2()
                .modify_launch_template()
                .launch_template_id(id)
                .default_version(version.to_string())
                .send()
                .await
                .map_err(sdk_error)?;
            outputs.latest_version = version;
        }
        Ok(outputs)
    }

    async fn delete(
        outputs: &LaunchTemplateOutputs,
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        crate::network::gone_is_done(
            aws.ec2()
                .delete_launch_template()
                .launch_template_id(outputs.launch_template_id.as_str())
                .send()
                .await
                .map_err(sdk_error),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> LaunchTemplate {
        LaunchTemplate::builder()
            .name("prod-web")
            .image("ami-0123456789abcdef0")
            .instance_type("t3.small")
            .security_groups(["sg-1"])
            .instance_profile("arn:aws:iam::123456789012:instance-profile/p")
            .user_data("#!/bin/sh\necho hi\n")
            .instance_tags(BTreeMap::from([(
                "Environment".into(),
                "production".into(),
            )]))
            .build()
    }

    #[test]
    fn the_data_sent_requires_imdsv2_and_encrypts_a_gp3_root_volume() {
        let d = template().data().unwrap();
        let m = d.metadata_options().unwrap();
        assert_eq!(
            m.http_tokens(),
            Some(&LaunchTemplateHttpTokensState::Required)
        );
        assert_eq!(m.http_put_response_hop_limit(), Some(1));
        let ebs = d.block_device_mappings()[0].ebs().unwrap();
        assert_eq!(ebs.encrypted(), Some(true));
        assert_eq!(
            ebs.volume_type(),
            Some(&aws_sdk_ec2::types::VolumeType::Gp3)
        );
        assert_eq!(d.monitoring().unwrap().enabled(), Some(true));
        assert_eq!(
            d.user_data(),
            Some(aws_smithy_types::base64::encode("#!/bin/sh\necho hi\n").as_str())
        );
        let kinds: Vec<_> = d
            .tag_specifications()
            .iter()
            .filter_map(|t| t.resource_type().cloned())
            .collect();
        assert_eq!(kinds, [ResourceType::Instance, ResourceType::Volume]);
        assert_eq!(
            d.iam_instance_profile().unwrap().arn(),
            Some("arn:aws:iam::123456789012:instance-profile/p")
        );
    }

    #[test]
    fn what_is_read_back_maps_to_the_same_spec_but_user_data() {
        let t = template();
        let d = t.data().unwrap();
        // The response shape mirrors the request's.
        let read = ResponseLaunchTemplateData::builder()
            .image_id(d.image_id().unwrap())
            .instance_type(d.instance_type().unwrap().clone())
            .set_security_group_ids(Some(d.security_group_ids().to_vec()))
            .iam_instance_profile(
                aws_sdk_ec2::types::LaunchTemplateIamInstanceProfileSpecification::builder()
                    .arn(d.iam_instance_profile().unwrap().arn().unwrap())
                    .build(),
            )
            .metadata_options(
                aws_sdk_ec2::types::LaunchTemplateInstanceMetadataOptions::builder()
                    .http_tokens(LaunchTemplateHttpTokensState::Required)
                    .http_put_response_hop_limit(1)
                    .build(),
            )
            .block_device_mappings(
                aws_sdk_ec2::types::LaunchTemplateBlockDeviceMapping::builder()
                    .device_name("/dev/xvda")
                    .ebs(
                        aws_sdk_ec2::types::LaunchTemplateEbsBlockDevice::builder()
                            .volume_size(20)
                            .volume_type(aws_sdk_ec2::types::VolumeType::Gp3)
                            .encrypted(true)
                            .build(),
                    )
                    .build(),
            )
            .monitoring(
                aws_sdk_ec2::types::LaunchTemplatesMonitoring::builder()
                    .enabled(true)
                    .build(),
            )
            .tag_specifications(
                aws_sdk_ec2::types::LaunchTemplateTagSpecification::builder()
                    .resource_type(ResourceType::Instance)
                    .tags(
                        Tag::builder()
                            .key("Environment")
                            .value("production")
                            .build(),
                    )
                    .build(),
            )
            .build();
        let back = LaunchTemplate::from_data("prod-web", &read, BTreeMap::new());
        assert_eq!(
            back,
            LaunchTemplate {
                user_data: None,
                ..t
            }
        );
    }

    #[test]
    fn the_baseline_refuses_imdsv1_and_unencrypted_volumes() {
        let mut t = template();
        t.metadata.http_tokens = HttpTokens::Optional;
        t.root_volume.encrypted = false;
        let mut problems = Vec::new();
        check_baseline(&t, &Baseline::production(), &mut problems);
        let fields: Vec<_> = problems.iter().filter_map(|p| p.field.clone()).collect();
        assert_eq!(fields, ["metadata", "root_volume"]);
        let mut none = Vec::new();
        check_baseline(&t, &Baseline::none(), &mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn instance_types_are_checked() {
        assert_eq!(InstanceType::from("t3.small").problem(), None);
        assert!(InstanceType::from("t3.huge").problem().is_some());
    }
}
