//! Database auditing of a project.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{Client, api_path, media};
use crate::error::Error;

/// A project's auditing configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditLog {
    /// Whether auditing is on.
    #[serde(default)]
    pub enabled: bool,
    /// Whether successful authorizations are logged too (with `authCheck`
    /// in the filter, every read and write).
    #[serde(default)]
    pub audit_authorization_success: bool,
    /// The filter, a JSON document as a string (`{}`: every event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_filter: Option<String>,
    /// How the filter was made (`FILTER_BUILDER`, `FILTER_JSON`, `NONE`;
    /// read-only).
    #[serde(default, skip_serializing)]
    pub configuration_type: Option<String>,
}

impl Client {
    /// The project's auditing configuration.
    pub async fn audit_log(&self, group: &str) -> Result<AuditLog, Error> {
        self.fetch(
            Method::GET,
            &api_path(&["groups", group, "auditLog"]),
            None,
            media::AUDIT_LOG,
        )
        .await
    }

    /// Changes the project's auditing configuration.
    pub async fn update_audit_log(&self, group: &str, audit: &AuditLog) -> Result<AuditLog, Error> {
        if let Some(f) = &audit.audit_filter
            && !serde_json::from_str::<serde_json::Value>(f).is_ok_and(|v| v.is_object())
        {
            return Err(Error::invalid(
                "audit filter",
                format!("{f:?} is not a JSON document"),
            ));
        }
        let body = serde_json::to_value(audit).map_err(|e| Error::config(e.to_string()))?;
        self.fetch(
            Method::PATCH,
            &api_path(&["groups", group, "auditLog"]),
            Some(body),
            media::AUDIT_LOG,
        )
        .await
    }
}
