//! The one way fusebox reads a duration written by a person: a string with
//! units (`30s`, `250ms`, `1m30s`) from files, flags and URLs, or a number
//! of seconds (`30`, `0.5`) from files, flags and Python. Both refuse the
//! same values with the same words, and both stop at [`MAX_DURATION`].

use std::time::Duration;

/// The longest duration any setting accepts: 365 days. Longer values are
/// refused, never capped, since a "recovery timeout" of 30,000 years is a
/// typo or a unit mix-up, not a wish.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(365 * 86_400);

/// How [`MAX_DURATION`] reads in error messages.
pub(crate) const MAX_DURATION_TEXT: &str = "365d";

/// What a refused duration must be instead; the text after
/// `invalid duration VALUE: ` or `invalid FIELD = VALUE: `.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not a number followed by a unit.
    Malformed,
    /// Negative, zero, NaN or infinite seconds.
    NotPositive,
    /// Longer than [`MAX_DURATION`].
    TooLong,
}

impl Refusal {
    pub(crate) fn expected(self) -> String {
        match self {
            Refusal::Malformed => {
                "expected a number and a unit, like 30s, 250ms, 5m, 1h".to_owned()
            }
            Refusal::NotPositive => {
                "must be a finite number of seconds greater than zero".to_owned()
            }
            Refusal::TooLong => format!(
                "must be at most {MAX_DURATION_TEXT} ({} seconds), the longest duration fusebox accepts",
                MAX_DURATION.as_secs()
            ),
        }
    }
}

/// Parses a duration written for humans: a number and a unit, e.g. `30s`,
/// `250ms`, `1.5s`, `5m`, `2h`, `1d`, `100us`, `10ns`. Several parts add up
/// (`1m30s`). A bare number is refused here: in text the unit is never
/// guessed (a config file's bare numbers are seconds, read as such by
/// [`Config`](crate::Config)).
///
/// The longest accepted duration is 365 days; longer ones are an error
/// naming the value and that maximum.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(fusebox::parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(fusebox::parse_duration("1m30s"), Ok(Duration::from_secs(90)));
/// assert!(fusebox::parse_duration("30").is_err());
/// let error = fusebox::parse_duration("999999999999s").unwrap_err();
/// assert_eq!(error.value(), "999999999999s");
/// assert!(error.to_string().contains("365d"));
/// ```
///
/// # Errors
///
/// A [`DurationError`] naming `text` and what was expected when it is
/// empty, has a number without a unit or an unknown unit, or is longer
/// than 365 days.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    parse(text).map_err(|refusal| DurationError {
        value: text.to_owned(),
        refusal,
    })
}

/// A duration [`parse_duration`] refused. Its `Display` names the value
/// and what was expected: `invalid duration "30": expected a number and a
/// unit, like 30s, 250ms, 5m, 1h`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurationError {
    value: String,
    refusal: Refusal,
}

impl DurationError {
    /// The text that was refused, as given.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What the value must be instead, without the value: the words after
    /// `invalid duration "VALUE": `.
    pub fn expected(&self) -> String {
        self.refusal.expected()
    }
}

impl std::fmt::Display for DurationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid duration {:?}: {}",
            self.value,
            self.refusal.expected()
        )
    }
}

impl std::error::Error for DurationError {}

/// [`parse_duration`] with the reason kept apart, for callers that word the
/// error themselves.
pub(crate) fn parse(text: &str) -> Result<Duration, Refusal> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(Refusal::Malformed);
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or(Refusal::Malformed)?;
        let (number, tail) = rest.split_at(number_end);
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let nanos_per_unit: u128 = match unit.trim() {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" | "sec" | "secs" => 1_000_000_000,
            "m" | "min" | "mins" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            _ => return Err(Refusal::Malformed),
        };
        total = total.saturating_add(decimal_times(number, nanos_per_unit)?);
        rest = tail.trim_start();
    }
    bounded_nanos(total)
}

