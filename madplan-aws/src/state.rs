//! State in S3, for teams: [`S3StateStore`].
//!
//! Objects, beside each other under the bucket's prefix:
//! - `ENV.state.json`: the state, written compare-and-swap (`If-Match` on
//!   the ETag read when the lock was taken; `If-None-Match: *` for the
//!   first write), with its serial and writer in the object's metadata;
//! - `ENV.state.json.lock`: the lock, created with `If-None-Match: *`,
//!   holding who holds it and until when its lease runs; the holder renews
//!   the lease (`If-Match` on its own lock's ETag) while it works, and a
//!   lock whose lease has expired is taken over (`If-Match` on the expired
//!   lock's ETag, so that only one run can take it);
//! - `ENV.state.json.audit/TIME-ID.json`: one audit record per apply,
//!   destroy or restore, created once (`If-None-Match: *`) and never
//!   rewritten;
//! - `ENV.state.json.approvals/DIGEST.json`: the approval of a saved plan.
//!
//! Every put asks for server-side encryption (SSE-S3, or SSE-KMS with the
//! operator's key). With bucket versioning on, every state write is a
//! version: [`StateStore::history`] lists them and
//! [`StateStore::load_version`] reads one.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use futures_util::StreamExt;
use madplan_core::audit::{Approval, AuditRecord};
use madplan_core::state::{approval_name, parse_state};
use madplan_core::{Error, LockInfo, State, StateStore, StateVersion};
use uuid::Uuid;

use crate::CallCounter;

/// How long a lock's lease runs unless renewed, by default. The holder
/// renews it every third of that.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// The server-side encryption every put asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Encryption {
    /// SSE-S3 (`AES256`): keys managed by S3.
    S3,
    /// SSE-KMS with this key (id, ARN or alias).
    Kms(String),
}

/// Who holds the lock in this process, and what it has read.
#[derive(Debug)]
struct Held {
    info: LockInfo,
    lock_etag: String,
    /// The state's ETag when the lock was taken, then after each write
    /// (`None`: there was no state).
    state_etag: Option<String>,
    /// Why the lock is known to be lost (found when renewing).
    lost: Option<String>,
    renewer: Option<tokio::task::JoinHandle<()>>,
}

/// State, lock, audit trail and approvals of one environment in an S3
/// bucket (see the module's documentation for the objects and how each is
/// written).
#[derive(Clone, Debug)]
pub struct S3StateStore {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    environment: String,
    encryption: Encryption,
    lease: Duration,
    rescue_dir: PathBuf,
    calls: CallCounter,
    held: Arc<Mutex<Option<Held>>>,
}

/// What a conditional put demands.
enum Condition {
    /// The object must not exist.
    Absent,
    /// The object must have this ETag.
    Matches(String),
}

fn status<E>(e: &SdkError<E>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

fn code<E: ProvideErrorMetadata>(e: &SdkError<E>) -> Option<String> {
    e.as_service_error()
        .and_then(|s| s.code())
        .map(str::to_string)
}

/// S3 refused a conditional write: the condition failed (412), or another
/// conditional write to the key was in flight (409
/// `ConditionalRequestConflict`).
fn condition_failed<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    matches!(status(e), Some(412 | 409))
        || matches!(
            code(e).as_deref(),
            Some("PreconditionFailed" | "ConditionalRequestConflict")
        )
}

fn not_found<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    status(e) == Some(404) || matches!(code(e).as_deref(), Some("NoSuchKey" | "NotFound"))
}

