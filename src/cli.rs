//! The command line every ops binary gets: `plan`, `apply`, `destroy`,
//! `refresh`, `output`, `graph`, `state list|show`, `unlock`.
//!
//! Exit codes follow Terraform's `-detailed-exitcode`: 0 success (no
//! changes), 1 error, 2 changes present (`plan --detailed-exitcode`).

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Parser, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use madplan_core::events::{Event, EventSink};
use madplan_core::plan::Plan;
use madplan_core::{Address, Engine, Environment, Error, LocalStateStore, StateStore};

/// The command line of an ops binary.
#[derive(Debug, Parser)]
#[command(about = "Plan and apply a madplan environment", long_about = None)]
struct Cli {
    /// The state file (default: .madplan/ENVIRONMENT.state.json).
    #[arg(long, global = true, env = "MADPLAN_STATE")]
    state: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the configuration without calling any API.
    Validate,
    /// Show what apply would do.
    Plan {
        /// Save the plan to FILE, for `apply FILE`.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
        /// Exit 2 when there are changes, 0 when there are none.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Plan the destruction of everything.
        #[arg(long)]
        destroy: bool,
    },
    /// Make the environment match its configuration (or apply a saved plan).
    Apply {
        /// A plan saved by `plan --out`, applied exactly.
        plan: Option<PathBuf>,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        /// Allow deleting or replacing protected resources.
        #[arg(long)]
        allow_destroy_protected: bool,
    },
    /// Delete everything the environment manages.
    Destroy {
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        /// Allow deleting protected resources.
        #[arg(long)]
        allow_destroy_protected: bool,
    },
    /// Read everything, record what changed outside madplan, report drift.
    Refresh,
    /// Show the environment's exported values.
    Output {
        /// Only this value.
        name: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the dependency graph in Graphviz DOT.
    Graph,
    /// Inspect the state.
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// Remove a state lock left by a run that died.
    Unlock,
}

#[derive(Debug, Subcommand)]
enum StateCommand {
    /// List the resources in state.
    List,
    /// Show one resource in state.
    Show {
        /// Its address, e.g. aws.vpc.main.
        address: String,
    },
}

type Sink = Arc<Mutex<Box<dyn Write + Send>>>;

/// Where the command line writes, and whether a person is there to answer.
#[derive(Clone)]
pub struct Console {
    out: Sink,
    err: Sink,
    interactive: bool,
}

/// Text captured by [`Console::captured`].
#[derive(Clone, Debug, Default)]
pub struct Captured {
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
}

impl Captured {
    /// What was written to standard output.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// What was written to standard error.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Console {
    /// The process's standard streams; interactive when standard input and
    /// standard error are terminals.
    pub fn stdio() -> Self {
        Self {
            out: Arc::new(Mutex::new(Box::new(std::io::stdout()))),
            err: Arc::new(Mutex::new(Box::new(std::io::stderr()))),
            interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
        }
    }

    /// A non-interactive console writing into memory (for tests).
    pub fn captured() -> (Self, Captured) {
        let c = Captured::default();
        (
            Self {
                out: Arc::new(Mutex::new(Box::new(SharedBuf(c.out.clone())))),
                err: Arc::new(Mutex::new(Box::new(SharedBuf(c.err.clone())))),
                interactive: false,
            },
            c,
        )
    }

    fn print(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    fn eprint(&self, text: &str) {
        let mut err = self.err.lock().unwrap_or_else(|e| e.into_inner());
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    }

    fn events(&self) -> Arc<dyn EventSink> {
        if self.interactive {
            Arc::new(BarProgress::default())
        } else {
            Arc::new(LineProgress(self.err.clone()))
        }
    }

    /// Asks the operator to type `yes`.
    fn confirm(&self, question: &str, auto_approve: bool) -> Result<(), Error> {
        if auto_approve {
            return Ok(());
        }
        if !self.interactive {
            return Err(Error::NotConfirmed(
                "there is no terminal to confirm on; review the plan and pass --auto-approve"
                    .into(),
            ));
        }
        self.eprint(&format!(
            "\n{question}\n  Only 'yes' will be accepted.\n\n  Enter a value: "
        ));
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::Io {
                context: "reading the answer".into(),
                source: e,
            })?;
        if line.trim() == "yes" {
            Ok(())
        } else {
            Err(Error::NotConfirmed("cancelled; nothing was changed".into()))
        }
    }
}

fn describe(event: &Event) -> Option<String> {
    Some(match event {
        Event::Refreshing { kind } => format!("refreshing {kind}"),
        Event::Started { address, action } => format!("{address}: {}...", ing(action.verb())),
        Event::Progress { address, message } => format!("{address}: {message}"),
        Event::Retrying {
            address,
            error,
            wait,
        } => {
            format!(
                "{address}: retrying in {:.1}s after: {error}",
                wait.as_secs_f64()
            )
        }
        Event::Finished {
            address,
            action,
            elapsed,
        } => format!(
            "{address}: {} after {:.1}s",
            ed(action.verb()),
            elapsed.as_secs_f64()
        ),
        Event::Failed {
            address,
            action,
            error,
        } => format!("{address}: {} failed: {error}", action.verb()),
        _ => return None,
    })
}

fn ing(verb: &str) -> String {
    format!("{}ing", verb.trim_end_matches('e'))
}

fn ed(verb: &str) -> String {
    if verb.ends_with('e') {
        format!("{verb}d")
    } else {
        format!("{verb}ed")
    }
}

/// One line per event, for logs and CI.
struct LineProgress(Sink);

impl EventSink for LineProgress {
    fn event(&self, event: &Event) {
        if let Some(line) = describe(event) {
            let mut err = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(err, "{line}");
        }
    }
}

/// A spinner per resource in flight, on a terminal.
#[derive(Default)]
struct BarProgress {
    multi: MultiProgress,
    bars: Mutex<HashMap<Address, ProgressBar>>,
}

impl EventSink for BarProgress {
    fn event(&self, event: &Event) {
        let Some(text) = describe(event) else { return };
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Started { address, .. } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                bar.set_message(text);
                bars.insert(address.clone(), bar);
            }
            Event::Progress { address, .. } | Event::Retrying { address, .. } => {
                if let Some(bar) = bars.get(address) {
                    bar.set_message(text);
                }
            }
            Event::Finished { address, .. } | Event::Failed { address, .. } => {
                if let Some(bar) = bars.remove(address) {
                    bar.finish_with_message(text);
                }
            }
            _ => {
                let _ = self.multi.println(text);
            }
        }
    }
}

