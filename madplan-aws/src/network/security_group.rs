//! Security groups and their rules.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{
    IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType, UserIdGroupPair,
};
use madplan_core::{
    Cidr, Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::{PortRange, SecurityGroupId, VpcId, describe, find_all, missing, unresolved};
use crate::error::sdk_error;
use crate::support::has_code;
use crate::{Aws, tags};

/// The IP protocol of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Every protocol and port.
    All,
    /// TCP, on a port range.
    Tcp,
    /// UDP, on a port range.
    Udp,
    /// ICMP, every type.
    Icmp,
    /// Any other IP protocol, by number (e.g. 50 for ESP).
    Number(u8),
}

impl Protocol {
    /// The name security group rules use.
    pub(crate) fn sg_name(self) -> String {
        match self {
            Protocol::All => "-1".into(),
            Protocol::Tcp => "tcp".into(),
            Protocol::Udp => "udp".into(),
            Protocol::Icmp => "icmp".into(),
            Protocol::Number(n) => n.to_string(),
        }
    }

    /// The protocol number network ACLs use.
    pub(crate) fn number(self) -> String {
        match self {
            Protocol::All => "-1".into(),
            Protocol::Tcp => "6".into(),
            Protocol::Udp => "17".into(),
            Protocol::Icmp => "1".into(),
            Protocol::Number(n) => n.to_string(),
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Protocol> {
        Some(match s {
            "-1" | "all" => Protocol::All,
            "tcp" | "6" => Protocol::Tcp,
            "udp" | "17" => Protocol::Udp,
            "icmp" | "1" => Protocol::Icmp,
            other => Protocol::Number(other.parse().ok()?),
        })
    }

    /// Whether rules of this protocol take a port range.
    pub fn has_ports(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp)
    }
}

/// Where traffic of a rule comes from (ingress) or goes to (egress).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    /// An IPv4 block.
    Cidr(Cidr),
    /// An IPv6 block, e.g. `::/0`.
    Ipv6(String),
    /// A managed prefix list (`pl-...`).
    PrefixList(String),
    /// Another security group.
    SecurityGroup(Input<SecurityGroupId>),
}

impl Peer {
    /// An IPv4 block.
    pub fn cidr(block: impl Into<Cidr>) -> Self {
        Peer::Cidr(block.into())
    }

    /// A security group (a handle or an id).
    pub fn group(group: impl IntoInput<SecurityGroupId>) -> Self {
        Peer::SecurityGroup(group.into_input())
    }
}

/// One security group rule.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Rule {
    /// The protocol.
    pub protocol: Protocol,
    /// The ports, for TCP and UDP.
    pub ports: Option<PortRange>,
    /// The other side.
    pub peer: Peer,
}

impl Rule {
    /// TCP on `ports` with `peer`.
    pub fn tcp(ports: PortRange, peer: Peer) -> Self {
        Self {
            protocol: Protocol::Tcp,
            ports: Some(ports),
            peer,
        }
    }

    /// Everything, with `peer`.
    pub fn all(peer: Peer) -> Self {
        Self {
            protocol: Protocol::All,
            ports: None,
            peer,
        }
    }

    fn check(&self, field: &str, problems: &mut Vec<Problem>) {
        match (self.protocol.has_ports(), &self.ports) {
            (true, None) => problems.push(problem(
                field,
                format!("a {:?} rule needs a port range", self.protocol),
                Some("give ports, e.g. PortRange::port(443)"),
            )),
            (false, Some(_)) => problems.push(problem(
                field,
                format!("a {:?} rule takes no port range", self.protocol),
                None,
            )),
            (true, Some(p)) => {
                if let Some(e) = p.problem() {
                    problems.push(problem(
                        field,
                        e,
                        Some("ports run from 0 to 65535, low to high"),
                    ));
                }
            }
            (false, None) => {}
        }
        match &self.peer {
            Peer::Cidr(c) => {
                if let Err(e) = c.parse() {
                    problems.push(problem(field, e, None));
                }
            }
            Peer::Ipv6(c) => {
                if c.parse::<ipnet::Ipv6Net>().is_err() {
                    problems.push(problem(
                        field,
                        format!("{c:?} is not an IPv6 CIDR block (expected e.g. ::/0)"),
                        None,
                    ));
                }
            }
            Peer::PrefixList(id) => {
                if !id.starts_with("pl-") {
                    problems.push(problem(
                        field,
                        format!("{id:?} is not a prefix list id (pl-...)"),
                        None,
                    ));
                }
            }
            Peer::SecurityGroup(_) => {}
        }
    }

