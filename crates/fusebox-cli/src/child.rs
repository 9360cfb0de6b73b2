//! COMMAND as a child in a process group of its own, as GNU `timeout` runs
//! it: a timeout or a signal sent to fusebox reaches the whole job (the
//! shell and everything it started), so nothing is left orphaned.
//!
//! The signals fusebox passes on are caught by handlers (reset to their
//! defaults in the job when it starts, so the job sees the usual
//! dispositions) and turned into events by one thread. The main thread waits
//! for those events and the job's end on one channel, with the timeout's
//! deadlines as its only timer: no polling while the job runs.

use std::io;
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// The signals fusebox passes on to the job's process group.
const FORWARDED: [Signal; 6] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// Whether `signal` asks fusebox to stop (all but USR1/USR2, which are the
/// job's business: it may handle them and carry on).
fn asks_to_stop(signal: Signal) -> bool {
    !matches!(signal, Signal::SIGUSR1 | Signal::SIGUSR2)
}

/// What the main thread waits for.
enum Event {
    /// fusebox received this signal.
    Signal(Signal),
    /// The job's leader ended (or could not be waited for).
    Exited(io::Result<ExitStatus>),
}

/// Signals sent to fusebox, caught from the moment [`Signals::catch`] ran.
pub(crate) struct Signals {
    events: Receiver<Event>,
    sender: Sender<Event>,
}

impl Signals {
    /// Catches the forwarded signals from now on (instead of dying of them)
    /// and starts the thread that passes them to the main thread.
    pub(crate) fn catch() -> io::Result<Signals> {
        let mut caught = signal_hook::iterator::Signals::new(FORWARDED.map(|s| s as i32))?;
        let (sender, events) = mpsc::channel();
        let to_main = sender.clone();
        std::thread::Builder::new()
            .name("fusebox-signals".into())
            .spawn(move || {
                for number in caught.forever() {
                    let Ok(signal) = Signal::try_from(number) else {
                        continue;
                    };
                    if to_main.send(Event::Signal(signal)).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Signals { events, sender })
    }

    /// A signal asking to stop that arrived before the job started, if any.
    /// Others (USR1/USR2) have no job to go to yet and are dropped.
    pub(crate) fn stop_requested(&self) -> Option<Signal> {
        self.events.try_iter().find_map(|event| match event {
            Event::Signal(signal) if asks_to_stop(signal) => Some(signal),
            _ => None,
        })
    }
}

/// How the job ended.
#[derive(Debug)]
pub(crate) enum Ending {
    /// It ended by itself; `passed_on` is the last signal fusebox forwarded
    /// to it (USR1/USR2), if any, so a death by that signal is known to come
    /// from fusebox's caller, not from the job's dependency.
    Ended {
        status: ExitStatus,
        passed_on: Option<Signal>,
    },
    /// It ran longer than the timeout and was terminated.
    TimedOut,
    /// fusebox was told to stop by `signal`; it passed the signal on and the
    /// job has ended.
    Stopped { signal: Signal },
}

/// How long the job may run, and how long it then has to stop after TERM
/// before it gets KILL.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) timeout: Option<Duration>,
    pub(crate) kill_after: Duration,
}

/// Where the wait stands.
enum Phase {
    /// The job runs; the timeout, if any, ends at this instant.
    Running(Option<Instant>),
    /// The job got TERM for running too long; KILL follows at this instant.
    Terminating(Instant),
    /// The job got KILL.
    Killed,
}

/// A started job: its leader's pid is its process group's id.
pub(crate) struct Job {
    group: Pid,
}

impl Job {
    /// Starts `command` in a new process group whose id is its pid.
    pub(crate) fn start(command: &mut Command, signals: &Signals) -> io::Result<Job> {
        use std::os::unix::process::CommandExt;
        // Processes the job leaves behind become fusebox's to reap, so it
        // can tell when the whole group has ended.
        #[cfg(target_os = "linux")]
        let _ = nix::sys::prctl::set_child_subreaper(true);
        let mut child: Child = command.process_group(0).spawn()?;
        let group = Pid::from_raw(i32::try_from(child.id()).map_err(io::Error::other)?);
        let to_main = signals.sender.clone();
        std::thread::Builder::new()
            .name("fusebox-wait".into())
            .spawn(move || {
                let _ = to_main.send(Event::Exited(child.wait()));
            })?;
        Ok(Job { group })
    }

