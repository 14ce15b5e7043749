//! Synthetic API tests: the HTTP check of `/api/health` from several
//! locations and the SSL certificate check, routed through the same typed
//! channels as monitors.

use std::collections::BTreeSet;

use madplan_core::{
    Found, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource, ValidateCx, problem,
};
use serde::{Deserialize, Serialize};

use super::monitor::MonitorId;
use super::routing::{Notify, check_text, message, parse_message};
use super::{
    Datadog, all_tags, check_priority, check_tags, deleted, environment_tag, incomplete, marks,
    provider_error, unresolved, user_tags,
};
use crate::client::synthetics::{
    ApiTest, Check, HttpAssertion, Retry, SslAssertion, TestMonitorOptions, TestOptions,
};

/// A synthetic API test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyntheticTest {
    /// Its name.
    pub name: String,
    /// What it probes (an HTTP request, a TLS handshake).
    pub probe: Check,
    /// Where it runs from, e.g. `aws:us-east-1`.
    pub locations: BTreeSet<String>,
    /// Seconds between runs (30 to 604800).
    pub every_seconds: u32,
    /// Paused instead of live.
    pub paused: bool,
    /// The message's own text (no `@`: notifications come from `notify`).
    pub text: String,
    /// Who its failures notify, by severity.
    pub notify: Notify,
    /// Tags (`key:value`), besides madplan's.
    pub tags: BTreeSet<String>,
    /// Seconds a failure must last before alerting.
    pub min_failure_duration: Option<u32>,
    /// Locations that must fail at once before alerting.
    pub min_location_failed: Option<u32>,
    /// Retries of a failed run before it counts.
    pub retry: Option<Retry>,
    /// Whether redirects are followed.
    pub follow_redirects: Option<bool>,
    /// Minutes between re-notifications while failing.
    pub renotify_interval: Option<u32>,
    /// The priority of its monitor, 1 (highest) to 5.
    pub monitor_priority: Option<u8>,
}

impl SyntheticTest {
    /// A live test called `name` of `probe` from `locations` every
    /// `every_seconds`, notifying as `notify` says.
    pub fn new(
        name: &str,
        probe: Check,
        locations: impl IntoIterator<Item = impl Into<String>>,
        every_seconds: u32,
        notify: Notify,
    ) -> Self {
        Self {
            name: name.to_string(),
            probe,
            locations: locations.into_iter().map(Into::into).collect(),
            every_seconds,
            paused: false,
            text: String::new(),
            notify,
            tags: BTreeSet::new(),
            min_failure_duration: None,
            min_location_failed: None,
            retry: None,
            follow_redirects: None,
            renotify_interval: None,
            monitor_priority: None,
        }
    }

    /// With this text in its message.
    #[must_use]
    pub fn text(mut self, text: &str) -> Self {
        self.text = text.to_string();
        self
    }

    /// Alerting only once `locations` fail for `seconds`.
    #[must_use]
    pub fn alert_after(mut self, locations: u32, seconds: u32) -> Self {
        self.min_location_failed = Some(locations);
        self.min_failure_duration = Some(seconds);
        self
    }

    /// With a tag.
    #[must_use]
    pub fn tag(mut self, t: &str) -> Self {
        self.tags.insert(t.to_string());
        self
    }

    /// The test as the API takes it, keeping what `live` has that madplan
    /// does not model (a read-modify-write).
    fn wire(&self, cx: &OpCx, live: Option<ApiTest>) -> Result<ApiTest, ProviderError> {
        let mut t = live.unwrap_or_else(|| {
            ApiTest::new(&self.name, self.probe.clone(), Vec::<String>::new(), 0)
        });
        t.name = self.name.clone();
        t.check = self.probe.clone();
        t.locations = self.locations.iter().cloned().collect();
        t.paused = self.paused;
        t.message = message(&self.text, &self.notify).map_err(unresolved)?;
        t.tags = all_tags(&self.tags, cx);
        let o = &mut t.options;
        o.tick_every = self.every_seconds;
        // Optional fields keep what is set elsewhere unless the spec sets
        // them (they are server-defaulted).
        o.min_failure_duration = self.min_failure_duration.or(o.min_failure_duration);
        o.min_location_failed = self.min_location_failed.or(o.min_location_failed);
        if self.retry.is_some() {
            o.retry = self.retry.clone();
        }
        o.follow_redirects = self.follow_redirects.or(o.follow_redirects);
        o.monitor_priority = self.monitor_priority.or(o.monitor_priority);
        if let Some(r) = self.renotify_interval {
            o.monitor_options
                .get_or_insert_with(TestMonitorOptions::default)
                .renotify_interval = Some(r);
        }
        Ok(t)
    }

    fn from_wire(t: &ApiTest) -> Self {
        let (text, notify) = parse_message(&t.message);
        let TestOptions {
            tick_every,
            min_failure_duration,
            min_location_failed,
            retry,
            follow_redirects,
            monitor_options,
            monitor_priority,
            ..
        } = t.options.clone();
        Self {
            name: t.name.clone(),
            probe: t.check.clone(),
            locations: t.locations.iter().cloned().collect(),
            every_seconds: tick_every,
            paused: t.paused,
            text,
            notify,
            tags: user_tags(&t.tags),
            min_failure_duration,
            min_location_failed,
            retry,
            follow_redirects,
            renotify_interval: monitor_options.and_then(|m| m.renotify_interval),
            monitor_priority,
        }
    }
}

