//! The Datadog integration of a project, so that Atlas's metrics reach the
//! Datadog dashboards. Its API key is a madplan [`Secret`] (never stored,
//! and Atlas only returns it redacted: rotated by giving the secret a new
//! version); its region comes from the Datadog site.

use std::fmt;
use std::str::FromStr;

use madplan_core::{
    Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource, Secret,
    ValidateCx, problem,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Atlas, ProjectId, fatal, known};
use crate::client::integrations::{DATADOG, Datadog, DatadogRegion};

/// A Datadog site, as `DD_SITE` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DatadogSite {
    /// `datadoghq.com` (US1).
    Us1,
    /// `us3.datadoghq.com`.
    Us3,
    /// `us5.datadoghq.com`.
    Us5,
    /// `datadoghq.eu` (EU1).
    Eu1,
    /// `ap1.datadoghq.com`.
    Ap1,
    /// `ap2.datadoghq.com`.
    Ap2,
    /// `ddog-gov.com` (US1-FED).
    Us1Fed,
}

const SITES: [(DatadogSite, &str, DatadogRegion); 7] = [
    (DatadogSite::Us1, "datadoghq.com", DatadogRegion::Us),
    (DatadogSite::Us3, "us3.datadoghq.com", DatadogRegion::Us3),
    (DatadogSite::Us5, "us5.datadoghq.com", DatadogRegion::Us5),
    (DatadogSite::Eu1, "datadoghq.eu", DatadogRegion::Eu),
    (DatadogSite::Ap1, "ap1.datadoghq.com", DatadogRegion::Ap1),
    (DatadogSite::Ap2, "ap2.datadoghq.com", DatadogRegion::Ap2),
    (DatadogSite::Us1Fed, "ddog-gov.com", DatadogRegion::Us1Fed),
];

impl DatadogSite {
    /// The site's host, as `DD_SITE` spells it.
    pub fn host(self) -> &'static str {
        SITES.iter().find(|s| s.0 == self).map_or("", |s| s.1)
    }

    /// The region Atlas names it by.
    pub fn atlas_region(self) -> DatadogRegion {
        SITES
            .iter()
            .find(|s| s.0 == self)
            .map_or(DatadogRegion::Us, |s| s.2.clone())
    }

    /// The site of an Atlas region (`None` for one madplan does not know).
    pub fn from_atlas_region(r: &DatadogRegion) -> Option<Self> {
        SITES.iter().find(|s| s.2 == *r).map(|s| s.0)
    }
}

impl fmt::Display for DatadogSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.host())
    }
}

impl FromStr for DatadogSite {
    type Err = String;
    /// A site as `DD_SITE` gives it (`datadoghq.eu`), also with `app.` or
    /// `https://` in front.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let host = s
            .trim()
            .trim_start_matches("https://")
            .trim_start_matches("app.")
            .trim_start_matches("api.")
            .trim_end_matches('/');
        SITES
            .iter()
            .find(|x| x.1 == host)
            .map(|x| x.0)
            .ok_or_else(|| {
                format!(
                    "{s:?} is not a Datadog site Atlas can send to ({})",
                    SITES.iter().map(|x| x.1).collect::<Vec<_>>().join(", ")
                )
            })
    }
}

impl Serialize for DatadogSite {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.host())
    }
}

impl<'de> Deserialize<'de> for DatadogSite {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A project's Datadog integration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatadogIntegration {
    /// The project.
    pub project: Input<ProjectId>,
    /// The Datadog API key (write-only: Atlas returns it redacted).
    pub api_key: Option<Secret>,
    /// The Datadog site.
    pub site: DatadogSite,
    /// Send database metrics (names, collection counts, sizes).
    pub database_metrics: bool,
    /// Send collection latency metrics.
    pub collection_latency_metrics: bool,
    /// Send query shape statistics.
    pub query_stats_metrics: bool,
    /// Send the project's and clusters' tags with the metrics.
    pub resource_tags: bool,
}

impl DatadogIntegration {
    /// Atlas's metrics of `project` to the Datadog `site` with `api_key`,
    /// database metrics and resource tags on.
    pub fn new(project: impl IntoInput<ProjectId>, api_key: Secret, site: DatadogSite) -> Self {
        Self {
            project: project.into_input(),
            api_key: Some(api_key),
            site,
            database_metrics: true,
            collection_latency_metrics: false,
            query_stats_metrics: false,
            resource_tags: true,
        }
    }
}

/// What the integration yields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatadogIntegrationOutputs {
    /// The project.
    pub project_id: ProjectId,
}