    fn to_permission(&self) -> Result<IpPermission, ProviderError> {
        let mut b = IpPermission::builder().ip_protocol(self.protocol.sg_name());
        if let Some(p) = self.ports {
            b = b.from_port(p.from).to_port(p.to);
        } else if self.protocol == Protocol::Icmp {
            b = b.from_port(-1).to_port(-1);
        }
        b = match &self.peer {
            Peer::Cidr(c) => b.ip_ranges(IpRange::builder().cidr_ip(c.as_str()).build()),
            Peer::Ipv6(c) => b.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).build()),
            Peer::PrefixList(id) => {
                b.prefix_list_ids(PrefixListId::builder().prefix_list_id(id).build())
            }
            Peer::SecurityGroup(g) => b.user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id(g.get().map_err(unresolved)?.as_str())
                    .build(),
            ),
        };
        Ok(b.build())
    }
}

fn from_permissions(perms: &[IpPermission]) -> BTreeSet<Rule> {
    let mut out = BTreeSet::new();
    for p in perms {
        let Some(protocol) = p.ip_protocol().and_then(Protocol::parse) else {
            continue;
        };
        let ports = match (protocol.has_ports(), p.from_port(), p.to_port()) {
            (true, Some(from), Some(to)) => Some(PortRange { from, to }),
            _ => None,
        };
        for r in p.ip_ranges() {
            if let Some(c) = r.cidr_ip() {
                out.insert(Rule {
                    protocol,
                    ports,
                    peer: Peer::Cidr(Cidr::from(c)),
                });
            }
        }
        // Every kind of peer is read, so that a rule added by hand (say SSH
        // from ::/0) shows as drift.
        for r in p.ipv6_ranges() {
            if let Some(c) = r.cidr_ipv6() {
                out.insert(Rule {
                    protocol,
                    ports,
                    peer: Peer::Ipv6(c.to_string()),
                });
            }
        }
        for l in p.prefix_list_ids() {
            if let Some(id) = l.prefix_list_id() {
                out.insert(Rule {
                    protocol,
                    ports,
                    peer: Peer::PrefixList(id.to_string()),
                });
            }
        }
        for g in p.user_id_group_pairs() {
            if let Some(id) = g.group_id() {
                out.insert(Rule {
                    protocol,
                    ports,
                    peer: Peer::SecurityGroup(Input::Value(SecurityGroupId(id.to_string()))),
                });
            }
        }
    }
    out
}

fn allow_all_egress() -> BTreeSet<Rule> {
    [Rule::all(Peer::Cidr(Cidr::from("0.0.0.0/0")))].into()
}

/// The group named `name` in `vpc` if it carries the tags of `cx`'s
/// resource (environment, address and lineage): one this resource made.
async fn made_by(
    aws: &Aws,
    cx: &OpCx,
    name: &str,
    vpc: &str,
) -> Result<Option<aws_sdk_ec2::types::SecurityGroup>, ProviderError> {
    let out = aws
        .ec2()
        .describe_security_groups()
        .filters(tags::filter("group-name", [name.to_string()]))
        .filters(tags::filter("vpc-id", [vpc.to_string()]))
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(out
        .security_groups()
        .iter()
        .find(|g| tags::made_by(cx, g.tags()))
        .cloned())
}

