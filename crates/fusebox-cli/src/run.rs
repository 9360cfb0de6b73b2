//! `fusebox run NAME -- COMMAND…`

use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use fusebox::{Permit, Rejected, State};
use nix::sys::signal::Signal;

use crate::args::RunArgs;
use crate::breaker::{build, check, duration, open_store};
use crate::child::{Ending, Job, Limits, Signals};
use crate::store::{self, STORE_TIMEOUT};
use crate::Exit;

/// How long COMMAND has after TERM before KILL, unless `--kill-after` says.
const KILL_AFTER: Duration = Duration::from_secs(5);

/// What a finished run means for the breaker.
enum Verdict {
    Success,
    Failure,
    /// Says nothing about the dependency: the user stopped the run, or the
    /// reader of COMMAND's output went away (SIGPIPE).
    Neutral,
}

pub(crate) fn run(args: RunArgs) -> Result<u8, Exit> {
    let failure_codes = args
        .failure_exit_codes
        .as_deref()
        .map(exit_codes)
        .transpose()?;
    let limits = limits(&args)?;
    let lease = lease(&args, limits)?;
    let mut settings = check(&args.name, &args.breaker)?;
    if let Some(lease) = lease {
        settings.probe_timeout = Some(lease);
    }
    // From here on a signal to fusebox is passed on, not fatal: the trial
    // slot is released before exiting.
    let signals = Signals::catch()
        .map_err(|e| Exit::Other(71, format!("cannot set up signal handling: {e}")))?;
    if settings.enabled == Some(false) {
        return run_unguarded(&args, &signals, limits);
    }
    let store = open_store(&args.breaker)?;
    if let Err(why) = store::reach(&*store, &args.name, true) {
        // In a fresh process "local state" is a closed breaker that has seen
        // nothing: it can never trip, so say plainly what happens instead.
        if args.fail_closed {
            return Err(Exit::Store(format!(
                "{why}; not running COMMAND (--fail-closed)"
            )));
        }
        crate::warn(&format!(
            "{why}; running COMMAND without the breaker (--fail-closed refuses instead)"
        ));
        return run_unguarded(&args, &signals, limits);
    }
    let breaker = build(&args.name, &settings, store)?;

    let permit = match breaker.try_acquire() {
        Ok(permit) => permit,
        Err(rejected) => {
            // Counted in the shared state, so `status` shows how many runs
            // were refused since the breaker last closed.
            breaker.record_refusal();
            return Err(Exit::Rejected(refusal(&rejected)));
        }
    };
    if let Some(signal) = signals.stop_requested() {
        permit.ignore();
        return Err(stopped(signal, "before COMMAND started"));
    }
    let program = &args.command[0];
    let mut command = Command::new(program);
    command.args(&args.command[1..]);
    let job = match Job::start(&mut command, &signals) {
        Ok(job) => job,
        Err(e) => {
            // Not a failure of the dependency: the run never started.
            permit.ignore();
            return Err(not_started(program, &e));
        }
    };
    let ending = match job.wait(&signals, limits) {
        Ok(ending) => ending,
        Err(e) => {
            permit.ignore();
            return Err(Exit::Other(1, format!("lost {program:?}: {e}")));
        }
    };
    match ending {
        Ending::Stopped { signal } => {
            permit.ignore();
            Err(stopped(signal, "while COMMAND ran"))
        }
        Ending::TimedOut => {
            permit.failure();
            Err(timed_out(program, &args))
        }
        Ending::Ended { status, passed_on } => {
            settle(permit, verdict(status, passed_on, failure_codes.as_deref()));
            Ok(exit_code(status))
        }
    }
}

/// `enabled: false` in `--config`: COMMAND runs as if there were no
/// breaker, and nothing is read from or written to the store.
fn run_unguarded(args: &RunArgs, signals: &Signals, limits: Limits) -> Result<u8, Exit> {
    if let Some(signal) = signals.stop_requested() {
        return Err(stopped(signal, "before COMMAND started"));
    }
    let program = &args.command[0];
    let job = Job::start(Command::new(program).args(&args.command[1..]), signals)
        .map_err(|e| not_started(program, &e))?;
    match job
        .wait(signals, limits)
        .map_err(|e| Exit::Other(1, format!("lost {program:?}: {e}")))?
    {
        Ending::Stopped { signal } => Err(stopped(signal, "while COMMAND ran")),
        Ending::TimedOut => Err(timed_out(program, args)),
        Ending::Ended { status, .. } => Ok(exit_code(status)),
    }
}

/// COMMAND could not be started: 127 when it does not exist, else 126.
fn not_started(program: &str, e: &std::io::Error) -> Exit {
    let code = if e.kind() == ErrorKind::NotFound {
        127
    } else {
        126
    };
    Exit::Other(code, format!("cannot run {program:?}: {e}"))
}

fn timed_out(program: &str, args: &RunArgs) -> Exit {
    Exit::Other(
        124,
        format!(
            "{program:?} ran longer than {} and was killed",
            args.timeout.as_deref().unwrap_or_default()
        ),
    )
}

/// `--timeout` and `--kill-after`.
fn limits(args: &RunArgs) -> Result<Limits, Exit> {
    let timeout = args
        .timeout
        .as_deref()
        .map(|text| duration("timeout", text))
        .transpose()?;
    let kill_after = args
        .kill_after
        .as_deref()
        .map(|text| duration("kill-after", text))
        .transpose()?
        .unwrap_or(KILL_AFTER);
    Ok(Limits {
        timeout,
        kill_after,
    })
}

