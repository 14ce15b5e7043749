//! Errors of the engine, and the error type every provider returns.

use std::fmt;
use std::time::Duration;

use crate::address::Address;

/// How the engine should treat a [`ProviderError`].
///
/// Retries live in two places, never both for one failure:
/// - a call that failed in transit (throttling, 5xx, a dropped connection)
///   is retried by the client that made it (the AWS SDK's standard retry,
///   [`crate::retry`] in the REST clients), bounded; if it still fails the
///   error reaches the engine as [`ErrorClass::Unavailable`], and the
///   engine does not repeat the operation;
/// - a whole operation is retried by the engine only for
///   [`ErrorClass::Retryable`]: conditions of the provider that settle with
///   time (an interface still detaching, a resource still being changed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The operation may succeed if the engine runs it again after a pause:
    /// a state that settles with time.
    Retryable,
    /// The service stayed unavailable or kept throttling through the
    /// client's own retries. Not retried by the engine; run apply again
    /// later.
    Unavailable,
    /// The operator interrupted a wait; the next apply continues it.
    Interrupted,
    /// The thing addressed does not exist (any more).
    NotFound,
    /// The request conflicts with what exists (duplicate name, resource in use).
    Conflict,
    /// The request was wrong or refused; retrying will not help.
    Fatal,
}

/// An error from a provider's API, with the provider's own code, message and
/// request id kept so that an operator can look it up.
#[derive(Debug, thiserror::Error)]
#[error("{provider} API error{}: {message}{}", code_suffix(.code), request_suffix(.request_id))]
pub struct ProviderError {
    /// The provider that answered (`aws`, `atlas`, ...).
    pub provider: &'static str,
    /// What the engine should do with it.
    pub class: ErrorClass,
    /// The provider's error code, e.g. `InvalidVpcID.NotFound`.
    pub code: Option<String>,
    /// The provider's message.
    pub message: String,
    /// The request id the provider gave, for support cases.
    pub request_id: Option<String>,
    /// How long the provider asked us to wait before retrying.
    pub retry_after: Option<Duration>,
    /// The underlying error.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

fn code_suffix(code: &Option<String>) -> String {
    code.as_ref().map(|c| format!(" [{c}]")).unwrap_or_default()
}

fn request_suffix(id: &Option<String>) -> String {
    id.as_ref()
        .map(|c| format!(" (request id {c})"))
        .unwrap_or_default()
}

impl ProviderError {
    /// A new error of the given class.
    pub fn new(provider: &'static str, class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            provider,
            class,
            code: None,
            message: message.into(),
            request_id: None,
            retry_after: None,
            source: None,
        }
    }

    /// Sets the provider's error code.
    #[must_use]
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets the provider's request id.
    #[must_use]
    pub fn with_request_id(mut self, id: Option<impl Into<String>>) -> Self {
        self.request_id = id.map(Into::into);
        self
    }

    /// Sets the wait the provider asked for.
    #[must_use]
    pub fn with_retry_after(mut self, wait: Option<Duration>) -> Self {
        self.retry_after = wait;
        self
    }

    /// Chains the underlying error.
    #[must_use]
    pub fn with_source(mut self, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(e));
        self
    }

    /// Whether the engine may try the call again.
    pub fn is_retryable(&self) -> bool {
        self.class == ErrorClass::Retryable
    }

    /// Whether the error says the thing does not exist.
    pub fn is_not_found(&self) -> bool {
        self.class == ErrorClass::NotFound
    }
}