impl DatadogIntegration {
    async fn write(
        &self,
        atlas: &Atlas,
        cx: &OpCx,
        replace: bool,
    ) -> Result<DatadogIntegrationOutputs, ProviderError> {
        let group = known(&self.project)?.0.clone();
        let secret = self
            .api_key
            .as_ref()
            .ok_or_else(|| fatal("the Datadog integration needs an API key"))?;
        let dd = Datadog {
            api_key: cx.secret(secret)?.clone(),
            region: self.site.atlas_region(),
            send_database_metrics: self.database_metrics,
            send_collection_latency_metrics: self.collection_latency_metrics,
            send_query_stats_metrics: self.query_stats_metrics,
            send_user_provided_resource_tags: self.resource_tags,
        };
        atlas.client().set_datadog(&group, &dd, replace).await?;
        Ok(DatadogIntegrationOutputs {
            project_id: ProjectId(group),
        })
    }
}

impl Resource for DatadogIntegration {
    const KIND: &'static str = "atlas.datadog";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["project"];
    const WRITE_ONLY: &'static [&'static str] = &["api_key"];
    type Provider = Atlas;
    type Outputs = DatadogIntegrationOutputs;

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if self.api_key.is_none() {
            problems.push(problem(
                "api_key",
                "the Datadog integration needs an API key",
                Some("give it with Environment::secret (DD_API_KEY)"),
            ));
        }
    }

    async fn refresh(
        atlas: &Atlas,
        cx: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        let mut found = Vec::new();
        for t in &cx.tracked {
            let group = &t.outputs.project_id.0;
            let all = match atlas.client().integrations(group).await {
                Ok(a) => a,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            let Some(dd) = all.into_iter().find(|i| i.kind == DATADOG) else {
                continue;
            };
            let Some(claim) = cx.claim(|o| o == &t.outputs, |_| None) else {
                continue;
            };
            let region = dd.region.clone().unwrap_or(DatadogRegion::Us);
            let spec = DatadogIntegration {
                project: Input::Value(ProjectId(group.clone())),
                api_key: None,
                site: DatadogSite::from_atlas_region(&region).ok_or_else(|| {
                    fatal(format!(
                        "Atlas sends to Datadog region {region}, which madplan does not know"
                    ))
                })?,
                database_metrics: dd.send_database_metrics,
                collection_latency_metrics: dd.send_collection_latency_metrics,
                query_stats_metrics: dd.send_query_stats_metrics,
                resource_tags: dd.send_user_provided_resource_tags,
            };
            found.push(Found::new(claim, spec, t.outputs.clone()));
        }
        Ok(found)
    }

    async fn create(
        &self,
        atlas: &Atlas,
        cx: &OpCx,
    ) -> Result<DatadogIntegrationOutputs, ProviderError> {
        let group = known(&self.project)?.0.clone();
        let exists = atlas
            .client()
            .integrations(&group)
            .await?
            .iter()
            .any(|i| i.kind == DATADOG);
        if exists {
            return Err(ProviderError::new(
                "atlas",
                madplan_core::ErrorClass::Conflict,
                format!(
                    "the project {group} has a Datadog integration already, not made by this \
                     state; remove it in Atlas (or from the state that made it) first"
                ),
            ));
        }
        // One per project, with nothing to recognise its maker by: recorded
        // before it is sent, so that a create whose answer is lost (or whose
        // process dies) is found and completed by the next apply.
        cx.creating(&DatadogIntegrationOutputs {
            project_id: ProjectId(group.clone()),
        })
        .await?;
        self.write(atlas, cx, false).await
    }

    async fn update(
        &self,
        _prior: &Observed<Self>,
        _changed: &[String],
        atlas: &Atlas,
        cx: &OpCx,
    ) -> Result<DatadogIntegrationOutputs, ProviderError> {
        self.write(atlas, cx, true).await
    }

    async fn delete(
        outputs: &DatadogIntegrationOutputs,
        atlas: &Atlas,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        Ok(atlas
            .client()
            .delete_integration(&outputs.project_id.0, DATADOG)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_map_to_atlas_regions() {
        for (site, region) in [
            ("datadoghq.com", DatadogRegion::Us),
            ("https://app.datadoghq.eu/", DatadogRegion::Eu),
            ("us5.datadoghq.com", DatadogRegion::Us5),
            ("ddog-gov.com", DatadogRegion::Us1Fed),
        ] {
            let s: DatadogSite = site.parse().unwrap();
            assert_eq!(s.atlas_region(), region);
            assert_eq!(DatadogSite::from_atlas_region(&region), Some(s));
        }
        assert!("datadoghq.co".parse::<DatadogSite>().is_err());
    }
}