/// A security group with its ingress and egress rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct SecurityGroup {
    /// The group name, unique in its VPC.
    #[builder(setter(into))]
    pub name: String,
    /// The description AWS requires.
    #[builder(default = "Managed by madplan".to_string(), setter(into))]
    pub description: String,
    /// The VPC it belongs to.
    #[builder(setter(transform = |v: impl IntoInput<VpcId>| v.into_input()))]
    pub vpc: Input<VpcId>,
    /// Inbound rules.
    #[builder(default, setter(transform = |rules: impl IntoIterator<Item = Rule>| rules.into_iter().collect()))]
    pub ingress: BTreeSet<Rule>,
    /// Outbound rules; by default everything is allowed out, as in AWS.
    #[builder(default = allow_all_egress(), setter(transform = |rules: impl IntoIterator<Item = Rule>| rules.into_iter().collect()))]
    pub egress: BTreeSet<Rule>,
    /// Tags besides madplan's own.
    #[builder(default)]
    pub tags: BTreeMap<String, String>,
}

/// What a security group yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroupOutputs {
    /// Its id.
    pub security_group_id: SecurityGroupId,
}

#[derive(Clone, Copy)]
enum Direction {
    Ingress,
    Egress,
}

/// Sends one of the four rule calls with `rules`, if there are any. When
/// the batch is refused because one of its rules is already in the state
/// the call wants (`$done`: authorized already, revoked already), each
/// rule is sent on its own and that answer taken as done. This is what
/// the SDK's second attempt meets after the first one's answer was lost
/// with the rules in place, or what a rule added or removed by hand since
/// the refresh causes.
macro_rules! rule_call {
    ($aws:expr, $id:expr, $rules:expr, $op:ident, $done:expr) => {{
        if !$rules.is_empty() {
            let perms = $rules
                .iter()
                .map(|r| r.to_permission())
                .collect::<Result<Vec<_>, _>>()?;
            let send = |perms: Vec<IpPermission>| {
                $aws.ec2()
                    .$op()
                    .group_id($id)
                    .set_ip_permissions(Some(perms))
                    .send()
            };
            match send(perms.clone()).await.map_err(sdk_error) {
                Err(e) if has_code(&e, $done) => {
                    for p in perms {
                        match send(vec![p]).await.map_err(sdk_error) {
                            Err(e) if !has_code(&e, $done) => return Err(e),
                            _ => {}
                        }
                    }
                }
                Err(e) => return Err(e),
                Ok(_) => {}
            }
        }
    }};
}

/// An authorize call refused because a rule of it is there already.
const DUPLICATE: &str = "InvalidPermission.Duplicate";
/// A revoke call refused because a rule of it is gone already.
const NOT_FOUND: &str = "InvalidPermission.NotFound";

/// Brings one direction's rules from `before` to `after`: revokes what
/// went, then authorizes what is new.
async fn reconcile(
    aws: &Aws,
    id: &str,
    dir: Direction,
    before: &BTreeSet<Rule>,
    after: &BTreeSet<Rule>,
) -> Result<(), ProviderError> {
    let gone: Vec<&Rule> = before.difference(after).collect();
    let new: Vec<&Rule> = after.difference(before).collect();
    match dir {
        Direction::Ingress => {
            rule_call!(aws, id, gone, revoke_security_group_ingress, NOT_FOUND);
            rule_call!(aws, id, new, authorize_security_group_ingress, DUPLICATE);
        }
        Direction::Egress => {
            rule_call!(aws, id, gone, revoke_security_group_egress, NOT_FOUND);
            rule_call!(aws, id, new, authorize_security_group_egress, DUPLICATE);
        }
    }
    Ok(())
}

