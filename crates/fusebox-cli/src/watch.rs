//! `fusebox status --watch [--interval 2s]`: the status table, read again
//! every interval until Ctrl-C.
//!
//! On a terminal each snapshot replaces the last (cursor home, screen
//! cleared); written to a pipe or a file, snapshots follow one another with
//! a blank line between them, so a log keeps the history. A store that
//! cannot be read shows as `store unreachable: …` and the watch goes on:
//! it recovers when the store answers again. Ctrl-C (or TERM, or HUP) ends
//! it with status 0, as does a reader that went away (`| head`).

use std::io::{IsTerminal, Write};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::args::StatusArgs;
use crate::scan::{place, to_json, Row};
use crate::status::{empty, missing, print_table, unreadable};
use crate::store::Location;
use crate::{clean, scan, Exit};

/// How often the store is read unless `--interval` says otherwise.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);

/// Cursor to the top left, then clear the screen.
const CLEAR: &str = "\x1b[H\x1b[2J";

/// The signals that end a watch cleanly.
const STOP: [i32; 3] = [
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGHUP,
];

pub(crate) fn watch(args: &StatusArgs, location: &Location) -> Result<u8, Exit> {
    let interval = match &args.interval {
        Some(text) => crate::breaker::duration("interval", text)?,
        None => DEFAULT_INTERVAL,
    };
    let stop = stop_signals()?;
    let terminal = std::io::stdout().is_terminal();
    let mut first = true;
    loop {
        let frame = frame(args, location, interval, terminal, first);
        first = false;
        let mut out = std::io::stdout().lock();
        match out.write_all(frame.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(0),
            Err(e) => return Err(Exit::Other(74, format!("cannot write the status: {e}"))),
        }
        drop(out);
        match stop.recv_timeout(interval) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // A signal, or the signal thread gone: end as asked.
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(0),
        }
    }
}

/// A channel that receives one message per stop signal. The signals are
/// caught from here on, so Ctrl-C ends the loop between two writes rather
/// than in the middle of one.
fn stop_signals() -> Result<mpsc::Receiver<()>, Exit> {
    let mut signals = signal_hook::iterator::Signals::new(STOP)
        .map_err(|e| Exit::Other(70, format!("cannot catch Ctrl-C: {e}")))?;
    let (sender, receiver) = mpsc::channel();
    std::thread::Builder::new()
        .name("fusebox-watch-signals".into())
        .spawn(move || {
            for _ in signals.forever() {
                if sender.send(()).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| Exit::Other(70, format!("cannot catch Ctrl-C: {e}")))?;
    Ok(receiver)
}

/// One snapshot as it is written: read now, rendered whole, so it goes out
/// in one write.
fn frame(
    args: &StatusArgs,
    location: &Location,
    interval: Duration,
    terminal: bool,
    first: bool,
) -> String {
    let scanned = scan::scan(location, args.name.as_deref());
    if args.json {
        return format!("{}\n", json_line(args, location, scanned));
    }
    let mut text = String::new();
    if terminal {
        text.push_str(CLEAR);
    } else if !first {
        text.push('\n');
    }
    text.push_str(&format!(
        "{} at {}, every {} (Ctrl-C to stop)\n",
        place(location),
        clock_time(SystemTime::now()),
        every(interval),
    ));
    match scanned {
        Err(exit) => {
            text.push_str(&format!(
                "store unreachable: {}\n",
                clean::message(exit.message())
            ));
        }
        Ok(rows) if rows.is_empty() => {
            let why = match &args.name {
                Some(name) => missing(name, location),
                None => empty(location),
            };
            text.push_str(&format!("{why}\n"));
        }
        Ok(rows) => {
            let mut table = Vec::new();
            // Writing into memory cannot fail.
            let _ = print_table(&mut table, &rows);
            text.push_str(&String::from_utf8_lossy(&table));
            for (row, why) in rows
                .iter()
                .filter_map(|r| Some((r, r.view.as_ref().err()?)))
            {
                text.push_str(&format!("{}\n", unreadable(row, why)));
            }
        }
    }
    text
}

/// `--watch --json`: one line per snapshot, the rows as `status --json`
/// writes them, or `{"error": …}` while the store cannot be read.
fn json_line(args: &StatusArgs, location: &Location, scanned: Result<Vec<Row>, Exit>) -> Value {
    match scanned {
        Ok(rows) => match &args.name {
            Some(name) => match rows.first() {
                Some(row) => to_json(row),
                None => json!({ "error": missing(name, location) }),
            },
            None => Value::Array(rows.iter().map(to_json).collect()),
        },
        Err(exit) => json!({
            "error": format!("store unreachable: {}", clean::message(exit.message()))
        }),
    }
}

/// The interval as given: `100ms`, `2s`, `1m 30s`.
fn every(interval: Duration) -> String {
    if interval < Duration::from_secs(1) {
        format!("{}ms", interval.as_millis())
    } else {
        crate::human::duration(interval)
    }
}

/// `HH:MM:SS` in UTC: when the snapshot was read.
fn clock_time(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}
