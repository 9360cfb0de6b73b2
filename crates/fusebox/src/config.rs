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
//! In such a tool's file (one with a top-level `performance` key) the
//! tool's other sections, at the top (`logging:`, `packages:` …) and under
//! `performance`, belong to the tool and are left alone; inside fusebox's
//! own sections every key is still checked.
//!
//! Durations are a string with units (`30s`, `250ms`, `5m`, `1m30s`) or a
//! bare number of seconds (`30`, `0.5`), at most 365 days.
//!
//! Unknown keys and bad values are errors naming the key, the value, the
//! file and, where the format gives it, the line. An empty file is an empty
//! configuration. A YAML file nested more than 128 levels deep is refused
//! before it is parsed (the TOML parser refuses such nesting itself).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::{BreakerConfig, CircuitBreaker, ConfigError};

pub(crate) mod de;
mod file;
mod locate;
mod nesting;

use file::File;

/// The contents of a configuration file.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// Settings every breaker starts from.
    pub defaults: BreakerConfig,
    /// Settings of named breakers, over the defaults.
    pub breakers: BTreeMap<String, BreakerConfig>,
}

#[derive(Clone, Copy)]
enum Format {
    Yaml,
    Toml,
}

/// A configuration file that could not be read or is invalid.
///
/// A file that cannot be read keeps the I/O error as its
/// [`source`](std::error::Error::source); errors are equal when path, line
/// and message are.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConfigFileError {
    /// The file, when the configuration came from one.
    pub path: Option<PathBuf>,
    /// The line of the problem, when the format gives it.
    pub line: Option<usize>,
    /// What is wrong, naming the key and the value (and the cause in
    /// words, when there is one).
    pub message: String,
    /// The I/O error that kept the file from being read.
    pub(crate) cause: Option<Cause>,
}

/// The error that caused a [`ConfigFileError`], and the words its message
/// ends with to tell it.
#[derive(Clone, Debug)]
pub(crate) struct Cause {
    error: std::sync::Arc<std::io::Error>,
    told: String,
}

impl PartialEq for ConfigFileError {
    fn eq(&self, other: &ConfigFileError) -> bool {
        self.path == other.path && self.line == other.line && self.message == other.message
    }
}

impl Eq for ConfigFileError {}

/// Path, line and message. When the error has a cause, its words are left
/// to `source()` (a report walking the chain would say them twice); the
/// alternate form, `{:#}`, tells them too.
impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = match &self.cause {
            // Only while `message` (a public field) still ends with them.
            Some(cause) if !f.alternate() => self
                .message
                .strip_suffix(cause.told.as_str())
                .and_then(|own| own.strip_suffix(": "))
                .unwrap_or(&self.message),
            _ => &self.message,
        };
        match (&self.path, self.line) {
            (Some(path), Some(line)) => write!(f, "{}:{line}: {message}", path.display()),
            (Some(path), None) => write!(f, "{}: {message}", path.display()),
            (None, Some(line)) => write!(f, "line {line}: {message}"),
            (None, None) => f.write_str(message),
        }
    }
}

impl std::error::Error for ConfigFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_ref()
            .map(|cause| &*cause.error as &(dyn std::error::Error + 'static))
    }
}

impl ConfigFileError {
    /// The same error caused by `cause`, told at the end of the message.
    fn caused_by(mut self, cause: std::io::Error) -> ConfigFileError {
        let told = cause.to_string();
        self.message = format!("{}: {told}", self.message);
        self.cause = Some(Cause {
            error: std::sync::Arc::new(cause),
            told,
        });
        self
    }
}

