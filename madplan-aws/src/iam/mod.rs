//! IAM roles: a trust principal (the AWS service that assumes the role),
//! inline policy documents as typed values, and attached managed policies.
//!
//! The VPC flow logs' delivery role is one; the web tier's instance role is
//! the same shape (with an instance profile beside it).
//!
//! A refresh reads every role with its inline policies, attached policies
//! and tags in one paginated `GetAccountAuthorizationDetails` call, instead
//! of four calls per role.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iam::types::{EntityType, RoleDetail, Tag};
use madplan_core::{
    Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use typed_builder::TypedBuilder;

use crate::Aws;
use crate::network::gone_is_done;
use crate::support::{
    all_tags, aws_error, build_error, claim, resolved, tag_changes, typed_string, user_tags,
};

typed_string!(
    /// A role's ARN, which a service is given to act as the role.
    RoleArn, Role, "role_arn"
);

typed_string!(
    /// What a policy statement applies to: an ARN or an ARN pattern
    /// (`arn:aws:logs:...:log-group:NAME:*`), or `*`.
    ResourcePattern
);

/// The AWS service allowed to assume a role.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum ServicePrincipal {
    /// `ec2.amazonaws.com` (an instance role).
    Ec2,
    /// `vpc-flow-logs.amazonaws.com` (the flow logs' delivery role).
    VpcFlowLogs,
    /// Another service, by its principal name.
    Other(String),
}

impl From<ServicePrincipal> for String {
    fn from(p: ServicePrincipal) -> String {
        match p {
            ServicePrincipal::Ec2 => "ec2.amazonaws.com".into(),
            ServicePrincipal::VpcFlowLogs => "vpc-flow-logs.amazonaws.com".into(),
            ServicePrincipal::Other(s) => s,
        }
    }
}

impl From<String> for ServicePrincipal {
    fn from(s: String) -> Self {
        match s.as_str() {
            "ec2.amazonaws.com" => ServicePrincipal::Ec2,
            "vpc-flow-logs.amazonaws.com" => ServicePrincipal::VpcFlowLogs,
            _ => ServicePrincipal::Other(s),
        }
    }
}

/// Allow or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Effect {
    Allow,
    Deny,
}

/// One statement of a policy document.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Statement {
    /// Allow or deny.
    pub effect: Effect,
    /// The actions, e.g. `logs:PutLogEvents`.
    pub actions: BTreeSet<String>,
    /// What they apply to.
    pub resources: BTreeSet<Input<ResourcePattern>>,
}

impl Statement {
    /// Allows `actions` on `resources`.
    pub fn allow<'a>(
        actions: impl IntoIterator<Item = &'a str>,
        resources: impl IntoIterator<Item = Input<ResourcePattern>>,
    ) -> Self {
        Self {
            effect: Effect::Allow,
            actions: actions.into_iter().map(str::to_string).collect(),
            resources: resources.into_iter().collect(),
        }
    }
}

/// An IAM policy document (version 2012-10-17).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PolicyDocument {
    /// Its statements, as a set: their order means nothing to IAM.
    pub statements: BTreeSet<Statement>,
}

impl PolicyDocument {
    /// A document of `statements`.
    pub fn new(statements: impl IntoIterator<Item = Statement>) -> Self {
        Self {
            statements: statements.into_iter().collect(),
        }
    }

    /// The JSON IAM takes.
    pub fn to_json(&self) -> Result<String, ProviderError> {
        let mut statements = Vec::new();
        for s in &self.statements {
            let resources = s
                .resources
                .iter()
                .map(|r| resolved(r).map(|r| r.0.clone()))
                .collect::<Result<Vec<_>, _>>()?;
            statements.push(json!({
                "Effect": match s.effect { Effect::Allow => "Allow", Effect::Deny => "Deny" },
                "Action": s.actions,
                "Resource": resources,
            }));
        }
        Ok(json!({"Version": "2012-10-17", "Statement": statements}).to_string())
    }

