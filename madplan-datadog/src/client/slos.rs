//! Service level objectives. An SLO's shape depends on its type: a metric
//! SLO has a `query` (good and total events), a monitor SLO `monitor_ids`,
//! a time-slice SLO an `sli_specification`; a type madplan does not know is
//! kept as it came.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::open::{Extra, writable};
use super::{Client, Keys};
use crate::error::Error;

open_enum! {
    /// The period an SLO is measured over.
    pub enum Timeframe {
        /// Seven days.
        Days7 = "7d",
        /// Thirty days.
        Days30 = "30d",
        /// Ninety days.
        Days90 = "90d",
        /// Custom (only in history queries).
        Custom = "custom",
    }
}

/// The target of one timeframe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

open_enum! {
    /// How a time slice's value is compared with its threshold.
    pub enum SliceComparator {
        /// `>`.
        Greater = ">",
        /// `>=`.
        GreaterOrEqual = ">=",
        /// `<`.
        Less = "<",
        /// `<=`.
        LessOrEqual = "<=",
    }
}

/// A time-slice SLO's condition: each slice of `interval_seconds` is good
/// when the formula over the queries compares to `threshold`.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeSlice {
    /// The metric queries, by name (`query1`...).
    pub queries: Vec<(String, String)>,
    /// The one formula over them, e.g. `query1`.
    pub formula: String,
    /// The comparison.
    pub comparator: SliceComparator,
    /// The threshold each slice is compared with.
    pub threshold: f64,
    /// The slice, 60 or 300 seconds (Datadog's default 300 when `None`).
    pub interval_seconds: Option<u32>,
}

impl TimeSlice {
    fn to_wire(&self) -> Value {
        let mut condition = json!({
            "comparator": self.comparator,
            "threshold": self.threshold,
            "query": {
                "formulas": [{"formula": self.formula}],
                "queries": self.queries.iter().map(|(name, q)| json!({
                    "data_source": "metrics", "name": name, "query": q
                })).collect::<Vec<_>>(),
            },
        });
        if let Some(i) = self.interval_seconds {
            condition["query_interval_seconds"] = json!(i);
        }
        json!({ "time_slice": condition })
    }

    fn from_wire(v: &Value) -> Option<Self> {
        let c = v.get("time_slice")?;
        let formulas = c["query"]["formulas"].as_array()?;
        let [formula] = formulas.as_slice() else {
            return None;
        };
        let queries = c["query"]["queries"]
            .as_array()?
            .iter()
            .map(|q| {
                (q["data_source"] == "metrics").then(|| {
                    Some((
                        q["name"].as_str()?.to_string(),
                        q["query"].as_str()?.to_string(),
                    ))
                })?
            })
            .collect::<Option<Vec<_>>>()?;
        Some(TimeSlice {
            queries,
            formula: formula["formula"].as_str()?.to_string(),
            comparator: c["comparator"].as_str()?.into(),
            threshold: c["threshold"].as_f64()?,
            interval_seconds: c["query_interval_seconds"].as_u64().map(|i| i as u32),
        })
    }
}

/// How an SLO is measured: its type and the fields that type has.
#[derive(Clone, Debug, PartialEq)]
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
        /// Monitor groups that narrow it (one monitor only).
        groups: Vec<String>,
    },
    /// The share of good time slices.
    TimeSlice(TimeSlice),
    /// A type or a shape madplan does not model, as Datadog sent it: its
    /// `type` and the fields that describe it.
    Other {
        /// The type.
        kind: String,
        /// The fields that describe it (`query`, `sli_specification`...).
        fields: Extra,
    },
}

/// The fields whose meaning depends on the SLO's type.
const SHAPE_FIELDS: &[&str] = &["query", "monitor_ids", "groups", "sli_specification"];

impl SloKind {
    fn kind(&self) -> &str {
        match self {
            SloKind::Metric { .. } => "metric",
            SloKind::Monitor { .. } => "monitor",
            SloKind::TimeSlice(_) => "time_slice",
            SloKind::Other { kind, .. } => kind,
        }
    }

