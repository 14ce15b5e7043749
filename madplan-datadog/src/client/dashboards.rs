//! Dashboards. Widgets madplan models are typed; every field they do not
//! name (styles, legends, links...) and every widget of a type madplan does
//! not model are kept as Datadog sent them, with each widget's layout, so a
//! read-modify-write loses nothing.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::open::{Extra, writable};
use super::{Client, Keys};
use crate::error::Error;

open_enum! {
    /// How widgets are laid out.
    pub enum LayoutType {
        /// Widgets flow in order.
        Ordered = "ordered",
        /// Widgets are placed freely.
        Free = "free",
    }
}

open_enum! {
    /// How a timeseries request is drawn.
    pub enum DisplayType {
        /// Filled area.
        Area = "area",
        /// Bars.
        Bars = "bars",
        /// Line.
        Line = "line",
        /// Overlay.
        Overlay = "overlay",
    }
}

open_enum! {
    /// How a query value collapses a series to one number.
    pub enum Aggregator {
        /// Average.
        Avg = "avg",
        /// Last value.
        Last = "last",
        /// Maximum.
        Max = "max",
        /// Minimum.
        Min = "min",
        /// Sum.
        Sum = "sum",
        /// Percentile.
        Percentile = "percentile",
    }
}

open_enum! {
    /// A time window of an SLO widget.
    pub enum TimeWindow {
        /// Seven days.
        Days7 = "7d",
        /// Thirty days.
        Days30 = "30d",
        /// Ninety days.
        Days90 = "90d",
        /// Week to date.
        WeekToDate = "week_to_date",
        /// Previous week.
        PreviousWeek = "previous_week",
        /// Month to date.
        MonthToDate = "month_to_date",
        /// Previous month.
        PreviousMonth = "previous_month",
        /// The dashboard's time.
        GlobalTime = "global_time",
    }
}

open_enum! {
    /// How an SLO widget shows its SLO.
    pub enum ViewMode {
        /// The overall status.
        Overall = "overall",
        /// Its components.
        Component = "component",
        /// Both.
        Both = "both",
    }
}

/// How a timeseries request's line looks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestStyle {
    /// Colour palette, e.g. `dog_classic`, `warm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub palette: Option<String>,
    /// `dashed`, `dotted`, `solid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_type: Option<String>,
    /// `normal`, `thick`, `thin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_width: Option<String>,
    /// Every other field, as Datadog sent it.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A timeseries query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesRequest {
    /// The metric query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// How it is drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_type: Option<DisplayType>,
    /// Its style.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<RequestStyle>,
    /// Every other field (formulas, queries...), as Datadog sent it.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A query value query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ValueRequest {
    /// The metric query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// How the series becomes one number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregator: Option<Aggregator>,
    /// Every other field (conditional formats...), as Datadog sent it.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A graph's axis.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    /// Lowest value shown (`auto` or a number, as text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<String>,
    /// Highest value shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<String>,
    /// The label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `linear`, `log`, `pow`, `sqrt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<String>,
    /// Whether zero is always shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_zero: Option<bool>,
    /// Every other field, as Datadog sent it.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A horizontal marker on a graph (a target line).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// The value, e.g. `y = 0.2`.
    pub value: String,
    /// How it is drawn, e.g. `error dashed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_type: Option<String>,
    /// Its label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Every other field, as Datadog sent it.
    #[serde(flatten)]
    pub extra: Extra,
}

