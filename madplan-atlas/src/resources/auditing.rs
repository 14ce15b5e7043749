//! Database auditing of a project ("database access logged in Atlas"),
//! with a typed filter. One per project: "create" and "update" write the
//! configuration, "delete" turns auditing off.

use std::collections::BTreeSet;

use madplan_core::{
    Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Atlas, ProjectId, known};
use crate::client::auditing::AuditLog;
use crate::client::open::open_enum;

open_enum!(
    /// An audit event type (`atype`).
    AuditAction {
        /// A client authenticated (or failed to).
        Authenticate = "authenticate",
        /// An authorization check (every read and write with
        /// `authorization_success`; failures only without).
        AuthCheck = "authCheck",
        /// A client logged out.
        Logout = "logout",
        /// A user was created.
        CreateUser = "createUser",
        /// A user was dropped.
        DropUser = "dropUser",
        /// Every user of a database was dropped.
        DropAllUsersFromDatabase = "dropAllUsersFromDatabase",
        /// A user was changed.
        UpdateUser = "updateUser",
        /// Roles were granted to a user.
        GrantRolesToUser = "grantRolesToUser",
        /// Roles were revoked from a user.
        RevokeRolesFromUser = "revokeRolesFromUser",
        /// A role was created.
        CreateRole = "createRole",
        /// A role was changed.
        UpdateRole = "updateRole",
        /// A role was dropped.
        DropRole = "dropRole",
        /// A collection was created.
        CreateCollection = "createCollection",
        /// A database was created.
        CreateDatabase = "createDatabase",
        /// An index was created.
        CreateIndex = "createIndex",
        /// A collection was renamed.
        RenameCollection = "renameCollection",
        /// A collection was dropped.
        DropCollection = "dropCollection",
        /// A database was dropped.
        DropDatabase = "dropDatabase",
        /// An index was dropped.
        DropIndex = "dropIndex",
        /// The server was shut down.
        Shutdown = "shutdown",
    }
);

/// Which events are logged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditFilter {
    /// Every event.
    Everything,
    /// Events of these types.
    Actions(BTreeSet<AuditAction>),
    /// A filter madplan does not model, as its JSON (compact, keys sorted).
    Json(String),
}

impl AuditFilter {
    /// Who got in or was refused, and every change to users, roles and
    /// the schema: the deployment guide's "database access logged".
    pub fn access() -> Self {
        use AuditAction::*;
        AuditFilter::Actions(
            [
                Authenticate,
                AuthCheck,
                Logout,
                CreateUser,
                DropUser,
                DropAllUsersFromDatabase,
                UpdateUser,
                GrantRolesToUser,
                RevokeRolesFromUser,
                CreateRole,
                UpdateRole,
                DropRole,
                CreateCollection,
                CreateDatabase,
                DropCollection,
                DropDatabase,
                RenameCollection,
            ]
            .into_iter()
            .collect(),
        )
    }

    /// The filter as Atlas takes it.
    pub fn to_json(&self) -> String {
        match self {
            AuditFilter::Everything => "{}".into(),
            AuditFilter::Actions(a) => {
                let list: Vec<&str> = a.iter().map(AuditAction::as_str).collect();
                json!({"atype": {"$in": list}}).to_string()
            }
            AuditFilter::Json(s) => s.clone(),
        }
    }

    /// A filter as Atlas returns it, in its typed form where it has one.
    pub fn from_json(text: &str) -> Self {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            return AuditFilter::Json(text.to_string());
        };
        if v.as_object().is_some_and(|o| o.is_empty()) || text.trim().is_empty() {
            return AuditFilter::Everything;
        }
        let single = v.as_object().filter(|o| o.len() == 1);
        let list = single
            .and_then(|o| o.get("atype"))
            .and_then(|a| a.as_object())
            .filter(|a| a.len() == 1)
            .and_then(|a| a.get("$in"))
            .and_then(|l| l.as_array());
        if let Some(list) = list
            && let Some(names) = list.iter().map(|x| x.as_str()).collect::<Option<Vec<_>>>()
        {
            return AuditFilter::Actions(names.into_iter().map(AuditAction::parse).collect());
        }
        // serde_json keeps object keys sorted: a canonical form.
        AuditFilter::Json(v.to_string())
    }
}

/// A project's database auditing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Auditing {
    /// The project.
    pub project: Input<ProjectId>,
    /// Whether auditing is on.
    pub enabled: bool,
    /// Log successful authorizations too (with `authCheck`: every read and
    /// write; heavy).
    pub authorization_success: bool,
    /// Which events.
    pub filter: AuditFilter,
}

