//! A cluster's cloud backup schedule: snapshot policies with their
//! retention, the point-in-time restore window, and copies to other
//! regions with their oplogs.
//!
//! The schedule always exists with its cluster: "create" and "update"
//! write it, "delete" gives the cluster Atlas's default schedule back.

use madplan_core::{
    Found, Input, IntoInput, Observed, OpCx, Problem, ProviderError, Ref, RefreshCx, Resource,
    ValidateCx, problem,
};
use serde::{Deserialize, Serialize, Serializer};

use super::cluster::Cluster;
use super::{Atlas, ClusterName, ProjectId, known};
use crate::client::backup::{
    self as api, CopyPolicyItem, CopySetting, Frequency, PolicyItem, RetentionUnit,
};
use crate::client::clusters::CloudProvider;

/// How long snapshots are kept.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Retention {
    /// How many units.
    pub value: u32,
    /// The unit.
    pub unit: RetentionUnit,
}

impl Retention {
    /// `n` days.
    pub fn days(n: u32) -> Self {
        Self {
            value: n,
            unit: RetentionUnit::Days,
        }
    }
    /// `n` weeks.
    pub fn weeks(n: u32) -> Self {
        Self {
            value: n,
            unit: RetentionUnit::Weeks,
        }
    }
    /// `n` months.
    pub fn months(n: u32) -> Self {
        Self {
            value: n,
            unit: RetentionUnit::Months,
        }
    }
    /// `n` years.
    pub fn years(n: u32) -> Self {
        Self {
            value: n,
            unit: RetentionUnit::Years,
        }
    }

    /// The fewest days it keeps a snapshot (a month counted as 28 days, a
    /// year as 365).
    pub fn min_days(&self) -> u32 {
        let per = match self.unit {
            RetentionUnit::Days => 1,
            RetentionUnit::Weeks => 7,
            RetentionUnit::Months => 28,
            RetentionUnit::Years => 365,
            RetentionUnit::Other(_) => 0,
        };
        self.value.saturating_mul(per)
    }
}

/// The hour of day (UTC, 0 to 23) snapshots are taken from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HourOfDay(pub u8);

/// A day of the week, as Atlas numbers them for weekly snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Weekday {
    Monday = 1,
    Tuesday = 2,
    Wednesday = 3,
    Thursday = 4,
    Friday = 5,
    Saturday = 6,
    Sunday = 7,
}

impl Weekday {
    fn from_number(n: u32) -> Option<Self> {
        use Weekday::*;
        [
            Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday,
        ]
        .get((n as usize).checked_sub(1)?)
        .copied()
    }
}

/// A day of the month for monthly snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DayOfMonth {
    /// The `n`th (1 to 28).
    Day(u8),
    /// The last day.
    Last,
}

impl DayOfMonth {
    fn number(self) -> u32 {
        match self {
            DayOfMonth::Day(n) => u32::from(n),
            DayOfMonth::Last => 40,
        }
    }
    fn from_number(n: u32) -> Self {
        if n == 40 {
            DayOfMonth::Last
        } else {
            DayOfMonth::Day(u8::try_from(n).unwrap_or(u8::MAX))
        }
    }
}

/// Snapshots every few hours.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hourly {
    /// Every how many hours: 1, 2, 4, 6, 8 or 12.
    pub every_hours: u32,
    /// How long they are kept (in days).
    pub keep: Retention,
}

/// Snapshots once a week.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weekly {
    /// On which day.
    pub on: Weekday,
    /// How long they are kept (weeks or months).
    pub keep: Retention,
}

/// Snapshots once a month.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Monthly {
    /// On which day.
    pub on: DayOfMonth,
    /// How long they are kept (months or years).
    pub keep: Retention,
}

/// Snapshots once a year.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Yearly {
    /// In which month (1 to 12).
    pub month: u32,
    /// How long they are kept (years).
    pub keep: Retention,
}

/// Which snapshots a copy keeps, and for how long.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CopyPolicy {
    /// Which snapshots (hourly, daily...).
    pub frequency: Frequency,
    /// How long the copies are kept.
    pub keep: Retention,
}

