//! What the stack needs from outside: the four providers' credentials and
//! the operator's values, read from the variables the deployment guide and
//! each ecosystem use. Every missing or malformed value is reported at once,
//! before anything else happens; secret values never appear in messages or
//! `Debug`.

use std::fmt;

use madplan_core::{Error, Problem, Problems};
use secrecy::{ExposeSecret, SecretString};

use crate::atlas::Atlas;
use crate::aws::Aws;
use crate::cloudflare::Cloudflare;
use crate::datadog::Datadog;

/// A secret value and the version the operator gives it (rotate a secret by
/// changing both; the version is what plans and state show).
#[derive(Clone)]
pub struct Versioned {
    /// The value. Never printed.
    pub value: SecretString,
    /// The operator's label for this value (a date, a counter).
    pub version: String,
}

impl fmt::Debug for Versioned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Versioned([redacted], version {})", self.version)
    }
}

/// Everything the stack reads from outside: its providers, and the values
/// the resources need.
pub struct Settings {
    /// The AWS provider (the standard chain: `AWS_REGION`, `AWS_PROFILE`,
    /// `AWS_ENDPOINT_URL`, ...).
    pub aws: Aws,
    /// The Atlas provider (`MONGODB_ATLAS_CLIENT_ID`/`_CLIENT_SECRET` or
    /// `MONGODB_ATLAS_PUBLIC_KEY`/`_PRIVATE_KEY`, `MONGODB_ATLAS_BASE_URL`).
    pub atlas: Atlas,
    /// The Cloudflare provider (`CLOUDFLARE_API_TOKEN`, `CLOUDFLARE_BASE_URL`).
    pub cloudflare: Cloudflare,
    /// The Datadog provider (`DD_API_KEY`, `DD_APP_KEY`, `DD_SITE`, `DD_HOST`).
    pub datadog: Datadog,
    /// The values the resources need.
    pub values: Values,
}

/// The values the stack's resources need from outside.
pub struct Values {
    /// The AWS region the stack runs in.
    pub region: String,
    /// The AWS account (`MADPLAN_AWS_ACCOUNT_ID`, 12 digits), which Datadog's
    /// integration reads.
    pub aws_account_id: String,
    /// The Atlas organization (`MONGODB_ATLAS_ORG_ID`).
    pub atlas_org: String,
    /// The zone, by name (`CLOUDFLARE_ZONE`, e.g. `madplan.com`).
    pub zone: String,
    /// The Datadog site (`DD_SITE`, default `datadoghq.com`), which Atlas's
    /// Datadog integration needs too.
    pub datadog_site: String,
    /// The Datadog API key, for Atlas's integration (`DD_API_KEY`).
    pub datadog_api_key: Versioned,
    /// Where infrastructure alerts are e-mailed (`MADPLAN_ALERT_EMAIL`).
    pub alert_email: String,
    /// The PagerDuty service's integration key (`MADPLAN_PAGERDUTY_KEY`,
    /// version `MADPLAN_PAGERDUTY_KEY_VERSION`).
    pub pagerduty_key: Versioned,
    /// The application's database password (`MADPLAN_DB_PASSWORD`, version
    /// `MADPLAN_DB_PASSWORD_VERSION`).
    pub db_password: Versioned,
    /// The Redis AUTH token (`MADPLAN_REDIS_TOKEN`, version
    /// `MADPLAN_REDIS_TOKEN_VERSION`).
    pub redis_token: Versioned,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("values", &self.values)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Values {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Values")
            .field("region", &self.region)
            .field("aws_account_id", &self.aws_account_id)
            .field("atlas_org", &self.atlas_org)
            .field("zone", &self.zone)
            .field("datadog_site", &self.datadog_site)
            .field("alert_email", &self.alert_email)
            .field("pagerduty_key", &self.pagerduty_key)
            .field("db_password", &self.db_password)
            .field("redis_token", &self.redis_token)
            .finish_non_exhaustive()
    }
}

/// Reads variables, collecting every problem.
struct Reader<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<Problem>,
}

