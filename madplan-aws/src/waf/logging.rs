//! A web ACL's logging to a CloudWatch Logs group, with fields redacted.

use std::collections::BTreeSet;

use aws_sdk_wafv2::types::{
    FieldToMatch, LoggingConfiguration, Method, QueryString, Scope, SingleHeader, UriPath,
};
use madplan_core::{
    Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use super::WebAclArn;
use crate::Aws;
use crate::network::gone_is_done;
use crate::observability::{LogGroup, LogGroupArn};
use crate::support::{aws_error, build_error, claim_tracked, resolved};

/// The prefix WAF requires of a log group it writes to.
pub const WAF_LOG_GROUP_PREFIX: &str = "aws-waf-logs-";

/// A part of each request that WAF writes as `REDACTED` in its logs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedactedField {
    /// A header, by its lowercase name.
    Header(String),
    /// The query string.
    QueryString,
    /// The URI path.
    UriPath,
    /// The method.
    Method,
}

impl RedactedField {
    /// A header (its name lowercased, as WAF compares them).
    pub fn header(name: &str) -> Self {
        RedactedField::Header(name.to_ascii_lowercase())
    }

    fn to_api(&self) -> Result<FieldToMatch, ProviderError> {
        let b = FieldToMatch::builder();
        Ok(match self {
            RedactedField::Header(h) => b.single_header(
                SingleHeader::builder()
                    .name(h)
                    .build()
                    .map_err(build_error)?,
            ),
            RedactedField::QueryString => b.query_string(QueryString::builder().build()),
            RedactedField::UriPath => b.uri_path(UriPath::builder().build()),
            RedactedField::Method => b.method(Method::builder().build()),
        }
        .build())
    }

    fn from_api(f: &FieldToMatch) -> Option<Self> {
        if let Some(h) = f.single_header() {
            Some(RedactedField::Header(h.name().to_ascii_lowercase()))
        } else if f.query_string().is_some() {
            Some(RedactedField::QueryString)
        } else if f.uri_path().is_some() {
            Some(RedactedField::UriPath)
        } else if f.method().is_some() {
            Some(RedactedField::Method)
        } else {
            None
        }
    }
}

fn default_redacted() -> BTreeSet<RedactedField> {
    [
        RedactedField::header("authorization"),
        RedactedField::header("cookie"),
    ]
    .into()
}

/// A web ACL's logging to a CloudWatch Logs group whose name starts with
/// `aws-waf-logs-` (WAF refuses others; validation does too), with the
/// `authorization` and `cookie` headers redacted unless told otherwise.
///
/// A logging configuration has no tags; one `ListLoggingConfigurations`
/// reads them all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TypedBuilder)]
pub struct Logging {
    /// The ACL whose requests are logged.
    #[builder(setter(transform = |a: impl IntoInput<WebAclArn>| a.into_input()))]
    pub web_acl: Input<WebAclArn>,
    /// The log group.
    #[builder(setter(transform = |g: impl IntoInput<LogGroupArn>| g.into_input()))]
    pub destination: Input<LogGroupArn>,
    /// What is redacted.
    #[builder(default = default_redacted(), setter(transform = |f: impl IntoIterator<Item = RedactedField>| f.into_iter().collect()))]
    pub redacted: BTreeSet<RedactedField>,
}

/// What a logging configuration yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoggingOutputs {
    /// The ACL's ARN.
    pub web_acl_arn: WebAclArn,
}

impl Logging {
    /// The configuration WAF takes.
    pub fn to_api(&self) -> Result<LoggingConfiguration, ProviderError> {
        LoggingConfiguration::builder()
            .resource_arn(resolved(&self.web_acl)?.as_str())
            .log_destination_configs(resolved(&self.destination)?.as_str())
            .set_redacted_fields(Some(
                self.redacted
                    .iter()
                    .map(RedactedField::to_api)
                    .collect::<Result<_, _>>()?,
            ))
            .build()
            .map_err(build_error)
    }

    fn from_api(c: &LoggingConfiguration) -> Self {
        Self {
            web_acl: Input::Value(WebAclArn(c.resource_arn().to_string())),
            destination: Input::Value(LogGroupArn(
                c.log_destination_configs()
                    .first()
                    .map(|d| d.trim_end_matches(":*").to_string())
                    .unwrap_or_default(),
            )),
            redacted: c
                .redacted_fields()
                .iter()
                .filter_map(RedactedField::from_api)
                .collect(),
        }
    }

