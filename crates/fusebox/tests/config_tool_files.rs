//! A tool's own configuration file, as the seeds write it: it loads
//! verbatim, its other sections are the tool's, and absurd nesting in them is
//! refused quickly.
#![cfg(feature = "config")]

use std::path::PathBuf;
use std::time::Duration;

use fusebox::{Config, Registry, State};

fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
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

/// A seed's `config.yaml`, byte for byte.
const SEED_YAML: &str = "\
performance:
  circuit_breaker:
    enabled: true
    failure_threshold: 3
    recovery_timeout: 30 # seconds
";

const SEED_TOML: &str = "\
[performance.circuit_breaker]
enabled = true
failure_threshold = 3
recovery_timeout = 30 # seconds
";

fn assert_seed_defaults(config: &Config) {
    assert_eq!(config.defaults.enabled, Some(true));
    assert_eq!(config.defaults.failure_threshold, Some(3));
    assert_eq!(
        config.defaults.recovery_timeout,
        Some(Duration::from_secs(30))
    );
    assert!(config.breakers.is_empty());
}

#[test]
fn the_seeds_file_loads_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [("config.yaml", SEED_YAML), ("config.toml", SEED_TOML)] {
        let config = Config::from_file(file(&dir, name, text)).unwrap();
        assert_seed_defaults(&config);
        let registry = Registry::from_file(dir.path().join(name)).unwrap();
        let breaker = registry.get_or_create("pypi");
        for _ in 0..3 {
            let _ = breaker.call(|| Err::<(), _>(()));
        }
        assert_eq!(breaker.state(), State::Open, "{name}: trips at 3");
    }
}

/// The seed's file inside a tool's larger file: sections of every shape
/// before and after, and the tool's own keys under `performance`.
const TOOL_YAML: &str = "\
logging:
  level: INFO
  handlers: [console, {file: /var/log/tool.log, rotate: 7}]
  formatters:
    default: '%(asctime)s %(message)s'
packages:
  - name: requests
    version: '>=2'
  - [odd, list]
1: numeric key
? [complex, key]
: value
performance:
  max_workers: 8
  cache: { ttl: 1h, size: 100 }
  circuit_breaker:
    enabled: true
    failure_threshold: 3
    recovery_timeout: 30 # seconds
output:
  format: json
  recovery_timeout: not a duration, and not ours
";

const TOOL_TOML: &str = "\
title = \"tool\"

[logging]
level = \"INFO\"
handlers = [\"console\", { file = \"/var/log/tool.log\" }]

[[packages]]
name = \"requests\"

[[packages]]
name = \"rich\"

[performance]
max_workers = 8

[performance.circuit_breaker]
enabled = true
failure_threshold = 3
recovery_timeout = 30 # seconds

[output]
recovery_timeout = \"not ours\"
";

#[test]
fn a_tools_other_sections_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [("tool.yaml", TOOL_YAML), ("tool.toml", TOOL_TOML)] {
        let config = Config::from_file(file(&dir, name, text)).unwrap();
        assert_seed_defaults(&config);
    }
}

#[test]
fn in_a_tools_file_fuseboxs_own_sections_are_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    let typo = TOOL_YAML.replace("    failure_threshold: 3", "    failure_treshold: 3");
    assert_mentions(
        &error(&dir, "typo.yaml", &typo),
        &["typo.yaml:18:", "failure_treshold", "failure_threshold"],
    );
    let bad = TOOL_YAML.replace("recovery_timeout: 30 #", "recovery_timeout: soon #");
    assert_mentions(
        &error(&dir, "bad.yaml", &bad),
        &["bad.yaml:19:", "recovery_timeout", "\"soon\""],
    );
    let defaults = format!("{TOOL_YAML}defaults:\n  failure_treshold: 2\n");
    assert_mentions(
        &error(&dir, "defaults.yaml", &defaults),
        &["defaults.yaml:24:", "failure_treshold"],
    );
    let typo = TOOL_TOML.replace("failure_threshold = 3", "failure_treshold = 3");
    assert_mentions(
        &error(&dir, "typo.toml", &typo),
        &["typo.toml:18:", "failure_treshold"],
    );
}

#[test]
fn without_performance_a_foreign_section_is_still_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = "defaults:\n  failure_threshold: 3\nlogging:\n  level: INFO\n";
    assert_mentions(
        &error(&dir, "c.yaml", text),
        &["c.yaml:3:", "logging", "defaults"],
    );
    let text = "[defaults]\nfailure_threshold = 3\n[logging]\nlevel = \"INFO\"\n";
    assert_mentions(&error(&dir, "c.toml", text), &["c.toml:", "logging"]);
}

#[test]
fn yaml_nested_200000_deep_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let depth = 200_000;
    let flow = format!(
        "{SEED_YAML}logging: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let maps = format!(
        "{SEED_YAML}logging: {}1{}\n",
        "{a: ".repeat(depth),
        "}".repeat(depth)
    );
    let dashes = format!("{SEED_YAML}packages:\n{}x\n", "- ".repeat(depth));
    for (name, text, line) in [
        ("flow.yaml", flow, "flow.yaml:6:"),
        ("maps.yaml", maps, "maps.yaml:6:"),
        ("dashes.yaml", dashes, "dashes.yaml:7:"),
    ] {
        let message = error(&dir, name, &text);
        assert_mentions(&message, &[line, "nested more than 128 levels"]);
        assert!(message.len() < 300, "a short message: {message}");
    }
}

#[test]
fn toml_nested_200000_deep_is_refused_with_a_short_message() {
    let dir = tempfile::tempdir().unwrap();
    let depth = 200_000;
    let text = format!(
        "{SEED_TOML}[logging]\nlevels = {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let message = error(&dir, "deep.toml", &text);
    assert_mentions(&message, &["deep.toml:6:", "recursion", "levels = [[["]);
    assert!(message.len() < 300, "a short message: {message}");
}

#[test]
fn nesting_a_real_file_uses_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{SEED_YAML}logging: {}1{}\nnote: 'brackets [[[[ in text' # and [[[[ here\n",
        "[".repeat(100),
        "]".repeat(100)
    );
    assert_seed_defaults(&Config::from_file(file(&dir, "ok.yaml", &text)).unwrap());
}
