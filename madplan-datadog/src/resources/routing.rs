//! Typed routing of notifications: a monitor (or a synthetic test) names a
//! severity and the declared channels it may notify; its message's handles
//! are generated from them with Datadog's template conditionals, so it
//! cannot notify a channel the environment does not declare, and a warning
//! never pages.
//!
//! | severity | alert | alert recovery | warning | recovery | no data |
//! |---|---|---|---|---|---|
//! | `Critical` | PagerDuty + Slack | PagerDuty (resolves the page) | Slack | Slack | Slack |
//! | `Warning` | Slack | | Slack | Slack | Slack |
//! | `Info` | Slack | | Slack | | |

use madplan_core::input::Unresolved;
use madplan_core::{Input, IntoInput, Problem, Ref, ValidateCx, problem};
use serde::{Deserialize, Serialize};

use super::channels::{PagerDutyService, SlackChannel};

/// The `@pagerduty-NAME` handle of a declared [`PagerDutyService`]: only
/// its `&Ref` makes one (`Routes::page(&service)`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PagerDutyHandle(String);

/// The `@slack-ACCOUNT-CHANNEL` handle of a declared [`SlackChannel`]: only
/// its `&Ref` makes one (`Routes::slack(&channel)`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SlackHandle(String);

impl PagerDutyHandle {
    pub(crate) fn of(service_name: &str) -> Self {
        Self(format!("@pagerduty-{service_name}"))
    }

    /// The handle as a message writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl SlackHandle {
    pub(crate) fn of(account: &str, channel: &str) -> Self {
        Self(format!(
            "@slack-{account}-{}",
            channel.trim_start_matches('#')
        ))
    }

    /// The handle as a message writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl IntoInput<PagerDutyHandle> for &Ref<PagerDutyService> {
    fn into_input(self) -> Input<PagerDutyHandle> {
        self.output("handle")
    }
}

impl IntoInput<SlackHandle> for &Ref<SlackChannel> {
    fn into_input(self) -> Input<SlackHandle> {
        self.output("handle")
    }
}

/// How urgent a monitor is (the deployment guide's alerting rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Pages (PagerDuty) and tells Slack.
    Critical,
    /// Tells Slack.
    Warning,
    /// Tells Slack (deployments, scaling, backups).
    Info,
}

/// Who a monitor notifies: its severity and, for each, the declared
/// channels. A monitor's message is generated from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "severity", rename_all = "snake_case")]
pub enum Notify {
    /// Alerts page PagerDuty and tell Slack; warnings, recoveries and
    /// missing data tell Slack; an alert's recovery resolves the page.
    Critical {
        /// The PagerDuty services paged.
        pagerduty: Vec<Input<PagerDutyHandle>>,
        /// The Slack channels told.
        slack: Vec<Input<SlackHandle>>,
    },
    /// Everything tells Slack; nothing pages.
    Warning {
        /// The Slack channels told.
        slack: Vec<Input<SlackHandle>>,
    },
    /// Alerts and warnings tell Slack; nothing pages.
    Info {
        /// The Slack channels told.
        slack: Vec<Input<SlackHandle>>,
    },
    /// What a refresh reads from a message whose notifications madplan did
    /// not write (edited by hand): the block as it is. Never valid in a
    /// spec; the next apply writes madplan's block back.
    Edited {
        /// The notification part of the message, as read.
        block: String,
    },
}

/// The channels an environment routes to, from which each monitor's
/// [`Notify`] is made for its severity.
///
/// Routes take the handles of channels declared as resources:
///
/// ```
/// # use madplan_core::Environment;
/// # use madplan_datadog::resources::{PagerDutyService, Routes, Severity, SlackChannel};
/// # let mut env = Environment::new("production");
/// # let key = env.secret("pd", "v1", "k".to_string().into());
/// let pd = env.add("oncall", PagerDutyService::new("madplan-production", key));
/// let slack = env.add("alerts", SlackChannel::new("madplan", "#madplan-alerts"));
/// let routes = Routes::new().page(&pd).slack(&slack);
/// let warning = routes.notify(Severity::Warning); // never pages
/// ```
///
/// A handle cannot be written by hand, so a monitor cannot notify a
/// channel the environment does not declare:
///
/// ```compile_fail
/// # use madplan_datadog::resources::{Routes, SlackHandle};
/// let routes = Routes::new().slack(SlackHandle("@slack-anywhere".into()));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Routes {
    pagerduty: Vec<Input<PagerDutyHandle>>,
    slack: Vec<Input<SlackHandle>>,
}

