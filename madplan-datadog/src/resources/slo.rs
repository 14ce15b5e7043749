//! Service level objectives: good over total events (metric), uptime of
//! monitors, or the share of good time slices (a latency percentile under
//! a threshold), with targets over 7, 30 and 90 days.

use std::collections::BTreeSet;

use madplan_core::{
    Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, Ref, RefreshCx, Resource,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::monitor::{Monitor, MonitorId};
use super::synthetic::SyntheticTest;
use super::{
    Datadog, all_tags, check_tags, deleted, environment_tag, found, incomplete, marks,
    provider_error, unresolved, user_tags,
};
use crate::client::slos::{
    SliceComparator, Slo as Wire, SloKind, SloQuery, SloThreshold, TimeSlice, Timeframe,
};

/// An SLO's id: an output of an [`Slo`], for dashboards.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SloId(pub String);

impl IntoInput<SloId> for &Ref<Slo> {
    fn into_input(self) -> Input<SloId> {
        self.output("id")
    }
}

/// How an SLO is measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Measure {
    /// Good events over all events (e.g. requests that did not fail).
    Metric {
        /// Good events.
        good: String,
        /// All events.
        total: String,
    },
    /// Uptime of monitors.
    Monitors {
        /// The monitors.
        monitors: Vec<Input<MonitorId>>,
        /// Groups that narrow a single monitor.
        groups: Vec<String>,
    },
    /// The share of time slices in which `query` compares to `threshold`
    /// (e.g. the P95 latency under 0.2 s).
    TimeSlice {
        /// The metric query.
        query: String,
        /// The comparison.
        comparator: SliceComparator,
        /// The threshold.
        threshold: f64,
        /// The slice, 60 or 300 seconds.
        interval_seconds: u32,
    },
    /// What a refresh reads from an SLO of another shape (made or changed
    /// by hand): its type and fields. Never valid in a spec.
    Other {
        /// The type.
        kind: String,
        /// Its fields.
        fields: Value,
    },
}

/// The target of one timeframe, in percent.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// Met when the indicator stays above this.
    pub target: f64,
    /// Warns below this (above the target).
    pub warning: Option<f64>,
}

impl Target {
    /// A target with no warning.
    pub fn new(target: f64) -> Self {
        Self {
            target,
            warning: None,
        }
    }

    /// With a warning.
    #[must_use]
    pub fn warning(mut self, w: f64) -> Self {
        self.warning = Some(w);
        self
    }
}

/// Targets over 7, 30 and 90 days.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Targets {
    /// Over 7 days.
    pub days_7: Option<Target>,
    /// Over 30 days.
    pub days_30: Option<Target>,
    /// Over 90 days.
    pub days_90: Option<Target>,
}

impl Targets {
    /// The same target over 7, 30 and 90 days.
    pub fn all(t: Target) -> Self {
        Self {
            days_7: Some(t),
            days_30: Some(t),
            days_90: Some(t),
        }
    }

    fn wire(&self) -> Vec<SloThreshold> {
        [
            (Timeframe::Days7, self.days_7),
            (Timeframe::Days30, self.days_30),
            (Timeframe::Days90, self.days_90),
        ]
        .into_iter()
        .filter_map(|(timeframe, t)| {
            t.map(|t| SloThreshold {
                timeframe,
                target: t.target,
                warning: t.warning,
            })
        })
        .collect()
    }

    fn from_wire(ts: &[SloThreshold]) -> Self {
        let mut out = Targets::default();
        for t in ts {
            let target = Some(Target {
                target: t.target,
                warning: t.warning,
            });
            match t.timeframe {
                Timeframe::Days7 => out.days_7 = target,
                Timeframe::Days30 => out.days_30 = target,
                Timeframe::Days90 => out.days_90 = target,
                _ => {}
            }
        }
        out
    }
}

/// A service level objective.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// Its name.
    pub name: String,
    /// A description.
    pub description: Option<String>,
    /// How it is measured.
    pub measure: Measure,
    /// Its targets.
    pub targets: Targets,
    /// Tags (`key:value`), besides madplan's.
    pub tags: BTreeSet<String>,
}

impl Slo {
    /// An SLO called `name`.
    pub fn new(name: &str, measure: Measure, targets: Targets) -> Self {
        Self {
            name: name.to_string(),
            description: None,
            measure,
            targets,
            tags: BTreeSet::new(),
        }
    }

