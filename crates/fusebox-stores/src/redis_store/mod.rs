use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use fusebox::store::{store_now, wall_clock_nanos, Store, StoreError, StoreErrorKind, Update};
use fusebox::ManualClock;
use redis::{Connection, ConnectionInfo, IntoConnectionInfo, Script, Value};

use crate::deadline::Deadline;
use crate::pool::Pool;
use crate::redact::redact_url;
use crate::{state_name, DEFAULT_PREFIX, DEFAULT_TIMEOUT, DEFAULT_TTL};

mod connect;
mod peek;
mod watch;

use connect::ConnectError;

const READ_LUA: &str = include_str!("../../scripts/read.lua");
const COMPARE_AND_SET_LUA: &str = include_str!("../../scripts/compare_and_set.lua");
static READ: LazyLock<Script> = LazyLock::new(|| Script::new(READ_LUA));
static COMPARE_AND_SET: LazyLock<Script> = LazyLock::new(|| Script::new(COMPARE_AND_SET_LUA));

/// The least time a command may wait for its answer, even when the call's
/// budget is spent (a socket cannot wait zero).
const MIN_WAIT: Duration = Duration::from_millis(1);

/// How early a socket's timeout may fire and still be the call's timeout.
const TIMER_SLACK: Duration = Duration::from_millis(5);

/// Breaker state in Redis, shared by every host using the server.
///
/// Each breaker is one hash, `prefix + name`, with fields `machine` (the
/// state), `state` (its name, for people) and `version`. A change reads the
/// hash and the server's `TIME` with one script, runs the state machine, and
/// stores the result with a compare-and-set script that fails if the version
/// moved on, in which case it reads again. No lock is held in Redis, least
/// of all while a call runs.
///
/// Writes and reads of a breaker in use refresh the key's time to live; a
/// manual state (forced open, disabled) never expires. A key that holds
/// something fusebox did not write (another type, a damaged hash) is reset.
///
/// The timeout (default 50 ms) bounds each call as a whole: taking a
/// connection (each caller takes an idle one or makes its own, so nobody
/// queues behind another), looking the host up, connecting, and every
/// command of the transaction, retries included. A connection that failed
/// is closed.
pub struct RedisStore {
    info: ConnectionInfo,
    pool: Arc<Pool<Connection>>,
    /// The URL with its password hidden: the only form ever shown.
    shown_url: String,
    prefix: String,
    timeout: Duration,
    ttl: Duration,
    clock: Option<ManualClock>,
    /// Server time minus local wall time at the last read, for degraded mode.
    offset: AtomicI64,
    /// Fleet mode's interval (`None`: one transaction per call).
    sync: Option<Duration>,
    watchers: Arc<watch::Watchers>,
}

impl RedisStore {
    /// A store on the server at `url` (`redis://host:port/db`). Connects
    /// lazily: a server that is down makes calls degrade, not this fail.
    pub fn open(url: &str) -> Result<RedisStore, StoreError> {
        let shown_url = redact_url(url);
        let info = url.into_connection_info().map_err(|e| {
            let why = hide_password(&plain_words(&e.to_string()), url);
            StoreError::new(
                StoreErrorKind::Open,
                format!("bad redis url {shown_url:?}: {why}"),
            )
        })?;
        Ok(RedisStore {
            info,
            pool: Arc::new(Pool::new()),
            shown_url,
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            ttl: DEFAULT_TTL,
            clock: None,
            offset: AtomicI64::new(0),
            sync: None,
            watchers: Arc::default(),
        })
    }

    /// Gives up on a call after `timeout` (default 50 ms), whatever it
    /// spent that time on.
    pub fn timeout(mut self, timeout: Duration) -> RedisStore {
        self.timeout = timeout;
        self
    }

