//! DNS records of every type, found again by the marker in their comment.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use madplan_core::{
    Address, Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    Cloudflare, IntoText, Marker, ZoneId, gone_is_done, hostname, unresolved, zones_to_read,
};
use crate::client::dns::{
    CaaData, CaaTag, CertData, DnskeyData, DsData, LocData, NaptrData, Record, RecordContent,
    RecordFilter, SrvData, SshfpData, SvcData, TlsaData, Ttl, UriData,
};

/// The most characters madplan lets a comment (note and marker) have: the
/// smallest limit Cloudflare documents for record comments.
pub const MAX_COMMENT: usize = 100;

/// What a record holds, by type. Host names are kept as Cloudflare stores
/// them (lower case, no final dot), whatever way they were given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value")]
pub enum RecordData {
    /// An IPv4 address.
    A(Input<Ipv4Addr>),
    /// An IPv6 address.
    AAAA(Input<Ipv6Addr>),
    /// An alias: the host name it points at (e.g. a load balancer's DNS
    /// name, another resource's output).
    CNAME(#[serde(with = "hostname")] Input<String>),
    /// Text.
    TXT(String),
    /// A mail exchanger.
    MX {
        /// The mail host.
        #[serde(with = "hostname")]
        host: Input<String>,
        /// Lower is tried first.
        priority: u16,
    },
    /// A delegation to another name server.
    NS(#[serde(with = "hostname")] Input<String>),
    /// A reverse pointer.
    PTR(#[serde(with = "hostname")] Input<String>),
    /// An OpenPGP key, base64.
    OPENPGPKEY(String),
    /// Which certificate authorities may issue for the name.
    CAA(CaaData),
    /// A service locator (the record's name is `_service._proto.name`).
    SRV(SrvData),
    /// An HTTPS service binding.
    HTTPS(SvcData),
    /// A general service binding.
    SVCB(SvcData),
    /// A URI.
    URI {
        /// Lower is tried first.
        priority: u16,
        /// Weight and URI.
        data: UriData,
    },
    /// A certificate.
    CERT(CertData),
    /// A DNSSEC key.
    DNSKEY(DnskeyData),
    /// A delegation signer.
    DS(DsData),
    /// A location.
    LOC(LocData),
    /// A naming authority pointer.
    NAPTR(NaptrData),
    /// An S/MIME certificate association.
    SMIMEA(TlsaData),
    /// An SSH fingerprint.
    SSHFP(SshfpData),
    /// A TLS certificate association.
    TLSA(TlsaData),
    /// Read back only: a record of madplan's whose content this version
    /// cannot read (changed by hand into something else). Not written.
    Unreadable {
        /// Its type.
        kind: String,
        /// Its `content`.
        content: Option<String>,
        /// Its `data`.
        data: Option<Value>,
    },
}

impl RecordData {
    /// The record type, as the API spells it.
    pub fn type_name(&self) -> String {
        match self {
            RecordData::Unreadable { kind, .. } => kind.clone(),
            other => other
                .to_content()
                .map(|c| c.kind().to_string())
                .unwrap_or_default(),
        }
    }

    fn proxiable(&self) -> bool {
        matches!(
            self,
            RecordData::A(_) | RecordData::AAAA(_) | RecordData::CNAME(_)
        )
    }

    /// The client's form, every input resolved.
    fn to_content(&self) -> Result<RecordContent, ProviderError> {
        let host = |i: &Input<String>| i.get().map(|s| hostname::normal(s)).map_err(unresolved);
        Ok(match self {
            RecordData::A(a) => RecordContent::A(*a.get().map_err(unresolved)?),
            RecordData::AAAA(a) => RecordContent::AAAA(*a.get().map_err(unresolved)?),
            RecordData::CNAME(t) => RecordContent::CNAME(host(t)?),
            RecordData::TXT(t) => RecordContent::TXT(t.clone()),
            RecordData::MX { host: h, priority } => RecordContent::MX {
                host: host(h)?,
                priority: *priority,
            },
            RecordData::NS(h) => RecordContent::NS(host(h)?),
            RecordData::PTR(h) => RecordContent::PTR(host(h)?),
            RecordData::OPENPGPKEY(k) => RecordContent::OPENPGPKEY(k.clone()),
            RecordData::CAA(d) => RecordContent::CAA(d.clone()),
            RecordData::SRV(d) => RecordContent::SRV(d.clone()),
            RecordData::HTTPS(d) => RecordContent::HTTPS(d.clone()),
            RecordData::SVCB(d) => RecordContent::SVCB(d.clone()),
            RecordData::URI { priority, data } => RecordContent::URI {
                priority: *priority,
                data: data.clone(),
            },
            RecordData::CERT(d) => RecordContent::CERT(d.clone()),
            RecordData::DNSKEY(d) => RecordContent::DNSKEY(d.clone()),
            RecordData::DS(d) => RecordContent::DS(d.clone()),
            RecordData::LOC(d) => RecordContent::LOC(d.clone()),
            RecordData::NAPTR(d) => RecordContent::NAPTR(d.clone()),
            RecordData::SMIMEA(d) => RecordContent::SMIMEA(d.clone()),
            RecordData::SSHFP(d) => RecordContent::SSHFP(d.clone()),
            RecordData::TLSA(d) => RecordContent::TLSA(d.clone()),
            RecordData::Unreadable { kind, .. } => {
                return Err(super::unreadable(format!(
                    "madplan does not write {kind} records of this shape"
                )));
            }
        })
    }

    /// The spec's form of what Cloudflare holds.
    fn from_content(c: RecordContent) -> Self {
        fn v<T>(x: T) -> Input<T> {
            Input::Value(x)
        }
        match c {
            RecordContent::A(a) => RecordData::A(v(a)),
            RecordContent::AAAA(a) => RecordData::AAAA(v(a)),
            RecordContent::CNAME(t) => RecordData::CNAME(v(hostname::normal(&t))),
            RecordContent::TXT(t) => RecordData::TXT(t),
            RecordContent::NS(h) => RecordData::NS(v(hostname::normal(&h))),
            RecordContent::PTR(h) => RecordData::PTR(v(hostname::normal(&h))),
            RecordContent::MX { host, priority } => RecordData::MX {
                host: v(hostname::normal(&host)),
                priority,
            },
            RecordContent::OPENPGPKEY(k) => RecordData::OPENPGPKEY(k),
            RecordContent::CAA(d) => RecordData::CAA(d),
            RecordContent::SRV(d) => RecordData::SRV(d),
            RecordContent::HTTPS(d) => RecordData::HTTPS(d),
            RecordContent::SVCB(d) => RecordData::SVCB(d),
            RecordContent::URI { priority, data } => RecordData::URI { priority, data },
            RecordContent::CERT(d) => RecordData::CERT(d),
            RecordContent::DNSKEY(d) => RecordData::DNSKEY(d),
            RecordContent::DS(d) => RecordData::DS(d),
            RecordContent::LOC(d) => RecordData::LOC(d),
            RecordContent::NAPTR(d) => RecordData::NAPTR(d),
            RecordContent::SMIMEA(d) => RecordData::SMIMEA(d),
            RecordContent::SSHFP(d) => RecordData::SSHFP(d),
            RecordContent::TLSA(d) => RecordData::TLSA(d),
            RecordContent::Other {
                kind,
                content,
                data,
                ..
            } => RecordData::Unreadable {
                kind: kind.to_string(),
                content,
                data,
            },
        }
    }
}

/// A DNS record in a zone.
///
/// Built with one constructor per type; `name` is the full name
/// (`api.madplan.com`). Host names and targets are `Input`s, so another
/// resource's output can feed them: the ALB's DNS name into the API's
/// CNAME, an ACM certificate's validation record name and value into
/// [`DnsRecord::certificate_validation`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DnsRecord {
    /// The zone.
    pub zone: Input<ZoneId>,
    /// The full name.
    #[serde(with = "hostname")]
    pub name: Input<String>,
    /// Its type and what it holds.
    pub data: RecordData,
    /// Time to live (automatic for proxied records).
    #[serde(default)]
    pub ttl: Ttl,
    /// Whether traffic goes through Cloudflare (A, AAAA and CNAME only).
    #[serde(default)]
    pub proxied: bool,
    /// A note for people, kept in the record's comment before madplan's
    /// marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// What the record is for, where madplan holds it to rules of its
    /// own: a certificate authority's validation record is never proxied
    /// (the CA must see the record itself), which validation enforces.
    /// Cloudflare does not store it; the engine compares the value last
    /// applied.
    #[serde(default)]
    pub purpose: Option<RecordPurpose>,
}

/// What a record is for, when madplan holds it to rules of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordPurpose {
    /// A certificate authority's domain validation record (ACM's CNAME,
    /// an ACME TXT record).
    CertificateValidation,
}

/// What a DNS record yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DnsRecordOutputs {
    /// The zone it is in.
    pub zone_id: ZoneId,
    /// Its id.
    pub record_id: String,
    /// Its full name, as Cloudflare stores it.
    pub name: String,
}