fn rfc3339_millis(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

impl S3StateStore {
    /// The store of `environment` in `bucket`, under `prefix` (may be
    /// empty), with SSE-S3 and the default lease.
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        prefix: &str,
        environment: &str,
    ) -> Self {
        let prefix = prefix.trim_matches('/');
        let key = if prefix.is_empty() {
            format!("{environment}.state.json")
        } else {
            format!("{prefix}/{environment}.state.json")
        };
        Self {
            client,
            bucket: bucket.into(),
            key,
            environment: environment.to_string(),
            encryption: Encryption::S3,
            lease: DEFAULT_LEASE,
            rescue_dir: PathBuf::from(".madplan"),
            calls: CallCounter::default(),
            held: Arc::new(Mutex::new(None)),
        }
    }

    /// The store a backend URL names, on an S3 client made from `conf`:
    /// `s3://BUCKET/PREFIX`, with optional `?kms_key=KEY` (SSE-KMS instead
    /// of SSE-S3) and `&lease=DURATION` (e.g. `30s`). Path-style addressing
    /// is used when `conf` has an endpoint override (an emulator).
    pub fn from_url_with_conf(
        url: &str,
        environment: &str,
        conf: &aws_config::SdkConfig,
    ) -> Result<Self, Error> {
        let bad = |why: String| Error::State {
            store: url.to_string(),
            message: format!(
                "not an S3 backend URL: {why} (s3://BUCKET/PREFIX?kms_key=KEY&lease=60s)"
            ),
            source: None,
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| bad("it does not start with s3://".into()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        if bucket.is_empty() {
            return Err(bad("no bucket".into()));
        }
        let calls = CallCounter::default();
        let client = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(conf)
                .force_path_style(conf.endpoint_url().is_some())
                .interceptor(calls.clone())
                .build(),
        );
        let mut store = Self::new(client, bucket, prefix, environment);
        store.calls = calls;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "kms_key" if !v.is_empty() => store.encryption = Encryption::Kms(v.to_string()),
                "lease" => {
                    let d = humantime::parse_duration(v)
                        .map_err(|e| bad(format!("lease {v:?}: {e}")))?;
                    if d < Duration::from_secs(1) {
                        return Err(bad("a lease is at least 1s".into()));
                    }
                    store.lease = d;
                }
                other => return Err(bad(format!("unknown parameter {other:?}"))),
            }
        }
        Ok(store)
    }

    /// Like [`S3StateStore::from_url_with_conf`], with the SDK configured
    /// from the standard AWS chain.
    pub async fn from_url(url: &str, environment: &str) -> Result<Self, Error> {
        let conf = aws_config::load_from_env().await;
        Self::from_url_with_conf(url, environment, &conf)
    }

    /// Encrypts every object with SSE-KMS under `key` instead of SSE-S3.
    #[must_use]
    pub fn with_kms_key(mut self, key: impl Into<String>) -> Self {
        self.encryption = Encryption::Kms(key.into());
        self
    }

    /// Sets how long a lock's lease runs unless renewed (renewed every
    /// third of it).
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Where a run that cannot write its state (it lost its lock) keeps it
    /// (default `.madplan`).
    #[must_use]
    pub fn with_rescue_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.rescue_dir = dir.into();
        self
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The state object's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The lock object's key.
    pub fn lock_key(&self) -> String {
        format!("{}.lock", self.key)
    }

    fn audit_prefix(&self) -> String {
        format!("{}.audit/", self.key)
    }

    fn approval_key(&self, digest: &str) -> String {
        format!("{}.approvals/{}", self.key, approval_name(digest))
    }

    /// The encryption every put asks for.
    pub fn encryption(&self) -> &Encryption {
        &self.encryption
    }

    /// The lease of this store's locks.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// How many requests each S3 operation has sent through this store
    /// (when it was made from a URL), e.g. `{"PutObject": 3}`.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.calls.snapshot()
    }

    fn error(&self, what: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::State {
            store: self.location(),
            message: format!("{what}: {}", DisplayErrorContext(&e)),
            source: Some(Box::new(e)),
        }
    }

    fn problem(&self, message: impl Into<String>) -> Error {
        Error::State {
            store: self.location(),
            message: message.into(),
            source: None,
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Option<Held>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn put(&self, key: &str, body: Vec<u8>, condition: Condition) -> PutObjectFluentBuilder {
        put_request(
            &self.client,
            &self.bucket,
            &self.encryption,
            key,
            body,
            condition,
        )
    }

    /// Reads an object: its bytes and ETag, `None` when it does not exist.
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, Error> {
        get_object(&self.client, &self.bucket, key)
            .await
            .map_err(|e| self.error(&format!("reading {key}"), e))
    }

    /// The lock held now, with its ETag.
    async fn read_lock(&self) -> Result<Option<(LockInfo, String)>, Error> {
        let Some((bytes, etag)) = self.get(&self.lock_key()).await? else {
            return Ok(None);
        };
        let info = serde_json::from_slice(&bytes)
            .map_err(|e| self.problem(format!("the lock object is unreadable: {e}")))?;
        Ok(Some((info, etag)))
    }

    /// After a put of our lock went through: checks that the lock object
    /// is ours (a store whose conditional writes are not atomic, such as
    /// an emulator, may have let another taker overwrite it), reads the
    /// state's ETag for the compare-and-swap writes, and starts renewing.
    async fn hold(
        &self,
        mine: LockInfo,
        etag: String,
        taken_over: Option<LockInfo>,
    ) -> Result<Option<LockInfo>, Error> {
        match self.read_lock().await? {
            Some((held, _)) if held.id == mine.id => {}
            Some((other, _)) => {
                return Err(Error::Locked {
                    store: self.location(),
                    holder: other,
                });
            }
            None => return Err(self.problem("the lock vanished as it was taken; try again")),
        }
        let state_etag = match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .send()
            .await
        {
            Ok(out) => out.e_tag().map(str::to_string),
            Err(e) if not_found(&e) => None,
            Err(e) => {
                let _ = self.delete_lock_if(&mine.id).await;
                return Err(self.error("reading the state's version", e));
            }
        };
        let renewer = tokio::spawn(renew(
            self.client.clone(),
            self.bucket.clone(),
            self.lock_key(),
            self.encryption.clone(),
            self.lease,
            self.held.clone(),
            mine.id,
        ));
        *self.held() = Some(Held {
            info: mine,
            lock_etag: etag,
            state_etag,
            lost: None,
            renewer: Some(renewer),
        });
        Ok(taken_over)
    }

    /// Deletes the lock if it is still `id`'s (read, compared, then a
    /// delete conditional on the ETag read).
    async fn delete_lock_if(&self, id: &Uuid) -> Result<Option<LockInfo>, Error> {
        let read = self.read_lock().await?;
        self.delete_read_lock(id, read).await
    }

    /// Deletes the lock read as `read` if it is `id`'s, on the condition
    /// that it has not changed since it was read.
    async fn delete_read_lock(
        &self,
        id: &Uuid,
        read: Option<(LockInfo, String)>,
    ) -> Result<Option<LockInfo>, Error> {
        let Some((held, etag)) = read else {
            return Ok(None);
        };
        if held.id != *id {
            return Err(self.problem(format!(
                "the lock held now is {held}, not lock id {id}; nothing was removed (give the \
                 id the lock error shows)"
            )));
        }
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.lock_key())
            .if_match(&etag)
            .send()
            .await
        {
            Ok(_) => Ok(Some(held)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) if condition_failed(&e) => Err(self
                .problem("the lock changed hands while it was being removed; nothing was removed")),
            Err(e) => Err(self.error("removing the lock", e)),
        }
    }

    /// Keeps `state` in a local file and says why it could not be written.
    fn conflict(&self, state: &State, lock: &LockInfo, why: String) -> Error {
        let kept = self
            .rescue_dir
            .join(format!("{}.state.{}.json", self.environment, lock.id));
        let written = std::fs::create_dir_all(&self.rescue_dir).and_then(|()| {
            std::fs::write(&kept, serde_json::to_vec_pretty(state).unwrap_or_default())
        });
        match written {
            Ok(()) => Error::StateConflict {
                store: self.location(),
                message: why,
                kept,
            },
            Err(e) => Error::State {
                store: self.location(),
                message: format!(
                    "{why}; nothing was overwritten, but this run's own state (serial {}) could \
                     not be kept in {} either: {e}",
                    state.serial,
                    kept.display()
                ),
                source: None,
            },
        }
    }
}

