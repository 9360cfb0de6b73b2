//! Breaker settings as plain data, as read from a configuration file or
//! given to a [`Registry`](crate::Registry) as defaults and overrides.

use std::time::Duration;

use crate::{Backoff, Builder, Window};

/// Settings of one breaker, every one optional; unset ones fall back to the
/// defaults of a [`Registry`](crate::Registry), then to those of
/// [`Builder`].
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "config", derive(serde::Deserialize))]
#[cfg_attr(feature = "config", serde(deny_unknown_fields))]
#[non_exhaustive]
pub struct BreakerConfig {
    /// `false` builds the breaker [`Disabled`](crate::State::Disabled).
    pub enabled: Option<bool>,
    /// Consecutive failures that open the breaker.
    #[cfg_attr(
        feature = "config",
        serde(default, deserialize_with = "crate::config::de::count")
    )]
    pub failure_threshold: Option<u32>,
    /// How long the breaker stays open.
    #[cfg_attr(
        feature = "config",
        serde(default, deserialize_with = "crate::config::de::duration")
    )]
    pub recovery_timeout: Option<Duration>,
    /// Trial successes in a row that close the breaker.
    #[cfg_attr(
        feature = "config",
        serde(default, deserialize_with = "crate::config::de::count")
    )]
    pub success_threshold: Option<u32>,
    /// Trial calls allowed at once while half-open.
    #[cfg_attr(
        feature = "config",
        serde(default, deserialize_with = "crate::config::de::count")
    )]
    pub half_open_max_calls: Option<u32>,
    /// How long a silent trial call keeps its slot.
    #[cfg_attr(
        feature = "config",
        serde(default, deserialize_with = "crate::config::de::duration")
    )]
    pub probe_timeout: Option<Duration>,
    /// The failure-rate policy.
    pub policy: Option<RatePolicy>,
    /// The slow-call policy.
    pub slow_calls: Option<SlowCalls>,
    /// Growth of the open duration.
    pub backoff: Option<BackoffConfig>,
    /// Count dropped permits as failures.
    pub count_cancelled_as_failure: Option<bool>,
}

/// `policy: { failure_rate: 0.5, window: 100, minimum_calls: 20 }`; a
/// window of a number is a count of calls, a window like `30s` is a time.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "config", derive(serde::Deserialize))]
#[cfg_attr(feature = "config", serde(deny_unknown_fields))]
#[non_exhaustive]
pub struct RatePolicy {
    /// Share of failed calls that opens the breaker.
    #[cfg_attr(
        feature = "config",
        serde(deserialize_with = "crate::config::de::share")
    )]
    pub failure_rate: f64,
    /// The calls looked at (default: the last 100).
    #[cfg_attr(
        feature = "config",
        serde(default, deserialize_with = "crate::config::de::window")
    )]
    pub window: Option<Window>,
    /// Fewest calls in the window before the rate counts (default 100, or
    /// the window's size if smaller).
    #[cfg_attr(
        feature = "config",
        serde(default, deserialize_with = "crate::config::de::count")
    )]
    pub minimum_calls: Option<u32>,
}

/// `slow_calls: { duration: 500ms, rate: 0.5 }`.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "config", derive(serde::Deserialize))]
#[cfg_attr(feature = "config", serde(deny_unknown_fields))]
#[non_exhaustive]
pub struct SlowCalls {
    /// Calls slower than this are slow.
    #[cfg_attr(
        feature = "config",
        serde(deserialize_with = "crate::config::de::duration_required")
    )]
    pub duration: Duration,
    /// Share of slow calls that opens the breaker.
    #[cfg_attr(
        feature = "config",
        serde(deserialize_with = "crate::config::de::share")
    )]
    pub rate: f64,
}

/// `backoff: { max: 5m, multiplier: 2, jitter: true }`: exponential growth
/// of the open duration.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "config", derive(serde::Deserialize))]
#[cfg_attr(feature = "config", serde(deny_unknown_fields))]
#[non_exhaustive]
pub struct BackoffConfig {
    /// The longest open duration.
    #[cfg_attr(
        feature = "config",
        serde(deserialize_with = "crate::config::de::duration_required")
    )]
    pub max: Duration,
    /// Growth per re-open (default 2).
    pub multiplier: Option<f64>,
    /// Full jitter (default false).
    pub jitter: Option<bool>,
    /// Seed of the jitter.
    pub seed: Option<u64>,
}