impl Routes {
    /// No channels yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Critical monitors also page this PagerDuty service.
    #[must_use]
    pub fn page(mut self, service: impl IntoInput<PagerDutyHandle>) -> Self {
        self.pagerduty.push(service.into_input());
        self
    }

    /// Every monitor also tells this Slack channel.
    #[must_use]
    pub fn slack(mut self, channel: impl IntoInput<SlackHandle>) -> Self {
        self.slack.push(channel.into_input());
        self
    }

    /// The routing of a monitor of `severity`: only a critical one keeps
    /// the PagerDuty services.
    pub fn notify(&self, severity: Severity) -> Notify {
        let slack = self.slack.clone();
        match severity {
            Severity::Critical => Notify::Critical {
                pagerduty: self.pagerduty.clone(),
                slack,
            },
            Severity::Warning => Notify::Warning { slack },
            Severity::Info => Notify::Info { slack },
        }
    }
}

fn handles<T>(inputs: &[Input<T>], text: impl Fn(&T) -> &str) -> Result<String, Unresolved> {
    Ok(inputs
        .iter()
        .map(|i| i.get().map(&text))
        .collect::<Result<Vec<_>, _>>()?
        .join(" "))
}

fn section(out: &mut Vec<String>, condition: &str, who: &[&str]) {
    let who: Vec<&str> = who.iter().copied().filter(|s| !s.is_empty()).collect();
    if !who.is_empty() {
        out.push(format!(
            "{{{{#{condition}}}}}{}{{{{/{condition}}}}}",
            who.join(" ")
        ));
    }
}

impl Notify {
    /// The notification block of the message: each state's handles inside
    /// its template conditional.
    pub fn render(&self) -> Result<String, Unresolved> {
        let mut out = Vec::new();
        match self {
            Notify::Critical { pagerduty, slack } => {
                let pd = handles(pagerduty, PagerDutyHandle::as_str)?;
                let sl = handles(slack, SlackHandle::as_str)?;
                section(&mut out, "is_alert", &[&pd, &sl]);
                section(&mut out, "is_alert_recovery", &[&pd]);
                section(&mut out, "is_warning", &[&sl]);
                section(&mut out, "is_recovery", &[&sl]);
                section(&mut out, "is_no_data", &[&sl]);
            }
            Notify::Warning { slack } => {
                let sl = handles(slack, SlackHandle::as_str)?;
                for c in ["is_alert", "is_warning", "is_recovery", "is_no_data"] {
                    section(&mut out, c, &[&sl]);
                }
            }
            Notify::Info { slack } => {
                let sl = handles(slack, SlackHandle::as_str)?;
                for c in ["is_alert", "is_warning"] {
                    section(&mut out, c, &[&sl]);
                }
            }
            Notify::Edited { block } => return Ok(block.clone()),
        }
        Ok(out.join("\n"))
    }

    /// The severity, unless the block was edited by hand.
    pub fn severity(&self) -> Option<Severity> {
        match self {
            Notify::Critical { .. } => Some(Severity::Critical),
            Notify::Warning { .. } => Some(Severity::Warning),
            Notify::Info { .. } => Some(Severity::Info),
            Notify::Edited { .. } => None,
        }
    }

