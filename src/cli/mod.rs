//! The command line every ops binary gets: `validate`, `plan`, `apply`,
//! `destroy`, `refresh`, `output`, `graph`, `state
//! list|show|recover|history|restore`, `unlock`, `approve`, `audit`.
//!
//! The state lives where `--backend` (or `MADPLAN_BACKEND`) says: a local
//! file by default (`--state FILE`), or `s3://BUCKET/PREFIX` with the `aws`
//! feature. A program can also hand the command line any
//! [`StateStore`] ([`run_with_store`], [`execute_with_store`]).
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
use madplan_core::{Environment, Error, LocalStateStore, Operator, StateStore};

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
    /// Where the state lives: `s3://BUCKET/PREFIX` (state at
    /// PREFIX/ENVIRONMENT.state.json; `?kms_key=KEY` for SSE-KMS,
    /// `&lease=60s` for the lock's lease), or a local file path.
    #[arg(long, global = true, env = "MADPLAN_BACKEND", conflicts_with = "state")]
    backend: Option<String>,
    /// Who runs this, as locks, audit records and approvals name them
    /// (default: the login name).
    #[arg(long, global = true, env = "MADPLAN_OPERATOR")]
    operator: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the configuration without calling any API.
    Validate,
    /// Show what apply would do.
    Plan {
        /// Save the plan to FILE, with its digest and author, for `approve
        /// FILE` and `apply FILE`.
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
        /// Apply without the approval the environment requires, for this
        /// reason (kept in the audit trail).
        #[arg(long, value_name = "REASON", value_parser = reason)]
        emergency: Option<String>,
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
        /// Destroy without the approval the environment requires, for this
        /// reason (kept in the audit trail).
        #[arg(long, value_name = "REASON", value_parser = reason)]
        emergency: Option<String>,
    },
    /// Approve a plan saved with `plan --out`, for `apply PLANFILE` in an
    /// environment that requires approval.
    Approve {
        /// The saved plan.
        plan: PathBuf,
    },
    /// List the audit trail: every apply, destroy and state restore.
    Audit {
        /// Print the records as JSON.
        #[arg(long)]
        json: bool,
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
    /// Show one resource in state, or the whole state.
    Show {
        /// Its address, e.g. aws.vpc.main (default: the whole document).
        address: Option<String>,
        /// A stored version instead of the current state (`state history`
        /// lists them).
        #[arg(long)]
        version: Option<String>,
    },
    /// List the stored versions of the state (S3 with bucket versioning).
    History,
    /// Make a stored version the current state again (after showing what
    /// changes and asking).
    Restore {
        /// The version (`state history` lists them).
        version: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
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

/// A reason that says something.
fn reason(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("give the reason, for the audit trail".into())
    } else {
        Ok(s.trim().to_string())
    }
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
/// (e.g. `MADPLAN_LOG=debug`). The state store comes from `--backend` /
/// `--state` (default: a local file).
pub async fn run(env: Environment) -> miette::Result<()> {
    run_main(env, None::<LocalStateStore>).await
}

/// Like [`run`], with the state in `store` (any [`StateStore`]) instead of
/// the one `--backend` / `--state` names.
pub async fn run_with_store<S: StateStore>(env: Environment, store: S) -> miette::Result<()> {
    run_main(env, Some(store)).await
}

async fn run_main<S: StateStore>(env: Environment, store: Option<S>) -> miette::Result<()> {
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
    let console = Console::stdio();
    let result = execute_main(env, store, std::env::args_os(), &console, Some(interrupt)).await;
    match result {
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

/// Like [`execute`], with the state in `store` instead of the one
/// `--backend` / `--state` names.
pub async fn execute_with_store<S, I, T>(
    env: Environment,
    store: S,
    args: I,
    console: &Console,
) -> Result<i32, Error>
where
    S: StateStore,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    execute_main(env, Some(store), args, console, None).await
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
    execute_main(env, None::<LocalStateStore>, args, console, interrupt).await
}

async fn execute_main<S, I, T>(
    env: Environment,
    store: Option<S>,
    args: I,
    console: &Console,
    interrupt: Option<tokio::sync::watch::Receiver<bool>>,
) -> Result<i32, Error>
where
    S: StateStore,
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
    let operator = cli
        .operator
        .as_deref()
        .filter(|o| !o.trim().is_empty())
        .map_or_else(Operator::current, Operator::named);
    let span = tracing::info_span!("command", environment = env.name(), command = ?cli.command);
    let run = async move {
        if let Some(store) = store {
            if cli.state.is_some() || cli.backend.is_some() {
                return Err(Error::State {
                    store: store.location(),
                    message: "this program sets its state store in code; --state and \
                              --backend do not apply to it"
                        .into(),
                    source: None,
                });
            }
            // Boxed: a command's future is large (the engine's walk and a
            // store), too large for a test thread's stack in debug builds.
            return Box::pin(commands::execute_with_store(
                env, cli, store, operator, console, interrupt,
            ))
            .await;
        }
        match cli.backend.clone() {
            Some(url) if url.starts_with("s3://") => {
                #[cfg(feature = "aws")]
                {
                    let store = madplan_aws::S3StateStore::from_url(&url, env.name()).await?;
                    Box::pin(commands::execute_with_store(
                        env, cli, store, operator, console, interrupt,
                    ))
                    .await
                }
                #[cfg(not(feature = "aws"))]
                {
                    let _ = (env, operator, interrupt);
                    Err(Error::State {
                        store: url,
                        message: "this program was built without the `aws` feature, which \
                                  holds the S3 state store"
                            .into(),
                        source: None,
                    })
                }
            }
            backend => {
                let path = backend
                    .map(|b| PathBuf::from(b.strip_prefix("file://").unwrap_or(&b)))
                    .or_else(|| cli.state.clone())
                    .unwrap_or_else(|| {
                        PathBuf::from(format!(".madplan/{}.state.json", env.name()))
                    });
                Box::pin(commands::execute_with_store(
                    env,
                    cli,
                    LocalStateStore::new(path),
                    operator,
                    console,
                    interrupt,
                ))
                .await
            }
        }
    };
    tracing::Instrument::instrument(run, span).await
}
