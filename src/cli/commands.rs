//! What each verb does with the engine.

use madplan_core::plan::Plan;
use madplan_core::plan::document::PlanDocument;
use madplan_core::{Engine, Environment, Error, Operator, StateStore};
use uuid::Uuid;

use super::console::Console;
use super::{Cli, Command, StateCommand};

pub(super) async fn execute_with_store<S: StateStore>(
    env: Environment,
    cli: Cli,
    store: S,
    operator: Operator,
    console: &Console,
    interrupt: Option<tokio::sync::watch::Receiver<bool>>,
) -> Result<i32, Error> {
    let mut engine = Engine::new(env, store)
        .with_events(console.events())
        .with_operator(operator);
    if let Some(rx) = interrupt {
        engine = engine.with_interrupt(rx);
    }
    match cli.command {
        Command::Validate => {
            engine.environment().validate()?;
            console.print("The configuration is valid.\n");
            Ok(0)
        }
        Command::Plan {
            out,
            json,
            detailed_exitcode,
            destroy,
        } => {
            let mut plan = if destroy {
                engine.plan_destroy().await?
            } else {
                engine.plan().await?
            };
            if out.is_some() {
                plan.seal(engine.operator().clone());
            }
            if json {
                console.print(&format!("{}\n", PlanDocument::of(&plan).to_json()));
            } else {
                console.print(&plan.render());
            }
            if let Some(path) = out {
                std::fs::write(&path, plan.to_json()).map_err(|e| Error::Io {
                    context: format!("writing the plan to {}", path.display()),
                    source: e,
                })?;
                console.eprint(&format!(
                    "Saved the plan to {} (digest {}); run `apply {}` to apply exactly this.\n",
                    path.display(),
                    plan.digest.as_deref().unwrap_or_default(),
                    path.display()
                ));
                if let Some(policy) = engine.environment().approval_policy() {
                    console.eprint(&format!(
                        "The {} environment applies only approved plans: {} runs `approve {}` \
                         first.\n",
                        plan.environment,
                        if policy.four_eyes {
                            "someone other than you"
                        } else {
                            "someone"
                        },
                        path.display()
                    ));
                }
            }
            Ok(if detailed_exitcode && plan.has_changes() {
                2
            } else {
                0
            })
        }
        Command::Apply {
            plan,
            auto_approve,
            allow_destroy_protected,
            wait_timeout,
            emergency,
        } => {
            let mut engine = engine;
            engine.options_mut().allow_protected_deletion = allow_destroy_protected;
            engine.options_mut().wait_timeouts.extend(wait_timeout);
            engine.options_mut().emergency = emergency;
            match plan {
                Some(path) => {
                    let plan = read_plan(&path)?;
                    let report = engine.apply(&plan).await?;
                    finish(&engine, console, &plan, &report).await?;
                    Ok(0)
                }
                None => {
                    engine.check_approval(None).await?;
                    apply_fresh(&engine, console, auto_approve, false).await
                }
            }
        }
        Command::Destroy {
            auto_approve,
            allow_destroy_protected,
            wait_timeout,
            emergency,
        } => {
            let mut engine = engine;
            engine.options_mut().allow_protected_deletion = allow_destroy_protected;
            engine.options_mut().wait_timeouts.extend(wait_timeout);
            engine.options_mut().emergency = emergency;
            engine.check_approval(None).await?;
            apply_fresh(&engine, console, auto_approve, true).await
        }
        Command::Refresh => {
            let report = engine.refresh().await?;
            for a in &report.gone {
                console.print(&format!("{a}: gone; dropped from state\n"));
            }
            for a in &report.drifted {
                console.print(&format!("{a}: drifted from its configuration\n"));
            }
            if report.gone.is_empty() && report.drifted.is_empty() {
                console.print("No drift: everything matches its configuration.\n");
            } else if let Some(plan) = &report.plan {
                console.print(&format!("\n{}", plan.render()));
            }
            Ok(0)
        }
        Command::Output { name, json } => {
            let outputs = engine.outputs().await?;
            print_outputs(console, &outputs, name.as_deref(), json)
        }
        Command::Graph => {
            console.print(&engine.environment().to_dot());
            Ok(0)
        }
        Command::Approve { plan: path } => {
            let plan = read_plan(&path)?;
            console.print(&plan.render());
            let approval = engine.approve(&plan).await?;
            console.print(&format!(
                "\nApproved {} (plan by {}, state serial {}) as {} at {}; `apply {}` may now \
                 apply it.\n",
                approval.plan_digest,
                approval
                    .plan_author
                    .as_ref()
                    .map_or_else(|| "unknown".to_string(), ToString::to_string),
                approval
                    .serial
                    .map_or_else(|| "none".to_string(), |s| s.to_string()),
                approval.approver,
                approval.approved_at,
                path.display()
            ));
            Ok(0)
        }
        Command::Audit { json } => {
            let records = engine.audit().await?;
            if json {
                console.print(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&records).unwrap_or_default()
                ));
            } else if records.is_empty() {
                console.print("The audit trail is empty.\n");
            } else {
                for r in &records {
                    console.print(&format!("{}\n", r.summary()));
                }
            }
            Ok(0)
        }
        Command::State {
            command:
                StateCommand::Recover {
                    lineage,
                    auto_approve,
                },
        } => recover(&engine, console, lineage.as_deref(), auto_approve).await,
        Command::State {
            command: StateCommand::History,
        } => {
            let versions = engine.history().await?;
            console.print(&format!(
                "{:<34} {:>7}  {:<26} {}\n",
                "VERSION", "SERIAL", "WRITTEN", "BY"
            ));
            for v in versions {
                console.print(&format!(
                    "{:<34} {:>7}  {:<26} {}{}\n",
                    v.version,
                    v.serial.map_or_else(|| "?".to_string(), |s| s.to_string()),
                    v.written_at,
                    v.written_by.as_deref().unwrap_or("?"),
                    if v.latest { "  (current)" } else { "" }
                ));
            }
            Ok(0)
        }
        Command::State {
            command:
                StateCommand::Restore {
                    version,
                    auto_approve,
                },
        } => restore(&engine, console, &version, auto_approve).await,
        Command::State {
            command: StateCommand::Show { address, version },
        } => {
            let state = match &version {
                Some(v) => Some(engine.state_version(v).await?),
                None => engine.load_state().await?,
            };
            let Some(address) = address else {
                let s =
                    state.ok_or_else(|| Error::UnknownAddress("state (there is none)".into()))?;
                console.print(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&s).unwrap_or_default()
                ));
                return Ok(0);
            };
            let entry = state
                .as_ref()
                .and_then(|s| {
                    s.resources
                        .iter()
                        .find(|(a, _)| a.to_string() == address)
                        .map(|(_, e)| e)
                })
                .ok_or_else(|| Error::UnknownAddress(address.clone()))?;
            console.print(&format!(
                "# {address}\n{}\n",
                serde_json::to_string_pretty(entry).unwrap_or_default()
            ));
            Ok(0)
        }
        Command::State { command } => {
            let state = engine.load_state().await?;
            match command {
                StateCommand::Recover { .. }
                | StateCommand::History
                | StateCommand::Restore { .. }
                | StateCommand::Show { .. } => unreachable!("handled above"),
                StateCommand::List => {
                    if let Some(s) = state {
                        for a in s.resources.keys() {
                            console.print(&format!("{a}\n"));
                        }
                    }
                    Ok(0)
                }
            }
        }
        Command::Unlock { lock_id } => {
            let id = lock_id.parse::<Uuid>().map_err(|e| Error::Io {
                context: format!("{lock_id:?} is not a lock id (the lock error shows it)"),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
            })?;
            match engine.force_unlock(id).await? {
                Some(holder) => console.print(&format!("Removed the lock held by {holder}.\n")),
                None => console.print("The state was not locked.\n"),
            }
            Ok(0)
        }
    }
}

