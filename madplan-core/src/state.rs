//! Persistent state: what madplan created, per environment, behind a
//! [`StateStore`] with locking.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::address::Address;
use crate::audit::{Approval, AuditRecord, Operator};
use crate::error::{Error, Result};

/// The version of the state document format this build writes. Version 2
/// added provider instances, deposed objects and unfinished creates; a
/// version 1 document reads as is.
pub const STATE_FORMAT_VERSION: u32 = 2;

/// The state of one environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Format version of this document.
    pub format_version: u32,
    /// The environment's name.
    pub environment: String,
    /// Identity of this state's history; a state with another lineage is a
    /// different history, even for the same environment.
    pub lineage: Uuid,
    /// Incremented on every write.
    pub serial: u64,
    /// What exists, by address.
    pub resources: BTreeMap<Address, StateEntry>,
    /// Old objects that a create-before-destroy replaced but could not
    /// delete yet; the next apply deletes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deposed: Vec<Deposed>,
}

/// An old object of an address, replaced by a new one and waiting to be
/// deleted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deposed {
    /// The address it was replaced at.
    pub address: Address,
    /// Its kind.
    pub kind: String,
    /// Its outputs (ids), to delete it by.
    pub outputs: Value,
    /// The provider instance that manages it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

/// One resource in state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateEntry {
    /// The kind, e.g. `aws.vpc`.
    pub kind: String,
    /// The spec last applied, with every input resolved; absent when a
    /// create failed part-way and only its outputs are known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<Value>,
    /// The outputs (ids, ARNs).
    pub outputs: Value,
    /// What it depended on when it was last applied (for delete order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Address>,
    /// Refuse to delete it unless the operator says so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub protected: bool,
    /// The provider instance that manages it (`None`: the default one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Its create was cut short after the resource existed (the process
    /// died, a wait timed out or was interrupted): the next apply waits
    /// for it and completes it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

impl StateEntry {
    /// An entry for a resource of `kind` with these outputs.
    pub fn new(kind: impl Into<String>, outputs: Value) -> Self {
        Self {
            kind: kind.into(),
            spec: None,
            outputs,
            depends_on: Vec::new(),
            protected: false,
            provider: None,
            pending: false,
        }
    }
}

impl State {
    /// An empty state for `environment`, with a new lineage.
    pub fn new(environment: &str) -> Self {
        Self {
            format_version: STATE_FORMAT_VERSION,
            environment: environment.to_string(),
            lineage: Uuid::new_v4(),
            serial: 0,
            resources: BTreeMap::new(),
            deposed: Vec::new(),
        }
    }
}

/// Who holds a state lock, and since when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Identifies this lock, so that only its holder releases it.
    pub id: Uuid,
    /// The command that took it (`apply`, `destroy`...).
    pub operation: String,
    /// The user that ran it.
    pub who: String,
    /// The host it ran on.
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// When it was taken (RFC 3339).
    pub since: String,
    /// Until when the holder's lease runs (RFC 3339), for stores whose
    /// locks expire unless renewed (S3): the holder renews it while it
    /// works, and once it has passed, another run may take the lock over.
    /// `None`: the lock lasts until it is released or removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

impl LockInfo {
    /// A lock for `operation` by this process.
    pub fn for_this_process(operation: &str) -> Self {
        Self::for_operator(operation, &Operator::current())
    }

    /// A lock for `operation` by this process, run by `operator`.
    pub fn for_operator(operation: &str, operator: &Operator) -> Self {
        Self {
            id: Uuid::new_v4(),
            operation: operation.to_string(),
            who: operator.user.clone(),
            host: operator.host.clone(),
            pid: std::process::id(),
            since: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            expires: None,
        }
    }

    /// Whether its lease has run out at `now` (never, without a lease).
    pub fn lease_expired_at(&self, now: SystemTime) -> bool {
        self.expires
            .as_deref()
            .and_then(|e| humantime::parse_rfc3339_weak(e).ok())
            .is_some_and(|e| e <= now)
    }
}

