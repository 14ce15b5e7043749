//! Projects (groups) and their settings.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Client, api_path, media};
use crate::error::Error;

/// A key-value tag on a project or a cluster.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tag {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

impl Tag {
    /// A tag.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// A project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// Its id (the `groupId` of every project path).
    #[serde(default)]
    pub id: String,
    /// Its name.
    pub name: String,
    /// The organization it belongs to.
    pub org_id: String,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// How many clusters it has.
    #[serde(default)]
    pub cluster_count: u64,
}

/// The project settings madplan manages (`None`: not read or not changed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSettings {
    /// The Data Explorer (reading and writing data from the Atlas UI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_data_explorer_enabled: Option<bool>,
    /// The Performance Advisor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_performance_advisor_enabled: Option<bool>,
    /// The Schema Advisor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_schema_advisor_enabled: Option<bool>,
    /// The Real-Time Performance Panel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_realtime_performance_panel_enabled: Option<bool>,
    /// Collection of database statistics in cluster metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_collect_database_specifics_statistics_enabled: Option<bool>,
    /// Extended storage sizes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_extended_storage_sizes_enabled: Option<bool>,
}

impl Client {
    /// The project named `name`, if there is one.
    pub async fn project_by_name(&self, name: &str) -> Result<Option<Project>, Error> {
        match self
            .fetch(
                Method::GET,
                &api_path(&["groups", "byName", name]),
                None,
                media::PROJECTS,
            )
            .await
        {
            Ok(p) => Ok(Some(p)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The project named exactly `name` in organization `org_id`, if there
    /// is one (Atlas's filter matches prefixes, case-insensitively).
    pub async fn project_in_org(&self, org_id: &str, name: &str) -> Result<Option<Project>, Error> {
        let found: Vec<Project> = self
            .all_with(
                &api_path(&["orgs", org_id, "groups"]),
                &[("name", name.to_string())],
                media::PROJECTS,
            )
            .await?;
        Ok(found.into_iter().find(|p| p.name == name))
    }

    /// Every project the credentials can see.
    pub async fn projects(&self) -> Result<Vec<Project>, Error> {
        self.all(&api_path(&["groups"]), media::PROJECTS).await
    }

    /// The project `id`.
    pub async fn project(&self, id: &str) -> Result<Project, Error> {
        self.fetch(
            Method::GET,
            &api_path(&["groups", id]),
            None,
            media::PROJECTS,
        )
        .await
    }

    /// Creates a project in organization `org_id`.
    pub async fn create_project(&self, name: &str, org_id: &str) -> Result<Project, Error> {
        self.create_tagged_project(name, org_id, &[]).await
    }

    /// Creates a project in organization `org_id` with `tags`.
    pub async fn create_tagged_project(
        &self,
        name: &str,
        org_id: &str,
        tags: &[Tag],
    ) -> Result<Project, Error> {
        let mut body = json!({"name": name, "orgId": org_id});
        if !tags.is_empty() {
            body["tags"] = json!(tags);
        }
        self.fetch(
            Method::POST,
            &api_path(&["groups"]),
            Some(body),
            media::PROJECTS,
        )
        .await
    }

    /// Renames the project or replaces its tags (what is `Some`).
    pub async fn update_project(
        &self,
        id: &str,
        name: Option<&str>,
        tags: Option<&[Tag]>,
    ) -> Result<Project, Error> {
        let mut body = json!({});
        if let Some(n) = name {
            body["name"] = json!(n);
        }
        if let Some(t) = tags {
            body["tags"] = json!(t);
        }
        self.fetch(
            Method::PATCH,
            &api_path(&["groups", id]),
            Some(body),
            media::PROJECTS,
        )
        .await
    }

    /// Deletes the project (Atlas refuses while it has clusters).
    pub async fn delete_project(&self, id: &str) -> Result<(), Error> {
        self.call::<serde_json::Value>(
            Method::DELETE,
            &api_path(&["groups", id]),
            &[],
            None,
            media::PROJECTS,
        )
        .await
        .map(|_| ())
    }

    /// The project's settings.
    pub async fn project_settings(&self, id: &str) -> Result<ProjectSettings, Error> {
        self.fetch(
            Method::GET,
            &api_path(&["groups", id, "settings"]),
            None,
            media::GROUP_SETTINGS,
        )
        .await
    }

    /// Changes the settings that are `Some`.
    pub async fn update_project_settings(
        &self,
        id: &str,
        settings: &ProjectSettings,
    ) -> Result<ProjectSettings, Error> {
        let body = serde_json::to_value(settings).map_err(|e| Error::config(e.to_string()))?;
        self.fetch(
            Method::PATCH,
            &api_path(&["groups", id, "settings"]),
            Some(body),
            media::GROUP_SETTINGS,
        )
        .await
    }
}