/// Copies of the snapshots (and oplogs) in another region.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CrossRegionCopy {
    /// The cloud.
    pub provider: CloudProvider,
    /// The region, e.g. `US_WEST_2`.
    pub region: String,
    /// Copy the oplogs too, so that point-in-time restore works from the
    /// copy.
    pub oplogs: bool,
    /// Which snapshots are copied.
    pub keep: Vec<CopyPolicy>,
}

impl CrossRegionCopy {
    /// Copies to `region` of `provider`, with the oplogs; say which
    /// snapshots with [`CrossRegionCopy::keep`].
    pub fn to(provider: CloudProvider, region: &str) -> Self {
        Self {
            provider,
            region: region.into(),
            oplogs: true,
            keep: Vec::new(),
        }
    }

    /// Copies `frequency` snapshots, kept for `keep`.
    #[must_use]
    pub fn keep(mut self, frequency: Frequency, keep: Retention) -> Self {
        self.keep.push(CopyPolicy { frequency, keep });
        self
    }

    /// Without the oplogs.
    #[must_use]
    pub fn without_oplogs(mut self) -> Self {
        self.oplogs = false;
        self
    }
}

fn sorted_copies<S: Serializer>(copies: &[CrossRegionCopy], s: S) -> Result<S::Ok, S::Error> {
    let mut v = copies.to_vec();
    for c in &mut v {
        c.keep.sort();
    }
    v.sort();
    v.serialize(s)
}

/// A cluster's backup schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackupSchedule {
    /// The cluster's project.
    pub project: Input<ProjectId>,
    /// The cluster.
    pub cluster: Input<ClusterName>,
    /// The hour (UTC) snapshots are taken from.
    pub reference_hour_of_day: HourOfDay,
    /// How many days back a point-in-time restore can go.
    pub restore_window_days: u32,
    /// Hourly snapshots.
    pub hourly: Option<Hourly>,
    /// Daily snapshots, kept this long.
    pub daily: Option<Retention>,
    /// Weekly snapshots.
    pub weekly: Option<Weekly>,
    /// Monthly snapshots.
    pub monthly: Option<Monthly>,
    /// Yearly snapshots.
    pub yearly: Option<Yearly>,
    /// Copies in other regions.
    #[serde(serialize_with = "sorted_copies")]
    pub copies: Vec<CrossRegionCopy>,
}

/// What a schedule yields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupScheduleOutputs {
    /// The cluster's project.
    pub project_id: ProjectId,
    /// The cluster.
    pub cluster_name: ClusterName,
}

impl BackupSchedule {
    /// The deployment guide's schedule for `cluster`: snapshots every 6
    /// hours and daily kept 30 days, weekly (Sunday) kept 8 weeks, monthly
    /// (last day) kept 12 months, point-in-time restore 7 days back,
    /// snapshots from 03:00 UTC; add a copy with
    /// [`BackupSchedule::copy_to`].
    pub fn for_cluster(cluster: &Ref<Cluster>) -> Self {
        Self {
            project: cluster.into_input(),
            cluster: cluster.into_input(),
            reference_hour_of_day: HourOfDay(3),
            restore_window_days: 7,
            hourly: Some(Hourly {
                every_hours: 6,
                keep: Retention::days(30),
            }),
            daily: Some(Retention::days(30)),
            weekly: Some(Weekly {
                on: Weekday::Sunday,
                keep: Retention::weeks(8),
            }),
            monthly: Some(Monthly {
                on: DayOfMonth::Last,
                keep: Retention::months(12),
            }),
            yearly: None,
            copies: Vec::new(),
        }
    }

    /// With a copy in another region.
    #[must_use]
    pub fn copy_to(mut self, copy: CrossRegionCopy) -> Self {
        self.copies.push(copy);
        self
    }

    /// Every snapshot class it takes, with its retention.
    fn classes(&self) -> Vec<(&'static str, &Retention)> {
        let mut out = Vec::new();
        if let Some(h) = &self.hourly {
            out.push(("hourly", &h.keep));
        }
        if let Some(d) = &self.daily {
            out.push(("daily", d));
        }
        if let Some(w) = &self.weekly {
            out.push(("weekly", &w.keep));
        }
        if let Some(m) = &self.monthly {
            out.push(("monthly", &m.keep));
        }
        if let Some(y) = &self.yearly {
            out.push(("yearly", &y.keep));
        }
        out
    }