impl Reader<'_> {
    fn problem(&mut self, variable: &str, message: impl Into<String>, hint: &str) {
        self.problems.push(Problem {
            address: None,
            field: Some(variable.to_string()),
            message: message.into(),
            hint: Some(hint.to_string()),
        });
    }

    fn required(&mut self, variable: &str, hint: &str) -> String {
        match (self.get)(variable).filter(|v| !v.trim().is_empty()) {
            Some(v) => v,
            None => {
                self.problem(variable, "is not set", hint);
                String::new()
            }
        }
    }

    fn or(&self, variable: &str, default: &str) -> String {
        (self.get)(variable)
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| default.to_string())
    }

    fn secret(&mut self, variable: &str, min_len: usize, hint: &str) -> Versioned {
        let value = self.required(variable, hint);
        if !value.is_empty() && value.len() < min_len {
            // The value itself is never repeated.
            self.problem(
                variable,
                format!(
                    "is too short ({} characters, at least {min_len})",
                    value.len()
                ),
                hint,
            );
        }
        Versioned {
            value: SecretString::from(value),
            version: self.or(&format!("{variable}_VERSION"), "1"),
        }
    }
}

impl Settings {
    /// Reads the settings from the process environment and builds the four
    /// providers; every missing or malformed value is reported at once.
    pub async fn from_env() -> Result<Settings, Error> {
        let conf = aws_config::load_from_env().await;
        let region = conf.region().map(|r| r.to_string());
        Self::read(&|k| std::env::var(k).ok(), Aws::from_conf(&conf), region)
    }