/// Runs the command line of an ops binary on `env` and exits the process
/// with the right code. Logs go to standard error, filtered by `MADPLAN_LOG`
/// (e.g. `MADPLAN_LOG=debug`).
pub async fn run(env: Environment) -> miette::Result<()> {
    use miette::IntoDiagnostic;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MADPLAN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let (stop, interrupt) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "\nInterrupted: finishing what is in flight and saving state. \
                 Press Ctrl-C again to abort at once (state may then miss resources)."
            );
            let _ = stop.send(true);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    match execute_interruptible(env, std::env::args_os(), &Console::stdio(), Some(interrupt)).await
    {
        Ok(0) => Ok(()),
        Ok(code) => std::process::exit(code),
        Err(e) => Err(e).into_diagnostic(),
    }
}

/// Runs one command given as `args` (the first is the program name) and
/// returns its exit code; errors are returned, not printed.
pub async fn execute<I, T>(env: Environment, args: I, console: &Console) -> Result<i32, Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    execute_interruptible(env, args, console, None).await
}

/// Like [`execute`]; once `interrupt` holds `true`, a running apply starts
/// nothing new, lets what is in flight finish, saves state and stops.
pub async fn execute_interruptible<I, T>(
    env: Environment,
    args: I,
    console: &Console,
    interrupt: Option<tokio::sync::watch::Receiver<bool>>,
) -> Result<i32, Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let text = e.render().to_string();
            if e.use_stderr() {
                console.eprint(&text);
            } else {
                console.print(&text);
            }
            return Ok(e.exit_code());
        }
    };
    let path = cli
        .state
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!(".madplan/{}.state.json", env.name())));
    let span = tracing::info_span!("command", environment = env.name(), command = ?cli.command);
    tracing::Instrument::instrument(
        execute_with_store(env, cli, LocalStateStore::new(path), console, interrupt),
        span,
    )
    .await
}

async fn execute_with_store<S: StateStore>(
    env: Environment,
    cli: Cli,
    store: S,
    console: &Console,
    interrupt: Option<tokio::sync::watch::Receiver<bool>>,
) -> Result<i32, Error> {
    let mut engine = Engine::new(env, store).with_events(console.events());
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
            let plan = if destroy {
                engine.plan_destroy().await?
            } else {
                engine.plan().await?
            };
            if json {
                console.print(&format!("{}\n", plan.to_json()));
            } else {
                console.print(&plan.render());
            }
            if let Some(path) = out {
                std::fs::write(&path, plan.to_json()).map_err(|e| Error::Io {
                    context: format!("writing the plan to {}", path.display()),
                    source: e,
                })?;
                console.eprint(&format!(
                    "Saved the plan to {}; run `apply {}` to apply exactly this.\n",
                    path.display(),
                    path.display()
                ));
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
        } => {
            let mut engine = engine;
            engine.options_mut().allow_protected_deletion = allow_destroy_protected;
            match plan {
                Some(path) => {
                    let text = std::fs::read_to_string(&path).map_err(|e| Error::Io {
                        context: format!("reading the plan {}", path.display()),
                        source: e,
                    })?;
                    let plan = Plan::from_json(&text)?;
                    let report = engine.apply(&plan).await?;
                    finish(&engine, console, &plan, &report).await?;
                    Ok(0)
                }
                None => apply_fresh(&engine, console, auto_approve, false).await,
            }
        }
        Command::Destroy {
            auto_approve,
            allow_destroy_protected,
        } => {
            let mut engine = engine;
            engine.options_mut().allow_protected_deletion = allow_destroy_protected;
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
        Command::State { command } => {
            let state = engine.load_state().await?;
            match command {
                StateCommand::List => {
                    if let Some(s) = state {
                        for a in s.resources.keys() {
                            console.print(&format!("{a}\n"));
                        }
                    }
                    Ok(0)
                }
                StateCommand::Show { address } => {
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
            }
        }
        Command::Unlock => {
            match engine.force_unlock().await? {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_read_well() {
        assert_eq!(ing("create"), "creating");
        assert_eq!(ing("update"), "updating");
        assert_eq!(ing("delete"), "deleting");
        assert_eq!(ed("replace"), "replaced");
        assert_eq!(ed("create"), "created");
    }
}
