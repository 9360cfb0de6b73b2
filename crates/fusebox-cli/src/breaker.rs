//! The breaker a command line describes: its store and its settings.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fusebox::store::Store;
use fusebox::{BreakerConfig, CircuitBreaker, Config, State};
use fusebox_stores::{SqliteStore, StoreUrl};

use crate::args::{BreakerArgs, ManualArgs};
use crate::Exit;

/// How long the CLI waits for a store: longer than the library's default,
/// since a cron job would rather wait a second than run on local state.
pub(crate) const STORE_TIMEOUT: Duration = Duration::from_secs(2);

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

/// The default SQLite file: $FUSEBOX_STATE, else
/// $XDG_STATE_HOME/fusebox/state.db, else ~/.local/state/fusebox/state.db.
fn default_state_path() -> Result<PathBuf, Exit> {
    let non_empty = |key: &str| std::env::var_os(key).filter(|v| !v.is_empty());
    if let Some(path) = non_empty("FUSEBOX_STATE") {
        return Ok(PathBuf::from(path));
    }
    if let Some(dir) = non_empty("XDG_STATE_HOME") {
        return Ok(PathBuf::from(dir).join("fusebox").join("state.db"));
    }
    match non_empty("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".local/state/fusebox/state.db")),
        None => Err(Exit::Store(
            "no place for state: set FUSEBOX_STATE, XDG_STATE_HOME or HOME, or pass --store".into(),
        )),
    }
}

fn open_sqlite(path: PathBuf) -> Result<Arc<dyn Store>, Exit> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            Exit::Store(format!(
                "cannot create state directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    let store = SqliteStore::open(&path)
        .and_then(|s| s.timeout(STORE_TIMEOUT))
        .map_err(|e| Exit::Store(e.to_string()))?;
    Ok(Arc::new(store))
}

/// The store named by `--store`, $FUSEBOX_STORE, or the default file.
pub(crate) fn open_store(args: &BreakerArgs) -> Result<Arc<dyn Store>, Exit> {
    let from_env = std::env::var("FUSEBOX_STORE")
        .ok()
        .filter(|v| !v.is_empty());
    let Some(url) = args.store.clone().or(from_env) else {
        return open_sqlite(default_state_path()?);
    };
    match StoreUrl::parse(&url).map_err(|e| Exit::Usage(e.to_string()))? {
        StoreUrl::Sqlite {
            path,
            prefix: None,
            timeout: None,
        } => open_sqlite(path),
        _ => fusebox_stores::open(&url).map_err(|e| Exit::Store(e.to_string())),
    }
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
pub(crate) fn build(
    name: &str,
    settings: &BreakerConfig,
    store: Arc<dyn Store>,
) -> Result<CircuitBreaker, Exit> {
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