/// How long a trial run's slot outlives a fusebox that was killed before it
/// could report: `--probe-timeout`, else as long as the run can take.
fn lease(args: &RunArgs, limits: Limits) -> Result<Option<Duration>, Exit> {
    if let Some(text) = &args.probe_timeout {
        return duration("probe-timeout", text).map(Some);
    }
    // Derived, so capped: a `--timeout` near the 365d maximum must not be
    // refused for a `--probe-timeout` the user never gave.
    Ok(limits.timeout.map(|timeout| {
        timeout
            .saturating_add(limits.kill_after)
            .saturating_add(STORE_TIMEOUT)
            .min(fusebox::Builder::MAX_DURATION)
    }))
}

/// `--failure-exit-codes 1,2`: codes from 1 to 255 (0 is success, and no
/// process exits with more), spaces allowed around commas.
fn exit_codes(text: &str) -> Result<Vec<i32>, Exit> {
    text.split(',')
        .map(|part| {
            let part = part.trim();
            match part.parse::<i64>() {
                Ok(code @ 1..=255) => Ok(code as i32),
                Ok(0) => Err(Exit::Usage(format!(
                    "--failure-exit-codes {text:?}: 0 means success, it cannot count as a failure"
                ))),
                _ => Err(Exit::Usage(format!(
                    "--failure-exit-codes {text:?}: {part:?} is not an exit code (1 to 255)"
                ))),
            }
        })
        .collect()
}

fn verdict(
    status: ExitStatus,
    passed_on: Option<Signal>,
    failure_codes: Option<&[i32]>,
) -> Verdict {
    if let Some(signal) = status.signal() {
        let neutral =
            signal == Signal::SIGPIPE as i32 || Some(signal) == passed_on.map(|s| s as i32);
        return if neutral {
            Verdict::Neutral
        } else {
            Verdict::Failure
        };
    }
    match status.code() {
        Some(0) => Verdict::Success,
        Some(code) => {
            let counts = failure_codes.is_none_or(|codes| codes.contains(&code));
            if counts {
                Verdict::Failure
            } else {
                Verdict::Success
            }
        }
        None => Verdict::Failure,
    }
}

fn settle(permit: Permit<'_>, verdict: Verdict) {
    match verdict {
        Verdict::Success => permit.success(),
        Verdict::Failure => permit.failure(),
        Verdict::Neutral => permit.ignore(),
    }
}

/// COMMAND's status as fusebox's own: its code, or 128+N for signal N.
fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(255),
        (None, None) => 1,
    }
}

/// fusebox was told to stop by `signal`: exit 128+N, as if killed by it.
fn stopped(signal: Signal, when: &str) -> Exit {
    Exit::Other(
        u8::try_from(128 + signal as i32).unwrap_or(255),
        format!(
            "stopped by {} {when}; the run counts as neither success nor failure",
            signal.as_str()
        ),
    )
}

/// What the user reads when the breaker refuses to run COMMAND.
fn refusal(rejected: &Rejected) -> String {
    let name = &rejected.name;
    match (rejected.state, rejected.retry_after) {
        (State::Open, Some(after)) => {
            let after = crate::human::duration(after.max(Duration::from_secs(1)));
            format!("circuit '{name}' is open; retry in {after}")
        }
        (State::ForcedOpen, _) => {
            format!(
                "circuit '{name}' is forced open; `fusebox reset {name}` lets runs through again"
            )
        }
        (State::HalfOpen, _) => {
            format!("circuit '{name}' is half-open and its trial run is in progress; retry shortly")
        }
        _ => format!("circuit '{name}' is open and its store cannot be reached; retry later"),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::args::{Cli, Command};

    fn run_args(flags: &[&str]) -> RunArgs {
        let mut argv = vec!["fusebox", "run", "x"];
        argv.extend(flags);
        argv.extend(["--", "true"]);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Run(args) => args,
            _ => unreachable!("a run command line"),
        }
    }

    fn lease_of(flags: &[&str]) -> Option<Duration> {
        let args = run_args(flags);
        lease(&args, limits(&args).unwrap()).unwrap()
    }

    #[test]
    fn the_trial_lease_is_as_long_as_the_run_can_be() {
        let secs = Duration::from_secs;
        assert_eq!(lease_of(&[]), None, "the library's default");
        assert_eq!(lease_of(&["--timeout", "10s"]), Some(secs(10 + 5 + 2)));
        assert_eq!(
            lease_of(&["--timeout", "10s", "--kill-after", "1s"]),
            Some(secs(10 + 1 + 2))
        );
        assert_eq!(
            lease_of(&["--timeout", "10s", "--probe-timeout", "3s"]),
            Some(secs(3)),
            "an explicit lease wins"
        );
    }

    #[test]
    fn a_derived_lease_never_exceeds_the_longest_duration() {
        // `--timeout 365d` is valid; its derived lease must not be refused as
        // a `--probe-timeout` the user never gave.
        assert_eq!(
            lease_of(&["--timeout", "365d"]),
            Some(fusebox::Builder::MAX_DURATION)
        );
        assert_eq!(
            lease_of(&["--timeout", "1s", "--kill-after", "365d"]),
            Some(fusebox::Builder::MAX_DURATION)
        );
    }
}
