//! Network ACLs, their entries and their subnet associations.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{IcmpTypeCode, ResourceType, RuleAction};
use futures_util::future::try_join_all;
use madplan_core::{
    Cidr, Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::security_group::Protocol;
use super::{
    NetworkAclId, PortRange, SubnetId, VpcId, describe, find_all, gone_is_done, missing,
    subnet_ids, unresolved,
};
use crate::error::sdk_error;
use crate::support::has_code;
use crate::{Aws, tags};

/// Allow or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AclAction {
    /// Let it through.
    Allow,
    /// Drop it.
    Deny,
}

/// One numbered network ACL entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclEntry {
    /// Whether it applies to outbound traffic.
    pub egress: bool,
    /// Its number, 1 to 32766; lower numbers are evaluated first.
    pub rule_number: i32,
    /// Allow or deny.
    pub action: AclAction,
    /// The protocol.
    pub protocol: Protocol,
    /// The ports, for TCP and UDP.
    pub ports: Option<PortRange>,
    /// The block it matches.
    pub cidr: Cidr,
}

impl AclEntry {
    /// An inbound entry.
    pub fn ingress(
        rule_number: i32,
        action: AclAction,
        protocol: Protocol,
        ports: Option<PortRange>,
        cidr: impl Into<Cidr>,
    ) -> Self {
        Self {
            egress: false,
            rule_number,
            action,
            protocol,
            ports,
            cidr: cidr.into(),
        }
    }

    /// An outbound entry.
    pub fn egress(
        rule_number: i32,
        action: AclAction,
        protocol: Protocol,
        ports: Option<PortRange>,
        cidr: impl Into<Cidr>,
    ) -> Self {
        Self {
            egress: true,
            rule_number,
            action,
            protocol,
            ports,
            cidr: cidr.into(),
        }
    }
}

/// A network ACL, with its entries and the subnets it guards.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct NetworkAcl {
    /// The VPC it belongs to.
    #[builder(setter(transform = |v: impl IntoInput<VpcId>| v.into_input()))]
    pub vpc: Input<VpcId>,
    /// Its entries (the final deny-all entries AWS adds are implicit).
    #[builder(default, setter(transform = |entries: impl IntoIterator<Item = AclEntry>| entries.into_iter().collect()))]
    pub entries: BTreeSet<AclEntry>,
    /// The subnets it is associated with.
    #[builder(default, setter(transform = |subnets: impl IntoIterator<Item = impl IntoInput<SubnetId>>| subnets.into_iter().map(IntoInput::into_input).collect()))]
    pub subnets: BTreeSet<Input<SubnetId>>,
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// What a network ACL yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkAclOutputs {
    /// Its id.
    pub network_acl_id: NetworkAclId,
    /// Its VPC, whose default ACL takes its subnets back when it is deleted.
    pub vpc_id: VpcId,
}

const DEFAULT_RULE: i32 = 32767;

