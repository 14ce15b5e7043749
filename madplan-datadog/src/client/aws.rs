//! The AWS integration (API v2, `/api/v2/integration/aws/accounts`): an AWS
//! account Datadog reads through an IAM role it assumes with an external id
//! it generates.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::open::{Extra, writable};
use super::{Client, Keys};
use crate::error::Error;

open_enum! {
    /// The AWS partition an account lives in.
    pub enum AwsPartition {
        /// Commercial regions.
        Aws = "aws",
        /// China.
        AwsCn = "aws-cn",
        /// GovCloud.
        AwsUsGov = "aws-us-gov",
    }
}

/// How Datadog reaches the account.
#[derive(Clone, Debug, PartialEq)]
pub enum AwsAuth {
    /// By assuming a role.
    Role {
        /// The role's name in the account.
        role_name: String,
        /// The external id Datadog generated, which the role's trust
        /// policy must require (answered, never sent).
        external_id: Option<String>,
    },
    /// Any other way (access keys), as Datadog sent it.
    Other(Value),
}

/// An AWS account of the AWS integration.
#[derive(Clone, Debug, PartialEq)]
pub struct AwsAccount {
    /// Datadog's id of this configuration (absent before it is created).
    pub id: Option<String>,
    /// The AWS account id (12 digits).
    pub aws_account_id: String,
    /// Its partition.
    pub partition: AwsPartition,
    /// How Datadog reaches it.
    pub auth: AwsAuth,
    /// The regions collected from (`None`: all).
    pub regions: Option<Vec<String>>,
    /// Tags added to every host and metric of the account.
    pub account_tags: Vec<String>,
    /// Every other attribute (metrics, logs, traces, resources
    /// configuration...), as Datadog sent it.
    pub extra: Extra,
}

/// Attributes Datadog answers but does not take back.
const READ_ONLY: &[&str] = &["created_at", "modified_at"];

impl AwsAccount {
    /// An account reached through the role `role_name`, all regions.
    pub fn with_role(aws_account_id: &str, role_name: &str) -> Self {
        AwsAccount {
            id: None,
            aws_account_id: aws_account_id.to_string(),
            partition: AwsPartition::Aws,
            auth: AwsAuth::Role {
                role_name: role_name.to_string(),
                external_id: None,
            },
            regions: None,
            account_tags: Vec::new(),
            extra: Extra::new(),
        }
    }

    /// The external id Datadog generated, once it has.
    pub fn external_id(&self) -> Option<&str> {
        match &self.auth {
            AwsAuth::Role { external_id, .. } => external_id.as_deref(),
            AwsAuth::Other(_) => None,
        }
    }

    /// The request body (`{"data": {"type": "account", "attributes": ...}}`).
    fn body(&self) -> Value {
        let mut a = writable(&self.extra, READ_ONLY);
        a.insert("aws_account_id".into(), json!(self.aws_account_id));
        a.insert("aws_partition".into(), json!(self.partition.as_str()));
        a.insert(
            "auth_config".into(),
            match &self.auth {
                AwsAuth::Role { role_name, .. } => json!({"role_name": role_name}),
                AwsAuth::Other(v) => v.clone(),
            },
        );
        a.insert(
            "aws_regions".into(),
            match &self.regions {
                None => json!({"include_all": true}),
                Some(r) => json!({"include_only": r}),
            },
        );
        a.insert("account_tags".into(), json!(self.account_tags));
        let mut data = json!({"type": "account", "attributes": a});
        if let Some(id) = &self.id {
            data["id"] = json!(id);
        }
        json!({ "data": data })
    }

    fn from_data(data: &Value) -> Result<Self, String> {
        let id = data["id"].as_str().map(str::to_string);
        let mut a: Map<String, Value> = match &data["attributes"] {
            Value::Object(o) => o.clone(),
            _ => return Err("no attributes".into()),
        };
        let aws_account_id = a
            .remove("aws_account_id")
            .and_then(|v| v.as_str().map(str::to_string))
            .ok_or("no aws_account_id")?;
        let partition = a
            .remove("aws_partition")
            .and_then(|v| v.as_str().map(AwsPartition::from))
            .unwrap_or(AwsPartition::Aws);
        let auth = match a.remove("auth_config") {
            Some(v) if v.get("role_name").is_some() && v.get("access_key_id").is_none() => {
                AwsAuth::Role {
                    role_name: v["role_name"].as_str().unwrap_or_default().to_string(),
                    external_id: v["external_id"].as_str().map(str::to_string),
                }
            }
            Some(v) => AwsAuth::Other(v),
            None => AwsAuth::Other(Value::Null),
        };
        let regions = match a.remove("aws_regions") {
            Some(v) if v.get("include_only").is_some() => {
                Some(serde_json::from_value(v["include_only"].clone()).map_err(|e| e.to_string())?)
            }
            _ => None,
        };
        let account_tags = a
            .remove("account_tags")
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        Ok(AwsAccount {
            id,
            aws_account_id,
            partition,
            auth,
            regions,
            account_tags,
            extra: a,
        })
    }
}

#[derive(Deserialize)]
struct One {
    data: Value,
}

#[derive(Deserialize)]
struct Many {
    #[serde(default)]
    data: Vec<Value>,
}

const PATH: &str = "/api/v2/integration/aws/accounts";

fn decode(method: &str, path: &str, data: &Value) -> Result<AwsAccount, Error> {
    AwsAccount::from_data(data).map_err(|e| Error::decode(method, path, e))
}

impl Client {
    /// Every AWS account of the integration (one call).
    pub async fn aws_accounts(&self) -> Result<Vec<AwsAccount>, Error> {
        let r: Many = self
            .call::<_, ()>(Method::GET, PATH, &[], None, Keys::Both)
            .await?;
        r.data.iter().map(|d| decode("GET", PATH, d)).collect()
    }

    /// The AWS account configuration `id`.
    pub async fn aws_account(&self, id: &str) -> Result<AwsAccount, Error> {
        let path = format!("{PATH}/{id}");
        let r: One = self
            .call::<_, ()>(Method::GET, &path, &[], None, Keys::Both)
            .await?;
        decode("GET", &path, &r.data)
    }

    /// Adds an AWS account; the answer carries the external id the role's
    /// trust policy must require.
    pub async fn create_aws_account(&self, account: &AwsAccount) -> Result<AwsAccount, Error> {
        let r: One = self
            .call(Method::POST, PATH, &[], Some(&account.body()), Keys::Both)
            .await?;
        decode("POST", PATH, &r.data)
    }

    /// Changes the AWS account configuration `id` (attributes it does not
    /// model are sent back as they were read).
    pub async fn update_aws_account(
        &self,
        id: &str,
        account: &AwsAccount,
    ) -> Result<AwsAccount, Error> {
        let path = format!("{PATH}/{id}");
        let r: One = self
            .call(Method::PATCH, &path, &[], Some(&account.body()), Keys::Both)
            .await?;
        decode("PATCH", &path, &r.data)
    }

    /// Removes the AWS account configuration `id`.
    pub async fn delete_aws_account(&self, id: &str) -> Result<(), Error> {
        self.delete_call::<()>(Method::DELETE, &format!("{PATH}/{id}"), None)
            .await
    }
}
