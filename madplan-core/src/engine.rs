//! [`Engine`]: one environment, one state store, and the commands on them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::address::Address;
use crate::apply::{ApplyOptions, ApplyReport, Executor};
use crate::audit::{Approval, AuditRecord, Operator, Outcome, now_rfc3339};
use crate::env::{Environment, references, resolve};
use crate::error::{Error, ErrorClass, ProviderError, Result};
use crate::events::{Event, EventSink, TracingEvents};
use crate::plan::{Action, Foreign, ForeignObject, Live, LiveObject, Plan, make_plan};
use crate::registry::{ErasedKind, FoundValue, Providers, TrackedValue};
use crate::resource::{Claim, TrackedId};
use crate::state::{LockInfo, State, StateEntry, StateStore, StateVersion};

/// What `state recover` adopts.
#[derive(Clone, Debug)]
pub struct Recovery {
    /// The lineage whose resources are adopted (`None`: nothing to adopt).
    pub lineage: Option<Uuid>,
    /// The resources to adopt.
    pub adopt: Vec<ForeignObject>,
    /// Resources of that lineage whose address this state already tracks.
    pub skipped: Vec<Foreign>,
}

/// Runs plan, apply, destroy and refresh for one environment against one
/// state store.
pub struct Engine<S: StateStore> {
    env: Environment,
    store: S,
    events: Arc<dyn EventSink>,
    options: ApplyOptions,
    interrupt: Option<tokio::sync::watch::Receiver<bool>>,
    operator: Operator,
}

/// A held state lock. Release it with [`LockGuard::release`].
#[must_use = "a lock that is not released blocks every later run until `unlock`"]
pub struct LockGuard<'a, S: StateStore> {
    store: &'a S,
    info: LockInfo,
    taken_over: Option<LockInfo>,
    released: bool,
}

impl<S: StateStore> LockGuard<'_, S> {
    /// Who holds it.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The lock this one took over because its lease had expired, if any.
    pub fn taken_over(&self) -> Option<&LockInfo> {
        self.taken_over.as_ref()
    }

    /// Releases the lock.
    pub async fn release(mut self) -> Result<()> {
        self.released = true;
        self.store.unlock(self.info.id).await
    }
}

impl<S: StateStore> Drop for LockGuard<'_, S> {
    fn drop(&mut self) {
        if !self.released {
            tracing::warn!(lock = %self.info, "state lock dropped without release; run `unlock`");
        }
    }
}

/// What a refresh found.
#[derive(Clone, Debug, Default)]
pub struct RefreshReport {
    /// Resources in state that no longer exist (dropped from state).
    pub gone: Vec<Address>,
    /// Resources whose live configuration differs from the desired one.
    pub drifted: Vec<Address>,
    /// The plan that would bring everything back to the configuration.
    pub plan: Option<Plan>,
}

impl<S: StateStore> Engine<S> {
    /// An engine for `env` with state in `store`. Progress goes to
    /// `tracing` until [`Engine::with_events`] says otherwise.
    pub fn new(env: Environment, store: S) -> Self {
        Self {
            env,
            store,
            events: Arc::new(TracingEvents),
            options: ApplyOptions::default(),
            interrupt: None,
            operator: Operator::current(),
        }
    }

    /// Runs commands as `operator` (locks, audit records, approvals and
    /// saved plans name them); by default [`Operator::current`].
    #[must_use]
    pub fn with_operator(mut self, operator: Operator) -> Self {
        self.operator = operator;
        self
    }

    /// Who runs the commands.
    pub fn operator(&self) -> &Operator {
        &self.operator
    }

    /// Lets `interrupt` stop an apply: once it holds `true`, no new operation
    /// starts, those in flight finish, state is saved, and apply returns
    /// [`Error::Interrupted`]. The command line wires Ctrl-C to it.
    #[must_use]
    pub fn with_interrupt(mut self, interrupt: tokio::sync::watch::Receiver<bool>) -> Self {
        self.interrupt = Some(interrupt);
        self
    }

