//! Database users.

use std::fmt;

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Client, media};
use crate::error::Error;

/// Atlas's minimum password length (`minLength` of `password`).
pub const MIN_PASSWORD_LENGTH: usize = 8;

/// A role on a database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// The role, e.g. `readWrite`.
    pub role_name: String,
    /// The database it applies to.
    pub database_name: String,
}

/// What a user may reach.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// A SCRAM database user. Its password is a secret: never printed, never
/// read back from Atlas.
#[derive(Clone)]
pub struct DatabaseUser {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: SecretString,
    /// Its roles.
    pub roles: Vec<Role>,
    /// The clusters it may reach (all when empty).
    pub scopes: Vec<Scope>,
}

impl fmt::Debug for DatabaseUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseUser")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("roles", &self.roles)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// A user as Atlas returns it (no password).
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
}

impl DatabaseUser {
    fn check(&self) -> Result<(), Error> {
        if self.password.expose_secret().chars().count() < MIN_PASSWORD_LENGTH {
            return Err(Error::invalid(
                format!("database user {}", self.username),
                format!("the password is shorter than Atlas's {MIN_PASSWORD_LENGTH} characters"),
            ));
        }
        if self.roles.is_empty() {
            return Err(Error::invalid(
                format!("database user {}", self.username),
                "a user needs at least one role",
            ));
        }
        Ok(())
    }

    fn body(&self, group: &str) -> serde_json::Value {
        json!({
            "databaseName": "admin",
            "groupId": group,
            "username": self.username,
            "password": self.password.expose_secret(),
            "roles": self.roles,
            "scopes": self.scopes,
        })
    }
}

impl Client {
    /// Creates a database user.
    pub async fn create_database_user(
        &self,
        group: &str,
        user: &DatabaseUser,
    ) -> Result<ListedUser, Error> {
        user.check()?;
        self.fetch(
            Method::POST,
            &format!("/api/atlas/v2/groups/{group}/databaseUsers"),
            Some(user.body(group)),
            media::DATABASE_USERS,
        )
        .await
    }

    /// Changes a database user (password, roles, scopes).
    pub async fn update_database_user(
        &self,
        group: &str,
        user: &DatabaseUser,
    ) -> Result<ListedUser, Error> {
        user.check()?;
        self.fetch(
            Method::PATCH,
            &format!(
                "/api/atlas/v2/groups/{group}/databaseUsers/admin/{}",
                user.username
            ),
            Some(user.body(group)),
            media::DATABASE_USERS,
        )
        .await
    }

    /// The database user `username`.
    pub async fn database_user(&self, group: &str, username: &str) -> Result<ListedUser, Error> {
        self.fetch(
            Method::GET,
            &format!("/api/atlas/v2/groups/{group}/databaseUsers/admin/{username}"),
            None,
            media::DATABASE_USERS,
        )
        .await
    }

    /// Deletes the database user `username`.
    pub async fn delete_database_user(&self, group: &str, username: &str) -> Result<(), Error> {
        self.call::<serde_json::Value>(
            Method::DELETE,
            &format!("/api/atlas/v2/groups/{group}/databaseUsers/admin/{username}"),
            &[],
            None,
            media::DATABASE_USERS,
        )
        .await
        .map(|_| ())
    }
}
