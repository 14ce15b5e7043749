//! [`Engine`]: one environment, one state store, and the commands on them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Semaphore;

use crate::address::Address;
use crate::apply::{ApplyOptions, ApplyReport, Executor};
use crate::env::{Environment, resolve};
use crate::error::{Error, Result};
use crate::events::{Event, EventSink, TracingEvents};
use crate::plan::{Action, Plan, make_plan};
use crate::registry::FoundValue;
use crate::state::{LockInfo, State, StateStore};

/// Runs plan, apply, destroy and refresh for one environment against one
/// state store.
pub struct Engine<S: StateStore> {
    env: Environment,
    store: S,
    events: Arc<dyn EventSink>,
    options: ApplyOptions,
    interrupt: Option<tokio::sync::watch::Receiver<bool>>,
}

/// A held state lock. Release it with [`LockGuard::release`].
#[must_use = "a lock that is not released blocks every later run until `unlock`"]
pub struct LockGuard<'a, S: StateStore> {
    store: &'a S,
    info: LockInfo,
    released: bool,
}

impl<S: StateStore> LockGuard<'_, S> {
    /// Who holds it.
    pub fn info(&self) -> &LockInfo {
        &self.info
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
        }
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

    /// Takes the state lock for `operation`.
    pub async fn lock(&self, operation: &str) -> Result<LockGuard<'_, S>> {
        let info = LockInfo::for_this_process(operation);
        self.store.lock(&info).await?;
        Ok(LockGuard {
            store: &self.store,
            info,
            released: false,
        })
    }

    /// Removes a lock left by a run that died.
    pub async fn force_unlock(&self) -> Result<Option<LockInfo>> {
        self.store.force_unlock().await
    }

    /// Reads every kind the environment or its state uses, one refresh per
    /// kind, kinds in parallel within each provider's budget.
    async fn refresh_all(&self, state: Option<&State>) -> Result<HashMap<Address, FoundValue>> {
        let mut per_kind = crate::registry::ByKind::new();
        for n in &self.env.nodes {
            per_kind
                .entry(n.kind.kind())
                .or_insert_with(|| (n.kind.clone(), Vec::new()));
        }
        if let Some(s) = state {
            for (address, entry) in &s.resources {
                let kind = self.env.kinds.get(&entry.kind).ok_or_else(|| {
                    Error::encoding(
                        address,
                        format!(
                            "the state holds a {} but no registered provider manages that kind; \
                             register its provider",
                            entry.kind
                        ),
                    )
                })?;
                per_kind
                    .entry(kind.kind())
                    .or_insert_with(|| (kind.clone(), Vec::new()))
                    .1
                    .push((address.clone(), entry.outputs.clone()));
            }
        }
        let mut budgets: HashMap<&str, Arc<Semaphore>> = HashMap::new();
        let mut calls = Vec::new();
        for (kind_name, (kind, tracked)) in per_kind {
            let budget = budgets
                .entry(kind.provider_name())
                .or_insert_with(|| {
                    Arc::new(Semaphore::new(
                        self.env.providers.concurrency(kind.provider_name()),
                    ))
                })
                .clone();
            let env_name = self.env.name();
            let providers = &self.env.providers;
            let events = &self.events;
            let span = tracing::info_span!("refresh", kind = kind_name);
            calls.push(tracing::Instrument::instrument(
                async move {
                    let _permit = budget.acquire_owned().await;
                    events.event(&Event::Refreshing {
                        kind: kind_name.to_string(),
                    });
                    kind.refresh(providers, env_name, tracked)
                        .await
                        .map(|found| (kind_name, found))
                        .map_err(|source| Error::Refresh {
                            kind: kind_name.to_string(),
                            source,
                        })
                },
                span,
            ));
        }
        let mut found = HashMap::new();
        for r in futures_util::future::join_all(calls).await {
            let (kind_name, items) = r?;
            for f in items {
                if f.address.kind() == kind_name {
                    found.insert(f.address.clone(), f);
                }
            }
        }
        Ok(found)
    }

    /// Validates, refreshes and computes what apply would do.
    pub async fn plan(&self) -> Result<Plan> {
        self.env.validate()?;
        let state = self.load_state().await?;
        let found = self.refresh_all(state.as_ref()).await?;
        make_plan(&self.env, state.as_ref(), &found, false)
    }

    /// Refreshes and computes the plan that destroys everything.
    pub async fn plan_destroy(&self) -> Result<Plan> {
        let state = self.load_state().await?;
        let found = self.refresh_all(state.as_ref()).await?;
        make_plan(&self.env, state.as_ref(), &found, true)
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

    /// Applies `plan` while `guard` holds the lock.
    pub async fn apply_locked(&self, plan: &Plan, guard: &LockGuard<'_, S>) -> Result<ApplyReport> {
        let _ = guard;
        if plan.environment != self.env.name() {
            return Err(Error::StalePlan(format!(
                "it was made for the environment {:?}",
                plan.environment
            )));
        }
        let state = self.load_state().await?;
        match (&state, plan.lineage, plan.serial) {
            (None, None, _) => {}
            (Some(s), Some(lineage), Some(serial))
                if s.lineage == lineage && s.serial == serial => {}
            (Some(s), _, _) => {
                return Err(Error::StalePlan(format!(
                    "the state is now at serial {} of lineage {}, the plan was made at {}",
                    s.serial,
                    s.lineage,
                    plan.serial
                        .map_or_else(|| "an empty state".to_string(), |x| format!("serial {x}"))
                )));
            }
            (None, Some(_), _) => {
                return Err(Error::StalePlan(
                    "the state it was made against is gone".into(),
                ));
            }
        }
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
        let found = self.refresh_all(Some(&state)).await?;
        let plan = make_plan(&self.env, Some(&state), &found, false)?;
        let mut report = RefreshReport::default();
        for c in &plan.changes {
            if matches!(c.action, Action::Update | Action::Replace) && c.before.is_some() {
                report.drifted.push(c.address.clone());
            }
        }
        let tracked: Vec<Address> = state.resources.keys().cloned().collect();
        for address in tracked {
            match found.get(&address) {
                Some(live) => {
                    if let Some(e) = state.resources.get_mut(&address) {
                        e.outputs = live.outputs.clone();
                    }
                }
                None => {
                    state.resources.remove(&address);
                    report.gone.push(address);
                }
            }
        }
        state.serial += 1;
        self.store.save(&state).await?;
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
