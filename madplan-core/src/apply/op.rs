//! One operation of an apply, with the engine's retries.
//!
//! Only errors of class [`ErrorClass::Retryable`] are retried here (the
//! clients retry failures in transit themselves). A retry never repeats a
//! step blindly:
//! - a create whose first attempt may have gone through first looks for the
//!   resource by this state's tags, and adopts it if it is there;
//! - a create that already reported an id ([`OpCx::created`]) is not
//!   retried: the resource is kept in state and the next apply completes it;
//! - an update re-reads the live resource and recomputes what differs, so a
//!   step that succeeded before the failure is not sent again.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;
use uuid::Uuid;

use super::graph::OpKind;
use crate::address::Address;
use crate::error::{ErrorClass, ProviderError};
use crate::events::{Event, EventSink};
use crate::plan::field_changes;
use crate::registry::{AnyProvider, ErasedKind, TrackedValue};
use crate::resource::{Claim, OpCx, TrackedId};
use crate::retry::{Attempt, RetryPolicy, with_retries};

/// What an operation needs, resolved from the plan and state.
pub(crate) struct Prepared {
    /// The desired spec (creates and updates).
    pub spec: Option<Value>,
    /// The live spec the plan saw.
    pub prior_spec: Option<Value>,
    /// The live outputs.
    pub prior_outputs: Option<Value>,
    /// The spec last applied.
    pub last_applied: Option<Value>,
    /// The fields that differ.
    pub changed: Vec<String>,
    /// Complete an unfinished create first.
    pub resume: bool,
}

/// What an operation did.
pub(crate) enum Outcome {
    Created(Value),
    Updated(Value),
    Deleted,
}

/// Where an operation runs.
pub(crate) struct OpTarget<'a> {
    pub kind: &'a dyn ErasedKind,
    pub provider: &'a AnyProvider,
    pub environment: &'a str,
    pub lineage: Uuid,
    pub address: &'a Address,
}

fn internal(msg: &str) -> ProviderError {
    ProviderError::new("madplan", ErrorClass::Fatal, msg)
}

impl OpTarget<'_> {
    /// The object this state's tags say was made for this address, if a
    /// create got through although it reported a failure.
    async fn made_before(&self) -> Result<Option<(Value, Value)>, ProviderError> {
        let lineage = self.lineage.to_string();
        let found = self
            .kind
            .refresh(
                self.provider,
                self.environment,
                Some(self.lineage),
                Vec::new(),
            )
            .await?;
        Ok(found.into_iter().find_map(|f| match &f.claim {
            Claim::Tagged {
                address,
                lineage: l,
            } if address == self.address && l.as_deref() == Some(lineage.as_str()) => {
                Some((f.spec, f.outputs))
            }
            _ => None,
        }))
    }

    /// The live spec of the tracked object with `outputs`, read again.
    async fn read_again(&self, outputs: &Value) -> Result<Value, ProviderError> {
        let tracked = vec![TrackedValue {
            address: self.address.clone(),
            outputs: outputs.clone(),
            deposed: false,
        }];
        let found = self
            .kind
            .refresh(self.provider, self.environment, Some(self.lineage), tracked)
            .await?;
        found
            .into_iter()
            .find(|f| f.claim == Claim::Tracked(TrackedId(0)))
            .map(|f| f.spec)
            .ok_or_else(|| {
                ProviderError::new(
                    "madplan",
                    ErrorClass::NotFound,
                    format!("{} no longer exists", self.address),
                )
            })
    }

    /// Brings an existing object to `spec`: an update of what differs.
    async fn converge(
        &self,
        live_spec: Value,
        outputs: Value,
        spec: &Value,
        last_applied: Option<&Value>,
        cx: &OpCx,
    ) -> Result<Value, ProviderError> {
        let cmp = field_changes(self.kind.rules(), &live_spec, spec, last_applied);
        if cmp.fields.is_empty() {
            return Ok(outputs);
        }
        let changed = cmp.fields.iter().map(|f| f.field.clone()).collect();
        self.kind
            .update(self.provider, cmp.after, cmp.before, outputs, changed, cx)
            .await
    }

    async fn attempt(
        &self,
        op: OpKind,
        p: &Prepared,
        n: usize,
        cx: &OpCx,
    ) -> Result<Outcome, ProviderError> {
        match op {
            OpKind::Create => {
                let spec = p.spec.clone().ok_or_else(|| internal("no desired spec"))?;
                if n > 0
                    && let Some((live, outputs)) = self.made_before().await?
                {
                    tracing::info!(address = %self.address, "the failed create went through; adopting what it made");
                    return self
                        .converge(live, outputs, &spec, None, cx)
                        .await
                        .map(Outcome::Created);
                }
                self.kind
                    .create(self.provider, spec, cx)
                    .await
                    .map(Outcome::Created)
            }
            OpKind::Update => {
                let spec = p.spec.clone().ok_or_else(|| internal("no desired spec"))?;
                let mut outputs = p
                    .prior_outputs
                    .clone()
                    .ok_or_else(|| internal("no outputs are known to update it by"))?;
                if p.resume {
                    outputs = self.kind.resume(self.provider, outputs, cx).await?;
                }
                if n > 0 || p.resume {
                    // What the first attempt (or the unfinished create) did
                    // is not assumed: read the resource as it is now.
                    let live = self.read_again(&outputs).await?;
                    return self
                        .converge(live, outputs, &spec, p.last_applied.as_ref(), cx)
                        .await
                        .map(Outcome::Updated);
                }
                self.kind
                    .update(
                        self.provider,
                        spec,
                        p.prior_spec.clone().unwrap_or_default(),
                        outputs,
                        p.changed.clone(),
                        cx,
                    )
                    .await
                    .map(Outcome::Updated)
            }
            OpKind::Delete => {
                let outputs = p
                    .prior_outputs
                    .clone()
                    .ok_or_else(|| internal("no outputs are known to delete it by"))?;
                match self.kind.delete(self.provider, outputs, cx).await {
                    Ok(()) => Ok(Outcome::Deleted),
                    Err(e) if e.is_not_found() => Ok(Outcome::Deleted),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Runs `op`, retrying what the engine may retry.
    pub async fn run(
        &self,
        op: OpKind,
        p: &Prepared,
        cx: &OpCx,
        retry: &RetryPolicy,
        events: &dyn EventSink,
    ) -> Result<Outcome, ProviderError> {
        let attempts = AtomicUsize::new(0);
        let result = with_retries(
            retry,
            "resource operation",
            || async {
                let n = attempts.fetch_add(1, Ordering::SeqCst);
                self.attempt(op, p, n, cx).await.map_err(|e| {
                    // A create that already made something is not repeated:
                    // it would make a second one. The partial result goes to
                    // state and the next apply completes it.
                    let again = e.is_retryable() && !cx.has_partial();
                    let wait = e.retry_after;
                    Attempt {
                        error: e,
                        retry: again,
                        wait,
                    }
                })
            },
            |e: &ProviderError, wait| {
                events.event(&Event::Retrying {
                    address: cx.address().clone(),
                    error: e.to_string(),
                    wait,
                })
            },
        )
        .await;
        result.map_err(|f| f.last.error)
    }
}