/// One problem found by [`crate::Environment::validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The resource the problem is on, if it is on one.
    pub address: Option<Address>,
    /// The field of that resource, if one is to blame.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.address, &self.field) {
            (Some(a), Some(field)) => write!(f, "{a}: {field}: ")?,
            (Some(a), None) => write!(f, "{a}: ")?,
            (None, Some(field)) => write!(f, "{field}: ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

/// Every problem validation found, reported together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the environment has {} problem(s):", self.0.len())?;
        for p in &self.0 {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The environment is invalid; nothing was sent to any API.
    #[error("{0}")]
    Invalid(Problems),

    /// A provider call failed on a resource.
    #[error("{action} of {address} failed: {source}")]
    Resource {
        /// The resource.
        address: Address,
        /// What was being done (create, read, update, delete).
        action: &'static str,
        /// The provider's error.
        #[source]
        source: ProviderError,
    },

    /// Refreshing a kind of resource failed.
    #[error("refreshing {kind} failed: {source}")]
    Refresh {
        /// The kind.
        kind: String,
        /// The provider's error.
        #[source]
        source: ProviderError,
    },

    /// Some resources failed during apply; state was saved with what succeeded.
    #[error("apply stopped after {} failure(s); state was saved with everything that was done:\n{}", .0.len(), list_errors(.0))]
    Apply(Vec<Error>),

    /// The operator interrupted the apply; what was in flight finished and
    /// state was saved.
    #[error("interrupted: {0} finished and saved in state; run apply again to continue")]
    Interrupted(String),

    /// The state is locked by someone else.
    #[error("the state {store} is locked by {holder}; {}", lock_hint(.holder))]
    Locked {
        /// Where the state lives.
        store: String,
        /// Who holds the lock.
        holder: crate::state::LockInfo,
    },

    /// The environment requires an approved plan and this one is not (or
    /// its approval breaks the four-eyes rule).
    #[error("not approved: {0}")]
    NotApproved(String),

    /// A state write was refused because the state changed since this run
    /// took its lock (its lock was broken or its lease expired and another
    /// run wrote since): nothing was overwritten, and this run's own state
    /// is kept in a local file for the operator.
    #[error(
        "state {store}: {message}; nothing was overwritten, and this run's own state is kept \
         in {}: compare it with the stored state before doing anything else",
        .kept.display()
    )]
    StateConflict {
        /// Where the state lives.
        store: String,
        /// What happened.
        message: String,
        /// The local file holding the state this run could not write.
        kept: std::path::PathBuf,
    },

    /// A saved plan does not match the state any more.
    #[error("the saved plan is stale: {0}; run `plan` again")]
    StalePlan(String),

    /// The operator refused, or could not be asked.
    #[error("{0}")]
    NotConfirmed(String),

    /// A protected resource would be deleted.
    #[error("{address} is protected against deletion; {hint}")]
    Protected {
        /// The resource.
        address: Address,
        /// What to do.
        hint: String,
    },

    /// Reading or writing state failed.
    #[error("state {store}: {message}")]
    State {
        /// Where the state lives.
        store: String,
        /// What failed.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },

    /// Two or more live objects claim one address (a create that went
    /// through twice, an old object nobody deleted): madplan will not pick
    /// one silently.
    #[error(
        "{address} is claimed by {} live objects: {}; delete the one that should not exist \
         (outside madplan), then plan again",
        .objects.len(),
        .objects.join(", ")
    )]
    Duplicate {
        /// The address.
        address: Address,
        /// Each object: its outputs (ids) and why it claims the address.
        objects: Vec<String>,
    },

    /// `state recover` cannot tell which state's resources to adopt.
    #[error("{0}")]
    Recover(String),

    /// A resource address named by the operator does not exist.
    #[error("no resource {0} in the environment or its state")]
    UnknownAddress(String),

    /// A value could not be converted between its typed and stored forms.
    #[error("{address}: {message}")]
    Encoding {
        /// The resource.
        address: String,
        /// What failed.
        message: String,
    },

    /// An I/O error outside the state store (plan files, terminal).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn lock_hint(holder: &crate::state::LockInfo) -> String {
    if holder.holder_is_gone() {
        "that process is no longer running on this host, so the lock is stale: run `unlock`".into()
    } else if let Some(until) = &holder.expires {
        format!(
            "its holder renews its lease while it works; if that run died, the first run after \
             {until} takes the lock over (or run `unlock {}` now)",
            holder.id
        )
    } else {
        "if that run is dead, run `unlock`".into()
    }
}

fn list_errors(errors: &[Error]) -> String {
    errors
        .iter()
        .map(|e| format!("  - {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Error {
    pub(crate) fn encoding(address: impl fmt::Display, message: impl fmt::Display) -> Self {
        Error::Encoding {
            address: address.to_string(),
            message: message.to_string(),
        }
    }

    pub(crate) fn state(store: &str, message: impl Into<String>) -> Self {
        Error::State {
            store: store.to_string(),
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn state_io(store: &str, message: impl Into<String>, e: std::io::Error) -> Self {
        Error::State {
            store: store.to_string(),
            message: message.into(),
            source: Some(Box::new(e)),
        }
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
