//! `fusebox run NAME -- COMMAND…`

use std::io::ErrorKind;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use fusebox::{Rejected, State};

use crate::args::RunArgs;
use crate::breaker::{build, check, duration, open_store};
use crate::Exit;

/// How COMMAND ended.
enum Ended {
    Exited(i32),
    Signaled(i32),
    TimedOut,
}

pub(crate) fn run(args: RunArgs) -> Result<u8, Exit> {
    let timeout = args
        .timeout
        .as_deref()
        .map(|text| duration("timeout", text))
        .transpose()?;
    let settings = check(&args.name, &args.breaker)?;
    let store = open_store(&args.breaker)?;
    let breaker = build(&args.name, &settings, store)?;

    let permit = breaker
        .try_acquire()
        .map_err(|rejected| Exit::Rejected(refusal(&rejected)))?;
    let program = &args.command[0];
    let child = match Command::new(program).args(&args.command[1..]).spawn() {
        Ok(child) => child,
        Err(e) => {
            // Not a failure of the dependency: the run never started.
            drop(permit);
            let code = if e.kind() == ErrorKind::NotFound {
                127
            } else {
                126
            };
            return Err(Exit::Other(code, format!("cannot run {program:?}: {e}")));
        }
    };
    let ended =
        wait(child, timeout).map_err(|e| Exit::Other(1, format!("lost {program:?}: {e}")))?;
    let failed = match ended {
        Ended::Exited(0) => false,
        Ended::Exited(code) => args
            .failure_exit_codes
            .as_ref()
            .is_none_or(|codes| codes.contains(&code)),
        Ended::Signaled(_) | Ended::TimedOut => true,
    };
    if failed {
        permit.failure();
    } else {
        permit.success();
    }
    match ended {
        Ended::Exited(code) => Ok(u8::try_from(code).unwrap_or(1)),
        Ended::Signaled(signal) => Ok(u8::try_from(128 + signal).unwrap_or(255)),
        Ended::TimedOut => Err(Exit::Other(
            124,
            format!(
                "{program:?} ran longer than {} and was killed",
                args.timeout.unwrap_or_default()
            ),
        )),
    }
}

/// What the user reads when the breaker refuses to run COMMAND.
fn refusal(rejected: &Rejected) -> String {
    let name = &rejected.name;
    match (rejected.state, rejected.retry_after) {
        (State::Open, Some(after)) => {
            let secs = after.as_secs_f64().ceil().max(1.0);
            format!("circuit '{name}' is open; retry in {secs}s")
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

fn wait(mut child: Child, timeout: Option<Duration>) -> std::io::Result<Ended> {
    let Some(timeout) = timeout else {
        return child.wait().map(ended);
    };
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(ended(status));
        }
        let now = Instant::now();
        if now >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(Ended::TimedOut);
        }
        // Polling keeps this portable; short pauses keep it responsive.
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

fn ended(status: ExitStatus) -> Ended {
    if let Some(code) = status.code() {
        return Ended::Exited(code);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return Ended::Signaled(signal);
        }
    }
    Ended::Exited(1)
}