    /// Reads a document IAM answered (percent-encoded or not); `Action` and
    /// `Resource` may be a string or a list.
    pub fn parse(text: &str) -> Option<Self> {
        let v: Value = serde_json::from_str(&decode(text)).ok()?;
        let mut out = PolicyDocument::default();
        for s in statements(&v) {
            let effect = match s.get("Effect")?.as_str()? {
                "Deny" => Effect::Deny,
                _ => Effect::Allow,
            };
            out.statements.insert(Statement {
                effect,
                actions: strings(s.get("Action")).into_iter().collect(),
                resources: strings(s.get("Resource"))
                    .into_iter()
                    .map(|r| Input::Value(ResourcePattern(r)))
                    .collect(),
            });
        }
        Some(out)
    }
}

fn statements(v: &Value) -> Vec<&Value> {
    match v.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        _ => Vec::new(),
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// Undoes the percent-encoding IAM applies to policy documents in its
/// answers (RFC 3986; a document already in JSON is left as it is).
pub(crate) fn decode(text: &str) -> String {
    if text.trim_start().starts_with('{') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn trust_json(principals: &BTreeSet<ServicePrincipal>) -> String {
    let services: Vec<String> = principals.iter().cloned().map(String::from).collect();
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": services},
            "Action": "sts:AssumeRole",
        }],
    })
    .to_string()
}

/// The services a trust policy lets assume the role.
fn trust_of(text: &str) -> BTreeSet<ServicePrincipal> {
    let Ok(v) = serde_json::from_str::<Value>(&decode(text)) else {
        return BTreeSet::new();
    };
    statements(&v)
        .into_iter()
        .filter(|s| s.get("Effect").and_then(Value::as_str) == Some("Allow"))
        .flat_map(|s| strings(s.get("Principal").and_then(|p| p.get("Service"))))
        .map(ServicePrincipal::from)
        .collect()
}

/// An IAM role.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct Role {
    /// The role's name, unique in the account.
    #[builder(setter(into))]
    pub name: String,
    /// Its path (`/` unless given).
    #[builder(default = "/".to_string(), setter(into))]
    pub path: String,
    /// What it is for (`GetAccountAuthorizationDetails` does not return
    /// it: it is compared with what was last applied).
    #[builder(default, setter(into, strip_option))]
    pub description: Option<String>,
    /// The services that may assume it.
    #[builder(setter(transform = |p: impl IntoIterator<Item = ServicePrincipal>| p.into_iter().collect()))]
    pub trust: BTreeSet<ServicePrincipal>,
    /// Inline policies, by name.
    #[builder(default)]
    pub inline_policies: BTreeMap<String, PolicyDocument>,
    /// Managed policies attached, by ARN.
    #[builder(default, setter(transform = |p: impl IntoIterator<Item = String>| p.into_iter().collect()))]
    pub managed_policies: BTreeSet<String>,
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// What a role yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoleOutputs {
    /// Its name.
    pub role_name: String,
    /// Its ARN.
    pub role_arn: RoleArn,
}

fn iam_tags(map: BTreeMap<String, String>) -> Result<Vec<Tag>, ProviderError> {
    map.into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(build_error))
        .collect()
}

fn from_detail(r: &RoleDetail) -> Role {
    Role {
        name: r.role_name().unwrap_or_default().to_string(),
        path: r.path().unwrap_or("/").to_string(),
        description: None,
        trust: r
            .assume_role_policy_document()
            .map(trust_of)
            .unwrap_or_default(),
        inline_policies: r
            .role_policy_list()
            .iter()
            .filter_map(|p| {
                Some((
                    p.policy_name()?.to_string(),
                    PolicyDocument::parse(p.policy_document()?)?,
                ))
            })
            .collect(),
        managed_policies: r
            .attached_managed_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect(),
        tags: BTreeMap::new(),
    }
}

