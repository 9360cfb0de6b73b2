use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use fusebox::__private::{store_now, wall_clock_nanos};
use fusebox::store::{Store, StoreError, StoreErrorKind, Update};
use fusebox::ManualClock;
use redis::{Script, Value};

use crate::deadline::Deadline;
use crate::messages::{redact_url, without_type_names};
use crate::{state_name, DEFAULT_PREFIX, DEFAULT_TIMEOUT, DEFAULT_TTL};

mod cluster;
mod connect;
mod peek;
mod servers;
mod target;
mod watch;

use connect::ConnectError;
use servers::{Lease, Servers};

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
    servers: Servers,
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
    /// A store on the server or cluster at `url`. Connects lazily: a
    /// server that is down makes calls degrade, not this fail.
    ///
    /// * `redis://[user:password@]host:port/db`: one server; an ACL user
    ///   and its password, or a password alone (`redis://:password@…`).
    /// * `rediss://…`: over TLS, checking the server's certificate against
    ///   the Mozilla roots (webpki-roots), or only against the CA certificates
    ///   in the PEM file of `?ca=/path/to/ca.pem`. Certificate checks
    ///   cannot be turned off.
    /// * `redis+cluster://[user:password@]host1:port1,host2:port2/` (or
    ///   `rediss+cluster://…`): a Redis Cluster, found through any of the
    ///   listed nodes. Each breaker is one key, so breakers spread over
    ///   the masters; listing visits every master.
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::Open`] for a URL that is not one of these, or a
    /// CA file that cannot be read; the message never shows the password.
    pub fn open(url: &str) -> Result<RedisStore, StoreError> {
        let shown_url = redact_url(url);
        let target = target::Target::parse(url).map_err(|e| {
            let why = hide_password(&without_type_names(&e), url);
            StoreError::new(
                StoreErrorKind::Open,
                format!("bad redis url {shown_url:?}: {why}"),
            )
        })?;
        Ok(RedisStore {
            servers: Servers::new(target),
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
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> RedisStore {
        self.timeout = timeout;
        self
    }

    /// Keys are `prefix` + breaker name (default `circuit_breaker:`).
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> RedisStore {
        self.prefix = prefix.into();
        self
    }

    /// Idle breakers expire after `ttl` (default 7 days).
    #[must_use]
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
    #[must_use]
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
        // The client's error as the cause, unless its words quote the
        // password (they never should: it is not sent in a command's text).
        match self.servers.password() {
            Some(password) if words.contains(password) => {
                self.failure(kind, &without_type_names(&words))
            }
            _ => StoreError::new(kind, format!("redis store {}", self.shown_url))
                .caused_by_in_words(e.clone(), &without_type_names(&words)),
        }
    }

    /// An error naming the store, with no password in it whatever `why`
    /// quotes.
    fn failure(&self, kind: StoreErrorKind, why: &str) -> StoreError {
        let why = match self.servers.password() {
            Some(password) => why.replace(password, "***"),
            None => why.to_owned(),
        };
        StoreError::new(kind, format!("redis store {}: {why}", self.shown_url))
    }

    fn timed_out(&self, deadline: &Deadline, during: &str) -> StoreError {
        self.failure(
            StoreErrorKind::Timeout,
            &format!("no answer within {:?} ({during})", deadline.timeout()),
        )
    }

    /// A connection to the server holding `key`: an idle one unless
    /// `fresh`.
    fn lease(&self, key: &str, fresh: bool, deadline: &Deadline) -> Result<Lease, StoreError> {
        self.servers
            .node_for(key, deadline)
            .and_then(|node| match fresh {
                true => node.fresh(deadline),
                false => node.lease(deadline),
            })
            .map_err(|e| self.connect_error(e, deadline))
    }

    fn connect_error(&self, e: ConnectError, deadline: &Deadline) -> StoreError {
        match e {
            ConnectError::TimedOut(during) => self.timed_out(deadline, during),
            ConnectError::Lookup(why) => self.failure(StoreErrorKind::Unavailable, &why),
            ConnectError::Redis(e) => self.error(&e),
        }
    }

    /// Lets the next command wait only for what is left of the call (at
    /// least a millisecond: an answer already on its way is taken).
    fn limit(&self, connection: &redis::Connection, deadline: &Deadline) -> Result<(), StoreError> {
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
        lease: &mut Lease,
        key: &str,
        update: &mut Update<'_>,
        deadline: &Deadline,
        read: Option<Read>,
    ) -> Result<Attempt, StoreError> {
        let (machine, version, seconds, micros) = match read {
            Some(read) => read,
            None => {
                self.limit(&lease.connection, deadline)?;
                READ.key(key)
                    .arg(self.ttl_millis())
                    .invoke(&mut lease.connection)
                    .map_err(|e| {
                        self.servers.learn(lease, &e);
                        self.error_by(&e, Some(deadline))
                    })?
            }
        };
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
            return Ok(Attempt::Stored);
        };
        self.limit(&lease.connection, deadline)?;
        let stored: Value = COMPARE_AND_SET
            .key(key)
            .arg(version.unwrap_or_default())
            .arg(&text)
            .arg(state_name(&text))
            .arg(self.ttl_millis())
            .invoke(&mut lease.connection)
            .map_err(|e| {
                self.servers.learn(lease, &e);
                let error = self.error_by(&e, Some(deadline));
                // Sent, but no answer: the server may have run it.
                if e.is_timeout() || e.is_io_error() || e.is_connection_dropped() {
                    error.maybe_written()
                } else {
                    error
                }
            })?;
        match stored {
            Value::Int(1) => Ok(Attempt::Stored),
            lost => redis::from_redis_value(lost)
                .map(Attempt::Lost)
                .map_err(|e| {
                    self.failure(
                        StoreErrorKind::Unavailable,
                        &format!("unexpected answer to a write: {e}"),
                    )
                }),
        }
    }
}

/// What the read script returns (and the compare-and-set script, when it
/// lost): machine text, version, and the server's time in seconds and
/// microseconds.
type Read = (Option<Vec<u8>>, Option<Vec<u8>>, u64, u64);

/// How one read-and-write went.
enum Attempt {
    /// Written (or nothing to write).
    Stored,
    /// Another writer got there first; this is what the record is now.
    Lost(Read),
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
        let mut lease = self.lease(&key, false, &deadline)?;
        let mut read = None;
        loop {
            match self.attempt(&mut lease, &key, update, &deadline, read.take()) {
                Ok(Attempt::Stored) => {
                    lease.give_back();
                    return Ok(());
                }
                // Another writer got there first: try again on what it
                // wrote, within the call's budget.
                Ok(Attempt::Lost(current)) => read = Some(current),
                // An idle connection may have died with a restarted server,
                // or the cluster moved the key: one fresh connection (to
                // the key's master now) is worth a try.
                Err(e)
                    if lease.worth_a_new_connection()
                        && e.kind == StoreErrorKind::Unavailable
                        && !e.maybe_written =>
                {
                    lease = self.lease(&key, true, &deadline)?;
                }
                Err(e) => {
                    if e.kind == StoreErrorKind::Timeout {
                        // Still sound: the client skips the late answer.
                        lease.give_back();
                    }
                    return Err(e);
                }
            }
            if deadline.remaining().is_none() {
                lease.give_back();
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
    /// timeout. On a cluster, every master is scanned.
    fn names(&self) -> Result<Vec<String>, StoreError> {
        let deadline = Deadline::after(self.timeout);
        let masters = self
            .servers
            .masters(&deadline)
            .map_err(|e| self.connect_error(e, &deadline))?;
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for master in masters {
            let deadline = Deadline::after(self.timeout);
            let mut lease = master
                .lease(&deadline)
                .map_err(|e| self.connect_error(e, &deadline))?;
            let connection = &mut lease.connection;
            connection
                .set_read_timeout(Some(self.timeout))
                .and_then(|()| connection.set_write_timeout(Some(self.timeout)))
                .map_err(|e| self.error(&e))?;
            let found: Vec<Vec<u8>> = redis::cmd("SCAN")
                .cursor_arg(0)
                .arg("MATCH")
                .arg(scan_pattern(&self.prefix))
                .arg("COUNT")
                .arg(1000)
                .clone()
                .iter(connection)
                .map_err(|e| self.error(&e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.error(&e))?;
            keys.extend(found);
            lease.give_back();
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_patterns_match_the_prefix_literally() {
        assert_eq!(scan_pattern("circuit_breaker:"), "circuit_breaker:*");
        assert_eq!(scan_pattern(r"team[1]:*?\"), r"team\[1\]:\*\?\\*");
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
