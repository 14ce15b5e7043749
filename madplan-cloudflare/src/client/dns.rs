//! DNS records: every type Cloudflare has, each with its typed content.

use std::net::{Ipv4Addr, Ipv6Addr};

use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::Client;
use super::strings::string_enum;
use crate::error::Error;

string_enum! {
    /// A record's type.
    pub enum RecordType {
        /// IPv4 address.
        A = "A",
        /// IPv6 address.
        AAAA = "AAAA",
        /// Certification authority authorization.
        CAA = "CAA",
        /// Certificate.
        CERT = "CERT",
        /// Alias to another name.
        CNAME = "CNAME",
        /// DNSSEC public key.
        DNSKEY = "DNSKEY",
        /// Delegation signer.
        DS = "DS",
        /// HTTPS service binding.
        HTTPS = "HTTPS",
        /// Location.
        LOC = "LOC",
        /// Mail exchanger.
        MX = "MX",
        /// Naming authority pointer.
        NAPTR = "NAPTR",
        /// Name server.
        NS = "NS",
        /// OpenPGP public key.
        OPENPGPKEY = "OPENPGPKEY",
        /// Pointer.
        PTR = "PTR",
        /// S/MIME certificate association.
        SMIMEA = "SMIMEA",
        /// Service locator.
        SRV = "SRV",
        /// SSH public key fingerprint.
        SSHFP = "SSHFP",
        /// General service binding.
        SVCB = "SVCB",
        /// TLS certificate association.
        TLSA = "TLSA",
        /// Text.
        TXT = "TXT",
        /// Uniform resource identifier.
        URI = "URI",
    }
}

impl RecordType {
    /// Whether Cloudflare can proxy records of this type.
    pub fn proxiable(&self) -> bool {
        matches!(self, RecordType::A | RecordType::AAAA | RecordType::CNAME)
    }
}

/// A record's time to live: automatic (sent as 1) or 60 to 86400 seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ttl {
    /// Cloudflare chooses (always the case for proxied records).
    #[default]
    Auto,
    /// A number of seconds.
    Seconds(u32),
}

impl Ttl {
    /// `seconds` if Cloudflare accepts it (60 to 86400; the 30-second
    /// minimum of Enterprise zones is not offered).
    pub fn seconds(seconds: u32) -> Result<Ttl, Error> {
        if (60..=86400).contains(&seconds) {
            Ok(Ttl::Seconds(seconds))
        } else {
            Err(Error::invalid(
                "TTL",
                format!("{seconds} s is outside 60-86400 (use Ttl::Auto for automatic)"),
            ))
        }
    }
}

impl Serialize for Ttl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Ttl::Auto => s.serialize_u32(1),
            Ttl::Seconds(n) => s.serialize_u32(*n),
        }
    }
}

impl<'de> Deserialize<'de> for Ttl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Cloudflare sends whole numbers; a float from a loose encoder is
        // taken too.
        let n = f64::deserialize(d)?;
        if !(n >= 0.0 && n <= f64::from(u32::MAX) && n.fract() == 0.0) {
            return Err(serde::de::Error::custom(format!("{n} is not a TTL")));
        }
        let n = n as u32;
        Ok(if n == 1 { Ttl::Auto } else { Ttl::Seconds(n) })
    }
}

string_enum! {
    /// A CAA record's property tag.
    pub enum CaaTag {
        /// Which CA may issue certificates for the name.
        Issue = "issue",
        /// Which CA may issue wildcard certificates.
        IssueWild = "issuewild",
        /// Where CAs report policy violations.
        Iodef = "iodef",
    }
}

/// A CAA record's `data`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CaaData {
    /// 0, or 128 (critical).
    pub flags: u8,
    /// The property.
    pub tag: CaaTag,
    /// Its value, e.g. `letsencrypt.org`.
    pub value: String,
}

/// An SRV record's `data` (its name, `_service._proto.host`, is the
/// record's name).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SrvData {
    /// Lower is tried first.
    pub priority: u16,
    /// Relative weight among equal priorities.
    pub weight: u16,
    /// The port.
    pub port: u16,
    /// The host that serves it.
    pub target: String,
}

