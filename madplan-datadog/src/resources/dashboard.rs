//! Dashboards: widgets written as typed values. A widget's layout is kept
//! as it is unless the spec gives one, and every field madplan does not
//! model (styles, legends, links) is kept through a read-modify-write.
//!
//! Dashboards have no tags: madplan marks its own with a last line of the
//! description, `managed by madplan: madplan:ENV madplan-address:ADDRESS
//! madplan-lineage:LINEAGE`.

use madplan_core::{
    Found, Input, Observed, OpCx, Problem, ProviderError, RefreshCx, Resource, ValidateCx, problem,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::slo::{Slo, SloId};
use super::{Datadog, deleted, found, incomplete, marker_tags, marks, provider_error, unresolved};
use crate::client::Extra;
use crate::client::dashboards::{
    Aggregator, Axis, Dashboard as Wire, Definition, DisplayType, LayoutType, Marker as WireMarker,
    SeriesRequest, TimeWindow, ValueRequest, ViewMode, Widget as WireWidget, WidgetDefinition,
    WidgetLayout as WireLayout,
};

/// Where a widget sits: columns and rows of the dashboard's grid.
pub type WidgetLayout = WireLayout;

/// One query of a timeseries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The metric query.
    pub query: String,
    /// How it is drawn.
    pub display: Option<DisplayType>,
}

impl Series {
    /// A line of `query`.
    pub fn line(query: &str) -> Self {
        Self {
            query: query.to_string(),
            display: Some(DisplayType::Line),
        }
    }

    /// Bars of `query`.
    pub fn bars(query: &str) -> Self {
        Self {
            query: query.to_string(),
            display: Some(DisplayType::Bars),
        }
    }
}

/// A graph's left axis.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct YAxis {
    /// Lowest value shown.
    pub min: Option<String>,
    /// Highest value shown.
    pub max: Option<String>,
    /// Its label.
    pub label: Option<String>,
    /// `linear`, `log`, `pow`, `sqrt`.
    pub scale: Option<String>,
}

/// A horizontal line on a graph (a target).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// Where, e.g. `y = 0.2`.
    pub value: String,
    /// Its label.
    pub label: Option<String>,
    /// How it is drawn, e.g. `error dashed`.
    pub display_type: Option<String>,
}

/// What a widget shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Show {
    /// Queries over time.
    Timeseries {
        /// Its title.
        title: Option<String>,
        /// Its queries.
        series: Vec<Series>,
        /// Its left axis.
        yaxis: Option<YAxis>,
        /// Its markers.
        markers: Vec<Marker>,
    },
    /// One number.
    QueryValue {
        /// Its title.
        title: Option<String>,
        /// The metric query.
        query: String,
        /// How the series becomes one number.
        aggregator: Option<Aggregator>,
        /// Decimal places.
        precision: Option<u8>,
        /// A unit after the number.
        unit: Option<String>,
    },
    /// Markdown text.
    Note {
        /// The text.
        content: String,
    },
    /// An SLO's status and error budget.
    Slo {
        /// Its title.
        title: Option<String>,
        /// The SLO.
        slo: Input<SloId>,
        /// The windows shown.
        windows: Vec<TimeWindow>,
        /// Whether the error budget shows.
        show_error_budget: bool,
        /// How it shows.
        view_mode: Option<ViewMode>,
    },
    /// What a refresh reads from a widget madplan does not model (added in
    /// the UI): its definition. Never valid in a spec.
    Other {
        /// The definition, as Datadog sent it.
        definition: Value,
    },
}

/// A widget: what it shows and, if the spec says, where.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Widget {
    /// What it shows.
    pub show: Show,
    /// Where it sits (`None`: where Datadog or a person put it).
    pub layout: Option<WidgetLayout>,
}

impl From<Show> for Widget {
    fn from(show: Show) -> Self {
        Widget { show, layout: None }
    }
}

/// A dashboard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    /// Its title.
    pub title: String,
    /// Its description (madplan adds its marker line after it).
    pub description: Option<String>,
    /// How widgets are laid out.
    pub layout: LayoutType,
    /// Its widgets, in order.
    pub widgets: Vec<Widget>,
}

/// What a dashboard yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DashboardOutputs {
    /// Its id.
    pub id: String,
}

/// The start of madplan's marker line.
const MARKER: &str = "managed by madplan:";

/// The description with madplan's marker line for `cx`.
fn described(description: Option<&str>, cx: &OpCx) -> String {
    let marker = format!("{MARKER} {}", marker_tags(cx).join(" "));
    match description {
        Some(d) if !d.is_empty() => format!("{d}\n\n{marker}"),
        _ => marker,
    }
}