/// Sends a `CreateNetworkAclEntry` or `ReplaceNetworkAclEntry` call for an
/// entry: the two take the same fields.
macro_rules! entry_call {
    ($call:expr, $entry:expr) => {{
        let e: &AclEntry = $entry;
        let mut call = $call
            .rule_number(e.rule_number)
            .egress(e.egress)
            .protocol(e.protocol.number())
            .rule_action(match e.action {
                AclAction::Allow => RuleAction::Allow,
                AclAction::Deny => RuleAction::Deny,
            })
            .cidr_block(e.cidr.as_str());
        if let Some(p) = e.ports {
            call = call.port_range(
                aws_sdk_ec2::types::PortRange::builder()
                    .from(p.from)
                    .to(p.to)
                    .build(),
            );
        }
        if e.protocol == Protocol::Icmp {
            call = call.icmp_type_code(IcmpTypeCode::builder().code(-1).r#type(-1).build());
        }
        call.send().await.map_err(sdk_error)?;
        Ok(())
    }};
}

/// Creates the entry `e`. When its number is already taken in its
/// direction (the SDK sent the create again after its answer was lost, or
/// someone made an entry there since the refresh), the entry there is
/// replaced by `e`: the number is this spec's, and the next plan would do
/// the same.
async fn add_entry(aws: &Aws, acl: &str, e: &AclEntry) -> Result<(), ProviderError> {
    let created: Result<(), ProviderError> =
        async { entry_call!(aws.ec2().create_network_acl_entry().network_acl_id(acl), e) }.await;
    match created {
        Err(err) if has_code(&err, "NetworkAclEntryAlreadyExists") => {
            replace_entry(aws, acl, e).await
        }
        other => other,
    }
}

/// Changes the entry with `e`'s direction and number in one call, so that
/// there is no moment when that number matches nothing.
async fn replace_entry(aws: &Aws, acl: &str, e: &AclEntry) -> Result<(), ProviderError> {
    entry_call!(aws.ec2().replace_network_acl_entry().network_acl_id(acl), e)
}

async fn remove_entry(aws: &Aws, acl: &str, e: &AclEntry) -> Result<(), ProviderError> {
    gone_is_done(
        aws.ec2()
            .delete_network_acl_entry()
            .network_acl_id(acl)
            .rule_number(e.rule_number)
            .egress(e.egress)
            .send()
            .await
            .map_err(sdk_error),
    )
}

/// Brings the entries from `before` to `after`: an entry whose direction and
/// number stay is replaced in place, the others are deleted or created; all
/// at once, since each call is about its own number.
async fn sync_entries(
    aws: &Aws,
    acl: &str,
    before: &BTreeSet<AclEntry>,
    after: &BTreeSet<AclEntry>,
) -> Result<(), ProviderError> {
    let by_number = |entries: &'_ BTreeSet<AclEntry>| -> BTreeMap<(bool, i32), AclEntry> {
        entries
            .iter()
            .map(|e| ((e.egress, e.rule_number), e.clone()))
            .collect()
    };
    let (before, after) = (by_number(before), by_number(after));
    let gone = before
        .iter()
        .filter(|(k, _)| !after.contains_key(*k))
        .map(|(_, e)| remove_entry(aws, acl, e));
    let changed = after
        .iter()
        .filter(|(k, e)| before.get(*k).is_some_and(|old| old != *e))
        .map(|(_, e)| replace_entry(aws, acl, e));
    let new = after
        .iter()
        .filter(|(k, _)| !before.contains_key(*k))
        .map(|(_, e)| add_entry(aws, acl, e));
    futures_util::future::try_join3(try_join_all(gone), try_join_all(changed), try_join_all(new))
        .await?;
    Ok(())
}

/// The ACL each subnet is associated with now, and the association id.
async fn acl_associations(
    aws: &Aws,
    subnets: impl IntoIterator<Item = &SubnetId>,
) -> Result<BTreeMap<SubnetId, (String, String)>, ProviderError> {
    let ids: BTreeSet<String> = subnets.into_iter().map(|s| s.0.clone()).collect();
    let current = aws
        .ec2()
        .describe_network_acls()
        .filters(crate::tags::filter(
            "association.subnet-id",
            ids.iter().cloned(),
        ))
        .send()
        .await
        .map_err(sdk_error)?;
    let mut out = BTreeMap::new();
    for n in current.network_acls() {
        for a in n.associations() {
            if let (Some(subnet), Some(on), Some(association)) = (
                a.subnet_id(),
                n.network_acl_id(),
                a.network_acl_association_id(),
            ) && ids.contains(subnet)
            {
                out.insert(
                    SubnetId(subnet.to_string()),
                    (on.to_string(), association.to_string()),
                );
            }
        }
    }
    Ok(out)
}

async fn reassociate(aws: &Aws, association: &str, acl: &str) -> Result<(), ProviderError> {
    aws.ec2()
        .replace_network_acl_association()
        .association_id(association)
        .network_acl_id(acl)
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(())
}

