use std::sync::Arc;
use std::time::Duration;

use crate::breaker::Shared;
use crate::clock::{to_nanos, Clock};
use crate::duration;
use crate::external::External;
use crate::fleet::Fleet;
use crate::machine::{Machine, RateSettings, Settings};
use crate::store::Store;
use crate::transition::Listener;
use crate::{Backoff, CircuitBreaker, ConfigError, Policy, Transition, Window};

/// The most trial calls a half-open breaker may allow at once.
pub const MAX_HALF_OPEN_CALLS: u32 = 10_000;

/// Configures a [`CircuitBreaker`]; from [`CircuitBreaker::builder`].
///
/// # Default
///
/// | setting | default |
/// |---|---|
/// | `failure_threshold` | 5 consecutive failures, unless a rate policy is chosen |
/// | `failure_rate` | off |
/// | `slow_calls` | off (then no clock is read per call) |
/// | `backoff` | [`Backoff::Fixed`] |
/// | `recovery_timeout` | 30 s open before trial calls |
/// | `success_threshold` | 1 trial success closes |
/// | `half_open_max_calls` | 1 trial call at a time |
/// | `probe_timeout` | 60 s before a silent trial call is declared lost |
/// | `count_cancelled_as_failure` | `false` (a dropped permit is neutral) |
/// | `clock` | the system's monotonic clock |
///
/// ```
/// use fusebox::{Backoff, CircuitBreaker};
/// use std::time::Duration;
///
/// let breaker = CircuitBreaker::builder("geocoder")
///     .failure_threshold(3)
///     .recovery_timeout(Duration::from_secs(10))
///     .backoff(Backoff::exponential(Duration::from_secs(300)).jitter(true))
///     .half_open_max_calls(2)
///     .success_threshold(2)
///     .build()?;
/// # let _ = breaker;
/// // Invalid settings are refused with the field and the value.
/// let error = CircuitBreaker::builder("geocoder").failure_threshold(0).build().unwrap_err();
/// assert_eq!(error.field, "failure_threshold");
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone)]
#[must_use = "a builder does nothing until build() is called"]
pub struct Builder {
    name: String,
    failure_threshold: Option<u32>,
    failure_rate: Option<f64>,
    window: Option<(Window, u32)>,
    slow_calls: Option<(Duration, f64)>,
    backoff: Backoff,
    success_threshold: u32,
    half_open_max_calls: u32,
    recovery_timeout: Duration,
    probe_timeout: Duration,
    cancel_is_failure: bool,
    enabled: bool,
    clock: Clock,
    listeners: Vec<Listener>,
    store: Option<Arc<dyn Store>>,
    fail_closed: bool,
    quorum: Option<crate::Quorum>,
}

impl Builder {
    /// The longest duration any setting accepts: 365 days. A longer
    /// recovery timeout, probe timeout, window, slow-call duration or
    /// backoff cap is refused with a [`ConfigError`], never capped.
    pub const MAX_DURATION: Duration = duration::MAX_DURATION;

    pub(crate) fn new(name: &str) -> Builder {
        Builder {
            name: name.to_owned(),
            failure_threshold: None,
            failure_rate: None,
            window: None,
            slow_calls: None,
            backoff: Backoff::Fixed,
            success_threshold: 1,
            half_open_max_calls: 1,
            recovery_timeout: Duration::from_secs(30),
            probe_timeout: Duration::from_secs(60),
            cancel_is_failure: false,
            enabled: true,
            clock: Clock::system(),
            listeners: Vec::new(),
            store: None,
            fail_closed: false,
            quorum: None,
        }
    }

    /// Opens after this many failures in a row (at least 1).
    ///
    /// This consecutive-failures policy is on by default (5) when no rate
    /// policy is chosen; set it explicitly to combine it with one.
    pub fn failure_threshold(mut self, failures: u32) -> Self {
        self.failure_threshold = Some(failures);
        self
    }