/// An HTTPS or SVCB record's `data`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SvcData {
    /// 0 for alias mode, else the service priority.
    pub priority: u16,
    /// The target name (`.` for the owner name).
    pub target: String,
    /// The service parameters, e.g. `alpn="h3,h2"`.
    pub value: String,
}

/// A URI record's `data` (its priority is the record's).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UriData {
    /// Relative weight among equal priorities.
    pub weight: u16,
    /// The URI.
    pub content: String,
}

/// A CERT record's `data`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CertData {
    /// The certificate type.
    #[serde(rename = "type")]
    pub cert_type: u16,
    /// The key tag.
    pub key_tag: u16,
    /// The algorithm.
    pub algorithm: u8,
    /// The certificate, base64.
    pub certificate: String,
}

/// A DNSKEY record's `data`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DnskeyData {
    /// Flags.
    pub flags: u16,
    /// Protocol (3).
    pub protocol: u8,
    /// Algorithm.
    pub algorithm: u8,
    /// The public key, base64.
    pub public_key: String,
}

/// A DS record's `data`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DsData {
    /// The key tag.
    pub key_tag: u16,
    /// The algorithm.
    pub algorithm: u8,
    /// The digest type.
    pub digest_type: u8,
    /// The digest, hex.
    pub digest: String,
}

/// Latitude hemisphere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LatDirection {
    /// North.
    N,
    /// South.
    S,
}

/// Longitude hemisphere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LongDirection {
    /// East.
    E,
    /// West.
    W,
}

/// A LOC record's `data` (lengths in metres, as Cloudflare takes them).
#[derive(Clone, Debug, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct LocData {
    /// Degrees of latitude, 0-90.
    pub lat_degrees: u8,
    /// Minutes, 0-59.
    pub lat_minutes: u8,
    /// Seconds, 0-59.999.
    pub lat_seconds: f64,
    /// Hemisphere.
    pub lat_direction: LatDirection,
    /// Degrees of longitude, 0-180.
    pub long_degrees: u8,
    /// Minutes, 0-59.
    pub long_minutes: u8,
    /// Seconds, 0-59.999.
    pub long_seconds: f64,
    /// Hemisphere.
    pub long_direction: LongDirection,
    /// Altitude, -100000 to 42849672.95.
    pub altitude: f64,
    /// Size.
    pub size: f64,
    /// Horizontal precision.
    pub precision_horz: f64,
    /// Vertical precision.
    pub precision_vert: f64,
}

/// A NAPTR record's `data`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NaptrData {
    /// Order.
    pub order: u16,
    /// Preference.
    pub preference: u16,
    /// Flags, e.g. `S`.
    pub flags: String,
    /// Service, e.g. `SIP+D2U`.
    pub service: String,
    /// Regular expression.
    pub regex: String,
    /// Replacement name.
    pub replacement: String,
}

/// A TLSA or SMIMEA record's `data`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TlsaData {
    /// Certificate usage.
    pub usage: u8,
    /// Selector.
    pub selector: u8,
    /// Matching type.
    pub matching_type: u8,
    /// The association data, hex.
    pub certificate: String,
}

/// An SSHFP record's `data`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SshfpData {
    /// The key algorithm.
    pub algorithm: u8,
    /// The fingerprint type.
    #[serde(rename = "type")]
    pub fingerprint_type: u8,
    /// The fingerprint, hex.
    pub fingerprint: String,
}

