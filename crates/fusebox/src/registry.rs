use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::sync::lock_std;

use crate::store::Store;
use crate::transition::Listener;
use crate::{BreakerConfig, CircuitBreaker, Clock, ConfigError, Metrics, Transition};

/// Breakers by name, made on first use from defaults and per-name settings.
///
/// ```
/// use fusebox::{BreakerConfig, Registry};
///
/// let mut defaults = BreakerConfig::default();
/// defaults.failure_threshold = Some(3);
/// let registry = Registry::new().with_defaults(defaults)?;
/// let a = registry.get_or_create("api_calls");
/// let b = registry.get_or_create("api_calls");
/// a.trip();
/// assert_eq!(b.state(), fusebox::State::Open); // one breaker
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    defaults: BreakerConfig,
    overrides: BTreeMap<String, BreakerConfig>,
    clock: Option<Clock>,
    listeners: Vec<Listener>,
    store: Option<Arc<dyn Store>>,
    breakers: Mutex<BTreeMap<String, CircuitBreaker>>,
}

impl Registry {
    /// An empty registry whose breakers use the [`Builder`](crate::Builder) defaults.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// A registry with the defaults and per-name settings of a configuration file.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first invalid setting, as
    /// [`with_defaults`](Self::with_defaults) and
    /// [`with_overrides`](Self::with_overrides).
    #[cfg(feature = "config")]
    #[cfg_attr(docsrs, doc(cfg(feature = "config")))]
    pub fn from_config(config: crate::Config) -> Result<Registry, ConfigError> {
        Registry::new()
            .with_defaults(config.defaults)?
            .with_overrides(config.breakers)
    }

    /// A registry configured from a YAML or TOML file.
    ///
    /// # Errors
    ///
    /// A [`ConfigFileError`](crate::ConfigFileError) naming the file: it
    /// cannot be read or parsed, or a setting is invalid.
    #[cfg(feature = "config")]
    #[cfg_attr(docsrs, doc(cfg(feature = "config")))]
    pub fn from_file(
        path: impl AsRef<std::path::Path>,
    ) -> Result<Registry, crate::ConfigFileError> {
        let config = crate::Config::from_file(path.as_ref())?;
        Registry::from_config(config).map_err(|e| crate::ConfigFileError {
            path: Some(path.as_ref().to_owned()),
            cause: None,
            line: None,
            message: e.to_string(),
        })
    }

    /// Sets the settings every breaker starts from, refusing invalid ones.
    /// Call before the first `get_or_create`: breakers already made keep
    /// their settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first invalid setting, in the defaults
    /// or in a per-name setting over them.
    pub fn with_defaults(self, defaults: BreakerConfig) -> Result<Registry, ConfigError> {
        check(&defaults)?;
        for own in self.inner.overrides.values() {
            check(&own.or(&defaults))?;
        }
        Ok(self.rebuild(|inner| inner.defaults = defaults))
    }

    /// Sets per-name settings, over the defaults, refusing invalid ones.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first invalid per-name setting (over the
    /// defaults).
    pub fn with_overrides(
        self,
        overrides: BTreeMap<String, BreakerConfig>,
    ) -> Result<Registry, ConfigError> {
        for own in overrides.values() {
            check(&own.or(&self.inner.defaults))?;
        }
        Ok(self.rebuild(|inner| inner.overrides = overrides))
    }

    /// Uses this clock for every breaker made from now on.
    #[must_use]
    pub fn with_clock(self, clock: impl Into<Clock>) -> Registry {
        let clock = clock.into();
        self.rebuild(|inner| inner.clock = Some(clock))
    }

    /// Gives every breaker made from now on this listener, called after
    /// each of its transitions (see [`Builder::on_transition`]).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use fusebox::Registry;
    ///
    /// let tripped = Arc::new(Mutex::new(Vec::new()));
    /// let log = tripped.clone();
    /// let registry = Registry::new().on_transition(move |t| log.lock().unwrap().push(t.name.to_string()));
    /// registry.get_or_create("payments").trip();
    /// assert_eq!(*tripped.lock().unwrap(), ["payments"]);
    /// ```
    ///
    /// [`Builder::on_transition`]: crate::Builder::on_transition
    #[must_use]
    pub fn on_transition(self, listener: impl Fn(&Transition) + Send + Sync + 'static) -> Registry {
        let listener: Listener = Arc::new(listener);
        self.rebuild(|inner| inner.listeners.push(listener))
    }