    /// Checks that every handle comes from a channel declared in this
    /// environment, that a critical monitor pages someone, and that every
    /// monitor tells a Slack channel.
    pub(crate) fn validate(&self, cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        let (pagerduty, slack): (&[Input<PagerDutyHandle>], &[Input<SlackHandle>]) = match self {
            Notify::Critical { pagerduty, slack } => (pagerduty, slack),
            Notify::Warning { slack } | Notify::Info { slack } => (&[], slack),
            Notify::Edited { .. } => {
                problems.push(problem(
                    "notify",
                    "an edited notification block is what a refresh reads, not a routing",
                    Some("route with Routes::notify(Severity::...)"),
                ));
                return;
            }
        };
        if matches!(self, Notify::Critical { .. }) && pagerduty.is_empty() {
            problems.push(problem(
                "notify",
                "a critical monitor pages no one",
                Some("add the PagerDuty service to its Routes with Routes::page(&service)"),
            ));
        }
        if slack.is_empty() {
            problems.push(problem(
                "notify",
                "it tells no Slack channel",
                Some("add a channel to its Routes with Routes::slack(&channel)"),
            ));
        }
        declared::<PagerDutyService, _>(cx, pagerduty, "PagerDuty service", problems);
        declared::<SlackChannel, _>(cx, slack, "Slack channel", problems);
    }
}

/// Each input must be the handle of a resource of kind `R` declared in the
/// environment, once.
fn declared<R: madplan_core::Resource, T>(
    cx: &ValidateCx<'_>,
    inputs: &[Input<T>],
    what: &str,
    problems: &mut Vec<Problem>,
) {
    let mut seen = Vec::new();
    for i in inputs {
        match i.reference() {
            Some(r) if r.output == "handle" && cx.referenced::<R, T>(i).is_some() => {
                if seen.contains(&r.address) {
                    problems.push(problem(
                        "notify",
                        format!("{} is notified twice", r.address),
                        None,
                    ));
                }
                seen.push(r.address.clone());
            }
            Some(r) => problems.push(problem(
                "notify",
                format!("{r} is not the handle of a {what} declared in this environment"),
                Some("pass the channel's handle: Routes::slack(&channel) / Routes::page(&service)"),
            )),
            None => problems.push(problem(
                "notify",
                format!("a {what} given as a literal handle, not a declared channel"),
                Some("declare the channel as a resource and route to its handle"),
            )),
        }
    }
}

/// Checks a monitor's or test's own text: it must not notify anyone by
/// itself (every `@` is a notification in Datadog) nor hold template
/// conditionals (the block madplan writes must be the only one).
pub(crate) fn check_text(text: &str, problems: &mut Vec<Problem>) {
    if text.contains('@') {
        problems.push(problem(
            "text",
            "the text contains `@`, which Datadog reads as a notification handle",
            Some("route notifications through Routes; write addresses without `@`"),
        ));
    }
    if ["{{#is_", "{{^is_", "{{/is_"]
        .iter()
        .any(|c| text.contains(c))
    {
        problems.push(problem(
            "text",
            "the text holds a notification conditional; madplan writes those from the routing",
            None,
        ));
    }
}

/// A monitor's whole message: its text, a blank line, the block.
pub(crate) fn message(text: &str, notify: &Notify) -> Result<String, Unresolved> {
    let block = notify.render()?;
    Ok(match (text.is_empty(), block.is_empty()) {
        (_, true) => text.to_string(),
        (true, false) => block,
        (false, false) => format!("{text}\n\n{block}"),
    })
}

