//! Configuration files: every key, bad values, unknown keys, empty files.
#![cfg(feature = "config")]

use std::path::PathBuf;
use std::time::Duration;

use fusebox::{Config, ManualClock, Registry, State, Window};

fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const FULL_YAML: &str = "\
defaults:
  failure_threshold: 3
  recovery_timeout: 30s
  success_threshold: 2
  half_open_max_calls: 2
  probe_timeout: 1m
  count_cancelled_as_failure: true
breakers:
  pypi:
    failure_threshold: 5
  s3_upload:
    policy: { failure_rate: 0.5, window: 100, minimum_calls: 20 }
    slow_calls: { duration: 250ms, rate: 0.8 }
    recovery_timeout: 10s
    backoff: { max: 5m, jitter: true, multiplier: 3, seed: 9 }
  timed:
    policy: { failure_rate: 0.25, window: 60s }
    enabled: false
";

#[test]
fn every_documented_key_is_read_from_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_file(file(&dir, "fusebox.yaml", FULL_YAML)).unwrap();
    assert_eq!(config.defaults.failure_threshold, Some(3));
    assert_eq!(
        config.defaults.recovery_timeout,
        Some(Duration::from_secs(30))
    );
    assert_eq!(config.defaults.probe_timeout, Some(Duration::from_secs(60)));
    assert_eq!(config.defaults.count_cancelled_as_failure, Some(true));
    let pypi = config.for_breaker("pypi");
    assert_eq!(pypi.failure_threshold, Some(5));
    assert_eq!(
        pypi.recovery_timeout,
        Some(Duration::from_secs(30)),
        "from defaults"
    );
    let s3 = config.for_breaker("s3_upload");
    let policy = s3.policy.clone().unwrap();
    assert_eq!(
        (policy.failure_rate, policy.window, policy.minimum_calls),
        (0.5, Some(Window::Count(100)), Some(20))
    );
    assert_eq!(
        s3.slow_calls.clone().unwrap().duration,
        Duration::from_millis(250)
    );
    let backoff = s3.backoff.clone().unwrap();
    assert_eq!(
        (
            backoff.max,
            backoff.jitter,
            backoff.multiplier,
            backoff.seed
        ),
        (Duration::from_secs(300), Some(true), Some(3.0), Some(9))
    );
    let timed = config.for_breaker("timed");
    assert_eq!(
        timed.policy.unwrap().window,
        Some(Window::Time(Duration::from_secs(60)))
    );
    assert_eq!(timed.enabled, Some(false));
}

#[test]
fn toml_reads_the_same_as_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let toml = "\
[defaults]
failure_threshold = 3
recovery_timeout = \"30s\"
success_threshold = 2
half_open_max_calls = 2
probe_timeout = \"1m\"
count_cancelled_as_failure = true

[breakers.pypi]
failure_threshold = 5

[breakers.s3_upload]
policy = { failure_rate = 0.5, window = 100, minimum_calls = 20 }
slow_calls = { duration = \"250ms\", rate = 0.8 }
recovery_timeout = \"10s\"
backoff = { max = \"5m\", jitter = true, multiplier = 3, seed = 9 }

[breakers.timed]
policy = { failure_rate = 0.25, window = \"60s\" }
enabled = false
";
    let from_toml = Config::from_file(file(&dir, "fusebox.toml", toml)).unwrap();
    let from_yaml = Config::from_file(file(&dir, "fusebox.yml", FULL_YAML)).unwrap();
    assert_eq!(from_toml, from_yaml);
}

#[test]
fn a_registry_from_a_file_applies_defaults_and_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let registry = Registry::from_file(file(&dir, "c.yaml", FULL_YAML))
        .unwrap()
        .with_clock(clock.clone());
    let pypi = registry.get_or_create("pypi");
    for _ in 0..4 {
        let _ = pypi.call(|| Err::<(), _>(()));
    }
    assert_eq!(pypi.state(), State::Closed, "pypi trips at 5");
    let other = registry.get_or_create("other");
    for _ in 0..3 {
        let _ = other.call(|| Err::<(), _>(()));
    }
    assert_eq!(other.state(), State::Open, "defaults trip at 3");
    assert_eq!(registry.get_or_create("timed").state(), State::Disabled);
    let names: Vec<_> = registry.metrics().into_iter().map(|m| m.name).collect();
    assert_eq!(names, ["other", "pypi", "timed"]);
    assert!(registry.get("pypi").is_some() && registry.get("nope").is_none());
}

#[test]
fn the_existing_tools_shape_sets_defaults_and_can_disable() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "\
performance:
  max_workers: 8
  circuit_breaker:
    enabled: false
    failure_threshold: 4
    recovery_timeout: 45s
";
    let config = Config::from_file(file(&dir, "tool.yaml", yaml)).unwrap();
    assert_eq!(config.defaults.failure_threshold, Some(4));
    assert_eq!(
        config.defaults.recovery_timeout,
        Some(Duration::from_secs(45))
    );
    let registry = Registry::from_config(config).unwrap();
    let breaker = registry.get_or_create("anything");
    assert_eq!(breaker.state(), State::Disabled);
}

