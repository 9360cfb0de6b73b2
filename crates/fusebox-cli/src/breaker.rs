//! The breaker a command line describes: its store and its settings.

use std::sync::Arc;
use std::time::Duration;

use fusebox::store::Store;
use fusebox::{BreakerConfig, CircuitBreaker, Config, State};

use crate::args::{BreakerArgs, ManualArgs};
use crate::{store, Exit};

/// A duration flag: `30s`, `250ms`, `5m`, or a bare number of seconds.
pub(crate) fn duration(flag: &str, text: &str) -> Result<Duration, Exit> {
    let parsed = match text.trim().parse::<f64>() {
        Ok(secs) => fusebox::duration_from_secs(flag, secs).map_err(|e| e.to_string()),
        Err(_) => fusebox::parse_duration(text),
    };
    match parsed {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(Exit::Usage(format!(
            "--{flag} {text:?}: must be longer than zero"
        ))),
        Err(why) => Err(Exit::Usage(format!("--{flag}: {why}"))),
    }
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
            .map_err(|e| Exit::Usage(e.to_string()))?
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
    let breaker = build(&args.name, &settings, store)?;
    match to {
        State::Open => breaker.trip(),
        State::Closed => breaker.reset(),
        State::Disabled => breaker.disable(),
        _ => breaker.force_open(),
    }
    let metrics = breaker.metrics();
    if metrics.degraded {
        return Err(Exit::Store(format!(
            "circuit '{}' changed only locally: its store could not be reached",
            args.name
        )));
    }
    println!("circuit '{}' is now {}", args.name, breaker.state());
    Ok(0)
}