    /// Keys are `prefix` + breaker name (default `circuit_breaker:`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> RedisStore {
        self.prefix = prefix.into();
        self
    }

    /// Idle breakers expire after `ttl` (default 7 days).
    pub fn ttl(mut self, ttl: Duration) -> RedisStore {
        self.ttl = ttl;
        self
    }

    /// Fleet mode: breakers kept here admit and count closed calls in
    /// memory and synchronise with the server every `interval` (10 ms is a
    /// good start), so a call costs what an in-memory breaker's does; trips
    /// reach the other processes at once through a Redis channel,
    /// `<prefix>changes`. See the `fusebox` crate's guide, "Fleet mode",
    /// for what is exact and what is bounded.
    #[must_use]
    pub fn sync_every(mut self, interval: Duration) -> RedisStore {
        self.sync = Some(interval);
        self
    }

    /// Uses `clock` instead of the server's `TIME`, for tests that move
    /// time by hand.
    pub fn with_clock(mut self, clock: ManualClock) -> RedisStore {
        self.clock = Some(clock);
        self
    }

    fn error(&self, e: &redis::RedisError) -> StoreError {
        self.error_by(e, None)
    }

    /// An error from a command of a call with `deadline`: an I/O error at
    /// the deadline is its timeout, however the client words it (a socket's
    /// read timeout can surface as "Resource temporarily unavailable", and
    /// fire a little early).
    fn error_by(&self, e: &redis::RedisError, deadline: Option<&Deadline>) -> StoreError {
        let words = e.to_string();
        let late = e.is_io_error()
            && (deadline.is_some_and(|d| d.remaining().is_none_or(|left| left < TIMER_SLACK))
                || words.contains("temporarily unavailable")
                || words.contains("timed out"));
        let kind = if e.is_timeout() || late {
            StoreErrorKind::Timeout
        } else {
            StoreErrorKind::Unavailable
        };
        self.failure(kind, &plain_words(&words))
    }

    /// An error naming the store, with no password in it whatever `why`
    /// quotes.
    fn failure(&self, kind: StoreErrorKind, why: &str) -> StoreError {
        let why = match self.info.redis_settings().password() {
            Some(password) if !password.is_empty() => why.replace(password, "***"),
            _ => why.to_owned(),
        };
        StoreError::new(kind, format!("redis store {}: {why}", self.shown_url))
    }

    fn timed_out(&self, deadline: &Deadline, during: &str) -> StoreError {
        self.failure(
            StoreErrorKind::Timeout,
            &format!("no answer within {:?} ({during})", deadline.timeout()),
        )
    }

    fn connect(&self, deadline: &Deadline) -> Result<Connection, StoreError> {
        connect::connect(&self.info, deadline, &self.pool).map_err(|e| match e {
            ConnectError::TimedOut(during) => self.timed_out(deadline, during),
            ConnectError::Lookup(why) => self.failure(StoreErrorKind::Unavailable, &why),
            ConnectError::Redis(e) => self.error(&e),
        })
    }

    /// Lets the next command wait only for what is left of the call (at
    /// least a millisecond: an answer already on its way is taken).
    fn limit(&self, connection: &Connection, deadline: &Deadline) -> Result<(), StoreError> {
        let left = deadline.wait_at_most(MIN_WAIT);
        connection
            .set_read_timeout(Some(left))
            .and_then(|()| connection.set_write_timeout(Some(left)))
            .map_err(|e| self.error(&e))
    }

    fn ttl_millis(&self) -> u64 {
        u64::try_from(self.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// One read-modify-write; `Ok(false)` when another writer got there
    /// first.
    fn attempt(
        &self,
        connection: &mut Connection,
        key: &str,
        update: &mut Update<'_>,
        deadline: &Deadline,
    ) -> Result<bool, StoreError> {
        self.limit(connection, deadline)?;
        type Read = (Option<Vec<u8>>, Option<Vec<u8>>, u64, u64);
        let (machine, version, seconds, micros): Read = READ
            .key(key)
            .arg(self.ttl_millis())
            .invoke(connection)
            .map_err(|e| self.error_by(&e, Some(deadline)))?;
        let server_now = seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(micros.saturating_mul(1_000));
        self.offset.store(
            (server_now as i64).wrapping_sub(wall_clock_nanos() as i64),
            Ordering::Relaxed,
        );
        let now = match self.clock {
            Some(_) => self.local_now(),
            None => server_now,
        };
        let machine = machine.map(|bytes| {
            String::from_utf8(bytes).unwrap_or_else(|e| {
                format!(
                    "(machine holds {} bytes that are not UTF-8)",
                    e.as_bytes().len()
                )
            })
        });
        let Some(text) = update(machine.as_deref(), now) else {
            return Ok(true);
        };
        self.limit(connection, deadline)?;
        let stored: Value = COMPARE_AND_SET
            .key(key)
            .arg(version.unwrap_or_default())
            .arg(&text)
            .arg(state_name(&text))
            .arg(self.ttl_millis())
            .invoke(connection)
            .map_err(|e| {
                let error = self.error_by(&e, Some(deadline));
                // Sent, but no answer: the server may have run it.
                if e.is_timeout() || e.is_io_error() || e.is_connection_dropped() {
                    error.maybe_written()
                } else {
                    error
                }
            })?;
        Ok(matches!(stored, Value::Int(1)))
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.shown_url)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("ttl", &self.ttl)
            .field("sync", &self.sync)
            .finish_non_exhaustive()
    }
}

/// `text` with `url`'s password, should it quote it, hidden.
fn hide_password(text: &str, url: &str) -> String {
    let shown = redact_url(url);
    let text = text.replace(url, &shown);
    // The password alone: what the redaction replaced.
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest[..rest.find(['?', '#']).unwrap_or(rest.len())].rsplit_once('@'))
        .and_then(|(user_info, _)| user_info.split_once(':'))
        .map(|(_, password)| password)
        .filter(|password| !password.is_empty());
    match password {
        Some(password) => text.replace(password, "***"),
        None => text,
    }
}

/// `prefix` as a `SCAN MATCH` pattern matching it literally, then anything.
fn scan_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('*');
    pattern
}

