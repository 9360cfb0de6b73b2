//! `fusebox status [NAME] [--json]`
//!
//! Reads the stored state without writing anything (no file is created, no
//! state is moved on, nothing expired is swept), and shows every breaker it
//! can; a row it cannot read is shown as `unreadable` with the reason, and
//! never hides the others.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fusebox::store::MemoryStore;
use fusebox::{CircuitBreaker, Metrics, State};
use serde_json::{json, Value};

use crate::args::StatusArgs;
use crate::store::{self, Location, Record};
use crate::{human, log, Exit};

/// Settings wide enough that no stored deadline is cut short when read:
/// `status` shows what the runs that wrote the state decided.
const WIDE: Duration = fusebox::Builder::MAX_DURATION;

/// The longest name the table shows in full.
const NAME_WIDTH: usize = 48;

/// One breaker as read.
struct Row {
    name: String,
    view: Result<Metrics, String>,
}

pub(crate) fn status(args: StatusArgs) -> Result<u8, Exit> {
    if let Some(name) = &args.name {
        crate::breaker::check_name(name)?;
    }
    let location = store::locate(&args.breaker)?;
    let records = store::read(&location, args.name.as_deref())?;
    if let Some(name) = &args.name {
        if records.is_empty() {
            return Err(Exit::Other(
                1,
                format!(
                    "no breaker named '{}' in {}",
                    human::name(name, NAME_WIDTH),
                    place(&location)
                ),
            ));
        }
    }
    let rows: Vec<Row> = records.into_iter().map(read_row).collect();
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        let mut all: Vec<Value> = rows.iter().map(to_json).collect();
        let value = match args.name {
            Some(_) => all.swap_remove(0),
            None => Value::Array(all),
        };
        writeln!(out, "{value}")
    } else if rows.is_empty() {
        drop(out);
        eprintln!("fusebox: no breakers yet in {}", place(&location));
        Ok(())
    } else {
        print_table(&mut out, &rows)
    };
    // A reader that went away (`| head`) is not an error.
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Exit::Other(74, format!("cannot write the status: {e}")))
        }
        _ => {
            for row in &rows {
                if let Err(why) = &row.view {
                    eprintln!(
                        "fusebox: cannot read circuit '{}': {why}",
                        human::name(&row.name, NAME_WIDTH)
                    );
                }
            }
            Ok(0)
        }
    }
}

/// Where the state is, for messages.
fn place(location: &Location) -> String {
    match location {
        Location::Sqlite { path, .. } => format!("state file {}", path.display()),
        Location::Redis { url } => format!("redis store {url}"),
        Location::Memory => "the memory: store".to_owned(),
    }
}

/// Decodes a record with fusebox's own machine, on a copy in memory, so
/// reading it changes nothing in the store. A record the machine refuses is
/// reported through a warning, which is caught here and shown on its row.
fn read_row(record: Record) -> Row {
    let Record { name, text } = record;
    let view = text.and_then(|text| {
        let memory = MemoryStore::new();
        memory.put_raw(&name, &text);
        let breaker = CircuitBreaker::builder(&name)
            .recovery_timeout(stored_open_duration(&text).unwrap_or(WIDE))
            .probe_timeout(WIDE)
            .store(memory)
            .build()
            .map_err(|e| match e.field.as_str() {
                "name" => format!("its name is not a valid breaker name ({})", e.expected),
                field => format!(
                    "it cannot be read with {field} = {} ({})",
                    e.value, e.expected
                ),
            })?;
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let catcher = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_writer({
                let warnings = warnings.clone();
                move || Caught(warnings.clone())
            })
            .event_format(log::MessageOnly)
            .finish();
        let metrics = tracing::subscriber::with_default(catcher, || breaker.metrics());
        let warnings = warnings.lock().map(|w| w.clone()).unwrap_or_default();
        if warnings.is_empty() {
            Ok(metrics)
        } else {
            Err(refusal(&String::from_utf8_lossy(&warnings)))
        }
    });
    Row { name, view }
}

