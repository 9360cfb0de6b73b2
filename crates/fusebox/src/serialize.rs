//! `Serialize` for the values a service shows as JSON (feature `serde`).
//!
//! Shapes are chosen for readers other than Rust: states and reasons by
//! their stable snake-case names, durations as float seconds. Moments
//! (`Instant`s) have no meaning outside the process, so they are left out:
//! [`Metrics::time_in_state`] and [`Metrics::retry_after`] carry the useful
//! ages and waits.

use std::time::Duration;

use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;

use crate::{Metrics, Name, Reason, State, Transition};

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for Name {
    /// A string.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for State {
    /// The name given by [`State::as_str`], e.g. `"half_open"`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for Reason {
    /// An object with the snake-case `kind`, the counts it carries, and the
    /// human `message` of its `Display`: `{"kind": "consecutive_failures",
    /// "failures": 3, "message": "3 consecutive failures"}`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let message = self.to_string();
        let (kind, counts): (&str, &[(&'static str, u64)]) = match *self {
            Reason::ConsecutiveFailures(n) => {
                ("consecutive_failures", &[("failures", u64::from(n))])
            }
            Reason::FailureRate { failures, calls } => {
                ("failure_rate", &[("failures", failures), ("calls", calls)])
            }
            Reason::SlowCallRate { slow, calls } => {
                ("slow_call_rate", &[("slow", slow), ("calls", calls)])
            }
            Reason::OpenTimeoutElapsed => ("open_timeout_elapsed", &[]),
            Reason::ProbeFailed => ("probe_failed", &[]),
            Reason::ProbesSucceeded(n) => ("probes_succeeded", &[("successes", u64::from(n))]),
            Reason::ForcedOpen => ("forced_open", &[]),
            Reason::Disabled => ("disabled", &[]),
            Reason::Reset => ("reset", &[]),
            Reason::Tripped => ("tripped", &[]),
            Reason::Quorum { open, live } => (
                "quorum",
                &[("open", u64::from(open)), ("live", u64::from(live))],
            ),
        };
        let mut out = serializer.serialize_struct("Reason", 2 + counts.len())?;
        out.serialize_field("kind", kind)?;
        for (field, value) in counts {
            out.serialize_field(field, value)?;
        }
        out.serialize_field("message", &message)?;
        out.end()
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for Transition {
    /// `name`, `from`, `to`, `reason` and `generation`; the moment `at` is
    /// left out (an `Instant` means nothing outside the process).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Transition", 5)?;
        out.serialize_field("name", &self.name)?;
        out.serialize_field("from", &self.from)?;
        out.serialize_field("to", &self.to)?;
        out.serialize_field("reason", &self.reason)?;
        out.serialize_field("generation", &self.generation)?;
        out.end()
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for Metrics {
    /// Every field under its own name, durations as float seconds
    /// (`retry_after` is `null` when not rejecting), except
    /// `last_failure_time`, an `Instant`, which is left out.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Metrics", 16)?;
        out.serialize_field("name", &self.name)?;
        out.serialize_field("state", &self.state)?;
        out.serialize_field("generation", &self.generation)?;
        out.serialize_field("successes", &self.successes)?;
        out.serialize_field("failures", &self.failures)?;
        out.serialize_field("rejections", &self.rejections)?;
        out.serialize_field("ignored", &self.ignored)?;
        out.serialize_field("slow", &self.slow)?;
        out.serialize_field("cancelled", &self.cancelled)?;
        out.serialize_field("consecutive_failures", &self.consecutive_failures)?;
        out.serialize_field("failures_since_closed", &self.failures_since_closed)?;
        out.serialize_field("half_open_in_flight", &self.half_open_in_flight)?;
        out.serialize_field("failure_rate", &self.failure_rate)?;
        out.serialize_field("time_in_state", &seconds(self.time_in_state))?;
        out.serialize_field("retry_after", &self.retry_after.map(seconds))?;
        out.serialize_field("degraded", &self.degraded)?;
        out.end()
    }
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}