impl DnsRecord {
    fn new(zone: impl IntoInput<ZoneId>, name: impl IntoText, data: RecordData) -> Self {
        Self {
            zone: zone.into_input(),
            name: name.into_text(),
            data,
            ttl: Ttl::Auto,
            proxied: false,
            note: None,
            purpose: None,
        }
    }

    /// An A record.
    pub fn a(
        zone: impl IntoInput<ZoneId>,
        name: impl IntoText,
        address: impl IntoInput<Ipv4Addr>,
    ) -> Self {
        Self::new(zone, name, RecordData::A(address.into_input()))
    }

    /// An AAAA record.
    pub fn aaaa(
        zone: impl IntoInput<ZoneId>,
        name: impl IntoText,
        address: impl IntoInput<Ipv6Addr>,
    ) -> Self {
        Self::new(zone, name, RecordData::AAAA(address.into_input()))
    }

    /// A CNAME record pointing at `target` (e.g. a load balancer's DNS
    /// name).
    pub fn cname(zone: impl IntoInput<ZoneId>, name: impl IntoText, target: impl IntoText) -> Self {
        Self::new(zone, name, RecordData::CNAME(target.into_text()))
    }

    /// A certificate authority's validation record (ACM's CNAME): never
    /// proxied.
    pub fn certificate_validation(
        zone: impl IntoInput<ZoneId>,
        name: impl IntoText,
        value: impl IntoText,
    ) -> Self {
        Self {
            purpose: Some(RecordPurpose::CertificateValidation),
            ..Self::cname(zone, name, value)
        }
    }

