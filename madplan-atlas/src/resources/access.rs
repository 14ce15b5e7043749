//! A project's IP access list, managed exclusively: the entries declared
//! (blocks, single addresses such as the NAT gateways' elastic IPs, AWS
//! security groups) are the only ones allowed in, besides entries that
//! other madplan states made. An entry added by hand shows as drift and
//! the next apply removes it.
//!
//! Entries already in the project without a marker when the list is
//! created stay until a plan shows them as drift: nothing is removed that
//! a plan did not show.
//!
//! Each entry carries madplan's marker in its comment
//! (`[madplan ENV/NAME LINEAGE8] note`), since entries have no tags.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use madplan_core::{
    Address, Cidr, ErrorClass, Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError,
    RefreshCx, Resource, TAG_ADDRESS, TAG_ENVIRONMENT, TAG_LINEAGE, ValidateCx, problem,
};
use serde::{Deserialize, Serialize, Serializer};

use super::{Atlas, ProjectId, known};
use crate::client::access::{AccessEntry, Source};

/// Atlas's longest entry comment.
const MAX_COMMENT: usize = 80;

/// What an entry lets in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessSource {
    /// A block of IPv4 addresses. `0.0.0.0/0` is refused: say
    /// [`AccessSource::Anywhere`] if that is really meant.
    Cidr(Input<Cidr>),
    /// One address, e.g. a NAT gateway's elastic IP (another resource's
    /// output).
    Address(Input<Ipv4Addr>),
    /// An AWS security group of a peered VPC.
    SecurityGroup(Input<String>),
    /// Every address on the internet (`0.0.0.0/0`), explicitly.
    Anywhere,
}

/// One entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccessListEntry {
    /// What it lets in.
    pub source: AccessSource,
    /// A note for people reading the list.
    pub note: Option<String>,
}

impl AccessListEntry {
    /// A block of addresses.
    pub fn cidr(block: impl IntoInput<Cidr>) -> Self {
        Self {
            source: AccessSource::Cidr(block.into_input()),
            note: None,
        }
    }

    /// One address (a literal, or another resource's output such as an
    /// elastic IP).
    pub fn address(ip: impl IntoInput<Ipv4Addr>) -> Self {
        Self {
            source: AccessSource::Address(ip.into_input()),
            note: None,
        }
    }

    /// An AWS security group.
    pub fn security_group(id: impl IntoInput<String>) -> Self {
        Self {
            source: AccessSource::SecurityGroup(id.into_input()),
            note: None,
        }
    }

    /// The whole internet, explicitly.
    pub fn anywhere() -> Self {
        Self {
            source: AccessSource::Anywhere,
            note: None,
        }
    }

    /// With a note.
    #[must_use]
    pub fn note(mut self, note: &str) -> Self {
        self.note = Some(note.into());
        self
    }

    /// The entry as Atlas takes it (every input resolved).
    fn api_source(&self) -> Result<Source, ProviderError> {
        Ok(match &self.source {
            AccessSource::Cidr(c) => Source::Cidr(known(c)?.as_str().to_string()),
            AccessSource::Address(a) => Source::Address(known(a)?.to_string()),
            AccessSource::SecurityGroup(s) => Source::SecurityGroup(known(s)?.clone()),
            AccessSource::Anywhere => Source::Cidr(ANYWHERE.into()),
        })
    }

    /// The entry as read from Atlas.
    fn from_api(source: &Source, note: Option<String>) -> Self {
        let source = match source {
            Source::Cidr(c) if c == ANYWHERE => AccessSource::Anywhere,
            Source::Cidr(c) => AccessSource::Cidr(Input::Value(Cidr::from(c.as_str()))),
            Source::Address(a) => match a.parse::<Ipv4Addr>() {
                Ok(ip) => AccessSource::Address(Input::Value(ip)),
                // An IPv6 address, kept as its block so it shows as drift.
                Err(_) => AccessSource::Cidr(Input::Value(Cidr::from(format!("{a}/128")))),
            },
            Source::SecurityGroup(s) => AccessSource::SecurityGroup(Input::Value(s.clone())),
        };
        Self { source, note }
    }
}

const ANYWHERE: &str = "0.0.0.0/0";

