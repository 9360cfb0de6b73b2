//! `/metrics`: what a scan of the store knows, as Prometheus text, under
//! the names of the core's `metrics` feature where the meaning is the same.
//!
//! | metric | kind | labels | meaning |
//! |---|---|---|---|
//! | `fusebox_state` | gauge | `name`, `state` | 1 for the state the store holds, 0 for the others |
//! | `fusebox_transitions_total` | counter | `name`, `from`, `to` | transitions this dashboard saw between two scans |
//! | `fusebox_failures_since_closed` | gauge | `name` | failures since the breaker last closed |
//! | `fusebox_consecutive_failures` | gauge | `name` | the current run of failures while closed |
//! | `fusebox_refusals_recorded` | gauge | `name` | refusals recorded in the store since it last closed |
//! | `fusebox_half_open_in_flight` | gauge | `name` | trial calls running now |
//! | `fusebox_retry_after_seconds` | gauge | `name` | while open: until trial calls may pass |
//! | `fusebox_unreadable` | gauge | `name` | 1: the key under the prefix holds no state fusebox can read |
//! | `fusebox_dashboard_scans_total` | counter | | scans of the store made |
//! | `fusebox_dashboard_scan_errors_total` | counter | | scans that could not read the store |
//! | `fusebox_dashboard_store_up` | gauge | | 1 if the last scan read the store |
//!
//! `fusebox_calls_total` and `fusebox_rejections_total` are not here: the
//! store keeps no lifetime count of calls, so each process exports its own
//! (`CircuitBreaker::export_metrics`). While the store cannot be read,
//! only the `fusebox_dashboard_*` series are written, so no stale state is
//! scraped as current.

use std::collections::HashMap;
use std::fmt::Write;

use fusebox::{Metrics, State};

use super::scanner::Seen;
use crate::scan::Row;

/// One number of a breaker's metrics, if it has one now.
type Gauge = fn(&Metrics) -> Option<f64>;

/// The dashboard's own numbers.
#[derive(Default)]
pub(super) struct Counts {
    /// Scans of the store made so far.
    pub(super) scans: u64,
    /// Scans that could not read the store.
    pub(super) failed_scans: u64,
}

/// The text of `/metrics` after a scan: `rows` as read (`None`: the store
/// could not be read), the transitions `seen`, and the dashboard's counts.
pub(super) fn render(
    rows: Option<&[Row]>,
    seen: &HashMap<String, Seen>,
    counts: &Counts,
) -> String {
    let mut out = String::new();
    if let Some(rows) = rows {
        let readable: Vec<(&str, &Metrics)> = rows
            .iter()
            .filter_map(|r| Some((r.name.as_str(), r.view.as_ref().ok()?)))
            .collect();
        head(
            &mut out,
            "fusebox_state",
            "gauge",
            "1 for the breaker's state in the store, 0 for the others.",
        );
        for (name, m) in &readable {
            for state in State::ALL {
                let on = u8::from(m.state == state);
                let _ = writeln!(
                    out,
                    "fusebox_state{{name=\"{}\",state=\"{}\"}} {on}",
                    label(name),
                    state.as_str()
                );
            }
        }
        head(
            &mut out,
            "fusebox_transitions_total",
            "counter",
            "Transitions seen between two scans since the dashboard started.",
        );
        for row in rows {
            let Some(known) = seen.get(&row.name) else {
                continue;
            };
            for ((from, to), count) in &known.transitions {
                let _ = writeln!(
                    out,
                    "fusebox_transitions_total{{name=\"{}\",from=\"{from}\",to=\"{to}\"}} {count}",
                    label(&row.name)
                );
            }
        }
        let gauges: [(&str, &str, Gauge); 5] = [
            (
                "fusebox_failures_since_closed",
                "Failures since the breaker last closed.",
                |m| Some(m.failures_since_closed as f64),
            ),
            (
                "fusebox_consecutive_failures",
                "The current run of failures while closed.",
                |m| Some(f64::from(m.consecutive_failures)),
            ),
            (
                "fusebox_refusals_recorded",
                "Refusals recorded in the store since the breaker last closed.",
                |m| Some(m.refusals_recorded as f64),
            ),
            (
                "fusebox_half_open_in_flight",
                "Trial calls running now.",
                |m| Some(f64::from(m.half_open_in_flight)),
            ),
            (
                "fusebox_retry_after_seconds",
                "Seconds until trial calls may pass.",
                |m| m.retry_after.map(|d| d.as_secs_f64()),
            ),
        ];
        for (metric, help, value) in gauges {
            head(&mut out, metric, "gauge", help);
            for (name, m) in &readable {
                if let Some(v) = value(m) {
                    let _ = writeln!(out, "{metric}{{name=\"{}\"}} {v}", label(name));
                }
            }
        }
        head(
            &mut out,
            "fusebox_unreadable",
            "gauge",
            "1: a key under the prefix holds no state fusebox can read.",
        );
        for row in rows.iter().filter(|r| r.view.is_err()) {
            let _ = writeln!(out, "fusebox_unreadable{{name=\"{}\"}} 1", label(&row.name));
        }
    }
    head(
        &mut out,
        "fusebox_dashboard_scans_total",
        "counter",
        "Scans of the store made.",
    );
    let _ = writeln!(out, "fusebox_dashboard_scans_total {}", counts.scans);
    head(
        &mut out,
        "fusebox_dashboard_scan_errors_total",
        "counter",
        "Scans that could not read the store.",
    );
    let _ = writeln!(
        out,
        "fusebox_dashboard_scan_errors_total {}",
        counts.failed_scans
    );
    head(
        &mut out,
        "fusebox_dashboard_store_up",
        "gauge",
        "1 if the last scan read the store.",
    );
    let _ = writeln!(
        out,
        "fusebox_dashboard_store_up {}",
        u8::from(rows.is_some())
    );
    out
}

fn head(out: &mut String, metric: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} {kind}");
}

/// A label value as the text format writes it: `\`, `"` and line feeds
/// escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(label("a\nb"), "a\\nb");
    }
}