    /// Opens when at least `minimum_calls` calls are in `window` and the
    /// share of them that failed is at least `threshold` (0 < threshold ≤ 1).
    ///
    /// Combines with the other policies: whichever trips first opens the
    /// breaker. Ignored calls do not enter the window.
    pub fn failure_rate(mut self, threshold: f64, window: Window, minimum_calls: u32) -> Self {
        self.failure_rate = Some(threshold);
        self.sliding_window(window, minimum_calls)
    }

    /// The window the rate policies share, and the fewest calls it must hold
    /// before a rate can open the breaker (at least 1, and at most the size
    /// of a count window, which never holds more). [`failure_rate`](Self::failure_rate)
    /// sets it too; use this to size the window of a slow-call policy alone.
    pub fn sliding_window(mut self, window: Window, minimum_calls: u32) -> Self {
        self.window = Some((window, minimum_calls));
        self
    }

    /// Counts calls slower than `duration` as slow, and opens when the share
    /// of slow calls in the window is at least `rate` (0 < rate ≤ 1).
    ///
    /// Uses the [`sliding_window`](Self::sliding_window), by default the last
    /// 100 calls with a minimum of 100. Only with
    /// this policy on does the breaker read the clock around each call.
    pub fn slow_calls(mut self, duration: Duration, rate: f64) -> Self {
        self.slow_calls = Some((duration, rate));
        self
    }

    /// Sets the failure policy (or policies) at once; see [`Policy`].
    pub fn policy(mut self, policy: Policy) -> Self {
        if let Some(n) = policy.consecutive {
            self = self.failure_threshold(n);
        }
        if let Some((threshold, window, minimum_calls)) = policy.failure_rate {
            self = self.failure_rate(threshold, window, minimum_calls);
        }
        if let Some((duration, rate)) = policy.slow_calls {
            self = self.slow_calls(duration, rate);
        }
        self
    }

    /// How the open duration grows when trial calls keep failing.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Stays open this long before letting trial calls through (non-zero,
    /// at most [`MAX_DURATION`](Self::MAX_DURATION)).
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
    /// so a hung call cannot keep the breaker half-open forever (non-zero,
    /// at most [`MAX_DURATION`](Self::MAX_DURATION)).
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

    /// `false` builds the breaker [`Disabled`](crate::State::Disabled): it
    /// admits and counts every call until [`reset`](CircuitBreaker::reset).
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Uses this clock instead of the system's; pass a
    /// [`ManualClock`](crate::ManualClock) in tests.
    pub fn clock(mut self, clock: impl Into<Clock>) -> Self {
        self.clock = clock.into();
        self
    }

    /// Keeps the state in `store`, shared with every process that uses the
    /// same store and name. See [`crate::store`].
    pub fn store(self, store: impl Store) -> Self {
        self.shared_store(Arc::new(store))
    }

    /// Like [`store`](Self::store), for a store shared by several breakers.
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// While the store cannot be reached, reject calls instead of running
    /// on local state (the default, "fail open").
    pub fn fail_closed(mut self, yes: bool) -> Self {
        self.fail_closed = yes;
        self
    }

    /// Quorum mode for a store in fleet mode: each process trips on its own
    /// calls and opens only itself, and the breaker opens for the whole
    /// fleet when the [`Quorum`](crate::Quorum) is met.
    pub fn quorum(mut self, quorum: crate::Quorum) -> Self {
        self.quorum = Some(quorum);
        self
    }

