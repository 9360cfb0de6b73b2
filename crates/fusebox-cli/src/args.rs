//! The command line, as clap reads it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A circuit breaker for shell scripts, cron jobs and CI steps.
///
/// State persists across invocations: in SQLite at $FUSEBOX_STATE, else
/// $XDG_STATE_HOME/fusebox/state.db, else ~/.local/state/fusebox/state.db;
/// or in the store named by --store or $FUSEBOX_STORE (sqlite://PATH,
/// redis://HOST:PORT/DB, memory:).
/// The exit codes, as `--help` lists them.
const EXIT_CODES: &str = "\
Exit codes:
  COMMAND's own  when COMMAND ran
  1              status: no breaker of that name
  64             bad usage (flags, names, durations, store URL, config file)
  71             dashboard: cannot listen on the --listen address
  74             the store cannot be opened or reached (or run --fail-closed)
  75             the breaker is open: COMMAND was not run
  124            --timeout stopped COMMAND
  126            COMMAND could not be started (e.g. not executable)
  127            COMMAND was not found
  128+N          COMMAND died of signal N, or fusebox was stopped by it";

#[derive(Parser, Debug)]
#[command(name = "fusebox", version, about, long_about, after_help = EXIT_CODES)]
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
    #[command(after_help = EXIT_CODES)]
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
    /// Serve a live web page (and /api/breakers, /metrics) with every
    /// breaker in the store; with --token-file, also buttons to trip,
    /// reset, force open and disable them.
    Dashboard(DashboardArgs),
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
    #[arg(long, value_name = "CODES")]
    pub(crate) failure_exit_codes: Option<String>,

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

    /// When the store cannot be reached, exit 74 without running COMMAND
    /// (default: warn once and run COMMAND without the breaker).
    #[arg(long)]
    pub(crate) fail_closed: bool,

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

    /// Keep showing the breakers, read again every --interval, until
    /// Ctrl-C (redrawn in place on a terminal; else one snapshot after
    /// another, a blank line between them; with --json, one line each).
    #[arg(long)]
    pub(crate) watch: bool,

    /// How often --watch reads the store, e.g. 2s, 500ms [default: 2s]
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub(crate) interval: Option<String>,

    #[command(flatten)]
    pub(crate) breaker: BreakerArgs,
}

#[derive(Args, Debug)]
pub(crate) struct DashboardArgs {
    /// Store URL: sqlite:///abs/path.db, sqlite://relative.db,
    /// redis://host:port/db[?prefix=...] [env: FUSEBOX_STORE]
    #[arg(long, value_name = "URL")]
    pub(crate) store: Option<String>,

    /// Address to serve on. Without --token-file it must be a loopback
    /// address (127.0.0.1, ::1, localhost).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:7040")]
    pub(crate) listen: String,

    /// File holding the token that control requests must carry
    /// (`Authorization: Bearer TOKEN`): one word of at least 16
    /// characters, in a file not every user can read (chmod 600). Without
    /// it the page is read-only.
    #[arg(long, value_name = "FILE")]
    pub(crate) token_file: Option<PathBuf>,

    /// How often the store is read, once for all viewers [default: 2s]
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub(crate) interval: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct ManualArgs {
    /// The breaker's name.
    pub(crate) name: String,

    #[command(flatten)]
    pub(crate) breaker: BreakerArgs,
}
