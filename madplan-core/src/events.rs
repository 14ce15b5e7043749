//! What the engine reports while it works, for progress displays and logs.

use std::time::Duration;

use crate::address::Address;
use crate::plan::Action;

/// Something that happened during refresh or apply.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event {
    /// A refresh of one kind started.
    Refreshing {
        /// The kind.
        kind: String,
    },
    /// An operation on a resource started.
    Started {
        /// The resource.
        address: Address,
        /// What is being done.
        action: Action,
    },
    /// A long operation reported progress.
    Progress {
        /// The resource.
        address: Address,
        /// What the provider said.
        message: String,
    },
    /// A call failed in a way worth retrying; the engine waits and tries again.
    Retrying {
        /// The resource.
        address: Address,
        /// The error.
        error: String,
        /// How long the engine waits first.
        wait: Duration,
    },
    /// An operation finished.
    Finished {
        /// The resource.
        address: Address,
        /// What was done.
        action: Action,
        /// How long it took.
        elapsed: Duration,
    },
    /// A state lock whose lease had expired was taken over.
    LockTakenOver {
        /// The lock that was taken over.
        previous: crate::state::LockInfo,
    },
    /// An operation failed.
    Failed {
        /// The resource.
        address: Address,
        /// What was being done.
        action: Action,
        /// The error.
        error: String,
    },
}

/// Receives [`Event`]s. Implementations must be cheap and must not block.
pub trait EventSink: Send + Sync {
    /// Called for every event.
    fn event(&self, event: &Event);
}

/// Logs every event through `tracing` and nothing else.
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingEvents;

impl EventSink for TracingEvents {
    fn event(&self, event: &Event) {
        match event {
            Event::Failed { address, error, .. } => {
                tracing::error!(%address, %error, "operation failed");
            }
            Event::Retrying {
                address,
                error,
                wait,
            } => {
                tracing::warn!(%address, %error, ?wait, "retrying");
            }
            Event::LockTakenOver { previous } => {
                tracing::warn!(%previous, "took over a state lock whose lease had expired");
            }
            other => tracing::info!(event = ?other),
        }
    }
}
