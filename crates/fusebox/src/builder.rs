use std::sync::Arc;
use std::time::Duration;

use crate::breaker::Shared;
use crate::clock::{to_nanos, Clock};
use crate::intern::intern;
use crate::machine::{Machine, Settings};
use crate::transition::Listener;
use crate::{CircuitBreaker, ConfigError, Transition};

/// The most trial calls a half-open breaker may allow at once.
pub const MAX_HALF_OPEN_CALLS: u32 = 10_000;

/// Configures a [`CircuitBreaker`]; from [`CircuitBreaker::builder`].
///
/// # Default
///
/// | setting | default |
/// |---|---|
/// | `failure_threshold` | 5 consecutive failures |
/// | `recovery_timeout` | 30 s open before trial calls |
/// | `success_threshold` | 1 trial success closes |
/// | `half_open_max_calls` | 1 trial call at a time |
/// | `probe_timeout` | 60 s before a silent trial call is declared lost |
/// | `count_cancelled_as_failure` | `false` (a dropped permit is neutral) |
/// | `clock` | the system's monotonic clock |
#[derive(Clone)]
#[must_use = "a builder does nothing until build() is called"]
pub struct Builder {
    name: String,
    failure_threshold: u32,
    success_threshold: u32,
    half_open_max_calls: u32,
    recovery_timeout: Duration,
    probe_timeout: Duration,
    cancel_is_failure: bool,
    clock: Clock,
    listeners: Vec<Listener>,
}

impl Builder {
    pub(crate) fn new(name: &str) -> Builder {
        Builder {
            name: name.to_owned(),
            failure_threshold: 5,
            success_threshold: 1,
            half_open_max_calls: 1,
            recovery_timeout: Duration::from_secs(30),
            probe_timeout: Duration::from_secs(60),
            cancel_is_failure: false,
            clock: Clock::system(),
            listeners: Vec::new(),
        }
    }

    /// Opens after this many failures in a row (at least 1).
    pub fn failure_threshold(mut self, failures: u32) -> Self {
        self.failure_threshold = failures;
        self
    }

    /// Stays open this long before letting trial calls through (non-zero).
    pub fn recovery_timeout(mut self, timeout: Duration) -> Self {
        self.recovery_timeout = timeout;
        self
    }

    /// Closes after this many trial calls in a row succeed (at least 1).
    pub fn success_threshold(mut self, successes: u32) -> Self {
        self.success_threshold = successes;
        self
    }

    /// Lets at most this many trial calls run at once while half-open
    /// (1 to [`MAX_HALF_OPEN_CALLS`]).
    pub fn half_open_max_calls(mut self, calls: u32) -> Self {
        self.half_open_max_calls = calls;
        self
    }

    /// Frees the slot of a trial call that reports nothing within this time,
    /// so a hung call cannot keep the breaker half-open forever (non-zero).
    /// A late outcome of such a call is ignored.
    pub fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }

    /// Counts a permit dropped without an outcome (a cancelled future, a
    /// panic) as a failure instead of ignoring it.
    pub fn count_cancelled_as_failure(mut self, yes: bool) -> Self {
        self.cancel_is_failure = yes;
        self
    }

    /// Uses this clock instead of the system's; pass a
    /// [`ManualClock`](crate::ManualClock) in tests.
    pub fn clock(mut self, clock: impl Into<Clock>) -> Self {
        self.clock = clock.into();
        self
    }

    /// Calls `listener` after every transition, outside the breaker's lock.
    pub fn on_transition(mut self, listener: impl Fn(&Transition) + Send + Sync + 'static) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// Checks the settings and builds the breaker, closed.
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
        let settings = self.settings()?;
        let machine = Machine::new(settings, self.clock.now());
        let shared = Shared::new(intern(&self.name), machine, self.clock, self.listeners);
        Ok(CircuitBreaker::from_shared(shared))
    }

    fn settings(&self) -> Result<Settings, ConfigError> {
        if self.name.trim().is_empty() || self.name.chars().any(char::is_control) {
            return Err(ConfigError::new(
                "name",
                format!("{:?}", self.name),
                "must be non-empty text without control characters",
            ));
        }
        at_least_one("failure_threshold", self.failure_threshold)?;
        at_least_one("success_threshold", self.success_threshold)?;
        at_least_one("half_open_max_calls", self.half_open_max_calls)?;
        if self.half_open_max_calls > MAX_HALF_OPEN_CALLS {
            return Err(ConfigError::new(
                "half_open_max_calls",
                self.half_open_max_calls,
                format!("must be at most {MAX_HALF_OPEN_CALLS}"),
            ));
        }
        non_zero("recovery_timeout", self.recovery_timeout)?;
        non_zero("probe_timeout", self.probe_timeout)?;
        Ok(Settings {
            failure_threshold: self.failure_threshold,
            success_threshold: self.success_threshold,
            half_open_max_calls: self.half_open_max_calls,
            open_duration: to_nanos(self.recovery_timeout),
            probe_timeout: to_nanos(self.probe_timeout),
            cancel_is_failure: self.cancel_is_failure,
        })
    }
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("name", &self.name)
            .field("failure_threshold", &self.failure_threshold)
            .field("success_threshold", &self.success_threshold)
            .field("half_open_max_calls", &self.half_open_max_calls)
            .field("recovery_timeout", &self.recovery_timeout)
            .field("probe_timeout", &self.probe_timeout)
            .field("count_cancelled_as_failure", &self.cancel_is_failure)
            .field("listeners", &self.listeners.len())
            .finish()
    }
}

fn at_least_one(field: &str, value: u32) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::new(field, value, "must be at least 1"));
    }
    Ok(())
}

fn non_zero(field: &str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        return Err(ConfigError::new(field, "0s", "must be longer than zero"));
    }
    Ok(())
}

/// Converts seconds given as a float (from Python, a config file or the
/// command line) to a [`Duration`], refusing negative, zero, NaN and infinite
/// values with an error that names `field`.
pub fn duration_from_secs(field: &str, secs: f64) -> Result<Duration, ConfigError> {
    if !secs.is_finite() || secs <= 0.0 {
        return Err(ConfigError::new(
            field,
            secs,
            "must be a finite number of seconds greater than zero",
        ));
    }
    Duration::try_from_secs_f64(secs)
        .map_err(|_| ConfigError::new(field, secs, "is too large for a duration"))
}
