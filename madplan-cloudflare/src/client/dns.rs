//! DNS records.

use std::net::{Ipv4Addr, Ipv6Addr};

use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Client;
use crate::error::Error;

/// A record's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    AAAA,
    /// Alias to another name.
    CNAME,
    /// Text.
    TXT,
    /// Mail exchanger.
    MX,
    /// Certification authority authorization.
    CAA,
}

impl RecordType {
    /// Whether Cloudflare can proxy records of this type.
    pub fn proxiable(self) -> bool {
        matches!(self, RecordType::A | RecordType::AAAA | RecordType::CNAME)
    }

    fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::AAAA => "AAAA",
            RecordType::CNAME => "CNAME",
            RecordType::TXT => "TXT",
            RecordType::MX => "MX",
            RecordType::CAA => "CAA",
        }
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
    /// `seconds` if Cloudflare accepts it (60 to 86400).
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
        let n = u32::deserialize(d)?;
        Ok(if n == 1 { Ttl::Auto } else { Ttl::Seconds(n) })
    }
}

/// A DNS record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRecord {
    /// Its id (absent before it is created).
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: RecordType,
    /// The full name, e.g. `api.madplan.com`.
    pub name: String,
    /// The value (an address, a host name, text).
    pub content: String,
    /// Time to live.
    #[serde(default)]
    pub ttl: Ttl,
    /// Whether traffic goes through Cloudflare.
    #[serde(default)]
    pub proxied: bool,
    /// MX priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u16>,
    /// A note for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// `name:value` tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl DnsRecord {
    fn new(kind: RecordType, name: &str, content: String) -> Self {
        Self {
            id: None,
            kind,
            name: name.to_string(),
            content,
            ttl: Ttl::Auto,
            proxied: false,
            priority: None,
            comment: None,
            tags: Vec::new(),
        }
    }

    /// An A record.
    pub fn a(name: &str, address: Ipv4Addr) -> Self {
        Self::new(RecordType::A, name, address.to_string())
    }

    /// An AAAA record.
    pub fn aaaa(name: &str, address: Ipv6Addr) -> Self {
        Self::new(RecordType::AAAA, name, address.to_string())
    }

    /// A CNAME record.
    pub fn cname(name: &str, target: &str) -> Self {
        Self::new(RecordType::CNAME, name, target.to_string())
    }

    /// A TXT record.
    pub fn txt(name: &str, text: &str) -> Self {
        Self::new(RecordType::TXT, name, text.to_string())
    }

    /// An MX record.
    pub fn mx(name: &str, host: &str, priority: u16) -> Self {
        Self {
            priority: Some(priority),
            ..Self::new(RecordType::MX, name, host.to_string())
        }
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
        let bad = |message: String| {
            Err(Error::invalid(
                format!("{} record {}", self.kind.as_str(), self.name),
                message,
            ))
        };
        if self.name.trim().is_empty() {
            return bad("the name is empty".into());
        }
        if self.proxied && !self.kind.proxiable() {
            return bad("only A, AAAA and CNAME records can be proxied".into());
        }
        if self.proxied && self.ttl != Ttl::Auto {
            return bad("a proxied record's TTL is automatic".into());
        }
        if let Ttl::Seconds(n) = self.ttl {
            Ttl::seconds(n)?;
        }
        match self.kind {
            RecordType::A if self.content.parse::<Ipv4Addr>().is_err() => {
                bad(format!("{:?} is not an IPv4 address", self.content))
            }
            RecordType::AAAA if self.content.parse::<Ipv6Addr>().is_err() => {
                bad(format!("{:?} is not an IPv6 address", self.content))
            }
            RecordType::CNAME if self.content == self.name => {
                bad("a CNAME cannot point at itself".into())
            }
            RecordType::MX if self.priority.is_none() => {
                bad("an MX record needs a priority".into())
            }
            _ if self.content.is_empty() => bad("the content is empty".into()),
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
}

impl Client {
    /// Every record of the zone matching `filter`, all pages.
    pub async fn dns_records(
        &self,
        zone_id: &str,
        filter: &RecordFilter,
    ) -> Result<Vec<DnsRecord>, Error> {
        let mut q = Vec::new();
        if let Some(n) = &filter.name {
            q.push(("name", n.clone()));
        }
        if let Some(k) = filter.kind {
            q.push(("type", k.as_str().to_string()));
        }
        self.all(&format!("/zones/{zone_id}/dns_records"), &q, 100)
            .await
    }

    /// Creates a record.
    pub async fn create_dns_record(
        &self,
        zone_id: &str,
        record: &DnsRecord,
    ) -> Result<DnsRecord, Error> {
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
        record: &DnsRecord,
    ) -> Result<DnsRecord, Error> {
        record.check()?;
        self.result(
            Method::PUT,
            &format!("/zones/{zone_id}/dns_records/{id}"),
            &[],
            Some(record),
        )
        .await
    }

    /// Deletes the record `id`.
    pub async fn delete_dns_record(&self, zone_id: &str, id: &str) -> Result<(), Error> {
        self.result::<serde_json::Value, ()>(
            Method::DELETE,
            &format!("/zones/{zone_id}/dns_records/{id}"),
            &[],
            None,
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn records_cloudflare_would_refuse_are_caught() {
        assert!(
            DnsRecord::a("a.example.com", Ipv4Addr::LOCALHOST)
                .check()
                .is_ok()
        );
        assert!(
            DnsRecord::txt("t.example.com", "x")
                .proxied(true)
                .check()
                .is_err()
        );
        assert!(
            DnsRecord::a("a.example.com", Ipv4Addr::LOCALHOST)
                .proxied(true)
                .ttl(Ttl::Seconds(300))
                .check()
                .is_err()
        );
        let mut bad = DnsRecord::a("a.example.com", Ipv4Addr::LOCALHOST);
        bad.content = "not-an-ip".into();
        assert!(
            bad.check()
                .unwrap_err()
                .to_string()
                .contains("not an IPv4 address")
        );
        assert!(
            DnsRecord::cname("a.example.com", "a.example.com")
                .check()
                .is_err()
        );
    }
}