    /// Calls `listener` after every transition, outside the breaker's lock.
    ///
    /// Listeners run in the order they were added, on the thread that made
    /// the transition; a listener may call the breaker.
    ///
    /// ```
    /// use fusebox::{CircuitBreaker, State};
    ///
    /// let breaker = CircuitBreaker::builder("ledger")
    ///     .failure_threshold(1)
    ///     .on_transition(|t| {
    ///         if t.to == State::Open {
    ///             eprintln!("page the on-call: {t}"); // circuit 'ledger' closed -> open: 1 failure
    ///         }
    ///     })
    ///     .build()?;
    /// let _ = breaker.call(|| Err::<(), _>("disk full"));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn on_transition(mut self, listener: impl Fn(&Transition) + Send + Sync + 'static) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// Checks the settings and builds the breaker, closed.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first invalid setting and its value: a
    /// threshold or call limit of 0, a rate outside (0, 1], a window or
    /// duration of zero or longer than [`Builder::MAX_DURATION`], a breaker
    /// name that is empty or holds control characters.
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
        let settings = self.settings()?;
        let (mut external, mut fleet) = (None, None);
        if let Some(store) = self.store {
            let interval = store.sync_interval();
            let exact = External::new(store, self.fail_closed, settings.clone());
            match interval {
                Some(interval) => fleet = Some(Fleet::new(exact, interval, self.quorum)),
                None => external = Some(exact),
            }
        }
        let machine = Machine::new(settings, self.clock.now());
        let shared = Shared::new(
            crate::Name::new(&self.name),
            machine,
            self.clock,
            self.listeners,
            external,
            fleet,
        );
        Ok(CircuitBreaker::from_shared(shared))
    }

    /// Checks the settings without building a breaker.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] [`build`](Self::build) would return.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.settings().map(drop)
    }

    fn settings(&self) -> Result<Settings, ConfigError> {
        if let Some(quorum) = &self.quorum {
            quorum.check()?;
            let interval = self.store.as_ref().and_then(|store| store.sync_interval());
            if let (Some(interval), Some(liveness)) = (interval, quorum.liveness) {
                if liveness < interval.saturating_mul(2) {
                    return Err(ConfigError::new(
                        "quorum liveness",
                        format!("{liveness:?}"),
                        format!(
                            "must be at least twice the store's sync interval ({interval:?}), \
                             or every process is forgotten between two of its synchronisations"
                        ),
                    ));
                }
            }
            if interval.is_none() {
                return Err(ConfigError::new(
                    "quorum",
                    format!("{quorum:?}"),
                    "needs a store in fleet mode (`sync_every`, or `?sync=` in its URL)",
                ));
            }
        }
        if !is_valid_name(&self.name) {
            return Err(ConfigError::new(
                "name",
                format!("{:?}", self.name),
                "must be non-empty text without control characters",
            ));
        }
        if let Some(threshold) = self.failure_threshold {
            at_least_one("failure_threshold", threshold)?;
        }
        at_least_one("success_threshold", self.success_threshold)?;
        at_least_one("half_open_max_calls", self.half_open_max_calls)?;
        if self.half_open_max_calls > MAX_HALF_OPEN_CALLS {
            return Err(ConfigError::new(
                "half_open_max_calls",
                self.half_open_max_calls,
                format!("must be at most {MAX_HALF_OPEN_CALLS}"),
            ));
        }
        positive_duration("recovery_timeout", self.recovery_timeout)?;
        positive_duration("probe_timeout", self.probe_timeout)?;
        let rates = self.rate_settings()?;
        self.check_backoff()?;
        let failure_threshold = match (self.failure_threshold, &rates) {
            (None, None) => Some(5),
            (explicit, _) => explicit,
        };
        Ok(Settings {
            failure_threshold,
            rates,
            backoff: self.backoff,
            success_threshold: self.success_threshold,
            half_open_max_calls: self.half_open_max_calls,
            open_duration: to_nanos(self.recovery_timeout),
            probe_timeout: to_nanos(self.probe_timeout),
            cancel_is_failure: self.cancel_is_failure,
            enabled: self.enabled,
        })
    }
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("name", &self.name)
            .field("failure_threshold", &self.failure_threshold)
            .field("failure_rate", &self.failure_rate)
            .field("sliding_window", &self.window)
            .field("slow_calls", &self.slow_calls)
            .field("backoff", &self.backoff)
            .field("success_threshold", &self.success_threshold)
            .field("half_open_max_calls", &self.half_open_max_calls)
            .field("recovery_timeout", &self.recovery_timeout)
            .field("probe_timeout", &self.probe_timeout)
            .field("count_cancelled_as_failure", &self.cancel_is_failure)
            .field("listeners", &self.listeners.len())
            .field("store", &self.store.as_ref().map(|s| s.describe()))
            .field("fail_closed", &self.fail_closed)
            .field("quorum", &self.quorum)
            .finish()
    }
}