    /// Keeps the state of every breaker made from now on in `store`, each
    /// under its own name (see [`Builder::store`]).
    ///
    /// [`Builder::store`]: crate::Builder::store
    #[must_use]
    pub fn with_store(self, store: impl Store) -> Registry {
        self.with_shared_store(Arc::new(store))
    }

    /// Like [`with_store`](Self::with_store), for a store used elsewhere too.
    #[must_use]
    pub fn with_shared_store(self, store: Arc<dyn Store>) -> Registry {
        self.rebuild(|inner| inner.store = Some(store))
    }

    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Registry {
        let mut inner = Inner {
            defaults: self.inner.defaults.clone(),
            overrides: self.inner.overrides.clone(),
            clock: self.inner.clock.clone(),
            listeners: self.inner.listeners.clone(),
            store: self.inner.store.clone(),
            breakers: Mutex::new(lock_std(&self.inner.breakers).clone()),
        };
        change(&mut inner);
        Registry {
            inner: Arc::new(inner),
        }
    }

    /// The breaker called `name`, made from the registry's settings the
    /// first time. Every call with the same name returns the same breaker.
    ///
    /// Settings were checked when given to the registry, so this cannot
    /// fail. A name no breaker may have (empty, or with control characters)
    /// is used in its quoted form, `""` for the empty name.
    pub fn get_or_create(&self, name: &str) -> CircuitBreaker {
        let mut breakers = lock_std(&self.inner.breakers);
        if let Some(breaker) = breakers.get(name) {
            return breaker.clone();
        }
        let settings = match self.inner.overrides.get(name) {
            Some(own) => own.or(&self.inner.defaults),
            None => self.inner.defaults.clone(),
        };
        let shown = if crate::builder::is_valid_name(name) {
            name.to_owned()
        } else {
            format!("{name:?}")
        };
        let mut builder = settings.apply(CircuitBreaker::builder(shown));
        if let Some(clock) = &self.inner.clock {
            builder = builder.clock(clock.clone());
        }
        if let Some(store) = &self.inner.store {
            builder = builder.shared_store(store.clone());
        }
        for listener in &self.inner.listeners {
            let listener = listener.clone();
            builder = builder.on_transition(move |t| listener(t));
        }
        let breaker = builder
            .build()
            .expect("settings and name were checked before");
        breakers.insert(name.to_owned(), breaker.clone());
        breaker
    }

    /// The breaker called `name`, if it was made.
    pub fn get(&self, name: &str) -> Option<CircuitBreaker> {
        lock_std(&self.inner.breakers).get(name).cloned()
    }

    /// Forgets the breaker called `name` and returns it: the registry's
    /// next `get_or_create(name)` makes a new one. For names that come and
    /// go (per host, per tenant), so the registry does not grow forever; the
    /// breaker itself lives on while any clone of it does.
    pub fn remove(&self, name: &str) -> Option<CircuitBreaker> {
        lock_std(&self.inner.breakers).remove(name)
    }

    /// Every breaker made so far, by name.
    pub fn breakers(&self) -> Vec<CircuitBreaker> {
        lock_std(&self.inner.breakers).values().cloned().collect()
    }

    /// A metrics snapshot of every breaker made so far, by name.
    pub fn metrics(&self) -> Vec<Metrics> {
        self.breakers()
            .iter()
            .map(CircuitBreaker::metrics)
            .collect()
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("defaults", &self.inner.defaults)
            .field("overrides", &self.inner.overrides.keys())
            .field("breakers", &lock_std(&self.inner.breakers).keys())
            .finish()
    }
}

fn check(settings: &BreakerConfig) -> Result<(), ConfigError> {
    settings.apply(CircuitBreaker::builder("registry")).check()
}
