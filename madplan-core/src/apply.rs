//! Carrying out a plan: a concurrent walk of the change graph with a
//! concurrency budget per provider, retries, and state written after every
//! step so that nothing created is ever forgotten.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::address::Address;
use crate::env::{has_unknown, references, resolve};
use crate::error::{Error, ErrorClass, ProviderError, Result};
use crate::events::{Event, EventSink};
use crate::graph::Graph;
use crate::plan::{Action, Plan, ResourceChange};
use crate::registry::{ErasedKind, Kinds, Providers};
use crate::resource::{OpCx, Replacement};
use crate::retry::{Attempt, RetryPolicy, with_retries};
use crate::state::{State, StateEntry};

/// Options of an apply.
#[derive(Clone, Debug, Default)]
pub struct ApplyOptions {
    /// Retry policy for retryable provider errors.
    pub retry: RetryPolicy,
    /// Allow deleting or replacing protected resources.
    pub allow_protected_deletion: bool,
}

/// What an apply did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Resources created (replacements included).
    pub created: usize,
    /// Resources updated in place.
    pub updated: usize,
    /// Resources deleted (replacements included).
    pub deleted: usize,
    /// The serial of the state written last.
    pub serial: u64,
    /// How many times state was written during the apply.
    pub state_writes: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum OpKind {
    Create,
    Update,
    Delete,
}

struct Op {
    change: usize,
    kind: OpKind,
}

fn op_graph(plan: &Plan) -> Result<(Vec<Op>, Graph)> {
    let mut ops = Vec::new();
    let mut index: HashMap<(Address, OpKind), usize> = HashMap::new();
    let mut push = |ops: &mut Vec<Op>, change: usize, kind: OpKind| {
        index.insert((plan.changes[change].address.clone(), kind), ops.len());
        ops.push(Op { change, kind });
    };
    for (i, c) in plan.changes.iter().enumerate() {
        match c.action {
            Action::NoOp => {}
            Action::Create => push(&mut ops, i, OpKind::Create),
            Action::Update => push(&mut ops, i, OpKind::Update),
            Action::Delete => push(&mut ops, i, OpKind::Delete),
            Action::Replace => {
                push(&mut ops, i, OpKind::Delete);
                push(&mut ops, i, OpKind::Create);
            }
        }
    }
    let mut g = Graph::new(ops.len());
    let find = |a: &Address, k: OpKind| index.get(&(a.clone(), k)).copied();
    for (x, op) in ops.iter().enumerate() {
        let c = &plan.changes[op.change];
        match op.kind {
            OpKind::Create | OpKind::Update => {
                for d in &c.depends_on {
                    if let Some(y) = find(d, OpKind::Create).or_else(|| find(d, OpKind::Update)) {
                        g.depend(x, y);
                    }
                }
                if op.kind == OpKind::Create
                    && c.action == Action::Replace
                    && c.replacement != Some(Replacement::CreateBeforeDestroy)
                    && let Some(y) = find(&c.address, OpKind::Delete)
                {
                    g.depend(x, y);
                }
            }
            OpKind::Delete => {
                let recreated_after = c.action == Action::Replace
                    && c.replacement != Some(Replacement::CreateBeforeDestroy);
                if c.action == Action::Replace
                    && !recreated_after
                    && let Some(y) = find(&c.address, OpKind::Create)
                {
                    g.depend(x, y);
                }
                for e in &plan.changes {
                    if e.address == c.address || !e.prior_depends_on.contains(&c.address) {
                        continue;
                    }
                    // What used this resource lets go of it first: by being
                    // deleted, or (unless this one comes back right after) by
                    // being changed to use something else.
                    if let Some(y) = find(&e.address, OpKind::Delete) {
                        g.depend(x, y);
                    } else if !recreated_after
                        && let Some(y) = find(&e.address, OpKind::Update)
                            .or_else(|| find(&e.address, OpKind::Create))
                    {
                        g.depend(x, y);
                    }
                }
            }
        }
    }
    if let Err(cycle) = g.topo_order() {
        let names: Vec<String> = cycle
            .iter()
            .map(|&i| format!("{:?} {}", ops[i].kind, plan.changes[ops[i].change].address))
            .collect();
        return Err(Error::encoding(
            "plan",
            format!("the changes cannot be ordered: {}", names.join(" -> ")),
        ));
    }
    Ok((ops, g))
}

