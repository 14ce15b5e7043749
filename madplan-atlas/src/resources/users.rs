//! Database users: SCRAM users whose password is a madplan [`Secret`]
//! (never stored, never read back: rotated by giving the secret a new
//! version), or AWS IAM roles and users; roles typed as `role@database`.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use madplan_core::{
    Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource, Secret,
    ValidateCx, problem,
};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Atlas, ClusterName, ProjectId, fatal, known, lookup};
use crate::client::users::{
    self as api, ADMIN_DATABASE, Authentication, AwsIamType, EXTERNAL_DATABASE, Label, ListedUser,
    MIN_PASSWORD_LENGTH, Role, Scope,
};

/// How a user authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserAuth {
    /// SCRAM with a password (a [`Secret`]), on `admin`.
    Scram,
    /// An AWS IAM role, named by its ARN, on `$external` (the application's
    /// instance role: no password at all).
    AwsIamRole,
    /// An AWS IAM user, named by its ARN, on `$external`.
    AwsIamUser,
}

impl UserAuth {
    fn database(self) -> &'static str {
        match self {
            UserAuth::Scram => ADMIN_DATABASE,
            _ => EXTERNAL_DATABASE,
        }
    }
}

/// A role on a database (or one of its collections), written
/// `readWrite@madplan` or `read@madplan.orders`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DbRole {
    /// The role, e.g. `readWrite`, or a custom role's name.
    pub role: String,
    /// The database.
    pub database: String,
    /// The collection it is limited to.
    pub collection: Option<String>,
}

/// Built-in roles that only exist on the `admin` database.
const ADMIN_ONLY: &[&str] = &[
    "atlasAdmin",
    "readAnyDatabase",
    "readWriteAnyDatabase",
    "dbAdminAnyDatabase",
    "clusterMonitor",
    "backup",
    "enableSharding",
];

impl DbRole {
    fn on(role: &str, database: &str) -> Self {
        Self {
            role: role.into(),
            database: database.into(),
            collection: None,
        }
    }

    /// `read@database`.
    pub fn read(database: &str) -> Self {
        Self::on("read", database)
    }

    /// `readWrite@database`.
    pub fn read_write(database: &str) -> Self {
        Self::on("readWrite", database)
    }

    /// `dbAdmin@database`.
    pub fn db_admin(database: &str) -> Self {
        Self::on("dbAdmin", database)
    }

    /// `readAnyDatabase@admin`.
    pub fn read_any_database() -> Self {
        Self::on("readAnyDatabase", ADMIN_DATABASE)
    }

    /// `clusterMonitor@admin` (what monitoring agents need).
    pub fn cluster_monitor() -> Self {
        Self::on("clusterMonitor", ADMIN_DATABASE)
    }

    /// A custom role defined in the project.
    pub fn custom(role: &str, database: &str) -> Self {
        Self::on(role, database)
    }

    /// Limited to one collection (for `read` and `readWrite`).
    #[must_use]
    pub fn collection(mut self, collection: &str) -> Self {
        self.collection = Some(collection.into());
        self
    }

    fn to_api(&self) -> Role {
        Role {
            role_name: self.role.clone(),
            database_name: self.database.clone(),
            collection_name: self.collection.clone(),
        }
    }

    fn from_api(r: &Role) -> Self {
        Self {
            role: r.role_name.clone(),
            database: r.database_name.clone(),
            collection: r.collection_name.clone(),
        }
    }
}

impl fmt::Display for DbRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.role, self.database)?;
        if let Some(c) = &self.collection {
            write!(f, ".{c}")?;
        }
        Ok(())
    }
}

impl FromStr for DbRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (role, rest) = s
            .split_once('@')
            .ok_or_else(|| format!("{s:?} is not role@database"))?;
        let (database, collection) = match rest.split_once('.') {
            Some((d, c)) => (d, Some(c.to_string())),
            None => (rest, None),
        };
        if role.is_empty() || database.is_empty() || collection.as_deref() == Some("") {
            return Err(format!("{s:?} is not role@database"));
        }
        Ok(Self {
            role: role.into(),
            database: database.into(),
            collection,
        })
    }
}

