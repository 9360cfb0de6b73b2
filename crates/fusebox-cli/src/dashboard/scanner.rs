//! The one reader of the store: scans it, notices the transitions between
//! two scans, and renders the snapshot every viewer is sent.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::sync::{watch, Notify};
use tokio::time::MissedTickBehavior;

use super::prometheus::{self, Counts};
use super::snapshot::Snapshot;
use crate::clean;
use crate::scan::{self, to_json, Row};
use crate::store::Location;

/// Transitions kept per breaker for the page: the last few are what an
/// on-call engineer reads; older ones are in the services' logs.
const RECENT: usize = 5;

/// What the scanner remembers of one breaker between scans.
#[derive(Default)]
pub(super) struct Seen {
    /// Its state at the last scan (`unreadable` when its record was not).
    state: &'static str,
    /// Its generation at the last scan: a change with the same state on
    /// both sides (open, half-open, open again) is a transition too.
    generation: u64,
    /// The last transitions seen, newest first, at most [`RECENT`].
    recent: VecDeque<Value>,
    /// Transitions seen since the dashboard started, by (from, to).
    pub(super) transitions: BTreeMap<(&'static str, &'static str), u64>,
}

/// Reads the store, one scan per call, and remembers what it saw.
pub(super) struct Scanner {
    location: Arc<Location>,
    /// The store as the page names it (password hidden).
    store: String,
    interval: Duration,
    control: bool,
    /// Breakers of the last good scan, by name; only those, so what is
    /// kept is bounded by the store's size.
    seen: HashMap<String, Seen>,
    /// The rows of the last good scan, shown (marked stale by the error)
    /// while the store cannot be read.
    last_rows: Vec<Value>,
    counts: Counts,
}

impl Scanner {
    pub(super) fn new(location: Arc<Location>, interval: Duration, control: bool) -> Scanner {
        Scanner {
            store: scan::place(&location),
            location,
            interval,
            control,
            seen: HashMap::new(),
            last_rows: Vec::new(),
            counts: Counts::default(),
        }
    }

    /// The store as the page names it.
    pub(super) fn store(&self) -> &str {
        &self.store
    }

    /// Reads the store once and renders what every viewer gets.
    pub(super) fn scan(&mut self) -> Snapshot {
        self.counts.scans += 1;
        let at = unix_now();
        let (error, rows) = match scan::scan(&self.location, None) {
            Ok(rows) => {
                self.last_rows = self.observe(&rows, at);
                (None, Some(rows))
            }
            Err(exit) => {
                self.counts.failed_scans += 1;
                let why = clean::message(exit.message());
                (Some(format!("store unreachable: {why}")), None)
            }
        };
        let metrics = prometheus::render(rows.as_deref(), &self.seen, &self.counts);
        let json = json!({
            "scan": self.counts.scans,
            "at": at,
            "interval": self.interval.as_secs_f64(),
            "store": self.store,
            "control": self.control,
            "error": error,
            "breakers": self.last_rows,
        });
        Snapshot::new(self.counts.scans, json.to_string(), metrics)
    }

    /// Compares `rows` with the last scan: records the transitions between
    /// them, forgets breakers no longer stored, and returns the rows as the
    /// page reads them (each with its recent transitions).
    fn observe(&mut self, rows: &[Row], at: f64) -> Vec<Value> {
        let mut seen = HashMap::with_capacity(rows.len());
        let mut values = Vec::with_capacity(rows.len());
        for row in rows {
            let (state, generation, reason) = match &row.view {
                Ok(m) => (
                    m.state.as_str(),
                    m.generation,
                    m.reason.map(|r| r.to_string()),
                ),
                Err(_) => ("unreadable", 0, None),
            };
            let mut known = self.seen.remove(&row.name).unwrap_or_default();
            let moved = known.state != state || known.generation != generation;
            let readable = state != "unreadable" && known.state != "unreadable";
            if !known.state.is_empty() && moved && readable {
                known.recent.push_front(json!({
                    "from": known.state,
                    "to": state,
                    "at": at,
                    "reason": reason,
                    "generation": generation,
                }));
                known.recent.truncate(RECENT);
                *known.transitions.entry((known.state, state)).or_default() += 1;
            }
            known.state = state;
            known.generation = generation;
            let mut value = to_json(row);
            value["transitions"] = Value::Array(known.recent.iter().cloned().collect());
            values.push(value);
            seen.insert(row.name.clone(), known);
        }
        self.seen = seen;
        values
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Scans once per `interval` (and at once after a control action, which
/// `rescan` announces), publishing each snapshot on `snapshots`. A scan
/// that takes longer than the interval delays the next one rather than
/// letting scans pile up: never more than one scan per interval, plus one
/// per control action.
pub(super) async fn run(
    mut scanner: Scanner,
    interval: Duration,
    snapshots: watch::Sender<Arc<Snapshot>>,
    rescan: Arc<Notify>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = rescan.notified() => ticks.reset(),
        }
        // Reading SQLite or Redis blocks: off the server's thread.
        let scanned = tokio::task::spawn_blocking(move || {
            let snapshot = scanner.scan();
            (scanner, snapshot)
        })
        .await;
        match scanned {
            Ok((back, snapshot)) => {
                scanner = back;
                snapshots.send_replace(Arc::new(snapshot));
            }
            Err(e) => {
                // A page that silently stopped updating would mislead
                // whoever watches it: better no page.
                eprintln!("fusebox: the dashboard cannot read the store any more: {e}");
                std::process::exit(70);
            }
        }
    }
}