/// Moves each subnet's ACL association to `acl`, all at once
/// (`ReplaceNetworkAclAssociation`: a subnet always has exactly one ACL).
/// With `from`, only subnets still associated with that ACL move, so that a
/// subnet another ACL took meanwhile is left where it is.
async fn move_subnets(
    aws: &Aws,
    subnets: &BTreeSet<SubnetId>,
    acl: &str,
    from: Option<&str>,
) -> Result<(), ProviderError> {
    if subnets.is_empty() {
        return Ok(());
    }
    let stays = |on: &str| on == acl || from.is_some_and(|f| f != on);
    let mut current = acl_associations(aws, subnets).await?;
    let moves = subnets.iter().filter_map(|s| {
        let (on, association) = current.remove(s)?;
        Some(async move {
            if stays(&on) {
                return Ok(());
            }
            match reassociate(aws, &association, acl).await {
                // Another ACL's update moved the subnet meanwhile: a
                // release is done; a take looks where it is now, once.
                Err(e) if e.is_not_found() => {
                    if from.is_some() {
                        return Ok(());
                    }
                    match acl_associations(aws, [s]).await?.remove(s) {
                        Some((on, association)) if !stays(&on) => {
                            reassociate(aws, &association, acl).await
                        }
                        _ => Ok(()),
                    }
                }
                other => other,
            }
        })
    });
    try_join_all(moves).await?;
    Ok(())
}

async fn default_acl(aws: &Aws, vpc: &str) -> Result<String, ProviderError> {
    let out = aws
        .ec2()
        .describe_network_acls()
        .filters(crate::tags::filter("vpc-id", [vpc.to_string()]))
        .filters(crate::tags::filter("default", ["true".to_string()]))
        .send()
        .await
        .map_err(sdk_error)?;
    out.network_acls()
        .iter()
        .find_map(|n| n.network_acl_id())
        .map(str::to_string)
        .ok_or_else(|| missing("default network ACL of the VPC"))
}