    fn policy_items(&self) -> Vec<PolicyItem> {
        let item = |f: Frequency, interval: u32, keep: &Retention| PolicyItem {
            id: None,
            frequency_type: f,
            frequency_interval: interval,
            retention_unit: keep.unit.clone(),
            retention_value: keep.value,
        };
        let mut items = Vec::new();
        if let Some(h) = &self.hourly {
            items.push(item(Frequency::Hourly, h.every_hours, &h.keep));
        }
        if let Some(d) = &self.daily {
            items.push(item(Frequency::Daily, 1, d));
        }
        if let Some(w) = &self.weekly {
            items.push(item(Frequency::Weekly, w.on as u32, &w.keep));
        }
        if let Some(m) = &self.monthly {
            items.push(item(Frequency::Monthly, m.on.number(), &m.keep));
        }
        if let Some(y) = &self.yearly {
            items.push(item(Frequency::Yearly, y.month, &y.keep));
        }
        items
    }
}

/// Whether Atlas keeps snapshots taken `frequency` in `unit`.
fn unit_fits(frequency: &str, unit: &RetentionUnit) -> bool {
    use RetentionUnit::*;
    match frequency {
        "hourly" => matches!(unit, Days),
        "daily" => matches!(unit, Days | Weeks | Months),
        "weekly" => matches!(unit, Weeks | Months),
        "monthly" => matches!(unit, Months | Years),
        "yearly" => matches!(unit, Years),
        _ => false,
    }
}

/// The live schedule in the spec's shape.
fn observed(s: &api::BackupSchedule, project: &str, cluster: &str) -> BackupSchedule {
    let items: Vec<&PolicyItem> = s.policies.iter().flat_map(|p| &p.policy_items).collect();
    let keep = |i: &PolicyItem| Retention {
        value: i.retention_value,
        unit: i.retention_unit.clone(),
    };
    let of = |f: Frequency| items.iter().find(|i| i.frequency_type == f).copied();
    let mut copies: Vec<CrossRegionCopy> = Vec::new();
    for c in &s.copy_settings {
        let mut keeps: Vec<CopyPolicy> = c
            .copy_policy_items
            .iter()
            .filter_map(|i| {
                Some(CopyPolicy {
                    frequency: i.frequency_type.clone(),
                    keep: Retention {
                        value: i.retention_value?,
                        unit: i.retention_unit.clone()?,
                    },
                })
            })
            .collect();
        // The deprecated form copies with the source policy's retention.
        for f in &c.frequencies {
            if let Some(i) = of(f.clone()) {
                keeps.push(CopyPolicy {
                    frequency: f.clone(),
                    keep: keep(i),
                });
            }
        }
        keeps.sort();
        let copy = CrossRegionCopy {
            provider: c
                .cloud_provider
                .clone()
                .unwrap_or(CloudProvider::Other(String::new())),
            region: c.region_name.clone().unwrap_or_default(),
            oplogs: c.should_copy_oplogs,
            keep: keeps,
        };
        // One copy setting per zone: a replica set has one.
        if !copies.contains(&copy) {
            copies.push(copy);
        }
    }
    BackupSchedule {
        project: Input::Value(ProjectId(project.into())),
        cluster: Input::Value(ClusterName(cluster.into())),
        reference_hour_of_day: HourOfDay(
            u8::try_from(s.reference_hour_of_day.unwrap_or(0)).unwrap_or(u8::MAX),
        ),
        restore_window_days: s.restore_window_days.unwrap_or(0),
        hourly: of(Frequency::Hourly).map(|i| Hourly {
            every_hours: i.frequency_interval,
            keep: keep(i),
        }),
        daily: of(Frequency::Daily).map(keep),
        weekly: of(Frequency::Weekly).map(|i| Weekly {
            on: Weekday::from_number(i.frequency_interval).unwrap_or(Weekday::Sunday),
            keep: keep(i),
        }),
        monthly: of(Frequency::Monthly).map(|i| Monthly {
            on: DayOfMonth::from_number(i.frequency_interval),
            keep: keep(i),
        }),
        yearly: of(Frequency::Yearly).map(|i| Yearly {
            month: i.frequency_interval,
            keep: keep(i),
        }),
        copies,
    }
}