/// A put of `body` at `key`, encrypted, under `condition`.
fn put_request(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    encryption: &Encryption,
    key: &str,
    body: Vec<u8>,
    condition: Condition,
) -> PutObjectFluentBuilder {
    let mut put = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(ByteStream::from(body));
    put = match encryption {
        Encryption::S3 => put.server_side_encryption(ServerSideEncryption::Aes256),
        Encryption::Kms(k) => put
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(k),
    };
    match condition {
        Condition::Absent => put.if_none_match("*"),
        Condition::Matches(etag) => put.if_match(etag),
    }
}

async fn get_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<(Vec<u8>, String)>, SdkError<aws_sdk_s3::operation::get_object::GetObjectError>>
{
    match client.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let etag = out.e_tag().unwrap_or_default().to_string();
            let bytes = out
                .body
                .collect()
                .await
                .map(|b| b.into_bytes().to_vec())
                .unwrap_or_default();
            Ok(Some((bytes, etag)))
        }
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Renews the lease of lock `id` every third of `lease` while this process
/// holds it: a put conditional on the lock's ETag, so that a lock taken
/// over or removed is never written back. A lost lock is marked, and the
/// next state write refuses.
async fn renew(
    client: aws_sdk_s3::Client,
    bucket: String,
    lock_key: String,
    encryption: Encryption,
    lease: Duration,
    held: Arc<Mutex<Option<Held>>>,
    id: Uuid,
) {
    let every = lease / 3;
    loop {
        tokio::time::sleep(every).await;
        let (mut info, etag) = {
            let guard = held.lock().unwrap_or_else(|e| e.into_inner());
            match guard.as_ref() {
                Some(h) if h.info.id == id && h.lost.is_none() => {
                    (h.info.clone(), h.lock_etag.clone())
                }
                _ => return,
            }
        };
        info.expires = Some(rfc3339_millis(SystemTime::now() + lease));
        let body = serde_json::to_vec(&info).unwrap_or_default();
        let result = put_request(
            &client,
            &bucket,
            &encryption,
            &lock_key,
            body,
            Condition::Matches(etag),
        )
        .send()
        .await;
        let mut guard = held.lock().unwrap_or_else(|e| e.into_inner());
        let Some(h) = guard.as_mut().filter(|h| h.info.id == id) else {
            return;
        };
        match result {
            Ok(out) => {
                h.lock_etag = out.e_tag().unwrap_or_default().to_string();
                h.info = info;
                tracing::debug!(lock = %h.info, "renewed the state lock's lease");
            }
            Err(e) if condition_failed(&e) || not_found(&e) => {
                let why = format!(
                    "this run's lock (id {id}) was taken over or removed while it worked \
                     (its lease ran out or someone ran `unlock`)"
                );
                tracing::error!("{why}");
                h.lost = Some(why);
                return;
            }
            Err(e) => {
                // A passing failure: the next tick tries again, and the
                // state writes stay compare-and-swap whatever happens.
                tracing::warn!(error = %DisplayErrorContext(&e), "renewing the state lock's lease failed");
            }
        }
    }
}

