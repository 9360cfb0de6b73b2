//! Shared state: one breaker for several processes or hosts.
//!
//! A [`Store`] keeps each breaker's state as one line of text under a key and
//! changes it with atomic read-modify-write transactions. The breaker runs
//! its pure state machine inside each transaction, so every process sharing
//! a name applies the same semantics to the same state: five failures in
//! total open it for all, and at most `half_open_max_calls` trial calls run
//! across the fleet. Nothing is held in the store while a call runs: taking
//! a permit is one transaction and reporting its outcome another.
//!
//! In *fleet mode* (a store whose [`Store::sync_interval`] is set, e.g.
//! `sync_every(10ms)` or `?sync=10ms` in a store URL) a breaker runs in
//! memory instead, counts its closed calls locally and merges them into the
//! shared state once per interval; trial calls and manual operations stay
//! one transaction each. See the [guide](crate::_guide), "Fleet mode".
//!
//! Implementations live in the `fusebox-stores` crate (`SqliteStore`,
//! `RedisStore`).

use std::fmt;
use std::time::Duration;

/// Where shared breakers keep their state.
///
/// Implementations must make [`transact`](Store::transact) atomic with
/// respect to every other process using the same store, and must give up
/// after their timeout instead of blocking the caller. An error after the
/// write was sent, whose answer never came, must say so
/// ([`StoreError::maybe_written`]).
pub trait Store: Send + Sync + 'static {
    /// Atomically reads the text stored for breaker `name` (`None` when
    /// absent or expired), passes it to `update` with the store's current
    /// time in nanoseconds since the Unix epoch, and stores what `update`
    /// returns (`None`: leave it unchanged). `update` may run more than once
    /// (an optimistic store retries on conflict); only the run whose result
    /// was stored counts.
    fn transact(&self, name: &str, update: &mut Update<'_>) -> Result<(), StoreError>;

    /// The time, in nanoseconds since the Unix epoch, to use while the store
    /// cannot be reached. Must not touch the store.
    fn local_now(&self) -> u64;

    /// A short description for logs, e.g. `sqlite store /var/lib/app/state.db`.
    fn describe(&self) -> String;

    /// The names of the breakers the store holds, sorted.
    fn names(&self) -> Result<Vec<String>, StoreError>;

    /// How often breakers kept here synchronise with the store in fleet
    /// mode (see the [guide](crate::_guide), "Fleet mode"); `None`, the default, for one
    /// transaction per call.
    fn sync_interval(&self) -> Option<Duration> {
        None
    }

    /// Tells every process watching the store (see [`watch`](Self::watch))
    /// that breaker `name` changed state. The default tells nobody: the
    /// others see the change at their next synchronisation.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the message could not be sent.
    fn notify(&self, name: &str) -> Result<(), StoreError> {
        let _ = name;
        Ok(())
    }

    /// Calls `changed` with a breaker's name whenever some process
    /// [notifies](Self::notify) a change of it, from a thread of the
    /// store's, until `changed` returns `false`. Returns `false` when the
    /// store cannot push changes (the default).
    fn watch(&self, changed: Watcher) -> bool {
        let _ = changed;
        false
    }
}

/// A callback given to [`Store::watch`]: called with the name of a breaker
/// that changed; returns `false` once it wants no more calls.
pub type Watcher = std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// The update function given to [`Store::transact`].
pub type Update<'a> = dyn FnMut(Option<&str>, u64) -> Option<String> + 'a;

/// Why a store operation failed.
///
/// Its message is the whole story for people: the store, what failed and
/// the database's or client's words (a password never shows). Programs
/// that need the cause itself (an [`std::io::Error`], a `rusqlite::Error`,
/// a `redis::RedisError`) find it as [`source`](std::error::Error::source)
/// and can downcast it. Two errors are equal when kind, message and
/// `maybe_written` are: causes are not compared.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StoreError {
    /// What kind of failure.
    pub kind: StoreErrorKind,
    /// What went wrong, naming the store, and the cause in words: the
    /// whole story, fit to show on its own (`{:#}` prints the same).
    pub message: String,
    /// The write was sent but its answer did not come in time, so the
    /// store may have stored it: the caller must not simply apply the same
    /// change again (it could count twice), nor take it as lost.
    pub maybe_written: bool,
    /// The error of the database or client that caused this one.
    cause: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
    /// The cause in the words `message` ends with, which `Display`
    /// leaves to the source chain.
    told: String,
}

impl PartialEq for StoreError {
    fn eq(&self, other: &StoreError) -> bool {
        self.kind == other.kind
            && self.message == other.message
            && self.maybe_written == other.maybe_written
    }
}

impl Eq for StoreError {}

/// The kinds of [`StoreError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The store could not be reached or refused the operation.
    Unavailable,
    /// The store did not answer within its timeout (or stayed locked).
    Timeout,
    /// The store could not be opened: bad URL, path or permissions.
    Open,
}

