//! Durations in configuration files: bare numbers are seconds, strings keep
//! their units, and absurd values are refused naming the value and the
//! maximum.
#![cfg(feature = "config")]

use std::path::PathBuf;
use std::time::Duration;

use fusebox::{Config, Window};

fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "{message:?} should mention {part:?}"
        );
    }
}

#[test]
fn bare_numbers_are_seconds_in_yaml_and_toml() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "\
defaults:
  recovery_timeout: 30
  probe_timeout: 0.5
breakers:
  a:
    recovery_timeout: 1m30s
    slow_calls: { duration: 0.25, rate: 0.5 }
    backoff: { max: 300 }
    policy: { failure_rate: 0.5, window: 60s }
";
    let toml = "\
[defaults]
recovery_timeout = 30
probe_timeout = 0.5

[breakers.a]
recovery_timeout = \"1m30s\"
slow_calls = { duration = 0.25, rate = 0.5 }
backoff = { max = 300 }
policy = { failure_rate = 0.5, window = \"60s\" }
";
    for (name, text) in [("c.yaml", yaml), ("c.toml", toml)] {
        let config = Config::from_file(file(&dir, name, text)).unwrap();
        let defaults = &config.defaults;
        assert_eq!(defaults.recovery_timeout, Some(Duration::from_secs(30)));
        assert_eq!(defaults.probe_timeout, Some(Duration::from_millis(500)));
        let a = config.for_breaker("a");
        assert_eq!(a.recovery_timeout, Some(Duration::from_secs(90)));
        assert_eq!(a.probe_timeout, Some(Duration::from_millis(500)));
        assert_eq!(a.slow_calls.unwrap().duration, Duration::from_millis(250));
        assert_eq!(a.backoff.unwrap().max, Duration::from_secs(300));
        assert_eq!(
            a.policy.unwrap().window,
            Some(Window::Time(Duration::from_secs(60))),
            "a window's number is a count of calls, its string a time"
        );
    }
}

#[test]
fn absurd_durations_are_refused_naming_value_and_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let too_long = [
        ("\"18446744073709551615s\"", "\"18446744073709551615s\""),
        ("\"999999999999s\"", "\"999999999999s\""),
        ("\"366d\"", "\"366d\""),
        ("999999999999", "999999999999"),
        ("18446744073709551615", "18446744073709551615"),
        ("31536001", "31536001"),
        ("1.0e300", "1e300"),
    ];
    for (value, shown) in too_long {
        let yaml = format!("defaults:\n  recovery_timeout: {value}\n");
        let message = Config::from_file(file(&dir, "c.yaml", &yaml))
            .unwrap_err()
            .to_string();
        assert_mentions(&message, &["c.yaml:2:", "recovery_timeout", shown, "365d"]);
        let toml = format!("[defaults]\nprobe_timeout = {value}\n");
        let message = Config::from_file(file(&dir, "c.toml", &toml))
            .unwrap_err()
            .to_string();
        assert_mentions(&message, &["c.toml:2:", "probe_timeout", "365d"]);
    }
}

#[test]
fn negative_zero_and_non_finite_seconds_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = [
        ("-1", "-1"),
        ("-0.5", "-0.5"),
        ("0", "0"),
        ("0.0", "0.0"),
        (".nan", "NaN"),
        (".inf", "inf"),
        ("-.inf", "-inf"),
        ("\"30\"", "\"30\""),
        ("\"-1s\"", "\"-1s\""),
    ];
    for (value, shown) in yaml {
        let text = format!("breakers:\n  a:\n    recovery_timeout: {value}\n");
        let message = Config::from_file(file(&dir, "c.yaml", &text))
            .unwrap_err()
            .to_string();
        assert_mentions(
            &message,
            &[
                "c.yaml:3:",
                "breakers.a.recovery_timeout",
                "invalid duration",
                shown,
            ],
        );
    }
    for (value, shown) in [("-1", "-1"), ("0", "0"), ("nan", "NaN"), ("-inf", "-inf")] {
        let text = format!("[breakers.a]\nrecovery_timeout = {value}\n");
        let message = Config::from_file(file(&dir, "c.toml", &text))
            .unwrap_err()
            .to_string();
        assert_mentions(&message, &["c.toml:2:", "invalid duration", shown]);
    }
}

#[test]
fn the_command_line_and_files_share_one_parser() {
    assert_eq!(
        fusebox::parse_duration("1m30s"),
        Ok(Duration::from_secs(90))
    );
    let error = fusebox::parse_duration("999999999999s").unwrap_err();
    assert_eq!(error.value(), "999999999999s");
    assert_mentions(
        &error.to_string(),
        &["invalid duration \"999999999999s\"", "365d"],
    );
    let source: &dyn std::error::Error = &error; // a typed error, usable with `?`
    assert!(source.source().is_none());
    let secs =
        fusebox::__private::duration_from_secs("recovery_timeout", 999_999_999_999.0).unwrap_err();
    assert_eq!(secs.field, "recovery_timeout");
    assert_mentions(&secs.to_string(), &["999999999999", "365d"]);
    assert_eq!(
        fusebox::Builder::MAX_DURATION,
        Duration::from_secs(365 * 86_400)
    );
}
