//! Projects (groups).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Client, media};
use crate::error::Error;

/// A project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// Its id (the `groupId` of every project path).
    pub id: String,
    /// Its name.
    pub name: String,
    /// The organization it belongs to.
    pub org_id: String,
}

impl Client {
    /// The project named `name`, if there is one.
    pub async fn project_by_name(&self, name: &str) -> Result<Option<Project>, Error> {
        match self
            .fetch(
                Method::GET,
                &format!("/api/atlas/v2/groups/byName/{name}"),
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

    /// Creates a project in organization `org_id`.
    pub async fn create_project(&self, name: &str, org_id: &str) -> Result<Project, Error> {
        self.fetch(
            Method::POST,
            "/api/atlas/v2/groups",
            Some(json!({"name": name, "orgId": org_id})),
            media::PROJECTS,
        )
        .await
    }
}