    /// Waits for the job's end, passing on signals and enforcing `limits`.
    pub(crate) fn wait(self, signals: &Signals, limits: Limits) -> io::Result<Ending> {
        let start = Instant::now();
        // A deadline past what an Instant can hold is no deadline.
        let mut phase = Phase::Running(limits.timeout.and_then(|t| start.checked_add(t)));
        let mut stopped_by = None;
        let mut passed_on = None;
        let mut timed_out = false;
        let status = loop {
            let deadline = match phase {
                Phase::Running(at) => at,
                Phase::Terminating(at) => Some(at),
                Phase::Killed => None,
            };
            let event = match deadline {
                Some(at) => {
                    match signals
                        .events
                        .recv_timeout(at.saturating_duration_since(Instant::now()))
                    {
                        Ok(event) => event,
                        Err(RecvTimeoutError::Timeout) => {
                            phase = self.deadline_passed(phase, limits.kill_after);
                            timed_out = true;
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => return Err(lost()),
                    }
                }
                None => signals.events.recv().map_err(|_| lost())?,
            };
            match event {
                Event::Exited(status) => break status?,
                Event::Signal(signal) => {
                    self.send(signal);
                    if asks_to_stop(signal) {
                        stopped_by.get_or_insert(signal);
                    } else {
                        passed_on = Some(signal);
                    }
                }
            }
        };
        if let Some(signal) = stopped_by {
            // The leader is done; processes it started may ignore the signal
            // (a shell's background jobs ignore INT and QUIT), so the rest of
            // the group is stopped as after a timeout.
            if self.group_alive() {
                self.send(Signal::SIGTERM);
                self.send(Signal::SIGCONT);
                self.finish_group(Instant::now().checked_add(limits.kill_after));
            }
            return Ok(Ending::Stopped { signal });
        }
        if timed_out {
            let kill_at = match phase {
                Phase::Terminating(at) => Some(at),
                _ => Some(Instant::now()),
            };
            self.finish_group(kill_at);
            return Ok(Ending::TimedOut);
        }
        Ok(Ending::Ended { status, passed_on })
    }

    /// The timeout (TERM now, KILL after `kill_after`) or the grace period
    /// (KILL now) ran out.
    fn deadline_passed(&self, phase: Phase, kill_after: Duration) -> Phase {
        match phase {
            Phase::Running(_) => {
                self.send(Signal::SIGTERM);
                // A stopped job cannot act on TERM until it runs again.
                self.send(Signal::SIGCONT);
                match Instant::now().checked_add(kill_after) {
                    Some(at) => Phase::Terminating(at),
                    None => Phase::Running(None),
                }
            }
            Phase::Terminating(_) | Phase::Killed => {
                self.send(Signal::SIGKILL);
                Phase::Killed
            }
        }
    }

    /// The leader has ended after TERM, but processes it started may still
    /// be cleaning up: give them until `kill_at` (`None`: past what an
    /// Instant holds, so at once), then KILL what is left, so a stopped job
    /// leaves nothing behind. The group's other members are not our
    /// children, so their end can only be polled for.
    fn finish_group(&self, kill_at: Option<Instant>) {
        const PAUSE: Duration = Duration::from_millis(10);
        /// How long KILLed processes may take to be gone and reaped.
        const REAPED_WITHIN: Duration = Duration::from_secs(1);
        let mut until = kill_at.unwrap_or_else(Instant::now);
        let mut killed = false;
        while self.group_alive() {
            let now = Instant::now();
            if now >= until {
                if killed {
                    return;
                }
                self.send(Signal::SIGKILL);
                killed = true;
                until = now + REAPED_WITHIN;
                continue;
            }
            std::thread::sleep(PAUSE.min(until - now));
        }
    }

    /// Whether any process of the group lives. Members orphaned by the
    /// leader's end were handed to fusebox (a subreaper on Linux): reap the
    /// ones that ended, or they would count as alive as zombies.
    fn group_alive(&self) -> bool {
        let group = Pid::from_raw(-self.group.as_raw());
        while let Ok(status) = waitpid(group, Some(WaitPidFlag::WNOHANG)) {
            if status == WaitStatus::StillAlive {
                break;
            }
        }
        killpg(self.group, None) != Err(Errno::ESRCH)
    }

    /// Sends `signal` to the job's process group. The group may be gone
    /// already (the job ended as the signal came): nothing to do then.
    fn send(&self, signal: Signal) {
        let _ = killpg(self.group, signal);
    }
}

fn lost() -> io::Error {
    io::Error::other("lost track of the job")
}
