use std::time::Duration;

/// The calls a rate policy looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Window {
    /// The last `n` calls: a true sliding ring, so old successes leave the
    /// window as new calls arrive.
    Count(u32),
    /// The calls of the last `d`, kept in 10 buckets of `d / 10` each.
    Time(Duration),
}

impl Window {
    /// The last `n` calls.
    pub const fn count(n: u32) -> Window {
        Window::Count(n)
    }

    /// The calls of the last `d`.
    pub const fn time(d: Duration) -> Window {
        Window::Time(d)
    }
}

/// How long the breaker stays open, each time it opens.
///
/// # Default
///
/// [`Backoff::Fixed`]: always `recovery_timeout`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Backoff {
    /// Always `recovery_timeout`.
    Fixed,
    /// `recovery_timeout` stretched by a random share of up to half of
    /// it, each time the breaker opens: between `recovery_timeout` and
    /// 1.5 × `recovery_timeout`, so breakers of a fleet that opened
    /// together do not probe together. What `Backoff::Fixed.jitter(true)`
    /// gives, like resilience4j's randomized wait interval or Polly's
    /// constant backoff with jitter (never shorter than asked, though).
    FixedWithJitter {
        /// Seed of the jitter's random numbers, for reproducible tests;
        /// `None` seeds from the process's random state.
        seed: Option<u64>,
    },
    /// `recovery_timeout × multiplier^n` after the n-th consecutive re-open
    /// (a trial call failing), capped at `max`, and back to
    /// `recovery_timeout` once the breaker closes.
    Exponential {
        /// The longest open duration.
        max: Duration,
        /// Growth per re-open (at least 1; default 2).
        multiplier: f64,
        /// Full jitter: pick uniformly between `recovery_timeout` and the
        /// exponential value, so a fleet does not probe in lock-step.
        jitter: bool,
        /// Seed of the jitter's random numbers, for reproducible tests;
        /// `None` seeds from the process's random state.
        seed: Option<u64>,
    },
}

impl Backoff {
    /// Exponential growth up to `max`, multiplier 2, no jitter.
    pub const fn exponential(max: Duration) -> Backoff {
        Backoff::Exponential {
            max,
            multiplier: 2.0,
            jitter: false,
            seed: None,
        }
    }

    /// Sets the growth per re-open of an exponential backoff.
    #[must_use]
    pub const fn multiplier(self, value: f64) -> Backoff {
        match self {
            Backoff::Exponential {
                max, jitter, seed, ..
            } => Backoff::Exponential {
                max,
                multiplier: value,
                jitter,
                seed,
            },
            fixed => fixed,
        }
    }

    /// Turns jitter on or off: full jitter for an exponential backoff; for
    /// a fixed one, [`Backoff::FixedWithJitter`] (and back to
    /// [`Backoff::Fixed`] when turned off).
    #[must_use]
    pub const fn jitter(self, on: bool) -> Backoff {
        match self {
            Backoff::Exponential {
                max,
                multiplier,
                seed,
                ..
            } => Backoff::Exponential {
                max,
                multiplier,
                jitter: on,
                seed,
            },
            Backoff::Fixed if on => Backoff::FixedWithJitter { seed: None },
            Backoff::FixedWithJitter { seed } if on => Backoff::FixedWithJitter { seed },
            Backoff::Fixed | Backoff::FixedWithJitter { .. } => Backoff::Fixed,
        }
    }

    /// Seeds the jitter, so open durations repeat from run to run.
    #[must_use]
    pub const fn seed(self, value: u64) -> Backoff {
        match self {
            Backoff::Exponential {
                max,
                multiplier,
                jitter,
                ..
            } => Backoff::Exponential {
                max,
                multiplier,
                jitter,
                seed: Some(value),
            },
            Backoff::FixedWithJitter { .. } => Backoff::FixedWithJitter { seed: Some(value) },
            Backoff::Fixed => Backoff::Fixed,
        }
    }
}

/// A failure policy as a value: one of the three kinds below, or several
/// combined with [`or`](Policy::or) (whichever trips first opens the
/// breaker). Give it to [`Builder::policy`](crate::Builder::policy).
///
/// ```
/// use fusebox::{CircuitBreaker, Policy, Window};
/// use std::time::Duration;
///
/// let breaker = CircuitBreaker::builder("api")
///     .policy(
///         Policy::consecutive(5)
///             .or(Policy::failure_rate(0.5, Window::count(100), 20))
///             .or(Policy::slow_calls(Duration::from_secs(2), 0.8)),
///     )
///     .build()?;
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Policy {
    pub(crate) consecutive: Option<u32>,
    pub(crate) failure_rate: Option<(f64, Window, u32)>,
    pub(crate) slow_calls: Option<(Duration, f64)>,
}

impl Policy {
    /// `n` failures in a row open the breaker; a success resets the streak.
    pub const fn consecutive(n: u32) -> Policy {
        Policy {
            consecutive: Some(n),
            failure_rate: None,
            slow_calls: None,
        }
    }

    /// Opens when `window` holds at least `minimum_calls` calls and the
    /// share of failures among them is at least `threshold`.
    pub const fn failure_rate(threshold: f64, window: Window, minimum_calls: u32) -> Policy {
        Policy {
            consecutive: None,
            failure_rate: Some((threshold, window, minimum_calls)),
            slow_calls: None,
        }
    }

    /// Calls slower than `duration` are slow; opens when the share of slow
    /// calls in the window is at least `rate`.
    pub const fn slow_calls(duration: Duration, rate: f64) -> Policy {
        Policy {
            consecutive: None,
            failure_rate: None,
            slow_calls: Some((duration, rate)),
        }
    }

    /// Both policies: whichever trips first opens the breaker. Where both
    /// set the same policy, `other`'s settings win.
    #[must_use]
    pub const fn or(self, other: Policy) -> Policy {
        Policy {
            consecutive: match other.consecutive {
                Some(n) => Some(n),
                None => self.consecutive,
            },
            failure_rate: match other.failure_rate {
                Some(rate) => Some(rate),
                None => self.failure_rate,
            },
            slow_calls: match other.slow_calls {
                Some(slow) => Some(slow),
                None => self.slow_calls,
            },
        }
    }
}