impl LockInfo {
    /// Whether the holder was a process on this host that no longer runs
    /// (Linux: its `/proc` entry is gone). `false` when that cannot be told.
    pub fn holder_is_gone(&self) -> bool {
        let here = gethostname::gethostname().to_string_lossy().into_owned();
        self.host == here
            && Path::new("/proc/self").exists()
            && !Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

impl fmt::Display for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{} (pid {}) running `{}` since {}",
            self.who, self.host, self.pid, self.operation, self.since
        )?;
        if let Some(e) = &self.expires {
            write!(f, ", lease until {e}")?;
        }
        write!(f, " [lock id {}]", self.id)
    }
}

/// One stored version of the state (stores that keep history: S3 with
/// bucket versioning on).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateVersion {
    /// The store's id of the version (S3's version id).
    pub version: String,
    /// The state's serial in it, when the store recorded it.
    pub serial: Option<u64>,
    /// Who wrote it (`user@host`), when the store recorded it.
    pub written_by: Option<String>,
    /// When it was written (RFC 3339).
    pub written_at: String,
    /// Whether it is the current state.
    pub latest: bool,
}

/// Where an environment's state lives. Every store locks: a second writer
/// fails at once and is told who holds the lock. Beside the state, a store
/// keeps the audit trail (one record per apply, never rewritten) and the
/// approvals of saved plans.
pub trait StateStore: Send + Sync {
    /// A human description of where the state lives.
    fn location(&self) -> String;

    /// Reads the state; `None` when there is none yet.
    fn load(&self) -> impl std::future::Future<Output = Result<Option<State>>> + Send;

    /// Writes the state atomically: a reader sees the old or the new document,
    /// never a mix.
    fn save(&self, state: &State) -> impl std::future::Future<Output = Result<()>> + Send;

    /// Takes the lock, or fails with [`Error::Locked`] naming the holder.
    /// Returns the lock it took over, when the store's locks have a lease
    /// and the one held had expired.
    fn lock(
        &self,
        info: &LockInfo,
    ) -> impl std::future::Future<Output = Result<Option<LockInfo>>> + Send;

    /// Releases the lock `id` if it is still the one held.
    fn unlock(&self, id: Uuid) -> impl std::future::Future<Output = Result<()>> + Send;

    /// The lock held now, if any.
    fn lock_holder(&self) -> impl std::future::Future<Output = Result<Option<LockInfo>>> + Send;

    /// Removes the lock `id` left by a run that died, returning it. Refuses
    /// (naming the holder) when the lock held has another id, so that a
    /// lock taken since is not removed by mistake; `Ok(None)` when there is
    /// no lock.
    fn force_unlock(
        &self,
        id: Uuid,
    ) -> impl std::future::Future<Output = Result<Option<LockInfo>>> + Send;

    /// Adds `record` to the audit trail, as a new object that is never
    /// rewritten.
    fn append_audit(
        &self,
        record: &AuditRecord,
    ) -> impl std::future::Future<Output = Result<()>> + Send;

    /// The audit trail, oldest first.
    fn audit_records(&self) -> impl std::future::Future<Output = Result<Vec<AuditRecord>>> + Send;

    /// Records an approval of a saved plan; refuses (naming the approval
    /// held) when that plan is approved already.
    fn put_approval(
        &self,
        approval: &Approval,
    ) -> impl std::future::Future<Output = Result<()>> + Send;

    /// The approval of the plan with this digest, if any.
    fn approval(
        &self,
        plan_digest: &str,
    ) -> impl std::future::Future<Output = Result<Option<Approval>>> + Send;

    /// The stored versions of the state, newest first. Stores without
    /// history say so.
    fn history(&self) -> impl std::future::Future<Output = Result<Vec<StateVersion>>> + Send {
        let loc = self.location();
        async move {
            Err(Error::state(
                &loc,
                "this store keeps no history of the state (the S3 store does, on a bucket with \
                 versioning on)",
            ))
        }
    }

    /// One stored version of the state.
    fn load_version(
        &self,
        version: &str,
    ) -> impl std::future::Future<Output = Result<State>> + Send {
        let _ = version;
        let loc = self.location();
        async move {
            Err(Error::state(
                &loc,
                "this store keeps no history of the state (the S3 store does, on a bucket with \
                 versioning on)",
            ))
        }
    }
}