    /// Sends progress events to `events`.
    #[must_use]
    pub fn with_events(mut self, events: Arc<dyn EventSink>) -> Self {
        self.events = events;
        self
    }

    /// Sets apply options (retries, protection override).
    #[must_use]
    pub fn with_options(mut self, options: ApplyOptions) -> Self {
        self.options = options;
        self
    }

    /// The apply options in force.
    pub fn options_mut(&mut self) -> &mut ApplyOptions {
        &mut self.options
    }

    /// The environment.
    pub fn environment(&self) -> &Environment {
        &self.env
    }

    /// The state store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Reads the state, checking that it belongs to this environment.
    pub async fn load_state(&self) -> Result<Option<State>> {
        let state = self.store.load().await?;
        if let Some(s) = &state
            && s.environment != self.env.name()
        {
            return Err(Error::state(
                &self.store.location(),
                format!(
                    "it belongs to the environment {:?}, not {:?}; point --state at the right file",
                    s.environment,
                    self.env.name()
                ),
            ));
        }
        Ok(state)
    }

    /// Takes the state lock for `operation`. Taking over a lock whose
    /// lease expired is reported as [`Event::LockTakenOver`].
    pub async fn lock(&self, operation: &str) -> Result<LockGuard<'_, S>> {
        let info = LockInfo::for_operator(operation, &self.operator);
        let taken_over = self.store.lock(&info).await?;
        if let Some(previous) = &taken_over {
            self.events.event(&Event::LockTakenOver {
                previous: previous.clone(),
            });
        }
        Ok(LockGuard {
            store: &self.store,
            info,
            taken_over,
            released: false,
        })
    }

    /// Removes the lock `id` left by a run that died (the id the lock error
    /// shows). Refuses when the lock held has another id.
    pub async fn force_unlock(&self, id: Uuid) -> Result<Option<LockInfo>> {
        self.store.force_unlock(id).await
    }

    /// Reads every kind the environment or its state uses (one refresh per
    /// kind and provider instance, in parallel within each instance's
    /// budget) and sorts what was found by ownership: this state's objects
    /// (tracked, or tagged with its lineage), deposed ones, and other
    /// states' (never touched).
    async fn refresh_all(&self, state: Option<&State>) -> Result<Live> {
        type Group = (Arc<dyn ErasedKind>, Vec<TrackedValue>);
        let mut groups: BTreeMap<(&str, Option<String>), Group> = BTreeMap::new();
        for n in self.env.nodes.iter().filter(|n| !n.kind.is_data()) {
            groups
                .entry((n.kind.kind(), n.provider.clone()))
                .or_insert_with(|| (n.kind.clone(), Vec::new()));
        }
        if let Some(s) = state {
            let tracked = s
                .resources
                .iter()
                .map(|(a, e)| (a, &e.kind, &e.provider, &e.outputs, false))
                .chain(
                    s.deposed
                        .iter()
                        .map(|d| (&d.address, &d.kind, &d.provider, &d.outputs, true)),
                );
            for (address, kind, provider, outputs, deposed) in tracked {
                let kind = self.env.kinds.get(kind).ok_or_else(|| {
                    Error::encoding(
                        address,
                        format!(
                            "the state holds a {kind} but no registered provider manages that \
                             kind; register its provider"
                        ),
                    )
                })?;
                if kind.is_data() {
                    continue;
                }
                groups
                    .entry((kind.kind(), provider.clone()))
                    .or_insert_with(|| (kind.clone(), Vec::new()))
                    .1
                    .push(TrackedValue {
                        address: address.clone(),
                        outputs: outputs.clone(),
                        deposed,
                    });
            }
        }
        let lineage = state.map(|s| s.lineage);
        let mut budgets: HashMap<String, Arc<Semaphore>> = HashMap::new();
        let mut calls = Vec::new();
        for ((kind_name, instance), (kind, tracked)) in groups {
            let label = Providers::label(kind.provider_name(), instance.as_deref());
            let provider = self
                .env
                .providers
                .erased(kind.provider_type(), instance.as_deref())
                .cloned()
                .ok_or_else(|| Error::Refresh {
                    kind: kind_name.to_string(),
                    source: ProviderError::new(
                        "madplan",
                        ErrorClass::Fatal,
                        format!("the provider {label} is not registered; register it"),
                    ),
                })?;
            let budget = budgets
                .entry(label)
                .or_insert_with(|| {
                    Arc::new(Semaphore::new(
                        self.env
                            .providers
                            .concurrency(kind.provider_type(), instance.as_deref()),
                    ))
                })
                .clone();
            let env_name = self.env.name();
            let events = &self.events;
            let span = tracing::info_span!("refresh", kind = kind_name);
            calls.push(tracing::Instrument::instrument(
                async move {
                    let _permit = budget.acquire_owned().await;
                    events.event(&Event::Refreshing {
                        kind: kind_name.to_string(),
                    });
                    let found = kind
                        .refresh(&provider, env_name, lineage, tracked.clone())
                        .await
                        .map_err(|source| Error::Refresh {
                            kind: kind_name.to_string(),
                            source,
                        })?;
                    Ok::<_, Error>((kind_name, instance, tracked, found))
                },
                span,
            ));
        }
        let lineage_tag = lineage.map(|l| l.to_string());
        let mut live = Live::default();
        // Every object that is this state's, by address: (outputs, spec, tracked).
        let mut claims: BTreeMap<Address, Vec<(FoundValue, bool)>> = BTreeMap::new();
        for r in futures_util::future::join_all(calls).await {
            let (kind_name, instance, tracked, found) = r?;
            for f in found {
                match &f.claim {
                    Claim::Tracked(TrackedId(i)) => {
                        let Some(t) = tracked.get(*i) else { continue };
                        if t.deposed {
                            live.deposed.push((t.address.clone(), f.outputs));
                        } else {
                            claims.entry(t.address.clone()).or_default().push((f, true));
                        }
                    }
                    Claim::Tagged { address, lineage } => {
                        if address.kind() != kind_name {
                            continue;
                        }
                        if lineage_tag.is_some() && *lineage == lineage_tag {
                            claims.entry(address.clone()).or_default().push((f, false));
                        } else {
                            live.foreign.push(ForeignObject {
                                foreign: Foreign {
                                    address: address.clone(),
                                    lineage: lineage.clone(),
                                    outputs: f.outputs.clone(),
                                },
                                spec: f.spec,
                                provider: instance.clone(),
                            });
                        }
                    }
                }
            }
        }
        for (address, mut owned) in claims {
            if owned.len() > 1 {
                return Err(Error::Duplicate {
                    address,
                    objects: owned
                        .iter()
                        .map(|(f, tracked)| {
                            format!(
                                "{} ({})",
                                f.outputs,
                                if *tracked {
                                    "in state"
                                } else {
                                    "found by this state's tags"
                                }
                            )
                        })
                        .collect(),
                });
            }
            let (f, tracked) = owned.remove(0);
            live.current.insert(
                address,
                LiveObject {
                    spec: f.spec,
                    outputs: f.outputs,
                    adopted: !tracked,
                },
            );
        }
        Ok(live)
    }

    /// Reads every data source, those a query depends on first, the others
    /// at once.
    async fn read_data(&self, live: &mut Live) -> Result<()> {
        let mut pending: Vec<&crate::env::Node> =
            self.env.nodes.iter().filter(|n| n.kind.is_data()).collect();
        while !pending.is_empty() {
            let (now, later): (Vec<_>, Vec<_>) = pending.into_iter().partition(|n| {
                n.spec.as_ref().is_some_and(|s| {
                    references(s)
                        .iter()
                        .all(|r| live.data.contains_key(&r.address))
                })
            });
            if now.is_empty() {
                // Validation refuses queries that use managed resources.
                return Err(Error::encoding(
                    &later[0].address,
                    "its query depends on values that are not read",
                ));
            }
            let data = &live.data;
            let reads = now.iter().map(|n| async move {
                let spec = resolve(n.spec.as_ref().unwrap_or(&Value::Null), &|a| {
                    data.get(a).cloned()
                });
                let provider = self
                    .env
                    .providers
                    .erased(n.kind.provider_type(), n.provider.as_deref())
                    .ok_or_else(|| {
                        ProviderError::new(
                            "madplan",
                            ErrorClass::Fatal,
                            "its provider is not registered",
                        )
                    });
                let outputs = match provider {
                    Ok(p) => n.kind.read(p, spec).await,
                    Err(e) => Err(e),
                };
                (n.address.clone(), outputs)
            });
            for (address, outputs) in futures_util::future::join_all(reads).await {
                let outputs = outputs.map_err(|source| Error::Resource {
                    address: address.clone(),
                    action: "read",
                    source,
                })?;
                live.data.insert(address, outputs);
            }
            pending = later;
        }
        Ok(())
    }

    /// Validates, refreshes, reads data sources and computes what apply
    /// would do.
    pub async fn plan(&self) -> Result<Plan> {
        self.env.validate()?;
        let state = self.load_state().await?;
        let mut live = self.refresh_all(state.as_ref()).await?;
        self.read_data(&mut live).await?;
        make_plan(&self.env, state.as_ref(), &live, false)
    }

    /// Refreshes and computes the plan that destroys everything.
    pub async fn plan_destroy(&self) -> Result<Plan> {
        let state = self.load_state().await?;
        let live = self.refresh_all(state.as_ref()).await?;
        make_plan(&self.env, state.as_ref(), &live, true)
    }

    /// What `state recover` would adopt: the live resources tagged with this
    /// environment that another state made (one lineage: `lineage`, or the
    /// only one there is).
    pub async fn recover_plan(&self, lineage: Option<Uuid>) -> Result<Recovery> {
        let state = self.load_state().await?;
        let live = self.refresh_all(state.as_ref()).await?;
        let mut lineages: BTreeMap<String, usize> = BTreeMap::new();
        for f in &live.foreign {
            if let Some(l) = &f.foreign.lineage {
                *lineages.entry(l.clone()).or_default() += 1;
            }
        }
        let chosen = match lineage {
            Some(l) => l,
            None => match lineages.len() {
                0 => {
                    return Ok(Recovery {
                        lineage: None,
                        adopt: Vec::new(),
                        skipped: Vec::new(),
                    });
                }
                1 => lineages
                    .keys()
                    .next()
                    .and_then(|l| l.parse().ok())
                    .ok_or_else(|| Error::Recover("a lineage tag is not a UUID".into()))?,
                _ => {
                    let list: Vec<String> = lineages
                        .iter()
                        .map(|(l, n)| format!("{l} ({n} resources)"))
                        .collect();
                    return Err(Error::Recover(format!(
                        "resources of {} states carry the {} environment's tags: {}; \
                         choose one with --lineage",
                        lineages.len(),
                        self.env.name(),
                        list.join(", ")
                    )));
                }
            },
        };
        let chosen_tag = chosen.to_string();
        let mut adopt = Vec::new();
        let mut skipped = Vec::new();
        for f in live.foreign {
            if f.foreign.lineage.as_deref() != Some(chosen_tag.as_str()) {
                continue;
            }
            let taken = live.current.contains_key(&f.foreign.address)
                || adopt
                    .iter()
                    .any(|a: &ForeignObject| a.foreign.address == f.foreign.address);
            if taken {
                skipped.push(f.foreign);
            } else {
                adopt.push(f);
            }
        }
        Ok(Recovery {
            lineage: Some(chosen),
            adopt,
            skipped,
        })
    }

    /// Adopts what `recovery` lists into state, under the lock. With no
    /// state yet, the new state takes over the recovered lineage, so the
    /// resources are this state's again in every respect.
    pub async fn recover(&self, recovery: &Recovery) -> Result<usize> {
        let guard = self.lock("state recover").await?;
        let result = async {
            let mut state = match self.load_state().await? {
                Some(s) => s,
                None => {
                    let mut s = State::new(self.env.name());
                    if let Some(l) = recovery.lineage {
                        s.lineage = l;
                    }
                    s
                }
            };
            let mut n = 0;
            for f in &recovery.adopt {
                if state.resources.contains_key(&f.foreign.address) {
                    continue;
                }
                state.resources.insert(
                    f.foreign.address.clone(),
                    StateEntry {
                        spec: Some(f.spec.clone()),
                        provider: f.provider.clone(),
                        ..StateEntry::new(f.foreign.address.kind(), f.foreign.outputs.clone())
                    },
                );
                n += 1;
            }
            state.serial += 1;
            self.store.save(&state).await?;
            Ok(n)
        }
        .await;
        let released = guard.release().await;
        let n = result?;
        released?;
        Ok(n)
    }

    /// Refuses `plan` if it deletes or replaces a protected resource and the
    /// options do not allow it. [`Engine::apply`] checks this too; call it
    /// first to refuse before asking an operator to confirm.
    pub fn check_protection(&self, plan: &Plan) -> Result<()> {
        crate::apply::check_protection(
            plan,
            &|a: &Address| self.env.node(a).is_some_and(|n| n.protected),
            self.options.allow_protected_deletion,
        )
    }

    /// Applies `plan` under the lock, exactly as it was made; refuses if the
    /// state changed since.
    pub async fn apply(&self, plan: &Plan) -> Result<ApplyReport> {
        let guard = self
            .lock(if plan.destroy { "destroy" } else { "apply" })
            .await?;
        let result = self.apply_locked(plan, &guard).await;
        let released = guard.release().await;
        let report = result?;
        released?;
        Ok(report)
    }

    /// Applies `plan` while `guard` holds the lock, and adds a record of it
    /// to the audit trail (refused, failed or interrupted applies too).
    /// Under an environment's [`crate::ApprovalPolicy`], only an approved
    /// saved plan is applied, unless [`ApplyOptions::emergency`] gives a
    /// reason.
    pub async fn apply_locked(&self, plan: &Plan, guard: &LockGuard<'_, S>) -> Result<ApplyReport> {
        let started = now_rfc3339();
        let clock = Instant::now();
        let mut approval = None;
        let mut before = None;
        let result = self.apply_checked(plan, &mut approval, &mut before).await;
        let outcome = match &result {
            Ok(_) => Outcome::Succeeded,
            Err(Error::Interrupted(_)) => Outcome::Interrupted,
            Err(
                Error::NotApproved(_)
                | Error::StalePlan(_)
                | Error::Protected { .. }
                | Error::Encoding { .. },
            ) => Outcome::Refused,
            Err(_) => Outcome::Failed,
        };
        let serial_after = match (&result, outcome) {
            (Ok(report), _) => Some(report.serial),
            (Err(_), Outcome::Refused) => None,
            (Err(_), _) => self.store.load().await.ok().flatten().map(|s| s.serial),
        };
        let record = AuditRecord {
            id: Uuid::new_v4(),
            operation: if plan.destroy { "destroy" } else { "apply" }.into(),
            environment: self.env.name().to_string(),
            operator: self.operator.clone(),
            started,
            duration_ms: u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX),
            plan_digest: Some(plan.digest.clone().unwrap_or_else(|| plan.compute_digest())),
            changes: AuditRecord::changes_of(plan),
            outcome,
            error: result.as_ref().err().map(ToString::to_string),
            lineage: before.as_ref().map(|(l, _)| *l).or(plan.lineage),
            serial_before: before.as_ref().map(|(_, s)| *s),
            serial_after,
            approval,
            emergency: self.options.emergency.clone(),
            lock_id: Some(guard.info().id),
            detail: guard
                .taken_over()
                .map(|p| format!("took over the expired lock of {p}")),
        };
        self.write_audit(record, result).await
    }

    /// Adds `record` to the audit trail; a record that cannot be written
    /// turns a success into an error that says what was done.
    async fn write_audit<T>(&self, record: AuditRecord, result: Result<T>) -> Result<T> {
        match (self.store.append_audit(&record).await, result) {
            (Ok(()), result) => result,
            (Err(e), Ok(_)) => Err(Error::State {
                store: self.store.location(),
                message: format!(
                    "the {} finished ({} changes, state serial {}), but its audit record could \
                     not be written: {e}; the change is not in the audit trail",
                    record.operation,
                    record.changes.len(),
                    record
                        .serial_after
                        .map_or_else(|| "unchanged".to_string(), |s| s.to_string())
                ),
                source: None,
            }),
            (Err(e), Err(original)) => {
                tracing::error!(error = %e, "the audit record of a failed {} could not be written", record.operation);
                Err(original)
            }
        }
    }

    async fn apply_checked(
        &self,
        plan: &Plan,
        approval: &mut Option<Approval>,
        before: &mut Option<(Uuid, u64)>,
    ) -> Result<ApplyReport> {
        if plan.environment != self.env.name() {
            return Err(Error::StalePlan(format!(
                "it was made for the environment {:?}",
                plan.environment
            )));
        }
        *approval = self.check_approval(Some(plan)).await?;
        let state = self.load_state().await?;
        *before = state.as_ref().map(|s| (s.lineage, s.serial));
        check_fresh(plan, state.as_ref())?;
        let state = state.unwrap_or_else(|| State::new(self.env.name()));
        let protected = |a: &Address| self.env.node(a).is_some_and(|n| n.protected);
        let exec = Executor {
            kinds: &self.env.kinds,
            providers: self.env.providers.clone(),
            store: &self.store,
            events: self.events.clone(),
            options: &self.options,
            protected_in_env: &protected,
            secrets: self.env.secrets.clone(),
            interrupt: self.interrupt.clone(),
        };
        exec.run(plan, state).await
    }

    /// What the environment's approval rule says about applying `plan`
    /// (`None`: a plan made on the spot, not saved): `Ok(Some(approval))`
    /// when it is an approved saved plan, `Ok(None)` when no approval is
    /// required (or an emergency reason is given), and
    /// [`Error::NotApproved`] otherwise. [`Engine::apply_locked`] checks
    /// this; call it first to refuse before planning or asking.
    pub async fn check_approval(&self, plan: Option<&Plan>) -> Result<Option<Approval>> {
        if let Some(reason) = &self.options.emergency
            && reason.trim().is_empty()
        {
            return Err(Error::NotApproved(
                "an emergency apply needs a reason (--emergency REASON), for the audit trail"
                    .into(),
            ));
        }
        let Some(policy) = self.env.approval_policy() else {
            return Ok(None);
        };
        if self.options.emergency.is_some() {
            return Ok(None);
        }
        let env = self.env.name();
        let how = format!(
            "save a plan with `plan --out FILE`, have it approved with `approve FILE`{}, then \
             run `apply FILE`; in an emergency, `--emergency REASON` applies without approval \
             and keeps the reason in the audit trail",
            if policy.four_eyes {
                " by someone other than its author"
            } else {
                ""
            }
        );
        let Some(digest) = plan.and_then(|p| p.digest.as_ref()) else {
            return Err(Error::NotApproved(format!(
                "the {env} environment applies only approved saved plans: {how}"
            )));
        };
        let plan = plan.expect("a digest comes from a plan");
        plan.verify_digest()?;
        let Some(approval) = self.store.approval(digest).await? else {
            return Err(Error::NotApproved(format!(
                "the plan {digest} has not been approved: {how}"
            )));
        };
        if approval.environment != env {
            return Err(Error::NotApproved(format!(
                "the approval of {digest} is for the environment {:?}, not {env:?}",
                approval.environment
            )));
        }
        if policy.four_eyes && same_person(plan.author.as_ref(), &approval.approver) {
            return Err(Error::NotApproved(format!(
                "the plan {digest} was approved by its own author {}; the {env} environment \
                 requires someone else's approval (four eyes)",
                approval.approver
            )));
        }
        Ok(Some(approval))
    }

    /// Records an approval of the saved plan `plan` by this engine's
    /// operator. Refuses a plan that was not saved (`plan --out`), was
    /// changed since, is stale, or (four eyes) was written by the operator.
    pub async fn approve(&self, plan: &Plan) -> Result<Approval> {
        let env = self.env.name();
        if plan.environment != env {
            return Err(Error::StalePlan(format!(
                "it was made for the environment {:?}",
                plan.environment
            )));
        }
        let Some(digest) = plan.digest.clone() else {
            return Err(Error::NotApproved(
                "only a plan saved with `plan --out FILE` can be approved".into(),
            ));
        };
        plan.verify_digest()?;
        if let Some(policy) = self.env.approval_policy()
            && policy.four_eyes
            && same_person(plan.author.as_ref(), &self.operator)
        {
            return Err(Error::NotApproved(format!(
                "{} wrote this plan and cannot approve it: the {env} environment requires \
                 someone else's approval (four eyes)",
                self.operator.user
            )));
        }
        let state = self.load_state().await?;
        check_fresh(plan, state.as_ref())?;
        if let Some(held) = self.store.approval(&digest).await? {
            return Err(Error::NotApproved(format!(
                "the plan {digest} is approved already, by {} at {}",
                held.approver, held.approved_at
            )));
        }
        let approval = Approval {
            id: Uuid::new_v4(),
            environment: env.to_string(),
            plan_digest: digest,
            plan_author: plan.author.clone(),
            approver: self.operator.clone(),
            approved_at: now_rfc3339(),
            lineage: plan.lineage,
            serial: plan.serial,
        };
        self.store.put_approval(&approval).await?;
        Ok(approval)
    }

    /// The audit trail, oldest first.
    pub async fn audit(&self) -> Result<Vec<AuditRecord>> {
        self.store.audit_records().await
    }

    /// The stored versions of the state, newest first (stores with history).
    pub async fn history(&self) -> Result<Vec<StateVersion>> {
        self.store.history().await
    }

    /// One stored version of the state.
    pub async fn state_version(&self, version: &str) -> Result<State> {
        self.store.load_version(version).await
    }

    /// Makes the stored `version` the current state again, under the lock:
    /// its document with the next serial (so plans made since are stale).
    /// `expect_serial` is the serial the operator saw when deciding; the
    /// restore is refused if the state moved on since. Recorded in the
    /// audit trail.
    pub async fn restore(&self, version: &str, expect_serial: Option<u64>) -> Result<State> {
        let guard = self.lock("state restore").await?;
        let started = now_rfc3339();
        let clock = Instant::now();
        let mut before = None;
        let result = async {
            let current = self.load_state().await?;
            before = current.as_ref().map(|s| (s.lineage, s.serial));
            let now = current.as_ref().map(|s| s.serial);
            if now != expect_serial {
                return Err(Error::StalePlan(format!(
                    "the state is at serial {}, not {} as when the restore was reviewed",
                    now.map_or_else(|| "none".into(), |s| s.to_string()),
                    expect_serial.map_or_else(|| "none".into(), |s| s.to_string())
                )));
            }
            let mut restored = self.store.load_version(version).await?;
            if restored.environment != self.env.name() {
                return Err(Error::state(
                    &self.store.location(),
                    format!(
                        "version {version} belongs to the environment {:?}",
                        restored.environment
                    ),
                ));
            }
            restored.serial = now.unwrap_or(0) + 1;
            self.store.save(&restored).await?;
            Ok(restored)
        }
        .await;
        let record = AuditRecord {
            id: Uuid::new_v4(),
            operation: "state restore".into(),
            environment: self.env.name().to_string(),
            operator: self.operator.clone(),
            started,
            duration_ms: u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX),
            plan_digest: None,
            changes: Vec::new(),
            outcome: if result.is_ok() {
                Outcome::Succeeded
            } else {
                Outcome::Failed
            },
            error: result.as_ref().err().map(ToString::to_string),
            lineage: result
                .as_ref()
                .ok()
                .map(|s| s.lineage)
                .or(before.map(|(l, _)| l)),
            serial_before: before.map(|(_, s)| s),
            serial_after: result.as_ref().ok().map(|s| s.serial),
            approval: None,
            emergency: None,
            lock_id: Some(guard.info().id),
            detail: Some(format!("restored version {version}")),
        };
        let result = self.write_audit(record, result).await;
        let released = guard.release().await;
        let state = result?;
        released?;
        Ok(state)
    }

    /// Reads everything, records what changed outside madplan in state
    /// (new outputs; resources that are gone), and reports drift.
    pub async fn refresh(&self) -> Result<RefreshReport> {
        self.env.validate()?;
        let guard = self.lock("refresh").await?;
        let result = self.refresh_locked().await;
        let released = guard.release().await;
        let report = result?;
        released?;
        Ok(report)
    }

    async fn refresh_locked(&self) -> Result<RefreshReport> {
        let Some(mut state) = self.load_state().await? else {
            return Ok(RefreshReport::default());
        };
        let mut live = self.refresh_all(Some(&state)).await?;
        self.read_data(&mut live).await?;
        let plan = make_plan(&self.env, Some(&state), &live, false)?;
        let mut report = RefreshReport::default();
        for c in &plan.changes {
            if matches!(c.action, Action::Update | Action::Replace)
                && c.before.is_some()
                && !c.resume
            {
                report.drifted.push(c.address.clone());
            }
        }
        let before = state.clone();
        let tracked: Vec<(Address, String)> = state
            .resources
            .iter()
            .map(|(a, e)| (a.clone(), e.kind.clone()))
            .collect();
        for (address, kind) in tracked {
            if self.env.kinds.get(&kind).is_some_and(|k| k.is_data()) {
                continue;
            }
            match live.current.get(&address) {
                Some(found) => {
                    if let Some(e) = state.resources.get_mut(&address) {
                        e.outputs = found.outputs.clone();
                    }
                }
                None => {
                    state.resources.remove(&address);
                    report.gone.push(address);
                }
            }
        }
        // A refresh that found nothing new leaves the state (and every
        // saved plan made against it) as it was.
        if state != before {
            state.serial += 1;
            self.store.save(&state).await?;
        }
        report.plan = Some(plan);
        Ok(report)
    }

    /// The environment's exported values, resolved from state (`None` while
    /// not known).
    pub async fn outputs(&self) -> Result<BTreeMap<String, Option<Value>>> {
        let state = self.load_state().await?;
        let known = |a: &Address| {
            state
                .as_ref()
                .and_then(|s| s.resources.get(a))
                .map(|e| e.outputs.clone())
        };
        Ok(self
            .env
            .exports
            .iter()
            .map(|(name, v)| {
                let r = resolve(v, &known);
                let value = (!crate::env::has_unknown(&r)).then_some(r);
                (name.clone(), value)
            })
            .collect())
    }
}

/// Whether the plan's author and `other` are one person (by user name).
fn same_person(author: Option<&Operator>, other: &Operator) -> bool {
    author.is_some_and(|a| a.user == other.user)
}

/// Refuses a plan made against another state than `state`.
fn check_fresh(plan: &Plan, state: Option<&State>) -> Result<()> {
    match (state, plan.lineage, plan.serial) {
        (None, None, _) => Ok(()),
        (Some(s), Some(lineage), Some(serial)) if s.lineage == lineage && s.serial == serial => {
            Ok(())
        }
        (Some(s), _, _) => Err(Error::StalePlan(format!(
            "the state is now at serial {} of lineage {}, the plan was made at {}",
            s.serial,
            s.lineage,
            plan.serial
                .map_or_else(|| "an empty state".to_string(), |x| format!("serial {x}"))
        ))),
        (None, Some(_), _) => Err(Error::StalePlan(
            "the state it was made against is gone".into(),
        )),
    }
}