/// Refuses a plan that deletes or replaces a protected resource, unless
/// that is allowed.
pub(crate) fn check_protection(
    plan: &Plan,
    protected_in_env: &dyn Fn(&Address) -> bool,
    allowed: bool,
) -> Result<()> {
    if allowed {
        return Ok(());
    }
    for c in &plan.changes {
        if matches!(c.action, Action::Delete | Action::Replace)
            && (c.protected || protected_in_env(&c.address))
        {
            return Err(Error::Protected {
                address: c.address.clone(),
                hint: format!(
                    "the plan would {} it; remove its protection in code, or allow \
                     deleting protected resources explicitly (--allow-destroy-protected)",
                    c.action.verb()
                ),
            });
        }
    }
    Ok(())
}

enum Outcome {
    Created(Value),
    Updated(Value),
    Deleted,
}

struct Done {
    op: usize,
    /// `None`: not started, because the apply was stopping.
    result: Option<std::result::Result<Outcome, ProviderError>>,
    partial: Option<Value>,
    spec: Option<Value>,
}

/// Everything the executor needs, borrowed from the engine.
pub(crate) struct Executor<'a, S: crate::state::StateStore> {
    pub kinds: &'a Kinds,
    pub providers: Providers,
    pub store: &'a S,
    pub events: Arc<dyn EventSink>,
    pub options: &'a ApplyOptions,
    pub protected_in_env: &'a dyn Fn(&Address) -> bool,
    pub secrets: Arc<std::collections::BTreeMap<String, secrecy::SecretString>>,
    pub interrupt: Option<tokio::sync::watch::Receiver<bool>>,
}