/// Checks that a state document read from `location` is one this build
/// reads.
pub fn parse_state(location: &str, bytes: &[u8]) -> Result<State> {
    let state: State = serde_json::from_slice(bytes)
        .map_err(|e| Error::state(location, format!("not a madplan state document: {e}")))?;
    if state.format_version > STATE_FORMAT_VERSION {
        return Err(Error::state(
            location,
            format!(
                "written by a newer madplan (format {}, this build reads up to {}); upgrade madplan",
                state.format_version, STATE_FORMAT_VERSION
            ),
        ));
    }
    Ok(state)
}

/// State in a JSON file on the local disk, locked by a `.lock` file beside it.
#[derive(Clone, Debug)]
pub struct LocalStateStore {
    path: PathBuf,
}

impl LocalStateStore {
    /// A store at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".lock");
        PathBuf::from(p)
    }

    fn read_lock(&self) -> Result<Option<LockInfo>> {
        match std::fs::read(self.lock_path()) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::state(
                    &self.location(),
                    format!(
                        "lock file {} is unreadable: {e}",
                        self.lock_path().display()
                    ),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::state_io(&self.location(), "reading the lock", e)),
        }
    }

    /// `<state file>.<suffix>`: the lock, the audit trail and approvals sit
    /// beside the state file.
    fn beside(&self, suffix: &str) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".");
        p.push(suffix);
        PathBuf::from(p)
    }

    /// The folder of the audit trail: one file per record.
    pub fn audit_dir(&self) -> PathBuf {
        self.beside("audit")
    }

    /// The folder of approvals: one file per approved plan digest.
    pub fn approvals_dir(&self) -> PathBuf {
        self.beside("approvals")
    }

    /// Writes `bytes` as `dir/name` in one step, failing if it exists:
    /// records are never rewritten.
    fn create_once(&self, dir: &Path, name: &str, bytes: &[u8]) -> Result<bool> {
        let loc = self.location();
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::state_io(&loc, format!("creating {}", dir.display()), e))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .map_err(|e| Error::state_io(&loc, "creating a temporary file", e))?;
        tmp.write_all(bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| Error::state_io(&loc, format!("writing {name}"), e))?;
        match std::fs::hard_link(tmp.path(), dir.join(name)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(Error::state_io(&loc, format!("writing {name}"), e)),
        }
    }

    fn parent(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }
}

