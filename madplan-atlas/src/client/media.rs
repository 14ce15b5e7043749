//! The versioned media type of every operation madplan calls, in one place.
//! Atlas picks the API version from `Accept` (and `Content-Type` for
//! bodies); these are the versions `atlas-transformed.yaml` (2026-08-18)
//! gives for each operation.

/// Projects: find by name, list, create, change, delete (`2023-01-01`).
pub const PROJECTS: &str = "application/vnd.atlas.2023-01-01+json";
/// Cluster create and update (`2024-10-23`).
pub const CLUSTER_WRITE: &str = "application/vnd.atlas.2024-10-23+json";
/// Cluster get and list (`2024-08-05`).
pub const CLUSTER_READ: &str = "application/vnd.atlas.2024-08-05+json";
/// Cluster delete (`2023-02-01`).
pub const CLUSTER_DELETE: &str = "application/vnd.atlas.2023-02-01+json";
/// Cloud backup schedule get and update (`2024-08-05`).
pub const BACKUP_SCHEDULE: &str = "application/vnd.atlas.2024-08-05+json";
/// Restore jobs (`2023-01-01`).
pub const RESTORE_JOBS: &str = "application/vnd.atlas.2023-01-01+json";
/// Project IP access list (`2023-01-01`).
pub const ACCESS_LIST: &str = "application/vnd.atlas.2023-01-01+json";
/// Database users (`2023-01-01`).
pub const DATABASE_USERS: &str = "application/vnd.atlas.2023-01-01+json";
/// Project settings (`2023-01-01`).
pub const GROUP_SETTINGS: &str = "application/vnd.atlas.2023-01-01+json";
/// Database auditing (`2023-01-01`).
pub const AUDIT_LOG: &str = "application/vnd.atlas.2023-01-01+json";
/// Third-party integrations (`2023-01-01`).
pub const INTEGRATIONS: &str = "application/vnd.atlas.2023-01-01+json";
