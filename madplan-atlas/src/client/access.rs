//! The project IP access list.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{Client, api_path, media};
use crate::error::Error;

/// What an entry lets in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// A block of addresses, e.g. `10.0.0.0/16`.
    Cidr(String),
    /// One address (Atlas also lists it as its `/32` block).
    Address(String),
    /// An AWS security group of a peered VPC, e.g. `sg-0123` (optionally
    /// `ACCOUNT/sg-0123`).
    SecurityGroup(String),
}

impl Source {
    /// The value that names the entry in paths.
    pub fn value(&self) -> &str {
        match self {
            Source::Cidr(v) | Source::Address(v) | Source::SecurityGroup(v) => v,
        }
    }
}

/// One entry of the access list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessEntry {
    /// What it lets in.
    pub source: Source,
    /// A note (at most 80 characters).
    pub comment: Option<String>,
}

impl AccessEntry {
    /// An entry for a block of addresses.
    pub fn cidr(block: impl Into<String>) -> Self {
        Self {
            source: Source::Cidr(block.into()),
            comment: None,
        }
    }

    /// An entry for one address.
    pub fn address(ip: impl Into<String>) -> Self {
        Self {
            source: Source::Address(ip.into()),
            comment: None,
        }
    }

    /// An entry for an AWS security group.
    pub fn security_group(id: impl Into<String>) -> Self {
        Self {
            source: Source::SecurityGroup(id.into()),
            comment: None,
        }
    }

    /// With a note.
    #[must_use]
    pub fn comment(mut self, c: impl Into<String>) -> Self {
        self.comment = Some(c.into());
        self
    }

    /// The value that names the entry in paths (the block, the address or
    /// the security group).
    pub fn value(&self) -> &str {
        self.source.value()
    }
}

/// An entry as Atlas sends and returns it.
#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cidr_block: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aws_security_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
}

impl Wire {
    fn from_entry(e: &AccessEntry) -> Self {
        let mut w = Wire {
            comment: e.comment.clone(),
            ..Wire::default()
        };
        match &e.source {
            Source::Cidr(v) => w.cidr_block = Some(v.clone()),
            Source::Address(v) => w.ip_address = Some(v.clone()),
            Source::SecurityGroup(v) => w.aws_security_group = Some(v.clone()),
        }
        w
    }

    /// Atlas returns a single address with both `ipAddress` and its /32
    /// block, a block alone, or a security group alone.
    fn entry(self) -> Option<AccessEntry> {
        let source = match (self.aws_security_group, self.ip_address, self.cidr_block) {
            (Some(sg), _, _) => Source::SecurityGroup(sg),
            (None, Some(ip), _) => Source::Address(ip),
            (None, None, Some(block)) => Source::Cidr(block),
            (None, None, None) => return None,
        };
        Some(AccessEntry {
            source,
            comment: self.comment,
        })
    }
}

impl Client {
    /// Adds entries to the project's access list (an entry for a value
    /// already listed replaces it).
    pub async fn add_access(&self, group: &str, entries: &[AccessEntry]) -> Result<(), Error> {
        let wire: Vec<Wire> = entries.iter().map(Wire::from_entry).collect();
        let body = serde_json::to_value(wire).map_err(|e| Error::config(e.to_string()))?;
        self.call::<serde_json::Value>(
            Method::POST,
            &api_path(&["groups", group, "accessList"]),
            &[],
            Some(body),
            media::ACCESS_LIST,
        )
        .await
        .map(|_| ())
    }

    /// Every entry of the project's access list.
    pub async fn access_list(&self, group: &str) -> Result<Vec<AccessEntry>, Error> {
        let listed: Vec<Wire> = self
            .all(
                &api_path(&["groups", group, "accessList"]),
                media::ACCESS_LIST,
            )
            .await?;
        Ok(listed.into_iter().filter_map(Wire::entry).collect())
    }

    /// Removes the entry whose block, address or security group is `value`.
    pub async fn remove_access(&self, group: &str, value: &str) -> Result<(), Error> {
        self.call::<serde_json::Value>(
            Method::DELETE,
            &api_path(&["groups", group, "accessList", value]),
            &[],
            None,
            media::ACCESS_LIST,
        )
        .await
        .map(|_| ())
    }
}
