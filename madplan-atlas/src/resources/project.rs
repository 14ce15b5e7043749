//! Projects: an existing one found by name in an organization
//! ([`ProjectLookup`], a data source), or one madplan makes ([`Project`]).

use std::collections::BTreeMap;

use madplan_core::{
    DataSource, ErrorClass, Found, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize};

use super::{Atlas, OrgId, ProjectId, all_tags, lookup, marker_tags, tag_problems, user_tags};
use crate::client::projects::{self, Tag};

/// What a project yields: its id (for every other Atlas kind), name and
/// organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectOutputs {
    /// Its id.
    pub project_id: ProjectId,
    /// Its name.
    pub name: String,
    /// Its organization.
    pub org_id: OrgId,
}

fn outputs(p: &projects::Project) -> ProjectOutputs {
    ProjectOutputs {
        project_id: ProjectId(p.id.clone()),
        name: p.name.clone(),
        org_id: OrgId(p.org_id.clone()),
    }
}

fn check_name(name: &str, out: &mut Vec<Problem>) {
    let ok_char = |c: char| c.is_alphanumeric() || "-_.(),:&@+' ".contains(c);
    if name.is_empty() || name.chars().count() > 64 || !name.chars().all(ok_char) {
        out.push(problem(
            "name",
            format!("{name:?} is not a project name Atlas accepts"),
            Some("1 to 64 letters, digits, spaces and - _ . ( ) , : & @ + '"),
        ));
    }
}

fn check_org(org: &OrgId, out: &mut Vec<Problem>) {
    if org.0.len() != 24 || !org.0.chars().all(|c| c.is_ascii_hexdigit()) {
        out.push(problem(
            "org_id",
            format!(
                "{:?} is not an organization id (24 hexadecimal digits)",
                org.0
            ),
            None,
        ));
    }
}

/// An existing project, found by its exact name in an organization, read
/// at plan time. Its `project_id` feeds every other Atlas kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectLookup {
    /// The organization.
    pub org_id: OrgId,
    /// The project's exact name.
    pub name: String,
}

impl ProjectLookup {
    /// The project `name` of organization `org_id`.
    pub fn named(org_id: &str, name: &str) -> Self {
        Self {
            org_id: OrgId(org_id.into()),
            name: name.into(),
        }
    }
}

impl DataSource for ProjectLookup {
    const KIND: &'static str = "atlas.project_lookup";
    type Provider = Atlas;
    type Outputs = ProjectOutputs;

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        check_name(&self.name, problems);
        check_org(&self.org_id, problems);
    }

    async fn read(&self, atlas: &Atlas) -> Result<ProjectOutputs, ProviderError> {
        match atlas
            .client()
            .project_in_org(&self.org_id.0, &self.name)
            .await?
        {
            Some(p) => Ok(outputs(&p)),
            None => Err(ProviderError::new(
                "atlas",
                ErrorClass::NotFound,
                format!(
                    "no project named {:?} in organization {}; check the name, or let madplan \
                     make it with atlas.project",
                    self.name, self.org_id
                ),
            )),
        }
    }
}

/// Project settings madplan manages; `None` leaves Atlas's value alone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSettings {
    /// The Data Explorer: reading and writing data from the Atlas UI.
    /// Production data is better kept out of a browser: off there.
    pub data_explorer: Option<bool>,
    /// The Performance Advisor (slow queries, index suggestions).
    pub performance_advisor: Option<bool>,
    /// The Schema Advisor.
    pub schema_advisor: Option<bool>,
    /// The Real-Time Performance Panel.
    pub realtime_performance_panel: Option<bool>,
    /// Database statistics in cluster metrics (names of databases).
    pub database_statistics: Option<bool>,
}

impl ProjectSettings {
    fn to_api(self) -> projects::ProjectSettings {
        projects::ProjectSettings {
            is_data_explorer_enabled: self.data_explorer,
            is_performance_advisor_enabled: self.performance_advisor,
            is_schema_advisor_enabled: self.schema_advisor,
            is_realtime_performance_panel_enabled: self.realtime_performance_panel,
            is_collect_database_specifics_statistics_enabled: self.database_statistics,
            is_extended_storage_sizes_enabled: None,
        }
    }

