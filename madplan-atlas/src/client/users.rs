//! Database users: SCRAM users with a password, and AWS IAM users or roles.

use std::fmt;

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::open::open_enum;
use super::{Client, api_path, media};
use crate::error::Error;

/// Atlas's minimum password length (`minLength` of `password`).
pub const MIN_PASSWORD_LENGTH: usize = 8;

/// The authentication database of SCRAM users.
pub const ADMIN_DATABASE: &str = "admin";
/// The authentication database of AWS IAM (and x.509, LDAP) users.
pub const EXTERNAL_DATABASE: &str = "$external";

/// A role on a database (or one collection of it).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// The role, e.g. `readWrite`.
    pub role_name: String,
    /// The database it applies to.
    pub database_name: String,
    /// The collection it is limited to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection_name: Option<String>,
}

/// What a user may reach.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Scope {
    /// The cluster's name.
    pub name: String,
    /// `CLUSTER` (or `DATA_LAKE`).
    #[serde(rename = "type")]
    pub kind: String,
}

impl Scope {
    /// Only the cluster `name`.
    pub fn cluster(name: &str) -> Self {
        Self {
            name: name.into(),
            kind: "CLUSTER".into(),
        }
    }
}

/// A key-value label on a database user.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Label {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

open_enum!(
    /// Whether a user authenticates with an AWS IAM identity.
    AwsIamType {
        /// No: a password (SCRAM) or another method.
        None = "NONE",
        /// An IAM user, named by its ARN.
        User = "USER",
        /// An IAM role, named by its ARN.
        Role = "ROLE",
    }
);

/// How a user proves who it is.
#[derive(Clone)]
pub enum Authentication {
    /// SCRAM with a password, on the `admin` database.
    Password(SecretString),
    /// An AWS IAM identity (the user name is its ARN), on `$external`.
    AwsIam(AwsIamType),
}

impl fmt::Debug for Authentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Authentication::Password(_) => f.write_str("Password([redacted])"),
            Authentication::AwsIam(t) => write!(f, "AwsIam({t})"),
        }
    }
}

/// A database user to create or change. Its password is a secret: never
/// printed, never read back from Atlas.
#[derive(Clone, Debug)]
pub struct DatabaseUser {
    /// The user name (for AWS IAM, the ARN).
    pub username: String,
    /// How it authenticates.
    pub auth: Authentication,
    /// Its roles.
    pub roles: Vec<Role>,
    /// The clusters it may reach (all when empty).
    pub scopes: Vec<Scope>,
    /// Labels.
    pub labels: Vec<Label>,
    /// A description (at most 100 characters).
    pub description: Option<String>,
}

impl DatabaseUser {
    /// A SCRAM user with a password.
    pub fn scram(username: &str, password: SecretString, roles: Vec<Role>) -> Self {
        Self {
            username: username.into(),
            auth: Authentication::Password(password),
            roles,
            scopes: Vec::new(),
            labels: Vec::new(),
            description: None,
        }
    }

    /// The database it authenticates against.
    pub fn database_name(&self) -> &'static str {
        match self.auth {
            Authentication::Password(_) => ADMIN_DATABASE,
            Authentication::AwsIam(_) => EXTERNAL_DATABASE,
        }
    }

    fn check(&self, with_password: bool) -> Result<(), Error> {
        let bad = |m: String| {
            Err(Error::invalid(
                format!("database user {}", self.username),
                m,
            ))
        };
        if let Authentication::Password(p) = &self.auth
            && with_password
            && p.expose_secret().chars().count() < MIN_PASSWORD_LENGTH
        {
            return bad(format!(
                "the password is shorter than Atlas's {MIN_PASSWORD_LENGTH} characters"
            ));
        }
        if let Authentication::AwsIam(AwsIamType::None | AwsIamType::Other(_)) = &self.auth {
            return bad("AWS IAM authentication needs USER or ROLE".into());
        }
        if self.roles.is_empty() {
            return bad("a user needs at least one role".into());
        }
        if self
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 100)
        {
            return bad("the description is longer than 100 characters".into());
        }
        Ok(())
    }

    fn body(&self, group: &str, with_password: bool) -> serde_json::Value {
        let mut b = json!({
            "databaseName": self.database_name(),
            "groupId": group,
            "username": self.username,
            "roles": self.roles,
            "scopes": self.scopes,
            "labels": self.labels,
        });
        if let Some(d) = &self.description {
            b["description"] = json!(d);
        }
        match &self.auth {
            Authentication::Password(p) if with_password => {
                b["password"] = json!(p.expose_secret());
            }
            Authentication::Password(_) => {}
            Authentication::AwsIam(t) => b["awsIAMType"] = json!(t),
        }
        b
    }
}

/// A user as Atlas returns it (never a password).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedUser {
    /// The user name.
    pub username: String,
    /// Its authentication database.
    pub database_name: String,
    /// Its roles.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Its scopes.
    #[serde(default)]
    pub scopes: Vec<Scope>,
    /// Its labels.
    #[serde(default)]
    pub labels: Vec<Label>,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// AWS IAM authentication.
    #[serde(rename = "awsIAMType", default)]
    pub aws_iam_type: Option<AwsIamType>,
    /// x.509 authentication (`NONE` for others).
    #[serde(rename = "x509Type", default)]
    pub x509_type: Option<String>,
    /// LDAP authentication (`NONE` for others).
    #[serde(default)]
    pub ldap_auth_type: Option<String>,
    /// OIDC authentication (`NONE` for others).
    #[serde(default)]
    pub oidc_auth_type: Option<String>,
}

impl Client {
    fn user_path(group: &str, database: &str, username: &str) -> String {
        api_path(&["groups", group, "databaseUsers", database, username])
    }

    /// Every database user of the project.
    pub async fn database_users(&self, group: &str) -> Result<Vec<ListedUser>, Error> {
        self.all(
            &api_path(&["groups", group, "databaseUsers"]),
            media::DATABASE_USERS,
        )
        .await
    }

    /// Creates a database user.
    pub async fn create_database_user(
        &self,
        group: &str,
        user: &DatabaseUser,
    ) -> Result<ListedUser, Error> {
        user.check(true)?;
        self.fetch(
            Method::POST,
            &api_path(&["groups", group, "databaseUsers"]),
            Some(user.body(group, true)),
            media::DATABASE_USERS,
        )
        .await
    }

    /// Changes a database user (roles, scopes, labels, description; the
    /// password too with `with_password`).
    pub async fn update_database_user(
        &self,
        group: &str,
        user: &DatabaseUser,
        with_password: bool,
    ) -> Result<ListedUser, Error> {
        user.check(with_password)?;
        self.fetch(
            Method::PATCH,
            &Self::user_path(group, user.database_name(), &user.username),
            Some(user.body(group, with_password)),
            media::DATABASE_USERS,
        )
        .await
    }

    /// The database user `username` of `database` (`admin` for SCRAM
    /// users, `$external` for AWS IAM ones).
    pub async fn database_user(
        &self,
        group: &str,
        database: &str,
        username: &str,
    ) -> Result<ListedUser, Error> {
        self.fetch(
            Method::GET,
            &Self::user_path(group, database, username),
            None,
            media::DATABASE_USERS,
        )
        .await
    }

    /// Deletes the database user `username` of `database`.
    pub async fn delete_database_user(
        &self,
        group: &str,
        database: &str,
        username: &str,
    ) -> Result<(), Error> {
        self.call::<serde_json::Value>(
            Method::DELETE,
            &Self::user_path(group, database, username),
            &[],
            None,
            media::DATABASE_USERS,
        )
        .await
        .map(|_| ())
    }
}