    /// With a description.
    #[must_use]
    pub fn description(mut self, d: &str) -> Self {
        self.description = Some(d.to_string());
        self
    }

    /// With a tag.
    #[must_use]
    pub fn tag(mut self, t: &str) -> Self {
        self.tags.insert(t.to_string());
        self
    }

    fn kind(&self) -> Result<SloKind, ProviderError> {
        Ok(match &self.measure {
            Measure::Metric { good, total } => SloKind::Metric {
                query: SloQuery {
                    numerator: good.clone(),
                    denominator: total.clone(),
                },
            },
            Measure::Monitors { monitors, groups } => SloKind::Monitor {
                monitor_ids: monitors
                    .iter()
                    .map(|m| m.get().map(|id| id.0))
                    .collect::<Result<_, _>>()
                    .map_err(unresolved)?,
                groups: groups.clone(),
            },
            Measure::TimeSlice {
                query,
                comparator,
                threshold,
                interval_seconds,
            } => SloKind::TimeSlice(TimeSlice {
                queries: vec![("query1".into(), query.clone())],
                formula: "query1".into(),
                comparator: comparator.clone(),
                threshold: *threshold,
                interval_seconds: Some(*interval_seconds),
            }),
            Measure::Other { .. } => {
                return Err(ProviderError::new(
                    "datadog",
                    madplan_core::ErrorClass::Fatal,
                    "an SLO of another shape cannot be written",
                ));
            }
        })
    }

    fn wire(&self, cx: &OpCx, live: Option<Wire>) -> Result<Wire, ProviderError> {
        let extra = live.map(|l| l.extra).unwrap_or_default();
        Ok(Wire {
            id: None,
            name: self.name.clone(),
            description: self.description.clone(),
            tags: all_tags(&self.tags, cx),
            kind: self.kind()?,
            thresholds: self.targets.wire(),
            extra,
        })
    }

    fn from_wire(s: &Wire) -> Self {
        let measure = match &s.kind {
            SloKind::Metric { query } => Measure::Metric {
                good: query.numerator.clone(),
                total: query.denominator.clone(),
            },
            SloKind::Monitor {
                monitor_ids,
                groups,
            } => Measure::Monitors {
                monitors: monitor_ids
                    .iter()
                    .map(|i| Input::Value(MonitorId(*i)))
                    .collect(),
                groups: groups.clone(),
            },
            SloKind::TimeSlice(t)
                if t.formula == "query1" && t.queries.len() == 1 && t.queries[0].0 == "query1" =>
            {
                Measure::TimeSlice {
                    query: t.queries[0].1.clone(),
                    comparator: t.comparator.clone(),
                    threshold: t.threshold,
                    interval_seconds: t.interval_seconds.unwrap_or(300),
                }
            }
            SloKind::TimeSlice(t) => Measure::Other {
                kind: "time_slice".into(),
                fields: Value::String(format!("{t:?}")),
            },
            SloKind::Other { kind, fields } => Measure::Other {
                kind: kind.clone(),
                fields: Value::Object(fields.clone()),
            },
        };
        Slo {
            name: s.name.clone(),
            description: s.description.clone(),
            measure,
            targets: Targets::from_wire(&s.thresholds),
            tags: user_tags(&s.tags),
        }
    }
}

/// What an SLO yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SloOutputs {
    /// Its id.
    pub id: SloId,
}

impl Resource for Slo {
    const KIND: &'static str = "datadog.slo";
    type Provider = Datadog;
    type Outputs = SloOutputs;