/// What a widget shows, for the widget types madplan models.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum WidgetDefinition {
    /// A graph over time.
    Timeseries {
        /// Its title.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// Its queries.
        requests: Vec<SeriesRequest>,
        /// Its left axis.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        yaxis: Option<Axis>,
        /// Its markers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        markers: Vec<Marker>,
        /// Every other field (legend, links...), as Datadog sent it.
        #[serde(flatten)]
        extra: Extra,
    },
    /// One big number.
    QueryValue {
        /// Its title.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// Its query.
        requests: Vec<ValueRequest>,
        /// Decimal places.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        precision: Option<u8>,
        /// A unit shown after the number.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        custom_unit: Option<String>,
        /// Every other field, as Datadog sent it.
        #[serde(flatten)]
        extra: Extra,
    },
    /// Text (Markdown).
    Note {
        /// The text.
        content: String,
        /// Every other field (colours, alignment...), as Datadog sent it.
        #[serde(flatten)]
        extra: Extra,
    },
    /// An SLO's status and error budget.
    Slo {
        /// Its title.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// The SLO.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        slo_id: Option<String>,
        /// Always `detail`.
        #[serde(default = "detail")]
        view_type: String,
        /// The windows shown.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        time_windows: Vec<TimeWindow>,
        /// Whether the error budget is shown.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        show_error_budget: Option<bool>,
        /// How it is shown.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        view_mode: Option<ViewMode>,
        /// Every other field, as Datadog sent it.
        #[serde(flatten)]
        extra: Extra,
    },
}

fn detail() -> String {
    "detail".into()
}

/// A widget's definition: one madplan models, or any other kept as it is
/// (a widget added in the Datadog UI), so reading a dashboard never fails on
/// an unknown widget and writing it back keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Definition {
    /// A modelled widget.
    Known(WidgetDefinition),
    /// Any other widget, as Datadog sent it.
    Other(serde_json::Value),
}

/// Where a widget sits (free layouts, and fixed new layouts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WidgetLayout {
    /// Column.
    pub x: u32,
    /// Row.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// A widget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Widget {
    /// Its id (assigned by Datadog; sent back so it keeps it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// What it shows.
    pub definition: Definition,
    /// Where it sits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<WidgetLayout>,
    /// Every other field, as Datadog sent it.
    #[serde(flatten)]
    pub extra: Extra,
}

impl From<WidgetDefinition> for Widget {
    fn from(definition: WidgetDefinition) -> Self {
        Widget {
            id: None,
            definition: Definition::Known(definition),
            layout: None,
            extra: Extra::new(),
        }
    }
}

/// A dashboard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    /// Its id, e.g. `abc-def-ghi` (absent before it is created).
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    /// Its title.
    pub title: String,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The layout.
    pub layout_type: LayoutType,
    /// The widgets.
    pub widgets: Vec<Widget>,
    /// Every other field (template variables, notify list...), as Datadog
    /// sent it; what it only answers (dates, author, url) is not sent back.
    #[serde(flatten, serialize_with = "write_extra")]
    pub extra: Extra,
}

/// Fields of a dashboard that Datadog answers but does not take back.
const READ_ONLY: &[&str] = &[
    "id",
    "author_handle",
    "author_name",
    "created_at",
    "modified_at",
    "url",
];

fn write_extra<S: serde::Serializer>(extra: &Extra, s: S) -> Result<S::Ok, S::Error> {
    writable(extra, READ_ONLY).serialize(s)
}

impl Dashboard {
    /// A dashboard of `widgets`.
    pub fn new(title: &str, layout_type: LayoutType, widgets: Vec<Widget>) -> Self {
        Dashboard {
            id: None,
            title: title.to_string(),
            description: None,
            layout_type,
            widgets,
            extra: Extra::new(),
        }
    }
}

/// A dashboard as the list gives it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct DashboardSummary {
    /// Its id.
    pub id: String,
    /// Its title.
    #[serde(default)]
    pub title: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Deserialize)]
struct DashboardList {
    #[serde(default)]
    dashboards: Vec<DashboardSummary>,
}

/// Dashboards per page when listing.
const PAGE_SIZE: usize = 100;

impl Client {
    /// Creates a dashboard.
    pub async fn create_dashboard(&self, dashboard: &Dashboard) -> Result<Dashboard, Error> {
        self.call(
            Method::POST,
            "/api/v1/dashboard",
            &[],
            Some(dashboard),
            Keys::Both,
        )
        .await
    }