impl BackupSchedule {
    async fn write(&self, atlas: &Atlas) -> Result<BackupScheduleOutputs, ProviderError> {
        let group = known(&self.project)?.0.clone();
        let cluster = known(&self.cluster)?.0.clone();
        let c = atlas.client().cluster(&group, &cluster).await?;
        let zones: Vec<String> = c
            .replication_specs
            .iter()
            .filter_map(|s| s.zone_id.clone())
            .collect();
        let current = atlas.client().backup_schedule(&group, &cluster).await?;
        let mut copies = Vec::new();
        for copy in &self.copies {
            for zone in &zones {
                copies.push(CopySetting {
                    cloud_provider: Some(copy.provider.clone()),
                    region_name: Some(copy.region.clone()),
                    zone_id: zone.clone(),
                    copy_policy_items: copy
                        .keep
                        .iter()
                        .map(|k| CopyPolicyItem {
                            id: None,
                            frequency_type: k.frequency.clone(),
                            retention_unit: Some(k.keep.unit.clone()),
                            retention_value: Some(k.keep.value),
                        })
                        .collect(),
                    frequencies: Vec::new(),
                    should_copy_oplogs: copy.oplogs,
                });
            }
        }
        let schedule = api::BackupSchedule {
            policies: vec![api::Policy {
                id: current.policies.first().and_then(|p| p.id.clone()),
                policy_items: self.policy_items(),
            }],
            restore_window_days: Some(self.restore_window_days),
            reference_hour_of_day: Some(u32::from(self.reference_hour_of_day.0)),
            reference_minute_of_hour: None,
            copy_policy_items_enabled: Some(true),
            copy_settings: copies,
            cluster_id: None,
            next_snapshot: None,
        };
        atlas
            .client()
            .update_backup_schedule(&group, &cluster, &schedule)
            .await?;
        Ok(BackupScheduleOutputs {
            project_id: ProjectId(group),
            cluster_name: ClusterName(cluster),
        })
    }
}

