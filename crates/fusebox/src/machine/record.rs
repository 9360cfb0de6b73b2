//! The text form of a machine's state, as kept in a shared store.
//!
//! One line of `key=value` pairs after a version tag, readable with
//! `sqlite3` or `redis-cli`:
//! `fusebox/1 state=open gen=3 since=… until=… streak=0 ps=0 next=4 lf=… re=1 rng=… probes=`.
//! Settings are not stored: each process brings its own.

use super::{Machine, Probe, LOCAL_PROBE, MAX_GENERATION};
use crate::clock::{to_nanos, Nanos};
use crate::{Backoff, Reason, State};

const TAG: &str = "fusebox/1";

/// The longest open duration a record may claim for itself (a year).
const LONGEST_STORED_OPEN: Nanos = 365 * 86_400 * 1_000_000_000;

/// Fields every record has (`od`, `fsc` and `win` came later or are
/// optional).
const REQUIRED: [&str; 11] = [
    "state", "gen", "since", "until", "streak", "ps", "next", "lf", "re", "rng", "probes",
];

impl Machine {
    /// The shared part of the state, as text.
    pub(crate) fn encode(&self) -> String {
        let probes: Vec<String> = self
            .probes
            .iter()
            .map(|p| format!("{}@{}", p.id, p.deadline))
            .collect();
        let last_failure = self
            .last_failure
            .map_or_else(|| "-".to_owned(), |t| t.to_string());
        let window = self
            .window
            .as_ref()
            .map_or_else(|| "-".to_owned(), |w| w.encode());
        let mut text = format!(
            "{TAG} state={} gen={} since={} until={} od={} streak={} fsc={} ref={} why={} ps={} next={} lf={} re={} rng={} probes={} win={window}",
            self.state,
            self.generation,
            self.since,
            self.open_until,
            self.open_for,
            self.failure_streak,
            self.failures_since_closed,
            self.refusals,
            self.why.map_or_else(|| "-".to_owned(), encode_reason),
            self.probe_successes,
            self.next_probe,
            last_failure,
            self.reopens,
            self.rng,
            probes.join(","),
        );
        if !self.members.is_empty() {
            text.push_str(" mem=");
            text.push_str(&super::members::encode(&self.members));
        }
        text
    }

    /// Replaces the shared part of the state with `text`, keeping the
    /// settings. On error (a foreign or damaged value) nothing changes.
    ///
    /// Parsing is total: every input is either a state or an error, never a
    /// panic. Deadlines are bounded by the settings in force at `now` (a
    /// record from a process with a longer `probe_timeout`, or a damaged
    /// one, cannot keep this breaker open or half-open for longer than this
    /// process would), and times in the future are brought back to `now`.
    /// Unknown fields are skipped, so a newer writer may add some.
    pub(crate) fn decode(&mut self, text: &str, now: Nanos) -> Result<(), String> {
        let mut fields = text.split(' ');
        if fields.next() != Some(TAG) {
            return Err(format!(
                "not a fusebox state (expected it to start with {TAG:?})"
            ));
        }
        let mut next = Machine {
            settings: self.settings.clone(),
            state: State::Closed,
            generation: 0,
            since: 0,
            open_until: 0,
            open_for: 0,
            failure_streak: 0,
            failures_since_closed: 0,
            probe_successes: 0,
            probes: Vec::new(),
            next_probe: 1,
            last_failure: None,
            reopens: 0,
            rng: self.rng,
            why: None,
            refusals: 0,
            window: self.window.clone(),
            members: Vec::new(),
        };
        let mut seen: Vec<&str> = Vec::with_capacity(REQUIRED.len());
        for field in fields {
            let (key, value) = field
                .split_once('=')
                .ok_or_else(|| format!("field {field:?} is not key=value"))?;
            let number = || {
                value
                    .parse::<u64>()
                    .map_err(|_| format!("field {key} has a bad number {value:?}"))
            };
            let small = || {
                value
                    .parse::<u32>()
                    .map_err(|_| format!("field {key} has a bad number {value:?}"))
            };
            match key {
                "state" => {
                    next.state =
                        State::from_name(value).ok_or_else(|| format!("unknown state {value:?}"))?
                }
                "gen" => {
                    next.generation = number()?;
                    if next.generation > MAX_GENERATION {
                        return Err(format!("field gen is out of range: {value}"));
                    }
                }
                "since" => next.since = number()?,
                "until" => next.open_until = number()?,
                "od" => next.open_for = number()?,
                "streak" => next.failure_streak = small()?,
                "fsc" => next.failures_since_closed = number()?,
                "ref" => next.refusals = number()?,
                // An unknown reason (a newer writer's) is no reason to
                // refuse the state: it is shown as unknown.
                "why" => next.why = decode_reason(value),
                "ps" => next.probe_successes = small()?,
                // A stored id never carries the mark of a process's own
                // trial calls (whatever a foreign writer put there): the
                // outcome of a trial call the store admitted must reach it.
                "next" => next.next_probe = (number()? & !LOCAL_PROBE).max(1),
                "lf" => next.last_failure = if value == "-" { None } else { Some(number()?) },
                "re" => next.reopens = small()?,
                "rng" => next.rng = number()?.max(1),
                "probes" => {
                    next.probes.clear();
                    for probe in value.split(',').filter(|p| !p.is_empty()) {
                        let parsed = probe.split_once('@').and_then(|(id, deadline)| {
                            Some(Probe {
                                id: id.parse::<u64>().ok()? & !LOCAL_PROBE,
                                deadline: deadline.parse().ok()?,
                            })
                        });
                        next.probes
                            .push(parsed.ok_or_else(|| format!("bad probe {probe:?}"))?);
                    }
                }
                "mem" => next.members = super::members::decode(value)?,
                "win" if self.window.is_some() && value != "-" => {
                    // A fresh window, so text for another kind or size of
                    // window leaves it empty.
                    let fresh = Machine::new(self.settings.clone(), 0).window;
                    let fresh = fresh.expect("same settings, same window");
                    fresh.decode(value)?;
                    fresh.bound(now);
                    next.window = Some(fresh);
                }
                _ => {} // a newer writer's field
            }
            if let Some(required) = REQUIRED.iter().find(|r| **r == key) {
                if seen.contains(required) {
                    return Err(format!("field {key} appears twice"));
                }
                seen.push(required);
            }
        }
        if let Some(missing) = REQUIRED.iter().find(|r| !seen.contains(r)) {
            return Err(format!("field {missing} is missing"));
        }
        next.bound(now);
        if let Some(window) = &next.window {
            window.adopt(next.generation);
        }
        *self = next;
        Ok(())
    }