/// What a record holds, by type: `content` for the simple types, `data`
/// for the structured ones (CAA uses `data { flags, tag, value }`, not
/// `content`), and anything else kept raw.
#[derive(Clone, Debug, PartialEq)]
pub enum RecordContent {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    AAAA(Ipv6Addr),
    /// A host name.
    CNAME(String),
    /// Text.
    TXT(String),
    /// A name server.
    NS(String),
    /// A host name.
    PTR(String),
    /// A mail host and its priority.
    MX {
        /// The mail host.
        host: String,
        /// Lower is tried first.
        priority: u16,
    },
    /// An OpenPGP key, base64.
    OPENPGPKEY(String),
    /// A CAA property.
    CAA(CaaData),
    /// A service locator.
    SRV(SrvData),
    /// An HTTPS service binding.
    HTTPS(SvcData),
    /// A general service binding.
    SVCB(SvcData),
    /// A URI with its priority.
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
    /// A type this version does not model, or a record whose fields did
    /// not decode: kept as Cloudflare sent it.
    Other {
        /// Its type.
        kind: RecordType,
        /// Its `content`.
        content: Option<String>,
        /// Its `data`.
        data: Option<Value>,
        /// Its `priority`.
        priority: Option<u16>,
    },
}

impl RecordContent {
    /// The record type.
    pub fn kind(&self) -> RecordType {
        match self {
            RecordContent::A(_) => RecordType::A,
            RecordContent::AAAA(_) => RecordType::AAAA,
            RecordContent::CNAME(_) => RecordType::CNAME,
            RecordContent::TXT(_) => RecordType::TXT,
            RecordContent::NS(_) => RecordType::NS,
            RecordContent::PTR(_) => RecordType::PTR,
            RecordContent::MX { .. } => RecordType::MX,
            RecordContent::OPENPGPKEY(_) => RecordType::OPENPGPKEY,
            RecordContent::CAA(_) => RecordType::CAA,
            RecordContent::SRV(_) => RecordType::SRV,
            RecordContent::HTTPS(_) => RecordType::HTTPS,
            RecordContent::SVCB(_) => RecordType::SVCB,
            RecordContent::URI { .. } => RecordType::URI,
            RecordContent::CERT(_) => RecordType::CERT,
            RecordContent::DNSKEY(_) => RecordType::DNSKEY,
            RecordContent::DS(_) => RecordType::DS,
            RecordContent::LOC(_) => RecordType::LOC,
            RecordContent::NAPTR(_) => RecordType::NAPTR,
            RecordContent::SMIMEA(_) => RecordType::SMIMEA,
            RecordContent::SSHFP(_) => RecordType::SSHFP,
            RecordContent::TLSA(_) => RecordType::TLSA,
            RecordContent::Other { kind, .. } => kind.clone(),
        }
    }

    /// The wire fields: `content`, `data`, `priority`.
    fn wire(&self) -> (Option<String>, Option<Value>, Option<u16>) {
        fn data<T: Serialize>(d: &T) -> Option<Value> {
            serde_json::to_value(d).ok()
        }
        match self {
            RecordContent::A(a) => (Some(a.to_string()), None, None),
            RecordContent::AAAA(a) => (Some(a.to_string()), None, None),
            RecordContent::CNAME(s)
            | RecordContent::TXT(s)
            | RecordContent::NS(s)
            | RecordContent::PTR(s)
            | RecordContent::OPENPGPKEY(s) => (Some(s.clone()), None, None),
            RecordContent::MX { host, priority } => (Some(host.clone()), None, Some(*priority)),
            RecordContent::CAA(d) => (None, data(d), None),
            RecordContent::SRV(d) => (None, data(d), None),
            RecordContent::HTTPS(d) | RecordContent::SVCB(d) => (None, data(d), None),
            RecordContent::URI { priority, data: d } => (None, data(d), Some(*priority)),
            RecordContent::CERT(d) => (None, data(d), None),
            RecordContent::DNSKEY(d) => (None, data(d), None),
            RecordContent::DS(d) => (None, data(d), None),
            RecordContent::LOC(d) => (None, data(d), None),
            RecordContent::NAPTR(d) => (None, data(d), None),
            RecordContent::SMIMEA(d) | RecordContent::TLSA(d) => (None, data(d), None),
            RecordContent::SSHFP(d) => (None, data(d), None),
            RecordContent::Other {
                content,
                data,
                priority,
                ..
            } => (content.clone(), data.clone(), *priority),
        }
    }