fn sorted_entries<S: Serializer>(entries: &[AccessListEntry], s: S) -> Result<S::Ok, S::Error> {
    let mut v: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| serde_json::to_value(e).map_err(serde::ser::Error::custom))
        .collect::<Result<_, _>>()?;
    v.sort_by_key(|x| x.to_string());
    v.dedup();
    v.serialize(s)
}

/// A project's access list: exactly these entries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccessList {
    /// The project.
    pub project: Input<ProjectId>,
    /// The entries.
    #[serde(serialize_with = "sorted_entries")]
    pub entries: Vec<AccessListEntry>,
}

impl AccessList {
    /// An empty list for `project` (nothing gets in); add entries.
    pub fn new(project: impl IntoInput<ProjectId>) -> Self {
        Self {
            project: project.into_input(),
            entries: Vec::new(),
        }
    }

    /// With an entry.
    #[must_use]
    pub fn entry(mut self, e: AccessListEntry) -> Self {
        self.entries.push(e);
        self
    }
}

/// What an access list yields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessListOutputs {
    /// The project.
    pub project_id: ProjectId,
    /// The name of the list in madplan (its address's name).
    pub name: String,
}

/// madplan's marker in an entry's comment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Marker {
    environment: String,
    name: String,
    /// The first 8 characters of the state's lineage.
    lineage: String,
}

impl Marker {
    fn text(&self) -> String {
        format!(
            "[madplan {}/{} {}]",
            self.environment, self.name, self.lineage
        )
    }

    fn comment(&self, note: Option<&str>) -> String {
        match note {
            Some(n) => format!("{} {n}", self.text()),
            None => self.text(),
        }
    }

    /// The marker and the note of a comment, if it has one.
    fn parse(comment: Option<&str>) -> (Option<Marker>, Option<String>) {
        let Some(c) = comment else {
            return (None, None);
        };
        let parsed = c.strip_prefix("[madplan ").and_then(|rest| {
            let (inside, after) = rest.split_once(']')?;
            let (who, lineage) = inside.split_once(' ')?;
            let (environment, name) = who.split_once('/')?;
            let note = after.strip_prefix(' ').unwrap_or(after);
            Some((
                Marker {
                    environment: environment.into(),
                    name: name.into(),
                    lineage: lineage.into(),
                },
                (!note.is_empty()).then(|| note.to_string()),
            ))
        });
        match parsed {
            Some((m, note)) => (Some(m), note),
            None => (None, Some(c.to_string())),
        }
    }
}

fn short(lineage: &str) -> String {
    lineage.chars().take(8).collect()
}

fn marker_of(cx: &OpCx) -> Marker {
    Marker {
        environment: cx.environment().into(),
        name: cx.address().name().into(),
        lineage: short(&cx.lineage().to_string()),
    }
}

/// The project's entries, sorted by whose they are.
struct Listed {
    /// Entries with a marker, by marker.
    marked: BTreeMap<Marker, Vec<AccessListEntry>>,
    /// Entries without one (added by hand).
    unmarked: Vec<(Source, AccessListEntry)>,
    /// The source of every entry, by the entry's value.
    sources: Vec<(Option<Marker>, Source)>,
}