impl Resource for NetworkAcl {
    const KIND: &'static str = "aws.network_acl";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["vpc"];
    type Provider = Aws;
    type Outputs = NetworkAclOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        let mut seen = BTreeSet::new();
        for e in &self.entries {
            if !(1..=32766).contains(&e.rule_number) {
                problems.push(problem(
                    "entries",
                    format!("rule number {} is outside 1-32766", e.rule_number),
                    None,
                ));
            }
            if !seen.insert((e.egress, e.rule_number)) {
                problems.push(problem(
                    "entries",
                    format!(
                        "rule number {} is used twice for {} traffic",
                        e.rule_number,
                        if e.egress { "outbound" } else { "inbound" }
                    ),
                    Some("each direction numbers its entries uniquely"),
                ));
            }
            if let Err(m) = e.cidr.parse() {
                problems.push(problem("entries", m, None));
            }
            match (e.protocol.has_ports(), e.ports) {
                (true, None) => problems.push(problem(
                    "entries",
                    format!(
                        "entry {} needs a port range for {:?}",
                        e.rule_number, e.protocol
                    ),
                    None,
                )),
                (true, Some(p)) => {
                    if let Some(m) = p.problem() {
                        problems.push(problem(
                            "entries",
                            format!("entry {}: {m}", e.rule_number),
                            None,
                        ));
                    }
                }
                (false, Some(_)) => problems.push(problem(
                    "entries",
                    format!(
                        "entry {} takes no port range for {:?}",
                        e.rule_number, e.protocol
                    ),
                    None,
                )),
                (false, None) => {}
            }
        }
    }

    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        // `network-acl-id` is AWS's filter; moto 5.2 does not implement it,
        // so against moto an ACL whose tags were removed is not found again.
        let items = find_all(
            cx,
            "network-acl-id",
            |o| o.network_acl_id.as_str(),
            describe!(aws.ec2().describe_network_acls()),
        )
        .await?;
        let mut found = Vec::new();
        for (claim, id, n) in items {
            let entries = n
                .entries()
                .iter()
                .filter(|e| e.rule_number() != Some(DEFAULT_RULE))
                .filter_map(|e| {
                    let protocol = Protocol::parse(e.protocol()?)?;
                    Some(AclEntry {
                        egress: e.egress()?,
                        rule_number: e.rule_number()?,
                        action: if e.rule_action() == Some(&RuleAction::Deny) {
                            AclAction::Deny
                        } else {
                            AclAction::Allow
                        },
                        protocol,
                        ports: if protocol.has_ports() {
                            e.port_range().and_then(|p| {
                                Some(PortRange {
                                    from: p.from()?,
                                    to: p.to()?,
                                })
                            })
                        } else {
                            None
                        },
                        // IPv6 entries are read too (and show as drift).
                        cidr: Cidr::from(e.cidr_block().or(e.ipv6_cidr_block())?),
                    })
                })
                .collect();
            let vpc = n.vpc_id().unwrap_or_default().to_string();
            found.push(Found::new(
                claim,
                NetworkAcl {
                    vpc: Input::Value(VpcId(vpc.clone())),
                    entries,
                    subnets: n
                        .associations()
                        .iter()
                        .filter_map(|a| a.subnet_id())
                        .map(|s| Input::Value(SubnetId(s.to_string())))
                        .collect(),
                    tags: tags::user(n.tags()),
                },
                NetworkAclOutputs {
                    network_acl_id: NetworkAclId(id),
                    vpc_id: VpcId(vpc),
                },
            ));
        }
        Ok(found)
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<NetworkAclOutputs, ProviderError> {
        let vpc = self.vpc.get().map_err(unresolved)?;
        let out = aws
            .ec2()
            .create_network_acl()
            .vpc_id(vpc.as_str())
            .tag_specifications(tags::spec(ResourceType::NetworkAcl, cx, &self.tags))
            .client_token(cx.client_token())
            .customize()
            .config_override(crate::resend::once_if_lost())
            .send()
            .await
            .map_err(sdk_error)?;
        let id = out
            .network_acl()
            .and_then(|n| n.network_acl_id())
            .ok_or_else(|| missing("network ACL id"))?
            .to_string();
        let outputs = NetworkAclOutputs {
            network_acl_id: NetworkAclId(id.clone()),
            vpc_id: vpc.clone(),
        };
        cx.created(&outputs).await?;
        // Entries and associations are independent: they go at once.
        let subnets = subnet_ids(&self.subnets)?;
        futures_util::future::try_join(
            try_join_all(self.entries.iter().map(|e| add_entry(aws, &id, e))),
            move_subnets(aws, &subnets, &id, None),
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
    ) -> Result<NetworkAclOutputs, ProviderError> {
        let id = prior.outputs.network_acl_id.as_str();
        let has = |field: &str| changed.iter().any(|c| c == field);
        let entries = async {
            if has("entries") {
                sync_entries(aws, id, &prior.spec.entries, &self.entries).await?;
            }
            Ok::<_, ProviderError>(())
        };
        let subnets = async {
            if has("subnets") {
                let want = subnet_ids(&self.subnets)?;
                let have = subnet_ids(&prior.spec.subnets)?;
                let released: BTreeSet<SubnetId> = have.difference(&want).cloned().collect();
                let added: BTreeSet<SubnetId> = want.difference(&have).cloned().collect();
                // Released subnets go back to the VPC's default ACL, unless
                // another ACL took them meanwhile.
                let release = async {
                    if !released.is_empty() {
                        let default = default_acl(aws, prior.outputs.vpc_id.as_str()).await?;
                        move_subnets(aws, &released, &default, Some(id)).await?;
                    }
                    Ok(())
                };
                futures_util::future::try_join(release, move_subnets(aws, &added, id, None))
                    .await?;
            }
            Ok(())
        };
        let tags = async {
            if has("tags") {
                tags::sync(aws.ec2(), id, &prior.spec.tags, &self.tags).await?;
            }
            Ok(())
        };
        futures_util::future::try_join3(entries, subnets, tags).await?;
        Ok(prior.outputs.clone())
    }

    async fn delete(
        outputs: &NetworkAclOutputs,
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        let id = outputs.network_acl_id.as_str();
        let described = aws
            .ec2()
            .describe_network_acls()
            .network_acl_ids(id)
            .send()
            .await
            .map_err(sdk_error)?;
        let subnets: BTreeSet<SubnetId> = described
            .network_acls()
            .iter()
            .flat_map(|n| n.associations())
            .filter_map(|a| a.subnet_id())
            .map(|s| SubnetId(s.to_string()))
            .collect();
        if !subnets.is_empty() {
            let default = default_acl(aws, outputs.vpc_id.as_str()).await?;
            move_subnets(aws, &subnets, &default, Some(id)).await?;
        }
        aws.ec2()
            .delete_network_acl()
            .network_acl_id(id)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}