impl<S: crate::state::StateStore> Executor<'_, S> {
    async fn save(&self, state: &mut State) -> Result<()> {
        state.serial += 1;
        self.store.save(state).await
    }

    pub(crate) async fn run(&self, plan: &Plan, mut state: State) -> Result<ApplyReport> {
        let (ops, graph) = op_graph(plan)?;
        let mut kinds: Vec<Arc<dyn ErasedKind>> = Vec::with_capacity(plan.changes.len());
        for c in &plan.changes {
            let kind = self.kinds.get(&c.kind).cloned().ok_or_else(|| {
                Error::encoding(
                    &c.address,
                    format!("no registered provider manages the kind {}", c.kind),
                )
            })?;
            kinds.push(kind);
        }
        check_protection(
            plan,
            self.protected_in_env,
            self.options.allow_protected_deletion,
        )?;

        // Record what refresh found (adopted resources, new outputs) first.
        let mut touched = false;
        for c in &plan.changes {
            let (Some(outputs), Some(before)) = (&c.prior_outputs, &c.before) else {
                continue;
            };
            if c.action == Action::Delete {
                continue;
            }
            let entry = state
                .resources
                .entry(c.address.clone())
                .or_insert_with(|| StateEntry {
                    kind: c.kind.clone(),
                    spec: Some(before.clone()),
                    outputs: outputs.clone(),
                    depends_on: c.prior_depends_on.clone(),
                    protected: c.protected,
                });
            if entry.outputs != *outputs || c.action == Action::NoOp {
                entry.outputs = outputs.clone();
                if c.action == Action::NoOp {
                    entry.spec = c.after.clone();
                    entry.depends_on = c.depends_on.clone();
                    entry.protected = c.protected;
                }
                touched = true;
            }
        }
        let mut state_writes = 0;
        if touched || state.serial == 0 {
            self.save(&mut state).await?;
            state_writes += 1;
        }

        let mut waiting: Vec<usize> = (0..ops.len()).map(|i| graph.deps(i).len()).collect();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); ops.len()];
        for (i, w) in dependents.iter_mut().enumerate() {
            *w = graph.dependents(i);
        }
        let mut ready: std::collections::VecDeque<usize> =
            (0..ops.len()).filter(|&i| waiting[i] == 0).collect();
        let mut budgets: HashMap<&'static str, Arc<Semaphore>> = HashMap::new();
        let providers = Arc::new(self.providers.clone());
        let mut running: JoinSet<Done> = JoinSet::new();
        let mut errors: Vec<Error> = Vec::new();
        let mut report = ApplyReport::default();
        let mut interrupt = self.interrupt.clone();
        let mut interrupted = false;
        let stop = Arc::new(AtomicBool::new(false));

        loop {
            if interrupt.as_ref().is_some_and(|rx| *rx.borrow()) {
                interrupted = true;
            }
            while errors.is_empty() && !interrupted {
                let Some(x) = ready.pop_front() else { break };
                let op = &ops[x];
                let c = &plan.changes[op.change];
                let kind = kinds[op.change].clone();
                let budget = budgets
                    .entry(kind.provider_name())
                    .or_insert_with(|| {
                        Arc::new(Semaphore::new(providers.concurrency(kind.provider_name())))
                    })
                    .clone();
                let prepared = self.prepare(op, c, &state);
                let action = match op.kind {
                    OpKind::Create if c.action == Action::Replace => Action::Replace,
                    OpKind::Create => Action::Create,
                    OpKind::Update => Action::Update,
                    OpKind::Delete => Action::Delete,
                };
                let events = self.events.clone();
                let retry = self.options.retry;
                let providers = providers.clone();
                let address = c.address.clone();
                let env_name = plan.environment.clone();
                let op_kind = op.kind;
                let secrets = self.secrets.clone();
                let span = tracing::info_span!(
                    "resource",
                    address = %address,
                    action = action.verb()
                );
                let stop = stop.clone();
                let interrupt = self.interrupt.clone();
                running.spawn(tracing::Instrument::instrument(
                    async move {
                        let _permit = budget.acquire_owned().await;
                        // Work that was waiting for its provider's budget
                        // does not start once the apply is stopping.
                        if stop.load(Ordering::SeqCst) || interrupt.is_some_and(|rx| *rx.borrow()) {
                            return Done {
                                op: x,
                                result: None,
                                partial: None,
                                spec: None,
                            };
                        }
                        events.event(&Event::Started {
                            address: address.clone(),
                            action,
                        });
                        let started = Instant::now();
                        let cx = OpCx::new(env_name, address.clone(), events.clone(), secrets);
                        let (result, spec) = match prepared {
                            Err(e) => (Err(e), None),
                            Ok(p) => {
                                let spec = p.spec.clone();
                                let r =
                                    run_op(&*kind, &providers, op_kind, p, &cx, &retry, &*events)
                                        .await;
                                (r, spec)
                            }
                        };
                        match &result {
                            Ok(_) => events.event(&Event::Finished {
                                address,
                                action,
                                elapsed: started.elapsed(),
                            }),
                            Err(e) => {
                                // Set before the budget is released, so that
                                // nothing queued behind this starts.
                                stop.store(true, Ordering::SeqCst);
                                events.event(&Event::Failed {
                                    address,
                                    action,
                                    error: e.to_string(),
                                })
                            }
                        }
                        Done {
                            op: x,
                            result: Some(result),
                            partial: cx.take_partial(),
                            spec,
                        }
                    },
                    span,
                ));
            }
            let joined = match interrupt.as_mut() {
                Some(rx) if !interrupted => tokio::select! {
                    biased;
                    _ = rx.wait_for(|stop| *stop) => {
                        interrupted = true;
                        continue;
                    }
                    j = running.join_next() => j,
                },
                _ => running.join_next().await,
            };
            let Some(first) = joined else {
                break;
            };
            // Take every result that is already in, and save state once for
            // all of them: one write per batch, not per resource.
            let mut batch = vec![first];
            while let Some(more) = running.try_join_next() {
                batch.push(more);
            }
            let mut dirty = false;
            for joined in batch {
                let done = match joined {
                    Ok(d) => d,
                    Err(e) => {
                        errors.push(Error::encoding("apply", format!("a task died: {e}")));
                        continue;
                    }
                };
                let op = &ops[done.op];
                let c = &plan.changes[op.change];
                let Some(result) = done.result else {
                    // Not started: the apply is stopping.
                    continue;
                };
                match result {
                    Ok(outcome) => {
                        match outcome {
                            Outcome::Created(outputs) | Outcome::Updated(outputs) => {
                                if op.kind == OpKind::Create {
                                    report.created += 1;
                                } else {
                                    report.updated += 1;
                                }
                                state.resources.insert(
                                    c.address.clone(),
                                    StateEntry {
                                        kind: c.kind.clone(),
                                        spec: done.spec,
                                        outputs,
                                        depends_on: c.depends_on.clone(),
                                        protected: c.protected,
                                    },
                                );
                            }
                            Outcome::Deleted => {
                                report.deleted += 1;
                                // A replaced resource's new entry may already be
                                // in place (create before destroy): keep it.
                                let replaced_first = c.action == Action::Replace
                                    && c.replacement == Some(Replacement::CreateBeforeDestroy);
                                if !replaced_first {
                                    state.resources.remove(&c.address);
                                }
                            }
                        }
                        dirty = true;
                        for &d in &dependents[done.op] {
                            waiting[d] -= 1;
                            if waiting[d] == 0 {
                                ready.push_back(d);
                            }
                        }
                    }
                    Err(e) => {
                        if let Some(outputs) = done.partial {
                            // The create got far enough to make something: keep it.
                            state.resources.insert(
                                c.address.clone(),
                                StateEntry {
                                    kind: c.kind.clone(),
                                    spec: None,
                                    outputs,
                                    depends_on: c.depends_on.clone(),
                                    protected: c.protected,
                                },
                            );
                            dirty = true;
                        }
                        errors.push(Error::Resource {
                            address: c.address.clone(),
                            action: match op.kind {
                                OpKind::Create => "create",
                                OpKind::Update => "update",
                                OpKind::Delete => "delete",
                            },
                            source: e,
                        });
                    }
                }
            }
            if dirty {
                // A failed write must not abandon work in flight: stop
                // starting new work, let the rest finish, and try again.
                match self.save(&mut state).await {
                    Ok(()) => state_writes += 1,
                    Err(e) => {
                        tracing::error!(error = %e, "writing state failed; finishing what is in flight");
                        errors.push(e);
                    }
                }
            }
        }
        if errors.iter().any(|e| matches!(e, Error::State { .. })) {
            // One more try, with everything that finished since.
            self.save(&mut state).await?;
            state_writes += 1;
        }
        report.serial = state.serial;
        report.state_writes = state_writes;
        if !errors.is_empty() {
            Err(Error::Apply(errors))
        } else if interrupted && report.created + report.updated + report.deleted < ops.len() {
            Err(Error::Interrupted(format!(
                "{} of {} changes",
                report.created + report.updated + report.deleted,
                ops.len()
            )))
        } else {
            Ok(report)
        }
    }

    fn prepare(
        &self,
        op: &Op,
        c: &ResourceChange,
        state: &State,
    ) -> std::result::Result<Prepared, ProviderError> {
        let known = |a: &Address| state.resources.get(a).map(|e| e.outputs.clone());
        match op.kind {
            OpKind::Create | OpKind::Update => {
                let after = c
                    .after
                    .as_ref()
                    .ok_or_else(|| internal("the plan has no desired spec"))?;
                let spec = resolve(after, &known);
                if has_unknown(&spec) {
                    let missing: Vec<String> =
                        references(&spec).iter().map(ToString::to_string).collect();
                    return Err(internal(&format!(
                        "inputs are still unknown: {}",
                        missing.join(", ")
                    )));
                }
                Ok(Prepared {
                    spec: Some(spec),
                    prior_spec: c.before.clone(),
                    prior_outputs: c.prior_outputs.clone(),
                    changed: c.fields.iter().map(|f| f.field.clone()).collect(),
                })
            }
            OpKind::Delete => {
                let outputs = c
                    .prior_outputs
                    .clone()
                    .or_else(|| known(&c.address))
                    .ok_or_else(|| internal("no outputs are known to delete it by"))?;
                Ok(Prepared {
                    spec: None,
                    prior_spec: None,
                    prior_outputs: Some(outputs),
                    changed: Vec::new(),
                })
            }
        }
    }
}

