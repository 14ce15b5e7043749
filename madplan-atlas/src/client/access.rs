//! The project IP access list.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{Client, media};
use crate::error::Error;

/// One entry: a CIDR block or a single address, never both (the type says
/// which).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AccessEntry {
    /// A block of addresses.
    Cidr {
        /// The block, e.g. `10.0.0.0/16`.
        #[serde(rename = "cidrBlock")]
        cidr_block: String,
        /// A note.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// One address.
    Address {
        /// The address.
        #[serde(rename = "ipAddress")]
        ip_address: String,
        /// A note.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
}

impl AccessEntry {
    /// The value that names the entry in paths (the block or the address).
    pub fn value(&self) -> &str {
        match self {
            AccessEntry::Cidr { cidr_block, .. } => cidr_block,
            AccessEntry::Address { ip_address, .. } => ip_address,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
    #[serde(default)]
    cidr_block: Option<String>,
    #[serde(default)]
    ip_address: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

impl Listed {
    fn entry(self) -> AccessEntry {
        // Atlas returns a single address with both fields (`ipAddress` and
        // its /32 block); a block comes without an address.
        match (self.ip_address, self.cidr_block) {
            (Some(ip_address), _) => AccessEntry::Address {
                ip_address,
                comment: self.comment,
            },
            (None, Some(cidr_block)) => AccessEntry::Cidr {
                cidr_block,
                comment: self.comment,
            },
            (None, None) => AccessEntry::Cidr {
                cidr_block: String::new(),
                comment: self.comment,
            },
        }
    }
}

fn encode(value: &str) -> String {
    value.replace('/', "%2F")
}

impl Client {
    /// Adds entries to the project's access list.
    pub async fn add_access(&self, group: &str, entries: &[AccessEntry]) -> Result<(), Error> {
        let body = serde_json::to_value(entries).map_err(|e| Error::config(e.to_string()))?;
        self.call::<serde_json::Value>(
            Method::POST,
            &format!("/api/atlas/v2/groups/{group}/accessList"),
            &[],
            Some(body),
            media::ACCESS_LIST,
        )
        .await
        .map(|_| ())
    }

    /// Every entry of the project's access list.
    pub async fn access_list(&self, group: &str) -> Result<Vec<AccessEntry>, Error> {
        let listed: Vec<Listed> = self
            .all(
                &format!("/api/atlas/v2/groups/{group}/accessList"),
                media::ACCESS_LIST,
            )
            .await?;
        Ok(listed.into_iter().map(Listed::entry).collect())
    }

    /// Removes the entry whose block or address is `value`.
    pub async fn remove_access(&self, group: &str, value: &str) -> Result<(), Error> {
        self.call::<serde_json::Value>(
            Method::DELETE,
            &format!("/api/atlas/v2/groups/{group}/accessList/{}", encode(value)),
            &[],
            None,
            media::ACCESS_LIST,
        )
        .await
        .map(|_| ())
    }
}