impl Builder {
    fn rate_settings(&self) -> Result<Option<RateSettings>, ConfigError> {
        if self.failure_rate.is_none() && self.slow_calls.is_none() {
            return Ok(None);
        }
        if let Some(threshold) = self.failure_rate {
            share("failure_rate", threshold)?;
        }
        let (window, minimum_calls) = self.window.unwrap_or((Window::Count(100), 100));
        at_least_one("minimum_calls", minimum_calls)?;
        match window {
            Window::Count(n) => {
                at_least_one("window", n)?;
                if n > 1_000_000 {
                    return Err(ConfigError::new(
                        "window",
                        n,
                        "must be at most 1000000 calls",
                    ));
                }
                // A window never holds more than `n` calls, so a larger
                // minimum would keep the rate policies from ever tripping.
                if minimum_calls > n {
                    return Err(ConfigError::new(
                        "minimum_calls",
                        minimum_calls,
                        format!("must be at most the window's {n} calls"),
                    ));
                }
            }
            Window::Time(d) => {
                if d < Duration::from_millis(10) {
                    return Err(ConfigError::new(
                        "window",
                        format!("{d:?}"),
                        "must cover at least 10ms",
                    ));
                }
                within_maximum("window", d)?;
            }
        }
        let (slow_call, slow_rate) = match self.slow_calls {
            Some((duration, rate)) => {
                positive_duration("slow_call_duration", duration)?;
                share("slow_call_rate", rate)?;
                (Some(to_nanos(duration)), rate)
            }
            None => (None, 1.0),
        };
        Ok(Some(RateSettings {
            window,
            minimum_calls,
            failure_rate: self.failure_rate,
            slow_call,
            slow_rate,
        }))
    }

    fn check_backoff(&self) -> Result<(), ConfigError> {
        if let Backoff::Exponential {
            max, multiplier, ..
        } = self.backoff
        {
            within_maximum("backoff.max", max)?;
            if max < self.recovery_timeout {
                return Err(ConfigError::new(
                    "backoff.max",
                    format!("{max:?}"),
                    format!(
                        "must be at least recovery_timeout ({:?})",
                        self.recovery_timeout
                    ),
                ));
            }
            if !multiplier.is_finite() || multiplier < 1.0 {
                return Err(ConfigError::new(
                    "backoff.multiplier",
                    multiplier,
                    "must be a finite number of at least 1",
                ));
            }
        }
        Ok(())
    }
}

fn share(field: &str, value: f64) -> Result<(), ConfigError> {
    if !(value > 0.0 && value <= 1.0) {
        return Err(ConfigError::new(
            field,
            value,
            "must be a share greater than 0 and at most 1",
        ));
    }
    Ok(())
}

/// Whether a breaker may be called `name`: non-empty text without control
/// characters (names appear in logs, tables and store keys).
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.trim().is_empty() && !name.chars().any(char::is_control)
}

fn at_least_one(field: &str, value: u32) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::new(field, value, "must be at least 1"));
    }
    Ok(())
}

/// A duration setting: longer than zero and at most
/// [`Builder::MAX_DURATION`].
fn positive_duration(field: &str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        return Err(ConfigError::new(field, "0s", "must be longer than zero"));
    }
    within_maximum(field, value)
}

fn within_maximum(field: &str, value: Duration) -> Result<(), ConfigError> {
    duration::check_bounds(value)
        .map_err(|why| ConfigError::new(field, format!("{value:?}"), why.expected()))
}

/// Converts seconds given as a float (from Python, a config file or the
/// command line) to a [`Duration`], refusing negative, zero, NaN and infinite
/// values, and values over [`Builder::MAX_DURATION`] (365 days), with an
/// error that names `field` and the value.
///
/// # Errors
///
/// A [`ConfigError`] naming `field` and `secs` when `secs` is NaN,
/// infinite, not above zero, or longer than [`Builder::MAX_DURATION`].
pub fn duration_from_secs(field: &str, secs: f64) -> Result<Duration, ConfigError> {
    duration::from_secs(secs).map_err(|why| ConfigError::new(field, secs, why.expected()))
}