async fn apply_fresh<S: StateStore>(
    engine: &Engine<S>,
    console: &Console,
    auto_approve: bool,
    destroy: bool,
) -> Result<i32, Error> {
    let guard = engine
        .lock(if destroy { "destroy" } else { "apply" })
        .await?;
    let result = async {
        let plan = if destroy {
            engine.plan_destroy().await?
        } else {
            engine.plan().await?
        };
        console.print(&plan.render());
        if !plan.has_changes() {
            return Ok(None);
        }
        // Refuse before asking, not after.
        engine.check_protection(&plan)?;
        let question = if destroy {
            format!(
                "Do you really want to destroy everything in {}?",
                plan.environment
            )
        } else {
            "Do you want to perform these actions?".to_string()
        };
        console.confirm(&question, auto_approve)?;
        let report = engine.apply_locked(&plan, &guard).await?;
        Ok::<_, Error>(Some((plan, report)))
    }
    .await;
    let released = guard.release().await;
    let done = result?;
    released?;
    if let Some((plan, report)) = done {
        finish(engine, console, &plan, &report).await?;
    }
    Ok(0)
}

async fn finish<S: StateStore>(
    engine: &Engine<S>,
    console: &Console,
    plan: &Plan,
    report: &madplan_core::ApplyReport,
) -> Result<(), Error> {
    let what = if plan.destroy { "Destroy" } else { "Apply" };
    console.print(&format!(
        "\n{what} complete! Resources: {} added, {} changed, {} destroyed.\n",
        report.created, report.updated, report.deleted
    ));
    let outputs = engine.outputs().await?;
    if !outputs.is_empty() && !plan.destroy {
        console.print("\nOutputs:\n\n");
        print_outputs(console, &outputs, None, false)?;
    }
    Ok(())
}