fn internal(msg: &str) -> ProviderError {
    ProviderError::new("madplan", ErrorClass::Fatal, msg)
}

struct Prepared {
    spec: Option<Value>,
    prior_spec: Option<Value>,
    prior_outputs: Option<Value>,
    changed: Vec<String>,
}

async fn run_op(
    kind: &dyn ErasedKind,
    providers: &Providers,
    op: OpKind,
    p: Prepared,
    cx: &OpCx,
    retry: &RetryPolicy,
    events: &dyn EventSink,
) -> std::result::Result<Outcome, ProviderError> {
    let result = with_retries(
        retry,
        "resource operation",
        || async {
            let r = match op {
                OpKind::Create => kind
                    .create(providers, p.spec.clone().unwrap_or_default(), cx)
                    .await
                    .map(Outcome::Created),
                OpKind::Update => kind
                    .update(
                        providers,
                        p.spec.clone().unwrap_or_default(),
                        p.prior_spec.clone().unwrap_or_default(),
                        p.prior_outputs.clone().unwrap_or_default(),
                        p.changed.clone(),
                        cx,
                    )
                    .await
                    .map(Outcome::Updated),
                OpKind::Delete => match kind
                    .delete(providers, p.prior_outputs.clone().unwrap_or_default(), cx)
                    .await
                {
                    Ok(()) => Ok(Outcome::Deleted),
                    Err(e) if e.is_not_found() => Ok(Outcome::Deleted),
                    Err(e) => Err(e),
                },
            };
            r.map_err(|e| {
                // A create that already made something is not repeated: it
                // would make a second one. The partial result goes to state.
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