/// Reads a message back into its text and routing: the routing block
/// starts at the first `{{#is_alert}}` (after a blank line); it is the
/// routing it renders from exactly, or [`Notify::Edited`].
pub(crate) fn parse_message(message: &str) -> (String, Notify) {
    const START: &str = "{{#is_alert}}";
    let (text, block) = match message.find(START) {
        Some(0) => ("", message),
        Some(i) if message[..i].ends_with("\n\n") => (&message[..i - 2], &message[i..]),
        _ => {
            return (
                message.to_string(),
                Notify::Edited {
                    block: String::new(),
                },
            );
        }
    };
    let first = block
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches(START)
        .trim_end_matches("{{/is_alert}}");
    let mut pagerduty = Vec::new();
    let mut slack = Vec::new();
    for token in first.split(' ') {
        if token.starts_with("@pagerduty-") {
            pagerduty.push(Input::Value(PagerDutyHandle(token.to_string())));
        } else if token.starts_with("@slack-") {
            slack.push(Input::Value(SlackHandle(token.to_string())));
        }
    }
    // Only a critical block names PagerDuty on its alert line.
    let candidates = if pagerduty.is_empty() {
        vec![
            Notify::Warning {
                slack: slack.clone(),
            },
            Notify::Info { slack },
        ]
    } else {
        vec![Notify::Critical { pagerduty, slack }]
    };
    for c in candidates {
        if c.render().is_ok_and(|r| r == block) {
            return (text.to_string(), c);
        }
    }
    (
        text.to_string(),
        Notify::Edited {
            block: block.to_string(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pd(n: &str) -> Input<PagerDutyHandle> {
        Input::Value(PagerDutyHandle::of(n))
    }

    fn sl(c: &str) -> Input<SlackHandle> {
        Input::Value(SlackHandle::of("madplan", c))
    }

    #[test]
    fn a_critical_monitor_pages_and_tells_slack_and_only_its_alert_pages() {
        let n = Notify::Critical {
            pagerduty: vec![pd("madplan-production")],
            slack: vec![sl("#madplan-alerts")],
        };
        let m = message("The API answers 5xx.", &n).unwrap();
        assert_eq!(
            m,
            "The API answers 5xx.\n\n\
             {{#is_alert}}@pagerduty-madplan-production @slack-madplan-madplan-alerts{{/is_alert}}\n\
             {{#is_alert_recovery}}@pagerduty-madplan-production{{/is_alert_recovery}}\n\
             {{#is_warning}}@slack-madplan-madplan-alerts{{/is_warning}}\n\
             {{#is_recovery}}@slack-madplan-madplan-alerts{{/is_recovery}}\n\
             {{#is_no_data}}@slack-madplan-madplan-alerts{{/is_no_data}}"
        );
        assert_eq!(parse_message(&m), ("The API answers 5xx.".to_string(), n));
    }

    #[test]
    fn a_warning_never_pages() {
        let n = Routes {
            pagerduty: vec![pd("madplan-production")],
            slack: vec![sl("#madplan-alerts")],
        }
        .notify(Severity::Warning);
        let m = message("CPU above 80%.", &n).unwrap();
        assert_eq!(
            m,
            "CPU above 80%.\n\n\
             {{#is_alert}}@slack-madplan-madplan-alerts{{/is_alert}}\n\
             {{#is_warning}}@slack-madplan-madplan-alerts{{/is_warning}}\n\
             {{#is_recovery}}@slack-madplan-madplan-alerts{{/is_recovery}}\n\
             {{#is_no_data}}@slack-madplan-madplan-alerts{{/is_no_data}}"
        );
        assert!(!m.contains("pagerduty"));
        assert_eq!(parse_message(&m), ("CPU above 80%.".to_string(), n));
    }

    #[test]
    fn info_tells_slack_of_alerts_and_warnings_only() {
        let n = Routes::new()
            .page(pd("madplan-production"))
            .slack(sl("#madplan-alerts"))
            .slack(sl("#deploys"))
            .notify(Severity::Info);
        let m = message("", &n).unwrap();
        assert_eq!(
            m,
            "{{#is_alert}}@slack-madplan-madplan-alerts @slack-madplan-deploys{{/is_alert}}\n\
             {{#is_warning}}@slack-madplan-madplan-alerts @slack-madplan-deploys{{/is_warning}}"
        );
        assert_eq!(parse_message(&m), (String::new(), n));
    }

    #[test]
    fn a_block_edited_by_hand_reads_as_edited() {
        let n = Routes::new()
            .page(pd("p"))
            .slack(sl("#a"))
            .notify(Severity::Critical);
        let m = message("x", &n).unwrap();
        // The page removed from the alert line only.
        let edited = m.replacen("{{#is_alert}}@pagerduty-p ", "{{#is_alert}}", 1);
        let (text, read) = parse_message(&edited);
        assert_eq!(text, "x");
        assert!(matches!(read, Notify::Edited { .. }), "{read:?}");
        // No block at all.
        assert_eq!(
            parse_message("just text"),
            (
                "just text".to_string(),
                Notify::Edited {
                    block: String::new()
                }
            )
        );
    }

    #[test]
    fn unresolved_handles_cannot_be_rendered() {
        let n = Notify::Warning {
            slack: vec![Input::Output(madplan_core::OutputRef {
                address: "datadog.slack_channel.alerts".parse().unwrap(),
                output: "handle".into(),
            })],
        };
        assert!(n.render().is_err());
    }
}
