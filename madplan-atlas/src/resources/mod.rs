//! Atlas as madplan resources: the [`Atlas`] provider and one kind per
//! managed thing.
//!
//! | kind | what | found again by |
//! |---|---|---|
//! | `atlas.project_lookup` (data) | an existing project, by name in an organization | its name |
//! | `atlas.project` | a project and its settings | its tags |
//! | `atlas.cluster` | a dedicated replica set | its tags |
//! | `atlas.backup_schedule` | a cluster's snapshot policy, restore window and copies | its cluster (always exists) |
//! | `atlas.access_list` | a project's IP access list, exclusively | a marker in each entry's comment |
//! | `atlas.database_user` | a SCRAM or AWS IAM database user | its labels |
//! | `atlas.auditing` | a project's database auditing | its project (one per project) |
//! | `atlas.datadog` | a project's Datadog integration | its project (one per project) |
//!
//! Refresh reads each kind with one list per project (the projects the
//! credentials see come from one more call); the per-project singletons
//! (auditing, the Datadog integration, a backup schedule per cluster) with
//! one read each.

use std::collections::BTreeMap;
use std::time::Duration;

use madplan_core::{
    ErrorClass, Input, IntoInput, Kinds, OpCx, Provider, ProviderError, Ref, TAG_ADDRESS,
    TAG_ENVIRONMENT, TAG_LINEAGE,
};
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::client::projects::Tag;

pub mod access;
pub mod auditing;
pub mod backup;
pub mod cluster;
pub mod datadog;
pub mod project;
pub mod users;

pub use access::{AccessList, AccessListEntry};
pub use auditing::{AuditAction, AuditFilter, Auditing};
pub use backup::{BackupSchedule, CrossRegionCopy, Retention};
pub use cluster::{Cluster, Compute, Region, Storage};
pub use datadog::{DatadogIntegration, DatadogSite};
pub use project::{Project, ProjectLookup, ProjectOutputs, ProjectSettings};
pub use users::{DatabaseUser, DbRole, UserAuth};

/// The Atlas provider: the API client and how often long operations are
/// polled.
#[derive(Clone, Debug)]
pub struct Atlas {
    client: Client,
    poll_every: Duration,
    concurrency: usize,
}

impl Atlas {
    /// A provider on `client`, polling long operations every 15 s.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            poll_every: Duration::from_secs(15),
            concurrency: 4,
        }
    }

    /// A provider from the environment (see [`Client::from_env`]).
    pub fn from_env() -> Result<Self, crate::Error> {
        Ok(Self::new(Client::from_env()?))
    }

    /// Polls clusters every `every` while waiting for them.
    #[must_use]
    pub fn with_poll_interval(mut self, every: Duration) -> Self {
        self.poll_every = every;
        self
    }

    /// Runs at most `n` operations at once against Atlas.
    #[must_use]
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The API client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn poll_every(&self) -> Duration {
        self.poll_every
    }

    /// The ids of every project the credentials can see, with those the
    /// state tracks (in case the credentials cannot list them).
    pub(crate) async fn project_ids(
        &self,
        tracked: impl IntoIterator<Item = String>,
    ) -> Result<Vec<String>, ProviderError> {
        let mut ids: Vec<String> = self
            .client
            .projects()
            .await
            .map_err(ProviderError::from)?
            .into_iter()
            .map(|p| p.id)
            .collect();
        ids.extend(tracked);
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}

impl Provider for Atlas {
    const NAME: &'static str = "atlas";

    fn concurrency(&self) -> usize {
        self.concurrency
    }

    fn register(kinds: &mut Kinds) {
        kinds.register_data::<ProjectLookup>();
        kinds.register::<Project>();
        kinds.register::<Cluster>();
        kinds.register::<BackupSchedule>();
        kinds.register::<AccessList>();
        kinds.register::<DatabaseUser>();
        kinds.register::<Auditing>();
        kinds.register::<DatadogIntegration>();
    }
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The value as Atlas spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        impl IntoInput<$name> for &str {
            fn into_input(self) -> Input<$name> {
                Input::Value($name(self.to_string()))
            }
        }
    };
}

name_type!(
    /// A project id (24 hexadecimal digits).
    ProjectId
);
name_type!(
    /// An organization id (24 hexadecimal digits).
    OrgId
);
name_type!(
    /// A cluster's name.
    ClusterName
);
name_type!(
    /// A connection string without credentials (`mongodb+srv://...`).
    ConnectionString
);

impl IntoInput<ProjectId> for &Ref<Project> {
    fn into_input(self) -> Input<ProjectId> {
        self.output("project_id")
    }
}

impl IntoInput<ProjectId> for &Ref<ProjectLookup> {
    fn into_input(self) -> Input<ProjectId> {
        self.output("project_id")
    }
}

impl IntoInput<ProjectId> for &Ref<Cluster> {
    fn into_input(self) -> Input<ProjectId> {
        self.output("project_id")
    }
}

impl IntoInput<ClusterName> for &Ref<Cluster> {
    fn into_input(self) -> Input<ClusterName> {
        self.output("name")
    }
}

impl IntoInput<ConnectionString> for &Ref<Cluster> {
    fn into_input(self) -> Input<ConnectionString> {
        self.output("connection_string")
    }
}

/// The value of an input the engine resolved (an unresolved one here is a
/// bug in the engine).
pub(crate) fn known<T>(input: &Input<T>) -> Result<&T, ProviderError> {
    input
        .get()
        .map_err(|e| ProviderError::new("atlas", ErrorClass::Fatal, e.to_string()))
}

/// madplan's marker tags for what `cx` creates.
pub(crate) fn marker_tags(cx: &OpCx) -> Vec<Tag> {
    cx.tags().into_iter().map(|(k, v)| Tag::new(k, v)).collect()
}

/// Whether a tag key is one of madplan's.
pub(crate) fn is_marker(key: &str) -> bool {
    key.starts_with("madplan:")
}

/// Looks a marker up among key-value pairs.
pub(crate) fn lookup<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = pairs
        .into_iter()
        .filter(|(k, _)| [TAG_ENVIRONMENT, TAG_ADDRESS, TAG_LINEAGE].contains(k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

/// User tags and madplan's markers, as Atlas takes them.
pub(crate) fn all_tags(user: &BTreeMap<String, String>, markers: Vec<Tag>) -> Vec<Tag> {
    let mut tags: Vec<Tag> = user.iter().map(|(k, v)| Tag::new(k, v)).collect();
    tags.extend(markers);
    tags
}

/// The user tags among Atlas's (madplan's markers left out).
pub(crate) fn user_tags(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter(|t| !is_marker(&t.key))
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}

/// A problem with user tags that use madplan's reserved prefix.
pub(crate) fn tag_problems(tags: &BTreeMap<String, String>, out: &mut Vec<madplan_core::Problem>) {
    for k in tags.keys().filter(|k| is_marker(k)) {
        out.push(madplan_core::problem(
            "tags",
            format!("the tag key {k:?} uses madplan's reserved prefix `madplan:`"),
            Some("choose another key"),
        ));
    }
    for (k, v) in tags {
        if k.is_empty() || k.len() > 255 || v.is_empty() || v.len() > 255 {
            out.push(madplan_core::problem(
                "tags",
                format!("tag {k:?}: keys and values are 1 to 255 characters"),
                None,
            ));
        }
    }
}

/// Fails with a clear error when an input was not resolved.
pub(crate) fn fatal(message: impl Into<String>) -> ProviderError {
    ProviderError::new("atlas", ErrorClass::Fatal, message)
}
