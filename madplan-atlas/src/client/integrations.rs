//! Third-party integrations of a project (Datadog).

use std::fmt;

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::open::open_enum;
use super::{Client, api_path, media};
use crate::error::Error;

/// The integration type of Datadog.
pub const DATADOG: &str = "DATADOG";

open_enum!(
    /// The Datadog site Atlas sends metrics to, as Atlas names it.
    DatadogRegion {
        /// US1, `datadoghq.com`.
        Us = "US",
        /// US3, `us3.datadoghq.com`.
        Us3 = "US3",
        /// US5, `us5.datadoghq.com`.
        Us5 = "US5",
        /// EU1, `datadoghq.eu`.
        Eu = "EU",
        /// AP1, `ap1.datadoghq.com`.
        Ap1 = "AP1",
        /// AP2, `ap2.datadoghq.com`.
        Ap2 = "AP2",
        /// US1-FED, `ddog-gov.com`.
        Us1Fed = "US1_FED",
    }
);

/// The Datadog integration to configure. The API key is a secret.
#[derive(Clone)]
pub struct Datadog {
    /// The Datadog API key.
    pub api_key: SecretString,
    /// The Datadog site.
    pub region: DatadogRegion,
    /// Send database metrics (database names, collection counts, sizes).
    pub send_database_metrics: bool,
    /// Send collection latency metrics.
    pub send_collection_latency_metrics: bool,
    /// Send query shape statistics.
    pub send_query_stats_metrics: bool,
    /// Send the project's and clusters' tags with the metrics.
    pub send_user_provided_resource_tags: bool,
}

impl fmt::Debug for Datadog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Datadog")
            .field("api_key", &"[redacted]")
            .field("region", &self.region)
            .field("send_database_metrics", &self.send_database_metrics)
            .field(
                "send_collection_latency_metrics",
                &self.send_collection_latency_metrics,
            )
            .field("send_query_stats_metrics", &self.send_query_stats_metrics)
            .field(
                "send_user_provided_resource_tags",
                &self.send_user_provided_resource_tags,
            )
            .finish()
    }
}

impl Datadog {
    fn body(&self) -> serde_json::Value {
        json!({
            "type": DATADOG,
            "apiKey": self.api_key.expose_secret(),
            "region": self.region,
            "sendDatabaseMetrics": self.send_database_metrics,
            "sendCollectionLatencyMetrics": self.send_collection_latency_metrics,
            "sendQueryStatsMetrics": self.send_query_stats_metrics,
            "sendUserProvidedResourceTags": self.send_user_provided_resource_tags,
        })
    }
}

/// An integration as Atlas returns it (keys come back partly redacted).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    /// Its id.
    #[serde(default)]
    pub id: Option<String>,
    /// Its type, e.g. `DATADOG`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The region, for Datadog.
    #[serde(default)]
    pub region: Option<DatadogRegion>,
    /// Database metrics, for Datadog.
    #[serde(default)]
    pub send_database_metrics: bool,
    /// Collection latency metrics, for Datadog.
    #[serde(default)]
    pub send_collection_latency_metrics: bool,
    /// Query statistics, for Datadog.
    #[serde(default)]
    pub send_query_stats_metrics: bool,
    /// Resource tags, for Datadog.
    #[serde(default)]
    pub send_user_provided_resource_tags: bool,
}

#[derive(Deserialize)]
struct Listed {
    #[serde(default)]
    results: Vec<Integration>,
}

impl Client {
    /// Every integration of the project.
    pub async fn integrations(&self, group: &str) -> Result<Vec<Integration>, Error> {
        self.all(
            &api_path(&["groups", group, "integrations"]),
            media::INTEGRATIONS,
        )
        .await
    }

    /// Configures the Datadog integration (`replace`: it exists already).
    pub async fn set_datadog(
        &self,
        group: &str,
        datadog: &Datadog,
        replace: bool,
    ) -> Result<Vec<Integration>, Error> {
        let method = if replace { Method::PUT } else { Method::POST };
        let listed: Listed = self
            .fetch(
                method,
                &api_path(&["groups", group, "integrations", DATADOG]),
                Some(datadog.body()),
                media::INTEGRATIONS,
            )
            .await?;
        Ok(listed.results)
    }

    /// Removes the integration of type `kind`.
    pub async fn delete_integration(&self, group: &str, kind: &str) -> Result<(), Error> {
        self.call::<serde_json::Value>(
            Method::DELETE,
            &api_path(&["groups", group, "integrations", kind]),
            &[],
            None,
            media::INTEGRATIONS,
        )
        .await
        .map(|_| ())
    }
}