    /// A TXT record.
    pub fn txt(zone: impl IntoInput<ZoneId>, name: impl IntoText, text: &str) -> Self {
        Self::new(zone, name, RecordData::TXT(text.to_string()))
    }

    /// An MX record.
    pub fn mx(
        zone: impl IntoInput<ZoneId>,
        name: impl IntoText,
        host: impl IntoText,
        priority: u16,
    ) -> Self {
        Self::new(
            zone,
            name,
            RecordData::MX {
                host: host.into_text(),
                priority,
            },
        )
    }

    /// An NS record delegating `name`.
    pub fn ns(zone: impl IntoInput<ZoneId>, name: impl IntoText, server: impl IntoText) -> Self {
        Self::new(zone, name, RecordData::NS(server.into_text()))
    }

    /// A PTR record.
    pub fn ptr(zone: impl IntoInput<ZoneId>, name: impl IntoText, host: impl IntoText) -> Self {
        Self::new(zone, name, RecordData::PTR(host.into_text()))
    }

    /// A CAA record.
    pub fn caa(
        zone: impl IntoInput<ZoneId>,
        name: impl IntoText,
        flags: u8,
        tag: CaaTag,
        value: &str,
    ) -> Self {
        Self::new(
            zone,
            name,
            RecordData::CAA(CaaData {
                flags,
                tag,
                value: value.to_string(),
            }),
        )
    }

    /// A CAA record letting `authority` (e.g. `letsencrypt.org`,
    /// `amazon.com`, `pki.goog`) issue certificates for `name`.
    pub fn caa_issue(zone: impl IntoInput<ZoneId>, name: impl IntoText, authority: &str) -> Self {
        Self::caa(zone, name, 0, CaaTag::Issue, authority)
    }

    /// An SRV record (`name` is `_service._proto.host`).
    pub fn srv(zone: impl IntoInput<ZoneId>, name: impl IntoText, data: SrvData) -> Self {
        Self::new(zone, name, RecordData::SRV(data))
    }

    /// An HTTPS record.
    pub fn https(zone: impl IntoInput<ZoneId>, name: impl IntoText, data: SvcData) -> Self {
        Self::new(zone, name, RecordData::HTTPS(data))
    }

    /// An SVCB record.
    pub fn svcb(zone: impl IntoInput<ZoneId>, name: impl IntoText, data: SvcData) -> Self {
        Self::new(zone, name, RecordData::SVCB(data))
    }

