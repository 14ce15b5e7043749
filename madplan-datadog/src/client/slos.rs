//! Service level objectives.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{Client, Keys};
use crate::error::Error;

/// The period an SLO is measured over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Timeframe {
    /// Seven days.
    #[serde(rename = "7d")]
    Days7,
    /// Thirty days.
    #[serde(rename = "30d")]
    Days30,
    /// Ninety days.
    #[serde(rename = "90d")]
    Days90,
}

/// The target of one timeframe.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SloThreshold {
    /// The timeframe.
    pub timeframe: Timeframe,
    /// The target, in percent (e.g. 99.9).
    pub target: f64,
    /// Warn when the SLI falls below this (above the target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<f64>,
}

/// A metric SLO's good/total events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SloQuery {
    /// Good events, e.g. `sum:trace.http.request.hits{env:production}.as_count() - ...errors`.
    pub numerator: String,
    /// All events.
    pub denominator: String,
}

/// How an SLO is measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SloKind {
    /// Good events over total events.
    Metric {
        /// The two queries.
        query: SloQuery,
    },
    /// Uptime of monitors.
    Monitor {
        /// The monitors.
        monitor_ids: Vec<i64>,
    },
}

/// A service level objective.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// Its id (absent before it is created).
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    /// Its name.
    pub name: String,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// How it is measured.
    #[serde(flatten)]
    pub kind: SloKind,
    /// Targets per timeframe.
    pub thresholds: Vec<SloThreshold>,
}

impl Slo {
    /// Checks targets (0-100, exclusive), warnings (stricter than the
    /// target), one threshold per timeframe, and a non-empty measure.
    pub fn check(&self) -> Result<(), Error> {
        let bad = |message: String| Err(Error::invalid(format!("SLO {:?}", self.name), message));
        if self.thresholds.is_empty() {
            return bad("it needs at least one threshold".into());
        }
        let mut seen = Vec::new();
        for t in &self.thresholds {
            if seen.contains(&t.timeframe) {
                return bad(format!("two thresholds for {:?}", t.timeframe));
            }
            seen.push(t.timeframe);
            if !(t.target > 0.0 && t.target < 100.0) {
                return bad(format!("target {} is not between 0 and 100", t.target));
            }
            if let Some(w) = t.warning
                && !(w > t.target && w < 100.0)
            {
                return bad(format!(
                    "warning {w} must lie between the target {} and 100",
                    t.target
                ));
            }
        }
        match &self.kind {
            SloKind::Monitor { monitor_ids } if monitor_ids.is_empty() => {
                bad("a monitor SLO needs monitors".into())
            }
            SloKind::Metric { query }
                if query.numerator.is_empty() || query.denominator.is_empty() =>
            {
                bad("a metric SLO needs a numerator and a denominator".into())
            }
            _ => Ok(()),
        }
    }
}

#[derive(Deserialize)]
struct Many {
    data: Vec<Slo>,
}

#[derive(Deserialize)]
struct One {
    data: Slo,
}

impl Client {
    /// Creates an SLO.
    pub async fn create_slo(&self, slo: &Slo) -> Result<Slo, Error> {
        slo.check()?;
        let r: Many = self
            .call(Method::POST, "/api/v1/slo", &[], Some(slo), Keys::Both)
            .await?;
        r.data
            .into_iter()
            .next()
            .ok_or_else(|| Error::decode("POST", "/api/v1/slo", "no SLO in the answer"))
    }

    /// The SLO `id`.
    pub async fn slo(&self, id: &str) -> Result<Slo, Error> {
        let r: One = self
            .call::<_, ()>(
                Method::GET,
                &format!("/api/v1/slo/{id}"),
                &[],
                None,
                Keys::Both,
            )
            .await?;
        Ok(r.data)
    }

    /// Replaces SLO `id` with `slo`.
    pub async fn update_slo(&self, id: &str, slo: &Slo) -> Result<Slo, Error> {
        slo.check()?;
        let path = format!("/api/v1/slo/{id}");
        let r: Many = self
            .call(Method::PUT, &path, &[], Some(slo), Keys::Both)
            .await?;
        r.data
            .into_iter()
            .next()
            .ok_or_else(|| Error::decode("PUT", path, "no SLO in the answer"))
    }

    /// Deletes SLO `id`.
    pub async fn delete_slo(&self, id: &str) -> Result<(), Error> {
        self.call::<serde_json::Value, ()>(
            Method::DELETE,
            &format!("/api/v1/slo/{id}"),
            &[],
            None,
            Keys::Both,
        )
        .await
        .map(|_| ())
    }
}