/// A description split into the user's part and madplan's markers.
fn undescribed(description: Option<&str>) -> (Option<String>, Vec<String>) {
    let Some(d) = description else {
        return (None, Vec::new());
    };
    let (text, line) = match d.rfind(MARKER) {
        Some(0) => ("", &d[MARKER.len()..]),
        Some(i) if d[..i].ends_with("\n\n") => (&d[..i - 2], &d[i + MARKER.len()..]),
        _ => return (Some(d.to_string()), Vec::new()),
    };
    let tags = line.split_whitespace().map(str::to_string).collect();
    ((!text.is_empty()).then(|| text.to_string()), tags)
}

impl Show {
    fn validate(&self, problems: &mut Vec<Problem>) {
        match self {
            Show::Timeseries { series, .. } if series.is_empty() => {
                problems.push(problem("widgets", "a timeseries shows no query", None))
            }
            Show::Timeseries { series, .. } if series.iter().any(|s| s.query.trim().is_empty()) => {
                problems.push(problem("widgets", "a timeseries query is empty", None))
            }
            Show::QueryValue { query, .. } if query.trim().is_empty() => {
                problems.push(problem("widgets", "a query value's query is empty", None))
            }
            Show::Slo { slo, .. } => {
                let ok = slo
                    .reference()
                    .is_some_and(|r| r.address.kind() == Slo::KIND && r.output == "id");
                if !ok {
                    problems.push(problem(
                        "widgets",
                        "an SLO widget shows an SLO declared in this environment",
                        Some("pass its handle: &slo"),
                    ));
                }
            }
            Show::Other { .. } => problems.push(problem(
                "widgets",
                "an unmodelled widget is what a refresh reads; write typed ones",
                None,
            )),
            _ => {}
        }
    }

    /// The widget definition, written over `live` (the same type of widget
    /// read from the dashboard) so its fields madplan does not model stay.
    fn wire(&self, live: Option<WidgetDefinition>) -> Result<Definition, ProviderError> {
        Ok(Definition::Known(match (self, live) {
            (
                Show::Timeseries {
                    title,
                    series,
                    yaxis,
                    markers,
                },
                live,
            ) => {
                let (mut live_requests, live_axis, mut live_markers, extra) = match live {
                    Some(WidgetDefinition::Timeseries {
                        requests,
                        yaxis,
                        markers,
                        extra,
                        ..
                    }) => (requests, yaxis, markers, extra),
                    _ => Default::default(),
                };
                live_requests.resize_with(series.len(), SeriesRequest::default);
                live_markers.resize_with(markers.len(), WireMarker::default);
                WidgetDefinition::Timeseries {
                    title: title.clone(),
                    requests: series
                        .iter()
                        .zip(live_requests)
                        .map(|(s, r)| SeriesRequest {
                            q: Some(s.query.clone()),
                            display_type: s.display.clone(),
                            ..r
                        })
                        .collect(),
                    yaxis: yaxis.as_ref().map(|a| {
                        let live = live_axis.clone().unwrap_or_default();
                        Axis {
                            min: a.min.clone(),
                            max: a.max.clone(),
                            label: a.label.clone(),
                            scale: a.scale.clone(),
                            ..live
                        }
                    }),
                    markers: markers
                        .iter()
                        .zip(live_markers)
                        .map(|(m, w)| WireMarker {
                            value: m.value.clone(),
                            label: m.label.clone(),
                            display_type: m.display_type.clone(),
                            ..w
                        })
                        .collect(),
                    extra,
                }
            }
            (
                Show::QueryValue {
                    title,
                    query,
                    aggregator,
                    precision,
                    unit,
                },
                live,
            ) => {
                let (request, extra) = match live {
                    Some(WidgetDefinition::QueryValue {
                        mut requests,
                        extra,
                        ..
                    }) if !requests.is_empty() => (requests.remove(0), extra),
                    _ => (ValueRequest::default(), Extra::new()),
                };
                WidgetDefinition::QueryValue {
                    title: title.clone(),
                    requests: vec![ValueRequest {
                        q: Some(query.clone()),
                        aggregator: aggregator.clone(),
                        ..request
                    }],
                    precision: *precision,
                    custom_unit: unit.clone(),
                    extra,
                }
            }
            (Show::Note { content }, live) => WidgetDefinition::Note {
                content: content.clone(),
                extra: match live {
                    Some(WidgetDefinition::Note { extra, .. }) => extra,
                    _ => Extra::new(),
                },
            },
            (
                Show::Slo {
                    title,
                    slo,
                    windows,
                    show_error_budget,
                    view_mode,
                },
                live,
            ) => WidgetDefinition::Slo {
                title: title.clone(),
                slo_id: Some(slo.get().map_err(unresolved)?.0.clone()),
                view_type: "detail".into(),
                time_windows: windows.clone(),
                show_error_budget: Some(*show_error_budget),
                view_mode: view_mode.clone(),
                extra: match live {
                    Some(WidgetDefinition::Slo { extra, .. }) => extra,
                    _ => Extra::new(),
                },
            },
            (Show::Other { definition }, _) => {
                return Ok(Definition::Other(definition.clone()));
            }
        }))
    }