    /// Brings times read from a store within what this process's settings
    /// allow at `now`.
    fn bound(&mut self, now: Nanos) {
        self.since = self.since.min(now);
        self.last_failure = self.last_failure.map(|t| t.min(now));
        let longest_open = match self.settings.backoff {
            Backoff::Exponential { max, .. } => to_nanos(max).max(self.settings.open_duration),
            Backoff::FixedWithJitter { .. } => self
                .settings
                .open_duration
                .saturating_add(self.settings.open_duration / 2),
            _ => self.settings.open_duration,
        };
        // The writer's own open duration counts too (up to a year): a
        // reader with shorter settings must not cut its deadline short.
        let longest_open = longest_open.max(self.open_for.min(LONGEST_STORED_OPEN));
        self.open_until = self.open_until.min(now.saturating_add(longest_open));
        let lease = now.saturating_add(self.settings.probe_timeout);
        for probe in &mut self.probes {
            probe.deadline = probe.deadline.min(lease);
        }
        // Trial ids must stay unique: the next id is past every id in flight.
        let highest = self.probes.iter().map(|p| p.id).max().unwrap_or(0);
        if self.next_probe <= highest {
            self.next_probe = highest.wrapping_add(1).max(1);
        }
        // A member heard from "in the future" would never age out.
        for member in &mut self.members {
            member.seen = member.seen.min(now);
        }
        if self.state == State::Closed {
            self.failures_since_closed = self
                .failures_since_closed
                .max(u64::from(self.failure_streak));
        }
    }
}

/// A reason as one token of a record: `failures:5`, `rate:5/10`,
/// `slow:3/10`, `elapsed`, `probe_failed`, `probes_ok:2`, `forced_open`,
/// `disabled`, `reset`, `tripped`, `quorum:2/4`.
fn encode_reason(reason: Reason) -> String {
    match reason {
        Reason::ConsecutiveFailures(n) => format!("failures:{n}"),
        Reason::FailureRate { failures, calls } => format!("rate:{failures}/{calls}"),
        Reason::SlowCallRate { slow, calls } => format!("slow:{slow}/{calls}"),
        Reason::OpenTimeoutElapsed => "elapsed".to_owned(),
        Reason::ProbeFailed => "probe_failed".to_owned(),
        Reason::ProbesSucceeded(n) => format!("probes_ok:{n}"),
        Reason::ForcedOpen => "forced_open".to_owned(),
        Reason::Disabled => "disabled".to_owned(),
        Reason::Reset => "reset".to_owned(),
        Reason::Tripped => "tripped".to_owned(),
        Reason::Quorum { open, live } => format!("quorum:{open}/{live}"),
    }
}

/// The reason [`encode_reason`] wrote, or `None` for anything else.
fn decode_reason(token: &str) -> Option<Reason> {
    let pair = |text: &str| -> Option<(u64, u64)> {
        let (a, b) = text.split_once('/')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    let (kind, value) = token.split_once(':').unwrap_or((token, ""));
    Some(match kind {
        "failures" => Reason::ConsecutiveFailures(value.parse().ok()?),
        "rate" => {
            let (failures, calls) = pair(value)?;
            Reason::FailureRate { failures, calls }
        }
        "slow" => {
            let (slow, calls) = pair(value)?;
            Reason::SlowCallRate { slow, calls }
        }
        "elapsed" => Reason::OpenTimeoutElapsed,
        "probe_failed" => Reason::ProbeFailed,
        "probes_ok" => Reason::ProbesSucceeded(value.parse().ok()?),
        "forced_open" => Reason::ForcedOpen,
        "disabled" => Reason::Disabled,
        "reset" => Reason::Reset,
        "tripped" => Reason::Tripped,
        "quorum" => {
            let (open, live) = pair(value)?;
            Reason::Quorum {
                open: u32::try_from(open).ok()?,
                live: u32::try_from(live).ok()?,
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