impl Store for RedisStore {
    fn transact(&self, name: &str, update: &mut Update<'_>) -> Result<(), StoreError> {
        let deadline = Deadline::after(self.timeout);
        let key = format!("{}{name}", self.prefix);
        let (mut connection, mut pooled) = match self.pool.take() {
            Some(connection) => (connection, true),
            None => (self.connect(&deadline)?, false),
        };
        loop {
            match self.attempt(&mut connection, &key, update, &deadline) {
                Ok(true) => {
                    self.pool.put(connection);
                    return Ok(());
                }
                // Another writer got there first: read again, within the
                // call's budget.
                Ok(false) => {}
                // An idle connection may have died with a restarted server:
                // one fresh connection is worth a try.
                Err(e) if pooled && e.kind == StoreErrorKind::Unavailable && !e.maybe_written => {
                    connection = self.connect(&deadline)?;
                    pooled = false;
                }
                Err(e) => {
                    if e.kind == StoreErrorKind::Timeout {
                        // Still sound: the client skips the late answer.
                        self.pool.put(connection);
                    }
                    return Err(e);
                }
            }
            if deadline.remaining().is_none() {
                self.pool.put(connection);
                return Err(self.failure(
                    StoreErrorKind::Timeout,
                    &format!(
                        "{key} kept changing under other writers for {:?}",
                        deadline.timeout()
                    ),
                ));
            }
        }
    }

    fn local_now(&self) -> u64 {
        match &self.clock {
            Some(_) => store_now(self.clock.as_ref()),
            None => wall_clock_nanos().saturating_add_signed(self.offset.load(Ordering::Relaxed)),
        }
    }

    fn describe(&self) -> String {
        format!("redis store {}", self.shown_url)
    }

    fn sync_interval(&self) -> Option<Duration> {
        self.sync
    }

    fn notify(&self, name: &str) -> Result<(), StoreError> {
        self.publish(name)
    }

    fn watch(&self, changed: fusebox::store::Watcher) -> bool {
        self.add_watcher(changed)
    }

    /// The breakers under the prefix. Keys that are not UTF-8 cannot be a
    /// breaker's name and are left out. Each `SCAN` round has the store's
    /// timeout.
    fn names(&self) -> Result<Vec<String>, StoreError> {
        let deadline = Deadline::after(self.timeout);
        let mut connection = match self.pool.take() {
            Some(connection) => connection,
            None => self.connect(&deadline)?,
        };
        connection
            .set_read_timeout(Some(self.timeout))
            .and_then(|()| connection.set_write_timeout(Some(self.timeout)))
            .map_err(|e| self.error(&e))?;
        let keys: Vec<Vec<u8>> = redis::cmd("SCAN")
            .cursor_arg(0)
            .arg("MATCH")
            .arg(scan_pattern(&self.prefix))
            .arg("COUNT")
            .arg(1000)
            .clone()
            .iter(&mut connection)
            .map_err(|e| self.error(&e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.error(&e))?;
        self.pool.put(connection);
        let mut names: Vec<String> = keys
            .into_iter()
            .filter_map(|key| String::from_utf8(key).ok())
            .filter_map(|key| key.strip_prefix(&self.prefix).map(str::to_owned))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
}

/// The client's message without the name of its error kind, which it
/// appends for programmers ("Password authentication failed -
/// AuthenticationFailed"): users read the words.
fn plain_words(words: &str) -> String {
    let mut out = String::with_capacity(words.len());
    let mut rest = words;
    while let Some(at) = rest.find(" - ") {
        let tail = &rest[at + 3..];
        let kind_len = tail
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(tail.len());
        let kind = &tail[..kind_len];
        let is_kind = kind.len() > 2
            && kind.starts_with(|c: char| c.is_ascii_uppercase())
            && kind.chars().skip(1).any(|c| c.is_ascii_uppercase());
        if is_kind {
            out.push_str(&rest[..at]);
            rest = &tail[kind_len..];
        } else {
            out.push_str(&rest[..at + 3]);
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_patterns_match_the_prefix_literally() {
        assert_eq!(scan_pattern("circuit_breaker:"), "circuit_breaker:*");
        assert_eq!(scan_pattern(r"team[1]:*?\"), r"team\[1\]:\*\?\\*");
    }

    #[test]
    fn client_error_kinds_are_left_out_of_messages() {
        assert_eq!(
            plain_words("Password authentication failed - AuthenticationFailed"),
            "Password authentication failed"
        );
        assert_eq!(
            plain_words("Redis URL did not parse - InvalidClientConfig: bad port"),
            "Redis URL did not parse: bad port"
        );
        assert_eq!(plain_words("a - b - c"), "a - b - c");
    }

    #[test]
    fn errors_never_quote_the_password() {
        let url = "redis://bob:s3cret@host:6379/0";
        let text = format!("connecting to {url} with s3cret failed");
        assert_eq!(
            hide_password(&text, url),
            "connecting to redis://bob:***@host:6379/0 with *** failed"
        );
    }
}