    /// Reads the wire fields of a record of type `kind`; what does not
    /// decode is kept raw in [`RecordContent::Other`].
    fn from_wire(
        kind: RecordType,
        content: Option<String>,
        data: Option<Value>,
        priority: Option<u16>,
    ) -> Self {
        fn typed<T: serde::de::DeserializeOwned>(d: &Option<Value>) -> Option<T> {
            d.as_ref()
                .and_then(|v| serde_json::from_value(v.clone()).ok())
        }
        let text = || content.clone();
        let known = match &kind {
            RecordType::A => text().and_then(|c| c.parse().ok()).map(RecordContent::A),
            RecordType::AAAA => text().and_then(|c| c.parse().ok()).map(RecordContent::AAAA),
            RecordType::CNAME => text().map(RecordContent::CNAME),
            RecordType::TXT => text().map(RecordContent::TXT),
            RecordType::NS => text().map(RecordContent::NS),
            RecordType::PTR => text().map(RecordContent::PTR),
            RecordType::OPENPGPKEY => text().map(RecordContent::OPENPGPKEY),
            RecordType::MX => text()
                .zip(priority)
                .map(|(host, priority)| RecordContent::MX { host, priority }),
            RecordType::CAA => typed(&data).map(RecordContent::CAA),
            RecordType::SRV => typed(&data).map(RecordContent::SRV),
            RecordType::HTTPS => typed(&data).map(RecordContent::HTTPS),
            RecordType::SVCB => typed(&data).map(RecordContent::SVCB),
            RecordType::URI => typed(&data)
                .zip(priority)
                .map(|(data, priority)| RecordContent::URI { priority, data }),
            RecordType::CERT => typed(&data).map(RecordContent::CERT),
            RecordType::DNSKEY => typed(&data).map(RecordContent::DNSKEY),
            RecordType::DS => typed(&data).map(RecordContent::DS),
            RecordType::LOC => typed(&data).map(RecordContent::LOC),
            RecordType::NAPTR => typed(&data).map(RecordContent::NAPTR),
            RecordType::SMIMEA => typed(&data).map(RecordContent::SMIMEA),
            RecordType::SSHFP => typed(&data).map(RecordContent::SSHFP),
            RecordType::TLSA => typed(&data).map(RecordContent::TLSA),
            RecordType::Other(_) => None,
        };
        known.unwrap_or(RecordContent::Other {
            kind,
            content,
            data,
            priority,
        })
    }
}

/// A DNS record.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Its id (absent before it is created).
    pub id: Option<String>,
    /// The full name, e.g. `api.madplan.com`.
    pub name: String,
    /// Its type and what it holds.
    pub content: RecordContent,
    /// Time to live.
    pub ttl: Ttl,
    /// Whether traffic goes through Cloudflare.
    pub proxied: bool,
    /// A note for people (madplan keeps its marker here).
    pub comment: Option<String>,
    /// `name:value` tags (paid plans).
    pub tags: Vec<String>,
}

/// A record as it travels.
#[derive(Serialize, Deserialize)]
struct WireRecord {
    #[serde(default, skip_serializing)]
    id: Option<String>,
    #[serde(rename = "type")]
    kind: RecordType,
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    priority: Option<u16>,
    #[serde(default)]
    ttl: Ttl,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    proxied: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<String>>,
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kind = self.content.kind();
        let (content, data, priority) = self.content.wire();
        WireRecord {
            id: None,
            proxied: kind.proxiable().then_some(self.proxied),
            kind,
            name: self.name.clone(),
            content,
            data,
            priority,
            ttl: self.ttl,
            comment: self.comment.clone(),
            tags: (!self.tags.is_empty()).then(|| self.tags.clone()),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = WireRecord::deserialize(d)?;
        Ok(Record {
            id: w.id,
            name: w.name,
            content: RecordContent::from_wire(w.kind, w.content, w.data, w.priority),
            ttl: w.ttl,
            proxied: w.proxied.unwrap_or(false),
            comment: w.comment.filter(|c| !c.is_empty()),
            tags: w.tags.unwrap_or_default(),
        })
    }
}