impl fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreErrorKind::Unavailable => "store unavailable",
            StoreErrorKind::Timeout => "store timed out",
            StoreErrorKind::Open => "store cannot be opened",
        })
    }
}

impl StoreError {
    /// An error of `kind` with `message`.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> StoreError {
        StoreError {
            kind,
            message: message.into(),
            maybe_written: false,
            cause: None,
            told: String::new(),
        }
    }

    /// The same error, caused by `cause` (the database's or client's own
    /// error): kept as its [`source`](std::error::Error::source), and told
    /// at the end of [`message`](StoreError::message) after a colon.
    #[must_use]
    pub fn caused_by(self, cause: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        let words = cause.to_string();
        self.caused_by_in_words(cause, &words)
    }

    /// As [`caused_by`](StoreError::caused_by), telling the cause in
    /// `words` of the caller's choosing (a client's error without its
    /// type names, say, or with a secret hidden).
    #[must_use]
    pub fn caused_by_in_words(
        mut self,
        cause: impl std::error::Error + Send + Sync + 'static,
        words: &str,
    ) -> StoreError {
        self.message = format!("{}: {words}", self.message);
        self.told = words.to_owned();
        self.cause = Some(std::sync::Arc::new(cause));
        self
    }

    /// The same error, saying that the write may have been stored.
    pub fn maybe_written(mut self) -> StoreError {
        self.maybe_written = true;
        self
    }
}

/// The error's own words; the cause is its `source()`, as the Rust API
/// guidelines have it (a report that walks the chain would otherwise say
/// the cause twice). The alternate form, `{:#}`, is the whole `message`.
impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only while `message` still ends with the cause's words: it is a
        // public field, and a caller may have added to it.
        let own = (self.cause.is_some() && !f.alternate())
            .then(|| {
                self.message
                    .strip_suffix(self.told.as_str())?
                    .strip_suffix(": ")
            })
            .flatten();
        f.write_str(own.unwrap_or(&self.message))
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|cause| cause as &(dyn std::error::Error + 'static))
    }
}

/// A store in this process's memory: breakers built on it with the same
/// name share one state, like processes sharing a database. Useful to test
/// code written for a shared store, and as the `memory:` store URL.
#[derive(Clone, Default)]
pub struct MemoryStore {
    entries: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
    watchers: std::sync::Arc<std::sync::Mutex<Vec<Watcher>>>,
    clock: Option<crate::ManualClock>,
    sync: Option<Duration>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("clock", &self.clock)
            .field("sync", &self.sync)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store on the system's wall clock.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Uses `clock` (nanoseconds since its origin) instead of the wall
    /// clock, for tests that move time by hand.
    #[must_use]
    pub fn with_clock(mut self, clock: crate::ManualClock) -> MemoryStore {
        self.clock = Some(clock);
        self
    }

    /// Fleet mode: breakers built on this store count closed calls locally
    /// and synchronise every `interval` (see the [guide](crate::_guide),
    /// "Fleet mode").
    #[must_use]
    pub fn sync_every(mut self, interval: Duration) -> MemoryStore {
        self.sync = Some(interval);
        self
    }

    /// The raw text kept for `name`, as a database would show it.
    pub fn raw(&self, name: &str) -> Option<String> {
        self.lock().get(name).cloned()
    }

    /// Puts raw text under `name`, as a foreign writer might.
    pub fn put_raw(&self, name: &str, text: &str) {
        self.lock().insert(name.to_owned(), text.to_owned());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, String>> {
        crate::sync::lock_std(&self.entries)
    }
}

impl Store for MemoryStore {
    fn transact(&self, name: &str, update: &mut Update<'_>) -> Result<(), StoreError> {
        let now = self.local_now();
        let mut entries = self.lock();
        if let Some(text) = update(entries.get(name).map(String::as_str), now) {
            entries.insert(name.to_owned(), text);
        }
        Ok(())
    }

    fn local_now(&self) -> u64 {
        crate::clock::store_now(self.clock.as_ref())
    }

    fn describe(&self) -> String {
        "memory:".to_owned()
    }

    fn names(&self) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = self.lock().keys().cloned().collect();
        names.sort();
        Ok(names)
    }

    fn sync_interval(&self) -> Option<Duration> {
        self.sync
    }

    fn notify(&self, name: &str) -> Result<(), StoreError> {
        // Called outside the lock: a watcher may use the store.
        let watchers = crate::sync::lock_std(&self.watchers).clone();
        let gone: Vec<Watcher> = watchers.into_iter().filter(|w| !w(name)).collect();
        if !gone.is_empty() {
            crate::sync::lock_std(&self.watchers)
                .retain(|w| !gone.iter().any(|g| std::sync::Arc::ptr_eq(g, w)));
        }
        Ok(())
    }

    fn watch(&self, changed: Watcher) -> bool {
        crate::sync::lock_std(&self.watchers).push(changed);
        true
    }
}