impl Auditing {
    /// Auditing of `project` with `filter`, successful authorizations not
    /// logged.
    pub fn new(project: impl IntoInput<ProjectId>, filter: AuditFilter) -> Self {
        Self {
            project: project.into_input(),
            enabled: true,
            authorization_success: false,
            filter,
        }
    }
}

/// What auditing yields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditingOutputs {
    /// The project.
    pub project_id: ProjectId,
}

impl Auditing {
    async fn write(&self, atlas: &Atlas) -> Result<AuditingOutputs, ProviderError> {
        let group = known(&self.project)?.0.clone();
        let audit = AuditLog {
            enabled: self.enabled,
            audit_authorization_success: self.authorization_success,
            audit_filter: Some(self.filter.to_json()),
            configuration_type: None,
        };
        atlas.client().update_audit_log(&group, &audit).await?;
        Ok(AuditingOutputs {
            project_id: ProjectId(group),
        })
    }
}

impl Resource for Auditing {
    const KIND: &'static str = "atlas.auditing";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["project"];
    type Provider = Atlas;
    type Outputs = AuditingOutputs;

    fn validate(&self, cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        match &self.filter {
            AuditFilter::Json(s)
                if !serde_json::from_str::<Value>(s).is_ok_and(|v| v.is_object()) =>
            {
                problems.push(problem(
                    "filter",
                    format!("{s:?} is not a JSON document"),
                    None,
                ));
            }
            AuditFilter::Actions(a) if a.is_empty() => problems.push(problem(
                "filter",
                "a filter with no actions logs nothing",
                Some("AuditFilter::Everything logs every event"),
            )),
            _ => {}
        }
        if cx.environment() == "production" {
            let logs_access = match &self.filter {
                AuditFilter::Everything | AuditFilter::Json(_) => true,
                AuditFilter::Actions(a) => a.contains(&AuditAction::Authenticate),
            };
            if !self.enabled || !logs_access {
                problems.push(problem(
                    "filter",
                    "production logs database access (the deployment guide): auditing on, with authenticate",
                    Some("AuditFilter::access()"),
                ));
            }
        }
    }

    async fn refresh(
        atlas: &Atlas,
        cx: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        let mut found = Vec::new();
        for t in &cx.tracked {
            let group = &t.outputs.project_id.0;
            let a = match atlas.client().audit_log(group).await {
                Ok(a) => a,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            let Some(claim) = cx.claim(|o| o == &t.outputs, |_| None) else {
                continue;
            };
            let spec = Auditing {
                project: Input::Value(ProjectId(group.clone())),
                enabled: a.enabled,
                authorization_success: a.audit_authorization_success,
                filter: AuditFilter::from_json(a.audit_filter.as_deref().unwrap_or("{}")),
            };
            found.push(Found::new(claim, spec, t.outputs.clone()));
        }
        Ok(found)
    }

    async fn create(&self, atlas: &Atlas, _cx: &OpCx) -> Result<AuditingOutputs, ProviderError> {
        self.write(atlas).await
    }

    async fn update(
        &self,
        _prior: &Observed<Self>,
        _changed: &[String],
        atlas: &Atlas,
        _cx: &OpCx,
    ) -> Result<AuditingOutputs, ProviderError> {
        self.write(atlas).await
    }

    async fn delete(
        outputs: &AuditingOutputs,
        atlas: &Atlas,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        let off = AuditLog {
            enabled: false,
            audit_authorization_success: false,
            audit_filter: Some("{}".into()),
            configuration_type: None,
        };
        atlas
            .client()
            .update_audit_log(&outputs.project_id.0, &off)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_round_trip_through_atlas_text() {
        let f = AuditFilter::access();
        assert_eq!(AuditFilter::from_json(&f.to_json()), f);
        assert_eq!(AuditFilter::from_json("{}"), AuditFilter::Everything);
        let custom = r#"{"users":[{"user":"x","db":"admin"}],"atype":"authenticate"}"#;
        let parsed = AuditFilter::from_json(custom);
        assert_eq!(
            parsed,
            AuditFilter::Json(
                r#"{"atype":"authenticate","users":[{"db":"admin","user":"x"}]}"#.into()
            )
        );
        let unknown = AuditFilter::from_json(r#"{"atype":{"$in":["authenticate","futureEvent"]}}"#);
        match unknown {
            AuditFilter::Actions(a) => {
                assert!(a.contains(&AuditAction::Other("futureEvent".into())))
            }
            other => panic!("{other:?}"),
        }
    }
}