impl Record {
    /// A record of `name` holding `content`, automatic TTL, not proxied.
    pub fn new(name: &str, content: RecordContent) -> Self {
        Self {
            id: None,
            name: name.to_string(),
            content,
            ttl: Ttl::Auto,
            proxied: false,
            comment: None,
            tags: Vec::new(),
        }
    }

    /// An A record.
    pub fn a(name: &str, address: Ipv4Addr) -> Self {
        Self::new(name, RecordContent::A(address))
    }

    /// An AAAA record.
    pub fn aaaa(name: &str, address: Ipv6Addr) -> Self {
        Self::new(name, RecordContent::AAAA(address))
    }

    /// A CNAME record.
    pub fn cname(name: &str, target: &str) -> Self {
        Self::new(name, RecordContent::CNAME(target.to_string()))
    }

    /// A TXT record.
    pub fn txt(name: &str, text: &str) -> Self {
        Self::new(name, RecordContent::TXT(text.to_string()))
    }

    /// An MX record.
    pub fn mx(name: &str, host: &str, priority: u16) -> Self {
        Self::new(
            name,
            RecordContent::MX {
                host: host.to_string(),
                priority,
            },
        )
    }

    /// A CAA record.
    pub fn caa(name: &str, flags: u8, tag: CaaTag, value: &str) -> Self {
        Self::new(
            name,
            RecordContent::CAA(CaaData {
                flags,
                tag,
                value: value.to_string(),
            }),
        )
    }

    /// Its type.
    pub fn kind(&self) -> RecordType {
        self.content.kind()
    }

    /// Proxied through Cloudflare.
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

    /// With a comment.
    #[must_use]
    pub fn comment(mut self, comment: &str) -> Self {
        self.comment = Some(comment.to_string());
        self
    }

    /// With tags (`name:value`).
    #[must_use]
    pub fn tags(mut self, tags: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// The rules Cloudflare enforces that the 2023 OpenAPI schema does not
    /// (it accepts almost any body), checked before sending.
    pub fn check(&self) -> Result<(), Error> {
        let kind = self.kind();
        let bad = |message: String| {
            Err(Error::invalid(
                format!("{kind} record {}", self.name),
                message,
            ))
        };
        if self.name.trim().is_empty() {
            return bad("the name is empty".into());
        }
        if self.name.len() > 255 {
            return bad("the name is longer than 255 characters".into());
        }
        if self.proxied && !kind.proxiable() {
            return bad("only A, AAAA and CNAME records can be proxied".into());
        }
        if self.proxied && self.ttl != Ttl::Auto {
            return bad("a proxied record's TTL is automatic".into());
        }
        if let Ttl::Seconds(n) = self.ttl {
            Ttl::seconds(n)?;
        }
        if let Some(c) = &self.comment
            && (c.contains('\n') || c.contains('\r'))
        {
            return bad("a comment cannot hold a line break".into());
        }
        let empty = |s: &str| s.trim().is_empty();
        match &self.content {
            RecordContent::CNAME(t)
                if t.trim_end_matches('.') == self.name.trim_end_matches('.') =>
            {
                bad("a CNAME cannot point at itself".into())
            }
            RecordContent::CNAME(s)
            | RecordContent::TXT(s)
            | RecordContent::NS(s)
            | RecordContent::PTR(s)
            | RecordContent::OPENPGPKEY(s)
                if empty(s) =>
            {
                bad("the content is empty".into())
            }
            RecordContent::MX { host, .. } if empty(host) => bad("the mail host is empty".into()),
            RecordContent::CAA(d) if d.flags != 0 && d.flags != 128 => bad(format!(
                "CAA flags are 0 or 128 (critical), not {}",
                d.flags
            )),
            RecordContent::CAA(d) if empty(&d.value) => bad("the CAA value is empty".into()),
            RecordContent::SRV(d) if empty(&d.target) => bad("the SRV target is empty".into()),
            RecordContent::SRV(_) if !self.name.starts_with('_') => bad(
                "an SRV record's name is `_service._proto.name`, e.g. _sip._tcp.madplan.com".into(),
            ),
            RecordContent::URI { data, .. } if empty(&data.content) => {
                bad("the URI is empty".into())
            }
            RecordContent::LOC(d)
                if d.lat_degrees > 90
                    || d.long_degrees > 180
                    || d.lat_minutes > 59
                    || d.long_minutes > 59
                    || !(0.0..60.0).contains(&d.lat_seconds)
                    || !(0.0..60.0).contains(&d.long_seconds) =>
            {
                bad("the location is out of range".into())
            }
            RecordContent::Other { kind, .. } => bad(format!(
                "madplan does not write {kind} records with this content"
            )),
            _ => Ok(()),
        }
    }
}

/// Which records to list.
#[derive(Clone, Debug, Default)]
pub struct RecordFilter {
    /// Only this full name.
    pub name: Option<String>,
    /// Only this type.
    pub kind: Option<RecordType>,
    /// Only records whose comment contains this text.
    pub comment_contains: Option<String>,
}

impl Client {
    /// Every record of the zone matching `filter`, all pages (100 a page).
    pub async fn dns_records(
        &self,
        zone_id: &str,
        filter: &RecordFilter,
    ) -> Result<Vec<Record>, Error> {
        let mut q = Vec::new();
        if let Some(n) = &filter.name {
            q.push(("name", n.clone()));
        }
        if let Some(k) = &filter.kind {
            q.push(("type", k.as_str().to_string()));
        }
        if let Some(c) = &filter.comment_contains {
            q.push(("comment.contains", c.clone()));
        }
        self.all(&format!("/zones/{zone_id}/dns_records"), &q, 100)
            .await
    }

