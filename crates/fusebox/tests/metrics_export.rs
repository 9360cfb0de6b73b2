//! Feature `metrics`: every series moves through a trip, rejections, a
//! half-open probe and recovery, read by a debugging recorder.

use std::time::Duration;

use fusebox::{CircuitBreaker, ManualClock, Outcome, Policy, Registry, State};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;

/// One reading of the recorder. Reading resets what it read (counters to
/// 0, so an incremented counter reads what was added since the last
/// reading; an absolute one reads its value again once republished).
struct Reading(Vec<Series>);

/// Kind, metric name, sorted labels and value.
type Series = (MetricKind, String, Vec<(String, String)>, f64);

fn take(snapshotter: &Snapshotter) -> Reading {
    let series = snapshotter.snapshot().into_vec().into_iter();
    Reading(
        series
            .filter_map(|(key, _, _, value)| {
                let (kind, key) = key.into_parts();
                let mut labels: Vec<(String, String)> = key
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                labels.sort();
                let value = match value {
                    DebugValue::Counter(n) => n as f64,
                    DebugValue::Gauge(g) => g.into_inner(),
                    DebugValue::Histogram(_) => return None,
                };
                Some((kind, key.name().to_owned(), labels, value))
            })
            .collect(),
    )
}

/// The durations recorded for `name` since the last reading.
fn durations(snapshotter: &Snapshotter, name: &str) -> Vec<f64> {
    let series = snapshotter.snapshot().into_vec().into_iter();
    series
        .filter_map(|(key, _, _, value)| {
            let (_, key) = key.into_parts();
            let labelled = key.labels().any(|l| l.key() == "name" && l.value() == name);
            match value {
                DebugValue::Histogram(values)
                    if key.name() == "fusebox_call_duration_seconds" && labelled =>
                {
                    Some(
                        values
                            .into_iter()
                            .map(|v| v.into_inner())
                            .collect::<Vec<_>>(),
                    )
                }
                _ => None,
            }
        })
        .flatten()
        .collect()
}

impl Reading {
    /// The value of the series `metric` whose labels are exactly `labels`.
    fn get(&self, kind: MetricKind, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut wanted: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        wanted.sort();
        self.0
            .iter()
            .find(|(k, name, found, _)| *k == kind && name == metric && *found == wanted)
            .map(|(_, _, _, value)| *value)
    }

    fn calls(&self, name: &str, outcome: &str) -> Option<f64> {
        let labels = [("name", name), ("outcome", outcome)];
        self.get(MetricKind::Counter, "fusebox_calls_total", &labels)
    }

    fn rejections(&self, name: &str, state: &str) -> Option<f64> {
        let labels = [("name", name), ("state", state)];
        self.get(MetricKind::Counter, "fusebox_rejections_total", &labels)
    }

    fn transitions(&self, name: &str, from: &str, to: &str) -> Option<f64> {
        let labels = [("name", name), ("from", from), ("to", to)];
        self.get(MetricKind::Counter, "fusebox_transitions_total", &labels)
    }

    /// The states whose gauge reads 1 (all others must read 0), and the
    /// number of state gauges found.
    fn states(&self, name: &str) -> (Vec<State>, usize) {
        let mut on = Vec::new();
        let mut seen = 0;
        for state in State::ALL {
            let labels = [("name", name), ("state", state.as_str())];
            if let Some(value) = self.get(MetricKind::Gauge, "fusebox_state", &labels) {
                seen += 1;
                if value == 1.0 {
                    on.push(state);
                } else {
                    assert_eq!(value, 0.0, "gauge for {state}");
                }
            }
        }
        (on, seen)
    }
}

