//! Cloud backup schedules and point-in-time restores.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::clusters::CloudProvider;
use super::{Client, media};
use crate::error::Error;

/// How often a policy item takes snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Frequency {
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

/// The unit of a retention period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum RetentionUnit {
    Days,
    Weeks,
    Months,
    Years,
}

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
    pub policy_items: Vec<PolicyItem>,
}

/// Where snapshots are copied, for cross-region recovery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CopySetting {
    /// The cloud.
    pub cloud_provider: CloudProvider,
    /// The target region.
    pub region_name: String,
    /// The replication spec's zone id (read from the cluster).
    pub zone_id: String,
    /// Which snapshots to copy.
    #[serde(default)]
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
    pub policies: Vec<Policy>,
    /// Days of oplog kept for point-in-time restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_window_days: Option<u32>,
    /// Hour of day (UTC) of the daily snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_hour_of_day: Option<u32>,
    /// Copies to other regions.
    #[serde(default)]
    pub copy_settings: Vec<CopySetting>,
}

/// A restore job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreJob {
    /// Its id (read-only).
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    /// `pointInTime` for a point-in-time restore.
    pub delivery_type: String,
    /// The moment to restore to (seconds since the epoch).
    #[serde(
        rename = "pointInTimeUTCSeconds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub point_in_time_utc_seconds: Option<u64>,
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
}

impl RestoreJob {
    /// A point-in-time restore of a cluster's data as of `at` (seconds since
    /// the epoch) into `target` of project `target_group`.
    pub fn point_in_time(at: u64, target: &str, target_group: &str) -> Self {
        Self {
            id: None,
            delivery_type: "pointInTime".into(),
            point_in_time_utc_seconds: Some(at),
            target_cluster_name: Some(target.into()),
            target_group_id: Some(target_group.into()),
            finished_at: None,
            failed: None,
            cancelled: None,
        }
    }
}

impl Client {
    fn schedule_path(group: &str, cluster: &str) -> String {
        format!("/api/atlas/v2/groups/{group}/clusters/{cluster}/backup/schedule")
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
            &format!("/api/atlas/v2/groups/{group}/clusters/{cluster}/backup/restoreJobs"),
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
            &format!("/api/atlas/v2/groups/{group}/clusters/{cluster}/backup/restoreJobs/{id}"),
            None,
            media::RESTORE_JOBS,
        )
        .await
    }

    /// Polls the restore job until it finished; fails if it failed, was
    /// cancelled, or takes longer than `timeout`.
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
            if job.failed == Some(true) || job.cancelled == Some(true) {
                return Err(Error::invalid(
                    format!("restore job {id}"),
                    if job.failed == Some(true) {
                        "it failed"
                    } else {
                        "it was cancelled"
                    },
                ));
            }
            if job.finished_at.is_some() {
                return Ok(job);
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