impl StateStore for S3StateStore {
    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    async fn load(&self) -> Result<Option<State>, Error> {
        match self.get(&self.key).await? {
            Some((bytes, _)) => parse_state(&self.location(), &bytes).map(Some),
            None => Ok(None),
        }
    }

    async fn save(&self, state: &State) -> Result<(), Error> {
        let (lock, etag, lost) = match self.held().as_ref() {
            Some(h) => (h.info.clone(), h.state_etag.clone(), h.lost.clone()),
            None => {
                return Err(
                    self.problem("writing the state needs its lock, and this run does not hold it")
                );
            }
        };
        if let Some(why) = lost {
            return Err(self.conflict(state, &lock, why));
        }
        let body = serde_json::to_vec_pretty(state)
            .map_err(|e| self.problem(format!("cannot serialize the state: {e}")))?;
        let condition = match etag {
            Some(e) => Condition::Matches(e),
            None => Condition::Absent,
        };
        let result = self
            .put(&self.key, body, condition)
            .metadata("madplan-serial", state.serial.to_string())
            .metadata("madplan-lineage", state.lineage.to_string())
            .metadata("madplan-written-by", format!("{}@{}", lock.who, lock.host))
            .send()
            .await;
        match result {
            Ok(out) => {
                if let Some(h) = self.held().as_mut().filter(|h| h.info.id == lock.id) {
                    h.state_etag = out.e_tag().map(str::to_string);
                }
                Ok(())
            }
            Err(e) if condition_failed(&e) => Err(self.conflict(
                state,
                &lock,
                format!(
                    "the state was written by another run since this one took its lock at {} \
                     (S3 answered {} PreconditionFailed to the compare-and-swap write): this \
                     run's lock was broken or its lease expired",
                    lock.since,
                    status(&e).unwrap_or(412)
                ),
            )),
            Err(e) => Err(self.error("writing the state", e)),
        }
    }

