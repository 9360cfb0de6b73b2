//! Publishing breakers through the [`metrics`](::metrics) facade (feature
//! `metrics`).
//!
//! A call must not pay for metrics: the closed path counts a success in the
//! calling thread's own cache line and nothing else. So calls are not
//! reported to the recorder one by one; instead
//! [`CircuitBreaker::export_metrics`] (or [`Registry::export_metrics`])
//! reads the breaker's own exact counts and publishes them as absolute
//! counter values, whenever the service asks: from its `/metrics` handler,
//! just before rendering, or from a periodic task. Transitions are counted
//! by the breaker as they are announced (no allocation: reporting a label
//! set to a recorder allocates) and published the same way.

use std::sync::OnceLock;

use ::metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Histogram,
    Unit,
};

use crate::counters::Count;
use crate::sync::{AtomicU64, Ordering};
use crate::{CircuitBreaker, Registry, State, Transition};

const CALLS: &str = "fusebox_calls_total";
const REJECTIONS: &str = "fusebox_rejections_total";
const TRANSITIONS: &str = "fusebox_transitions_total";
const STATE: &str = "fusebox_state";
const DURATION: &str = "fusebox_call_duration_seconds";

/// The `outcome` label of each call count.
const OUTCOMES: [(Count, &str); 5] = [
    (Count::Success, "success"),
    (Count::Failure, "failure"),
    (Count::Ignored, "ignored"),
    (Count::Cancelled, "cancelled"),
    (Count::Slow, "slow"),
];

impl CircuitBreaker {
    /// Publishes this breaker's counts and state to the installed
    /// [`metrics`](::metrics) recorder.
    ///
    /// Call it where the numbers are read: in the handler that renders the
    /// `/metrics` page, or every few seconds from a background task. It
    /// takes the breaker's lock once, like [`metrics`](Self::metrics); calls
    /// themselves never touch the recorder.
    ///
    /// | metric | kind | labels |
    /// |---|---|---|
    /// | `fusebox_calls_total` | counter | `name`, `outcome` (`success`, `failure`, `ignored`, `cancelled`, `slow`) |
    /// | `fusebox_rejections_total` | counter | `name`, `state` (`open`, `half_open`, `forced_open`) |
    /// | `fusebox_transitions_total` | counter | `name`, `from`, `to` (pairs that happened) |
    /// | `fusebox_state` | gauge | `name`, `state`: 1 for the current state, 0 for the others |
    /// | `fusebox_call_duration_seconds` | histogram | `name`; only with a slow-call policy, whose calls are timed anyway |
    ///
    /// Counters count from the breaker's creation and never run backwards, not
    /// even on [`reset`](CircuitBreaker::reset) (unlike [`Metrics`](crate::Metrics),
    /// which counts since the last reset). A slow call is also a success or a
    /// failure: `slow` counts calls, not a separate outcome. Transitions are
    /// those this process announced (for a breaker in a shared store, the
    /// ones its own calls made). Call durations are recorded as calls end,
    /// into the histogram registered by the first `export_metrics` (with
    /// the recorder installed then): durations of calls before it are not
    /// recorded, and no call allocates. Two breakers with
    /// the same name publish to the same series: give each its own name (a
    /// [`Registry`] does).
    ///
    /// # Example
    ///
    /// ```
    /// use fusebox::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("payments").build()?;
    /// breaker.call(|| Ok::<_, ()>(())).unwrap();
    /// // With a recorder installed (e.g. metrics-exporter-prometheus), this
    /// // sets fusebox_calls_total{name="payments",outcome="success"} to 1.
    /// breaker.export_metrics();
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn export_metrics(&self) {
        describe();
        let snapshot = self.metrics();
        let totals = self.shared().lifetime_totals();
        let name = self.name().to_owned();
        for (kind, outcome) in OUTCOMES {
            counter!(CALLS, "name" => name.clone(), "outcome" => outcome)
                .absolute(totals.get(kind));
        }
        for (kind, state) in Count::REJECTIONS {
            counter!(REJECTIONS, "name" => name.clone(), "state" => state.as_str())
                .absolute(totals.get(kind));
        }
        let transitions = &self.shared().transitions;
        for from in State::ALL {
            for to in State::ALL {
                let count = transitions.get(from, to);
                if count > 0 {
                    counter!(
                        TRANSITIONS,
                        "name" => name.clone(),
                        "from" => from.as_str(),
                        "to" => to.as_str()
                    )
                    .absolute(count);
                }
            }
        }
        set_state(&name, snapshot.state);
        if self.shared().times_calls() {
            let durations = &self.shared().call_durations;
            durations
                .0
                .get_or_init(|| histogram!(DURATION, "name" => name.clone()));
        }
    }
}

impl Registry {
    /// Publishes every breaker of the registry, as
    /// [`CircuitBreaker::export_metrics`] does for one.
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn export_metrics(&self) {
        for breaker in self.breakers() {
            breaker.export_metrics();
        }
    }
}

/// Transitions announced by one breaker, by from and to state.
#[derive(Default)]
pub(crate) struct TransitionCounts([[AtomicU64; State::ALL.len()]; State::ALL.len()]);

impl TransitionCounts {
    /// Counts `transition`; run as it is announced.
    pub(crate) fn add(&self, transition: &Transition) {
        let cell = &self.0[index(transition.from)][index(transition.to)];
        cell.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self, from: State, to: State) -> u64 {
        self.0[index(from)][index(to)].load(Ordering::Relaxed)
    }
}

fn index(state: State) -> usize {
    state.to_bits() as usize
}

/// The histogram timed calls of one breaker record into, registered by the
/// first export: registering a labelled series allocates, so calls only
/// ever use a handle made before them.
#[derive(Default)]
pub(crate) struct CallDurations(OnceLock<Histogram>);

impl CallDurations {
    /// Records one call's duration, if an exporter has run.
    pub(crate) fn record(&self, nanos: u64) {
        if let Some(histogram) = self.0.get() {
            histogram.record(nanos as f64 / 1e9);
        }
    }
}

fn set_state(name: &str, current: State) {
    for state in State::ALL {
        let value = if state == current { 1.0 } else { 0.0 };
        gauge!(STATE, "name" => name.to_owned(), "state" => state.as_str()).set(value);
    }
}

fn describe() {
    describe_counter!(
        CALLS,
        Unit::Count,
        "Calls that ran through a circuit breaker, by outcome."
    );
    describe_counter!(
        REJECTIONS,
        Unit::Count,
        "Calls a circuit breaker refused, by the refusing state."
    );
    describe_counter!(TRANSITIONS, Unit::Count, "Circuit breaker state changes.");
    describe_histogram!(
        DURATION,
        Unit::Seconds,
        "Durations of calls timed by a slow-call policy."
    );
    describe_gauge!(
        STATE,
        "1 for the state a circuit breaker is in, 0 for the others."
    );
}