/// `number` (digits with at most one point) times `scale`, in whole
/// nanoseconds, exactly: no float rounding (`0.1s` is 100,000,000 ns).
/// Saturates far above [`MAX_DURATION`], so a huge value reads as too long.
fn decimal_times(number: &str, scale: u128) -> Result<u128, Refusal> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits_ok(whole) || !digits_ok(fraction) {
        return Err(Refusal::Malformed);
    }
    let mut nanos: u128 = 0;
    for digit in whole.bytes() {
        nanos = nanos
            .saturating_mul(10)
            .saturating_add(u128::from(digit - b'0'));
    }
    nanos = nanos.saturating_mul(scale);
    // Each fraction digit is worth scale / 10^k; below a nanosecond it is dropped.
    let mut place = scale;
    for digit in fraction.bytes() {
        place /= 10;
        if place == 0 {
            break;
        }
        nanos = nanos.saturating_add(u128::from(digit - b'0') * place);
    }
    Ok(nanos)
}

fn bounded_nanos(nanos: u128) -> Result<Duration, Refusal> {
    if nanos > MAX_DURATION.as_nanos() {
        return Err(Refusal::TooLong);
    }
    // At most MAX_DURATION, so it fits in u64 nanoseconds.
    Ok(Duration::from_nanos(nanos as u64))
}

/// A number of seconds (a bare number in a file, a flag, a Python float):
/// finite, greater than zero and at most [`MAX_DURATION`].
pub(crate) fn from_secs(secs: f64) -> Result<Duration, Refusal> {
    if !secs.is_finite() || secs <= 0.0 {
        return Err(Refusal::NotPositive);
    }
    if secs > MAX_DURATION.as_secs_f64() {
        return Err(Refusal::TooLong);
    }
    Duration::try_from_secs_f64(secs).map_err(|_| Refusal::TooLong)
}

/// A duration set in code, checked like one read from text.
pub(crate) fn check_bounds(d: Duration) -> Result<(), Refusal> {
    if d > MAX_DURATION {
        return Err(Refusal::TooLong);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_sums() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("30s"), Ok(ms(30_000)));
        assert_eq!(parse_duration("250ms"), Ok(ms(250)));
        assert_eq!(parse_duration("5m"), Ok(ms(300_000)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("1h 30m"), Ok(ms(5_400_000)));
        assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("100us"), Ok(Duration::from_micros(100)));
        assert_eq!(parse_duration("10ns"), Ok(Duration::from_nanos(10)));
        assert_eq!(parse_duration("0.1s"), Ok(ms(100)));
        assert_eq!(parse_duration(".5s"), Ok(ms(500)));
        assert_eq!(parse_duration("1.5ns"), Ok(Duration::from_nanos(1)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in [
            "", "30", "s", "3x", "-1s", "1..2s", "ms5", ".s", "NaNs", "infs",
        ] {
            let err = parse_duration(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
            assert!(err.contains("a number and a unit"), "{err}");
        }
    }

    #[test]
    fn the_maximum_is_365_days_and_longer_is_refused_not_capped() {
        assert_eq!(parse_duration("365d"), Ok(MAX_DURATION));
        assert_eq!(parse_duration("364d 24h"), Ok(MAX_DURATION));
        for long in [
            "365d 1ns",
            "366d",
            "999999999999s",
            "18446744073709551615s",
            "340282366920938463463374607431768211455d",
            "99999999999999999999999999999999999999999999999999h",
        ] {
            let err = parse_duration(long).unwrap_err().to_string();
            assert!(err.contains(&format!("{long:?}")), "{err}");
            assert!(err.contains("at most 365d"), "{err}");
        }
    }

    #[test]
    fn seconds_are_positive_finite_and_bounded() {
        assert_eq!(from_secs(0.5), Ok(Duration::from_millis(500)));
        assert_eq!(from_secs(30.0), Ok(Duration::from_secs(30)));
        assert_eq!(from_secs(MAX_DURATION.as_secs_f64()), Ok(MAX_DURATION));
        for bad in [0.0, -0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(from_secs(bad), Err(Refusal::NotPositive), "{bad}");
        }
        for long in [
            31_536_000.5,
            999_999_999_999.0,
            1.8446744073709552e19,
            f64::MAX,
        ] {
            assert_eq!(from_secs(long), Err(Refusal::TooLong), "{long}");
        }
    }
}
