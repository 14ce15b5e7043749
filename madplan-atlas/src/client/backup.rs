//! Cloud backup schedules and restores.

use std::fmt;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::clusters::CloudProvider;
use super::open::open_enum;
use super::{Client, api_path, media};
use crate::error::Error;

open_enum!(
    /// How often a policy item takes snapshots.
    Frequency {
        /// Every few hours.
        Hourly = "hourly",
        /// Every day.
        Daily = "daily",
        /// Every week.
        Weekly = "weekly",
        /// Every month.
        Monthly = "monthly",
        /// Every year.
        Yearly = "yearly",
        /// Snapshots taken on demand.
        OnDemand = "ondemand",
    }
);

open_enum!(
    /// The unit of a retention period.
    RetentionUnit {
        /// Days.
        Days = "days",
        /// Weeks.
        Weeks = "weeks",
        /// Months.
        Months = "months",
        /// Years.
        Years = "years",
    }
);

/// One rule of a snapshot policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyItem {
    /// Atlas's id (read back; send it to change an existing item).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// How often.
    pub frequency_type: Frequency,
    /// Every how many (hours for hourly, day of week for weekly...).
    pub frequency_interval: u32,
    /// Retention unit.
    pub retention_unit: RetentionUnit,
    /// Retention length.
    pub retention_value: u32,
}

/// A snapshot policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Atlas's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its items.
    #[serde(default)]
    pub policy_items: Vec<PolicyItem>,
}

/// Which snapshots a copy keeps in the other region, and for how long.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyPolicyItem {
    /// Atlas's id (read-only).
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    /// Which snapshots.
    pub frequency_type: Frequency,
    /// Retention unit (not for on-demand snapshots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_unit: Option<RetentionUnit>,
    /// Retention length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_value: Option<u32>,
}

/// Where snapshots are copied, for cross-region recovery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CopySetting {
    /// The cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_provider: Option<CloudProvider>,
    /// The target region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_name: Option<String>,
    /// The replication spec's zone id (read from the cluster).
    pub zone_id: String,
    /// Which snapshots to copy and how long to keep them (needs
    /// `copyPolicyItemsEnabled` on the schedule).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copy_policy_items: Vec<CopyPolicyItem>,
    /// Deprecated by Atlas in favour of `copyPolicyItems`: read so that an
    /// older schedule decodes, never sent by madplan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frequencies: Vec<Frequency>,
    /// Also copy the oplog, so the copy supports point-in-time restore.
    #[serde(default)]
    pub should_copy_oplogs: bool,
}

/// A cluster's cloud backup schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupSchedule {
    /// Snapshot policies.
    #[serde(default)]
    pub policies: Vec<Policy>,
    /// Days of oplog kept for point-in-time restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_window_days: Option<u32>,
    /// Hour of day (UTC) of the daily snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_hour_of_day: Option<u32>,
    /// Minute of that hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_minute_of_hour: Option<u32>,
    /// Whether copies use `copyPolicyItems` (the current form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_policy_items_enabled: Option<bool>,
    /// Copies to other regions.
    #[serde(default)]
    pub copy_settings: Vec<CopySetting>,
    /// The cluster's id (read-only).
    #[serde(default, skip_serializing)]
    pub cluster_id: Option<String>,
    /// When the next snapshot is taken (read-only).
    #[serde(default, skip_serializing)]
    pub next_snapshot: Option<String>,
}

/// Where a restore job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreState {
    /// Still restoring.
    Running,
    /// Done.
    Finished,
    /// It failed.
    Failed,
    /// Its download link or its window expired before it was used.
    Expired,
    /// Someone cancelled it.
    Cancelled,
}

impl fmt::Display for RestoreState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RestoreState::Running => "running",
            RestoreState::Finished => "finished",
            RestoreState::Failed => "failed",
            RestoreState::Expired => "expired",
            RestoreState::Cancelled => "cancelled",
        })
    }
}

/// A restore job: from a snapshot, to a point in time, or to an oplog
/// position.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreJob {
    /// Its id (read-only).
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    /// `automated` (restore into a cluster), `pointInTime`, `download`.
    pub delivery_type: String,
    /// The snapshot to restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<String>,
    /// The moment to restore to (seconds since the epoch).
    #[serde(
        rename = "pointInTimeUTCSeconds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub point_in_time_utc_seconds: Option<u64>,
    /// The oplog timestamp to restore to (seconds since the epoch), with
    /// `oplog_inc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oplog_ts: Option<u64>,
    /// The oplog operation within `oplog_ts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oplog_inc: Option<u32>,
    /// The cluster restored into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_cluster_name: Option<String>,
    /// Its project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_id: Option<String>,
    /// When it finished (read-only).
    #[serde(default, skip_serializing)]
    pub finished_at: Option<String>,
    /// Whether it failed (read-only).
    #[serde(default, skip_serializing)]
    pub failed: Option<bool>,
    /// Whether it was cancelled (read-only).
    #[serde(default, skip_serializing)]
    pub cancelled: Option<bool>,
    /// Whether it expired (read-only).
    #[serde(default, skip_serializing)]
    pub expired: Option<bool>,
    /// When it expires (read-only).
    #[serde(default, skip_serializing)]
    pub expires_at: Option<String>,
    /// The snapshot's time (read-only).
    #[serde(default, skip_serializing)]
    pub timestamp: Option<String>,
}