impl Resource for BackupSchedule {
    const KIND: &'static str = "atlas.backup_schedule";
    const FORCES_REPLACEMENT: &'static [&'static str] = &["project", "cluster"];
    type Provider = Atlas;
    type Outputs = BackupScheduleOutputs;

    fn validate(&self, cx: &ValidateCx<'_>, problems: &mut Vec<Problem>) {
        if self.reference_hour_of_day.0 > 23 {
            problems.push(problem(
                "reference_hour_of_day",
                format!(
                    "{} is not an hour of the day (0 to 23)",
                    self.reference_hour_of_day.0
                ),
                None,
            ));
        }
        if self.restore_window_days == 0 {
            problems.push(problem(
                "restore_window_days",
                "the restore window is at least one day",
                None,
            ));
        }
        if self.classes().is_empty() {
            problems.push(problem(
                "hourly",
                "a schedule takes at least one kind of snapshot",
                None,
            ));
        }
        for (class, keep) in self.classes() {
            if !unit_fits(class, &keep.unit) || keep.value == 0 {
                problems.push(problem(
                    class,
                    format!("Atlas does not keep {class} snapshots for {} {}", keep.value, keep.unit),
                    Some("hourly: days; daily: days, weeks or months; weekly: weeks or months; monthly: months or years; yearly: years"),
                ));
            }
        }
        if let Some(h) = &self.hourly
            && ![1, 2, 4, 6, 8, 12].contains(&h.every_hours)
        {
            problems.push(problem(
                "hourly.every_hours",
                format!(
                    "every {} hours: Atlas offers 1, 2, 4, 6, 8 or 12",
                    h.every_hours
                ),
                None,
            ));
        }
        if let Some(m) = &self.monthly
            && let DayOfMonth::Day(d) = m.on
            && !(1..=28).contains(&d)
        {
            problems.push(problem(
                "monthly.on",
                format!("day {d}: Atlas takes monthly snapshots on days 1 to 28, or the last day"),
                Some("DayOfMonth::Last"),
            ));
        }
        if let Some(y) = &self.yearly
            && !(1..=12).contains(&y.month)
        {
            problems.push(problem("yearly.month", "a month is 1 to 12", None));
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in &self.copies {
            if !seen.insert((&c.provider, &c.region)) {
                problems.push(problem(
                    "copies",
                    format!("{} {} is listed twice", c.provider, c.region),
                    None,
                ));
            }
            if c.keep.is_empty() {
                problems.push(problem(
                    "copies",
                    format!("the copy to {} keeps no snapshots", c.region),
                    Some("say which with .keep(Frequency::Daily, Retention::days(30))"),
                ));
            }
            for k in &c.keep {
                if !unit_fits(k.frequency.as_str(), &k.keep.unit) || k.keep.value == 0 {
                    problems.push(problem(
                        "copies",
                        format!(
                            "Atlas does not keep copied {} snapshots for {} {}",
                            k.frequency, k.keep.value, k.keep.unit
                        ),
                        None,
                    ));
                }
            }
        }
        if let Some((address, cluster)) = cx.referenced::<Cluster, _>(&self.cluster) {
            if !cluster.backup {
                problems.push(problem(
                    "cluster",
                    format!("{address} has backup off: it takes no snapshots to schedule"),
                    Some("turn backup on in the cluster"),
                ));
            }
            let primary = cluster.regions.iter().find(|r| r.priority == 7);
            for c in &self.copies {
                if primary.is_some_and(|p| p.provider == c.provider && p.region == c.region) {
                    problems.push(problem(
                        "copies",
                        format!(
                            "{} is where {address}'s snapshots are taken already; copy them to another region",
                            c.region
                        ),
                        None,
                    ));
                }
            }
        }
        if cx.environment() == "production" {
            for (class, keep) in self.classes() {
                if keep.min_days() < 30 {
                    problems.push(problem(
                        class,
                        format!(
                            "{class} snapshots are kept {} {}; the deployment guide keeps 30 days or more",
                            keep.value, keep.unit
                        ),
                        None,
                    ));
                }
            }
            if self.restore_window_days < 7 {
                problems.push(problem(
                    "restore_window_days",
                    "production restores to any point of the last 7 days at least (RPO 5 minutes)",
                    None,
                ));
            }
            if !self.copies.iter().any(|c| c.oplogs) {
                problems.push(problem(
                    "copies",
                    "production copies its backups, with the oplogs, to a second region (the deployment guide)",
                    Some(".copy_to(CrossRegionCopy::to(CloudProvider::Aws, \"US_WEST_2\").keep(..))"),
                ));
            }
        }
    }

    async fn refresh(
        atlas: &Atlas,
        cx: &RefreshCx<Self>,
    ) -> Result<Vec<Found<Self>>, ProviderError> {
        let mut found = Vec::new();
        for t in &cx.tracked {
            let (group, cluster) = (&t.outputs.project_id.0, &t.outputs.cluster_name.0);
            let schedule = match atlas.client().backup_schedule(group, cluster).await {
                Ok(s) => s,
                // No cluster, no schedule.
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            let Some(claim) = cx.claim(|o| o == &t.outputs, |_| None) else {
                continue;
            };
            found.push(Found::new(
                claim,
                observed(&schedule, group, cluster),
                t.outputs.clone(),
            ));
        }
        Ok(found)
    }

    async fn create(
        &self,
        atlas: &Atlas,
        _cx: &OpCx,
    ) -> Result<BackupScheduleOutputs, ProviderError> {
        self.write(atlas).await
    }

    async fn update(
        &self,
        _prior: &Observed<Self>,
        _changed: &[String],
        atlas: &Atlas,
        _cx: &OpCx,
    ) -> Result<BackupScheduleOutputs, ProviderError> {
        self.write(atlas).await
    }

    async fn delete(
        outputs: &BackupScheduleOutputs,
        atlas: &Atlas,
        _cx: &OpCx,
    ) -> Result<(), ProviderError> {
        atlas
            .client()
            .reset_backup_schedule(&outputs.project_id.0, &outputs.cluster_name.0)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_counts_the_fewest_days() {
        assert_eq!(Retention::weeks(8).min_days(), 56);
        assert_eq!(Retention::months(1).min_days(), 28);
        assert!(unit_fits("weekly", &RetentionUnit::Months));
        assert!(!unit_fits("hourly", &RetentionUnit::Weeks));
    }
}