    fn from_wire(d: &Definition) -> Show {
        let other = || Show::Other {
            definition: serde_json::to_value(d).unwrap_or_default(),
        };
        let Definition::Known(k) = d else {
            return other();
        };
        match k {
            WidgetDefinition::Timeseries {
                title,
                requests,
                yaxis,
                markers,
                ..
            } => {
                let series: Option<Vec<Series>> = requests
                    .iter()
                    .map(|r| {
                        Some(Series {
                            query: r.q.clone()?,
                            display: r.display_type.clone(),
                        })
                    })
                    .collect();
                let Some(series) = series else {
                    return other();
                };
                Show::Timeseries {
                    title: title.clone(),
                    series,
                    yaxis: yaxis.as_ref().map(|a| YAxis {
                        min: a.min.clone(),
                        max: a.max.clone(),
                        label: a.label.clone(),
                        scale: a.scale.clone(),
                    }),
                    markers: markers
                        .iter()
                        .map(|m| Marker {
                            value: m.value.clone(),
                            label: m.label.clone(),
                            display_type: m.display_type.clone(),
                        })
                        .collect(),
                }
            }
            WidgetDefinition::QueryValue {
                title,
                requests,
                precision,
                custom_unit,
                ..
            } => match requests.as_slice() {
                [
                    ValueRequest {
                        q: Some(q),
                        aggregator,
                        ..
                    },
                ] => Show::QueryValue {
                    title: title.clone(),
                    query: q.clone(),
                    aggregator: aggregator.clone(),
                    precision: *precision,
                    unit: custom_unit.clone(),
                },
                _ => other(),
            },
            WidgetDefinition::Note { content, .. } => Show::Note {
                content: content.clone(),
            },
            WidgetDefinition::Slo {
                title,
                slo_id: Some(id),
                time_windows,
                show_error_budget,
                view_mode,
                ..
            } => Show::Slo {
                title: title.clone(),
                slo: Input::Value(SloId(id.clone())),
                windows: time_windows.clone(),
                show_error_budget: show_error_budget.unwrap_or(false),
                view_mode: view_mode.clone(),
            },
            _ => other(),
        }
    }

    fn same_type(&self, d: &Definition) -> bool {
        matches!(
            (self, d),
            (
                Show::Timeseries { .. },
                Definition::Known(WidgetDefinition::Timeseries { .. })
            ) | (
                Show::QueryValue { .. },
                Definition::Known(WidgetDefinition::QueryValue { .. })
            ) | (
                Show::Note { .. },
                Definition::Known(WidgetDefinition::Note { .. })
            ) | (
                Show::Slo { .. },
                Definition::Known(WidgetDefinition::Slo { .. })
            )
        )
    }
}

impl Dashboard {
    /// A dashboard of `widgets`, in order.
    pub fn new(title: &str, widgets: impl IntoIterator<Item = impl Into<Widget>>) -> Self {
        Self {
            title: title.to_string(),
            description: None,
            layout: LayoutType::Ordered,
            widgets: widgets.into_iter().map(Into::into).collect(),
        }
    }

    /// With a description.
    #[must_use]
    pub fn description(mut self, d: &str) -> Self {
        self.description = Some(d.to_string());
        self
    }

    /// Widgets placed freely (each with its layout).
    #[must_use]
    pub fn free(mut self) -> Self {
        self.layout = LayoutType::Free;
        self
    }

    /// The dashboard as the API takes it, written over `live`: widget `i`
    /// keeps its id, its layout (unless the spec gives one) and its fields
    /// madplan does not model when it is still the same type of widget.
    fn wire(&self, cx: &OpCx, live: Option<Wire>) -> Result<Wire, ProviderError> {
        let (mut live_widgets, extra) = match live {
            Some(l) => (l.widgets, l.extra),
            None => (Vec::new(), Extra::new()),
        };
        live_widgets.truncate(self.widgets.len());
        let mut live_widgets = live_widgets.into_iter();
        let mut widgets = Vec::new();
        for w in &self.widgets {
            let live = live_widgets
                .next()
                .filter(|l| w.show.same_type(&l.definition));
            let (id, layout, extra, definition) = match live {
                Some(l) => (
                    l.id,
                    l.layout,
                    l.extra,
                    match l.definition {
                        Definition::Known(k) => Some(k),
                        Definition::Other(_) => None,
                    },
                ),
                None => (None, None, Extra::new(), None),
            };
            widgets.push(WireWidget {
                id,
                definition: w.show.wire(definition)?,
                layout: w.layout.or(layout),
                extra,
            });
        }
        Ok(Wire {
            id: None,
            title: self.title.clone(),
            description: Some(described(self.description.as_deref(), cx)),
            layout_type: self.layout.clone(),
            widgets,
            extra,
        })
    }