/// What a synthetic test yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyntheticOutputs {
    /// Its public id.
    pub public_id: String,
    /// The monitor Datadog made for it (for composites and SLOs).
    pub monitor_id: MonitorId,
}

impl Resource for SyntheticTest {
    const KIND: &'static str = "datadog.synthetic_test";
    const SERVER_DEFAULTED: &'static [&'static str] = &[
        "min_failure_duration",
        "min_location_failed",
        "retry",
        "follow_redirects",
        "renotify_interval",
        "monitor_priority",
    ];
    type Provider = Datadog;
    type Outputs = SyntheticOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tag_strings(&mut self.tags, defaults);
    }

    fn validate(&self, cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if self.name.trim().is_empty() {
            problems.push(problem("name", "a test needs a name", None));
        }
        if !(30..=604_800).contains(&self.every_seconds) {
            problems.push(problem(
                "every_seconds",
                format!("{} s is outside 30-604800", self.every_seconds),
                None,
            ));
        }
        if self.locations.is_empty() {
            problems.push(problem("locations", "it runs from no location", None));
        }
        if let Some(n) = self.min_location_failed
            && (n == 0 || n as usize > self.locations.len())
        {
            problems.push(problem(
                "min_location_failed",
                format!(
                    "{n} is not between 1 and its {} locations",
                    self.locations.len()
                ),
                None,
            ));
        }
        match &self.probe {
            Check::Http {
                url, assertions, ..
            } => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    problems.push(problem(
                        "probe",
                        format!("{url:?} is not an http(s) URL"),
                        None,
                    ));
                }
                if assertions.is_empty() {
                    problems.push(problem("probe", "it asserts nothing", None));
                }
                if assertions
                    .iter()
                    .any(|a| matches!(a, HttpAssertion::Other(_)))
                {
                    problems.push(problem(
                        "probe",
                        "raw assertions are what a refresh reads; write typed ones",
                        None,
                    ));
                }
            }
            Check::Ssl {
                host,
                port,
                assertions,
            } => {
                if host.is_empty() || *port == 0 {
                    problems.push(problem(
                        "probe",
                        "an SSL test needs a host and a port",
                        None,
                    ));
                }
                if assertions.is_empty() {
                    problems.push(problem("probe", "it asserts nothing", None));
                }
                if assertions
                    .iter()
                    .any(|a| matches!(a, SslAssertion::Other(_)))
                {
                    problems.push(problem(
                        "probe",
                        "raw assertions are what a refresh reads; write typed ones",
                        None,
                    ));
                }
            }
            Check::Other { subtype, .. } => problems.push(problem(
                "probe",
                format!("{subtype:?} tests are not modelled; madplan writes http and ssl tests"),
                None,
            )),
        }
        check_text(&self.text, problems);
        self.notify.validate(cx, problems);
        check_priority(self.monitor_priority, "monitor_priority", problems);
        check_tags(&self.tags, problems);
    }

    /// One paginated list of the organisation's tests, kept when tagged
    /// `madplan:ENV`.
    async fn refresh(p: &Datadog, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let env_tag = environment_tag(&cx.environment);
        let all = p.client().api_tests().await.map_err(provider_error)?;
        let mut out = Vec::new();
        for t in all {
            let (Some(id), Some(monitor)) = (t.public_id.clone(), t.monitor_id) else {
                continue;
            };
            let tracked = cx.tracked.iter().any(|x| x.outputs.public_id == id);
            if !tracked && !t.tags.contains(&env_tag) {
                continue;
            }
            if let Some(claim) = cx.claim(|o| o.public_id == id, marks(&t.tags)) {
                out.push(Found::new(
                    claim,
                    SyntheticTest::from_wire(&t),
                    SyntheticOutputs {
                        public_id: id,
                        monitor_id: MonitorId(monitor),
                    },
                ));
            }
        }
        Ok(out)
    }

    async fn create(&self, p: &Datadog, cx: &OpCx) -> Result<SyntheticOutputs, ProviderError> {
        let made = p
            .client()
            .create_api_test(&self.wire(cx, None)?)
            .await
            .map_err(provider_error)?;
        let (Some(public_id), Some(monitor)) = (made.public_id, made.monitor_id) else {
            return Err(incomplete("the test's public id and monitor"));
        };
        let outputs = SyntheticOutputs {
            public_id,
            monitor_id: MonitorId(monitor),
        };
        cx.created(&outputs).await?;
        Ok(outputs)
    }

    /// Reads the test, writes it back with madplan's fields and the others
    /// as they were, and sets its pause status when that changed.
    async fn update(
        &self,
        prior: &Observed<Self>,
        changed: &[String],
        p: &Datadog,
        cx: &OpCx,
    ) -> Result<SyntheticOutputs, ProviderError> {
        let id = &prior.outputs.public_id;
        let live = p.client().api_test(id).await.map_err(provider_error)?;
        let was_paused = live.paused;
        p.client()
            .update_api_test(id, &self.wire(cx, Some(live))?)
            .await
            .map_err(provider_error)?;
        if changed.iter().any(|c| c == "paused") || was_paused != self.paused {
            p.client()
                .set_test_paused(id, self.paused)
                .await
                .map_err(provider_error)?;
        }
        Ok(prior.outputs.clone())
    }

    async fn delete(
        outputs: &SyntheticOutputs,
        p: &Datadog,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        deleted(p.client().delete_api_test(&outputs.public_id).await)
    }
}