impl StateStore for LocalStateStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    async fn load(&self) -> Result<Option<State>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::state_io(&self.location(), "reading", e)),
        };
        parse_state(&self.location(), &bytes).map(Some)
    }

    async fn save(&self, state: &State) -> Result<()> {
        let loc = self.location();
        let dir = self.parent();
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::state_io(&loc, "creating its directory", e))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)
            .map_err(|e| Error::state_io(&loc, "creating a temporary file", e))?;
        let bytes = serde_json::to_vec_pretty(state)
            .map_err(|e| Error::state(&loc, format!("cannot serialize: {e}")))?;
        tmp.write_all(&bytes)
            .and_then(|()| tmp.write_all(b"\n"))
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| Error::state_io(&loc, "writing", e))?;
        tmp.persist(&self.path)
            .map_err(|e| Error::state_io(&loc, "replacing the state file", e.error))?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    async fn lock(&self, info: &LockInfo) -> Result<Option<LockInfo>> {
        let loc = self.location();
        let dir = self.parent();
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::state_io(&loc, "creating its directory", e))?;
        // The lock appears with its content in one step: written to a
        // temporary file first, then linked to the lock's name, which fails
        // if a lock exists. A reader never sees an empty lock, and a crash
        // leaves no half-written one.
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)
            .map_err(|e| Error::state_io(&loc, "creating a temporary lock file", e))?;
        let bytes = serde_json::to_vec(info)
            .map_err(|e| Error::state(&loc, format!("cannot serialize the lock: {e}")))?;
        tmp.write_all(&bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| Error::state_io(&loc, "writing the lock", e))?;
        match std::fs::hard_link(tmp.path(), self.lock_path()) {
            Ok(()) => {
                if let Ok(d) = std::fs::File::open(&dir) {
                    let _ = d.sync_all();
                }
                Ok(None)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = self.read_lock()?.ok_or_else(|| {
                    Error::state(&loc, "the lock was released while being read; try again")
                })?;
                Err(Error::Locked { store: loc, holder })
            }
            Err(e) => Err(Error::state_io(&loc, "taking the lock", e)),
        }
    }

    async fn unlock(&self, id: Uuid) -> Result<()> {
        match self.read_lock()? {
            Some(held) if held.id == id => std::fs::remove_file(self.lock_path())
                .map_err(|e| Error::state_io(&self.location(), "releasing the lock", e)),
            _ => Ok(()),
        }
    }

    async fn lock_holder(&self) -> Result<Option<LockInfo>> {
        self.read_lock()
    }

    async fn force_unlock(&self, id: Uuid) -> Result<Option<LockInfo>> {
        match self.read_lock()? {
            None => Ok(None),
            Some(held) if held.id == id => {
                std::fs::remove_file(self.lock_path())
                    .map_err(|e| Error::state_io(&self.location(), "removing the lock", e))?;
                Ok(Some(held))
            }
            Some(held) => Err(Error::state(
                &self.location(),
                format!(
                    "the lock held now is {held}, not lock id {id}; nothing was removed \
                     (give the id the lock error shows)"
                ),
            )),
        }
    }

    async fn append_audit(&self, record: &AuditRecord) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| {
            Error::state(
                &self.location(),
                format!("cannot serialize the record: {e}"),
            )
        })?;
        let name = record.object_name();
        if self.create_once(&self.audit_dir(), &name, &bytes)? {
            Ok(())
        } else {
            Err(Error::state(
                &self.location(),
                format!("the audit record {name} exists already; records are never rewritten"),
            ))
        }
    }

    async fn audit_records(&self) -> Result<Vec<AuditRecord>> {
        let dir = self.audit_dir();
        let mut names: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(Error::state_io(
                    &self.location(),
                    "reading the audit trail",
                    e,
                ));
            }
        };
        names.sort();
        names
            .iter()
            .map(|p| {
                let bytes = std::fs::read(p).map_err(|e| {
                    Error::state_io(&self.location(), format!("reading {}", p.display()), e)
                })?;
                serde_json::from_slice(&bytes).map_err(|e| {
                    Error::state(
                        &self.location(),
                        format!("{} is not an audit record: {e}", p.display()),
                    )
                })
            })
            .collect()
    }

    async fn put_approval(&self, approval: &Approval) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(approval).map_err(|e| {
            Error::state(
                &self.location(),
                format!("cannot serialize the approval: {e}"),
            )
        })?;
        let name = approval_name(&approval.plan_digest);
        if self.create_once(&self.approvals_dir(), &name, &bytes)? {
            return Ok(());
        }
        let held = self.approval(&approval.plan_digest).await?;
        Err(Error::state(
            &self.location(),
            format!(
                "the plan {} is approved already{}",
                approval.plan_digest,
                held.map(|a| format!(" by {} at {}", a.approver, a.approved_at))
                    .unwrap_or_default()
            ),
        ))
    }

    async fn approval(&self, plan_digest: &str) -> Result<Option<Approval>> {
        let path = self.approvals_dir().join(approval_name(plan_digest));
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::state(
                    &self.location(),
                    format!("{} is not an approval: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::state_io(&self.location(), "reading an approval", e)),
        }
    }
}