impl Serialize for DbRole {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DbRole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A database user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatabaseUser {
    /// The project.
    pub project: Input<ProjectId>,
    /// The user name; for AWS IAM, the role's or user's ARN (another
    /// resource's output).
    pub username: Input<String>,
    /// How it authenticates.
    pub auth: UserAuth,
    /// The password of a SCRAM user: a secret, never stored nor read back.
    /// Give the secret a new version to rotate it.
    pub password: Option<Secret>,
    /// Its roles.
    pub roles: BTreeSet<DbRole>,
    /// The clusters it may reach (every cluster of the project when empty).
    pub scopes: BTreeSet<Input<ClusterName>>,
    /// A description.
    pub description: Option<String>,
}

/// What a database user yields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseUserOutputs {
    /// The project.
    pub project_id: ProjectId,
    /// The user name.
    pub username: String,
    /// The database it authenticates against (`admin`, `$external`).
    pub auth_database: String,
}

impl DatabaseUser {
    /// A SCRAM user with a password.
    pub fn scram(project: impl IntoInput<ProjectId>, username: &str, password: Secret) -> Self {
        Self {
            project: project.into_input(),
            username: Input::Value(username.into()),
            auth: UserAuth::Scram,
            password: Some(password),
            roles: BTreeSet::new(),
            scopes: BTreeSet::new(),
            description: None,
        }
    }

    /// A user for an AWS IAM role (its ARN, often another resource's
    /// output).
    pub fn aws_iam_role(
        project: impl IntoInput<ProjectId>,
        role_arn: impl IntoInput<String>,
    ) -> Self {
        Self {
            project: project.into_input(),
            username: role_arn.into_input(),
            auth: UserAuth::AwsIamRole,
            password: None,
            roles: BTreeSet::new(),
            scopes: BTreeSet::new(),
            description: None,
        }
    }

    /// With a role.
    #[must_use]
    pub fn role(mut self, role: DbRole) -> Self {
        self.roles.insert(role);
        self
    }

    /// Limited to a cluster (may be given several times).
    #[must_use]
    pub fn scope(mut self, cluster: impl IntoInput<ClusterName>) -> Self {
        self.scopes.insert(cluster.into_input());
        self
    }

    /// With a description.
    #[must_use]
    pub fn description(mut self, d: &str) -> Self {
        self.description = Some(d.into());
        self
    }

    fn api_user(&self, cx: &OpCx) -> Result<api::DatabaseUser, ProviderError> {
        let auth = match self.auth {
            UserAuth::Scram => {
                let secret = self
                    .password
                    .as_ref()
                    .ok_or_else(|| fatal("a SCRAM user needs a password"))?;
                let value: &SecretString = cx.secret(secret)?;
                Authentication::Password(value.clone())
            }
            UserAuth::AwsIamRole => Authentication::AwsIam(AwsIamType::Role),
            UserAuth::AwsIamUser => Authentication::AwsIam(AwsIamType::User),
        };
        let mut scopes = Vec::new();
        for s in &self.scopes {
            scopes.push(Scope::cluster(&known(s)?.0));
        }
        Ok(api::DatabaseUser {
            username: known(&self.username)?.clone(),
            auth,
            roles: self.roles.iter().map(DbRole::to_api).collect(),
            scopes,
            labels: cx
                .tags()
                .into_iter()
                .map(|(k, v)| Label {
                    key: k.into(),
                    value: v,
                })
                .collect(),
            description: self.description.clone(),
        })
    }
}

fn observed(u: &ListedUser, group: &str) -> DatabaseUser {
    DatabaseUser {
        project: Input::Value(ProjectId(group.into())),
        username: Input::Value(u.username.clone()),
        auth: match &u.aws_iam_type {
            Some(AwsIamType::Role) => UserAuth::AwsIamRole,
            Some(AwsIamType::User) => UserAuth::AwsIamUser,
            _ => UserAuth::Scram,
        },
        password: None,
        roles: u.roles.iter().map(DbRole::from_api).collect(),
        scopes: u
            .scopes
            .iter()
            .filter(|s| s.kind == "CLUSTER")
            .map(|s| Input::Value(ClusterName(s.name.clone())))
            .collect(),
        description: u.description.clone().filter(|d| !d.is_empty()),
    }
}

