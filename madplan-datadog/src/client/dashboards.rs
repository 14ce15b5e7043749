//! Dashboards.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{Client, Keys};
use crate::error::Error;

/// How widgets are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayoutType {
    /// Widgets flow in order.
    Ordered,
    /// Widgets are placed freely.
    Free,
}

/// How a timeseries request is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisplayType {
    /// Filled area.
    Area,
    /// Bars.
    Bars,
    /// Line.
    Line,
}

/// How a query value collapses a series to one number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregator {
    /// Average.
    Avg,
    /// Last value.
    Last,
    /// Maximum.
    Max,
    /// Minimum.
    Min,
    /// Sum.
    Sum,
}

/// A timeseries query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesRequest {
    /// The metric query.
    pub q: String,
    /// How it is drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_type: Option<DisplayType>,
}

/// A query value query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValueRequest {
    /// The metric query.
    pub q: String,
    /// How the series becomes one number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregator: Option<Aggregator>,
}

/// What a widget shows.
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
    },
    /// Text (Markdown).
    Note {
        /// The text.
        content: String,
    },
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

/// A widget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Widget {
    /// Its id (assigned by Datadog).
    #[serde(default, skip_serializing)]
    pub id: Option<i64>,
    /// What it shows.
    pub definition: Definition,
}

impl From<WidgetDefinition> for Widget {
    fn from(definition: WidgetDefinition) -> Self {
        Widget {
            id: None,
            definition: Definition::Known(definition),
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
}

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

    /// Replaces dashboard `id` with `dashboard`.
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
        self.call::<serde_json::Value, ()>(
            Method::DELETE,
            &format!("/api/v1/dashboard/{id}"),
            &[],
            None,
            Keys::Both,
        )
        .await
        .map(|_| ())
    }
}