    /// A URI record.
    pub fn uri(
        zone: impl IntoInput<ZoneId>,
        name: impl IntoText,
        priority: u16,
        data: UriData,
    ) -> Self {
        Self::new(zone, name, RecordData::URI { priority, data })
    }

    /// A record of any other type, from its data (CERT, DNSKEY, DS, LOC,
    /// NAPTR, OPENPGPKEY, SMIMEA, SSHFP, TLSA).
    pub fn with_data(zone: impl IntoInput<ZoneId>, name: impl IntoText, data: RecordData) -> Self {
        Self::new(zone, name, data)
    }

    /// Proxied through Cloudflare (or not).
    #[must_use]
    pub fn proxied(mut self, on: bool) -> Self {
        self.proxied = on;
        self
    }

    /// With a TTL.
    #[must_use]
    pub fn ttl(mut self, ttl: Ttl) -> Self {
        self.ttl = ttl;
        self
    }

    /// With a note for people (kept in the comment, before the marker).
    #[must_use]
    pub fn note(mut self, note: &str) -> Self {
        self.note = Some(note.to_string());
        self
    }

    /// The comment madplan writes: the note, then the marker.
    fn comment(&self, marker: &Marker) -> String {
        match &self.note {
            Some(n) if !n.trim().is_empty() => format!("{} {}", n.trim(), marker.text()),
            _ => marker.text(),
        }
    }

    /// The API's form, every input resolved.
    fn to_api(&self, marker: &Marker) -> Result<Record, ProviderError> {
        let name = self.name.get().map_err(unresolved)?;
        Ok(Record {
            id: None,
            name: hostname::normal(name),
            content: self.data.to_content()?,
            ttl: self.ttl,
            proxied: self.proxied,
            comment: Some(self.comment(marker)),
            tags: Vec::new(),
        })
    }

    fn zone_id(&self) -> Result<&ZoneId, ProviderError> {
        self.zone.get().map_err(unresolved)
    }
}

/// A comment split into the note before madplan's marker and the marker.
fn split_comment(comment: Option<&str>) -> (Option<String>, Option<Marker>) {
    let Some(c) = comment.map(str::trim).filter(|c| !c.is_empty()) else {
        return (None, None);
    };
    let (before, last) = match c.rsplit_once(' ') {
        Some((b, l)) => (b.trim(), l),
        None => ("", c),
    };
    match Marker::parse(last) {
        Some(m) => ((!before.is_empty()).then(|| before.to_string()), Some(m)),
        None => (Some(c.to_string()), None),
    }
}

/// The spec and outputs of a live record.
fn observed(zone: &str, r: Record) -> (DnsRecord, DnsRecordOutputs, Option<Marker>) {
    let (note, marker) = split_comment(r.comment.as_deref());
    let name = hostname::normal(&r.name);
    let spec = DnsRecord {
        zone: Input::Value(ZoneId(zone.to_string())),
        name: Input::Value(name.clone()),
        data: RecordData::from_content(r.content),
        ttl: r.ttl,
        proxied: r.proxied,
        note,
        purpose: None,
    };
    let outputs = DnsRecordOutputs {
        zone_id: ZoneId(zone.to_string()),
        record_id: r.id.unwrap_or_default(),
        name,
    };
    (spec, outputs, marker)
}

