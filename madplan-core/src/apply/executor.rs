//! The concurrent walk of a plan's operations: a budget per provider
//! instance, checkpoints written as creates report ids, state written once
//! per batch of finished operations, and a clean stop on failure or
//! interrupt.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use secrecy::SecretString;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use super::graph::{Op, OpKind, op_graph};
use super::op::{OpTarget, Outcome, Prepared};
use super::{ApplyOptions, ApplyReport, book, check_protection};
use crate::address::Address;
use crate::env::{has_unknown, references, resolve};
use crate::error::{Error, ErrorClass, ProviderError, Result};
use crate::events::{Event, EventSink};
use crate::plan::{Action, Plan, ResourceChange};
use crate::registry::{AnyProvider, ErasedKind, Kinds, Providers};
use crate::resource::{Checkpoint, OpCx, OpCxParts, OpLinks};
use crate::state::{State, StateStore};

/// Everything the executor needs, borrowed from the engine.
pub(crate) struct Executor<'a, S: StateStore> {
    pub kinds: &'a Kinds,
    pub providers: Providers,
    pub store: &'a S,
    pub events: Arc<dyn EventSink>,
    pub options: &'a ApplyOptions,
    pub protected_in_env: &'a (dyn Fn(&Address) -> bool + Sync),
    pub secrets: Arc<BTreeMap<String, SecretString>>,
    pub interrupt: Option<watch::Receiver<bool>>,
}

struct Done {
    op: usize,
    /// `None`: not started, because the apply was stopping.
    result: Option<std::result::Result<Outcome, ProviderError>>,
    partial: Option<serde_json::Value>,
    /// The partial outputs were recorded before the create was sent.
    intent: bool,
    spec: Option<serde_json::Value>,
}

/// What one operation runs against.
struct Target {
    kind: Arc<dyn ErasedKind>,
    provider: AnyProvider,
    budget: Arc<Semaphore>,
}

fn internal(msg: &str) -> ProviderError {
    ProviderError::new("madplan", ErrorClass::Fatal, msg)
}

fn action_of(op: &Op, c: &ResourceChange) -> Action {
    match op.kind {
        OpKind::Create if c.action == Action::Replace => Action::Replace,
        OpKind::Create => Action::Create,
        OpKind::Update => Action::Update,
        OpKind::Delete => Action::Delete,
    }
}

