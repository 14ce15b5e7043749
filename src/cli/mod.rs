//! The command line every ops binary gets: `validate`, `plan`, `apply`,
//! `destroy`, `refresh`, `output`, `graph`, `state list|show|recover`,
//! `unlock`.
//!
//! Exit codes follow Terraform's `-detailed-exitcode`: 0 success (no
//! changes), 1 error, 2 changes present (`plan --detailed-exitcode`).
//!
//! - this module: the arguments and the entry points;
//! - `console`: where output goes and how confirmation is asked;
//! - `progress`: spinners on a terminal, lines elsewhere;
//! - `commands`: what each verb does with the engine.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use madplan_core::{Environment, Error, LocalStateStore};

mod commands;
mod console;
mod progress;

pub use console::{Captured, Console};

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
        /// How long to wait for resources of KIND to become ready, e.g.
        /// `atlas.cluster=90m` (repeatable; default: each kind's own).
        #[arg(long, value_name = "KIND=DURATION", value_parser = wait_timeout)]
        wait_timeout: Vec<(String, Duration)>,
    },
    /// Delete everything the environment manages.
    Destroy {
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        /// Allow deleting protected resources.
        #[arg(long)]
        allow_destroy_protected: bool,
        /// How long to wait for deletions of KIND (repeatable).
        #[arg(long, value_name = "KIND=DURATION", value_parser = wait_timeout)]
        wait_timeout: Vec<(String, Duration)>,
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
    Unlock {
        /// The lock's id, as the lock error shows it (so that a lock taken
        /// since is not removed by mistake).
        lock_id: String,
    },
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
    /// Adopt resources that carry this environment's tags but another
    /// state's lineage (the state was lost): lists them, asks, records them.
    Recover {
        /// The lineage to adopt (needed when several states made resources).
        #[arg(long)]
        lineage: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
    },
}

/// Parses `KIND=DURATION` (`atlas.cluster=90m`).
fn wait_timeout(s: &str) -> Result<(String, Duration), String> {
    let (kind, d) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not KIND=DURATION (e.g. atlas.cluster=90m)"))?;
    if !kind.contains('.') {
        return Err(format!("{kind:?} is not a kind (e.g. atlas.cluster)"));
    }
    let d = humantime::parse_duration(d).map_err(|e| format!("{d:?}: {e}"))?;
    Ok((kind.to_string(), d))
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
        commands::execute_with_store(env, cli, LocalStateStore::new(path), console, interrupt),
        span,
    )
    .await
}