    fn write(&self, o: &mut Map<String, Value>) {
        o.insert("type".into(), json!(self.kind()));
        match self {
            SloKind::Metric { query } => {
                o.insert("query".into(), json!(query));
            }
            SloKind::Monitor {
                monitor_ids,
                groups,
            } => {
                o.insert("monitor_ids".into(), json!(monitor_ids));
                if !groups.is_empty() {
                    o.insert("groups".into(), json!(groups));
                }
            }
            SloKind::TimeSlice(t) => {
                o.insert("sli_specification".into(), t.to_wire());
            }
            SloKind::Other { fields, .. } => {
                o.extend(fields.clone());
            }
        }
    }

    fn read(kind: &str, o: &Map<String, Value>) -> SloKind {
        let other = || SloKind::Other {
            kind: kind.to_string(),
            fields: o
                .iter()
                .filter(|(k, _)| SHAPE_FIELDS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        match kind {
            "metric" => match o.get("query").map(SloQuery::deserialize) {
                Some(Ok(query)) => SloKind::Metric { query },
                _ => other(),
            },
            "monitor" => {
                let ids = o
                    .get("monitor_ids")
                    .map(Vec::<i64>::deserialize)
                    .unwrap_or(Ok(Vec::new()));
                let groups = o
                    .get("groups")
                    .map(Vec::<String>::deserialize)
                    .unwrap_or(Ok(Vec::new()));
                match (ids, groups) {
                    (Ok(monitor_ids), Ok(groups)) => SloKind::Monitor {
                        monitor_ids,
                        groups,
                    },
                    _ => other(),
                }
            }
            "time_slice" => match o.get("sli_specification").and_then(TimeSlice::from_wire) {
                Some(t) => SloKind::TimeSlice(t),
                None => other(),
            },
            _ => other(),
        }
    }
}

/// A service level objective.
#[derive(Clone, Debug, PartialEq)]
pub struct Slo {
    /// Its id (absent before it is created).
    pub id: Option<String>,
    /// Its name.
    pub name: String,
    /// A description.
    pub description: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// How it is measured.
    pub kind: SloKind,
    /// Targets per timeframe.
    pub thresholds: Vec<SloThreshold>,
    /// Every other field, as Datadog sent it.
    pub extra: Extra,
}

/// Fields of an SLO that Datadog answers but does not take back.
const READ_ONLY: &[&str] = &["id", "created_at", "modified_at", "creator", "monitor_tags"];

impl Serialize for Slo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut o = writable(&self.extra, READ_ONLY);
        o.insert("name".into(), json!(self.name));
        o.insert("description".into(), json!(self.description));
        o.insert("tags".into(), json!(self.tags));
        o.insert(
            "thresholds".into(),
            serde_json::to_value(&self.thresholds).map_err(serde::ser::Error::custom)?,
        );
        self.kind.write(&mut o);
        Value::Object(o).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Slo {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut o = Map::<String, Value>::deserialize(d)?;
        let kind = o
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| D::Error::missing_field("type"))?
            .to_string();
        let shape = SloKind::read(&kind, &o);
        let take = |o: &mut Map<String, Value>, k: &str| o.remove(k).unwrap_or(Value::Null);
        let name = take(&mut o, "name");
        let thresholds = take(&mut o, "thresholds");
        let slo = Slo {
            id: take(&mut o, "id").as_str().map(str::to_string),
            name: name.as_str().unwrap_or_default().to_string(),
            description: take(&mut o, "description").as_str().map(str::to_string),
            tags: serde_json::from_value(take(&mut o, "tags")).unwrap_or_default(),
            thresholds: serde_json::from_value(thresholds)
                .map_err(|e| D::Error::custom(format!("thresholds: {e}")))?,
            kind: shape,
            extra: Extra::new(),
        };
        o.remove("type");
        for k in SHAPE_FIELDS {
            o.remove(*k);
        }
        Ok(Slo { extra: o, ..slo })
    }
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
                return bad(format!("two thresholds for {}", t.timeframe));
            }
            if t.timeframe == Timeframe::Custom {
                return bad("the custom timeframe cannot be set on an SLO".into());
            }
            seen.push(t.timeframe.clone());
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
            SloKind::Monitor { monitor_ids, .. } if monitor_ids.is_empty() => {
                bad("a monitor SLO needs monitors".into())
            }
            SloKind::Monitor {
                monitor_ids,
                groups,
            } if !groups.is_empty() && monitor_ids.len() != 1 => {
                bad("monitor groups narrow a single monitor only".into())
            }
            SloKind::Metric { query }
                if query.numerator.is_empty() || query.denominator.is_empty() =>
            {
                bad("a metric SLO needs a numerator and a denominator".into())
            }
            SloKind::TimeSlice(t) if t.queries.is_empty() || t.formula.is_empty() => {
                bad("a time-slice SLO needs queries and a formula".into())
            }
            SloKind::TimeSlice(t) if t.interval_seconds.is_some_and(|i| i != 60 && i != 300) => {
                bad("a time slice lasts 60 or 300 seconds".into())
            }
            _ => Ok(()),
        }
    }
}