impl<S: StateStore> Executor<'_, S> {
    async fn save(&self, state: &mut State) -> Result<()> {
        state.serial += 1;
        self.store.save(state).await
    }

    /// The kind, provider instance and budget of every change.
    fn targets(&self, plan: &Plan) -> Result<Vec<Target>> {
        let mut budgets: HashMap<String, Arc<Semaphore>> = HashMap::new();
        plan.changes
            .iter()
            .map(|c| {
                let kind = self.kinds.get(&c.kind).cloned().ok_or_else(|| {
                    Error::encoding(
                        &c.address,
                        format!("no registered provider manages the kind {}", c.kind),
                    )
                })?;
                let instance = c.provider.as_deref();
                let provider = self
                    .providers
                    .erased(kind.provider_type(), instance)
                    .cloned()
                    .ok_or_else(|| {
                        Error::encoding(
                            &c.address,
                            format!(
                                "it is managed by the provider {}, which is not registered; \
                                 register it to apply this plan",
                                Providers::label(kind.provider_name(), instance)
                            ),
                        )
                    })?;
                let budget = budgets
                    .entry(Providers::label(kind.provider_name(), instance))
                    .or_insert_with(|| {
                        Arc::new(Semaphore::new(
                            self.providers.concurrency(kind.provider_type(), instance),
                        ))
                    })
                    .clone();
                Ok(Target {
                    kind,
                    provider,
                    budget,
                })
            })
            .collect()
    }

    pub(crate) async fn run(&self, plan: &Plan, mut state: State) -> Result<ApplyReport> {
        let (ops, graph) = op_graph(plan)?;
        let targets = self.targets(plan)?;
        check_protection(
            plan,
            self.protected_in_env,
            self.options.allow_protected_deletion,
        )?;

        // Record what refresh found (adopted resources, new outputs, data
        // read) first; the first write also fixes the lineage that the
        // operations tag their resources with.
        let mut state_writes = 0;
        if book::record_found(plan, &mut state, self.kinds) || state.serial == 0 {
            self.save(&mut state).await?;
            state_writes += 1;
        }
        let generation = state.serial;

        let mut waiting: Vec<usize> = (0..ops.len()).map(|i| graph.deps(i).len()).collect();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); ops.len()];
        for (i, deps) in (0..ops.len()).map(|i| (i, graph.deps(i))) {
            for &d in deps {
                dependents[d].push(i);
            }
        }
        let mut ready: VecDeque<usize> = (0..ops.len()).filter(|&i| waiting[i] == 0).collect();
        let providers_done: Arc<Vec<Target>> = Arc::new(targets);
        let (checkpoint_tx, mut checkpoint_rx) = mpsc::unbounded_channel::<Checkpoint>();
        let mut running: JoinSet<Done> = JoinSet::new();
        let mut errors: Vec<Error> = Vec::new();
        let mut report = ApplyReport::default();
        let mut interrupt = self.interrupt.clone();
        let mut interrupted = false;
        let mut stopped_waits = 0usize;
        let stop = Arc::new(AtomicBool::new(false));
        // Creates that already moved the object they replace aside.
        let mut deposed_for: HashSet<usize> = HashSet::new();

        loop {
            if interrupt.as_ref().is_some_and(|rx| *rx.borrow()) {
                interrupted = true;
            }
            while errors.is_empty() && !interrupted {
                let Some(x) = ready.pop_front() else { break };
                let op = ops[x];
                let c = &plan.changes[op.change];
                let prepared = self.prepare(&op, c, &state);
                let action = action_of(&op, c);
                let events = self.events.clone();
                let retry = self.options.retry;
                let targets = providers_done.clone();
                let env_name = plan.environment.clone();
                let secrets = self.secrets.clone();
                let lineage = state.lineage;
                let address = c.address.clone();
                let wait_timeout = self
                    .options
                    .wait_timeout(c.kind.as_str(), targets[op.change].kind.wait_timeout());
                let span = tracing::info_span!(
                    "resource",
                    address = %address,
                    action = action.verb()
                );
                let stop = stop.clone();
                let interrupt = self.interrupt.clone();
                let checkpoints = checkpoint_tx.clone();
                running.spawn(tracing::Instrument::instrument(
                    async move {
                        let target = &targets[op.change];
                        let permit = target.budget.clone().acquire_owned().await.ok();
                        // Work that was waiting for its provider's budget
                        // does not start once the apply is stopping.
                        if stop.load(Ordering::SeqCst)
                            || interrupt.as_ref().is_some_and(|rx| *rx.borrow())
                        {
                            return Done {
                                op: x,
                                result: None,
                                partial: None,
                                intent: false,
                                spec: None,
                            };
                        }
                        events.event(&Event::Started {
                            address: address.clone(),
                            action,
                        });
                        let started = Instant::now();
                        let cx = OpCx::new(OpCxParts {
                            environment: env_name.clone(),
                            lineage,
                            address: address.clone(),
                            generation,
                            wait_timeout,
                            events: events.clone(),
                            secrets,
                            links: OpLinks {
                                op: x,
                                checkpoints: Some(checkpoints),
                                budget: permit.map(|p| (target.budget.clone(), p)),
                                interrupt,
                            },
                        });
                        let (result, spec) = match prepared {
                            Err(e) => (Err(e), None),
                            Ok(p) => {
                                let run = OpTarget {
                                    kind: &*target.kind,
                                    provider: &target.provider,
                                    environment: &env_name,
                                    lineage,
                                    address: &address,
                                };
                                let r = run.run(op.kind, &p, &cx, &retry, &*events).await;
                                (r, p.spec)
                            }
                        };
                        match &result {
                            Ok(_) => events.event(&Event::Finished {
                                address,
                                action,
                                elapsed: started.elapsed(),
                            }),
                            Err(e) if e.class == ErrorClass::Interrupted => {
                                events.event(&Event::Progress {
                                    address,
                                    message: e.message.clone(),
                                });
                            }
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
                        let partial = cx.take_partial();
                        Done {
                            op: x,
                            result: Some(result),
                            intent: partial.as_ref().is_some_and(|(_, intent)| *intent),
                            partial: partial.map(|(outputs, _)| outputs),
                            spec,
                        }
                    },
                    span,
                ));
            }
            if running.is_empty() {
                break;
            }
            let event = tokio::select! {
                biased;
                stopped = async {
                    match interrupt.as_mut() {
                        Some(rx) if !interrupted => rx.wait_for(|stop| *stop).await.map(|_| ()),
                        _ => std::future::pending().await,
                    }
                } => {
                    match stopped {
                        Ok(()) => interrupted = true,
                        // The sender is gone: nothing can interrupt any more.
                        Err(_) => interrupt = None,
                    }
                    continue;
                }
                Some(first) = checkpoint_rx.recv() => Step::Checkpoints(first),
                Some(first) = running.join_next() => Step::Finished(first),
            };
            match event {
                Step::Checkpoints(first) => {
                    let mut batch = vec![first];
                    while let Ok(more) = checkpoint_rx.try_recv() {
                        batch.push(more);
                    }
                    for cp in &batch {
                        let c = &plan.changes[ops[cp.op].change];
                        let mut done = deposed_for.contains(&cp.op);
                        book::checkpoint(&mut state, c, cp.outputs.clone(), cp.intent, &mut done);
                        if done {
                            deposed_for.insert(cp.op);
                        }
                    }
                    let saved = self.save(&mut state).await;
                    match &saved {
                        Ok(()) => state_writes += 1,
                        Err(e) => {
                            tracing::error!(error = %e, "writing a checkpoint failed");
                        }
                    }
                    let answer = saved.as_ref().map(|_| ()).map_err(ToString::to_string);
                    for cp in batch {
                        let _ = cp.ack.send(answer.clone());
                    }
                    if let Err(e) = saved {
                        errors.push(e);
                    }
                }
                Step::Finished(first) => {
                    // Take every result that is already in, and save state
                    // once for all of them: one write per batch.
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
                        let op = ops[done.op];
                        let c = &plan.changes[op.change];
                        let Some(result) = done.result else {
                            // Not started: the apply is stopping.
                            continue;
                        };
                        let mut deposed = deposed_for.contains(&done.op);
                        match result {
                            Ok(outcome) => {
                                match outcome {
                                    Outcome::Created(outputs) | Outcome::Updated(outputs) => {
                                        if op.kind == OpKind::Create {
                                            report.created += 1;
                                        } else {
                                            report.updated += 1;
                                        }
                                        book::written(
                                            &mut state,
                                            c,
                                            done.spec,
                                            outputs,
                                            &mut deposed,
                                        );
                                    }
                                    Outcome::Deleted => {
                                        report.deleted += 1;
                                        book::deleted(&mut state, c);
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
                                if let Some(outputs) = done.partial
                                    && op.kind == OpKind::Create
                                {
                                    if done.intent
                                        && !matches!(
                                            e.class,
                                            ErrorClass::Unavailable | ErrorClass::Interrupted
                                        )
                                    {
                                        // Recorded before it was sent, and
                                        // refused: nothing was made.
                                        book::refused(&mut state, c);
                                    } else {
                                        // The create got far enough to make
                                        // something (or may have): keep it,
                                        // unfinished.
                                        book::failed_with_partial(
                                            &mut state,
                                            c,
                                            outputs,
                                            &mut deposed,
                                        );
                                    }
                                    dirty = true;
                                }
                                if e.class == ErrorClass::Interrupted {
                                    stopped_waits += 1;
                                    interrupted = true;
                                } else {
                                    errors.push(Error::Resource {
                                        address: c.address.clone(),
                                        action: op.kind.verb(),
                                        source: e,
                                    });
                                }
                            }
                        }
                        if deposed {
                            deposed_for.insert(done.op);
                        }
                    }
                    if dirty {
                        // A failed write must not abandon work in flight:
                        // stop starting new work, let the rest finish, and
                        // try again.
                        match self.save(&mut state).await {
                            Ok(()) => state_writes += 1,
                            Err(e) => {
                                tracing::error!(error = %e, "writing state failed; finishing what is in flight");
                                errors.push(e);
                            }
                        }
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
        let finished = report.created + report.updated + report.deleted;
        if !errors.is_empty() {
            Err(Error::Apply(errors))
        } else if interrupted && finished < ops.len() {
            let waits = if stopped_waits > 0 {
                format!(" ({stopped_waits} wait(s) stopped; the next apply continues them)")
            } else {
                String::new()
            };
            Err(Error::Interrupted(format!(
                "{finished} of {} changes{waits}",
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
                    last_applied: c.last_applied.clone(),
                    changed: c.fields.iter().map(|f| f.field.clone()).collect(),
                    resume: c.resume && op.kind == OpKind::Update,
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
                    last_applied: None,
                    changed: Vec::new(),
                    resume: false,
                })
            }
        }
    }
}

enum Step {
    Checkpoints(Checkpoint),
    Finished(std::result::Result<Done, tokio::task::JoinError>),
}