    fn take_default_tags(&mut self, defaults: &std::collections::BTreeMap<String, String>) {
        madplan_core::merge_default_tag_strings(&mut self.tags, defaults);
    }

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if self.name.trim().is_empty() {
            problems.push(problem("name", "an SLO needs a name", None));
        }
        let all = [
            self.targets.days_7,
            self.targets.days_30,
            self.targets.days_90,
        ];
        if all.iter().all(Option::is_none) {
            problems.push(problem(
                "targets",
                "an SLO needs a target over 7, 30 or 90 days",
                None,
            ));
        }
        for t in all.into_iter().flatten() {
            if !(t.target > 0.0 && t.target < 100.0) {
                problems.push(problem(
                    "targets",
                    format!("target {} is not between 0 and 100", t.target),
                    None,
                ));
            }
            if let Some(w) = t.warning
                && !(w > t.target && w < 100.0)
            {
                problems.push(problem(
                    "targets",
                    format!(
                        "warning {w} must lie between the target {} and 100",
                        t.target
                    ),
                    None,
                ));
            }
        }
        match &self.measure {
            Measure::Metric { good, total }
                if good.trim().is_empty() || total.trim().is_empty() =>
            {
                problems.push(problem(
                    "measure",
                    "a metric SLO needs good and total events",
                    None,
                ))
            }
            Measure::Monitors { monitors, groups } => {
                if monitors.is_empty() {
                    problems.push(problem("measure", "a monitor SLO needs monitors", None));
                }
                if !groups.is_empty() && monitors.len() != 1 {
                    problems.push(problem(
                        "measure",
                        "groups narrow a single monitor only",
                        None,
                    ));
                }
                for m in monitors {
                    let ok = m.reference().is_some_and(|r| {
                        (r.address.kind() == Monitor::KIND && r.output == "id")
                            || (r.address.kind() == SyntheticTest::KIND && r.output == "monitor_id")
                    });
                    if !ok {
                        problems.push(problem(
                            "measure",
                            "an SLO counts monitors declared in this environment",
                            Some("pass their handles: &monitor or &synthetic_test"),
                        ));
                    }
                }
            }
            Measure::TimeSlice {
                query,
                interval_seconds,
                ..
            } => {
                if query.trim().is_empty() {
                    problems.push(problem("measure", "the time-slice query is empty", None));
                }
                if *interval_seconds != 60 && *interval_seconds != 300 {
                    problems.push(problem(
                        "measure",
                        format!("a time slice lasts 60 or 300 seconds, not {interval_seconds}"),
                        None,
                    ));
                }
            }
            Measure::Other { .. } => problems.push(problem(
                "measure",
                "another shape is what a refresh reads, not a measure",
                None,
            )),
            Measure::Metric { .. } => {}
        }
        check_tags(&self.tags, problems);
    }

    /// One paginated list of the SLOs tagged `madplan:ENV`, plus a read of
    /// any tracked SLO it did not return (none in the steady state).
    async fn refresh(p: &Datadog, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let mut live = p
            .client()
            .slos_tagged(&environment_tag(&cx.environment))
            .await
            .map_err(provider_error)?;
        let seen: BTreeSet<String> = live.iter().filter_map(|s| s.id.clone()).collect();
        for t in &cx.tracked {
            if !seen.contains(&t.outputs.id.0)
                && let Some(s) = found(p.client().slo(&t.outputs.id.0).await)?
            {
                live.push(s);
            }
        }
        let mut out = Vec::new();
        for s in live {
            let Some(id) = s.id.clone() else { continue };
            if let Some(claim) = cx.claim(|o| o.id.0 == id, marks(&s.tags)) {
                out.push(Found::new(
                    claim,
                    Slo::from_wire(&s),
                    SloOutputs { id: SloId(id) },
                ));
            }
        }
        Ok(out)
    }

    async fn create(&self, p: &Datadog, cx: &OpCx) -> Result<SloOutputs, ProviderError> {
        let made = p
            .client()
            .create_slo(&self.wire(cx, None)?)
            .await
            .map_err(provider_error)?;
        let id = made.id.ok_or_else(|| incomplete("the SLO's id"))?;
        let outputs = SloOutputs { id: SloId(id) };
        cx.created(&outputs).await?;
        Ok(outputs)
    }

    /// Reads the SLO, then writes it back with madplan's fields and the
    /// others as they were.
    async fn update(
        &self,
        prior: &Observed<Self>,
        _changed: &[String],
        p: &Datadog,
        cx: &OpCx,
    ) -> Result<SloOutputs, ProviderError> {
        let id = &prior.outputs.id.0;
        let live = p.client().slo(id).await.map_err(provider_error)?;
        p.client()
            .update_slo(id, &self.wire(cx, Some(live))?)
            .await
            .map_err(provider_error)?;
        Ok(prior.outputs.clone())
    }

    async fn delete(outputs: &SloOutputs, p: &Datadog, _cx: &OpCx) -> Result<(), ProviderError> {
        deleted(p.client().delete_slo(&outputs.id.0).await)
    }
}