    /// The record `id`.
    pub async fn dns_record(&self, zone_id: &str, id: &str) -> Result<Record, Error> {
        self.result::<_, ()>(
            Method::GET,
            &format!("/zones/{zone_id}/dns_records/{id}"),
            &[],
            None,
        )
        .await
    }

    /// Creates a record.
    pub async fn create_dns_record(&self, zone_id: &str, record: &Record) -> Result<Record, Error> {
        record.check()?;
        self.result(
            Method::POST,
            &format!("/zones/{zone_id}/dns_records"),
            &[],
            Some(record),
        )
        .await
    }

    /// Replaces the record `id` with `record`.
    pub async fn update_dns_record(
        &self,
        zone_id: &str,
        id: &str,
        record: &Record,
    ) -> Result<Record, Error> {
        record.check()?;
        self.result(
            Method::PUT,
            &format!("/zones/{zone_id}/dns_records/{id}"),
            &[],
            Some(record),
        )
        .await
    }

    /// Deletes the record `id`. Not finding it is an error
    /// ([`Error::is_not_found`]) unless an earlier attempt of this call,
    /// whose answer was lost, deleted it.
    pub async fn delete_dns_record(&self, zone_id: &str, id: &str) -> Result<(), Error> {
        self.delete(&format!("/zones/{zone_id}/dns_records/{id}"))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ttl_one_means_automatic() {
        assert_eq!(serde_json::to_value(Ttl::Auto).unwrap(), 1);
        assert_eq!(serde_json::from_value::<Ttl>(1.into()).unwrap(), Ttl::Auto);
        assert_eq!(
            serde_json::from_value::<Ttl>(300.into()).unwrap(),
            Ttl::Seconds(300)
        );
        assert!(Ttl::seconds(30).is_err());
        assert!(Ttl::seconds(86401).is_err());
    }

    #[test]
    fn records_of_every_type_decode_and_unknown_ones_are_kept() {
        let answer = json!([
            {"id": "1", "type": "A", "name": "a.example.com", "content": "192.0.2.1", "proxied": true, "ttl": 1},
            {"id": "2", "type": "CAA", "name": "example.com", "content": "0 issue \"letsencrypt.org\"",
             "data": {"flags": 0, "tag": "issue", "value": "letsencrypt.org"}, "ttl": 3600},
            {"id": "3", "type": "SRV", "name": "_sip._tcp.example.com", "content": "10 5060 sip.example.com",
             "data": {"priority": 10, "weight": 20, "port": 5060, "target": "sip.example.com"}, "ttl": 1},
            {"id": "4", "type": "HTTPS", "name": "example.com",
             "data": {"priority": 1, "target": ".", "value": "alpn=\"h3,h2\""}, "ttl": 1},
            {"id": "5", "type": "NS", "name": "sub.example.com", "content": "ns1.other.net", "ttl": 86400},
            {"id": "6", "type": "MX", "name": "example.com", "content": "mx.example.com", "priority": 10, "ttl": 1},
            {"id": "7", "type": "WKS", "name": "old.example.com", "content": "something new", "ttl": 1},
            {"id": "8", "type": "CAA", "name": "broken.example.com", "data": {"flags": "x"}, "ttl": 1},
            {"id": "9", "type": "URI", "name": "_ftp._tcp.example.com", "priority": 10,
             "data": {"weight": 1, "content": "ftp://example.com/"}, "ttl": 1},
        ]);
        let records: Vec<Record> = serde_json::from_value(answer).unwrap();
        assert_eq!(records.len(), 9);
        assert_eq!(
            records[1].content,
            RecordContent::CAA(CaaData {
                flags: 0,
                tag: CaaTag::Issue,
                value: "letsencrypt.org".into()
            })
        );
        assert!(matches!(&records[2].content, RecordContent::SRV(d) if d.port == 5060));
        assert!(matches!(&records[3].content, RecordContent::HTTPS(d) if d.target == "."));
        assert_eq!(records[5].kind(), RecordType::MX);
        assert!(matches!(
            &records[6].content,
            RecordContent::Other { kind: RecordType::Other(k), content: Some(c), .. } if k == "WKS" && c == "something new"
        ));
        assert!(matches!(
            &records[7].content,
            RecordContent::Other {
                kind: RecordType::CAA,
                ..
            }
        ));
        assert!(matches!(
            &records[8].content,
            RecordContent::URI { priority: 10, .. }
        ));
        // Written back, an unknown record keeps its fields.
        let again = serde_json::to_value(&records[6]).unwrap();
        assert_eq!(again["type"], "WKS");
        assert_eq!(again["content"], "something new");
    }

    #[test]
    fn caa_is_sent_as_data_not_content() {
        let r = Record::caa("example.com", 0, CaaTag::Issue, "letsencrypt.org");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            json!({"type": "CAA", "name": "example.com", "ttl": 1,
                   "data": {"flags": 0, "tag": "issue", "value": "letsencrypt.org"}})
        );
        let a = serde_json::to_value(Record::a("a.example.com", Ipv4Addr::LOCALHOST)).unwrap();
        assert_eq!(a["proxied"], false, "proxiable types say so");
        assert_eq!(a["content"], "127.0.0.1");
    }

    #[test]
    fn records_cloudflare_would_refuse_are_caught() {
        assert!(
            Record::a("a.example.com", Ipv4Addr::LOCALHOST)
                .check()
                .is_ok()
        );
        assert!(
            Record::txt("t.example.com", "x")
                .proxied(true)
                .check()
                .is_err()
        );
        assert!(
            Record::a("a.example.com", Ipv4Addr::LOCALHOST)
                .proxied(true)
                .ttl(Ttl::Seconds(300))
                .check()
                .is_err()
        );
        assert!(
            Record::cname("a.example.com", "a.example.com.")
                .check()
                .is_err()
        );
        assert!(
            Record::caa("example.com", 7, CaaTag::Issue, "letsencrypt.org")
                .check()
                .unwrap_err()
                .to_string()
                .contains("0 or 128")
        );
        assert!(
            Record::txt("t.example.com", "a\nb")
                .comment("x\ny")
                .check()
                .is_err()
        );
    }
}