impl Resource for DnsRecord {
    const KIND: &'static str = "cloudflare.dns_record";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["zone", "data.type"];
    const WRITE_ONLY: &'static [&'static str] = &["purpose"];
    const OUTPUTS_CHANGE_ON_UPDATE: &'static [&'static str] = &["name"];
    const HELD_BY_DEPENDENTS: bool = false;
    type Provider = Cloudflare;
    type Outputs = DnsRecordOutputs;

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if let Some(name) = self.name.known() {
            let n = hostname::normal(name);
            if n.is_empty() || !n.contains('.') || n.len() > 253 || n.contains(' ') {
                problems.push(problem(
                    "name",
                    format!("{name:?} is not a full DNS name"),
                    Some("give the whole name, e.g. api.madplan.com"),
                ));
            }
            if let RecordData::SRV(_) | RecordData::URI { .. } = &self.data
                && !n.starts_with('_')
            {
                problems.push(problem(
                    "name",
                    format!(
                        "{} records are named `_service._proto.host`",
                        self.data.type_name()
                    ),
                    Some("e.g. _sip._tcp.madplan.com"),
                ));
            }
        }
        if self.proxied && !self.data.proxiable() {
            problems.push(problem(
                "proxied",
                format!(
                    "{} records cannot be proxied; only A, AAAA and CNAME can",
                    self.data.type_name()
                ),
                None,
            ));
        }
        if self.proxied && self.ttl != Ttl::Auto {
            problems.push(problem(
                "ttl",
                "a proxied record's TTL is automatic",
                Some("use Ttl::Auto, or do not proxy it"),
            ));
        }
        if let Ttl::Seconds(s) = self.ttl
            && !(60..=86400).contains(&s)
        {
            problems.push(problem(
                "ttl",
                format!("{s} s is outside 60-86400"),
                Some("or Ttl::Auto"),
            ));
        }
        if self.purpose == Some(RecordPurpose::CertificateValidation) {
            if self.proxied {
                problems.push(problem(
                    "proxied",
                    "a certificate validation record is never proxied: the certificate \
                     authority must see the record itself, not Cloudflare's address",
                    Some("remove .proxied(true)"),
                ));
            }
            if !matches!(self.data, RecordData::CNAME(_) | RecordData::TXT(_)) {
                problems.push(problem(
                    "data",
                    "a certificate validation record is a CNAME or a TXT record",
                    None,
                ));
            }
        }
        if let Some(n) = &self.note
            && (n.contains('\n') || n.contains('\r'))
        {
            problems.push(problem("note", "a note cannot hold a line break", None));
        }
        match &self.data {
            RecordData::CNAME(t) => {
                if let (Some(t), Some(n)) = (t.known(), self.name.known())
                    && hostname::normal(t) == hostname::normal(n)
                {
                    problems.push(problem("data", "a CNAME cannot point at itself", None));
                }
                if t.known().is_some_and(|t| hostname::normal(t).is_empty()) {
                    problems.push(problem("data", "the CNAME's target is empty", None));
                }
            }
            RecordData::TXT(t) if t.is_empty() => {
                problems.push(problem("data", "the text is empty", None));
            }
            RecordData::CAA(d) => {
                if d.flags != 0 && d.flags != 128 {
                    problems.push(problem(
                        "data",
                        format!("CAA flags are 0 or 128 (critical), not {}", d.flags),
                        None,
                    ));
                }
                if !d.tag.is_known() {
                    problems.push(problem(
                        "data",
                        format!(
                            "CAA tag {:?} is not issue, issuewild or iodef",
                            d.tag.as_str()
                        ),
                        None,
                    ));
                }
                if d.value.trim().is_empty() {
                    problems.push(problem("data", "the CAA value is empty", None));
                }
            }
            RecordData::SRV(d) if d.target.trim().is_empty() => {
                problems.push(problem("data", "the SRV target is empty", None));
            }
            RecordData::Unreadable { .. } => {
                problems.push(problem(
                    "data",
                    "Unreadable is what a refresh shows for a record it cannot read; it is not written",
                    None,
                ));
            }
            _ => {}
        }
    }

    fn validate_kind(all: &[(Address, Self)], cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        let lineage = "0".repeat(32);
        for (address, r) in all {
            // The comment holds the note and the marker.
            let marker = format!("madplan:{}/{}/{lineage}", cx.environment(), address.name());
            let length = r.note.as_ref().map_or(0, |n| n.trim().chars().count() + 1)
                + marker.chars().count();
            if length > MAX_COMMENT {
                problems.push(Problem {
                    address: Some(address.clone()),
                    field: Some("note".into()),
                    message: format!(
                        "the comment (note and madplan's {}-character marker) would be {length} \
                         characters; Cloudflare keeps at most {MAX_COMMENT}",
                        marker.chars().count()
                    ),
                    hint: Some("shorten the note or the resource's name".into()),
                });
            }
        }
        // A CNAME cannot share its name with another record (81053).
        let mut seen: Vec<(&Address, &Input<ZoneId>, String, bool)> = Vec::new();
        for (address, r) in all {
            let Some(name) = r.name.known().map(|n| hostname::normal(n)) else {
                continue;
            };
            let cname = matches!(r.data, RecordData::CNAME(_));
            if let Some((other, ..)) = seen
                .iter()
                .find(|(_, z, n, c)| **z == r.zone && *n == name && (cname || *c))
            {
                problems.push(Problem {
                    address: Some(address.clone()),
                    field: Some("name".into()),
                    message: format!(
                        "{name} is also {other}'s name; a CNAME cannot share its name with \
                         another record"
                    ),
                    hint: None,
                });
            }
            seen.push((address, &r.zone, name, cname));
        }
    }

    async fn refresh(
        cf: &Cloudflare,
        cx: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        let zones = zones_to_read(cf, cx, |o| o.zone_id.as_str(), true).await?;
        let mut found = Vec::new();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for zone in &zones {
            let filter = RecordFilter {
                comment_contains: Some("madplan:".into()),
                ..RecordFilter::default()
            };
            let records = cf
                .client()
                .dns_records(zone, &filter)
                .await
                .map_err(|e| e.into_provider())?;
            for r in records {
                let (spec, outputs, marker) = observed(zone, r);
                let claim = match &marker {
                    Some(m) => cx.claim(|o| o.record_id == outputs.record_id, m.reads(Self::KIND)),
                    None => cx.claim(|o| o.record_id == outputs.record_id, |_| None),
                };
                if let Some(claim) = claim {
                    seen.insert(outputs.record_id.clone());
                    found.push(Found::new(claim, spec, outputs));
                }
            }
        }
        // Records the state tracks whose marker was edited away: read by id
        // (no call at all when every tracked record was listed).
        for t in &cx.tracked {
            if seen.contains(&t.outputs.record_id) {
                continue;
            }
            let zone = t.outputs.zone_id.as_str();
            match cf.client().dns_record(zone, &t.outputs.record_id).await {
                Ok(r) => {
                    let (spec, outputs, _) = observed(zone, r);
                    if let Some(claim) = cx.claim(|o| o.record_id == outputs.record_id, |_| None) {
                        found.push(Found::new(claim, spec, outputs));
                    }
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into_provider()),
            }
        }
        Ok(found)
    }

    async fn create(&self, cf: &Cloudflare, cx: &OpCx) -> Result<DnsRecordOutputs, ProviderError> {
        let zone = self.zone_id()?;
        let record = self.to_api(&Marker::of(cx))?;
        let made = cf
            .client()
            .create_dns_record(zone.as_str(), &record)
            .await
            .map_err(|e| e.into_provider())?;
        let outputs = DnsRecordOutputs {
            zone_id: zone.clone(),
            record_id: made.id.unwrap_or_default(),
            name: hostname::normal(&made.name),
        };
        cx.created(&outputs).await?;
        Ok(outputs)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        _changed: &[String],
        cf: &Cloudflare,
        cx: &OpCx,
    ) -> Result<DnsRecordOutputs, ProviderError> {
        let record = self.to_api(&Marker::of(cx))?;
        let zone = &prior.outputs.zone_id;
        let made = cf
            .client()
            .update_dns_record(zone.as_str(), &prior.outputs.record_id, &record)
            .await
            .map_err(|e| e.into_provider())?;
        Ok(DnsRecordOutputs {
            zone_id: zone.clone(),
            record_id: prior.outputs.record_id.clone(),
            name: hostname::normal(&made.name),
        })
    }

    async fn delete(
        o: &DnsRecordOutputs,
        cf: &Cloudflare,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        gone_is_done(
            cf.client()
                .delete_dns_record(o.zone_id.as_str(), &o.record_id)
                .await,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_split_into_note_and_marker() {
        let m = "madplan:production/api/0f1e2d3c4b5a69788796a5b4c3d2e1f0";
        let (note, marker) = split_comment(Some(&format!("points at the ALB {m}")));
        assert_eq!(note.as_deref(), Some("points at the ALB"));
        assert!(marker.is_some());
        let (note, marker) = split_comment(Some(m));
        assert_eq!((note, marker.is_some()), (None, true));
        let (note, marker) = split_comment(Some("web team's record"));
        assert_eq!((note.as_deref(), marker), (Some("web team's record"), None));
        assert_eq!(split_comment(None), (None, None));
    }

    #[test]
    fn host_names_are_kept_as_cloudflare_stores_them() {
        let r = DnsRecord::certificate_validation(
            "z",
            "_3f2a.API.madplan.com.",
            "_9c1b.xyz.acm-validations.aws.",
        );
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["name"], "_3f2a.api.madplan.com");
        assert_eq!(
            v["data"],
            serde_json::json!({"type": "CNAME", "value": "_9c1b.xyz.acm-validations.aws"})
        );
        let back: DnsRecord = serde_json::from_value(v).unwrap();
        assert_eq!(back.name, Input::Value("_3f2a.api.madplan.com".to_string()));
    }
}