    async fn lock(&self, info: &LockInfo) -> Result<Option<LockInfo>, Error> {
        let mut mine = info.clone();
        for _ in 0..3 {
            mine.expires = Some(rfc3339_millis(SystemTime::now() + self.lease));
            let body = serde_json::to_vec(&mine)
                .map_err(|e| self.problem(format!("cannot serialize the lock: {e}")))?;
            match self
                .put(&self.lock_key(), body, Condition::Absent)
                .send()
                .await
            {
                Ok(out) => {
                    let etag = out.e_tag().unwrap_or_default().to_string();
                    return self.hold(mine, etag, None).await;
                }
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(self.error("taking the lock", e)),
            }
            let Some((holder, etag)) = self.read_lock().await? else {
                continue; // released in between: try again
            };
            if !holder.lease_expired_at(SystemTime::now()) {
                return Err(Error::Locked {
                    store: self.location(),
                    holder,
                });
            }
            // The holder's lease ran out: take the lock over, on the
            // condition that nobody else did first.
            mine.expires = Some(rfc3339_millis(SystemTime::now() + self.lease));
            let body = serde_json::to_vec(&mine)
                .map_err(|e| self.problem(format!("cannot serialize the lock: {e}")))?;
            match self
                .put(&self.lock_key(), body, Condition::Matches(etag))
                .send()
                .await
            {
                Ok(out) => {
                    let etag = out.e_tag().unwrap_or_default().to_string();
                    tracing::warn!(previous = %holder, "took over a state lock whose lease had expired");
                    return self.hold(mine, etag, Some(holder)).await;
                }
                Err(e) if condition_failed(&e) || not_found(&e) => {}
                Err(e) => return Err(self.error("taking over an expired lock", e)),
            }
        }
        match self.read_lock().await? {
            Some((holder, _)) => Err(Error::Locked {
                store: self.location(),
                holder,
            }),
            None => Err(self.problem("the lock kept changing hands; try again")),
        }
    }

    async fn unlock(&self, id: Uuid) -> Result<(), Error> {
        let held = {
            let mut guard = self.held();
            match guard.as_ref() {
                Some(h) if h.info.id == id => guard.take(),
                _ => None,
            }
        };
        if let Some(r) = held.and_then(|mut h| h.renewer.take()) {
            r.abort();
        }
        match self.read_lock().await? {
            // Someone else's lock now (or none): not ours to release.
            Some((info, etag)) if info.id == id => self
                .delete_read_lock(&id, Some((info, etag)))
                .await
                .map(|_| ()),
            _ => Ok(()),
        }
    }

    async fn lock_holder(&self) -> Result<Option<LockInfo>, Error> {
        Ok(self.read_lock().await?.map(|(info, _)| info))
    }

    async fn force_unlock(&self, id: Uuid) -> Result<Option<LockInfo>, Error> {
        self.delete_lock_if(&id).await
    }

    async fn append_audit(&self, record: &AuditRecord) -> Result<(), Error> {
        let key = format!("{}{}", self.audit_prefix(), record.object_name());
        let body = serde_json::to_vec_pretty(record)
            .map_err(|e| self.problem(format!("cannot serialize the audit record: {e}")))?;
        match self.put(&key, body, Condition::Absent).send().await {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Err(self.problem(format!(
                "the audit record {key} exists already; records are never rewritten"
            ))),
            Err(e) => Err(self.error("writing an audit record", e)),
        }
    }

