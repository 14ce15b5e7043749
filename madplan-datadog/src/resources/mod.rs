//! Datadog as madplan resources: the [`Datadog`] provider and one kind per
//! managed thing.
//!
//! | kind | type | found again by |
//! |---|---|---|
//! | `datadog.pagerduty_service` | [`PagerDutyService`] | its name, as state has it (the API has no tags and no list) |
//! | `datadog.slack_channel` | [`SlackChannel`] | its account and name, as state has it (one list per Slack account) |
//! | `datadog.monitor` | [`Monitor`] | the tag `madplan:ENV` (one paginated list) |
//! | `datadog.slo` | [`Slo`] | the tag `madplan:ENV` (one paginated list) |
//! | `datadog.synthetic_test` | [`SyntheticTest`] | the tag `madplan:ENV` (one paginated list of tests) |
//! | `datadog.dashboard` | [`Dashboard`] | a marker line in its description (one paginated list, then one read per dashboard of this environment) |
//! | `datadog.aws_integration` | [`AwsIntegration`] | its configuration id, as state has it (one list) |
//!
//! Monitors, SLOs and tests carry the tags `madplan:ENV`,
//! `madplan-address:ADDRESS` and `madplan-lineage:LINEAGE`; anything
//! without them (made by someone else) is never read as this environment's,
//! so never changed or deleted.

use std::collections::BTreeSet;

use madplan_core::rest::HttpError;
use madplan_core::{
    ErrorClass, Kinds, OpCx, Problem, Provider, ProviderError, TAG_ADDRESS, TAG_ENVIRONMENT,
    TAG_LINEAGE, problem,
};

use crate::client::Client;
use crate::error::Error;

mod aws;
mod channels;
mod dashboard;
mod monitor;
mod routing;
mod slo;
mod synthetic;

pub use aws::{AwsIntegration, AwsIntegrationOutputs, external_id};
pub use channels::{
    PagerDutyOutputs, PagerDutyService, SlackChannel, SlackChannelBuilder, SlackOutputs,
};
pub use dashboard::{
    Dashboard, DashboardOutputs, Marker, Series, Show, Widget, WidgetLayout, YAxis,
};
pub use monitor::{
    BoolOp, Monitor, MonitorId, MonitorOutputs, Options, Percentile, Query, Thresholds,
};
pub use routing::{Notify, PagerDutyHandle, Routes, Severity, SlackHandle};
pub use slo::{Measure, Slo, SloId, SloOutputs, Target, Targets};
pub use synthetic::{SyntheticOutputs, SyntheticTest};

/// The Datadog provider: the API client its resources use.
#[derive(Clone, Debug)]
pub struct Datadog {
    client: Client,
}