async fn list(atlas: &Atlas, group: &str) -> Result<Option<Listed>, ProviderError> {
    let entries = match atlas.client().access_list(group).await {
        Ok(e) => e,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut out = Listed {
        marked: BTreeMap::new(),
        unmarked: Vec::new(),
        sources: Vec::new(),
    };
    for e in entries {
        let (marker, note) = Marker::parse(e.comment.as_deref());
        let entry = AccessListEntry::from_api(&e.source, note);
        out.sources.push((marker.clone(), e.source.clone()));
        match marker {
            Some(m) => out.marked.entry(m).or_default().push(entry),
            None => out.unmarked.push((e.source, entry)),
        }
    }
    Ok(Some(out))
}

impl AccessList {
    /// Brings the project's list to this one: adds (or re-marks) every
    /// entry, removes this list's own that are no longer declared, and the
    /// unmarked ones among `seen` (what the plan showed: nothing is removed
    /// that the plan did not show). Other states' entries are never
    /// touched; an entry of theirs with a value this list wants is a
    /// conflict.
    async fn converge(
        &self,
        atlas: &Atlas,
        cx: &OpCx,
        seen: &[AccessListEntry],
    ) -> Result<AccessListOutputs, ProviderError> {
        let group = known(&self.project)?.0.clone();
        let mine = marker_of(cx);
        let listed = list(atlas, &group).await?.ok_or_else(|| {
            ProviderError::new(
                "atlas",
                ErrorClass::NotFound,
                format!("the project {group} does not exist"),
            )
        })?;
        let mut wanted = Vec::new();
        for e in &self.entries {
            let source = e.api_source()?;
            let comment = mine.comment(e.note.as_deref());
            if comment.chars().count() > MAX_COMMENT {
                return Err(super::fatal(format!(
                    "the comment {comment:?} is longer than Atlas's {MAX_COMMENT} characters; shorten the note"
                )));
            }
            if let Some((Some(other), _)) = listed
                .sources
                .iter()
                .find(|(m, s)| s.value() == source.value() && m.as_ref() != Some(&mine))
            {
                return Err(ProviderError::new(
                    "atlas",
                    ErrorClass::Conflict,
                    format!(
                        "the entry {} belongs to madplan environment {} ({}, state {}): madplan will not take it over",
                        source.value(),
                        other.environment,
                        other.name,
                        other.lineage
                    ),
                ));
            }
            wanted.push(AccessEntry {
                source,
                comment: Some(comment),
            });
        }
        if !wanted.is_empty() {
            atlas.client().add_access(&group, &wanted).await?;
        }
        let keep = |s: &Source| wanted.iter().any(|w| w.value() == s.value());
        let shown = |s: &Source| {
            seen.iter()
                .any(|e| e.api_source().is_ok_and(|x| x.value() == s.value()))
        };
        for (marker, source) in &listed.sources {
            let stale = match marker {
                None => shown(source),
                Some(m) => *m == mine,
            };
            if stale && !keep(source) {
                match atlas.client().remove_access(&group, source.value()).await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(AccessListOutputs {
            project_id: ProjectId(group),
            name: cx.address().name().into(),
        })
    }
}

impl Resource for AccessList {
    const KIND: &'static str = "atlas.access_list";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["project"];
    type Provider = Atlas;
    type Outputs = AccessListOutputs;

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        let mut values = std::collections::BTreeSet::new();
        for e in &self.entries {
            match &e.source {
                AccessSource::Cidr(Input::Value(c)) => match c.parse() {
                    Err(why) => problems.push(problem("entries", why, None)),
                    Ok(net) if net.prefix_len() == 0 => problems.push(problem(
                        "entries",
                        format!("{c} lets the whole internet in"),
                        Some("if that is really meant, say AccessListEntry::anywhere()"),
                    )),
                    Ok(_) => {}
                },
                AccessSource::Address(Input::Value(ip)) if ip.is_unspecified() => {
                    problems.push(problem("entries", "0.0.0.0 is not an address", None));
                }
                AccessSource::SecurityGroup(Input::Value(sg)) => {
                    let id = sg.rsplit('/').next().unwrap_or_default();
                    if !id.starts_with("sg-") {
                        problems.push(problem(
                            "entries",
                            format!("{sg:?} is not a security group id (sg-...)"),
                            None,
                        ));
                    }
                }
                _ => {}
            }
            let key = serde_json::to_string(&e.source).unwrap_or_default();
            if !values.insert(key) {
                problems.push(problem(
                    "entries",
                    format!("{:?} is listed twice", e.source),
                    None,
                ));
            }
        }
    }

    fn validate_kind(all: &[(Address, Self)], cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        let mut projects: BTreeMap<String, &Address> = BTreeMap::new();
        for (address, list) in all {
            // The marker and note must fit Atlas's comment.
            let marker = Marker {
                environment: cx.environment().into(),
                name: address.name().into(),
                lineage: "00000000".into(),
            };
            for e in &list.entries {
                let len = marker.comment(e.note.as_deref()).chars().count();
                if len > MAX_COMMENT {
                    problems.push(Problem {
                        address: Some(address.clone()),
                        field: Some("entries".into()),
                        message: format!(
                            "the note {:?} does not fit Atlas's {MAX_COMMENT}-character comment next to madplan's marker ({len} characters)",
                            e.note.as_deref().unwrap_or_default()
                        ),
                        hint: Some("shorten the note (or the environment or list name)".into()),
                    });
                }
            }
            let key = serde_json::to_string(&list.project).unwrap_or_default();
            if let Some(first) = projects.insert(key, address) {
                problems.push(Problem {
                    address: Some(address.clone()),
                    field: Some("project".into()),
                    message: format!(
                        "{first} manages this project's access list already; one list per project"
                    ),
                    hint: Some("put every entry in one atlas.access_list".into()),
                });
            }
        }
    }

    async fn refresh(
        atlas: &Atlas,
        cx: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        let lineage = cx.lineage.map(|l| l.to_string());
        let ours = lineage.as_deref().map(short);
        let tracked = cx.tracked.iter().map(|t| t.outputs.project_id.0.clone());
        let mut found = Vec::new();
        for group in atlas.project_ids(tracked).await? {
            let Some(listed) = list(atlas, &group).await? else {
                continue;
            };
            let mut seen = Vec::new();
            for (m, entries) in &listed.marked {
                if m.environment != cx.environment {
                    continue;
                }
                let mine = ours.as_deref() == Some(m.lineage.as_str());
                let address = format!("{}.{}", Self::KIND, m.name);
                let full_lineage = if mine {
                    lineage.clone()
                } else {
                    Some(m.lineage.clone())
                };
                let marks = |k: &str| match k {
                    TAG_ENVIRONMENT => Some(m.environment.clone()),
                    TAG_ADDRESS => Some(address.clone()),
                    TAG_LINEAGE => full_lineage.clone(),
                    _ => None,
                };
                let is_it =
                    |o: &AccessListOutputs| mine && o.project_id.0 == group && o.name == m.name;
                let Some(claim) = cx.claim(is_it, marks) else {
                    continue;
                };
                let mut all = entries.clone();
                if mine {
                    all.extend(listed.unmarked.iter().map(|(_, e)| e.clone()));
                    seen.push(m.name.clone());
                }
                let spec = AccessList {
                    project: Input::Value(ProjectId(group.clone())),
                    entries: all,
                };
                let outputs = AccessListOutputs {
                    project_id: ProjectId(group.clone()),
                    name: m.name.clone(),
                };
                found.push(Found::new(claim, spec, outputs));
            }
            // A tracked list whose own entries were all removed by hand
            // still exists: what is left is what it must remove.
            for t in &cx.tracked {
                if t.outputs.project_id.0 != group || seen.contains(&t.outputs.name) {
                    continue;
                }
                if let Some(claim) = cx.claim(|o| o == &t.outputs, |_| None) {
                    let spec = AccessList {
                        project: Input::Value(ProjectId(group.clone())),
                        entries: listed.unmarked.iter().map(|(_, e)| e.clone()).collect(),
                    };
                    found.push(Found::new(claim, spec, t.outputs.clone()));
                }
            }
        }
        Ok(found)
    }

    /// Adds the entries; entries already there without a marker stay
    /// until a plan shows them as drift.
    async fn create(&self, atlas: &Atlas, cx: &OpCx) -> Result<AccessListOutputs, ProviderError> {
        self.converge(atlas, cx, &[]).await
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        _changed: &[String],
        atlas: &Atlas,
        cx: &OpCx,
    ) -> Result<AccessListOutputs, ProviderError> {
        self.converge(atlas, cx, &prior.spec.entries).await
    }

    async fn delete(
        outputs: &AccessListOutputs,
        atlas: &Atlas,
        cx: &OpCx,
    ) -> Result<(), ProviderError> {
        let group = &outputs.project_id.0;
        let mine = Marker {
            environment: cx.environment().into(),
            name: outputs.name.clone(),
            lineage: short(&cx.lineage().to_string()),
        };
        let Some(listed) = list(atlas, group).await? else {
            return Ok(());
        };
        // Only this list's own entries go: hand-made and other states'
        // entries stay.
        for (marker, source) in &listed.sources {
            if marker.as_ref() == Some(&mine) {
                match atlas.client().remove_access(group, source.value()).await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_through_comments() {
        let m = Marker {
            environment: "production".into(),
            name: "main".into(),
            lineage: "1a2b3c4d".into(),
        };
        let c = m.comment(Some("NAT a"));
        assert_eq!(c, "[madplan production/main 1a2b3c4d] NAT a");
        assert_eq!(
            Marker::parse(Some(&c)),
            (Some(m.clone()), Some("NAT a".into()))
        );
        assert_eq!(Marker::parse(Some(&m.text())), (Some(m), None));
        assert_eq!(
            Marker::parse(Some("office VPN")),
            (None, Some("office VPN".into()))
        );
    }
}