impl Resource for DatabaseUser {
    const KIND: &'static str = "atlas.database_user";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["project", "username", "auth"];
    const WRITE_ONLY: &'static [&'static str] = &["password"];
    type Provider = Atlas;
    type Outputs = DatabaseUserOutputs;

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        match (self.auth, &self.password) {
            (UserAuth::Scram, None) => problems.push(problem(
                "password",
                "a SCRAM user needs a password",
                Some("give it one with Environment::secret"),
            )),
            (UserAuth::AwsIamRole | UserAuth::AwsIamUser, Some(_)) => {
                problems.push(problem("password", "an AWS IAM user has no password", None))
            }
            _ => {}
        }
        if let Input::Value(name) = &self.username {
            if name.is_empty() || name.len() > 1024 {
                problems.push(problem("username", "1 to 1024 characters", None));
            }
            let kind = match self.auth {
                UserAuth::AwsIamRole => Some(":role/"),
                UserAuth::AwsIamUser => Some(":user/"),
                UserAuth::Scram => None,
            };
            if let Some(k) = kind
                && !(name.starts_with("arn:aws") && name.contains(k))
            {
                problems.push(problem(
                    "username",
                    format!("{name:?} is not an IAM ARN with {k}"),
                    Some("an AWS IAM user is named by its ARN"),
                ));
            }
        }
        if self.roles.is_empty() {
            problems.push(problem("roles", "a user needs at least one role", None));
        }
        for r in &self.roles {
            if ADMIN_ONLY.contains(&r.role.as_str()) && r.database != ADMIN_DATABASE {
                problems.push(problem(
                    "roles",
                    format!("{} exists only on admin (write {}@admin)", r, r.role),
                    None,
                ));
            }
            if r.collection.is_some() && !["read", "readWrite"].contains(&r.role.as_str()) {
                problems.push(problem(
                    "roles",
                    format!("{r}: only read and readWrite can be limited to a collection"),
                    None,
                ));
            }
        }
        if self
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 100)
        {
            problems.push(problem("description", "at most 100 characters", None));
        }
    }

    async fn refresh(
        atlas: &Atlas,
        cx: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        let tracked = cx.tracked.iter().map(|t| t.outputs.project_id.0.clone());
        let mut found = Vec::new();
        for group in atlas.project_ids(tracked).await? {
            let users = match atlas.client().database_users(&group).await {
                Ok(u) => u,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            for u in users {
                let marks = lookup(u.labels.iter().map(|l| (l.key.as_str(), l.value.as_str())));
                let Some(claim) = cx.claim(
                    |o| {
                        o.project_id.0 == group
                            && o.username == u.username
                            && o.auth_database == u.database_name
                    },
                    marks,
                ) else {
                    continue;
                };
                let outputs = DatabaseUserOutputs {
                    project_id: ProjectId(group.clone()),
                    username: u.username.clone(),
                    auth_database: u.database_name.clone(),
                };
                found.push(Found::new(claim, observed(&u, &group), outputs));
            }
        }
        Ok(found)
    }

    async fn create(&self, atlas: &Atlas, cx: &OpCx) -> Result<DatabaseUserOutputs, ProviderError> {
        let group = known(&self.project)?.0.clone();
        let user = self.api_user(cx)?;
        check_password(&user)?;
        atlas.client().create_database_user(&group, &user).await?;
        Ok(DatabaseUserOutputs {
            project_id: ProjectId(group),
            username: user.username.clone(),
            auth_database: self.auth.database().into(),
        })
    }

    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        atlas: &Atlas,
        cx: &OpCx,
    ) -> Result<DatabaseUserOutputs, ProviderError> {
        let user = self.api_user(cx)?;
        let rotate = changed.iter().any(|c| c == "password");
        if rotate {
            check_password(&user)?;
        }
        atlas
            .client()
            .update_database_user(&prior.outputs.project_id.0, &user, rotate)
            .await?;
        Ok(prior.outputs.clone())
    }

    async fn delete(
        outputs: &DatabaseUserOutputs,
        atlas: &Atlas,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        Ok(atlas
            .client()
            .delete_database_user(
                &outputs.project_id.0,
                &outputs.auth_database,
                &outputs.username,
            )
            .await?)
    }
}

/// Refuses a password Atlas would refuse, naming the secret, never its
/// value.
fn check_password(user: &api::DatabaseUser) -> Result<(), ProviderError> {
    if let Authentication::Password(p) = &user.auth
        && secrecy::ExposeSecret::expose_secret(p).chars().count() < MIN_PASSWORD_LENGTH
    {
        return Err(fatal(format!(
            "the password of {} is shorter than Atlas's {MIN_PASSWORD_LENGTH} characters",
            user.username
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_written_role_at_database() {
        let r: DbRole = "read@madplan.orders".parse().unwrap();
        assert_eq!(r, DbRole::read("madplan").collection("orders"));
        assert_eq!(
            DbRole::read_write("madplan").to_string(),
            "readWrite@madplan"
        );
        assert!("readWrite".parse::<DbRole>().is_err());
        assert_eq!(
            serde_json::to_value(DbRole::cluster_monitor()).unwrap(),
            serde_json::json!("clusterMonitor@admin")
        );
    }
}
