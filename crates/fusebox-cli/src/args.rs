//! The command line, as clap reads it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A circuit breaker for shell scripts, cron jobs and CI steps.
///
/// State persists across invocations: in SQLite at $FUSEBOX_STATE, else
/// $XDG_STATE_HOME/fusebox/state.db, else ~/.local/state/fusebox/state.db;
/// or in the store named by --store or $FUSEBOX_STORE (sqlite://PATH,
/// redis://HOST:PORT/DB, memory:).
#[derive(Parser, Debug)]
#[command(name = "fusebox", version, about, long_about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,

    /// Also log every state change to stderr.
    #[arg(short, long, global = true)]
    pub(crate) verbose: bool,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Run COMMAND if the breaker NAME admits it; exit with its status, or
    /// 75 (EX_TEMPFAIL) without running it while the breaker is open.
    Run(RunArgs),
    /// Show breakers: name, state, failures, retry in.
    Status(StatusArgs),
    /// Open breaker NAME now, for its recovery timeout.
    Trip(ManualArgs),
    /// Close breaker NAME and clear its counts.
    Reset(ManualArgs),
    /// Let every call through breaker NAME (still counted) until reset.
    Disable(ManualArgs),
    /// Reject every call through breaker NAME until reset.
    ForceOpen(ManualArgs),
}

/// Where the state is and how the breaker behaves.
#[derive(Args, Debug, Default)]
pub(crate) struct BreakerArgs {
    /// Store URL: sqlite:///abs/path.db, sqlite://relative.db,
    /// redis://host:port/db[?prefix=...], memory: [env: FUSEBOX_STORE]
    #[arg(long, value_name = "URL")]
    pub(crate) store: Option<String>,

    /// Configuration file (YAML or TOML) with defaults and per-breaker
    /// settings; flags win over it.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Consecutive failures that open the breaker [default: 5]
    #[arg(long, value_name = "N")]
    pub(crate) failure_threshold: Option<u32>,

    /// How long the breaker stays open, e.g. 30s, 5m [default: 30s]
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub(crate) recovery_timeout: Option<String>,

    /// Trial successes in a row that close it again [default: 1]
    #[arg(long, value_name = "N")]
    pub(crate) success_threshold: Option<u32>,

    /// Trial runs allowed at once while half-open [default: 1]
    #[arg(long, value_name = "N")]
    pub(crate) half_open_max_calls: Option<u32>,
}

#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// The breaker's name: runs sharing a name share a breaker.
    pub(crate) name: String,

    #[command(flatten)]
    pub(crate) breaker: BreakerArgs,

    /// Exit codes that count as failures, e.g. 1,2 [default: any non-zero];
    /// other non-zero codes count as successes of the dependency.
    #[arg(long, value_name = "CODES", value_delimiter = ',')]
    pub(crate) failure_exit_codes: Option<Vec<i32>>,

    /// Stop COMMAND if it runs longer than this: TERM to its process group,
    /// then KILL after --kill-after (a failure; exit 124).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub(crate) timeout: Option<String>,

    /// How long COMMAND has to stop after TERM before it gets KILL
    /// [default: 5s]
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub(crate) kill_after: Option<String>,

    /// How long a half-open trial run keeps its slot if fusebox itself is
    /// killed before it can report [default: --timeout + --kill-after + 2s
    /// with --timeout, else 60s]
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub(crate) probe_timeout: Option<String>,

    /// The command to run, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub(crate) command: Vec<String>,
}

#[derive(Args, Debug)]
pub(crate) struct StatusArgs {
    /// Only this breaker (default: every breaker in the store).
    pub(crate) name: Option<String>,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) breaker: BreakerArgs,
}

#[derive(Args, Debug)]
pub(crate) struct ManualArgs {
    /// The breaker's name.
    pub(crate) name: String,

    #[command(flatten)]
    pub(crate) breaker: BreakerArgs,
}