    async fn put(&self, aws: &Aws) -> Result<LoggingOutputs, ProviderError> {
        aws.wafv2()
            .put_logging_configuration()
            .logging_configuration(self.to_api()?)
            .send()
            .await
            .map_err(aws_error)?;
        Ok(LoggingOutputs {
            web_acl_arn: resolved(&self.web_acl)?.clone(),
        })
    }
}

impl Resource for Logging {
    const KIND: &'static str = "aws.waf_logging";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["web_acl"];
    type Provider = Aws;
    type Outputs = LoggingOutputs;

    fn validate(&self, cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        let refused = |what: String| {
            problem(
                "destination",
                format!(
                    "WAF only logs to a log group whose name starts with {WAF_LOG_GROUP_PREFIX:?}; {what}"
                ),
                Some("name the log group aws-waf-logs-..."),
            )
        };
        match &self.destination {
            Input::Value(arn) => {
                let name = arn.as_str().split(":log-group:").nth(1).unwrap_or_default();
                if !name.starts_with(WAF_LOG_GROUP_PREFIX) {
                    problems.push(refused(format!("{arn} is not one")));
                }
            }
            Input::Output(_) => {
                if let Some((address, group)) = cx.referenced::<LogGroup, _>(&self.destination)
                    && !group.name.starts_with(WAF_LOG_GROUP_PREFIX)
                {
                    problems.push(refused(format!("{address} is named {:?}", group.name)));
                }
            }
        }
        for f in &self.redacted {
            if let RedactedField::Header(h) = f
                && (h.is_empty() || h.len() > 64 || *h != h.to_ascii_lowercase())
            {
                problems.push(problem(
                    "redacted",
                    format!("{h:?} is not a lowercase header name"),
                    Some("use RedactedField::header"),
                ));
            }
        }
        if self.redacted.len() > 100 {
            problems.push(problem("redacted", "WAF redacts at most 100 fields", None));
        }
    }

    async fn refresh(aws: &Aws, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        if cx.tracked.is_empty() {
            return Ok(Vec::new());
        }
        let mut configs = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = aws
                .wafv2()
                .list_logging_configurations()
                .scope(Scope::Regional)
                .limit(100)
                .set_next_marker(marker.clone())
                .send()
                .await
                .map_err(aws_error)?;
            configs.extend(page.logging_configurations().iter().cloned());
            match page.next_marker() {
                Some(m) if !m.is_empty() && !page.logging_configurations().is_empty() => {
                    marker = Some(m.to_string())
                }
                _ => break,
            }
        }
        Ok(configs
            .iter()
            .filter_map(|c| {
                let acl = WebAclArn(c.resource_arn().to_string());
                let claim = claim_tracked(cx, |o| o.web_acl_arn == acl)?;
                Some(Found::new(
                    claim,
                    Logging::from_api(c),
                    LoggingOutputs { web_acl_arn: acl },
                ))
            })
            .collect())
    }

    async fn create(&self, aws: &Aws, cx: &OpCx) -> Result<LoggingOutputs, ProviderError> {
        let outputs = self.put(aws).await?;
        cx.created(&outputs).await?;
        Ok(outputs)
    }

    async fn update(
        &self,
        _prior: &Observed<Self>,
        _changed: &[String],
        aws: &Aws,
        _cx: &OpCx,
    ) -> Result<LoggingOutputs, ProviderError> {
        self.put(aws).await
    }

    async fn delete(outputs: &LoggingOutputs, aws: &Aws, _cx: &OpCx) -> Result<(), ProviderError> {
        gone_is_done(
            aws.wafv2()
                .delete_logging_configuration()
                .resource_arn(outputs.web_acl_arn.as_str())
                .send()
                .await
                .map_err(aws_error),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_and_cookie_are_redacted_by_default() {
        let l = Logging::builder()
            .web_acl("arn:aws:wafv2:us-east-1:1:regional/webacl/x/1")
            .destination("arn:aws:logs:us-east-1:1:log-group:aws-waf-logs-x")
            .build();
        let c = l.to_api().unwrap();
        let headers: Vec<&str> = c
            .redacted_fields()
            .iter()
            .filter_map(|f| f.single_header().map(|h| h.name()))
            .collect();
        assert_eq!(headers, ["authorization", "cookie"]);
        assert_eq!(
            c.log_destination_configs(),
            ["arn:aws:logs:us-east-1:1:log-group:aws-waf-logs-x"]
        );
        assert_eq!(Logging::from_api(&c), l);
    }
}