    /// Reads the settings through `get` (a variable's value by name), with
    /// an AWS provider built already and its region.
    pub fn read(
        get: &dyn Fn(&str) -> Option<String>,
        aws: Aws,
        region: Option<String>,
    ) -> Result<Settings, Error> {
        let mut r = Reader {
            get,
            problems: Vec::new(),
        };
        let region = region.unwrap_or_else(|| {
            r.problem(
                "AWS_REGION",
                "no AWS region is configured",
                "set AWS_REGION (e.g. us-east-1) or a region in your AWS profile",
            );
            String::new()
        });
        let aws_account_id = r.required(
            "MADPLAN_AWS_ACCOUNT_ID",
            "the AWS account's 12-digit id (`aws sts get-caller-identity`)",
        );
        if !aws_account_id.is_empty()
            && (aws_account_id.len() != 12 || !aws_account_id.chars().all(|c| c.is_ascii_digit()))
        {
            r.problem(
                "MADPLAN_AWS_ACCOUNT_ID",
                format!("{aws_account_id:?} is not a 12-digit AWS account id"),
                "e.g. 123456789012",
            );
        }
        let atlas = Atlas::from_env().map_err(|e| {
            r.problem(
                "MONGODB_ATLAS_CLIENT_ID",
                e.to_string(),
                "give a service account (MONGODB_ATLAS_CLIENT_ID and MONGODB_ATLAS_CLIENT_SECRET) \
                 or an API key (MONGODB_ATLAS_PUBLIC_KEY and MONGODB_ATLAS_PRIVATE_KEY)",
            )
        });
        let atlas_org = r.required(
            "MONGODB_ATLAS_ORG_ID",
            "the id of the Atlas organization the project lives in (Organization Settings)",
        );
        let cloudflare = Cloudflare::from_env().map_err(|e| {
            r.problem(
                "CLOUDFLARE_API_TOKEN",
                e.to_string(),
                "an API token with Zone, DNS, Zone Settings and Firewall edit permissions",
            )
        });
        if !atlas_org.is_empty()
            && (atlas_org.len() != 24 || !atlas_org.chars().all(|c| c.is_ascii_hexdigit()))
        {
            r.problem(
                "MONGODB_ATLAS_ORG_ID",
                format!("{atlas_org:?} is not an Atlas organization id (24 hexadecimal digits)"),
                "copy it from the organization's settings in Atlas",
            );
        }
        let zone = r.required("CLOUDFLARE_ZONE", "the zone's name, e.g. madplan.com");
        if !zone.is_empty()
            && (!zone.contains('.')
                || zone.starts_with('.')
                || zone.ends_with('.')
                || !zone
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        {
            r.problem(
                "CLOUDFLARE_ZONE",
                format!("{zone:?} is not a zone name"),
                "the zone's domain, e.g. madplan.com",
            );
        }
        let datadog = Datadog::from_env().map_err(|e| {
            r.problem(
                "DD_API_KEY",
                e.to_string(),
                "DD_API_KEY and DD_APP_KEY from Organization Settings, and DD_SITE",
            )
        });
        let datadog_site = r.or("DD_SITE", "datadoghq.com");
        if crate::datadog::Site::from_domain(&datadog_site).is_err() {
            use crate::datadog::Site;
            r.problem(
                "DD_SITE",
                format!("{datadog_site:?} is not a Datadog site"),
                &format!("one of {}", Site::ALL.map(Site::domain).join(", ")),
            );
        }
        let datadog_api_key = r.secret(
            "DD_API_KEY",
            32,
            "a Datadog API key (32 characters); Atlas sends its metrics with it",
        );
        if !datadog_api_key
            .value
            .expose_secret()
            .chars()
            .all(|c| c.is_ascii_hexdigit())
        {
            r.problem(
                "DD_API_KEY",
                "is not hexadecimal (the value is not shown)",
                "copy the key from Organization Settings > API Keys",
            );
        }
        if let Some(app) = (get)("DD_APP_KEY").filter(|v| !v.is_empty())
            && (app.len() != 40 || !app.chars().all(|c| c.is_ascii_hexdigit()))
        {
            r.problem(
                "DD_APP_KEY",
                format!(
                    "is not a Datadog application key (40 hexadecimal digits; this one has {} \
                     characters, the value is not shown)",
                    app.len()
                ),
                "copy it from Organization Settings > Application Keys",
            );
        }
        let alert_email = r.required(
            "MADPLAN_ALERT_EMAIL",
            "where infrastructure alerts go, e.g. alerts@madplan.com",
        );
        if !alert_email.is_empty() && !alert_email.contains('@') {
            r.problem(
                "MADPLAN_ALERT_EMAIL",
                format!("{alert_email:?} is not an e-mail address"),
                "e.g. alerts@madplan.com",
            );
        }
        let pagerduty_key = r.secret(
            "MADPLAN_PAGERDUTY_KEY",
            20,
            "the integration key of the PagerDuty service critical alerts page",
        );
        let db_password = r.secret(
            "MADPLAN_DB_PASSWORD",
            12,
            "the application's database password (12 characters or more)",
        );
        let redis_token = r.secret(
            "MADPLAN_REDIS_TOKEN",
            16,
            "the Redis AUTH token (16 to 128 printable characters)",
        );
        {
            let token = redis_token.value.expose_secret();
            // ElastiCache's rules: printable ASCII without spaces, `@`, `"`
            // or `/`, at most 128 characters.
            let bad = token
                .chars()
                .filter(|c| !c.is_ascii_graphic() || matches!(c, '@' | '"' | '/'))
                .count();
            if bad > 0 || token.len() > 128 {
                r.problem(
                    "MADPLAN_REDIS_TOKEN",
                    format!(
                        "ElastiCache refuses it: {bad} character(s) that are not printable \
                         ASCII or are a space, @, \" or /, {} characters in all (the value is \
                         not shown)",
                        token.len()
                    ),
                    "16 to 128 printable characters without spaces, @, \" or /",
                );
            }
        }
        // How often waits poll (Atlas clusters, Cloudflare certificates);
        // the providers' own defaults unless the operator says.
        let poll = (get)("MADPLAN_POLL_INTERVAL").filter(|v| !v.trim().is_empty());
        let poll = match poll.map(|v| humantime::parse_duration(v.trim())) {
            None => None,
            Some(Ok(d)) => Some(d),
            Some(Err(e)) => {
                r.problem(
                    "MADPLAN_POLL_INTERVAL",
                    format!("is not a duration: {e}"),
                    "e.g. 10s, or leave it unset",
                );
                None
            }
        };
        let (atlas, cloudflare) = match poll {
            Some(d) => (
                atlas.map(|a| a.with_poll_interval(d)),
                cloudflare.map(|c| c.poll_every(d)),
            ),
            None => (atlas, cloudflare),
        };
        match (atlas, cloudflare, datadog) {
            (Ok(atlas), Ok(cloudflare), Ok(datadog)) if r.problems.is_empty() => Ok(Settings {
                aws,
                atlas,
                cloudflare,
                datadog,
                values: Values {
                    region,
                    aws_account_id,
                    atlas_org,
                    zone,
                    datadog_site,
                    datadog_api_key,
                    alert_email,
                    pagerduty_key,
                    db_password,
                    redis_token,
                },
            }),
            _ => Err(Error::Invalid(Problems(r.problems))),
        }
    }
}
