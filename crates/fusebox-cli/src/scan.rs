//! One scan of a store: every breaker's stored record, decoded by
//! fusebox's own machine into the numbers `status`, `status --watch` and the
//! dashboard show.
//!
//! Decoding goes through the core's record reader on a copy in memory, so
//! fields added to records later are read (or skipped) there, and a key or
//! value the machine does not understand becomes an `unreadable` row with
//! the reason, never an error for the whole scan.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fusebox::store::MemoryStore;
use fusebox::{CircuitBreaker, Metrics};
use serde_json::{json, Value};

use crate::store::{self, Location, Record};
use crate::{log, Exit};

/// Settings wide enough that no stored deadline is cut short when read:
/// a scan shows what the runs that wrote the state decided.
const WIDE: Duration = fusebox::Builder::MAX_DURATION;

/// One breaker as read.
pub(crate) struct Row {
    /// The name, as stored.
    pub(crate) name: String,
    /// Its numbers, or why its record cannot be read.
    pub(crate) view: Result<Metrics, String>,
}

/// Reads every breaker of the store at `location` (only `only`, when
/// given), without writing anything.
pub(crate) fn scan(location: &Location, only: Option<&str>) -> Result<Vec<Row>, Exit> {
    Ok(store::read(location, only)?
        .into_iter()
        .map(read_row)
        .collect())
}

/// Where the state is, for messages (a Redis password hidden: these
/// messages are printed as they are).
pub(crate) fn place(location: &Location) -> String {
    match location {
        Location::Sqlite { path, .. } => format!("state file {}", path.display()),
        Location::Redis { url } => format!("redis store {}", crate::clean::hide_passwords(url)),
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
pub(crate) fn unix_time(at: Instant) -> f64 {
    let ago = Instant::now().saturating_duration_since(at);
    SystemTime::now()
        .checked_sub(ago)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The JSON fields, one name each (documented in the README).
pub(crate) fn to_json(row: &Row) -> Value {
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