#[test]
fn every_series_moves_through_trip_rejection_probe_and_recovery() {
    let recorder = DebuggingRecorder::new();
    let s = recorder.snapshotter();
    let clock = ManualClock::new();
    metrics::with_local_recorder(&recorder, || {
        let b = CircuitBreaker::builder("payments")
            .failure_threshold(2)
            .recovery_timeout(Duration::from_secs(10))
            .half_open_max_calls(1)
            .clock(clock.clone())
            .build()
            .unwrap();

        // Nothing is published until asked.
        b.call(|| Ok::<_, ()>(())).unwrap();
        assert_eq!(take(&s).calls("payments", "success"), None);
        b.export_metrics();
        let read = take(&s);
        assert_eq!(read.calls("payments", "success"), Some(1.0));
        assert_eq!(read.states("payments"), (vec![State::Closed], 5));

        let _ = b.call_with(|_| Outcome::Ignored, || Err::<(), _>("not found"));
        drop(b.try_acquire().unwrap());
        for _ in 0..2 {
            let _ = b.call(|| Err::<(), _>("down"));
        }
        // Counted by the breaker; published, like everything, when asked.
        assert_eq!(take(&s).transitions("payments", "closed", "open"), None);
        b.export_metrics();
        let read = take(&s);
        assert_eq!(read.transitions("payments", "closed", "open"), Some(1.0));
        assert_eq!(read.states("payments"), (vec![State::Open], 5));

        for _ in 0..3 {
            assert!(b.call(|| Ok::<_, ()>(())).is_err());
        }
        clock.advance(Duration::from_secs(10));
        let probe = b.try_acquire().expect("the trial call passes");
        b.export_metrics();
        let read = take(&s);
        assert_eq!(read.transitions("payments", "open", "half_open"), Some(1.0));
        assert_eq!(read.states("payments"), (vec![State::HalfOpen], 5));
        assert!(b.try_acquire().is_err(), "the only trial slot is taken");
        probe.success();
        b.export_metrics();
        let read = take(&s);
        assert_eq!(
            read.transitions("payments", "half_open", "closed"),
            Some(1.0)
        );
        assert_eq!(read.states("payments"), (vec![State::Closed], 5));

        b.force_open();
        assert!(b.call(|| Ok::<_, ()>(())).is_err());
        b.export_metrics();
        let read = take(&s);
        assert_eq!(read.calls("payments", "success"), Some(2.0));
        assert_eq!(read.calls("payments", "failure"), Some(2.0));
        assert_eq!(read.calls("payments", "ignored"), Some(1.0));
        assert_eq!(read.calls("payments", "cancelled"), Some(1.0));
        assert_eq!(read.calls("payments", "slow"), Some(0.0));
        assert_eq!(read.rejections("payments", "open"), Some(3.0));
        assert_eq!(read.rejections("payments", "half_open"), Some(1.0));
        assert_eq!(read.rejections("payments", "forced_open"), Some(1.0));
        assert_eq!(
            read.transitions("payments", "closed", "forced_open"),
            Some(1.0)
        );
        assert_eq!(read.states("payments"), (vec![State::ForcedOpen], 5));

        // A reset clears the snapshot's counts, but counters never run back.
        b.reset();
        assert_eq!(b.metrics().successes, 0);
        b.export_metrics();
        let read = take(&s);
        assert_eq!(read.calls("payments", "success"), Some(2.0));
        assert_eq!(read.rejections("payments", "open"), Some(3.0));
        assert_eq!(
            read.transitions("payments", "forced_open", "closed"),
            Some(1.0)
        );
        assert_eq!(read.states("payments"), (vec![State::Closed], 5));
    });
}

#[test]
fn slow_calls_are_counted_and_registries_export_every_breaker() {
    let recorder = DebuggingRecorder::new();
    let s = recorder.snapshotter();
    let clock = ManualClock::new();
    metrics::with_local_recorder(&recorder, || {
        let registry = Registry::new().with_clock(clock.clone());
        let quick = registry.get_or_create("quick");
        let slow = CircuitBreaker::builder("slowpoke")
            .policy(Policy::slow_calls(Duration::from_secs(1), 1.0))
            .clock(clock.clone())
            .build()
            .unwrap();
        quick.call(|| Ok::<_, ()>(())).unwrap();
        slow.call(|| {
            clock.advance(Duration::from_secs(2));
            Ok::<_, ()>(())
        })
        .unwrap();
        slow.export_metrics();
        // Timed calls are recorded from the first export on.
        slow.call(|| {
            clock.advance(Duration::from_millis(250));
            Ok::<_, ()>(())
        })
        .unwrap();
        let durations = durations(&s, "slowpoke");
        assert_eq!(durations, [0.25]);
        slow.export_metrics();
        let read = take(&s);
        assert_eq!(read.calls("slowpoke", "slow"), Some(1.0));
        assert_eq!(read.calls("slowpoke", "success"), Some(2.0));
        assert_eq!(read.calls("quick", "success"), None);

        registry.export_metrics();
        let read = take(&s);
        assert_eq!(read.calls("quick", "success"), Some(1.0));
        assert_eq!(read.states("quick"), (vec![State::Closed], 5));
    });
}