impl RatePolicy {
    /// Opens the breaker when `failure_rate` of the calls in the window
    /// fail; the window and minimum take their defaults until set.
    pub const fn new(failure_rate: f64) -> RatePolicy {
        RatePolicy {
            failure_rate,
            window: None,
            minimum_calls: None,
        }
    }

    /// The calls looked at.
    #[must_use]
    pub const fn window(mut self, window: Window) -> RatePolicy {
        self.window = Some(window);
        self
    }

    /// Fewest calls in the window before the rate counts.
    #[must_use]
    pub const fn minimum_calls(mut self, calls: u32) -> RatePolicy {
        self.minimum_calls = Some(calls);
        self
    }
}

impl SlowCalls {
    /// Calls slower than `duration` are slow; when `rate` of the calls in
    /// the window are, the breaker opens.
    pub const fn new(duration: Duration, rate: f64) -> SlowCalls {
        SlowCalls { duration, rate }
    }
}

impl BackoffConfig {
    /// Exponential growth of the open duration up to `max`; multiplier,
    /// jitter and seed take their defaults until set.
    pub const fn new(max: Duration) -> BackoffConfig {
        BackoffConfig {
            max,
            multiplier: None,
            jitter: None,
            seed: None,
        }
    }

    /// Growth per re-open.
    #[must_use]
    pub const fn multiplier(mut self, value: f64) -> BackoffConfig {
        self.multiplier = Some(value);
        self
    }

    /// Full jitter on or off.
    #[must_use]
    pub const fn jitter(mut self, on: bool) -> BackoffConfig {
        self.jitter = Some(on);
        self
    }

    /// Seed of the jitter, for reproducible open durations.
    #[must_use]
    pub const fn seed(mut self, value: u64) -> BackoffConfig {
        self.seed = Some(value);
        self
    }
}

impl BreakerConfig {
    /// These settings, with unset ones taken from `defaults`.
    #[must_use]
    pub fn or(&self, defaults: &BreakerConfig) -> BreakerConfig {
        BreakerConfig {
            enabled: self.enabled.or(defaults.enabled),
            failure_threshold: self.failure_threshold.or(defaults.failure_threshold),
            recovery_timeout: self.recovery_timeout.or(defaults.recovery_timeout),
            success_threshold: self.success_threshold.or(defaults.success_threshold),
            half_open_max_calls: self.half_open_max_calls.or(defaults.half_open_max_calls),
            probe_timeout: self.probe_timeout.or(defaults.probe_timeout),
            policy: self.policy.clone().or_else(|| defaults.policy.clone()),
            slow_calls: self
                .slow_calls
                .clone()
                .or_else(|| defaults.slow_calls.clone()),
            backoff: self.backoff.clone().or_else(|| defaults.backoff.clone()),
            count_cancelled_as_failure: self
                .count_cancelled_as_failure
                .or(defaults.count_cancelled_as_failure),
        }
    }

    /// Applies the settings that are set to `builder`.
    pub fn apply(&self, mut builder: Builder) -> Builder {
        if let Some(enabled) = self.enabled {
            builder = builder.enabled(enabled);
        }
        if let Some(n) = self.failure_threshold {
            builder = builder.failure_threshold(n);
        }
        if let Some(d) = self.recovery_timeout {
            builder = builder.recovery_timeout(d);
        }
        if let Some(n) = self.success_threshold {
            builder = builder.success_threshold(n);
        }
        if let Some(n) = self.half_open_max_calls {
            builder = builder.half_open_max_calls(n);
        }
        if let Some(d) = self.probe_timeout {
            builder = builder.probe_timeout(d);
        }
        if let Some(policy) = &self.policy {
            let window = policy.window.unwrap_or(Window::Count(100));
            let minimum = policy.minimum_calls.unwrap_or(match window {
                Window::Count(n) => n.min(100),
                Window::Time(_) => 100,
            });
            builder = builder.failure_rate(policy.failure_rate, window, minimum);
        }
        if let Some(slow) = &self.slow_calls {
            builder = builder.slow_calls(slow.duration, slow.rate);
        }
        if let Some(backoff) = &self.backoff {
            let mut b = Backoff::exponential(backoff.max)
                .multiplier(backoff.multiplier.unwrap_or(2.0))
                .jitter(backoff.jitter.unwrap_or(false));
            if let Some(seed) = backoff.seed {
                b = b.seed(seed);
            }
            builder = builder.backoff(b);
        }
        if let Some(yes) = self.count_cancelled_as_failure {
            builder = builder.count_cancelled_as_failure(yes);
        }
        builder
    }
}