/// The object name of the approval of a plan: its digest, with the
/// algorithm's colon made safe for file systems.
pub fn approval_name(plan_digest: &str) -> String {
    format!("{}.json", plan_digest.replace(':', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStateStore::new(dir.path().join("sub/prod.json"));
        assert!(store.load().await.unwrap().is_none());
        let mut s = State::new("prod");
        s.resources.insert(
            "aws.vpc.main".parse().unwrap(),
            StateEntry {
                spec: Some(serde_json::json!({"cidr": "10.0.0.0/16"})),
                ..StateEntry::new("aws.vpc", serde_json::json!({"vpc_id": "vpc-1"}))
            },
        );
        store.save(&s).await.unwrap();
        assert_eq!(store.load().await.unwrap().unwrap(), s);
        // no temporary files are left beside it
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub")).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[tokio::test]
    async fn refuses_newer_format() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStateStore::new(dir.path().join("s.json"));
        let mut s = State::new("prod");
        s.format_version = STATE_FORMAT_VERSION + 1;
        store.save(&s).await.unwrap();
        let e = store.load().await.unwrap_err().to_string();
        assert!(e.contains("newer madplan"), "{e}");
    }

    #[tokio::test]
    async fn second_lock_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStateStore::new(dir.path().join("s.json"));
        let first = LockInfo::for_this_process("apply");
        store.lock(&first).await.unwrap();
        let second = LockInfo::for_this_process("destroy");
        match store.lock(&second).await {
            Err(Error::Locked { holder, .. }) => assert_eq!(holder, first),
            other => panic!("expected Locked, got {other:?}"),
        }
        // someone else's unlock does nothing
        store.unlock(second.id).await.unwrap();
        assert!(store.lock(&second).await.is_err());
        store.unlock(first.id).await.unwrap();
        store.lock(&second).await.unwrap();
        // Only the id of the lock held removes it.
        let e = store.force_unlock(first.id).await.unwrap_err().to_string();
        assert!(e.contains(&second.id.to_string()), "{e}");
        assert_eq!(store.lock_holder().await.unwrap(), Some(second.clone()));
        assert_eq!(
            store.force_unlock(second.id).await.unwrap(),
            Some(second.clone())
        );
        assert_eq!(store.force_unlock(second.id).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_lock_appears_whole_to_concurrent_takers() {
        // Many takers at once: exactly one wins, every loser is told who
        // holds it (never that the lock is unreadable), and no temporary
        // file is left beside the state.
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.json");
            let takers: Vec<_> = (0..8)
                .map(|i| {
                    let store = LocalStateStore::new(&path);
                    std::thread::spawn(move || {
                        let info = LockInfo::for_this_process(&format!("apply-{i}"));
                        let rt = tokio::runtime::Builder::new_current_thread()
                            .build()
                            .unwrap();
                        rt.block_on(store.lock(&info)).map(|_| info)
                    })
                })
                .collect();
            let results: Vec<_> = takers.into_iter().map(|t| t.join().unwrap()).collect();
            let winners: Vec<&LockInfo> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
            assert_eq!(winners.len(), 1);
            for r in &results {
                if let Err(e) = r {
                    match e {
                        Error::Locked { holder, .. } => assert_eq!(holder, winners[0]),
                        other => panic!("a loser was told: {other}"),
                    }
                }
            }
            let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
            assert_eq!(names.len(), 1, "only the lock is left");
        }
    }

    #[test]
    fn a_lease_expires_at_its_end_and_a_lock_without_one_never_does() {
        let mut lock = LockInfo::for_operator("apply", &Operator::named("ann"));
        assert_eq!(lock.who, "ann");
        let now = SystemTime::now();
        assert!(!lock.lease_expired_at(now + std::time::Duration::from_secs(3600)));
        assert!(!lock.to_string().contains("lease until"));
        lock.expires = Some("2026-11-25T22:00:00.500Z".into());
        let end = humantime::parse_rfc3339("2026-11-25T22:00:00.500Z").unwrap();
        assert!(!lock.lease_expired_at(end - std::time::Duration::from_millis(1)));
        assert!(lock.lease_expired_at(end));
        assert!(
            lock.to_string()
                .contains("lease until 2026-11-25T22:00:00.500Z")
        );
        let e = Error::Locked {
            store: "s".into(),
            holder: lock.clone(),
        };
        assert!(
            e.to_string()
                .contains(&format!("or run `unlock {}` now", lock.id)),
            "{e}"
        );
    }

    #[test]
    fn a_dead_holder_on_this_host_is_named_as_such() {
        let mut mine = LockInfo::for_this_process("apply");
        assert!(!mine.holder_is_gone(), "this process runs");
        mine.pid = u32::MAX - 1;
        assert!(mine.holder_is_gone());
        let e = Error::Locked {
            store: "s".into(),
            holder: mine.clone(),
        };
        assert!(e.to_string().contains("no longer running"), "{e}");
        mine.host = "another-host".into();
        assert!(
            !mine.holder_is_gone(),
            "another host's processes cannot be seen"
        );
    }
}