impl Resource for Role {
    const KIND: &'static str = "aws.iam_role";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["name", "path"];
    /// `GetAccountAuthorizationDetails` does not return a role's
    /// description: it is compared with what was last applied.
    const WRITE_ONLY: &'static [&'static str] = &["description"];
    type Provider = Aws;
    type Outputs = RoleOutputs;

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        let ok = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
        if self.name.is_empty() || self.name.len() > 64 || !self.name.chars().all(ok) {
            problems.push(problem(
                "name",
                format!("{:?} is not a role name", self.name),
                Some("1 to 64 letters, digits and +=,.@_-"),
            ));
        }
        if !self.path.starts_with('/') || !self.path.ends_with('/') {
            problems.push(problem(
                "path",
                format!("{:?} is not an IAM path", self.path),
                Some("a path starts and ends with '/'"),
            ));
        }
        if self.trust.is_empty() {
            problems.push(problem(
                "trust",
                "nobody could assume this role",
                Some("name the service that assumes it"),
            ));
        }
        for (name, doc) in &self.inline_policies {
            if doc.statements.is_empty() {
                problems.push(problem(
                    "inline_policies",
                    format!("the policy {name:?} has no statements"),
                    None,
                ));
            }
            for s in &doc.statements {
                if s.actions.is_empty() || s.resources.is_empty() {
                    problems.push(problem(
                        "inline_policies",
                        format!("a statement of {name:?} names no actions or no resources"),
                        None,
                    ));
                }
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
            .map_err(aws_error)?;
        let mut out = Vec::new();
        for r in pages.iter().flat_map(|p| p.role_detail_list()) {
            let tags: BTreeMap<String, String> = r
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            let arn = r.arn().unwrap_or_default().to_string();
            let Some(claim) = claim(cx, &tags, |o| o.role_arn.as_str() == arn) else {
                continue;
            };
            let mut spec = from_detail(r);
            spec.tags = user_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            out.push(Found::new(
                claim,
                spec,
                RoleOutputs {
                    role_name: r.role_name().unwrap_or_default().to_string(),
                    role_arn: RoleArn(arn),
                },
            ));
        }
        Ok(out)
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<RoleOutputs, ProviderError> {
        let out = aws
            .iam()
            .create_role()
            .role_name(&self.name)
            .path(&self.path)
            .set_description(self.description.clone())
            .assume_role_policy_document(trust_json(&self.trust))
            .set_tags(Some(iam_tags(all_tags(cx, &self.tags))?))
            .send()
            .await
            .map_err(aws_error)?;
        let role = out.role().ok_or_else(|| crate::network::missing("role"))?;
        let outputs = RoleOutputs {
            role_name: role.role_name().to_string(),
            role_arn: RoleArn(role.arn().to_string()),
        };
        cx.created(&outputs).await?;
        let empty = Role {
            inline_policies: BTreeMap::new(),
            managed_policies: BTreeSet::new(),
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
        let has = |f: &str| changed.iter().any(|c| c == f);
        let name = prior.outputs.role_name.as_str();
        if has("trust") {
            aws.iam()
                .update_assume_role_policy()
                .role_name(name)
                .policy_document(trust_json(&self.trust))
                .send()
                .await
                .map_err(aws_error)?;
        }
        if has("description") {
            aws.iam()
                .update_role()
                .role_name(name)
                .description(self.description.clone().unwrap_or_default())
                .send()
                .await
                .map_err(aws_error)?;
        }
        sync_policies(aws, name, &prior.spec, self).await?;
        if has("tags") {
            let (gone, set) = tag_changes(&prior.spec.tags, &self.tags);
            if !gone.is_empty() {
                aws.iam()
                    .untag_role()
                    .role_name(name)
                    .set_tag_keys(Some(gone))
                    .send()
                    .await
                    .map_err(aws_error)?;
            }
            if !set.is_empty() {
                aws.iam()
                    .tag_role()
                    .role_name(name)
                    .set_tags(Some(iam_tags(set)?))
                    .send()
                    .await
                    .map_err(aws_error)?;
            }
        }
        Ok(prior.outputs.clone())
    }

    /// Removes the inline policies and detaches the managed ones (IAM
    /// refuses to delete a role that still has any), then the role.
    async fn delete(outputs: &RoleOutputs, aws: &Aws, _cx: &OpCx) -> Result<(), ProviderError> {
        let name = outputs.role_name.as_str();
        let inline = match aws
            .iam()
            .list_role_policies()
            .role_name(name)
            .send()
            .await
            .map_err(aws_error)
        {
            Ok(o) => o.policy_names().to_vec(),
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        for p in inline {
            gone_is_done(
                aws.iam()
                    .delete_role_policy()
                    .role_name(name)
                    .policy_name(p)
                    .send()
                    .await
                    .map_err(aws_error),
            )?;
        }
        let attached = aws
            .iam()
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await
            .map_err(aws_error)?;
        for p in attached.attached_policies() {
            if let Some(arn) = p.policy_arn() {
                gone_is_done(
                    aws.iam()
                        .detach_role_policy()
                        .role_name(name)
                        .policy_arn(arn)
                        .send()
                        .await
                        .map_err(aws_error),
                )?;
            }
        }
        gone_is_done(
            aws.iam()
                .delete_role()
                .role_name(name)
                .send()
                .await
                .map_err(aws_error),
        )
    }
}

/// Brings the inline and managed policies of the role `name` from
/// `before` to `after`.
async fn sync_policies(
    aws: &Aws,
    name: &str,
    before: &Role,
    after: &Role,
) -> Result<(), ProviderError> {
    for (policy, doc) in &after.inline_policies {
        if before.inline_policies.get(policy) != Some(doc) {
            aws.iam()
                .put_role_policy()
                .role_name(name)
                .policy_name(policy)
                .policy_document(doc.to_json()?)
                .send()
                .await
                .map_err(aws_error)?;
        }
    }
    for policy in before.inline_policies.keys() {
        if !after.inline_policies.contains_key(policy) {
            gone_is_done(
                aws.iam()
                    .delete_role_policy()
                    .role_name(name)
                    .policy_name(policy)
                    .send()
                    .await
                    .map_err(aws_error),
            )?;
        }
    }
    for arn in after.managed_policies.difference(&before.managed_policies) {
        aws.iam()
            .attach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(aws_error)?;
    }
    for arn in before.managed_policies.difference(&after.managed_policies) {
        gone_is_done(
            aws.iam()
                .detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(aws_error),
        )?;
    }
    Ok(())
}

/// The delivery role VPC flow logs assume to write to CloudWatch Logs:
/// trusted by `vpc-flow-logs.amazonaws.com`, allowed to create streams
/// and put events in the log group `log_group` (its `streams_arn`) only.
pub fn flow_log_delivery_role(name: &str, log_group: impl IntoInput<ResourcePattern>) -> Role {
    Role::builder()
        .name(name)
        .description("VPC flow logs deliver to CloudWatch Logs")
        .trust([ServicePrincipal::VpcFlowLogs])
        .inline_policies(
            [(
                "deliver-flow-logs".to_string(),
                PolicyDocument::new([Statement::allow(
                    [
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogGroups",
                        "logs:DescribeLogStreams",
                    ],
                    [log_group.into_input()],
                )]),
            )]
            .into(),
        )
        .build()
}

pub(crate) fn register(kinds: &mut madplan_core::Kinds) {
    kinds.register::<Role>();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_documents_round_trip_through_iam_encoding() {
        let doc = PolicyDocument::new([Statement::allow(
            ["logs:PutLogEvents", "logs:CreateLogStream"],
            ["arn:aws:logs:us-east-1:1:log-group:x:*".into_input()],
        )]);
        let text = doc.to_json().unwrap();
        assert_eq!(PolicyDocument::parse(&text), Some(doc.clone()));
        // IAM answers documents percent-encoded.
        let encoded: String = text
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        assert_eq!(PolicyDocument::parse(&encoded), Some(doc));
        // A single action and resource as strings.
        let one = r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#;
        let parsed = PolicyDocument::parse(one).unwrap();
        assert_eq!(parsed.statements.len(), 1);
    }

    #[test]
    fn the_trust_policy_names_the_service() {
        let text = trust_json(&[ServicePrincipal::VpcFlowLogs].into());
        assert!(text.contains("vpc-flow-logs.amazonaws.com"), "{text}");
        assert!(text.contains("sts:AssumeRole"), "{text}");
        assert_eq!(trust_of(&text), [ServicePrincipal::VpcFlowLogs].into());
        let single = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        assert_eq!(trust_of(single), [ServicePrincipal::Ec2].into());
    }

    #[test]
    fn the_delivery_role_may_only_write_to_its_log_group() {
        let r = flow_log_delivery_role("x", "arn:aws:logs:us-east-1:1:log-group:flow:*");
        let doc = &r.inline_policies["deliver-flow-logs"];
        let s = doc.statements.iter().next().unwrap();
        assert!(s.actions.contains("logs:PutLogEvents"));
        assert_eq!(
            s.resources.iter().next().unwrap().known().unwrap().as_str(),
            "arn:aws:logs:us-east-1:1:log-group:flow:*"
        );
    }
}
