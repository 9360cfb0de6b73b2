//! Retries with exponential backoff and jitter, through a breaker.
//!
//! Each attempt goes through the breaker, so failures count toward its
//! policy; as soon as the breaker rejects an attempt, retrying stops. If any
//! attempt ran, the last attempt's own error is returned, else the
//! rejection.
//!
//! ```
//! use fusebox::{retry::Retry, CircuitBreaker, Error};
//! use std::time::Duration;
//!
//! let breaker = CircuitBreaker::builder("pypi").failure_threshold(10).build()?;
//! let retry = Retry::new(5, Duration::from_millis(100), Duration::from_secs(30))?.jitter(true);
//! let mut attempts = 0;
//! let mut slept = Vec::new();
//! let result = retry.call_with_sleep(&breaker, || {
//!     attempts += 1;
//!     if attempts < 3 { Err("timeout") } else { Ok(attempts) }
//! }, |d| slept.push(d));  // `retry.call(...)` sleeps the thread instead
//! assert_eq!(result, Ok(3));
//! assert_eq!(slept.len(), 2);
//! # Ok::<(), fusebox::ConfigError>(())
//! ```

use std::future::Future;
use std::time::Duration;

use crate::{CircuitBreaker, ConfigError, Error};

/// A retry policy: up to `max_attempts` attempts, waiting
/// `base_delay × 2^n` (capped at `max_delay`, with optional full jitter)
/// between them.
///
/// # Default
///
/// 3 attempts, 100 ms base delay, 10 s cap, no jitter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Retry {
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    jitter: bool,
    seed: u64,
}

impl Default for Retry {
    fn default() -> Self {
        Retry::unchecked(3, Duration::from_millis(100), Duration::from_secs(10))
    }
}

impl Retry {
    /// Up to `max_attempts` attempts, delays from `base_delay` doubling up
    /// to `max_delay`.
    ///
    /// Refuses, with a [`ConfigError`] naming the setting, `max_attempts`
    /// of 0 (there would be nothing to return), a `max_delay` below
    /// `base_delay`, and delays longer than
    /// [`Builder::MAX_DURATION`](crate::Builder::MAX_DURATION) (365 days).
    /// A zero delay is allowed: the attempts then follow each other at once.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] described above.
    pub fn new(
        max_attempts: u32,
        base_delay: Duration,
        max_delay: Duration,
    ) -> Result<Retry, ConfigError> {
        if max_attempts == 0 {
            return Err(ConfigError::new("max_attempts", 0, "must be at least 1"));
        }
        for (field, delay) in [("base_delay", base_delay), ("max_delay", max_delay)] {
            crate::duration::check_bounds(delay)
                .map_err(|why| ConfigError::new(field, format!("{delay:?}"), why.expected()))?;
        }
        if max_delay < base_delay {
            return Err(ConfigError::new(
                "max_delay",
                format!("{max_delay:?}"),
                format!("must be at least base_delay ({base_delay:?})"),
            ));
        }
        Ok(Retry::unchecked(max_attempts, base_delay, max_delay))
    }