#[test]
fn an_empty_file_is_an_empty_configuration() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["empty.yaml", "empty.toml"] {
        let config = Config::from_file(file(&dir, name, "")).unwrap();
        assert_eq!(config, Config::default());
    }
    let config = Config::from_file(file(&dir, "comments.yaml", "# nothing yet\n")).unwrap();
    assert_eq!(config, Config::default());
}

fn error(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    Config::from_file(file(dir, name, text))
        .unwrap_err()
        .to_string()
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
fn unknown_keys_are_errors_naming_key_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let message = error(
        &dir,
        "typo.yaml",
        "breakers:\n  pypi:\n    failure_treshold: 5\n",
    );
    assert_mentions(
        &message,
        &["typo.yaml:3:", "failure_treshold", "failure_threshold"],
    );
    let message = error(&dir, "top.yaml", "default:\n  failure_threshold: 5\n");
    assert_mentions(&message, &["top.yaml:1:", "default"]);
    let message = error(&dir, "typo.toml", "[defaults]\nrecovery = \"1s\"\n");
    assert_mentions(&message, &["typo.toml:2:", "recovery"]);
    let message = error(
        &dir,
        "deep.yaml",
        "defaults:\n  backoff: { max: 1m, jiter: true }\n",
    );
    assert_mentions(&message, &["deep.yaml:2:", "jiter"]);
}

#[test]
fn bad_values_are_errors_naming_value_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[&str])] = &[
        (
            "defaults:\n  failure_threshold: 0\n",
            &["c.yaml:2:", "0", "at least 1"],
        ),
        ("defaults:\n  failure_threshold: -3\n", &["c.yaml:2:", "-3"]),
        (
            "defaults:\n  failure_threshold: many\n",
            &["c.yaml:2:", "many"],
        ),
        (
            "defaults:\n  recovery_timeout: soon\n",
            &["c.yaml:2:", "\"soon\"", "30s"],
        ),
        (
            "defaults:\n  recovery_timeout: \"30\"\n",
            &["c.yaml:2:", "\"30\"", "unit"],
        ),
        ("defaults:\n  recovery_timeout: 0s\n", &["c.yaml:2:", "0s"]),
        (
            "breakers:\n  a:\n    policy: { failure_rate: 1.5 }\n",
            &["c.yaml:3:", "1.5"],
        ),
        (
            "breakers:\n  a:\n    policy: { failure_rate: 0.5, window: 0 }\n",
            &["c.yaml:3:", "window 0"],
        ),
        (
            "breakers:\n  a:\n    policy: { window: 10 }\n",
            &["c.yaml:3:", "failure_rate"],
        ),
        (
            "breakers:\n  a:\n    slow_calls: { duration: fast, rate: 0.5 }\n",
            &["c.yaml:3:", "fast"],
        ),
        ("defaults: [1, 2]\n", &["c.yaml:1:"]),
        (
            "defaults:\n  failure_threshold: 3\n   bad_indent: 1\n",
            &["c.yaml:"],
        ),
        (
            "breakers:\n  a:\n    recovery_timeout: 1m\n    backoff: { max: 10s }\n",
            &["c.yaml:4:", "breakers.a.backoff.max", "10s", "60s"],
        ),
    ];
    for (text, parts) in cases {
        assert_mentions(&error(&dir, "c.yaml", text), parts);
    }
    assert_mentions(
        &error(&dir, "c.toml", "[defaults]\nhalf_open_max_calls = 0\n"),
        &["c.toml:2:", "0"],
    );
}