impl Config {
    /// Reads a `.yaml`, `.yml` or `.toml` file.
    ///
    /// # Errors
    ///
    /// A [`ConfigFileError`] naming the file (and the line, when the format
    /// gives it) when it cannot be read, its extension is not `.yaml`, `.yml`
    /// or `.toml`, it is not valid YAML or TOML, or a key or value is invalid.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Config, ConfigFileError> {
        let path = path.as_ref();
        let at = |line, message| ConfigFileError {
            path: Some(path.to_owned()),
            cause: None,
            line,
            message,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| at(None, "cannot read config file".to_owned()).caused_by(e))?;
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => Format::Yaml,
            Some("toml") => Format::Toml,
            _ => {
                return Err(at(
                    None,
                    "unknown config format: the file name must end in .yaml, .yml or .toml"
                        .to_owned(),
                ))
            }
        };
        Config::parse(&text, format).map_err(|e| at(e.line, e.message))
    }

    /// Parses YAML text.
    ///
    /// # Errors
    ///
    /// A [`ConfigFileError`] naming the line and the key when the text is not
    /// valid YAML, has an unknown key, or a value is invalid.
    pub fn from_yaml(text: &str) -> Result<Config, ConfigFileError> {
        Config::parse(text, Format::Yaml)
    }

    /// Parses TOML text.
    ///
    /// # Errors
    ///
    /// A [`ConfigFileError`] naming the line and the key when the text is not
    /// valid TOML, has an unknown key, or a value is invalid.
    pub fn from_toml(text: &str) -> Result<Config, ConfigFileError> {
        Config::parse(text, Format::Toml)
    }

    fn parse(text: &str, format: Format) -> Result<Config, ConfigFileError> {
        let file = match format {
            Format::Yaml => read_yaml(text)?,
            Format::Toml => read_toml(text)?,
        };
        let config = Config::from_parts(file);
        config.validate(|path| format.line_of(text, path))?;
        Ok(config)
    }

    fn from_parts(file: File) -> Config {
        let tool = file.performance.and_then(|p| p.circuit_breaker);
        let defaults = match (file.defaults, tool) {
            (Some(defaults), Some(tool)) => defaults.or(&tool),
            (defaults, tool) => defaults.or(tool).unwrap_or_default(),
        };
        Config {
            defaults,
            breakers: file.breakers.unwrap_or_default(),
        }
    }

    /// The settings of breaker `name`: its own over the defaults.
    pub fn for_breaker(&self, name: &str) -> BreakerConfig {
        match self.breakers.get(name) {
            Some(own) => own.or(&self.defaults),
            None => self.defaults.clone(),
        }
    }

    /// Checks the combinations of values no single key can check, such as a
    /// backoff cap below the recovery timeout; `line_of` finds the line of a
    /// key path in the text.
    fn validate(&self, line_of: impl Fn(&[&str]) -> Option<usize>) -> Result<(), ConfigFileError> {
        const DEFAULTS: &[&[&str]] = &[&["defaults"], &["performance", "circuit_breaker"]];
        let check = |place: &str, sections: &[&[&str]], settings: BreakerConfig| {
            settings
                .apply(CircuitBreaker::builder("config-check"))
                .check()
                .map_err(|e| {
                    let key = key_of(&e);
                    ConfigFileError {
                        path: None,
                        cause: None,
                        line: find_line(&line_of, sections, &key),
                        message: format!("{place}.{}: {e}", key.join(".")),
                    }
                })
        };
        check("defaults", DEFAULTS, self.defaults.clone())?;
        for name in self.breakers.keys() {
            let own = ["breakers", name.as_str()];
            if !crate::builder::is_valid_name(name) {
                return Err(ConfigFileError {
                    path: None,
                    cause: None,
                    line: line_of(&own),
                    message: format!("breakers: invalid breaker name {name:?}"),
                });
            }
            let sections = [&own[..], DEFAULTS[0], DEFAULTS[1]];
            check(
                &format!("breakers.{name}"),
                &sections,
                self.for_breaker(name),
            )?;
        }
        Ok(())
    }
}

/// Where in a file a setting refused by the builder is written.
fn key_of(e: &ConfigError) -> Vec<&str> {
    match e.field.as_str() {
        "failure_rate" => vec!["policy", "failure_rate"],
        "window" => vec!["policy", "window"],
        "minimum_calls" => vec!["policy", "minimum_calls"],
        "slow_call_duration" => vec!["slow_calls", "duration"],
        "slow_call_rate" => vec!["slow_calls", "rate"],
        field => field.split('.').collect(),
    }
}

/// The line of `key` in the first of `sections` that writes it, else of
/// its nearest enclosing key there (a `minimum_calls` left to its default
/// is reported at its `policy`), else of the first section present.
fn find_line(
    line_of: &impl Fn(&[&str]) -> Option<usize>,
    sections: &[&[&str]],
    key: &[&str],
) -> Option<usize> {
    (1..=key.len())
        .rev()
        .flat_map(|len| sections.iter().map(move |s| [*s, &key[..len]].concat()))
        .chain(sections.iter().map(|s| s.to_vec()))
        .find_map(|path| line_of(&path))
}

impl Format {
    /// The line of the value under `path`, if the text writes one.
    fn line_of(self, text: &str, path: &[&str]) -> Option<usize> {
        match self {
            Format::Yaml => locate::line_of(
                || Ok(serde_norway::Deserializer::from_str(text)),
                path,
                |e: &serde_norway::Error| e.location().map(|l| l.line()),
            ),
            Format::Toml => locate::line_of(
                || toml::Deserializer::parse(text),
                path,
                |e: &toml::de::Error| e.span().map(|span| line_at(text, span.start)),
            ),
        }
    }
}

fn read_yaml(text: &str) -> Result<File, ConfigFileError> {
    if text.trim().is_empty() {
        return Ok(File::default());
    }
    nesting::check_yaml(text).map_err(|deep| ConfigFileError {
        path: None,
        cause: None,
        line: Some(deep.line),
        message: format!(
            "nested more than {} levels deep; such a file is refused before it is parsed",
            nesting::MAX_NESTING
        ),
    })?;
    File::read(|| Ok(serde_norway::Deserializer::from_str(text))).map_err(
        |e: serde_norway::Error| ConfigFileError {
            path: None,
            cause: None,
            line: e.location().map(|l| l.line()),
            message: strip_location(&e.to_string()),
        },
    )
}

fn read_toml(text: &str) -> Result<File, ConfigFileError> {
    File::read(|| toml::Deserializer::parse(text)).map_err(|e| {
        let line = e.span().map(|span| line_at(text, span.start));
        // TOML errors do not name the key; quote the line, which does.
        let quoted = line
            .and_then(|n| text.lines().nth(n - 1))
            .map(|source| format!(" (in `{}`)", shortened(source.trim())))
            .unwrap_or_default();
        ConfigFileError {
            path: None,
            cause: None,
            line,
            message: format!("{}{quoted}", e.message().trim()),
        }
    })
}

/// A quoted line, cut short if long (a line of 200,000 `[` says nothing
/// more than its first 80 characters).
fn shortened(line: &str) -> String {
    const LONGEST: usize = 80;
    match line.char_indices().nth(LONGEST) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The YAML parser appends " at line L column C"; the line is reported
/// separately, so drop it from the message.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}