    const fn unchecked(max_attempts: u32, base_delay: Duration, max_delay: Duration) -> Retry {
        Retry {
            max_attempts,
            base_delay,
            max_delay,
            jitter: false,
            seed: 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// Full jitter: each delay is uniform between zero and its exponential value.
    #[must_use]
    pub const fn jitter(mut self, on: bool) -> Retry {
        self.jitter = on;
        self
    }

    /// Seeds the jitter, for reproducible delays.
    #[must_use]
    pub const fn seed(mut self, seed: u64) -> Retry {
        self.seed = seed | 1;
        self
    }

    /// The delays between attempts, in order (one fewer than the attempts).
    pub fn delays(&self) -> impl Iterator<Item = Duration> {
        let mut rng = self.seed | 1;
        let (base, max, jitter) = (self.base_delay, self.max_delay, self.jitter);
        (0..self.max_attempts.saturating_sub(1)).map(move |n| {
            let exp = base.saturating_mul(1u32 << n.min(31)).min(max);
            if !jitter {
                return exp;
            }
            rng ^= rng >> 12;
            rng ^= rng << 25;
            rng ^= rng >> 27;
            let unit = (rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
            exp.mul_f64(unit)
        })
    }

    /// Runs `f` through `breaker` until it succeeds, the attempts run out,
    /// or the breaker rejects; sleeps the thread between attempts.
    ///
    /// # Errors
    ///
    /// The last attempt's own error ([`Error::Inner`]) once every attempt
    /// failed, or as soon as the breaker refuses a retry; [`Error::Open`] when
    /// it refused the first attempt, so nothing ran.
    pub fn call<T, E>(
        &self,
        breaker: &CircuitBreaker,
        f: impl FnMut() -> Result<T, E>,
    ) -> Result<T, Error<E>> {
        self.call_with_sleep(breaker, f, std::thread::sleep)
    }

    /// Like [`call`](Self::call), waiting with `sleep` (tests pass one that
    /// records the delay instead).
    ///
    /// # Errors
    ///
    /// The last attempt's own error ([`Error::Inner`]) once every attempt
    /// failed, or as soon as the breaker refuses a retry; [`Error::Open`] when
    /// it refused the first attempt, so nothing ran.
    pub fn call_with_sleep<T, E>(
        &self,
        breaker: &CircuitBreaker,
        mut f: impl FnMut() -> Result<T, E>,
        mut sleep: impl FnMut(Duration),
    ) -> Result<T, Error<E>> {
        let mut delays = self.delays();
        let mut last = None;
        loop {
            match breaker.call(&mut f) {
                Ok(value) => return Ok(value),
                Err(Error::Inner(e)) => last = Some(e),
                Err(Error::Open(rejected)) => {
                    return Err(last.map_or(Error::Open(rejected), Error::Inner))
                }
            }
            match delays.next() {
                Some(delay) => sleep(delay),
                None => return Err(Error::Inner(last.expect("an attempt ran"))),
            }
        }
    }

    /// The async form: `sleep` makes the future that waits (e.g.
    /// `tokio::time::sleep`), so no runtime is tied to fusebox.
    ///
    /// # Errors
    ///
    /// The last attempt's own error ([`Error::Inner`]) once every attempt
    /// failed, or as soon as the breaker refuses a retry; [`Error::Open`] when
    /// it refused the first attempt, so nothing ran.
    pub async fn call_async<T, E, F, Fut, S, SleepFut>(
        &self,
        breaker: &CircuitBreaker,
        mut f: F,
        mut sleep: S,
    ) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        S: FnMut(Duration) -> SleepFut,
        SleepFut: Future<Output = ()>,
    {
        let mut delays = self.delays();
        let mut last = None;
        loop {
            match breaker.call_async(&mut f).await {
                Ok(value) => return Ok(value),
                Err(Error::Inner(e)) => last = Some(e),
                Err(Error::Open(rejected)) => {
                    return Err(last.map_or(Error::Open(rejected), Error::Inner))
                }
            }
            match delays.next() {
                Some(delay) => sleep(delay).await,
                None => return Err(Error::Inner(last.expect("an attempt ran"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::State;

    fn breaker(threshold: u32) -> CircuitBreaker {
        CircuitBreaker::builder("retry")
            .failure_threshold(threshold)
            .build()
            .unwrap()
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let retry = Retry::new(6, Duration::from_secs(1), Duration::from_secs(5)).unwrap();
        let delays: Vec<_> = retry.delays().map(|d| d.as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
        let jittered: Vec<_> = retry.jitter(true).seed(3).delays().collect();
        assert_eq!(
            jittered,
            retry.jitter(true).seed(3).delays().collect::<Vec<_>>()
        );
        for (d, cap) in jittered.iter().zip([1, 2, 4, 5, 5]) {
            assert!(*d <= Duration::from_secs(cap));
        }
    }

    #[test]
    fn gives_up_after_max_attempts_with_the_last_error() {
        let retry = Retry::new(3, Duration::from_millis(1), Duration::from_millis(4)).unwrap();
        let mut n = 0;
        let mut slept = vec![];
        let result = retry.call_with_sleep(
            &breaker(100),
            || {
                n += 1;
                Err::<(), _>(n)
            },
            |d| slept.push(d),
        );
        assert_eq!(result, Err(Error::Inner(3)));
        assert_eq!(slept, [Duration::from_millis(1), Duration::from_millis(2)]);
    }

    #[test]
    fn stops_as_soon_as_the_breaker_rejects() {
        let b = breaker(2);
        let retry = Retry::new(10, Duration::from_millis(1), Duration::from_millis(1)).unwrap();
        let mut n = 0;
        let result = retry.call_with_sleep(
            &b,
            || {
                n += 1;
                Err::<(), _>(n)
            },
            |_| {},
        );
        assert_eq!(result, Err(Error::Inner(2)), "the last attempt's error");
        assert_eq!(b.state(), State::Open);
        let result = retry.call_with_sleep(&b, || Ok::<_, u32>(()), |_| {});
        assert!(matches!(result, Err(Error::Open(_))), "no attempt ran");
    }
}