    fn from_wire(d: &Wire) -> Self {
        Dashboard {
            title: d.title.clone(),
            description: undescribed(d.description.as_deref()).0,
            layout: d.layout_type.clone(),
            widgets: d
                .widgets
                .iter()
                .map(|w| Widget {
                    show: Show::from_wire(&w.definition),
                    layout: w.layout,
                })
                .collect(),
        }
    }
}

impl Resource for Dashboard {
    const KIND: &'static str = "datadog.dashboard";
    const SERVER_DEFAULTED: &'static [&'static str] = &["widgets[].layout"];
    type Provider = Datadog;
    type Outputs = DashboardOutputs;

    fn validate(&self, _cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if self.title.trim().is_empty() {
            problems.push(problem("title", "a dashboard needs a title", None));
        }
        if self
            .description
            .as_deref()
            .is_some_and(|d| d.contains(MARKER))
        {
            problems.push(problem(
                "description",
                format!("the description cannot hold {MARKER:?}, madplan's marker"),
                None,
            ));
        }
        if self.layout == LayoutType::Free && self.widgets.iter().any(|w| w.layout.is_none()) {
            problems.push(problem(
                "widgets",
                "on a free layout every widget needs its layout",
                None,
            ));
        }
        if let LayoutType::Other(l) = &self.layout {
            problems.push(problem("layout", format!("{l:?} is not a layout"), None));
        }
        for w in &self.widgets {
            w.show.validate(problems);
        }
    }

    /// One paginated list of the organisation's dashboards, then one read
    /// of each whose description marks it as this environment's.
    async fn refresh(p: &Datadog, cx: &RefreshCx<Self>) -> Result<Vec<Found<Self>>, ProviderError> {
        let all = p.client().dashboards().await.map_err(provider_error)?;
        let mut out = Vec::new();
        for s in all {
            let (_, tags) = undescribed(s.description.as_deref());
            if cx.claim(|o| o.id == s.id, marks(&tags)).is_none() {
                continue;
            }
            let Some(d) = found(p.client().dashboard(&s.id).await)? else {
                continue;
            };
            let (_, tags) = undescribed(d.description.as_deref());
            if let Some(claim) = cx.claim(|o| o.id == s.id, marks(&tags)) {
                out.push(Found::new(
                    claim,
                    Dashboard::from_wire(&d),
                    DashboardOutputs { id: s.id },
                ));
            }
        }
        Ok(out)
    }

    async fn create(&self, p: &Datadog, cx: &OpCx) -> Result<DashboardOutputs, ProviderError> {
        let made = p
            .client()
            .create_dashboard(&self.wire(cx, None)?)
            .await
            .map_err(provider_error)?;
        let id = made.id.ok_or_else(|| incomplete("the dashboard's id"))?;
        let outputs = DashboardOutputs { id };
        cx.created(&outputs).await?;
        Ok(outputs)
    }

    /// Reads the dashboard, then replaces it with madplan's widgets written
    /// over the live ones (ids, layouts, unmodelled fields kept).
    async fn update(
        &self,
        prior: &Observed<Self>,
        _changed: &[String],
        p: &Datadog,
        cx: &OpCx,
    ) -> Result<DashboardOutputs, ProviderError> {
        let id = &prior.outputs.id;
        let live = p.client().dashboard(id).await.map_err(provider_error)?;
        p.client()
            .update_dashboard(id, &self.wire(cx, Some(live))?)
            .await
            .map_err(provider_error)?;
        Ok(prior.outputs.clone())
    }

    async fn delete(
        outputs: &DashboardOutputs,
        p: &Datadog,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        deleted(p.client().delete_dashboard(&outputs.id).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_line_reads_back() {
        let d = "API and database\n\nmanaged by madplan: madplan:production madplan-address:datadog.dashboard.main madplan-lineage:abc";
        let (text, tags) = undescribed(Some(d));
        assert_eq!(text.as_deref(), Some("API and database"));
        assert_eq!(tags.len(), 3);
        assert_eq!(
            marks(&tags)(madplan_core::TAG_ADDRESS).as_deref(),
            Some("datadog.dashboard.main")
        );
        assert_eq!(
            undescribed(Some("someone's")),
            (Some("someone's".into()), vec![])
        );
    }
}
