//! `fusebox`: a circuit breaker for shell scripts, cron jobs and CI steps.
//!
//! Exit codes: COMMAND's own status when it ran; 75 (EX_TEMPFAIL) when the
//! breaker did not let it run; 64 (EX_USAGE) for bad usage; 74 (EX_IOERR)
//! when the state store cannot be opened; 124 when `--timeout` killed
//! COMMAND; 128+N when a signal N killed it; 126/127 when it could not be
//! started.

mod args;
mod breaker;
mod child;
mod clean;
mod dashboard;
mod human;
mod log;
mod run;
mod scan;
mod status;
mod store;
mod watch;

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;

use args::{Cli, Command};

/// Why fusebox exits without COMMAND's own status.
#[derive(Debug)]
pub(crate) enum Exit {
    /// Bad usage: EX_USAGE.
    Usage(String),
    /// The store cannot be opened: EX_IOERR.
    Store(String),
    /// The breaker did not admit the run: EX_TEMPFAIL.
    Rejected(String),
    /// Another status, with a message.
    Other(u8, String),
}

impl Exit {
    fn code(&self) -> u8 {
        match self {
            Exit::Usage(_) => 64,
            Exit::Store(_) => 74,
            Exit::Rejected(_) => 75,
            Exit::Other(code, _) => *code,
        }
    }

    pub(crate) fn message(&self) -> &str {
        match self {
            Exit::Usage(m) | Exit::Store(m) | Exit::Rejected(m) | Exit::Other(_, m) => m,
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    // A server logs what it does (control actions, state changes).
    log::init(cli.verbose || matches!(cli.command, Command::Dashboard(_)));
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Status(args) => status::status(args),
        Command::Trip(args) => breaker::manual(args, fusebox::State::Open),
        Command::Reset(args) => breaker::manual(args, fusebox::State::Closed),
        Command::Disable(args) => breaker::manual(args, fusebox::State::Disabled),
        Command::ForceOpen(args) => breaker::manual(args, fusebox::State::ForcedOpen),
        Command::Dashboard(args) => dashboard::dashboard(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(exit) => {
            eprintln!("fusebox: {}", clean::message(exit.message()));
            ExitCode::from(exit.code())
        }
    }
}

/// One warning line on stderr, passwords hidden.
pub(crate) fn warn(message: &str) {
    eprintln!("fusebox: warning: {}", clean::message(message));
}

/// `fusebox run x true`: COMMAND given without the `--` before it, or not
/// at all.
fn is_run_without_separator(error: &clap::Error) -> bool {
    let is_run = std::env::args().nth(1).as_deref() == Some("run");
    let no_separator = !std::env::args().any(|a| a == "--");
    is_run
        && no_separator
        && matches!(
            error.kind(),
            ErrorKind::UnknownArgument | ErrorKind::MissingRequiredArgument
        )
}

/// Help and version go to stdout with status 0; every other parse error is
/// one line on stderr and EX_USAGE.
fn usage_error(error: clap::Error) -> ExitCode {
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprintln!(
                "fusebox: missing command: run, status, trip, reset, disable, force-open or dashboard (see fusebox --help)"
            );
            ExitCode::from(64)
        }
        _ => {
            let text = error.to_string();
            let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
            let mut reason = lines
                .next()
                .unwrap_or("bad usage")
                .trim_start_matches("error: ")
                .to_owned();
            // "the following required arguments were not provided:" names them next.
            if reason.ends_with(':') {
                if let Some(what) = lines.next() {
                    reason = format!("{reason} {what}");
                }
            }
            let hint = if is_run_without_separator(&error) {
                "; put COMMAND after --: fusebox run NAME [FLAGS] -- COMMAND [ARGS...]"
            } else {
                " (see fusebox --help)"
            };
            eprintln!("fusebox: {reason}{hint}");
            ExitCode::from(64)
        }
    }
}