#[derive(Deserialize)]
struct Many {
    #[serde(default)]
    data: Vec<Slo>,
}

#[derive(Deserialize)]
struct One {
    data: Slo,
}

/// SLOs per page when listing.
const PAGE_SIZE: usize = 1000;

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

    /// Every SLO carrying `tag` (`key:value`), page by page.
    pub async fn slos_tagged(&self, tag: &str) -> Result<Vec<Slo>, Error> {
        const PATH: &str = "/api/v1/slo";
        self.pages(PATH, |n| {
            let query = [
                ("tags_query", tag.to_string()),
                ("limit", PAGE_SIZE.to_string()),
                ("offset", (n * PAGE_SIZE).to_string()),
            ];
            async move {
                let r: Many = self
                    .call::<_, ()>(Method::GET, PATH, &query, None, Keys::Both)
                    .await?;
                let more = r.data.len() >= PAGE_SIZE;
                Ok(madplan_core::rest::Page {
                    items: r.data,
                    more,
                })
            }
        })
        .await
    }

    /// Replaces SLO `id` with `slo` (fields it does not model are sent
    /// back as they were read).
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
        self.delete_call::<()>(Method::DELETE, &format!("/api/v1/slo/{id}"), None)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_reads_its_own_shape() {
        // The spec's example of a monitor SLO: no `query`.
        let m: Slo = serde_json::from_value(json!({
            "name": "uptime", "type": "monitor", "monitor_ids": [1, 2],
            "thresholds": [{"timeframe": "7d", "target": 99.0, "target_display": "99.0"}],
            "monitor_tags": [], "creator": {"email": "a@b.c"}
        }))
        .unwrap();
        assert_eq!(
            m.kind,
            SloKind::Monitor {
                monitor_ids: vec![1, 2],
                groups: vec![]
            }
        );
        let t: Slo = serde_json::from_value(json!({
            "name": "p95", "type": "time_slice",
            "thresholds": [{"timeframe": "30d", "target": 99.0}],
            "sli_specification": {"time_slice": {"comparator": "<", "threshold": 0.2,
                "query_interval_seconds": 300,
                "query": {"formulas": [{"formula": "query1"}],
                          "queries": [{"data_source": "metrics", "name": "query1", "query": "p95:trace.http.request{*}"}]}}}
        }))
        .unwrap();
        let SloKind::TimeSlice(slice) = &t.kind else {
            panic!("{:?}", t.kind)
        };
        assert_eq!(slice.comparator, SliceComparator::Less);
        assert_eq!(slice.interval_seconds, Some(300));
        // Written back as it came.
        let back = serde_json::to_value(&t).unwrap();
        assert_eq!(back["sli_specification"]["time_slice"]["threshold"], 0.2);
        // A type madplan does not know is kept, shape and all.
        let u: Slo = serde_json::from_value(json!({
            "name": "new", "type": "quantum", "thresholds": [{"timeframe": "1y", "target": 99.0}],
            "sli_specification": {"quantum": {}}
        }))
        .unwrap();
        assert!(
            matches!(&u.kind, SloKind::Other { kind, fields } if kind == "quantum" && fields.contains_key("sli_specification"))
        );
        assert_eq!(u.thresholds[0].timeframe, Timeframe::Other("1y".into()));
        let back = serde_json::to_value(&u).unwrap();
        assert_eq!(back["type"], "quantum");
        assert_eq!(back["sli_specification"], json!({"quantum": {}}));
        assert_eq!(back["thresholds"][0]["timeframe"], "1y");
    }
}
