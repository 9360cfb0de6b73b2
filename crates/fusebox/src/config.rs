//! Configuration files: YAML or TOML, in the shape
//!
//! ```yaml
//! defaults:
//!   failure_threshold: 3
//!   recovery_timeout: 30s
//! breakers:
//!   pypi:
//!     failure_threshold: 5
//!   s3_upload:
//!     policy: { failure_rate: 0.5, window: 100, minimum_calls: 20 }
//!     recovery_timeout: 10s
//!     backoff: { max: 5m, jitter: true }
//! ```
//!
//! or, as written by existing tools,
//! `performance: { circuit_breaker: { enabled, failure_threshold, recovery_timeout } }`,
//! which sets the defaults (`enabled: false` makes every breaker disabled).
//! Other keys under `performance` belong to those tools and are left alone.
//!
//! Unknown keys and bad values are errors naming the key, the value, the
//! file and, where the format gives it, the line. An empty file is an empty
//! configuration.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{BreakerConfig, CircuitBreaker};

/// The contents of a configuration file.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// Settings every breaker starts from.
    pub defaults: BreakerConfig,
    /// Settings of named breakers, over the defaults.
    pub breakers: BTreeMap<String, BreakerConfig>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    defaults: Option<BreakerConfig>,
    #[serde(default)]
    breakers: Option<BTreeMap<String, BreakerConfig>>,
    #[serde(default)]
    performance: Option<Performance>,
}

/// Only `circuit_breaker` is ours; the tool's other keys are not checked.
#[derive(Deserialize)]
struct Performance {
    circuit_breaker: Option<BreakerConfig>,
}

/// A configuration file that could not be read or is invalid.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigFileError {
    /// The file, when the configuration came from one.
    pub path: Option<PathBuf>,
    /// The line of the problem, when the format gives it.
    pub line: Option<usize>,
    /// What is wrong, naming the key and the value.
    pub message: String,
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.path, self.line) {
            (Some(path), Some(line)) => write!(f, "{}:{line}: {}", path.display(), self.message),
            (Some(path), None) => write!(f, "{}: {}", path.display(), self.message),
            (None, Some(line)) => write!(f, "line {line}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigFileError {}

impl Config {
    /// Reads a `.yaml`, `.yml` or `.toml` file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Config, ConfigFileError> {
        let path = path.as_ref();
        let at = |line, message| ConfigFileError {
            path: Some(path.to_owned()),
            line,
            message,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| at(None, format!("cannot read config file: {e}")))?;
        let parsed = match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => Config::from_yaml(&text),
            Some("toml") => Config::from_toml(&text),
            _ => {
                return Err(at(
                    None,
                    "unknown config format: the file name must end in .yaml, .yml or .toml"
                        .to_owned(),
                ))
            }
        };
        parsed.map_err(|e| at(e.line, e.message))
    }

    /// Parses YAML text.
    pub fn from_yaml(text: &str) -> Result<Config, ConfigFileError> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let file: Option<File> = serde_norway::from_str(text).map_err(|e| ConfigFileError {
            path: None,
            line: e.location().map(|l| l.line()),
            message: strip_location(&e.to_string()),
        })?;
        Config::from_parts(file.unwrap_or_default())
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigFileError> {
        let file: File = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|span| line_of(text, span.start));
            // TOML errors do not name the key; quote the line, which does.
            let quoted = line
                .and_then(|n| text.lines().nth(n - 1))
                .map(|source| format!(" (in `{}`)", source.trim()))
                .unwrap_or_default();
            ConfigFileError {
                path: None,
                line,
                message: format!("{}{quoted}", e.message().trim()),
            }
        })?;
        Config::from_parts(file)
    }

    fn from_parts(file: File) -> Result<Config, ConfigFileError> {
        let tool = file.performance.and_then(|p| p.circuit_breaker);
        let defaults = match (file.defaults, tool) {
            (Some(defaults), Some(tool)) => defaults.or(&tool),
            (defaults, tool) => defaults.or(tool).unwrap_or_default(),
        };
        let config = Config {
            defaults,
            breakers: file.breakers.unwrap_or_default(),
        };
        config.validate()?;
        Ok(config)
    }

    /// The settings of breaker `name`: its own over the defaults.
    pub fn for_breaker(&self, name: &str) -> BreakerConfig {
        match self.breakers.get(name) {
            Some(own) => own.or(&self.defaults),
            None => self.defaults.clone(),
        }
    }

    /// Checks the combinations of values no single key can check, such as a
    /// backoff cap below the recovery timeout.
    fn validate(&self) -> Result<(), ConfigFileError> {
        let check = |place: String, settings: BreakerConfig| {
            settings
                .apply(CircuitBreaker::builder("config-check"))
                .check()
                .map_err(|e| ConfigFileError {
                    path: None,
                    line: None,
                    message: format!("{place}.{}: {e}", e.field),
                })
        };
        check("defaults".to_owned(), self.defaults.clone())?;
        for name in self.breakers.keys() {
            if !crate::builder::is_valid_name(name) {
                return Err(ConfigFileError {
                    path: None,
                    line: None,
                    message: format!("breakers: invalid breaker name {name:?}"),
                });
            }
            check(format!("breakers.{name}"), self.for_breaker(name))?;
        }
        Ok(())
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The YAML parser appends " at line L column C"; the line is reported
/// separately, so drop it from the message.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Deserializers that check values where the parser still knows the line
/// (and the key path, which the YAML parser puts in front of the message).
pub(crate) mod de {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, Deserializer, Unexpected, Visitor};

    use crate::Window;

    fn parse<E: de::Error>(text: &str) -> Result<Duration, E> {
        let d = crate::parse_duration(text).map_err(E::custom)?;
        if d.is_zero() {
            return Err(E::custom(format!(
                "invalid duration {text:?}: must be longer than zero"
            )));
        }
        Ok(d)
    }

    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration with a unit, like 30s, 250ms or 5m")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            Err(E::custom(format!(
                "invalid duration {v}: give a unit, like {v}s or {v}ms"
            )))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            self.visit_i64(v as i64)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
            Err(E::custom(format!(
                "invalid duration {v}: give a unit, like {v}s"
            )))
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
            match u32::try_from(v) {
                Ok(n) if (1..=1_000_000).contains(&n) => Ok(Window::Count(n)),
                _ => Err(E::custom(format!(
                    "invalid window {v}: expected a number of calls (1 to 1000000) or a time like 60s"
                ))),
            }
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Window, E> {
            self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Window, E> {
            parse(v).map(Window::Time)
        }
    }

    pub(crate) fn window<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Window>, D::Error> {
        d.deserialize_any(WindowVisitor).map(Some)
    }
}