impl RestoreJob {
    fn into_cluster(delivery: &str, target: &str, target_group: &str) -> Self {
        Self {
            delivery_type: delivery.into(),
            target_cluster_name: Some(target.into()),
            target_group_id: Some(target_group.into()),
            ..Self::default()
        }
    }

    /// A point-in-time restore of a cluster's data as of `at` (seconds since
    /// the epoch) into `target` of project `target_group`.
    pub fn point_in_time(at: u64, target: &str, target_group: &str) -> Self {
        Self {
            point_in_time_utc_seconds: Some(at),
            ..Self::into_cluster("pointInTime", target, target_group)
        }
    }

    /// A restore to an oplog position (`ts` seconds, operation `inc`).
    pub fn oplog(ts: u64, inc: u32, target: &str, target_group: &str) -> Self {
        Self {
            oplog_ts: Some(ts),
            oplog_inc: Some(inc),
            ..Self::into_cluster("pointInTime", target, target_group)
        }
    }

    /// A restore of the snapshot `snapshot_id`.
    pub fn snapshot(snapshot_id: &str, target: &str, target_group: &str) -> Self {
        Self {
            snapshot_id: Some(snapshot_id.into()),
            ..Self::into_cluster("automated", target, target_group)
        }
    }

    /// Where the job is, from its flags.
    pub fn state(&self) -> RestoreState {
        if self.failed == Some(true) {
            RestoreState::Failed
        } else if self.cancelled == Some(true) {
            RestoreState::Cancelled
        } else if self.expired == Some(true) {
            RestoreState::Expired
        } else if self.finished_at.is_some() {
            RestoreState::Finished
        } else {
            RestoreState::Running
        }
    }
}

impl Client {
    fn schedule_path(group: &str, cluster: &str) -> String {
        api_path(&["groups", group, "clusters", cluster, "backup", "schedule"])
    }

    /// The cluster's backup schedule.
    pub async fn backup_schedule(
        &self,
        group: &str,
        cluster: &str,
    ) -> Result<BackupSchedule, Error> {
        self.fetch(
            Method::GET,
            &Self::schedule_path(group, cluster),
            None,
            media::BACKUP_SCHEDULE,
        )
        .await
    }

    /// Changes the cluster's backup schedule.
    pub async fn update_backup_schedule(
        &self,
        group: &str,
        cluster: &str,
        schedule: &BackupSchedule,
    ) -> Result<BackupSchedule, Error> {
        let body = serde_json::to_value(schedule).map_err(|e| Error::config(e.to_string()))?;
        self.fetch(
            Method::PATCH,
            &Self::schedule_path(group, cluster),
            Some(body),
            media::BACKUP_SCHEDULE,
        )
        .await
    }

    /// Removes the cluster's schedule: Atlas goes back to its default one.
    pub async fn reset_backup_schedule(
        &self,
        group: &str,
        cluster: &str,
    ) -> Result<BackupSchedule, Error> {
        self.fetch(
            Method::DELETE,
            &Self::schedule_path(group, cluster),
            None,
            media::BACKUP_SCHEDULE,
        )
        .await
    }

    /// Starts a restore of `cluster`'s backups.
    pub async fn create_restore_job(
        &self,
        group: &str,
        cluster: &str,
        job: &RestoreJob,
    ) -> Result<RestoreJob, Error> {
        let body = serde_json::to_value(job).map_err(|e| Error::config(e.to_string()))?;
        self.fetch(
            Method::POST,
            &api_path(&[
                "groups",
                group,
                "clusters",
                cluster,
                "backup",
                "restoreJobs",
            ]),
            Some(body),
            media::RESTORE_JOBS,
        )
        .await
    }

    /// The restore job `id`.
    pub async fn restore_job(
        &self,
        group: &str,
        cluster: &str,
        id: &str,
    ) -> Result<RestoreJob, Error> {
        self.fetch(
            Method::GET,
            &api_path(&[
                "groups",
                group,
                "clusters",
                cluster,
                "backup",
                "restoreJobs",
                id,
            ]),
            None,
            media::RESTORE_JOBS,
        )
        .await
    }

    /// Polls the restore job until it finished; fails with
    /// [`Error::Restore`] naming how it ended if it failed, expired or was
    /// cancelled, and with [`Error::Timeout`] after `timeout`.
    pub async fn wait_for_restore(
        &self,
        group: &str,
        cluster: &str,
        id: &str,
        every: Duration,
        timeout: Duration,
    ) -> Result<RestoreJob, Error> {
        let started = Instant::now();
        loop {
            let job = self.restore_job(group, cluster, id).await?;
            match job.state() {
                RestoreState::Finished => return Ok(job),
                RestoreState::Running => {}
                state => {
                    return Err(Error::Restore {
                        id: id.to_string(),
                        state,
                        detail: job
                            .expires_at
                            .filter(|_| state == RestoreState::Expired)
                            .map(|at| format!("it expired at {at}")),
                    });
                }
            }
            if started.elapsed() >= timeout {
                return Err(Error::Timeout {
                    what: format!("restore job {id}"),
                    state: "finished".into(),
                    last: "running".into(),
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(every).await;
        }
    }
}