impl Resource for SecurityGroup {
    const KIND: &'static str = "aws.security_group";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["name", "description", "vpc"];
    type Provider = Aws;
    type Outputs = SecurityGroupOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if self.name.is_empty() || self.name.len() > 255 {
            problems.push(problem(
                "name",
                "a group name has 1 to 255 characters",
                None,
            ));
        }
        if self.name.starts_with("sg-") {
            problems.push(problem(
                "name",
                "a group name cannot start with \"sg-\"",
                None,
            ));
        }
        if self.description.len() > 255 || !self.description.is_ascii() {
            problems.push(problem(
                "description",
                "a description has up to 255 ASCII characters",
                None,
            ));
        }
        for r in &self.ingress {
            r.check("ingress", problems);
        }
        for r in &self.egress {
            r.check("egress", problems);
        }
    }

    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let items = find_all(
            cx,
            "group-id",
            |o| o.security_group_id.as_str(),
            describe!(aws.ec2().describe_security_groups()),
        )
        .await?;
        Ok(items
            .into_iter()
            .map(|(claim, id, g)| {
                Found::new(
                    claim,
                    SecurityGroup {
                        name: g.group_name().unwrap_or_default().to_string(),
                        description: g.description().unwrap_or_default().to_string(),
                        vpc: Input::Value(VpcId(g.vpc_id().unwrap_or_default().to_string())),
                        ingress: from_permissions(g.ip_permissions()),
                        egress: from_permissions(g.ip_permissions_egress()),
                        tags: tags::user(g.tags()),
                    },
                    SecurityGroupOutputs {
                        security_group_id: SecurityGroupId(id),
                    },
                )
            })
            .collect())
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<SecurityGroupOutputs, ProviderError> {
        let vpc = self.vpc.get().map_err(unresolved)?.as_str();
        let created = aws
            .ec2()
            .create_security_group()
            .group_name(&self.name)
            .description(&self.description)
            .vpc_id(vpc)
            .tag_specifications(tags::spec(ResourceType::SecurityGroup, cx, &self.tags))
            .send()
            .await
            .map_err(sdk_error);
        // AWS gives every new group an allow-all egress rule.
        let (id, ingress, egress) = match created {
            Ok(out) => (
                out.group_id()
                    .ok_or_else(|| missing("group id"))?
                    .to_string(),
                BTreeSet::new(),
                allow_all_egress(),
            ),
            // The name is taken in the VPC: by this very create when the
            // SDK sent it again after its answer was lost (the group then
            // carries this resource's tags), or by someone else (refused).
            Err(e) if has_code(&e, "InvalidGroup.Duplicate") => {
                match made_by(aws, cx, &self.name, vpc).await? {
                    Some(g) if g.description() == Some(self.description.as_str()) => (
                        g.group_id().ok_or_else(|| missing("group id"))?.to_string(),
                        from_permissions(g.ip_permissions()),
                        from_permissions(g.ip_permissions_egress()),
                    ),
                    _ => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        let outputs = SecurityGroupOutputs {
            security_group_id: SecurityGroupId(id.clone()),
        };
        cx.created(&outputs).await?;
        // The two directions are independent: they go at once.
        futures_util::future::try_join(
            reconcile(aws, &id, Direction::Ingress, &ingress, &self.ingress),
            reconcile(aws, &id, Direction::Egress, &egress, &self.egress),
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
    ) -> Result<SecurityGroupOutputs, ProviderError> {
        let id = prior.outputs.security_group_id.as_str();
        let has = |field: &str| changed.iter().any(|c| c == field);
        let ingress = async {
            if has("ingress") {
                reconcile(
                    aws,
                    id,
                    Direction::Ingress,
                    &prior.spec.ingress,
                    &self.ingress,
                )
                .await?;
            }
            Ok::<_, ProviderError>(())
        };
        let egress = async {
            if has("egress") {
                reconcile(aws, id, Direction::Egress, &prior.spec.egress, &self.egress).await?;
            }
            Ok(())
        };
        let tags = async {
            if has("tags") {
                tags::sync(aws.ec2(), id, &prior.spec.tags, &self.tags).await?;
            }
            Ok(())
        };
        futures_util::future::try_join3(ingress, egress, tags).await?;
        Ok(prior.outputs.clone())
    }

    async fn delete(
        outputs: &SecurityGroupOutputs,
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        aws.ec2()
            .delete_security_group()
            .group_id(outputs.security_group_id.as_str())
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}