    fn from_api(s: &projects::ProjectSettings) -> Self {
        Self {
            data_explorer: s.is_data_explorer_enabled,
            performance_advisor: s.is_performance_advisor_enabled,
            schema_advisor: s.is_schema_advisor_enabled,
            realtime_performance_panel: s.is_realtime_performance_panel_enabled,
            database_statistics: s.is_collect_database_specifics_statistics_enabled,
        }
    }

    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A project madplan makes and owns, tagged with madplan's markers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// Its name (unique in the organization).
    pub name: String,
    /// The organization it belongs to (moving it means a new project).
    pub org_id: OrgId,
    /// Its settings.
    pub settings: ProjectSettings,
    /// Its tags (madplan's own markers are kept apart).
    pub tags: BTreeMap<String, String>,
}

impl Project {
    /// A project named `name` in organization `org_id`, with Atlas's
    /// default settings.
    pub fn new(org_id: &str, name: &str) -> Self {
        Self {
            name: name.into(),
            org_id: OrgId(org_id.into()),
            settings: ProjectSettings::default(),
            tags: BTreeMap::new(),
        }
    }

    /// With these settings.
    #[must_use]
    pub fn settings(mut self, settings: ProjectSettings) -> Self {
        self.settings = settings;
        self
    }

    /// With a tag.
    #[must_use]
    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

impl Resource for Project {
    const KIND: &'static str = "atlas.project";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["org_id"];
    const SERVER_DEFAULTED: &'static [&'static str] = &[
        "settings.data_explorer",
        "settings.performance_advisor",
        "settings.schema_advisor",
        "settings.realtime_performance_panel",
        "settings.database_statistics",
    ];
    type Provider = Atlas;
    type Outputs = ProjectOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tags(&mut self.tags, defaults);
    }

    fn validate(&self, cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        check_name(&self.name, problems);
        check_org(&self.org_id, problems);
        tag_problems(&self.tags, problems);
        if cx.environment() == "production" && self.settings.data_explorer != Some(false) {
            problems.push(problem(
                "settings.data_explorer",
                "production data must not be browsable from the Atlas UI",
                Some("set data_explorer: Some(false)"),
            ));
        }
    }

    async fn refresh(
        atlas: &Atlas,
        cx: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        let mut found = Vec::new();
        for p in atlas.client().projects().await? {
            let marks = lookup(p.tags.iter().map(|t| (t.key.as_str(), t.value.as_str())));
            let Some(claim) = cx.claim(|o| o.project_id.0 == p.id, marks) else {
                continue;
            };
            let settings = atlas.client().project_settings(&p.id).await?;
            let spec = Project {
                name: p.name.clone(),
                org_id: OrgId(p.org_id.clone()),
                settings: ProjectSettings::from_api(&settings),
                tags: user_tags(&p.tags),
            };
            found.push(Found::new(claim, spec, outputs(&p)));
        }
        Ok(found)
    }

    async fn create(&self, atlas: &Atlas, cx: &OpCx) -> Result<ProjectOutputs, ProviderError> {
        let tags = all_tags(&self.tags, marker_tags(cx));
        let made = atlas
            .client()
            .create_tagged_project(&self.name, &self.org_id.0, &tags)
            .await?;
        let out = outputs(&made);
        cx.created(&out).await?;
        if !self.settings.is_empty() {
            atlas
                .client()
                .update_project_settings(&made.id, &self.settings.to_api())
                .await?;
        }
        Ok(out)
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        atlas: &Atlas,
        _cx: &OpCx,
    ) -> Result<ProjectOutputs, ProviderError> {
        let id = &prior.outputs.project_id.0;
        let has = |f: &str| changed.iter().any(|c| c == f);
        let mut out = prior.outputs.clone();
        if has("name") || has("tags") {
            // Keep the markers the project carries now.
            let live = atlas.client().project(id).await?;
            let markers: Vec<Tag> = live
                .tags
                .into_iter()
                .filter(|t| super::is_marker(&t.key))
                .collect();
            let tags = all_tags(&self.tags, markers);
            let p = atlas
                .client()
                .update_project(
                    id,
                    has("name").then_some(self.name.as_str()),
                    has("tags").then_some(tags.as_slice()),
                )
                .await?;
            out = outputs(&p);
        }
        if has("settings") {
            atlas
                .client()
                .update_project_settings(id, &self.settings.to_api())
                .await?;
        }
        Ok(out)
    }

    async fn delete(
        outputs: &ProjectOutputs,
        atlas: &Atlas,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        Ok(atlas.client().delete_project(&outputs.project_id.0).await?)
    }
}