#[test]
fn unreadable_and_unknown_format_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yaml");
    assert_mentions(
        &Config::from_file(&missing).unwrap_err().to_string(),
        &["missing.yaml", "cannot read"],
    );
    assert_mentions(
        &error(&dir, "c.json", "{}"),
        &["c.json", ".yaml, .yml or .toml"],
    );
}

#[test]
fn a_registry_refuses_bad_settings_up_front_and_never_fails_later() {
    let mut bad = fusebox::BreakerConfig::default();
    bad.failure_threshold = Some(0);
    let err = Registry::new().with_defaults(bad.clone()).unwrap_err();
    assert_eq!(err.field, "failure_threshold");
    let overrides = [("x".to_owned(), bad)].into_iter().collect();
    assert!(Registry::new().with_overrides(overrides).is_err());

    let registry = Registry::new();
    let a = registry.get_or_create("api_calls");
    a.trip();
    assert_eq!(registry.get_or_create("api_calls").state(), State::Open);
    assert_eq!(registry.get_or_create("").name(), "\"\"");
}

#[test]
fn minimum_calls_above_the_window_is_refused_naming_both_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "\
breakers:
  pypi:
    failure_threshold: 5
  s3_upload:
    recovery_timeout: 10s
    policy: { failure_rate: 0.5, window: 10, minimum_calls: 20 }
";
    assert_mentions(
        &error(&dir, "c.yaml", yaml),
        &[
            "c.yaml:6:",
            "breakers.s3_upload.policy.minimum_calls",
            "20",
            "10 calls",
        ],
    );
    let toml = "\
[defaults]
failure_threshold = 3

[defaults.policy]
failure_rate = 0.5
window = 10
minimum_calls = 20
";
    assert_mentions(
        &error(&dir, "c.toml", toml),
        &[
            "c.toml:7:",
            "defaults.policy.minimum_calls",
            "20",
            "10 calls",
        ],
    );
    // The breaker's window with the default minimum of 100 fits it.
    let fits = "breakers:\n  a:\n    policy: { failure_rate: 0.5, window: 10 }\n";
    Config::from_file(file(&dir, "fits.yaml", fits)).unwrap();
}

#[test]
fn combination_errors_name_the_line_of_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "\
defaults:
  recovery_timeout: 1m
breakers:
  a:
    failure_threshold: 2
    backoff:
      max: 10s
";
    assert_mentions(
        &error(&dir, "c.yaml", yaml),
        &[
            "c.yaml:7:",
            "breakers.a.backoff.max",
            "10s",
            "recovery_timeout (60s)",
        ],
    );
    let name = "breakers:\n  ok: {}\n  \"bad\\tname\":\n    failure_threshold: 2\n";
    assert_mentions(
        &error(&dir, "c.yaml", name),
        &["c.yaml:4:", "invalid breaker name", "bad\\tname"],
    );
}

#[test]
fn a_file_that_cannot_be_read_keeps_its_io_error_as_the_source() {
    use std::error::Error as _;
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yaml");
    let error = fusebox::Config::from_file(&missing).unwrap_err();
    let cause = error.source().expect("the I/O error is kept");
    let io = cause.downcast_ref::<std::io::Error>().unwrap();
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(error.clone(), error, "equal, cause and all");
    // Each error of the chain told once; `{:#}` tells the whole story.
    let shown = error.to_string();
    assert!(
        shown.contains("missing.yaml") && shown.contains("cannot read"),
        "{shown}"
    );
    assert!(
        !shown.contains(&io.to_string()),
        "{shown} repeats its source"
    );
    assert_eq!(format!("{error:#}"), format!("{shown}: {io}"));
    let invalid = fusebox::Config::from_yaml("breakers: [").unwrap_err();
    assert!(invalid.source().is_none(), "nothing below a syntax error");
}
