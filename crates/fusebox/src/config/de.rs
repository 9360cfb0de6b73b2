//! Deserializers that check values where the parser still knows the line
//! (and the key path, which the YAML parser puts in front of the message).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Unexpected, Visitor};

use crate::duration::{self, Refusal};
use crate::Window;

/// A duration refused: `invalid duration VALUE: what it must be`, the
/// wording [`crate::parse_duration`] uses too.
fn refused<E: de::Error>(value: impl fmt::Display, why: Refusal) -> E {
    E::custom(format!("invalid duration {value}: {}", why.expected()))
}

fn zero<E: de::Error>(value: impl fmt::Display) -> E {
    E::custom(format!(
        "invalid duration {value}: must be longer than zero"
    ))
}

/// A duration setting: a string with units (`30s`, `1m30s`) or a bare
/// number of seconds (`30`, `0.5`), as tools' own files write them.
struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration like 30s, 250ms or 5m, or a number of seconds")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        match duration::parse(v) {
            Ok(d) if d.is_zero() => Err(zero(format_args!("{v:?}"))),
            Ok(d) => Ok(d),
            // `"30"` in quotes is text, where a unit is never guessed.
            Err(Refusal::Malformed) if v.trim().parse::<f64>().is_ok() => {
                Err(E::custom(format!(
                    "invalid duration {v:?}: give a unit, like {t}s or {t}ms, or write the number without quotes for seconds",
                    t = v.trim()
                )))
            }
            Err(why) => Err(refused(format_args!("{v:?}"), why)),
        }
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        // `{:?}` keeps 1e300 short and shows 0.0 as a float.
        if v == 0.0 {
            return Err(zero(format_args!("{v:?}")));
        }
        duration::from_secs(v).map_err(|why| refused(format_args!("{v:?}"), why))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        if v == 0 {
            return Err(zero(v));
        }
        // Checked as an integer first: beyond 2^53 a float would round.
        if v.unsigned_abs() > duration::MAX_DURATION.as_secs() {
            let why = if v < 0 {
                Refusal::NotPositive
            } else {
                Refusal::TooLong
            };
            return Err(refused(v, why));
        }
        duration::from_secs(v as f64).map_err(|why| refused(v, why))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) => Err(refused(v, Refusal::TooLong)),
        }
    }
}

pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    d.deserialize_any(DurationVisitor).map(Some)
}

pub(crate) fn duration_required<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(DurationVisitor)
}

struct Count;

impl Visitor<'_> for Count {
    type Value = u32;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number of at least 1")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u32, E> {
        u32::try_from(v)
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| E::invalid_value(Unexpected::Signed(v), &self))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u32, E> {
        u32::try_from(v)
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| E::invalid_value(Unexpected::Unsigned(v), &self))
    }
}

pub(crate) fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    d.deserialize_any(Count).map(Some)
}

struct Share;

impl Visitor<'_> for Share {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a rate greater than 0 and at most 1")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        if v > 0.0 && v <= 1.0 {
            Ok(v)
        } else {
            Err(E::invalid_value(Unexpected::Float(v), &self))
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        self.visit_f64(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        self.visit_f64(v as f64)
    }
}

pub(crate) fn share<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(Share)
}

struct WindowVisitor;

impl Visitor<'_> for WindowVisitor {
    type Value = Window;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number of calls (1 to 1000000) or a time like 60s")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Window, E> {
        calls(v, u32::try_from(v).ok())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Window, E> {
        calls(v, u32::try_from(v).ok())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Window, E> {
        DurationVisitor.visit_str(v).map(Window::Time)
    }
}

/// A count window of `n` calls, written `v` in the file.
fn calls<E: de::Error>(v: impl fmt::Display, n: Option<u32>) -> Result<Window, E> {
    match n {
        Some(n) if (1..=1_000_000).contains(&n) => Ok(Window::Count(n)),
        _ => Err(E::custom(format!(
            "invalid window {v}: expected a number of calls (1 to 1000000) or a time like 60s"
        ))),
    }
}

pub(crate) fn window<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Window>, D::Error> {
    d.deserialize_any(WindowVisitor).map(Some)
}