impl Datadog {
    /// A provider on `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// A provider whose client reads `DD_API_KEY`, `DD_APP_KEY`, `DD_SITE`
    /// and `DD_HOST` (see [`Client::from_env`]).
    pub fn from_env() -> Result<Self, Error> {
        Client::from_env().map(Self::new)
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl Provider for Datadog {
    const NAME: &'static str = "datadog";

    fn register(kinds: &mut Kinds) {
        kinds.register::<PagerDutyService>();
        kinds.register::<SlackChannel>();
        kinds.register::<Monitor>();
        kinds.register::<Slo>();
        kinds.register::<SyntheticTest>();
        kinds.register::<Dashboard>();
        kinds.register::<AwsIntegration>();
    }
}

/// A client error as the engine classifies it: retries the client already
/// spent (429, 5xx, no answer) are `Unavailable`, 404 `NotFound`, 409 and
/// duplicates `Conflict`, anything else `Fatal`. The HTTP status is kept as
/// the code, Datadog's messages in the message.
pub(crate) fn provider_error(e: Error) -> ProviderError {
    let class = match &e {
        Error::Api { status: 404, .. } => ErrorClass::NotFound,
        Error::Api { status: 409, .. } => ErrorClass::Conflict,
        Error::Api { messages, .. } if messages.iter().any(|m| m.contains("already exists")) => {
            ErrorClass::Conflict
        }
        Error::Api { status, .. } if *status >= 500 => ErrorClass::Unavailable,
        Error::RateLimited { .. } => ErrorClass::Unavailable,
        Error::Http(HttpError::Transport { .. }) => ErrorClass::Unavailable,
        _ => ErrorClass::Fatal,
    };
    let code = e.status().map(|s| format!("HTTP {s}"));
    let mut p = ProviderError::new("datadog", class, e.to_string());
    if let Some(c) = code {
        p = p.with_code(c);
    }
    p.with_source(e)
}

/// A create Datadog answered without what it must name (`what`, e.g. "the
/// monitor's id"): the object may exist, so the next refresh finds it by
/// its marker tags.
pub(crate) fn incomplete(what: &str) -> ProviderError {
    ProviderError::new(
        "datadog",
        ErrorClass::Fatal,
        format!("Datadog answered a create without {what}"),
    )
}

/// An input the engine should have resolved.
pub(crate) fn unresolved(e: madplan_core::input::Unresolved) -> ProviderError {
    ProviderError::new("datadog", ErrorClass::Fatal, e.to_string())
}

/// The tag prefix of the environment's tag: `madplan:ENV`.
const ENV_TAG: &str = "madplan:";
/// The tag prefix of the address: `madplan-address:ADDRESS`.
const ADDRESS_TAG: &str = "madplan-address:";
/// The tag prefix of the lineage: `madplan-lineage:LINEAGE`.
const LINEAGE_TAG: &str = "madplan-lineage:";

/// The tag every object of environment `env` carries, by which a refresh
/// finds them all in one search.
pub(crate) fn environment_tag(env: &str) -> String {
    format!("{ENV_TAG}{env}")
}

/// madplan's three tags for the object `cx` changes.
pub(crate) fn marker_tags(cx: &OpCx) -> Vec<String> {
    cx.tags()
        .into_iter()
        .map(|(k, v)| match k {
            TAG_ENVIRONMENT => format!("{ENV_TAG}{v}"),
            TAG_ADDRESS => format!("{ADDRESS_TAG}{v}"),
            _ => format!("{LINEAGE_TAG}{v}"),
        })
        .collect()
}

/// The user's tags followed by madplan's, as sent.
pub(crate) fn all_tags(user: &BTreeSet<String>, cx: &OpCx) -> Vec<String> {
    user.iter().cloned().chain(marker_tags(cx)).collect()
}

/// Reads madplan's markers back from an object's tags (or a marker line),
/// for [`madplan_core::RefreshCx::claim`].
pub(crate) fn marks(tags: &[String]) -> impl Fn(&str) -> Option<String> + '_ {
    move |key| {
        let prefix = match key {
            TAG_ENVIRONMENT => ENV_TAG,
            TAG_ADDRESS => ADDRESS_TAG,
            TAG_LINEAGE => LINEAGE_TAG,
            _ => return None,
        };
        tags.iter()
            .find_map(|t| t.strip_prefix(prefix).map(str::to_string))
    }
}

/// An object's tags without madplan's.
pub(crate) fn user_tags(tags: &[String]) -> BTreeSet<String> {
    tags.iter()
        .filter(|t| !is_madplan_tag(t))
        .cloned()
        .collect()
}

fn is_madplan_tag(t: &str) -> bool {
    t.starts_with(ENV_TAG) || t.starts_with(ADDRESS_TAG) || t.starts_with(LINEAGE_TAG)
}

/// Checks user tags: `key:value` as Datadog stores them (lower case, no
/// spaces), and none of madplan's own.
pub(crate) fn check_tags(tags: &BTreeSet<String>, problems: &mut Vec<Problem>) {
    for t in tags {
        if is_madplan_tag(t) {
            problems.push(problem(
                "tags",
                format!("{t:?} is one of madplan's own tags"),
                Some("madplan adds its tags itself; leave them out"),
            ));
        } else if t.is_empty()
            || t.len() > 200
            || t.chars().any(|c| {
                c.is_ascii_uppercase()
                    || c.is_whitespace()
                    || !(c.is_alphanumeric() || "_-:./".contains(c))
            })
        {
            problems.push(problem(
                "tags",
                format!(
                    "{t:?} is not a tag Datadog keeps as written (lower-case letters, digits, `_-:./`, at most 200)"
                ),
                None,
            ));
        }
    }
}

/// Whether `p` lies in 1-5 (a priority).
pub(crate) fn check_priority(p: Option<u8>, field: &str, problems: &mut Vec<Problem>) {
    if let Some(p) = p
        && !(1..=5).contains(&p)
    {
        problems.push(problem(
            field,
            format!("{p} is outside 1 (highest) to 5"),
            None,
        ));
    }
}

/// The `ok` of a lookup that may answer 404: `None` when it did.
pub(crate) fn found<T>(r: Result<T, Error>) -> Result<Option<T>, ProviderError> {
    match r {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(provider_error(e)),
    }
}

/// A delete that found nothing is done.
pub(crate) fn deleted(r: Result<(), Error>) -> Result<(), ProviderError> {
    found(r).map(|_| ())
}