    /// The dashboard `id`.
    pub async fn dashboard(&self, id: &str) -> Result<Dashboard, Error> {
        self.call::<_, ()>(
            Method::GET,
            &format!("/api/v1/dashboard/{id}"),
            &[],
            None,
            Keys::Both,
        )
        .await
    }

    /// Every dashboard of the organisation, as summaries, page by page.
    pub async fn dashboards(&self) -> Result<Vec<DashboardSummary>, Error> {
        const PATH: &str = "/api/v1/dashboard";
        self.pages(PATH, |n| {
            let query = [
                ("count", PAGE_SIZE.to_string()),
                ("start", (n * PAGE_SIZE).to_string()),
            ];
            async move {
                let r: DashboardList = self
                    .call::<_, ()>(Method::GET, PATH, &query, None, Keys::Both)
                    .await?;
                let more = r.dashboards.len() >= PAGE_SIZE;
                Ok(madplan_core::rest::Page {
                    items: r.dashboards,
                    more,
                })
            }
        })
        .await
    }

    /// Replaces dashboard `id` with `dashboard` (Datadog replaces the whole
    /// dashboard: read it first and change what you mean to).
    pub async fn update_dashboard(
        &self,
        id: &str,
        dashboard: &Dashboard,
    ) -> Result<Dashboard, Error> {
        self.call(
            Method::PUT,
            &format!("/api/v1/dashboard/{id}"),
            &[],
            Some(dashboard),
            Keys::Both,
        )
        .await
    }

    /// Deletes dashboard `id`.
    pub async fn delete_dashboard(&self, id: &str) -> Result<(), Error> {
        self.delete_call::<()>(Method::DELETE, &format!("/api/v1/dashboard/{id}"), None)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn widget_fields_madplan_does_not_name_survive_a_round_trip() {
        let v = json!({
            "id": "abc-def-ghi", "title": "t", "layout_type": "free", "url": "/dashboard/abc",
            "author_handle": "someone", "template_variables": [{"name": "env", "prefix": "env"}],
            "widgets": [
                {"id": 1, "layout": {"x": 0, "y": 0, "width": 4, "height": 2},
                 "definition": {"type": "timeseries", "title": "p95", "show_legend": true,
                    "legend_layout": "horizontal",
                    "yaxis": {"min": "0", "scale": "log"},
                    "markers": [{"value": "y = 0.2", "display_type": "error dashed"}],
                    "requests": [{"q": "p95:trace.http.request{*}", "display_type": "line",
                                  "style": {"palette": "warm", "line_width": "thick"},
                                  "metadata": [{"expression": "x", "alias_name": "p95"}]}]}},
                {"id": 2, "definition": {"type": "free_text", "text": "hand-made", "color": "#4d4d4d"}}
            ]
        });
        let d: Dashboard = serde_json::from_value(v.clone()).unwrap();
        let Definition::Known(WidgetDefinition::Timeseries { yaxis, markers, .. }) =
            &d.widgets[0].definition
        else {
            panic!("{:?}", d.widgets[0].definition)
        };
        assert_eq!(yaxis.as_ref().unwrap().scale.as_deref(), Some("log"));
        assert_eq!(markers.len(), 1);
        assert!(matches!(d.widgets[1].definition, Definition::Other(_)));
        let back = serde_json::to_value(&d).unwrap();
        for path in [
            "/widgets/0/id",
            "/widgets/0/layout",
            "/widgets/0/definition/show_legend",
            "/widgets/0/definition/legend_layout",
            "/widgets/0/definition/yaxis",
            "/widgets/0/definition/markers",
            "/widgets/0/definition/requests/0/style",
            "/widgets/0/definition/requests/0/metadata",
            "/widgets/1",
            "/template_variables",
        ] {
            assert_eq!(back.pointer(path), v.pointer(path), "{path}");
        }
        assert!(back.get("url").is_none() && back.get("author_handle").is_none());
    }
}
