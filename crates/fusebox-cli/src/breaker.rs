//! The breaker a command line describes: its store and its settings.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use fusebox::store::Store;
use fusebox::{BreakerConfig, CircuitBreaker, Config, State};

use crate::args::{BreakerArgs, ManualArgs};
use crate::{store, Exit};

/// A duration flag: `30s`, `250ms`, `5m`, `1m30s`, or a bare number of
/// seconds (`30`, `0.5`), as in configuration files. The library's parser
/// and its words, so a flag and a file refuse the same values alike: longer
/// than zero, at most [`fusebox::Builder::MAX_DURATION`] (365 days).
pub(crate) fn duration(flag: &str, text: &str) -> Result<Duration, Exit> {
    let bad = |why: &str| Exit::Usage(format!("--{flag} {text:?}: {why}"));
    let trimmed = text.trim();
    let parsed = match trimmed.parse::<f64>() {
        Ok(secs) => {
            fusebox::__private::duration_from_secs(flag, secs).map_err(|e| bad(&e.expected))?
        }
        // `-5s`: refused as any number of seconds not above zero is.
        Err(_) if trimmed.starts_with('-') => {
            let why = fusebox::__private::duration_from_secs(flag, -1.0)
                .map_or_else(|e| e.expected, |_| String::new());
            return Err(bad(&why));
        }
        Err(_) => fusebox::parse_duration(trimmed).map_err(|e| bad(&e.expected()))?,
    };
    if parsed.is_zero() {
        let why = fusebox::__private::duration_from_secs(flag, 0.0)
            .map_or_else(|e| e.expected, |_| String::new());
        return Err(bad(&why));
    }
    Ok(parsed)
}

/// The longest breaker name, in bytes.
const MAX_NAME: usize = 256;

/// A breaker name from the command line: besides the library's rules (not
/// blank, no control characters), at most 256 bytes and no invisible
/// characters, so two names that read the same are the same breaker.
pub(crate) fn check_name(name: &str) -> Result<(), Exit> {
    let shown = || crate::human::name(name, 40);
    if name.len() > MAX_NAME {
        return Err(Exit::Usage(format!(
            "invalid breaker name '{}': {} bytes long, the most is {MAX_NAME}",
            shown(),
            name.len()
        )));
    }
    if name.trim().is_empty() {
        return Err(Exit::Usage(format!(
            "invalid breaker name {name:?}: it is blank"
        )));
    }
    if let Some(c) = name.chars().find(|c| crate::human::is_invisible(*c)) {
        return Err(Exit::Usage(format!(
            "invalid breaker name '{}': it holds the invisible or control character {}",
            shown(),
            c.escape_unicode()
        )));
    }
    Ok(())
}

/// The store named by `--store`, $FUSEBOX_STORE, or the default file,
/// opened to run breakers on.
pub(crate) fn open_store(args: &BreakerArgs) -> Result<Arc<dyn Store>, Exit> {
    store::open_for_writing(&store::locate(args)?)
}

/// Settings from `--config` for `name`, then the flags over them.
fn settings(name: &str, args: &BreakerArgs) -> Result<BreakerConfig, Exit> {
    let mut settings = match &args.config {
        Some(path) => Config::from_file(path)
            .map_err(|e| Exit::Usage(format!("{e:#}")))?
            .for_breaker(name),
        None => BreakerConfig::default(),
    };
    if let Some(n) = args.failure_threshold {
        settings.failure_threshold = Some(n);
    }
    if let Some(text) = &args.recovery_timeout {
        settings.recovery_timeout = Some(duration("recovery-timeout", text)?);
    }
    if let Some(n) = args.success_threshold {
        settings.success_threshold = Some(n);
    }
    if let Some(n) = args.half_open_max_calls {
        settings.half_open_max_calls = Some(n);
    }
    Ok(settings)
}

/// Checks the settings before anything touches the store.
pub(crate) fn check(name: &str, args: &BreakerArgs) -> Result<BreakerConfig, Exit> {
    check_name(name)?;
    let settings = settings(name, args)?;
    settings
        .apply(CircuitBreaker::builder(name))
        .check()
        .map_err(|e| Exit::Usage(flag_error(&e)))?;
    Ok(settings)
}

/// A library `ConfigError` in the words of the command line.
fn flag_error(e: &fusebox::ConfigError) -> String {
    match e.field.as_str() {
        "name" => format!("invalid breaker name {}: {}", e.value, e.expected),
        field => format!("--{} {}: {}", field.replace('_', "-"), e.value, e.expected),
    }
}

/// The breaker `name` on `store`.
///
/// `enabled` is left out: a file's `enabled: false` holds while the file
/// says so (`run` then runs COMMAND without the breaker), whereas a breaker
/// built disabled would write a manual Disabled state to the store that
/// outlives the file. Only the manual commands write manual states.
pub(crate) fn build(
    name: &str,
    settings: &BreakerConfig,
    store: Arc<dyn Store>,
) -> Result<CircuitBreaker, Exit> {
    let mut settings = settings.clone();
    settings.enabled = None;
    settings
        .apply(CircuitBreaker::builder(name))
        .shared_store(store)
        .build()
        .map_err(|e| Exit::Usage(flag_error(&e)))
}

/// `trip`, `reset`, `disable`, `force-open`.
pub(crate) fn manual(args: ManualArgs, to: State) -> Result<u8, Exit> {
    let settings = check(&args.name, &args.breaker)?;
    let store = open_store(&args.breaker)?;
    let now = change(&args.name, &settings, store, to)?;
    // A reader that went away (`| head -0`) is not an error: the change is made.
    let _ = writeln!(std::io::stdout(), "circuit '{}' is now {now}", args.name);
    Ok(0)
}

/// Moves breaker `name` on `store` to `to` by hand (Open: tripped for its
/// recovery timeout; Closed: reset) and returns the state it is in after.
/// An error if the store cannot be reached: then nothing changed there.
pub(crate) fn change(
    name: &str,
    settings: &BreakerConfig,
    store: Arc<dyn Store>,
    to: State,
) -> Result<State, Exit> {
    store::reach(&*store, name, false)
        .map_err(|why| Exit::Store(format!("{why}; circuit '{name}' is unchanged")))?;
    let breaker = build(name, settings, store)?;
    match to {
        State::Open => breaker.trip(),
        State::Closed => breaker.reset(),
        State::Disabled => breaker.disable(),
        _ => breaker.force_open(),
    }
    let metrics = breaker.metrics();
    if metrics.degraded {
        return Err(Exit::Store(format!(
            "circuit '{name}' changed only locally: its store could not be reached"
        )));
    }
    Ok(breaker.state())
}
