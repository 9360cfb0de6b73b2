use std::time::Duration;

/// The calls a rate policy looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
            Backoff::Fixed => Backoff::Fixed,
        }
    }

    /// Turns full jitter on or off for an exponential backoff.
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
            Backoff::Fixed => Backoff::Fixed,
        }
    }

    /// Seeds the jitter, so open durations repeat from run to run.
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
            Backoff::Fixed => Backoff::Fixed,
        }
    }
}