fn print_outputs(
    console: &Console,
    outputs: &std::collections::BTreeMap<String, Option<serde_json::Value>>,
    name: Option<&str>,
    json: bool,
) -> Result<i32, Error> {
    let selected: Vec<(&String, &Option<serde_json::Value>)> = match name {
        Some(n) => {
            let v = outputs
                .get_key_value(n)
                .ok_or_else(|| Error::UnknownAddress(format!("output {n}")))?;
            vec![v]
        }
        None => outputs.iter().collect(),
    };
    if json {
        let map: serde_json::Map<String, serde_json::Value> = selected
            .iter()
            .map(|(k, v)| {
                (
                    (*k).clone(),
                    (*v).clone().unwrap_or(serde_json::Value::Null),
                )
            })
            .collect();
        console.print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&map).unwrap_or_default()
        ));
    } else {
        let width = selected.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in selected {
            let shown = match v {
                Some(serde_json::Value::String(s)) => format!("{s:?}"),
                Some(other) => other.to_string(),
                None => "(known after apply)".to_string(),
            };
            console.print(&format!("{k:<width$} = {shown}\n"));
        }
    }
    Ok(0)
}

/// `state recover`: list what would be adopted, ask, adopt.
async fn recover<S: StateStore>(
    engine: &Engine<S>,
    console: &Console,
    lineage: Option<&str>,
    auto_approve: bool,
) -> Result<i32, Error> {
    let lineage = lineage
        .map(|l| {
            l.parse::<Uuid>()
                .map_err(|e| Error::Recover(format!("--lineage {l:?} is not a lineage id: {e}")))
        })
        .transpose()?;
    let recovery = engine.recover_plan(lineage).await?;
    let Some(lineage) = recovery.lineage else {
        console.print(&format!(
            "Nothing to recover: no resource carries the {} environment's tags without \
             belonging to its state.\n",
            engine.environment().name()
        ));
        return Ok(0);
    };
    console.print(&format!(
        "These resources carry the {} environment's tags and were made by the state of \
         lineage {lineage}; they will be recorded in this state:\n\n",
        engine.environment().name()
    ));
    for f in &recovery.adopt {
        console.print(&format!(
            "  + {} {}\n",
            f.foreign.address, f.foreign.outputs
        ));
    }
    for f in &recovery.skipped {
        console.print(&format!(
            "  ! {} {} is left alone: this state already has that address\n",
            f.address, f.outputs
        ));
    }
    if recovery.adopt.is_empty() {
        return Ok(0);
    }
    console.confirm("Do you want to adopt them?", auto_approve)?;
    let n = engine.recover(&recovery).await?;
    console.print(&format!(
        "\nRecovered {n} resource(s). Run `plan` to compare them with the configuration.\n"
    ));
    Ok(0)
}

fn read_plan(path: &std::path::Path) -> Result<Plan, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        context: format!("reading the plan {}", path.display()),
        source: e,
    })?;
    Plan::from_json(&text)
}

/// `state restore`: show what the version holds against the current
/// state, ask, restore.
async fn restore<S: StateStore>(
    engine: &Engine<S>,
    console: &Console,
    version: &str,
    auto_approve: bool,
) -> Result<i32, Error> {
    let old = engine.state_version(version).await?;
    let current = engine.load_state().await?;
    console.print(&format!(
        "Version {version} holds serial {} of lineage {} with {} resource(s).\n",
        old.serial,
        old.lineage,
        old.resources.len()
    ));
    match &current {
        Some(c) => {
            console.print(&format!(
                "The current state is serial {} of lineage {} with {} resource(s).\n\n",
                c.serial,
                c.lineage,
                c.resources.len()
            ));
            if c.lineage != old.lineage {
                console.print("  ! the version belongs to another lineage\n");
            }
            for a in old.resources.keys() {
                if !c.resources.contains_key(a) {
                    console.print(&format!("  + {a} (tracked again)\n"));
                }
            }
            for a in c.resources.keys() {
                if !old.resources.contains_key(a) {
                    console.print(&format!("  - {a} (no longer tracked)\n"));
                }
            }
        }
        None => console.print("There is no current state.\n"),
    }
    console.print(
        "\nThis changes the state only, not the infrastructure: run `plan` afterwards to see \
         what the restored state implies.\n",
    );
    console.confirm(
        &format!("Do you want to restore version {version} as the current state?"),
        auto_approve,
    )?;
    let restored = engine
        .restore(version, current.as_ref().map(|c| c.serial))
        .await?;
    console.print(&format!(
        "\nRestored version {version} as serial {}.\n",
        restored.serial
    ));
    Ok(0)
}