    async fn audit_records(&self) -> Result<Vec<AuditRecord>, Error> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.audit_prefix())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("listing the audit trail", e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
        }
        keys.sort();
        let reads = futures_util::stream::iter(keys.into_iter().map(|k| async move {
            let got = self.get(&k).await?;
            let (bytes, _) = got.ok_or_else(|| self.problem(format!("{k} vanished")))?;
            serde_json::from_slice::<AuditRecord>(&bytes)
                .map_err(|e| self.problem(format!("{k} is not an audit record: {e}")))
        }))
        .buffered(8)
        .collect::<Vec<_>>()
        .await;
        reads.into_iter().collect()
    }

    async fn put_approval(&self, approval: &Approval) -> Result<(), Error> {
        let key = self.approval_key(&approval.plan_digest);
        let body = serde_json::to_vec_pretty(approval)
            .map_err(|e| self.problem(format!("cannot serialize the approval: {e}")))?;
        match self.put(&key, body, Condition::Absent).send().await {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => {
                let held = self.approval(&approval.plan_digest).await?;
                Err(self.problem(format!(
                    "the plan {} is approved already{}",
                    approval.plan_digest,
                    held.map(|a| format!(" by {} at {}", a.approver, a.approved_at))
                        .unwrap_or_default()
                )))
            }
            Err(e) => Err(self.error("writing the approval", e)),
        }
    }

    async fn approval(&self, plan_digest: &str) -> Result<Option<Approval>, Error> {
        let key = self.approval_key(plan_digest);
        match self.get(&key).await? {
            Some((bytes, _)) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| self.problem(format!("{key} is not an approval: {e}"))),
            None => Ok(None),
        }
    }

    async fn history(&self) -> Result<Vec<StateVersion>, Error> {
        let mut listed = Vec::new();
        let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(&self.key)
                .set_key_marker(key_marker.clone())
                .set_version_id_marker(version_marker.clone())
                .send()
                .await
                .map_err(|e| self.error("listing the state's versions", e))?;
            for v in page.versions() {
                if v.key() == Some(self.key.as_str())
                    && let Some(id) = v.version_id()
                {
                    listed.push((
                        id.to_string(),
                        v.is_latest().unwrap_or(false),
                        v.last_modified().map(|t| {
                            SystemTime::try_from(*t)
                                .map(rfc3339_millis)
                                .unwrap_or_else(|_| t.to_string())
                        }),
                    ));
                }
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
        }
        // Without versioning, S3 lists the one object with the version id
        // "null". (GetBucketVersioning would say it too, but moto 5.2.5
        // answers it with an XML root the SDK does not parse.)
        if !listed.is_empty() && listed.iter().all(|(id, _, _)| id == "null") {
            return Err(self.problem(format!(
                "versioning is off on the bucket {}, so no history of the state is kept; turn \
                 it on (aws s3api put-bucket-versioning --bucket {} --versioning-configuration \
                 Status=Enabled) to keep every version from now on",
                self.bucket, self.bucket
            )));
        }
        listed.retain(|(id, _, _)| id != "null");
        let heads = futures_util::stream::iter(listed.into_iter().map(
            |(version, latest, written_at)| async move {
                let head = self
                    .client
                    .head_object()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .version_id(&version)
                    .send()
                    .await
                    .map_err(|e| self.error(&format!("reading version {version}"), e))?;
                let meta = |k: &str| head.metadata().and_then(|m| m.get(k)).cloned();
                Ok::<_, Error>(StateVersion {
                    serial: meta("madplan-serial").and_then(|s| s.parse().ok()),
                    written_by: meta("madplan-written-by"),
                    written_at: written_at.unwrap_or_default(),
                    latest,
                    version,
                })
            },
        ))
        .buffered(8)
        .collect::<Vec<_>>()
        .await;
        let mut versions = heads.into_iter().collect::<Result<Vec<_>, _>>()?;
        versions.sort_by(|a, b| {
            b.written_at
                .cmp(&a.written_at)
                .then(b.serial.cmp(&a.serial))
        });
        Ok(versions)
    }

    async fn load_version(&self, version: &str) -> Result<State, Error> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .version_id(version)
            .send()
            .await
            .map_err(|e| self.error(&format!("reading version {version}"), e))?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| self.problem(format!("reading version {version}: {e}")))?
            .into_bytes();
        parse_state(&format!("{} (version {version})", self.location()), &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf() -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build()
    }

    #[test]
    fn backend_urls() {
        let s =
            S3StateStore::from_url_with_conf("s3://b/team/prod", "production", &conf()).unwrap();
        assert_eq!(s.bucket(), "b");
        assert_eq!(s.key(), "team/prod/production.state.json");
        assert_eq!(s.lock_key(), "team/prod/production.state.json.lock");
        assert_eq!(s.location(), "s3://b/team/prod/production.state.json");
        assert_eq!(s.encryption(), &Encryption::S3);
        assert_eq!(s.lease(), DEFAULT_LEASE);

        let s = S3StateStore::from_url_with_conf(
            "s3://b?kms_key=arn:aws:kms:us-east-1:1:key/k&lease=5s",
            "staging",
            &conf(),
        )
        .unwrap();
        assert_eq!(s.key(), "staging.state.json");
        assert_eq!(
            s.encryption(),
            &Encryption::Kms("arn:aws:kms:us-east-1:1:key/k".into())
        );
        assert_eq!(s.lease(), Duration::from_secs(5));

        for bad in [
            "b/x",
            "s3://",
            "s3://b/x?lease=soon",
            "s3://b?colour=red",
            "s3://b?lease=10ms",
        ] {
            let e = S3StateStore::from_url_with_conf(bad, "p", &conf()).unwrap_err();
            assert!(
                e.to_string().contains("not an S3 backend URL"),
                "{bad}: {e}"
            );
        }
    }
}