/// The open duration the writer stored (`od=`, in nanoseconds). Read with
/// it, a deadline further away than that (a wall clock that jumped back, a
/// damaged value) is bounded as every run bounds it, so `status` does not
/// show "retry in 1d" for a breaker the next run admits in 30s.
fn stored_open_duration(text: &str) -> Option<Duration> {
    text.split(' ')
        .find_map(|field| field.strip_prefix("od="))?
        .parse::<u64>()
        .ok()
        .filter(|&nanos| nanos > 0)
        .map(|nanos| Duration::from_nanos(nanos).min(WIDE))
}

/// Why the machine refused a record, from its warning
/// (`… was not fusebox's (WHY); it was reset`).
fn refusal(warning: &str) -> String {
    let why = warning
        .split_once("(")
        .and_then(|(_, rest)| rest.rsplit_once(')'))
        .map_or(warning.trim(), |(why, _)| why);
    format!("its stored state is not fusebox's: {why}")
}

/// Collects what a subscriber writes.
struct Caught(Arc<Mutex<Vec<u8>>>);

impl Write for Caught {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut all) = self.0.lock() {
            all.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Seconds since the Unix epoch of an `Instant` in the past.
fn unix_time(at: Instant) -> f64 {
    let ago = Instant::now().saturating_duration_since(at);
    SystemTime::now()
        .checked_sub(ago)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The JSON fields, one name each (documented in the README).
fn to_json(row: &Row) -> Value {
    let m = match &row.view {
        Ok(m) => m,
        Err(why) => {
            return json!({
                "name": row.name,
                "state": "unreadable",
                "error": why,
            })
        }
    };
    json!({
        "name": row.name,
        "state": m.state.as_str(),
        "failures": m.failures_since_closed,
        "consecutive_failures": m.consecutive_failures,
        "refusals": m.refusals_recorded,
        "reason": m.reason.map(|r| r.to_string()),
        "since": unix_time(Instant::now() - m.time_in_state),
        "time_in_state": m.time_in_state.as_secs_f64(),
        "retry_after": m.retry_after.map(|d| d.as_secs_f64()),
        "last_failure": m.last_failure_time.map(unix_time),
        "half_open_in_flight": m.half_open_in_flight,
        "generation": m.generation,
        "error": Value::Null,
    })
}

fn print_table(out: &mut impl Write, rows: &[Row]) -> std::io::Result<()> {
    let names: Vec<String> = rows
        .iter()
        .map(|r| human::name(&r.name, NAME_WIDTH))
        .collect();
    let width = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    writeln!(
        out,
        "{:<width$}  {:<11}  {:>8}  {:>8}  {:>7}  {:<10}  {:<13}  WHY",
        "NAME", "STATE", "FAILURES", "IN A ROW", "REFUSED", "SINCE", "RETRY IN"
    )?;
    for (row, name) in rows.iter().zip(&names) {
        let Ok(m) = &row.view else {
            writeln!(
                out,
                "{name:<width$}  {:<11}  {:>8}  {:>8}  {:>7}  {:<10}  {:<13}  see below",
                "unreadable", "-", "-", "-", "-", "-"
            )?;
            continue;
        };
        let retry = match (m.state, m.retry_after) {
            (State::Open, Some(after)) => human::duration(after),
            (State::HalfOpen, _) if m.half_open_in_flight > 0 => "trial running".to_owned(),
            (State::HalfOpen, _) => "now".to_owned(),
            (State::ForcedOpen, _) => "after reset".to_owned(),
            _ => "-".to_owned(),
        };
        let why = m.reason.map_or_else(|| "-".to_owned(), |r| r.to_string());
        writeln!(
            out,
            "{name:<width$}  {:<11}  {:>8}  {:>8}  {:>7}  {:<10}  {retry:<13}  {why}",
            m.state.as_str(),
            m.failures_since_closed,
            m.consecutive_failures,
            m.refusals_recorded,
            // Whole seconds down: "0s ago" just after a change.
            format!(
                "{} ago",
                human::duration(Duration::from_secs(m.time_in_state.as_secs()))
            ),
        )?;
    }
    Ok(())
}
